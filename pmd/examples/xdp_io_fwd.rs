//! AF_XDP io forwarder and XDP benchmark helpers (used by `scripts/bench/af_xdp.sh`).
//!
//! ```text
//! xdp_io_fwd fwd A B [--core N] [--secs S] [--extra k=v,...] [--pool CHUNKS]
//!                                         # A <-> B, like testpmd io mode; --extra adds
//!                                         # af_xdp device keys (e.g. rx_ring=8192), --pool
//!                                         # sizes the mempool (default 16384 chunks of 4 KiB)
//! xdp_io_fwd redirect A B [--secs S]      # kernel XDP_REDIRECT A -> B (the ceiling)
//! xdp_io_fwd pass IFACE [--secs S]        # XDP_PASS program (a redirect target veth needs one)
//! xdp_io_fwd count IFACE [--secs S]       # count-and-drop; prints "pps N" every second and
//!                                         # "total N" at the end
//! ```
//! Every program attached is detached on exit (normal end, or SIGINT/SIGTERM).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferroplane_mempool::{HugePolicy, Mempool, MempoolConfig};
use ferroplane_pmd::af_xdp::bench::{BenchProgram, BenchXdp};
use ferroplane_pmd::af_xdp::{AfXdpConfig, AfXdpPort, PortDefaults, XdpMode};
use ferroplane_pmd::{DevArgs, MbufBurst};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn install_signals() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, handler as libc::sighandler_t) };
    }
}

struct Args {
    pos: Vec<String>,
    core: Option<usize>,
    secs: f64,
    extra: String,
    pool: usize,
}

fn parse_args() -> Result<(String, Args), String> {
    let mut it = std::env::args().skip(1);
    let cmd = it
        .next()
        .ok_or("usage: xdp_io_fwd fwd|redirect|pass|count ...")?;
    let mut a = Args {
        pos: Vec::new(),
        core: None,
        secs: 10.0,
        extra: String::new(),
        pool: 16384,
    };
    while let Some(x) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match x.as_str() {
            "--core" => a.core = Some(val("--core")?.parse().map_err(|e| format!("--core: {e}"))?),
            "--secs" => a.secs = val("--secs")?.parse().map_err(|e| format!("--secs: {e}"))?,
            "--extra" => a.extra = format!(",{}", val("--extra")?),
            "--pool" => a.pool = val("--pool")?.parse().map_err(|e| format!("--pool: {e}"))?,
            _ => a.pos.push(x),
        }
    }
    Ok((cmd, a))
}

fn run_until(secs: f64, mut tick: impl FnMut()) {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    while !STOP.load(Ordering::Relaxed) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1000).min(end - Instant::now()));
        tick();
    }
}

