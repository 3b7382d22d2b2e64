//! [`MbufRing`]: a ring of mbufs between threads, owning what it holds.
//!
//! Built on [`ferroplane_ring`]: a shared multi-producer/multi-consumer [`Ring`] used through
//! `&self` ([`MbufRing::new`]), or exclusive producer/consumer handles with single or multi sync
//! on each side ([`MbufRing::channel`], no compare-and-swap for a single side). Mbufs travel as
//! [`RawMbuf`] tokens; whatever is still queued when the ring is dropped is freed.

use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex};

use ferroplane_ring::{Consumer, Producer, Ring, RingError, SyncMode};

use crate::burst::{MAX_BURST, MbufBurst};
use crate::mbuf::{FreeBatch, Mbuf, RawMbuf};

/// A ring of mbufs shared by any number of producer and consumer threads (`Arc` it).
pub struct MbufRing {
    ring: Ring<RawMbuf>,
}

impl std::fmt::Debug for MbufRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbufRing")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// Lets `enqueue` copy the tokens of `burst` straight from its slots (returning how many it
/// took from the front); those leave the burst, the rest move to its front, in order.
#[inline]
fn enqueue_from(burst: &mut MbufBurst, enqueue: impl FnOnce(&[RawMbuf]) -> usize) -> usize {
    let n = burst.len();
    let done = enqueue(burst.live_raw()).min(n);
    // SAFETY: the ring now owns the first `done` tokens.
    unsafe { burst.forget_front(done) };
    done
}

/// Lets `dequeue` write tokens straight into the free slots of `burst` (at most `room`).
#[inline]
fn dequeue_into(
    burst: &mut MbufBurst,
    room: usize,
    dequeue: impl FnOnce(&mut [RawMbuf]) -> usize,
) -> usize {
    let spare = burst.spare_raw();
    let room = room.min(spare.len());
    let n = dequeue(&mut spare[..room]).min(room);
    // SAFETY: every token in a ring came from `into_raw` and is dequeued once, so the `n`
    // written are owned by us now.
    unsafe { burst.commit(n) };
    n
}

/// Frees everything `dequeue` yields until it yields nothing.
fn drain_all(mut dequeue: impl FnMut(&mut [RawMbuf]) -> usize) {
    let mut raws = [RawMbuf::dangling(); MAX_BURST];
    let mut batch = FreeBatch::new();
    loop {
        let n = dequeue(&mut raws);
        if n == 0 {
            break;
        }
        for &r in &raws[..n] {
            // SAFETY: as in `dequeue_into`.
            batch.add_chain(unsafe { Mbuf::from_raw(r) });
        }
    }
}

impl MbufRing {
    /// A shared MP/MC ring of `capacity` (a power of two) mbufs.
    pub fn new(capacity: usize) -> Result<MbufRing, RingError> {
        Ok(MbufRing {
            ring: Ring::new(capacity)?,
        })
    }

    /// Exclusive producer and consumer handles over a ring of `capacity` mbufs, each side
    /// [`SyncMode::Single`] (one handle, no CAS) or [`SyncMode::Multi`] (`try_clone`).
    pub fn channel(
        capacity: usize,
        producer: SyncMode,
        consumer: SyncMode,
    ) -> Result<(MbufProducer, MbufConsumer), RingError> {
        let (p, c) = ferroplane_ring::channel(capacity, producer, consumer)?;
        let shared = Arc::new(ChannelShared {
            orphan: Mutex::new(None),
        });
        Ok((
            MbufProducer {
                inner: p,
                shared: shared.clone(),
            },
            MbufConsumer {
                inner: ManuallyDrop::new(c),
                shared,
            },
        ))
    }

    /// Enqueues one mbuf, or gives it back if the ring is full.
    #[inline]
    pub fn enqueue(&self, m: Mbuf) -> Result<(), Mbuf> {
        // SAFETY: a token that was not enqueued is turned back once.
        self.ring
            .enqueue_one(m.into_raw())
            .map_err(|r| unsafe { Mbuf::from_raw(r) })
    }

    /// Dequeues one mbuf.
    #[inline]
    pub fn dequeue(&self) -> Option<Mbuf> {
        // SAFETY: every token in the ring came from `into_raw` and is dequeued once.
        self.ring
            .dequeue_one()
            .map(|r| unsafe { Mbuf::from_raw(r) })
    }

    /// Moves as many mbufs as fit from the front of `burst` into the ring; returns how many.
    /// The rest stay in `burst`, in order.
    pub fn enqueue_burst(&self, burst: &mut MbufBurst) -> usize {
        enqueue_from(burst, |r| self.ring.enqueue_burst(r))
    }

    /// Moves all of `burst` into the ring, or nothing if it does not all fit.
    pub fn enqueue_bulk(&self, burst: &mut MbufBurst) -> usize {
        enqueue_from(burst, |r| self.ring.enqueue_bulk(r))
    }

