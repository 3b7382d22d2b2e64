//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! All values at this API are *numeric* 16-bit values in the sense of the protocol (what you get
//! from `u16::from_be_bytes` on the wire bytes); write them with `to_be_bytes`.
//!
//! The sum is computed in native byte order on wide words and swapped once at the end, which
//! RFC 1071 section 2(B) allows: the one's-complement sum is independent of byte order.
//! On x86-64 the main loop is SSE2 (baseline) or AVX2 (picked at run time): 64 or 128 bytes per
//! iteration, the 16-bit halves of each 32-bit lane added into 32-bit lanes (no carries to
//! propagate until the final fold). Elsewhere a portable loop adds 32-bit words into `u64`s.
//!
//! Pseudo-header sums for TCP/UDP/ICMPv6 over IPv4 and IPv6 are in [`pseudo_header_v4`] and
//! [`pseudo_header_v6`]; combine partial sums with [`Checksum`]. Whole upper-layer messages
//! are checksummed with [`upper_layer_v4`] and [`upper_layer_v6`] and checked with
//! [`verify_upper_layer_v4`] and [`verify_upper_layer_v6`].

use std::net::{Ipv4Addr, Ipv6Addr};

/// Bytes summed between folds: every 32-bit lane takes at most two 16-bit values per 64 bytes
/// (128 with AVX2), so a 1 MiB block adds at most 32768 values to a lane and cannot overflow.
const FOLD_BLOCK: usize = 1 << 20;

/// Folds a 64-bit one's-complement accumulator to 16 bits (end-around carry).
#[inline(always)]
pub const fn fold(mut sum: u64) -> u16 {
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

#[inline(always)]
fn load_u32(b: &[u8], at: usize) -> u64 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as u64
}

/// Portable sum of `data` as native-endian 16-bit words, unfolded: 32-bit loads into `u64`
/// accumulators. Used for short tails and on targets without the SIMD kernels.
#[inline(always)]
fn sum_native_scalar(data: &[u8]) -> u64 {
    let (mut a0, mut a1) = (0u64, 0u64);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        a0 += load_u32(c, 0);
        a1 += load_u32(c, 4);
    }
    let rest = chunks.remainder();
    let mut words = rest.chunks_exact(4);
    for w in &mut words {
        a0 += load_u32(w, 0);
    }
    let t = match *words.remainder() {
        [a, b, c] => u32::from_ne_bytes([a, b, c, 0]),
        [a, b] => u32::from_ne_bytes([a, b, 0, 0]),
        [a] => u32::from_ne_bytes([a, 0, 0, 0]),
        _ => 0,
    };
    a0 + a1 + t as u64
}

/// SIMD kernels: each 32-bit lane of a vector load is split into its two 16-bit halves (AND
/// and shift), which are added into 32-bit lanes; no carries to track until the final fold.
/// SSE2 is part of the x86-64 baseline; AVX2 is picked at run time when the CPU has it.
#[cfg(target_arch = "x86_64")]
mod simd {
    use core::arch::x86_64::*;
    use std::sync::atomic::{AtomicU8, Ordering};

