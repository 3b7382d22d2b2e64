//! Engine configuration: one model, loaded from a TOML file, from the command line, or both.
//!
//! The command line follows DPDK's conventions: `-l/--lcores 0-1` (the first lcore listed is the
//! main lcore, which does control and statistics; the others are workers), `--port DEVSTR`
//! repeated (port ids are given in order from 0), and `--config "(port,queue,lcore),..."`
//! mapping RX queues to lcores as in l3fwd. Options given on the command line override the file
//! given with `--config-file`; list options (`--port`, `--config`, `--lcores`) replace the file's
//! list as a whole.
//!
//! [`EngineConfig::validate`] checks everything before any port is opened and resolves the
//! configuration into a [`Plan`]: which lcore polls which queue, which TX queue each lcore uses on
//! each port, and the mempool size. There is one mempool per NUMA node that has a worker lcore
//! (all of the same size, as in l3fwd); a port allocates from the pool of the node of the lcore
//! that polls its queue 0. The size counts, as DPDK applications do, one mbuf per RX and TX
//! descriptor, a TX buffer per (lcore, port) and every cache, and also what a driver lends
//! the kernel beyond its descriptors ([`ferroplane_pmd::mbufs_held`]: AF_XDP's fill and
//! completion rings).
//!
//! A TOML file looks like this:
//!
//! ```toml
//! lcores = [0, 1]
//! burst = 32
//! drain_us = 100
//! stats_period = 1
//! idle = "adaptive"
//! telemetry = "/run/ferroplane.sock"
//! prometheus = "127.0.0.1:9100"
//!
//! [pool]
//! size = 8192
//! cache = 256
//! data_room = 2048
//!
//! [[ports]]
//! dev = "null:size=64"
//!
//! [[ports]]
//! dev = "af_packet:iface=veth0"
//! rx_ring_size = 512
//! promiscuous = true
//!
//! [[queue_map]]
//! port = 0
//! queue = 0
//! lcore = 1
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// Largest burst the engine accepts (the capacity of an `MbufBurst`).
pub const MAX_BURST: usize = 64;
/// Default RX/TX descriptor ring size per queue.
pub const DEFAULT_RING_SIZE: u32 = 1024;
/// Largest per-lcore cache (DPDK's `RTE_MEMPOOL_CACHE_MAX_SIZE`).
pub const MAX_POOL_CACHE: u32 = 512;
/// Smallest pool the engine creates on its own when `pool.size` is not given.
pub const MIN_AUTO_POOL: u32 = 8191;

