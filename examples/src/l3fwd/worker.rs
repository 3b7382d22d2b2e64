//! The l3fwd engine worker: runs the [`Router`] over each received burst of mbufs.

use std::sync::Arc;
use std::time::Instant;

use ferroplane::{BurstCtx, Mbuf, MbufBurst, Mempool, Worker};

use super::DropReason;
use super::router::{Output, Router};

/// One lcore's l3fwd worker.
#[derive(Debug)]
pub struct L3fwdWorker {
    router: Router<Mbuf>,
    pool: Mempool,
    epoch: Arc<Instant>,
}

impl L3fwdWorker {
    /// A worker routing with `router`, allocating replies from `pool`; times are measured from
    /// `epoch`.
    pub fn new(router: Router<Mbuf>, pool: Mempool, epoch: Arc<Instant>) -> Self {
        L3fwdWorker {
            router,
            pool,
            epoch,
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
        // One clock read per burst (vDSO, no syscall).
        let now = self.epoch.elapsed().as_nanos() as u64;
        let rx_port = ctx.rx_port();
        let mut out = CtxOutput {
            ctx,
            pool: &self.pool,
        };
        self.router.begin_burst(now, &mut out);
        for m in burst.drain(..) {
            self.router.handle(rx_port, m, now, &mut out);
        }
    }
}
