//! Unit tests of the router over byte vectors, with frames from the net crate's builders.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ferroplane_net::MacAddr;
use ferroplane_net::arp::{ARP_REPLY, ARP_REQUEST, ArpPacket, ArpRepr};
use ferroplane_net::builder::{FrameSpec, IpSpec, L4Spec};
use ferroplane_net::ethernet::{EthernetRepr, ethertype};
use ferroplane_net::icmp::{Icmpv4Packet, Icmpv6Packet, NdpRepr, icmpv6_type};
use ferroplane_net::ipv4::Ipv4Packet;
use ferroplane_net::ipv6::Ipv6Packet;

use super::super::lookup::Tables;
use super::super::neigh::NeighConfig;
use super::super::routes::default_routes;
use super::super::{DropReason, RouterCounters};
use super::*;

const P0: MacAddr = MacAddr([2, 0xaa, 0, 0, 0, 0]);
const P1: MacAddr = MacAddr([2, 0xaa, 0, 0, 0, 1]);
const H1: MacAddr = MacAddr([2, 0xbb, 0, 0, 0, 1]);
const H2: MacAddr = MacAddr([2, 0xbb, 0, 0, 0, 2]);

#[derive(Default)]
struct Out {
    tx: Vec<(u16, Vec<u8>)>,
    drops: Vec<DropReason>,
}

impl Output<Vec<u8>> for Out {
    fn tx(&mut self, port: u16, p: Vec<u8>) {
        self.tx.push((port, p));
    }
    fn drop(&mut self, _p: Vec<u8>, reason: DropReason) {
        self.drops.push(reason);
    }
    fn alloc(&mut self) -> Option<Vec<u8>> {
        Some(Vec::new())
    }
}

fn ports(router: bool) -> Vec<PortAddrs> {
    let mut p = vec![
        PortAddrs {
            mac: P0,
            v4: Vec::new(),
            v6: Vec::new(),
        },
        PortAddrs {
            mac: P1,
            v4: Vec::new(),
            v6: Vec::new(),
        },
    ];
    if router {
        p[0].v4.push(("10.0.1.1".parse().unwrap(), 24));
        p[1].v4.push(("10.0.2.1".parse().unwrap(), 24));
        p[0].v6.push(("2001:db8:1::1".parse().unwrap(), 64));
        p[1].v6.push(("2001:db8:2::1".parse().unwrap(), 64));
    }
    p
}

fn router_with(router: bool, icmp_rate: u64) -> Router<Vec<u8>> {
    let cfg = RouterConfig {
        ports: ports(router),
        router,
        eth_dest: vec![MacAddr([2, 0, 0, 0, 0, 0]), MacAddr([2, 0, 0, 0, 0, 9])],
        miss_to_rx_port: false,
        neigh: NeighConfig::default(),
        icmp_rate,
        icmp_burst: icmp_rate,
    };
    let tables = Tables::lpm(&default_routes()).unwrap();
    let lookup = tables.handle().unwrap();
    // The reader keeps the tables alive after the writer is dropped.
    drop(tables);
    Router::new(Arc::new(cfg), lookup, Arc::new(RouterCounters::default()))
}

fn udp(src_mac: MacAddr, dst_mac: MacAddr, src: &str, dst: &str, ttl: u8) -> Vec<u8> {
    let mut spec = FrameSpec::udp(
        src_mac,
        dst_mac,
        src.parse().unwrap(),
        dst.parse().unwrap(),
        1024,
        9,
    )
    .unwrap();
    match &mut spec.ip {
        IpSpec::V4(r) => r.ttl = ttl,
        IpSpec::V6(r) => r.hop_limit = ttl,
    }
    let mut b = vec![0u8; 256];
    let n = spec.build(b"payload-payload-", &mut b).unwrap();
    b.truncate(n);
    b
}

fn echo(src_mac: MacAddr, dst_mac: MacAddr, src: &str, dst: &str) -> Vec<u8> {
    let spec = FrameSpec {
        src_mac,
        dst_mac,
        vlan: None,
        outer_vlan: None,
        ip: IpSpec::between(src.parse().unwrap(), dst.parse().unwrap()).unwrap(),
        l4: L4Spec::IcmpEcho {
            request: true,
            ident: 1,
            seq: 1,
        },
    };
    let mut b = vec![0u8; 256];
    let n = spec.build(b"ping", &mut b).unwrap();
    b.truncate(n);
    b
}

