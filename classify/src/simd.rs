//! The SSE2 signature compare of the exact-match table's buckets (SSE2 is part of the x86_64
//! baseline, so no run-time detection is needed; other targets use a SWAR compare instead).

/// Bit `i` set when 16-bit lane `i` of the eight lanes `lo` (lanes 0..4) and `hi` (lanes 4..8)
/// equals `sig`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub(crate) fn eq_lanes16(lo: u64, hi: u64, sig: u16) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi16, _mm_movemask_epi8, _mm_packs_epi16, _mm_set_epi64x, _mm_set1_epi16,
        _mm_setzero_si128,
    };
    // SAFETY: these intrinsics need SSE2, which the cfg above guarantees the target has; they
    // work on values only (no memory access).
    unsafe {
        let lanes = _mm_set_epi64x(hi as i64, lo as i64);
        let eq = _mm_cmpeq_epi16(lanes, _mm_set1_epi16(sig as i16));
        // Equal lanes (0xffff) saturate to 0xff bytes, others stay zero: one bit per lane.
        (_mm_movemask_epi8(_mm_packs_epi16(eq, _mm_setzero_si128())) as u32) & 0xff
    }
}
