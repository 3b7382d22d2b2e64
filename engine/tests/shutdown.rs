//! Shutdown of a real process: the io_fwd example on af_packet (and af_xdp when this build has
//! it) over veth pairs gets SIGINT, forwards what it has, prints the final statistics and exits
//! 0; a second signal (SIGTERM right behind SIGINT) exits 130 at once, and in both cases no XDP program
//! stays attached. Needs root (skips with a reason otherwise, fails under
//! FERROPLANE_REQUIRE_PRIVILEGED=1).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferroplane::pmd::MacAddr;
use ferroplane::pmd::testing::{FrameSocket, VethPair, privileged, udp_frame};

/// The io_fwd example, built next to this test (cargo test builds examples); built on demand
/// when only this test target was compiled.
fn io_fwd() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let path = profile_dir.join("examples").join("io_fwd");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target_dir = profile_dir.parent().unwrap();
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "ferroplane", "--example", "io_fwd"])
            .env("CARGO_TARGET_DIR", target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().unwrap().success(),
            "building the io_fwd example"
        );
    }
    assert!(path.exists(), "{} missing", path.display());
    path
}

struct Running {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that failed half-way must not leave the forwarder running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Every line a reader thread still has: the child has exited, so its reader reaches EOF and
/// hangs up; `try_iter` alone could miss the last lines it had not passed on yet.
fn drain(rx: &mpsc::Receiver<String>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => out.push(line),
            Err(_) => break,
        }
    }
    out
}

fn start(ports: &[String], extra: &[&str]) -> Running {
    let cpus = ferroplane::config::available_cpus();
    let lcores = if cpus.len() >= 2 {
        format!("{},{}", cpus[0], cpus[1])
    } else {
        cpus[0].to_string()
    };
    let mut cmd = Command::new(io_fwd());
    cmd.args([
        "-l", &lcores, "--idle", "adaptive", "--rxd", "512", "--txd", "512",
    ]);
    if cpus.len() < 2 {
        cmd.arg("--main-lcore-works");
    }
    for p in ports {
        cmd.args(["--port", p]);
    }
    cmd.args(extra);
    let mut child = cmd
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines(child.stdout.take().unwrap());
    let stderr = lines(child.stderr.take().unwrap());
    let run = Running {
        child,
        stdout,
        stderr,
    };
    // Wait for "N lcore(s) started".
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match run.stderr.recv_timeout(Duration::from_millis(100)) {
            Ok(l) if l.contains("lcore(s) started") => return run,
            Ok(l) => seen.push(l),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("io_fwd did not start: {seen:#?}");
}

fn signal(run: &Running, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(run.child.id() as libc::pid_t, sig) }, 0);
}

