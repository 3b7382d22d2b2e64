//! AF_XDP driver: kernel-bypass RX/TX on any Linux interface through AF_XDP sockets, with
//! Ferroplane's own XDP program for steering.
//!
//! - [`xdp`]: the XDP steering program (flow director, filters, XSKMAP redirect), attach and
//!   detach; what XDP can and cannot steer is explained there.
//! - [`config`]: the `af_xdp:` device string.
//! - [`port`]: opening a port; one socket per queue, all on one UMEM which is the mempool's
//!   region (`XDP_SHARED_UMEM`), so RX frames become mbufs and mbufs are sent without a copy.
//! - [`queue`]: the RX/TX fast path.
//! - `ring`, `xsk`, `sys`: the XSK rings and socket over the kernel ABI (`linux/if_xdp.h`).
//! - [`bench`](mod@bench): the helper XDP programs used by benchmarks (redirect, count-and-drop).

pub mod bench;
pub mod config;
mod driver;
pub mod port;
pub mod queue;
mod ring;
mod sys;
pub mod xdp;
pub mod xsk;

pub use config::{AfXdpConfig, parse_rule};
pub use driver::open;
pub use port::{AfXdpPort, PortDefaults};
pub use queue::{AfXdpRxQueue, AfXdpTxQueue};
pub use xdp::{
    FlowAction, FlowDirector, FlowMatch, FlowRule, MismatchPolicy, RuleCounters, SteerStats,
    XdpError, XdpMode,
};
pub use xsk::{XskStats, ZeroCopy};
