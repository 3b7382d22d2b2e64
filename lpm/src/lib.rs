//! Ferroplane lpm: IPv4 and IPv6 longest-prefix match in the style of DPDK `rte_lpm` /
//! `rte_lpm6`.
//!
//! - [`Lpm4`]: DIR-24-8. A 2^24-entry `tbl24` (one entry per /24) and 256-entry `tbl8` groups
//!   for /24s that hold longer prefixes: one memory read per lookup, two at most. 24-bit next
//!   hops.
//! - [`Lpm6`]: the same 24-bit first stride followed by 8-bit strides, 22-bit next hops.
//!
//! Both keep a rule store (one hash map per prefix length) beside the tables so a delete restores
//! the next-longest covering prefix, and a second-level group whose entries become uniform is
//! folded back into its parent entry and freed. Tables live in 2 MiB hugepages when the system
//! has them (else ordinary pages, with a warning).
//!
//! # Lookups
//! [`Lpm4::lookup`] for one address; [`Lpm4::lookup_bulk`] (and [`Lpm4::lookup8`],
//! [`Lpm4::lookup32`]) for bursts: in blocks of 32 addresses it first prefetches every tbl24
//! line of the block (all misses in flight at once), then resolves the block with AVX2 gathers
//! when the CPU has them (the default), else scalar loads, each followed by a tbl8 pass for the
//! few extended entries and a branch-free conversion to next hops; an AVX-512 version is
//! selectable with [`Lpm4::lookup_bulk_with`] (runtime feature detection, scalar fallback,
//! identical results; see [`LookupImpl`]). Misses are [`NO_ROUTE`].
//!
//! # Updating routes while workers look up
//! One writer, any number of lock-free readers (like `rte_lpm` with its RCU integration):
//!
//! - The [`Lpm4`] value is the writer: `add`/`delete` take `&mut self`. Keep it on the control
//!   thread.
//! - Each worker gets an [`Lpm4Reader`] from [`Lpm4::reader`] (`Send`; holds an `Arc` of the
//!   tables). Its lookups use atomic loads of entries the writer changes with atomic `Release`
//!   stores, so each lookup sees the route before or after an update, never a torn entry. New
//!   tbl8 groups are filled before they are linked.
//! - A delete that frees a tbl8 group does not reuse it at once: readers may still be reading it.
//!   Each reader calls [`Lpm4Reader::quiescent`] once per burst (between bursts it holds nothing
//!   from the table), and [`Lpm4Reader::offline`] before it sleeps. A freed group becomes
//!   reusable when every online reader has reported a quiescent state since the free
//!   (quiescent-state-based reclamation, as DPDK's `rte_rcu_qsbr`). When an add needs a group and
//!   only such retired groups are left, it waits up to [`LpmConfig::grace_timeout`] for the
//!   readers, then fails with [`LpmError::Tbl8Exhausted`].
//!
//! Misusing the protocol (a reader that looks up while marked offline) can give a stale or wrong
//! next hop for that lookup, never memory unsafety: groups are never unmapped while a handle
//! exists, and every access is atomic.
//!
//! ```
//! use ferroplane_lpm::{Lpm4, LpmConfig};
//! let mut lpm = Lpm4::new(&LpmConfig::default()).unwrap();
//! lpm.add(u32::from_be_bytes([10, 0, 0, 0]), 8, 1).unwrap();
//! lpm.add(u32::from_be_bytes([10, 1, 2, 128]), 25, 2).unwrap();
//! assert_eq!(lpm.lookup(u32::from_be_bytes([10, 1, 2, 200])), Some(2));
//! assert_eq!(lpm.lookup(u32::from_be_bytes([10, 1, 2, 100])), Some(1));
//! lpm.delete(u32::from_be_bytes([10, 1, 2, 128]), 25).unwrap();
//! assert_eq!(lpm.lookup(u32::from_be_bytes([10, 1, 2, 200])), Some(1));
//! assert_eq!(lpm.lookup(u32::from_be_bytes([11, 0, 0, 1])), None);
//! ```

use std::time::Duration;

mod mem;
mod qsbr;
mod rules;
#[cfg(target_arch = "x86_64")]
mod simd;
mod trie;
mod v4;
mod v6;

pub use qsbr::MAX_READERS;
pub use trie::MemoryUsage;
pub use v4::{Lpm4, Lpm4Reader, MAX_NEXT_HOP4};
pub use v6::{Lpm6, Lpm6Reader, MAX_NEXT_HOP6};

/// The value bulk lookups write for an address with no matching route.
pub const NO_ROUTE: u32 = u32::MAX;

