//! SIGINT/SIGTERM (and, when the application asks, SIGHUP) delivery through a self-pipe.
//!
//! The handler only bumps an atomic counter and writes one byte to a non-blocking pipe (both
//! async-signal-safe, no allocation, no lock); a control thread waits on the pipe's read end.
//! The previous handlers are restored when [`ShutdownSignals`] is dropped.
//!
//! [`StopOnSignal`] is the whole pattern for a tool that is not an [`Engine`](crate::Engine)
//! run (pktgen, benchmarks): a watcher thread sets a stop flag on the first signal and ends the
//! process on a second.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
static RECEIVED: AtomicU32 = AtomicU32::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The signals that ask the engine to stop.
pub const SHUTDOWN_SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

extern "C" fn on_signal(sig: libc::c_int) {
    // Keep errno intact for the interrupted code.
    let saved = sys::errno();
    if sig != libc::SIGHUP {
        RECEIVED.fetch_add(1, Ordering::SeqCst);
    }
    sys::write_byte(WRITE_FD.load(Ordering::SeqCst), sig as u8);
    sys::set_errno(saved);
}

/// Installed SIGINT/SIGTERM handlers; at most one exists per process.
#[derive(Debug)]
pub struct ShutdownSignals {
    read_fd: libc::c_int,
    write_fd: libc::c_int,
    old: Vec<(libc::c_int, libc::sigaction)>,
}

impl ShutdownSignals {
    /// Installs the handlers. Fails if another `ShutdownSignals` is alive.
    pub fn install() -> io::Result<Self> {
        Self::install_with_hup(false)
    }

    /// Like [`install`](Self::install), and with `hup` also catches SIGHUP (delivered by
    /// [`wait`](Self::wait) like the others, not counted by [`received`](Self::received)).
    pub fn install_with_hup(hup: bool) -> io::Result<Self> {
        if INSTALLED.swap(true, Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "signal handlers already installed",
            ));
        }
        let (read_fd, write_fd) = match sys::pipe() {
            Ok(p) => p,
            Err(e) => {
                INSTALLED.store(false, Ordering::SeqCst);
                return Err(e);
            }
        };
        RECEIVED.store(0, Ordering::SeqCst);
        WRITE_FD.store(write_fd, Ordering::SeqCst);
        let mut me = ShutdownSignals {
            read_fd,
            write_fd,
            old: Vec::new(),
        };
        let hup_sig = hup.then_some(libc::SIGHUP);
        for sig in SHUTDOWN_SIGNALS.into_iter().chain(hup_sig) {
            let old = sys::set_handler(sig, on_signal)?;
            me.old.push((sig, old));
        }
        Ok(me)
    }

    /// How many shutdown signals arrived since installation.
    pub fn received(&self) -> u32 {
        RECEIVED.load(Ordering::SeqCst)
    }

    /// Waits up to `timeout` for a signal; returns its number.
    pub fn wait(&self, timeout: Duration) -> Option<libc::c_int> {
        sys::wait_byte(self.read_fd, timeout).map(libc::c_int::from)
    }
}

impl Drop for ShutdownSignals {
    fn drop(&mut self) {
        for (sig, old) in self.old.drain(..) {
            sys::restore_handler(sig, &old);
        }
        WRITE_FD.store(-1, Ordering::SeqCst);
        sys::close(self.read_fd);
        sys::close(self.write_fd);
        INSTALLED.store(false, Ordering::SeqCst);
    }
}

/// A repeat of the first signal within this time is taken as the same request: `timeout(1)` and
/// a terminal's Ctrl-C can deliver one request twice (to the process and to its group).
pub const SIGNAL_DEBOUNCE: Duration = Duration::from_millis(100);

/// Exit status after a second signal (128 + SIGINT, as a shell reports Ctrl-C).
pub const SECOND_SIGNAL_EXIT: i32 = 130;

/// What a second signal (not a [`SIGNAL_DEBOUNCE`] repeat of the first) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondSignal {
    /// Exit the process at once with [`SECOND_SIGNAL_EXIT`]: for tools that hold nothing
    /// outside the process (no XDP program attached by netlink, no files to remove).
    Exit,
    /// Only say that the tool is already stopping: for tools that must clean up on the way out.
    Ignore,
}

