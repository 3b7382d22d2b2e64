//! A generator run: open the ports, start one pinned thread per TX and RX queue, stop on count,
//! duration or signal, drain the receivers, and gather a [`Report`].
//!
//! Ports come from `ferroplane_pmd::open`; threads are pinned and given lcore ids by the engine's
//! [`lcore`](ferroplane::lcore) module, receivers idle through the engine's
//! [`idle`](ferroplane::idle) policy, and the clock is the engine's [`tsc`]. The TX pacing loop
//! and the measuring RX loop are pktgen's ([`crate::engine`]): the engine's worker loop
//! forwards, it does not pace or time-stamp.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferroplane::IdlePolicy;
use ferroplane_mempool::{HugePolicy, Mempool, MempoolConfig};
use ferroplane_pmd::{Port, PortConfig, RxQueue, TxQueue};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::engine::{self, Counters, RxResult, TxPlan, TxResult};
use crate::error::PktgenError;
use crate::factory::FrameFactory;
use crate::payload::SeqTracker;
use crate::rate::Rate;
use crate::report::{LatencySummary, PortReport, Report};
use crate::rfc2544::{self, SearchConfig, SearchResult};
use crate::traffic::TrafficConfig;
use crate::tsc;

/// Everything a run needs (TOML: top-level keys plus a `[traffic]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Device strings of the ports to transmit on.
    pub tx: Vec<String>,
    /// Device strings of the ports to receive and measure on (may repeat a TX port).
    pub rx: Vec<String>,
    /// Network namespace (name under `/var/run/netns` or a path) to open the TX ports in.
    pub tx_netns: Option<String>,
    /// Network namespace to open the RX ports in.
    pub rx_netns: Option<String>,
    /// TX queues per TX port (one thread each).
    pub tx_queues: u16,
    /// RX queues per RX port (one thread each).
    pub rx_queues: u16,
    /// Rate per TX port (split evenly over its queues).
    pub rate: Rate,
    /// Line rate in bit/s for percentage rates.
    pub line_rate: f64,
    /// Frames per TX port (split over its queues); none: until duration or signal.
    pub count: Option<u64>,
    /// Seconds to transmit; none: until count or signal.
    pub duration: Option<f64>,
    /// Maximum burst size.
    pub burst: usize,
    /// Mbufs in the pool.
    pub pool_size: usize,
    /// CPUs to pin the TX/RX threads to, round-robin (empty: not pinned).
    pub cores: Vec<usize>,
    /// What a receiver does while its queue is empty (the engine's [`IdlePolicy`]): `yield`
    /// (the default) offers the CPU to other threads after a few hundred empty polls, which lets
    /// the transmitters and the kernel's delivery run on a machine with few cores without
    /// adding sleep latency; `adaptive` pauses and then sleeps (up to 0.5 ms); `busy` never
    /// lets go of the CPU (for a receiver with a core of its own).
    pub rx_idle: IdlePolicy,
    /// How long receivers keep going after the transmitters end (milliseconds of quiet).
    pub drain_ms: u64,
    /// Seed for random fields.
    pub seed: u64,
    /// Maximum frames read from a pcap source.
    pub pcap_max_frames: usize,
    /// What to send.
    pub traffic: TrafficConfig,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            tx: Vec::new(),
            rx: Vec::new(),
            tx_netns: None,
            rx_netns: None,
            tx_queues: 1,
            rx_queues: 1,
            rate: Rate::Max,
            line_rate: 10e9,
            count: None,
            duration: None,
            burst: 32,
            pool_size: 16384,
            cores: Vec::new(),
            rx_idle: IdlePolicy::Yield,
            drain_ms: 100,
            seed: 1,
            pcap_max_frames: 100_000,
            traffic: TrafficConfig::default(),
        }
    }
}

impl SessionConfig {
    /// Reads a TOML file.
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self, PktgenError> {
        let text = std::fs::read_to_string(path).map_err(|e| PktgenError::io(path.display(), e))?;
        toml::from_str(&text).map_err(|e| PktgenError::Config(format!("{}: {e}", path.display())))
    }
}

