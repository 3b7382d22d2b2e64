//! The head/tail protocol of DPDK's rte_ring, shared by [`Ring`](crate::Ring) and the
//! [`channel`](crate::channel) handles.
//!
//! Four free-running `u32` indices: producers reserve slots by moving `prod.head`, fill them, then
//! publish them by moving `prod.tail`; consumers do the same with `cons.head` and `cons.tail`.
//! Slot `i` lives at `i & mask`. The producer side sees `capacity + cons.tail - prod.head` free
//! slots, the consumer side `prod.tail - cons.head` filled ones; wrapping arithmetic makes both
//! right across the `u32` wrap. On a multi side the head is claimed with compare-and-swap and a
//! thread publishes its tail only once every earlier reservation on that side is published (it
//! waits for the tail to reach its own start), so tails only ever cover completed copies.
//!
//! Memory ordering, each choice once:
//! - `cons.tail` is loaded with Acquire by producers and stored with Release by consumers: a
//!   consumer's reads of slots happen-before a producer reuses them.
//! - `prod.tail` is loaded with Acquire by consumers and stored with Release by producers: a
//!   producer's writes of slots happen-before a consumer reads them.
//! - Waiting for one's turn to move a tail loads it with Acquire, so the earlier thread's copies
//!   are ordered before our Release store (a plain store does not extend the earlier thread's
//!   release sequence, so without this the chain would break).
//! - On a multi side, the head is loaded with Acquire and claimed with an AcqRel CAS (the weak
//!   form, as DPDK: it is retried in a loop anyway, and on LL/SC machines it avoids a nested loop). The thread
//!   that last moved the head had read the opposite tail before doing so; synchronising with it
//!   guarantees that our own later read of the opposite tail is at least as new, so
//!   `head - opposite tail` never exceeds the capacity and the free/used counts cannot underflow.
//!   (A head that is stale makes the counts too large instead; the CAS then fails.)
//! - On a single side the head is only ever touched by its one owner, so it is Relaxed.
//! - The copies of the opposite tail (`opposite_tail` on a multi side's line, a plain field in a
//!   single side's handle) are refreshed with an Acquire load of that tail; the shared copy is
//!   stored with Release and loaded with Acquire, so a thread using another thread's refresh
//!   inherits its synchronisation with the opposite side. A copy only ever lags the real tail,
//!   which makes the count of free (or used) slots smaller, never larger; a copy that lags by
//!   more than the capacity yields a count above the capacity and is refreshed. (Like the head
//!   CAS, this assumes no thread stalls between reading a tail and storing it for 2^32 items.)
//!
//! On x86-64 every one of these is a plain `mov` except the CAS (`lock cmpxchg`).

use core::mem::MaybeUninit;
use core::num::NonZeroU32;

use crate::error::RingError;
use crate::slots::Slots;
use crate::sync::{self, AtomicU32, Ordering};

/// The largest capacity a ring can have: counts up to 2^31 keep `head - tail` unambiguous in
/// `u32` arithmetic.
pub const MAX_CAPACITY: usize = 1 << 31;

/// One side's indices. Aligned to 128 bytes, two cache lines, so that the adjacent-line
/// prefetcher does not drag the other side's line along (false sharing between producer and
/// consumer cores is the dominant cost of a ring).
#[repr(C, align(128))]
pub(crate) struct HeadTail {
    pub(crate) head: AtomicU32,
    pub(crate) tail: AtomicU32,
    /// Multi side only: the other side's tail as this side last read it, shared by this side's
    /// threads (single sides keep theirs in the handle). It is read on every operation instead of
    /// the other side's line, which is only read when this copy shows too little.
    pub(crate) opposite_tail: AtomicU32,
}

impl HeadTail {
    fn new() -> Self {
        HeadTail {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            opposite_tail: AtomicU32::new(0),
        }
    }
}

