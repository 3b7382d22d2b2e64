//! The run-to-completion worker loop and its TX buffering.
//!
//! An application implements [`Worker`]. For each lcore the engine runs [`LcoreLoop::run`]:
//! receive a burst from each source (an RX queue, or a pipeline ring), prefetch the first
//! packets' data, hand the burst to [`Worker::process`], and buffer what the worker sends per
//! output (TX queue or ring). A buffer is sent when it holds a full burst, and every buffer is
//! sent when the drain timer expires (checked once per loop iteration on the TSC, like l3fwd's
//! `BURST_TX_DRAIN_US`). What a TX queue does not take is freed and counted; what a full ring
//! does not take is retried or freed and counted as back-pressure.
//!
//! Every mbuf is accounted for: received from ports = sent + dropped by the application +
//! dropped by TX + dropped on full rings + left in rings at exit (+ still buffered or in a ring
//! while running).
//! Dequeues from pipeline rings are counted apart (`ring_rx`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferroplane_mempool::{Mbuf, MbufBurst, MbufConsumer, MbufProducer};
use ferroplane_pmd::{RxQueue, TxQueue};

use crate::config::IdlePolicy;
use crate::idle::Idle;
use crate::stats::LcoreStats;
use crate::tsc;

/// The application's per-lcore packet logic.
pub trait Worker: Send {
    /// Whether the engine prefetches the first packets' data before `process` (return `false`
    /// for workers that never read packet data, like io forwarding). Read once at start.
    fn prefetch(&self) -> bool {
        true
    }

    /// Names of the drop reasons this worker uses with [`BurstCtx::drop`], by index (at most
    /// [`crate::stats::MAX_DROP_REASONS`]).
    fn drop_reasons(&self) -> Vec<String> {
        Vec::new()
    }

    /// Handles one received burst: each mbuf is sent with [`BurstCtx::tx`] /
    /// [`BurstCtx::enqueue`] or dropped with [`BurstCtx::drop`]. Mbufs left in `burst` when this
    /// returns are freed and counted as application drops of reason "other".
    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst);

    /// How often [`Worker::on_tick`] runs; `None` (the default) never calls it. Read once at
    /// start.
    fn tick_interval(&self) -> Option<Duration> {
        None
    }

    /// Timer work that must happen without traffic (retries, timeouts, LPM quiescent
    /// states): called between polls, at most once per [`Worker::tick_interval`], whether or
    /// not packets arrived. `now_tsc` is the TSC reading of this loop iteration
    /// ([`crate::tsc::to_ns`] converts). The context's RX port and queue are `u16::MAX`.
    fn on_tick(&mut self, ctx: &mut BurstCtx<'_>, now_tsc: u64) {
        let _ = (ctx, now_tsc);
    }
}

/// What an lcore polls.
pub enum Source {
    /// An RX queue of a port.
    Queue {
        /// Port id.
        port: u16,
        /// Queue id.
        queue: u16,
        /// The queue.
        rxq: Box<dyn RxQueue>,
    },
    /// A pipeline ring (the consumer side).
    Ring {
        /// Ring id (its index among the engine's rings).
        id: u16,
        /// The ring's consumer handle.
        ring: MbufConsumer,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Queue { port, queue, .. } => write!(f, "Queue({port}/{queue})"),
            Source::Ring { id, .. } => write!(f, "Ring({id})"),
        }
    }
}

/// What to do when a pipeline ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackPressure {
    /// Free what does not fit and count it (`ring_full`).
    #[default]
    Drop,
    /// Retry up to this many times (with a pause between), then drop and count.
    Retry(u32),
}

/// One TX buffer: mbufs for one (port, queue) owned by this lcore (on its own cache lines).
#[repr(align(64))]
struct TxBuffer {
    port: u16,
    txq: Option<Box<dyn TxQueue>>,
    buf: MbufBurst,
}

/// One ring output buffer.
#[repr(align(64))]
struct RingOut {
    ring: MbufProducer,
    buf: MbufBurst,
    policy: BackPressure,
}

/// The outputs of one lcore.
struct Outputs {
    tx: Vec<TxBuffer>,
    rings: Vec<RingOut>,
    threshold: usize,
}

