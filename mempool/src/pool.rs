//! [`Mempool`]: fixed-size packet buffers with per-lcore caches, rte_mempool style.
//!
//! Free objects are chunk indices. They live in a shared multi-producer/multi-consumer
//! [`Ring<u32>`] fronted by one cache per lcore (see the `cache` module), so that in the steady
//! state a worker allocates and frees from its own cache without touching shared memory. Each
//! chunk has 128 bytes of metadata in a separate array (see `meta`); a freed mbuf's metadata is
//! reset at free time, so allocation only has to pop an index.
//!
//! No counter is kept per operation: `available` is what the ring holds plus what the caches
//! hold (their lengths, which the fast path writes anyway), `in_use = capacity - available`, as
//! rte_mempool counts. Failure counters are per lcore (written by their owner only) and summed on
//! read; only threads without an lcore id share one, touched only on failure.
//!
//! Lifetime: [`Mempool`] is a cheap handle; mbufs do not hold one (that would be a shared
//! atomic per allocation). When the last handle drops with mbufs (or raw chunks) still out, the
//! pool's memory is deliberately leaked with a warning, so those mbufs stay valid; otherwise it is
//! unmapped.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ferroplane_ring::Ring;

use crate::cache::LcoreCache;
use crate::error::{MempoolError, RegionError};
use crate::lcore::{self, MAX_LCORES};
use crate::mbuf::{self, Mbuf, RawMbuf};
use crate::meta::{META_SIZE, MbufMeta};
use crate::region::{HugePolicy, HugeRegion, RegionConfig};
use crate::{MAX_BURST, MbufBurst};

/// Largest per-lcore cache size (DPDK's `RTE_MEMPOOL_CACHE_MAX_SIZE`).
pub const CACHE_MAX: usize = 512;
/// Default headroom before the packet data (DPDK's `RTE_PKTMBUF_HEADROOM`).
pub const DEFAULT_HEADROOM: usize = 128;
/// Default data room after the headroom.
pub const DEFAULT_DATA_ROOM: usize = 2048;
/// Largest object count.
pub const MAX_COUNT: usize = 1 << 30;
/// Largest usable buffer (headroom + data room): mbuf offsets and lengths are 16-bit.
pub const MAX_BUF_LEN: usize = u16::MAX as usize;

/// How to build a [`Mempool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Name, used in errors and logs.
    pub name: String,
    /// Number of mbufs.
    pub count: usize,
    /// Objects per lcore cache, `0..=CACHE_MAX` and at most `count` (0: no caches).
    pub cache_size: usize,
    /// Bytes reserved before the data of a fresh mbuf.
    pub headroom: usize,
    /// Bytes of data room after the headroom.
    pub data_room: usize,
    /// Chunk size, a power of two (for an aligned AF_XDP UMEM); `None`: headroom + data room
    /// rounded up to 64 bytes.
    pub chunk_size: Option<usize>,
    /// Hugepages or not.
    pub hugepages: HugePolicy,
    /// `mlock` the memory.
    pub lock_memory: bool,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            name: "mbuf_pool".into(),
            count: 8192,
            cache_size: 256,
            headroom: DEFAULT_HEADROOM,
            data_room: DEFAULT_DATA_ROOM,
            chunk_size: None,
            hugepages: HugePolicy::Auto,
            lock_memory: false,
        }
    }
}

impl MempoolConfig {
    /// `count` mbufs named `name`, defaults otherwise.
    pub fn new(name: &str, count: usize) -> Self {
        MempoolConfig {
            name: name.into(),
            count,
            ..Default::default()
        }
    }
}

