//! The four single-producer/single-consumer rings an AF_XDP socket shares with the kernel.
//!
//! Each ring is a power-of-two array plus free-running `u32` producer and consumer indices in
//! shared memory. The protocol (as in the kernel's `xsk_queue.h` and libxdp's `xsk.h`):
//! - a producer reads the consumer index with **Acquire** (so it sees the slots the consumer
//!   has finished reading), writes descriptors, then publishes the producer index with
//!   **Release** (so the consumer sees the descriptors before the index);
//! - a consumer reads the producer index with **Acquire**, reads descriptors, then publishes
//!   the consumer index with **Release** (so the producer does not overwrite unread slots).
//!
//! Both sides keep cached copies of the other side's index and touch the shared one only when
//! the cached view runs out, so a burst costs at most one shared load and one shared store.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};

use super::sys::{self, Mapping, xdp_ring_offset};

/// A ring element: `u64` UMEM addresses (fill, completion) or `xdp_desc` (RX, TX).
pub(crate) trait RingItem: Copy {}
impl RingItem for u64 {}
impl RingItem for sys::xdp_desc {}

/// The shared words and slot array of one mapped ring; [`ProdRing::new`] or
/// [`ConsRing::new`] makes it one side's view.
pub(crate) struct RawRing<T> {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    slots: *mut T,
    mask: u32,
    size: u32,
    /// `None` only for test rings over plain memory.
    _map: Option<Mapping>,
}

// SAFETY: the ring is owned by exactly one user-space side (one producer or one consumer);
// the raw pointers point into the mapping it owns.
unsafe impl<T: RingItem> Send for RawRing<T> {}

impl<T: RingItem> RawRing<T> {
    /// Maps a ring of `size` entries of socket `fd` at page offset `pgoff`.
    pub(crate) fn map(
        fd: &OwnedFd,
        off: &xdp_ring_offset,
        size: u32,
        pgoff: u64,
    ) -> io::Result<Self> {
        let len = off.desc as usize + size as usize * std::mem::size_of::<T>();
        let map = Mapping::ring(fd, len, pgoff)?;
        Ok(RawRing {
            producer: map.at(off.producer).cast(),
            consumer: map.at(off.consumer).cast(),
            flags: map.at(off.flags).cast(),
            slots: map.at(off.desc).cast(),
            mask: size - 1,
            size,
            _map: Some(map),
        })
    }

    /// A ring over plain memory laid out as `off` describes (tests, which play the kernel).
    ///
    /// # Safety
    /// `base` points to memory that holds the indices and `size` slots at `off`, suitably
    /// aligned, and outlives the ring.
    #[cfg(test)]
    unsafe fn from_raw(base: *mut u8, off: &xdp_ring_offset, size: u32) -> Self {
        RawRing {
            producer: base.wrapping_add(off.producer as usize).cast(),
            consumer: base.wrapping_add(off.consumer as usize).cast(),
            flags: base.wrapping_add(off.flags as usize).cast(),
            slots: base.wrapping_add(off.desc as usize).cast(),
            mask: size - 1,
            size,
            _map: None,
        }
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points to an aligned u32 in the live mapping; the kernel and we only access
        // it atomically.
        unsafe { &*self.producer }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for producer().
        unsafe { &*self.consumer }
    }