fn fwd(a: &Args) -> Result<(), String> {
    let [ia, ib] = a.pos.as_slice() else {
        return Err("fwd needs two interfaces".into());
    };
    if let Some(c) = a.core {
        core_affinity::set_for_current(core_affinity::CoreId { id: c });
    }
    let pool = Mempool::new(&MempoolConfig {
        chunk_size: Some(4096),
        cache_size: 256,
        hugepages: HugePolicy::Auto,
        ..MempoolConfig::new("fwd", a.pool)
    })
    .map_err(|e| e.to_string())?;
    let _lcore = ferroplane_mempool::lcore::register(0).map_err(|e| e.to_string())?;
    let open = |iface: &str| -> Result<AfXdpPort, String> {
        let devstr = format!("af_xdp:iface={iface}{}", a.extra);
        let args = DevArgs::parse(&devstr).map_err(|e| e.to_string())?;
        let cfg = AfXdpConfig::from_devargs(&args).map_err(|e| e.to_string())?;
        AfXdpPort::open(&cfg, &pool, PortDefaults::default(), &devstr).map_err(|e| e.to_string())
    };
    let mut pa = open(ia)?;
    let mut pb = open(ib)?;
    let (mut rxa, mut txa) = (pa.take_rx_queue(0).unwrap(), pa.take_tx_queue(0).unwrap());
    let (mut rxb, mut txb) = (pb.take_rx_queue(0).unwrap(), pb.take_tx_queue(0).unwrap());
    let end = Instant::now() + Duration::from_secs_f64(a.secs);
    let (mut ba, mut bb) = (MbufBurst::new(), MbufBurst::new());
    let mut dropped = 0u64;
    let mut spins = 0u32;
    // Stalls: the longest time between two clock reads (the forwarder descheduled), and how
    // many gaps exceeded 1 ms and 10 ms. A gap longer than the RX ring's worth of frames at
    // the offered rate is what overflows the ring (`rx_ring_full`). The clock is read every
    // CLOCK_EVERY iterations (a vDSO call per burst is measurable beside the forwarding work):
    // even with full bursts both ways, that many iterations take well under 1 ms.
    const CLOCK_EVERY: u32 = 8;
    let mut last = Instant::now();
    let (mut max_gap, mut gaps_1ms, mut gaps_10ms) = (Duration::ZERO, 0u64, 0u64);
    let mut now = last;
    while !STOP.load(Ordering::Relaxed) {
        if spins % CLOCK_EVERY == 0 {
            now = Instant::now();
            let gap = now - last;
            last = now;
            if gap > Duration::from_millis(1) {
                gaps_1ms += 1;
                if gap > Duration::from_millis(10) {
                    gaps_10ms += 1;
                }
                max_gap = max_gap.max(gap);
            }
        }
        let na = rxa.rx_burst(&mut ba);
        if !ba.is_empty() {
            txb.tx_burst(&mut ba);
            dropped += ba.len() as u64;
            ba.clear();
        }
        let nb = rxb.rx_burst(&mut bb);
        if !bb.is_empty() {
            txa.tx_burst(&mut bb);
            dropped += bb.len() as u64;
            bb.clear();
        }
        if na + nb == 0 {
            txa.flush();
            txb.flush();
        }
        spins = spins.wrapping_add(1);
        if spins % 4096 == 0 && now >= end {
            break;
        }
    }
    let (sa, sb) = (pa.stats(), pb.stats());
    eprintln!(
        "xdp_io_fwd: {ia} rx {} tx {} | {ib} rx {} tx {} | tx-full drops {dropped} | rx missed {} {} | alloc failures {} {}",
        sa.rx_packets,
        sa.tx_packets,
        sb.rx_packets,
        sb.tx_packets,
        sa.rx_missed,
        sb.rx_missed,
        sa.alloc_failures,
        sb.alloc_failures
    );
    eprintln!(
        "xdp_io_fwd: stalls: longest {:.1} ms, {gaps_1ms} over 1 ms, {gaps_10ms} over 10 ms",
        max_gap.as_secs_f64() * 1e3
    );
    eprintln!("xdp_io_fwd: {ia} kernel XSK stats {:?}", pa.xsk_stats());
    eprintln!("xdp_io_fwd: {ia} XDP program stats {:?}", pa.steer_stats());
    drop((rxa, txa, rxb, txb));
    pa.close();
    pb.close();
    eprintln!("xdp_io_fwd: pool in use after close: {}", pool.in_use());
    Ok(())
}

fn bench_prog(cmd: &str, a: &Args) -> Result<(), String> {
    let which = match cmd {
        "redirect" => BenchProgram::Redirect,
        "pass" => BenchProgram::Pass,
        _ => BenchProgram::CountDrop,
    };
    let iface = a.pos.first().ok_or("interface missing")?;
    let p = BenchXdp::attach(
        which,
        iface,
        a.pos.get(1).map(String::as_str),
        XdpMode::Native,
    )
    .map_err(|e| e.to_string())?;
    let mut last = p.counters().0;
    let mut t = Instant::now();
    run_until(a.secs, || {
        let now = p.counters().0;
        let dt = t.elapsed().as_secs_f64();
        if which != BenchProgram::Pass {
            println!("pps {:.0}", (now - last) as f64 / dt);
        }
        last = now;
        t = Instant::now();
    });
    if which == BenchProgram::CountDrop {
        // Everything counted since the program was attached (the loss measurements use it).
        println!("total {}", p.counters().0);
    }
    Ok(())
}

fn main() {
    install_signals();
    let r = parse_args().and_then(|(cmd, a)| match cmd.as_str() {
        "fwd" => fwd(&a),
        "redirect" | "pass" | "count" => bench_prog(&cmd, &a),
        other => Err(format!("unknown command '{other}'")),
    });
    if let Err(e) = r {
        eprintln!("xdp_io_fwd: {e}");
        std::process::exit(1);
    }
}
