//! [`HugeRegion`]: one contiguous memory mapping cut into fixed-size chunks.
//!
//! The mapping is anonymous (no hugetlbfs file is ever created, so none can be left behind),
//! backed by 2 MiB pages (`MAP_HUGETLB`) when they can be had, else by 4 KiB pages with a single
//! warning per process. Pages are populated at creation (`MAP_POPULATE`) so that the fast path
//! never takes a page fault; `mlock` is optional. Chunk `i` starts at byte `i * chunk_size`, so
//! the region can be registered as one AF_XDP UMEM and a chunk's offset converts to its index
//! and back with a multiplication.
//!
//! Under Miri (which cannot `mmap`) the memory comes from the global allocator instead.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::RegionError;

/// 2 MiB: the hugepage size used.
pub const HUGEPAGE_SIZE: usize = 2 << 20;

/// Whether a region uses hugepages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HugePolicy {
    /// Try 2 MiB hugepages; fall back to 4 KiB pages with one warning.
    #[default]
    Auto,
    /// 2 MiB hugepages or an error.
    Require,
    /// 4 KiB pages only.
    Never,
}

/// How to build a [`HugeRegion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionConfig {
    /// Bytes per chunk: a non-zero multiple of 64.
    pub chunk_size: usize,
    /// Number of chunks.
    pub chunk_count: usize,
    /// Hugepages or not.
    pub policy: HugePolicy,
    /// Require `chunk_size` to be a power of two (AF_XDP aligned-chunk UMEM).
    pub power_of_two: bool,
    /// `mlock` the region (fails if RLIMIT_MEMLOCK is too low).
    pub lock: bool,
}

impl RegionConfig {
    /// `chunk_count` chunks of `chunk_size` bytes, [`HugePolicy::Auto`], no other requirement.
    pub fn new(chunk_size: usize, chunk_count: usize) -> Self {
        RegionConfig {
            chunk_size,
            chunk_count,
            policy: HugePolicy::Auto,
            power_of_two: false,
            lock: false,
        }
    }
}

/// A contiguous, zero-filled, pre-faulted memory region of `chunk_count` chunks of `chunk_size`
/// bytes. It owns the memory and unmaps it on drop; it hands out raw pointers only (the mempool
/// and drivers decide who may access which chunk).
pub struct HugeRegion {
    base: NonNull<u8>,
    len: usize,
    mapped_len: usize,
    chunk_size: usize,
    chunk_count: usize,
    hugepages: bool,
    _backing: backing::Backing,
}

// SAFETY: the region is plain memory owned by this value; it exposes only raw pointers, and
// every user coordinates its accesses to chunks itself.
unsafe impl Send for HugeRegion {}
// SAFETY: as above: `&HugeRegion` gives no access to the memory except raw pointers.
unsafe impl Sync for HugeRegion {}

static WARNED_NO_HUGEPAGES: AtomicBool = AtomicBool::new(false);

impl HugeRegion {
    /// Maps a region as described by `cfg`.
    pub fn new(cfg: &RegionConfig) -> Result<Self, RegionError> {
        if cfg.chunk_size == 0 || cfg.chunk_size % 64 != 0 {
            return Err(RegionError::BadChunkSize(cfg.chunk_size));
        }
        if cfg.power_of_two && !cfg.chunk_size.is_power_of_two() {
            return Err(RegionError::ChunkSizeNotPowerOfTwo(cfg.chunk_size));
        }
        if cfg.chunk_count == 0 {
            return Err(RegionError::NoChunks);
        }
        let too_large = || RegionError::TooLarge {
            chunk_size: cfg.chunk_size,
            chunk_count: cfg.chunk_count,
        };
        let len = cfg
            .chunk_size
            .checked_mul(cfg.chunk_count)
            .ok_or_else(too_large)?;
        if len > isize::MAX as usize / 2 {
            return Err(too_large());
        }
        let (backing, hugepages) = map(len, cfg.policy)?;
        let page = if hugepages { HUGEPAGE_SIZE } else { 4096 };
        let mapped_len = len.div_ceil(page) * page;
        if cfg.lock {
            backing
                .lock()
                .map_err(|source| RegionError::LockFailed { len, source })?;
        }
        let base = backing.base;
        Ok(HugeRegion {
            base,
            len,
            mapped_len,
            chunk_size: cfg.chunk_size,
            chunk_count: cfg.chunk_count,
            hugepages,
            _backing: backing,
        })
    }

    /// Start of the region.
    #[inline]
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Usable length in bytes: `chunk_size * chunk_count` (the mapping may be rounded up).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Length of the mapping: [`len`](Self::len) rounded up to the page size (2 MiB or 4 KiB),
    /// all of it valid memory (e.g. for a UMEM registration that wants whole pages).
    #[inline]
    pub fn mapped_len(&self) -> usize {
        self.mapped_len
    }

    /// Never true: a region has at least one chunk.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes per chunk.
    #[inline]
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Number of chunks.
    #[inline]
    pub fn chunk_count(&self) -> usize {
        self.chunk_count
    }