    /// Adds the sixteen `u32` lanes of four vectors into a `u64`.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn lanes_sum(v: [__m128i; 4]) -> u64 {
        let mut out = [0u32; 16];
        for (i, x) in v.iter().enumerate() {
            // SAFETY: `out[4 * i..]` holds 16 writable bytes (i < 4); unaligned store.
            unsafe { _mm_storeu_si128(out.as_mut_ptr().add(4 * i) as *mut __m128i, *x) };
        }
        out.iter().map(|&x| x as u64).sum()
    }

    /// SSE2 kernel over at most `FOLD_BLOCK` bytes.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn block_sse2(data: &[u8]) -> u64 {
        let mask = _mm_set1_epi32(0xffff);
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm_setzero_si128(),
            _mm_setzero_si128(),
            _mm_setzero_si128(),
            _mm_setzero_si128(),
        );
        let mut chunks = data.chunks_exact(64);
        for c in &mut chunks {
            let p = c.as_ptr() as *const __m128i;
            // SAFETY: `c` is exactly 64 bytes, so the four unaligned 16-byte loads at
            // p, p+1, p+2, p+3 stay inside it.
            let (v0, v1, v2, v3) = unsafe {
                (
                    _mm_loadu_si128(p),
                    _mm_loadu_si128(p.add(1)),
                    _mm_loadu_si128(p.add(2)),
                    _mm_loadu_si128(p.add(3)),
                )
            };
            a0 = _mm_add_epi32(a0, _mm_and_si128(v0, mask));
            a1 = _mm_add_epi32(a1, _mm_srli_epi32(v0, 16));
            a2 = _mm_add_epi32(a2, _mm_and_si128(v1, mask));
            a3 = _mm_add_epi32(a3, _mm_srli_epi32(v1, 16));
            a0 = _mm_add_epi32(a0, _mm_and_si128(v2, mask));
            a1 = _mm_add_epi32(a1, _mm_srli_epi32(v2, 16));
            a2 = _mm_add_epi32(a2, _mm_and_si128(v3, mask));
            a3 = _mm_add_epi32(a3, _mm_srli_epi32(v3, 16));
        }
        let mut rest = chunks.remainder().chunks_exact(16);
        for c in &mut rest {
            // SAFETY: `c` is exactly 16 bytes.
            let v = unsafe { _mm_loadu_si128(c.as_ptr() as *const __m128i) };
            a0 = _mm_add_epi32(a0, _mm_and_si128(v, mask));
            a1 = _mm_add_epi32(a1, _mm_srli_epi32(v, 16));
        }
        lanes_sum([a0, a1, a2, a3]) + super::sum_native_scalar(rest.remainder())
    }

    /// AVX2 kernel over at most `FOLD_BLOCK` bytes.
    #[target_feature(enable = "avx2")]
    fn block_avx2(data: &[u8]) -> u64 {
        let mask = _mm256_set1_epi32(0xffff);
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
        );
        let mut chunks = data.chunks_exact(128);
        for c in &mut chunks {
            let p = c.as_ptr() as *const __m256i;
            // SAFETY: `c` is exactly 128 bytes, so the four unaligned 32-byte loads stay
            // inside it.
            let (v0, v1, v2, v3) = unsafe {
                (
                    _mm256_loadu_si256(p),
                    _mm256_loadu_si256(p.add(1)),
                    _mm256_loadu_si256(p.add(2)),
                    _mm256_loadu_si256(p.add(3)),
                )
            };
            a0 = _mm256_add_epi32(a0, _mm256_and_si256(v0, mask));
            a1 = _mm256_add_epi32(a1, _mm256_srli_epi32(v0, 16));
            a2 = _mm256_add_epi32(a2, _mm256_and_si256(v1, mask));
            a3 = _mm256_add_epi32(a3, _mm256_srli_epi32(v1, 16));
            a0 = _mm256_add_epi32(a0, _mm256_and_si256(v2, mask));
            a1 = _mm256_add_epi32(a1, _mm256_srli_epi32(v2, 16));
            a2 = _mm256_add_epi32(a2, _mm256_and_si256(v3, mask));
            a3 = _mm256_add_epi32(a3, _mm256_srli_epi32(v3, 16));
        }
        let s0 = _mm256_add_epi32(a0, a2);
        let s1 = _mm256_add_epi32(a1, a3);
        // Lanes are below 2^31 here (at most 2 * 8192 values per lane), so adding pairs is safe.
        let parts = [
            _mm256_castsi256_si128(s0),
            _mm256_extracti128_si256(s0, 1),
            _mm256_castsi256_si128(s1),
            _mm256_extracti128_si256(s1, 1),
        ];
        lanes_sum(parts) + block_sse2(chunks.remainder())
    }

    /// 0 = unknown, 1 = SSE2 only, 2 = AVX2.
    static LEVEL: AtomicU8 = AtomicU8::new(0);

    #[cold]
    fn detect() -> u8 {
        let l = if std::arch::is_x86_feature_detected!("avx2") {
            2
        } else {
            1
        };
        LEVEL.store(l, Ordering::Relaxed);
        l
    }

    /// Sum of `data` (at most `FOLD_BLOCK` bytes), unfolded.
    #[inline(always)]
    pub(super) fn block(data: &[u8]) -> u64 {
        if data.len() < 256 {
            // SAFETY: SSE2 is part of the x86-64 baseline, so every x86-64 CPU has it.
            return unsafe { block_sse2(data) };
        }
        let l = match LEVEL.load(Ordering::Relaxed) {
            0 => detect(),
            l => l,
        };
        if l == 2 {
            // SAFETY: level 2 is stored only after `is_x86_feature_detected!("avx2")` returned
            // true on this CPU, the one precondition of calling an avx2 function.
            unsafe { block_avx2(data) }
        } else {
            // SAFETY: SSE2 is part of the x86-64 baseline.
            unsafe { block_sse2(data) }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod simd {
    #[inline(always)]
    pub(super) fn block(data: &[u8]) -> u64 {
        super::sum_native_scalar(data)
    }
}

/// One's-complement sum of `data` as big-endian 16-bit words (an odd last byte is padded with
/// zero), folded to 16 bits but *not* complemented. `0` only for all-zero data.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    let folded = if data.len() <= FOLD_BLOCK {
        fold(simd::block(data))
    } else {
        let mut acc = 0u64;
        for block in data.chunks(FOLD_BLOCK) {
            // Blocks are even-sized, so word alignment carries over from block to block.
            acc += fold(simd::block(block)) as u64;
        }
        fold(acc)
    };
    u16::from_be(folded)
}

