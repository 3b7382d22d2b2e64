//! Frames built by scapy (an independent implementation; see data/gen_frames.py) checked
//! against our parser, checksums and builder. scapy is not needed at run time.

use ferroplane_net::builder::{FrameSpec, IpSpec, L4Spec};
use ferroplane_net::checksum;
use ferroplane_net::ethernet::{EthernetFrame, EthernetRepr};
use ferroplane_net::icmp::{Icmpv4Packet, Icmpv6Packet, NdpRepr};
use ferroplane_net::ipv4::{Ipv4Packet, Ipv4Repr, protocol};
use ferroplane_net::ipv6::{Ipv6Packet, Ipv6Repr};
use ferroplane_net::ptype::{PacketInfo, parse, ptype as pt};
use ferroplane_net::tcp::{TcpPacket, TcpRepr};
use ferroplane_net::tunnel::{GrePacket, VxlanPacket};
use ferroplane_net::udp::UdpPacket;
use ferroplane_net::{MacAddr, arp::ArpPacket};

fn frames() -> Vec<(String, Vec<u8>)> {
    let text = include_str!("data/frames.txt");
    text.lines()
        .map(|l| {
            let (name, hex) = l.split_once('\t').expect("name<TAB>hex");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (name.to_string(), bytes)
        })
        .collect()
}

/// Recomputes the checksum at `field` of `msg` with the field zeroed, through `f`.
fn recompute(msg: &[u8], field: usize, f: impl Fn(&[u8]) -> u16) -> (u16, u16) {
    let stored = u16::from_be_bytes([msg[field], msg[field + 1]]);
    let mut copy = msg.to_vec();
    copy[field] = 0;
    copy[field + 1] = 0;
    (stored, f(&copy))
}

/// Checks every checksum of the IP packet at `ip` (and of a tunnelled inner packet).
fn check_ip(name: &str, ip: &[u8]) -> usize {
    let mut checked = 0;
    if ip[0] >> 4 == 4 {
        let p = Ipv4Packet::new_checked(ip).unwrap();
        assert!(p.verify_checksum(), "{name}: IPv4 header checksum");
        let (stored, ours) = recompute(&ip[..p.header_len()], 10, checksum::checksum);
        assert_eq!(stored, ours, "{name}: IPv4 header checksum value");
        checked += 1;
        if p.is_fragment() {
            return checked;
        }
        let (s, d, l4) = (p.src_addr(), p.dst_addr(), p.payload());
        match p.protocol() {
            protocol::UDP => {
                let u = UdpPacket::new_checked(l4).unwrap();
                assert!(u.verify_checksum_v4(s, d), "{name}: UDP/IPv4 checksum");
                let (st, ours) =
                    recompute(u.datagram(), 6, |m| checksum::upper_layer_v4(s, d, 17, m));
                if st != 0 {
                    assert_eq!(st, ours, "{name}: UDP/IPv4 checksum value");
                }
                checked += 1;
            }
            protocol::TCP => {
                let t = TcpPacket::new_checked(l4).unwrap();
                assert!(t.verify_checksum_v4(s, d), "{name}: TCP/IPv4 checksum");
                let (st, ours) = recompute(l4, 16, |m| checksum::upper_layer_v4(s, d, 6, m));
                assert_eq!(st, ours, "{name}: TCP/IPv4 checksum value");
                checked += 1;
            }
            protocol::ICMP => {
                assert!(
                    Icmpv4Packet::new_checked(l4).unwrap().verify_checksum(),
                    "{name}: ICMP"
                );
                let (st, ours) = recompute(l4, 2, checksum::checksum);
                assert_eq!(st, ours, "{name}: ICMP checksum value");
                checked += 1;
            }
            protocol::GRE => {
                let g = GrePacket::new_checked(l4).unwrap();
                assert!(g.verify_checksum(), "{name}: GRE checksum");
                checked += 1 + check_ip(name, g.payload());
            }
            _ => {}
        }
    } else {
        let p = Ipv6Packet::new_checked(ip).unwrap();
        let ext = p.extensions().unwrap();
        if ext.is_fragment() {
            return checked;
        }
        let (s, d) = (p.src_addr(), p.dst_addr());
        let (proto, l4) = p.upper_layer().unwrap();
        match proto {
            protocol::UDP => {
                let u = UdpPacket::new_checked(l4).unwrap();
                assert!(u.verify_checksum_v6(s, d), "{name}: UDP/IPv6 checksum");
                let (st, ours) =
                    recompute(u.datagram(), 6, |m| checksum::upper_layer_v6(s, d, 17, m));
                assert_eq!(st, ours, "{name}: UDP/IPv6 checksum value");
                checked += 1;
            }
            protocol::TCP => {
                let t = TcpPacket::new_checked(l4).unwrap();
                assert!(t.verify_checksum_v6(s, d), "{name}: TCP/IPv6 checksum");
                checked += 1;
            }
            protocol::ICMPV6 => {
                assert!(
                    Icmpv6Packet::new_checked(l4).unwrap().verify_checksum(s, d),
                    "{name}: ICMPv6"
                );
                let (st, ours) = recompute(l4, 2, |m| checksum::upper_layer_v6(s, d, 58, m));
                assert_eq!(st, ours, "{name}: ICMPv6 checksum value");
                checked += 1;
            }
            _ => {}
        }
    }
    checked
}

