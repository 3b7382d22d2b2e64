//! Completing L4 checksums the kernel left partial.
//!
//! A frame generated on this host and sent through a device with TX checksum offload (a veth,
//! by default) carries a *partial* TCP/UDP checksum: the field holds only the pseudo-header sum,
//! and the NIC that never comes is expected to finish it (`CHECKSUM_PARTIAL`). A packet socket
//! reports such a frame with `TP_STATUS_CSUMNOTREADY`; forwarded as it is, every receiver drops
//! it. A driver that sees that status finishes the checksum in software, as the NIC would have.
//!
//! `TPACKET_V3` gives no `csum_start`/`csum_offset`, so the frame is parsed instead
//! ([`ferroplane_net::parse`]) and the checksum of the outer TCP or UDP header recomputed over
//! the pseudo-header and the segment (bounded by the IP length, so Ethernet padding is left
//! out). A checksum that already verifies is left alone.

use ferroplane_net::checksum::{Checksum, pseudo_header_v4, pseudo_header_v6};
use ferroplane_net::ipv4::Ipv4Packet;
use ferroplane_net::ipv6::Ipv6Packet;
use ferroplane_net::ptype::ptype;

/// Offset of the checksum field in a TCP header.
const TCP_CSUM: usize = 16;
/// Offset of the checksum field in a UDP header.
const UDP_CSUM: usize = 6;

/// A checksum to store: the 2 bytes `value` (network order) go at `offset` in the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CsumFix {
    /// Offset of the checksum field from the start of the frame.
    pub(crate) offset: usize,
    /// The checksum, in host order.
    pub(crate) value: u16,
}

/// What [`complete_l4`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L4Csum {
    /// Not TCP or UDP over IPv4/IPv6 (or a fragment, or unparsable): nothing to do.
    NotApplicable,
    /// The checksum already verifies.
    Valid,
    /// The checksum must be replaced.
    Fix(CsumFix),
}

/// Checks the outer TCP/UDP checksum of `frame` (starting at the Ethernet header) and, if it
/// does not verify, returns the value that completes it.
pub(crate) fn complete_l4(frame: &[u8]) -> L4Csum {
    let Ok(info) = ferroplane_net::parse(frame) else {
        return L4Csum::NotApplicable;
    };
    let field = match info.ptype & ptype::L4_MASK {
        ptype::L4_TCP => TCP_CSUM,
        ptype::L4_UDP => UDP_CSUM,
        _ => return L4Csum::NotApplicable,
    };
    let l3 = info.l3_offset();
    let l4 = info.l4_offset();
    let Some(ip) = frame.get(l3..) else {
        return L4Csum::NotApplicable;
    };
    // The pseudo-header sum and the end of the L4 segment (IP length, not frame length).
    let (pseudo, end) = match info.ptype & ptype::L3_MASK {
        ptype::L3_IPV4 | ptype::L3_IPV4_EXT | ptype::L3_IPV4_EXT_UNKNOWN => {
            let Ok(p) = Ipv4Packet::new_checked(ip) else {
                return L4Csum::NotApplicable;
            };
            let end = l3 + p.total_len() as usize;
            let Some(seg_len) = end.checked_sub(l4) else {
                return L4Csum::NotApplicable;
            };
            let Ok(seg_len) = u16::try_from(seg_len) else {
                return L4Csum::NotApplicable;
            };
            (
                pseudo_header_v4(p.src_addr(), p.dst_addr(), info.l4_proto, seg_len),
                end,
            )
        }
        ptype::L3_IPV6 | ptype::L3_IPV6_EXT | ptype::L3_IPV6_EXT_UNKNOWN => {
            let Ok(p) = Ipv6Packet::new_checked(ip) else {
                return L4Csum::NotApplicable;
            };
            let end = l3 + 40 + p.payload_len() as usize;
            let Some(seg_len) = end.checked_sub(l4) else {
                return L4Csum::NotApplicable;
            };
            (
                pseudo_header_v6(p.src_addr(), p.dst_addr(), info.l4_proto, seg_len as u32),
                end,
            )
        }
        _ => return L4Csum::NotApplicable,
    };
    let Some(seg) = frame.get(l4..end) else {
        return L4Csum::NotApplicable;
    };
    if seg.len() < field + 2 {
        return L4Csum::NotApplicable;
    }
    let stored = u16::from_be_bytes([seg[field], seg[field + 1]]);
    if field == UDP_CSUM && stored == 0 && info.ptype & ptype::L3_MASK < ptype::L3_IPV6 {
        // UDP over IPv4 without a checksum: valid as it is.
        return L4Csum::Valid;
    }
    let mut c = Checksum::new();
    c.add_sum(pseudo).add_bytes(seg);
    if c.sum() == 0xffff {
        return L4Csum::Valid;
    }
    // Recompute with the field taken out (whatever it holds: the kernel's partial sum).
    let mut c = Checksum::new();
    c.add_sum(pseudo)
        .add_bytes(&seg[..field])
        .add_bytes(&seg[field + 2..]);
    let mut value = c.finish();
    if field == UDP_CSUM && value == 0 {
        // 0 means "no checksum" for UDP: send its one's-complement twin.
        value = 0xffff;
    }
    L4Csum::Fix(CsumFix {
        offset: l4 + field,
        value,
    })
}

