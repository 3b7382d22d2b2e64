//! Multi-threaded stress tests: every item is tagged with its producer and a per-producer
//! sequence number; consumers check that each producer's items arrive in order, and at the end
//! that every item arrived exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use ferroplane_ring::{Consumer, Producer, Ring, SyncMode, channel};

/// An item: producer id in the top 16 bits, sequence number below.
fn tag(producer: u64, seq: u64) -> u64 {
    (producer << 48) | seq
}

fn untag(item: u64) -> (usize, u64) {
    ((item >> 48) as usize, item & ((1 << 48) - 1))
}

/// Items per producer; stress tests are sized to run in a few seconds in debug builds.
const PER_PRODUCER: u64 = 200_000;

/// What one consumer saw: per producer, how many items and whether they were in order.
#[derive(Default)]
struct Seen {
    count: Vec<u64>,
    sum: Vec<u64>,
}

/// Checks one dequeued batch against the consumer's last-seen sequence per producer.
fn check_batch(batch: &[u64], last: &mut [Option<u64>], seen: &mut Seen) {
    for &item in batch {
        let (p, seq) = untag(item);
        assert!(p < last.len(), "item {item:#x} from unknown producer {p}");
        if let Some(prev) = last[p] {
            assert!(
                seq > prev,
                "producer {p}: seq {seq} after {prev} (reordered or duplicated)"
            );
        }
        last[p] = Some(seq);
        seen.count[p] += 1;
        seen.sum[p] += seq;
    }
}

/// Sums what the consumers saw and checks each producer's items all arrived exactly once
/// (count and sum of sequence numbers both match, and each consumer saw them in order).
fn check_totals(producers: usize, seen: Vec<Seen>) {
    for p in 0..producers {
        let count: u64 = seen.iter().map(|s| s.count[p]).sum();
        let sum: u64 = seen.iter().map(|s| s.sum[p]).sum();
        assert_eq!(
            count, PER_PRODUCER,
            "producer {p}: items lost or duplicated"
        );
        assert_eq!(
            sum,
            PER_PRODUCER * (PER_PRODUCER - 1) / 2,
            "producer {p}: wrong items"
        );
    }
}

/// Batch sizes vary per call so that copies straddle the storage end in every way.
fn batch_len(i: u64) -> usize {
    1 + (i.wrapping_mul(0x9E37_79B9) >> 7) as usize % 13
}

fn produce(id: u64, bulk: bool, mut enqueue: impl FnMut(&[u64], bool) -> usize) {
    let mut seq = 0;
    let mut batch = [0u64; 16];
    let mut call = 0;
    while seq < PER_PRODUCER {
        let k = batch_len(call + id).min((PER_PRODUCER - seq) as usize);
        call += 1;
        for (j, slot) in batch[..k].iter_mut().enumerate() {
            *slot = tag(id, seq + j as u64);
        }
        let n = enqueue(&batch[..k], bulk);
        assert!(
            if bulk { n == 0 || n == k } else { n <= k },
            "moved {n} of {k}"
        );
        seq += n as u64;
        if n == 0 {
            thread::yield_now();
        }
    }
}

/// Consumes until `done` is set and the ring is drained; returns what it saw.
fn consume(
    producers: usize,
    id: u64,
    bulk: bool,
    done: &AtomicBool,
    mut dequeue: impl FnMut(&mut [u64], bool) -> usize,
) -> Seen {
    let mut seen = Seen {
        count: vec![0; producers],
        sum: vec![0; producers],
    };
    let mut last = vec![None; producers];
    let mut out = [0u64; 16];
    let mut call = 0;
    loop {
        // Read `done` before trying, so an empty result after it was set means drained.
        let finished = done.load(Ordering::Acquire);
        let k = batch_len(call + 31 * id);
        call += 1;
        let n = dequeue(&mut out[..k], bulk);
        assert!(
            if bulk { n == 0 || n == k } else { n <= k },
            "moved {n} of {k}"
        );
        check_batch(&out[..n], &mut last, &mut seen);
        if n == 0 {
            if finished {
                // A bulk request can fail with fewer than k items left: drain one by one.
                let mut one = [0u64; 1];
                while dequeue(&mut one, true) == 1 {
                    check_batch(&one, &mut last, &mut seen);
                }
                return seen;
            }
            thread::yield_now();
        }
    }
}

