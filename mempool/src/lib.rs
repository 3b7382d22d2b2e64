//! Ferroplane mempool: hugepage memory, packet-buffer pools with per-lcore caches, and mbufs.
//!
//! - [`HugeRegion`]: one contiguous, pre-faulted mapping of 2 MiB pages (4 KiB fallback) cut
//!   into fixed-size chunks; usable as one AF_XDP UMEM.
//! - [`Mempool`]: the chunks of a region as packet buffers, free ones in a shared MP/MC ring of
//!   indices fronted by per-lcore caches (rte_mempool's design), with counters so leaks show.
//! - [`lcore`]: the per-thread lcore id that selects a cache, unique by construction.
//! - [`Mbuf`]: an owned packet buffer with its metadata in a separate array; clone by
//!   reference count (shared means read-only), chains, and return to the pool on drop.
//! - [`MbufBurst`]: up to [`MAX_BURST`] mbufs on the stack for the fast path, freed in bulk.
//! - [`MbufRing`]: mbufs between threads over `ferroplane_ring`.
//!
//! Decisions worth knowing:
//!
//! - **Clones share**: `Mbuf::clone` increments a reference count; while the count is above 1
//!   the data and metadata are read-only (`data_mut`/`info_mut` return `None`, the other
//!   mutators [`MbufError::Shared`]). No copy-on-write: copying is the caller's explicit choice.
//! - **Chains**: a segment is owned by the previous one; `pkt_len`/`nb_segs` live on the first
//!   segment. [`Mbuf::chain`] needs every segment of the head unshared (so no cycle can form);
//!   the appended tail may be shared (one payload behind several headers).
//! - **Lcores**: a cache is touched only by the thread holding its lcore id; dropping the
//!   [`LcoreGuard`] flushes that lcore's cache in every pool, so no object is stranded.
//! - **Lifetime**: mbufs do not keep their pool alive by reference count (that would be a
//!   shared atomic per packet); dropping the last [`Mempool`] handle with mbufs or raw chunks
//!   still out leaks the pool (with a warning) instead of freeing memory under them.
//! - **Accounting**: `in_use()` counts mbufs and raw chunks (`alloc_chunks`, `into_chunk`) alike;
//!   every path in and out of the pool keeps it exact.
//!
//! ```
//! use ferroplane_mempool::{lcore, HugePolicy, MbufBurst, Mempool, MempoolConfig};
//!
//! let pool = Mempool::new(&MempoolConfig { count: 1024, cache_size: 64, hugepages: HugePolicy::Auto,
//!                                          ..MempoolConfig::default() })?;
//! let _lcore = lcore::register(0)?; // this thread now uses lcore 0's cache
//! let mut burst = MbufBurst::new();
//! assert_eq!(pool.alloc_bulk(&mut burst, 32), 32);
//! for m in burst.iter_mut() {
//!     m.append(60)?.fill(0xab);
//! }
//! assert_eq!(pool.in_use(), 32);
//! burst.clear(); // frees all 32 in bulk
//! assert_eq!(pool.in_use(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod burst;
mod cache;
mod error;
pub mod lcore;
mod mbuf;
mod mbuf_ring;
mod meta;
mod pool;
mod region;

pub use crate::burst::{Drain, MAX_BURST, MbufBurst};
pub use crate::error::{LcoreError, MbufError, MempoolError, RegionError};
pub use crate::lcore::{LcoreGuard, MAX_LCORES};
pub use crate::mbuf::{ChainError, Mbuf, RawMbuf, Segments, free_bulk};
pub use crate::mbuf_ring::{MbufConsumer, MbufProducer, MbufRing};
pub use crate::meta::{META_SIZE, OffloadFlags, PacketInfo, ptype};
pub use crate::pool::{
    CACHE_MAX, DEFAULT_DATA_ROOM, DEFAULT_HEADROOM, MAX_BUF_LEN, MAX_COUNT, Mempool, MempoolConfig,
};
pub use crate::region::{HUGEPAGE_SIZE, HugePolicy, HugeRegion, RegionConfig};
pub use ferroplane_ring::{RingError, SyncMode};

#[cfg(test)]
mod tests;
