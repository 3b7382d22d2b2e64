//! AF_XDP driver tests on veth pairs in namespaces (need root; skip with a printed reason
//! otherwise, fail instead with FERROPLANE_REQUIRE_PRIVILEGED=1).
#![cfg(feature = "af_xdp")]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ferroplane_mempool::{HugePolicy, MbufBurst, Mempool, MempoolConfig};
use ferroplane_pmd::af_xdp::bench::{BenchProgram, BenchXdp};
use ferroplane_pmd::af_xdp::{
    AfXdpConfig, AfXdpPort, FlowAction, FlowMatch, FlowRule, PortDefaults, XdpMode,
};
use ferroplane_pmd::testing::{
    FrameSocket, Netns, VethPair, privileged, run, test_frame, test_frame_tag, udp_frame,
};
use ferroplane_pmd::{MacAddr, PortConfig, RxQueue};

const SRC_IP: [u8; 4] = [10, 0, 0, 1];
const DST_IP: [u8; 4] = [10, 0, 0, 2];

fn pool(name: &str, count: usize) -> Mempool {
    Mempool::new(&MempoolConfig {
        chunk_size: Some(4096),
        cache_size: 0,
        hugepages: HugePolicy::Auto,
        ..MempoolConfig::new(name, count)
    })
    .unwrap()
}

/// Whether `ip -j link show` reports an XDP program on `iface`.
fn xdp_attached(iface: &str) -> bool {
    let out = run("ip", &["-j", "link", "show", "dev", iface]).unwrap();
    String::from_utf8_lossy(&out.stdout).contains("\"xdp\"")
}

/// Waits until the veth peer in `ns` is operationally up: frames sent before the link
/// watcher activates its queueing discipline are silently dropped.
fn wait_up(ns: &Netns, peer: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let out = ns
            .exec("cat", &[&format!("/sys/class/net/{peer}/operstate")])
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).trim() == "up" {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{peer} did not come up");
}

fn frame(tag: u32, sport: u16, dport: u16, len: usize) -> Vec<u8> {
    udp_frame(
        MacAddr([0x02, 0, 0, 0, 0, 0x0b]),
        MacAddr([0x02, 0, 0, 0, 0, 0x0a]),
        SRC_IP,
        DST_IP,
        sport,
        dport,
        tag,
        len,
    )
}

fn tag_of(f: &[u8]) -> Option<u32> {
    (f.len() >= 46 && f[12..14] == [8, 0] && f[23] == 17)
        .then(|| u32::from_be_bytes([f[42], f[43], f[44], f[45]]))
}

/// Receives until `want` frames or `timeout`; returns their bytes.
fn rx_until(q: &mut dyn RxQueue, want: usize, timeout: Duration) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut b = MbufBurst::new();
    while out.len() < want && Instant::now() < deadline {
        if q.rx_burst(&mut b) == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        for m in b.drain(..) {
            out.push(m.data().to_vec());
        }
    }
    out
}

fn open(devstr: &str, pool: &Mempool) -> Box<dyn ferroplane_pmd::Port> {
    ferroplane_pmd::open(devstr, &PortConfig::new(pool.clone())).unwrap()
}

/// Opens `devstr` as the driver's own port type (flow director, `XskStats`, queue details).
fn open_af_xdp(devstr: &str, pool: &Mempool) -> AfXdpPort {
    let xcfg = AfXdpConfig::from_devargs(&ferroplane_pmd::DevArgs::parse(devstr).unwrap()).unwrap();
    AfXdpPort::open(&xcfg, pool, PortDefaults::default(), "test").unwrap()
}

