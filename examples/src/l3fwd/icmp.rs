//! Building the messages router mode sends: ARP requests, neighbour solicitations and
//! advertisements, ICMP/ICMPv6 errors (quoting the offending packet), and echo replies made in
//! place from the request.

use std::net::{Ipv4Addr, Ipv6Addr};

use ferroplane_net::arp::{ARP_LEN, ARP_REQUEST, ArpRepr};
use ferroplane_net::ethernet::{ETHERNET_HEADER_LEN, EthernetFrame, EthernetRepr, ethertype};
use ferroplane_net::icmp::{
    ICMP_HEADER_LEN, Icmpv4Packet, Icmpv6Packet, NdpRepr, icmpv4_type, icmpv6_type,
};
use ferroplane_net::ipv4::{Ipv4Packet, Ipv4Repr, protocol};
use ferroplane_net::ipv6::{IPV6_HEADER_LEN, Ipv6Packet, Ipv6Repr};
use ferroplane_net::{MacAddr, checksum};

use super::DropReason;
use crate::packet::Packet;

/// Smallest Ethernet frame without FCS; shorter frames are padded.
pub const MIN_FRAME: usize = 60;
/// Largest IPv4 ICMP error datagram (RFC 1812 4.3.2.3).
pub const ICMP4_ERROR_MAX: usize = 576;
/// Largest ICMPv6 error packet (RFC 4443 2.4(c): the IPv6 minimum MTU).
pub const ICMP6_ERROR_MAX: usize = 1280;

/// The solicited-node multicast address of `ip` (RFC 4291 2.7.1).
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | o[13] as u16,
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Ethernet multicast address of an IPv6 multicast address (RFC 2464 7).
pub fn multicast_mac(ip: Ipv6Addr) -> MacAddr {
    let o = ip.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

fn eth(buf: &mut [u8], dst: MacAddr, src: MacAddr, et: u16) {
    // The buffer is at least ETHERNET_HEADER_LEN long at every call site.
    let _ = EthernetRepr {
        dst,
        src,
        ethertype: et,
    }
    .emit(buf);
}

/// Writes an ARP request for `target` into the empty packet `p`.
pub fn arp_request<P: Packet>(p: &mut P, mac: MacAddr, ip: Ipv4Addr, target: Ipv4Addr) -> bool {
    let Some(b) = p.extend(MIN_FRAME) else {
        return false;
    };
    b.fill(0);
    eth(b, MacAddr::BROADCAST, mac, ethertype::ARP);
    let r = ArpRepr {
        operation: ARP_REQUEST,
        sender_mac: mac,
        sender_ip: ip,
        target_mac: MacAddr::ZERO,
        target_ip: target,
    };
    r.emit(&mut b[ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + ARP_LEN])
        .is_ok()
}

fn ndp<P: Packet>(
    p: &mut P,
    dst_mac: MacAddr,
    mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    msg: NdpRepr,
) -> bool {
    let len = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + msg.len();
    let Some(b) = p.extend(len) else { return false };
    eth(b, dst_mac, mac, ethertype::IPV6);
    let mut ip = Ipv6Repr::new(src, dst, protocol::ICMPV6, msg.len());
    ip.hop_limit = 255;
    ip.emit(&mut b[ETHERNET_HEADER_LEN..]).is_ok()
        && msg
            .emit(src, dst, &mut b[ETHERNET_HEADER_LEN + IPV6_HEADER_LEN..])
            .is_ok()
}

/// Writes a neighbour solicitation for `target` (to its solicited-node group) into `p`.
pub fn neighbour_solicit<P: Packet>(
    p: &mut P,
    mac: MacAddr,
    src: Ipv6Addr,
    target: Ipv6Addr,
) -> bool {
    let dst = solicited_node(target);
    ndp(
        p,
        multicast_mac(dst),
        mac,
        src,
        dst,
        NdpRepr::NeighborSolicit {
            target,
            source_lladdr: Some(mac),
        },
    )
}

/// Writes a neighbour advertisement of our `target` address into `p`, answering a solicitation
/// from `to` (`::` means unsolicited, sent to all nodes).
pub fn neighbour_advert<P: Packet>(
    p: &mut P,
    mac: MacAddr,
    to_mac: MacAddr,
    to: Ipv6Addr,
    target: Ipv6Addr,
) -> bool {
    let solicited = !to.is_unspecified();
    let dst = if solicited {
        to
    } else {
        Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)
    };
    let dst_mac = if solicited {
        to_mac
    } else {
        multicast_mac(dst)
    };
    let msg = NdpRepr::NeighborAdvert {
        router: true,
        solicited,
        override_: true,
        target,
        target_lladdr: Some(mac),
    };
    ndp(p, dst_mac, mac, target, dst, msg)
}

