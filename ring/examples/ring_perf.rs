//! ring_perf: our side of `scripts/bench/ring.sh`, measured the way DPDK's `ring_perf_autotest`
//! measures rte_ring, so the rows line up.
//!
//! ```text
//! cargo run --release -p ferroplane-ring --example ring_perf [-- --quick]
//! ```
//!
//! Prints one line per case on standard output: `RESULT<TAB>case<TAB>value<TAB>unit`, where the
//! value is TSC cycles (what DPDK's `rte_rdtsc` counts) per element, or per call for the empty
//! dequeue. Like the autotest: ring of 4096 slots; one thread does enqueue then dequeue of
//! 1, 8 or 32 items per iteration on one ring; two threads pinned to cores 0 and 1 run a
//! producer and a consumer, each timing its own loop, and the row is the sum of both sides'
//! cycles per element. Each case is run `--repeat` times (3 by default, 1 with `--quick`) and the
//! median is printed. Rows for crossbeam's `ArrayQueue` moving the same items follow.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crossbeam_queue::ArrayQueue;
use ferroplane_ring::{Consumer, Producer, Ring, SyncMode, channel};

const RING_SIZE: usize = 4096;
const MAX_BURST: usize = 32;
const SIZES: [usize; 2] = [8, 32];

/// Reads the time-stamp counter, the clock DPDK's perf tests count in.
#[inline(always)]
fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86-64.
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Measures the TSC rate against the OS clock, in cycles per nanosecond.
fn tsc_per_ns() -> f64 {
    let (t0, c0) = (Instant::now(), tsc());
    std::thread::sleep(std::time::Duration::from_millis(100));
    let (t1, c1) = (Instant::now(), tsc());
    (c1 - c0) as f64 / (t1 - t0).as_nanos() as f64
}

/// How long each case runs: DPDK's iteration counts, or 1/32 of them with `--quick`.
struct Plan {
    shift_down: u32,
    repeat: usize,
}

impl Plan {
    fn iters(&self, dpdk_shift: u32) -> u64 {
        1u64 << dpdk_shift.saturating_sub(self.shift_down)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn report(case: &str, value: f64, unit: &str) {
    println!("RESULT\t{case}\t{value:.2}\t{unit}");
}

/// The cores this process may run on, read once before any thread pins itself (a pinned
/// thread's children inherit its one-core mask, so asking later would find only that core).
fn all_cores() -> &'static [core_affinity::CoreId] {
    static CORES: std::sync::OnceLock<Vec<core_affinity::CoreId>> = std::sync::OnceLock::new();
    CORES.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default())
}

fn pin(core: usize) {
    match all_cores().iter().find(|id| id.id == core) {
        Some(id) if core_affinity::set_for_current(*id) => {}
        _ => eprintln!("ring_perf: could not pin to core {core}; numbers will be noisier"),
    }
}

/// The operations a bench needs from one end of a ring, so one loop serves every flavour.
trait Enq<T> {
    fn bulk(&mut self, items: &[T]) -> usize;
    fn burst(&mut self, items: &[T]) -> usize;
}
trait Deq<T> {
    fn bulk(&mut self, out: &mut [T]) -> usize;
    fn burst(&mut self, out: &mut [T]) -> usize;
}

impl<T: Copy + Send> Enq<T> for Producer<T> {
    #[inline(always)]
    fn bulk(&mut self, items: &[T]) -> usize {
        self.enqueue_bulk(items)
    }
    #[inline(always)]
    fn burst(&mut self, items: &[T]) -> usize {
        self.enqueue_burst(items)
    }
}
impl<T: Copy + Send> Deq<T> for Consumer<T> {
    #[inline(always)]
    fn bulk(&mut self, out: &mut [T]) -> usize {
        self.dequeue_bulk(out)
    }
    #[inline(always)]
    fn burst(&mut self, out: &mut [T]) -> usize {
        self.dequeue_burst(out)
    }
}
impl<T: Copy + Send> Enq<T> for &Ring<T> {
    #[inline(always)]
    fn bulk(&mut self, items: &[T]) -> usize {
        self.enqueue_bulk(items)
    }
    #[inline(always)]
    fn burst(&mut self, items: &[T]) -> usize {
        self.enqueue_burst(items)
    }
}
impl<T: Copy + Send> Deq<T> for &Ring<T> {
    #[inline(always)]
    fn bulk(&mut self, out: &mut [T]) -> usize {
        self.dequeue_bulk(out)
    }
    #[inline(always)]
    fn burst(&mut self, out: &mut [T]) -> usize {
        self.dequeue_burst(out)
    }
}