fn arp(op: u16, smac: MacAddr, sip: &str, tip: &str, dst_mac: MacAddr) -> Vec<u8> {
    let mut b = vec![0u8; 60];
    EthernetRepr {
        dst: dst_mac,
        src: smac,
        ethertype: ethertype::ARP,
    }
    .emit(&mut b)
    .unwrap();
    ArpRepr {
        operation: op,
        sender_mac: smac,
        sender_ip: sip.parse().unwrap(),
        target_mac: MacAddr::ZERO,
        target_ip: tip.parse().unwrap(),
    }
    .emit(&mut b[14..])
    .unwrap();
    b
}

fn ndp_frame(smac: MacAddr, src: &str, dst: Ipv6Addr, msg: NdpRepr) -> Vec<u8> {
    let src: Ipv6Addr = src.parse().unwrap();
    let mut b = vec![0u8; 14 + 40 + msg.len()];
    EthernetRepr {
        dst: MacAddr([0x33, 0x33, 0, 0, 0, 1]),
        src: smac,
        ethertype: ethertype::IPV6,
    }
    .emit(&mut b)
    .unwrap();
    let mut ip = ferroplane_net::ipv6::Ipv6Repr::new(src, dst, 58, msg.len());
    ip.hop_limit = 255;
    ip.emit(&mut b[14..]).unwrap();
    msg.emit(src, dst, &mut b[54..]).unwrap();
    b
}

#[test]
fn static_mode_forwards_by_lpm_with_ttl_and_macs() {
    let mut r = router_with(false, 0);
    let mut out = Out::default();
    r.handle(0, udp(H1, P0, "198.18.0.7", "198.18.1.5", 64), 0, &mut out);
    assert_eq!(out.drops, vec![]);
    let (port, f) = &out.tx[0];
    assert_eq!(*port, 1);
    assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 9]); // --eth-dest of port 1
    assert_eq!(&f[6..12], &P1.0);
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert_eq!(ip.ttl(), 63);
    assert!(ip.verify_checksum());
    // ARP is not l3fwd's business outside router mode; a miss is dropped (miss_to_rx_port off).
    r.handle(
        0,
        arp(ARP_REQUEST, H1, "10.0.1.2", "10.0.1.1", MacAddr::BROADCAST),
        0,
        &mut out,
    );
    r.handle(0, udp(H1, P0, "198.18.0.7", "10.9.9.9", 64), 0, &mut out);
    assert_eq!(
        out.drops,
        vec![DropReason::UnsupportedEthertype, DropReason::NoRoute]
    );
}

#[test]
fn malformed_packets_are_counted_by_reason() {
    let mut r = router_with(true, 100);
    let good = udp(H1, P0, "10.0.1.2", "198.18.1.5", 64);
    let mut cases: Vec<(Vec<u8>, DropReason)> = Vec::new();
    let mut bad_ck = good.clone();
    bad_ck[24] ^= 0xff;
    cases.push((bad_ck, DropReason::BadChecksum));
    let mut ihl = good.clone();
    ihl[14] = 0x44;
    cases.push((ihl, DropReason::BadIhl));
    let mut ver = good.clone();
    ver[14] = 0x55;
    cases.push((ver, DropReason::BadVersion));
    cases.push((good[..30].to_vec(), DropReason::Truncated));
    cases.push((good[..10].to_vec(), DropReason::Truncated));
    let mut tl = good.clone();
    tl.truncate(good.len() - 4);
    cases.push((tl, DropReason::BadTotalLength));
    cases.push((
        udp(H1, P0, "10.0.1.2", "198.18.1.5", 0),
        DropReason::TtlExpired,
    ));
    cases.push((
        udp(H1, P0, "10.0.1.2", "198.18.1.5", 1),
        DropReason::TtlExpired,
    ));
    cases.push((
        udp(H1, P0, "10.0.1.2", "224.0.0.9", 64),
        DropReason::NotForwardable,
    ));
    cases.push((
        udp(H1, P0, "10.0.1.2", "10.0.1.255", 64),
        DropReason::NotForwardable,
    ));
    for (f, want) in cases {
        let mut out = Out::default();
        r.handle(0, f, 0, &mut out);
        assert_eq!(out.drops, vec![want]);
    }
}