    /// Whether the region is backed by 2 MiB hugepages.
    pub fn is_hugepage_backed(&self) -> bool {
        self.hugepages
    }

    /// Byte offset of chunk `index` from [`base`](Self::base), or `None` if out of range.
    #[inline]
    pub fn offset_of(&self, index: u32) -> Option<usize> {
        ((index as usize) < self.chunk_count).then(|| index as usize * self.chunk_size)
    }

    /// Index of the chunk holding byte `offset` (any byte of the chunk), or `None` if out of range.
    #[inline]
    pub fn index_of(&self, offset: usize) -> Option<u32> {
        (offset < self.len).then(|| (offset / self.chunk_size) as u32)
    }

    /// Pointer to the start of chunk `index`; the caller has checked `index < chunk_count`.
    #[inline]
    pub(crate) fn chunk_ptr(&self, index: u32) -> *mut u8 {
        debug_assert!((index as usize) < self.chunk_count);
        self.base
            .as_ptr()
            .wrapping_add(index as usize * self.chunk_size)
    }
}

impl std::fmt::Debug for HugeRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HugeRegion")
            .field("base", &self.base)
            .field("len", &self.len)
            .field("chunk_size", &self.chunk_size)
            .field("chunk_count", &self.chunk_count)
            .field("hugepages", &self.hugepages)
            .finish()
    }
}

#[cfg(not(miri))]
fn map(len: usize, policy: HugePolicy) -> Result<(backing::Backing, bool), RegionError> {
    let huge_err = match policy {
        HugePolicy::Never => "not tried (HugePolicy::Never)".to_string(),
        HugePolicy::Auto | HugePolicy::Require => {
            let huge_len = len.div_ceil(HUGEPAGE_SIZE) * HUGEPAGE_SIZE;
            match backing::Backing::map(huge_len, true) {
                Ok(b) => return Ok((b, true)),
                Err(e) if policy == HugePolicy::Require => {
                    return Err(RegionError::HugepagesUnavailable {
                        len: huge_len,
                        source: e,
                    });
                }
                Err(e) => e.to_string(),
            }
        }
    };
    match backing::Backing::map(len, false) {
        Ok(b) => {
            if policy == HugePolicy::Auto && !WARNED_NO_HUGEPAGES.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "no 2 MiB hugepages available ({huge_err}); using 4 KiB pages (slower: more TLB misses). \
                     Reserve some with `echo 1024 > /proc/sys/vm/nr_hugepages`"
                );
            }
            Ok((b, false))
        }
        Err(small) => Err(RegionError::MapFailed {
            len,
            huge: huge_err,
            small,
        }),
    }
}

#[cfg(miri)]
fn map(len: usize, policy: HugePolicy) -> Result<(backing::Backing, bool), RegionError> {
    if policy == HugePolicy::Require {
        return Err(RegionError::HugepagesUnavailable {
            len,
            source: std::io::Error::new(std::io::ErrorKind::Unsupported, "no hugepages under Miri"),
        });
    }
    if policy == HugePolicy::Auto && !WARNED_NO_HUGEPAGES.swap(true, Ordering::Relaxed) {
        log::warn!("Miri: region on the heap instead of hugepages");
    }
    // Whole 4 KiB pages, as mmap would give (`mapped_len`).
    backing::Backing::map(len.div_ceil(4096) * 4096, false)
        .map(|b| (b, false))
        .map_err(|small| RegionError::MapFailed {
            len,
            huge: "not under Miri".into(),
            small,
        })
}

#[cfg(not(miri))]
mod backing {
    //! The mapping itself: memmap2 anonymous mappings.
    use std::io;
    use std::ptr::NonNull;

    use memmap2::{MmapMut, MmapOptions};

    pub(super) struct Backing {
        /// Start of the mapping, taken once through `as_mut_ptr` (write provenance).
        pub(super) base: NonNull<u8>,
        map: MmapMut,
    }

    impl Backing {
        pub(super) fn map(len: usize, huge: bool) -> io::Result<Backing> {
            let mut opts = MmapOptions::new();
            opts.len(len).populate();
            if huge {
                opts.huge(Some(21));
            }
            let mut map = opts.map_anon()?;
            let base = NonNull::new(map.as_mut_ptr())
                .ok_or_else(|| io::Error::other("mmap returned address 0"))?;
            Ok(Backing { base, map })
        }

        pub(super) fn lock(&self) -> io::Result<()> {
            self.map.lock()
        }
    }
}

#[cfg(miri)]
mod backing {
    //! Under Miri: zeroed memory from the global allocator, page-aligned.
    use std::alloc::{Layout, alloc_zeroed, dealloc};
    use std::io;
    use std::ptr::NonNull;

    pub(super) struct Backing {
        pub(super) base: NonNull<u8>,
        layout: Layout,
    }

