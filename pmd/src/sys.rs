//! Thin, checked wrappers over the Linux system calls the drivers need: packet sockets, socket
//! options, interface ioctls, TUN/TAP, `mmap` of packet rings, and raw reads and writes.
//!
//! All `unsafe` of the kernel-backed drivers lives here; every wrapper is safe to call.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;

/// `ETH_P_ALL` in network byte order, as packet sockets want it.
pub(crate) const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A non-blocking `AF_PACKET`/`SOCK_RAW` socket that receives nothing until bound.
pub(crate) fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; on success we own the returned descriptor.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    })?;
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A datagram socket for interface ioctls.
fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; on success we own the returned descriptor.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt` with a plain-old-data value.
pub(crate) fn set_opt<T: Copy>(fd: RawFd, level: i32, name: i32, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to `size_of::<T>()` readable bytes for the duration of the call.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `getsockopt` into a plain-old-data value (all-zero bytes must be a valid `T`).
pub(crate) fn get_opt<T: Copy + Default>(fd: RawFd, level: i32, name: i32) -> io::Result<T> {
    let mut val = T::default();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` is a writable `T` of `len` bytes; the kernel writes at most `len` bytes.
    cvt(unsafe { libc::getsockopt(fd, level, name, (&mut val as *mut T).cast(), &mut len) })?;
    Ok(val)
}

/// Binds a packet socket to `ifindex`, receiving `protocol_be` (0 receives nothing).
pub(crate) fn bind_packet(fd: RawFd, ifindex: u32, protocol_be: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all-zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol_be;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: `sll` is a valid sockaddr_ll of the given length.
    cvt(unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Asks the kernel to send what is queued in a TX ring, without blocking.
pub(crate) fn kick_tx(fd: RawFd) -> io::Result<()> {
    // SAFETY: a zero-length send with a null buffer is how TX rings are kicked.
    let r = unsafe { libc::send(fd, std::ptr::null(), 0, libc::MSG_DONTWAIT) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `read(2)` into `buf`.
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes.
    let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// `writev(2)` of up to 8 parts (one frame).
pub(crate) fn writev(fd: RawFd, parts: &[&[u8]]) -> io::Result<usize> {
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 8];
    let n = parts.len().min(iov.len());
    for (v, p) in iov.iter_mut().zip(parts) {
        v.iov_base = p.as_ptr() as *mut libc::c_void;
        v.iov_len = p.len();
    }
    // SAFETY: the first `n` iovecs describe live readable slices.
    let r = unsafe { libc::writev(fd, iov.as_ptr(), n as i32) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// `struct ifreq`: a name and a 24-byte union.
#[repr(C)]
#[derive(Clone, Copy)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn new(ifname: &str) -> io::Result<Self> {
        let b = ifname.as_bytes();
        if b.is_empty() || b.len() >= libc::IFNAMSIZ || b.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name '{ifname}'"),
            ));
        }
        let mut r = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: [0; 24],
        };
        r.name[..b.len()].copy_from_slice(b);
        Ok(r)
    }
    fn int(&self) -> i32 {
        i32::from_ne_bytes([self.data[0], self.data[1], self.data[2], self.data[3]])
    }
    fn set_int(&mut self, v: i32) {
        self.data[..4].copy_from_slice(&v.to_ne_bytes());
    }
    fn name_str(&self) -> String {
        let end = self
            .name
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(self.name.len());
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

fn ifreq_ioctl(fd: RawFd, req: libc::c_ulong, ifr: &mut IfReq) -> io::Result<()> {
    // SAFETY: every request used here reads/writes at most a `struct ifreq` (40 bytes).
    cvt(unsafe { libc::ioctl(fd, req as _, ifr as *mut IfReq) }).map(drop)
}

fn if_ioctl(ifname: &str, req: libc::c_ulong, ifr: &mut IfReq) -> io::Result<()> {
    let s = ioctl_socket()?;
    let _ = ifname;
    ifreq_ioctl(s.as_raw_fd(), req, ifr)
}

/// The interface index of `ifname` in the calling thread's network namespace.
pub(crate) fn if_index(ifname: &str) -> io::Result<u32> {
    let c = CString::new(ifname).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx)
    }
}