/// Runs `producers` x `consumers` over a shared `Ring`.
fn run_shared(capacity: usize, producers: usize, consumers: usize, bulk: bool) {
    let ring = Arc::new(Ring::<u64>::new(capacity).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let prod: Vec<_> = (0..producers as u64)
        .map(|id| {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                produce(id, bulk, |items, bulk| {
                    if bulk {
                        ring.enqueue_bulk(items)
                    } else {
                        ring.enqueue_burst(items)
                    }
                })
            })
        })
        .collect();
    let cons: Vec<_> = (0..consumers as u64)
        .map(|id| {
            let (ring, done) = (Arc::clone(&ring), Arc::clone(&done));
            thread::spawn(move || {
                consume(producers, id, bulk, &done, |out, bulk| {
                    if bulk {
                        ring.dequeue_bulk(out)
                    } else {
                        ring.dequeue_burst(out)
                    }
                })
            })
        })
        .collect();
    for p in prod {
        p.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let seen = cons.into_iter().map(|c| c.join().unwrap()).collect();
    check_totals(producers, seen);
    assert!(ring.is_empty());
}

/// Runs a channel with the given modes; `Multi` sides get `count` cloned handles.
fn run_channel(capacity: usize, pm: SyncMode, producers: usize, cm: SyncMode, consumers: usize) {
    let (tx, rx) = channel::<u64>(capacity, pm, cm).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let mut txs: Vec<Producer<u64>> = vec![tx];
    while txs.len() < producers {
        let clone = txs[0].try_clone().expect("multi producer clones");
        txs.push(clone);
    }
    let mut rxs: Vec<Consumer<u64>> = vec![rx];
    while rxs.len() < consumers {
        let clone = rxs[0].try_clone().expect("multi consumer clones");
        rxs.push(clone);
    }
    let prod: Vec<_> = txs
        .into_iter()
        .enumerate()
        .map(|(id, mut tx)| {
            thread::spawn(move || {
                // Alternate bulk and burst per producer.
                produce(id as u64, id % 2 == 0, |items, bulk| {
                    if bulk {
                        tx.enqueue_bulk(items)
                    } else {
                        tx.enqueue_burst(items)
                    }
                })
            })
        })
        .collect();
    let cons: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(id, mut rx)| {
            let done = Arc::clone(&done);
            thread::spawn(move || {
                consume(producers, id as u64, id % 2 == 1, &done, |out, bulk| {
                    if bulk {
                        rx.dequeue_bulk(out)
                    } else {
                        rx.dequeue_burst(out)
                    }
                })
            })
        })
        .collect();
    for p in prod {
        p.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let seen = cons.into_iter().map(|c| c.join().unwrap()).collect();
    check_totals(producers, seen);
}

#[test]
#[cfg_attr(miri, ignore)]
fn spsc_channel_bulk_and_burst() {
    run_channel(64, SyncMode::Single, 1, SyncMode::Single, 1);
}

#[test]
#[cfg_attr(miri, ignore)]
fn mpsc_channel_three_producers() {
    run_channel(32, SyncMode::Multi, 3, SyncMode::Single, 1);
}

#[test]
#[cfg_attr(miri, ignore)]
fn spmc_channel_two_consumers() {
    run_channel(32, SyncMode::Single, 1, SyncMode::Multi, 2);
}

#[test]
#[cfg_attr(miri, ignore)]
fn mpmc_channel_four_by_two() {
    run_channel(64, SyncMode::Multi, 4, SyncMode::Multi, 2);
}