#[test]
fn arp_request_for_us_is_answered_and_floods_create_nothing() {
    let mut r = router_with(true, 100);
    let mut out = Out::default();
    r.handle(
        0,
        arp(ARP_REQUEST, H1, "10.0.1.2", "10.0.1.1", MacAddr::BROADCAST),
        0,
        &mut out,
    );
    let (port, f) = &out.tx[0];
    assert_eq!(*port, 0);
    assert_eq!(&f[0..6], &H1.0);
    let a = ArpPacket::new_checked(&f[14..]).unwrap();
    assert_eq!(a.operation(), ARP_REPLY);
    assert_eq!(
        (a.sender_mac(), a.sender_ip()),
        (P0, "10.0.1.1".parse::<Ipv4Addr>().unwrap())
    );
    assert_eq!(a.target_mac(), H1);
    assert_eq!(r.neigh.len(), 1); // the asker is learnt
    // A flood of requests for other addresses: all ignored, nothing learnt.
    let mut out = Out::default();
    for i in 0..200u32 {
        let sip = Ipv4Addr::from(0x0a00_0100 + (i % 250) + 2).to_string();
        r.handle(
            0,
            arp(
                ARP_REQUEST,
                MacAddr([2, 9, 0, 0, 0, i as u8]),
                &sip,
                "10.0.1.77",
                MacAddr::BROADCAST,
            ),
            0,
            &mut out,
        );
    }
    assert_eq!(out.tx.len(), 0);
    assert_eq!(out.drops.len(), 200);
    assert!(out.drops.iter().all(|d| *d == DropReason::ArpIgnored));
    assert_eq!(r.neigh.len(), 1);
}

