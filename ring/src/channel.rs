//! [`channel`]: a ring whose producer and consumer sides are exclusive handles, each side single
//! or multi as chosen at creation.
//!
//! A `Single` side has exactly one handle, so it can skip the compare-and-swap and keep a private
//! copy of the opposite tail: in steady state an enqueue touches only the producer's cache line
//! and a dequeue only the consumer's, which is what makes a core-to-core SP/SC ring cheap.

use core::fmt;
use core::mem::MaybeUninit;

use crate::core::{Amount, RingCore};
use crate::error::{RingError, check_capacity};
use crate::slots::{as_uninit_mut, assume_filled};
use crate::sync::Arc;

/// Whether a side of a [`channel`] has one handle or several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncMode {
    /// One handle, used by one thread at a time: no compare-and-swap.
    Single,
    /// Any number of handles (see `try_clone`), used from any threads at once.
    Multi,
}

/// Creates a ring of `capacity` slots (a power of two) and returns its producer and consumer
/// handles, with the synchronisation of each side chosen by `producer` and `consumer`.
pub fn channel<T: Copy + Send>(
    capacity: usize,
    producer: SyncMode,
    consumer: SyncMode,
) -> Result<(Producer<T>, Consumer<T>), RingError> {
    let capacity = check_capacity::<T>(capacity)?;
    let core = Arc::new(RingCore::new(capacity)?);
    Ok((
        Producer {
            core: Arc::clone(&core),
            mode: producer,
            cached_cons_tail: 0,
        },
        Consumer {
            core,
            mode: consumer,
            cached_prod_tail: 0,
        },
    ))
}

/// The enqueueing end of a [`channel`].
pub struct Producer<T: Copy + Send> {
    core: Arc<RingCore<T>>,
    mode: SyncMode,
    /// `Single` mode only: the consumer tail as last read (consumers only move it forward).
    cached_cons_tail: u32,
}

impl<T: Copy + Send> Producer<T> {
    /// Enqueues all of `items`, or none if they do not all fit. Returns `items.len()` or 0.
    #[inline(always)]
    pub fn enqueue_bulk(&mut self, items: &[T]) -> usize {
        self.enqueue(items, Amount::Fixed)
    }

    /// Enqueues as many of `items` as fit, from the front. Returns how many (possibly 0).
    #[inline(always)]
    pub fn enqueue_burst(&mut self, items: &[T]) -> usize {
        self.enqueue(items, Amount::Variable)
    }

    /// Enqueues one item, or gives it back if the ring is full.
    #[inline(always)]
    pub fn enqueue_one(&mut self, item: T) -> Result<(), T> {
        match self.enqueue(core::slice::from_ref(&item), Amount::Fixed) {
            1 => Ok(()),
            _ => Err(item),
        }
    }

    #[inline(always)]
    fn enqueue(&mut self, items: &[T], amount: Amount) -> usize {
        match self.mode {
            SyncMode::Single => {
                self.core
                    .enqueue::<false>(items, amount, &mut self.cached_cons_tail)
            }
            SyncMode::Multi => self
                .core
                .enqueue::<true>(items, amount, &mut self.cached_cons_tail),
        }
    }

    /// Number of items in the ring (a snapshot).
    #[inline]
    pub fn len(&self) -> usize {
        self.core.len() as usize
    }

    /// Whether the ring holds no items (a snapshot).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of free slots (a snapshot).
    #[inline]
    pub fn free_count(&self) -> usize {
        self.capacity() - self.len()
    }

    /// Number of slots.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.core.capacity() as usize
    }

    /// This side's synchronisation mode.
    pub fn mode(&self) -> SyncMode {
        self.mode
    }

    /// Another handle to the same side, for another thread: `Some` only in `Multi` mode.
    pub fn try_clone(&self) -> Option<Self> {
        match self.mode {
            SyncMode::Single => None,
            SyncMode::Multi => Some(Producer {
                core: Arc::clone(&self.core),
                mode: SyncMode::Multi,
                cached_cons_tail: 0,
            }),
        }
    }
}

/// The dequeueing end of a [`channel`].
pub struct Consumer<T: Copy + Send> {
    core: Arc<RingCore<T>>,
    mode: SyncMode,
    /// `Single` mode only: the producer tail as last read (producers only move it forward).
    cached_prod_tail: u32,
}

impl<T: Copy + Send> Consumer<T> {
    /// Dequeues exactly `out.len()` items into `out`, or none if fewer are queued. Returns
    /// `out.len()` or 0.
    #[inline(always)]
    pub fn dequeue_bulk(&mut self, out: &mut [T]) -> usize {
        self.dequeue(as_uninit_mut(out), Amount::Fixed)
    }

    /// Dequeues up to `out.len()` items into a prefix of `out`. Returns how many (possibly 0).
    #[inline(always)]
    pub fn dequeue_burst(&mut self, out: &mut [T]) -> usize {
        self.dequeue(as_uninit_mut(out), Amount::Variable)
    }

    /// Dequeues one item, if any.
    #[inline(always)]
    pub fn dequeue_one(&mut self) -> Option<T> {
        let mut slot = [MaybeUninit::uninit()];
        match self.dequeue(&mut slot, Amount::Fixed) {
            // SAFETY: the dequeue reported one item written into `slot`.
            1 => Some(unsafe { assume_filled(slot) }),
            _ => None,
        }
    }

    #[inline(always)]
    fn dequeue(&mut self, out: &mut [MaybeUninit<T>], amount: Amount) -> usize {
        match self.mode {
            SyncMode::Single => self
                .core
                .dequeue::<false>(out, amount, &mut self.cached_prod_tail),
            SyncMode::Multi => self
                .core
                .dequeue::<true>(out, amount, &mut self.cached_prod_tail),
        }
    }

    /// Number of items in the ring (a snapshot).
    #[inline]
    pub fn len(&self) -> usize {
        self.core.len() as usize
    }

    /// Whether the ring holds no items (a snapshot).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of free slots (a snapshot).
    #[inline]
    pub fn free_count(&self) -> usize {
        self.capacity() - self.len()
    }

    /// Number of slots.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.core.capacity() as usize
    }

    /// This side's synchronisation mode.
    pub fn mode(&self) -> SyncMode {
        self.mode
    }

    /// Another handle to the same side, for another thread: `Some` only in `Multi` mode.
    pub fn try_clone(&self) -> Option<Self> {
        match self.mode {
            SyncMode::Single => None,
            SyncMode::Multi => Some(Consumer {
                core: Arc::clone(&self.core),
                mode: SyncMode::Multi,
                cached_prod_tail: 0,
            }),
        }
    }
}

impl<T: Copy + Send> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("mode", &self.mode)
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}

impl<T: Copy + Send> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("mode", &self.mode)
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}