fn expected_ptype(name: &str) -> u32 {
    let l2l3 = |v6: bool| {
        if v6 {
            pt::L2_ETHER | pt::L3_IPV6
        } else {
            pt::L2_ETHER | pt::L3_IPV4
        }
    };
    match name {
        n if n.starts_with("udp4_") => l2l3(false) | pt::L4_UDP,
        n if n.starts_with("tcp4_") => l2l3(false) | pt::L4_TCP,
        n if n.starts_with("udp6_") => l2l3(true) | pt::L4_UDP,
        n if n.starts_with("tcp6_") => l2l3(true) | pt::L4_TCP,
        "icmp4_echo" => l2l3(false) | pt::L4_ICMP,
        "icmp6_echo" | "ndp_ns" | "ndp_na" => l2l3(true) | pt::L4_ICMP,
        "ipv4_options_udp" => pt::L2_ETHER | pt::L3_IPV4_EXT | pt::L4_UDP,
        "vlan_udp4" => pt::L2_ETHER_VLAN | pt::L3_IPV4 | pt::L4_UDP,
        "qinq_tcp6" => pt::L2_ETHER_QINQ | pt::L3_IPV6 | pt::L4_TCP,
        "ipv6_ext_udp" => pt::L2_ETHER | pt::L3_IPV6_EXT | pt::L4_UDP,
        "ipv6_frag_first" => pt::L2_ETHER | pt::L3_IPV6_EXT | pt::L4_FRAG,
        "ipv4_frag_second" => l2l3(false) | pt::L4_FRAG,
        "arp_request" => pt::L2_ETHER_ARP,
        "gre_ipv4" => l2l3(false) | pt::TUNNEL_GRE | pt::INNER_L3_IPV4 | pt::INNER_L4_UDP,
        "vxlan_udp4" => {
            l2l3(false)
                | pt::L4_UDP
                | pt::TUNNEL_VXLAN
                | pt::INNER_L2_ETHER
                | pt::INNER_L3_IPV4
                | pt::INNER_L4_TCP
        }
        "vxlan_ipv6_outer" => {
            l2l3(true)
                | pt::L4_UDP
                | pt::TUNNEL_VXLAN
                | pt::INNER_L2_ETHER_VLAN
                | pt::INNER_L3_IPV6
                | pt::INNER_L4_UDP
        }
        other => panic!("frame {other} has no expected packet type"),
    }
}

#[test]
fn scapy_frames_parse_and_checksums_match() {
    let all = frames();
    assert!(all.len() >= 40, "frames.txt has {} frames", all.len());
    let mut checksums = 0;
    for (name, f) in &all {
        let info: PacketInfo = parse(f).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            info.ptype,
            expected_ptype(name),
            "{name}: ptype {:#x}",
            info.ptype
        );
        assert!(info.payload_offset() <= f.len(), "{name}");
        if info.ptype & pt::L3_MASK != 0 {
            checksums += check_ip(name, &f[info.l3_offset()..]);
        }
        if info.ptype & pt::TUNNEL_MASK == pt::TUNNEL_VXLAN {
            let v = VxlanPacket::new_checked(&f[info.tunnel_offset()..]).unwrap();
            assert!(v.has_vni());
            let inner = v.payload();
            let il3 = info.inner_l2_len as usize;
            checksums += check_ip(name, &inner[il3..]);
        }
    }
    assert!(checksums >= 60, "checked {checksums} checksums");
}