/// A configuration error; each names the bad value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The lcore list could not be parsed.
    #[error("invalid lcore list '{0}': expected e.g. '0-1' or '1,2' or '0,2-3'")]
    BadLcoreList(String),
    /// The `--config` string could not be parsed.
    #[error("invalid --config '{0}': expected '(port,queue,lcore),...'")]
    BadQueueMap(String),
    /// The Prometheus address could not be parsed.
    #[error("invalid --prometheus address '{0}': expected ADDR:PORT or PORT")]
    BadPrometheus(String),
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    FileRead {
        /// The file.
        path: PathBuf,
        /// The I/O error text.
        reason: String,
    },
    /// The configuration file is not valid TOML for this model.
    #[error("invalid config file {path}: {reason}")]
    FileParse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// No lcores were given.
    #[error("no lcores given (use -l/--lcores, e.g. '-l 0-1')")]
    NoLcores,
    /// An lcore was listed twice.
    #[error("lcore {0} is listed twice")]
    DuplicateLcore(u32),
    /// An lcore is not a CPU this process may run on.
    #[error(
        "lcore {lcore} does not exist or is not in this process's CPU affinity (available: {available})"
    )]
    LcoreUnavailable {
        /// The bad lcore.
        lcore: u32,
        /// The available CPUs, as a list.
        available: String,
    },
    /// There are no lcores left to do packet work.
    #[error(
        "no worker lcore: lcore {main} is the main lcore and there are no others (list more lcores or use --main-lcore-works)"
    )]
    NoWorkers {
        /// The main lcore.
        main: u32,
    },
    /// No ports were given.
    #[error("no ports given (use --port DEVSTR)")]
    NoPorts,
    /// `--config` names a port that does not exist.
    #[error(
        "--config entry ({port},{queue},{lcore}) names unknown port {port} (ports: 0..{nb_ports})"
    )]
    UnknownPort {
        /// The bad port index.
        port: u16,
        /// Its queue.
        queue: u16,
        /// Its lcore.
        lcore: u32,
        /// How many ports there are.
        nb_ports: usize,
    },
    /// `--config` names an lcore that is not a worker.
    #[error(
        "--config entry ({port},{queue},{lcore}) names lcore {lcore}, which is not a worker lcore (workers: {workers})"
    )]
    NotAWorker {
        /// Its port.
        port: u16,
        /// Its queue.
        queue: u16,
        /// The bad lcore.
        lcore: u32,
        /// The worker lcores.
        workers: String,
    },
    /// A queue was assigned to two lcores (or twice to one).
    #[error("port {port} queue {queue} is assigned twice (to lcore {first} and to lcore {second})")]
    QueueAssignedTwice {
        /// The port.
        port: u16,
        /// The queue.
        queue: u16,
        /// The first lcore.
        first: u32,
        /// The second lcore.
        second: u32,
    },
    /// A port has no RX queue assigned to any lcore.
    #[error("port {port} ({dev}) has no queue assigned to any lcore")]
    PortWithoutQueue {
        /// The port.
        port: u16,
        /// Its device string.
        dev: String,
    },
    /// A port's queues are not numbered 0..n.
    #[error(
        "port {port} queue {queue} is not assigned while a higher queue is (queues must be 0..n)"
    )]
    QueueGap {
        /// The port.
        port: u16,
        /// The missing queue.
        queue: u16,
    },
    /// The burst size is out of range.
    #[error("burst {0} is out of range (1..={MAX_BURST})")]
    BadBurst(usize),
    /// A ring size is not a power of two or is too small.
    #[error("port {port} {which} ring size {size} must be a power of two >= 64")]
    BadRingSize {
        /// The port.
        port: u16,
        /// "rx" or "tx".
        which: &'static str,
        /// The bad size.
        size: u32,
    },
    /// The pool cannot hold what the rings, TX buffers and caches may keep out.
    #[error(
        "pool size {size} is too small: need at least {required} mbufs ({breakdown}); raise --pool-size"
    )]
    PoolTooSmall {
        /// The configured size.
        size: u32,
        /// The requirement.
        required: u64,
        /// How the requirement was computed.
        breakdown: String,
    },
    /// The per-lcore cache is too big (DPDK's limits: cache <= 512 and cache <= size / 1.5).
    #[error("pool cache {cache} is too large for pool size {size} (at most {max})")]
    CacheTooLarge {
        /// The cache size.
        cache: u32,
        /// The pool size.
        size: u32,
        /// The largest allowed cache.
        max: u32,
    },
}

/// What a worker lcore does when its queues are empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IdlePolicy {
    /// Poll without pause (DPDK's default).
    #[default]
    Busy,
    /// After many empty polls, pause, then sleep for growing periods (l3fwd-power style).
    Adaptive,
    /// After many empty polls, offer the CPU to other runnable threads (`sched_yield`) on each
    /// empty poll; never sleep. For a polling thread that shares its CPU with the threads or
    /// kernel work that feed it (a traffic generator's receiver on a small machine).
    Yield,
}

/// One port: its device string and ring sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    /// Device string, e.g. `null:size=64` or `af_xdp:iface=veth0,queues=2`.
    pub dev: String,
    /// RX descriptors per queue.
    #[serde(default = "default_ring")]
    pub rx_ring_size: u32,
    /// TX descriptors per queue.
    #[serde(default = "default_ring")]
    pub tx_ring_size: u32,
    /// Receive frames for any destination MAC (DPDK's `-P`).
    #[serde(default)]
    pub promiscuous: bool,
}

impl PortSpec {
    /// A port with default ring sizes.
    pub fn new(dev: impl Into<String>) -> Self {
        PortSpec {
            dev: dev.into(),
            rx_ring_size: DEFAULT_RING_SIZE,
            tx_ring_size: DEFAULT_RING_SIZE,
            promiscuous: false,
        }
    }
}

fn default_ring() -> u32 {
    DEFAULT_RING_SIZE
}

/// One RX queue to lcore assignment, DPDK's `(port,queue,lcore)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueAssign {
    /// Port index.
    pub port: u16,
    /// RX queue index.
    pub queue: u16,
    /// Worker lcore.
    pub lcore: u32,
}

/// Mempool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSpec {
    /// Number of mbufs; `None` computes the requirement (at least [`MIN_AUTO_POOL`]).
    pub size: Option<u32>,
    /// Per-lcore cache size.
    pub cache: u32,
    /// Data room per mbuf in bytes.
    pub data_room: u32,
}

impl Default for PoolSpec {
    fn default() -> Self {
        PoolSpec {
            size: None,
            cache: 256,
            data_room: 2048,
        }
    }
}

