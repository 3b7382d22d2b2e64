//! pktgen against known answers over veth pairs and af_packet ports: exact counts and pacing,
//! latency of a known delay, loss/duplicate/reorder detection through a misbehaving forwarder,
//! and the RFC 2544 search converging on `pktgen-dut` (an engine application that drops above
//! a known rate) running as its own process.
//!
//! Topology: pktgen TX `p1.host` = `p1.peer` forwarder `p2.host` = `p2.peer` pktgen RX, two
//! veth pairs with unique names, IPv6 off, deleted on drop (also when a test fails). Needs root
//! (skips otherwise, unless FERROPLANE_REQUIRE_PRIVILEGED=1).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ferroplane_mempool::{Mempool, MempoolConfig};
use ferroplane_pktgen::rfc2544::SearchConfig;
use ferroplane_pktgen::testkit::{Behaviour, Forwarder};
use ferroplane_pktgen::{Rate, Report, Session, SessionConfig};
use ferroplane_pmd::testing::{self, VethPair};
use ferroplane_pmd::{Port, PortConfig};

/// The tests here measure time: run them one at a time (the machine may have two cores).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn af(ifname: &str) -> String {
    format!("af_packet:iface={ifname}")
}

/// Two veth pairs: pktgen's TX end, the forwarder's two ends, pktgen's RX end.
struct Topo {
    p1: VethPair,
    p2: VethPair,
}

impl Topo {
    fn new() -> Self {
        Topo {
            p1: VethPair::new(1).expect("veth p1"),
            p2: VethPair::new(1).expect("veth p2"),
        }
    }

    fn session(&self, rate: f64, count: Option<u64>) -> SessionConfig {
        SessionConfig {
            tx: vec![af(self.p1.host())],
            rx: vec![af(self.p2.peer())],
            rate: Rate::Pps(rate),
            count,
            pool_size: 4096,
            drain_ms: 200,
            ..Default::default()
        }
    }

    /// The in-process forwarder between `p1.peer` and `p2.host`, with its pool and ports.
    fn forwarder(&self, b: Behaviour) -> (Forwarder, Mempool, Vec<Box<dyn Port>>) {
        let pool = Mempool::new(&MempoolConfig::new("veth-fwd", 2048)).unwrap();
        let pc = PortConfig::new(pool.clone());
        let mut pa = ferroplane_pmd::open(&af(self.p1.peer()), &pc).unwrap();
        let mut pb = ferroplane_pmd::open(&af(self.p2.host()), &pc).unwrap();
        let rx = pa.take_rx_queue(0).unwrap();
        let tx = pb.take_tx_queue(0).unwrap();
        (Forwarder::start(rx, tx, b), pool, vec![pa, pb])
    }
}

fn run(s: &mut Session) -> Report {
    s.run(&AtomicBool::new(false), |_, _| {}).expect("run")
}

