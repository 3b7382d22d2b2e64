//! AVX-512 parts of the ACL (its only `unsafe`): the bulk tree walk for IPv4 keys and the
//! leaf matcher comparing one key with eight rules at once, with the portable scalar
//! matcher they are tested against.
//!
//! The walk takes `VECS` vectors of eight 64-bit lanes, one key each. One round selects
//! each lane's key word by its node's dimension (compare and blend, no gather), computes
//! `base + ((word >> shift) & mask)` and gathers the children of all eight lanes at once;
//! lanes already at a leaf are masked off. A group ends when all its lanes are at leaves.

use super::{DIMS, Node};
#[cfg(target_arch = "x86_64")]
use super::{LEAF_DIM, MAX_DEPTH};

/// Rules a [`LeafBlock`] holds.
pub(super) const BLOCK_RULES: usize = 8;

/// Eight IPv4 rules of a leaf, struct-of-arrays, so one key is compared with all eight in a
/// handful of vector instructions (one cache-line-aligned 256-byte block, four lines).
///
/// A lane matches key `(src, dst, sport, dport, proto)` when `src - src_lo <= src_span`,
/// `dst - dst_lo <= dst_span` (wrapping `u32`), each 16-bit half of
/// `(sport | dport << 16) - port_lo` (wrapping per half) is at most that half of
/// `port_span`, and `proto & (self.proto >> 8) == self.proto & 0xff`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(64))]
pub(super) struct LeafBlock {
    pub(super) src_lo: [u32; BLOCK_RULES],
    pub(super) src_span: [u32; BLOCK_RULES],
    pub(super) dst_lo: [u32; BLOCK_RULES],
    pub(super) dst_span: [u32; BLOCK_RULES],
    pub(super) port_lo: [u32; BLOCK_RULES],
    pub(super) port_span: [u32; BLOCK_RULES],
    /// Protocol value (already masked) in bits 0-7, mask in bits 8-15.
    pub(super) proto: [u32; BLOCK_RULES],
    /// The rules' user data.
    pub(super) userdata: [u32; BLOCK_RULES],
}

/// An IPv4 key as [`LeafBlock`] compares it.
#[derive(Clone, Copy, Debug)]
pub(super) struct BlockKey {
    pub(super) src: u32,
    pub(super) dst: u32,
    /// `sport | dport << 16`.
    pub(super) ports: u32,
    pub(super) proto: u32,
}

impl LeafBlock {
    /// Bit `j` set when lane `j` matches `k` (the portable definition the vector code
    /// must agree with).
    pub(super) fn matches_scalar(&self, k: &BlockKey) -> u32 {
        let mut m = 0;
        for j in 0..BLOCK_RULES {
            let p = k.ports.wrapping_sub(self.port_lo[j]) & 0xffff;
            let q = (k.ports >> 16).wrapping_sub(self.port_lo[j] >> 16) & 0xffff;
            let hit = k.src.wrapping_sub(self.src_lo[j]) <= self.src_span[j]
                && k.dst.wrapping_sub(self.dst_lo[j]) <= self.dst_span[j]
                && p <= self.port_span[j] & 0xffff
                && q <= self.port_span[j] >> 16
                && k.proto & (self.proto[j] >> 8) == self.proto[j] & 0xff;
            m |= u32::from(hit) << j;
        }
        m
    }
}

/// Whether this CPU can run the vector leaf matcher.
pub(super) fn match_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A key's leaf: its first block in the block table and its number of rules.
pub(super) type LeafRef = (usize, usize);

/// For each key `keys[i]` in leaf `leaves[i]`, writes the user data of the first matching
/// rule (in block order) to `out[i]`, or `None`; returns how many matched. Vector code
/// where `vector` is set and the CPU supports it, [`match_leaves_scalar`] otherwise.
/// A leaf outside `blocks` matches nothing.
pub(super) fn match_leaves(
    blocks: &[LeafBlock],
    leaves: &[LeafRef],
    keys: &[BlockKey],
    out: &mut [Option<u32>],
    vector: bool,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if vector && match_available() {
        // SAFETY: AVX-512F and AVX-512VL were detected at run time just above.
        return unsafe { match_leaves_avx512(blocks, leaves, keys, out) };
    }
    let _ = vector;
    match_leaves_scalar(blocks, leaves, keys, out)
}

/// The blocks of `leaf` (empty if it is outside `blocks`).
#[inline(always)]
fn leaf_blocks(blocks: &[LeafBlock], (start, len): LeafRef) -> &[LeafBlock] {
    start
        .checked_add(len.div_ceil(BLOCK_RULES))
        .and_then(|end| blocks.get(start..end))
        .unwrap_or(&[])
}