/// The shared state of a pool. Never moves; freed only when no handle and no mbuf remains.
pub(crate) struct PoolInner {
    pub(crate) name: String,
    pub(crate) count: usize,
    cache_size: usize,
    flush_threshold: usize,
    pub(crate) headroom: u16,
    pub(crate) buf_len: u16,
    pub(crate) data: HugeRegion,
    /// The metadata array's memory (owned here, used through `meta_base`).
    _meta: HugeRegion,
    /// `_meta.base()` as the metadata array.
    meta_base: NonNull<MbufMeta>,
    ring: Ring<u32>,
    caches: Box<[LcoreCache; MAX_LCORES]>,
    /// Failed requests of threads without an lcore id.
    shared_failures: AtomicU64,
}

impl PoolInner {
    /// The cache of the calling thread's lcore, if it has one.
    #[inline]
    fn my_cache(&self) -> Option<&LcoreCache> {
        self.caches.get(lcore::current_raw() as usize)
    }

    /// Takes exactly `out.len()` objects or none; does not count.
    #[inline]
    fn take_bulk(&self, cache: Option<&LcoreCache>, out: &mut [u32]) -> bool {
        match cache {
            Some(c) if out.len() < self.cache_size => {
                // SAFETY: `c` is the cache of the lcore id this thread holds (`my_cache`), and
                // `out.len() < cache_size`.
                if unsafe { c.get(&self.ring, self.cache_size, out) } {
                    return true;
                }
            }
            _ => {
                if self.ring.dequeue_bulk(out) == out.len() {
                    return true;
                }
            }
        }
        let n = self.take_burst_slow(cache, out);
        if n == out.len() {
            return true;
        }
        self.give(cache, &out[..n]);
        false
    }

    /// Takes what the ring and then this lcore's cache have, up to `out.len()`; does not count.
    fn take_burst_slow(&self, cache: Option<&LcoreCache>, out: &mut [u32]) -> usize {
        let mut n = self.ring.dequeue_burst(out);
        if let Some(c) = cache {
            // SAFETY: the calling thread holds `c`'s lcore id.
            n += unsafe { c.take(&mut out[n..]) };
        }
        n
    }

    /// Returns objects; does not count.
    #[inline]
    fn give(&self, cache: Option<&LcoreCache>, objs: &[u32]) {
        match cache {
            Some(c) if self.cache_size > 0 => {
                // SAFETY: the calling thread holds `c`'s lcore id; the threshold was set with
                // cache_size < flush_threshold <= 2 * cache_size.
                unsafe { c.put(&self.ring, self.cache_size, self.flush_threshold, objs) }
            }
            _ => {
                let n = self.ring.enqueue_burst(objs);
                debug_assert_eq!(n, objs.len(), "mempool ring overflow (double free?)");
            }
        }
    }

    /// Counts one failed request, on the caller's lcore if it has one.
    #[cold]
    #[inline(never)]
    fn count_failure(&self) {
        match self.my_cache() {
            Some(c) => c.count_failure(),
            None => _ = self.shared_failures.fetch_add(1, Ordering::AcqRel),
        }
    }

    /// Takes `out.len()` objects or none (a failure is counted).
    ///
    /// With a cache, the fast path is the cache alone (one thread-local read, the stack's
    /// length, the copy); without one, the shared ring inline, as `rte_mempool_generic_get`.
    #[inline(always)]
    pub(crate) fn get(&self, out: &mut [u32]) -> bool {
        if self.cache_size != 0 {
            if let Some(c) = self.my_cache() {
                // SAFETY: `c` is the cache of the lcore id this thread holds.
                if unsafe { c.get_fast(out) } {
                    return true;
                }
            }
            return self.get_slow(out);
        }
        if let [one] = out {
            return self.get_ring_one(one);
        }
        self.get_ring(out)
    }

    /// `get_ring` of one object: with the length known, the ring path needs so few registers
    /// that the call spills nothing before the ring's compare-and-swap (which would have to
    /// wait for those stores).
    #[inline(never)]
    fn get_ring_one(&self, out: &mut u32) -> bool {
        match self.ring.dequeue_one() {
            Some(v) => {
                *out = v;
                true
            }
            None => {
                self.count_failure();
                false
            }
        }
    }