/// The interface's MAC address.
pub(crate) fn get_mac(ifname: &str) -> io::Result<[u8; 6]> {
    let mut r = IfReq::new(ifname)?;
    if_ioctl(ifname, libc::SIOCGIFHWADDR, &mut r)?;
    let mut m = [0u8; 6];
    m.copy_from_slice(&r.data[2..8]);
    Ok(m)
}

/// Sets the interface's MAC address.
pub(crate) fn set_mac(ifname: &str, mac: [u8; 6]) -> io::Result<()> {
    let mut r = IfReq::new(ifname)?;
    r.data[..2].copy_from_slice(&(libc::ARPHRD_ETHER).to_ne_bytes());
    r.data[2..8].copy_from_slice(&mac);
    if_ioctl(ifname, libc::SIOCSIFHWADDR, &mut r)
}

/// The interface's MTU.
pub(crate) fn get_mtu(ifname: &str) -> io::Result<u32> {
    let mut r = IfReq::new(ifname)?;
    if_ioctl(ifname, libc::SIOCGIFMTU, &mut r)?;
    Ok(r.int() as u32)
}

/// Sets the interface's MTU.
pub(crate) fn set_mtu(ifname: &str, mtu: u32) -> io::Result<()> {
    let mut r = IfReq::new(ifname)?;
    r.set_int(i32::try_from(mtu).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?);
    if_ioctl(ifname, libc::SIOCSIFMTU, &mut r)
}

/// The interface flags (`IFF_UP`, `IFF_RUNNING`, ...).
pub(crate) fn get_flags(ifname: &str) -> io::Result<u32> {
    let mut r = IfReq::new(ifname)?;
    if_ioctl(ifname, libc::SIOCGIFFLAGS, &mut r)?;
    Ok(u16::from_ne_bytes([r.data[0], r.data[1]]) as u32)
}

/// Sets (`on`) or clears the given interface flags.
pub(crate) fn change_flags(ifname: &str, flags: u32, on: bool) -> io::Result<()> {
    let cur = get_flags(ifname)?;
    let new = if on { cur | flags } else { cur & !flags };
    if new == cur {
        return Ok(());
    }
    let mut r = IfReq::new(ifname)?;
    r.data[..2].copy_from_slice(&(new as u16).to_ne_bytes());
    if_ioctl(ifname, libc::SIOCSIFFLAGS, &mut r)
}

