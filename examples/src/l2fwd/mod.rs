//! l2fwd: forwards every frame from a port to its pair (0<->1, 2<->3, ... among the enabled
//! ports), rewriting the MAC addresses like DPDK's l2fwd: source = the TX port's MAC,
//! destination = `02:00:00:00:00:<TX port>`.

pub mod app;
pub mod cli;

use ferroplane::{BurstCtx, MbufBurst, Worker};
use ferroplane_net::MacAddr;

/// Drop reason: the frame came in on a port outside the portmask.
pub const DROP_PORT_DISABLED: usize = 0;
/// Drop reason: the frame is shorter than an Ethernet header (only with MAC updating).
pub const DROP_RUNT: usize = 1;

/// The destination port of each port: enabled ports are paired in order; an odd one out is
/// paired with itself (as DPDK l2fwd does); disabled ports get `None`.
pub fn pair_ports(nb_ports: u16, mask: u64) -> Vec<Option<u16>> {
    let enabled: Vec<u16> = (0..nb_ports)
        .filter(|p| *p < 64 && mask & (1 << p) != 0)
        .collect();
    let mut dst = vec![None; nb_ports as usize];
    for pair in enabled.chunks(2) {
        match *pair {
            [a, b] => {
                dst[a as usize] = Some(b);
                dst[b as usize] = Some(a);
            }
            [a] => dst[a as usize] = Some(a),
            _ => {}
        }
    }
    dst
}

/// The destination MAC l2fwd writes for frames sent on `port`.
pub fn dest_mac(port: u16) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, port as u8])
}

/// Rewrites a frame's MACs for sending on a port with MAC `src` towards `dst`.
#[inline]
pub fn update_macs(frame: &mut [u8], src: MacAddr, dst: MacAddr) -> bool {
    if frame.len() < 12 {
        return false;
    }
    frame[0..6].copy_from_slice(&dst.0);
    frame[6..12].copy_from_slice(&src.0);
    true
}

/// One lcore's l2fwd worker.
#[derive(Debug, Clone)]
pub struct L2fwdWorker {
    dst_port: Vec<Option<u16>>,
    /// Per TX port: (source MAC, destination MAC) when MAC updating is on.
    macs: Option<Vec<(MacAddr, MacAddr)>>,
}

impl L2fwdWorker {
    /// A worker for ports with these MACs; `mac_updating` as DPDK's default (on).
    pub fn new(dst_port: Vec<Option<u16>>, port_macs: &[MacAddr], mac_updating: bool) -> Self {
        let macs = mac_updating.then(|| {
            port_macs
                .iter()
                .enumerate()
                .map(|(p, m)| (*m, dest_mac(p as u16)))
                .collect()
        });
        L2fwdWorker { dst_port, macs }
    }
}

impl Worker for L2fwdWorker {
    fn prefetch(&self) -> bool {
        self.macs.is_some()
    }

    fn drop_reasons(&self) -> Vec<String> {
        vec!["port_disabled".into(), "runt".into()]
    }

    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        let Some(Some(out)) = self.dst_port.get(ctx.rx_port() as usize).copied() else {
            for m in burst.drain(..) {
                ctx.drop(m, DROP_PORT_DISABLED);
            }
            return;
        };
        let Some(macs) = &self.macs else {
            ctx.tx_all(out, burst);
            return;
        };
        let (src, dst) = macs
            .get(out as usize)
            .copied()
            .unwrap_or((MacAddr::ZERO, dest_mac(out)));
        for mut m in burst.drain(..) {
            let ok = m.data_mut().is_some_and(|b| update_macs(b, src, dst));
            if ok {
                ctx.tx(out, m)
            } else {
                ctx.drop(m, DROP_RUNT)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_like_dpdk() {
        assert_eq!(pair_ports(4, 0xf), vec![Some(1), Some(0), Some(3), Some(2)]);
        assert_eq!(pair_ports(4, 0b1010), vec![None, Some(3), None, Some(1)]);
        assert_eq!(pair_ports(3, 0x7), vec![Some(1), Some(0), Some(2)]);
        assert_eq!(pair_ports(2, 0x4), vec![None, None]);
    }

    #[test]
    fn mac_update() {
        let mut f = vec![0xffu8; 14];
        let src = MacAddr([2, 1, 2, 3, 4, 5]);
        assert!(update_macs(&mut f, src, dest_mac(1)));
        assert_eq!(&f[..12], &[2, 0, 0, 0, 0, 1, 2, 1, 2, 3, 4, 5]);
        assert!(!update_macs(&mut [0u8; 11], src, dest_mac(1)));
    }
}
