//! I/O forwarding between two ports on one pinned core, like `dpdk-testpmd --forward-mode=io`:
//! receive a burst from A and send it to B, receive from B and send to A; mbufs TX did not take
//! are freed. Prints the forwarding rate (both directions summed).
//!
//! The burst is one [`MbufBurst`] (`rx_burst` fills up to its capacity, 64 mbufs), so compare
//! with `dpdk-testpmd --burst=64`.
//!
//! ```text
//! cargo run --release -p ferroplane-pmd --example portfwd -- \
//!     --a null:size=64 --b null:size=64 --seconds 5 --core 1
//! cargo run --release -p ferroplane-pmd --example portfwd -- \
//!     --a ring:name=r0 --b ring:name=r0 --prefill 1024 --seconds 5 --core 1
//! ```
//!
//! Output (stdout): `mpps=<forwarded Mpps> ns_per_pkt=<ns> packets=<n> seconds=<s>`.

use ferroplane_mempool::{HugePolicy, MbufBurst, Mempool, MempoolConfig, lcore};
use ferroplane_pmd::{PortConfig, RxQueue, TxQueue, open};
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Args {
    a: String,
    b: String,
    seconds: f64,
    core: Option<usize>,
    prefill: usize,
    pool: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        a: "null:size=64".into(),
        b: "null:size=64".into(),
        seconds: 5.0,
        core: None,
        prefill: 0,
        pool: 16384,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--a" => a.a = v()?,
            "--b" => a.b = v()?,
            "--seconds" => a.seconds = v()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--core" => a.core = Some(v()?.parse().map_err(|e| format!("--core: {e}"))?),
            "--prefill" => a.prefill = v()?.parse().map_err(|e| format!("--prefill: {e}"))?,
            "--pool" => a.pool = v()?.parse().map_err(|e| format!("--pool: {e}"))?,
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(a)
}

/// One direction: receive a burst on `rx`, send it on `tx`, free what `tx` did not take.
#[inline(always)]
fn forward(rx: &mut dyn RxQueue, tx: &mut dyn TxQueue, b: &mut MbufBurst) -> u64 {
    if rx.rx_burst(b) == 0 {
        return 0;
    }
    let sent = tx.tx_burst(b) as u64;
    if !b.is_empty() {
        b.clear();
    }
    sent
}

fn run(args: Args) -> Result<(), String> {
    if let Some(c) = args.core
        && !core_affinity::set_for_current(core_affinity::CoreId { id: c })
    {
        return Err(format!("cannot pin to core {c}"));
    }
    let _lcore = lcore::register(0).map_err(|e| e.to_string())?;
    let pool = Mempool::new(&MempoolConfig {
        name: "portfwd".into(),
        count: args.pool,
        cache_size: 512,
        hugepages: HugePolicy::Auto,
        ..MempoolConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let cfg = PortConfig::new(pool.clone());
    let mut pa = open(&args.a, &cfg).map_err(|e| e.to_string())?;
    let mut pb = open(&args.b, &cfg).map_err(|e| e.to_string())?;
    let take = |p: &mut Box<dyn ferroplane_pmd::Port>| {
        let rx = p.take_rx_queue(0).ok_or("no RX queue 0")?;
        let tx = p.take_tx_queue(0).ok_or("no TX queue 0")?;
        Ok::<_, String>((rx, tx))
    };
    let (mut arx, mut atx) = take(&mut pa)?;
    let (mut brx, mut btx) = take(&mut pb)?;
    // Ring pairs need frames in flight: send `prefill` 64-byte frames from A.
    let mut b = MbufBurst::new();
    let mut left = args.prefill;
    while left > 0 {
        let n = left.min(32);
        if pool.alloc_bulk(&mut b, n) != n {
            return Err("pool too small for --prefill".into());
        }
        for m in b.iter_mut() {
            let _ = m.append(64);
        }
        let sent = atx.tx_burst(&mut b);
        b.clear();
        left -= n;
        if sent < n {
            break;
        }
    }
    // Warm up, then measure.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        forward(arx.as_mut(), btx.as_mut(), &mut b);
        forward(brx.as_mut(), atx.as_mut(), &mut b);
    }
    let start = Instant::now();
    let deadline = Duration::from_secs_f64(args.seconds);
    let mut fwd = 0u64;
    let mut iters = 0u32;
    loop {
        fwd += forward(arx.as_mut(), btx.as_mut(), &mut b);
        fwd += forward(brx.as_mut(), atx.as_mut(), &mut b);
        iters = iters.wrapping_add(1);
        if iters % 1024 == 0 {
            if start.elapsed() >= deadline {
                break;
            }
            atx.flush();
            btx.flush();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mpps = fwd as f64 / secs / 1e6;
    println!(
        "mpps={mpps:.3} ns_per_pkt={:.3} packets={fwd} seconds={secs:.3}",
        if mpps > 0.0 { 1000.0 / mpps } else { 0.0 }
    );
    let (sa, sb) = (pa.stats(), pb.stats());
    eprintln!("port A {}: {sa:?}", args.a);
    eprintln!("port B {}: {sb:?}", args.b);
    drop(b);
    drop((arx, atx, brx, btx, pa, pb));
    if pool.in_use() != 0 {
        return Err(format!("{} mbufs still in use at exit", pool.in_use()));
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portfwd: {e}");
            ExitCode::FAILURE
        }
    }
}