    /// `get` without a cache: the shared ring alone, in one call (kept out of line so that the
    /// ring's code does not weigh on the cached path's callers, such as `Mbuf::drop`).
    #[inline(never)]
    fn get_ring(&self, out: &mut [u32]) -> bool {
        if self.ring.dequeue_bulk(out) == out.len() {
            return true;
        }
        self.count_failure();
        false
    }

    /// `get` when the cache cannot serve the request alone (or the thread has no lcore id).
    #[inline(never)]
    fn get_slow(&self, out: &mut [u32]) -> bool {
        let ok = self.take_bulk(self.my_cache(), out);
        if !ok {
            self.count_failure();
        }
        ok
    }

    /// Takes up to `out.len()` objects (as many as can be had); a short count is a counted
    /// failure.
    #[inline(always)]
    fn get_burst(&self, out: &mut [u32]) -> usize {
        if self.cache_size != 0 {
            if let Some(c) = self.my_cache() {
                // SAFETY: `c` is the cache of the lcore id this thread holds.
                if unsafe { c.get_fast(out) } {
                    return out.len();
                }
            }
            return self.get_burst_slow(out);
        }
        if let [one] = out {
            return self.get_ring_one(one) as usize;
        }
        self.get_burst_ring(out)
    }

    /// `get_burst` without a cache (out of line, as `get_ring`).
    #[inline(never)]
    fn get_burst_ring(&self, out: &mut [u32]) -> usize {
        let n = self.ring.dequeue_burst(out);
        if n < out.len() {
            self.count_failure();
        }
        n
    }

    /// `get_burst` when the cache cannot serve the request alone.
    #[inline(never)]
    fn get_burst_slow(&self, out: &mut [u32]) -> usize {
        let cache = self.my_cache();
        let n = if self.take_bulk(cache, out) {
            out.len()
        } else {
            self.take_burst_slow(cache, out)
        };
        if n < out.len() {
            self.count_failure();
        }
        n
    }

    /// Returns objects to the pool. Its last write to the pool is what makes the objects count
    /// as available (a cache's length, or the ring's producer tail), so once `in_use()` reads 0
    /// no free is still touching the pool.
    #[inline(always)]
    pub(crate) fn put(&self, objs: &[u32]) {
        if self.cache_size != 0 {
            if let Some(c) = self.my_cache() {
                // SAFETY: `c` is the cache of the lcore id this thread holds; flush_threshold <=
                // 2 * cache_size.
                if unsafe { c.put_fast(self.flush_threshold, objs) } {
                    return;
                }
            }
            return self.put_slow(objs);
        }
        if let [one] = objs {
            return self.put_ring_one(*one);
        }
        self.put_ring(objs);
    }

    /// `put_ring` of one object (see `get_ring_one`).
    #[inline(never)]
    fn put_ring_one(&self, obj: u32) {
        let queued = self.ring.enqueue_one(obj);
        debug_assert!(queued.is_ok(), "mempool ring overflow (double free?)");
    }

    /// `put` without a cache (out of line, as `get_ring`).
    #[inline(never)]
    fn put_ring(&self, objs: &[u32]) {
        let n = self.ring.enqueue_burst(objs);
        debug_assert_eq!(n, objs.len(), "mempool ring overflow (double free?)");
    }

    /// `put` when the cache must flush (or the thread has no lcore id).
    #[inline(never)]
    fn put_slow(&self, objs: &[u32]) {
        self.give(self.my_cache(), objs);
    }

    /// The error for the first out-of-range index in `indices`.
    #[cold]
    fn bad_index(&self, indices: &[u32]) -> MempoolError {
        let index = indices
            .iter()
            .copied()
            .find(|&i| i as usize >= self.count)
            .unwrap_or(u32::MAX);
        MempoolError::BadChunkIndex {
            name: self.name.clone(),
            index,
            count: self.count,
        }
    }

