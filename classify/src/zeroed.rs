//! Large zero-initialised arrays of atomics, backed by transparent huge pages where possible.
//!
//! Big lookup tables are read at random, so with 4 KiB pages nearly every lookup also misses
//! the TLB. Arrays of at least 2 MiB are therefore mapped fresh (kernel-zeroed, untouched),
//! aligned to 2 MiB and advised `MADV_HUGEPAGE` before first touch (a hint: without THP they
//! simply stay on 4 KiB pages). Smaller arrays (and all arrays under Miri) come from the global
//! allocator.

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::ops::Deref;
use std::ptr::NonNull;

#[cfg(all(target_os = "linux", not(miri)))]
const HUGE: usize = 2 << 20;

/// Types for which the all-zero bit pattern is a valid value and which need no `Drop`.
///
/// # Safety
/// Implementors must be valid when zeroed and must not implement `Drop` (nor contain
/// anything that does).
pub(crate) unsafe trait Zeroable: Sized {}

/// A fixed-length, zero-initialised, heap-allocated array.
pub(crate) struct ZeroedBuf<T: Zeroable> {
    ptr: NonNull<T>,
    len: usize,
    backing: Backing,
}

enum Backing {
    Heap(Layout),
    /// An anonymous mapping (start, length) that holds the array 2 MiB-aligned.
    #[cfg(all(target_os = "linux", not(miri)))]
    Mmap(*mut libc::c_void, usize),
}

// SAFETY: ZeroedBuf owns its elements like a Box<[T]>; it is Send/Sync exactly when T is.
unsafe impl<T: Zeroable + Send> Send for ZeroedBuf<T> {}
// SAFETY: as above; shared access only hands out &T.
unsafe impl<T: Zeroable + Sync> Sync for ZeroedBuf<T> {}

impl<T: Zeroable> ZeroedBuf<T> {
    /// Allocates `len` zeroed elements (aborts on allocation failure, like `Vec`).
    pub(crate) fn new(len: usize) -> Self {
        Self::with_align(len, std::mem::align_of::<T>())
    }

    /// Like [`ZeroedBuf::new`], with the array's start aligned to at least `align` bytes (a
    /// power of two), e.g. a cache line for an array whose elements are grouped in lines.
    pub(crate) fn with_align(len: usize, align: usize) -> Self {
        let len = len.max(1);
        let bytes = std::mem::size_of::<T>()
            .checked_mul(len)
            .expect("table size overflows usize");
        #[cfg(all(target_os = "linux", not(miri)))]
        if bytes >= HUGE
            && let Some(buf) = Self::mmap_huge(len, bytes)
        {
            return buf;
        }
        let layout = Layout::from_size_align(bytes, align.max(std::mem::align_of::<T>()))
            .expect("table layout");
        assert!(layout.size() > 0, "zero-sized table element");
        // SAFETY: layout.size() > 0 was just checked.
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
            handle_alloc_error(layout)
        };
        ZeroedBuf {
            ptr,
            len,
            backing: Backing::Heap(layout),
        }
    }

    /// Maps fresh zero pages (untouched, so the kernel can back them with huge pages once
    /// advised), with room to align the array to 2 MiB.
    #[cfg(all(target_os = "linux", not(miri)))]
    fn mmap_huge(len: usize, bytes: usize) -> Option<Self> {
        let map_len = bytes.checked_add(HUGE)?;
        // SAFETY: an anonymous private mapping at a kernel-chosen address; no existing memory
        // is affected. The result is checked for MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        let offset = (base as usize).next_multiple_of(HUGE) - base as usize;
        // SAFETY: offset < HUGE and map_len = bytes + HUGE, so the aligned start plus `bytes`
        // stays inside the mapping.
        let start = unsafe { base.cast::<u8>().add(offset) };
        // SAFETY: the range lies inside our own fresh mapping; MADV_HUGEPAGE changes only how
        // it is backed, not its (zero) contents. Failure is harmless and ignored.
        unsafe {
            libc::madvise(start.cast(), bytes, libc::MADV_HUGEPAGE);
        }
        Some(ZeroedBuf {
            ptr: NonNull::new(start.cast::<T>())?,
            len,
            backing: Backing::Mmap(base, map_len),
        })
    }
}
impl<T: Zeroable> Deref for ZeroedBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: ptr points to `len` zero-initialised elements, valid for T by the Zeroable
        // contract, owned by self and alive until Drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> Drop for ZeroedBuf<T> {
    fn drop(&mut self) {
        match self.backing {
            // SAFETY: allocated in `new` with exactly this layout; T needs no drop (Zeroable).
            Backing::Heap(layout) => unsafe { dealloc(self.ptr.as_ptr().cast(), layout) },
            #[cfg(all(target_os = "linux", not(miri)))]
            // SAFETY: unmaps exactly the mapping made in `mmap_huge`, which nothing else uses.
            Backing::Mmap(base, map_len) => unsafe {
                libc::munmap(base, map_len);
            },
        }
    }
}