    fn needs_wakeup(&self) -> bool {
        // SAFETY: as for producer(); a plain relaxed read like the kernel's READ_ONCE users.
        unsafe { &*self.flags }.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

/// The user-space producer side of a ring (fill and TX).
pub(crate) struct ProdRing<T> {
    ring: RawRing<T>,
    /// Our next producer index (entries before it are written, maybe not yet submitted).
    cached_prod: u32,
    /// The kernel's consumer index plus the ring size: the first index we may not write.
    cached_limit: u32,
}

impl<T: RingItem> ProdRing<T> {
    /// The producer side of `ring`, continuing from its current indices.
    pub(crate) fn new(ring: RawRing<T>) -> Self {
        ProdRing {
            cached_prod: ring.producer().load(Ordering::Relaxed),
            cached_limit: ring
                .consumer()
                .load(Ordering::Acquire)
                .wrapping_add(ring.size),
            ring,
        }
    }

    /// Free slots, refreshing the kernel's consumer index only when fewer than `want`
    /// are known to be free.
    pub(crate) fn free(&mut self, want: u32) -> u32 {
        let free = self.cached_limit.wrapping_sub(self.cached_prod);
        if free >= want {
            return free;
        }
        // Acquire: the kernel is done with the slots it has consumed before we overwrite them.
        self.cached_limit = self
            .ring
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(self.ring.size);
        self.cached_limit.wrapping_sub(self.cached_prod)
    }

    /// Writes as many of `items` as fit and submits them; returns how many.
    pub(crate) fn produce(&mut self, items: &[T]) -> usize {
        let n = (self.free(items.len() as u32) as usize).min(items.len());
        for (i, item) in items[..n].iter().enumerate() {
            let idx = self.cached_prod.wrapping_add(i as u32) & self.ring.mask;
            // SAFETY: idx <= mask, inside the slot array; the slot is free (checked above)
            // so the kernel is not reading it.
            unsafe { self.ring.slots.add(idx as usize).write(*item) };
        }
        self.submit(n as u32);
        n
    }

    /// Writes `n` items produced by `f(i)` into reserved slots and submits them. `n` must not
    /// exceed [`free`](Self::free)`(n)`; returns `n` or 0 if there is not enough room.
    pub(crate) fn produce_with(&mut self, n: u32, mut f: impl FnMut(u32) -> T) -> u32 {
        if self.free(n) < n {
            return 0;
        }
        for i in 0..n {
            let idx = self.cached_prod.wrapping_add(i) & self.ring.mask;
            // SAFETY: as in produce().
            unsafe { self.ring.slots.add(idx as usize).write(f(i)) };
        }
        self.submit(n);
        n
    }

    fn submit(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        self.cached_prod = self.cached_prod.wrapping_add(n);
        // Release: the slots written above are visible before the new producer index.
        self.ring
            .producer()
            .store(self.cached_prod, Ordering::Release);
    }

    /// Whether the kernel asked to be woken up (need_wakeup mode).
    pub(crate) fn needs_wakeup(&self) -> bool {
        self.ring.needs_wakeup()
    }

    /// Entries submitted but not yet consumed by the kernel.
    pub(crate) fn outstanding(&self) -> u32 {
        self.cached_prod
            .wrapping_sub(self.ring.consumer().load(Ordering::Acquire))
    }

    /// The ring size.
    pub(crate) fn size(&self) -> u32 {
        self.ring.size
    }
}

/// The user-space consumer side of a ring (RX and completion).
pub(crate) struct ConsRing<T> {
    ring: RawRing<T>,
    /// Our next consumer index.
    cached_cons: u32,
    /// The kernel's producer index as last read.
    cached_prod: u32,
}

impl<T: RingItem> ConsRing<T> {
    /// The consumer side of `ring`, continuing from its current indices.
    pub(crate) fn new(ring: RawRing<T>) -> Self {
        ConsRing {
            cached_cons: ring.consumer().load(Ordering::Relaxed),
            cached_prod: ring.producer().load(Ordering::Acquire),
            ring,
        }
    }

    /// Entries ready to read, refreshing the producer index only when the cached view is empty
    /// or shorter than `want`.
    pub(crate) fn available(&mut self, want: u32) -> u32 {
        let avail = self.cached_prod.wrapping_sub(self.cached_cons);
        if avail >= want {
            return avail;
        }
        // Acquire: the descriptors are visible before we read them.
        self.cached_prod = self.ring.producer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Reads up to `max` entries, calling `f` on each, then releases their slots; returns how
    /// many were read.
    pub(crate) fn consume(&mut self, max: u32, mut f: impl FnMut(T)) -> u32 {
        let n = self.available(max).min(max);
        for i in 0..n {
            let idx = self.cached_cons.wrapping_add(i) & self.ring.mask;
            // SAFETY: idx <= mask; the slot was published by the kernel (index read with
            // Acquire above) and is not rewritten until we release it.
            f(unsafe { self.ring.slots.add(idx as usize).read() });
        }
        if n > 0 {
            self.cached_cons = self.cached_cons.wrapping_add(n);
            // Release: our reads of the slots happen before the kernel may reuse them.
            self.ring
                .consumer()
                .store(self.cached_cons, Ordering::Release);
        }
        n
    }

    /// Whether the kernel asked to be woken up (need_wakeup mode).
    #[allow(dead_code)]
    pub(crate) fn needs_wakeup(&self) -> bool {
        self.ring.needs_wakeup()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Plain memory laid out like a kernel ring: indices on their own cache lines, then slots.
    struct FakeRing {
        mem: Vec<u64>,
    }

    const OFF: xdp_ring_offset = xdp_ring_offset {
        producer: 0,
        consumer: 64,
        flags: 128,
        desc: 192,
    };

    fn fake(size: u32) -> Arc<FakeRing> {
        Arc::new(FakeRing {
            mem: vec![0u64; 192 / 8 + size as usize],
        })
    }

    /// A user-space producer and a "kernel" consumer over the same memory.
    fn pair(r: &Arc<FakeRing>, size: u32) -> (ProdRing<u64>, ConsRing<u64>) {
        let base = r.mem.as_ptr() as *mut u8;
        // SAFETY: the memory is laid out as OFF says, 8-byte aligned, and outlives the rings
        // (the tests keep the Arc alive until both are dropped).
        let (p, c) = unsafe {
            (
                RawRing::from_raw(base, &OFF, size),
                RawRing::from_raw(base, &OFF, size),
            )
        };
        (ProdRing::new(p), ConsRing::new(c))
    }

    #[test]
    fn produce_consume_wraps_and_respects_capacity() {
        let r = fake(8);
        let (mut p, mut c) = pair(&r, 8);
        assert_eq!(p.produce(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 8, "only 8 fit");
        assert_eq!(p.produce(&[11]), 0);
        let mut got = Vec::new();
        assert_eq!(c.consume(3, |x| got.push(x)), 3);
        assert_eq!(p.produce_with(3, |i| 100 + u64::from(i)), 3);
        assert_eq!(p.produce_with(1, |_| 0), 0, "full again");
        assert_eq!(c.consume(64, |x| got.push(x)), 8);
        assert_eq!(got, vec![1, 2, 3, 4, 5, 6, 7, 8, 100, 101, 102]);
        assert_eq!(c.consume(64, |x| got.push(x)), 0);
        assert_eq!(p.outstanding(), 0);
    }

    #[test]
    fn two_threads_pass_every_item_in_order() {
        let n: u64 = if cfg!(miri) { 500 } else { 200_000 };
        let r = fake(16);
        let (mut p, mut c) = pair(&r, 16);
        let keep = r.clone();
        let t = std::thread::spawn(move || {
            let mut next = 0u64;
            while next < n {
                let batch: Vec<u64> = (next..(next + 5).min(n)).collect();
                next += p.produce(&batch) as u64;
            }
            drop(keep);
        });
        let mut expect = 0u64;
        while expect < n {
            c.consume(7, |x| {
                assert_eq!(x, expect);
                expect += 1;
            });
        }
        t.join().unwrap();
    }
}
