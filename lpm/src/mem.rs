//! Table memory: zeroed arrays of `AtomicU32` in 2 MiB hugepages when the system has them,
//! else in ordinary anonymous pages (with one warning), plus the prefetch helper.
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
    /// Maps `len` zeroed entries, in hugepages if possible.
    pub(crate) fn new(len: usize, hugepages: bool) -> Result<Self, LpmError> {
        let bytes = len
            .checked_mul(4)
            .ok_or(LpmError::OutOfMemory { bytes: usize::MAX })?
            .max(4);
        let huge_bytes = bytes.div_ceil(HUGE_PAGE) * HUGE_PAGE;
        let huge = if hugepages {
            MmapOptions::new().len(huge_bytes).huge(Some(21)).map_anon()
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
                let map = MmapOptions::new()
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

/// Hints the CPU to bring the cache line holding `entry` into L1.
#[inline(always)]
pub(crate) fn prefetch(entry: &AtomicU32) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = (entry as *const AtomicU32).cast::<i8>();
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
