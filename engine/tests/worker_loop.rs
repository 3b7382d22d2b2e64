//! The worker loop end to end, on ring and null ports: accounting, drain timer, pipelines,
//! software RSS and the telemetry of a running engine.
//!
//! Engine runs claim lcore ids process-wide, so the tests here take turns (`serial()`).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferroplane::mempool::MempoolConfig;
use ferroplane::pmd::testing::{test_frame, test_frame_tag, udp_frame};
use ferroplane::pmd::{MacAddr, Port, PortConfig, RxQueue, TxQueue};
use ferroplane::{
    BackPressure, BurstCtx, Engine, EngineConfig, IdlePolicy, LcoreInfo, MbufBurst, Mempool,
    PortSpec, QueueAssign, RunReport, Worker, telemetry,
};

fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|p| p.into_inner())
}

/// Two lcores if this process may use two CPUs (main + one worker), else one working main lcore.
fn lcores(cfg: &mut EngineConfig) {
    let cpus = ferroplane::config::available_cpus();
    if cpus.len() >= 2 {
        cfg.lcores = cpus[..2].to_vec();
    } else {
        cfg.lcores = cpus[..1].to_vec();
        cfg.main_lcore_works = true;
    }
}

fn unique(tag: &str) -> String {
    use std::sync::atomic::AtomicU32;
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The test's side of a ring pair.
struct TestEnd {
    _port: Box<dyn Port>,
    rx: Box<dyn RxQueue>,
    tx: Box<dyn TxQueue>,
    /// Send UDP/IPv4 frames (flow = source port - 1000) instead of test-EtherType frames.
    udp: bool,
}

impl TestEnd {
    /// Opens `ring:name=NAME` first, so its ring size sets the pair's lane size.
    fn open(name: &str, pool: &Mempool, ring_size: u32) -> TestEnd {
        let cfg = PortConfig {
            rx_ring_size: ring_size,
            tx_ring_size: ring_size,
            ..PortConfig::new(pool.clone())
        };
        let mut port = ferroplane::pmd::open(&format!("ring:name={name}"), &cfg).unwrap();
        let rx = port.take_rx_queue(0).unwrap();
        let tx = port.take_tx_queue(0).unwrap();
        TestEnd {
            _port: port,
            rx,
            tx,
            udp: false,
        }
    }

    /// Sends frames tagged `tags` (each with flow `tag % flows` in its source MAC).
    fn send(&mut self, pool: &Mempool, tags: impl Iterator<Item = u32>, flows: u32) -> usize {
        let mut sent = 0;
        let mut burst = MbufBurst::new();
        let mut tags = tags.peekable();
        while tags.peek().is_some() {
            while !burst.is_full() {
                let Some(tag) = tags.next() else { break };
                let mut m = pool.alloc().expect("test pool exhausted");
                let flow = tag % flows.max(1);
                let src = MacAddr([2, 0, 0, 0, 0, flow as u8]);
                let dst = MacAddr([2, 0, 0, 0, 0, 0xee]);
                let f = if self.udp {
                    udp_frame(
                        dst,
                        src,
                        [10, 0, 0, 1],
                        [10, 0, 0, 2],
                        1000 + flow as u16,
                        53,
                        tag,
                        22,
                    )
                } else {
                    test_frame(dst, src, tag, 64)
                };
                m.append(f.len()).unwrap().copy_from_slice(&f);
                burst.push(m).unwrap();
            }
            while !burst.is_empty() {
                sent += self.tx.tx_burst(&mut burst);
            }
        }
        sent
    }

    /// Receives until `want` frames or `timeout`; returns their (flow, tag).
    fn recv(&mut self, want: usize, timeout: Duration) -> Vec<(u8, u32)> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut burst = MbufBurst::new();
        while out.len() < want && Instant::now() < deadline {
            if self.rx.rx_burst(&mut burst) == 0 {
                std::thread::sleep(Duration::from_micros(50));
                continue;
            }
            for m in burst.drain(..) {
                let d = m.data();
                let tag = test_frame_tag(d).or_else(|| {
                    d.get(42..46)
                        .map(|t| u32::from_be_bytes([t[0], t[1], t[2], t[3]]))
                });
                out.push((d[11], tag.expect("not a test frame")));
            }
        }
        out
    }
}