impl Outputs {
    #[inline]
    fn flush_tx(tb: &mut TxBuffer, stats: &LcoreStats) {
        let n = tb.buf.len();
        if n == 0 {
            return;
        }
        let sent = match tb.txq.as_mut() {
            Some(q) => q.tx_burst(&mut tb.buf),
            None => 0,
        };
        let port = &stats.ports[tb.port as usize];
        port.tx_packets.add(sent as u64);
        stats.core.tx_packets.add(sent as u64);
        let left = tb.buf.len();
        if left > 0 {
            port.tx_dropped.add(left as u64);
            stats.core.tx_dropped.add(left as u64);
            tb.buf.clear();
        }
    }

    #[inline]
    fn flush_ring(ro: &mut RingOut, stats: &LcoreStats) {
        if ro.buf.is_empty() {
            return;
        }
        ro.ring.enqueue_burst(&mut ro.buf);
        if let BackPressure::Retry(times) = ro.policy {
            let mut tries = 0;
            while !ro.buf.is_empty() && tries < times {
                std::hint::spin_loop();
                ro.ring.enqueue_burst(&mut ro.buf);
                tries += 1;
            }
        }
        let left = ro.buf.len();
        if left > 0 {
            stats.core.ring_full.add(left as u64);
            ro.buf.clear();
        }
    }

    fn flush_all(&mut self, stats: &LcoreStats) {
        for ro in &mut self.rings {
            Self::flush_ring(ro, stats);
        }
        for tb in &mut self.tx {
            Self::flush_tx(tb, stats);
            if let Some(q) = tb.txq.as_mut() {
                q.flush();
            }
        }
    }
}

/// The context of one burst: where it came from, and where packets go.
pub struct BurstCtx<'a> {
    lcore: u32,
    port: u16,
    queue: u16,
    ring: Option<u16>,
    out: &'a mut Outputs,
    stats: &'a LcoreStats,
}

impl BurstCtx<'_> {
    /// The lcore running this burst.
    #[inline]
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// The port the burst was received on (for a ring source: `u16::MAX`).
    #[inline]
    pub fn rx_port(&self) -> u16 {
        self.port
    }

    /// The RX queue the burst was received on (for a ring source: `u16::MAX`).
    #[inline]
    pub fn rx_queue(&self) -> u16 {
        self.queue
    }

    /// The ring the burst was dequeued from, if it came from a pipeline ring.
    #[inline]
    pub fn rx_ring(&self) -> Option<u16> {
        self.ring
    }

    /// Number of ports this lcore can send to.
    #[inline]
    pub fn nb_ports(&self) -> u16 {
        self.out.tx.len() as u16
    }

    /// Number of pipeline rings this lcore can enqueue to.
    #[inline]
    pub fn nb_rings(&self) -> u16 {
        self.out.rings.len() as u16
    }

    /// Buffers `m` for sending on `port`; a full buffer is sent at once. An unknown port drops
    /// the mbuf, counted as reason "other".
    #[inline]
    pub fn tx(&mut self, port: u16, m: Mbuf) {
        let Some(tb) = self.out.tx.get_mut(port as usize) else {
            self.stats.count_drop(usize::MAX, 1);
            drop(m);
            return;
        };
        if let Err(m) = tb.buf.push(m) {
            // Cannot happen while the threshold is below the burst capacity; stay exact anyway.
            Outputs::flush_tx(tb, self.stats);
            if let Err(m) = tb.buf.push(m) {
                self.stats.core.tx_dropped.add(1);
                drop(m);
            }
        }
        if tb.buf.len() >= self.out.threshold {
            Outputs::flush_tx(tb, self.stats);
        }
    }

    /// Buffers every mbuf of `burst` for `port` (io forwarding), leaving `burst` empty.
    #[inline]
    pub fn tx_all(&mut self, port: u16, burst: &mut MbufBurst) {
        if self.out.tx.get(port as usize).is_none() {
            let n = burst.len();
            burst.clear();
            self.stats.count_drop(usize::MAX, n as u64);
            return;
        }
        let threshold = self.out.threshold;
        let tb = &mut self.out.tx[port as usize];
        if tb.buf.is_empty() && burst.len() >= threshold {
            // Fast path: send the burst as it is, without copying it into the buffer.
            std::mem::swap(&mut tb.buf, burst);
            Outputs::flush_tx(tb, self.stats);
            return;
        }
        for m in burst.drain(..) {
            self.tx(port, m);
        }
    }

    /// Buffers `m` for pipeline ring `ring`; a full buffer is enqueued at once. An unknown
    /// ring drops the mbuf, counted as reason "other".
    #[inline]
    pub fn enqueue(&mut self, ring: u16, m: Mbuf) {
        let Some(ro) = self.out.rings.get_mut(ring as usize) else {
            self.stats.count_drop(usize::MAX, 1);
            drop(m);
            return;
        };
        if let Err(m) = ro.buf.push(m) {
            Outputs::flush_ring(ro, self.stats);
            if let Err(m) = ro.buf.push(m) {
                self.stats.core.ring_full.add(1);
                drop(m);
            }
        }
        if ro.buf.len() >= self.out.threshold {
            Outputs::flush_ring(ro, self.stats);
        }
    }

    /// Drops `m` for the worker's drop reason `reason` (an index into
    /// [`Worker::drop_reasons`]; others count as "other").
    #[inline]
    pub fn drop(&mut self, m: Mbuf, reason: usize) {
        self.stats.count_drop(reason, 1);
        drop(m);
    }
}

