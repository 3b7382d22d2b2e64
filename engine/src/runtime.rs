//! The engine: validates a configuration, creates the pool, opens the ports, hands their queues
//! to lcores, runs one pinned thread per worker lcore, and shuts everything down cleanly.
//!
//! Life of a run ([`Engine::run`]):
//! 1. [`Engine::new`]: validate (nothing is opened if the configuration is bad), create the
//!    mempool, open every port with one TX queue per worker lcore, take the queues.
//! 2. Optional pipeline rings ([`Engine::add_ring`]).
//! 3. `run`: build one [`Worker`] per lcore, start telemetry, spawn the lcore threads (named
//!    `lcore-N`, pinned, registered with the mempool's lcore table) which all wait on a barrier
//!    until every one is ready, then poll.
//! 4. The main thread does control: statistics every `stats_period`, the signal watcher.
//! 5. Stop (first SIGINT/SIGTERM, or the caller's stop flag): each worker finishes its burst,
//!    sends its TX buffers and drops its queues; the engine takes the final statistics, closes
//!    the ports (detaching XDP programs) and prints the summary. A second signal (another
//!    signal, or the same one more than 100 ms later: `timeout` sends one to the process and
//!    one to its group) closes the ports at once from the signal thread and exits with
//!    status 130.
//!
//! A complete program, configured in code rather than from the command line:
//!
//! ```
//! use std::time::Duration;
//! use ferroplane::{BurstCtx, Engine, EngineConfig, MbufBurst, PortSpec, Worker};
//!
//! struct Swap; // port 0 <-> port 1
//! impl Worker for Swap {
//!     fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
//!         let out = ctx.rx_port() ^ 1;
//!         ctx.tx_all(out, burst);
//!     }
//! }
//!
//! let cpus = ferroplane::config::available_cpus();
//! let config = EngineConfig {
//!     lcores: cpus.iter().copied().take(2).collect(),
//!     main_lcore_works: cpus.len() < 2,
//!     ports: vec![PortSpec::new("null:size=64"), PortSpec::new("null:size=64")],
//!     ..EngineConfig::default()
//! };
//! let mut engine = Engine::new(config)?;
//! engine.quiet(true);
//! engine.stop_after(Duration::from_millis(50)); // or wait for SIGINT
//! let report = engine.run(|_lcore| Swap)?;
//! assert!(report.totals.rx > 0);
//! assert_eq!(report.totals.rx, report.totals.tx); // null TX takes everything
//! assert_eq!(report.pool_in_use, 0);
//! # Ok::<(), ferroplane::EngineError>(())
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferroplane_mempool::{HugePolicy, Mempool, MempoolConfig, SyncMode};
use ferroplane_pmd::{Port, PortConfig, TxQueue};
use serde_json::json;

use crate::config::{ConfigError, EngineArgs, EngineConfig, LcorePlan, Plan};
use crate::control::{self, CommandClient, Commands, Request};
use crate::signal::{SIGNAL_DEBOUNCE, ShutdownSignals};
use crate::stats::{
    LcoreSnapshot, LcoreStats, MAX_DROP_REASONS, MempoolSnapshot, PortSnapshot, RateView,
    StatsSource, Totals, final_summary,
};
use crate::telemetry;
use crate::worker::{BackPressure, LcoreLoop, LoopParams, Source, Worker};