/// Forwards 0 -> 1 and 1 -> 0; drops tags divisible by `drop_every` (reason "sampled").
struct Forward {
    drop_every: u32,
}

impl Worker for Forward {
    fn drop_reasons(&self) -> Vec<String> {
        vec!["sampled".into()]
    }
    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        let out = ctx.rx_port() ^ 1;
        for m in burst.drain(..) {
            let tag = test_frame_tag(m.data()).unwrap_or(1);
            if self.drop_every > 0 && tag % self.drop_every == 0 {
                ctx.drop(m, 0);
            } else {
                ctx.tx(out, m);
            }
        }
    }
}

fn start<W, F>(engine: Engine, make: F) -> (Arc<AtomicBool>, JoinHandle<RunReport>)
where
    W: Worker + 'static,
    F: FnMut(&LcoreInfo) -> W + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let h = std::thread::spawn(move || engine.run_until(make, s).expect("engine run"));
    (stop, h)
}

fn test_pool(n: usize) -> Mempool {
    Mempool::new(&MempoolConfig {
        cache_size: 0,
        ..MempoolConfig::new("test_pool", n)
    })
    .unwrap()
}

fn two_ring_ports(a: &str, b: &str) -> EngineConfig {
    let mut cfg = EngineConfig {
        ports: vec![
            PortSpec::new(format!("ring:name={a}")),
            PortSpec::new(format!("ring:name={b}")),
        ],
        idle: IdlePolicy::Adaptive,
        ..EngineConfig::default()
    };
    lcores(&mut cfg);
    cfg
}

