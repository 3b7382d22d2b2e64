//! Table memory: zeroed arrays of `AtomicU32` in 2 MiB hugepages when the system has them,
//! else in ordinary anonymous pages (with one warning), the `View` lookups read them through,
//! plus the prefetch helper.
//!
//! Mappings are populated (`MAP_POPULATE`) when created unless [`crate::LpmConfig::prefault`]
//! is off, as DPDK's hugepage memory is: the kernel allocates and zeroes every page then, so
//! neither a route update nor a lookup takes a page fault later (a fault on a 2 MiB page zeroes
//! 2 MiB, which would otherwise land on whichever add first touches it).
//!
//! This is the only module (with `simd`) that contains `unsafe`.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use memmap2::{MmapMut, MmapOptions};

use crate::LpmError;
use crate::trie::{TBL24_ENTRIES, Tables};

const HUGE_PAGE: usize = 2 << 20;

/// A zero-initialised, fixed-length array of `AtomicU32` backed by an anonymous mapping.
pub(crate) struct AtomicArray {
    map: MmapMut,
    len: usize,
    huge: bool,
}

impl AtomicArray {
    /// Maps `len` zeroed entries, in hugepages if possible, populated now if `prefault`.
    pub(crate) fn new(len: usize, hugepages: bool, prefault: bool) -> Result<Self, LpmError> {
        let bytes = len
            .checked_mul(4)
            .ok_or(LpmError::OutOfMemory { bytes: usize::MAX })?
            .max(4);
        let huge_bytes = bytes.div_ceil(HUGE_PAGE) * HUGE_PAGE;
        let huge = if hugepages {
            opts(prefault).len(huge_bytes).huge(Some(21)).map_anon()
        } else {
            Err(std::io::Error::other(
                "hugepages disabled by the configuration",
            ))
        };
        match huge {
            Ok(map) => Ok(Self {
                map,
                len,
                huge: true,
            }),
            Err(err) => {
                if hugepages {
                    log::warn!(
                        "lpm: no hugepages for a {bytes}-byte table ({err}); using 4 KiB pages"
                    );
                }
                let map = opts(prefault)
                    .len(bytes)
                    .map_anon()
                    .map_err(|_| LpmError::OutOfMemory { bytes })?;
                Ok(Self {
                    map,
                    len,
                    huge: false,
                })
            }
        }
    }

    /// The entries.
    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[AtomicU32] {
        // SAFETY: the mapping is at least `len * 4` bytes, page aligned (so aligned for
        // AtomicU32), zero-initialised by the kernel (a valid AtomicU32 bit pattern), and lives
        // as long as `self`. All access goes through atomics, so shared references are sound.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<AtomicU32>(), self.len) }
    }

    /// Bytes mapped.
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.map.len()
    }

    /// Whether the mapping uses 2 MiB hugepages.
    pub(crate) fn is_huge(&self) -> bool {
        self.huge
    }
}

/// A shared handle on a trie's tables that also keeps the addresses and lengths of its two
/// arrays, for the lookup fast path.
///
/// The tables hold atomics, so the compiler must assume anything read through them may change
/// at every `Acquire` entry load and reload the arrays' pointers and lengths for every lookup.
/// Kept here instead, in a field of the table or reader the lookups borrow immutably, they are
/// read once per loop of lookups and stay in registers (about a fifth of a single lookup's cost).
pub(crate) struct TablesRef {
    tables: Arc<Tables>,
    tbl24: NonNull<AtomicU32>,
    tbl24_len: usize,
    tbl8: NonNull<AtomicU32>,
    tbl8_len: usize,
}

// SAFETY: a TablesRef is an `Arc<Tables>` (Send + Sync) plus pointers into the mappings that the
// Arc keeps alive; through them it only hands out shared references to atomics, exactly what
// `&Tables` gives any thread.
unsafe impl Send for TablesRef {}
// SAFETY: as above.
unsafe impl Sync for TablesRef {}

impl TablesRef {
    pub(crate) fn new(tables: Arc<Tables>) -> Self {
        let (tbl24, tbl8) = (tables.tbl24.as_slice(), tables.tbl8.as_slice());
        Self {
            tbl24: NonNull::from(tbl24).cast(),
            tbl24_len: tbl24.len(),
            tbl8: NonNull::from(tbl8).cast(),
            tbl8_len: tbl8.len(),
            tables,
        }
    }

    /// A handle for a new reader thread, registered with the tables' QSBR state; returns
    /// it with the reader's slot. Errors: [`LpmError::TooManyReaders`].
    pub(crate) fn register_reader(tables: &Arc<Tables>) -> Result<(Self, usize), LpmError> {
        let handle = Self::new(Arc::clone(tables));
        let slot = tables.qsbr.register().ok_or(LpmError::TooManyReaders)?;
        Ok((handle, slot))
    }