/// Live view of a running session, shared with the thread that draws it.
#[derive(Debug)]
pub struct LiveState {
    /// Port names, TX ports first.
    pub tx_names: Vec<String>,
    /// RX port names.
    pub rx_names: Vec<String>,
    /// Counters per TX port (one per queue).
    pub tx: Vec<Vec<Arc<Counters>>>,
    /// Counters per RX port (one per queue).
    pub rx: Vec<Vec<Arc<Counters>>>,
    /// Latencies received since the last [`LiveState::take_latency`].
    pub latency: Arc<Mutex<Histogram<u64>>>,
}

impl LiveState {
    /// Takes and clears the recent latencies.
    pub fn take_latency(&self) -> Option<Histogram<u64>> {
        let mut h = self.latency.lock().ok()?;
        let out = h.clone();
        h.reset();
        Some(out)
    }
}

/// Makes the calling thread a pktgen lcore: pinned to `cores[i % len]` (if any are given) and
/// holding a free lcore id (its own mempool caches), both through the engine's
/// [`lcore`](ferroplane::lcore) facilities. Several pktgen threads may share a CPU, so the id is
/// not the CPU number.
fn enter_lcore(cores: &[usize], i: usize) -> Option<ferroplane_mempool::LcoreGuard> {
    if !cores.is_empty() {
        let cpu = cores[i % cores.len()] as u32;
        if let Err(e) = ferroplane::lcore::pin_current(cpu) {
            log::warn!("pktgen thread {i}: {e}");
        }
    }
    match ferroplane::lcore::claim_any() {
        Ok(g) => Some(g),
        Err(e) => {
            log::warn!("pktgen thread {i}: {e}; using the pool without a per-lcore cache");
            None
        }
    }
}

/// Splits `total` over `n` parts, the remainder going to the first ones.
fn split(total: u64, n: u64, i: u64) -> u64 {
    total / n + u64::from(i < total % n)
}

/// A generator run. Build with [`Session::new`], run with [`Session::run`].
pub struct Session {
    cfg: SessionConfig,
    // Fields drop in declaration order: the queues (which may hold mbufs, e.g. an RX stash or
    // frames in flight) and then the ports go before the pool, so every mbuf is back in the
    // pool when its last handle is dropped.
    /// TX queues per TX port, taken at set-up and kept across runs.
    tx_q: Vec<Vec<Box<dyn TxQueue>>>,
    /// RX queues per RX port.
    rx_q: Vec<Vec<Box<dyn RxQueue>>>,
    /// Opened ports by device string, in order.
    ports: Vec<(String, Box<dyn Port>)>,
    factory: FrameFactory,
    mean_frame: f64,
    pool: Mempool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("cfg", &self.cfg).finish()
    }
}

