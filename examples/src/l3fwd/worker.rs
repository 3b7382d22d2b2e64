//! The l3fwd engine worker: runs the [`Router`] over each received burst of mbufs.
//!
//! Per burst (DPDK l3fwd's shape): read the IPv4 keys of every packet while prefetching the
//! packets ahead, look them all up at once ([`Router::lookup_hints`]: LPM or exact-match bulk
//! lookup), then run each packet through the router with its result. Everything that is not
//! plain IPv4 forwarding (ARP, ND, ICMP, local delivery, errors) takes the router's per-packet
//! path. A timer tick ([`Worker::on_tick`]) keeps neighbour retries, held-packet timeouts, LPM
//! quiescent states and configuration changes going without traffic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferroplane::{BurstCtx, Mbuf, MbufBurst, Mempool, Worker};

use super::DropReason;
use super::router::{BurstHints, Output, Router};

/// Packets prefetched ahead while reading the burst's keys.
const PREFETCH_AHEAD: usize = 8;
/// Period of the timer tick.
pub const TICK: Duration = Duration::from_millis(1);

/// One lcore's l3fwd worker.
#[derive(Debug)]
pub struct L3fwdWorker {
    router: Router<Mbuf>,
    pool: Mempool,
    epoch: Arc<Instant>,
    hints: Box<BurstHints>,
}

impl L3fwdWorker {
    /// A worker routing with `router`, allocating replies from `pool`; times are measured from
    /// `epoch`.
    pub fn new(router: Router<Mbuf>, pool: Mempool, epoch: Arc<Instant>) -> Self {
        L3fwdWorker {
            router,
            pool,
            epoch,
            hints: Box::default(),
        }
    }
}

struct CtxOutput<'a, 'b> {
    ctx: &'a mut BurstCtx<'b>,
    pool: &'a Mempool,
}

impl Output<Mbuf> for CtxOutput<'_, '_> {
    #[inline]
    fn tx(&mut self, port: u16, p: Mbuf) {
        self.ctx.tx(port, p)
    }
    #[inline]
    fn drop(&mut self, p: Mbuf, reason: DropReason) {
        self.ctx.drop(p, reason.index())
    }
    fn alloc(&mut self) -> Option<Mbuf> {
        self.pool.alloc()
    }
}

impl Worker for L3fwdWorker {
    fn drop_reasons(&self) -> Vec<String> {
        DropReason::ALL
            .iter()
            .map(|r| r.name().to_string())
            .collect()
    }

    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        // One clock read per burst (vDSO, no syscall), and none without router mode: only
        // neighbour timers and the ICMP rate limit use the time.
        let now = if self.router.config().router {
            self.epoch.elapsed().as_nanos() as u64
        } else {
            0
        };
        let rx_port = ctx.rx_port();
        let mut out = CtxOutput {
            ctx,
            pool: &self.pool,
        };
        self.router.begin_burst(now, &mut out);
        if !self.router.bulk() {
            for m in burst.drain(..) {
                self.router.handle(rx_port, m, now, &mut out);
            }
            return;
        }
        let hints = &mut *self.hints;
        hints.clear();
        let mut ahead = burst.iter().skip(PREFETCH_AHEAD);
        for m in burst.iter() {
            if let Some(a) = ahead.next() {
                a.prefetch();
            }
            hints.push(m.data());
        }
        self.router.lookup_hints(hints);
        for (i, m) in burst.drain(..).enumerate() {
            self.router
                .handle_hinted(rx_port, m, now, hints.get(i), &mut out);
        }
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(TICK)
    }

    fn on_tick(&mut self, ctx: &mut BurstCtx<'_>, _now_tsc: u64) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let mut out = CtxOutput {
            ctx,
            pool: &self.pool,
        };
        self.router.begin_burst(now, &mut out);
    }
}