/// Whether an IPv4 packet may be answered with an ICMP error (RFC 1812 4.3.2.7): not about an
/// ICMP error, a non-first fragment, or a packet from/to a broadcast or multicast address.
pub fn may_send_icmp4_error(ip: &[u8]) -> bool {
    let Ok(p) = Ipv4Packet::new_checked(ip) else {
        return false;
    };
    let (src, dst) = (p.src_addr(), p.dst_addr());
    if p.frag_offset() != 0
        || src.is_unspecified()
        || src.is_multicast()
        || src.is_broadcast()
        || src.is_loopback()
        || dst.is_multicast()
        || dst.is_broadcast()
    {
        return false;
    }
    if p.protocol() == protocol::ICMP {
        let t = p.payload().first().copied();
        // Only queries (echo, timestamp, ...) may be answered with errors.
        return matches!(t, Some(0 | 8 | 13 | 14 | 15 | 16 | 17 | 18));
    }
    true
}

/// Writes an ICMP error (`msg_type`/`code`) about the IPv4 packet `orig` (from its IP header)
/// into `p`, from our address `src` to the packet's source, sent to `dst_mac`.
pub fn icmp4_error<P: Packet>(
    p: &mut P,
    mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    orig: &[u8],
    msg_type: u8,
    code: u8,
) -> bool {
    let Ok(o) = Ipv4Packet::new_checked(orig) else {
        return false;
    };
    let quote = (o.total_len() as usize).min(ICMP4_ERROR_MAX - 20 - ICMP_HEADER_LEN);
    let icmp_len = ICMP_HEADER_LEN + quote;
    let len = ETHERNET_HEADER_LEN + 20 + icmp_len;
    let dst = o.src_addr();
    let Some(b) = p.extend(len.max(MIN_FRAME)) else {
        return false;
    };
    b.fill(0);
    eth(b, dst_mac, mac, ethertype::IPV4);
    let mut ip = Ipv4Repr::new(src, dst, protocol::ICMP, icmp_len);
    ip.dont_frag = false;
    if ip.emit(&mut b[ETHERNET_HEADER_LEN..]).is_err() {
        return false;
    }
    let m = &mut b[ETHERNET_HEADER_LEN + 20..len];
    m[0] = msg_type;
    m[1] = code;
    m[ICMP_HEADER_LEN..].copy_from_slice(&orig[..quote]);
    let c = checksum::checksum(m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    true
}

/// Whether an IPv6 packet may be answered with an ICMPv6 error (RFC 4443 2.4(e)).
pub fn may_send_icmp6_error(ip: &[u8]) -> bool {
    let Ok(p) = Ipv6Packet::new_checked(ip) else {
        return false;
    };
    let (src, dst) = (p.src_addr(), p.dst_addr());
    if src.is_unspecified() || src.is_multicast() || src.is_loopback() || dst.is_multicast() {
        return false;
    }
    if p.next_header() == protocol::ICMPV6 {
        // Informational messages (type >= 128) may be answered; errors may not.
        return p.payload().first().is_some_and(|t| *t >= 128);
    }
    true
}

/// Writes an ICMPv6 error about `orig` (from its IPv6 header) into `p`.
pub fn icmp6_error<P: Packet>(
    p: &mut P,
    mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    orig: &[u8],
    msg_type: u8,
    code: u8,
) -> bool {
    let Ok(o) = Ipv6Packet::new_checked(orig) else {
        return false;
    };
    let total = IPV6_HEADER_LEN + o.payload_len() as usize;
    let quote = total.min(ICMP6_ERROR_MAX - IPV6_HEADER_LEN - ICMP_HEADER_LEN);
    let icmp_len = ICMP_HEADER_LEN + quote;
    let dst = o.src_addr();
    let len = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + icmp_len;
    let Some(b) = p.extend(len) else { return false };
    b.fill(0);
    eth(b, dst_mac, mac, ethertype::IPV6);
    if Ipv6Repr::new(src, dst, protocol::ICMPV6, icmp_len)
        .emit(&mut b[ETHERNET_HEADER_LEN..])
        .is_err()
    {
        return false;
    }
    let m = &mut b[ETHERNET_HEADER_LEN + IPV6_HEADER_LEN..];
    m[0] = msg_type;
    m[1] = code;
    m[ICMP_HEADER_LEN..].copy_from_slice(&orig[..quote]);
    match Icmpv6Packet::new_checked(m) {
        Ok(mut v) => {
            v.fill_checksum(src, dst);
            true
        }
        Err(_) => false,
    }
}

/// Turns an ICMP echo request frame (Ethernet + IPv4 + ICMP, checked IPv4 header) into its
/// reply in place: addresses swapped, TTL 64, MACs swapped with `mac` as the source.
pub fn echo_reply_v4(frame: &mut [u8], mac: MacAddr) -> Result<(), DropReason> {
    let (l2, rest) = frame.split_at_mut(ETHERNET_HEADER_LEN);
    let mut ip = Ipv4Packet::new_checked(rest).map_err(|_| DropReason::Truncated)?;
    if ip.protocol() != protocol::ICMP || ip.is_fragment() {
        return Err(DropReason::LocalUnhandled);
    }
    {
        let icmp = Icmpv4Packet::new_checked(ip.payload()).map_err(|_| DropReason::Truncated)?;
        if icmp.msg_type() != icmpv4_type::ECHO_REQUEST || icmp.code() != 0 {
            return Err(DropReason::LocalUnhandled);
        }
        if !icmp.verify_checksum() {
            return Err(DropReason::BadChecksum);
        }
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_ttl(64);
    ip.fill_checksum();
    let mut icmp =
        Icmpv4Packet::new_checked(ip.payload_mut()).map_err(|_| DropReason::Truncated)?;
    icmp.make_echo_reply(icmpv4_type::ECHO_REPLY);
    let mut e = EthernetFrame::new_checked(l2).map_err(|_| DropReason::Truncated)?;
    let peer = e.src_addr();
    e.set_dst_addr(peer);
    e.set_src_addr(mac);
    Ok(())
}

/// Turns an ICMPv6 echo request frame into its reply in place (as [`echo_reply_v4`]); `me` is
/// the address to answer from (the request's destination, ours).
pub fn echo_reply_v6(frame: &mut [u8], mac: MacAddr) -> Result<(), DropReason> {
    let (l2, rest) = frame.split_at_mut(ETHERNET_HEADER_LEN);
    let mut ip = Ipv6Packet::new_checked(rest).map_err(|_| DropReason::Truncated)?;
    if ip.next_header() != protocol::ICMPV6 {
        return Err(DropReason::LocalUnhandled);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    {
        let icmp = Icmpv6Packet::new_checked(ip.payload()).map_err(|_| DropReason::Truncated)?;
        if icmp.msg_type() != icmpv6_type::ECHO_REQUEST || icmp.code() != 0 {
            return Err(DropReason::LocalUnhandled);
        }
        if !icmp.verify_checksum(src, dst) {
            return Err(DropReason::BadChecksum);
        }
    }
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_hop_limit(64);
    let mut icmp =
        Icmpv6Packet::new_checked(ip.payload_mut()).map_err(|_| DropReason::Truncated)?;
    // Swapping source and destination leaves the pseudo-header sum unchanged.
    icmp.make_echo_reply(icmpv6_type::ECHO_REPLY);
    let mut e = EthernetFrame::new_checked(l2).map_err(|_| DropReason::Truncated)?;
    let peer = e.src_addr();
    e.set_dst_addr(peer);
    e.set_src_addr(mac);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroplane_net::builder::{FrameSpec, IpSpec, L4Spec};

    const ME: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const HOST: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    fn echo_frame(src: &str, dst: &str) -> Vec<u8> {
        let spec = FrameSpec {
            src_mac: HOST,
            dst_mac: ME,
            vlan: None,
            outer_vlan: None,
            ip: IpSpec::between(src.parse().unwrap(), dst.parse().unwrap()).unwrap(),
            l4: L4Spec::IcmpEcho {
                request: true,
                ident: 7,
                seq: 3,
            },
        };
        let mut b = vec![0u8; 200];
        let n = spec.build(b"0123456789abcdef", &mut b).unwrap();
        b.truncate(n);
        b
    }

    #[test]
    fn echo_reply_v4_is_valid() {
        let mut f = echo_frame("10.0.1.2", "10.0.1.1");
        echo_reply_v4(&mut f, ME).unwrap();
        let e = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!((e.dst_addr(), e.src_addr()), (HOST, ME));
        let ip = Ipv4Packet::new_checked(e.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(
            (ip.src_addr(), ip.dst_addr()),
            ("10.0.1.1".parse().unwrap(), "10.0.1.2".parse().unwrap())
        );
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(icmp.msg_type(), icmpv4_type::ECHO_REPLY);
        assert!(icmp.verify_checksum());
        assert_eq!((icmp.echo_ident(), icmp.echo_seq()), (7, 3));
        // A bad ICMP checksum is refused.
        let mut bad = echo_frame("10.0.1.2", "10.0.1.1");
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(echo_reply_v4(&mut bad, ME), Err(DropReason::BadChecksum));
    }

    #[test]
    fn echo_reply_v6_is_valid() {
        let mut f = echo_frame("2001:db8:1::2", "2001:db8:1::1");
        echo_reply_v6(&mut f, ME).unwrap();
        let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip.src_addr(), "2001:db8:1::1".parse::<Ipv6Addr>().unwrap());
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(icmp.msg_type(), icmpv6_type::ECHO_REPLY);
        assert!(icmp.verify_checksum(ip.src_addr(), ip.dst_addr()));
    }

    #[test]
    fn icmp4_error_quotes_the_packet() {
        let orig = echo_frame("10.0.1.2", "10.0.9.9");
        let mut out = Vec::new();
        assert!(icmp4_error(
            &mut out,
            ME,
            HOST,
            "10.0.1.1".parse().unwrap(),
            &orig[14..],
            11,
            0
        ));
        let ip = Ipv4Packet::new_checked(&out[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.dst_addr(), "10.0.1.2".parse::<Ipv4Addr>().unwrap());
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!((icmp.msg_type(), icmp.code()), (11, 0));
        assert_eq!(icmp.payload(), &orig[14..]);
    }

    #[test]
    fn icmp6_error_and_ndp_messages_have_valid_checksums() {
        let orig = echo_frame("2001:db8:1::2", "2001:db8:9::9");
        let me: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        let mut out = Vec::new();
        assert!(icmp6_error(&mut out, ME, HOST, me, &orig[14..], 3, 0));
        let ip = Ipv6Packet::new_checked(&out[14..]).unwrap();
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert_eq!(icmp.payload(), &orig[14..]);

        let target: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
        let mut ns = Vec::new();
        assert!(neighbour_solicit(&mut ns, ME, me, target));
        assert_eq!(&ns[..6], &[0x33, 0x33, 0xff, 0, 0, 2]);
        let ip = Ipv6Packet::new_checked(&ns[14..]).unwrap();
        assert_eq!(ip.hop_limit(), 255);
        assert_eq!(ip.dst_addr(), "ff02::1:ff00:2".parse::<Ipv6Addr>().unwrap());
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert_eq!(
            icmp.ndp().unwrap(),
            NdpRepr::NeighborSolicit {
                target,
                source_lladdr: Some(ME)
            }
        );

        let mut na = Vec::new();
        assert!(neighbour_advert(&mut na, ME, HOST, target, me));
        let ip = Ipv6Packet::new_checked(&na[14..]).unwrap();
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert!(
            matches!(icmp.ndp().unwrap(), NdpRepr::NeighborAdvert { solicited: true, target_lladdr: Some(m), .. } if m == ME)
        );
    }

    #[test]
    fn no_errors_about_errors_or_multicast() {
        let ok = echo_frame("10.0.1.2", "10.0.9.9");
        assert!(may_send_icmp4_error(&ok[14..]));
        let mut err_msg = Vec::new();
        icmp4_error(
            &mut err_msg,
            ME,
            HOST,
            "10.0.1.1".parse().unwrap(),
            &ok[14..],
            3,
            0,
        );
        assert!(!may_send_icmp4_error(&err_msg[14..]));
        let mc = echo_frame("10.0.1.2", "224.0.0.5");
        assert!(!may_send_icmp4_error(&mc[14..]));
        let v6 = echo_frame("2001:db8:1::2", "2001:db8:9::9");
        assert!(may_send_icmp6_error(&v6[14..]));
        let v6mc = echo_frame("2001:db8:1::2", "ff02::1");
        assert!(!may_send_icmp6_error(&v6mc[14..]));
    }
}
