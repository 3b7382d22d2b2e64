//! Ferroplane pktgen: a traffic generator and measurer built on Ferroplane's ports, in the
//! spirit of pktgen-dpdk.
//!
//! - [`traffic`]: what to send (sizes, IMIX, Ethernet/VLAN/IPv4/IPv6/UDP/TCP, address and port
//!   ranges, pcap replay), the same model from the command line and TOML.
//! - [`factory`]: builds the frames from [`net`](ferroplane_net) templates and stamps each with
//!   the [`payload`] signature: stream id, sequence number, TSC timestamp.
//! - [`engine`]: the TSC-paced transmit loop and the measuring receive loop ([`tsc`] is the
//!   calibrated clock).
//! - [`session`]: a run over ports and queues, one pinned thread per queue, giving a
//!   [`report::Report`] (JSON, CSV, live ANSI view).
//! - [`rfc2544`]: the zero-loss (NDR) / partial-drop (PDR) throughput search.
//! - [`xdp_tx`]: the kernel-speed transmitter for Linux interfaces (BPF_PROG_RUN in XDP
//!   live-frames mode).
//! - [`netns`]: opening ports inside other network namespaces.
//! - [`plot`]: SVG/PNG plots (throughput against frame size, latency CDF, bench ratios).
//! - [`testkit`]: a misbehaving forwarder to test all of this against known answers, and the
//!   rate-limiting engine worker behind the `pktgen-dut` binary (a device under test with a
//!   known capacity).
//!
//! pktgen runs on the engine's facilities: its threads are pinned and given lcore ids by
//! [`ferroplane::lcore`], receivers idle by [`ferroplane::idle`], SIGINT/SIGTERM stop a run
//! through [`ferroplane::signal::StopOnSignal`], and [`tsc`] is the engine's clock.

pub mod engine;
pub mod error;
pub mod factory;
pub mod netns;
pub mod payload;
pub mod plot;
pub mod rate;
pub mod report;
pub mod rfc2544;
pub mod session;
pub mod testkit;
pub mod traffic;
pub mod xdp_tx;

pub use error::PktgenError;
/// The calibrated time-stamp counter that paces TX and stamps payloads: the engine's.
pub use ferroplane::tsc;
pub use rate::Rate;
pub use report::Report;
pub use session::{Session, SessionConfig};
pub use traffic::TrafficConfig;