impl Session {
    /// Checks the configuration, builds the frames and opens the ports.
    pub fn new(cfg: SessionConfig) -> Result<Self, PktgenError> {
        if cfg.tx.is_empty() && cfg.rx.is_empty() {
            return Err(PktgenError::Config("no --tx or --rx port given".into()));
        }
        if cfg.tx_queues == 0 || cfg.rx_queues == 0 {
            return Err(PktgenError::Config(
                "queue counts must be at least 1".into(),
            ));
        }
        if !(1..=ferroplane_mempool::MAX_BURST).contains(&cfg.burst) {
            return Err(PktgenError::Config(format!(
                "burst {}: must be 1..={}",
                cfg.burst,
                ferroplane_mempool::MAX_BURST
            )));
        }
        if !cfg.cores.is_empty() {
            let cpus = ferroplane::config::available_cpus();
            if let Some(c) = cfg.cores.iter().find(|&&c| !cpus.contains(&(c as u32))) {
                return Err(PktgenError::Config(format!(
                    "core {c}: not a CPU this process may run on ({cpus:?})"
                )));
            }
        }
        if cfg.duration.is_some_and(|d| !d.is_finite() || d <= 0.0) {
            return Err(PktgenError::Config(format!(
                "duration {:?}: must be a positive number of seconds",
                cfg.duration
            )));
        }
        if cfg.line_rate.is_nan() || cfg.line_rate <= 0.0 {
            return Err(PktgenError::Config(format!(
                "line rate {}: must be positive",
                cfg.line_rate
            )));
        }
        let traffic = cfg.traffic.parse()?;
        let factory = match &traffic.pcap {
            Some(p) => FrameFactory::from_pcap(p, cfg.pcap_max_frames)?,
            None => FrameFactory::new(&traffic, cfg.seed)?,
        };
        let mean_frame = if traffic.pcap.is_some() {
            (factory.max_len() + crate::traffic::FCS_LEN) as f64
        } else {
            traffic.mean_frame_size()
        };
        let data_room = factory.max_len().max(2048).next_multiple_of(64);
        let pool = Mempool::new(&MempoolConfig {
            name: "pktgen".into(),
            count: cfg.pool_size,
            data_room,
            hugepages: HugePolicy::Auto,
            ..MempoolConfig::new("pktgen", cfg.pool_size)
        })?;
        let mut ports: Vec<(String, Box<dyn Port>)> = Vec::new();
        for dev in cfg.tx.iter().chain(cfg.rx.iter()) {
            // A port named twice in --tx and --rx is opened once (for ring pairs, opening the
            // same string twice means the other end; list it under both to get one port).
            let as_tx = cfg.tx.contains(dev);
            let as_rx = cfg.rx.contains(dev);
            if as_tx && as_rx && ports.iter().any(|(d, _)| d == dev) {
                continue;
            }
            let pc = PortConfig::new(pool.clone()).with_queues(
                if as_rx { cfg.rx_queues } else { 1 },
                if as_tx { cfg.tx_queues } else { 1 },
            );
            let netns = if as_tx { &cfg.tx_netns } else { &cfg.rx_netns };
            if as_tx && as_rx && cfg.tx_netns != cfg.rx_netns {
                return Err(PktgenError::Config(format!(
                    "{dev} is both a TX and an RX port but the TX and RX namespaces differ"
                )));
            }
            let d = dev.clone();
            let port = crate::netns::run_in(netns.as_deref(), move || {
                ferroplane_pmd::open(&d, &pc).map_err(|source| PktgenError::Port { dev: d, source })
            })?;
            ports.push((dev.clone(), port));
        }
        // Which port index is TX / RX (ports opened once may be both).
        let names: Vec<String> = ports.iter().map(|(d, _)| d.clone()).collect();
        let index = |dev: &str, want_tx: bool| -> Option<usize> {
            let hits: Vec<usize> = names
                .iter()
                .enumerate()
                .filter(|(_, d)| *d == dev)
                .map(|(i, _)| i)
                .collect();
            // A device listed once in tx and once in rx but opened twice: tx took the first.
            if hits.len() > 1 && !want_tx {
                hits.get(1).copied()
            } else {
                hits.first().copied()
            }
        };
        let mut tx_queues = Vec::new();
        for dev in cfg.tx.iter() {
            let idx = index(dev, true).ok_or_else(|| PktgenError::Config(format!("tx {dev}")))?;
            let port = &mut ports[idx].1;
            let mut qs = Vec::new();
            for q in 0..cfg.tx_queues {
                let tq = port.take_tx_queue(q).ok_or_else(|| {
                    PktgenError::Config(format!("{dev}: TX queue {q} is not available"))
                })?;
                qs.push(tq);
            }
            tx_queues.push(qs);
        }
        let mut rx_queues = Vec::new();
        for dev in cfg.rx.iter() {
            let idx = index(dev, false).ok_or_else(|| PktgenError::Config(format!("rx {dev}")))?;
            let port = &mut ports[idx].1;
            let mut qs = Vec::new();
            for q in 0..cfg.rx_queues {
                let rq = port.take_rx_queue(q).ok_or_else(|| {
                    PktgenError::Config(format!("{dev}: RX queue {q} is not available"))
                })?;
                qs.push(rq);
            }
            rx_queues.push(qs);
        }
        Ok(Session {
            cfg,
            pool,
            ports,
            tx_q: tx_queues,
            rx_q: rx_queues,
            factory,
            mean_frame,
        })
    }

