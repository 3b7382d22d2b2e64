//! The per-lcore loops: the paced transmitter and the measuring receiver.
//!
//! Both own one queue and write their counters into a cache-line aligned block of atomics
//! (owner stores, anyone loads) that the live view and the session read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferroplane::IdlePolicy;
use ferroplane::idle::Idle;
use ferroplane_mempool::{MbufBurst, Mempool};
use ferroplane_pmd::{RxQueue, TxQueue};
use hdrhistogram::Histogram;

use crate::factory::FrameFactory;
use crate::payload::{self, SeqTracker};
use crate::tsc;

/// Live counters of one queue (written by its lcore only).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Counters {
    /// Frames.
    pub packets: AtomicU64,
    /// Bytes (without FCS).
    pub bytes: AtomicU64,
    /// TX: frames dropped at stop; RX: frames without a pktgen stamp.
    pub other: AtomicU64,
}

impl Counters {
    #[inline]
    fn add(c: &AtomicU64, n: u64) {
        c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
    /// (packets, bytes, other).
    pub fn load(&self) -> (u64, u64, u64) {
        (
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed),
        )
    }
}

/// What one transmitter should do.
#[derive(Debug, Clone, Copy)]
pub struct TxPlan {
    /// Stream id stamped in every frame (also indexes the sequence space).
    pub stream: u16,
    /// Frames per second, `None` for as fast as possible.
    pub pps: Option<f64>,
    /// Stop after this many frames.
    pub count: Option<u64>,
    /// Stop at this TSC value.
    pub until_tsc: Option<u64>,
    /// Frames per burst (1..=64).
    pub burst: usize,
}

/// What a transmitter did.
#[derive(Debug, Clone, Copy, Default)]
pub struct TxResult {
    /// Frames the queue took.
    pub packets: u64,
    /// Bytes the queue took (without FCS).
    pub bytes: u64,
    /// Frames built but not taken when stopped.
    pub dropped: u64,
    /// Times the pool had no mbufs.
    pub alloc_failures: u64,
    /// TSC at the first and after the last burst.
    pub start_tsc: u64,
    /// TSC when the loop ended.
    pub end_tsc: u64,
}

/// Burst size for a rate: small bursts at low rates so frames stay spread out (a burst at
/// most every ~20 µs), up to `max`.
pub fn burst_for(pps: Option<f64>, max: usize) -> usize {
    match pps {
        None => max,
        Some(p) => ((p * 20e-6) as usize).clamp(1, max),
    }
}

