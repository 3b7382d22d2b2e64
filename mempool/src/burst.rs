//! [`MbufBurst`]: a fixed-capacity array of mbufs for the fast path (no allocation).
//!
//! RX fills one, the worker processes it in place, TX drains it from the front. Whatever is
//! dropped, cleared or removed is freed in bulk (one pool `put` per pool run).

use std::mem::MaybeUninit;
use std::ops::{Bound, RangeBounds};

use crate::mbuf::{FreeBatch, Mbuf};

/// Capacity of an [`MbufBurst`].
pub const MAX_BURST: usize = 64;

/// Up to [`MAX_BURST`] mbufs, in order.
pub struct MbufBurst {
    len: usize,
    slots: [MaybeUninit<Mbuf>; MAX_BURST],
}

impl Default for MbufBurst {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MbufBurst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl MbufBurst {
    /// An empty burst.
    pub const fn new() -> Self {
        MbufBurst {
            len: 0,
            slots: [const { MaybeUninit::uninit() }; MAX_BURST],
        }
    }

    /// Number of mbufs held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it holds [`MAX_BURST`].
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == MAX_BURST
    }

    /// Room left: how many more mbufs can be pushed.
    #[inline]
    pub fn free(&self) -> usize {
        MAX_BURST - self.len
    }

    /// Appends `m`, or gives it back if full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == MAX_BURST {
            return Err(m);
        }
        self.slots[self.len].write(m);
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the last mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slot `len` was initialised and is now outside the live prefix.
        Some(unsafe { self.slots[self.len].assume_init_read() })
    }

    /// The mbufs, as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: the first `len` slots are initialised; MaybeUninit<Mbuf> has Mbuf's layout.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().cast::<Mbuf>(), self.len) }
    }

    /// The mbufs, as a mutable slice.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in `as_slice`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_mut_ptr().cast::<Mbuf>(), self.len) }
    }

    /// Iterates over the mbufs.
    #[inline]
    pub fn iter(&self) -> std::slice::Iter<'_, Mbuf> {
        self.as_slice().iter()
    }

    /// Iterates over the mbufs mutably.
    #[inline]
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Mbuf> {
        self.as_mut_slice().iter_mut()
    }

    /// The mbuf at `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&Mbuf> {
        self.as_slice().get(i)
    }

    /// Frees every mbuf, in bulk.
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Frees the mbufs from `len` on, in bulk.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        let old = self.len;
        self.len = len;
        let mut batch = FreeBatch::new();
        for slot in &mut self.slots[len..old] {
            // SAFETY: initialised (it was in the live prefix) and read once.
            batch.add_chain(unsafe { slot.assume_init_read() });
        }
    }

    /// Removes the mbufs in `range` and yields them by value; the ones not consumed are freed
    /// when the iterator drops, and the rest move down. Out-of-range bounds are clamped.
    pub fn drain<R: RangeBounds<usize>>(&mut self, range: R) -> Drain<'_> {
        let len = self.len;
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .min(len);
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => len,
        }
        .clamp(start, len);
        // Until the Drain is done, only the prefix before `start` counts as live.
        self.len = start;
        Drain {
            burst: self,
            next: start,
            end,
            tail_len: len - end,
        }
    }

    /// Keeps the mbufs for which `keep` returns true, in order; frees the others in bulk.
    pub fn retain_mut<F: FnMut(&mut Mbuf) -> bool>(&mut self, mut keep: F) {
        let len = self.len;
        // If `keep` panics, the guard still compacts the burst and frees the removed mbufs.
        let mut g = RetainGuard {
            burst: self,
            len,
            processed: 0,
            kept: 0,
            batch: FreeBatch::new(),
        };
        g.burst.len = 0;
        while g.processed < len {
            // SAFETY: slot `processed` is initialised and not yet moved.
            let m = unsafe { g.burst.slots[g.processed].assume_init_mut() };
            if keep(m) {
                if g.kept != g.processed {
                    // SAFETY: moving an initialised slot down into a vacated one.
                    let m = unsafe { g.burst.slots[g.processed].assume_init_read() };
                    g.burst.slots[g.kept].write(m);
                }
                g.kept += 1;
            } else {
                // SAFETY: initialised; read once, the slot becomes vacant.
                let m = unsafe { g.burst.slots[g.processed].assume_init_read() };
                g.batch.add_chain(m);
            }
            g.processed += 1;
        }
    }
}

struct RetainGuard<'a> {
    burst: &'a mut MbufBurst,
    len: usize,
    processed: usize,
    kept: usize,
    batch: FreeBatch,
}

impl Drop for RetainGuard<'_> {
    fn drop(&mut self) {
        let rest = self.len - self.processed;
        if rest > 0 && self.kept != self.processed {
            // SAFETY: slots processed..len are initialised (not visited, after a panic); move them
            // down after the kept ones (the ranges may overlap: `copy`).
            unsafe {
                let base = self.burst.slots.as_mut_ptr();
                std::ptr::copy(base.add(self.processed), base.add(self.kept), rest);
            }
        }
        self.burst.len = self.kept + rest;
        self.batch.flush();
    }
}

impl Drop for MbufBurst {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<'a> IntoIterator for &'a MbufBurst {
    type Item = &'a Mbuf;
    type IntoIter = std::slice::Iter<'a, Mbuf>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut MbufBurst {
    type Item = &'a mut Mbuf;
    type IntoIter = std::slice::IterMut<'a, Mbuf>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// The iterator of [`MbufBurst::drain`].
pub struct Drain<'a> {
    burst: &'a mut MbufBurst,
    next: usize,
    end: usize,
    tail_len: usize,
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;

    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.end {
            return None;
        }
        // SAFETY: slots next..end are initialised and each is read once.
        let m = unsafe { self.burst.slots[self.next].assume_init_read() };
        self.next += 1;
        Some(m)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.end - self.next, Some(self.end - self.next))
    }
}

impl ExactSizeIterator for Drain<'_> {}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        let mut batch = FreeBatch::new();
        while self.next < self.end {
            // SAFETY: as in `next`.
            batch.add_chain(unsafe { self.burst.slots[self.next].assume_init_read() });
            self.next += 1;
        }
        let start = self.burst.len;
        if self.tail_len > 0 && start != self.end {
            // SAFETY: slots end..end+tail_len are initialised; moved down to start (overlap ok).
            unsafe {
                let base = self.burst.slots.as_mut_ptr();
                std::ptr::copy(base.add(self.end), base.add(start), self.tail_len);
            }
        }
        self.burst.len = start + self.tail_len;
    }
}
