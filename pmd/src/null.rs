//! `null`: a port that receives endless frames and swallows whatever it sends, like DPDK's
//! net_null. It measures the cost of everything around the driver.
//!
//! Device string: `null[:size=N][,queues=N]`. `size` (default 64) is the length of the frames
//! RX produces; their content is whatever the buffer held (RX allocates in bulk and sets the
//! length, nothing more). TX frees in bulk.

use crate::devargs::DevArgs;
use crate::error::PmdError;
use crate::info::{Capabilities, LinkState, MacAddr, PortInfo};
use crate::port::{Port, PortConfig, Queues, RxQueue, TxQueue, queue_counts};
use crate::stats::{PortStats, QueueStats, QueueStatsSnapshot};
use ferroplane_mempool::{MbufBurst, Mempool};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const KEYS: &[&str] = &["size", "queues"];
const MAX_QUEUES: u16 = 64;

/// Capabilities of a null port.
fn caps() -> Capabilities {
    Capabilities {
        max_rx_queues: MAX_QUEUES,
        max_tx_queues: MAX_QUEUES,
        zero_copy_rx: true,
        zero_copy_tx: true,
        promiscuous: true,
        multi_segment_tx: true,
        ..Capabilities::default()
    }
}

struct NullPort {
    info: PortInfo,
    queues: Queues,
}

struct NullRx {
    pool: Mempool,
    size: usize,
    stats: Arc<QueueStats>,
}

struct NullTx {
    stats: Arc<QueueStats>,
}

/// Opens a null port.
pub(crate) fn open(
    args: &DevArgs,
    devstr: &str,
    cfg: &PortConfig,
) -> Result<Box<dyn Port>, PmdError> {
    args.check_keys(KEYS)?;
    let room = cfg.pool.data_room();
    let size = args.number::<usize>("size", 64, 14, room.max(14))?;
    let (rxq, txq) = queue_counts(args, cfg, MAX_QUEUES)?;
    let cfg = PortConfig {
        rx_queues: rxq,
        tx_queues: txq,
        ..cfg.clone()
    };
    cfg.validate("null", &caps())?;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut queues = Queues::new();
    for _ in 0..rxq {
        let stats = Arc::new(QueueStats::default());
        queues.push_rx(
            Box::new(NullRx {
                pool: cfg.pool.clone(),
                size,
                stats: Arc::clone(&stats),
            }),
            stats,
        );
    }
    for _ in 0..txq {
        let stats = Arc::new(QueueStats::default());
        queues.push_tx(
            Box::new(NullTx {
                stats: Arc::clone(&stats),
            }),
            stats,
        );
    }
    Ok(Box::new(NullPort {
        info: PortInfo {
            name: format!("null{id}"),
            driver: "null",
            devstr: devstr.to_string(),
            mac: cfg
                .mac
                .unwrap_or(MacAddr::local_from(0x6e75_6c6c_0000 | id)),
            mtu: cfg.mtu.unwrap_or(1500),
            rx_queues: rxq,
            tx_queues: txq,
            ifindex: None,
            caps: caps(),
        },
        queues,
    }))
}

impl RxQueue for NullRx {
    #[inline]
    fn rx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        let n = burst.free();
        if n == 0 {
            return 0;
        }
        // `size` fits the data room (checked at open; the pool checks again, once per burst).
        if self.pool.alloc_bulk_len(burst, n, self.size) != n {
            self.stats.add_alloc_failures(n as u64);
            return 0;
        }
        self.stats.add_rx(n as u64, (n * self.size) as u64);
        n
    }
}

impl TxQueue for NullTx {
    #[inline]
    fn tx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        let n = burst.len();
        let bytes: usize = burst.iter().map(|m| m.pkt_len()).sum();
        burst.clear();
        self.stats.add_tx(n as u64, bytes as u64);
        n
    }
}

impl Port for NullPort {
    fn info(&self) -> &PortInfo {
        &self.info
    }
    fn take_rx_queue(&mut self, q: u16) -> Option<Box<dyn RxQueue>> {
        self.queues.take_rx(q)
    }
    fn take_tx_queue(&mut self, q: u16) -> Option<Box<dyn TxQueue>> {
        self.queues.take_tx(q)
    }
    fn stats(&self) -> PortStats {
        self.queues.stats()
    }
    fn queue_stats(&self) -> Vec<QueueStatsSnapshot> {
        self.queues.queue_stats()
    }
    fn link(&self) -> LinkState {
        LinkState::VIRTUAL_UP
    }
    fn set_promiscuous(&mut self, _on: bool) -> Result<(), PmdError> {
        Ok(())
    }
    fn close(self: Box<Self>) -> Result<(), PmdError> {
        Ok(())
    }
}