/// Whether the outer TCP/UDP checksum of `frame` verifies (`None`: not TCP/UDP over IP).
#[cfg(test)]
pub(crate) fn l4_valid(frame: &[u8]) -> Option<bool> {
    match complete_l4(frame) {
        L4Csum::NotApplicable => None,
        L4Csum::Valid => Some(true),
        L4Csum::Fix(_) => Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroplane_net::checksum::verify;

    /// An Ethernet + IPv4 + UDP frame with `payload`, its UDP checksum as given.
    fn udp4(payload: &[u8], csum: u16, pad: usize) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip_len = (20 + 8 + payload.len()) as u16;
        f[14] = 0x45;
        f[16..18].copy_from_slice(&ip_len.to_be_bytes());
        f[22] = 64;
        f[23] = 17;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        let ip_sum = ferroplane_net::checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&ip_sum.to_be_bytes());
        f[34..36].copy_from_slice(&1234u16.to_be_bytes());
        f[36..38].copy_from_slice(&5678u16.to_be_bytes());
        f[38..40].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        f[40..42].copy_from_slice(&csum.to_be_bytes());
        f.extend_from_slice(payload);
        f.resize(f.len() + pad, 0xee);
        f
    }

    fn apply(f: &mut [u8]) {
        if let L4Csum::Fix(fix) = complete_l4(f) {
            f[fix.offset..fix.offset + 2].copy_from_slice(&fix.value.to_be_bytes());
        }
    }

    #[test]
    fn partial_udp_checksum_is_completed_and_padding_ignored() {
        let payload: Vec<u8> = (0..37u8).collect(); // odd length
        // What the kernel leaves in the field: the folded pseudo-header sum.
        let partial = pseudo_header_v4(
            [10, 0, 0, 1].into(),
            [10, 0, 0, 2].into(),
            17,
            8 + payload.len() as u16,
        );
        let mut f = udp4(&payload, partial, 5);
        assert_eq!(l4_valid(&f), Some(false));
        apply(&mut f);
        assert_eq!(l4_valid(&f), Some(true));
        // The result agrees with an independent computation over the unpadded datagram.
        let end = f.len() - 5;
        let mut c = Checksum::new();
        c.add_sum(pseudo_header_v4(
            [10, 0, 0, 1].into(),
            [10, 0, 0, 2].into(),
            17,
            (end - 34) as u16,
        ))
        .add_bytes(&f[34..end]);
        assert!(c.sum() == 0xffff);
        assert!(verify(&f[14..34]), "IP header untouched");
        // Applying again changes nothing.
        let before = f.clone();
        apply(&mut f);
        assert_eq!(f, before);
    }

    #[test]
    fn zero_udp_checksum_over_ipv4_and_non_l4_frames_are_left_alone() {
        let f = udp4(b"abc", 0, 0);
        assert_eq!(complete_l4(&f), L4Csum::Valid);
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(complete_l4(&arp), L4Csum::NotApplicable);
        assert_eq!(complete_l4(&[1, 2, 3]), L4Csum::NotApplicable);
        assert_eq!(complete_l4(&[]), L4Csum::NotApplicable);
    }
}
