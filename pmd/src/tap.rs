//! `tap`: a TAP device through `/dev/net/tun`, to hand frames to the Linux stack and take
//! frames from it (the exception path for ARP, routing protocols, management).
//!
//! Device string: `tap[:name=fp0][,queues=N]`. Without `name` the kernel picks one
//! (`tap0`, ...). If no interface of that name exists it is created (multi-queue,
//! `IFF_MULTI_QUEUE`), its MAC and MTU are set from the config, and it is brought up; it
//! disappears when the port and all its queues are closed. An existing TAP device (for example
//! from `ip tuntap add mode tap multi_queue`) is attached to and left in place.
//! RX reads without blocking, in a loop, up to the burst; TX writes one frame per `writev`.
//! Each queue index `q` has one file descriptor shared by RX queue `q` and TX queue `q`.

use crate::copy::{Stash, segments};
use crate::devargs::{DevArgs, check_ifname};
use crate::error::PmdError;
use crate::info::{Capabilities, LinkState, MacAddr, PortInfo};
use crate::port::{
    Port, PortConfig, PortDevice, QueuePort, Queues, RxQueue, TxQueue, effective_config,
};
use crate::stats::QueueStats;
use crate::sys;
use ferroplane_mempool::{MbufBurst, Mempool};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

const KEYS: &[&str] = &["name", "queues"];
const MAX_QUEUES: u16 = 16;

fn caps() -> Capabilities {
    Capabilities {
        max_rx_queues: MAX_QUEUES,
        max_tx_queues: MAX_QUEUES,
        rss: true,
        promiscuous: true,
        multi_segment_tx: true,
        ..Capabilities::default()
    }
}

/// A TAP device, known by the port's name.
struct TapDevice;

struct TapRx {
    fd: Arc<OwnedFd>,
    pool: Mempool,
    stash: Stash,
    stats: Arc<QueueStats>,
}

struct TapTx {
    fd: Arc<OwnedFd>,
    spill: Vec<u8>,
    stats: Arc<QueueStats>,
}

/// Opens (creating if needed) a TAP port.
pub(crate) fn open(
    args: &DevArgs,
    devstr: &str,
    cfg: &PortConfig,
) -> Result<Box<dyn Port>, PmdError> {
    args.check_keys(KEYS)?;
    let name = args.get("name").unwrap_or("");
    if args.get("name").is_some() {
        check_ifname(args, "name", name)?;
    }
    let cfg = effective_config(args, cfg, "tap", &caps())?;
    let (rxq, txq) = (cfg.rx_queues, cfg.tx_queues);
    let created = name.is_empty() || !sys::if_exists(name);
    let nq = rxq.max(txq) as usize;
    let target = if name.is_empty() {
        "/dev/net/tun"
    } else {
        name
    };
    let mut fds = Vec::with_capacity(nq);
    let mut ifname = name.to_string();
    for _ in 0..nq {
        let r = sys::tap_open(&ifname, true).or_else(|e| {
            // A single-queue device created elsewhere refuses IFF_MULTI_QUEUE.
            if nq == 1 && !created && e.raw_os_error() == Some(libc::EINVAL) {
                sys::tap_open(&ifname, false)
            } else {
                Err(e)
            }
        });
        let (fd, n) = r.map_err(|e| PmdError::io("ioctl(TUNSETIFF)", target, e))?;
        ifname = n;
        fds.push(Arc::new(fd));
    }
    // From here on, failing drops the fds, which removes a device we created.
    let setup =
        |what: &'static str, r: io::Result<()>| r.map_err(|e| PmdError::io(what, &ifname, e));
    if let Some(mac) = cfg.mac {
        setup("ioctl(SIOCSIFHWADDR)", sys::set_mac(&ifname, mac.0))?;
    }
    if let Some(mtu) = cfg.mtu {
        setup("ioctl(SIOCSIFMTU)", sys::set_mtu(&ifname, mtu))?;
    }
    if cfg.promiscuous {
        setup(
            "ioctl(SIOCSIFFLAGS)",
            sys::change_flags(&ifname, libc::IFF_PROMISC as u32, true),
        )?;
    }
    setup(
        "ioctl(SIOCSIFFLAGS)",
        sys::change_flags(&ifname, libc::IFF_UP as u32, true),
    )?;
    let mac =
        sys::get_mac(&ifname).map_err(|e| PmdError::io("ioctl(SIOCGIFHWADDR)", &ifname, e))?;
    let mtu = sys::get_mtu(&ifname).map_err(|e| PmdError::io("ioctl(SIOCGIFMTU)", &ifname, e))?;
    let ifindex = sys::if_index(&ifname).ok();
    if created {
        log::info!("tap: created {ifname} with {nq} queue(s)");
    } else {
        log::info!("tap: attached to existing {ifname} with {nq} queue(s)");
    }

    let mut queues = Queues::new();
    for fd in fds.iter().take(rxq as usize) {
        queues.add_rx(|stats| TapRx {
            fd: Arc::clone(fd),
            pool: cfg.pool.clone(),
            stash: Stash::new(32),
            stats,
        });
    }
    for fd in fds.iter().take(txq as usize) {
        queues.add_tx(|stats| TapTx {
            fd: Arc::clone(fd),
            spill: Vec::new(),
            stats,
        });
    }
    let info = PortInfo {
        name: ifname,
        driver: "tap",
        devstr: devstr.to_string(),
        mac: MacAddr(mac),
        mtu,
        rx_queues: rxq,
        tx_queues: txq,
        ifindex,
        caps: caps(),
    };
    Ok(Box::new(QueuePort::new(info, queues, TapDevice)))
}

