//! Single-threaded unit tests, run for every flavour of ring (shared MP/MC and each channel
//! mode combination). These are also the tests Miri runs.

use crate::{Consumer, MAX_CAPACITY, Producer, Ring, RingError, SyncMode, channel};

/// The operations common to every flavour, so each test runs against all of them.
trait Fifo {
    fn enq_bulk(&mut self, items: &[u64]) -> usize;
    fn enq_burst(&mut self, items: &[u64]) -> usize;
    fn deq_bulk(&mut self, out: &mut [u64]) -> usize;
    fn deq_burst(&mut self, out: &mut [u64]) -> usize;
    fn enq_one(&mut self, item: u64) -> Result<(), u64>;
    fn deq_one(&mut self) -> Option<u64>;
    /// (len, free_count, capacity, is_empty, is_full) as seen by every view of the ring.
    fn counts(&self) -> Vec<(usize, usize, usize, bool, bool)>;
}

impl Fifo for Ring<u64> {
    fn enq_bulk(&mut self, items: &[u64]) -> usize {
        self.enqueue_bulk(items)
    }
    fn enq_burst(&mut self, items: &[u64]) -> usize {
        self.enqueue_burst(items)
    }
    fn deq_bulk(&mut self, out: &mut [u64]) -> usize {
        self.dequeue_bulk(out)
    }
    fn deq_burst(&mut self, out: &mut [u64]) -> usize {
        self.dequeue_burst(out)
    }
    fn enq_one(&mut self, item: u64) -> Result<(), u64> {
        self.enqueue_one(item)
    }
    fn deq_one(&mut self) -> Option<u64> {
        self.dequeue_one()
    }
    fn counts(&self) -> Vec<(usize, usize, usize, bool, bool)> {
        vec![(
            self.len(),
            self.free_count(),
            self.capacity(),
            self.is_empty(),
            self.is_full(),
        )]
    }
}

impl Fifo for (Producer<u64>, Consumer<u64>) {
    fn enq_bulk(&mut self, items: &[u64]) -> usize {
        self.0.enqueue_bulk(items)
    }
    fn enq_burst(&mut self, items: &[u64]) -> usize {
        self.0.enqueue_burst(items)
    }
    fn deq_bulk(&mut self, out: &mut [u64]) -> usize {
        self.1.dequeue_bulk(out)
    }
    fn deq_burst(&mut self, out: &mut [u64]) -> usize {
        self.1.dequeue_burst(out)
    }
    fn enq_one(&mut self, item: u64) -> Result<(), u64> {
        self.0.enqueue_one(item)
    }
    fn deq_one(&mut self) -> Option<u64> {
        self.1.dequeue_one()
    }
    fn counts(&self) -> Vec<(usize, usize, usize, bool, bool)> {
        let (p, c) = self;
        vec![
            (
                p.len(),
                p.free_count(),
                p.capacity(),
                p.is_empty(),
                p.len() == p.capacity(),
            ),
            (
                c.len(),
                c.free_count(),
                c.capacity(),
                c.is_empty(),
                c.len() == c.capacity(),
            ),
        ]
    }
}

const MODES: [SyncMode; 2] = [SyncMode::Single, SyncMode::Multi];

/// Runs `test` on a fresh ring of `capacity` of every flavour.
fn for_each_flavour(capacity: usize, test: impl Fn(&mut dyn Fifo, &str)) {
    let mut ring = Ring::<u64>::new(capacity).unwrap();
    test(&mut ring, "Ring");
    for p in MODES {
        for c in MODES {
            let mut pair = channel::<u64>(capacity, p, c).unwrap();
            test(&mut pair, &format!("channel({p:?}, {c:?})"));
        }
    }
}

fn assert_counts(ring: &dyn Fifo, len: usize, capacity: usize, what: &str) {
    for view in ring.counts() {
        assert_eq!(
            view,
            (len, capacity - len, capacity, len == 0, len == capacity),
            "{what}: (len, free, capacity, empty, full)"
        );
    }
}

#[test]
fn capacity_must_be_a_power_of_two_within_limits() {
    for bad in [0usize, 3, 5, 6, 7, 12, 1000, 4095] {
        assert_eq!(
            Ring::<u64>::new(bad).unwrap_err(),
            RingError::CapacityNotPowerOfTwo(bad)
        );
        assert_eq!(
            channel::<u64>(bad, SyncMode::Single, SyncMode::Multi).unwrap_err(),
            RingError::CapacityNotPowerOfTwo(bad)
        );
    }
    let too_big = MAX_CAPACITY * 2;
    assert_eq!(
        Ring::<u8>::new(too_big).unwrap_err(),
        RingError::CapacityTooLarge(too_big)
    );
    // Within the index limit but not in the address space.
    assert_eq!(
        Ring::<[u64; 1 << 40]>::new(1 << 30).unwrap_err(),
        RingError::CapacityTooLarge(1 << 30)
    );
    for good in [1usize, 2, 4, 64, 1024] {
        assert_eq!(Ring::<u64>::new(good).unwrap().capacity(), good);
    }
    let msg = RingError::CapacityNotPowerOfTwo(12).to_string();
    assert!(msg.contains("12"), "{msg}");
    let msg = RingError::CapacityTooLarge(too_big).to_string();
    assert!(msg.contains(&too_big.to_string()), "{msg}");
}