/// The mask of the lanes of a `len`-rule leaf's `b`-th block that hold rules.
#[inline(always)]
fn valid_lanes(len: usize, b: usize) -> u32 {
    let left = len - b * BLOCK_RULES;
    if left >= BLOCK_RULES {
        (1 << BLOCK_RULES) - 1
    } else {
        (1u32 << left) - 1
    }
}

/// [`match_leaves`] with [`LeafBlock::matches_scalar`].
pub(super) fn match_leaves_scalar(
    blocks: &[LeafBlock],
    leaves: &[LeafRef],
    keys: &[BlockKey],
    out: &mut [Option<u32>],
) -> usize {
    let mut matched = 0;
    for ((&leaf, k), o) in leaves.iter().zip(keys).zip(out.iter_mut()) {
        *o = None;
        for (b, block) in leaf_blocks(blocks, leaf).iter().enumerate() {
            let m = block.matches_scalar(k) & valid_lanes(leaf.1, b);
            if m != 0 {
                *o = Some(block.userdata[m.trailing_zeros() as usize]);
                matched += 1;
                break;
            }
        }
    }
    matched
}

/// Keys ahead whose first leaf blocks are prefetched while matching.
#[cfg(target_arch = "x86_64")]
const MATCH_PREFETCH: usize = 8;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
/// [`match_leaves`] with [`match_avx512`].
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512VL.
unsafe fn match_leaves_avx512(
    blocks: &[LeafBlock],
    leaves: &[LeafRef],
    keys: &[BlockKey],
    out: &mut [Option<u32>],
) -> usize {
    let n = leaves.len().min(keys.len()).min(out.len());
    let mut matched = 0;
    for i in 0..n {
        if let Some(&ahead) = leaves.get(i + MATCH_PREFETCH)
            && let Some(block) = blocks.get(ahead.0)
        {
            // The block's four cache lines.
            for line in [&block.src_lo, &block.dst_lo, &block.port_lo, &block.proto] {
                crate::prefetch::prefetch(line);
            }
        }
        let leaf = leaves[i];
        out[i] = None;
        for (b, block) in leaf_blocks(blocks, leaf).iter().enumerate() {
            // SAFETY: the caller guarantees AVX-512F and AVX-512VL.
            let m = unsafe { match_avx512(block, &keys[i]) } & valid_lanes(leaf.1, b);
            if m != 0 {
                out[i] = Some(block.userdata[m.trailing_zeros() as usize]);
                matched += 1;
                break;
            }
        }
    }
    matched
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
#[inline]
/// [`LeafBlock::matches_scalar`] with 256-bit vectors and AVX-512 compare masks.
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512VL.
unsafe fn match_avx512(block: &LeafBlock, k: &BlockKey) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: each field is eight `u32`s (32 bytes) inside a live reference; unaligned loads.
    let load = |a: &[u32; BLOCK_RULES]| unsafe { _mm256_loadu_si256(a.as_ptr().cast::<__m256i>()) };
    let src = _mm256_sub_epi32(_mm256_set1_epi32(k.src as i32), load(&block.src_lo));
    let m = _mm256_cmple_epu32_mask(src, load(&block.src_span));
    let dst = _mm256_sub_epi32(_mm256_set1_epi32(k.dst as i32), load(&block.dst_lo));
    let m = _mm256_mask_cmple_epu32_mask(m, dst, load(&block.dst_span));
    // Both 16-bit port offsets within their spans <=> the saturating differences are zero.
    let ports = _mm256_sub_epi16(_mm256_set1_epi32(k.ports as i32), load(&block.port_lo));
    let over = _mm256_subs_epu16(ports, load(&block.port_span));
    let m = _mm256_mask_cmpeq_epi32_mask(m, over, _mm256_setzero_si256());
    let proto = load(&block.proto);
    let want = _mm256_and_si256(proto, _mm256_set1_epi32(0xff));
    let got = _mm256_and_si256(
        _mm256_set1_epi32(k.proto as i32),
        _mm256_srli_epi32::<8>(proto),
    );
    u32::from(_mm256_mask_cmpeq_epi32_mask(m, got, want))
}

/// Vectors of eight lanes walked together.
#[cfg(target_arch = "x86_64")]
const VECS: usize = 4;
/// Padding every `words[d]` must have past the last key.
pub(super) const PAD: usize = 8;