/// One thread: enqueue `size` then dequeue `size`, `iters` times; cycles per element.
#[inline(never)]
fn one_thread<T: Copy + Default, E: Enq<T>, D: Deq<T>>(
    enq: &mut E,
    deq: &mut D,
    size: usize,
    bulk: bool,
    iters: u64,
) -> f64 {
    let items = [T::default(); MAX_BURST];
    let mut out = [T::default(); MAX_BURST];
    let size = black_box(size);
    let start = tsc();
    for _ in 0..iters {
        if bulk {
            enq.bulk(&items[..size]);
            deq.bulk(&mut out[..size]);
        } else {
            enq.burst(&items[..size]);
            deq.burst(&mut out[..size]);
        }
    }
    let end = tsc();
    black_box(&out);
    (end - start) as f64 / (iters * size as u64) as f64
}

/// Dequeue from an empty ring: cycles per call.
#[inline(never)]
fn empty_dequeue<T: Copy + Default, D: Deq<T>>(deq: &mut D, iters: u64) -> f64 {
    let mut out = [T::default(); MAX_BURST];
    let size = black_box(SIZES[0]);
    let start = tsc();
    for _ in 0..iters {
        black_box(deq.bulk(&mut out[..size]));
    }
    (tsc() - start) as f64 / iters as f64
}

/// Spins until both threads have arrived, as the autotest does before timing.
fn rendezvous(count: &AtomicU32) {
    count.fetch_add(1, Ordering::AcqRel);
    while count.load(Ordering::Acquire) < 2 {
        core::hint::spin_loop();
    }
}

#[inline(never)]
fn producer_loop<T: Copy + Default, E: Enq<T>>(enq: &mut E, size: usize, iters: u64) -> f64 {
    let items = [T::default(); MAX_BURST];
    let size = black_box(size);
    let start = tsc();
    for _ in 0..iters {
        while enq.bulk(&items[..size]) == 0 {
            core::hint::spin_loop();
        }
    }
    (tsc() - start) as f64 / (iters * size as u64) as f64
}

#[inline(never)]
fn consumer_loop<T: Copy + Default, D: Deq<T>>(deq: &mut D, size: usize, iters: u64) -> f64 {
    let mut out = [T::default(); MAX_BURST];
    let size = black_box(size);
    let start = tsc();
    for _ in 0..iters {
        while deq.bulk(&mut out[..size]) == 0 {
            core::hint::spin_loop();
        }
    }
    black_box(&out);
    (tsc() - start) as f64 / (iters * size as u64) as f64
}

/// Producer on core 0 (this thread), consumer on core 1; sum of both sides' cycles/element.
fn two_cores<T, E, D>(mut enq: E, deq: D, size: usize, iters: u64) -> f64
where
    T: Copy + Default + Send,
    E: Enq<T>,
    D: Deq<T> + Send + 'static,
{
    let count = Arc::new(AtomicU32::new(0));
    let consumer = {
        let count = Arc::clone(&count);
        let mut deq = deq;
        std::thread::spawn(move || {
            pin(1);
            rendezvous(&count);
            consumer_loop::<T, D>(&mut deq, size, iters)
        })
    };
    rendezvous(&count);
    let p = producer_loop::<T, E>(&mut enq, size, iters);
    p + consumer.join().expect("consumer thread")
}

/// All the rte_ring-shaped cases for one item type; `prefix` names the item size like DPDK.
fn ring_cases<T: Copy + Default + Send + 'static>(prefix: &str, plan: &Plan) {
    let name = |s: &str| format!("{prefix}{s}");
    // Single element, as DPDK's "single" rows (cycles per enq+deq of one item).
    {
        let (mut tx, mut rx) = channel::<T>(RING_SIZE, SyncMode::Single, SyncMode::Single).unwrap();
        let v = median(
            (0..plan.repeat)
                .map(|_| one_thread(&mut tx, &mut rx, 1, true, plan.iters(24)))
                .collect(),
        );
        report(
            &name("SP/SC single enq+deq (1 thread)"),
            v,
            "cycles/element",
        );
        let ring = Ring::<T>::new(RING_SIZE).unwrap();
        let v = median(
            (0..plan.repeat)
                .map(|_| one_thread(&mut &ring, &mut &ring, 1, true, plan.iters(24)))
                .collect(),
        );
        report(
            &name("MP/MC single enq+deq (1 thread)"),
            v,
            "cycles/element",
        );
    }
    for bulk in [false, true] {
        let kind = if bulk { "bulk" } else { "burst" };
        for size in SIZES {
            let (mut tx, mut rx) =
                channel::<T>(RING_SIZE, SyncMode::Single, SyncMode::Single).unwrap();
            let v = median(
                (0..plan.repeat)
                    .map(|_| one_thread(&mut tx, &mut rx, size, bulk, plan.iters(23)))
                    .collect(),
            );
            report(
                &name(&format!("SP/SC {kind} enq+deq size {size} (1 thread)")),
                v,
                "cycles/element",
            );
        }
        for size in SIZES {
            let ring = Ring::<T>::new(RING_SIZE).unwrap();
            let v = median(
                (0..plan.repeat)
                    .map(|_| one_thread(&mut &ring, &mut &ring, size, bulk, plan.iters(23)))
                    .collect(),
            );
            report(
                &name(&format!("MP/MC {kind} enq+deq size {size} (1 thread)")),
                v,
                "cycles/element",
            );
        }
    }
    {
        let (_tx, mut rx) = channel::<T>(RING_SIZE, SyncMode::Single, SyncMode::Single).unwrap();
        let v = median(
            (0..plan.repeat)
                .map(|_| empty_dequeue(&mut rx, plan.iters(26)))
                .collect(),
        );
        report(
            &name("SP/SC empty bulk deq size 8 (1 thread)"),
            v,
            "cycles/call",
        );
        let ring = Ring::<T>::new(RING_SIZE).unwrap();
        let v = median(
            (0..plan.repeat)
                .map(|_| empty_dequeue(&mut &ring, plan.iters(26)))
                .collect(),
        );
        report(
            &name("MP/MC empty bulk deq size 8 (1 thread)"),
            v,
            "cycles/call",
        );
    }
    for size in SIZES {
        // DPDK runs 2^15 iterations here; we run the same and take the median of repeats.
        let v = median(
            (0..plan.repeat)
                .map(|_| {
                    let (tx, rx) =
                        channel::<T>(RING_SIZE, SyncMode::Single, SyncMode::Single).unwrap();
                    two_cores::<T, _, _>(tx, rx, size, plan.iters(15))
                })
                .collect(),
        );
        report(
            &name(&format!("SP/SC bulk size {size} (2 cores)")),
            v,
            "cycles/element",
        );
        let v = median(
            (0..plan.repeat)
                .map(|_| {
                    let ring: &'static Ring<T> = Box::leak(Box::new(Ring::new(RING_SIZE).unwrap()));
                    two_cores::<T, _, _>(ring, ring, size, plan.iters(15))
                })
                .collect(),
        );
        report(
            &name(&format!("MP/MC bulk size {size} (2 cores)")),
            v,
            "cycles/element",
        );
    }
}

