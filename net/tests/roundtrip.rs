//! Property tests: random representation -> build -> parse -> the same representation.

use ferroplane_net::MacAddr;
use ferroplane_net::builder::{FrameSpec, FrameTemplate, IpSpec, L4Spec, VxlanSpec};
use ferroplane_net::ethernet::{EthernetFrame, EthernetRepr, VlanRepr, VlanTag};
use ferroplane_net::icmp::{IcmpRepr, Icmpv4Packet, Icmpv6Packet};
use ferroplane_net::ipv4::{Ipv4Packet, Ipv4Repr};
use ferroplane_net::ipv6::{Ipv6Packet, Ipv6Repr};
use ferroplane_net::options::HeaderOptions;
use ferroplane_net::ptype::{PacketMeta, fill_meta, parse, ptype as pt};
use ferroplane_net::tcp::{TcpPacket, TcpRepr};
use ferroplane_net::udp::{UdpPacket, UdpRepr};
use proptest::prelude::*;

fn arb_vlan() -> impl Strategy<Value = VlanRepr> {
    (0u8..8, any::<bool>(), 0u16..4096).prop_map(|(pcp, dei, vid)| VlanRepr { pcp, dei, vid })
}

fn arb_ip() -> impl Strategy<Value = IpSpec> {
    prop_oneof![
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            0u8..64,
            0u8..4,
            any::<u16>(),
            any::<bool>(),
            0usize..11
        )
            .prop_map(|(s, d, ttl, dscp, ecn, ident, df, nopt)| {
                let mut r = Ipv4Repr::new(s.into(), d.into(), 0, 0);
                (r.ttl, r.dscp, r.ecn, r.ident, r.dont_frag) = (ttl, dscp, ecn, ident, df);
                r.options = HeaderOptions::new(&[1u8; 40][..nopt * 4]).unwrap();
                IpSpec::V4(r)
            }),
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u8>(),
            any::<u8>(),
            0u32..0x10_0000
        )
            .prop_map(|(s, d, hl, tc, fl)| {
                let mut r = Ipv6Repr::new(s.into(), d.into(), 0, 0);
                (r.hop_limit, r.traffic_class, r.flow_label) = (hl, tc, fl);
                IpSpec::V6(r)
            }),
    ]
}

fn arb_l4() -> impl Strategy<Value = L4Spec> {
    prop_oneof![
        (any::<u16>(), 0u16..4789).prop_map(|(s, d)| L4Spec::Udp {
            src_port: s,
            dst_port: d
        }),
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            0u16..0x200,
            any::<u16>(),
            any::<u16>(),
            0usize..11
        )
            .prop_map(|(s, d, seq, ack, flags, window, urgent, nopt)| {
                L4Spec::Tcp(TcpRepr {
                    src_port: s,
                    dst_port: d,
                    seq,
                    ack,
                    flags,
                    window,
                    urgent,
                    options: HeaderOptions::new(&[1u8; 40][..nopt * 4]).unwrap(),
                    payload_len: 0,
                })
            }),
        (any::<bool>(), any::<u16>(), any::<u16>()).prop_map(|(r, i, s)| L4Spec::IcmpEcho {
            request: r,
            ident: i,
            seq: s
        }),
    ]
}

fn arb_spec() -> impl Strategy<Value = FrameSpec> {
    (
        any::<[u8; 6]>(),
        any::<[u8; 6]>(),
        proptest::option::of(arb_vlan()),
        proptest::option::of(arb_vlan()),
        arb_ip(),
        arb_l4(),
    )
        .prop_map(|(s, d, v, ov, ip, l4)| FrameSpec {
            src_mac: MacAddr(s),
            dst_mac: MacAddr(d),
            vlan: v,
            outer_vlan: if v.is_some() { ov } else { None },
            ip,
            l4,
        })
}

