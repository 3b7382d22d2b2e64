//! The ring's item storage: `capacity` slots of possibly uninitialised `T`, written and read
//! through shared references because the head/tail protocol (in `core`) hands each slot to one
//! thread at a time. All of the crate's unsafe memory access lives here.
//!
//! Bulk moves touch at most two contiguous runs (the part before the end of the storage and the
//! part that wraps to its start), each copied with `copy_nonoverlapping` (see `copy_run`). Under
//! `cfg(loom)` the slots are loom cells and are copied one by one, so loom checks every access
//! against the happens-before order the atomics establish.

use core::mem::MaybeUninit;

#[cfg(loom)]
use crate::sync::UnsafeCell;

/// Alignment of the slot storage: two cache lines, like the ring's index lines, so that a burst
/// of 8 pointer-sized items fills exactly one cache line instead of straddling two (a straddled
/// line is written by the producer for one burst while the consumer reads it for the previous).
#[cfg(not(loom))]
const STORAGE_ALIGN: usize = 128;

/// `capacity` (a power of two) slots addressed by free-running `u32` positions.
///
/// The storage is one allocation that is only ever accessed through raw pointers (never through
/// references), so threads writing and reading disjoint slots through `&Slots` do not alias.
#[cfg(not(loom))]
pub(crate) struct Slots<T> {
    base: core::ptr::NonNull<MaybeUninit<T>>,
    mask: u32,
    /// The allocation's layout, `None` when nothing was allocated (zero-sized items).
    layout: Option<std::alloc::Layout>,
}

/// Loom version: one loom cell per slot, so loom tracks every slot access.
#[cfg(loom)]
pub(crate) struct Slots<T> {
    cells: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: u32,
}

#[cfg(not(loom))]
impl<T> Drop for Slots<T> {
    fn drop(&mut self) {
        if let Some(layout) = self.layout {
            // SAFETY: `base` came from `alloc` with this layout and is freed only here. The items
            // are `Copy`, so there is nothing to drop in place.
            unsafe { std::alloc::dealloc(self.base.as_ptr().cast(), layout) };
        }
    }
}

impl<T: Copy> Slots<T> {
    /// Allocates `capacity` uninitialised slots, or `None` if the memory cannot be had.
    /// `capacity` must be a power of two that fits `u32`.
    #[cfg(not(loom))]
    pub(crate) fn new(capacity: u32) -> Option<Self> {
        debug_assert!(capacity.is_power_of_two());
        let align = STORAGE_ALIGN.max(core::mem::align_of::<T>());
        let bytes = (capacity as usize).checked_mul(core::mem::size_of::<T>())?;
        let layout = std::alloc::Layout::from_size_align(bytes, align).ok()?;
        if bytes == 0 {
            // Zero-sized items: any aligned non-null pointer is valid for every access.
            return Some(Slots {
                base: core::ptr::NonNull::dangling(),
                mask: capacity - 1,
                layout: None,
            });
        }
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { std::alloc::alloc(layout) };
        Some(Slots {
            base: core::ptr::NonNull::new(raw.cast())?,
            mask: capacity - 1,
            layout: Some(layout),
        })
    }

    /// Loom version of `new`.
    #[cfg(loom)]
    pub(crate) fn new(capacity: u32) -> Option<Self> {
        let mut cells = Vec::new();
        cells.try_reserve_exact(capacity as usize).ok()?;
        cells.extend((0..capacity).map(|_| UnsafeCell::new(MaybeUninit::uninit())));
        Some(Slots {
            cells: cells.into_boxed_slice(),
            mask: capacity - 1,
        })
    }

    /// Copies `items` into the slots at positions `pos, pos + 1, ..` (modulo the capacity).
    ///
    /// # Safety
    /// The caller has exclusively reserved those `items.len()` positions (no other thread reads
    /// or writes them until the caller publishes them), and `items.len() <= capacity`.
    #[cfg(not(loom))]
    #[inline(always)]
    pub(crate) unsafe fn write(&self, pos: u32, items: &[T]) {
        let n = items.len();
        let (first, second) = self.split(pos, n);
        let base = self.base.as_ptr().cast::<T>();
        // SAFETY: `split` keeps `start + first <= capacity` and `second <= start`, so both runs
        // lie inside the storage; the caller owns these positions exclusively; `items` is a
        // separate borrow so the ranges cannot overlap it.
        unsafe {
            let start = (pos & self.mask) as usize;
            copy_run(items.as_ptr(), base.add(start), first);
            if second != 0 {
                copy_run(items.as_ptr().add(first), base, second);
            }
        }
    }

