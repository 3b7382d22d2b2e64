//! Ferroplane: a DPDK-style packet forwarding engine. This crate is the runtime (DPDK's EAL
//! plus the worker loop every DPDK application writes by hand) and re-exports the other crates.
//!
//! An application implements [`Worker`] (its per-burst logic) and hands it to an [`Engine`]
//! built from an [`EngineConfig`] (command line via [`EngineArgs`], or a TOML file). The engine
//! opens the ports, runs one pinned thread per worker lcore polling its RX queues in bursts,
//! buffers TX per port and drains the buffers on a timer, counts everything, serves telemetry,
//! and shuts down cleanly on SIGINT/SIGTERM.
//!
//! ```no_run
//! use clap::Parser;
//! use ferroplane::{BurstCtx, Engine, EngineArgs, MbufBurst, Worker};
//!
//! /// Forwards port 0 <-> port 1, dropping frames shorter than 60 bytes.
//! struct Fwd;
//!
//! impl Worker for Fwd {
//!     fn drop_reasons(&self) -> Vec<String> {
//!         vec!["runt".into()]
//!     }
//!     fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
//!         let out = ctx.rx_port() ^ 1;
//!         for m in burst.drain(..) {
//!             if m.len() < 60 { ctx.drop(m, 0) } else { ctx.tx(out, m) }
//!         }
//!     }
//! }
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     engine: EngineArgs,
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // e.g. app -l 0-1 --port null --port null --stats-period 1
//!     let engine = Engine::from_args(&Cli::parse().engine)?;
//!     let report = engine.run(|_lcore| Fwd)?; // until SIGINT/SIGTERM
//!     assert_eq!(report.pool_in_use, 0);
//!     Ok(())
//! }
//! ```

pub mod config;
pub mod control;
pub mod idle;
pub mod lcore;
pub mod pipeline;
pub mod runtime;
pub mod signal;
pub mod stats;
pub mod telemetry;
pub mod tsc;
pub mod worker;

pub use config::{ConfigError, EngineArgs, EngineConfig, IdlePolicy, Plan, PortSpec, QueueAssign};
pub use control::CommandHandler;
pub use pipeline::SoftRss;
pub use runtime::{Engine, EngineError, LcoreInfo, RunReport};
pub use worker::{BackPressure, BurstCtx, LcoreLoop, LoopParams, Source, Worker};

pub use ferroplane_mempool::{Mbuf, MbufBurst, Mempool};

/// Hashes, ACL, RSS ([`ferroplane_classify`]).
pub use ferroplane_classify as classify;
/// Longest-prefix match ([`ferroplane_lpm`]).
pub use ferroplane_lpm as lpm;
/// Mempools and mbufs ([`ferroplane_mempool`]).
pub use ferroplane_mempool as mempool;
/// Packet headers and builders ([`ferroplane_net`]).
pub use ferroplane_net as net;
/// Ports and drivers ([`ferroplane_pmd`]).
pub use ferroplane_pmd as pmd;
/// Lock-free rings ([`ferroplane_ring`]).
pub use ferroplane_ring as ring;