impl RxQueue for TapRx {
    fn rx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        let (mut got, mut bytes) = (0u64, 0u64);
        while !burst.is_full() {
            let Some(mut m) = self.stash.take(&self.pool) else {
                self.stats.add_alloc_failures(1);
                break;
            };
            let room = m.tailroom();
            let r = match m.append(room) {
                Ok(buf) => sys::read(self.fd.as_raw_fd(), buf),
                Err(_) => Err(io::Error::from(io::ErrorKind::InvalidData)),
            };
            match r {
                Ok(n) if n > 0 && n < room => {
                    // `n < room` guaranteed: trimming the unused tail cannot fail.
                    let _ = m.trim(room - n);
                    bytes += n as u64;
                    got += 1;
                    if let Err(m) = burst.push(m) {
                        drop(m);
                        break;
                    }
                }
                Ok(n) => {
                    // A frame that filled the whole buffer may have been truncated.
                    let _ = n;
                    self.stats.add_rx_errors(1);
                    drop(m);
                }
                Err(e) => {
                    let _ = m.trim(room);
                    self.stash.give_back(m);
                    if e.kind() != io::ErrorKind::WouldBlock
                        && e.kind() != io::ErrorKind::Interrupted
                    {
                        self.stats.add_rx_errors(1);
                    }
                    break;
                }
            }
        }
        self.stats.add_rx(got, bytes);
        got as usize
    }
}

impl TxQueue for TapTx {
    fn tx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        let (mut sent, mut bytes, mut taken) = (0u64, 0u64, 0usize);
        for m in burst.iter() {
            let (parts, k) = segments(m, &mut self.spill);
            match sys::writev(self.fd.as_raw_fd(), &parts[..k]) {
                Ok(_) => {
                    sent += 1;
                    bytes += m.pkt_len() as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    // Invalid frame (for example larger than the MTU allows): drop it.
                    self.stats.add_tx_errors(1);
                }
            }
            taken += 1;
        }
        drop(burst.drain(..taken));
        self.stats.add_tx(sent, bytes);
        taken
    }
}

impl PortDevice for TapDevice {
    fn link(&self, info: &PortInfo) -> LinkState {
        let up = sys::get_flags(&info.name)
            .map(|f| {
                f & (libc::IFF_UP | libc::IFF_RUNNING) as u32
                    == (libc::IFF_UP | libc::IFF_RUNNING) as u32
            })
            .unwrap_or(false);
        LinkState {
            up,
            speed_mbps: None,
            full_duplex: true,
        }
    }
    fn set_promiscuous(&mut self, info: &PortInfo, on: bool) -> Result<(), PmdError> {
        sys::change_flags(&info.name, libc::IFF_PROMISC as u32, on)
            .map_err(|e| PmdError::io("ioctl(SIOCSIFFLAGS)", &info.name, e))
    }
}