#[test]
fn forwarding_resolves_next_hop_by_arp_and_releases_held_packets() {
    let mut r = router_with(true, 100);
    let mut out = Out::default();
    r.handle(0, udp(H1, P0, "10.0.1.2", "10.0.2.2", 64), 0, &mut out);
    r.handle(0, udp(H1, P0, "10.0.1.2", "10.0.2.2", 64), 1, &mut out);
    // One ARP request on port 1, packets held.
    assert_eq!(out.tx.len(), 1);
    let (port, req) = &out.tx[0];
    assert_eq!(*port, 1);
    let a = ArpPacket::new_checked(&req[14..]).unwrap();
    assert_eq!(
        (a.operation(), a.target_ip(), a.sender_ip()),
        (
            ARP_REQUEST,
            "10.0.2.2".parse().unwrap(),
            "10.0.2.1".parse().unwrap()
        )
    );
    assert_eq!(
        r.counters.held.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    // The reply releases both, in order, with the learnt MAC.
    let mut out = Out::default();
    r.handle(
        1,
        arp(ARP_REPLY, H2, "10.0.2.2", "10.0.2.1", P1),
        2,
        &mut out,
    );
    assert_eq!(out.drops, vec![DropReason::Consumed]);
    assert_eq!(out.tx.len(), 2);
    for (port, f) in &out.tx {
        assert_eq!(*port, 1);
        assert_eq!((&f[0..6], &f[6..12]), (&H2.0[..], &P1.0[..]));
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        assert!(ip.verify_checksum());
    }
    // Later packets go straight out.
    let mut out = Out::default();
    r.handle(0, udp(H1, P0, "10.0.1.2", "10.0.2.2", 64), 3, &mut out);
    assert_eq!(out.tx.len(), 1);
}

#[test]
fn unanswered_arp_retries_then_drops_held_packets() {
    let mut r = router_with(true, 100);
    let mut out = Out::default();
    r.handle(0, udp(H1, P0, "10.0.1.2", "10.0.2.3", 64), 0, &mut out);
    let s = 1_000_000_000u64;
    for t in 1..=3 {
        r.begin_burst(t * s, &mut out);
    }
    let requests = out.tx.iter().filter(|(_, f)| f[12..14] == [8, 6]).count();
    assert_eq!(requests, 3);
    assert_eq!(out.drops, vec![DropReason::NeighUnresolved]);
}

#[test]
fn icmp_echo_time_exceeded_unreachable_and_rate_limit() {
    let mut r = router_with(true, 2);
    let mut out = Out::default();
    r.handle(0, echo(H1, P0, "10.0.1.2", "10.0.1.1"), 0, &mut out);
    let (port, f) = &out.tx[0];
    assert_eq!(*port, 0);
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert_eq!(
        Icmpv4Packet::new_checked(ip.payload()).unwrap().msg_type(),
        0
    );

    let mut out = Out::default();
    let probe = udp(H1, P0, "10.0.1.2", "10.0.2.2", 1);
    r.handle(0, probe.clone(), 0, &mut out);
    assert_eq!(out.drops, vec![DropReason::TtlExpired]);
    let (port, f) = &out.tx[0];
    assert_eq!(*port, 0);
    assert_eq!(&f[0..6], &H1.0);
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert_eq!(ip.src_addr(), "10.0.1.1".parse::<Ipv4Addr>().unwrap());
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((icmp.msg_type(), icmp.code()), (11, 0));
    assert!(icmp.verify_checksum());
    assert_eq!(icmp.payload(), &probe[14..]);

    let mut out = Out::default();
    r.handle(0, udp(H1, P0, "10.0.1.2", "8.8.8.8", 64), 0, &mut out);
    assert_eq!(out.drops, vec![DropReason::NoRoute]);
    let ip = Ipv4Packet::new_checked(&out.tx[0].1[14..]).unwrap();
    assert_eq!(
        Icmpv4Packet::new_checked(ip.payload()).unwrap().msg_type(),
        3
    );

    // The bucket (2 per second, burst 2) is empty now: no third error until time passes.
    let mut out = Out::default();
    r.handle(0, udp(H1, P0, "10.0.1.2", "8.8.8.8", 64), 0, &mut out);
    assert!(out.tx.is_empty());
    assert_eq!(
        r.counters
            .icmp_rate_limited
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    r.handle(
        0,
        udp(H1, P0, "10.0.1.2", "8.8.8.8", 64),
        600_000_000,
        &mut out,
    );
    assert_eq!(out.tx.len(), 1);
}

#[test]
fn ipv6_neighbour_discovery_echo_and_forwarding() {
    let mut r = router_with(true, 100);
    let me: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
    // NS for our address -> NA.
    let mut out = Out::default();
    let ns = NdpRepr::NeighborSolicit {
        target: me,
        source_lladdr: Some(H1),
    };
    r.handle(
        0,
        ndp_frame(H1, "2001:db8:1::2", super::icmp::solicited_node(me), ns),
        0,
        &mut out,
    );
    assert_eq!(out.drops, vec![DropReason::Consumed]);
    let (port, f) = &out.tx[0];
    assert_eq!(*port, 0);
    assert_eq!(&f[0..6], &H1.0);
    let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum(ip.src_addr(), ip.dst_addr()));
    assert!(
        matches!(icmp.ndp().unwrap(), NdpRepr::NeighborAdvert { target, target_lladdr: Some(m), solicited: true, .. } if target == me && m == P0)
    );
    // NS with a wrong hop limit is ignored (RFC 4861 7.1.1).
    let mut bad = ndp_frame(H1, "2001:db8:1::2", super::icmp::solicited_node(me), ns);
    bad[14 + 7] = 64;
    let mut out = Out::default();
    r.handle(0, bad, 0, &mut out);
    assert_eq!(
        (out.tx.len(), out.drops.clone()),
        (0, vec![DropReason::ArpIgnored])
    );

    // Echo to our address.
    let mut out = Out::default();
    r.handle(
        0,
        echo(H1, P0, "2001:db8:1::2", "2001:db8:1::1"),
        0,
        &mut out,
    );
    let ip = Ipv6Packet::new_checked(&out.tx[0].1[14..]).unwrap();
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(icmp.msg_type(), icmpv6_type::ECHO_REPLY);
    assert!(icmp.verify_checksum(ip.src_addr(), ip.dst_addr()));

    // Forwarding: NS sent on port 1, NA releases with hop limit decremented.
    let mut out = Out::default();
    r.handle(
        0,
        udp(H1, P0, "2001:db8:1::2", "2001:db8:2::2", 64),
        0,
        &mut out,
    );
    let (port, f) = &out.tx[0];
    assert_eq!(*port, 1);
    let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
    assert_eq!(ip.dst_addr(), "ff02::1:ff00:2".parse::<Ipv6Addr>().unwrap());
    let target: Ipv6Addr = "2001:db8:2::2".parse().unwrap();
    let na = NdpRepr::NeighborAdvert {
        router: false,
        solicited: true,
        override_: true,
        target,
        target_lladdr: Some(H2),
    };
    let mut out = Out::default();
    r.handle(
        1,
        ndp_frame(H2, "2001:db8:2::2", "2001:db8:2::1".parse().unwrap(), na),
        1,
        &mut out,
    );
    assert_eq!(out.tx.len(), 1);
    let (port, f) = &out.tx[0];
    assert_eq!((*port, &f[0..6]), (1, &H2.0[..]));
    assert_eq!(Ipv6Packet::new_checked(&f[14..]).unwrap().hop_limit(), 63);

    // Hop limit 1 -> ICMPv6 time exceeded; link-local destinations are not forwarded.
    let mut out = Out::default();
    r.handle(
        0,
        udp(H1, P0, "2001:db8:1::2", "2001:db8:2::2", 1),
        0,
        &mut out,
    );
    let ip = Ipv6Packet::new_checked(&out.tx[0].1[14..]).unwrap();
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(icmp.msg_type(), icmpv6_type::TIME_EXCEEDED);
    assert!(icmp.verify_checksum(ip.src_addr(), ip.dst_addr()));
    let mut out = Out::default();
    r.handle(0, udp(H1, P0, "2001:db8:1::2", "fe80::2", 64), 0, &mut out);
    assert_eq!(out.drops, vec![DropReason::NotForwardable]);
}

fn router_cfg() -> RouterConfig {
    RouterConfig {
        ports: ports(true),
        router: true,
        eth_dest: vec![MacAddr([2, 0, 0, 0, 0, 0]), MacAddr([2, 0, 0, 0, 0, 9])],
        miss_to_rx_port: false,
        neigh: NeighConfig::default(),
        icmp_rate: 1000,
        icmp_burst: 1000,
    }
}

#[test]
fn control_commands_change_what_a_following_router_does() {
    use super::super::control::Control;
    let tables = Tables::lpm(&default_routes()).unwrap();
    let cell = Arc::new(ConfigCell::new(router_cfg()));
    let mut r: Router<Vec<u8>> = Router::following(
        cell.clone(),
        tables.handle().unwrap(),
        Arc::new(RouterCounters::default()),
    );
    let mut ctl = Control::new(tables, cell, None, 2);

    // A new port address answers ping from the next burst on.
    let mut out = Out::default();
    r.handle(0, echo(H1, P0, "10.0.1.2", "10.0.3.1"), 0, &mut out);
    assert_eq!(out.drops, vec![DropReason::NoRoute]);
    let v = ctl.run("/l3fwd/addr/add", "1,10.0.3.1/24").unwrap();
    assert_eq!(v[1]["v4"][1], "10.0.3.1/24");
    assert!(
        ctl.run("/l3fwd/addr/add", "1,10.0.3.1/24").is_err(),
        "twice"
    );
    assert!(
        ctl.run("/l3fwd/addr/add", "5,10.0.3.1/24").is_err(),
        "no port 5"
    );
    let mut out = Out::default();
    r.begin_burst(1, &mut out);
    r.handle(0, echo(H1, P0, "10.0.1.2", "10.0.3.1"), 1, &mut out);
    assert_eq!(out.tx.len(), 1, "{:?}", out.drops);
    let ip = Ipv4Packet::new_checked(&out.tx[0].1[14..]).unwrap();
    assert_eq!(ip.src_addr(), "10.0.3.1".parse::<Ipv4Addr>().unwrap());
    ctl.run("/l3fwd/addr/del", "1,10.0.3.1/24").unwrap();
    let mut out = Out::default();
    r.begin_burst(2, &mut out);
    r.handle(0, echo(H1, P0, "10.0.1.2", "10.0.3.1"), 2, &mut out);
    assert_eq!(out.drops, vec![DropReason::NoRoute]);

    // A route via a gateway: the router asks for the gateway's MAC on port 1.
    let mut out = Out::default();
    r.handle(0, udp(H1, P0, "10.0.1.2", "192.0.2.5", 64), 3, &mut out);
    assert_eq!(out.drops, vec![DropReason::NoRoute]);
    let v = ctl
        .run("/l3fwd/route/add", "192.0.2.0/24 1 via 10.0.2.2")
        .unwrap();
    assert_eq!(v["added"]["via"], "10.0.2.2");
    assert!(
        ctl.run("/l3fwd/route/add", "192.0.2.0/24 7")
            .unwrap_err()
            .contains("port 7")
    );
    let routes = ctl.run("/l3fwd/routes", "").unwrap();
    assert!(
        routes
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["prefix"] == "192.0.2.0/24" && x["port"] == 1)
    );
    let mut out = Out::default();
    r.begin_burst(4, &mut out);
    r.handle(0, udp(H1, P0, "10.0.1.2", "192.0.2.5", 64), 4, &mut out);
    assert!(out.drops.is_empty(), "{:?}", out.drops);
    let (port, f) = &out.tx[0];
    assert_eq!(*port, 1);
    let a = ArpPacket::new_checked(&f[14..]).unwrap();
    assert_eq!(a.target_ip(), "10.0.2.2".parse::<Ipv4Addr>().unwrap());
    ctl.run("/l3fwd/route/del", "192.0.2.0/24").unwrap();
    assert!(ctl.run("/l3fwd/route/del", "192.0.2.0/24").is_err());
    assert!(
        ctl.run("/l3fwd/reload", "")
            .unwrap_err()
            .contains("--route-file")
    );
    assert!(ctl.run("/l3fwd/nope", "").is_err());
}

