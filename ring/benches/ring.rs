//! Criterion benches of the ring, in the shape of DPDK's ring_perf_autotest.
//!
//! ```text
//! cargo bench -p ferroplane-ring --bench ring
//! ```
//!
//! Criterion reports the time of one iteration (`size` elements each way) and, since throughput
//! is set in elements, elements per second: ns/element = time / size, and cycles/element =
//! ns/element x the TSC rate printed at start (GHz). `examples/ring_perf.rs` counts TSC cycles
//! itself and is what `scripts/bench/ring.sh` compares against DPDK.
//! - `one_thread/*`: enqueue `size` items then dequeue them, on one core.
//! - `two_cores/*`: a producer pinned to core 0 and a consumer pinned to core 1 move
//!   `iters * size` items; the time is until the consumer has them all.
//! - `*/array_queue`: crossbeam's `ArrayQueue` moving the same `u64` items one at a time.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
use ferroplane_ring::{Ring, SyncMode, channel};

const RING_SIZE: usize = 4096;
const SIZES: [usize; 2] = [8, 32];

/// Pins the calling thread. The core list is read once, before any thread pins itself: a
/// pinned thread's children inherit its one-core mask.
fn pin(core: usize) {
    static CORES: std::sync::OnceLock<Vec<core_affinity::CoreId>> = std::sync::OnceLock::new();
    let cores = CORES.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default());
    if let Some(id) = cores.iter().find(|c| c.id == core) {
        core_affinity::set_for_current(*id);
    }
}

fn print_tsc_rate() {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86-64.
        #[allow(unused_unsafe)]
        let tsc = || unsafe { core::arch::x86_64::_rdtsc() };
        let (t0, c0) = (Instant::now(), tsc());
        std::thread::sleep(Duration::from_millis(50));
        let (t1, c1) = (Instant::now(), tsc());
        let ghz = (c1 - c0) as f64 / (t1 - t0).as_nanos() as f64;
        eprintln!("ring bench: TSC at {ghz:.3} GHz: cycles/element = ns/element x {ghz:.3}");
    }
}

fn one_thread(c: &mut Criterion) {
    print_tsc_rate();
    pin(0);
    let mut g = c.benchmark_group("one_thread");
    for size in SIZES {
        g.throughput(Throughput::Elements(size as u64));
        let items = vec![7u64; size];
        let mut out = vec![0u64; size];
        for (bulk, kind) in [(true, "bulk"), (false, "burst")] {
            let (mut tx, mut rx) =
                channel::<u64>(RING_SIZE, SyncMode::Single, SyncMode::Single).unwrap();
            g.bench_function(BenchmarkId::new(format!("spsc_{kind}"), size), |b| {
                b.iter(|| {
                    if bulk {
                        tx.enqueue_bulk(black_box(&items));
                        rx.dequeue_bulk(black_box(&mut out));
                    } else {
                        tx.enqueue_burst(black_box(&items));
                        rx.dequeue_burst(black_box(&mut out));
                    }
                })
            });
            let ring = Ring::<u64>::new(RING_SIZE).unwrap();
            g.bench_function(BenchmarkId::new(format!("mpmc_{kind}"), size), |b| {
                b.iter(|| {
                    if bulk {
                        ring.enqueue_bulk(black_box(&items));
                        ring.dequeue_bulk(black_box(&mut out));
                    } else {
                        ring.enqueue_burst(black_box(&items));
                        ring.dequeue_burst(black_box(&mut out));
                    }
                })
            });
        }
        let q = ArrayQueue::<u64>::new(RING_SIZE);
        g.bench_function(BenchmarkId::new("array_queue", size), |b| {
            b.iter(|| {
                for &v in black_box(&items) {
                    let _ = q.push(v);
                }
                for o in out.iter_mut() {
                    *o = q.pop().unwrap_or_default();
                }
            })
        });
    }
    g.finish();
}

/// Moves `iters * size` items from this thread (core 0) to a consumer on core 1.
fn transfer(
    iters: u64,
    size: usize,
    mut send: impl FnMut(&[u64]) -> usize,
    recv: impl FnMut(&mut [u64]) -> usize + Send + 'static,
) -> Duration {
    let total = iters * size as u64;
    let consumer = std::thread::spawn(move || {
        pin(1);
        let mut recv = recv;
        let mut out = vec![0u64; size];
        let mut got = 0;
        while got < total {
            got += recv(&mut out) as u64;
        }
        black_box(&out);
    });
    let items = vec![1u64; size];
    let start = Instant::now();
    let mut sent = 0;
    while sent < total {
        sent += send(&items) as u64;
    }
    consumer.join().unwrap();
    start.elapsed()
}

fn two_cores(c: &mut Criterion) {
    pin(0);
    let mut g = c.benchmark_group("two_cores");
    for size in SIZES {
        g.throughput(Throughput::Elements(size as u64));
        for (bulk, kind) in [(true, "bulk"), (false, "burst")] {
            g.bench_function(BenchmarkId::new(format!("spsc_{kind}"), size), |b| {
                b.iter_custom(|iters| {
                    let (mut tx, mut rx) =
                        channel::<u64>(RING_SIZE, SyncMode::Single, SyncMode::Single).unwrap();
                    if bulk {
                        transfer(
                            iters,
                            size,
                            move |i| tx.enqueue_bulk(i),
                            move |o| rx.dequeue_bulk(o),
                        )
                    } else {
                        transfer(
                            iters,
                            size,
                            move |i| tx.enqueue_burst(i),
                            move |o| rx.dequeue_burst(o),
                        )
                    }
                })
            });
            g.bench_function(BenchmarkId::new(format!("mpmc_{kind}"), size), |b| {
                b.iter_custom(|iters| {
                    let ring = Arc::new(Ring::<u64>::new(RING_SIZE).unwrap());
                    let r2 = Arc::clone(&ring);
                    if bulk {
                        transfer(
                            iters,
                            size,
                            move |i| ring.enqueue_bulk(i),
                            move |o| r2.dequeue_bulk(o),
                        )
                    } else {
                        transfer(
                            iters,
                            size,
                            move |i| ring.enqueue_burst(i),
                            move |o| r2.dequeue_burst(o),
                        )
                    }
                })
            });
        }
        g.bench_function(BenchmarkId::new("array_queue", size), |b| {
            b.iter_custom(|iters| {
                let q = Arc::new(ArrayQueue::<u64>::new(RING_SIZE));
                let q2 = Arc::clone(&q);
                transfer(
                    iters,
                    size,
                    move |items| items.iter().take_while(|&&v| q.push(v).is_ok()).count(),
                    move |out| {
                        let mut n = 0;
                        while n < out.len() {
                            match q2.pop() {
                                Some(v) => out[n] = v,
                                None => break,
                            }
                            n += 1;
                        }
                        n
                    },
                )
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = one_thread, two_cores
}
criterion_main!(benches);