/// A single lookup's next hop as its result: `None` for [`NO_ROUTE`].
#[inline(always)]
fn route_found(nh: u32) -> Option<u32> {
    (nh != NO_ROUTE).then_some(nh)
}

/// Errors of table creation and updates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LpmError {
    /// Prefix length beyond the address width (32 for IPv4, 128 for IPv6).
    #[error("invalid prefix depth {0} (at most 32 for IPv4, 128 for IPv6)")]
    InvalidDepth(u8),
    /// Next hop wider than the table's next-hop field.
    #[error("next hop {next_hop} too large (at most {max})")]
    InvalidNextHop {
        /// The rejected value.
        next_hop: u32,
        /// The largest next hop the table stores.
        max: u32,
    },
    /// Adding a new rule would exceed `max_rules`.
    #[error("rule table full ({max_rules} rules)")]
    TableFull {
        /// The configured maximum.
        max_rules: usize,
    },
    /// No free second-level group (all in use, or retired and readers have not passed a
    /// quiescent state within the grace timeout).
    #[error("all {groups} tbl8 groups in use")]
    Tbl8Exhausted {
        /// The configured number of groups.
        groups: u32,
    },
    /// Deleting a prefix that is not in the table.
    #[error("no rule with this prefix at depth {depth}")]
    NotFound {
        /// The depth given.
        depth: u8,
    },
    /// All [`MAX_READERS`] reader slots are taken.
    #[error("too many readers (at most {MAX_READERS})")]
    TooManyReaders,
    /// A configuration value out of range.
    #[error("invalid lpm configuration: {0}")]
    InvalidConfig(&'static str),
    /// The table memory could not be mapped.
    #[error("cannot map {bytes} bytes of table memory")]
    OutOfMemory {
        /// Bytes requested.
        bytes: usize,
    },
}

/// Table configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LpmConfig {
    /// Most rules (prefixes) the table holds; more is [`LpmError::TableFull`].
    pub max_rules: usize,
    /// Second-level groups (1 KiB each); each /24 (IPv4) or each deeper 8-bit stride node
    /// (IPv6) that holds a longer prefix uses one. Fewer than 2^23.
    pub tbl8_groups: u32,
    /// Map the tables in 2 MiB hugepages when available.
    pub hugepages: bool,
    /// Allocate (and zero) all table memory when the table is created, as DPDK's hugepage
    /// memory is, so no update or lookup ever takes a page fault; without it the kernel does
    /// that on first touch. Turning it off makes creating (and dropping) a sparse table cheap,
    /// which suits short-lived tables in tests.
    pub prefault: bool,
    /// How long an add that needs a group waits for readers to pass a quiescent state before
    /// giving up with [`LpmError::Tbl8Exhausted`].
    pub grace_timeout: Duration,
}

impl Default for LpmConfig {
    /// One million rules, 4096 groups (4 MiB), hugepages, prefaulted, 100 ms grace timeout.
    fn default() -> Self {
        Self {
            max_rules: 1 << 20,
            tbl8_groups: 4096,
            hugepages: true,
            prefault: true,
            grace_timeout: Duration::from_millis(100),
        }
    }
}

/// The implementation of IPv4 bulk lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupImpl {
    /// The default: [`LookupImpl::Avx2`] when the CPU has it, else [`LookupImpl::Scalar`]
    /// (fastest where measured; see `scripts/bench/lpm.sh`).
    Auto,
    /// Scalar loads after the block's prefetch.
    Scalar,
    /// AVX2 gathers after the block's prefetch, 8 addresses per step.
    Avx2,
    /// AVX-512 gathers after the block's prefetch, 16 addresses per step.
    Avx512,
}

impl LookupImpl {
    /// Whether this CPU can run the implementation.
    pub fn is_available(self) -> bool {
        match self {
            Self::Auto | Self::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The concrete implementation used for `self`: `Auto` becomes the default, an
    /// unavailable one becomes `Scalar`.
    pub fn resolve(self) -> Self {
        match self {
            // Measured on this project's AMD EPYC, random lookups in fib_perf_autotest's 1M-route
            // table, bursts of 32, medians of 40 interleaved rounds (cycles/lookup): block
            // prefetch + AVX2 gathers 18, + AVX-512 gathers 19, + scalar loads 23; without the
            // block prefetch AVX2 28, AVX-512 44, scalar 33 (the bottleneck is cache misses in
            // flight: gathers of lines already requested are cheap, cold gathers are not).
            Self::Auto => {
                if Self::Avx2.is_available() {
                    Self::Avx2
                } else {
                    Self::Scalar
                }
            }
            imp if imp.is_available() => imp,
            _ => Self::Scalar,
        }
    }
}