    /// Mean frame size (with FCS) of the traffic.
    pub fn mean_frame_size(&self) -> f64 {
        self.mean_frame
    }

    /// The drivers' own counters per opened port (device string, stats).
    pub fn port_stats(&self) -> Vec<(String, ferroplane_pmd::PortStats)> {
        self.ports
            .iter()
            .map(|(d, p)| (d.clone(), p.stats()))
            .collect()
    }

    /// Closes the queues and ports, then checks that every mbuf is back in the pool.
    pub fn close(self) -> Result<(), PktgenError> {
        let Session {
            tx_q,
            rx_q,
            ports,
            pool,
            ..
        } = self;
        drop(tx_q);
        drop(rx_q);
        for (dev, port) in ports {
            port.close()
                .map_err(|source| PktgenError::Port { dev, source })?;
        }
        match pool.in_use() {
            0 => Ok(()),
            n => Err(PktgenError::Leak(n)),
        }
    }

    /// The pool (for checking that every mbuf came back).
    pub fn pool(&self) -> &Mempool {
        &self.pool
    }

    /// Overrides the rate (the RFC 2544 search calls this between trials).
    pub fn set_rate(&mut self, rate: Rate) {
        self.cfg.rate = rate;
    }

    /// Overrides the frame count and duration.
    pub fn set_limits(&mut self, count: Option<u64>, duration: Option<f64>) {
        self.cfg.count = count;
        self.cfg.duration = duration;
    }

    /// RFC 2544 throughput search on this session: each trial offers a rate for
    /// `search.trial_secs` (1 s when unset) and counts what came back. Stops early, with the
    /// trials so far failing, when `stop` is set; the first run error ends the search.
    pub fn search_throughput(
        &mut self,
        search: &SearchConfig,
        stop: &AtomicBool,
    ) -> Result<SearchResult, PktgenError> {
        let secs = search.trial_secs.unwrap_or(1.0);
        let mut err = None;
        let res = rfc2544::search(search, |pps| {
            if err.is_some() || stop.load(Ordering::Relaxed) {
                return (0, 0);
            }
            self.set_rate(Rate::Pps(pps));
            self.set_limits(None, Some(secs));
            match self.run(stop, |_, _| {}) {
                Ok(r) => (r.tx_packets, r.rx_packets),
                Err(e) => {
                    err = Some(e);
                    (0, 0)
                }
            }
        });
        match err {
            Some(e) => Err(e),
            None => Ok(res),
        }
    }