/// Opens one queue of TAP device `name` (created if missing; `""` lets the kernel pick a name)
/// with `IFF_NO_PI`, optionally `IFF_MULTI_QUEUE`, non-blocking. Returns the fd and the name.
pub(crate) fn tap_open(name: &str, multi_queue: bool) -> io::Result<(OwnedFd, String)> {
    // SAFETY: plain syscall with a static NUL-terminated path.
    let fd = cvt(unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut r = if name.is_empty() {
        IfReq {
            name: [0; libc::IFNAMSIZ],
            data: [0; 24],
        }
    } else {
        IfReq::new(name)?
    };
    let mut flags = (libc::IFF_TAP | libc::IFF_NO_PI) as i16;
    if multi_queue {
        flags |= libc::IFF_MULTI_QUEUE as i16;
    }
    r.data[..2].copy_from_slice(&flags.to_ne_bytes());
    ifreq_ioctl(fd.as_raw_fd(), libc::TUNSETIFF as libc::c_ulong, &mut r)?;
    Ok((fd, r.name_str()))
}

/// Whether an interface of that name exists (in the caller's namespace).
pub(crate) fn if_exists(ifname: &str) -> bool {
    if_index(ifname).is_ok()
}

/// A shared memory mapping of a packet socket's rings, unmapped on drop.
pub(crate) struct RingMap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; access discipline (who owns which frame) is enforced by
// the status words, and each RingMap is used by one queue at a time.
unsafe impl Send for RingMap {}

impl RingMap {
    /// Maps `len` bytes of `fd`'s rings (`MAP_SHARED`, `MAP_LOCKED` when allowed).
    pub(crate) fn map(fd: RawFd, len: usize) -> io::Result<Self> {
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: mapping a packet socket's rings at a kernel-chosen address.
        let mut p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED | libc::MAP_LOCKED | libc::MAP_POPULATE,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            // MAP_LOCKED may fail on RLIMIT_MEMLOCK; retry without it.
            // SAFETY: as above.
            p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    prot,
                    libc::MAP_SHARED | libc::MAP_POPULATE,
                    fd,
                    0,
                )
            };
        }
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(RingMap {
            ptr: NonNull::new(p.cast()).expect("mmap returned null"),
            len,
        })
    }

    fn check(&self, off: usize, len: usize) -> bool {
        off.checked_add(len).is_some_and(|end| end <= self.len)
    }

    /// The status word at `off` (4-byte aligned), read with acquire ordering.
    #[inline]
    pub(crate) fn status(&self, off: usize) -> &AtomicU32 {
        assert!(
            self.check(off, 4) && off % 4 == 0,
            "status offset {off} out of ring"
        );
        // SAFETY: in bounds and aligned (checked above); the kernel and we access the word
        // atomically, so an AtomicU32 view is the right type.
        unsafe { &*(self.ptr.as_ptr().add(off) as *const AtomicU32) }
    }

    /// Reads a native-endian u32 at `off`, or 0 when out of range.
    #[inline]
    pub(crate) fn read_u32(&self, off: usize) -> u32 {
        if !self.check(off, 4) {
            return 0;
        }
        // SAFETY: in bounds (checked); unaligned read of plain bytes.
        unsafe { std::ptr::read_unaligned(self.ptr.as_ptr().add(off) as *const u32) }
    }

    /// Reads a native-endian u16 at `off`, or 0 when out of range.
    #[inline]
    pub(crate) fn read_u16(&self, off: usize) -> u16 {
        if !self.check(off, 2) {
            return 0;
        }
        // SAFETY: in bounds (checked); unaligned read of plain bytes.
        unsafe { std::ptr::read_unaligned(self.ptr.as_ptr().add(off) as *const u16) }
    }

    /// Writes a native-endian u32 at `off` (ignored when out of range).
    #[inline]
    pub(crate) fn write_u32(&self, off: usize, v: u32) {
        if self.check(off, 4) {
            // SAFETY: in bounds (checked); the frame is owned by us (status says so).
            unsafe { std::ptr::write_unaligned(self.ptr.as_ptr().add(off) as *mut u32, v) }
        }
    }

    /// The bytes `off..off + len`, or `None` when out of range. Only call on a frame the
    /// status word gives to user space.
    #[inline]
    pub(crate) fn bytes(&self, off: usize, len: usize) -> Option<&[u8]> {
        if !self.check(off, len) {
            return None;
        }
        // SAFETY: in bounds (checked); the kernel does not write a frame while user space owns it.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(off), len) })
    }

    /// Copies `src` to `off`; false when out of range. Only call on a frame user space owns.
    #[inline]
    pub(crate) fn copy_in(&self, off: usize, src: &[u8]) -> bool {
        if !self.check(off, src.len()) {
            return false;
        }
        // SAFETY: in bounds (checked); the frame is ours until we hand it over with its status.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().add(off), src.len())
        };
        true
    }

    /// Prefetches the cache line at `off` for reading.
    #[inline]
    pub(crate) fn prefetch(&self, off: usize) {
        #[cfg(target_arch = "x86_64")]
        if off < self.len {
            // SAFETY: prefetch has no architectural effect and the address is in bounds.
            unsafe {
                std::arch::x86_64::_mm_prefetch(
                    self.ptr.as_ptr().add(off) as *const i8,
                    std::arch::x86_64::_MM_HINT_T0,
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = off;
    }
}

impl Drop for RingMap {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `map` mapped; no references outlive `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Runs `f` on a new thread that first joins the network namespace at `ns_path`
/// (for example `/var/run/netns/x`). Sockets created there stay in that namespace.
pub(crate) fn in_netns<T: Send + 'static>(
    ns_path: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let file = std::fs::File::open(ns_path)?;
    std::thread::spawn(move || {
        // SAFETY: setns on this (throw-away) thread only; `file` is an open netns file.
        cvt(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) })?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("netns thread panicked"))?
}

/// Waits up to `timeout_ms` for `fd` to become readable; true if it is.
pub(crate) fn poll_readable(fd: RawFd, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    r > 0 && p.revents & libc::POLLIN != 0
}

/// `recv(2)` without blocking.
pub(crate) fn recv_nonblock(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length.
    let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// `send(2)` of one frame.
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is readable for its length.
    let r = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), 0) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Whether the process runs as root (effective uid 0).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}