    /// Metadata of chunk `index` (`index < count`).
    #[inline]
    pub(crate) fn meta_ptr(&self, index: u32) -> NonNull<MbufMeta> {
        debug_assert!((index as usize) < self.count);
        // SAFETY: the metadata region holds `count` MbufMeta (META_SIZE bytes each, 64-aligned)
        // from `meta_base`, and only indices below `count` ever enter the pool (creation,
        // mbufs' own indices, and range-checked `free_chunks`/`mbuf_from_chunk`).
        unsafe { self.meta_base.add(index as usize) }
    }

    /// `count` minus the objects in the ring and in the caches (a snapshot).
    ///
    /// The ring is read first, then the caches. Frees only ever move objects into a cache, from
    /// a cache to the ring (leaving the cache first) or into the ring, so while only frees run
    /// no object is counted twice and this never undercounts: when it reads 0 with no handle
    /// left (so no allocation can run), every free has made its last write. Allocations that
    /// refill a cache during the read can make it transiently low (clamped at 0); with the pool
    /// quiet it is exact.
    fn in_use(&self) -> usize {
        let in_ring = self.ring.len();
        let in_caches: usize = self.caches.iter().map(LcoreCache::len).sum();
        self.count.saturating_sub(in_ring + in_caches)
    }

    fn failures(&self) -> u64 {
        self.caches.iter().map(LcoreCache::failures).sum::<u64>()
            + self.shared_failures.load(Ordering::Acquire)
    }
}

struct PoolPtr(NonNull<PoolInner>);
// SAFETY: PoolInner is Sync; the registry only uses the pointer under its lock.
unsafe impl Send for PoolPtr {}

/// Every live (or leaked) pool, so that an lcore guard can flush its caches.
static POOLS: Mutex<Vec<PoolPtr>> = Mutex::new(Vec::new());

fn pools() -> MutexGuard<'static, Vec<PoolPtr>> {
    POOLS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Flushes lcore `id`'s cache in every pool to the pool's ring. Called by the lcore guard of
/// the thread holding `id`, before it releases the id.
pub(crate) fn flush_lcore_caches(id: u32) {
    let pools = pools();
    for p in pools.iter() {
        // SAFETY: pools are removed from the registry (under this lock) before being freed.
        let pool = unsafe { p.0.as_ref() };
        if let Some(c) = pool.caches.get(id as usize) {
            // SAFETY: the calling thread holds lcore `id` (it is dropping that id's guard).
            unsafe { c.flush(&pool.ring) };
        }
    }
}

struct Handle(NonNull<PoolInner>);

// SAFETY: PoolInner is shared through `&` only; its mutable state is atomics, the ring, and
// caches each confined to their lcore's thread.
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut pools = pools();
        // SAFETY: the pool is alive: only this (last) handle frees it.
        let pool = unsafe { self.0.as_ref() };
        let in_use = pool.in_use();
        if in_use > 0 {
            log::warn!(
                "mempool '{}' dropped with {in_use} mbufs still in use: leaking its memory so they stay valid",
                pool.name
            );
            return;
        }
        pools.retain(|p| p.0 != self.0);
        drop(pools);
        // SAFETY: allocated by Box in `Mempool::new`; no handle remains, no mbuf or raw chunk
        // is out (in_use is 0 and only frees, never allocations, can happen without a handle),
        // and the pool left the registry, so nothing can reach it any more.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// A pool of packet buffers ([`Mbuf`]s) in one [`HugeRegion`], with per-lcore caches.
/// A cheap `Clone` handle, `Send + Sync`.
///
/// ```
/// use ferroplane_mempool::{HugePolicy, Mempool, MempoolConfig};
///
/// let pool = Mempool::new(&MempoolConfig { cache_size: 32, hugepages: HugePolicy::Never, ..MempoolConfig::new("doc", 64) })?;
/// let mut m = pool.alloc().expect("pool has free mbufs");
/// m.append(4)?.copy_from_slice(b"ping");
/// assert_eq!(m.data(), b"ping");
/// assert_eq!(pool.in_use(), 1);
/// drop(m);
/// assert_eq!(pool.in_use(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Mempool {
    /// The same pointer as `handle.0`, kept here to save a dependent load per call; `_handle` keeps the pool alive.
    inner: NonNull<PoolInner>,
    _handle: Arc<Handle>,
}

