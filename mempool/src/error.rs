//! Error types of the crate: one `thiserror` enum per concern, messages naming the bad value.

use std::io;

/// Why a [`HugeRegion`](crate::HugeRegion) could not be created.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    /// The chunk size is zero or not a multiple of 64 bytes.
    #[error("chunk size {0} is not a non-zero multiple of 64 bytes")]
    BadChunkSize(usize),
    /// A power-of-two chunk size was required (aligned AF_XDP UMEM) and this is not one.
    #[error("chunk size {0} is not a power of two (required for an aligned UMEM)")]
    ChunkSizeNotPowerOfTwo(usize),
    /// Zero chunks were requested.
    #[error("chunk count is 0")]
    NoChunks,
    /// `chunk_size * chunk_count` does not fit in the address space.
    #[error("region of {chunk_count} chunks of {chunk_size} bytes is too large")]
    TooLarge {
        /// Requested chunk size.
        chunk_size: usize,
        /// Requested chunk count.
        chunk_count: usize,
    },
    /// Hugepages were required ([`HugePolicy::Require`](crate::HugePolicy::Require)) and could
    /// not be mapped.
    #[error(
        "cannot map {len} bytes of 2 MiB hugepages ({source}); reserve more with \
         `echo N > /proc/sys/vm/nr_hugepages` or use HugePolicy::Auto"
    )]
    HugepagesUnavailable {
        /// Bytes requested (rounded up to 2 MiB).
        len: usize,
        /// The mmap error.
        source: io::Error,
    },
    /// Neither hugepages nor normal pages could be mapped.
    #[error("cannot map {len} bytes: hugepages failed ({huge}), 4 KiB pages failed ({small})")]
    MapFailed {
        /// Bytes requested.
        len: usize,
        /// Why the hugepage mapping failed (or that it was not tried).
        huge: String,
        /// Why the normal-page mapping failed.
        small: io::Error,
    },
    /// `mlock` of the region failed (RLIMIT_MEMLOCK too low, or not permitted).
    #[error("cannot lock {len} bytes in memory: {source}")]
    LockFailed {
        /// Bytes to lock.
        len: usize,
        /// The mlock error.
        source: io::Error,
    },
}

/// Why a [`Mempool`](crate::Mempool) could not be created or an operation on it was refused.
#[derive(Debug, thiserror::Error)]
pub enum MempoolError {
    /// `count` was 0.
    #[error("mempool '{0}': object count is 0")]
    ZeroCount(String),
    /// `count` is larger than the pool can index.
    #[error("mempool '{name}': object count {count} exceeds the maximum {max}")]
    CountTooLarge {
        /// Pool name.
        name: String,
        /// Requested count.
        count: usize,
        /// Largest allowed count.
        max: usize,
    },
    /// `cache_size` above [`CACHE_MAX`](crate::CACHE_MAX) or above `count`.
    #[error(
        "mempool '{name}': cache size {cache_size} exceeds the limit {max} (count and CACHE_MAX)"
    )]
    CacheTooLarge {
        /// Pool name.
        name: String,
        /// Requested cache size.
        cache_size: usize,
        /// The smaller of the object count and `CACHE_MAX`.
        max: usize,
    },
    /// Headroom plus data room do not fit in the chunk, or exceed the 16-bit mbuf offsets.
    #[error(
        "mempool '{name}': headroom {headroom} + data room {data_room} = {needed} bytes \
         does not fit in a buffer of {limit} bytes"
    )]
    BufferDoesNotFit {
        /// Pool name.
        name: String,
        /// Requested headroom.
        headroom: usize,
        /// Requested data room.
        data_room: usize,
        /// headroom + data_room.
        needed: usize,
        /// The chunk size, or 65535 (the largest mbuf buffer).
        limit: usize,
    },
    /// `data_room` was 0.
    #[error("mempool '{0}': data room is 0")]
    ZeroDataRoom(String),
    /// The memory for the pool could not be had.
    #[error("mempool '{name}': {source}")]
    Region {
        /// Pool name.
        name: String,
        /// What went wrong with the memory.
        source: RegionError,
    },
    /// A chunk index outside `0..capacity` was given back.
    #[error("mempool '{name}': chunk index {index} out of range (pool has {count} chunks)")]
    BadChunkIndex {
        /// Pool name.
        name: String,
        /// The bad index.
        index: u32,
        /// Number of chunks in the pool.
        count: usize,
    },
    /// A data offset/length pair outside the chunk's buffer was given.
    #[error(
        "mempool '{name}': data at offset {data_off} length {len} exceeds buffer of {buf_len} bytes"
    )]
    BadDataRange {
        /// Pool name.
        name: String,
        /// Offset of the data in the chunk.
        data_off: usize,
        /// Length of the data.
        len: usize,
        /// Usable buffer length of a chunk.
        buf_len: usize,
    },
}

/// Why an [`Mbuf`](crate::Mbuf) operation was refused. The mbuf is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MbufError {
    /// The mbuf (or a segment it would change) is shared with clones: it is read-only.
    #[error("mbuf is shared by {refcnt} references and is read-only")]
    Shared {
        /// The reference count seen.
        refcnt: u32,
    },
    /// Not enough headroom to prepend.
    #[error("cannot prepend {requested} bytes: headroom is {available}")]
    NoHeadroom {
        /// Bytes asked for.
        requested: usize,
        /// Headroom left.
        available: usize,
    },
    /// Not enough tailroom to append.
    #[error("cannot append {requested} bytes: tailroom is {available}")]
    NoTailroom {
        /// Bytes asked for.
        requested: usize,
        /// Tailroom left (in the last segment).
        available: usize,
    },
    /// An offset/length outside the data.
    #[error("range at offset {offset} length {len} is outside data of {data_len} bytes")]
    OutOfRange {
        /// Requested offset.
        offset: usize,
        /// Requested length.
        len: usize,
        /// Length of the data it must fit in.
        data_len: usize,
    },
    /// Chaining would overflow the segment count or the 32-bit packet length.
    #[error("chain too long: {nb_segs} segments, {pkt_len} bytes")]
    ChainTooLong {
        /// Segments the chain would have.
        nb_segs: usize,
        /// Bytes the chain would have.
        pkt_len: usize,
    },
}

/// Why an lcore id could not be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LcoreError {
    /// The id is not below [`MAX_LCORES`](crate::lcore::MAX_LCORES).
    #[error("lcore id {0} is out of range (maximum {max})", max = crate::lcore::MAX_LCORES - 1)]
    OutOfRange(u32),
    /// Another thread holds this id.
    #[error("lcore id {0} is already claimed by another thread")]
    Taken(u32),
    /// The calling thread already holds an id.
    #[error("this thread already holds lcore id {0}")]
    ThreadAlreadyRegistered(u32),
}