impl<W: Worker + ?Sized> Worker for Box<W> {
    fn prefetch(&self) -> bool {
        (**self).prefetch()
    }
    fn drop_reasons(&self) -> Vec<String> {
        (**self).drop_reasons()
    }
    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        (**self).process(ctx, burst)
    }
    fn tick_interval(&self) -> Option<Duration> {
        (**self).tick_interval()
    }
    fn on_tick(&mut self, ctx: &mut BurstCtx<'_>, now_tsc: u64) {
        (**self).on_tick(ctx, now_tsc)
    }
}

/// Parameters of the loop.
#[derive(Debug, Clone, Copy)]
pub struct LoopParams {
    /// RX burst size and TX flush threshold (at most [`crate::config::MAX_BURST`]): each poll
    /// receives into an `MbufBurst` limited to this many packets.
    pub burst: usize,
    /// Drain period for partly filled buffers.
    pub drain: Duration,
    /// Idle policy.
    pub idle: IdlePolicy,
}

impl Default for LoopParams {
    fn default() -> Self {
        LoopParams {
            burst: 32,
            drain: Duration::from_micros(100),
            idle: IdlePolicy::Busy,
        }
    }
}

/// Packets prefetched ahead of `process`.
const PREFETCH_AHEAD: usize = 8;

/// Everything one lcore owns: its sources, TX queues, ring outputs and statistics.
#[repr(align(64))]
pub struct LcoreLoop {
    lcore: u32,
    sources: Vec<Source>,
    out: Outputs,
    stats: Arc<LcoreStats>,
    params: LoopParams,
}

impl std::fmt::Debug for LcoreLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LcoreLoop")
            .field("lcore", &self.lcore)
            .field("sources", &self.sources)
            .field("tx_ports", &self.out.tx.len())
            .field("rings", &self.out.rings.len())
            .finish()
    }
}

impl LcoreLoop {
    /// A loop for `lcore` sending to `txqs[port]` (None: that port cannot be sent to; mbufs
    /// sent there are counted as TX drops), with `stats` sized for `txqs.len()` ports.
    pub fn new(
        lcore: u32,
        sources: Vec<Source>,
        txqs: Vec<Option<Box<dyn TxQueue>>>,
        stats: Arc<LcoreStats>,
        params: LoopParams,
    ) -> Self {
        let burst = params.burst.clamp(1, crate::config::MAX_BURST);
        let tx = txqs
            .into_iter()
            .enumerate()
            .map(|(port, txq)| TxBuffer {
                port: port as u16,
                txq,
                buf: MbufBurst::new(),
            })
            .collect();
        LcoreLoop {
            lcore,
            sources,
            out: Outputs {
                tx,
                rings: Vec::new(),
                threshold: burst,
            },
            stats,
            params: LoopParams { burst, ..params },
        }
    }

    /// Adds a pipeline ring output; returns its index for [`BurstCtx::enqueue`].
    pub fn add_ring_output(&mut self, ring: MbufProducer, policy: BackPressure) -> u16 {
        self.out.rings.push(RingOut {
            ring,
            buf: MbufBurst::new(),
            policy,
        });
        (self.out.rings.len() - 1) as u16
    }

    /// The lcore id.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// The statistics this loop writes.
    pub fn stats(&self) -> &Arc<LcoreStats> {
        &self.stats
    }

