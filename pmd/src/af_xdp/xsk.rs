//! One AF_XDP socket: UMEM registration (or sharing), the four rings, socket options and the
//! bind with zero-copy/copy fallback and EBUSY retry.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use super::ring::{ConsRing, ProdRing, RawRing};
use super::sys::{self, xdp_desc, xdp_mmap_offsets, xdp_statistics};

/// How to bind with respect to zero-copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroCopy {
    /// Try zero-copy, fall back to copy mode (logged).
    Auto,
    /// Zero-copy or fail.
    On,
    /// Copy mode only.
    Off,
}

/// The memory registered as UMEM: a region cut into `chunk_size` chunks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UmemArea {
    pub base: *mut u8,
    pub len: usize,
    pub chunk_size: u32,
    /// Bytes the kernel leaves free at the start of each chunk before `XDP_PACKET_HEADROOM`.
    pub headroom: u32,
}

impl UmemArea {
    /// Whether the chunk size needs `XDP_UMEM_UNALIGNED_CHUNK_FLAG`.
    pub(crate) fn unaligned(&self) -> bool {
        !self.chunk_size.is_power_of_two()
    }
}

/// What a socket needs to know to set itself up.
#[derive(Debug, Clone)]
pub(crate) struct XskParams {
    pub ifname: String,
    pub ifindex: u32,
    pub queue: u32,
    pub rx_size: u32,
    pub tx_size: u32,
    pub fill_size: u32,
    pub comp_size: u32,
    pub zerocopy: ZeroCopy,
    pub busy_poll_us: u32,
    pub busy_budget: u32,
    /// Frames one copy-mode `sendto` may transmit (`XDP_MAX_TX_SKB_BUDGET`), capped at the
    /// TX ring size; the kernel's default (32) where the option is missing.
    pub tx_budget: u32,
}

/// A failed step of socket setup: the operation and the OS error.
#[derive(Debug)]
pub(crate) struct XskError {
    pub op: &'static str,
    pub source: io::Error,
}

fn step<T>(op: &'static str, r: io::Result<T>) -> Result<T, XskError> {
    r.map_err(|source| XskError { op, source })
}

/// A bound AF_XDP socket with its mapped rings.
pub(crate) struct Xsk {
    pub fd: Arc<OwnedFd>,
    pub rx: ConsRing<xdp_desc>,
    pub fill: ProdRing<u64>,
    pub tx: ProdRing<xdp_desc>,
    pub comp: ConsRing<u64>,
    pub zerocopy: bool,
    /// Preferred busy polling is on: the application drives the driver's NAPI with syscalls.
    pub busy_poll: bool,
    /// Frames one copy-mode `sendto` transmits at most (see [`XskParams::tx_budget`]).
    pub tx_budget: u32,
}