/// Read-only after construction, kept off the index lines.
#[repr(C, align(128))]
struct Layout<T> {
    slots: Slots<T>,
    /// Non-zero, so the compiler knows `min(1, capacity)` is 1 in single-item paths.
    capacity: NonZeroU32,
}

/// Whether a move is all-or-nothing (bulk) or as-many-as-possible (burst).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Amount {
    /// All requested items, or none.
    Fixed,
    /// As many as are available, possibly none.
    Variable,
}

/// The shared state of one ring.
#[repr(C)]
pub(crate) struct RingCore<T> {
    layout: Layout<T>,
    prod: HeadTail,
    cons: HeadTail,
}

// SAFETY: the items are `Send` values that move between threads through the ring; the slots are
// only accessed by the thread that reserved them under the head/tail protocol, and every index
// is atomic. So sharing a `RingCore` between threads is sound when `T: Send`.
unsafe impl<T: Send> Sync for RingCore<T> {}
// SAFETY: as above; owning the ring only owns `T` values, which are `Send`.
unsafe impl<T: Send> Send for RingCore<T> {}

impl<T: Copy> RingCore<T> {
    /// A ring of `capacity` slots; the caller has checked it is a power of two within limits.
    pub(crate) fn new(capacity: u32) -> Result<Self, RingError> {
        let slots = Slots::new(capacity).ok_or(RingError::AllocationFailed {
            capacity: capacity as usize,
            bytes: capacity as usize * core::mem::size_of::<T>(),
        })?;
        Ok(RingCore {
            layout: Layout {
                slots,
                capacity: NonZeroU32::new(capacity).ok_or(RingError::CapacityNotPowerOfTwo(0))?,
            },
            prod: HeadTail::new(),
            cons: HeadTail::new(),
        })
    }

    #[inline(always)]
    pub(crate) fn capacity(&self) -> u32 {
        self.layout.capacity.get()
    }

    /// Items enqueued and published but not yet dequeued (a snapshot).
    #[inline]
    pub(crate) fn len(&self) -> u32 {
        // Consumer tail first: the producer tail read afterwards is at least as new, so the
        // difference cannot underflow; it can exceed the capacity if both moved in between.
        let cons_tail = self.cons.tail.load(Ordering::Acquire);
        let prod_tail = self.prod.tail.load(Ordering::Acquire);
        prod_tail.wrapping_sub(cons_tail).min(self.capacity())
    }

    /// Enqueues from `items`. `MULTI` selects the multi-producer protocol. `cached_cons_tail` is
    /// a single producer's private copy of `cons.tail` (ignored on the multi path): the consumer
    /// line is only read when the copy says there is not enough room.
    #[inline(always)]
    pub(crate) fn enqueue<const MULTI: bool>(
        &self,
        items: &[T],
        amount: Amount,
        cached_cons_tail: &mut u32,
    ) -> usize {
        // Longer requests can never fit; clamp so the count fits u32.
        let wanted = items.len().min(self.capacity() as usize) as u32;
        if amount == Amount::Fixed && wanted as usize != items.len() {
            return 0;
        }
        let capacity = self.capacity();
        let (start, n) = if MULTI {
            let mut head = self.prod.head.load(Ordering::Acquire);
            loop {
                // The shared copy of cons.tail on our own line first; the consumer line only
                // when the copy shows too little room, or is so old that it no longer
                // bounds `head` (the count then exceeds the capacity).
                let mut cons_tail = self.prod.opposite_tail.load(Ordering::Acquire);
                let mut free = capacity.wrapping_add(cons_tail).wrapping_sub(head);
                if free < wanted || free > capacity {
                    cons_tail = self.cons.tail.load(Ordering::Acquire);
                    self.prod.opposite_tail.store(cons_tail, Ordering::Release);
                    free = capacity.wrapping_add(cons_tail).wrapping_sub(head);
                }
                let n = match fit(wanted, free, amount) {
                    Some(n) => n,
                    None => return 0,
                };
                match self.prod.head.compare_exchange_weak(
                    head,
                    head.wrapping_add(n),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break (head, n),
                    Err(now) => {
                        head = now;
                        sync::cas_backoff();
                    }
                }
            }
        } else {
            let head = self.prod.head.load(Ordering::Relaxed);
            let mut free = capacity.wrapping_add(*cached_cons_tail).wrapping_sub(head);
            if free < wanted {
                *cached_cons_tail = self.cons.tail.load(Ordering::Acquire);
                free = capacity.wrapping_add(*cached_cons_tail).wrapping_sub(head);
            }
            let n = match fit(wanted, free, amount) {
                Some(n) => n,
                None => return 0,
            };
            self.prod
                .head
                .store(head.wrapping_add(n), Ordering::Relaxed);
            (head, n)
        };
        // SAFETY: positions start..start+n are ours: the head move reserved them against other
        // producers, and the Acquire load of cons.tail showed consumers are done with them.
        unsafe { self.layout.slots.write(start, &items[..n as usize]) };
        if MULTI {
            sync::wait_until_equal(&self.prod.tail, start);
        }
        self.prod
            .tail
            .store(start.wrapping_add(n), Ordering::Release);
        n as usize
    }