#[test]
fn every_packet_is_forwarded_or_dropped_with_a_counter() {
    let _g = serial();
    let pool = test_pool(4096);
    let (a, b) = (unique("a"), unique("b"));
    let mut end_a = TestEnd::open(&a, &pool, 1024);
    // A small lane towards the test's second end, which reads nothing while the engine runs:
    // TX must fill up and drop.
    let mut end_b = TestEnd::open(&b, &pool, 64);
    let mut engine = Engine::new(two_ring_ports(&a, &b)).unwrap();
    engine.quiet(true);
    let engine_pool = engine.pool().clone();
    let (stop, h) = start(engine, |_| Forward { drop_every: 10 });

    const N: u32 = 1000;
    let mut sent = 0;
    for chunk in 0..(N / 100) {
        sent += end_a.send(&pool, chunk * 100..(chunk + 1) * 100, 1);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(sent, N as usize);
    // Let the engine take everything in (it sleeps at most 500 us when idle).
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let report = h.join().unwrap();
    let got = end_b.recv(N as usize, Duration::from_millis(200));

    let t = report.totals;
    assert_eq!(t.rx, N as u64, "{}", report.summary);
    assert_eq!(t.app_dropped, (N / 10) as u64, "{}", report.summary);
    assert!(
        t.tx_dropped > 0,
        "a 64-slot lane cannot take 900 frames: {}",
        report.summary
    );
    assert_eq!(got.len() as u64, t.tx, "what left is what arrived");
    assert_eq!(
        t.tx + t.app_dropped + t.tx_dropped,
        N as u64,
        "{}",
        report.summary
    );
    assert!(
        got.iter().all(|&(_, tag)| tag % 10 != 0),
        "no dropped tag arrived"
    );
    let l = &report.lcores[0];
    assert!(
        l.idle_ns > 0,
        "the adaptive policy idled and reported it: {}",
        report.summary
    );
    assert!(l.empty_polls > 0 && l.polls > l.empty_polls);
    assert_eq!(l.drops["sampled"], (N / 10) as u64);
    assert!(
        report.ports[1].tx_dropped >= t.tx_dropped,
        "port view includes engine TX drops"
    );
    assert!(
        report.summary.contains(&format!("final: rx_packets={N} ")),
        "{}",
        report.summary
    );

    drop((end_a, end_b));
    assert_eq!(report.pool_in_use, 0, "engine pool");
    assert_eq!(engine_pool.in_use(), 0);
    assert_eq!(pool.in_use(), 0, "test pool");
}

#[test]
fn null_ports_forward_and_pool_returns_to_zero() {
    let _g = serial();
    let mut cfg = EngineConfig {
        ports: vec![PortSpec::new("null:size=64"), PortSpec::new("null:size=64")],
        ..EngineConfig::default()
    };
    lcores(&mut cfg);
    let mut engine = Engine::new(cfg).unwrap();
    engine.quiet(true);
    let pool = engine.pool().clone();
    let (stop, h) = start(engine, |_| Forward { drop_every: 0 });
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let r = h.join().unwrap();
    assert!(r.totals.rx > 1000, "{}", r.summary);
    assert_eq!(
        r.totals.rx,
        r.totals.tx + r.totals.tx_dropped + r.totals.app_dropped,
        "{}",
        r.summary
    );
    // null TX takes everything.
    assert_eq!(r.totals.tx_dropped, 0);
    assert_eq!(r.ports[0].rx_packets + r.ports[1].rx_packets, r.totals.rx);
    assert_eq!(r.ports[0].tx_packets + r.ports[1].tx_packets, r.totals.tx);
    assert_eq!(r.pool_in_use, 0);
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn drain_timer_sends_a_lone_packet() {
    let _g = serial();
    let pool = test_pool(256);
    let (a, b) = (unique("a"), unique("b"));
    let mut end_a = TestEnd::open(&a, &pool, 256);
    let mut end_b = TestEnd::open(&b, &pool, 256);
    let mut cfg = two_ring_ports(&a, &b);
    cfg.idle = IdlePolicy::Busy;
    let mut engine = Engine::new(cfg).unwrap();
    engine.quiet(true);
    let (stop, h) = start(engine, |_| Forward { drop_every: 0 });
    // Let the lcore start.
    std::thread::sleep(Duration::from_millis(100));
    let mut latencies = Vec::new();
    for tag in 1..=5u32 {
        let t0 = Instant::now();
        assert_eq!(end_a.send(&pool, tag..tag + 1, 1), 1);
        let got = end_b.recv(1, Duration::from_secs(5));
        latencies.push(t0.elapsed());
        assert_eq!(
            got,
            vec![(0, tag)],
            "a lone packet (tag {tag}) must leave on the drain timer"
        );
    }
    stop.store(true, Ordering::SeqCst);
    let r = h.join().unwrap();
    println!("lone-packet latency with a 100 us drain period: {latencies:?}");
    // Generous: the period is 100 us; a loaded 2-core machine can add a lot.
    assert!(
        latencies.iter().all(|l| *l < Duration::from_secs(2)),
        "{latencies:?}"
    );
    assert_eq!(r.totals.tx, 5);
    drop((end_a, end_b));
    assert_eq!(pool.in_use(), 0);
    assert_eq!(r.pool_in_use, 0);
}

/// Stage 1: RX port 0, into ring 0 (or RX port 1: forward back).
struct Rx2Ring;
impl Worker for Rx2Ring {
    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        for m in burst.drain(..) {
            ctx.enqueue(0, m);
        }
    }
}

/// Stage 2: from the ring to port 1, slowly (to build back-pressure).
struct Ring2Tx {
    delay: Duration,
}
impl Worker for Ring2Tx {
    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        if ctx.rx_ring().is_some() {
            let t0 = Instant::now();
            while t0.elapsed() < self.delay {
                std::hint::spin_loop();
            }
        }
        ctx.tx_all(1, burst);
    }
}

enum Stage {
    One(Rx2Ring),
    Two(Ring2Tx),
}
impl Worker for Stage {
    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        match self {
            Stage::One(w) => w.process(ctx, burst),
            Stage::Two(w) => w.process(ctx, burst),
        }
    }
}