/// Driver counters of every port, for failure messages (a full af_packet ring shows here).
fn drivers(s: &Session) -> String {
    s.port_stats()
        .iter()
        .map(|(d, st)| format!("{d}: {st:?}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn exact_count_and_pacing_over_veth() {
    if !testing::privileged("exact_count_and_pacing_over_veth") {
        return;
    }
    let _serial = serial();
    // Straight through one pair: 50 000 frames at 50 000 frames/s take one second (5 %).
    let p = VethPair::new(1).expect("veth");
    let cfg = SessionConfig {
        tx: vec![af(p.host())],
        rx: vec![af(p.peer())],
        rate: Rate::Pps(50_000.0),
        count: Some(50_000),
        traffic: ferroplane_pktgen::TrafficConfig {
            size: "64,1518".parse().unwrap(),
            ..Default::default()
        },
        drain_ms: 200,
        ..Default::default()
    };
    let mut s = Session::new(cfg).unwrap();
    let r = run(&mut s);
    assert_eq!(r.tx_packets, 50_000);
    assert_eq!(r.rx_packets, 50_000, "{}", drivers(&s));
    assert_eq!((r.lost, r.duplicates, r.reordered), (0, 0, 0));
    assert_eq!(r.rx[0].bytes, r.tx[0].bytes);
    assert_eq!(r.rx[0].foreign, 0, "IPv6 is off: nothing but our frames");
    let secs = r.tx[0].seconds;
    assert!(
        (secs - 1.0).abs() < 0.05,
        "50k frames at 50 kpps took {secs} s"
    );
    // An af_packet RX queue keeps a few spare mbufs while it is open: count after closing.
    s.close().expect("every mbuf back in the pool");
}

#[test]
fn latency_of_a_known_delay_over_veth() {
    if !testing::privileged("latency_of_a_known_delay_over_veth") {
        return;
    }
    let _serial = serial();
    let t = Topo::new();
    let (fwd, fpool, ports) = t.forwarder(Behaviour {
        delay_us: 2_000,
        ..Default::default()
    });
    let mut s = Session::new(t.session(10_000.0, Some(3_000))).unwrap();
    let r = run(&mut s);
    assert_eq!(r.rx_packets, 3_000, "{}", drivers(&s));
    let l = r.latency.unwrap();
    // Never below the delay; the median above it by less than 20 ms (af_packet hands frames
    // over in blocks, on two loaded cores).
    assert!(l.min_ns >= 2_000_000, "min {} ns", l.min_ns);
    assert!(l.p50_ns < 22_000_000, "p50 {} ns", l.p50_ns);
    assert_eq!(fwd.stop(), (3_000, 0));
    drop(ports);
    assert_eq!(fpool.in_use(), 0);
    s.close().expect("every mbuf back in the pool");
}

#[test]
fn loss_duplicates_and_reordering_over_veth() {
    if !testing::privileged("loss_duplicates_and_reordering_over_veth") {
        return;
    }
    let _serial = serial();
    let t = Topo::new();
    let (fwd, _fpool, _ports) = t.forwarder(Behaviour {
        drop_every: Some(100),
        dup_every: Some(250),
        swap_every: Some(333),
        ..Default::default()
    });
    let mut s = Session::new(t.session(20_000.0, Some(10_000))).unwrap();
    let r = run(&mut s);
    // As on ring ports: 100 dropped, 20 duplicated, 30 swapped with their successor.
    assert_eq!(r.tx_packets, 10_000);
    assert_eq!(r.lost, 100, "{}", drivers(&s));
    assert_eq!(r.duplicates, 20);
    assert_eq!(r.reordered, 30);
    assert_eq!(r.rx[0].packets, 10_000 - 100 + 20);
    assert_eq!(fwd.stop(), (9_920, 100));
    s.close().expect("every mbuf back in the pool");
}

/// Up to two CPUs this process may use, as an lcore list.
fn lcores() -> String {
    let cpus = ferroplane::config::available_cpus();
    let l: Vec<String> = cpus.iter().take(2).map(u32::to_string).collect();
    l.join(",")
}

/// `pktgen-dut` in its own process; killed (and waited for) on drop.
struct Dut(Option<Child>);

impl Dut {
    fn spawn(t: &Topo, max_pps: f64) -> Dut {
        let child = Command::new(env!("CARGO_BIN_EXE_pktgen-dut"))
            .args(["-l", &lcores(), "--idle", "adaptive", "--stats-period", "0"])
            .args(["--port", &af(t.p1.peer()), "--port", &af(t.p2.host())])
            .args(["--max-pps", &max_pps.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pktgen-dut");
        Dut(Some(child))
    }

    /// SIGTERM, then the exit status and output.
    fn stop(mut self) -> std::process::Output {
        let child = self.0.take().expect("running");
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        child.wait_with_output().expect("wait for pktgen-dut")
    }
}

impl Drop for Dut {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn rfc2544_search_converges_on_the_dut_over_veth() {
    if !testing::privileged("rfc2544_search_converges_on_the_dut_over_veth") {
        return;
    }
    let _serial = serial();
    const CAP: f64 = 10_000.0;
    let t = Topo::new();
    let dut = Dut::spawn(&t, CAP);
    let mut s = Session::new(t.session(1_000.0, Some(50))).unwrap();
    // Wait for the DUT to forward (it opens its ports and starts its lcores first).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        s.set_limits(Some(50), None);
        if run(&mut s).rx_packets > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "pktgen-dut forwards nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let search = SearchConfig {
        min_pps: 1_000.0,
        max_pps: 40_000.0,
        resolution: 0.03,
        loss_pct: 0.0,
        max_trials: 10,
        trial_secs: Some(0.5),
    };
    let res = s
        .search_throughput(&search, &AtomicBool::new(false))
        .expect("search");
    let out = dut.stop();
    let dut_says =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pktgen-dut: {dut_says}");
    assert!(
        dut_says.contains("over-rate"),
        "the DUT reports its drops by reason: {dut_says}"
    );
    let tp = res.throughput_pps;
    eprintln!(
        "NDR {tp:.0} frames/s against a DUT capacity of {CAP}: {:?}",
        res.trials
    );
    // A 20 ms bucket hides up to 4 % excess in a 0.5 s trial; below the capacity only by the
    // resolution plus what a loaded machine loses on its own (af_packet rings).
    assert!(
        tp <= CAP * 1.05,
        "NDR {tp} above capacity {CAP}: {:?}",
        res.trials
    );
    assert!(
        tp >= CAP * 0.6,
        "NDR {tp} far below capacity {CAP}: {:?}",
        res.trials
    );
    assert!(!res.trials[0].pass, "the first trial (40k) must fail");
    s.close().expect("every mbuf back in the pool");
}

#[test]
fn pktgen_dut_rejects_bad_arguments() {
    let l = lcores();
    for (args, what) in [
        (
            vec!["--port", "null:", "--port", "null:", "--max-pps", "-5"],
            "-5",
        ),
        (
            vec!["--port", "null:", "--port", "null:", "--max-pps", "x"],
            "x",
        ),
        (
            vec!["--port", "nosuchdriver:x=1", "--max-pps", "1"],
            "nosuchdriver",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_pktgen-dut"))
            .args(["-l", &l])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what), "{args:?}: {err}");
    }
}
