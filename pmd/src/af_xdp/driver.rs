//! The AF_XDP driver behind the generic port API: [`open`] for the driver registry and the
//! [`Port`]/[`RxQueue`]/[`TxQueue`] implementations.

use ferroplane_mempool::MbufBurst;

use super::config::{AfXdpConfig, DRIVER};
use super::port::{AfXdpPort, PortDefaults};
use super::queue::{AfXdpRxQueue, AfXdpTxQueue};
use crate::devargs::DevArgs;
use crate::error::PmdError;
use crate::info::{LinkState, PortInfo};
use crate::port::{Port, PortConfig, RxQueue, TxQueue};
use crate::stats::{PortStats, QueueStatsSnapshot};

/// Opens `af_xdp:iface=...` (keys in [`super::config`]). The device string's `queues`,
/// `rx_ring` and `tx_ring` override the port configuration's; with different RX and TX queue
/// counts in `cfg`, the port has the larger number of each (one socket per queue index).
pub fn open(args: &DevArgs, devstr: &str, cfg: &PortConfig) -> Result<Box<dyn Port>, PmdError> {
    let xcfg = AfXdpConfig::from_devargs(args)?;
    for (what, v) in [
        ("rx_ring_size", cfg.rx_ring_size),
        ("tx_ring_size", cfg.tx_ring_size),
    ] {
        if !v.is_power_of_two() {
            return Err(PmdError::Config {
                driver: DRIVER.into(),
                reason: format!("{what} = {v} is not a power of two"),
            });
        }
    }
    let defaults = PortDefaults {
        queues: cfg.rx_queues.max(cfg.tx_queues).max(1),
        rx_ring: cfg.rx_ring_size,
        tx_ring: cfg.tx_ring_size,
    };
    let iface = xcfg.iface.clone();
    if crate::sys::if_exists(&iface) {
        if let Some(mtu) = cfg.mtu {
            crate::sys::set_mtu(&iface, mtu).map_err(|e| PmdError::io("set MTU", &iface, e))?;
        }
        if let Some(mac) = cfg.mac {
            crate::sys::set_mac(&iface, mac.0).map_err(|e| PmdError::io("set MAC", &iface, e))?;
        }
    }
    let port = AfXdpPort::open(&xcfg, &cfg.pool, defaults, devstr)?;
    let mut port = Box::new(port);
    if cfg.promiscuous {
        Port::set_promiscuous(port.as_mut(), true)?;
    }
    Ok(port)
}

impl Port for AfXdpPort {
    fn info(&self) -> &PortInfo {
        AfXdpPort::info(self)
    }

    fn take_rx_queue(&mut self, q: u16) -> Option<Box<dyn RxQueue>> {
        AfXdpPort::take_rx_queue(self, q).map(|q| Box::new(q) as Box<dyn RxQueue>)
    }

    fn take_tx_queue(&mut self, q: u16) -> Option<Box<dyn TxQueue>> {
        AfXdpPort::take_tx_queue(self, q).map(|q| Box::new(q) as Box<dyn TxQueue>)
    }

    fn stats(&self) -> PortStats {
        AfXdpPort::stats(self)
    }

    fn queue_stats(&self) -> Vec<QueueStatsSnapshot> {
        AfXdpPort::queue_stats(self)
    }

    fn link(&self) -> LinkState {
        AfXdpPort::link(self)
    }

    fn set_promiscuous(&mut self, on: bool) -> Result<(), PmdError> {
        let name = self.info().name.clone();
        crate::sys::change_flags(&name, libc::IFF_PROMISC as u32, on)
            .map_err(|e| PmdError::io("set promiscuous mode", &name, e))
    }

    fn close(self: Box<Self>) -> Result<(), PmdError> {
        AfXdpPort::close(*self);
        Ok(())
    }
}

impl RxQueue for AfXdpRxQueue {
    #[inline]
    fn rx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        AfXdpRxQueue::rx_burst(self, burst)
    }
}

impl TxQueue for AfXdpTxQueue {
    #[inline]
    fn tx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        AfXdpTxQueue::tx_burst(self, burst)
    }

    fn flush(&mut self) {
        AfXdpTxQueue::flush(self);
    }
}