#[test]
#[cfg_attr(miri, ignore)] // a 1 PiB request is not something to put to Miri's allocator
fn allocation_failure_is_an_error() {
    // 1024 slots of 1 TiB each: within the address space, beyond any machine's memory.
    type Huge = [u8; 1 << 40];
    let err = Ring::<Huge>::new(1024).unwrap_err();
    assert_eq!(
        err,
        RingError::AllocationFailed {
            capacity: 1024,
            bytes: 1 << 50
        }
    );
    assert!(err.to_string().contains(&(1u64 << 50).to_string()), "{err}");
    let err = channel::<Huge>(1024, SyncMode::Multi, SyncMode::Single).unwrap_err();
    assert!(matches!(
        err,
        RingError::AllocationFailed { capacity: 1024, .. }
    ));
}

#[test]
fn fifo_order_and_counts() {
    for_each_flavour(8, |r, what| {
        assert_counts(r, 0, 8, what);
        assert_eq!(r.enq_bulk(&[1, 2, 3]), 3, "{what}");
        assert_counts(r, 3, 8, what);
        assert_eq!(r.enq_one(4), Ok(()), "{what}");
        assert_counts(r, 4, 8, what);
        assert_eq!(r.deq_one(), Some(1), "{what}");
        let mut out = [0; 3];
        assert_eq!(r.deq_bulk(&mut out), 3, "{what}");
        assert_eq!(out, [2, 3, 4], "{what}");
        assert_counts(r, 0, 8, what);
        assert_eq!(r.deq_one(), None, "{what}");
    });
}

#[test]
fn full_capacity_is_usable() {
    for_each_flavour(4, |r, what| {
        assert_eq!(r.enq_bulk(&[10, 11, 12, 13]), 4, "{what}");
        assert_counts(r, 4, 4, what);
        assert_eq!(r.enq_one(14), Err(14), "{what}");
        assert_eq!(r.enq_burst(&[14]), 0, "{what}");
        let mut out = [0; 4];
        assert_eq!(r.deq_bulk(&mut out), 4, "{what}");
        assert_eq!(out, [10, 11, 12, 13], "{what}");
    });
    // A ring of one slot.
    for_each_flavour(1, |r, what| {
        for i in 0..5 {
            assert_eq!(r.enq_one(i), Ok(()), "{what}");
            assert_eq!(r.enq_one(99), Err(99), "{what}");
            assert_counts(r, 1, 1, what);
            assert_eq!(r.deq_one(), Some(i), "{what}");
        }
    });
}

#[test]
fn bulk_is_all_or_nothing() {
    for_each_flavour(8, |r, what| {
        assert_eq!(r.enq_bulk(&[1, 2, 3, 4, 5, 6]), 6, "{what}");
        // 2 free: a bulk of 3 moves nothing.
        assert_eq!(r.enq_bulk(&[7, 8, 9]), 0, "{what}");
        assert_counts(r, 6, 8, what);
        // Longer than the ring: never fits.
        assert_eq!(r.enq_bulk(&[0; 9]), 0, "{what}");
        let mut out = [0; 7];
        assert_eq!(r.deq_bulk(&mut out), 0, "{what}");
        assert_eq!(
            out, [0; 7],
            "{what}: a failed bulk dequeue leaves out untouched"
        );
        assert_counts(r, 6, 8, what);
        let mut big = [0; 9];
        assert_eq!(r.deq_bulk(&mut big), 0, "{what}");
        let mut out = [0; 6];
        assert_eq!(r.deq_bulk(&mut out), 6, "{what}");
        assert_eq!(out, [1, 2, 3, 4, 5, 6], "{what}");
        // Empty requests move nothing and succeed trivially with 0.
        assert_eq!(r.enq_bulk(&[]), 0, "{what}");
        assert_eq!(r.deq_bulk(&mut []), 0, "{what}");
        assert_counts(r, 0, 8, what);
    });
}