/// The Internet checksum of `data`: the complement of [`sum`], the value a header carries.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// `true` when `data`, checksum field included, sums to `0xffff` (a valid checksum).
#[inline]
pub fn verify(data: &[u8]) -> bool {
    sum(data) == 0xffff
}

/// A running one's-complement sum over pieces (pseudo-header, header, payload).
///
/// Every piece but the last must have even length, since pieces are summed as if contiguous on
/// a 16-bit boundary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum(u64);

impl Checksum {
    /// An empty sum.
    #[inline]
    pub const fn new() -> Self {
        Checksum(0)
    }
    /// Adds bytes (see the type's note on odd lengths).
    #[inline]
    pub fn add_bytes(&mut self, data: &[u8]) -> &mut Self {
        self.0 += sum(data) as u64;
        self
    }
    /// Adds one 16-bit word.
    #[inline]
    pub fn add_u16(&mut self, v: u16) -> &mut Self {
        self.0 += v as u64;
        self
    }
    /// Adds a 32-bit value as two 16-bit words.
    #[inline]
    pub fn add_u32(&mut self, v: u32) -> &mut Self {
        self.0 += (v >> 16) as u64 + (v & 0xffff) as u64;
        self
    }
    /// Adds a folded partial sum such as [`pseudo_header_v4`].
    #[inline]
    pub fn add_sum(&mut self, partial: u16) -> &mut Self {
        self.0 += partial as u64;
        self
    }
    /// The folded, uncomplemented sum.
    #[inline]
    pub fn sum(&self) -> u16 {
        fold(self.0)
    }
    /// The checksum (complement of the sum).
    #[inline]
    pub fn finish(&self) -> u16 {
        !self.sum()
    }
}

/// Folded sum of the IPv4 pseudo-header (RFC 768/793): addresses, protocol, upper-layer length.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> u16 {
    let mut c = Checksum::new();
    c.add_u32(src.to_bits())
        .add_u32(dst.to_bits())
        .add_u16(protocol as u16)
        .add_u16(len);
    c.sum()
}

/// Folded sum of the IPv6 pseudo-header (RFC 8200 8.1).
#[inline]
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u16 {
    let s = src.to_bits();
    let d = dst.to_bits();
    let mut c = Checksum::new();
    for x in [s, d] {
        c.add_u32((x >> 96) as u32)
            .add_u32((x >> 64) as u32)
            .add_u32((x >> 32) as u32)
            .add_u32(x as u32);
    }
    c.add_u32(len).add_u16(next_header as u16);
    c.sum()
}

/// Running sum of the IPv4 pseudo-header and `data` (an upper-layer message).
#[inline]
fn upper_layer_sum_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, data: &[u8]) -> Checksum {
    let mut c = Checksum::new();
    c.add_sum(pseudo_header_v4(src, dst, protocol, data.len() as u16))
        .add_bytes(data);
    c
}

/// Running sum of the IPv6 pseudo-header and `data` (an upper-layer message).
#[inline]
fn upper_layer_sum_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, data: &[u8]) -> Checksum {
    let mut c = Checksum::new();
    c.add_sum(pseudo_header_v6(src, dst, next_header, data.len() as u32))
        .add_bytes(data);
    c
}

/// Checksum of an upper-layer message (`data`, checksum field zeroed) over IPv4.
#[inline]
pub fn upper_layer_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, data: &[u8]) -> u16 {
    upper_layer_sum_v4(src, dst, protocol, data).finish()
}

/// Checksum of an upper-layer message (`data`, checksum field zeroed) over IPv6.
#[inline]
pub fn upper_layer_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, data: &[u8]) -> u16 {
    upper_layer_sum_v6(src, dst, next_header, data).finish()
}

/// `true` when an upper-layer message (`data`, checksum field included) has a valid checksum
/// over IPv4: with the pseudo-header it sums to `0xffff`.
#[inline]
pub fn verify_upper_layer_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, data: &[u8]) -> bool {
    upper_layer_sum_v4(src, dst, protocol, data).sum() == 0xffff
}

/// [`verify_upper_layer_v4`] over IPv6.
#[inline]
pub fn verify_upper_layer_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, data: &[u8]) -> bool {
    upper_layer_sum_v6(src, dst, next_header, data).sum() == 0xffff
}

