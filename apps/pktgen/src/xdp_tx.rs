//! The kernel-speed transmitter for Linux interfaces: BPF_PROG_RUN in XDP live-frames mode.
//!
//! The technique of xdp-tools' xdp-trafficgen: `bpf_prog_test_run_opts` with
//! `BPF_F_TEST_XDP_LIVE_FRAMES` and `repeat = N` makes the kernel build a frame from `data_in`
//! N times (from a page pool, in batches), run an XDP program on each, and carry out the
//! verdict for real. Our program (`bpf/pktgen_xdp.bpf.c`, `xdp_gen`) stamps a per-CPU
//! sequence number into the pktgen payload, fixes the L4 checksum, and returns
//! `bpf_redirect(egress)`, so frames leave through the egress interface's `ndo_xdp_xmit`
//! without a socket, a copy from user space or a system call per packet. Kernel 5.18+.
//!
//! [`XdpCounter`] is the measuring end: `xdp_count` attached to an interface (in a network
//! namespace if needed) counts frames per CPU and drops them. On a veth, frames redirected into
//! one end are only accepted when the other end has an XDP program, so the counter is also what
//! makes a veth receive them.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, MapHandle, Xdp, XdpFlags};

use crate::error::PktgenError;

ferroplane_pmd::bpf_skeleton!(skel, "pktgen_xdp.skel.rs");

/// `BPF_F_TEST_XDP_LIVE_FRAMES` (linux/bpf.h).
pub const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

fn xdp_err(what: &str, e: impl std::fmt::Display) -> PktgenError {
    PktgenError::Xdp(format!("{what}: {e}"))
}

/// Where the generator stamps its sequence number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StampSites {
    /// Offset of the 8-byte stream/sequence word (0: no stamping).
    pub seq_off: u32,
    /// Offset of the L4 checksum (0: none).
    pub csum_off: u32,
    /// Whether that checksum is UDP's.
    pub udp: bool,
    /// Stream id of CPU 0 (CPU n uses `stream_base + n`).
    pub stream_base: u16,
}

/// A loaded `xdp_gen` program redirecting to one interface.
#[derive(Debug)]
pub struct XdpTx {
    prog: OwnedFd,
    ifindex: u32,
}

/// Index of an interface in the calling thread's network namespace.
pub fn ifindex(iface: &str) -> Result<u32, PktgenError> {
    let c = std::ffi::CString::new(iface)
        .map_err(|_| PktgenError::Config(format!("interface name {iface:?}")))?;
    let idx = sys::if_nametoindex(&c);
    if idx == 0 {
        return Err(PktgenError::Config(format!(
            "interface {iface:?} does not exist"
        )));
    }
    Ok(idx)
}

impl XdpTx {
    /// Loads the generator for egress interface `iface`.
    pub fn load(iface: &str, sites: StampSites) -> Result<Self, PktgenError> {
        let ifindex = ifindex(iface)?;
        let mut storage = MaybeUninit::uninit();
        let mut open = skel::PktgenXdpSkelBuilder::default()
            .open(&mut storage)
            .map_err(|e| xdp_err("open", e))?;
        let ro = open
            .maps
            .rodata_data
            .as_deref_mut()
            .ok_or_else(|| xdp_err("open", "no .rodata section"))?;
        ro.egress_ifindex = ifindex;
        ro.seq_off = sites.seq_off;
        ro.csum_off = sites.csum_off;
        ro.csum_udp = u8::from(sites.udp);
        ro.stream_base = sites.stream_base;
        let skel = open.load().map_err(|e| xdp_err("load", e))?;
        let prog = skel
            .progs
            .xdp_gen
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| xdp_err("dup", e))?;
        Ok(XdpTx { prog, ifindex })
    }

    /// The egress interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Injects `frame` on the calling CPU until `limit` is reached or `stop` is set, in
    /// system calls sized to take about [`CALL_TARGET`] each (so the stop flag and the
    /// duration are checked that often).
    ///
    /// A signal that interrupts the system call (`EINTR`, e.g. SIGINT while the kernel is
    /// injecting) is a normal stop ([`StopReason::Interrupted`]). The kernel does not say how
    /// far the interrupted call got, so its frames are not in [`SendReport::sent`] (a lower
    /// bound then, short by at most [`SendReport::uncounted_max`]); callers that want exact
    /// counts block the stop signals in the sending thread (see [`block_stop_signals`]) and
    /// let another thread set `stop`.
    pub fn send(
        &self,
        frame: &[u8],
        limit: SendLimit,
        batch_size: u32,
        stop: &AtomicBool,
    ) -> Result<SendReport, PktgenError> {
        let t0 = Instant::now();
        let deadline = limit.duration.map(|d| t0 + d);
        let mut done = 0u64;
        // First call small, then sized from the measured rate.
        let mut chunk = MIN_CHUNK;
        let reason = loop {
            if done >= limit.count {
                break StopReason::Count;
            }
            if stop.load(Ordering::Relaxed) {
                break StopReason::Stop;
            }
            let now = Instant::now();
            let mut n = (limit.count - done).min(chunk);
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(now);
                if left.is_zero() {
                    break StopReason::Duration;
                }
                // Do not overshoot the deadline by more than a small call.
                let rate = rate_per_sec(done, now - t0);
                if let Some(r) = rate {
                    let fit = (r * left.as_secs_f64()) as u64;
                    n = n.min(fit.max(MIN_CHUNK / 16).max(1));
                }
            }
            let n = n as u32;
            // Live-frames mode does not report the program's verdicts (retval stays 0): the
            // far end's counters tell what was delivered.
            match sys::prog_run_live(self.prog.as_raw_fd(), frame, n, batch_size) {
                Ok(()) => done += u64::from(n),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {
                    return Ok(SendReport {
                        sent: done,
                        took: t0.elapsed(),
                        reason: StopReason::Interrupted,
                        uncounted_max: u64::from(n),
                    });
                }
                Err(e) => return Err(xdp_err("BPF_PROG_RUN (live frames, kernel >= 5.18)", e)),
            }
            if let Some(r) = rate_per_sec(done, t0.elapsed()) {
                chunk = ((r * CALL_TARGET.as_secs_f64()) as u64).clamp(MIN_CHUNK, MAX_CHUNK);
            }
        };
        Ok(SendReport {
            sent: done,
            took: t0.elapsed(),
            reason,
            uncounted_max: 0,
        })
    }
}

