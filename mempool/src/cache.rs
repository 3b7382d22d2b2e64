//! Per-lcore object caches in front of a pool's shared ring, as rte_mempool has them.
//!
//! A cache is a LIFO stack of chunk indices. `get` takes from its top, refilling it in one
//! burst from the ring when it runs short; `put` pushes onto it and, once it holds
//! `flush_threshold` (1.5x the cache size) objects, returns everything above the cache size to
//! the ring in one burst. Each cache is used only by the thread holding its lcore id (enforced by
//! [`lcore`](crate::lcore)), so the stack needs no synchronisation. Only its length is atomic,
//! written by that thread only (a plain store, no locked instruction) and read by anyone: the
//! pool counts what is in use as `count - in ring - in caches`, so the fast path keeps no
//! per-operation counter beyond the length it has to write anyway (as rte_mempool).
//!
//! Objects moving between a cache and the ring leave their source before they reach their
//! destination as seen by another thread (a flush lowers `len` before it enqueues; a refill
//! raises it after it dequeues), so a concurrent count of in-use objects during frees never counts
//! one twice (see `PoolInner::in_use`).

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use ferroplane_ring::Ring;

use crate::pool::CACHE_MAX;

/// Inline (no pointer to chase): room for a refill of `size + n`, `n < size <= CACHE_MAX`.
type Objs = [u32; 2 * CACHE_MAX];

/// The stack on cache-line boundaries of its own: bursts of 16 or 32 indices (multiples of 64
/// bytes) then move whole lines, one or two, rather than straddling two or three.
#[repr(C, align(64))]
struct Lines(Objs);

/// Copies a burst of indices with inline moves rather than a call to `memcpy` (which is what a
/// plain copy loop or `copy_from_slice` of unknown length compiles to, and which costs as much as
/// the rest of a cache operation): fixed-size blocks of 32, 16, 8, 4, 2 and 1.
#[inline(always)]
fn copy_small(dst: &mut [u32], src: &[u32]) {
    let n = src.len();
    let dst = &mut dst[..n];
    if n == 1 {
        dst[0] = src[0];
        return;
    }
    let mut i = 0;
    while n - i >= 32 {
        copy_block::<32>(&mut dst[i..], &src[i..]);
        i += 32;
    }
    if n - i >= 16 {
        copy_block::<16>(&mut dst[i..], &src[i..]);
        i += 16;
    }
    if n - i >= 8 {
        copy_block::<8>(&mut dst[i..], &src[i..]);
        i += 8;
    }
    if n - i >= 4 {
        copy_block::<4>(&mut dst[i..], &src[i..]);
        i += 4;
    }
    if n - i >= 2 {
        copy_block::<2>(&mut dst[i..], &src[i..]);
        i += 2;
    }
    if n - i == 1 {
        dst[i] = src[i];
    }
}

#[inline(always)]
fn copy_block<const K: usize>(dst: &mut [u32], src: &[u32]) {
    let block: [u32; K] = src[..K].try_into().unwrap_or([0; K]);
    dst[..K].copy_from_slice(&block);
}

/// One lcore's cache, on its own cache lines: the header (length, failure counter) on the first.
#[repr(C, align(64))]
pub(crate) struct LcoreCache {
    /// Objects in the stack. Written by the owner only (Release, after the stack is updated);
    /// read by anyone counting the pool.
    len: AtomicUsize,
    failures: AtomicU64,
    objs: UnsafeCell<Lines>,
}

// SAFETY: the stack is only accessed by the thread holding the lcore id (the `unsafe fn`s below
// require it), the length and counter are atomics.
unsafe impl Sync for LcoreCache {}

impl LcoreCache {
    /// An empty cache, able to hold `2 * CACHE_MAX` indices.
    pub(crate) fn new() -> Self {
        LcoreCache {
            len: AtomicUsize::new(0),
            failures: AtomicU64::new(0),
            objs: UnsafeCell::new(Lines([0; 2 * CACHE_MAX])),
        }
    }