    impl Backing {
        pub(super) fn map(len: usize, _huge: bool) -> io::Result<Backing> {
            let layout =
                Layout::from_size_align(len, 4096).map_err(|e| io::Error::other(e.to_string()))?;
            // SAFETY: `layout` has a non-zero size (the caller checked len > 0).
            let ptr = unsafe { alloc_zeroed(layout) };
            let ptr =
                NonNull::new(ptr).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
            Ok(Backing { base: ptr, layout })
        }

        pub(super) fn lock(&self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Drop for Backing {
        fn drop(&mut self) {
            // SAFETY: allocated in `map` with this layout, freed once.
            unsafe { dealloc(self.base.as_ptr(), self.layout) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_chunk_sizes() {
        assert!(matches!(
            HugeRegion::new(&RegionConfig::new(0, 4)),
            Err(RegionError::BadChunkSize(0))
        ));
        assert!(matches!(
            HugeRegion::new(&RegionConfig::new(100, 4)),
            Err(RegionError::BadChunkSize(100))
        ));
        let cfg = RegionConfig {
            power_of_two: true,
            ..RegionConfig::new(192, 4)
        };
        assert!(matches!(
            HugeRegion::new(&cfg),
            Err(RegionError::ChunkSizeNotPowerOfTwo(192))
        ));
        assert!(matches!(
            HugeRegion::new(&RegionConfig::new(64, 0)),
            Err(RegionError::NoChunks)
        ));
        assert!(matches!(
            HugeRegion::new(&RegionConfig::new(1 << 20, usize::MAX / 1024)),
            Err(RegionError::TooLarge { .. })
        ));
    }

    #[test]
    fn offsets_and_indices_round_trip() {
        let cfg = RegionConfig {
            policy: HugePolicy::Never,
            ..RegionConfig::new(192, 10)
        };
        let r = HugeRegion::new(&cfg).unwrap();
        assert_eq!(r.len(), 1920);
        assert_eq!(r.mapped_len(), 4096);
        assert!(!r.is_empty());
        assert_eq!(r.base() as usize % 4096, 0);
        for i in 0..10u32 {
            let off = r.offset_of(i).unwrap();
            assert_eq!(off, i as usize * 192);
            assert_eq!(r.index_of(off), Some(i));
            assert_eq!(r.index_of(off + 191), Some(i));
        }
        assert_eq!(r.offset_of(10), None);
        assert_eq!(r.index_of(1920), None);
        assert!(!r.is_hugepage_backed());
    }

    #[test]
    fn memory_is_zeroed_and_writable() {
        let cfg = RegionConfig {
            policy: HugePolicy::Never,
            ..RegionConfig::new(64, 16)
        };
        let r = HugeRegion::new(&cfg).unwrap();
        // SAFETY: the region is 1024 bytes owned by this test and nobody else touches it.
        let mem = unsafe { std::slice::from_raw_parts_mut(r.base(), r.len()) };
        assert!(mem.iter().all(|&b| b == 0));
        mem[1023] = 7;
        assert_eq!(mem[1023], 7);
    }

    #[cfg(not(miri))]
    #[test]
    fn mlock_locks_or_says_why() {
        let cfg = RegionConfig {
            policy: HugePolicy::Never,
            lock: true,
            ..RegionConfig::new(4096, 4)
        };
        match HugeRegion::new(&cfg) {
            Ok(r) => assert_eq!(r.len(), 16384),
            Err(e) => {
                assert!(
                    matches!(e, RegionError::LockFailed { len: 16384, .. }),
                    "{e}"
                );
                assert!(e.to_string().contains("16384"));
            }
        }
    }

    #[cfg(not(miri))]
    #[test]
    fn hugepages_when_reserved() {
        let cfg = RegionConfig {
            policy: HugePolicy::Auto,
            ..RegionConfig::new(2048, 1024)
        };
        let r = HugeRegion::new(&cfg).unwrap();
        let huge_free = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("HugePages_Free:"))
                    .map(str::to_owned)
            })
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0);
        if r.is_hugepage_backed() {
            assert_eq!(
                r.base() as usize % HUGEPAGE_SIZE,
                0,
                "hugepage mapping is 2 MiB aligned"
            );
        } else {
            eprintln!(
                "hugepages_when_reserved: 4 KiB fallback (HugePages_Free before: {huge_free})"
            );
        }
        let required = RegionConfig {
            policy: HugePolicy::Require,
            ..cfg
        };
        match HugeRegion::new(&required) {
            Ok(r2) => assert!(r2.is_hugepage_backed()),
            Err(e) => {
                assert!(matches!(e, RegionError::HugepagesUnavailable { .. }));
                assert!(e.to_string().contains("hugepages"));
                // CI reserves hugepages (scripts/setup.sh): there, the hugepage path must work.
                assert!(
                    std::env::var("FERROPLANE_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
                    "FERROPLANE_REQUIRE_PRIVILEGED=1 but no hugepages: {e}"
                );
                eprintln!("hugepages_when_reserved: skipped the hugepage check: {e}");
            }
        }
    }
}
