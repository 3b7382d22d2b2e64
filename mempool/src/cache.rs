//! Per-lcore object caches in front of a pool's shared ring, as rte_mempool has them.
//!
//! A cache is a LIFO stack of chunk indices. `get` takes from its top, refilling it in one
//! burst from the ring when it runs short; `put` pushes onto it and, once it holds
//! `flush_threshold` (1.5x the cache size) objects, returns everything above the cache size to
//! the ring in one burst. Each cache is used only by the thread holding its lcore id (enforced by
//! [`lcore`](crate::lcore)), so the stack needs no synchronisation; its counters are atomics
//! written by that thread only (load + store, no locked instruction) and read by anyone.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, Ordering};

use ferroplane_ring::Ring;

use crate::pool::CACHE_MAX;

struct Stack {
    len: usize,
    /// Inline (no pointer to chase): room for a refill of `size + n`, `n < size <= CACHE_MAX`.
    objs: [u32; 2 * CACHE_MAX],
}

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

/// One lcore's cache and counters, on its own cache lines.
#[repr(align(64))]
pub(crate) struct LcoreCache {
    stack: UnsafeCell<Stack>,
    allocs: AtomicU64,
    frees: AtomicU64,
    failures: AtomicU64,
}

// SAFETY: the stack is only accessed by the thread holding the lcore id (the `unsafe fn`s below
// require it), the counters are atomics.
unsafe impl Sync for LcoreCache {}

/// Adds `n` to a counter only its owner writes: a plain load and store, no bus lock.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Release,
    );
}

impl LcoreCache {
    /// An empty cache, able to hold `2 * CACHE_MAX` indices.
    pub(crate) fn new() -> Self {
        LcoreCache {
            stack: UnsafeCell::new(Stack {
                len: 0,
                objs: [0; 2 * CACHE_MAX],
            }),
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Takes `out.len()` objects from the cache if it holds that many (no refill).
    ///
    /// # Safety
    /// The calling thread holds this cache's lcore id.
    #[inline(always)]
    pub(crate) unsafe fn get_fast(&self, out: &mut [u32]) -> bool {
        // SAFETY: only the lcore holder touches the stack and no other reference to it is live.
        let stack = unsafe { &mut *self.stack.get() };
        let Some(rest) = stack.len.checked_sub(out.len()) else {
            return false;
        };
        copy_small(out, &stack.objs[rest..stack.len]);
        stack.len = rest;
        true
    }

    /// Returns `objs` to the cache if that keeps it below `flush_threshold` (no flush).
    ///
    /// # Safety
    /// The calling thread holds this cache's lcore id, and `flush_threshold <= 2 * size`.
    #[inline(always)]
    pub(crate) unsafe fn put_fast(&self, flush_threshold: usize, objs: &[u32]) -> bool {
        // SAFETY: as in `get_fast`.
        let stack = unsafe { &mut *self.stack.get() };
        let new_len = stack.len + objs.len();
        if new_len >= flush_threshold {
            return false;
        }
        copy_small(&mut stack.objs[stack.len..new_len], objs);
        stack.len = new_len;
        true
    }

    /// Takes `out.len()` objects, all or none. `size` is the configured cache size (> 0).
    ///
    /// # Safety
    /// The calling thread holds this cache's lcore id, and `out.len() < size`.
    #[inline]
    pub(crate) unsafe fn get(&self, ring: &Ring<u32>, size: usize, out: &mut [u32]) -> bool {
        // SAFETY: only the lcore holder touches the stack and no other reference to it is live.
        let stack = unsafe { &mut *self.stack.get() };
        let n = out.len();
        debug_assert!(n < size);
        if stack.len < n {
            // Refill: enough for this request plus a full cache, in one burst.
            let want = size + n - stack.len;
            let got = ring.dequeue_burst(&mut stack.objs[stack.len..stack.len + want]);
            stack.len += got;
            if stack.len < n {
                return false;
            }
        }
        let top = stack.len;
        for (o, &v) in out.iter_mut().zip(stack.objs[top - n..top].iter().rev()) {
            *o = v;
        }
        stack.len = top - n;
        true
    }

    /// Takes up to `out.len()` objects from this cache only (no refill). Returns how many.
    ///
    /// # Safety
    /// The calling thread holds this cache's lcore id.
    pub(crate) unsafe fn take(&self, out: &mut [u32]) -> usize {
        // SAFETY: as in `get`.
        let stack = unsafe { &mut *self.stack.get() };
        let n = out.len().min(stack.len);
        let top = stack.len;
        copy_small(&mut out[..n], &stack.objs[top - n..top]);
        stack.len = top - n;
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
        let stack = unsafe { &mut *self.stack.get() };
        while !objs.is_empty() {
            let k = objs.len().min(stack.objs.len() - stack.len);
            copy_small(&mut stack.objs[stack.len..stack.len + k], &objs[..k]);
            stack.len += k;
            objs = &objs[k..];
            if stack.len >= flush_threshold {
                let n = ring.enqueue_burst(&stack.objs[size..stack.len]);
                // The ring holds every object of the pool, so it always has room.
                debug_assert_eq!(n, stack.len - size, "mempool ring overflow (double free?)");
                stack.len = size;
            }
        }
    }

    /// Returns every cached object to the ring.
    ///
    /// # Safety
    /// The calling thread holds this cache's lcore id (or the pool is being torn down with no
    /// other user).
    pub(crate) unsafe fn flush(&self, ring: &Ring<u32>) {
        // SAFETY: as in `get`.
        let stack = unsafe { &mut *self.stack.get() };
        let n = ring.enqueue_burst(&stack.objs[..stack.len]);
        debug_assert_eq!(n, stack.len, "mempool ring overflow (double free?)");
        stack.len = 0;
    }

    /// Counts `n` objects handed out (owner only).
    #[inline]
    pub(crate) fn count_allocs(&self, n: usize) {
        bump(&self.allocs, n as u64);
    }

    /// Counts `n` objects returned (owner only).
    #[inline]
    pub(crate) fn count_frees(&self, n: usize) {
        bump(&self.frees, n as u64);
    }

    /// Counts one failed request (owner only).
    #[inline]
    pub(crate) fn count_failure(&self) {
        bump(&self.failures, 1);
    }

    /// (allocs, frees, failures) so far.
    pub(crate) fn counters(&self) -> (u64, u64, u64) {
        (
            self.allocs.load(Ordering::Acquire),
            self.frees.load(Ordering::Acquire),
            self.failures.load(Ordering::Acquire),
        )
    }
}

/// Counters of threads without an lcore id (they use the ring, which is shared anyway).
#[repr(align(64))]
#[derive(Default)]
pub(crate) struct SharedCounters {
    pub(crate) allocs: AtomicU64,
    pub(crate) frees: AtomicU64,
    pub(crate) failures: AtomicU64,
}