// SAFETY: as for `Handle`: `inner` is only used as `&PoolInner`, which is Sync.
unsafe impl Send for Mempool {}
// SAFETY: as above.
unsafe impl Sync for Mempool {}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .field("in_use", &self.in_use())
            .finish_non_exhaustive()
    }
}

impl Mempool {
    /// Creates a pool, validating `cfg` and mapping its memory.
    pub fn new(cfg: &MempoolConfig) -> Result<Mempool, MempoolError> {
        let name = &cfg.name;
        if cfg.count == 0 {
            return Err(MempoolError::ZeroCount(name.clone()));
        }
        if cfg.count > MAX_COUNT {
            return Err(MempoolError::CountTooLarge {
                name: name.clone(),
                count: cfg.count,
                max: MAX_COUNT,
            });
        }
        let cache_max = CACHE_MAX.min(cfg.count);
        if cfg.cache_size > cache_max {
            return Err(MempoolError::CacheTooLarge {
                name: name.clone(),
                cache_size: cfg.cache_size,
                max: cache_max,
            });
        }
        if cfg.data_room == 0 {
            return Err(MempoolError::ZeroDataRoom(name.clone()));
        }
        let needed = cfg.headroom.saturating_add(cfg.data_room);
        let limit = cfg.chunk_size.unwrap_or(usize::MAX).min(MAX_BUF_LEN);
        if needed > limit {
            return Err(MempoolError::BufferDoesNotFit {
                name: name.clone(),
                headroom: cfg.headroom,
                data_room: cfg.data_room,
                needed,
                limit,
            });
        }
        let region_err = |source| MempoolError::Region {
            name: name.clone(),
            source,
        };
        let data = HugeRegion::new(&RegionConfig {
            chunk_size: cfg.chunk_size.unwrap_or(needed.next_multiple_of(64)),
            chunk_count: cfg.count,
            policy: cfg.hugepages,
            power_of_two: cfg.chunk_size.is_some(),
            lock: cfg.lock_memory,
        })
        .map_err(region_err)?;
        let meta = HugeRegion::new(&RegionConfig {
            chunk_size: META_SIZE,
            chunk_count: cfg.count,
            policy: cfg.hugepages,
            power_of_two: true,
            lock: cfg.lock_memory,
        })
        .map_err(region_err)?;
        let ring_capacity = cfg.count.next_power_of_two();
        let ring = Ring::new(ring_capacity).map_err(|e| MempoolError::CountTooLarge {
            name: format!("{name} ({e})"),
            count: cfg.count,
            max: MAX_COUNT,
        })?;
        let cache_size = cfg.cache_size;
        let mut caches = Vec::with_capacity(MAX_LCORES);
        caches.resize_with(MAX_LCORES, LcoreCache::new);
        let caches: Box<[LcoreCache; MAX_LCORES]> = match caches.into_boxed_slice().try_into() {
            Ok(c) => c,
            Err(_) => unreachable!("exactly MAX_LCORES caches"),
        };
        let meta_base =
            NonNull::new(meta.base().cast::<MbufMeta>()).ok_or_else(|| MempoolError::Region {
                name: name.clone(),
                source: RegionError::NoChunks,
            })?;
        let inner = Box::new(PoolInner {
            name: name.clone(),
            count: cfg.count,
            cache_size,
            flush_threshold: (cache_size * 3 / 2).max(cache_size + 1),
            headroom: cfg.headroom as u16,
            buf_len: needed as u16,
            data,
            _meta: meta,
            meta_base,
            ring,
            caches,
            shared_failures: AtomicU64::new(0),
        });
        let inner = NonNull::from(Box::leak(inner));
        // SAFETY: just allocated; nothing else refers to it yet.
        let pool = unsafe { inner.as_ref() };
        let mut batch = [0u32; 256];
        let mut next = 0usize;
        while next < pool.count {
            let n = (pool.count - next).min(batch.len());
            for (k, slot) in batch[..n].iter_mut().enumerate() {
                let index = (next + k) as u32;
                mbuf::init_meta(pool, index);
                *slot = index;
            }
            let queued = pool.ring.enqueue_bulk(&batch[..n]);
            debug_assert_eq!(queued, n);
            next += n;
        }
        pools().push(PoolPtr(inner));
        log::debug!(
            "mempool '{}': {} x {} bytes ({}), cache {}",
            pool.name,
            pool.count,
            pool.data.chunk_size(),
            if pool.data.is_hugepage_backed() {
                "2 MiB pages"
            } else {
                "4 KiB pages"
            },
            cache_size
        );
        Ok(Mempool {
            inner,
            _handle: Arc::new(Handle(inner)),
        })
    }

