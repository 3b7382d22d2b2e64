//! AVX2 (8 lanes) and AVX-512 (16 lanes) gather lookups for the IPv4 table.
//!
//! Each step gathers the tbl24 entries of all lanes, then (under a mask of the extended
//! lanes only) the tbl8 entries, and turns invalid entries into [`crate::NO_ROUTE`].
//!
//! The gathers read the tables' `AtomicU32` entries with plain vector loads. Every element is an
//! aligned 4-byte load, which x86 performs single-copy atomically, so a concurrent writer's
//! `Release` store is seen either whole or not at all — the same guarantee the scalar `Relaxed`
//! loads give; the tbl8 gather depends on the tbl24 data through its addresses, so it is ordered
//! after it (x86 does not reorder loads with other loads).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::trie::{EXT, VALID};

/// The tables as raw pointers, for the gather kernels.
#[derive(Clone, Copy)]
pub(crate) struct RawTables {
    /// `2^24` entries.
    pub(crate) tbl24: *const u32,
    /// Every extended entry's `group * 256 + 255` indexes inside it.
    pub(crate) tbl8: *const u32,
    pub(crate) nh_mask: u32,
}

/// Looks up `ips.len() / 8 * 8` addresses 8 at a time; returns how many were done.
///
/// # Safety
/// The CPU supports AVX2, and `t` satisfies the `RawTables` field invariants.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn lookup_avx2(t: RawTables, ips: &[u32], out: &mut [u32]) -> usize {
    let n = ips.len().min(out.len()) / 8 * 8;
    let ext = _mm256_set1_epi32(EXT as i32);
    let valid = _mm256_set1_epi32(VALID as i32);
    let nh_mask = _mm256_set1_epi32(t.nh_mask as i32);
    let low8 = _mm256_set1_epi32(0xff);
    let miss = _mm256_set1_epi32(-1);
    let zero = _mm256_setzero_si256();
    let mut i = 0;
    while i < n {
        // SAFETY: `i + 8 <= n <= ips.len()`, unaligned load.
        let ip = unsafe { _mm256_loadu_si256(ips.as_ptr().add(i).cast()) };
        let idx24 = _mm256_srli_epi32::<8>(ip);
        // SAFETY: every index is `ip >> 8 < 2^24`, inside tbl24.
        let mut e = unsafe { _mm256_i32gather_epi32::<4>(t.tbl24.cast(), idx24) };
        let is_ext = _mm256_cmpgt_epi32(zero, e); // bit 31 set
        if _mm256_movemask_ps(_mm256_castsi256_ps(is_ext)) != 0 {
            let group = _mm256_andnot_si256(ext, e);
            let idx8 = _mm256_or_si256(_mm256_slli_epi32::<8>(group), _mm256_and_si256(ip, low8));
            // SAFETY: only extended lanes are gathered; their group indices are allocated
            // groups, so `group * 256 + (ip & 255)` is inside tbl8.
            e = unsafe { _mm256_mask_i32gather_epi32::<4>(e, t.tbl8.cast(), idx8, is_ext) };
        }
        let is_valid = _mm256_cmpeq_epi32(_mm256_and_si256(e, valid), valid);
        let nh = _mm256_and_si256(e, nh_mask);
        let r = _mm256_blendv_epi8(miss, nh, is_valid);
        // SAFETY: `i + 8 <= n <= out.len()`, unaligned store.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), r) };
        i += 8;
    }
    n
}

/// Looks up `ips.len() / 16 * 16` addresses 16 at a time; returns how many were done.
///
/// # Safety
/// The CPU supports AVX-512F, and `t` satisfies the `RawTables` field invariants.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn lookup_avx512(t: RawTables, ips: &[u32], out: &mut [u32]) -> usize {
    let n = ips.len().min(out.len()) / 16 * 16;
    let ext = _mm512_set1_epi32(EXT as i32);
    let valid = _mm512_set1_epi32(VALID as i32);
    let nh_mask = _mm512_set1_epi32(t.nh_mask as i32);
    let low8 = _mm512_set1_epi32(0xff);
    let miss = _mm512_set1_epi32(-1);
    let mut i = 0;
    while i < n {
        // SAFETY: `i + 16 <= n <= ips.len()`, unaligned load.
        let ip = unsafe { _mm512_loadu_si512(ips.as_ptr().add(i).cast()) };
        let idx24 = _mm512_srli_epi32::<8>(ip);
        // SAFETY: every index is `ip >> 8 < 2^24`, inside tbl24.
        let mut e = unsafe { _mm512_i32gather_epi32::<4>(idx24, t.tbl24.cast()) };
        let is_ext = _mm512_test_epi32_mask(e, ext);
        if is_ext != 0 {
            let group = _mm512_andnot_si512(ext, e);
            let idx8 = _mm512_or_si512(_mm512_slli_epi32::<8>(group), _mm512_and_si512(ip, low8));
            // SAFETY: only extended lanes are gathered; their group indices are allocated
            // groups, so `group * 256 + (ip & 255)` is inside tbl8.
            e = unsafe { _mm512_mask_i32gather_epi32::<4>(e, is_ext, idx8, t.tbl8.cast()) };
        }
        let is_valid = _mm512_test_epi32_mask(e, valid);
        let r = _mm512_mask_mov_epi32(miss, is_valid, _mm512_and_si512(e, nh_mask));
        // SAFETY: `i + 16 <= n <= out.len()`, unaligned store.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().add(i).cast(), r) };
        i += 16;
    }
    n
}
