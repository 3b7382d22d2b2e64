//! The port and queue traits, the port configuration, and the bookkeeping every driver shares.

use crate::error::PmdError;
use crate::info::{Capabilities, LinkState, MacAddr, PortInfo};
use crate::stats::{PortStats, QueueKind, QueueStats, QueueStatsSnapshot};
use ferroplane_mempool::{MbufBurst, Mempool};
use std::sync::Arc;

/// Default RX/TX ring size (descriptors per queue).
pub const DEFAULT_RING_SIZE: u32 = 1024;
/// Smallest accepted ring size.
pub const MIN_RING_SIZE: u32 = 32;
/// Largest accepted ring size.
pub const MAX_RING_SIZE: u32 = 65536;

/// How to set up a port: its pool, queue counts, ring sizes and L2 settings.
///
/// A device string key (for example `queues=2`) overrides the matching field.
#[derive(Clone)]
pub struct PortConfig {
    /// Pool RX queues allocate mbufs from.
    pub pool: Mempool,
    /// Number of RX queues (at least 1).
    pub rx_queues: u16,
    /// Number of TX queues (at least 1).
    pub tx_queues: u16,
    /// RX descriptors per queue: a power of two in `32..=65536`.
    pub rx_ring_size: u32,
    /// TX descriptors per queue: a power of two in `32..=65536`.
    pub tx_ring_size: u32,
    /// MTU to set, if any (`68..=65535`).
    pub mtu: Option<u32>,
    /// MAC address to set, if any (unicast, not zero).
    pub mac: Option<MacAddr>,
    /// Whether to receive frames for every destination.
    pub promiscuous: bool,
}

impl std::fmt::Debug for PortConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortConfig")
            .field("pool", &self.pool.name())
            .field("rx_queues", &self.rx_queues)
            .field("tx_queues", &self.tx_queues)
            .field("rx_ring_size", &self.rx_ring_size)
            .field("tx_ring_size", &self.tx_ring_size)
            .field("mtu", &self.mtu)
            .field("mac", &self.mac)
            .field("promiscuous", &self.promiscuous)
            .finish()
    }
}

impl PortConfig {
    /// One RX and one TX queue, default ring sizes, MTU and MAC left alone, not promiscuous.
    pub fn new(pool: Mempool) -> Self {
        PortConfig {
            pool,
            rx_queues: 1,
            tx_queues: 1,
            rx_ring_size: DEFAULT_RING_SIZE,
            tx_ring_size: DEFAULT_RING_SIZE,
            mtu: None,
            mac: None,
            promiscuous: false,
        }
    }

    /// Sets both queue counts.
    pub fn with_queues(mut self, rx: u16, tx: u16) -> Self {
        self.rx_queues = rx;
        self.tx_queues = tx;
        self
    }

    /// Checks the configuration against what `driver` supports.
    pub fn validate(&self, driver: &str, caps: &Capabilities) -> Result<(), PmdError> {
        let bad = |reason: String| PmdError::Config {
            driver: driver.to_string(),
            reason,
        };
        if self.rx_queues == 0 || self.rx_queues > caps.max_rx_queues {
            return Err(bad(format!(
                "rx_queues = {} (must be 1..={})",
                self.rx_queues, caps.max_rx_queues
            )));
        }
        if self.tx_queues == 0 || self.tx_queues > caps.max_tx_queues {
            return Err(bad(format!(
                "tx_queues = {} (must be 1..={})",
                self.tx_queues, caps.max_tx_queues
            )));
        }
        for (what, v) in [
            ("rx_ring_size", self.rx_ring_size),
            ("tx_ring_size", self.tx_ring_size),
        ] {
            if !v.is_power_of_two() || !(MIN_RING_SIZE..=MAX_RING_SIZE).contains(&v) {
                return Err(bad(format!(
                    "{what} = {v} (must be a power of two in {MIN_RING_SIZE}..={MAX_RING_SIZE})"
                )));
            }
        }
        if let Some(m) = self.mtu
            && !(68..=65535).contains(&m)
        {
            return Err(bad(format!("mtu = {m} (must be 68..=65535)")));
        }
        if let Some(mac) = self.mac
            && !mac.is_valid_unicast()
        {
            return Err(bad(format!(
                "mac = {mac} (must be a non-zero unicast address)"
            )));
        }
        Ok(())
    }
}