    /// Dequeues up to `burst.free()` mbufs onto the end of `burst`; returns how many.
    pub fn dequeue_burst(&self, burst: &mut MbufBurst) -> usize {
        dequeue_into(burst, MAX_BURST, |r| self.ring.dequeue_burst(r))
    }

    /// Dequeues exactly `n` mbufs onto `burst`, or none (also if `burst` lacks room).
    pub fn dequeue_bulk(&self, burst: &mut MbufBurst, n: usize) -> usize {
        if n > burst.free() {
            return 0;
        }
        dequeue_into(burst, n, |r| self.ring.dequeue_bulk(r))
    }

    /// Mbufs queued.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether none is queued.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Slots free.
    pub fn free_count(&self) -> usize {
        self.ring.free_count()
    }

    /// Total slots.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }
}

impl Drop for MbufRing {
    fn drop(&mut self) {
        drain_all(|r| self.ring.dequeue_burst(r));
    }
}

/// What the handles of a channel share: a consumer kept after the last consumer handle dropped,
/// so that mbufs enqueued afterwards are freed when the producers are gone too.
struct ChannelShared {
    orphan: Mutex<Option<Consumer<RawMbuf>>>,
}

impl Drop for ChannelShared {
    fn drop(&mut self) {
        let orphan = self.orphan.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = orphan.as_mut() {
            drain_all(|r| c.dequeue_burst(r));
        }
    }
}

/// The producer side of [`MbufRing::channel`].
pub struct MbufProducer {
    inner: Producer<RawMbuf>,
    shared: Arc<ChannelShared>,
}

impl std::fmt::Debug for MbufProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbufProducer")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl MbufProducer {
    /// Enqueues one mbuf, or gives it back if the ring is full.
    #[inline]
    pub fn enqueue(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        // SAFETY: a token that was not enqueued is turned back once.
        self.inner
            .enqueue_one(m.into_raw())
            .map_err(|r| unsafe { Mbuf::from_raw(r) })
    }

    /// Moves as many mbufs as fit from the front of `burst`; returns how many.
    pub fn enqueue_burst(&mut self, burst: &mut MbufBurst) -> usize {
        enqueue_from(burst, |r| self.inner.enqueue_burst(r))
    }

    /// Moves all of `burst`, or nothing.
    pub fn enqueue_bulk(&mut self, burst: &mut MbufBurst) -> usize {
        enqueue_from(burst, |r| self.inner.enqueue_bulk(r))
    }

    /// Mbufs queued.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether none is queued.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Slots free.
    pub fn free_count(&self) -> usize {
        self.inner.free_count()
    }

    /// Total slots.
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Another producer handle (multi-producer mode only).
    pub fn try_clone(&self) -> Option<Self> {
        Some(MbufProducer {
            inner: self.inner.try_clone()?,
            shared: self.shared.clone(),
        })
    }
}

/// The consumer side of [`MbufRing::channel`]. Dropping the last one frees what is queued.
pub struct MbufConsumer {
    inner: ManuallyDrop<Consumer<RawMbuf>>,
    shared: Arc<ChannelShared>,
}

impl std::fmt::Debug for MbufConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbufConsumer")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl MbufConsumer {
    /// Dequeues one mbuf.
    #[inline]
    pub fn dequeue(&mut self) -> Option<Mbuf> {
        // SAFETY: every token in the ring came from `into_raw` and is dequeued once.
        self.inner
            .dequeue_one()
            .map(|r| unsafe { Mbuf::from_raw(r) })
    }

    /// Dequeues up to `burst.free()` mbufs onto `burst`; returns how many.
    pub fn dequeue_burst(&mut self, burst: &mut MbufBurst) -> usize {
        dequeue_into(burst, MAX_BURST, |r| self.inner.dequeue_burst(r))
    }

    /// Dequeues exactly `n` mbufs onto `burst`, or none (also if `burst` lacks room).
    pub fn dequeue_bulk(&mut self, burst: &mut MbufBurst, n: usize) -> usize {
        if n > burst.free() {
            return 0;
        }
        dequeue_into(burst, n, |r| self.inner.dequeue_bulk(r))
    }

    /// Mbufs queued.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether none is queued.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Total slots.
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Another consumer handle (multi-consumer mode only).
    pub fn try_clone(&self) -> Option<Self> {
        Some(MbufConsumer {
            inner: ManuallyDrop::new(self.inner.try_clone()?),
            shared: self.shared.clone(),
        })
    }
}

impl Drop for MbufConsumer {
    fn drop(&mut self) {
        // SAFETY: `inner` is not used after this.
        let mut c = unsafe { ManuallyDrop::take(&mut self.inner) };
        drain_all(|r| c.dequeue_burst(r));
        let mut orphan = self.shared.orphan.lock().unwrap_or_else(|e| e.into_inner());
        if orphan.is_none() {
            *orphan = Some(c);
        }
    }
}
