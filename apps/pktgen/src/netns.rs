//! Doing set-up work inside another network namespace.
//!
//! A socket belongs to the namespace it was created in, whatever thread uses it later, so a
//! port opened by a thread that has entered namespace A keeps sending and receiving in A while
//! pktgen's other ports live elsewhere. That lets one pktgen process transmit in one namespace
//! and measure in another (the demo: A -> router -> B), keeping sequence and latency tracking in
//! one place.
//!
//! The helper thread also gets a private mount namespace with a fresh sysfs, as `ip netns exec`
//! does, because `/sys/class/net` shows the interfaces of the namespace sysfs was mounted in, and
//! drivers read it while opening (queue counts, MAC, MTU).

use std::os::fd::{AsFd, AsRawFd};

use crate::error::PktgenError;

/// The path of a namespace given by name (`/var/run/netns/NAME`) or by path (contains a `/`).
pub fn path_of(netns: &str) -> String {
    if netns.contains('/') {
        netns.to_string()
    } else {
        format!("/var/run/netns/{netns}")
    }
}

/// Runs `f` on a helper thread that has entered network namespace `netns` (a name or a path),
/// with `/sys` remounted for it; runs `f` here when `netns` is `None`.
pub fn run_in<T: Send + 'static>(
    netns: Option<&str>,
    f: impl FnOnce() -> Result<T, PktgenError> + Send + 'static,
) -> Result<T, PktgenError> {
    let Some(ns) = netns else {
        return f();
    };
    let path = path_of(ns);
    let file = std::fs::File::open(&path).map_err(|e| PktgenError::io(&path, e))?;
    std::thread::spawn(move || {
        sys::setns_net(file.as_fd().as_raw_fd())
            .map_err(|e| PktgenError::Config(format!("setns {path}: {e}")))?;
        if let Err(e) = sys::private_sysfs() {
            // Not fatal: drivers that only use sockets and ioctls still work.
            log::warn!("netns {path}: could not remount /sys for the namespace: {e}");
        }
        f()
    })
    .join()
    .map_err(|_| PktgenError::Config(format!("netns {ns}: helper thread panicked")))?
}

/// The raw calls.
mod sys {
    use std::io;

    fn check(r: i32) -> io::Result<()> {
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// `setns(fd, CLONE_NEWNET)` for the calling thread.
    pub fn setns_net(fd: i32) -> io::Result<()> {
        // SAFETY: plain syscall on a descriptor the caller owns; affects only the calling thread.
        check(unsafe { libc::setns(fd, libc::CLONE_NEWNET) })
    }

    /// Gives the calling thread its own mount namespace (no propagation back) with a sysfs
    /// mounted for its current network namespace.
    pub fn private_sysfs() -> io::Result<()> {
        // SAFETY: unshare of the mount namespace (and with it the fs struct) only affects the
        // calling thread, which is a short-lived helper; the strings are NUL-terminated literals.
        unsafe {
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_SLAVE,
                std::ptr::null(),
            ))?;
            check(libc::umount2(c"/sys".as_ptr(), libc::MNT_DETACH))?;
            check(libc::mount(
                c"sysfs".as_ptr(),
                c"/sys".as_ptr(),
                c"sysfs".as_ptr(),
                0,
                std::ptr::null(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_var_run_netns() {
        assert_eq!(path_of("fpdemoA"), "/var/run/netns/fpdemoA");
        assert_eq!(path_of("/proc/1/ns/net"), "/proc/1/ns/net");
    }

    #[test]
    fn missing_namespace_is_an_error_naming_it() {
        let e = run_in(Some("fp-no-such-ns"), || Ok(())).unwrap_err();
        assert!(e.to_string().contains("fp-no-such-ns"), "{e}");
    }

    #[test]
    fn no_namespace_runs_here() {
        let me = std::thread::current().id();
        let there = run_in(None, move || Ok(std::thread::current().id())).unwrap();
        assert_eq!(me, there);
    }
}