#[test]
#[cfg_attr(miri, ignore)]
fn mpmc_ring_two_by_two_bulk() {
    run_shared(16, 2, 2, true);
}

#[test]
#[cfg_attr(miri, ignore)]
fn mpmc_ring_four_by_two_burst() {
    run_shared(64, 4, 2, false);
}

#[test]
#[cfg_attr(miri, ignore)]
fn mpmc_ring_three_by_two_tiny_ring() {
    // A 4-slot ring: almost every call contends or finds the ring full/empty.
    run_shared(4, 3, 2, false);
}

#[test]
#[cfg_attr(miri, ignore)]
fn counts_stay_in_range_under_load() {
    // len() and free_count() read two tails that move concurrently; they must never report
    // more than the capacity or underflow.
    let ring = Arc::new(Ring::<u64>::new(8).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let moved = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (ring, stop, moved) = (Arc::clone(&ring), Arc::clone(&stop), Arc::clone(&moved));
            thread::spawn(move || {
                let mut out = [0u64; 5];
                while !stop.load(Ordering::Relaxed) {
                    ring.enqueue_burst(&[1, 2, 3, 4, 5]);
                    let n = ring.dequeue_burst(&mut out);
                    moved.fetch_add(n as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for _ in 0..200_000 {
        let len = ring.len();
        assert!(len <= 8, "len {len}");
        assert_eq!(ring.capacity(), 8);
        assert!(ring.free_count() <= 8);
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(moved.load(Ordering::Relaxed) > 0);
}

/// Wide items (256 bytes, every word carrying the tag) make each copy long, so a thread is
/// often preempted between reserving slots and publishing them; a consumer that ever sees an
/// item before its producer finished writing it finds torn or stale words.
#[test]
#[cfg_attr(miri, ignore)]
fn mpmc_ring_wide_items_oversubscribed() {
    type Wide = [u64; 32];
    const PRODUCERS: usize = 4;
    const PER: u64 = 30_000;
    let ring = Arc::new(Ring::<Wide>::new(8).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let prod: Vec<_> = (0..PRODUCERS as u64)
        .map(|id| {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                let mut seq = 0;
                let mut batch = [[0u64; 32]; 8];
                while seq < PER {
                    let k = (1 + (seq as usize + id as usize) % 8).min((PER - seq) as usize);
                    for (j, item) in batch[..k].iter_mut().enumerate() {
                        *item = [tag(id, seq + j as u64); 32];
                    }
                    let n = ring.enqueue_burst(&batch[..k]);
                    seq += n as u64;
                    if n == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let cons: Vec<_> = (0..2)
        .map(|_| {
            let (ring, done) = (Arc::clone(&ring), Arc::clone(&done));
            thread::spawn(move || {
                let mut seen = Seen {
                    count: vec![0; PRODUCERS],
                    sum: vec![0; PRODUCERS],
                };
                let mut last = vec![None; PRODUCERS];
                let mut out = [[0u64; 32]; 8];
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let n = ring.dequeue_burst(&mut out);
                    for item in &out[..n] {
                        assert!(item.iter().all(|w| *w == item[0]), "torn item {item:x?}");
                        check_batch(&[item[0]], &mut last, &mut seen);
                    }
                    if n == 0 {
                        if finished {
                            return seen;
                        }
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    for p in prod {
        p.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let seen: Vec<Seen> = cons.into_iter().map(|c| c.join().unwrap()).collect();
    for p in 0..PRODUCERS {
        let count: u64 = seen.iter().map(|s| s.count[p]).sum();
        let sum: u64 = seen.iter().map(|s| s.sum[p]).sum();
        assert_eq!(count, PER, "producer {p}: items lost or duplicated");
        assert_eq!(sum, PER * (PER - 1) / 2, "producer {p}: wrong items");
    }
}