    #[inline]
    pub(crate) fn inner(&self) -> &PoolInner {
        // SAFETY: the pool lives at least as long as any handle (`self._handle` keeps it).
        unsafe { self.inner.as_ref() }
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.inner().name
    }

    /// Total number of mbufs.
    pub fn capacity(&self) -> usize {
        self.inner().count
    }

    /// Mbufs (and raw chunks) currently handed out.
    pub fn in_use(&self) -> usize {
        self.inner().in_use()
    }

    /// Mbufs not handed out (in the ring or in some lcore's cache).
    pub fn available(&self) -> usize {
        self.capacity() - self.in_use()
    }

    /// Allocation requests that failed because the pool (as seen from the caller) was empty.
    pub fn alloc_failures(&self) -> u64 {
        self.inner().failures()
    }

    /// Objects per lcore cache.
    pub fn cache_size(&self) -> usize {
        self.inner().cache_size
    }

    /// Headroom of a fresh mbuf.
    pub fn headroom(&self) -> usize {
        self.inner().headroom as usize
    }

    /// Usable bytes per buffer: headroom + data room.
    pub fn buf_len(&self) -> usize {
        self.inner().buf_len as usize
    }

    /// Data room after the headroom.
    pub fn data_room(&self) -> usize {
        self.buf_len() - self.headroom()
    }

    /// The region holding the packet buffers (one chunk per mbuf), e.g. to register as UMEM.
    pub fn region(&self) -> &HugeRegion {
        &self.inner().data
    }

