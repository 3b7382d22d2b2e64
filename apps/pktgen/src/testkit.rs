//! Test devices: a forwarder between two ports that can rate-limit, delay, drop, duplicate and
//! reorder, so that pktgen's measurements can be checked against known behaviour.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use ferroplane_mempool::{Mbuf, MbufBurst};
use ferroplane_pmd::{RxQueue, TxQueue};

use crate::payload;
use crate::tsc;

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
    let hz = tsc::hz() as f64;
    let delay = tsc::ticks(std::time::Duration::from_micros(b.delay_us));
    let depth = b.max_pps.map(|p| (p * b.bucket_secs).max(1.0));
    let mut tokens = depth.unwrap_or(0.0);
    let mut last_ts: Option<u64> = None;
    let mut held: VecDeque<(u64, Mbuf)> = VecDeque::new();
    let mut swap: Option<Mbuf> = None;
    let (mut n, mut fwd, mut dropped) = (0u64, 0u64, 0u64);
    let mut burst = MbufBurst::new();
    let mut idle = 0u32;
    while !stop.load(Ordering::Relaxed) {
        if rx.rx_burst(&mut burst) == 0 {
            idle += 1;
            if idle >= crate::engine::IDLE_YIELD {
                std::thread::yield_now();
            }
        } else {
            idle = 0;
        }
        let now = tsc::now();
        for m in burst.drain(..) {
            n += 1;
            if let (Some(p), Some(d)) = (b.max_pps, depth) {
                let ts = payload::decode(m.data()).map_or(now, |s| s.tsc);
                if let Some(l) = last_ts {
                    tokens = (tokens + ts.saturating_sub(l) as f64 / hz * p).min(d);
                }
                last_ts = Some(ts.max(last_ts.unwrap_or(0)));
                if tokens < 1.0 {
                    dropped += 1;
                    continue;
                }
                tokens -= 1.0;
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