/// Whether this CPU can run [`walk`].
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Walks keys `0..n` from `root` and writes each one's leaf to `leaves[i]`. `words[d][i]`
/// is dimension `d` of key `i` (a zero-extended `u32`), with [`PAD`] entries of padding
/// after the last key. Returns `false`, writing nothing, when the CPU lacks AVX-512F, the
/// tree is empty or a slice is too short (the caller then walks with scalar code).
///
/// Every gathered position is clamped to `children`, so even a malformed tree could give
/// wrong leaves but never read out of bounds; a group stops after `MAX_DEPTH + 1` rounds,
/// so a cycle cannot hang it (a lane cut short ends on an internal node, which the caller
/// detects).
pub(super) fn walk(
    children: &[Node],
    root: Node,
    words: &[&[u64]; DIMS],
    n: usize,
    leaves: &mut [Node],
) -> bool {
    if children.is_empty()
        || leaves.len() < n.next_multiple_of(8)
        || words.iter().any(|w| w.len() < n + PAD)
        || !available()
    {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: AVX-512F was detected at run time just above; `children` is non-empty
        // and the slices are as long as `walk_avx512` needs (checked above).
        unsafe { walk_avx512::<VECS>(children, root, words, n, leaves) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = root;
        false
    }
}

/// Walks keys `0..n` to their leaves in groups of `VECS * 8`: every lane of a group steps
/// (with a masked gather, so finished lanes load nothing) until all are at leaves.
///
/// # Safety
/// The CPU must support AVX-512F; `children` must be non-empty; every `words[d]` must hold
/// at least `n + PAD` entries and `leaves` at least `n.next_multiple_of(8)`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn walk_avx512<const VECS: usize>(
    children: &[Node],
    root: Node,
    words: &[&[u64]; DIMS],
    n: usize,
    leaves: &mut [Node],
) {
    use std::arch::x86_64::*;

    let last = _mm512_set1_epi64(children.len() as i64 - 1);
    let low32 = _mm512_set1_epi64(0xffff_ffff);
    let low8 = _mm512_set1_epi64(0xff);
    let leaf_dim = _mm512_set1_epi64(i64::from(LEAF_DIM));
    let root = _mm512_set1_epi64(root.to_bits() as i64);
    let dims: [__m512i; 4] = std::array::from_fn(|d| _mm512_set1_epi64(d as i64));
    let table = children.as_ptr().cast::<i64>();
    let is_leaf = |nv: __m512i| {
        _mm512_cmpeq_epi64_mask(
            _mm512_and_si512(_mm512_srli_epi64::<40>(nv), low8),
            leaf_dim,
        )
    };
    for group in (0..n).step_by(8 * VECS) {
        let mut node = [root; VECS];
        let mut key = [[_mm512_setzero_si512(); DIMS]; VECS];
        let mut active = [0u8; VECS];
        for v in 0..VECS {
            let at = group + 8 * v;
            if at < n {
                active[v] = if n - at >= 8 {
                    0xff
                } else {
                    (1u8 << (n - at)) - 1
                };
                for d in 0..DIMS {
                    // SAFETY: `at < n` and `words[d]` holds `n + PAD` entries, so eight
                    // `u64`s from `at` are in bounds (the slice index checks it too).
                    key[v][d] = unsafe {
                        _mm512_loadu_si512(words[d][at..at + 8].as_ptr().cast::<__m512i>())
                    };
                }
            }
        }
        for _ in 0..MAX_DEPTH + 1 {
            let mut live_any = 0u8;
            for v in 0..VECS {
                let nv = node[v];
                let live = active[v] & !is_leaf(nv);
                live_any |= live;
                let base = _mm512_and_si512(nv, low32);
                let shift = _mm512_and_si512(_mm512_srli_epi64::<32>(nv), low8);
                let dim = _mm512_and_si512(_mm512_srli_epi64::<40>(nv), low8);
                let mask = _mm512_srli_epi64::<48>(nv);
                // The protocol word unless the node cuts another dimension.
                let mut word = key[v][DIMS - 1];
                for (d, dv) in dims.iter().enumerate() {
                    word =
                        _mm512_mask_mov_epi64(word, _mm512_cmpeq_epi64_mask(dim, *dv), key[v][d]);
                }
                let step = _mm512_and_si512(_mm512_srlv_epi64(word, shift), mask);
                let pos = _mm512_min_epu64(_mm512_add_epi64(base, step), last);
                // SAFETY: every lane of `pos` is at most `children.len() - 1` (clamped
                // above); a `Node` is the 8-byte `u64` of `Node::to_bits` (checked at
                // compile time), and scale 8 turns positions into byte offsets.
                node[v] = unsafe { _mm512_mask_i64gather_epi64::<8>(nv, live, pos, table) };
            }
            if live_any == 0 {
                break;
            }
        }
        for (v, nv) in node.iter().enumerate() {
            let at = group + 8 * v;
            if at < n {
                // SAFETY: `leaves` holds `n.next_multiple_of(8)` nodes, so eight from `at`
                // (a multiple of 8 below `n`) are in bounds; any `u64` is a valid `Node`
                // (plain integers, layout checked at compile time); unaligned store.
                unsafe {
                    _mm512_storeu_si512(leaves[at..at + 8].as_mut_ptr().cast::<__m512i>(), *nv)
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic test data without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u32 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
        }
        /// Values that hit range edges often: 0, max, small, or random.
        fn edgy(&mut self) -> u32 {
            match self.next() % 4 {
                0 => 0,
                1 => u32::MAX,
                2 => self.next() % 4,
                _ => self.next(),
            }
        }
    }

    fn random_block(rng: &mut Rng) -> LeafBlock {
        let mut b = LeafBlock::default();
        for j in 0..BLOCK_RULES {
            b.src_lo[j] = rng.edgy();
            b.src_span[j] = rng.edgy();
            b.dst_lo[j] = rng.edgy();
            b.dst_span[j] = rng.edgy();
            b.port_lo[j] = rng.edgy();
            b.port_span[j] = rng.edgy();
            let mask = rng.next() & 0xff;
            b.proto[j] = (rng.next() & mask) | mask << 8;
            b.userdata[j] = rng.next();
        }
        b
    }

    /// The vector matcher agrees with the scalar definition lane by lane, including keys
    /// at the edges of the ranges (equal to `lo`, to `lo + span`, one past).
    #[test]
    fn vector_matcher_agrees_with_scalar() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let blocks: Vec<LeafBlock> = (0..64).map(|_| random_block(&mut rng)).collect();
        let mut leaves = Vec::new();
        let mut keys = Vec::new();
        for _ in 0..20_000 {
            let start = (rng.next() % 60) as usize;
            let b = &blocks[start];
            let j = (rng.next() % 8) as usize;
            // Mostly long enough to include lane `j`; sometimes not.
            let len = (j + rng.next() as usize % 28).saturating_sub(3);
            let pick = |rng: &mut Rng, lo: u32, span: u32| match rng.next() % 8 {
                0 => lo,
                1 => lo.wrapping_add(span),
                2..=5 => lo.wrapping_add(rng.next() % span.saturating_add(1).max(1)),
                6 => lo.wrapping_add(span).wrapping_add(1),
                _ => rng.edgy(),
            };
            let p = b.proto[j];
            let sport = pick(&mut rng, b.port_lo[j] & 0xffff, b.port_span[j] & 0xffff) & 0xffff;
            let dport = pick(&mut rng, b.port_lo[j] >> 16, b.port_span[j] >> 16) & 0xffff;
            keys.push(BlockKey {
                src: pick(&mut rng, b.src_lo[j], b.src_span[j]),
                dst: pick(&mut rng, b.dst_lo[j], b.dst_span[j]),
                ports: sport | dport << 16,
                proto: if rng.next() % 4 == 0 {
                    rng.next() & 0xff
                } else {
                    (p & 0xff) | (rng.next() & !(p >> 8) & 0xff)
                },
            });
            leaves.push((start, len));
        }
        // A leaf past the end of the table matches nothing.
        leaves.push((63, 16));
        keys.push(keys[0]);
        let mut want = vec![None; keys.len()];
        let m_want = match_leaves_scalar(&blocks, &leaves, &keys, &mut want);
        assert_eq!(want.last(), Some(&None));
        assert!(
            m_want > 2000 && m_want < keys.len() - 2000,
            "{m_want} matches"
        );
        let mut got = vec![Some(0); keys.len()];
        let m_got = match_leaves(&blocks, &leaves, &keys, &mut got, true);
        assert_eq!(got, want);
        assert_eq!(m_got, m_want);
        // Lane by lane, for the vector code itself.
        if match_available() {
            for (k, &(start, _)) in keys.iter().zip(&leaves).take(5000) {
                let block = &blocks[start];
                #[cfg(target_arch = "x86_64")]
                // SAFETY: AVX-512F and AVX-512VL were detected just above.
                let v = unsafe { match_avx512(block, k) };
                #[cfg(not(target_arch = "x86_64"))]
                let v = block.matches_scalar(k);
                assert_eq!(v, block.matches_scalar(k), "key {k:?} block {block:?}");
            }
        }
    }
}
