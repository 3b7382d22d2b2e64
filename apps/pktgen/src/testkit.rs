//! Test devices: a forwarder between two ports that can rate-limit, delay, drop, duplicate and
//! reorder, so that pktgen's measurements can be checked against known behaviour.
//!
//! - [`Forwarder`]: a thread between an RX and a TX queue (in-process tests).
//! - [`RateLimitedFwd`]: the same rate limit as an engine [`Worker`], forwarding port 0 <-> 1;
//!   the `pktgen-dut` binary runs it on the engine, as a device under test with a known
//!   capacity for the RFC 2544 search.
//!
//! Both meter frames by the transmit timestamp pktgen stamped in them ([`TokenBucket`]), so
//! their own scheduling (a late poll that finds a whole block of frames) does not count as a
//! burst above the rate; unstamped frames are metered by arrival time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use ferroplane::IdlePolicy;
use ferroplane::idle::Idle;
use ferroplane_mempool::{Mbuf, MbufBurst};
use ferroplane_pmd::{RxQueue, TxQueue};

use ferroplane::{BurstCtx, Worker};

use crate::payload;
use crate::tsc;

/// A token bucket of `pps` tokens per second and `depth_secs` of depth, refilled by the time
/// between the frames' own timestamps (TSC ticks).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    pps: f64,
    hz: f64,
    depth: f64,
    tokens: f64,
    last: Option<u64>,
}

impl TokenBucket {
    /// A full bucket. Rates and depths that are not positive give a bucket of one token
    /// refilled at `pps.max(0)`.
    pub fn new(pps: f64, depth_secs: f64) -> Self {
        let pps = if pps.is_finite() { pps.max(0.0) } else { 0.0 };
        let depth = (pps * depth_secs).max(1.0);
        TokenBucket {
            pps,
            hz: tsc::hz() as f64,
            depth,
            tokens: depth,
            last: None,
        }
    }

    /// Whether a frame stamped at `ts` (TSC) may pass; takes its token if so. Timestamps that
    /// go backwards (reordered frames) add nothing.
    pub fn admit(&mut self, ts: u64) -> bool {
        if let Some(l) = self.last {
            self.tokens =
                (self.tokens + ts.saturating_sub(l) as f64 / self.hz * self.pps).min(self.depth);
        }
        self.last = Some(ts.max(self.last.unwrap_or(0)));
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// The TSC a frame was stamped with by pktgen, or `now` for other frames.
fn stamp_or(data: &[u8], now: u64) -> u64 {
    payload::decode(data).map_or(now, |s| if s.tsc != 0 { s.tsc } else { now })
}

/// An engine worker that forwards port 0 <-> port 1 (`rx_port ^ 1`) at most `pps` frames per
/// second per lcore and drops the excess (drop reason [`OVER_RATE`](Self::OVER_RATE)); frames
/// from a port without a partner are dropped as [`NO_PORT`](Self::NO_PORT).
#[derive(Debug, Clone)]
pub struct RateLimitedFwd {
    bucket: TokenBucket,
}

impl RateLimitedFwd {
    /// Drop reason index of frames over the rate.
    pub const OVER_RATE: usize = 0;
    /// Drop reason index of frames whose output port does not exist.
    pub const NO_PORT: usize = 1;

    /// A forwarder of `pps` frames per second with a bucket `depth_secs` deep.
    pub fn new(pps: f64, depth_secs: f64) -> Self {
        RateLimitedFwd {
            bucket: TokenBucket::new(pps, depth_secs),
        }
    }
}

impl Worker for RateLimitedFwd {
    fn drop_reasons(&self) -> Vec<String> {
        vec!["over-rate".into(), "no-port".into()]
    }

    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        let out = ctx.rx_port() ^ 1;
        let now = tsc::now();
        for m in burst.drain(..) {
            if out >= ctx.nb_ports() {
                ctx.drop(m, Self::NO_PORT);
            } else if self.bucket.admit(stamp_or(m.data(), now)) {
                ctx.tx(out, m);
            } else {
                ctx.drop(m, Self::OVER_RATE);
            }
        }
    }
}

/// How the forwarder misbehaves.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Behaviour {
    /// Forward at most this many frames per second (token bucket driven by the frames' own
    /// transmit timestamps, so the forwarder's scheduling does not matter); excess is dropped.
    pub max_pps: Option<f64>,
    /// Token bucket depth in seconds of `max_pps`.
    pub bucket_secs: f64,
    /// Hold every frame this many microseconds before sending it on.
    pub delay_us: u64,
    /// Drop every n-th frame.
    pub drop_every: Option<u64>,
    /// Send every n-th frame twice.
    pub dup_every: Option<u64>,
    /// Swap every n-th frame with the next one.
    pub swap_every: Option<u64>,
}

/// A running forwarder thread; [`Forwarder::stop`] ends it and returns its counters.
#[derive(Debug)]
pub struct Forwarder {
    stop: Arc<AtomicBool>,
    forwarded: Arc<AtomicU64>,
    handle: Option<JoinHandle<(u64, u64)>>,
}

