//! Fuzzes the packet-type parser and every view accessor on arbitrary bytes: nothing may
//! panic or read out of bounds, and whatever `parse` accepts must be readable by the views.
#![no_main]

use ferroplane_net::arp::ArpPacket;
use ferroplane_net::builder::FrameTemplate;
use ferroplane_net::ethernet::{EthernetFrame, VlanTag};
use ferroplane_net::icmp::{Icmpv4Packet, Icmpv6Packet};
use ferroplane_net::ipv4::Ipv4Packet;
use ferroplane_net::ipv6::Ipv6Packet;
use ferroplane_net::ptype::{parse, ptype as pt};
use ferroplane_net::tcp::TcpPacket;
use ferroplane_net::tunnel::{GrePacket, VxlanPacket};
use ferroplane_net::udp::UdpPacket;
use ferroplane_net::{checksum, MacAddr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = checksum::sum(data);
    if let Ok(info) = parse(data) {
        assert!(info.payload_offset() <= data.len());
        let l3 = &data[info.l3_offset()..];
        match info.ptype & pt::L3_MASK {
            pt::L3_IPV4 | pt::L3_IPV4_EXT => {
                let p = Ipv4Packet::new_checked(l3).expect("parse accepted IPv4");
                let _ = (p.src_addr(), p.dst_addr(), p.options(), p.payload(), p.verify_checksum());
            }
            pt::L3_IPV6 | pt::L3_IPV6_EXT => {
                let p = Ipv6Packet::new_checked(l3).expect("parse accepted IPv6");
                p.upper_layer().expect("parse accepted the extension chain");
            }
            _ => {}
        }
        if info.ptype & pt::L4_MASK == pt::L4_TCP {
            let t = TcpPacket::new_checked(&data[info.l4_offset()..]).expect("parse accepted TCP");
            let _ = (t.options(), t.payload(), t.flags());
        }
        let _ = FrameTemplate::from_frame(data.to_vec()).map(|t| {
            let mut buf = vec![0u8; t.len()];
            t.write(&mut buf).expect("template fits");
            let at = t.payload_offset().min(t.len());
            let n = (t.len() - at).min(4);
            t.stamp(&mut buf, at, &[0xa5; 4][..n]).expect("stamp in range");
        });
    }
    // Every view on the raw bytes and on every suffix start up to 64.
    for off in 0..data.len().min(64) {
        let b = &data[off..];
        if let Ok(e) = EthernetFrame::new_checked(b) {
            let _ = (e.src_addr(), e.dst_addr(), e.ethertype(), e.payload().len());
        }
        if let Ok(v) = VlanTag::new_checked(b) {
            let _ = (v.vid(), v.pcp(), v.dei(), v.ethertype());
        }
        if let Ok(a) = ArpPacket::new_checked(b) {
            let _ = (a.sender_ip(), a.target_mac(), a.operation());
        }
        if let Ok(p) = Ipv4Packet::new_checked(b) {
            let _ = (p.payload(), p.options(), p.frag_offset(), p.verify_checksum());
        }
        if let Ok(p) = Ipv6Packet::new_checked(b) {
            let _ = (p.payload(), p.extensions(), p.upper_layer(), p.flow_label());
        }
        if let Ok(u) = UdpPacket::new_checked(b) {
            let _ = (u.payload(), u.verify_checksum_v4([1, 2, 3, 4].into(), [5, 6, 7, 8].into()));
        }
        if let Ok(t) = TcpPacket::new_checked(b) {
            let _ = (t.options(), t.payload(), t.verify_checksum_v6(std::net::Ipv6Addr::LOCALHOST, std::net::Ipv6Addr::UNSPECIFIED));
        }
        if let Ok(i) = Icmpv4Packet::new_checked(b) {
            let _ = (i.echo_seq(), i.payload(), i.verify_checksum());
        }
        if let Ok(i) = Icmpv6Packet::new_checked(b) {
            let _ = (i.ndp(), i.echo_ident());
        }
        if let Ok(g) = GrePacket::new_checked(b) {
            let _ = (g.key(), g.seq(), g.checksum(), g.payload(), g.verify_checksum());
        }
        if let Ok(v) = VxlanPacket::new_checked(b) {
            let _ = (v.vni(), v.payload());
        }
        let mut m = b.to_vec();
        if let Ok(mut p) = Ipv4Packet::new_checked(&mut m[..]) {
            p.decrement_ttl();
            p.set_src_addr([9, 9, 9, 9].into());
        }
        let _ = MacAddr::default();
    }
});