/// SIGINT/SIGTERM handling for a tool: the first signal sets a stop flag; a second one does
/// what [`SecondSignal`] says. Dropping it stops the watcher thread and restores the previous
/// handlers.
#[derive(Debug)]
pub struct StopOnSignal {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StopOnSignal {
    /// Installs the handlers and starts the watcher thread (`fp-signals`). `name` prefixes the
    /// messages printed on stderr. Fails like [`ShutdownSignals::install`].
    pub fn install(name: &str, stop: Arc<AtomicBool>, second: SecondSignal) -> io::Result<Self> {
        let sig = ShutdownSignals::install()?;
        let done = Arc::new(AtomicBool::new(false));
        let (d, name) = (done.clone(), name.to_string());
        let thread = std::thread::Builder::new()
            .name("fp-signals".into())
            .spawn(move || watch_stop(&sig, &name, &stop, second, &d))?;
        Ok(StopOnSignal {
            done,
            thread: Some(thread),
        })
    }
}

impl Drop for StopOnSignal {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn watch_stop(
    sig: &ShutdownSignals,
    name: &str,
    stop: &AtomicBool,
    second: SecondSignal,
    done: &AtomicBool,
) {
    let mut first: Option<(libc::c_int, Instant)> = None;
    while !done.load(Ordering::SeqCst) {
        let Some(signo) = sig.wait(Duration::from_millis(50)) else {
            continue;
        };
        match first {
            None => {
                let again = match second {
                    SecondSignal::Exit => " (again to exit at once)",
                    SecondSignal::Ignore => "",
                };
                eprintln!("{name}: signal {signo} received, stopping{again}");
                stop.store(true, Ordering::SeqCst);
                first = Some((signo, Instant::now()));
            }
            Some((s, at)) if s == signo && at.elapsed() < SIGNAL_DEBOUNCE => {}
            Some(_) if second == SecondSignal::Exit => {
                eprintln!("{name}: second signal {signo}: exiting now");
                std::process::exit(SECOND_SIGNAL_EXIT);
            }
            Some(_) => eprintln!("{name}: signal {signo}: already stopping, cleaning up"),
        }
    }
}

/// The libc calls, each with its safety argument.
mod sys {
    use std::io;
    use std::time::Duration;

    pub fn errno() -> libc::c_int {
        // SAFETY: __errno_location returns a valid pointer to this thread's errno.
        unsafe { *libc::__errno_location() }
    }

    pub fn set_errno(v: libc::c_int) {
        // SAFETY: as above; writing errno is allowed.
        unsafe { *libc::__errno_location() = v }
    }

    pub fn write_byte(fd: libc::c_int, b: u8) {
        if fd >= 0 {
            // SAFETY: `b` is a valid one-byte buffer; write(2) is async-signal-safe; a full pipe
            // (EAGAIN, non-blocking) just loses the byte, the counter still counts.
            unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
        }
    }

    pub fn pipe() -> io::Result<(libc::c_int, libc::c_int)> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: fds is a valid array of two ints for pipe2 to fill.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((fds[0], fds[1]))
    }

    pub fn set_handler(
        sig: libc::c_int,
        f: extern "C" fn(libc::c_int),
    ) -> io::Result<libc::sigaction> {
        // SAFETY: sigaction is plain old data; all-zero is a valid starting value.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = f as usize;
        sa.sa_flags = libc::SA_RESTART;
        // SAFETY: sa.sa_mask is a valid sigset_t to clear.
        unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        // SAFETY: as above.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid sigaction structs; the handler is async-signal-safe.
        if unsafe { libc::sigaction(sig, &sa, &mut old) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(old)
    }

    pub fn restore_handler(sig: libc::c_int, old: &libc::sigaction) {
        // SAFETY: `old` is the action sigaction gave us earlier.
        unsafe { libc::sigaction(sig, old, std::ptr::null_mut()) };
    }

    pub fn wait_byte(fd: libc::c_int, timeout: Duration) -> Option<u8> {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: pfd is one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r <= 0 {
            return None;
        }
        let mut b = 0u8;
        // SAFETY: b is a valid one-byte buffer; fd is non-blocking.
        let n = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
        (n == 1).then_some(b)
    }

    pub fn close(fd: libc::c_int) {
        // SAFETY: fd is a descriptor we own and close once.
        unsafe { libc::close(fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_signal_is_seen_and_counted() {
        let s = ShutdownSignals::install().unwrap();
        assert!(ShutdownSignals::install().is_err(), "only one at a time");
        assert_eq!(s.wait(Duration::from_millis(1)), None);
        // SAFETY: raising SIGTERM on ourselves, with our handler installed.
        unsafe { libc::raise(libc::SIGTERM) };
        assert_eq!(s.wait(Duration::from_secs(5)), Some(libc::SIGTERM));
        assert_eq!(s.received(), 1);
        drop(s);
        // Reinstallable after drop; SIGHUP is delivered but not counted.
        let s = ShutdownSignals::install_with_hup(true).unwrap();
        // SAFETY: raising SIGHUP on ourselves, with our handler installed.
        unsafe { libc::raise(libc::SIGHUP) };
        assert_eq!(s.wait(Duration::from_secs(5)), Some(libc::SIGHUP));
        assert_eq!(s.received(), 0);
        drop(s);

        // The tool pattern: a signal sets the flag; with `Ignore` a second one does not exit.
        let stop = Arc::new(AtomicBool::new(false));
        let w = StopOnSignal::install("test", stop.clone(), SecondSignal::Ignore).unwrap();
        assert!(!stop.load(Ordering::SeqCst));
        // SAFETY: raising SIGINT on ourselves, with our handler installed.
        unsafe { libc::raise(libc::SIGINT) };
        let t0 = Instant::now();
        while !stop.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(stop.load(Ordering::SeqCst), "first signal sets the flag");
        // SAFETY: as above.
        unsafe { libc::raise(libc::SIGTERM) };
        std::thread::sleep(Duration::from_millis(100));
        drop(w); // still here: the second signal did not exit
        // Handlers are gone with it: installable again.
        drop(ShutdownSignals::install().unwrap());
    }
}
