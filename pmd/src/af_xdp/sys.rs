//! The thin, unsafe layer over the kernel's AF_XDP socket ABI (`linux/if_xdp.h`).
//!
//! Everything here is a direct system call with its arguments checked; the ring protocol
//! lives in [`super::ring`] and the socket life cycle in [`super::xsk`].

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub(crate) use libc::{xdp_desc, xdp_mmap_offsets, xdp_ring_offset, xdp_statistics};

/// `SO_BUSY_POLL` from `asm-generic/socket.h`.
pub(crate) const SO_BUSY_POLL: libc::c_int = 46;
/// `SO_PREFER_BUSY_POLL`.
pub(crate) const SO_PREFER_BUSY_POLL: libc::c_int = 69;
/// `SO_BUSY_POLL_BUDGET`.
pub(crate) const SO_BUSY_POLL_BUDGET: libc::c_int = 70;
/// `XDP_MAX_TX_SKB_BUDGET` (kernel 6.17+): frames one copy-mode `sendto` may transmit
/// (default 32, at most the TX ring size; needs the TX ring set up first).
pub(crate) const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;
/// The kernel's copy-mode `sendto` budget when `XDP_MAX_TX_SKB_BUDGET` is not available
/// (`TX_BATCH_SIZE` in `net/xdp/xsk.c`).
pub(crate) const KERNEL_TX_BATCH: u32 = 32;

/// A new `AF_XDP` raw socket.
pub(crate) fn xsk_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the returned fd is checked and owned from here on.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt` with a plain-old-data value.
pub(crate) fn setsockopt<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: value points to size_of::<T>() readable bytes for the duration of the call.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `getsockopt` into a zero-initialised plain-old-data value; returns it and the length the
/// kernel wrote (older kernels write shorter versions of some structs).
pub(crate) fn getsockopt<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<(T, usize)> {
    // SAFETY: T is one of the libc plain-old-data structs / integers, valid when zeroed.
    let mut value: T = unsafe { zeroed() };
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: value is writable for len bytes; len is a valid in/out pointer.
    let r = unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut T).cast(), &mut len) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok((value, len as usize))
    }
}

/// Registers `[addr, addr + len)` as the socket's UMEM.
pub(crate) fn umem_reg(
    fd: RawFd,
    addr: *mut u8,
    len: usize,
    chunk_size: u32,
    headroom: u32,
    flags: u32,
) -> io::Result<()> {
    let reg = libc::xdp_umem_reg {
        addr: addr as u64,
        len: len as u64,
        chunk_size,
        headroom,
        flags,
        tx_metadata_len: 0,
    };
    setsockopt(fd, libc::SOL_XDP, libc::XDP_UMEM_REG, &reg)
}

/// Binds the socket to `(ifindex, queue)`.
pub(crate) fn bind(
    fd: RawFd,
    ifindex: u32,
    queue: u32,
    flags: u16,
    shared_umem_fd: Option<RawFd>,
) -> io::Result<()> {
    let sa = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: shared_umem_fd.map_or(0, |f| f as u32),
    };
    // SAFETY: sa is a valid sockaddr_xdp of the size passed.
    let r = unsafe {
        libc::bind(
            fd,
            (&sa as *const libc::sockaddr_xdp).cast(),
            size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A shared, writable mapping of one of the socket's rings, unmapped on drop.
pub(crate) struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; who may touch which part of it is decided by
// the ring types that own it.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `len` bytes of the ring at page offset `pgoff` of socket `fd`.
    pub(crate) fn ring(fd: &OwnedFd, len: usize, pgoff: u64) -> io::Result<Self> {
        // SAFETY: a fresh shared mapping of the socket's ring; the kernel validates
        // the offset and length.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                pgoff as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }

    /// The address `off` bytes into the mapping.
    ///
    /// The caller keeps `off` within the mapping (ring offsets come from the kernel).
    pub(crate) fn at(&self, off: u64) -> *mut u8 {
        debug_assert!((off as usize) < self.len);
        self.ptr.wrapping_add(off as usize)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len describe a mapping made by Mapping::ring and not yet unmapped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Kicks the kernel to transmit what is in the TX ring (`sendto` with no data). Returns
/// whether it is worth kicking again: `EAGAIN`, `EBUSY` and `EINTR` (descriptors left behind);
/// `ENOBUFS` and `ENETDOWN` are transient but not helped by an immediate retry.
pub(crate) fn kick_tx(fd: RawFd) -> io::Result<bool> {
    // SAFETY: a zero-length send with no buffer and no address.
    let r = unsafe {
        libc::sendto(
            fd,
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if r >= 0 {
        return Ok(false);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // Copy mode transmits at most one batch per call and answers EAGAIN while more
        // descriptors wait (or the device or completion ring is momentarily full).
        Some(libc::EAGAIN | libc::EBUSY | libc::EINTR) => Ok(true),
        Some(libc::ENOBUFS | libc::ENETDOWN) => Ok(false),
        _ => Err(e),
    }
}

/// Wakes the kernel's RX path after the fill ring was refilled (`recvfrom` with no data).
pub(crate) fn kick_rx(fd: RawFd) {
    // SAFETY: a zero-length, non-blocking receive with no buffer and no address.
    unsafe {
        libc::recvfrom(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
}

/// The interface index of `name`, or `None` if there is no such interface.
pub(crate) fn ifindex(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// The number of RX queues of an interface, from `/sys/class/net/<name>/queues`.
pub(crate) fn rx_queue_count(name: &str) -> io::Result<u32> {
    let dir = std::fs::read_dir(format!("/sys/class/net/{name}/queues"))?;
    let mut n = 0;
    for entry in dir {
        if entry?.file_name().to_string_lossy().starts_with("rx-") {
            n += 1;
        }
    }
    Ok(n)
}

/// The MAC address of an interface, from sysfs.
pub(crate) fn mac_address(name: &str) -> Option<[u8; 6]> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).ok()?;
    let mut mac = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    Some(mac)
}

/// The MTU of an interface, from sysfs.
pub(crate) fn mtu(name: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether the interface is operationally up, from sysfs.
pub(crate) fn oper_up(name: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{name}/operstate"))
        .map(|s| matches!(s.trim(), "up" | "unknown"))
        .unwrap_or(false)
}