#[test]
fn burst_moves_a_prefix() {
    for_each_flavour(8, |r, what| {
        assert_eq!(r.enq_burst(&[1, 2, 3, 4, 5, 6]), 6, "{what}");
        assert_eq!(r.enq_burst(&[7, 8, 9, 10]), 2, "{what}: only 2 fit");
        assert_counts(r, 8, 8, what);
        assert_eq!(r.enq_burst(&[11]), 0, "{what}");
        let mut out = [0; 3];
        assert_eq!(r.deq_burst(&mut out), 3, "{what}");
        assert_eq!(out, [1, 2, 3], "{what}");
        let mut out = [0; 10];
        assert_eq!(r.deq_burst(&mut out), 5, "{what}");
        assert_eq!(
            out,
            [4, 5, 6, 7, 8, 0, 0, 0, 0, 0],
            "{what}: only a prefix is written"
        );
        assert_eq!(r.deq_burst(&mut out), 0, "{what}");
        // A burst longer than the whole ring still fills it.
        let long: Vec<u64> = (100..120).collect();
        assert_eq!(r.enq_burst(&long), 8, "{what}");
        let mut out = [0; 20];
        assert_eq!(r.deq_burst(&mut out), 8, "{what}");
        assert_eq!(out[..8], long[..8], "{what}");
    });
}

#[test]
fn wraps_around_the_storage() {
    // Odd-sized moves against a ring of 8 hit every split of a copy at the storage end.
    for_each_flavour(8, |r, what| {
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        for round in 0..200usize {
            let k = 1 + round % 7;
            let items: Vec<u64> = (next_in..next_in + k as u64).collect();
            assert_eq!(r.enq_bulk(&items), k, "{what} round {round}");
            next_in += k as u64;
            let mut out = vec![0; k];
            let got = if round % 2 == 0 {
                r.deq_bulk(&mut out)
            } else {
                r.deq_burst(&mut out)
            };
            assert_eq!(got, k, "{what} round {round}");
            for v in out {
                assert_eq!(v, next_out, "{what} round {round}");
                next_out += 1;
            }
            assert_counts(r, 0, 8, what);
        }
    });
}

#[test]
fn partially_full_wraps_keep_order() {
    for_each_flavour(16, |r, what| {
        let mut model = std::collections::VecDeque::new();
        let mut next = 0u64;
        // A deterministic mix of sizes keeps the ring between empty and full.
        for step in 0..300u64 {
            let k = ((step * 7 + 3) % 11) as usize;
            if step % 3 != 2 {
                let items: Vec<u64> = (next..next + k as u64).collect();
                let n = r.enq_burst(&items);
                assert_eq!(n, k.min(16 - model.len()), "{what} step {step}");
                model.extend(&items[..n]);
                next += n as u64;
            } else {
                let mut out = vec![0; k];
                let n = r.deq_burst(&mut out);
                assert_eq!(n, k.min(model.len()), "{what} step {step}");
                for v in &out[..n] {
                    assert_eq!(Some(*v), model.pop_front(), "{what} step {step}");
                }
            }
            assert_counts(r, model.len(), 16, what);
        }
    });
}

#[test]
fn indices_wrap_past_u32_max() {
    // Drive the free-running indices across 2^32 cheaply: a ring of 1 slot with 2^32 + few
    // moves would be slow, so start the count near the top by moving many items per call.
    const CAP: usize = 1 << 12;
    let ring = Ring::<u32>::new(CAP).unwrap();
    let (mut tx, mut rx) = channel::<u32>(CAP, SyncMode::Single, SyncMode::Single).unwrap();
    let items: Vec<u32> = (0..CAP as u32).collect();
    let mut out = vec![0u32; CAP];
    // 2^32 / 2^12 = 2^20 round trips; under Miri only a few to check the mechanics.
    let rounds: u64 = if cfg!(miri) { 4 } else { (1u64 << 20) + 3 };
    for round in 0..rounds {
        assert_eq!(
            ring.enqueue_bulk(&items[..CAP - 1]),
            CAP - 1,
            "round {round}"
        );
        assert_eq!(
            ring.dequeue_bulk(&mut out[..CAP - 1]),
            CAP - 1,
            "round {round}"
        );
        assert_eq!(tx.enqueue_bulk(&items[..CAP - 1]), CAP - 1, "round {round}");
        assert_eq!(
            rx.dequeue_bulk(&mut out[..CAP - 1]),
            CAP - 1,
            "round {round}"
        );
    }
    assert_eq!(out[..CAP - 1], items[..CAP - 1]);
    assert!(ring.is_empty());
    assert_eq!(ring.enqueue_burst(&items), CAP);
    assert!(ring.is_full());
    assert_eq!(ring.free_count(), 0);
    assert_eq!(ring.dequeue_bulk(&mut out), CAP);
    assert_eq!(out, items);
}

