//! RFC 1812 section 5.2.2 checks on a received IPv4 header, and the forwarding header update
//! (TTL decrement with the RFC 1624 incremental checksum update; IPv6 hop limit).

use ferroplane_net::ipv4::IPV4_HEADER_LEN;
use ferroplane_net::ipv6::IPV6_HEADER_LEN;
use ferroplane_net::{checksum, ipv4::Ipv4Packet, ipv6::Ipv6Packet};

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
    if !checksum::verify(&ip[..hl]) {
        return Err(DropReason::BadChecksum);
    }
    Ok(())
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
    Ipv4Packet::new_checked(ip).ok()?.decrement_ttl()
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