/// An open port. Split it into queues with [`take_rx_queue`](Port::take_rx_queue) and
/// [`take_tx_queue`](Port::take_tx_queue); each queue can then move to the core that polls it.
pub trait Port: Send {
    /// Name, driver, MAC, MTU, queue counts and capabilities.
    fn info(&self) -> &PortInfo;
    /// Takes RX queue `q` (once); `None` if out of range or already taken.
    fn take_rx_queue(&mut self, q: u16) -> Option<Box<dyn RxQueue>>;
    /// Takes TX queue `q` (once); `None` if out of range or already taken.
    fn take_tx_queue(&mut self, q: u16) -> Option<Box<dyn TxQueue>>;
    /// Totals: the sum of the queues plus what the driver counts elsewhere.
    fn stats(&self) -> PortStats;
    /// Per-queue counters, RX queues first.
    fn queue_stats(&self) -> Vec<QueueStatsSnapshot>;
    /// Link status.
    fn link(&self) -> LinkState;
    /// Switches promiscuous mode.
    fn set_promiscuous(&mut self, on: bool) -> Result<(), PmdError>;
    /// Closes the port, reporting errors that `Drop` would only log. Queues already taken keep
    /// working until they are dropped; the resources they hold go with them.
    fn close(self: Box<Self>) -> Result<(), PmdError>;
}

/// A receive queue, owned by one core at a time.
pub trait RxQueue: Send {
    /// Appends up to `burst.free()` received mbufs to `burst`; returns how many.
    fn rx_burst(&mut self, burst: &mut MbufBurst) -> usize;
}

/// A transmit queue, owned by one core at a time.
pub trait TxQueue: Send {
    /// Sends mbufs from the front of `burst`; returns how many were taken. What is not taken
    /// stays in `burst`, in order.
    fn tx_burst(&mut self, burst: &mut MbufBurst) -> usize;
    /// Reclaims completions and kicks the kernel; called by the engine when idle.
    fn flush(&mut self) {}
}

/// The queue slots and counters every driver keeps: queues not yet taken, and the shared
/// counters of all queues (taken or not).
pub(crate) struct Queues {
    rx: Vec<Option<Box<dyn RxQueue>>>,
    tx: Vec<Option<Box<dyn TxQueue>>>,
    counters: QueueCounters,
}

impl Queues {
    /// Empty slots; fill them with [`add_rx`](Self::add_rx)/[`add_tx`](Self::add_tx) or, for
    /// a queue that made its own counters, [`push_rx`](Self::push_rx)/[`push_tx`](Self::push_tx).
    pub(crate) fn new() -> Self {
        Queues {
            rx: Vec::new(),
            tx: Vec::new(),
            counters: QueueCounters::default(),
        }
    }

    /// Adds an RX queue and its counters.
    pub(crate) fn push_rx(&mut self, q: Box<dyn RxQueue>, stats: Arc<QueueStats>) {
        self.rx.push(Some(q));
        self.counters.rx.push(stats);
    }

    /// Adds a TX queue and its counters.
    pub(crate) fn push_tx(&mut self, q: Box<dyn TxQueue>, stats: Arc<QueueStats>) {
        self.tx.push(Some(q));
        self.counters.tx.push(stats);
    }

    /// Adds the RX queue `make` builds around its new counters.
    pub(crate) fn add_rx<Q: RxQueue + 'static>(&mut self, make: impl FnOnce(Arc<QueueStats>) -> Q) {
        let stats = Arc::new(QueueStats::default());
        self.push_rx(Box::new(make(Arc::clone(&stats))), stats);
    }

    /// Adds the TX queue `make` builds around its new counters.
    pub(crate) fn add_tx<Q: TxQueue + 'static>(&mut self, make: impl FnOnce(Arc<QueueStats>) -> Q) {
        let stats = Arc::new(QueueStats::default());
        self.push_tx(Box::new(make(Arc::clone(&stats))), stats);
    }

    pub(crate) fn take_rx(&mut self, q: u16) -> Option<Box<dyn RxQueue>> {
        self.rx.get_mut(q as usize)?.take()
    }

    pub(crate) fn take_tx(&mut self, q: u16) -> Option<Box<dyn TxQueue>> {
        self.tx.get_mut(q as usize)?.take()
    }
}