#[test]
fn try_clone_follows_the_mode() {
    let (p, c) = channel::<u8>(4, SyncMode::Single, SyncMode::Single).unwrap();
    assert!(p.try_clone().is_none());
    assert!(c.try_clone().is_none());
    assert_eq!((p.mode(), c.mode()), (SyncMode::Single, SyncMode::Single));
    let (p, c) = channel::<u8>(4, SyncMode::Multi, SyncMode::Multi).unwrap();
    let mut p2 = p.try_clone().unwrap();
    let mut c2 = c.try_clone().unwrap();
    assert_eq!(p2.enqueue_bulk(&[1, 2]), 2);
    assert_eq!(p.len(), 2);
    assert_eq!(c2.dequeue_one(), Some(1));
    assert_eq!(c.len(), 1);
    assert_eq!(c2.capacity(), 4);
}

#[test]
fn items_of_other_sizes() {
    // 16-byte items (DPDK's "elem" APIs) and zero-sized items.
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    assert_eq!(ring.enqueue_bulk(&[[1, 2], [3, 4], [5, 6]]), 3);
    let mut out = [[0; 2]; 2];
    assert_eq!(ring.dequeue_bulk(&mut out), 2);
    assert_eq!(out, [[1, 2], [3, 4]]);
    assert_eq!(ring.enqueue_bulk(&[[7, 8], [9, 10]]), 2);
    let mut out = [[0; 2]; 3];
    assert_eq!(ring.dequeue_bulk(&mut out), 3);
    assert_eq!(out, [[5, 6], [7, 8], [9, 10]]);

    let unit = Ring::<()>::new(2).unwrap();
    assert_eq!(unit.enqueue_burst(&[(); 3]), 2);
    assert!(unit.is_full());
    assert_eq!(unit.dequeue_one(), Some(()));
    assert_eq!(unit.len(), 1);
}

#[test]
fn debug_shows_capacity_and_len() {
    let ring = Ring::<u8>::new(4).unwrap();
    ring.enqueue_one(1).unwrap();
    assert_eq!(format!("{ring:?}"), "Ring { capacity: 4, len: 1 }");
    let (p, c) = channel::<u8>(2, SyncMode::Single, SyncMode::Multi).unwrap();
    assert_eq!(
        format!("{p:?}"),
        "Producer { mode: Single, capacity: 2, len: 0 }"
    );
    assert_eq!(
        format!("{c:?}"),
        "Consumer { mode: Multi, capacity: 2, len: 0 }"
    );
}

#[test]
fn handles_move_between_threads() {
    // A small two-thread SP/SC exchange; fast enough for Miri too.
    let (mut tx, mut rx) = channel::<u32>(4, SyncMode::Single, SyncMode::Single).unwrap();
    const N: u32 = if cfg!(miri) { 200 } else { 20_000 };
    let producer = std::thread::spawn(move || {
        let mut i = 0;
        while i < N {
            let batch = [i, i + 1];
            i += tx.enqueue_burst(&batch[..(N - i).min(2) as usize]) as u32;
            std::thread::yield_now();
        }
    });
    let mut expect = 0;
    let mut out = [0u32; 3];
    while expect < N {
        let n = rx.dequeue_burst(&mut out);
        for v in &out[..n] {
            assert_eq!(*v, expect);
            expect += 1;
        }
        if n == 0 {
            std::thread::yield_now();
        }
    }
    producer.join().unwrap();
    assert!(rx.is_empty());
}

#[test]
fn shared_ring_between_threads() {
    // Two producers and two consumers on a shared ring, small enough for Miri.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    const PER: u64 = if cfg!(miri) { 50 } else { 20_000 };
    let ring = Arc::new(Ring::<u64>::new(8).unwrap());
    let taken = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for p in 0..2u64 {
        let ring = Arc::clone(&ring);
        threads.push(std::thread::spawn(move || {
            for i in 0..PER {
                let v = p * PER + i;
                while ring.enqueue_one(v).is_err() {
                    std::thread::yield_now();
                }
            }
        }));
    }
    for _ in 0..2 {
        let (ring, taken, sum) = (Arc::clone(&ring), Arc::clone(&taken), Arc::clone(&sum));
        threads.push(std::thread::spawn(move || {
            let mut out = [0u64; 3];
            while taken.load(Ordering::Relaxed) < 2 * PER {
                let n = ring.dequeue_burst(&mut out);
                sum.fetch_add(out[..n].iter().sum(), Ordering::Relaxed);
                taken.fetch_add(n as u64, Ordering::Relaxed);
                if n == 0 {
                    std::thread::yield_now();
                }
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    let total = 2 * PER;
    assert_eq!(taken.load(Ordering::Relaxed), total);
    assert_eq!(sum.load(Ordering::Relaxed), total * (total - 1) / 2);
    assert!(ring.is_empty());
}

#[test]
fn thread_safety_markers() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Ring<u64>>();
    send::<Producer<u64>>();
    send::<Consumer<[u8; 3]>>();
}
