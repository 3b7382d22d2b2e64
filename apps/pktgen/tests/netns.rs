//! Ports opened inside other network namespaces (`tx_netns`/`rx_netns`): pktgen transmits in one
//! namespace and measures in another over a veth pair whose ends live in the two namespaces,
//! the way the demo drives l3fwd. Needs root (skips otherwise, unless
//! FERROPLANE_REQUIRE_PRIVILEGED=1).

use std::sync::atomic::AtomicBool;

use ferroplane_pktgen::{Rate, Session, SessionConfig};
use ferroplane_pmd::testing::{self, Netns};

#[test]
fn tx_and_rx_in_two_namespaces_count_exactly() {
    if !testing::privileged("tx_and_rx_in_two_namespaces_count_exactly") {
        return;
    }
    let a = Netns::new().expect("netns a");
    let b = Netns::new().expect("netns b");
    let if_a = testing::unique_name("a");
    let if_b = testing::unique_name("b");
    let out = testing::run(
        "ip",
        &[
            "link",
            "add",
            &if_a,
            "netns",
            a.name(),
            "type",
            "veth",
            "peer",
            "name",
            &if_b,
            "netns",
            b.name(),
        ],
    )
    .expect("ip link add");
    assert!(out.status.success(), "ip link add: {out:?}");
    for (ns, ifname) in [(&a, &if_a), (&b, &if_b)] {
        let o = ns.exec("ip", &["link", "set", ifname, "up"]).unwrap();
        assert!(o.status.success());
        ns.exec("sysctl", &["-qw", "net.ipv6.conf.all.disable_ipv6=1"])
            .unwrap();
    }
    // Not visible here: only the namespaces can open them.
    assert!(!std::path::Path::new(&format!("/sys/class/net/{if_a}")).exists());

    const COUNT: u64 = 20_000;
    let cfg = SessionConfig {
        tx: vec![format!("af_packet:iface={if_a}")],
        rx: vec![format!("af_packet:iface={if_b}")],
        tx_netns: Some(a.name().to_string()),
        rx_netns: Some(b.path()),
        rate: Rate::Pps(200_000.0),
        count: Some(COUNT),
        drain_ms: 300,
        ..Default::default()
    };
    let mut s = Session::new(cfg).expect("open ports in their namespaces");
    let r = s.run(&AtomicBool::new(false), |_, _| {}).expect("run");
    assert_eq!(r.tx_packets, COUNT);
    assert_eq!(r.rx_packets, COUNT, "every frame measured on the far side");
    assert_eq!(r.lost, 0);
    assert_eq!(r.duplicates, 0);
    assert!(r.latency.is_some());
    // An af_packet RX queue keeps a few spare mbufs while it is open: count after closing.
    s.close().expect("every mbuf back in the pool");

    // Without the namespace the interface cannot be found: a port error naming it.
    let e = Session::new(SessionConfig {
        tx: vec![format!("af_packet:iface={if_a}")],
        count: Some(1),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains(&if_a), "{e}");
}