/// IPv4 with `opts` bytes of options (NOPs then EOL) and the given fragment field.
fn udp_opts(dst: &str, opts: usize, frag: u16) -> Vec<u8> {
    let base = udp(H1, P0, "10.0.1.2", dst, 64);
    let mut f = base[..34].to_vec();
    Extend::extend(&mut f, std::iter::repeat_n(1u8, opts.saturating_sub(1)));
    if opts > 0 {
        f.push(0);
    }
    f.extend_from_slice(&base[34..]);
    f[14] = 0x40 | ((20 + opts) / 4) as u8;
    let total = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f[20..22].copy_from_slice(&frag.to_be_bytes());
    f[24] = 0;
    f[25] = 0;
    let c = ferroplane_net::checksum::checksum(&f[14..14 + 20 + opts]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

#[test]
fn options_and_fragments_are_forwarded_and_only_first_fragments_get_errors() {
    let mut r = router_with(false, 100);
    // Static mode: 198.18.1.x goes out of port 1 with its options intact, TTL - 1.
    for (opts, frag) in [(4usize, 0u16), (8, 0x2000), (40, 0x0010), (12, 0x2005)] {
        let f = udp_opts("198.18.1.9", opts, frag);
        let mut out = Out::default();
        r.handle(0, f.clone(), 0, &mut out);
        assert!(
            out.drops.is_empty(),
            "opts {opts} frag {frag:#x}: {:?}",
            out.drops
        );
        let (port, g) = &out.tx[0];
        assert_eq!(*port, 1);
        let ip = Ipv4Packet::new_checked(&g[14..]).unwrap();
        assert!(ip.verify_checksum(), "opts {opts}");
        assert_eq!(g[22], 63, "TTL");
        assert_eq!(&g[34..34 + opts], &f[34..34 + opts], "options kept");
        assert_eq!(&g[34 + opts..], &f[34 + opts..], "payload kept");
    }
    // Router mode: TTL 1 on a first fragment gets time exceeded; on a later one, nothing.
    let mut r = router_with(true, 1000);
    for (frag, errors) in [(0x2000u16, 1usize), (0x0020, 0), (0x2040, 0)] {
        let mut f = udp_opts("10.0.2.2", 4, frag);
        f[22] = 1;
        f[24] = 0;
        f[25] = 0;
        let c = ferroplane_net::checksum::checksum(&f[14..38]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        let mut out = Out::default();
        r.handle(0, f, 0, &mut out);
        assert_eq!(out.drops, vec![DropReason::TtlExpired]);
        assert_eq!(out.tx.len(), errors, "fragment field {frag:#x}");
    }
    // Unknown destination: unreachable for a first fragment only.
    for (frag, errors) in [(0u16, 1usize), (0x0008, 0)] {
        let mut out = Out::default();
        r.handle(0, udp_opts("192.0.2.77", 0, frag), 0, &mut out);
        assert_eq!(out.drops, vec![DropReason::NoRoute]);
        assert_eq!(out.tx.len(), errors, "fragment field {frag:#x}");
    }
}

#[test]
fn bulk_hints_decide_like_the_per_packet_path() {
    let mut frames = vec![
        udp(H1, P0, "10.0.1.2", "198.18.1.9", 64),
        udp(H1, P0, "10.0.1.2", "198.18.15.9", 64),
        udp(H1, P0, "10.0.1.2", "10.0.2.2", 64),
        udp(H1, P0, "10.0.1.2", "192.0.2.1", 64),
        udp(H1, P0, "10.0.1.2", "198.18.3.3", 1),
        udp_opts("198.18.2.1", 8, 0x0004),
        echo(H1, P0, "10.0.1.2", "10.0.1.1"),
        arp(ARP_REQUEST, H1, "10.0.1.2", "10.0.1.1", MacAddr::BROADCAST),
        udp(H1, P0, "2001:db8:1::2", "2001:db8:2::2", 64),
        vec![0u8; 20],
    ];
    let mut trunc = udp(H1, P0, "10.0.1.2", "198.18.1.9", 64);
    trunc.truncate(30);
    frames.push(trunc);
    for router in [false, true] {
        let mut single = router_with(router, 1000);
        let mut bulk = router_with(router, 1000);
        let mut a = Out::default();
        for f in &frames {
            single.handle(0, f.clone(), 0, &mut a);
        }
        // The hints are made from the very buffers that are then handed over (moved, as the
        // worker moves its mbufs), so the hinted path is the one taken.
        let owned = frames.clone();
        let mut hints = BurstHints::default();
        for f in &owned {
            hints.push(f);
        }
        assert_eq!(hints.len(), frames.len());
        bulk.lookup_hints(&mut hints);
        let mut b = Out::default();
        for (i, f) in owned.into_iter().enumerate() {
            bulk.handle_hinted(0, f, 0, hints.get(i), &mut b);
        }
        assert_eq!(a.tx, b.tx, "router {router}");
        assert_eq!(a.drops, b.drops, "router {router}");
        // A hint made from another frame is ignored (`other` stays alive, so the two buffers
        // cannot share an address).
        let other = frames[1].clone();
        let mut h2 = BurstHints::default();
        h2.push(&other);
        bulk.lookup_hints(&mut h2);
        let mut c = Out::default();
        bulk.handle_hinted(0, frames[0].clone(), 0, h2.get(0), &mut c);
        let mut d = Out::default();
        single.handle(0, frames[0].clone(), 0, &mut d);
        assert_eq!(c.tx, d.tx);
        drop(other);
    }
}

#[test]
fn a_hint_for_the_same_frame_decides_without_reading_the_key_again() {
    // The frame goes to port 1 by its route; a hint for this frame whose raw result says
    // "miss" must be the one used (a miss is dropped as NoRoute here).
    let mut r = router_with(false, 1000);
    let f = udp(H1, P0, "10.0.1.2", "198.18.1.9", 64);
    let mut hints = BurstHints::default();
    hints.push(&f);
    r.lookup_hints(&mut hints);
    let mut via_bulk = Out::default();
    let hint = hints.get(0).expect("an IPv4 frame has a key");
    r.handle_hinted(0, f.clone(), 0, Some(hint), &mut via_bulk);
    assert_eq!(via_bulk.tx.len(), 1);
    let miss = Hint {
        raw: RAW_MISS,
        frame: f.as_ptr() as usize,
        ..hint
    };
    let mut forced = Out::default();
    r.handle_hinted(0, f, 0, Some(miss), &mut forced);
    assert_eq!(via_bulk.tx[0].0, 1);
    assert!(forced.tx.is_empty(), "the hint's result was not used");
    assert_eq!(forced.drops, vec![DropReason::NoRoute]);
}