impl Forwarder {
    /// Starts forwarding from `rx` to `tx`.
    pub fn start(mut rx: Box<dyn RxQueue>, mut tx: Box<dyn TxQueue>, b: Behaviour) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let forwarded = Arc::new(AtomicU64::new(0));
        let (s, f) = (stop.clone(), forwarded.clone());
        let handle = std::thread::spawn(move || run(rx.as_mut(), tx.as_mut(), &b, &s, &f));
        Forwarder {
            stop,
            forwarded,
            handle: Some(handle),
        }
    }

    /// Frames sent on so far.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }

    /// Stops the thread; returns (frames forwarded, frames dropped).
    pub fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or((0, 0))
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn send(tx: &mut dyn TxQueue, m: Mbuf, stop: &AtomicBool) -> bool {
    let mut b = MbufBurst::new();
    let _ = b.push(m);
    while !b.is_empty() {
        tx.tx_burst(&mut b);
        if stop.load(Ordering::Relaxed) {
            return false;
        }
    }
    true
}

fn run(
    rx: &mut dyn RxQueue,
    tx: &mut dyn TxQueue,
    b: &Behaviour,
    stop: &AtomicBool,
    forwarded: &AtomicU64,
) -> (u64, u64) {
    let delay = tsc::ticks(std::time::Duration::from_micros(b.delay_us));
    let mut bucket = b.max_pps.map(|p| TokenBucket::new(p, b.bucket_secs));
    let mut held: VecDeque<(u64, Mbuf)> = VecDeque::new();
    let mut swap: Option<Mbuf> = None;
    let (mut n, mut fwd, mut dropped) = (0u64, 0u64, 0u64);
    let mut burst = MbufBurst::new();
    // Frames held for a delay must leave on time: back off only with nothing held.
    let mut idle = Idle::new(IdlePolicy::Yield);
    while !stop.load(Ordering::Relaxed) {
        if rx.rx_burst(&mut burst) == 0 && held.is_empty() && swap.is_none() {
            idle.empty_poll();
        } else {
            idle.busy();
        }
        let now = tsc::now();
        for m in burst.drain(..) {
            n += 1;
            if let Some(bucket) = &mut bucket
                && !bucket.admit(stamp_or(m.data(), now))
            {
                dropped += 1;
                continue;
            }
            if b.drop_every.is_some_and(|k| n % k == 0) {
                dropped += 1;
                continue;
            }
            if b.dup_every.is_some_and(|k| n % k == 0) {
                held.push_back((now + delay, m.clone()));
            }
            if b.swap_every.is_some_and(|k| n % k == 0) && swap.is_none() {
                swap = Some(m);
                continue;
            }
            held.push_back((now + delay, m));
            if let Some(s) = swap.take() {
                held.push_back((now + delay, s));
            }
        }
        while held.front().is_some_and(|(due, _)| tsc::now() >= *due) {
            let (_, m) = held.pop_front().expect("front exists");
            if send(tx, m, stop) {
                fwd += 1;
                forwarded.store(fwd, Ordering::Relaxed);
            }
        }
        if held.is_empty() {
            tx.flush();
        }
    }
    // Frames still held are freed here (dropped, counted).
    dropped += held.len() as u64 + u64::from(swap.is_some());
    (fwd, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_passes_its_depth_then_its_rate() {
        let hz = tsc::hz();
        // 1000 frames/s, 10 ms deep: 10 tokens.
        let mut b = TokenBucket::new(1_000.0, 0.01);
        let t0 = 1_000_000u64;
        // A burst at one instant: the depth passes, the rest does not.
        let passed = (0..50).filter(|_| b.admit(t0)).count();
        assert_eq!(passed, 10);
        // Then frames 0.5 ms apart (2000/s): every other one passes, one second long.
        let step = hz / 2_000;
        let passed = (1..=2_000u64).filter(|i| b.admit(t0 + i * step)).count();
        assert!(
            (990..=1_010).contains(&passed),
            "{passed} of 2000 at 2x the rate"
        );
        // A timestamp from the past (a reordered frame) adds no tokens.
        let last = t0 + 2_000 * step;
        while b.admit(last) {}
        assert!(!b.admit(t0));
        // At the rate (a hair under, against rounding), everything passes.
        let mut b = TokenBucket::new(1_000.0, 0.0);
        let step = hz / 1_000 + 1;
        assert!((0..500u64).all(|i| b.admit(t0 + i * step)));
    }

    #[test]
    fn bad_rates_give_a_bucket_that_passes_little() {
        for pps in [f64::NAN, -5.0, 0.0] {
            let mut b = TokenBucket::new(pps, 1.0);
            let passed = (0..100u64).filter(|i| b.admit(i * 1_000_000)).count();
            assert_eq!(passed, 1, "pps {pps}");
        }
    }
}
