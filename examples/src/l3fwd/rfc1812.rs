//! RFC 1812 section 5.2.2 checks on a received IPv4 header, and the forwarding header update
//! (TTL decrement with the RFC 1624 incremental checksum update; IPv6 hop limit).

use ferroplane_net::ipv4::IPV4_HEADER_LEN;
use ferroplane_net::ipv6::IPV6_HEADER_LEN;
use ferroplane_net::{checksum, ipv6::Ipv6Packet};

use super::DropReason;

/// Checks an IPv4 header (`ip` starts at the header, runs to the end of the frame): length,
/// version, IHL, total length, header checksum. TTL is checked apart ([`ttl_expired_v4`]) since
/// its failure is answered with ICMP rather than silently dropped.
#[inline]
pub fn check_ipv4(ip: &[u8]) -> Result<(), DropReason> {
    if ip.len() < IPV4_HEADER_LEN {
        return Err(DropReason::Truncated);
    }
    if ip[0] >> 4 != 4 {
        return Err(DropReason::BadVersion);
    }
    let hl = (ip[0] & 0xf) as usize * 4;
    if hl < IPV4_HEADER_LEN {
        return Err(DropReason::BadIhl);
    }
    if ip.len() < hl {
        return Err(DropReason::Truncated);
    }
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    if total < hl || total > ip.len() {
        return Err(DropReason::BadTotalLength);
    }
    if !header_checksum_ok(&ip[..hl]) {
        return Err(DropReason::BadChecksum);
    }
    Ok(())
}

/// Whether an IPv4 header (`hdr.len()` a multiple of 4, as IHL makes it) checksums to 0xffff
/// (RFC 1071). Sums 32-bit words into a 64-bit accumulator and folds: since 2^16 is 1 modulo
/// 0xffff this is the 16-bit ones'-complement sum, and as that sum is byte-order independent the
/// words are read in native order. For the 20 to 60 bytes of a header this beats the general
/// checksum routine, whose vector set-up costs more than the sum here.
#[inline]
fn header_checksum_ok(hdr: &[u8]) -> bool {
    let word = |w: &[u8]| u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    let mut sum: u64 = match <&[u8; IPV4_HEADER_LEN]>::try_from(hdr) {
        // The common header without options: five loads, no loop.
        Ok(h) => word(&h[0..]) + word(&h[4..]) + word(&h[8..]) + word(&h[12..]) + word(&h[16..]),
        Err(_) => hdr.chunks_exact(4).map(word).sum(),
    };
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum == 0xffff && hdr.len() % 4 == 0
}

/// Whether a checked IPv4 header's TTL forbids forwarding (0 or 1).
#[inline]
pub fn ttl_expired_v4(ip: &[u8]) -> bool {
    ip[8] <= 1
}

/// Decrements the TTL of a checked IPv4 header, updating the checksum incrementally (RFC 1624).
/// Returns the new TTL, or `None` (header unchanged) if the TTL was 0 or 1.
#[inline]
pub fn forward_ipv4(ip: &mut [u8]) -> Option<u8> {
    if ip.len() < IPV4_HEADER_LEN || ip[8] <= 1 {
        return None;
    }
    // The 16-bit word holding TTL and protocol drops by 0x100 (RFC 1624, eqn. 3).
    let old = u16::from_be_bytes([ip[8], ip[9]]);
    let ck = u16::from_be_bytes([ip[10], ip[11]]);
    ip[8] -= 1;
    ip[10..12].copy_from_slice(&checksum::update_u16(ck, old, old - 0x100).to_be_bytes());
    Some(ip[8])
}

/// Checks an IPv6 header: length, version and payload length.
#[inline]
pub fn check_ipv6(ip: &[u8]) -> Result<(), DropReason> {
    if ip.len() < IPV6_HEADER_LEN {
        return Err(DropReason::Truncated);
    }
    if ip[0] >> 4 != 6 {
        return Err(DropReason::BadVersion);
    }
    let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
    if IPV6_HEADER_LEN + plen > ip.len() {
        return Err(DropReason::BadTotalLength);
    }
    Ok(())
}

/// Whether a checked IPv6 header's hop limit forbids forwarding (0 or 1).
#[inline]
pub fn hop_limit_expired(ip: &[u8]) -> bool {
    ip[7] <= 1
}