impl Xsk {
    /// Creates and binds a socket. With `shared_with = None` the UMEM `area` is registered on
    /// this socket; otherwise the socket shares the UMEM of the (bound) socket `shared_with`,
    /// with its own fill and completion rings.
    pub(crate) fn create(
        p: &XskParams,
        area: &UmemArea,
        shared_with: Option<RawFd>,
    ) -> Result<Xsk, XskError> {
        let fd = step("socket(AF_XDP)", sys::xsk_socket())?;
        let raw = fd.as_raw_fd();
        if shared_with.is_none() {
            let flags = if area.unaligned() {
                libc::XDP_UMEM_UNALIGNED_CHUNK_FLAG
            } else {
                0
            };
            step(
                "setsockopt(XDP_UMEM_REG)",
                sys::umem_reg(
                    raw,
                    area.base,
                    area.len,
                    area.chunk_size,
                    area.headroom,
                    flags,
                ),
            )?;
        }
        let sol = libc::SOL_XDP;
        step(
            "setsockopt(XDP_UMEM_FILL_RING)",
            sys::setsockopt(raw, sol, libc::XDP_UMEM_FILL_RING, &p.fill_size),
        )?;
        step(
            "setsockopt(XDP_UMEM_COMPLETION_RING)",
            sys::setsockopt(raw, sol, libc::XDP_UMEM_COMPLETION_RING, &p.comp_size),
        )?;
        step(
            "setsockopt(XDP_RX_RING)",
            sys::setsockopt(raw, sol, libc::XDP_RX_RING, &p.rx_size),
        )?;
        step(
            "setsockopt(XDP_TX_RING)",
            sys::setsockopt(raw, sol, libc::XDP_TX_RING, &p.tx_size),
        )?;
        let tx_budget = set_tx_budget(raw, p);
        let (off, len) = step(
            "getsockopt(XDP_MMAP_OFFSETS)",
            sys::getsockopt::<xdp_mmap_offsets>(raw, sol, libc::XDP_MMAP_OFFSETS),
        )?;
        if len != std::mem::size_of::<xdp_mmap_offsets>() {
            return Err(XskError {
                op: "getsockopt(XDP_MMAP_OFFSETS)",
                source: io::Error::other("kernel too old: ring offsets without flags (need 5.4+)"),
            });
        }
        let fill = step(
            "mmap(fill ring)",
            RawRing::map(&fd, &off.fr, p.fill_size, libc::XDP_UMEM_PGOFF_FILL_RING)
                .map(ProdRing::new),
        )?;
        let comp = step(
            "mmap(completion ring)",
            RawRing::map(
                &fd,
                &off.cr,
                p.comp_size,
                libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            )
            .map(ConsRing::new),
        )?;
        let rx = step(
            "mmap(RX ring)",
            RawRing::map(&fd, &off.rx, p.rx_size, libc::XDP_PGOFF_RX_RING as u64)
                .map(ConsRing::new),
        )?;
        let tx = step(
            "mmap(TX ring)",
            RawRing::map(&fd, &off.tx, p.tx_size, libc::XDP_PGOFF_TX_RING as u64)
                .map(ProdRing::new),
        )?;
        let busy_poll = p.busy_poll_us > 0 && {
            let one: libc::c_int = 1;
            let us = p.busy_poll_us as libc::c_int;
            let budget = p.busy_budget as libc::c_int;
            let sl = libc::SOL_SOCKET;
            let r = sys::setsockopt(raw, sl, sys::SO_PREFER_BUSY_POLL, &one)
                .and_then(|()| sys::setsockopt(raw, sl, sys::SO_BUSY_POLL, &us))
                .and_then(|()| sys::setsockopt(raw, sl, sys::SO_BUSY_POLL_BUDGET, &budget));
            match r {
                Ok(()) => true,
                Err(e) => {
                    log::warn!(
                        "af_xdp {} queue {}: busy polling not available ({e}); using interrupts",
                        p.ifname,
                        p.queue
                    );
                    false
                }
            }
        };
        let base = libc::XDP_USE_NEED_WAKEUP;
        let bound = if shared_with.is_some() {
            // A socket sharing a UMEM may not pass mode flags: it inherits the owner's
            // need-wakeup and copy/zero-copy settings.
            bind_retry(raw, p, libc::XDP_SHARED_UMEM, shared_with)
        } else {
            match p.zerocopy {
                ZeroCopy::On => bind_retry(raw, p, base | libc::XDP_ZEROCOPY, None),
                ZeroCopy::Off => bind_retry(raw, p, base | libc::XDP_COPY, None),
                ZeroCopy::Auto => match bind_retry(raw, p, base | libc::XDP_ZEROCOPY, None) {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        log::info!(
                            "af_xdp {} queue {}: zero-copy bind refused ({e}), using copy mode",
                            p.ifname,
                            p.queue
                        );
                        bind_retry(raw, p, base | libc::XDP_COPY, None)
                    }
                },
            }
        };
        step("bind(AF_XDP)", bound)?;
        let zerocopy = match sys::getsockopt::<libc::xdp_options>(raw, sol, libc::XDP_OPTIONS) {
            Ok((o, _)) => o.flags & libc::XDP_OPTIONS_ZEROCOPY != 0,
            Err(_) => p.zerocopy == ZeroCopy::On,
        };
        log::info!(
            "af_xdp {} queue {}: bound in {} mode{}",
            p.ifname,
            p.queue,
            if zerocopy { "zero-copy" } else { "copy" },
            if shared_with.is_some() {
                " (shared UMEM)"
            } else {
                ""
            }
        );
        Ok(Xsk {
            fd: Arc::new(fd),
            rx,
            fill,
            tx,
            comp,
            zerocopy,
            busy_poll,
            tx_budget,
        })
    }
}