/// Both CPUs work (main lcore included): lcore A polls port 0 and feeds the ring, lcore B
/// polls port 1 (idle) and the ring.
fn pipeline_engine(a: &str, b: &str, ring_size: usize) -> Option<(Engine, u32, u32)> {
    let cpus = ferroplane::config::available_cpus();
    if cpus.len() < 2 {
        println!("SKIP pipeline: needs 2 CPUs");
        return None;
    }
    let (la, lb) = (cpus[0], cpus[1]);
    let cfg = EngineConfig {
        lcores: vec![la, lb],
        main_lcore_works: true,
        ports: vec![
            PortSpec::new(format!("ring:name={a}")),
            PortSpec::new(format!("ring:name={b}")),
        ],
        queue_map: vec![
            QueueAssign {
                port: 0,
                queue: 0,
                lcore: la,
            },
            QueueAssign {
                port: 1,
                queue: 0,
                lcore: lb,
            },
        ],
        idle: IdlePolicy::Adaptive,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(cfg).unwrap();
    engine.quiet(true);
    assert_eq!(
        engine
            .add_ring(la, lb, ring_size, BackPressure::Drop)
            .unwrap(),
        0
    );
    Some((engine, la, lb))
}

#[test]
fn pipeline_keeps_flow_order_and_counts_back_pressure() {
    let _g = serial();
    let pool = test_pool(8192);
    let (a, b) = (unique("a"), unique("b"));
    let mut end_a = TestEnd::open(&a, &pool, 4096);
    let mut end_b = TestEnd::open(&b, &pool, 4096);
    let Some((engine, la, _lb)) = pipeline_engine(&a, &b, 64) else {
        return;
    };
    let (stop, h) = start(engine, move |info| {
        if info.lcore == la {
            Stage::One(Rx2Ring)
        } else {
            Stage::Two(Ring2Tx {
                delay: Duration::from_micros(50),
            })
        }
    });
    const N: u32 = 3000;
    const FLOWS: u32 = 4;
    assert_eq!(end_a.send(&pool, 0..N, FLOWS), N as usize);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let more = end_b.recv(N as usize, Duration::from_millis(200));
        if more.is_empty() && !got.is_empty() {
            break;
        }
        got.extend(more);
    }
    stop.store(true, Ordering::SeqCst);
    let r = h.join().unwrap();
    got.extend(end_b.recv(N as usize, Duration::from_millis(100)));

    let t = r.totals;
    assert_eq!(t.rx, N as u64, "{}", r.summary);
    let stage2 = r.lcores.iter().find(|l| l.lcore != la).unwrap();
    assert_eq!(stage2.ring_rx, t.tx + t.tx_dropped, "{}", r.summary);
    assert!(
        t.ring_full > 0,
        "a 64-slot ring before a slow stage must fill: {}",
        r.summary
    );
    assert_eq!(got.len() as u64, t.tx, "{}", r.summary);
    assert_eq!(
        t.tx + t.ring_full + t.tx_dropped + t.exit_dropped,
        N as u64,
        "{}",
        r.summary
    );
    for flow in 0..FLOWS as u8 {
        let tags: Vec<u32> = got.iter().filter(|g| g.0 == flow).map(|g| g.1).collect();
        assert!(
            tags.windows(2).all(|w| w[0] < w[1]),
            "flow {flow} reordered: {tags:?}"
        );
    }
    drop((end_a, end_b));
    assert_eq!(r.pool_in_use, 0);
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn telemetry_of_a_running_engine_matches_its_counters() {
    let _g = serial();
    let pool = test_pool(1024);
    let (a, b) = (unique("a"), unique("b"));
    let mut end_a = TestEnd::open(&a, &pool, 512);
    let mut end_b = TestEnd::open(&b, &pool, 512);
    let sock = std::env::temp_dir().join(format!("{}.sock", unique("fptel")));
    let mut cfg = two_ring_ports(&a, &b);
    cfg.telemetry = Some(sock.clone());
    // A free loopback port for the Prometheus endpoint.
    let prom = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    cfg.prometheus = Some(prom);
    let mut engine = Engine::new(cfg).unwrap();
    engine.quiet(true);
    let (stop, h) = start(engine, |_| Forward { drop_every: 4 });
    assert_eq!(end_a.send(&pool, 1..101, 1), 100);
    let got = end_b.recv(75, Duration::from_secs(5));
    assert_eq!(got.len(), 75);

    let mut conn = telemetry::Client::connect(&sock, Duration::from_secs(5)).unwrap();
    let mut q = |query: &str| conn.query(query).unwrap();
    let ports = q("/ports");
    assert_eq!(ports["/ports"].as_array().unwrap().len(), 2);
    assert_eq!(ports["/ports"][0]["driver"], "ring");
    let p0 = q("/ports/0/stats");
    assert_eq!(p0["/ports/0/stats"]["rx_packets"], 100);
    let p1 = q("/ports/1/stats");
    assert_eq!(p1["/ports/1/stats"]["tx_packets"], 75);
    let lc = q("/lcores");
    let l = &lc["/lcores"][0];
    assert_eq!(l["rx_packets"], 100);
    assert_eq!(l["tx_packets"], 75);
    assert_eq!(l["app_dropped"], 25);
    assert_eq!(l["drops"]["sampled"], 25);
    assert!(l["polls"].as_u64().unwrap() > 0);
    let mp = q("/mempools");
    assert_eq!(mp["/mempools"][0]["name"], "mbuf_pool_0");
    assert!(mp["/mempools"][0]["capacity"].as_u64().unwrap() >= 8191);
    let info = q("/info");
    assert_eq!(info["/info"]["pid"], std::process::id());
    assert_eq!(info["/info"]["nb_ports"], 2);

    let mut http = std::net::TcpStream::connect(prom).unwrap();
    http.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut metrics = String::new();
    std::io::Read::read_to_string(&mut http, &mut metrics).unwrap();
    let lcore = l["lcore"].as_u64().unwrap();
    for line in [
        format!("ferroplane_lcore_app_dropped_total{{lcore=\"{lcore}\",reason=\"sampled\"}} 25"),
        format!("ferroplane_lcore_tx_packets_total{{lcore=\"{lcore}\"}} 75"),
        "ferroplane_mempool_in_use{pool=\"mbuf_pool_0\"}".to_string(),
    ] {
        assert!(metrics.contains(&line), "{line} not in {metrics}");
    }

    stop.store(true, Ordering::SeqCst);
    let r = h.join().unwrap();
    assert!(!sock.exists(), "socket removed at shutdown");
    assert_eq!(r.totals.app_dropped, 25);
    drop((end_a, end_b));
    assert_eq!(pool.in_use(), 0);
}

/// Lcore A: software RSS from port 0 onto two rings (one to itself, one to lcore B); both
/// lcores forward what their ring gives them to port 1.
enum RssStage {
    Spread(ferroplane::SoftRss),
    Forward,
}

impl Worker for RssStage {
    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        match self {
            RssStage::Spread(rss) if ctx.rx_ring().is_none() && ctx.rx_port() == 0 => {
                rss.process(ctx, burst)
            }
            _ if ctx.rx_ring().is_some() => ctx.tx_all(1, burst),
            _ => burst.clear(),
        }
    }
}