    /// Runs until the transmitters finish (count or duration) or `stop` is set, then lets the
    /// receivers drain. `on_tick` is called about once a second with the live state (the
    /// terminal view); it runs on the calling thread.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        mut on_tick: impl FnMut(&LiveState, Duration),
    ) -> Result<Report, PktgenError> {
        let cfg = &self.cfg;
        let pps = cfg.rate.pps(self.mean_frame, cfg.line_rate);
        let nq = cfg.tx_queues as u64;
        let live = LiveState {
            tx_names: cfg.tx.clone(),
            rx_names: cfg.rx.clone(),
            tx: self
                .tx_q
                .iter()
                .map(|qs| qs.iter().map(|_| Arc::new(Counters::default())).collect())
                .collect(),
            rx: self
                .rx_q
                .iter()
                .map(|qs| qs.iter().map(|_| Arc::new(Counters::default())).collect())
                .collect(),
            latency: Arc::new(Mutex::new(engine::new_histogram())),
        };
        let tx_stop = AtomicBool::new(false);
        let rx_stop = AtomicBool::new(false);
        let started = Instant::now();
        let until_tsc = cfg
            .duration
            .map(|d| tsc::now() + tsc::ticks(Duration::from_secs_f64(d)));
        let rx_idle = cfg.rx_idle;
        let (tx_results, rx_results, spawn_err) = std::thread::scope(|s| {
            let mut spawn_err: Option<std::io::Error> = None;
            let mut thread_no = 0usize;
            let mut tx_handles = Vec::new();
            for (pi, qs) in self.tx_q.iter_mut().enumerate() {
                for (qi, tq) in qs.iter_mut().enumerate() {
                    let q = qi as u16;
                    let plan = TxPlan {
                        stream: (pi as u16) << 8 | q,
                        pps: pps.map(|p| p / nq as f64),
                        count: cfg.count.map(|c| split(c, nq, qi as u64)),
                        until_tsc,
                        burst: engine::burst_for(pps.map(|p| p / nq as f64), cfg.burst),
                    };
                    let mut factory = self.factory.clone();
                    let pool = self.pool.clone();
                    let counters = live.tx[pi][qi].clone();
                    let tx_stop = &tx_stop;
                    let cores = cfg.cores.clone();
                    let n = thread_no;
                    thread_no += 1;
                    let h = std::thread::Builder::new()
                        .name(format!("tx-{pi}.{qi}"))
                        .spawn_scoped(s, move || {
                            let _lcore = enter_lcore(&cores, n);
                            engine::run_tx(
                                tq.as_mut(),
                                &pool,
                                &mut factory,
                                &plan,
                                &counters,
                                tx_stop,
                            )
                        });
                    match h {
                        Ok(h) => tx_handles.push(h),
                        Err(e) => {
                            tx_stop.store(true, Ordering::Relaxed);
                            spawn_err.get_or_insert(e);
                        }
                    }
                }
            }
            let mut rx_handles = Vec::new();
            for (pi, qs) in self.rx_q.iter_mut().enumerate() {
                for (qi, rq) in qs.iter_mut().enumerate() {
                    let counters = live.rx[pi][qi].clone();
                    let latency = live.latency.clone();
                    let rx_stop = &rx_stop;
                    let cores = cfg.cores.clone();
                    let n = thread_no;
                    thread_no += 1;
                    let h = std::thread::Builder::new()
                        .name(format!("rx-{pi}.{qi}"))
                        .spawn_scoped(s, move || {
                            let _lcore = enter_lcore(&cores, n);
                            engine::run_rx(rq.as_mut(), rx_idle, &counters, &latency, rx_stop)
                        });
                    match h {
                        Ok(h) => rx_handles.push(h),
                        Err(e) => {
                            tx_stop.store(true, Ordering::Relaxed);
                            spawn_err.get_or_insert(e);
                        }
                    }
                }
            }
            // Supervise: ticks for the live view, stop on signal, then drain. Without
            // transmitters (measure only) the run lasts for the duration or until a signal.
            let mut next_tick = started + Duration::from_secs(1);
            let rx_only_until = (tx_handles.is_empty() && spawn_err.is_none())
                .then(|| cfg.duration.map(|d| started + Duration::from_secs_f64(d)));
            loop {
                let done = match rx_only_until {
                    None => tx_handles.iter().all(|h| h.is_finished()),
                    Some(until) => {
                        stop.load(Ordering::Relaxed) || until.is_some_and(|u| Instant::now() >= u)
                    }
                };
                if done {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
                if stop.load(Ordering::Relaxed) {
                    tx_stop.store(true, Ordering::Relaxed);
                }
                if Instant::now() >= next_tick {
                    next_tick += Duration::from_secs(1);
                    on_tick(&live, started.elapsed());
                }
            }
            let tx_results: Vec<TxResult> = tx_handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect();
            // Drain: wait until the receivers have seen nothing new for drain_ms (at most 2 s
            // or until a signal).
            let total_rx = || -> u64 { live.rx.iter().flatten().map(|c| c.load().0).sum() };
            let quiet = Duration::from_millis(cfg.drain_ms);
            let drain_start = Instant::now();
            let (mut last, mut last_change) = (total_rx(), Instant::now());
            while drain_start.elapsed() < Duration::from_secs(2) && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(2));
                let now = total_rx();
                if now != last {
                    (last, last_change) = (now, Instant::now());
                } else if last_change.elapsed() >= quiet {
                    break;
                }
            }
            rx_stop.store(true, Ordering::Relaxed);
            let rx_results: Vec<RxResult> = rx_handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect();
            (tx_results, rx_results, spawn_err)
        });
        if let Some(e) = spawn_err {
            return Err(PktgenError::Config(format!(
                "cannot start a TX/RX thread: {e}"
            )));
        }
        on_tick(&live, started.elapsed());
        Ok(report(cfg, self.mean_frame, &tx_results, &rx_results, pps))
    }
}