/// Errors setting up or running the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The mempool could not be created.
    #[error("cannot create mempool of {count} mbufs: {reason}")]
    Mempool {
        /// Requested size.
        count: u32,
        /// The mempool's error.
        reason: String,
    },
    /// A port could not be opened.
    #[error("cannot open port {port} '{dev}': {reason}")]
    Port {
        /// Port id.
        port: u16,
        /// Device string.
        dev: String,
        /// The driver's error.
        reason: String,
    },
    /// A queue could not be taken from a port.
    #[error("port {port} '{dev}' has no {kind} queue {queue} (the driver gave {have})")]
    Queue {
        /// Port id.
        port: u16,
        /// Device string.
        dev: String,
        /// "rx" or "tx".
        kind: &'static str,
        /// Queue id.
        queue: u16,
        /// Queues the driver has.
        have: u16,
    },
    /// A pipeline ring was asked between unknown lcores or could not be made.
    #[error("pipeline ring {from} -> {to}: {reason}")]
    Ring {
        /// Producer lcore.
        from: u32,
        /// Consumer lcore.
        to: u32,
        /// What is wrong.
        reason: String,
    },
    /// A worker declared too many drop reasons.
    #[error("worker on lcore {lcore} declares {count} drop reasons (at most {MAX_DROP_REASONS})")]
    TooManyDropReasons {
        /// The lcore.
        lcore: u32,
        /// How many.
        count: usize,
    },
    /// An lcore thread could not start.
    #[error("lcore {lcore}: {reason}")]
    Lcore {
        /// The lcore.
        lcore: u32,
        /// What failed.
        reason: String,
    },
    /// A telemetry endpoint could not start.
    #[error(transparent)]
    Telemetry(#[from] telemetry::TelemetryError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(String),
    /// A telemetry command could not be registered.
    #[error("telemetry command '{name}' {reason}")]
    Command {
        /// The command name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// What a worker factory learns about the lcore it builds a worker for.
#[derive(Debug, Clone)]
pub struct LcoreInfo {
    /// The lcore (CPU) id.
    pub lcore: u32,
    /// Position among the worker lcores.
    pub index: usize,
    /// The (port, queue) pairs it polls.
    pub rx: Vec<(u16, u16)>,
    /// Number of ports (all can be sent to).
    pub nb_ports: u16,
    /// Pipeline rings it consumes (their ids).
    pub rings_in: Vec<u16>,
    /// Pipeline rings it produces to, in the order of [`crate::BurstCtx::enqueue`] indices:
    /// `(ring id, consumer lcore)`.
    pub rings_out: Vec<(u16, u32)>,
}

/// Static description of a port, kept after it is closed.
#[derive(Debug, Clone)]
struct PortMeta {
    name: String,
    driver: String,
    rx_queues: u16,
    tx_queues: u16,
}

type SharedPorts = Arc<Mutex<Vec<Option<Box<dyn Port>>>>>;

fn lock(ports: &SharedPorts) -> MutexGuard<'_, Vec<Option<Box<dyn Port>>>> {
    ports.lock().unwrap_or_else(|p| p.into_inner())
}

/// One worker lcore's resources before it starts.
struct LcoreSetup {
    plan: LcorePlan,
    sources: Vec<Source>,
    txqs: Vec<Option<Box<dyn TxQueue>>>,
    outs: Vec<(ferroplane_mempool::MbufProducer, BackPressure, u16, u32)>,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Final per-port counters.
    pub ports: Vec<PortSnapshot>,
    /// Final per-lcore counters.
    pub lcores: Vec<LcoreSnapshot>,
    /// Totals over lcores.
    pub totals: Totals,
    /// Mbufs still out of the pools after every queue was dropped and every port closed.
    pub pool_in_use: usize,
    /// The summary text printed at exit.
    pub summary: String,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// The engine (see the module documentation).
pub struct Engine {
    config: EngineConfig,
    plan: Plan,
    pools: Vec<(u32, Mempool)>,
    ports: SharedPorts,
    meta: Arc<Vec<PortMeta>>,
    lcores: Vec<LcoreSetup>,
    nb_rings: u16,
    quiet: bool,
    stop_after: Option<Duration>,
    commands: Commands,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("plan", &self.plan)
            .field("config", &self.config)
            .finish()
    }
}

impl Engine {
    /// Builds an engine from parsed command-line arguments (and the file they name).
    pub fn from_args(args: &EngineArgs) -> Result<Self, EngineError> {
        Self::new(EngineConfig::from_args(args)?)
    }

    /// Validates `config`, creates the pool and opens the ports.
    pub fn new(config: EngineConfig) -> Result<Self, EngineError> {
        let plan = config.validate()?;
        Self::with_plan(config, plan)
    }

    /// Like [`new`](Self::new) with an already validated plan (for example from
    /// [`EngineConfig::validate_with`]).
    pub fn with_plan(config: EngineConfig, plan: Plan) -> Result<Self, EngineError> {
        // Calibrate the TSC (about 50 ms, once per process) during set-up, not in the first
        // iteration of the worker loops, where it would eat into the run.
        crate::tsc::hz();
        let mut pools = Vec::with_capacity(plan.nodes.len());
        for &node in &plan.nodes {
            let pool = Mempool::new(&MempoolConfig {
                name: format!("mbuf_pool_{node}"),
                count: plan.pool_size as usize,
                cache_size: config.pool.cache as usize,
                data_room: config.pool.data_room as usize,
                hugepages: HugePolicy::Auto,
                ..MempoolConfig::default()
            })
            .map_err(|e| EngineError::Mempool {
                count: plan.pool_size,
                reason: e.to_string(),
            })?;
            pools.push((node, pool));
        }
        let pool_of = |node: u32| {
            pools
                .iter()
                .find(|(n, _)| *n == node)
                .map_or(&pools[0].1, |(_, p)| p)
                .clone()
        };

        // Open every port; on any failure the ones already open are closed when `opened` drops.
        let mut opened: Vec<Box<dyn Port>> = Vec::with_capacity(config.ports.len());
        for (i, spec) in config.ports.iter().enumerate() {
            let pc = PortConfig {
                rx_queues: plan.rx_queues[i],
                tx_queues: plan.tx_queues,
                rx_ring_size: spec.rx_ring_size,
                tx_ring_size: spec.tx_ring_size,
                promiscuous: spec.promiscuous,
                ..PortConfig::new(pool_of(plan.port_node[i]))
            };
            let port = ferroplane_pmd::open(&spec.dev, &pc).map_err(|e| EngineError::Port {
                port: i as u16,
                dev: spec.dev.clone(),
                reason: e.to_string(),
            })?;
            log::info!(
                "port {i}: {} ({}), {} rx / {} tx queues",
                port.info().name,
                port.info().driver,
                port.info().rx_queues,
                port.info().tx_queues
            );
            opened.push(port);
        }
        let meta: Vec<PortMeta> = opened
            .iter()
            .enumerate()
            .map(|(i, p)| PortMeta {
                name: p.info().name.clone(),
                driver: p.info().driver.to_string(),
                rx_queues: plan.rx_queues[i],
                tx_queues: plan.tx_queues,
            })
            .collect();

        let mut lcores = Vec::with_capacity(plan.workers.len());
        for w in &plan.workers {
            let mut sources = Vec::new();
            for &(port, queue) in &w.rx {
                let p = &mut opened[port as usize];
                let have = p.info().rx_queues;
                let rxq = p.take_rx_queue(queue).ok_or_else(|| EngineError::Queue {
                    port,
                    dev: config.ports[port as usize].dev.clone(),
                    kind: "rx",
                    queue,
                    have,
                })?;
                sources.push(Source::Queue { port, queue, rxq });
            }
            let mut txqs = Vec::with_capacity(opened.len());
            for (port, p) in opened.iter_mut().enumerate() {
                let have = p.info().tx_queues;
                let txq = p
                    .take_tx_queue(w.tx_queue)
                    .ok_or_else(|| EngineError::Queue {
                        port: port as u16,
                        dev: config.ports[port].dev.clone(),
                        kind: "tx",
                        queue: w.tx_queue,
                        have,
                    })?;
                txqs.push(Some(txq));
            }
            lcores.push(LcoreSetup {
                plan: w.clone(),
                sources,
                txqs,
                outs: Vec::new(),
            });
        }
        log::info!("engine plan: {plan}");
        Ok(Engine {
            config,
            plan,
            pools,
            ports: Arc::new(Mutex::new(opened.into_iter().map(Some).collect())),
            meta: Arc::new(meta),
            lcores,
            nb_rings: 0,
            quiet: false,
            stop_after: None,
            commands: Commands::default(),
        })
    }

    /// The resolved plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The mbuf pool of the first NUMA node (the only one on single-node machines).
    pub fn pool(&self) -> &Mempool {
        &self.pools[0].1
    }

    /// Every mbuf pool with its NUMA node.
    pub fn pools(&self) -> &[(u32, Mempool)] {
        &self.pools
    }

    /// Number of ports.
    pub fn nb_ports(&self) -> u16 {
        self.meta.len() as u16
    }

    /// The name of a port as its driver reports it.
    pub fn port_name(&self, port: u16) -> Option<&str> {
        self.meta.get(port as usize).map(|m| m.name.as_str())
    }

    /// The MAC address of a port.
    pub fn port_mac(&self, port: u16) -> Option<ferroplane_pmd::MacAddr> {
        lock(&self.ports)
            .get(port as usize)?
            .as_ref()
            .map(|p| p.info().mac)
    }

    /// Does not print the periodic or final statistics (the [`RunReport`] still has them).
    pub fn quiet(&mut self, quiet: bool) {
        self.quiet = quiet;
    }

    /// Stops the run after `d` as if SIGINT had arrived (for benchmarks and demos).
    pub fn stop_after(&mut self, d: Duration) {
        self.stop_after = Some(d);
    }

    /// Registers telemetry command `name` (e.g. `/l3fwd/route/add`): a query `name` or
    /// `name,ARGS` on the telemetry socket runs `handler(ARGS)` on the control thread (one
    /// handler at a time, so handlers may own single-writer state such as an LPM table) and
    /// replies `{"name": <its value>}` or `{"error": ...}`. Names start with `/`, have no `,`
    /// or whitespace and do not shadow the built-in queries.
    pub fn telemetry_command<F>(&mut self, name: &str, handler: F) -> Result<(), EngineError>
    where
        F: FnMut(&str) -> Result<serde_json::Value, String> + Send + 'static,
    {
        control::check_name(name, &self.commands.names()).map_err(|reason| {
            EngineError::Command {
                name: name.to_string(),
                reason,
            }
        })?;
        self.commands
            .handlers
            .push((name.to_string(), Box::new(handler)));
        Ok(())
    }

    /// Runs `handler` on the control thread whenever the process gets SIGHUP (with
    /// [`run`](Self::run); without a handler SIGHUP keeps its default action).
    pub fn on_sighup<F>(&mut self, handler: F)
    where
        F: FnMut() + Send + 'static,
    {
        self.commands.on_hup = Some(Box::new(handler));
    }

    /// Connects worker lcore `from` to worker lcore `to` with a single-producer,
    /// single-consumer ring of `capacity` (a power of two) mbufs. Returns the index `from`'s
    /// worker passes to [`crate::BurstCtx::enqueue`]; `to` polls the ring as one more source.
    pub fn add_ring(
        &mut self,
        from: u32,
        to: u32,
        capacity: usize,
        policy: BackPressure,
    ) -> Result<u16, EngineError> {
        let err = |reason: String| EngineError::Ring { from, to, reason };
        let fi = self.lcores.iter().position(|l| l.plan.lcore == from);
        let ti = self.lcores.iter().position(|l| l.plan.lcore == to);
        let (Some(fi), Some(ti)) = (fi, ti) else {
            return Err(err("both ends must be worker lcores".into()));
        };
        let (prod, cons) =
            ferroplane_mempool::MbufRing::channel(capacity, SyncMode::Single, SyncMode::Single)
                .map_err(|e| err(e.to_string()))?;
        let id = self.nb_rings;
        self.nb_rings += 1;
        self.lcores[ti]
            .sources
            .push(Source::Ring { id, ring: cons });
        self.lcores[fi].outs.push((prod, policy, id, to));
        Ok((self.lcores[fi].outs.len() - 1) as u16)
    }

    /// Runs until SIGINT or SIGTERM (see the module documentation), then shuts down. The
    /// factory is called once per worker lcore, on the main thread, before any lcore starts.
    pub fn run<W, F>(self, make: F) -> Result<RunReport, EngineError>
    where
        W: Worker + 'static,
        F: FnMut(&LcoreInfo) -> W,
    {
        let signals = ShutdownSignals::install_with_hup(self.commands.on_hup.is_some())
            .map_err(|e| EngineError::Signals(e.to_string()))?;
        self.run_inner(make, Arc::new(AtomicBool::new(false)), Some(signals))
    }

    /// Runs until `stop` is set (no signal handling), then shuts down.
    pub fn run_until<W, F>(self, make: F, stop: Arc<AtomicBool>) -> Result<RunReport, EngineError>
    where
        W: Worker + 'static,
        F: FnMut(&LcoreInfo) -> W,
    {
        self.run_inner(make, stop, None)
    }

    fn run_inner<W, F>(
        self,
        mut make: F,
        stop: Arc<AtomicBool>,
        signals: Option<ShutdownSignals>,
    ) -> Result<RunReport, EngineError>
    where
        W: Worker + 'static,
        F: FnMut(&LcoreInfo) -> W,
    {
        let Engine {
            config,
            plan,
            pools,
            ports,
            meta,
            lcores,
            quiet,
            stop_after,
            mut commands,
            ..
        } = self;
        let (cmd_tx, cmd_rx) = std::sync::mpsc::channel::<Request>();
        let nb_ports = meta.len();
        let params = LoopParams {
            burst: config.burst,
            drain: Duration::from_micros(config.drain_us),
            idle: config.idle,
        };

        // Workers and their statistics, built here so setup errors come before any thread.
        let mut prepared = Vec::with_capacity(lcores.len());
        for (index, setup) in lcores.into_iter().enumerate() {
            let info = LcoreInfo {
                lcore: setup.plan.lcore,
                index,
                rx: setup.plan.rx.clone(),
                nb_ports: nb_ports as u16,
                rings_in: setup
                    .sources
                    .iter()
                    .filter_map(|s| {
                        if let Source::Ring { id, .. } = s {
                            Some(*id)
                        } else {
                            None
                        }
                    })
                    .collect(),
                rings_out: setup.outs.iter().map(|o| (o.2, o.3)).collect(),
            };
            let worker = make(&info);
            let names = worker.drop_reasons();
            if names.len() > MAX_DROP_REASONS {
                return Err(EngineError::TooManyDropReasons {
                    lcore: info.lcore,
                    count: names.len(),
                });
            }
            let stats = Arc::new(LcoreStats::new(info.lcore, nb_ports, Arc::from(names)));
            let mut lp =
                LcoreLoop::new(info.lcore, setup.sources, setup.txqs, stats.clone(), params);
            for (prod, policy, _, _) in setup.outs {
                lp.add_ring_output(prod, policy);
            }
            prepared.push((lp, worker, stats));
        }
        let all_stats: Vec<Arc<LcoreStats>> = prepared.iter().map(|p| p.2.clone()).collect();
        let started = Instant::now();
        let source = Arc::new(EngineSource {
            ports: ports.clone(),
            meta: meta.clone(),
            lcores: all_stats.clone(),
            pools: pools.iter().map(|(_, p)| p.clone()).collect(),
            started,
            plan: plan.clone(),
            last_ports: Mutex::new(Vec::new()),
            commands: CommandClient::new(commands.names(), cmd_tx.clone()),
        });
        let mut servers = Vec::new();
        if let Some(path) = &config.telemetry {
            servers.push(telemetry::serve_unix(path, source.clone())?);
            log::info!("telemetry on {}", path.display());
        }
        if let Some(addr) = config.prometheus {
            let s = telemetry::serve_prometheus(addr, source.clone())?;
            log::info!(
                "prometheus on http://{}/metrics",
                s.local_addr().unwrap_or(addr)
            );
            servers.push(s);
        }

        // The signal thread: first signal stops the workers, a second one closes the ports and exits.
        let done = Arc::new(AtomicBool::new(false));
        let signal_thread = signals.map(|sig| {
            let (stop, done, ports) = (stop.clone(), done.clone(), ports.clone());
            let hup = cmd_tx.clone();
            std::thread::Builder::new()
                .name("fp-signals".into())
                .spawn(move || signal_watch(sig, &stop, &done, &ports, &hup))
        });
        let signal_thread = match signal_thread {
            Some(Ok(h)) => Some(h),
            Some(Err(e)) => return Err(EngineError::Signals(e.to_string())),
            None => None,
        };

        // The lcore threads. The main lcore's loop (if it works) runs on this thread.
        let main_lcore = plan.main_lcore;
        let mut main_loop = None;
        let mut spawn = Vec::new();
        for p in prepared {
            if plan.main_lcore_works && p.0.lcore() == main_lcore {
                main_loop = Some(p);
            } else {
                spawn.push(p);
            }
        }
        let parties = spawn.len() + 1;
        let barrier = Arc::new(Barrier::new(parties));
        let failed = Arc::new(AtomicBool::new(false));
        let mut handles: Vec<(u32, JoinHandle<Result<LcoreLoop, String>>)> = Vec::new();
        for (mut lp, mut worker, _) in spawn {
            let lcore = lp.lcore();
            let (b, f, s) = (barrier.clone(), failed.clone(), stop.clone());
            let h = std::thread::Builder::new()
                .name(format!("lcore-{lcore}"))
                .spawn(move || {
                    let _stop_all_on_panic = StopOnPanic(&s);
                    let ready = enter_lcore(lcore);
                    if ready.is_err() {
                        f.store(true, Ordering::SeqCst);
                    }
                    b.wait();
                    let guard = ready?;
                    if !f.load(Ordering::SeqCst) {
                        lp.run(&mut worker, &s);
                    }
                    lp.flush();
                    drop(worker);
                    drop(guard);
                    // The queues and rings go back to the main thread, which drains the rings
                    // once every lcore has stopped.
                    Ok(lp)
                });
            match h {
                Ok(h) => handles.push((lcore, h)),
                Err(e) => {
                    // The threads already spawned wait on the barrier: release them.
                    failed.store(true, Ordering::SeqCst);
                    stop.store(true, Ordering::SeqCst);
                    log::error!("cannot spawn lcore-{lcore}: {e}");
                }
            }
        }
        // Threads that failed to spawn never reach the barrier; stand in for them.
        for _ in handles.len()..parties - 1 {
            let b = barrier.clone();
            std::thread::spawn(move || b.wait());
        }
        barrier.wait();
        let start_err = failed.load(Ordering::SeqCst);
        if start_err {
            stop.store(true, Ordering::SeqCst);
        } else {
            log::info!(
                "{} lcore(s) started",
                handles.len() + main_loop.is_some() as usize
            );
        }

        // Control: the periodic statistics, on this thread or (if it works) on a helper.
        let period =
            (config.stats_period > 0 && !quiet).then(|| Duration::from_secs(config.stats_period));
        let deadline = stop_after.map(|d| Instant::now() + d);
        let mut finished: Vec<LcoreLoop> = Vec::new();
        let main_result = match main_loop {
            Some((mut lp, mut worker, _)) => {
                let ctl = {
                    let (stop, source) = (stop.clone(), source.clone());
                    std::thread::Builder::new()
                        .name("fp-control".into())
                        .spawn(move || {
                            control_loop(&stop, period, deadline, &source, &mut commands, &cmd_rx)
                        })
                        .ok()
                };
                let guard_stop = StopOnPanic(&stop);
                let r = match enter_lcore(main_lcore) {
                    Ok(guard) => {
                        if !start_err {
                            lp.run(&mut worker, &stop);
                        }
                        lp.flush();
                        drop(worker);
                        drop(guard);
                        Ok(())
                    }
                    Err(e) => {
                        stop.store(true, Ordering::SeqCst);
                        Err(e)
                    }
                };
                finished.push(lp);
                drop(guard_stop);
                if let Some(c) = ctl {
                    let _ = c.join();
                }
                r.map_err(|reason| EngineError::Lcore {
                    lcore: main_lcore,
                    reason,
                })
            }
            None => {
                control_loop(&stop, period, deadline, &source, &mut commands, &cmd_rx);
                drop(commands);
                drop(cmd_rx);
                Ok(())
            }
        };

        // Shutdown: workers stop at a burst boundary and flush their TX buffers.
        let mut first_err = main_result.err();
        for (lcore, h) in handles {
            match h.join() {
                Ok(Ok(lp)) => finished.push(lp),
                Ok(Err(reason)) => {
                    first_err.get_or_insert(EngineError::Lcore { lcore, reason });
                }
                Err(_) => {
                    first_err.get_or_insert(EngineError::Lcore {
                        lcore,
                        reason: "thread panicked".into(),
                    });
                }
            }
        }
        // Every lcore has stopped and flushed: what is left in pipeline rings is freed and counted.
        for lp in &mut finished {
            lp.drain_ring_sources();
        }
        drop(finished);
        drop(servers);
        let elapsed = started.elapsed();
        let port_snaps = source.ports();
        let lcore_snaps = source.lcores();
        let summary = final_summary(&port_snaps, &lcore_snaps, elapsed.as_secs_f64());
        // Close the ports (this detaches XDP programs); the signal thread may be closing too.
        {
            let mut g = lock(&ports);
            for (i, slot) in g.iter_mut().enumerate() {
                if let Some(p) = slot.take()
                    && let Err(e) = p.close()
                {
                    log::warn!("closing port {i}: {e}");
                }
            }
        }
        done.store(true, Ordering::SeqCst);
        if let Some(h) = signal_thread {
            let _ = h.join();
        }
        drop(source);
        if !quiet {
            print!("{summary}");
        }
        let pool_in_use: usize = pools.iter().map(|(_, p)| p.in_use()).sum();
        if pool_in_use != 0 {
            log::warn!("{pool_in_use} mbufs still in use after shutdown");
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        Ok(RunReport {
            totals: Totals::of(&lcore_snaps),
            ports: port_snaps,
            lcores: lcore_snaps,
            pool_in_use,
            summary,
            elapsed,
        })
    }
}

/// Stops every lcore if the thread holding it unwinds, so one panicking worker shuts the
/// engine down (and `run` reports it) instead of leaving the others polling.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// Pins the calling thread to `lcore` and claims the lcore id for the mempool caches.
fn enter_lcore(lcore: u32) -> Result<ferroplane_mempool::LcoreGuard, String> {
    crate::lcore::enter(lcore).map_err(|e| e.to_string())
}

fn control_loop(
    stop: &AtomicBool,
    period: Option<Duration>,
    deadline: Option<Instant>,
    source: &EngineSource,
    commands: &mut Commands,
    requests: &std::sync::mpsc::Receiver<Request>,
) {
    let mut view = RateView::new();
    let mut next = period.map(|p| Instant::now() + p);
    if period.is_some() {
        view.lines(&source.ports(), &source.lcores());
    }
    while !stop.load(Ordering::Relaxed) {
        // Application commands and SIGHUP run here, between the statistics ticks.
        commands.serve(requests, Duration::from_millis(10));
        if deadline.is_some_and(|d| Instant::now() >= d) {
            stop.store(true, Ordering::SeqCst);
            break;
        }
        if let (Some(at), Some(p)) = (next, period)
            && Instant::now() >= at
        {
            for line in view.lines(&source.ports(), &source.lcores()) {
                println!("{line}");
            }
            next = Some(at + p);
        }
    }
}

fn signal_watch(
    sig: ShutdownSignals,
    stop: &AtomicBool,
    done: &AtomicBool,
    ports: &SharedPorts,
    hup: &std::sync::mpsc::Sender<Request>,
) {
    let mut first: Option<(libc::c_int, Instant)> = None;
    while !done.load(Ordering::SeqCst) {
        let Some(signo) = sig.wait(Duration::from_millis(50)) else {
            continue;
        };
        if signo == libc::SIGHUP {
            // Handled on the control thread (gone once stopping: then it is ignored).
            let _ = hup.send(Request::Hup);
            continue;
        }
        match first {
            None => {
                eprintln!("ferroplane: signal {signo} received, stopping (again to exit at once)");
                stop.store(true, Ordering::SeqCst);
                first = Some((signo, Instant::now()));
                continue;
            }
            // `timeout(1)` and a terminal's Ctrl-C can deliver one request twice (to the
            // process and to its group): the same signal right behind the first is one request.
            Some((s, at)) if s == signo && at.elapsed() < SIGNAL_DEBOUNCE => continue,
            Some(_) => {}
        }
        eprintln!("ferroplane: second signal {signo}: closing ports and exiting now");
        // Best effort: the main thread may hold the lock while closing ports itself.
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            match ports.try_lock() {
                Ok(mut g) => {
                    for p in g.iter_mut().filter_map(Option::take) {
                        let _ = p.close();
                    }
                    break;
                }
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    for port in p.into_inner().iter_mut().filter_map(Option::take) {
                        let _ = port.close();
                    }
                    break;
                }
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(std::sync::TryLockError::WouldBlock) => break,
            }
        }
        std::process::exit(130);
    }
    drop(sig);
}

