//! Table memory: zeroed arrays of `AtomicU32` in 2 MiB hugepages when the system has them,
//! else in ordinary anonymous pages (with one warning), plus the prefetch helper.
//!
//! Mappings are populated (`MAP_POPULATE`) when created unless [`crate::LpmConfig::prefault`]
//! is off, as DPDK's hugepage memory is: the kernel allocates and zeroes every page then, so
//! neither a route update nor a lookup takes a page fault later (a fault on a 2 MiB page zeroes
//! 2 MiB, which would otherwise land on whichever add first touches it).
//!
//! This is the only module (with `simd`) that contains `unsafe`.

use std::sync::atomic::AtomicU32;

use memmap2::{MmapMut, MmapOptions};

use crate::LpmError;

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

    /// The entries as a fixed-size array (lets the compiler drop bounds checks on
    /// indices that are provably `< N`). `None` when the length is not `N`.
    #[inline(always)]
    pub(crate) fn as_array<const N: usize>(&self) -> Option<&[AtomicU32; N]> {
        self.as_slice().try_into().ok()
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
