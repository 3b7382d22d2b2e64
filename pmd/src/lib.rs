//! Ferroplane poll-mode drivers: the port/queue API and the drivers.
//!
//! A port is opened from a device string and a [`PortConfig`] with [`open`], then split into
//! RX and TX queues ([`Port::take_rx_queue`], [`Port::take_tx_queue`]); each queue is owned by
//! one core at a time, so the data path takes no lock. Queues move [`MbufBurst`]s of
//! [`ferroplane_mempool::Mbuf`]s.
//!
//! | driver | device string | notes |
//! |---|---|---|
//! | `af_xdp` | `af_xdp:iface=veth0,queues=2` | cargo feature `af_xdp` (default); see [`registry`] |
//! | `af_packet` | `af_packet:iface=veth0,queues=2` | TPACKET_V3 RX ring, TPACKET_V2 TX ring, fanout |
//! | `tap` | `tap:name=fp0,queues=2` | creates or attaches a TAP device |
//! | `pcap` | `pcap:rx=in.pcap,tx=out.pcap,infinite_rx=1` | files, nanosecond timestamps |
//! | `ring` | `ring:name=r0` (twice) or `ring:name=a,peer=b` | back-to-back virtual pair |
//! | `null` | `null:size=64` | endless RX, TX frees |
//!
//! [`testing`] has the helpers for tests that need root, namespaces and veth pairs.

mod copy;
mod csum;
mod sys;

/// Declares the private module `$name` holding a BPF skeleton that the calling crate's build
/// script generated with libbpf-cargo into `OUT_DIR` as `$file`, for example
/// `ferroplane_pmd::bpf_skeleton!(skel, "pktgen_xdp.skel.rs")`. Generated code does not meet
/// the workspace lints, so they are relaxed for that module only.
#[macro_export]
macro_rules! bpf_skeleton {
    ($name:ident, $file:literal) => {
        #[allow(
            clippy::all,
            clippy::pedantic,
            clippy::undocumented_unsafe_blocks,
            missing_docs,
            unsafe_op_in_unsafe_fn,
            dead_code,
            non_camel_case_types
        )]
        mod $name {
            include!(concat!(env!("OUT_DIR"), "/", $file));
        }
    };
}

pub mod af_packet;
pub mod devargs;
pub mod error;
pub mod info;
pub mod null;
pub mod pcap;
pub mod pcap_file;
pub mod port;
pub mod registry;
pub mod ring;
pub mod stats;
pub mod tap;
pub mod testing;

pub use devargs::DevArgs;
pub use error::PmdError;
pub use ferroplane_mempool::{Mbuf, MbufBurst, Mempool};
pub use info::{Capabilities, LinkState, MacAddr, PortInfo};
pub use port::{Port, PortConfig, RxQueue, TxQueue};
pub use registry::{DRIVERS, mbufs_held, open};
pub use stats::{PortStats, QueueKind, QueueStats, QueueStatsSnapshot};

#[cfg(feature = "af_xdp")]
pub mod af_xdp;