#[test]
fn software_rss_spreads_flows_over_lcores_in_order() {
    let _g = serial();
    let pool = test_pool(8192);
    let (a, b) = (unique("a"), unique("b"));
    let mut end_a = TestEnd::open(&a, &pool, 4096);
    end_a.udp = true;
    let mut end_b = TestEnd::open(&b, &pool, 4096);
    let Some((mut engine, la, lb)) = pipeline_engine(&a, &b, 1024) else {
        return;
    };
    // pipeline_engine made ring 0: la -> lb; add ring 1: la -> la.
    assert_eq!(
        engine
            .add_ring(la, la, 1024, BackPressure::Retry(1000))
            .unwrap(),
        1
    );
    let (stop, h) = start(engine, move |info| {
        if info.lcore == la {
            assert_eq!(info.rings_out, vec![(0, lb), (1, la)]);
            let reta = ferroplane::classify::Reta::new(128, 2).unwrap();
            RssStage::Spread(ferroplane::SoftRss::new(
                ferroplane::classify::RssKey::microsoft(),
                reta,
            ))
        } else {
            RssStage::Forward
        }
    });
    const N: u32 = 2000;
    const FLOWS: u32 = 16;
    for chunk in 0..(N / 200) {
        assert_eq!(
            end_a.send(&pool, chunk * 200..(chunk + 1) * 200, FLOWS),
            200
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut got = end_b.recv(N as usize, Duration::from_secs(10));
    stop.store(true, Ordering::SeqCst);
    let r = h.join().unwrap();
    got.extend(end_b.recv(N as usize, Duration::from_millis(100)));

    assert_eq!(r.totals.rx, N as u64, "{}", r.summary);
    assert_eq!(got.len() as u64, r.totals.tx, "{}", r.summary);
    assert_eq!(
        r.totals.tx + r.totals.ring_full + r.totals.tx_dropped,
        N as u64,
        "{}",
        r.summary
    );
    for l in &r.lcores {
        assert!(
            l.ring_rx > 0,
            "lcore {} got no flow from the RETA: {}",
            l.lcore,
            r.summary
        );
    }
    for flow in 0..FLOWS as u8 {
        let tags: Vec<u32> = got.iter().filter(|g| g.0 == flow).map(|g| g.1).collect();
        assert!(
            tags.windows(2).all(|w| w[0] < w[1]),
            "flow {flow} reordered: {tags:?}"
        );
    }
    drop((end_a, end_b));
    assert_eq!(r.pool_in_use, 0);
    assert_eq!(pool.in_use(), 0);
}

struct Panics;
impl Worker for Panics {
    fn process(&mut self, _ctx: &mut BurstCtx<'_>, _burst: &mut MbufBurst) {
        panic!("worker bug (expected by the test)");
    }
}

#[test]
fn a_panicking_worker_stops_the_engine_with_an_error() {
    let _g = serial();
    let mut cfg = EngineConfig {
        ports: vec![PortSpec::new("null")],
        ..EngineConfig::default()
    };
    lcores(&mut cfg);
    if cfg.main_lcore_works {
        println!("SKIP a_panicking_worker_stops_the_engine_with_an_error: needs 2 CPUs");
        return;
    }
    let mut engine = Engine::new(cfg).unwrap();
    engine.quiet(true);
    // No one sets the stop flag: the panic must.
    let err = engine
        .run_until(|_| Panics, Arc::new(AtomicBool::new(false)))
        .unwrap_err();
    assert!(err.to_string().contains("thread panicked"), "{err}");
}

/// Stage 2 that never dequeues fast enough: the lcore stops while its ring still holds mbufs.
#[test]
fn mbufs_left_in_rings_at_exit_are_freed_and_counted() {
    let _g = serial();
    let pool = test_pool(4096);
    let (a, b) = (unique("a"), unique("b"));
    let mut end_a = TestEnd::open(&a, &pool, 2048);
    let end_b = TestEnd::open(&b, &pool, 2048);
    let Some((engine, la, _)) = pipeline_engine(&a, &b, 1024) else {
        return;
    };
    let (stop, h) = start(engine, move |info| {
        if info.lcore == la {
            Stage::One(Rx2Ring)
        } else {
            Stage::Two(Ring2Tx {
                delay: Duration::from_millis(20),
            })
        }
    });
    assert_eq!(end_a.send(&pool, 0..1000, 1), 1000);
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::SeqCst);
    let r = h.join().unwrap();
    let t = r.totals;
    assert_eq!(t.rx, 1000, "{}", r.summary);
    assert!(
        t.exit_dropped > 0,
        "a 20 ms/burst stage cannot have emptied the ring: {}",
        r.summary
    );
    assert_eq!(
        t.tx + t.tx_dropped + t.ring_full + t.exit_dropped,
        1000,
        "{}",
        r.summary
    );
    assert!(
        r.summary
            .contains(&format!("exit_dropped={}", t.exit_dropped)),
        "{}",
        r.summary
    );
    drop((end_a, end_b));
    assert_eq!(pool.in_use(), 0);
    assert_eq!(r.pool_in_use, 0);
}

/// Sends, from its timer tick, the frames a telemetry command asked for: no RX traffic at all.
struct Ticker {
    pool: Mempool,
    pending: Arc<std::sync::atomic::AtomicU32>,
    ticks: Arc<std::sync::atomic::AtomicU64>,
    next_tag: u32,
}

impl Worker for Ticker {
    fn process(&mut self, _ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        burst.clear();
    }
    fn tick_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(1))
    }
    fn on_tick(&mut self, ctx: &mut BurstCtx<'_>, _now_tsc: u64) {
        assert_eq!(ctx.rx_port(), u16::MAX);
        self.ticks.fetch_add(1, Ordering::Relaxed);
        while self.pending.load(Ordering::Acquire) > 0 {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            self.next_tag += 1;
            let f = test_frame(
                MacAddr([2, 0, 0, 0, 0, 0xee]),
                MacAddr([2, 0, 0, 0, 0, 7]),
                self.next_tag,
                64,
            );
            let mut m = self.pool.alloc().expect("engine pool");
            m.append(f.len()).unwrap().copy_from_slice(&f);
            ctx.tx(1, m);
        }
    }
}