/// RFC 1624 eqn. 3: the checksum after one 16-bit word covered by `hc` changes from `old` to
/// `new`: `HC' = ~(~HC + ~m + m')`. Unlike eqn. 2 it agrees with a full recomputation when the
/// result is `0x0000`. The one case it cannot see is data that becomes all zeros (full
/// recomputation gives `0xffff`, this gives the equivalent `0x0000`); no IP, TCP, UDP or ICMP
/// header can be all zeros with its pseudo-header.
#[inline]
pub const fn update_u16(hc: u16, old: u16, new: u16) -> u16 {
    !fold((!hc) as u64 + (!old) as u64 + new as u64)
}

/// [`update_u16`] for a 32-bit field (e.g. an IPv4 address or a TCP sequence number).
#[inline]
pub const fn update_u32(hc: u16, old: u32, new: u32) -> u16 {
    let s = (!hc) as u64
        + (!(old >> 16) & 0xffff) as u64
        + (!old & 0xffff) as u64
        + (new >> 16) as u64
        + (new & 0xffff) as u64;
    !fold(s)
}

/// [`update_u16`] for a rewritten byte range (e.g. an IPv6 address) of equal length.
///
/// `odd` says whether the range starts at an odd offset from the start of the checksummed data
/// (then its bytes sit in the low halves of the 16-bit words). Returns `hc` unchanged if the
/// lengths differ.
#[inline]
pub fn update_bytes(hc: u16, old: &[u8], new: &[u8], odd: bool) -> u16 {
    if old.len() != new.len() {
        return hc;
    }
    // Sum of ~old == complement of sum(old) in one's complement arithmetic.
    let mut delta = fold((!sum(old)) as u64 + sum(new) as u64);
    if odd {
        delta = delta.swap_bytes();
    }
    !fold((!hc) as u64 + delta as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte-by-byte reference (RFC 1071 section 4.1 style).
    fn reference_sum(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            s += u16::from_be_bytes([data[i], data[i + 1]]) as u32;
            s = (s & 0xffff) + (s >> 16);
            i += 2;
        }
        if i < data.len() {
            s += (data[i] as u32) << 8;
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn random_bytes(state: &mut u64, len: usize) -> Vec<u8> {
        (0..len).map(|_| xorshift(state) as u8).collect()
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: sum of 0001 f203 f4f5 f6f7 is ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&d), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }

    #[test]
    fn matches_reference_for_all_lengths_and_alignments() {
        let mut st = 0x1234_5678_9abc_def1;
        let buf = random_bytes(&mut st, 2200);
        for off in 0..8 {
            for len in 0..600 {
                let d = &buf[off..off + len];
                assert_eq!(sum(d), reference_sum(d), "off {off} len {len}");
            }
        }
        let d = &buf[3..3 + 2100];
        assert_eq!(sum(d), reference_sum(d));
        // Past one fold block, with an odd start.
        let big = random_bytes(&mut st, FOLD_BLOCK * 2 + 99);
        assert_eq!(sum(&big[1..]), reference_sum(&big[1..]));
        assert_eq!(sum(&vec![0xffu8; FOLD_BLOCK + 2]), 0xffff);
        for n in [0, 15, 16, 100, 255, 256, 1001, 4097] {
            assert_eq!(
                fold(sum_native_scalar(&big[..n])),
                fold(simd::block(&big[..n])),
                "{n}"
            );
        }
    }

    #[test]
    fn all_ones_and_zero_data() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0u8; 64]), 0);
        assert_eq!(sum(&[0xffu8; 1500]), 0xffff);
        assert_eq!(sum(&[0xffu8; 1501]), reference_sum(&[0xffu8; 1501]));
    }

    #[test]
    fn verify_accepts_inserted_checksum() {
        let mut st = 99;
        for len in [20usize, 21, 60, 1500] {
            let mut d = random_bytes(&mut st, len);
            d[10] = 0;
            d[11] = 0;
            let c = checksum(&d);
            d[10..12].copy_from_slice(&c.to_be_bytes());
            assert!(verify(&d));
            d[0] ^= 1;
            assert!(!verify(&d));
        }
    }

    #[test]
    fn incremental_u16_matches_full_recomputation() {
        let mut st = 7;
        for round in 0..20_000 {
            let len = 20 + 2 * (xorshift(&mut st) as usize % 30);
            let mut d = random_bytes(&mut st, len);
            // Force the edge cases: words that make the sum 0xffff (checksum 0x0000).
            if round % 7 == 0 {
                d.iter_mut().for_each(|b| *b = 0);
                d[4] = 0xff;
                d[5] = 0xff;
            }
            d[10] = 0;
            d[11] = 0;
            let hc = checksum(&d);
            let w = 2 * (xorshift(&mut st) as usize % (len / 2));
            if w == 10 {
                continue;
            }
            let old = u16::from_be_bytes([d[w], d[w + 1]]);
            let new = match round % 5 {
                0 => 0,
                1 => 0xffff,
                2 => old.wrapping_sub(0x100),
                _ => xorshift(&mut st) as u16,
            };
            d[w..w + 2].copy_from_slice(&new.to_be_bytes());
            if d.iter().all(|&b| b == 0) {
                // All-zero data has no valid non-zero checksum to update from: full
                // recomputation gives 0xffff, eqn. 3 gives the equivalent 0x0000.
                assert_eq!(update_u16(hc, old, new), 0x0000);
                continue;
            }
            let full = checksum(&d);
            assert_eq!(
                update_u16(hc, old, new),
                full,
                "round {round} old {old:#x} new {new:#x}"
            );
        }
    }

    #[test]
    fn incremental_u16_edge_cases() {
        // Words 0x1234 + 0xedcb sum to 0xffff: the checksum is 0x0000.
        let mut d = [0u8; 20];
        d[..4].copy_from_slice(&[0x12, 0x34, 0xed, 0xcb]);
        let hc = checksum(&d);
        assert_eq!(hc, 0x0000);
        // Step away from 0x0000 ...
        d[1] = 0x35;
        let hc1 = update_u16(hc, 0x1234, 0x1235);
        assert_eq!(hc1, checksum(&d));
        assert_eq!(hc1, 0xfffe);
        // ... and back: eqn. 3 gives 0x0000 like a full recomputation (eqn. 2 would give 0xffff).
        d[3] = 0xca;
        let hc2 = update_u16(hc1, 0xedcb, 0xedca);
        assert_eq!(hc2, checksum(&d));
        assert_eq!(hc2, 0x0000);
        // A no-op change keeps 0x0000 and 0xffff as they are.
        assert_eq!(update_u16(0x0000, 0x4500, 0x4500), 0x0000);
        assert_eq!(update_u16(0xfffe, 0xffff, 0xffff), 0xfffe);
        // Changing a word between 0x0000 and 0xffff (both "zero") leaves the checksum alone.
        assert_eq!(update_u16(0x1234, 0x0000, 0xffff), 0x1234);
    }

    #[test]
    fn incremental_u32_and_bytes_match_full() {
        let mut st = 4242;
        for round in 0..5_000 {
            let len = 40 + (xorshift(&mut st) as usize % 80);
            let mut d = random_bytes(&mut st, len);
            d[0] = 0;
            d[1] = 0;
            let hc = checksum(&d);
            let off = 2 + (xorshift(&mut st) as usize % (len - 20));
            let n = 1 + (xorshift(&mut st) as usize % 16);
            let old = d[off..off + n].to_vec();
            let new = if round % 3 == 0 {
                vec![0u8; n]
            } else {
                random_bytes(&mut st, n)
            };
            d[off..off + n].copy_from_slice(&new);
            if d.iter().all(|&b| b == 0) {
                continue;
            }
            let full = checksum(&d);
            assert_eq!(
                update_bytes(hc, &old, &new, off % 2 == 1),
                full,
                "round {round}"
            );
            if n == 4 && off % 2 == 0 {
                let o = u32::from_be_bytes(old[..4].try_into().unwrap());
                let nw = u32::from_be_bytes(new[..4].try_into().unwrap());
                assert_eq!(update_u32(hc, o, nw), full);
            }
        }
    }

    #[test]
    fn pseudo_headers_match_flat_layout() {
        let s4 = Ipv4Addr::new(192, 0, 2, 1);
        let d4 = Ipv4Addr::new(198, 51, 100, 255);
        let mut flat = Vec::new();
        flat.extend_from_slice(&s4.octets());
        flat.extend_from_slice(&d4.octets());
        flat.extend_from_slice(&[0, 17, 0x05, 0xdc]);
        assert_eq!(pseudo_header_v4(s4, d4, 17, 1500), sum(&flat));

        let s6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d6: Ipv6Addr = "fe80::ffff:1:2:3".parse().unwrap();
        let mut flat = Vec::new();
        flat.extend_from_slice(&s6.octets());
        flat.extend_from_slice(&d6.octets());
        flat.extend_from_slice(&70000u32.to_be_bytes());
        flat.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(pseudo_header_v6(s6, d6, 58, 70000), sum(&flat));
    }
}
