//! The kernel-speed transmitter (BPF_PROG_RUN, XDP live frames) into a veth whose other end is
//! in a network namespace, counted there by an XDP program. Needs root.

use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ferroplane_pktgen::TrafficConfig;
use ferroplane_pktgen::factory::FrameFactory;
use ferroplane_pktgen::xdp_tx::{SendLimit, StampSites, StopReason, XdpCounter, XdpTx};
use ferroplane_pmd::testing::{self, Netns, VethPair};

#[test]
fn live_frames_tx_delivers_the_requested_count() {
    if !testing::privileged("live_frames_tx_delivers_the_requested_count") {
        return;
    }
    let ns = Netns::new().expect("netns");
    let veth = VethPair::with_peer_in(&ns, 1).expect("veth");
    let counter = XdpCounter::attach(veth.peer(), Some(&ns.path())).expect("attach xdp_count");
    let t = TrafficConfig::default().parse().unwrap();
    let mut f = FrameFactory::new(&t, 1).unwrap();
    let mut frame = vec![0u8; f.max_len()];
    let n = f.write(&mut frame, 0, 0, 0).unwrap();
    frame.truncate(n);
    let (csum, udp) = f.l4_checksum().unwrap();
    let tx = XdpTx::load(
        veth.host(),
        StampSites {
            seq_off: (f.payload_offset() + 2) as u32,
            csum_off: csum as u32,
            udp,
            stream_base: 0,
        },
    )
    .expect("load xdp_gen");
    const COUNT: u64 = 200_000;
    let stop = AtomicBool::new(false);
    let report = tx
        .send(&frame, SendLimit::count(COUNT), 0, &stop)
        .expect("BPF_PROG_RUN live frames");
    let (sent, took) = (report.sent, report.took);
    assert_eq!(sent, COUNT);
    assert_eq!(report.reason, StopReason::Count);
    // Wait for the peer's NAPI to drain its ring.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = (0, 0);
    while Instant::now() < deadline {
        got = counter.counts().unwrap();
        if got.0 >= COUNT {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "xdp live-frames: {sent} frames in {:.3} s = {:.3} Mpps (debug build, shared cores)",
        took.as_secs_f64(),
        sent as f64 / took.as_secs_f64() / 1e6
    );
    assert_eq!(got.0, COUNT, "frames counted at the far end");
    assert_eq!(got.1, COUNT * n as u64);
    drop(counter);
}

/// A frame and a loaded generator into the host end of `veth`.
fn generator(veth: &VethPair) -> (Vec<u8>, XdpTx) {
    let t = TrafficConfig::default().parse().unwrap();
    let mut f = FrameFactory::new(&t, 1).unwrap();
    let mut frame = vec![0u8; f.max_len()];
    let n = f.write(&mut frame, 0, 0, 0).unwrap();
    frame.truncate(n);
    let tx = XdpTx::load(veth.host(), StampSites::default()).expect("load xdp_gen");
    (frame, tx)
}

/// Polls the far end's counter until it reaches `want` (or 5 s pass); returns the last count.
fn counted(counter: &XdpCounter, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = counter.counts().unwrap().0;
        if got >= want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn live_frames_tx_stops_after_the_duration() {
    if !testing::privileged("live_frames_tx_stops_after_the_duration") {
        return;
    }
    let ns = Netns::new().expect("netns");
    let veth = VethPair::with_peer_in(&ns, 1).expect("veth");
    let counter = XdpCounter::attach(veth.peer(), Some(&ns.path())).expect("attach xdp_count");
    let (frame, tx) = generator(&veth);
    let stop = AtomicBool::new(false);
    let limit = SendLimit {
        count: u64::MAX,
        duration: Some(Duration::from_millis(300)),
    };
    let r = tx.send(&frame, limit, 0, &stop).expect("send");
    assert_eq!(r.reason, StopReason::Duration);
    assert!(r.took >= Duration::from_millis(300), "{r:?}");
    // The last call is sized to the time left (at the measured rate): no long overshoot.
    assert!(r.took < Duration::from_secs(2), "{r:?}");
    assert!(r.sent > 0);
    // A veth drops what overflows its ring, so the far end sees at most what was sent.
    let got = counted(&counter, r.sent);
    assert!(got > 0 && got <= r.sent, "counted {got}, reported {r:?}");
}

extern "C" fn ignore_signal(_: libc::c_int) {}

#[test]
fn live_frames_tx_interrupted_by_a_signal_reports_what_it_sent() {
    if !testing::privileged("live_frames_tx_interrupted_by_a_signal_reports_what_it_sent") {
        return;
    }
    let ns = Netns::new().expect("netns");
    let veth = VethPair::with_peer_in(&ns, 1).expect("veth");
    let counter = XdpCounter::attach(veth.peer(), Some(&ns.path())).expect("attach xdp_count");
    let (frame, tx) = generator(&veth);
    // SIGUSR2 with a handler that does nothing and no SA_RESTART: a BPF_PROG_RUN in progress
    // returns EINTR, as with SIGINT under pktgen's handler.
    // SAFETY: a zeroed sigaction with a valid handler address is a valid argument; nothing
    // else in this test binary uses SIGUSR2.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore_signal as *const () as usize;
        assert_eq!(libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut()), 0);
    }
    let stop = AtomicBool::new(false);
    let limit = SendLimit {
        count: u64::MAX,
        // A safety net: the test must end even if the signal were lost.
        duration: Some(Duration::from_secs(10)),
    };
    let r = std::thread::scope(|s| {
        let (id_tx, id_rx) = std::sync::mpsc::channel();
        let (tx, frame, stop) = (&tx, &frame, &stop);
        let h = s.spawn(move || {
            // SAFETY: pthread_self has no preconditions.
            id_tx.send(unsafe { libc::pthread_self() }).unwrap();
            tx.send(frame, limit, 0, stop)
        });
        let pt = id_rx.recv().unwrap();
        // Wait until the far end counted more than a first call's worth of frames (it can only
        // undercount), so at least one call has completed before the signal.
        let deadline = Instant::now() + Duration::from_secs(8);
        while counter.counts().unwrap().0 <= 100_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Signal until the sender returns (one signal could land between two calls).
        while !h.is_finished() {
            // SAFETY: `pt` is the sender thread, not yet joined, so still a valid pthread_t.
            unsafe { libc::pthread_kill(pt, libc::SIGUSR2) };
            std::thread::sleep(Duration::from_millis(5));
        }
        h.join().unwrap()
    })
    .expect("EINTR is a stop, not an error");
    assert_eq!(r.reason, StopReason::Interrupted, "{r:?}");
    assert!(r.took < Duration::from_secs(10), "{r:?}");
    assert!(r.sent > 0, "{r:?}");
    assert!(r.uncounted_max > 0);
    // `sent` is a lower bound: the interrupted call sent an unknown part of its frames.
    // (A veth drops what overflows its ring, so the far end may see less.)
    let got = counted(&counter, r.sent + r.uncounted_max);
    assert!(
        got > 0 && got <= r.sent + r.uncounted_max,
        "counted {got}, reported {r:?}"
    );
}