    /// Allocates one mbuf: empty, `headroom()` bytes of headroom, metadata reset. `None` (and
    /// a counted failure) when the pool is exhausted.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        let pool = self.inner();
        let mut index = [0u32];
        // SAFETY: the index was just taken from the pool, so nothing else owns it, and free
        // objects' metadata is reset.
        pool.get(&mut index)
            .then(|| unsafe { Mbuf::from_meta(pool.meta_ptr(index[0])) })
    }

    /// Allocates exactly `n` mbufs onto the end of `burst`, or none: if the pool cannot supply
    /// them all (a counted failure), or if `burst` has room for fewer than `n` (a caller error,
    /// not counted). Returns `n` or 0.
    #[inline]
    pub fn alloc_bulk(&self, burst: &mut MbufBurst, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        if n > burst.free() {
            return 0;
        }
        let pool = self.inner();
        let mut indices = [0u32; MAX_BURST];
        let indices = &mut indices[..n];
        if !pool.get(indices) {
            return 0;
        }
        let spare = burst.spare_raw();
        for (slot, &index) in spare.iter_mut().zip(indices.iter()) {
            *slot = RawMbuf::from_meta(pool.meta_ptr(index));
        }
        // SAFETY: the `n` spare slots (room checked above) now hold tokens of objects just
        // taken out of the pool, owned by nobody else, with reset metadata.
        unsafe { burst.commit(n) };
        n
    }

    /// Like [`alloc_bulk`](Self::alloc_bulk), with each new mbuf's data length set to `len`
    /// (checked against the data room once): for drivers that fill whole frames. Returns `n`, or
    /// 0 if the pool cannot supply them all (counted), `burst` lacks room, or `len` exceeds
    /// [`data_room`](Self::data_room) (not counted).
    #[inline]
    pub fn alloc_bulk_len(&self, burst: &mut MbufBurst, n: usize, len: usize) -> usize {
        let pool = self.inner();
        if len > pool.buf_len as usize - pool.headroom as usize {
            return 0;
        }
        let start = burst.len();
        if self.alloc_bulk(burst, n) != n {
            return 0;
        }
        for m in &mut burst.as_mut_slice()[start..] {
            // SAFETY: fresh from the pool, and `len` fits the data room (checked above).
            unsafe { m.set_fresh_len(len as u16) };
        }
        n
    }

    /// Takes up to `out.len()` raw chunks out of the pool (for an AF_XDP fill ring) and writes
    /// their indices to a prefix of `out`; returns how many. They count as in use until given
    /// back with [`free_chunks`](Self::free_chunks) or turned into mbufs with
    /// [`mbuf_from_chunk`](Self::mbuf_from_chunk). A short count is a counted failure.
    #[inline]
    pub fn alloc_chunks(&self, out: &mut [u32]) -> usize {
        if out.is_empty() {
            return 0;
        }
        self.inner().get_burst(out)
    }

    /// Returns raw chunks to the pool. Fails, returning none of them, if an index is out of
    /// range.
    ///
    /// # Safety
    /// Each index was taken out of this pool by [`alloc_chunks`](Self::alloc_chunks) or
    /// [`Mbuf::into_chunk`] and is given back once, and nothing accesses the chunk afterwards
    /// (the kernel included). Giving back an index twice would hand the same buffer out twice.
    #[inline]
    pub unsafe fn free_chunks(&self, indices: &[u32]) -> Result<(), MempoolError> {
        let pool = self.inner();
        // Branch-free, vectorised range check (count <= MAX_COUNT fits in u32).
        let count = pool.count as u32;
        if indices.iter().fold(false, |bad, &i| bad | (i >= count)) {
            return Err(pool.bad_index(indices));
        }
        pool.put(indices);
        Ok(())
    }

    /// Prefetches what comes next for chunk `index` that the kernel filled with a frame at
    /// `data_off`: its metadata (both cache lines: [`mbuf_from_chunk`](Self::mbuf_from_chunk)
    /// writes the first, packet parsing and the reset on the way back to the pool the second)
    /// and the frame's first two cache lines (its headers, or all of a small frame). Issued for a
    /// whole burst before any of it is used, the loads overlap instead of stalling one frame
    /// at a time. A hint: an index out of range is ignored.
    #[inline]
    pub fn prefetch_chunk(&self, index: u32, data_off: usize) {
        let pool = self.inner();
        if (index as usize) < pool.count {
            let meta: *const u8 = pool.meta_ptr(index).as_ptr().cast();
            crate::mbuf::prefetch_line(meta);
            crate::mbuf::prefetch_line(meta.wrapping_add(META_SIZE / 2));
            let data = pool.data.chunk_ptr(index).wrapping_add(data_off);
            crate::mbuf::prefetch_line(data);
            crate::mbuf::prefetch_line(data.wrapping_add(64));
        }
    }

    /// Turns a raw chunk back into an mbuf whose data is `len` bytes at `data_off` from the
    /// start of the chunk. Stays counted as in use. Fails on an index or range out of bounds.
    ///
    /// # Safety
    /// `index` was taken out of this pool by [`alloc_chunks`](Self::alloc_chunks) or
    /// [`Mbuf::into_chunk`], is not given back otherwise, and nothing else accesses the chunk
    /// any more.
    #[inline]
    pub unsafe fn mbuf_from_chunk(
        &self,
        index: u32,
        data_off: usize,
        len: usize,
    ) -> Result<Mbuf, MempoolError> {
        let pool = self.inner();
        if index as usize >= pool.count {
            return Err(MempoolError::BadChunkIndex {
                name: pool.name.clone(),
                index,
                count: pool.count,
            });
        }
        let buf_len = pool.buf_len as usize;
        if data_off > buf_len || len > buf_len - data_off {
            return Err(MempoolError::BadDataRange {
                name: pool.name.clone(),
                data_off,
                len,
                buf_len,
            });
        }
        // SAFETY: the caller gives us ownership of the chunk; its metadata was reset when it
        // left the pool or by `into_chunk`.
        let mut m = unsafe { Mbuf::from_meta(pool.meta_ptr(index)) };
        m.set_data_range(data_off as u16, len as u16);
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(count: usize, cache: usize) -> MempoolConfig {
        MempoolConfig {
            cache_size: cache,
            hugepages: HugePolicy::Never,
            ..MempoolConfig::new("t", count)
        }
    }

    #[test]
    fn config_validation_names_the_bad_value() {
        let e = Mempool::new(&cfg(0, 0)).unwrap_err();
        assert!(matches!(e, MempoolError::ZeroCount(_)), "{e}");
        let e = Mempool::new(&cfg(100, 101)).unwrap_err();
        assert!(e.to_string().contains("101"), "{e}");
        let e = Mempool::new(&cfg(10_000, 513)).unwrap_err();
        assert!(
            matches!(
                e,
                MempoolError::CacheTooLarge {
                    cache_size: 513,
                    max: 512,
                    ..
                }
            ),
            "{e}"
        );
        let e = Mempool::new(&MempoolConfig {
            chunk_size: Some(2048),
            ..cfg(8, 0)
        })
        .unwrap_err();
        assert!(
            matches!(
                e,
                MempoolError::BufferDoesNotFit {
                    needed: 2176,
                    limit: 2048,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("2176"));
        let e = Mempool::new(&MempoolConfig {
            chunk_size: Some(3072),
            headroom: 0,
            ..cfg(8, 0)
        })
        .unwrap_err();
        assert!(matches!(e, MempoolError::Region { .. }), "{e}");
        assert!(e.to_string().contains("3072"), "{e}");
        let e = Mempool::new(&MempoolConfig {
            data_room: 0,
            ..cfg(8, 0)
        })
        .unwrap_err();
        assert!(matches!(e, MempoolError::ZeroDataRoom(_)));
        let e = Mempool::new(&MempoolConfig {
            data_room: 70_000,
            ..cfg(8, 0)
        })
        .unwrap_err();
        assert!(matches!(e, MempoolError::BufferDoesNotFit { .. }));
        let e = Mempool::new(&cfg(MAX_COUNT + 1, 0)).unwrap_err();
        assert!(matches!(e, MempoolError::CountTooLarge { .. }));
    }

    #[test]
    fn geometry() {
        let p = Mempool::new(&MempoolConfig {
            chunk_size: Some(4096),
            ..cfg(16, 4)
        })
        .unwrap();
        assert_eq!(p.capacity(), 16);
        assert_eq!(p.available(), 16);
        assert_eq!(p.headroom(), 128);
        assert_eq!(p.data_room(), 2048);
        assert_eq!(p.buf_len(), 2176);
        assert_eq!(p.region().chunk_size(), 4096);
        assert_eq!(p.region().chunk_count(), 16);
        let p = Mempool::new(&cfg(3, 1)).unwrap();
        assert_eq!(p.region().chunk_size(), 2176);
        assert_eq!(p.name(), "t");
        assert!(format!("{p:?}").contains("capacity: 3"));
    }
}
