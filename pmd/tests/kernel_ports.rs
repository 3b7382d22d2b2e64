//! af_packet and tap against the Linux kernel, and a pcap round trip through tcpdump.
//! These need root; without it they print SKIP (or fail under FERROPLANE_REQUIRE_PRIVILEGED=1).

mod common;
use ferroplane_mempool::MbufBurst;
use ferroplane_pmd::testing::{
    FrameSocket, Netns, VethPair, privileged, test_frame, test_frame_tag, udp_frame, unique_name,
};
use ferroplane_pmd::{MacAddr, PortConfig, open};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(3);

/// The tag of a test frame, also when it carries an 802.1Q tag.
fn tag_of(f: &[u8]) -> Option<u32> {
    if f.len() > 18 && f[12..14] == [0x81, 0x00] {
        let mut untagged = f[..12].to_vec();
        untagged.extend_from_slice(&f[16..]);
        return test_frame_tag(&untagged);
    }
    test_frame_tag(f)
}

fn is_test(f: &[u8]) -> bool {
    tag_of(f).is_some()
}

/// A test frame with an 802.1Q tag (VLAN 42, priority 3) after the MAC addresses.
fn vlan_frame(dst: MacAddr, src: MacAddr, tag: u32, len: usize) -> Vec<u8> {
    let mut f = test_frame(dst, src, tag, len);
    f.splice(12..12, [0x81, 0x00, 0x60, 42]);
    f
}

/// Compares frame lists without dumping kilobytes on failure.
fn assert_frames_eq(got: &[Vec<u8>], want: &[Vec<u8>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: frame count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w,
            "{what}: frame {i} differs (len {} vs {})",
            g.len(),
            w.len()
        );
    }
}

/// Frames from the kernel side arrive intact at the port's RX queues (all polled); frames
/// from TX queue 0 arrive intact at the kernel side.
fn exchange(
    kernel: &FrameSocket,
    port: &mut dyn ferroplane_pmd::Port,
    pool: &ferroplane_mempool::Mempool,
) {
    let mut rxs: Vec<_> = (0..port.info().rx_queues)
        .map(|q| port.take_rx_queue(q).unwrap())
        .collect();
    let mut tx = port.take_tx_queue(0).unwrap();
    let src = MacAddr::local_from(0xabc);
    let dst = port.info().mac;
    // Plain frames of many sizes, and a few VLAN-tagged ones (the kernel may strip the tag
    // into metadata; the port must deliver the frame as sent).
    let inbound: Vec<Vec<u8>> = (0..50u32)
        .map(|i| {
            if i % 10 == 9 {
                vlan_frame(dst, src, i, 60 + i as usize * 25)
            } else {
                test_frame(dst, src, i, 60 + i as usize * 25)
            }
        })
        .collect();
    for f in &inbound {
        kernel.send(f).unwrap();
    }
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while got.len() < inbound.len() && std::time::Instant::now() < deadline {
        for rx in rxs.iter_mut() {
            got.extend(common::rx_until(
                rx.as_mut(),
                1,
                Duration::from_millis(5),
                is_test,
            ));
        }
    }
    // Frames of one flow stay in order on their queue; across queues, sort by tag.
    got.sort_by_key(|f| tag_of(f));
    assert_frames_eq(&got, &inbound, "kernel -> port");

    let outbound: Vec<Vec<u8>> = (100..150u32)
        .map(|i| test_frame(src, dst, i, 60 + (i as usize % 50) * 25))
        .collect();
    let mut burst = MbufBurst::new();
    for chunk in outbound.chunks(20) {
        for f in chunk {
            burst.push(common::mbuf(pool, f)).unwrap();
        }
        while !burst.is_empty() {
            tx.tx_burst(&mut burst);
            tx.flush();
        }
    }
    let got = kernel.recv_matching(outbound.len(), WAIT, is_test);
    assert_frames_eq(&got, &outbound, "port -> kernel");
    // What we send does not come back on our own RX queues.
    let mut echoed = 0;
    for rx in rxs.iter_mut() {
        echoed += common::rx_until(rx.as_mut(), 1, Duration::from_millis(50), is_test).len();
    }
    assert_eq!(echoed, 0, "our own frames were received back");
    let s = port.stats();
    assert_eq!(s.tx_packets, outbound.len() as u64);
    assert!(s.rx_packets >= inbound.len() as u64);
    drop((rxs, tx));
}