/// The whole engine configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Lcores; the first is the main lcore.
    pub lcores: Vec<u32>,
    /// Whether the main lcore also polls queues.
    pub main_lcore_works: bool,
    /// Ports, indexed from 0.
    pub ports: Vec<PortSpec>,
    /// RX queue to lcore mapping; empty means "queue 0 of port i on worker i mod n".
    pub queue_map: Vec<QueueAssign>,
    /// Mempool.
    pub pool: PoolSpec,
    /// Burst size: the most packets received per poll of a queue, and the TX buffer flush
    /// threshold.
    pub burst: usize,
    /// TX drain period in microseconds.
    pub drain_us: u64,
    /// Seconds between statistics lines; 0 disables them.
    pub stats_period: u64,
    /// Path of the telemetry Unix socket.
    pub telemetry: Option<PathBuf>,
    /// Address of the Prometheus endpoint.
    pub prometheus: Option<SocketAddr>,
    /// Idle policy.
    pub idle: IdlePolicy,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lcores: Vec::new(),
            main_lcore_works: false,
            ports: Vec::new(),
            queue_map: Vec::new(),
            pool: PoolSpec::default(),
            burst: 32,
            drain_us: 100,
            stats_period: 0,
            telemetry: None,
            prometheus: None,
            idle: IdlePolicy::Busy,
        }
    }
}

/// The engine's command-line options; an application adds them to its own parser with
/// `#[command(flatten)]`.
#[derive(Debug, Clone, Default, Args)]
pub struct EngineArgs {
    /// TOML configuration file; the options below override it.
    #[arg(long, value_name = "PATH")]
    pub config_file: Option<PathBuf>,
    /// Lcores, e.g. "0-1" or "1,2"; the first is the main lcore.
    #[arg(short = 'l', long = "lcores", value_name = "LIST", value_parser = parse_lcore_list)]
    pub lcores: Option<LcoreList>,
    /// A port's device string (repeat for more ports; ids from 0 in order).
    #[arg(long = "port", value_name = "DEVSTR")]
    pub ports: Vec<String>,
    /// RX queue to lcore mapping, "(port,queue,lcore),...".
    #[arg(long = "config", value_name = "MAP", value_parser = parse_queue_map)]
    pub queue_map: Option<QueueMap>,
    /// RX descriptors per queue.
    #[arg(long, value_name = "N")]
    pub rxd: Option<u32>,
    /// TX descriptors per queue.
    #[arg(long, value_name = "N")]
    pub txd: Option<u32>,
    /// Number of mbufs in the pool.
    #[arg(long, value_name = "N")]
    pub pool_size: Option<u32>,
    /// Per-lcore mempool cache size.
    #[arg(long, value_name = "N")]
    pub pool_cache: Option<u32>,
    /// Data room per mbuf in bytes.
    #[arg(long, value_name = "BYTES")]
    pub data_room: Option<u32>,
    /// Burst size (RX packets per poll and TX flush threshold).
    #[arg(long, value_name = "N")]
    pub burst: Option<usize>,
    /// TX drain period in microseconds.
    #[arg(long, value_name = "US")]
    pub drain_us: Option<u64>,
    /// Seconds between statistics lines (0: off).
    #[arg(long, value_name = "SECS")]
    pub stats_period: Option<u64>,
    /// Telemetry Unix socket path.
    #[arg(long, value_name = "PATH")]
    pub telemetry: Option<PathBuf>,
    /// Prometheus endpoint, ADDR:PORT or PORT (bound to 127.0.0.1).
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_prometheus)]
    pub prometheus: Option<SocketAddr>,
    /// Idle policy of the workers.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub idle: Option<IdlePolicy>,
    /// Let the main lcore poll queues as well.
    #[arg(long)]
    pub main_lcore_works: bool,
    /// Put every port in promiscuous mode (DPDK's `-P`).
    #[arg(short = 'P', long)]
    pub promiscuous: bool,
}

/// A parsed lcore list (a newtype so clap treats it as one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcoreList(pub Vec<u32>);

/// A parsed `--config` mapping (a newtype so clap treats it as one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMap(pub Vec<QueueAssign>);