    /// Runs until `stop` is set, then sends what is buffered. Stops at a burst boundary: a
    /// received burst is always processed and its outputs flushed.
    pub fn run<W: Worker>(&mut self, worker: &mut W, stop: &AtomicBool) {
        let drain = tsc::ticks(self.params.drain).max(1);
        let mut idle = Idle::new(self.params.idle);
        // RX takes at most `burst` packets per poll (32 by default, as in l3fwd).
        let mut burst = MbufBurst::with_limit(self.params.burst);
        let stats = &*self.stats;
        let prefetch_data = worker.prefetch();
        // u64::MAX: no ticks (the comparison below never holds).
        let tick = worker
            .tick_interval()
            .map_or(u64::MAX, |d| tsc::ticks(d).max(1));
        let mut last_drain = tsc::now();
        let mut last_tick = last_drain;
        while !stop.load(Ordering::Relaxed) {
            let mut got = 0usize;
            for src in self.sources.iter_mut() {
                let (port, queue, ring, n) = match src {
                    Source::Queue { port, queue, rxq } => {
                        (*port, *queue, None, rxq.rx_burst(&mut burst))
                    }
                    Source::Ring { id, ring } => (
                        u16::MAX,
                        u16::MAX,
                        Some(*id),
                        ring.dequeue_burst(&mut burst),
                    ),
                };
                if n == 0 {
                    continue;
                }
                got += n;
                if ring.is_some() {
                    stats.core.ring_rx.add(n as u64);
                } else {
                    stats.core.rx_packets.add(n as u64);
                    if let Some(p) = stats.ports.get(port as usize) {
                        p.rx_packets.add(n as u64);
                    }
                }
                if prefetch_data {
                    for m in burst.iter().take(PREFETCH_AHEAD) {
                        m.prefetch();
                    }
                }
                let mut ctx = BurstCtx {
                    lcore: self.lcore,
                    port,
                    queue,
                    ring,
                    out: &mut self.out,
                    stats,
                };
                worker.process(&mut ctx, &mut burst);
                if !burst.is_empty() {
                    stats.count_drop(usize::MAX, burst.len() as u64);
                    burst.clear();
                }
            }
            stats.core.polls.add(1);
            let now = tsc::now();
            if now.wrapping_sub(last_tick) >= tick {
                last_tick = now;
                let mut ctx = BurstCtx {
                    lcore: self.lcore,
                    port: u16::MAX,
                    queue: u16::MAX,
                    ring: None,
                    out: &mut self.out,
                    stats,
                };
                worker.on_tick(&mut ctx, now);
            }
            if now.wrapping_sub(last_drain) >= drain {
                self.out.flush_all(stats);
                last_drain = now;
            }
            if got == 0 {
                stats.core.empty_polls.add(1);
                let ns = idle.empty_poll();
                if ns > 0 {
                    stats.core.idle_ns.add(ns);
                }
            } else {
                idle.busy();
            }
        }
        self.out.flush_all(stats);
    }

    /// Sends what is buffered (TX buffers and ring outputs).
    pub fn flush(&mut self) {
        self.out.flush_all(&self.stats);
    }

    /// Frees what is left in the pipeline rings this lcore consumes, counting it as
    /// `exit_dropped`; call once every producer has stopped. Returns how many.
    pub fn drain_ring_sources(&mut self) -> u64 {
        let mut burst = MbufBurst::new();
        let mut n = 0u64;
        for src in &mut self.sources {
            if let Source::Ring { ring, .. } = src {
                while ring.dequeue_burst(&mut burst) > 0 {
                    n += burst.len() as u64;
                    burst.clear();
                }
            }
        }
        self.stats.core.exit_dropped.add(n);
        n
    }

    /// Sends what is buffered and gives back the sources and TX queues (for closing).
    pub fn finish(mut self) -> (Vec<Source>, Vec<Option<Box<dyn TxQueue>>>) {
        self.out.flush_all(&self.stats);
        let txqs = self.out.tx.drain(..).map(|tb| tb.txq).collect();
        (std::mem::take(&mut self.sources), txqs)
    }
}

/// True once `stop` is set; a helper for workers that want to check between bursts.
pub fn should_stop(stop: &AtomicBool) -> bool {
    stop.load(Ordering::Relaxed)
}
