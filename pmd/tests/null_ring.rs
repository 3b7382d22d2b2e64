//! The null and ring drivers.

mod common;
use ferroplane_mempool::{MAX_BURST, MbufBurst};
use ferroplane_pmd::{LinkState, PortConfig, QueueKind, open};

#[test]
fn null_rx_fills_the_burst_with_frames_of_the_given_size() {
    let pool = common::pool("null_rx", 512);
    let mut port = open("null:size=60", &common::cfg(&pool)).unwrap();
    assert_eq!(port.info().driver, "null");
    assert_eq!(port.link(), LinkState::VIRTUAL_UP);
    let mut rx = port.take_rx_queue(0).unwrap();
    assert!(port.take_rx_queue(0).is_none(), "a queue is taken once");
    assert!(port.take_rx_queue(1).is_none());
    let mut tx = port.take_tx_queue(0).unwrap();
    let mut burst = MbufBurst::new();
    assert_eq!(rx.rx_burst(&mut burst), MAX_BURST);
    assert!(burst.iter().all(|m| m.len() == 60 && m.pkt_len() == 60));
    assert_eq!(rx.rx_burst(&mut burst), 0, "full burst: nothing more");
    burst.truncate(10);
    assert_eq!(rx.rx_burst(&mut burst), MAX_BURST - 10);
    assert_eq!(pool.in_use(), MAX_BURST);
    assert_eq!(tx.tx_burst(&mut burst), MAX_BURST);
    assert!(burst.is_empty());
    let s = port.stats();
    assert_eq!(s.rx_packets, 2 * MAX_BURST as u64 - 10);
    assert_eq!(s.rx_bytes, s.rx_packets * 60);
    assert_eq!(s.tx_packets, MAX_BURST as u64);
    assert_eq!(s.tx_bytes, MAX_BURST as u64 * 60);
    drop((rx, tx, port));
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn null_counts_allocation_failures_instead_of_panicking() {
    let pool = common::pool("null_nomem", 40);
    let other = common::pool("null_other", 64);
    let mut port = open("null", &common::cfg(&pool)).unwrap();
    let mut rx = port.take_rx_queue(0).unwrap();
    let mut burst = MbufBurst::new();
    assert_eq!(
        rx.rx_burst(&mut burst),
        0,
        "64 wanted, 40 exist: the bulk fails"
    );
    assert_eq!(port.stats().alloc_failures, MAX_BURST as u64);
    assert_eq!(pool.in_use(), 0);
    // With 30 slots taken, the 34 wanted fit in the pool.
    for _ in 0..30 {
        burst.push(other.alloc().unwrap()).unwrap();
    }
    assert_eq!(rx.rx_burst(&mut burst), 34);
    assert_eq!(pool.in_use(), 34);
    burst.clear();
    assert_eq!(port.stats().rx_packets, 34);
    drop((rx, port));
    assert_eq!(pool.in_use(), 0);
    assert_eq!(other.in_use(), 0);
}

#[test]
fn null_multi_queue_counts_per_queue() {
    let pool = common::pool("null_mq", 512);
    let mut port = open("null:queues=3", &common::cfg(&pool)).unwrap();
    assert_eq!((port.info().rx_queues, port.info().tx_queues), (3, 3));
    let mut rx2 = port.take_rx_queue(2).unwrap();
    let mut burst = MbufBurst::new();
    rx2.rx_burst(&mut burst);
    let qs = port.queue_stats();
    assert_eq!(qs.len(), 6);
    let q2 = qs
        .iter()
        .find(|q| q.kind == QueueKind::Rx && q.queue == 2)
        .unwrap();
    assert_eq!(q2.rx_packets, MAX_BURST as u64);
    assert!(
        qs.iter()
            .filter(|q| q.queue != 2 || q.kind == QueueKind::Tx)
            .all(|q| q.rx_packets == 0)
    );
    drop(burst);
    assert_eq!(pool.in_use(), 0);
}

fn unique(tag: &str) -> String {
    format!(
        "{tag}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    )
}

#[test]
fn ring_pair_carries_frames_both_ways_intact() {
    let pool = common::pool("ring_pair", 256);
    let name = unique("pair");
    let devstr = format!("ring:name={name}");
    let mut a = open(&devstr, &common::cfg(&pool)).unwrap();
    let mut b = open(&devstr, &common::cfg(&pool)).unwrap();
    let e = open(&devstr, &common::cfg(&pool))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("both ends") && e.contains(&name), "{e}");
    assert_ne!(a.info().mac, b.info().mac);
    let (mut atx, mut brx) = (a.take_tx_queue(0).unwrap(), b.take_rx_queue(0).unwrap());
    let (mut btx, mut arx) = (b.take_tx_queue(0).unwrap(), a.take_rx_queue(0).unwrap());
    let frames: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 60 + i as usize]).collect();
    let mut burst = MbufBurst::new();
    for f in &frames {
        burst.push(common::mbuf(&pool, f)).unwrap();
    }
    assert_eq!(atx.tx_burst(&mut burst), 20);
    let mut got = MbufBurst::new();
    assert_eq!(
        arx.rx_burst(&mut got),
        0,
        "A does not receive its own frames"
    );
    assert_eq!(brx.rx_burst(&mut got), 20);
    let back: Vec<Vec<u8>> = got.iter().map(common::bytes).collect();
    assert_eq!(back, frames);
    assert_eq!(btx.tx_burst(&mut got), 20);
    assert_eq!(arx.rx_burst(&mut burst), 20);
    assert_eq!(burst.iter().map(common::bytes).collect::<Vec<_>>(), frames);
    drop(burst);
    assert_eq!(a.stats().tx_packets, 20);
    assert_eq!(a.stats().rx_packets, 20);
    assert_eq!(
        b.stats().rx_bytes,
        frames.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    drop((atx, brx, btx, arx, a, b));
    assert_eq!(pool.in_use(), 0);
    // Both ends gone: the name can be used afresh.
    let a = open(&devstr, &common::cfg(&pool)).unwrap();
    drop(a);
}