fn wait_exit(run: &mut Running, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = run.child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        assert!(
            Instant::now() < deadline,
            "io_fwd did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `ip -j link show dev IF` reports an XDP program on the interface.
fn xdp_attached(ifname: &str) -> bool {
    let out = Command::new("ip")
        .args(["-j", "link", "show", "dev", ifname])
        .output()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    v.as_array()
        .into_iter()
        .flatten()
        .any(|l| l.get("xdp").is_some())
}

/// Starts io_fwd on `driver` over two veth pairs, checks frames cross, stops it with one (or two)
/// SIGINT, and checks the exit code, the final line and that no XDP program is left.
fn run_case(driver: &str, double_signal: bool) {
    let a = VethPair::new(1).unwrap();
    let b = VethPair::new(1).unwrap();
    let ports = [
        format!("{driver}:iface={}", a.host()),
        format!("{driver}:iface={}", b.host()),
    ];
    // The single-signal case also shows the periodic statistics.
    let extra: &[&str] = if double_signal {
        &[]
    } else {
        &["--stats-period", "1"]
    };
    let mut run = start(&ports, extra);

    if !double_signal {
        let tx = FrameSocket::open(a.peer()).unwrap();
        let rx = FrameSocket::open(b.peer()).unwrap();
        let (dst, src) = (MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
        // UDP/IPv4: the AF_XDP steering program hands IP to the socket and the rest to the kernel.
        let frame = |tag| udp_frame(dst, src, [10, 9, 0, 1], [10, 9, 0, 2], 4000, 4001, tag, 32);
        for tag in 0..20 {
            tx.send(&frame(tag)).unwrap();
        }
        let ours = |f: &[u8]| {
            f.len() >= 38
                && f[12..14] == [8, 0]
                && f[23] == 17
                && f[36..38] == 4001u16.to_be_bytes()
        };
        let got = rx.recv_matching(20, Duration::from_secs(5), ours);
        assert!(!got.is_empty(), "{driver}: no frame crossed io_fwd");
    }
    if driver == "af_xdp" {
        assert!(
            xdp_attached(a.host()),
            "af_xdp port should have attached its XDP program"
        );
    }

    if !double_signal {
        std::thread::sleep(Duration::from_millis(1300));
    }
    signal(&run, libc::SIGINT);
    if double_signal {
        // A different signal: two pending SIGINTs would merge into one.
        signal(&run, libc::SIGTERM);
    }
    let code = wait_exit(&mut run, Duration::from_secs(15));
    let stdout = drain(&run.stdout);
    let stderr = drain(&run.stderr);
    if double_signal {
        assert_eq!(
            code, 130,
            "{driver}: second signal exits 130\nstderr: {stderr:#?}"
        );
    } else {
        assert_eq!(
            code, 0,
            "{driver}: exit code\nstdout: {stdout:#?}\nstderr: {stderr:#?}"
        );
        let last = stdout
            .iter()
            .rev()
            .find(|l| l.starts_with("final: "))
            .unwrap_or_else(|| {
                panic!("{driver}: no final statistics line in {stdout:#?}");
            });
        let rx: u64 = last
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("rx_packets="))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(rx >= 1, "{driver}: final line counts the frames: {last}");
        assert!(
            stdout
                .iter()
                .any(|l| l.starts_with("port 0 (") && l.contains("pps)")),
            "{driver}: no periodic statistics line in {stdout:#?}"
        );
    }
    for iface in [a.host(), b.host()] {
        assert!(
            !xdp_attached(iface),
            "{driver}: XDP program left on {iface} (exit code {code})"
        );
    }
}

#[test]
fn sigint_stops_io_fwd_on_af_packet() {
    if !privileged("sigint_stops_io_fwd_on_af_packet") {
        return;
    }
    run_case("af_packet", false);
}

#[test]
fn second_sigint_exits_at_once_on_af_packet() {
    if !privileged("second_sigint_exits_at_once_on_af_packet") {
        return;
    }
    run_case("af_packet", true);
}

fn have_af_xdp(test: &str) -> bool {
    if !ferroplane::pmd::DRIVERS.contains(&"af_xdp") {
        println!("SKIP {test}: this build of ferroplane-pmd has no af_xdp driver");
        return false;
    }
    privileged(test)
}

#[test]
fn sigint_stops_io_fwd_on_af_xdp_and_detaches() {
    if have_af_xdp("sigint_stops_io_fwd_on_af_xdp_and_detaches") {
        run_case("af_xdp", false);
    }
}

#[test]
fn second_sigint_on_af_xdp_still_detaches() {
    if have_af_xdp("second_sigint_on_af_xdp_still_detaches") {
        run_case("af_xdp", true);
    }
}

#[test]
fn bad_arguments_exit_non_zero_naming_the_value() {
    let out = Command::new(io_fwd())
        .args(["-l", "0,4000", "--port", "null:"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lcore 4000 does not exist"), "{err}");
    let out = Command::new(io_fwd())
        .args(["-l", "0-1", "--port", "bogus:x=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open port 0 'bogus:x=1'"), "{err}");
}