/// Parses `frame` back into a spec and payload using the views and Reprs.
fn parse_back(f: &[u8]) -> (FrameSpec, Vec<u8>) {
    let info = parse(f).unwrap();
    let eth = EthernetFrame::new_checked(f).unwrap();
    let er = EthernetRepr::parse(&eth);
    let (mut vlan, mut outer_vlan) = (None, None);
    let mut rest = eth.payload();
    let mut et = er.ethertype;
    while et == 0x8100 || et == 0x88a8 {
        let t = VlanTag::new_checked(rest).unwrap();
        let r = VlanRepr::parse(&t);
        if et == 0x88a8 {
            outer_vlan = Some(r);
        } else {
            vlan = Some(r);
        }
        et = t.ethertype();
        rest = &rest[4..];
    }
    assert_eq!(rest.len(), f.len() - info.l2_len as usize);
    let (ip, l4b) = if et == 0x0800 {
        let p = Ipv4Packet::new_checked(rest).unwrap();
        assert!(p.verify_checksum());
        (
            IpSpec::V4(Ipv4Repr {
                protocol: 0,
                payload_len: 0,
                ..Ipv4Repr::parse(&p)
            }),
            p.payload().to_vec(),
        )
    } else {
        let p = Ipv6Packet::new_checked(rest).unwrap();
        (
            IpSpec::V6(Ipv6Repr {
                next_header: 0,
                payload_len: 0,
                ..Ipv6Repr::parse(&p)
            }),
            p.payload().to_vec(),
        )
    };
    let (l4, payload) = match info.ptype & pt::L4_MASK {
        pt::L4_UDP => {
            let u = UdpPacket::new_checked(&l4b[..]).unwrap();
            let r = UdpRepr::parse(&u);
            (
                L4Spec::Udp {
                    src_port: r.src_port,
                    dst_port: r.dst_port,
                },
                u.payload().to_vec(),
            )
        }
        pt::L4_TCP => {
            let t = TcpPacket::new_checked(&l4b[..]).unwrap();
            (
                L4Spec::Tcp(TcpRepr {
                    payload_len: 0,
                    ..TcpRepr::parse(&t)
                }),
                t.payload().to_vec(),
            )
        }
        pt::L4_ICMP => {
            let r = if et == 0x0800 {
                let i = Icmpv4Packet::new_checked(&l4b[..]).unwrap();
                assert!(i.verify_checksum());
                IcmpRepr::parse_v4(&i)
            } else {
                IcmpRepr::parse_v6(&Icmpv6Packet::new_checked(&l4b[..]).unwrap())
            };
            let request = r.msg_type == 8 || r.msg_type == 128;
            let l4 = L4Spec::IcmpEcho {
                request,
                ident: (r.rest_of_header >> 16) as u16,
                seq: r.rest_of_header as u16,
            };
            (l4, l4b[8..].to_vec())
        }
        other => panic!("unexpected L4 {other:#x}"),
    };
    (
        FrameSpec {
            src_mac: er.src,
            dst_mac: er.dst,
            vlan,
            outer_vlan,
            ip,
            l4,
        },
        payload,
    )
}

fn normalize(mut s: FrameSpec) -> FrameSpec {
    if let L4Spec::Tcp(t) = &mut s.l4 {
        t.payload_len = 0;
    }
    s
}

#[derive(Default, Debug, PartialEq)]
struct Meta {
    ptype: u32,
    l2: u16,
    l3: u16,
    l4: u16,
    ol2: u16,
    ol3: u16,
}

impl PacketMeta for Meta {
    fn set_packet_type(&mut self, p: u32) {
        self.ptype = p;
    }
    fn set_l2_len(&mut self, l: u16) {
        self.l2 = l;
    }
    fn set_l3_len(&mut self, l: u16) {
        self.l3 = l;
    }
    fn set_l4_len(&mut self, l: u16) {
        self.l4 = l;
    }
    fn set_outer_l2_len(&mut self, l: u16) {
        self.ol2 = l;
    }
    fn set_outer_l3_len(&mut self, l: u16) {
        self.ol3 = l;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn build_parse_round_trip(spec in arb_spec(), payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut buf = vec![0u8; 2048];
        let n = spec.build(&payload, &mut buf).unwrap();
        prop_assert_eq!(n, spec.frame_len(payload.len()));
        let (back, p) = parse_back(&buf[..n]);
        prop_assert_eq!(normalize(back), normalize(spec));
        prop_assert_eq!(&p, &payload);
        let info = parse(&buf[..n]).unwrap();
        prop_assert_eq!(info.payload_offset(), n - payload.len());
        let mut m = Meta::default();
        fill_meta(&buf[..n], &mut m).unwrap();
        prop_assert_eq!(m, Meta { ptype: info.ptype, l2: info.l2_len, l3: info.l3_len, l4: info.l4_len, ol2: 0, ol3: 0 });
    }

    #[test]
    fn vxlan_round_trip_and_template(outer_ip in arb_ip(), inner in arb_spec(), vni in 0u32..0x100_0000, sport in any::<u16>(),
                                     csum in any::<bool>(), payload in proptest::collection::vec(any::<u8>(), 8..100),
                                     stamp in any::<[u8; 8]>(), at in 0usize..8) {
        let outer = VxlanSpec { udp_checksum: csum, ..VxlanSpec::new(MacAddr([2; 6]), MacAddr([4; 6]), outer_ip, sport, vni) };
        let t = FrameTemplate::new_vxlan(&outer, &inner, &payload).unwrap();
        let info = *t.info();
        prop_assert_eq!(info.ptype & pt::TUNNEL_MASK, pt::TUNNEL_VXLAN);
        let (back, p) = parse_back(&t.frame()[info.inner_l2_offset()..]);
        prop_assert_eq!(normalize(back), normalize(inner));
        prop_assert_eq!(&p, &payload);
        let mut m = Meta::default();
        fill_meta(t.frame(), &mut m).unwrap();
        prop_assert_eq!((m.ol2, m.ol3, m.l2, m.l3, m.l4), (info.l2_len, info.l3_len, 16 + info.inner_l2_len, info.inner_l3_len, info.inner_l4_len));
        // Stamping the payload equals building with the stamped payload.
        let off = at.min(payload.len() - 8);
        let mut buf = vec![0u8; 4096];
        let n = t.write_with(&mut buf, t.payload_offset() + off, &stamp).unwrap();
        let mut p2 = payload.clone();
        p2[off..off + 8].copy_from_slice(&stamp);
        let mut fresh = vec![0u8; 4096];
        let m2 = outer.build(&inner, &p2, &mut fresh).unwrap();
        prop_assert_eq!(&buf[..n], &fresh[..m2]);
    }

    #[test]
    fn parse_never_panics(f in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&f);
    }
}