    /// The shared tables (the QSBR state, the arrays).
    #[inline(always)]
    pub(crate) fn tables(&self) -> &Arc<Tables> {
        &self.tables
    }

    /// The first-level array (`tables().tbl24`).
    #[inline(always)]
    pub(crate) fn tbl24(&self) -> &[AtomicU32; TBL24_ENTRIES] {
        // SAFETY: the pointer and length were taken from `tables.tbl24.as_slice()`; that
        // mapping never moves and lives as long as the `Arc` this struct holds, so as long as
        // `self`.
        let tbl24 = unsafe { std::slice::from_raw_parts(self.tbl24.as_ptr(), self.tbl24_len) };
        // The trie always maps exactly 2^24 tbl24 entries; the array type lets lookups index
        // it with a 24-bit value without a bounds check.
        tbl24.try_into().unwrap_or_else(|_| unreachable_len())
    }

    /// The group array (`tables().tbl8`).
    #[inline(always)]
    pub(crate) fn tbl8(&self) -> &[AtomicU32] {
        // SAFETY: as in `tbl24`, for `tables.tbl8`.
        unsafe { std::slice::from_raw_parts(self.tbl8.as_ptr(), self.tbl8_len) }
    }
}

/// A borrowed view of a trie's tables for lookups, by addresses of type `A` (`u32` for
/// [`crate::Lpm4`], `[u8; 16]` for [`crate::Lpm6`]): each family's module implements its
/// lookups on its own `View<A>`, over the same two arrays.
#[derive(Clone, Copy)]
pub(crate) struct View<'a, A> {
    pub(crate) tbl24: &'a [AtomicU32; TBL24_ENTRIES],
    pub(crate) tbl8: &'a [AtomicU32],
    family: PhantomData<fn(A)>,
}

impl<'a, A> View<'a, A> {
    #[inline(always)]
    pub(crate) fn new(t: &'a TablesRef) -> Self {
        Self {
            tbl24: t.tbl24(),
            tbl8: t.tbl8(),
            family: PhantomData,
        }
    }
}

#[cold]
fn unreachable_len() -> ! {
    unreachable!("lpm: tbl24 is always 2^24 entries")
}

fn opts(prefault: bool) -> MmapOptions {
    let mut o = MmapOptions::new();
    if prefault {
        o.populate();
    }
    o
}

/// Hints the CPU to bring the cache line holding `entry` into L1.
#[inline(always)]
pub(crate) fn prefetch<T>(entry: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = (entry as *const T).cast::<i8>();
        // SAFETY: prefetch is only a hint; it never faults and `p` is a valid address. SSE is
        // part of the x86_64 baseline.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = entry;
    }
}

/// Stores `value` into every entry of `run`, each store with `Relaxed` semantics.
///
/// Long runs are written 16 bytes (4 entries) per instruction: on x86_64 CPUs with AVX, an
/// aligned 16-byte `MOVDQA` store is single-copy atomic as a whole (Intel SDM vol. 3A 9.1.1;
/// AMD APM vol. 1 3.9.1.3), so it is exactly four `Relaxed` atomic stores of aligned entries, and
/// concurrent atomic loads of any entry see it whole, before or after. (Written in `asm!` so the
/// compiler cannot split or merge it into something else.) Elsewhere, one atomic store per entry.
#[inline]
pub(crate) fn fill_relaxed(run: &[AtomicU32], value: u32) {
    use std::sync::atomic::Ordering::Relaxed;
    #[cfg(target_arch = "x86_64")]
    if run.len() >= 16 && std::arch::is_x86_feature_detected!("avx") {
        // Entries up to the first 16-byte boundary, then whole 16-byte chunks, then the rest.
        let misalign = (run.as_ptr() as usize / 4) % 4;
        let head = (4 - misalign) % 4;
        let (head, rest) = run.split_at(head);
        let (body, tail) = rest.split_at(rest.len() / 4 * 4);
        for slot in head.iter().chain(tail) {
            slot.store(value, Relaxed);
        }
        // SAFETY: SSE2 is part of the x86_64 baseline.
        let v = unsafe { std::arch::x86_64::_mm_set1_epi32(value as i32) };
        for chunk in body.chunks_exact(4) {
            let p = chunk.as_ptr();
            // SAFETY: `p` points to 4 live `AtomicU32`s (16 bytes) inside `run`, 16-byte aligned
            // by construction of `head`; the store is atomic per entry (see above), which is
            // all `AtomicU32` requires of concurrent access. It only writes memory.
            unsafe {
                std::arch::asm!(
                    "movdqa xmmword ptr [{p}], {v}",
                    p = in(reg) p,
                    v = in(xmm_reg) v,
                    options(nostack, preserves_flags)
                );
            }
        }
        return;
    }
    for slot in run {
        slot.store(value, Relaxed);
    }
}
