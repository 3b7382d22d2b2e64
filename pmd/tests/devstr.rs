//! Device-string and configuration errors: every one names the bad part.

mod common;
use ferroplane_pmd::{MacAddr, PmdError, open};

fn err(devstr: &str) -> String {
    let pool = common::pool("devstr", 64);
    let e = open(devstr, &common::cfg(&pool)).err().expect("must fail");
    assert_eq!(pool.in_use(), 0);
    e.to_string()
}

#[test]
fn unknown_driver_lists_the_known_ones() {
    let e = err("nosuch:iface=x");
    assert!(e.contains("unknown driver 'nosuch'"), "{e}");
    for d in ["af_packet", "tap", "pcap", "ring", "null"] {
        assert!(e.contains(d), "{e}");
    }
}

#[test]
fn unknown_keys_and_bad_values_are_named() {
    let e = err("null:size=64,colour=red");
    assert!(
        e.contains("unknown key 'colour'") && e.contains("size"),
        "{e}"
    );
    let e = err("null:size=huge");
    assert!(e.contains("'huge'") && e.contains("'size'"), "{e}");
    let e = err("null:size=10");
    assert!(e.contains("'10'") && e.contains("14..="), "{e}");
    let e = err("null:queues=0");
    assert!(e.contains("'queues'") && e.contains("'0'"), "{e}");
    let e = err("af_packet:queues=2");
    assert!(e.contains("missing required key 'iface'"), "{e}");
    let e = err("af_packet:iface=this_name_is_too_long");
    assert!(e.contains("1 to 15 bytes"), "{e}");
    let e = err("af_packet:iface=fpnonexistent0");
    assert!(e.contains("fpnonexistent0"), "{e}");
    let e = err("af_packet:iface=lo,blocksz=5000");
    assert!(e.contains("'blocksz'") && e.contains("power of two"), "{e}");
    let e = err("pcap:infinite_rx=1");
    assert!(e.contains("missing required key 'rx or tx'"), "{e}");
    let e = err("pcap:rx=/nonexistent/in.pcap");
    assert!(e.contains("/nonexistent/in.pcap"), "{e}");
    let e = err("pcap:tx=/tmp/x.pcap,infinite_rx=perhaps");
    assert!(e.contains("'perhaps'"), "{e}");
    let e = err("ring:peer=x");
    assert!(e.contains("missing required key 'name'"), "{e}");
    let e = err("tap:name=a/b");
    assert!(e.contains("'a/b'"), "{e}");
    let e = err("null:size=64,size=65");
    assert!(e.contains("'size' given more than once"), "{e}");
    let e = err("null:size");
    assert!(e.contains("not key=value"), "{e}");
}

#[test]
fn bad_port_config_is_rejected() {
    let pool = common::pool("devcfg", 64);
    let base = common::cfg(&pool);
    let cases: Vec<(ferroplane_pmd::PortConfig, &str)> = vec![
        (
            ferroplane_pmd::PortConfig {
                rx_queues: 0,
                ..base.clone()
            },
            "rx_queues = 0",
        ),
        (
            ferroplane_pmd::PortConfig {
                tx_queues: 65,
                ..base.clone()
            },
            "tx_queues = 65",
        ),
        (
            ferroplane_pmd::PortConfig {
                rx_ring_size: 1000,
                ..base.clone()
            },
            "rx_ring_size = 1000",
        ),
        (
            ferroplane_pmd::PortConfig {
                tx_ring_size: 16,
                ..base.clone()
            },
            "tx_ring_size = 16",
        ),
        (
            ferroplane_pmd::PortConfig {
                mtu: Some(20),
                ..base.clone()
            },
            "mtu = 20",
        ),
        (
            ferroplane_pmd::PortConfig {
                mac: Some(MacAddr([1, 0, 0, 0, 0, 1])),
                ..base.clone()
            },
            "mac = 01:00:00:00:00:01",
        ),
    ];
    for (cfg, needle) in cases {
        let e = open("null", &cfg).err().expect("must fail");
        assert!(matches!(e, PmdError::Config { .. }), "{e}");
        assert!(e.to_string().contains(needle), "{e} / {needle}");
    }
    // pcap has one queue each way.
    let e = open("pcap:tx=/tmp/never.pcap", &base.clone().with_queues(2, 1))
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("rx_queues = 2 (must be 1..=1)"),
        "{e}"
    );
    assert_eq!(pool.in_use(), 0);
}

#[cfg(not(feature = "af_xdp"))]
#[test]
fn af_xdp_without_its_feature_says_so() {
    let e = err("af_xdp:iface=lo");
    assert!(e.contains("cargo feature 'af_xdp'"), "{e}");
}