/// crossbeam's ArrayQueue moving the same items: one push/pop per item (it has no bulk API).
fn array_queue_cases(plan: &Plan) {
    for size in SIZES {
        let q = ArrayQueue::<u64>::new(RING_SIZE);
        let v = median(
            (0..plan.repeat)
                .map(|_| {
                    let size = black_box(size);
                    let iters = plan.iters(23);
                    let start = tsc();
                    for _ in 0..iters {
                        for i in 0..size {
                            let _ = q.push(i as u64);
                        }
                        for _ in 0..size {
                            black_box(q.pop());
                        }
                    }
                    (tsc() - start) as f64 / (iters * size as u64) as f64
                })
                .collect(),
        );
        report(
            &format!("crossbeam ArrayQueue push+pop x{size} (1 thread)"),
            v,
            "cycles/element",
        );
    }
    for size in SIZES {
        let v = median(
            (0..plan.repeat)
                .map(|_| {
                    let q = Arc::new(ArrayQueue::<u64>::new(RING_SIZE));
                    let count = Arc::new(AtomicU32::new(0));
                    let iters = plan.iters(15);
                    let consumer = {
                        let (q, count) = (Arc::clone(&q), Arc::clone(&count));
                        std::thread::spawn(move || {
                            pin(1);
                            rendezvous(&count);
                            let start = tsc();
                            for _ in 0..iters * size as u64 {
                                while q.pop().is_none() {
                                    core::hint::spin_loop();
                                }
                            }
                            (tsc() - start) as f64 / (iters * size as u64) as f64
                        })
                    };
                    rendezvous(&count);
                    let start = tsc();
                    for _ in 0..iters {
                        for i in 0..size {
                            while q.push(i as u64).is_err() {
                                core::hint::spin_loop();
                            }
                        }
                    }
                    let p = (tsc() - start) as f64 / (iters * size as u64) as f64;
                    p + consumer.join().expect("consumer thread")
                })
                .collect(),
        );
        report(
            &format!("crossbeam ArrayQueue x{size} (2 cores)"),
            v,
            "cycles/element",
        );
    }
}

fn main() {
    let mut plan = Plan {
        shift_down: 0,
        repeat: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                plan = Plan {
                    shift_down: 5,
                    repeat: 1,
                }
            }
            "--repeat" => {
                plan.repeat = match args.next().and_then(|v| v.parse().ok()) {
                    Some(n) if n > 0 => n,
                    _ => {
                        eprintln!("ring_perf: --repeat needs a positive number");
                        std::process::exit(2);
                    }
                }
            }
            other => {
                eprintln!("ring_perf: unknown argument {other:?} (expected --quick, --repeat N)");
                std::process::exit(2);
            }
        }
    }
    pin(0);
    eprintln!("ring_perf: TSC runs at {:.3} GHz", tsc_per_ns());
    ring_cases::<u64>("", &plan);
    ring_cases::<[u64; 2]>("16B: ", &plan);
    array_queue_cases(&plan);
}