/// Decrements the hop limit of a checked IPv6 header; `None` (unchanged) if it was 0 or 1.
#[inline]
pub fn forward_ipv6(ip: &mut [u8]) -> Option<u8> {
    Ipv6Packet::new_checked(ip).ok()?.decrement_hop_limit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroplane_net::ipv4::Ipv4Repr;
    use std::net::Ipv4Addr;

    fn header(ttl: u8) -> Vec<u8> {
        let mut r = Ipv4Repr::new(
            Ipv4Addr::new(10, 0, 1, 2),
            Ipv4Addr::new(10, 0, 2, 2),
            17,
            8,
        );
        r.ttl = ttl;
        let mut b = vec![0u8; 28];
        r.emit(&mut b).unwrap();
        b
    }

    #[test]
    fn good_header_passes_and_ttl_decrements_with_valid_checksum() {
        let mut h = header(64);
        assert_eq!(check_ipv4(&h), Ok(()));
        assert!(!ttl_expired_v4(&h));
        assert_eq!(forward_ipv4(&mut h), Some(63));
        assert_eq!(h[8], 63);
        // The incremental update must equal a full recomputation.
        assert!(checksum::verify(&h[..20]));
        assert_eq!(check_ipv4(&h), Ok(()));
    }

    #[test]
    fn each_malformation_has_its_reason() {
        let good = header(64);
        assert_eq!(check_ipv4(&good[..19]), Err(DropReason::Truncated));
        let mut v = good.clone();
        v[0] = 0x65;
        assert_eq!(check_ipv4(&v), Err(DropReason::BadVersion));
        let mut ihl = good.clone();
        ihl[0] = 0x44;
        assert_eq!(check_ipv4(&ihl), Err(DropReason::BadIhl));
        let mut ihl_long = good.clone();
        ihl_long[0] = 0x4f; // 60-byte header in a 28-byte packet
        assert_eq!(check_ipv4(&ihl_long), Err(DropReason::Truncated));
        let mut tl = good.clone();
        tl[2..4].copy_from_slice(&29u16.to_be_bytes());
        assert_eq!(check_ipv4(&tl), Err(DropReason::BadTotalLength));
        let mut tl_small = good.clone();
        tl_small[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(check_ipv4(&tl_small), Err(DropReason::BadTotalLength));
        let mut ck = good.clone();
        ck[10] ^= 0x5a;
        assert_eq!(check_ipv4(&ck), Err(DropReason::BadChecksum));
    }

    #[test]
    fn ttl_one_and_zero_expire_and_stay_unchanged() {
        for ttl in [0u8, 1] {
            let mut h = header(ttl);
            assert!(ttl_expired_v4(&h));
            let before = h.clone();
            assert_eq!(forward_ipv4(&mut h), None);
            assert_eq!(h, before);
        }
    }

    #[test]
    fn incremental_update_matches_full_checksum_for_every_ttl() {
        for ttl in 2..=255u8 {
            let mut h = header(ttl);
            h[4] = ttl.wrapping_mul(7); // vary the ident so the checksum varies
            h[10] = 0;
            h[11] = 0;
            let c = checksum::checksum(&h[..20]);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            forward_ipv4(&mut h).unwrap();
            assert!(checksum::verify(&h[..20]), "ttl {ttl}");
        }
    }

    #[test]
    fn header_checksum_agrees_with_the_general_routine() {
        // Random headers of every IHL, valid and with one byte changed.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for ihl in 5..=15usize {
            for _ in 0..200 {
                let mut h: Vec<u8> = (0..ihl * 4).map(|_| next() as u8).collect();
                h[10] = 0;
                h[11] = 0;
                let c = checksum::checksum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                assert!(checksum::verify(&h));
                assert!(header_checksum_ok(&h), "ihl {ihl}: {h:02x?}");
                let i = next() as usize % h.len();
                let bit = 1u8 << (next() % 8);
                h[i] ^= bit;
                assert_eq!(header_checksum_ok(&h), checksum::verify(&h), "{h:02x?}");
                assert!(!header_checksum_ok(&h));
            }
        }
        // Sums that fold to 0xffff through the carries, and the all-ones and all-zero words.
        assert!(header_checksum_ok(&[0xff; 20]));
        assert_eq!(header_checksum_ok(&[0; 20]), checksum::verify(&[0; 20]));
    }

    #[test]
    fn ipv6_checks_and_hop_limit() {
        let mut h = vec![0u8; 48];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&8u16.to_be_bytes());
        h[7] = 2;
        assert_eq!(check_ipv6(&h), Ok(()));
        assert_eq!(check_ipv6(&h[..39]), Err(DropReason::Truncated));
        assert_eq!(check_ipv6(&h[..47]), Err(DropReason::BadTotalLength));
        let mut v = h.clone();
        v[0] = 0x40;
        assert_eq!(check_ipv6(&v), Err(DropReason::BadVersion));
        assert_eq!(forward_ipv6(&mut h), Some(1));
        assert!(hop_limit_expired(&h));
        assert_eq!(forward_ipv6(&mut h), None);
    }
}
