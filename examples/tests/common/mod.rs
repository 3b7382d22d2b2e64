//! Helpers for the example binaries' integration tests: running a binary inside a namespace,
//! stopping it with SIGINT, running closures inside a namespace, reading counters.

#![allow(dead_code)]

use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferroplane_pmd::testing::Netns;

/// A running example binary; SIGINT and reaped on drop.
pub struct App {
    child: Option<Child>,
}

impl App {
    /// Starts `bin args...` inside `ns` (or here, if `None`).
    pub fn spawn(ns: Option<&Netns>, bin: &str, args: &[&str]) -> App {
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns.name(), bin]);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        App {
            child: Some(cmd.spawn().expect("spawn example binary")),
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends `sig` to the binary (it is exec'd by `ip netns exec`, so the pid is its own).
    pub fn signal(&self, sig: libc::c_int) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) with a pid we spawned and still own (not reaped yet).
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    /// Sends SIGINT, waits (10 s at most, then SIGKILL) and returns (success, stdout + stderr).
    pub fn stop(mut self) -> (bool, String) {
        let mut c = self.child.take().expect("child");
        // SAFETY: kill(2) with a pid we spawned and still own (not reaped yet).
        unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Ok(Some(s)) = c.try_wait() {
                break Some(s);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        if let Some(mut o) = c.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = c.stderr.take() {
            let _ = e.read_to_string(&mut out);
        }
        (status.is_some_and(|s| s.success()), out)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: as in `stop`.
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
            std::thread::sleep(Duration::from_millis(500));
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `f` on a thread that has entered network namespace `ns`.
pub fn in_netns<T: Send + 'static>(
    ns: &Netns,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = ns.path();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        // SAFETY: setns on a valid namespace fd; it changes only this thread's network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// Runs a command in `ns` and returns (success, stdout + stderr), without failing on non-zero.
pub fn ns_run(ns: &Netns, program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name(), program])
        .args(args)
        .output()
        .expect("ip netns exec");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

/// Sends one telemetry query to the Unix socket at `path` (waiting up to 10 s for it to
/// appear) and returns the JSON reply.
pub fn telemetry(path: &std::path::Path, query: &str) -> serde_json::Value {
    ferroplane::telemetry::Client::connect(path, Duration::from_secs(10))
        .and_then(|mut c| c.query(query))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Sum of every `name=N` token in `text`.
pub fn counter(text: &str, name: &str) -> u64 {
    let key = format!("{name}=");
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|t| t.strip_prefix(&key))
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
}

/// Moves interface `ifname` from this namespace into `ns` and brings it up there.
pub fn move_into(ifname: &str, ns: &Netns) {
    ferroplane_pmd::testing::run("ip", &["link", "set", ifname, "netns", ns.name()])
        .expect("move veth");
    ns.exec(
        "sysctl",
        &["-qw", &format!("net.ipv6.conf.{ifname}.disable_ipv6=1")],
    )
    .expect("sysctl");
    ns.exec("ip", &["link", "set", ifname, "up"])
        .expect("link up");
}

/// The MAC of `ifname` in `ns`.
pub fn mac_in(ns: &Netns, ifname: &str) -> [u8; 6] {
    let (_, s) = ns_run(ns, "cat", &[&format!("/sys/class/net/{ifname}/address")]);
    let mut m = [0u8; 6];
    for (i, p) in s.trim().split(':').enumerate().take(6) {
        m[i] = u8::from_str_radix(p, 16).unwrap_or(0);
    }
    m
}