#[test]
fn ticks_run_without_traffic_and_app_commands_reach_the_control_thread() {
    let _g = serial();
    let pool = test_pool(256);
    let (a, b) = (unique("a"), unique("b"));
    let end_a = TestEnd::open(&a, &pool, 256);
    let mut end_b = TestEnd::open(&b, &pool, 256);
    let sock = std::env::temp_dir().join(format!("{}.sock", unique("fptick")));
    let mut cfg = two_ring_ports(&a, &b);
    cfg.telemetry = Some(sock.clone());
    let mut engine = Engine::new(cfg).unwrap();
    engine.quiet(true);
    let pending = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let ticks = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let threads = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let (p, t) = (pending.clone(), threads.clone());
        engine
            .telemetry_command("/test/emit", move |args| {
                let n: u32 = args.parse().map_err(|_| format!("bad count '{args}'"))?;
                t.lock().unwrap().push(
                    std::thread::current()
                        .name()
                        .unwrap_or("unnamed")
                        .to_string(),
                );
                p.fetch_add(n, Ordering::AcqRel);
                Ok(serde_json::json!({ "queued": n }))
            })
            .unwrap();
    }
    // Names are checked.
    let e = engine.telemetry_command("/ports", |_| Ok(serde_json::Value::Null));
    assert!(e.unwrap_err().to_string().contains("'/ports'"));
    let e = engine.telemetry_command("/test/emit", |_| Ok(serde_json::Value::Null));
    assert!(e.unwrap_err().to_string().contains("already registered"));
    let engine_pool = engine.pool().clone();
    let (p, t) = (pending.clone(), ticks.clone());
    let (stop, h) = start(engine, move |_| Ticker {
        pool: engine_pool.clone(),
        pending: p.clone(),
        ticks: t.clone(),
        next_tag: 0,
    });
    let mut conn = telemetry::Client::connect(&sock, Duration::from_secs(5)).unwrap();
    let mut q = |query: &str| conn.query(query).unwrap();
    let root = q("/");
    assert!(
        root["/"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "/test/emit"),
        "{root}"
    );
    assert_eq!(q("/test/emit,3")["/test/emit"]["queued"], 3);
    assert!(
        q("/test/emit,x")["error"]
            .as_str()
            .unwrap()
            .contains("bad count 'x'")
    );
    // Sent from the tick, with no packet received: they leave on port 1.
    let got = end_b.recv(3, Duration::from_secs(5));
    assert_eq!(got, vec![(7, 1), (7, 2), (7, 3)]);
    // At least a few ticks per 100 ms, however loaded the machine.
    let t0 = ticks.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(200));
    let t1 = ticks.load(Ordering::Relaxed);
    println!("ticks in 200 ms: {}", t1 - t0);
    assert!(t1 - t0 >= 4, "ticks in 200 ms: {}", t1 - t0);
    stop.store(true, Ordering::SeqCst);
    let r = h.join().unwrap();
    assert_eq!(r.totals.rx, 0);
    assert_eq!(r.totals.tx, 3);
    // Handlers ran on the control thread, not on a telemetry client's.
    for name in threads.lock().unwrap().iter() {
        assert!(!name.starts_with("fp-telemetry"), "{name}");
    }
    assert_eq!(threads.lock().unwrap().len(), 1);
    drop((end_a, end_b));
    assert_eq!(pool.in_use(), 0);
    assert_eq!(r.pool_in_use, 0);
}