    /// Copies the items at positions `pos, pos + 1, ..` into `out`.
    ///
    /// # Safety
    /// The caller has exclusively reserved those `out.len()` positions, every one of them holds
    /// an item a producer published (so it is initialised), and `out.len() <= capacity`.
    #[cfg(not(loom))]
    #[inline(always)]
    pub(crate) unsafe fn read(&self, pos: u32, out: &mut [MaybeUninit<T>]) {
        let n = out.len();
        let (first, second) = self.split(pos, n);
        let base = self.base.as_ptr();
        // SAFETY: as in `write`; the slots are read as `MaybeUninit` and the caller guarantees
        // they were initialised by a producer before being published.
        unsafe {
            let start = (pos & self.mask) as usize;
            let dst = out.as_mut_ptr();
            copy_run(base.add(start), dst, first);
            if second != 0 {
                copy_run(base, dst.add(first), second);
            }
        }
    }

    /// Loom variant of [`Slots::write`]: one tracked cell access per item.
    ///
    /// # Safety
    /// As for the non-loom `write`.
    #[cfg(loom)]
    pub(crate) unsafe fn write(&self, pos: u32, items: &[T]) {
        for (i, item) in items.iter().enumerate() {
            let cell = &self.cells[(pos.wrapping_add(i as u32) & self.mask) as usize];
            // SAFETY: the caller owns this position exclusively; loom checks that claim.
            cell.with_mut(|slot| unsafe { slot.write(MaybeUninit::new(*item)) });
        }
    }

    /// Loom variant of [`Slots::read`]: one tracked cell access per item.
    ///
    /// # Safety
    /// As for the non-loom `read`.
    #[cfg(loom)]
    pub(crate) unsafe fn read(&self, pos: u32, out: &mut [MaybeUninit<T>]) {
        for (i, o) in out.iter_mut().enumerate() {
            let cell = &self.cells[(pos.wrapping_add(i as u32) & self.mask) as usize];
            // SAFETY: the caller owns this position exclusively; loom checks that claim.
            *o = cell.with(|slot| unsafe { *slot });
        }
    }

    /// Splits `n` items starting at `pos` into the run up to the end of the storage and the run
    /// that wraps to its start.
    #[cfg(not(loom))]
    #[inline(always)]
    fn split(&self, pos: u32, n: usize) -> (usize, usize) {
        let start = (pos & self.mask) as usize;
        let to_end = self.mask as usize + 1 - start;
        let first = if n <= to_end { n } else { to_end };
        (first, n - first)
    }
}

/// Copies one contiguous run of `n` items.
///
/// Bursts are small (typically 8 to 64 items), and a `copy_nonoverlapping` of a length only
/// known at run time becomes a call to `memcpy`, which costs more than the copy itself at these
/// sizes. So runs of fewer than 32 items are copied as a binary decomposition of `n` into blocks
/// of constant size (16, 8, 4, 2, 1 items), each of which the compiler expands into a few vector
/// moves; longer runs go to `memcpy`.
///
/// # Safety
/// `src` is valid for reading and `dst` for writing `n` items, and the two do not overlap.
#[cfg(not(loom))]
#[inline(always)]
unsafe fn copy_run<U>(src: *const U, dst: *mut U, n: usize) {
    // SAFETY: every block below stays within the first `n` items of both runs.
    unsafe {
        if n >= 32 {
            core::ptr::copy_nonoverlapping(src, dst, n);
            return;
        }
        let mut done = 0;
        if n & 16 != 0 {
            core::ptr::copy_nonoverlapping(src, dst, 16);
            done += 16;
        }
        if n & 8 != 0 {
            core::ptr::copy_nonoverlapping(src.add(done), dst.add(done), 8);
            done += 8;
        }
        if n & 4 != 0 {
            core::ptr::copy_nonoverlapping(src.add(done), dst.add(done), 4);
            done += 4;
        }
        if n & 2 != 0 {
            core::ptr::copy_nonoverlapping(src.add(done), dst.add(done), 2);
            done += 2;
        }
        if n & 1 != 0 {
            core::ptr::copy_nonoverlapping(src.add(done), dst.add(done), 1);
        }
    }
}

/// Views an initialised output slice as `MaybeUninit` so the ring can copy into it.
#[inline(always)]
pub(crate) fn as_uninit_mut<T: Copy>(out: &mut [T]) -> &mut [MaybeUninit<T>] {
    // SAFETY: `MaybeUninit<T>` has the layout of `T`. The ring only ever stores initialised
    // values (copies of published items) through the returned slice, so `out` stays initialised.
    unsafe { &mut *(out as *mut [T] as *mut [MaybeUninit<T>]) }
}

/// Takes the item out of a one-element buffer the ring filled.
///
/// # Safety
/// `slot` was written by a successful dequeue of one item.
#[inline(always)]
pub(crate) unsafe fn assume_filled<T: Copy>(slot: [MaybeUninit<T>; 1]) -> T {
    // SAFETY: the caller guarantees the dequeue initialised it.
    unsafe { slot[0].assume_init() }
}