/// Parses a DPDK lcore list: `0-1`, `1,2`, `0,2-3`.
pub fn parse_lcore_list(s: &str) -> Result<LcoreList, ConfigError> {
    let bad = || ConfigError::BadLcoreList(s.to_string());
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(bad());
        }
        match part.split_once('-') {
            Some((a, b)) => {
                let a: u32 = a.trim().parse().map_err(|_| bad())?;
                let b: u32 = b.trim().parse().map_err(|_| bad())?;
                if a > b || b - a > 4096 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(LcoreList(out))
}

/// Parses `(port,queue,lcore),(port,queue,lcore)...`.
pub fn parse_queue_map(s: &str) -> Result<QueueMap, ConfigError> {
    let bad = || ConfigError::BadQueueMap(s.to_string());
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        rest = rest.strip_prefix('(').ok_or_else(bad)?;
        let end = rest.find(')').ok_or_else(bad)?;
        let fields: Vec<&str> = rest[..end].split(',').map(str::trim).collect();
        if fields.len() != 3 {
            return Err(bad());
        }
        out.push(QueueAssign {
            port: fields[0].parse().map_err(|_| bad())?,
            queue: fields[1].parse().map_err(|_| bad())?,
            lcore: fields[2].parse().map_err(|_| bad())?,
        });
        rest = rest[end + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return Err(bad());
            }
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(QueueMap(out))
}

/// Parses `ADDR:PORT` or a bare `PORT` (bound to 127.0.0.1).
pub fn parse_prometheus(s: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse()
        .map_err(|_| ConfigError::BadPrometheus(s.to_string()))
}

/// Formats a list of CPU ids compactly, e.g. `0-3,6`.
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut v = cpus.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}-{}", v[i], v[j])
        });
        i = j + 1;
    }
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(",")
    }
}

/// The NUMA node of a CPU (from sysfs; 0 when unknown or on a single-node machine).
pub fn numa_node_of(cpu: u32) -> u32 {
    std::fs::read_dir(format!("/sys/devices/system/cpu/cpu{cpu}"))
        .ok()
        .and_then(|dir| {
            dir.filter_map(Result::ok)
                .find_map(|e| e.file_name().to_str()?.strip_prefix("node")?.parse().ok())
        })
        .unwrap_or(0)
}

/// The CPUs this process may run on (its affinity mask).
pub fn available_cpus() -> Vec<u32> {
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id as u32).collect())
        .unwrap_or_default()
}

