//! [`MbufBurst`]: a fixed-capacity array of mbufs for the fast path (no allocation).
//!
//! RX fills one, the worker processes it in place, TX drains it from the front. Whatever is
//! dropped, cleared or removed is freed in bulk (one pool `put` per pool run).
//!
//! The slots hold [`RawMbuf`] tokens (the same bits as an [`Mbuf`]), always initialised: the
//! first `len` are owned mbufs, the rest stale copies nobody turns back into mbufs. So rings and
//! pools can copy tokens straight into and out of the slots in bulk.

use std::ops::{Bound, RangeBounds};

use crate::mbuf::{FreeBatch, Mbuf, RawMbuf, free_raw_bulk};

/// Capacity of an [`MbufBurst`].
pub const MAX_BURST: usize = 64;

const fn clamp_limit(limit: usize) -> usize {
    if limit == 0 {
        1
    } else if limit > MAX_BURST {
        MAX_BURST
    } else {
        limit
    }
}

/// Up to [`MAX_BURST`] mbufs, in order.
///
/// A burst may be given a smaller [`limit`](Self::limit) (for example 32, the engine's default
/// RX burst): [`free`](Self::free), [`is_full`](Self::is_full) and [`push`](Self::push) then
/// count against the limit, so a driver's `rx_burst`, which fills up to `free()`, takes at most
/// that many.
pub struct MbufBurst {
    len: usize,
    /// Most mbufs pushes and RX fills may bring it to (`1..=MAX_BURST`).
    limit: usize,
    /// `slots[..len]` are owned mbufs as tokens; the rest are stale and never used.
    slots: [RawMbuf; MAX_BURST],
}

// `as_slice` views the token slots as mbufs: same size (both wrap one pointer).
const _: () = assert!(std::mem::size_of::<RawMbuf>() == std::mem::size_of::<Mbuf>());
const _: () = assert!(std::mem::align_of::<RawMbuf>() == std::mem::align_of::<Mbuf>());

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
            limit: MAX_BURST,
            slots: [RawMbuf::dangling(); MAX_BURST],
        }
    }

    /// An empty burst that fills to at most `limit` mbufs (clamped to `1..=MAX_BURST`).
    pub const fn with_limit(limit: usize) -> Self {
        let mut b = Self::new();
        b.limit = clamp_limit(limit);
        b
    }

    /// The most mbufs pushes and RX fills bring it to.
    #[inline]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sets the limit (clamped to `1..=MAX_BURST`). Mbufs already held beyond it stay.
    #[inline]
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = clamp_limit(limit);
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

    /// Whether it holds [`limit`](Self::limit) mbufs (or more).
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len >= self.limit
    }

    /// Room left: how many more mbufs can be pushed before reaching the limit.
    #[inline]
    pub fn free(&self) -> usize {
        self.limit.saturating_sub(self.len)
    }

    /// Appends `m`, or gives it back if full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len >= self.limit {
            return Err(m);
        }
        self.slots[self.len] = m.into_raw();
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
        // SAFETY: slot `len` held an owned token and is now outside the live prefix.
        Some(unsafe { Mbuf::from_raw(self.slots[self.len]) })
    }

    /// The mbufs, as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: the first `len` slots are owned tokens; `RawMbuf` and `Mbuf` are both
        // `repr(transparent)` over the same pointer, so a token is a valid `Mbuf`.
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
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        let old = self.len;
        self.len = len;
        // SAFETY: the tokens were owned by the live prefix, which no longer includes them.
        unsafe { free_raw_bulk(&self.slots[len..old]) };
    }

    /// The free slots after the live mbufs, for a ring or pool to write owned tokens into
    /// before [`commit`](Self::commit).
    #[inline]
    pub(crate) fn spare_raw(&mut self) -> &mut [RawMbuf] {
        let end = self.limit.max(self.len);
        &mut self.slots[self.len..end]
    }

    /// Makes the first `n` spare slots live.
    ///
    /// # Safety
    /// They hold owned tokens (each from `Mbuf::into_raw`, not owned by anything else), and
    /// `n <= self.free()`.
    #[inline]
    pub(crate) unsafe fn commit(&mut self, n: usize) {
        debug_assert!(n <= self.free());
        self.len += n;
    }

    /// The live mbufs as tokens, for a ring to copy before [`forget_front`](Self::forget_front).
    #[inline]
    pub(crate) fn live_raw(&self) -> &[RawMbuf] {
        &self.slots[..self.len]
    }

    /// Removes the first `n` mbufs without freeing them (their ownership moved elsewhere, e.g.
    /// into a ring); the rest move to the front.
    ///
    /// # Safety
    /// The first `n` tokens are now owned by someone else; `n <= self.len()`.
    #[inline]
    pub(crate) unsafe fn forget_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        if n < self.len {
            self.slots.copy_within(n..self.len, 0);
        }
        self.len -= n;
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
            let slot: *mut RawMbuf = &mut g.burst.slots[g.processed];
            // SAFETY: slot `processed` holds an owned token not yet moved; `Mbuf` has the
            // token's layout, and the reference ends before the slot is touched again.
            let m = unsafe { &mut *slot.cast::<Mbuf>() };
            if keep(m) {
                g.burst.slots[g.kept] = g.burst.slots[g.processed];
                g.kept += 1;
            } else {
                // SAFETY: an owned token, turned back once; the slot becomes vacant.
                g.batch
                    .add_chain(unsafe { Mbuf::from_raw(g.burst.slots[g.processed]) });
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
            // Slots processed..len are owned (not visited, after a panic): move them down.
            self.burst
                .slots
                .copy_within(self.processed..self.len, self.kept);
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
        // SAFETY: slots next..end hold owned tokens and each is turned back once.
        let m = unsafe { Mbuf::from_raw(self.burst.slots[self.next]) };
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
        if self.next < self.end {
            // SAFETY: as in `next`: owned tokens, consumed here once.
            unsafe { free_raw_bulk(&self.burst.slots[self.next..self.end]) };
            self.next = self.end;
        }
        let start = self.burst.len;
        if self.tail_len > 0 && start != self.end {
            // Slots end..end+tail_len are owned: move them down to start.
            self.burst
                .slots
                .copy_within(self.end..self.end + self.tail_len, start);
        }
        self.burst.len = start + self.tail_len;
    }
}