/// Frames per second so far, once there is enough to measure.
fn rate_per_sec(done: u64, took: Duration) -> Option<f64> {
    (done > 0 && took >= Duration::from_micros(100)).then(|| done as f64 / took.as_secs_f64())
}

/// How long one BPF_PROG_RUN call of [`XdpTx::send`] aims to take. Each live-frames call costs
/// a fixed ~24 ms here on top of its frames (the kernel sets up and tears down a page pool per
/// call, waiting out an RCU grace period): calls of 20 ms capped the generator at 0.15 Mpps.
/// Half a second keeps that overhead near 5 % while a signal still stops the run promptly.
pub const CALL_TARGET: Duration = Duration::from_millis(500);
const MIN_CHUNK: u64 = 1 << 16;
const MAX_CHUNK: u64 = 1 << 24;

/// When [`XdpTx::send`] stops: after `count` frames or after `duration`, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimit {
    /// Frames to send (`u64::MAX`: no limit).
    pub count: u64,
    /// Time to send for (`None`: no limit).
    pub duration: Option<Duration>,
}

impl SendLimit {
    /// Exactly `count` frames (unless stopped).
    pub fn count(count: u64) -> Self {
        SendLimit {
            count,
            duration: None,
        }
    }
}

/// Why [`XdpTx::send`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The frame count was reached.
    Count,
    /// The duration ran out.
    Duration,
    /// The stop flag was set.
    Stop,
    /// A signal interrupted the system call (EINTR).
    Interrupted,
}

impl StopReason {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Count => "count reached",
            StopReason::Duration => "duration elapsed",
            StopReason::Stop => "stopped",
            StopReason::Interrupted => "interrupted by a signal",
        }
    }
}

/// What [`XdpTx::send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendReport {
    /// Frames injected by completed system calls.
    pub sent: u64,
    /// Time from the start to the return.
    pub took: Duration,
    /// Why it returned.
    pub reason: StopReason,
    /// With [`StopReason::Interrupted`]: the size of the interrupted call, of which an unknown
    /// part was sent (not in `sent`). 0 otherwise.
    pub uncounted_max: u64,
}

/// Blocks SIGINT and SIGTERM in the calling thread, so that they are delivered to another
/// thread (whose handler sets the stop flag) instead of interrupting this thread's
/// BPF_PROG_RUN calls, whose progress would then be unknown.
pub fn block_stop_signals() -> std::io::Result<()> {
    sys::block_signals(&[libc::SIGINT, libc::SIGTERM])
}

/// `xdp_count` attached to an interface: counts and drops what arrives.
#[derive(Debug)]
pub struct XdpCounter {
    prog: OwnedFd,
    counts: MapHandle,
    ifindex: u32,
    netns: Option<String>,
    flags: u32,
}

