//! Helpers for tests that need root, network namespaces and veth pairs.
//!
//! Used by this crate's tests, the AF_XDP driver's, the engine's and the examples'. Everything a
//! helper creates has a unique name (`fp` + pid + counter, at most 15 bytes) and is deleted by a
//! `Drop` guard, also when the test panics.
//!
//! ```no_run
//! use ferroplane_pmd::testing::{privileged, Netns, VethPair, FrameSocket};
//! if !privileged("my_test") { return; }
//! let ns = Netns::new().unwrap();
//! let veth = VethPair::with_peer_in(&ns, 1).unwrap();   // veth.host() here, veth.peer() in ns
//! let sock = FrameSocket::open_in(&ns, veth.peer()).unwrap();
//! sock.send(&[0u8; 60]).unwrap();
//! ```

use crate::info::MacAddr;
use crate::sys;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Environment variable that turns a privileged-test skip into a failure (CI sets it to 1).
pub const REQUIRE_PRIVILEGED: &str = "FERROPLANE_REQUIRE_PRIVILEGED";

/// Whether a test needing root may run. When not root, prints `SKIP <test>: needs root (...)`
/// and returns false, unless `FERROPLANE_REQUIRE_PRIVILEGED=1`, in which case it panics.
pub fn privileged(test_name: &str) -> bool {
    if sys::is_root() {
        return true;
    }
    let reason = "needs root (network namespaces, veth, packet sockets)";
    if std::env::var(REQUIRE_PRIVILEGED).as_deref() == Ok("1") {
        panic!("{test_name}: {reason}, and {REQUIRE_PRIVILEGED}=1 forbids skipping");
    }
    println!("SKIP {test_name}: {reason}");
    false
}

/// A unique name `fp<pid><n><suffix>` of at most 15 bytes (`suffix` is at most 2 bytes).
pub fn unique_name(suffix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    assert!(suffix.len() <= 2, "suffix too long");
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 1000;
    let pid = std::process::id() % 10_000_000;
    format!("fp{pid}{n}{suffix}")
}

