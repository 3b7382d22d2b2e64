//! The AF_XDP port: validation, program attach, one socket per queue on a UMEM that is the
//! mempool's region, and orderly teardown.

use std::sync::{Arc, Mutex, Weak};

use ferroplane_mempool::Mempool;

use super::config::{AfXdpConfig, DRIVER};
use super::queue::{AfXdpRxQueue, AfXdpTxQueue, Layout, QueueCtx, SocketShared};
use super::sys;
use super::xdp::{FlowDirector, SteerProgram, SteerStats, XdpError};
use super::xsk::{UmemArea, Xsk, XskParams, XskStats};
use crate::error::PmdError;
use crate::info::{Capabilities, LinkState, MacAddr, PortInfo};
use crate::port::QueueCounters;
use crate::stats::{PortStats, QueueStats, QueueStatsSnapshot};

/// `XDP_PACKET_HEADROOM`: the kernel puts received data this far into a chunk.
pub const XDP_PACKET_HEADROOM: usize = 256;

/// Sizes taken from the generic port configuration when the device string does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortDefaults {
    /// Queue count.
    pub queues: u16,
    /// RX ring size.
    pub rx_ring: u32,
    /// TX ring size.
    pub tx_ring: u32,
}

impl Default for PortDefaults {
    fn default() -> Self {
        PortDefaults {
            queues: 1,
            rx_ring: 2048,
            tx_ring: 2048,
        }
    }
}

/// Sockets that registered a UMEM, by region base address, so later sockets on the same pool
/// (other queues, other ports) share it with `XDP_SHARED_UMEM`.
static UMEM_OWNERS: Mutex<Vec<(usize, Weak<SocketShared>)>> = Mutex::new(Vec::new());

fn config_err(reason: String) -> PmdError {
    PmdError::Config {
        driver: DRIVER.into(),
        reason,
    }
}

fn xdp_err(e: XdpError) -> PmdError {
    config_err(e.to_string())
}

/// An open AF_XDP port.
pub struct AfXdpPort {
    info: PortInfo,
    iface: String,
    prog: Option<SteerProgram>,
    sockets: Vec<Arc<SocketShared>>,
    rxqs: Vec<Option<AfXdpRxQueue>>,
    txqs: Vec<Option<AfXdpTxQueue>>,
    counters: QueueCounters,
    attach_mode: &'static str,
}

impl std::fmt::Debug for AfXdpPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfXdpPort")
            .field("iface", &self.iface)
            .field("queues", &self.sockets.len())
            .field("attach_mode", &self.attach_mode)
            .finish_non_exhaustive()
    }
}