impl XdpCounter {
    /// Attaches to `iface`, inside network namespace `netns` (a path like
    /// `/var/run/netns/NAME`) if given. Native mode first, generic as a fallback.
    pub fn attach(iface: &str, netns: Option<&str>) -> Result<Self, PktgenError> {
        let mut storage = MaybeUninit::uninit();
        let open = skel::PktgenXdpSkelBuilder::default()
            .open(&mut storage)
            .map_err(|e| xdp_err("open", e))?;
        let skel = open.load().map_err(|e| xdp_err("load", e))?;
        let counts = MapHandle::try_from(&skel.maps.rx_counts).map_err(|e| xdp_err("map", e))?;
        let prog = skel
            .progs
            .xdp_count
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| xdp_err("dup", e))?;
        drop(skel);
        let iface_s = iface.to_string();
        let fd = prog.as_raw_fd();
        let (ifindex, flags) = in_netns(netns, move || {
            let idx = ifindex(&iface_s)?;
            // SAFETY: `fd` is the program descriptor owned by `prog`, which outlives this call.
            let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let xdp = Xdp::new(bfd);
            for flags in [XdpFlags::DRV_MODE.bits(), XdpFlags::SKB_MODE.bits()] {
                let f = XdpFlags::from_bits_retain(flags | XdpFlags::UPDATE_IF_NOEXIST.bits());
                if xdp.attach(idx as i32, f).is_ok() {
                    return Ok((idx, flags));
                }
            }
            Err(xdp_err(
                "attach",
                format!("could not attach xdp_count to {iface_s} (busy or unsupported)"),
            ))
        })?;
        Ok(XdpCounter {
            prog,
            counts,
            ifindex,
            netns: netns.map(str::to_string),
            flags,
        })
    }

    /// Frames and bytes counted so far, summed over CPUs.
    pub fn counts(&self) -> Result<(u64, u64), PktgenError> {
        let per_cpu = self
            .counts
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| xdp_err("rx_counts lookup", e))?
            .unwrap_or_default();
        let mut t = (0u64, 0u64);
        for v in per_cpu {
            if v.len() >= 16 {
                t.0 += u64::from_ne_bytes(v[..8].try_into().unwrap_or_default());
                t.1 += u64::from_ne_bytes(v[8..16].try_into().unwrap_or_default());
            }
        }
        Ok(t)
    }
}

impl Drop for XdpCounter {
    fn drop(&mut self) {
        let (idx, flags, fd) = (self.ifindex, self.flags, self.prog.as_raw_fd());
        let r = in_netns(self.netns.as_deref(), move || {
            // SAFETY: `fd` is owned by `self.prog`, alive until this drop returns.
            let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            Xdp::new(bfd)
                .detach(idx as i32, XdpFlags::from_bits_retain(flags))
                .map_err(|e| xdp_err("detach", e))
        });
        if let Err(e) = r {
            // The interface may be gone already (namespace deleted first): nothing is left.
            log::debug!("xdp_count detach: {e}");
        }
    }
}

/// Runs `f` in network namespace `netns` (a path like `/var/run/netns/NAME`), if given.
fn in_netns<T: Send + 'static>(
    netns: Option<&str>,
    f: impl FnOnce() -> Result<T, PktgenError> + Send + 'static,
) -> Result<T, PktgenError> {
    crate::netns::run_in(netns, f)
}

/// The few raw calls this module makes.
mod sys {
    use std::ffi::CStr;
    use std::io;

    /// `if_nametoindex(3)`; 0 if there is no such interface.
    pub fn if_nametoindex(name: &CStr) -> u32 {
        // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
        unsafe { libc::if_nametoindex(name.as_ptr()) }
    }

    /// Adds `signals` to the calling thread's signal mask.
    pub fn block_signals(signals: &[libc::c_int]) -> io::Result<()> {
        // SAFETY: an all-zero sigset_t is a valid argument for sigemptyset, which initialises it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a live, writable sigset_t for these calls; pthread_sigmask only
        // reads it and accepts a null old-mask pointer.
        let r = unsafe {
            libc::sigemptyset(&mut set);
            for &s in signals {
                libc::sigaddset(&mut set, s);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut())
        };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(())
    }

    /// BPF_PROG_RUN in live-frames mode.
    pub fn prog_run_live(prog_fd: i32, frame: &[u8], repeat: u32, batch: u32) -> io::Result<()> {
        use libbpf_rs::libbpf_sys as s;
        // SAFETY: an all-zero bpf_test_run_opts is its documented initial state.
        let mut opts: s::bpf_test_run_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<s::bpf_test_run_opts>() as _;
        opts.data_in = frame.as_ptr().cast();
        opts.data_size_in = frame.len() as u32;
        opts.repeat = repeat as _;
        opts.flags = super::BPF_F_TEST_XDP_LIVE_FRAMES;
        opts.batch_size = batch;
        // SAFETY: `opts` points at `frame`, which outlives the call; the kernel only reads it
        // (live-frames mode has no data or context output).
        let r = unsafe { s::bpf_prog_test_run_opts(prog_fd, &mut opts) };
        if r < 0 {
            return Err(io::Error::from_raw_os_error(-r));
        }
        Ok(())
    }
}