impl EngineConfig {
    /// Reads a TOML file.
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::FileRead {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            ConfigError::FileParse { reason, .. } => ConfigError::FileParse {
                path: path.to_path_buf(),
                reason,
            },
            other => other,
        })
    }

    /// Parses TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::FileParse {
            path: PathBuf::from("<string>"),
            reason: e.message().to_string(),
        })
    }

    /// Renders the configuration as TOML.
    pub fn to_toml(&self) -> String {
        // Serializing this plain model cannot fail; fall back to Debug if it ever does.
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}\n# {self:?}"))
    }

    /// Builds the configuration from parsed arguments: the file (if any), then the options.
    pub fn from_args(args: &EngineArgs) -> Result<Self, ConfigError> {
        let mut cfg = match &args.config_file {
            Some(path) => Self::from_toml_file(path)?,
            None => Self::default(),
        };
        cfg.merge_args(args);
        Ok(cfg)
    }

    /// Applies command-line options on top of this configuration.
    pub fn merge_args(&mut self, args: &EngineArgs) {
        if let Some(l) = &args.lcores {
            self.lcores = l.0.clone();
        }
        if !args.ports.is_empty() {
            self.ports = args.ports.iter().map(PortSpec::new).collect();
        }
        if let Some(n) = args.rxd {
            self.ports.iter_mut().for_each(|p| p.rx_ring_size = n);
        }
        if let Some(n) = args.txd {
            self.ports.iter_mut().for_each(|p| p.tx_ring_size = n);
        }
        if let Some(m) = &args.queue_map {
            self.queue_map = m.0.clone();
        }
        if let Some(n) = args.pool_size {
            self.pool.size = Some(n);
        }
        if let Some(n) = args.pool_cache {
            self.pool.cache = n;
        }
        if let Some(n) = args.data_room {
            self.pool.data_room = n;
        }
        if let Some(n) = args.burst {
            self.burst = n;
        }
        if let Some(n) = args.drain_us {
            self.drain_us = n;
        }
        if let Some(n) = args.stats_period {
            self.stats_period = n;
        }
        if let Some(p) = &args.telemetry {
            self.telemetry = Some(p.clone());
        }
        if let Some(a) = args.prometheus {
            self.prometheus = Some(a);
        }
        if let Some(i) = args.idle {
            self.idle = i;
        }
        if args.main_lcore_works {
            self.main_lcore_works = true;
        }
        if args.promiscuous {
            self.ports.iter_mut().for_each(|p| p.promiscuous = true);
        }
    }

    /// Checks the configuration against the CPUs this process may use
    /// ([`available_cpus`]) and resolves it into a [`Plan`].
    pub fn validate(&self) -> Result<Plan, ConfigError> {
        self.validate_with(&available_cpus())
    }

    /// Like [`validate`](Self::validate) with an explicit list of available CPUs.
    pub fn validate_with(&self, available: &[u32]) -> Result<Plan, ConfigError> {
        self.validate_with_topology(available, &numa_node_of)
    }

    /// Like [`validate_with`](Self::validate_with) with an explicit CPU-to-NUMA-node map.
    pub fn validate_with_topology(
        &self,
        available: &[u32],
        node_of: &dyn Fn(u32) -> u32,
    ) -> Result<Plan, ConfigError> {
        if self.lcores.is_empty() {
            return Err(ConfigError::NoLcores);
        }
        for (i, &l) in self.lcores.iter().enumerate() {
            if self.lcores[..i].contains(&l) {
                return Err(ConfigError::DuplicateLcore(l));
            }
            if !available.contains(&l) {
                return Err(ConfigError::LcoreUnavailable {
                    lcore: l,
                    available: format_cpu_list(available),
                });
            }
        }
        let main_lcore = self.lcores[0];
        let workers: Vec<u32> = if self.main_lcore_works {
            self.lcores.clone()
        } else {
            self.lcores[1..].to_vec()
        };
        if workers.is_empty() {
            return Err(ConfigError::NoWorkers { main: main_lcore });
        }
        if self.ports.is_empty() {
            return Err(ConfigError::NoPorts);
        }
        if self.burst == 0 || self.burst > MAX_BURST {
            return Err(ConfigError::BadBurst(self.burst));
        }
        for (i, p) in self.ports.iter().enumerate() {
            for (which, size) in [("rx", p.rx_ring_size), ("tx", p.tx_ring_size)] {
                if !size.is_power_of_two() || size < 64 {
                    return Err(ConfigError::BadRingSize {
                        port: i as u16,
                        which,
                        size,
                    });
                }
            }
        }

        // The queue map: explicit, or queue 0 of each port round-robin over the workers.
        let map: Vec<QueueAssign> = if self.queue_map.is_empty() {
            (0..self.ports.len())
                .map(|p| QueueAssign {
                    port: p as u16,
                    queue: 0,
                    lcore: workers[p % workers.len()],
                })
                .collect()
        } else {
            self.queue_map.clone()
        };
        let mut owner: BTreeMap<(u16, u16), u32> = BTreeMap::new();
        for a in &map {
            if a.port as usize >= self.ports.len() {
                return Err(ConfigError::UnknownPort {
                    port: a.port,
                    queue: a.queue,
                    lcore: a.lcore,
                    nb_ports: self.ports.len(),
                });
            }
            if !workers.contains(&a.lcore) {
                return Err(ConfigError::NotAWorker {
                    port: a.port,
                    queue: a.queue,
                    lcore: a.lcore,
                    workers: format_cpu_list(&workers),
                });
            }
            if let Some(&first) = owner.get(&(a.port, a.queue)) {
                return Err(ConfigError::QueueAssignedTwice {
                    port: a.port,
                    queue: a.queue,
                    first,
                    second: a.lcore,
                });
            }
            owner.insert((a.port, a.queue), a.lcore);
        }
        let mut rx_queues = vec![0u16; self.ports.len()];
        for (port, spec) in self.ports.iter().enumerate() {
            let queues: Vec<u16> = owner
                .keys()
                .filter(|(p, _)| *p as usize == port)
                .map(|&(_, q)| q)
                .collect();
            if queues.is_empty() {
                return Err(ConfigError::PortWithoutQueue {
                    port: port as u16,
                    dev: spec.dev.clone(),
                });
            }
            for (expect, &q) in queues.iter().enumerate() {
                if q as usize != expect {
                    return Err(ConfigError::QueueGap {
                        port: port as u16,
                        queue: expect as u16,
                    });
                }
            }
            rx_queues[port] = queues.len() as u16;
        }

        // Mbufs that can be out of the pool at once, the way DPDK applications size their pools:
        // every RX and TX descriptor, a TX buffer of one burst per (lcore, port), and every cache.
        let nb_lcores = self.lcores.len() as u64;
        let nb_workers = workers.len() as u64;
        let nb_ports = self.ports.len() as u64;
        // A driver may hold more than its descriptors (AF_XDP lends its fill ring too).
        let held: Vec<(u64, u64)> = self
            .ports
            .iter()
            .map(|p| ferroplane_pmd::mbufs_held(&p.dev, p.rx_ring_size, p.tx_ring_size))
            .collect();
        let rxd: u64 = held
            .iter()
            .zip(&rx_queues)
            .map(|(&(rx, _), &q)| rx * q as u64)
            .sum();
        let txd: u64 = held.iter().map(|&(_, tx)| tx * nb_workers).sum();
        let bufs = nb_ports * nb_workers * self.burst as u64;
        let caches = nb_lcores * self.pool.cache as u64;
        let required = rxd + txd + bufs + caches;
        let breakdown = format!(
            "rx descriptors {rxd} + tx descriptors {txd} (with what the drivers lend the kernel) + tx buffers {nb_ports} ports x {nb_workers} lcores x {} + caches {nb_lcores} lcores x {}",
            self.burst, self.pool.cache
        );
        let pool_size = match self.pool.size {
            Some(size) => {
                if (size as u64) < required {
                    return Err(ConfigError::PoolTooSmall {
                        size,
                        required,
                        breakdown,
                    });
                }
                size
            }
            None => (required.max(MIN_AUTO_POOL as u64)).min(u32::MAX as u64) as u32,
        };
        let max_cache = ((pool_size as f64 / 1.5) as u32).min(MAX_POOL_CACHE);
        if self.pool.cache > max_cache {
            return Err(ConfigError::CacheTooLarge {
                cache: self.pool.cache,
                size: pool_size,
                max: max_cache,
            });
        }

        let lcores = workers
            .iter()
            .enumerate()
            .map(|(idx, &lcore)| LcorePlan {
                lcore,
                tx_queue: idx as u16,
                rx: map
                    .iter()
                    .filter(|a| a.lcore == lcore)
                    .map(|a| (a.port, a.queue))
                    .collect(),
            })
            .collect();
        // One pool per NUMA node that has a worker, like l3fwd; a port allocates from the pool
        // of the node of the lcore that polls its queue 0.
        let port_node: Vec<u32> = (0..self.ports.len() as u16)
            .map(|p| node_of(owner.get(&(p, 0)).copied().unwrap_or(main_lcore)))
            .collect();
        let mut nodes: Vec<u32> = workers.iter().map(|&l| node_of(l)).collect();
        nodes.sort_unstable();
        nodes.dedup();
        Ok(Plan {
            main_lcore,
            main_lcore_works: self.main_lcore_works,
            nodes,
            port_node,
            workers: lcores,
            rx_queues,
            tx_queues: workers.len() as u16,
            pool_size,
            pool_required: required,
        })
    }
}