    /// Dequeues into `out`; the mirror image of [`RingCore::enqueue`].
    #[inline(always)]
    pub(crate) fn dequeue<const MULTI: bool>(
        &self,
        out: &mut [MaybeUninit<T>],
        amount: Amount,
        cached_prod_tail: &mut u32,
    ) -> usize {
        let wanted = out.len().min(self.capacity() as usize) as u32;
        if amount == Amount::Fixed && wanted as usize != out.len() {
            return 0;
        }
        let capacity = self.capacity();
        let (start, n) = if MULTI {
            let mut head = self.cons.head.load(Ordering::Acquire);
            loop {
                let mut prod_tail = self.cons.opposite_tail.load(Ordering::Acquire);
                let mut used = prod_tail.wrapping_sub(head);
                if used < wanted || used > capacity {
                    prod_tail = self.prod.tail.load(Ordering::Acquire);
                    self.cons.opposite_tail.store(prod_tail, Ordering::Release);
                    used = prod_tail.wrapping_sub(head);
                }
                let n = match fit(wanted, used, amount) {
                    Some(n) => n,
                    None => return 0,
                };
                match self.cons.head.compare_exchange_weak(
                    head,
                    head.wrapping_add(n),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break (head, n),
                    Err(now) => {
                        head = now;
                        sync::cas_backoff();
                    }
                }
            }
        } else {
            let head = self.cons.head.load(Ordering::Relaxed);
            let mut used = cached_prod_tail.wrapping_sub(head);
            if used < wanted {
                *cached_prod_tail = self.prod.tail.load(Ordering::Acquire);
                used = cached_prod_tail.wrapping_sub(head);
            }
            let n = match fit(wanted, used, amount) {
                Some(n) => n,
                None => return 0,
            };
            self.cons
                .head
                .store(head.wrapping_add(n), Ordering::Relaxed);
            (head, n)
        };
        // SAFETY: positions start..start+n are ours: the head move reserved them against other
        // consumers, and the Acquire load of prod.tail showed producers have published them.
        unsafe { self.layout.slots.read(start, &mut out[..n as usize]) };
        if MULTI {
            sync::wait_until_equal(&self.cons.tail, start);
        }
        self.cons
            .tail
            .store(start.wrapping_add(n), Ordering::Release);
        n as usize
    }
}

/// How many of `wanted` items to move when `available` can be, or `None` to move nothing.
/// `available` may exceed the capacity when computed from a stale head; the caller's CAS then
/// fails, so it only has to be clamped here, not trusted.
#[inline(always)]
fn fit(wanted: u32, available: u32, amount: Amount) -> Option<u32> {
    if available >= wanted {
        if wanted == 0 { None } else { Some(wanted) }
    } else if amount == Amount::Variable && available != 0 {
        Some(available)
    } else {
        None
    }
}