fn report(
    cfg: &SessionConfig,
    mean_frame: f64,
    tx: &[TxResult],
    rx: &[RxResult],
    pps: Option<f64>,
) -> Report {
    {
        let nq = cfg.tx_queues as usize;
        let hz = tsc::hz() as f64;
        let mut tx_ports = Vec::new();
        for (pi, dev) in cfg.tx.iter().enumerate() {
            let qs = &tx[pi * nq..(pi + 1) * nq];
            let packets: u64 = qs.iter().map(|r| r.packets).sum();
            let bytes: u64 = qs.iter().map(|r| r.bytes).sum();
            let start = qs.iter().map(|r| r.start_tsc).min().unwrap_or(0);
            let end = qs.iter().map(|r| r.end_tsc).max().unwrap_or(0);
            let secs = (end.saturating_sub(start)) as f64 / hz;
            tx_ports.push(PortReport::new(dev, packets, bytes, secs));
        }
        let nrq = cfg.rx_queues as usize;
        let mut rx_ports = Vec::new();
        let mut all_latency = engine::new_histogram();
        let mut streams: BTreeMap<u16, (u64, u64, u64, u64)> = BTreeMap::new();
        for (pi, dev) in cfg.rx.iter().enumerate() {
            let qs = &rx[pi * nrq..(pi + 1) * nrq];
            let packets: u64 = qs.iter().map(|r| r.packets).sum();
            let bytes: u64 = qs.iter().map(|r| r.bytes).sum();
            let first = qs
                .iter()
                .map(|r| r.first_tsc)
                .filter(|&t| t != 0)
                .min()
                .unwrap_or(0);
            let last = qs.iter().map(|r| r.last_tsc).max().unwrap_or(0);
            let secs = last.saturating_sub(first) as f64 / hz;
            let mut p = PortReport::new(dev, packets, bytes, secs);
            p.foreign = qs.iter().map(|r| r.foreign).sum();
            let mut lat = engine::new_histogram();
            for r in qs {
                if let Some(h) = &r.latency {
                    let _ = lat.add(h);
                }
                for (id, t) in &r.streams {
                    let e = streams.entry(*id).or_default();
                    e.0 += t.unique();
                    e.1 += t.duplicates();
                    e.2 += t.reordered();
                    e.3 += t.lost();
                }
                p.duplicates += r.streams.values().map(SeqTracker::duplicates).sum::<u64>();
                p.reordered += r.streams.values().map(SeqTracker::reordered).sum::<u64>();
            }
            p.latency = LatencySummary::from_histogram(&lat);
            let _ = all_latency.add(&lat);
            rx_ports.push(p);
        }
        let tx_total: u64 = tx.iter().map(|r| r.packets).sum();
        let rx_unique: u64 = streams.values().map(|s| s.0).sum();
        Report::new(
            cfg,
            mean_frame,
            pps,
            tx_ports,
            rx_ports,
            tx_total,
            rx_unique,
            streams.values().map(|s| s.1).sum(),
            streams.values().map(|s| s.2).sum(),
            &all_latency,
        )
    }
}
