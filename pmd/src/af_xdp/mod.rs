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
//!
//! # Partial checksums from the local stack (a kernel limitation)
//!
//! A frame sent by a Linux stack on the same host (a container or namespace behind a veth,
//! with TX checksum offload on, the veth default) leaves that stack as `CHECKSUM_PARTIAL`: its
//! TCP/UDP checksum field holds only the pseudo-header sum, to be completed "by the hardware".
//! AF_XDP in copy mode hands over the frame's bytes and nothing else, so such frames reach
//! [`AfXdpRxQueue::rx_burst`] with an unfinished L4 checksum, in native and in generic XDP
//! mode alike. Nothing can tell us which frames these are: on kernel 6.18 the XDP RX metadata
//! kfuncs are `bpf_xdp_metadata_rx_timestamp`, `_rx_hash` and `_rx_vlan_tag` only (no checksum
//! status; see `xdp_metadata_ops` in the kernel's BTF), an XDP program has no view of the
//! `sk_buff` even in generic mode, and TC programs run after XDP has redirected the frame.
//! Guessing from the bytes (a checksum field equal to the pseudo-header sum) would also "fix"
//! genuinely corrupt frames, so the driver does not do it. Frames from a wire or from a NIC are
//! not affected (they never carry a partial checksum); neither is anything we transmit.
//!
//! Workaround: turn TX checksum offload off on the sending side of the veth, e.g.
//! `ip netns exec NS ethtool -K <peer> tx off`; the stack then writes complete checksums.
//! The AF_PACKET driver does not have this limitation (it sees the kernel's checksum status
//! and completes partial checksums). The test
//! `af_xdp_copy_mode_sees_partial_checksums_unless_peer_tx_offload_is_off` in
//! `pmd/tests/kernel_csum.rs` shows both sides of this.
//!
//! # Loss below line rate: ring sizes and scheduling
//!
//! The kernel writes received frames into the RX ring from its softirq (in copy mode, on the
//! CPU that runs the interface's NAPI) into buffers taken from the fill ring; the forwarder
//! empties the RX ring. Defaults follow DPDK's net_af_xdp: RX and TX rings of the port
//! configuration's size (2048), a fill ring twice the RX ring (so it never runs dry while the
//! RX ring is full: the kernel's `rx_fill_ring_empty_descs` stays 0), a completion ring the size
//! of the TX ring, `busy_poll=20` and `busy_budget=64`. The fill ring is topped up in batches of
//! 64 after every burst and on every empty poll. On TX, a copy-mode `sendto` transmits at most
//! 32 frames unless the kernel takes `XDP_MAX_TX_SKB_BUDGET` (6.17+; we ask for `tx_budget`,
//! default 256), so a kick repeats it (reclaiming completions in between) until the TX ring is
//! drained: a backlog left by a busy moment is sent on the next burst instead of growing until
//! the TX ring overflows. A received frame is lost (`rx_ring_full` in
//! [`XskStats`], counted in `rx_missed`) only when the forwarder does not run for longer than
//! the RX ring lasts at the offered rate (2048 frames = 20 ms at 100 kpps): on a machine whose
//! cores are shared with other work, that is the scheduler, not the driver. Remedies: give the
//! forwarder a core of its own, or a deeper RX ring (`rx_ring=8192`, which makes the fill ring
//! 16384: size the pool for it), which rides out stalls four times longer. A lower nice value
//! helps less (with `kernel.sched_autogroup_enabled=1` it must be set on the session's
//! autogroup), and `SCHED_FIFO` makes things worse: a busy-polling forwarder then starves the
//! softirq work on its CPU that the path needs.

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