    /// The owner's view of the stack.
    ///
    /// # Safety
    /// The calling thread holds this cache's lcore id, and no other reference from this call
    /// chain to the stack is live.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn objs(&self) -> &mut Objs {
        // SAFETY: only the lcore holder touches the stack (the caller's contract).
        unsafe { &mut (*self.objs.get()).0 }
    }

    /// Objects in this cache now (a snapshot, from any thread).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Takes `out.len()` objects from the cache if it holds that many (no refill).
    ///
    /// # Safety
    /// The calling thread holds this cache's lcore id.
    #[inline(always)]
    pub(crate) unsafe fn get_fast(&self, out: &mut [u32]) -> bool {
        // Only the owner stores `len`, so a relaxed load sees its own last store.
        let len = self.len.load(Ordering::Relaxed);
        let Some(rest) = len.checked_sub(out.len()) else {
            return false;
        };
        // SAFETY: the caller holds the lcore id; `len <= 2 * CACHE_MAX` (owner-maintained).
        let objs = unsafe { self.objs() };
        copy_small(out, &objs[rest..len]);
        self.len.store(rest, Ordering::Release);
        true
    }

    /// Returns `objs` to the cache if that keeps it below `flush_threshold` (no flush).
    ///
    /// # Safety
    /// The calling thread holds this cache's lcore id, and `flush_threshold <= 2 * size`.
    #[inline(always)]
    pub(crate) unsafe fn put_fast(&self, flush_threshold: usize, objs: &[u32]) -> bool {
        let len = self.len.load(Ordering::Relaxed);
        let new_len = len + objs.len();
        if new_len >= flush_threshold {
            return false;
        }
        // SAFETY: as in `get_fast`.
        let stack = unsafe { self.objs() };
        copy_small(&mut stack[len..new_len], objs);
        self.len.store(new_len, Ordering::Release);
        true
    }

    /// Takes `out.len()` objects, all or none. `size` is the configured cache size (> 0).
    ///
    /// # Safety
    /// The calling thread holds this cache's lcore id, and `out.len() < size`.
    #[inline]
    pub(crate) unsafe fn get(&self, ring: &Ring<u32>, size: usize, out: &mut [u32]) -> bool {
        // SAFETY: only the lcore holder touches the stack and no other reference to it is live.
        let stack = unsafe { self.objs() };
        let n = out.len();
        debug_assert!(n < size);
        let mut len = self.len.load(Ordering::Relaxed);
        if len < n {
            // Refill: enough for this request plus a full cache, in one burst. The new objects
            // are published (by the store of `len`) only after they left the ring.
            let want = size + n - len;
            len += ring.dequeue_burst(&mut stack[len..len + want]);
            if len < n {
                self.len.store(len, Ordering::Release);
                return false;
            }
        }
        for (o, &v) in out.iter_mut().zip(stack[len - n..len].iter().rev()) {
            *o = v;
        }
        self.len.store(len - n, Ordering::Release);
        true
    }

    /// Takes up to `out.len()` objects from this cache only (no refill). Returns how many.
    ///
    /// # Safety
    /// The calling thread holds this cache's lcore id.
    pub(crate) unsafe fn take(&self, out: &mut [u32]) -> usize {
        // SAFETY: as in `get`.
        let stack = unsafe { self.objs() };
        let top = self.len.load(Ordering::Relaxed);
        let n = out.len().min(top);
        copy_small(&mut out[..n], &stack[top - n..top]);
        self.len.store(top - n, Ordering::Release);
        n
    }

    /// Returns `objs` to the cache, flushing the excess above `size` to the ring at the
    /// threshold.
    ///
    /// # Safety
    /// The calling thread holds this cache's lcore id; `size > 0`, `size < flush_threshold <= 2 * size`.
    #[inline]
    pub(crate) unsafe fn put(
        &self,
        ring: &Ring<u32>,
        size: usize,
        flush_threshold: usize,
        mut objs: &[u32],
    ) {
        // SAFETY: as in `get`.
        let stack = unsafe { self.objs() };
        let mut len = self.len.load(Ordering::Relaxed);
        let mut published = len;
        while !objs.is_empty() {
            let k = objs.len().min(stack.len() - len);
            copy_small(&mut stack[len..len + k], &objs[..k]);
            len += k;
            objs = &objs[k..];
            if len >= flush_threshold {
                // Out of the cache first, then into the ring: a concurrent count never sees
                // these objects twice. The enqueue is then the last write of a free that ends
                // here.
                self.len.store(size, Ordering::Release);
                published = size;
                let n = ring.enqueue_burst(&stack[size..len]);
                // The ring holds every object of the pool, so it always has room.
                debug_assert_eq!(n, len - size, "mempool ring overflow (double free?)");
                len = size;
            }
        }
        if len != published {
            self.len.store(len, Ordering::Release);
        }
    }

    /// Returns every cached object to the ring.
    ///
    /// # Safety
    /// The calling thread holds this cache's lcore id (or the pool is being torn down with no
    /// other user).
    pub(crate) unsafe fn flush(&self, ring: &Ring<u32>) {
        // SAFETY: as in `get`.
        let stack = unsafe { self.objs() };
        let len = self.len.load(Ordering::Relaxed);
        // Out of the cache first, then into the ring (see `put`).
        self.len.store(0, Ordering::Release);
        let n = ring.enqueue_burst(&stack[..len]);
        debug_assert_eq!(n, len, "mempool ring overflow (double free?)");
    }

    /// Counts one failed request (owner only: a plain load and store, no bus lock).
    #[inline]
    pub(crate) fn count_failure(&self) {
        let n = self.failures.load(Ordering::Relaxed);
        self.failures.store(n.wrapping_add(1), Ordering::Release);
    }

    /// Failed requests so far.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }
}
