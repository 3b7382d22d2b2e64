//! loom model tests of the multi-producer/multi-consumer paths. loom runs each model under
//! every interleaving (up to a preemption bound) with its own atomics and cells, checking the
//! head/tail protocol and, through its `UnsafeCell` tracking, that no slot is read while being
//! written or overwritten while being read.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p ferroplane-ring --test loom --release
//! ```
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;

use ferroplane_ring::{Ring, SyncMode, channel};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    // The bugs loom found while mutating the orderings showed up within two preemptions; three
    // still runs in about a second. LOOM_MAX_PREEMPTIONS overrides it.
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// Items are producer * 10 + seq. Checks per-producer order and returns the items sorted.
fn check_order(items: &[u32]) -> Vec<u32> {
    let mut last = [None::<u32>; 4];
    for &v in items {
        let p = (v / 10) as usize;
        if let Some(prev) = last[p] {
            assert!(v > prev, "producer {p}: {v} after {prev} in {items:?}");
        }
        last[p] = Some(v);
    }
    let mut sorted = items.to_vec();
    sorted.sort_unstable();
    sorted
}

#[test]
fn two_producers_bulk_one_consumer_burst() {
    model(|| {
        let ring = Arc::new(Ring::<u32>::new(4).unwrap());
        let producers: Vec<_> = (0..2u32)
            .map(|p| {
                let ring = Arc::clone(&ring);
                thread::spawn(move || assert_eq!(ring.enqueue_bulk(&[p * 10, p * 10 + 1]), 2))
            })
            .collect();
        // Consume concurrently with the producers, once, then drain after they finish.
        let mut got = Vec::new();
        let mut out = [0u32; 4];
        let n = ring.dequeue_burst(&mut out);
        got.extend_from_slice(&out[..n]);
        for p in producers {
            p.join().unwrap();
        }
        let n = ring.dequeue_burst(&mut out);
        got.extend_from_slice(&out[..n]);
        assert_eq!(check_order(&got), [0, 1, 10, 11]);
        assert!(ring.is_empty());
    });
}

#[test]
fn two_producers_burst_two_consumers_bulk_on_a_full_ring() {
    // Capacity 2 with 3 items offered: producers race for too little room.
    model(|| {
        let ring = Arc::new(Ring::<u32>::new(2).unwrap());
        let p0 = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.enqueue_burst(&[0, 1]))
        };
        let p1 = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.enqueue_burst(&[10]))
        };
        let c1 = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                let mut out = [0u32; 1];
                let n = ring.dequeue_bulk(&mut out);
                out[..n].to_vec()
            })
        };
        let mut out = [0u32; 1];
        let n = ring.dequeue_bulk(&mut out);
        let mut got = out[..n].to_vec();
        let sent0 = p0.join().unwrap();
        let sent1 = p1.join().unwrap();
        let other = c1.join().unwrap();
        let mut rest = [0u32; 2];
        let n = ring.dequeue_burst(&mut rest);
        // Each consumer saw a subsequence; merge what all saw and check it is what was sent.
        let mut all = other;
        all.append(&mut got);
        all.extend_from_slice(&rest[..n]);
        let mut expect: Vec<u32> = [0, 1][..sent0].to_vec();
        expect.extend_from_slice(&[10][..sent1]);
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expect, "sent {sent0}+{sent1}, got {all:?}");
        assert!(
            sent0 + sent1 >= 2,
            "room for two was offered, only {} taken",
            sent0 + sent1
        );
        assert!(ring.is_empty());
    });
}