#[test]
fn af_packet_exchanges_frames_with_a_namespace() {
    if !privileged("af_packet_exchanges_frames_with_a_namespace") {
        return;
    }
    let pool = common::pool("afp_x", 1024);
    let ns = Netns::new().unwrap();
    let veth = VethPair::with_peer_in(&ns, 1).unwrap();
    let kernel = FrameSocket::open_in(&ns, veth.peer()).unwrap();
    let cfg = PortConfig {
        promiscuous: true,
        ..common::cfg(&pool)
    };
    let mut port = open(&format!("af_packet:iface={}", veth.host()), &cfg).unwrap();
    assert_eq!(port.info().mac, veth.host_mac().unwrap());
    assert_eq!(port.info().mtu, 1500);
    assert!(port.link().up);
    exchange(&kernel, port.as_mut(), &pool);
    port.set_promiscuous(false).unwrap();
    port.close().unwrap();
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn af_packet_fanout_keeps_flows_on_one_queue_and_spreads_them() {
    if !privileged("af_packet_fanout_keeps_flows_on_one_queue_and_spreads_them") {
        return;
    }
    let pool = common::pool("afp_fan", 2048);
    let ns = Netns::new().unwrap();
    let veth = VethPair::with_peer_in(&ns, 1).unwrap();
    let kernel = FrameSocket::open_in(&ns, veth.peer()).unwrap();
    let mut port = open(
        &format!("af_packet:iface={},queues=2", veth.host()),
        &common::cfg(&pool),
    )
    .unwrap();
    let mut rxs: Vec<_> = (0..2).map(|q| port.take_rx_queue(q).unwrap()).collect();
    let (flows, per_flow) = (32u16, 4u32);
    let dst = port.info().mac;
    for k in 0..per_flow {
        for f in 0..flows {
            let tag = (f as u32) << 8 | k;
            let fr = udp_frame(
                dst,
                MacAddr::local_from(9),
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                1000 + f,
                2000,
                tag,
                32,
            );
            kernel.send(&fr).unwrap();
        }
    }
    let want = (flows as u32 * per_flow) as usize;
    let mut seen: HashMap<u16, Vec<usize>> = HashMap::new();
    let mut total = 0;
    let deadline = std::time::Instant::now() + WAIT;
    let mut burst = MbufBurst::new();
    while total < want && std::time::Instant::now() < deadline {
        for (q, rx) in rxs.iter_mut().enumerate() {
            rx.rx_burst(&mut burst);
            for m in burst.drain(..) {
                let b = common::bytes(&m);
                if b.len() >= 46 && b[12..14] == [8, 0] && b[23] == 17 {
                    let sport = u16::from_be_bytes([b[34], b[35]]);
                    seen.entry(sport).or_default().push(q);
                    total += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(total, want, "every frame arrives on some queue");
    let mut per_queue = [0usize; 2];
    for (sport, qs) in &seen {
        assert_eq!(qs.len(), per_flow as usize);
        assert!(
            qs.iter().all(|&q| q == qs[0]),
            "flow {sport} split across queues: {qs:?}"
        );
        per_queue[qs[0]] += 1;
    }
    assert!(
        per_queue[0] > 0 && per_queue[1] > 0,
        "flows not spread: {per_queue:?}"
    );
    drop(rxs);
    drop(port);
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn tap_exchanges_frames_with_the_kernel_and_is_removed_on_close() {
    if !privileged("tap_exchanges_frames_with_the_kernel_and_is_removed_on_close") {
        return;
    }
    let pool = common::pool("tap_x", 1024);
    let name = unique_name("t");
    let mac = MacAddr::local_from(0x1234);
    let cfg = PortConfig {
        mac: Some(mac),
        mtu: Some(1400),
        ..common::cfg(&pool)
    };
    let mut port = open(&format!("tap:name={name},queues=2"), &cfg).unwrap();
    assert_eq!(port.info().name, name);
    assert_eq!(port.info().mac, mac);
    assert_eq!(port.info().mtu, 1400);
    assert_eq!(port.info().rx_queues, 2);
    assert!(std::path::Path::new(&format!("/sys/class/net/{name}")).exists());
    let _ = ferroplane_pmd::testing::run(
        "sysctl",
        &["-qw", &format!("net.ipv6.conf.{name}.disable_ipv6=1")],
    );
    let kernel = FrameSocket::open(&name).unwrap();
    exchange(&kernel, port.as_mut(), &pool);
    drop(kernel);
    port.close().unwrap();
    // The kernel unregisters the device asynchronously once the last queue fd is closed.
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        !std::path::Path::new(&format!("/sys/class/net/{name}")).exists()
    });
    assert!(gone, "tap {name} removed on close");
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn tap_attaches_to_an_existing_device_and_leaves_it() {
    if !privileged("tap_attaches_to_an_existing_device_and_leaves_it") {
        return;
    }
    let pool = common::pool("tap_attach", 256);
    let name = unique_name("u");
    ferroplane_pmd::testing::run(
        "ip",
        &["tuntap", "add", "mode", "tap", "multi_queue", "name", &name],
    )
    .unwrap();
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = ferroplane_pmd::testing::run("ip", &["link", "del", &self.0]);
        }
    }
    let _del = Del(name.clone());
    let _ = ferroplane_pmd::testing::run(
        "sysctl",
        &["-qw", &format!("net.ipv6.conf.{name}.disable_ipv6=1")],
    );
    let mut port = open(&format!("tap:name={name}"), &common::cfg(&pool)).unwrap();
    assert!(port.link().up);
    let kernel = FrameSocket::open(&name).unwrap();
    exchange(&kernel, port.as_mut(), &pool);
    port.close().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        std::path::Path::new(&format!("/sys/class/net/{name}")).exists(),
        "an attached tap stays"
    );
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn pcap_round_trip_through_tcpdump() {
    if !privileged("pcap_round_trip_through_tcpdump") {
        return;
    }
    let pool = common::pool("pcap_tcpdump", 512);
    let (captured_guard, ours_guard) = (
        common::TempPath::new("tcpdump.pcap"),
        common::TempPath::new("ours.pcap"),
    );
    let (captured, ours) = (captured_guard.0.clone(), ours_guard.0.clone());
    let ns = Netns::new().unwrap();
    let veth = VethPair::with_peer_in(&ns, 1).unwrap();
    let n = 40;
    let mut child = ns
        .spawn(
            "tcpdump",
            &[
                "-i",
                veth.peer(),
                "-U",
                "-Z",
                "root",
                "-c",
                &n.to_string(),
                "-w",
                captured.to_str().unwrap(),
                "ether",
                "proto",
                "0x88b5",
            ],
        )
        .unwrap();
    // Wait for "listening on ..." before sending.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("listening"), "tcpdump: {line}");
    let sender = FrameSocket::open(veth.host()).unwrap();
    let frames: Vec<Vec<u8>> = (0..n as u32)
        .map(|i| {
            test_frame(
                MacAddr([0xff; 6]),
                MacAddr::local_from(5),
                i,
                60 + (i as usize * 37) % 1400,
            )
        })
        .collect();
    for f in &frames {
        sender.send(f).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tcpdump did not capture {n} frames");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let devstr = format!("pcap:rx={},tx={}", captured.display(), ours.display());
    let mut port = open(&devstr, &common::cfg(&pool)).unwrap();
    let mut rx = port.take_rx_queue(0).unwrap();
    let mut tx = port.take_tx_queue(0).unwrap();
    let mut burst = MbufBurst::new();
    while rx.rx_burst(&mut burst) > 0 {
        tx.tx_burst(&mut burst);
    }
    drop((rx, tx, port));
    // Byte-identical frames, in order.
    let read = |p: &std::path::Path| {
        let mut r =
            ferroplane_pmd::pcap_file::PcapReader::new(std::fs::File::open(p).unwrap()).unwrap();
        let mut v = Vec::new();
        while let Some((_, d)) = r.next_record().unwrap() {
            v.push(d);
        }
        v
    };
    assert_frames_eq(&read(&captured), &frames, "tcpdump capture");
    assert_frames_eq(&read(&ours), &frames, "our pcap output");
    // tcpdump reads our nanosecond file.
    let out =
        ferroplane_pmd::testing::run("tcpdump", &["-nn", "-r", ours.to_str().unwrap()]).unwrap();
    // One line per packet, plus indented hex-dump lines for the unknown EtherType.
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert_eq!(lines, n);
    assert_eq!(pool.in_use(), 0);
}