/// Runs a transmitter until its plan is done or `stop` is set.
///
/// Pacing: the burst that starts with frame `k` is due at `start + k * hz / pps`; the loop spins
/// to that deadline, so bursts are spread evenly and the long-run rate is exact (a core that
/// was descheduled catches up burst by burst).
pub fn run_tx(
    queue: &mut dyn TxQueue,
    pool: &Mempool,
    factory: &mut FrameFactory,
    plan: &TxPlan,
    counters: &Counters,
    stop: &AtomicBool,
) -> TxResult {
    let hz = tsc::hz() as f64;
    let tpp = plan.pps.map(|p| hz / p);
    let yield_ticks = tsc::ticks(std::time::Duration::from_micros(50));
    let burst_max = plan.burst.clamp(1, ferroplane_mempool::MAX_BURST);
    let mut burst = MbufBurst::new();
    let mut r = TxResult::default();
    let mut seq = 0u64;
    let start = tsc::now();
    r.start_tsc = start;
    'outer: loop {
        let remaining = plan.count.map_or(u64::MAX, |c| c - seq);
        if remaining == 0 || stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(tpp) = tpp {
            let due = start + (seq as f64 * tpp) as u64;
            let mut spins = 0u32;
            loop {
                let t = tsc::now();
                if t >= due {
                    break;
                }
                spins = spins.wrapping_add(1);
                if spins % 1024 == 0 && stop.load(Ordering::Relaxed) {
                    break 'outer;
                }
                // Far from the deadline: give the core away (cores are shared); spin the rest.
                if due - t > yield_ticks {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
        let now = tsc::now();
        if plan.until_tsc.is_some_and(|u| now >= u) {
            break;
        }
        let n = (burst_max as u64).min(remaining) as usize;
        if pool.alloc_bulk(&mut burst, n) == 0 {
            r.alloc_failures += 1;
            std::hint::spin_loop();
            continue;
        }
        let mut bad = false;
        for m in burst.iter_mut() {
            let len = factory.next_len();
            let ok = match m.append(len) {
                Ok(buf) => factory.write(buf, plan.stream, seq, now).is_ok(),
                Err(_) => false,
            };
            if ok {
                seq += 1;
            } else {
                // Cannot happen with a pool the session checked; drop the frame, never send it.
                let l = m.len();
                let _ = m.trim(l);
                bad = true;
            }
        }
        if bad {
            burst.retain_mut(|m| !m.is_empty());
            r.alloc_failures += 1;
        }
        let mut bytes = 0u64;
        for m in burst.iter() {
            bytes += m.len() as u64;
        }
        let mut taken = 0usize;
        loop {
            taken += queue.tx_burst(&mut burst);
            if burst.is_empty() {
                break;
            }
            if stop.load(Ordering::Relaxed) {
                for m in burst.iter() {
                    bytes -= m.len() as u64;
                }
                r.dropped += burst.len() as u64;
                Counters::add(&counters.other, burst.len() as u64);
                burst.clear();
                break;
            }
            queue.flush();
            std::hint::spin_loop();
        }
        r.packets += taken as u64;
        r.bytes += bytes;
        Counters::add(&counters.packets, taken as u64);
        Counters::add(&counters.bytes, bytes);
    }
    queue.flush();
    r.end_tsc = tsc::now();
    r
}

/// Latency histogram bounds: 1 ns .. 100 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("static histogram bounds are valid")
}

/// Per-stream results of a receiver.
#[derive(Debug, Clone, Default)]
pub struct RxResult {
    /// Frames received.
    pub packets: u64,
    /// Bytes received (without FCS).
    pub bytes: u64,
    /// Frames without a pktgen stamp.
    pub foreign: u64,
    /// Sequence tracking per stream id.
    pub streams: std::collections::BTreeMap<u16, SeqTracker>,
    /// One-way latency in nanoseconds.
    pub latency: Option<Histogram<u64>>,
    /// TSC of the first and last frame received.
    pub first_tsc: u64,
    /// TSC of the last frame received.
    pub last_tsc: u64,
}

/// Runs a receiver until `stop` is set. Every second it adds its recent latencies to `live`
/// (one lock a second, none per packet). While the queue is empty it follows `idle_policy`
/// through the engine's [`Idle`] (with `Adaptive`, a long-idle receiver sleeps up to
/// [`MAX_SLEEP`](ferroplane::idle::MAX_SLEEP) between polls, which bounds the latency it adds;
/// `Yield` and `Busy` add none).
pub fn run_rx(
    queue: &mut dyn RxQueue,
    idle_policy: IdlePolicy,
    counters: &Counters,
    live: &Arc<Mutex<Histogram<u64>>>,
    stop: &AtomicBool,
) -> RxResult {
    let ns_per_tick = 1e9 / tsc::hz() as f64;
    let publish_every = tsc::hz();
    let mut next_publish = tsc::now() + publish_every;
    let mut hist = new_histogram();
    let mut recent = new_histogram();
    let mut r = RxResult::default();
    let mut burst = MbufBurst::new();
    let mut streams: std::collections::BTreeMap<u16, SeqTracker> = Default::default();
    let mut idle = Idle::new(idle_policy);
    let mut empty = 0u32;
    loop {
        let n = queue.rx_burst(&mut burst);
        let now = tsc::now();
        if n == 0 {
            empty = empty.wrapping_add(1);
            if empty % 64 == 0 && stop.load(Ordering::Relaxed) {
                break;
            }
            if now >= next_publish {
                next_publish = now + publish_every;
                publish(live, &mut recent);
            }
            idle.empty_poll();
            continue;
        }
        empty = 0;
        idle.busy();
        if r.first_tsc == 0 {
            r.first_tsc = now;
        }
        r.last_tsc = now;
        let (mut bytes, mut foreign) = (0u64, 0u64);
        for m in burst.iter() {
            let data = m.data();
            bytes += m.pkt_len() as u64;
            match payload::decode(data) {
                Some(st) => {
                    streams.entry(st.stream).or_default().record(st.seq);
                    if st.tsc != 0 && now >= st.tsc {
                        let ns = ((now - st.tsc) as f64 * ns_per_tick) as u64;
                        let ns = ns.max(1);
                        let _ = hist.record(ns);
                        let _ = recent.record(ns);
                    }
                }
                None => foreign += 1,
            }
        }
        burst.clear();
        r.packets += n as u64;
        r.bytes += bytes;
        r.foreign += foreign;
        Counters::add(&counters.packets, n as u64);
        Counters::add(&counters.bytes, bytes);
        Counters::add(&counters.other, foreign);
        if now >= next_publish {
            next_publish = now + publish_every;
            publish(live, &mut recent);
        }
    }
    publish(live, &mut recent);
    r.streams = streams;
    r.latency = Some(hist);
    r
}

fn publish(live: &Arc<Mutex<Histogram<u64>>>, recent: &mut Histogram<u64>) {
    if recent.is_empty() {
        return;
    }
    if let Ok(mut h) = live.lock() {
        let _ = h.add(&*recent);
    }
    recent.reset();
}