#[test]
fn one_producer_two_consumers_burst() {
    model(|| {
        let ring = Arc::new(Ring::<u32>::new(2).unwrap());
        assert_eq!(ring.enqueue_bulk(&[0, 1]), 2);
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let ring = Arc::clone(&ring);
                thread::spawn(move || {
                    let mut out = [0u32; 2];
                    let n = ring.dequeue_burst(&mut out);
                    out[..n].to_vec()
                })
            })
            .collect();
        // Producer refills as slots free up (wrapping the storage).
        let sent = ring.enqueue_burst(&[2, 3]);
        let mut all: Vec<u32> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        let mut rest = [0u32; 2];
        let n = ring.dequeue_burst(&mut rest);
        all.extend_from_slice(&rest[..n]);
        all.sort_unstable();
        let expect: Vec<u32> = (0..2 + sent as u32).collect();
        assert_eq!(all, expect);
    });
}

#[test]
fn channel_mpmc_handles() {
    model(|| {
        let (tx, rx) = channel::<u32>(2, SyncMode::Multi, SyncMode::Multi).unwrap();
        let mut tx2 = tx.try_clone().unwrap();
        let mut rx2 = rx.try_clone().unwrap();
        let mut tx = tx;
        let mut rx = rx;
        let p = thread::spawn(move || tx2.enqueue_bulk(&[10]));
        let c = thread::spawn(move || {
            let mut out = [0u32; 1];
            let n = rx2.dequeue_burst(&mut out);
            out[..n].to_vec()
        });
        let sent = tx.enqueue_bulk(&[0]);
        assert_eq!(sent, 1);
        let sent2 = p.join().unwrap();
        assert_eq!(sent2, 1);
        let mut all = c.join().unwrap();
        let mut rest = [0u32; 2];
        let n = rx.dequeue_burst(&mut rest);
        all.extend_from_slice(&rest[..n]);
        all.sort_unstable();
        assert_eq!(all, [0, 10]);
    });
}

#[test]
fn channel_spsc_wraps() {
    model(|| {
        let (mut tx, mut rx) = channel::<u32>(2, SyncMode::Single, SyncMode::Single).unwrap();
        let p = thread::spawn(move || {
            let mut sent = 0u32;
            for i in 0..3 {
                if tx.enqueue_one(i).is_ok() {
                    sent += 1;
                } else {
                    break;
                }
            }
            sent
        });
        let mut got = Vec::new();
        for _ in 0..2 {
            if let Some(v) = rx.dequeue_one() {
                got.push(v);
            }
        }
        let sent = p.join().unwrap();
        while let Some(v) = rx.dequeue_one() {
            got.push(v);
        }
        let expect: Vec<u32> = (0..sent).collect();
        assert_eq!(got, expect);
    });
}

#[test]
fn producers_lap_the_ring_with_stale_tail_copies() {
    // Capacity 2, three items through it while a consumer frees slots: the producers' shared
    // copy of the consumer tail goes stale and must be refreshed before slots are reused.
    model(|| {
        let ring = Arc::new(Ring::<u32>::new(2).unwrap());
        assert_eq!(ring.enqueue_bulk(&[0, 1]), 2);
        let consumer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                let mut got = Vec::new();
                let mut out = [0u32; 2];
                for _ in 0..2 {
                    let n = ring.dequeue_burst(&mut out);
                    got.extend_from_slice(&out[..n]);
                }
                got
            })
        };
        let producer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.enqueue_bulk(&[10]))
        };
        let sent_main = ring.enqueue_bulk(&[20]);
        let sent_other = producer.join().unwrap();
        let mut got = consumer.join().unwrap();
        let mut rest = [0u32; 2];
        let n = ring.dequeue_burst(&mut rest);
        got.extend_from_slice(&rest[..n]);
        assert_eq!(
            got[..2.min(got.len())],
            [0, 1][..2.min(got.len())],
            "FIFO: {got:?}"
        );
        let mut expect = vec![0, 1];
        expect.extend_from_slice(&[10][..sent_other]);
        expect.extend_from_slice(&[20][..sent_main]);
        let mut sorted = got.clone();
        sorted.sort_unstable();
        expect.sort_unstable();
        assert_eq!(sorted, expect, "sent {sent_other}+{sent_main}, got {got:?}");
        assert!(ring.is_empty());
    });
}