#[test]
fn af_xdp_rx_frames_arrive_intact() {
    if !privileged("af_xdp_rx_frames_arrive_intact") {
        return;
    }
    let ns = Netns::new().unwrap();
    let veth = VethPair::with_peer_in(&ns, 1).unwrap();
    let p = pool("rx", 2048);
    let mut port = open(&format!("af_xdp:iface={},fill_ring=512", veth.host()), &p);
    assert!(xdp_attached(veth.host()));
    let mut rxq = port.take_rx_queue(0).unwrap();
    let peer = FrameSocket::open_in(&ns, veth.peer()).unwrap();
    wait_up(&ns, veth.peer());
    let sent: Vec<Vec<u8>> = (0..200u32)
        .map(|i| frame(i, 1000, 2000, 18 + (i as usize * 7) % 1400))
        .collect();
    for f in &sent {
        peer.send(f).unwrap();
    }
    // Non-IP frames go to the kernel (seen by a raw socket on our side), not to the socket.
    let host = FrameSocket::open(veth.host()).unwrap();
    let non_ip = test_frame(MacAddr([0xff; 6]), MacAddr::local_from(3), 4242, 60);
    peer.send(&non_ip).unwrap();
    let got = rx_until(rxq.as_mut(), sent.len(), Duration::from_secs(5));
    let k = host.recv_matching(1, Duration::from_secs(2), |f| {
        test_frame_tag(f) == Some(4242)
    });
    assert_eq!(k, vec![non_ip], "the non-IP frame did not reach the kernel");
    assert!(rx_until(rxq.as_mut(), 1, Duration::from_millis(100)).is_empty());
    assert_eq!(
        got.len(),
        sent.len(),
        "received {} of {}",
        got.len(),
        sent.len()
    );
    assert_eq!(got, sent, "frames differ or are out of order");
    let st = port.stats();
    assert_eq!(st.rx_packets, 200);
    assert_eq!(st.rx_missed, 0);
    assert_eq!(
        st.rx_bytes,
        sent.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    drop(rxq);
    port.close().unwrap();
    assert!(!xdp_attached(veth.host()), "program left attached");
    assert_eq!(p.in_use(), 0, "chunks not returned");
}

#[test]
fn af_xdp_tx_frames_arrive_intact_zero_copy_and_copied() {
    if !privileged("af_xdp_tx_frames_arrive_intact_zero_copy_and_copied") {
        return;
    }
    let ns = Netns::new().unwrap();
    let veth = VethPair::with_peer_in(&ns, 1).unwrap();
    let p = pool("tx", 2048);
    let other = pool("other", 256);
    let mut port = open(&format!("af_xdp:iface={},fill_ring=512", veth.host()), &p);
    let mut txq = port.take_tx_queue(0).unwrap();
    let peer = FrameSocket::open_in(&ns, veth.peer()).unwrap();
    wait_up(&ns, veth.peer());
    let sent: Vec<Vec<u8>> = (0..300u32)
        .map(|i| frame(i, 3000, 4000, 18 + (i as usize * 13) % 1400))
        .collect();
    let mut b = MbufBurst::new();
    let mut got = Vec::new();
    for (i, f) in sent.iter().enumerate() {
        // Every third frame comes from another pool: it must be copied.
        let src = if i % 3 == 0 { &other } else { &p };
        let mut m = src.alloc().unwrap();
        m.append(f.len()).unwrap().copy_from_slice(f);
        b.push(m).unwrap();
        if b.len() == 32 || i == sent.len() - 1 {
            let n = b.len();
            while !b.is_empty() {
                if txq.tx_burst(&mut b) == 0 {
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            // Read each burst before sending the next: the capture socket's buffer is small.
            got.extend(peer.recv_matching(n, Duration::from_secs(2), |f| tag_of(f).is_some()));
        }
    }
    assert_eq!(got.len(), sent.len());
    assert_eq!(got, sent);
    txq.flush();
    assert_eq!(other.in_use(), 0, "copied mbufs not freed");
    assert_eq!(port.stats().tx_packets, 300);
    drop(txq);
    port.close().unwrap();
    assert_eq!(p.in_use(), 0);
}

#[test]
fn af_xdp_two_queues_receive_every_frame_exactly_once() {
    if !privileged("af_xdp_two_queues_receive_every_frame_exactly_once") {
        return;
    }
    let ns = Netns::new().unwrap();
    let veth = VethPair::with_peer_in(&ns, 2).unwrap();
    let p = pool("q2", 4096);
    let mut port = open(
        &format!("af_xdp:iface={},queues=2,fill_ring=512", veth.host()),
        &p,
    );
    let mut q0 = port.take_rx_queue(0).unwrap();
    let mut q1 = port.take_rx_queue(1).unwrap();
    let peer = FrameSocket::open_in(&ns, veth.peer()).unwrap();
    wait_up(&ns, veth.peer());
    let n = 512u32;
    for i in 0..n {
        // 64 flows, so the sender's TX-queue hash uses both veth queues.
        peer.send(&frame(i, 1000 + (i % 64) as u16, 2000, 60))
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut a, mut c) = (Vec::new(), Vec::new());
    while a.len() + c.len() < n as usize && Instant::now() < deadline {
        a.extend(rx_until(q0.as_mut(), 1, Duration::from_millis(1)));
        c.extend(rx_until(q1.as_mut(), 1, Duration::from_millis(1)));
    }
    let mut seen = HashSet::new();
    for f in a.iter().chain(&c) {
        assert!(seen.insert(tag_of(f).unwrap()), "frame received twice");
    }
    assert_eq!(
        seen.len(),
        n as usize,
        "q0 {} + q1 {} of {n}",
        a.len(),
        c.len()
    );
    assert!(
        !a.is_empty() && !c.is_empty(),
        "one queue got nothing: {} / {}",
        a.len(),
        c.len()
    );
    drop((q0, q1));
    drop(port);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn af_xdp_flow_rules_drop_pass_and_steer() {
    if !privileged("af_xdp_flow_rules_drop_pass_and_steer") {
        return;
    }
    let ns = Netns::new().unwrap();
    let veth = VethPair::with_peer_in(&ns, 2).unwrap();
    let p = pool("fd", 4096);
    let mut port = open_af_xdp(
        &format!(
            "af_xdp:iface={},queues=2,fill_ring=512,mismatch=pass,\
             flow0=dst/udp/10.0.0.2/7000/drop,flow1=5tuple/udp/10.0.0.1/1111/10.0.0.2/7001/pass",
            veth.host()
        ),
        &p,
    );
    let fdir = port.flow_director().unwrap();
    let mut q0 = port.take_rx_queue(0).unwrap();
    let mut q1 = port.take_rx_queue(1).unwrap();
    let peer = FrameSocket::open_in(&ns, veth.peer()).unwrap();
    wait_up(&ns, veth.peer());
    let host = FrameSocket::open(veth.host()).unwrap();
    let rx_all = |q0: &mut ferroplane_pmd::af_xdp::AfXdpRxQueue,
                  q1: &mut ferroplane_pmd::af_xdp::AfXdpRxQueue,
                  ms: u64| {
        let deadline = Instant::now() + Duration::from_millis(ms);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut burst = MbufBurst::new();
        while Instant::now() < deadline {
            q0.rx_burst(&mut burst);
            a.extend(burst.drain(..).map(|m| m.data().to_vec()));
            q1.rx_burst(&mut burst);
            b.extend(burst.drain(..).map(|m| m.data().to_vec()));
            std::thread::sleep(Duration::from_micros(200));
        }
        (a, b)
    };

    // Drop: dst 10.0.0.2:7000 never reaches a socket nor the kernel.
    for i in 0..50 {
        peer.send(&frame(i, 1000 + i as u16, 7000, 60)).unwrap();
    }
    // Pass: the exact 5-tuple goes to the kernel (seen by a raw socket on our side).
    for i in 100..150 {
        peer.send(&frame(i, 1111, 7001, 60)).unwrap();
    }
    // Default: other traffic reaches the sockets.
    for i in 200..250 {
        peer.send(&frame(i, 2222, 7002, 60)).unwrap();
    }
    let (a, b) = rx_all(&mut q0, &mut q1, 500);
    let tags: HashSet<u32> = a.iter().chain(&b).filter_map(|f| tag_of(f)).collect();
    assert_eq!(tags, (200..250).collect(), "sockets got the wrong frames");
    let passed: HashSet<u32> = host
        .recv_matching(50, Duration::from_secs(2), |f| tag_of(f).is_some())
        .iter()
        .filter_map(|f| tag_of(f))
        .collect();
    assert!(
        passed.is_superset(&(100..150).collect()),
        "passed frames missing: {passed:?}"
    );
    assert!(
        passed.iter().all(|t| (100..150).contains(t)),
        "kernel saw {passed:?}"
    );
    let rule = |s: &str| ferroplane_pmd::af_xdp::parse_rule(s).unwrap().matches;
    let drop_match = rule("dst/udp/10.0.0.2/7000/drop");
    assert_eq!(fdir.rule_counters(&drop_match).unwrap().unwrap().hits, 50);
    assert_eq!(
        fdir.rule_counters(&rule("5tuple/udp/10.0.0.1/1111/10.0.0.2/7001/pass"))
            .unwrap()
            .unwrap()
            .hits,
        50
    );
    let st = fdir.stats().unwrap();
    assert_eq!((st.rule_drop, st.rule_pass), (50, 50));

    // Steer one flow to queue 1 at run time, with mismatch=pass: its frames reach socket 1 or
    // (if they arrived on queue 0) the kernel, never socket 0.
    let steer = FlowRule {
        matches: FlowMatch::Dst {
            proto: 17,
            dst: "10.0.0.2".parse().unwrap(),
            dport: 7003,
        },
        action: FlowAction::Queue(1),
    };
    fdir.add_rule(&steer).unwrap();
    assert!(fdir.remove_rule(&drop_match).unwrap());
    assert!(!fdir.remove_rule(&drop_match).unwrap());
    for i in 300..364 {
        peer.send(&frame(i, 1000 + i as u16, 7003, 60)).unwrap();
    }
    for i in 400..410 {
        peer.send(&frame(i, 1000 + i as u16, 7000, 60)).unwrap(); // no longer dropped
    }
    let (a, b) = rx_all(&mut q0, &mut q1, 500);
    let on0: HashSet<u32> = a.iter().filter_map(|f| tag_of(f)).collect();
    let on1: HashSet<u32> = b.iter().filter_map(|f| tag_of(f)).collect();
    assert!(
        on0.iter().all(|t| (400..410).contains(t)),
        "socket 0 got steered frames: {on0:?}"
    );
    let kernel: HashSet<u32> = host
        .recv_matching(64, Duration::from_millis(500), |f| tag_of(f).is_some())
        .iter()
        .filter_map(|f| tag_of(f))
        .collect();
    let steered: HashSet<u32> = on1
        .iter()
        .copied()
        .filter(|t| (300..364).contains(t))
        .collect();
    assert_eq!(
        steered.len() + kernel.len(),
        64,
        "steered {steered:?} kernel {kernel:?}"
    );
    assert!(!steered.is_empty(), "nothing reached queue 1");
    let unsteered: HashSet<u32> = on0
        .union(&on1)
        .copied()
        .filter(|t| (400..410).contains(t))
        .collect();
    assert_eq!(unsteered.len(), 10);
    let st = fdir.stats().unwrap();
    assert_eq!(st.rule_queue, 64);
    assert_eq!(st.queue_mismatch, kernel.len() as u64);
    drop((q0, q1));
    port.close();
    assert!(!xdp_attached(veth.host()));
    assert_eq!(p.in_use(), 0);
}

#[test]
fn af_xdp_bad_configuration_leaves_no_program() {
    if !privileged("af_xdp_bad_configuration_leaves_no_program") {
        return;
    }
    let veth = VethPair::new(1).unwrap();
    let h = veth.host();
    let p = pool("bad", 1024);
    let cfg = PortConfig::new(p.clone());
    for (devstr, needle) in [
        ("af_xdp:iface=fpnosuchif0".to_string(), "does not exist"),
        (
            format!("af_xdp:iface={h},queues=2"),
            "beyond the 1 RX queue",
        ),
        (
            format!("af_xdp:iface={h},start_queue=1"),
            "beyond the 1 RX queue",
        ),
        (format!("af_xdp:iface={h},frame_size=3000"), "power of two"),
        (
            format!("af_xdp:iface={h},frame_size=2048"),
            "chunks of 4096",
        ),
        (format!("af_xdp:iface={h},rx_ring=1000"), "powers of two"),
        (format!("af_xdp:iface={h},comp_ring=3"), "'3'"),
    ] {
        let e = ferroplane_pmd::open(&devstr, &cfg)
            .err()
            .expect(&devstr)
            .to_string();
        assert!(e.contains(needle), "{devstr}: {e}");
        assert!(!xdp_attached(h), "{devstr}: program left attached");
    }
    let bad_ring = PortConfig {
        rx_ring_size: 1000,
        ..PortConfig::new(p.clone())
    };
    let e = ferroplane_pmd::open(&format!("af_xdp:iface={h}"), &bad_ring)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("1000"), "{e}");
    assert!(!xdp_attached(h));

    // Someone else's program: refused, naming it; replaced with force=1.
    let foreign = BenchXdp::attach(BenchProgram::Pass, h, None, XdpMode::Native).unwrap();
    let e = ferroplane_pmd::open(&format!("af_xdp:iface={h},fill_ring=64"), &cfg)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("already has XDP program id") && e.contains("force=1"),
        "{e}"
    );
    assert!(
        xdp_attached(h),
        "the foreign program was removed by a failed open"
    );
    let port = open(&format!("af_xdp:iface={h},fill_ring=64,force=1"), &p);
    drop(port);
    assert!(!xdp_attached(h));
    drop(foreign);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn af_xdp_start_forward_stop_ten_times() {
    if !privileged("af_xdp_start_forward_stop_ten_times") {
        return;
    }
    let ns = Netns::new().unwrap();
    let veth = VethPair::with_peer_in(&ns, 1).unwrap();
    let p = pool("cyc", 2048);
    let peer = FrameSocket::open_in(&ns, veth.peer()).unwrap();
    wait_up(&ns, veth.peer());
    for cycle in 0..10u32 {
        // Alternate the options: native/generic attach, busy polling on/off.
        let extra = match cycle % 3 {
            0 => "",
            1 => ",mode=generic",
            _ => ",busy_poll=50,busy_budget=32,mode=native,zerocopy=off",
        };
        let mut port = open(
            &format!("af_xdp:iface={},fill_ring=256{extra}", veth.host()),
            &p,
        );
        let mut rxq = port.take_rx_queue(0).unwrap();
        let mut txq = port.take_tx_queue(0).unwrap();
        for i in 0..20 {
            peer.send(&frame(cycle * 100 + i, 5000, 6000, 100)).unwrap();
        }
        // Forward what arrives straight back out (io forwarding, zero copy).
        let mut fwd = 0;
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut b = MbufBurst::new();
        while fwd < 20 && Instant::now() < deadline {
            rxq.rx_burst(&mut b);
            while !b.is_empty() {
                fwd += txq.tx_burst(&mut b);
            }
        }
        assert_eq!(fwd, 20, "cycle {cycle}: {:?}", port.stats());
        let back = peer.recv_matching(20, Duration::from_secs(2), |f| {
            tag_of(f).is_some_and(|t| t / 100 == cycle)
        });
        assert_eq!(back.len(), 20, "cycle {cycle}");
        // Stop mid-flight: whatever is in the fill/TX/completion rings must come back.
        drop(rxq);
        drop(txq);
        port.close().unwrap();
        assert!(!xdp_attached(veth.host()), "cycle {cycle}");
        assert_eq!(p.in_use(), 0, "cycle {cycle}");
    }
}

#[test]
fn af_xdp_unaligned_chunks_rx_and_tx() {
    if !privileged("af_xdp_unaligned_chunks_rx_and_tx") {
        return;
    }
    let ns = Netns::new().unwrap();
    let veth = VethPair::with_peer_in(&ns, 1).unwrap();
    // Default geometry: 128 + 2048 bytes rounded to 2176-byte chunks, not a power of two, so
    // the UMEM is registered with XDP_UMEM_UNALIGNED_CHUNK_FLAG.
    let p = Mempool::new(&MempoolConfig {
        cache_size: 0,
        hugepages: HugePolicy::Auto,
        ..MempoolConfig::new("unal", 1024)
    })
    .unwrap();
    assert_eq!(p.region().chunk_size(), 2176);
    let mut port = open(&format!("af_xdp:iface={},fill_ring=256", veth.host()), &p);
    let mut rxq = port.take_rx_queue(0).unwrap();
    let mut txq = port.take_tx_queue(0).unwrap();
    let peer = FrameSocket::open_in(&ns, veth.peer()).unwrap();
    wait_up(&ns, veth.peer());
    let sent: Vec<Vec<u8>> = (0..64u32)
        .map(|i| frame(i, 7000, 8000, 18 + (i as usize * 29) % 1400))
        .collect();
    for f in &sent {
        peer.send(f).unwrap();
    }
    let got = rx_until(rxq.as_mut(), sent.len(), Duration::from_secs(5));
    assert_eq!(got, sent);
    // Echo them back through our TX (zero copy from unaligned chunks).
    let mut b = MbufBurst::new();
    let mut fwd = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    for f in &sent {
        let mut m = p.alloc().unwrap();
        m.append(f.len()).unwrap().copy_from_slice(f);
        b.push(m).unwrap();
        if b.len() == 16 {
            while !b.is_empty() && Instant::now() < deadline {
                fwd += txq.tx_burst(&mut b);
            }
        }
    }
    assert_eq!(fwd, sent.len());
    let back = peer.recv_matching(sent.len(), Duration::from_secs(3), |f| tag_of(f).is_some());
    assert_eq!(back, sent);
    drop((rxq, txq));
    port.close().unwrap();
    assert_eq!(p.in_use(), 0);
}

/// In copy mode the kernel transmits at most 32 frames per `sendto` and answers `EAGAIN`
/// while more wait: a backlog in the TX ring (left by a moment when the device could not
/// take frames) must be drained by the next kick, not one batch per call, or it grows until
/// the ring is full and frames are dropped.
#[test]
fn af_xdp_tx_backlog_drains_in_one_flush() {
    if !privileged("af_xdp_tx_backlog_drains_in_one_flush") {
        return;
    }
    let ns = Netns::new().unwrap();
    let veth = VethPair::with_peer_in(&ns, 1).unwrap();
    let p = pool("txbacklog", 2048);
    let mut port = open(&format!("af_xdp:iface={},fill_ring=512", veth.host()), &p);
    let mut txq = port.take_tx_queue(0).unwrap();
    wait_up(&ns, veth.peer());
    let rx_packets = || -> u64 {
        let path = format!("/sys/class/net/{}/statistics/rx_packets", veth.peer());
        let out = ns.exec("cat", &[&path]).unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    // With the link down the kernel refuses to transmit (ENETDOWN): frames wait in the ring.
    run("ip", &["link", "set", veth.host(), "down"]).unwrap();
    const FRAMES: u32 = 320;
    let mut b = MbufBurst::new();
    for i in 0..FRAMES {
        let f = frame(i, 5000, 6000, 60);
        let mut m = p.alloc().unwrap();
        m.append(f.len()).unwrap().copy_from_slice(&f);
        b.push(m).unwrap();
        if b.len() == 32 {
            assert_eq!(txq.tx_burst(&mut b), 32, "the TX ring has room for all");
        }
    }
    run("ip", &["link", "set", veth.host(), "up"]).unwrap();
    wait_up(&ns, veth.peer());
    let before = rx_packets();
    txq.flush();
    // No further kick: everything must go out on this one.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut arrived = 0;
    while Instant::now() < deadline {
        arrived = rx_packets() - before;
        if arrived >= u64::from(FRAMES) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // At least: the kernel may send a packet of its own (IPv6) when the link comes up.
    assert!(
        arrived >= u64::from(FRAMES),
        "one flush transmitted {arrived} of {FRAMES} waiting frames"
    );
    txq.flush();
    assert_eq!(port.stats().tx_packets, u64::from(FRAMES));
    drop(txq);
    port.close().unwrap();
    assert_eq!(p.in_use(), 0);
}

/// Whether the running kernel is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (ma, mi) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (ma, mi) >= (major, minor)
}

#[test]
fn af_xdp_tx_budget_is_taken_by_the_kernel_and_capped_at_the_ring() {
    if !privileged("af_xdp_tx_budget_is_taken_by_the_kernel_and_capped_at_the_ring") {
        return;
    }
    let ns = Netns::new().unwrap();
    let veth = VethPair::with_peer_in(&ns, 1).unwrap();
    let p = pool("txbudget", 2048);
    let supported = kernel_at_least(6, 17);
    for (extra, want) in [("", 256), (",tx_budget=64", 64), (",tx_ring=128", 128)] {
        let mut port = open_af_xdp(
            &format!("af_xdp:iface={},fill_ring=512{extra}", veth.host()),
            &p,
        );
        let txq = port.take_tx_queue(0).unwrap();
        let want = if supported { want } else { 32 };
        assert_eq!(txq.tx_budget(), want, "devargs '{extra}'");
        drop(txq);
        port.close();
    }
    // Out of range: named in the error.
    let err = AfXdpConfig::from_devargs(
        &ferroplane_pmd::DevArgs::parse(&format!("af_xdp:iface={},tx_budget=8", veth.host()))
            .unwrap(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("tx_budget"), "{err}");
    assert_eq!(p.in_use(), 0);
}

/// An Ethernet/IPv6/UDP frame from fd00::1 to fd00::2 with `tag` as the first payload bytes
/// (16 bytes of payload).
fn udp6_frame(tag: u32, sport: u16, dport: u16) -> Vec<u8> {
    use ferroplane_net::builder::FrameSpec;
    let spec = FrameSpec::udp(
        ferroplane_net::MacAddr([0x02, 0, 0, 0, 0, 0x0a]),
        ferroplane_net::MacAddr([0x02, 0, 0, 0, 0, 0x0b]),
        "fd00::1".parse().unwrap(),
        "fd00::2".parse().unwrap(),
        sport,
        dport,
    )
    .unwrap();
    let mut payload = [0u8; 16];
    payload[..4].copy_from_slice(&tag.to_be_bytes());
    let mut f = vec![0u8; spec.frame_len(payload.len())];
    spec.build(&payload, &mut f).unwrap();
    f
}

fn tag6_of(f: &[u8]) -> Option<u32> {
    (f.len() >= 66 && f[12..14] == [0x86, 0xdd] && f[20] == 17)
        .then(|| u32::from_be_bytes([f[62], f[63], f[64], f[65]]))
}

#[test]
fn af_xdp_flow_rule_counts_skip_empty_tables_and_removal_restores_delivery() {
    if !privileged("af_xdp_flow_rule_counts_skip_empty_tables_and_removal_restores_delivery") {
        return;
    }
    let ns = Netns::new().unwrap();
    let veth = VethPair::with_peer_in(&ns, 1).unwrap();
    let p = pool("fdcount", 2048);
    let mut port = open_af_xdp(
        &format!("af_xdp:iface={},queues=1,fill_ring=512", veth.host()),
        &p,
    );
    let fdir = port.flow_director().unwrap();
    let mut q = port.take_rx_queue(0).unwrap();
    let peer = FrameSocket::open_in(&ns, veth.peer()).unwrap();
    wait_up(&ns, veth.peer());
    assert_eq!(fdir.rule_counts().unwrap(), (0, 0, 0));

    // Sends one v4 frame of flow A (5-tuple rules), one of flow B (dst rules) and one v6
    // frame of flow C per tag; returns the tags of each flow that reached the socket.
    let mut round = 0u32;
    let mut send_and_receive = |q: &mut ferroplane_pmd::af_xdp::AfXdpRxQueue| {
        round += 1;
        let base = round * 1000;
        for i in 0..20 {
            peer.send(&frame(base + i, 1111, 5000, 60)).unwrap();
            peer.send(&frame(base + 100 + i, 2222, 6000, 60)).unwrap();
            peer.send(&udp6_frame(base + 200 + i, 3333, 7000)).unwrap();
        }
        let got = rx_until(q, 60, Duration::from_millis(400));
        let v4: Vec<u32> = got.iter().filter_map(|f| tag_of(f)).collect();
        let v6: Vec<u32> = got.iter().filter_map(|f| tag6_of(f)).collect();
        let count = |lo: u32, tags: &[u32]| {
            tags.iter()
                .filter(|t| (base + lo..base + lo + 20).contains(t))
                .count()
        };
        (count(0, &v4), count(100, &v4), count(200, &v6))
    };

    let five = FlowMatch::FiveTuple {
        proto: 17,
        src: "10.0.0.1".parse().unwrap(),
        sport: 1111,
        dst: "10.0.0.2".parse().unwrap(),
        dport: 5000,
    };
    let dst = FlowMatch::Dst {
        proto: 17,
        dst: "10.0.0.2".parse().unwrap(),
        dport: 6000,
    };
    let five6 = FlowMatch::FiveTuple {
        proto: 17,
        src: "fd00::1".parse().unwrap(),
        sport: 3333,
        dst: "fd00::2".parse().unwrap(),
        dport: 7000,
    };
    let rule = |matches, action| FlowRule { matches, action };

    // No rules: everything reaches the socket.
    assert_eq!(send_and_receive(&mut q), (20, 20, 20));

    // Rules in both IP tables; replacing a rule (same match) does not change the count.
    fdir.add_rule(&rule(five, FlowAction::Pass)).unwrap();
    fdir.add_rule(&rule(five, FlowAction::Drop)).unwrap();
    fdir.add_rule(&rule(dst, FlowAction::Drop)).unwrap();
    fdir.add_rule(&rule(five6, FlowAction::Drop)).unwrap();
    fdir.add_rule(&rule(five6, FlowAction::Drop)).unwrap();
    assert_eq!(fdir.rule_counts().unwrap(), (0, 2, 1));
    assert_eq!(send_and_receive(&mut q), (0, 0, 0));
    assert_eq!(fdir.rule_counters(&five).unwrap().unwrap().hits, 20);
    assert_eq!(fdir.rule_counters(&five6).unwrap().unwrap().hits, 20);
    assert_eq!(fdir.rule_counters(&dst).unwrap().unwrap().hits, 20);

    // Removing one 5-tuple rule leaves the table looked up for the other.
    assert!(fdir.remove_rule(&five).unwrap());
    assert!(!fdir.remove_rule(&five).unwrap());
    assert_eq!(fdir.rule_counts().unwrap(), (0, 1, 1));
    assert_eq!(send_and_receive(&mut q), (20, 0, 0));

    // The last 5-tuple rule: the dst table alone still drops flow B.
    assert!(fdir.remove_rule(&five6).unwrap());
    assert_eq!(fdir.rule_counts().unwrap(), (0, 0, 1));
    assert_eq!(send_and_receive(&mut q), (20, 0, 20));

    // The last rule of all: every frame goes to the socket again.
    assert!(fdir.remove_rule(&dst).unwrap());
    assert_eq!(fdir.rule_counts().unwrap(), (0, 0, 0));
    assert_eq!(send_and_receive(&mut q), (20, 20, 20));

    // Ethertype table: IPv4 dropped while the rule is there, back after its removal.
    fdir.add_rule(&rule(FlowMatch::EtherType(0x0800), FlowAction::Drop))
        .unwrap();
    assert_eq!(fdir.rule_counts().unwrap(), (1, 0, 0));
    assert_eq!(send_and_receive(&mut q), (0, 0, 20));
    assert!(fdir.remove_rule(&FlowMatch::EtherType(0x0800)).unwrap());
    assert_eq!(fdir.rule_counts().unwrap(), (0, 0, 0));
    assert_eq!(send_and_receive(&mut q), (20, 20, 20));

    // set_config keeps the counts.
    fdir.add_rule(&rule(dst, FlowAction::Drop)).unwrap();
    fdir.set_config(false, Default::default()).unwrap();
    assert_eq!(fdir.rule_counts().unwrap(), (0, 0, 1));
    assert!(fdir.remove_rule(&dst).unwrap());

    // With no rules, the filters and their counters behave as before: ARP and other
    // ethertypes to the kernel, truncated IP headers counted as parse errors.
    let before = fdir.stats().unwrap();
    let mut arp = frame(1, 1, 1, 60);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    peer.send(&arp).unwrap();
    peer.send(&test_frame(
        MacAddr([0x02, 0, 0, 0, 0, 0x0b]),
        MacAddr([0x02, 0, 0, 0, 0, 0x0a]),
        7,
        60,
    ))
    .unwrap();
    peer.send(&frame(2, 1, 1, 60)[..14 + 12]).unwrap(); // IPv4 header cut short
    peer.send(&frame(3, 1, 1, 60)[..14 + 20 + 2]).unwrap(); // UDP ports cut short
    assert!(rx_until(&mut q, 1, Duration::from_millis(300)).is_empty());
    let after = fdir.stats().unwrap();
    assert_eq!(after.pass_arp - before.pass_arp, 1);
    assert_eq!(after.pass_non_ip - before.pass_non_ip, 1);
    assert_eq!(after.parse_error - before.parse_error, 2);
    assert_eq!(after.redirect - before.redirect, 0);

    drop(q);
    port.close();
    assert!(!xdp_attached(veth.host()));
    assert_eq!(p.in_use(), 0);
}
