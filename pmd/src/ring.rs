//! `ring`: two virtual ports wired back to back through in-process mbuf rings.
//!
//! Device strings:
//! - `ring:name=X` opened twice: the two opens are the two ends of pair `X`.
//! - `ring:name=X,peer=Y`: port `X`, whose frames go to the port opened as
//!   `ring:name=Y,peer=X` (and back).
//!
//! A process-wide table holds the pairs. The first end opened fixes the number of lanes (its
//! larger queue count) and their size (`rx_ring_size`); queue `q` of either end uses lane
//! `q % lanes`, and lanes are MP/MC rings, so any queue counts work together. When an end and
//! all its queues are gone, the frames waiting for it are freed; when both ends are gone, the
//! pair is removed and the name can be opened afresh.

use crate::devargs::DevArgs;
use crate::error::PmdError;
use crate::info::{Capabilities, MacAddr, PortInfo};
use crate::port::{
    Port, PortConfig, PortDevice, QueuePort, Queues, RxQueue, TxQueue, effective_config,
};
use crate::stats::QueueStats;
use ferroplane_mempool::{MbufBurst, MbufRing};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

const KEYS: &[&str] = &["name", "peer", "queues"];
const MAX_QUEUES: u16 = 64;

fn caps() -> Capabilities {
    Capabilities::in_memory(MAX_QUEUES)
}

/// Lanes of one direction: `lanes[q % len]`.
type Lanes = Arc<Vec<MbufRing>>;

struct Pair {
    /// `dir[s]` carries frames sent by side `s` to side `1 - s`.
    dir: [Lanes; 2],
    open: [bool; 2],
}

/// The process-wide table of ring pairs (a poisoned lock is recovered: the table stays valid).
fn table() -> MutexGuard<'static, HashMap<String, Pair>> {
    static TABLE: LazyLock<Mutex<HashMap<String, Pair>>> = LazyLock::new(Default::default);
    TABLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Held by the port and each of its queues; the last one out releases the side.
struct SideGuard {
    key: String,
    side: usize,
    rx_lanes: Lanes,
}

impl Drop for SideGuard {
    fn drop(&mut self) {
        // Free what waits for this side: nobody will receive it.
        for lane in self.rx_lanes.iter() {
            while lane.dequeue().is_some() {}
        }
        let mut t = table();
        if let Some(p) = t.get_mut(&self.key) {
            p.open[self.side] = false;
            if !p.open[0] && !p.open[1] {
                t.remove(&self.key);
            }
        }
    }
}

/// A queue on lane `lane[index]`: an RX queue dequeues from it, a TX queue enqueues to it.
struct RingQueue {
    lane: Lanes,
    index: usize,
    stats: Arc<QueueStats>,
    _guard: Arc<SideGuard>,
}

fn check_name(args: &DevArgs, key: &str, v: &str) -> Result<(), PmdError> {
    if v.is_empty() || v.len() > 64 || v.contains('\0') {
        return Err(args.bad(key, v, "ring names are 1 to 64 bytes"));
    }
    Ok(())
}

/// Opens one end of a ring pair.
pub(crate) fn open(
    args: &DevArgs,
    devstr: &str,
    cfg: &PortConfig,
) -> Result<Box<dyn Port>, PmdError> {
    args.check_keys(KEYS)?;
    let name = args.require("name")?;
    check_name(args, "name", name)?;
    let peer = args.get("peer");
    if let Some(p) = peer {
        check_name(args, "peer", p)?;
    }
    let cfg = effective_config(args, cfg, "ring", &caps())?;
    let (rxq, txq) = (cfg.rx_queues, cfg.tx_queues);

    // Pair key and the side this open wants (None: whichever is free).
    let (key, want) = match peer {
        Some(p) if p != name => {
            if name < p {
                (format!("{name}\u{0}{p}"), Some(0))
            } else {
                (format!("{p}\u{0}{name}"), Some(1))
            }
        }
        _ => (name.to_string(), None),
    };
    let mut t = table();
    let pair = match t.get_mut(&key) {
        Some(p) => p,
        None => {
            let lanes = rxq.max(txq) as usize;
            let mk = || -> Result<Lanes, PmdError> {
                let v = (0..lanes)
                    .map(|_| MbufRing::new(cfg.rx_ring_size as usize))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| PmdError::Config {
                        driver: "ring".into(),
                        reason: format!("rx_ring_size = {}: {e}", cfg.rx_ring_size),
                    })?;
                Ok(Arc::new(v))
            };
            let pair = Pair {
                dir: [mk()?, mk()?],
                open: [false, false],
            };
            t.entry(key.clone()).or_insert(pair)
        }
    };
    let side = match want {
        Some(s) if !pair.open[s] => s,
        None if !pair.open[0] => 0,
        None if !pair.open[1] => 1,
        _ => {
            return Err(PmdError::RingPort {
                name: name.to_string(),
                reason: if want.is_some() {
                    format!("already open (peer '{}')", peer.unwrap_or(name))
                } else {
                    "both ends of the pair are already open".to_string()
                },
            });
        }
    };
    pair.open[side] = true;
    let tx_lanes = Arc::clone(&pair.dir[side]);
    let rx_lanes = Arc::clone(&pair.dir[1 - side]);
    drop(t);

    let guard = Arc::new(SideGuard {
        key: key.clone(),
        side,
        rx_lanes: Arc::clone(&rx_lanes),
    });
    // Both directions have this many lanes.
    let lanes = rx_lanes.len();
    let on_lane = |dir: &Lanes, q: usize, stats| RingQueue {
        lane: Arc::clone(dir),
        index: q % lanes,
        stats,
        _guard: Arc::clone(&guard),
    };
    let mut queues = Queues::new();
    for q in 0..rxq as usize {
        queues.add_rx(|stats| on_lane(&rx_lanes, q, stats));
    }
    for q in 0..txq as usize {
        queues.add_tx(|stats| on_lane(&tx_lanes, q, stats));
    }
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mac = MacAddr::local_from(seed ^ side as u64);
    let info = PortInfo::without_interface(name.to_string(), "ring", devstr, &cfg, mac, caps());
    Ok(Box::new(QueuePort::new(info, queues, guard)))
}

impl RxQueue for RingQueue {
    #[inline]
    fn rx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        let start = burst.len();
        let n = self.lane[self.index].dequeue_burst(burst);
        if n != 0 {
            let bytes: usize = burst.iter().skip(start).map(|m| m.pkt_len()).sum();
            self.stats.add_rx(n as u64, bytes as u64);
        }
        n
    }
}

impl TxQueue for RingQueue {
    #[inline]
    fn tx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        if burst.is_empty() {
            return 0;
        }
        let bytes_before: usize = burst.iter().map(|m| m.pkt_len()).sum();
        let n = self.lane[self.index].enqueue_burst(burst);
        if n != 0 {
            let left: usize = burst.iter().map(|m| m.pkt_len()).sum();
            self.stats.add_tx(n as u64, (bytes_before - left) as u64);
        }
        n
    }
}

/// A virtual device; the port's reference keeps its side of the pair open.
impl PortDevice for Arc<SideGuard> {}