/// Raises the frames a copy-mode `sendto` may transmit from the kernel's 32
/// (`XDP_MAX_TX_SKB_BUDGET`, kernel 6.17+), so that draining a TX backlog takes fewer system
/// calls. Returns the budget in effect; older kernels keep 32 (logged at debug level).
fn set_tx_budget(fd: RawFd, p: &XskParams) -> u32 {
    let want = p.tx_budget.min(p.tx_size);
    if want <= sys::KERNEL_TX_BATCH {
        return sys::KERNEL_TX_BATCH;
    }
    match sys::setsockopt(fd, libc::SOL_XDP, sys::XDP_MAX_TX_SKB_BUDGET, &want) {
        Ok(()) => want,
        Err(e) => {
            log::debug!(
                "af_xdp {} queue {}: XDP_MAX_TX_SKB_BUDGET={want} not taken ({e}); copy-mode \
                 sendto stays at {} frames",
                p.ifname,
                p.queue,
                sys::KERNEL_TX_BATCH
            );
            sys::KERNEL_TX_BATCH
        }
    }
}

/// Binds, retrying `EBUSY` (the previous owner of the queue may still be going away) with a
/// doubling backoff of up to about two seconds in total.
fn bind_retry(fd: RawFd, p: &XskParams, flags: u16, shared: Option<RawFd>) -> io::Result<()> {
    let mut delay = Duration::from_millis(5);
    let mut waited = Duration::ZERO;
    loop {
        match sys::bind(fd, p.ifindex, p.queue, flags, shared) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && waited < Duration::from_secs(2) => {
                log::debug!(
                    "af_xdp {} queue {}: bind EBUSY, retrying in {delay:?}",
                    p.ifname,
                    p.queue
                );
                std::thread::sleep(delay);
                waited += delay;
                delay = (delay * 2).min(Duration::from_millis(200));
            }
            r => return r,
        }
    }
}

/// The kernel's per-socket counters (`XDP_STATISTICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStats {
    /// Frames dropped for reasons other than an invalid descriptor (e.g. RX ring full).
    pub rx_dropped: u64,
    /// Invalid descriptors seen on the fill ring.
    pub rx_invalid_descs: u64,
    /// Invalid descriptors seen on the TX ring.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was found empty.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the TX ring was found empty when the kernel looked.
    pub tx_ring_empty_descs: u64,
}

impl XskStats {
    /// Reads the counters of socket `fd`.
    pub(crate) fn read(fd: RawFd) -> io::Result<Self> {
        let (s, _) = sys::getsockopt::<xdp_statistics>(fd, libc::SOL_XDP, libc::XDP_STATISTICS)?;
        Ok(XskStats {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }

    /// Field-wise sum.
    pub fn add(&mut self, o: &XskStats) {
        self.rx_dropped += o.rx_dropped;
        self.rx_invalid_descs += o.rx_invalid_descs;
        self.tx_invalid_descs += o.tx_invalid_descs;
        self.rx_ring_full += o.rx_ring_full;
        self.rx_fill_ring_empty_descs += o.rx_fill_ring_empty_descs;
        self.tx_ring_empty_descs += o.tx_ring_empty_descs;
    }
}