#[test]
fn ring_peer_names_pair_two_ports() {
    let pool = common::pool("ring_peer", 128);
    let (x, y) = (unique("x"), unique("y"));
    let mut px = open(&format!("ring:name={x},peer={y}"), &common::cfg(&pool)).unwrap();
    let e = open(&format!("ring:name={x},peer={y}"), &common::cfg(&pool))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("already open"), "{e}");
    let mut py = open(&format!("ring:name={y},peer={x}"), &common::cfg(&pool)).unwrap();
    assert_eq!(px.info().name, x);
    let mut tx = py.take_tx_queue(0).unwrap();
    let mut rx = px.take_rx_queue(0).unwrap();
    let mut b = MbufBurst::new();
    b.push(common::mbuf(&pool, b"hello ring")).unwrap();
    assert_eq!(tx.tx_burst(&mut b), 1);
    assert_eq!(rx.rx_burst(&mut b), 1);
    assert_eq!(common::bytes(b.get(0).unwrap()), b"hello ring");
    drop(b);
    drop((tx, rx, px, py));
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn ring_full_keeps_the_rest_with_the_caller_and_close_frees_in_flight_frames() {
    let pool = common::pool("ring_full", 256);
    let name = unique("full");
    let cfg = PortConfig {
        rx_ring_size: 32,
        ..common::cfg(&pool)
    };
    let mut a = open(&format!("ring:name={name}"), &cfg).unwrap();
    let b = open(&format!("ring:name={name}"), &cfg).unwrap();
    let mut tx = a.take_tx_queue(0).unwrap();
    let mut burst = MbufBurst::new();
    for i in 0..40u8 {
        burst.push(common::mbuf(&pool, &[i; 64])).unwrap();
    }
    // A ring of 32 holds 32 (or capacity - 1, depending on the ring design).
    let n = tx.tx_burst(&mut burst);
    assert!((31..=32).contains(&n), "{n}");
    assert_eq!(burst.len(), 40 - n);
    assert_eq!(
        common::bytes(burst.get(0).unwrap()),
        vec![n as u8; 64],
        "the rest stays, in order"
    );
    assert_eq!(tx.tx_burst(&mut burst), 0);
    drop(burst);
    assert_eq!(pool.in_use(), n);
    // B never received them: closing B frees what waits for it.
    b.close().unwrap();
    assert_eq!(pool.in_use(), 0);
    drop((tx, a));
}

#[test]
fn ring_multi_queue_lanes() {
    let pool = common::pool("ring_mq", 256);
    let name = unique("mq");
    let mut a = open(&format!("ring:name={name},queues=2"), &common::cfg(&pool)).unwrap();
    let mut b = open(&format!("ring:name={name},queues=2"), &common::cfg(&pool)).unwrap();
    let mut tx1 = a.take_tx_queue(1).unwrap();
    let mut rx0 = b.take_rx_queue(0).unwrap();
    let mut rx1 = b.take_rx_queue(1).unwrap();
    let mut burst = MbufBurst::new();
    burst.push(common::mbuf(&pool, &[7; 64])).unwrap();
    assert_eq!(tx1.tx_burst(&mut burst), 1);
    assert_eq!(rx0.rx_burst(&mut burst), 0);
    assert_eq!(rx1.rx_burst(&mut burst), 1);
    drop(burst);
    drop((tx1, rx0, rx1, a, b));
    assert_eq!(pool.in_use(), 0);
}