#[test]
fn pktgen_xdp_cli_reports_after_sigint_and_after_duration() {
    if !testing::privileged("pktgen_xdp_cli_reports_after_sigint_and_after_duration") {
        return;
    }
    let ns = Netns::new().expect("netns");
    let veth = VethPair::with_peer_in(&ns, 1).expect("veth");
    let bin = env!("CARGO_BIN_EXE_pktgen");
    let args = [
        "xdp",
        "--iface",
        veth.host(),
        "--count-on",
        veth.peer(),
        "--netns",
        ns.name(),
    ];

    // --duration: stops by itself and reports.
    let out = Command::new(bin)
        .args(args)
        .args(["--duration", "0.3"])
        .output()
        .expect("run pktgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("(duration elapsed)"), "{stdout}");
    assert_cli_counts(&stdout);

    // SIGINT with no count limit reached: a normal stop with a report, exit status 0.
    let child = Command::new(bin)
        .args(args)
        .args(["--count", "100000000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pktgen");
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().expect("wait pktgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("(stopped)"), "{stdout}");
    assert_cli_counts(&stdout);

    // A bad duration is a clear error.
    let out = Command::new(bin)
        .args(args)
        .args(["--duration", "0"])
        .output()
        .expect("run pktgen");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--duration"));
}

/// Checks that pktgen reported sending N > 0 frames and that the far end counted between 1 and
/// N (a veth drops what overflows its ring).
fn assert_cli_counts(stdout: &str) {
    let num_after = |prefix: &str| -> u64 {
        let at = stdout
            .find(prefix)
            .unwrap_or_else(|| panic!("{prefix:?} in {stdout}"));
        stdout[at + prefix.len()..]
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("number after {prefix:?} in {stdout}"))
    };
    let sent = num_after("xdp live-frames: ");
    assert!(sent > 0, "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("received on "))
        .expect(stdout);
    let got: u64 = line
        .rsplit(": ")
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(got > 0 && got <= sent, "{stdout}");
}
