//! [`Ring`]: the shared multi-producer, multi-consumer ring, used through `&self`.

use core::fmt;
use core::mem::MaybeUninit;

use crate::core::{Amount, RingCore};
use crate::error::{RingError, check_capacity};
use crate::slots::{as_uninit_mut, assume_filled};

/// A fixed-capacity FIFO of `Copy` items, safe to use from any number of producer and consumer
/// threads at once through `&self` (share it in an `Arc` or a `static`).
///
/// Multi-producer/multi-consumer in the design of DPDK's rte_ring: heads claimed with
/// compare-and-swap, tails published in order. Like rte_ring it is not lock-free in the strict
/// sense: a thread preempted between claiming slots and publishing them holds up the threads that
/// claimed after it on the same side until it runs again. Use one thread per core, as DPDK does.
/// For one producer and/or one consumer, [`channel`](crate::channel) avoids the CAS.
pub struct Ring<T: Copy + Send> {
    core: RingCore<T>,
}

impl<T: Copy + Send> Ring<T> {
    /// Creates an empty ring of `capacity` slots, all usable. `capacity` must be a power of two
    /// no larger than [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    pub fn new(capacity: usize) -> Result<Self, RingError> {
        let capacity = check_capacity::<T>(capacity)?;
        Ok(Ring {
            core: RingCore::new(capacity)?,
        })
    }

    /// Enqueues all of `items`, or none if they do not all fit. Returns `items.len()` or 0.
    #[inline(always)]
    pub fn enqueue_bulk(&self, items: &[T]) -> usize {
        self.core.enqueue::<true>(items, Amount::Fixed, &mut 0)
    }

    /// Enqueues as many of `items` as fit, from the front. Returns how many (possibly 0).
    #[inline(always)]
    pub fn enqueue_burst(&self, items: &[T]) -> usize {
        self.core.enqueue::<true>(items, Amount::Variable, &mut 0)
    }

    /// Dequeues exactly `out.len()` items into `out`, or none if fewer are queued. Returns
    /// `out.len()` or 0.
    #[inline(always)]
    pub fn dequeue_bulk(&self, out: &mut [T]) -> usize {
        self.core
            .dequeue::<true>(as_uninit_mut(out), Amount::Fixed, &mut 0)
    }

    /// Dequeues up to `out.len()` items into a prefix of `out`. Returns how many (possibly 0).
    #[inline(always)]
    pub fn dequeue_burst(&self, out: &mut [T]) -> usize {
        self.core
            .dequeue::<true>(as_uninit_mut(out), Amount::Variable, &mut 0)
    }

    /// Enqueues one item, or gives it back if the ring is full.
    #[inline(always)]
    pub fn enqueue_one(&self, item: T) -> Result<(), T> {
        match self.enqueue_bulk(core::slice::from_ref(&item)) {
            1 => Ok(()),
            _ => Err(item),
        }
    }

    /// Dequeues one item, if any.
    #[inline(always)]
    pub fn dequeue_one(&self) -> Option<T> {
        let mut slot = [MaybeUninit::uninit()];
        match self.core.dequeue::<true>(&mut slot, Amount::Fixed, &mut 0) {
            // SAFETY: the dequeue reported one item written into `slot`.
            1 => Some(unsafe { assume_filled(slot) }),
            _ => None,
        }
    }

    /// Number of items in the ring (a snapshot; other threads may change it at once).
    #[inline]
    pub fn len(&self) -> usize {
        self.core.len() as usize
    }

    /// Number of free slots (a snapshot).
    #[inline]
    pub fn free_count(&self) -> usize {
        self.capacity() - self.len()
    }

    /// Number of slots, all of which can hold an item.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.core.capacity() as usize
    }

    /// Whether the ring holds no items (a snapshot).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every slot holds an item (a snapshot).
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }
}

impl<T: Copy + Send> fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}