/// Runs a command, failing with its stderr when it exits non-zero.
pub fn run(program: &str, args: &[&str]) -> io::Result<Output> {
    let out = Command::new(program).args(args).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a uniquely named namespace with its loopback up.
    pub fn new() -> io::Result<Self> {
        let name = unique_name("n");
        run("ip", &["netns", "add", &name])?;
        let ns = Netns { name };
        ns.exec("ip", &["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's file, for `setns`.
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// Runs `program args...` inside the namespace (`ip netns exec`).
    pub fn exec(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        let mut all = vec!["netns", "exec", self.name.as_str(), program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Spawns `program args...` inside the namespace without waiting (for captures).
    pub fn spawn(&self, program: &str, args: &[&str]) -> io::Result<std::process::Child> {
        Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run("ip", &["netns", "del", &self.name]) {
            eprintln!("warning: could not delete netns {}: {e}", self.name);
        }
    }
}

fn disable_ipv6(ns: Option<&Netns>, ifname: &str) -> io::Result<()> {
    let key = format!("net.ipv6.conf.{ifname}.disable_ipv6=1");
    match ns {
        Some(ns) => ns.exec("sysctl", &["-qw", &key]).map(drop),
        None => run("sysctl", &["-qw", &key]).map(drop),
    }
}

/// A veth pair: `host()` in the caller's namespace, `peer()` in the caller's or in a [`Netns`].
/// Both ends are up, with IPv6 disabled so the kernel sends nothing on its own. Deleted on drop.
#[derive(Debug)]
pub struct VethPair {
    host: String,
    peer: String,
}

impl VethPair {
    /// Creates a pair with `queues` RX/TX queues per end, both ends in the caller's namespace.
    pub fn new(queues: u16) -> io::Result<Self> {
        Self::create(None, queues)
    }

    /// Creates a pair with the peer end moved into `ns`.
    pub fn with_peer_in(ns: &Netns, queues: u16) -> io::Result<Self> {
        Self::create(Some(ns), queues)
    }

    fn create(ns: Option<&Netns>, queues: u16) -> io::Result<Self> {
        let base = unique_name("");
        let host = format!("{base}a");
        let peer = format!("{base}b");
        let q = queues.max(1).to_string();
        run(
            "ip",
            &[
                "link",
                "add",
                &host,
                "numtxqueues",
                &q,
                "numrxqueues",
                &q,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
                "numtxqueues",
                &q,
                "numrxqueues",
                &q,
            ],
        )?;
        let pair = VethPair { host, peer };
        disable_ipv6(None, &pair.host)?;
        if let Some(ns) = ns {
            run("ip", &["link", "set", &pair.peer, "netns", ns.name()])?;
            disable_ipv6(Some(ns), &pair.peer)?;
            ns.exec("ip", &["link", "set", &pair.peer, "up"])?;
        } else {
            disable_ipv6(None, &pair.peer)?;
            run("ip", &["link", "set", &pair.peer, "up"])?;
        }
        run("ip", &["link", "set", &pair.host, "up"])?;
        pair.wait_up(ns)?;
        Ok(pair)
    }

    /// Waits until both ends are operationally up: the kernel activates a device's queueing
    /// discipline asynchronously (linkwatch), and until then it drops what is sent, which on a
    /// loaded machine made the first frames of a test vanish.
    fn wait_up(&self, ns: Option<&Netns>) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let host_up =
                std::fs::read_to_string(format!("/sys/class/net/{}/operstate", self.host))
                    .is_ok_and(|s| s.trim() == "up");
            let peer = match ns {
                Some(ns) => run(
                    "ip",
                    &["-n", ns.name(), "-o", "link", "show", "dev", &self.peer],
                ),
                None => run("ip", &["-o", "link", "show", "dev", &self.peer]),
            };
            let peer_up =
                peer.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("state UP"));
            if host_up && peer_up {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::other(format!(
                    "veth {}/{} not up after 5 s (host up: {host_up}, peer up: {peer_up})",
                    self.host, self.peer
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The end in the caller's namespace.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The other end.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The MAC address of the host end.
    pub fn host_mac(&self) -> io::Result<MacAddr> {
        sys::get_mac(&self.host).map(MacAddr)
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        // Deleting one end deletes both; the host end is gone already if the namespace went first.
        if sys::if_exists(&self.host)
            && let Err(e) = run("ip", &["link", "del", &self.host])
        {
            eprintln!("warning: could not delete veth {}: {e}", self.host);
        }
    }
}

/// A raw packet socket bound to one interface (possibly inside a namespace): sends exact frames
/// and captures what arrives, ignoring the frames it sends itself.
#[derive(Debug)]
pub struct FrameSocket {
    fd: OwnedFd,
}

fn open_frame_socket(ifname: &str) -> io::Result<OwnedFd> {
    let fd = sys::packet_socket()?;
    let idx = sys::if_index(ifname)?;
    // Ignore our own outgoing frames (kernel >= 4.20).
    sys::set_opt(
        fd.as_raw_fd(),
        libc::SOL_PACKET,
        23, /* PACKET_IGNORE_OUTGOING */
        &1i32,
    )?;
    sys::bind_packet(fd.as_raw_fd(), idx, sys::ETH_P_ALL_BE)?;
    Ok(fd)
}

impl FrameSocket {
    /// Opens a socket on `ifname` in the caller's namespace.
    pub fn open(ifname: &str) -> io::Result<Self> {
        Ok(FrameSocket {
            fd: open_frame_socket(ifname)?,
        })
    }

    /// Opens a socket on `ifname` inside `ns`.
    pub fn open_in(ns: &Netns, ifname: &str) -> io::Result<Self> {
        let name = ifname.to_string();
        let fd = sys::in_netns(&ns.path(), move || open_frame_socket(&name))?;
        Ok(FrameSocket { fd })
    }

    /// Sends one frame as is.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        let n = sys::send(self.fd.as_raw_fd(), frame)?;
        if n != frame.len() {
            return Err(io::Error::other(format!(
                "short send {n} of {}",
                frame.len()
            )));
        }
        Ok(())
    }

    /// Receives the next frame, waiting up to `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        loop {
            match sys::recv_nonblock(self.fd.as_raw_fd(), &mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return Some(buf);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return None,
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            sys::poll_readable(self.fd.as_raw_fd(), left.as_millis().clamp(1, 100) as i32);
        }
    }

    /// Receives frames for up to `timeout`, keeping those `keep` accepts, until `want` are kept.
    pub fn recv_matching(
        &self,
        want: usize,
        timeout: Duration,
        mut keep: impl FnMut(&[u8]) -> bool,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if let Some(f) = self.recv(left)
                && keep(&f)
            {
                out.push(f);
            }
        }
        out
    }
}

/// The EtherType the test frames use (IEEE 802 local experimental 1), easy to filter on.
pub const TEST_ETHERTYPE: u16 = 0x88b5;

/// An Ethernet frame of `len` bytes (at least 18) with EtherType [`TEST_ETHERTYPE`], carrying
/// `tag` as a big-endian u32 right after the header and a pattern derived from it after that.
pub fn test_frame(dst: MacAddr, src: MacAddr, tag: u32, len: usize) -> Vec<u8> {
    let len = len.max(18);
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&TEST_ETHERTYPE.to_be_bytes());
    f.extend_from_slice(&tag.to_be_bytes());
    let mut x = tag.wrapping_mul(2_654_435_761) | 1;
    while f.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f.push(x as u8);
    }
    f
}

/// The tag of a [`test_frame`], if `frame` is one.
pub fn test_frame_tag(frame: &[u8]) -> Option<u32> {
    if frame.len() >= 18 && frame[12..14] == TEST_ETHERTYPE.to_be_bytes() {
        Some(u32::from_be_bytes([
            frame[14], frame[15], frame[16], frame[17],
        ]))
    } else {
        None
    }
}

/// An Ethernet/IPv4/UDP frame (valid IP checksum, UDP checksum 0) with `payload_len` bytes of
/// payload, whose first 4 bytes are `tag` (big endian). Distinct ports make distinct flows.
#[allow(clippy::too_many_arguments)]
pub fn udp_frame(
    dst: MacAddr,
    src: MacAddr,
    src_ip: [u8; 4],
    dst_ip: [u8; 4],
    src_port: u16,
    dst_port: u16,
    tag: u32,
    payload_len: usize,
) -> Vec<u8> {
    let payload_len = payload_len.max(4);
    let mut f = Vec::with_capacity(42 + payload_len);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + 8 + payload_len) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src_ip);
    ip[16..20].copy_from_slice(&dst_ip);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&src_port.to_be_bytes());
    f.extend_from_slice(&dst_port.to_be_bytes());
    f.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&tag.to_be_bytes());
    f.extend((4..payload_len).map(|i| (i as u32 ^ tag) as u8));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_fit_in_ifnamsiz() {
        let a = unique_name("a");
        let b = unique_name("a");
        assert_ne!(a, b);
        assert!(a.len() <= 15 && a.starts_with("fp"), "{a}");
    }

    #[test]
    fn frames_carry_their_tag() {
        let f = test_frame(
            MacAddr([2, 0, 0, 0, 0, 1]),
            MacAddr([2, 0, 0, 0, 0, 2]),
            77,
            64,
        );
        assert_eq!(f.len(), 64);
        assert_eq!(test_frame_tag(&f), Some(77));
        assert_eq!(test_frame_tag(&f[..10]), None);
        let u = udp_frame(
            MacAddr::default(),
            MacAddr::default(),
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            1,
            2,
            9,
            18,
        );
        assert_eq!(u.len(), 14 + 20 + 8 + 18);
        // IPv4 header checksum verifies to 0xffff.
        let mut s: u32 = u[14..34]
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        assert_eq!(s, 0xffff);
    }

    #[test]
    fn veth_in_netns_carries_frames_and_is_removed() {
        if !privileged("veth_in_netns_carries_frames_and_is_removed") {
            return;
        }
        let (host, nsname);
        {
            let ns = Netns::new().unwrap();
            let veth = VethPair::with_peer_in(&ns, 1).unwrap();
            host = veth.host().to_string();
            nsname = ns.name().to_string();
            let inside = FrameSocket::open_in(&ns, veth.peer()).unwrap();
            let outside = FrameSocket::open(veth.host()).unwrap();
            let f = test_frame(MacAddr([0xff; 6]), MacAddr::local_from(1), 5, 60);
            inside.send(&f).unwrap();
            let got =
                outside.recv_matching(1, Duration::from_secs(2), |x| test_frame_tag(x) == Some(5));
            assert_eq!(got, vec![f]);
            drop(veth);
            drop(ns);
        }
        assert!(!sys::if_exists(&host));
        assert!(!std::path::Path::new(&format!("/var/run/netns/{nsname}")).exists());
    }
}