/// Reads the engine's live state for statistics and telemetry.
struct EngineSource {
    ports: SharedPorts,
    meta: Arc<Vec<PortMeta>>,
    lcores: Vec<Arc<LcoreStats>>,
    pools: Vec<Mempool>,
    started: Instant,
    plan: Plan,
    /// Port counters as last read while the ports were open (they are closed at the end).
    last_ports: Mutex<Vec<PortSnapshot>>,
    /// The application's telemetry commands.
    commands: CommandClient,
}

impl StatsSource for EngineSource {
    fn ports(&self) -> Vec<PortSnapshot> {
        let engine_tx_drops: Vec<u64> = (0..self.meta.len())
            .map(|i| {
                self.lcores
                    .iter()
                    .map(|l| l.ports[i].tx_dropped.get())
                    .sum()
            })
            .collect();
        let g = lock(&self.ports);
        let mut last = self.last_ports.lock().unwrap_or_else(|p| p.into_inner());
        let snaps: Vec<PortSnapshot> = self
            .meta
            .iter()
            .enumerate()
            .map(|(i, m)| match g.get(i).and_then(Option::as_ref) {
                Some(p) => {
                    let s = p.stats();
                    PortSnapshot {
                        id: i as u16,
                        name: m.name.clone(),
                        driver: m.driver.clone(),
                        rx_queues: m.rx_queues,
                        tx_queues: m.tx_queues,
                        rx_packets: s.rx_packets,
                        rx_bytes: s.rx_bytes,
                        tx_packets: s.tx_packets,
                        tx_bytes: s.tx_bytes,
                        rx_missed: s.rx_missed,
                        rx_errors: s.rx_errors,
                        rx_nombuf: s.alloc_failures,
                        tx_errors: s.tx_errors,
                        tx_dropped: s.tx_drops + engine_tx_drops[i],
                    }
                }
                None => last.get(i).cloned().unwrap_or_default(),
            })
            .collect();
        *last = snaps.clone();
        snaps
    }

    fn lcores(&self) -> Vec<LcoreSnapshot> {
        self.lcores.iter().map(|l| l.snapshot()).collect()
    }

    fn mempools(&self) -> Vec<MempoolSnapshot> {
        self.pools
            .iter()
            .map(|p| MempoolSnapshot {
                name: p.name().to_string(),
                capacity: p.capacity() as u64,
                in_use: p.in_use() as u64,
                available: p.available() as u64,
                alloc_failures: p.alloc_failures(),
            })
            .collect()
    }

    fn info(&self) -> serde_json::Value {
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "uptime_s": self.started.elapsed().as_secs_f64(),
            "main_lcore": self.plan.main_lcore,
            "main_lcore_works": self.plan.main_lcore_works,
            "worker_lcores": self.plan.workers.iter().map(|w| w.lcore).collect::<Vec<_>>(),
            "nb_ports": self.meta.len(),
        })
    }

    fn commands(&self) -> Vec<String> {
        self.commands.names().to_vec()
    }

    fn command(&self, name: &str, args: &str) -> Option<Result<serde_json::Value, String>> {
        self.commands.call(name, args)
    }
}
