//! `null`: a port that receives endless frames and swallows whatever it sends, like DPDK's
//! net_null. It measures the cost of everything around the driver.
//!
//! Device string: `null[:size=N][,queues=N]`. `size` (default 64) is the length of the frames
//! RX produces; their content is whatever the buffer held (RX allocates in bulk and sets the
//! length, nothing more). TX frees in bulk.

use crate::devargs::DevArgs;
use crate::error::PmdError;
use crate::info::{Capabilities, MacAddr, PortInfo};
use crate::port::{
    Port, PortConfig, QueuePort, Queues, RxQueue, TxQueue, VirtualDevice, effective_config,
};
use crate::stats::QueueStats;
use ferroplane_mempool::{MbufBurst, Mempool};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const KEYS: &[&str] = &["size", "queues"];
const MAX_QUEUES: u16 = 64;

/// Capabilities of a null port.
fn caps() -> Capabilities {
    Capabilities::in_memory(MAX_QUEUES)
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
    let cfg = effective_config(args, cfg, "null", &caps())?;
    let (rxq, txq) = (cfg.rx_queues, cfg.tx_queues);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut queues = Queues::new();
    for _ in 0..rxq {
        queues.add_rx(|stats| NullRx {
            pool: cfg.pool.clone(),
            size,
            stats,
        });
    }
    for _ in 0..txq {
        queues.add_tx(|stats| NullTx { stats });
    }
    let mac = MacAddr::local_from(0x6e75_6c6c_0000 | id);
    let info = PortInfo::without_interface(format!("null{id}"), "null", devstr, &cfg, mac, caps());
    Ok(Box::new(QueuePort::new(info, queues, VirtualDevice)))
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