/// What one worker lcore does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcorePlan {
    /// The lcore (CPU) id.
    pub lcore: u32,
    /// The TX queue this lcore owns on every port.
    pub tx_queue: u16,
    /// The (port, RX queue) pairs it polls.
    pub rx: Vec<(u16, u16)>,
}

/// A validated, resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The main lcore (control and statistics).
    pub main_lcore: u32,
    /// Whether the main lcore is also in `workers`.
    pub main_lcore_works: bool,
    /// NUMA nodes with a worker lcore: one mempool each.
    pub nodes: Vec<u32>,
    /// The NUMA node (pool) of each port: that of the lcore polling its queue 0.
    pub port_node: Vec<u32>,
    /// Worker lcores, in the order given.
    pub workers: Vec<LcorePlan>,
    /// RX queues to configure per port.
    pub rx_queues: Vec<u16>,
    /// TX queues to configure on every port (one per worker).
    pub tx_queues: u16,
    /// Mbufs in each pool.
    pub pool_size: u32,
    /// The computed minimum pool size.
    pub pool_required: u64,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "main lcore {}", self.main_lcore)?;
        for w in &self.workers {
            write!(f, "; lcore {} (txq {}) polls", w.lcore, w.tx_queue)?;
            for (p, q) in &w.rx {
                write!(f, " {p}/{q}")?;
            }
        }
        write!(
            f,
            "; pool {} mbufs (need {})",
            self.pool_size, self.pool_required
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        engine: EngineArgs,
    }

    fn cfg(args: &[&str]) -> EngineConfig {
        let cli = Cli::try_parse_from(std::iter::once("app").chain(args.iter().copied())).unwrap();
        EngineConfig::from_args(&cli.engine).unwrap()
    }

    fn err(args: &[&str]) -> String {
        cfg(args)
            .validate_with(&[0, 1, 2, 3])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn lcore_lists_parse() {
        assert_eq!(parse_lcore_list("0-1").unwrap().0, vec![0, 1]);
        assert_eq!(parse_lcore_list("1,2").unwrap().0, vec![1, 2]);
        assert_eq!(parse_lcore_list("0,2-4").unwrap().0, vec![0, 2, 3, 4]);
        for bad in ["", "a", "3-1", "1,,2", "1-"] {
            let e = parse_lcore_list(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn queue_map_parses() {
        let m = parse_queue_map("(0,0,1),(1,0,2), (1,1,2)").unwrap().0;
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[2],
            QueueAssign {
                port: 1,
                queue: 1,
                lcore: 2
            }
        );
        for bad in ["", "(0,0)", "0,0,1", "(0,0,1),", "(0,x,1)"] {
            let e = parse_queue_map(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn prometheus_defaults_to_loopback() {
        assert_eq!(
            parse_prometheus("9100").unwrap().to_string(),
            "127.0.0.1:9100"
        );
        assert_eq!(
            parse_prometheus("0.0.0.0:80").unwrap().to_string(),
            "0.0.0.0:80"
        );
        assert!(
            parse_prometheus("nope")
                .unwrap_err()
                .to_string()
                .contains("'nope'")
        );
    }

    #[test]
    fn cli_and_toml_give_the_same_model() {
        let toml = r#"
            lcores = [0, 1]
            burst = 16
            drain_us = 50
            idle = "adaptive"
            [pool]
            size = 16384
            cache = 128
            [[ports]]
            dev = "null:size=64"
            promiscuous = true
            [[ports]]
            dev = "null:size=128"
            promiscuous = true
            [[queue_map]]
            port = 0
            queue = 0
            lcore = 1
            [[queue_map]]
            port = 1
            queue = 0
            lcore = 1
        "#;
        let from_file = EngineConfig::from_toml_str(toml).unwrap();
        let from_cli = cfg(&[
            "-l",
            "0-1",
            "--burst",
            "16",
            "--drain-us",
            "50",
            "--idle",
            "adaptive",
            "--pool-size",
            "16384",
            "--pool-cache",
            "128",
            "--port",
            "null:size=64",
            "--port",
            "null:size=128",
            "--config",
            "(0,0,1),(1,0,1)",
            "-P",
        ]);
        assert!(from_cli.ports.iter().all(|p| p.promiscuous));
        assert_eq!(from_file, from_cli);
        // And it round-trips through TOML.
        assert_eq!(
            EngineConfig::from_toml_str(&from_file.to_toml()).unwrap(),
            from_file
        );
    }

    #[test]
    fn cli_overrides_file() {
        let dir = std::env::temp_dir().join(format!("fp-engine-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "lcores = [0, 1]\nburst = 16\nstats_period = 3\n[[ports]]\ndev = \"null:\"\n",
        )
        .unwrap();
        let c = cfg(&[
            "--config-file",
            path.to_str().unwrap(),
            "--burst",
            "8",
            "-l",
            "1,2",
        ]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(c.burst, 8);
        assert_eq!(c.stats_period, 3);
        assert_eq!(c.lcores, vec![1, 2]);
        assert_eq!(c.ports, vec![PortSpec::new("null:")]);
    }

    #[test]
    fn bad_file_names_the_file_and_the_field() {
        let e = EngineConfig::from_toml_str("bogus = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = EngineConfig::from_toml_file(Path::new("/nonexistent/fp.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/fp.toml"), "{e}");
    }

    #[test]
    fn default_mapping_round_robins_queue_zero() {
        let plan = cfg(&[
            "-l", "0-2", "--port", "null:", "--port", "null:", "--port", "null:",
        ])
        .validate_with(&[0, 1, 2])
        .unwrap();
        assert_eq!(plan.main_lcore, 0);
        assert_eq!(plan.workers.len(), 2);
        assert_eq!(plan.workers[0].rx, vec![(0, 0), (2, 0)]);
        assert_eq!(plan.workers[1].rx, vec![(1, 0)]);
        assert_eq!(plan.tx_queues, 2);
        assert_eq!(plan.rx_queues, vec![1, 1, 1]);
        assert!(plan.pool_size >= MIN_AUTO_POOL);
    }

    #[test]
    fn pool_requirement_counts_the_af_xdp_fill_and_completion_rings() {
        if !ferroplane_pmd::DRIVERS.contains(&"af_xdp") {
            eprintln!("skipped: ferroplane-pmd built without its af_xdp feature");
            return;
        }
        let two_ports = |a: &str, b: &str| {
            cfg(&["-l", "0", "--main-lcore-works", "--port", a, "--port", b])
                .validate_with(&[0])
                .unwrap()
                .pool_required
        };
        let null = two_ports("null:", "null:");
        let xdp = two_ports("af_xdp:iface=a", "af_xdp:iface=b");
        // Per port: a fill ring of 2 x 1024 beyond the RX ring, a completion ring of 1024
        // beyond the TX ring.
        assert_eq!(xdp - null, 2 * (2 * 1024 + 1024));
    }

    #[test]
    fn one_pool_per_numa_node_with_workers() {
        let c = cfg(&["-l", "0,1,2", "--port", "a", "--port", "b", "--port", "c"]);
        let node_of = |cpu: u32| cpu / 2; // cpus 0-1 on node 0, 2-3 on node 1
        let plan = c.validate_with_topology(&[0, 1, 2, 3], &node_of).unwrap();
        // Workers 1 (node 0) and 2 (node 1); ports 0 and 2 on lcore 1, port 1 on lcore 2.
        assert_eq!(plan.nodes, vec![0, 1]);
        assert_eq!(plan.port_node, vec![0, 1, 0]);
        let single = c.validate_with_topology(&[0, 1, 2, 3], &|_| 0).unwrap();
        assert_eq!(single.nodes, vec![0]);
        assert_eq!(numa_node_of(u32::MAX), 0, "unknown CPU: node 0");
    }

    #[test]
    fn rule_lcore_must_exist() {
        let e = err(&["-l", "0,7", "--port", "null:"]);
        assert!(e.contains("lcore 7 does not exist"), "{e}");
        assert!(e.contains("available: 0-3"), "{e}");
    }

    #[test]
    fn rule_lcore_listed_twice() {
        assert_eq!(
            err(&["-l", "0,1,1", "--port", "null:"]),
            "lcore 1 is listed twice"
        );
    }

    #[test]
    fn rule_needs_a_worker() {
        let e = err(&["-l", "0", "--port", "null:"]);
        assert!(e.contains("lcore 0 is the main lcore"), "{e}");
        // ... unless the main lcore works.
        cfg(&["-l", "0", "--port", "null:", "--main-lcore-works"])
            .validate_with(&[0])
            .unwrap();
    }

    #[test]
    fn rule_queue_assigned_twice() {
        let e = err(&[
            "-l",
            "0-2",
            "--port",
            "null:",
            "--config",
            "(0,0,1),(0,0,2)",
        ]);
        assert_eq!(
            e,
            "port 0 queue 0 is assigned twice (to lcore 1 and to lcore 2)"
        );
    }

    #[test]
    fn rule_port_without_queue() {
        let e = err(&[
            "-l", "0-1", "--port", "null:a", "--port", "null:b", "--config", "(0,0,1)",
        ]);
        assert_eq!(e, "port 1 (null:b) has no queue assigned to any lcore");
    }

    #[test]
    fn rule_queue_gap() {
        let e = err(&[
            "-l",
            "0-1",
            "--port",
            "null:",
            "--config",
            "(0,0,1),(0,2,1)",
        ]);
        assert!(e.contains("port 0 queue 1 is not assigned"), "{e}");
    }

    #[test]
    fn rule_unknown_port() {
        let e = err(&[
            "-l",
            "0-1",
            "--port",
            "null:",
            "--config",
            "(0,0,1),(3,0,1)",
        ]);
        assert!(e.contains("names unknown port 3"), "{e}");
    }

    #[test]
    fn rule_lcore_in_map_must_be_a_worker() {
        let e = err(&["-l", "0-1", "--port", "null:", "--config", "(0,0,0)"]);
        assert!(
            e.contains("names lcore 0, which is not a worker lcore (workers: 1)"),
            "{e}"
        );
    }

    #[test]
    fn rule_pool_too_small() {
        // 2 ports x 1024 rxd + 2 ports x 1 lcore x 1024 txd + 2 x 1 x 32 buffers + 2 lcores x 256.
        let e = err(&[
            "-l",
            "0-1",
            "--port",
            "null:",
            "--port",
            "null:",
            "--pool-size",
            "1000",
        ]);
        assert!(
            e.starts_with("pool size 1000 is too small: need at least 4672 mbufs"),
            "{e}"
        );
        cfg(&[
            "-l",
            "0-1",
            "--port",
            "null:",
            "--port",
            "null:",
            "--pool-size",
            "4672",
        ])
        .validate_with(&[0, 1])
        .unwrap();
    }

    #[test]
    fn rule_cache_too_large() {
        let e = err(&[
            "-l",
            "0-1",
            "--port",
            "null:",
            "--pool-cache",
            "600",
            "--pool-size",
            "9000",
        ]);
        assert_eq!(
            e,
            "pool cache 600 is too large for pool size 9000 (at most 512)"
        );
    }

    #[test]
    fn rule_burst_and_ring_sizes() {
        assert!(err(&["-l", "0-1", "--port", "null:", "--burst", "65"]).contains("burst 65"));
        let e = err(&["-l", "0-1", "--port", "null:", "--rxd", "100"]);
        assert!(e.contains("port 0 rx ring size 100"), "{e}");
    }

    #[test]
    fn rule_no_ports_and_no_lcores() {
        assert!(err(&["-l", "0-1"]).contains("no ports"));
        assert!(err(&["--port", "null:"]).contains("no lcores"));
    }
}