impl AfXdpPort {
    /// Opens the port: checks the configuration against the interface and the pool, loads and
    /// attaches the XDP program, binds one socket per queue and fills the fill rings. On error
    /// nothing is left behind (no program attached, no socket, no chunk taken).
    pub fn open(
        cfg: &AfXdpConfig,
        pool: &Mempool,
        defaults: PortDefaults,
        devstr: &str,
    ) -> Result<Self, PmdError> {
        let iface = cfg.iface.as_str();
        let ifindex = sys::ifindex(iface).ok_or_else(|| {
            config_err(format!(
                "interface '{iface}' does not exist (iface={iface})"
            ))
        })?;
        let queues = cfg.queues.unwrap_or(defaults.queues).max(1);
        let have = sys::rx_queue_count(iface)
            .map_err(|e| PmdError::io("read /sys/class/net/<iface>/queues", iface, e))?;
        let last = cfg.start_queue + u32::from(queues);
        if last > have {
            return Err(config_err(format!(
                "queues {}..{} (start_queue={}, queues={queues}) are beyond the {have} RX \
                 queue(s) of '{iface}'",
                cfg.start_queue,
                last - 1,
                cfg.start_queue
            )));
        }
        let region = pool.region();
        let chunk_size = region.chunk_size();
        if let Some(fs) = cfg.frame_size
            && fs as usize != chunk_size
        {
            return Err(config_err(format!(
                "frame_size={fs} but the mempool '{}' has chunks of {chunk_size} bytes; create the \
                 pool with chunk_size {fs}",
                pool.name()
            )));
        }
        if !(2048..=4096).contains(&chunk_size) {
            return Err(config_err(format!(
                "the mempool '{}' has chunks of {chunk_size} bytes; AF_XDP needs 2048..=4096 \
                 (a power of two for aligned mode)",
                pool.name()
            )));
        }
        if pool.buf_len() < XDP_PACKET_HEADROOM + 64 {
            return Err(config_err(format!(
                "the mempool '{}' buffers ({} bytes) cannot hold the kernel's {XDP_PACKET_HEADROOM} \
                 bytes of headroom plus a frame",
                pool.name(),
                pool.buf_len()
            )));
        }
        let (rx_ring, tx_ring, fill_ring, comp_ring) =
            cfg.ring_sizes(defaults.rx_ring, defaults.tx_ring);
        for (key, v) in [
            ("rx_ring", rx_ring),
            ("tx_ring", tx_ring),
            ("fill_ring", fill_ring),
            ("comp_ring", comp_ring),
        ] {
            if !v.is_power_of_two() {
                return Err(config_err(format!("{key}={v} is not a power of two")));
            }
        }
        let mtu = sys::mtu(iface).unwrap_or(1500);
        if mtu as usize + 18 > pool.buf_len() - XDP_PACKET_HEADROOM {
            log::warn!(
                "af_xdp {iface}: MTU {mtu} frames do not fit the {} bytes left in a buffer after \
                 the kernel's headroom; larger frames are dropped",
                pool.buf_len() - XDP_PACKET_HEADROOM
            );
        }

        let mut prog = SteerProgram::load(cfg.start_queue + u32::from(queues)).map_err(xdp_err)?;
        let fdir = prog.flow_director();
        fdir.set_config(cfg.arp_to_xsk, cfg.mismatch)
            .map_err(xdp_err)?;
        for r in &cfg.rules {
            fdir.add_rule(r).map_err(xdp_err)?;
        }
        let attach_mode = prog
            .attach(iface, ifindex, cfg.mode, cfg.force)
            .map_err(xdp_err)?;

        let area = UmemArea {
            base: region.base(),
            len: chunk_size * region.chunk_count(),
            chunk_size: chunk_size as u32,
            headroom: 0,
        };
        let layout = Layout {
            chunk_size,
            chunk_count: region.chunk_count(),
            base: region.base() as usize,
        };
        let mut port = AfXdpPort {
            info: PortInfo {
                name: iface.to_string(),
                driver: DRIVER,
                devstr: devstr.to_string(),
                mac: MacAddr(sys::mac_address(iface).unwrap_or_default()),
                mtu,
                rx_queues: queues,
                tx_queues: queues,
                ifindex: Some(ifindex),
                caps: Capabilities {
                    max_rx_queues: have.min(u32::from(u16::MAX)) as u16,
                    max_tx_queues: have.min(u32::from(u16::MAX)) as u16,
                    zero_copy_rx: true,
                    zero_copy_tx: true,
                    rss: have > 1,
                    multi_segment_tx: true,
                    ..Capabilities::default()
                },
            },
            iface: iface.to_string(),
            prog: None,
            sockets: Vec::new(),
            rxqs: Vec::new(),
            txqs: Vec::new(),
            counters: QueueCounters::default(),
            attach_mode,
        };
        for q in 0..queues {
            let hw_queue = cfg.start_queue + u32::from(q);
            let params = XskParams {
                ifname: iface.to_string(),
                ifindex,
                queue: hw_queue,
                rx_size: rx_ring,
                tx_size: tx_ring,
                fill_size: fill_ring,
                comp_size: comp_ring,
                zerocopy: cfg.zerocopy,
                busy_poll_us: cfg.busy_poll_us,
                busy_budget: cfg.busy_budget,
                tx_budget: cfg.tx_budget,
            };
            let mut owners = UMEM_OWNERS.lock().unwrap_or_else(|p| p.into_inner());
            owners.retain(|(_, w)| w.strong_count() > 0);
            let owner = owners
                .iter()
                .find(|(b, _)| *b == layout.base)
                .and_then(|(_, w)| w.upgrade())
                // A second socket on the owner's own queue would have to share its fill ring;
                // that is not a configuration we make: register the memory again instead.
                .filter(|o| (o.ifindex, o.queue) != (ifindex, hw_queue));
            let xsk =
                Xsk::create(&params, &area, owner.as_ref().map(|o| o.raw_fd())).map_err(|e| {
                    PmdError::Io {
                        op: e.op,
                        target: format!("{iface} queue {hw_queue}"),
                        source: e.source,
                    }
                })?;
            let fd = Arc::try_unwrap(xsk.fd).map_err(|_| {
                config_err("internal: socket descriptor shared during setup".into())
            })?;
            let sock = Arc::new(SocketShared::new(
                fd,
                pool.clone(),
                iface.to_string(),
                ifindex,
                hw_queue,
                xsk.zerocopy,
            ));
            if owner.is_none() {
                owners.push((layout.base, Arc::downgrade(&sock)));
            }
            drop(owners);
            prog.register_socket(hw_queue, sock.raw_fd())
                .map_err(xdp_err)?;
            let rs = Arc::new(QueueStats::default());
            let ts = Arc::new(QueueStats::default());
            let ctx = |stats: &Arc<QueueStats>| QueueCtx {
                layout,
                pool: pool.clone(),
                stats: stats.clone(),
                sock: sock.clone(),
                queue: q,
            };
            let rxq = AfXdpRxQueue::new(xsk.rx, xsk.fill, ctx(&rs), xsk.busy_poll);
            let txq = AfXdpTxQueue::new(xsk.tx, xsk.comp, ctx(&ts), xsk.tx_budget);
            port.rxqs.push(Some(rxq));
            port.txqs.push(Some(txq));
            port.counters.rx.push(rs);
            port.counters.tx.push(ts);
            port.sockets.push(sock);
        }
        port.prog = Some(prog);
        Ok(port)
    }