/// The counters of a port's queues, in queue order, whether the queues are taken or not.
#[derive(Default)]
pub(crate) struct QueueCounters {
    pub(crate) rx: Vec<Arc<QueueStats>>,
    pub(crate) tx: Vec<Arc<QueueStats>>,
}

impl QueueCounters {
    /// The sum over all queues.
    pub(crate) fn totals(&self) -> PortStats {
        let mut p = PortStats::default();
        for s in self.snapshots() {
            p.add(&s);
        }
        p
    }

    /// One snapshot per queue, RX queues first.
    pub(crate) fn snapshots(&self) -> Vec<QueueStatsSnapshot> {
        let rx = self
            .rx
            .iter()
            .enumerate()
            .map(|(i, s)| s.snapshot(QueueKind::Rx, i as u16));
        let tx = self
            .tx
            .iter()
            .enumerate()
            .map(|(i, s)| s.snapshot(QueueKind::Tx, i as u16));
        rx.chain(tx).collect()
    }
}

/// What a driver adds to its [`Queues`] to make a [`Port`]: link state, promiscuous mode and
/// counters kept outside the queues. The defaults suit a virtual device.
pub(crate) trait PortDevice: Send + 'static {
    /// Link status of the port `info` describes.
    fn link(&self, _info: &PortInfo) -> LinkState {
        LinkState::VIRTUAL_UP
    }

    /// Switches promiscuous mode on the port `info` describes.
    fn set_promiscuous(&mut self, _info: &PortInfo, _on: bool) -> Result<(), PmdError> {
        Ok(())
    }

    /// Adds what the driver counts outside the queues to the queues' `totals`.
    fn add_device_counters(&self, _totals: &mut PortStats) {}
}

/// A virtual device: always up, and promiscuous mode has nothing to switch.
pub(crate) struct VirtualDevice;

impl PortDevice for VirtualDevice {}

/// The [`Port`] of every driver built on [`Queues`]: its description, its queues and the
/// device behind them.
pub(crate) struct QueuePort<D> {
    info: PortInfo,
    queues: Queues,
    device: D,
}

impl<D: PortDevice> QueuePort<D> {
    pub(crate) fn new(info: PortInfo, queues: Queues, device: D) -> Self {
        QueuePort {
            info,
            queues,
            device,
        }
    }
}

impl<D: PortDevice> Port for QueuePort<D> {
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
        let mut totals = self.queues.counters.totals();
        self.device.add_device_counters(&mut totals);
        totals
    }
    fn queue_stats(&self) -> Vec<QueueStatsSnapshot> {
        self.queues.counters.snapshots()
    }
    fn link(&self) -> LinkState {
        self.device.link(&self.info)
    }
    fn set_promiscuous(&mut self, on: bool) -> Result<(), PmdError> {
        self.device.set_promiscuous(&self.info, on)
    }
    fn close(self: Box<Self>) -> Result<(), PmdError> {
        Ok(())
    }
}

/// The configuration a driver opens with: `cfg` with the device string's `queues=` (when
/// given) as both queue counts, checked against the driver's capabilities.
pub(crate) fn effective_config(
    args: &crate::DevArgs,
    cfg: &PortConfig,
    driver: &str,
    caps: &Capabilities,
) -> Result<PortConfig, PmdError> {
    let (rx_queues, tx_queues) = match args.get("queues") {
        Some(_) => {
            let max = caps.max_rx_queues.min(caps.max_tx_queues);
            let n = args.number::<u16>("queues", 1, 1, max)?;
            (n, n)
        }
        None => (cfg.rx_queues, cfg.tx_queues),
    };
    let cfg = PortConfig {
        rx_queues,
        tx_queues,
        ..cfg.clone()
    };
    cfg.validate(driver, caps)?;
    Ok(cfg)
}