#[test]
fn scapy_frames_rebuild_byte_for_byte() {
    let mut rebuilt = 0;
    for (name, f) in frames() {
        let info = parse(&f).unwrap();
        if info.ptype & (pt::L2_MASK | pt::TUNNEL_MASK) != pt::L2_ETHER {
            continue;
        }
        let eth = EthernetRepr::parse(&EthernetFrame::new_checked(&f[..]).unwrap());
        let l3 = &f[14..];
        let (ip, l4_bytes) = if info.ptype & pt::L3_MASK == pt::L3_IPV4
            || info.ptype & pt::L3_MASK == pt::L3_IPV4_EXT
        {
            let p = Ipv4Packet::new_checked(l3).unwrap();
            if p.is_fragment() {
                continue;
            }
            (IpSpec::V4(Ipv4Repr::parse(&p)), p.payload().to_vec())
        } else {
            let p = Ipv6Packet::new_checked(l3).unwrap();
            if p.extensions().unwrap().count != 0 {
                continue;
            }
            (IpSpec::V6(Ipv6Repr::parse(&p)), p.payload().to_vec())
        };
        let (l4, payload) = match info.ptype & pt::L4_MASK {
            pt::L4_UDP => {
                let u = UdpPacket::new_checked(&l4_bytes[..]).unwrap();
                (
                    L4Spec::Udp {
                        src_port: u.src_port(),
                        dst_port: u.dst_port(),
                    },
                    u.payload().to_vec(),
                )
            }
            pt::L4_TCP => {
                let t = TcpPacket::new_checked(&l4_bytes[..]).unwrap();
                (L4Spec::Tcp(TcpRepr::parse(&t)), t.payload().to_vec())
            }
            pt::L4_ICMP if name == "icmp4_echo" || name == "icmp6_echo" => {
                let id = u16::from_be_bytes([l4_bytes[4], l4_bytes[5]]);
                let seq = u16::from_be_bytes([l4_bytes[6], l4_bytes[7]]);
                (
                    L4Spec::IcmpEcho {
                        request: true,
                        ident: id,
                        seq,
                    },
                    l4_bytes[8..].to_vec(),
                )
            }
            _ => continue,
        };
        let spec = FrameSpec {
            src_mac: eth.src,
            dst_mac: eth.dst,
            vlan: None,
            outer_vlan: None,
            ip,
            l4,
        };
        let mut buf = vec![0u8; 2048];
        let n = spec.build(&payload, &mut buf).unwrap();
        assert_eq!(&buf[..n], &f[..], "{name}: our builder differs from scapy");
        rebuilt += 1;
    }
    assert!(rebuilt >= 30, "rebuilt {rebuilt}");
}

#[test]
fn scapy_ndp_and_arp_fields() {
    let all = frames();
    let get = |n: &str| all.iter().find(|(name, _)| name == n).unwrap().1.clone();
    let ns = get("ndp_ns");
    let p = Ipv6Packet::new_checked(&ns[14..]).unwrap();
    let icmp = Icmpv6Packet::new_checked(p.payload()).unwrap();
    assert_eq!(
        icmp.ndp().unwrap(),
        NdpRepr::NeighborSolicit {
            target: "2001:db8::2".parse().unwrap(),
            source_lladdr: Some("02:00:00:00:00:01".parse::<MacAddr>().unwrap())
        }
    );
    let na = get("ndp_na");
    let p = Ipv6Packet::new_checked(&na[14..]).unwrap();
    let icmp = Icmpv6Packet::new_checked(p.payload()).unwrap();
    assert_eq!(
        icmp.ndp().unwrap(),
        NdpRepr::NeighborAdvert {
            router: true,
            solicited: true,
            override_: false,
            target: "2001:db8::2".parse().unwrap(),
            target_lladdr: Some("02:00:00:00:00:02".parse::<MacAddr>().unwrap())
        }
    );
    let arp = get("arp_request");
    let a = ArpPacket::new_checked(&arp[14..]).unwrap();
    assert_eq!(
        a.sender_ip(),
        "10.0.0.1".parse::<std::net::Ipv4Addr>().unwrap()
    );
    assert_eq!(
        a.target_ip(),
        "10.0.0.2".parse::<std::net::Ipv4Addr>().unwrap()
    );
    let gre = get("gre_ipv4");
    let info = parse(&gre).unwrap();
    let g = GrePacket::new_checked(&gre[info.l4_offset()..]).unwrap();
    assert_eq!(
        (g.key(), g.has_checksum(), g.header_len()),
        (Some(77), true, 12)
    );
    assert_eq!(info.tunnel_len, 12);
    let v = get("vxlan_udp4");
    let info = parse(&v).unwrap();
    assert_eq!(
        VxlanPacket::new_checked(&v[info.tunnel_offset()..])
            .unwrap()
            .vni(),
        5000
    );
    assert_eq!(&v[info.payload_offset()..], b"inner payload");
}