    /// Port description.
    pub fn info(&self) -> &PortInfo {
        &self.info
    }

    /// The XDP attach mode in use (`native` or `generic`).
    pub fn attach_mode(&self) -> &'static str {
        self.attach_mode
    }

    /// Whether queue `q`'s socket is bound in zero-copy mode.
    pub fn zerocopy(&self, q: u16) -> Option<bool> {
        self.sockets.get(q as usize).map(|s| s.zerocopy)
    }

    /// Takes RX queue `q` (once).
    pub fn take_rx_queue(&mut self, q: u16) -> Option<AfXdpRxQueue> {
        self.rxqs.get_mut(q as usize)?.take()
    }

    /// Takes TX queue `q` (once).
    pub fn take_tx_queue(&mut self, q: u16) -> Option<AfXdpTxQueue> {
        self.txqs.get_mut(q as usize)?.take()
    }

    /// Per-queue counters (RX queues, then TX queues).
    pub fn queue_stats(&self) -> Vec<QueueStatsSnapshot> {
        self.counters.snapshots()
    }

    /// Port totals: the queues' counters, with the kernel's socket drops as `rx_missed`.
    pub fn stats(&self) -> PortStats {
        let mut p = self.counters.totals();
        let k = self.xsk_stats();
        p.rx_missed += k.rx_dropped + k.rx_ring_full;
        p
    }

    /// The kernel's `XDP_STATISTICS`, summed over the port's sockets.
    pub fn xsk_stats(&self) -> XskStats {
        let mut t = XskStats::default();
        for s in &self.sockets {
            t.add(&s.xsk_stats());
        }
        t
    }

    /// The XDP program's per-action counters.
    pub fn steer_stats(&self) -> Result<SteerStats, PmdError> {
        match &self.prog {
            Some(p) => p.flow_director().stats().map_err(xdp_err),
            None => Ok(SteerStats::default()),
        }
    }

    /// A handle to add and remove flow-director rules while the port runs.
    pub fn flow_director(&self) -> Option<FlowDirector> {
        self.prog.as_ref().map(SteerProgram::flow_director)
    }

    /// Link state from sysfs.
    pub fn link(&self) -> LinkState {
        LinkState {
            up: sys::oper_up(&self.iface),
            speed_mbps: None,
            full_duplex: true,
        }
    }

    /// Detaches the program and drops the queues not taken; sockets close (and their chunks go
    /// back to the pool) when their last queue is dropped.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(mut p) = self.prog.take() {
            p.detach();
        }
        self.rxqs.clear();
        self.txqs.clear();
        self.sockets.clear();
    }
}

impl Drop for AfXdpPort {
    fn drop(&mut self) {
        self.shutdown();
    }
}
