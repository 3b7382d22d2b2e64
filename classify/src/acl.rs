//! Multi-field packet classifier (ACL) for IPv4 and IPv6 5-tuple rules.
//!
//! A rule matches source and destination prefixes, source and destination port ranges and a
//! protocol under a mask, and carries a priority and a `u32` of user data. An [`Acl`] is built
//! once from a rule set ([`AclBuilder`]) and then classifies keys one at a time or in bulk,
//! returning the user data of the best matching rule.
//!
//! # Which rule wins
//! The matching rule with the highest `priority`; among rules of equal priority, the one
//! added first (lowest index). This is the same answer as a linear scan in insertion order
//! that replaces its best only on a strictly higher priority.
//!
//! # Algorithm: a HiCuts-style decision tree with vector-matched leaves
//! The rule space is five dimensions (source, destination, source port, destination port,
//! protocol). Each internal node cuts one dimension of its region into `2^k` equal, power-of-two
//! aligned slices, so the child for a key is `(field >> shift) & mask`, one load per level, no
//! comparisons. The build picks, per node, the dimension and number of cuts that best split the
//! node's rules while bounding rule replication (`SPACE_FACTOR`), and stops at leaves of at most
//! [`LEAF_RULES_V4`] (IPv4 with AVX-512) or [`LEAF_RULES`] (otherwise) rules, kept in priority
//! order. Two prunings keep the tree small: rules after the first one that covers the whole node
//! region can never win there and are dropped, and identical leaves are stored once.
//!
//! With AVX-512, IPv4 leaves are large (32 rules) and matched eight rules at a time: each is also
//! stored as blocks of eight rules in struct-of-arrays form (`lo` and `hi - lo` per field in lanes,
//! 256 bytes per block), and one key is compared with a whole block in about ten AVX-512VL
//! instructions (`key - lo <= span` as unsigned compares into a mask; ports as one 16-bit-lane
//! saturating subtraction); the lowest set bit of the mask is the best rule because leaves are
//! priority-sorted. Bulk classification walks keys through the tree with AVX-512 too: 32 keys at a
//! time as four vectors of eight, one masked gather per vector and level (lanes already at a leaf
//! load nothing), so 32 walks keep their cache misses in flight together and no per-key branch is
//! taken. The matcher then runs over the keys' leaves with the blocks of keys eight places ahead
//! prefetched. The vector parts are chosen at run time (`is_x86_feature_detected!`). The portable
//! path, a scalar lock-step walk and a rule-by-rule leaf scan, gives the same answers; it runs for
//! IPv6 and on other CPUs (with leaves of [`LEAF_RULES`]), and [`Acl::set_simd`] forces it (the
//! tests run both paths; the vector matcher is also tested lane by lane against a scalar one).
//! The `unsafe` intrinsics live in `acl/simd.rs`.
//!
//! Why these choices (measured with [`Acl::profile`] and `examples/acl_perf.rs` on
//! `scripts/bench/acl.sh`'s 10,000-rule set, 65,536-key trace):
//! - With leaves of 8 rules scanned one by one, the tree needed 70,000 internal nodes and
//!   6 MB, and each key 5 dependent node loads plus a scan with a data-dependent exit: the
//!   structure does not stay in the 1 MiB L2 of this machine, so a key cost about 60
//!   cycles warm and several times that on the first (cold) pass. Leaves of 32 rules that
//!   are matched eight at a time without branches cost little more than leaves of 8, and
//!   cut the tree to about 1,400 nodes (2.6 levels per key, 4.4 MB in all, most of it the
//!   leaf blocks read contiguously) and the build from about 700 ms to about 20 ms.
//! - The leaf size trades block matches per key against replication. At 1,000 rules,
//!   leaves of 8 need 1.65 MB and cost about 24 cycles per key warm, leaves of 32 need 0.38 MB
//!   but cost about 46 (more blocks per key, each a data-dependent exit); at 10,000 rules
//!   leaves of 8 or 16 need 19 or 9.7 MB and lose on cache misses. Hence
//!   [`AclBuilder::build`]'s rule: the smallest leaves whose structure fits a memory budget.
//! - The vector walk replaces eight scalar dependent chains per round with four gathers.
//!   A variant that refilled each finished lane with the next key at once (no idle
//!   lanes) measured slower (about 48 against 29 cycles per key, warm): with trees this
//!   shallow (at most four levels) the bookkeeping costs more than idle lanes.
//! - `rte_acl`'s multi-bit trie/DFA over key bytes has a fixed cost per key but explodes
//!   in memory on port ranges and wildcards, so it splits rule sets into several tries that
//!   must all be walked; its build is slow for 10,000 rules.
//! - Tuple-space search costs one hash probe per distinct (prefix length, prefix length,
//!   port shape, protocol) tuple, which is dozens to hundreds for realistic rule sets, and
//!   port ranges must be expanded into prefixes.
//! - EffiCuts-style separable trees (not tried) would cut replication further, but each
//!   extra tree adds a walk and a leaf match per key; with the tree already at 2.6 levels
//!   and most memory in leaf blocks read contiguously, there was less left to gain.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use crate::prefetch::prefetch;

mod simd;

/// Most rules in a leaf scanned rule by rule (IPv6, or IPv4 on CPUs without AVX-512).
pub const LEAF_RULES: usize = 8;
/// Most rules in a leaf matched eight at a time (IPv4 on CPUs with AVX-512F and -VL).
pub const LEAF_RULES_V4: usize = 32;
/// Most rules in a classifier.
pub const MAX_RULES: usize = 1 << 22;
/// Memory within which smaller vector-matched leaves are preferred (see [`AclBuilder::build`]):
/// small rule sets get leaves of 8 or 16 rules (fewer blocks to match per key, and the
/// structure still stays near the 1 MiB L2 of the machine it was tuned on), large ones keep
/// leaves of 32 (smaller leaves would multiply the memory and the cold misses).
const LEAF_MEMORY_BUDGET: usize = 2 << 20;
/// Allowed replication of rules into children per cut (HiCuts' `spfac`).
const SPACE_FACTOR: usize = 8;
/// Most cut bits in one node (`2^8` children).
const MAX_CUT_BITS: u32 = 8;
/// Deepest tree; nodes at this depth become leaves whatever their size.
const MAX_DEPTH: usize = 40;
/// Keys walked together by the scalar bulk classifier.
const BULK_LANES: usize = 8;
/// Keys the AVX-512 bulk classifier walks per block.
const SIMD_BLOCK: usize = 256;

const DIMS: usize = 5;
const PROTO_DIM: usize = 4;
/// `Node::dim` of a leaf: it indexes the always-zero last word of a key (see [`Node`]).
const LEAF_DIM: u8 = DIMS as u8;
/// Words of a key as walked: the five dimensions and a zero for leaves.
const KEY_WORDS: usize = DIMS + 1;

/// An address type usable in ACL rules: [`Ipv4Addr`] or [`Ipv6Addr`].
pub trait AclAddr: Copy + Eq + std::fmt::Debug + private::Sealed {
    /// The integer the address is stored as (`u32` or `u128`).
    type Word: Word;
    /// Address width in bits.
    const BITS: u32;
    /// The address as an integer (network order: the first octet is the most significant).
    fn to_word(self) -> Self::Word;
}

mod private {
    pub trait Sealed {}
    impl Sealed for std::net::Ipv4Addr {}
    impl Sealed for std::net::Ipv6Addr {}
    impl Sealed for u32 {}
    impl Sealed for u128 {}
}

/// Unsigned integer used for every dimension of a key inside the classifier.
pub trait Word:
    Copy + Ord + Eq + Default + std::fmt::Debug + std::hash::Hash + private::Sealed
{
    /// Zero-extends from `u128` (truncating).
    fn from_u128(v: u128) -> Self;
    /// Zero-extends to `u128`.
    fn to_u128(self) -> u128;
    /// `self - rhs` modulo 2^bits.
    fn wrapping_sub(self, rhs: Self) -> Self;
    /// `(self >> shift) & mask` as an index.
    fn slice(self, shift: u32, mask: u32) -> usize;
}

impl Word for u32 {
    #[inline(always)]
    fn from_u128(v: u128) -> Self {
        v as u32
    }
    #[inline(always)]
    fn to_u128(self) -> u128 {
        u128::from(self)
    }
    #[inline(always)]
    fn wrapping_sub(self, rhs: Self) -> Self {
        u32::wrapping_sub(self, rhs)
    }
    #[inline(always)]
    fn slice(self, shift: u32, mask: u32) -> usize {
        (self.checked_shr(shift).unwrap_or(0) & mask) as usize
    }
}

impl Word for u128 {
    #[inline(always)]
    fn from_u128(v: u128) -> Self {
        v
    }
    #[inline(always)]
    fn to_u128(self) -> u128 {
        self
    }
    #[inline(always)]
    fn wrapping_sub(self, rhs: Self) -> Self {
        u128::wrapping_sub(self, rhs)
    }
    #[inline(always)]
    fn slice(self, shift: u32, mask: u32) -> usize {
        (self.checked_shr(shift).unwrap_or(0) as u32 & mask) as usize
    }
}

impl AclAddr for Ipv4Addr {
    type Word = u32;
    const BITS: u32 = 32;
    fn to_word(self) -> u32 {
        u32::from(self)
    }
}

impl AclAddr for Ipv6Addr {
    type Word = u128;
    const BITS: u32 = 128;
    fn to_word(self) -> u128 {
        u128::from(self)
    }
}

/// An ACL rule over addresses of type `A`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclRule<A: AclAddr> {
    /// Source prefix address (bits past `src_len` are ignored).
    pub src: A,
    /// Source prefix length (0 = any).
    pub src_len: u8,
    /// Destination prefix address.
    pub dst: A,
    /// Destination prefix length.
    pub dst_len: u8,
    /// Source port range, inclusive.
    pub sport: (u16, u16),
    /// Destination port range, inclusive.
    pub dport: (u16, u16),
    /// Protocol value, compared under `proto_mask`.
    pub proto: u8,
    /// Protocol mask (0 = any protocol, 0xff = exactly `proto`).
    pub proto_mask: u8,
    /// Priority: higher wins.
    pub priority: u32,
    /// Returned for keys this rule classifies.
    pub userdata: u32,
}

/// IPv4 rule.
pub type AclRuleV4 = AclRule<Ipv4Addr>;
/// IPv6 rule.
pub type AclRuleV6 = AclRule<Ipv6Addr>;

impl<A: AclAddr> AclRule<A> {
    /// A rule matching every key.
    pub fn any(wildcard: A, priority: u32, userdata: u32) -> Self {
        AclRule {
            src: wildcard,
            src_len: 0,
            dst: wildcard,
            dst_len: 0,
            sport: (0, u16::MAX),
            dport: (0, u16::MAX),
            proto: 0,
            proto_mask: 0,
            priority,
            userdata,
        }
    }

    /// Whether the rule matches `key` (the definition the classifier is tested against).
    pub fn matches(&self, key: &AclKey<A>) -> bool {
        let in_prefix = |addr: A, rule: A, len: u8| {
            let shift = A::BITS - u32::from(len);
            let a = addr.to_word().to_u128();
            let r = rule.to_word().to_u128();
            len == 0 || (a ^ r).checked_shr(shift).unwrap_or(0) == 0
        };
        in_prefix(key.src, self.src, self.src_len)
            && in_prefix(key.dst, self.dst, self.dst_len)
            && (self.sport.0..=self.sport.1).contains(&key.sport)
            && (self.dport.0..=self.dport.1).contains(&key.dport)
            && (key.proto & self.proto_mask) == (self.proto & self.proto_mask)
    }

    fn validate(&self, index: usize) -> Result<(), AclError> {
        for len in [self.src_len, self.dst_len] {
            if u32::from(len) > A::BITS {
                return Err(AclError::PrefixLength { index, len });
            }
        }
        for (lo, hi) in [self.sport, self.dport] {
            if lo > hi {
                return Err(AclError::PortRange { index, lo, hi });
            }
        }
        Ok(())
    }
}

/// A key to classify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AclKey<A: AclAddr> {
    /// Source address.
    pub src: A,
    /// Destination address.
    pub dst: A,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
}

/// IPv4 key.
pub type AclKeyV4 = AclKey<Ipv4Addr>;
/// IPv6 key.
pub type AclKeyV6 = AclKey<Ipv6Addr>;

/// Errors from building a classifier.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum AclError {
    /// Prefix longer than the address.
    #[error("rule {index}: prefix length {len} is longer than the address")]
    PrefixLength {
        /// Rule index.
        index: usize,
        /// The bad length.
        len: u8,
    },
    /// Port range with `lo > hi`.
    #[error("rule {index}: port range {lo}..={hi} is empty")]
    PortRange {
        /// Rule index.
        index: usize,
        /// Low end.
        lo: u16,
        /// High end.
        hi: u16,
    },
    /// Too many rules.
    #[error("too many rules: {0} (most {MAX_RULES})")]
    TooManyRules(usize),
    /// A line of a rule or trace file could not be parsed.
    #[error("line {line}: {reason}: {text:?}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: &'static str,
        /// The line.
        text: String,
    },
}

/// Collects rules, then builds an [`Acl`].
#[derive(Debug, Clone)]
pub struct AclBuilder<A: AclAddr> {
    rules: Vec<AclRule<A>>,
    /// Fixed leaf size, or `None` for the automatic choice.
    leaf_rules: Option<usize>,
}

impl<A: AclAddr> Default for AclBuilder<A> {
    fn default() -> Self {
        AclBuilder {
            rules: Vec::new(),
            leaf_rules: None,
        }
    }
}

/// A rule compiled to per-dimension `lo` and `hi - lo`.
#[derive(Clone, Copy, Debug)]
struct Compiled<W: Word> {
    lo: [W; 4],
    span: [W; 4],
    proto: u8,
    proto_mask: u8,
    userdata: u32,
    index: u32,
}

impl<W: Word> Compiled<W> {
    #[inline(always)]
    fn matches(&self, k: &[W; KEY_WORDS], proto: u8) -> bool {
        // Non-short-circuit: all five checks are cheap and branch-free together.
        (k[0].wrapping_sub(self.lo[0]) <= self.span[0])
            & (k[1].wrapping_sub(self.lo[1]) <= self.span[1])
            & (k[2].wrapping_sub(self.lo[2]) <= self.span[2])
            & (k[3].wrapping_sub(self.lo[3]) <= self.span[3])
            & ((proto & self.proto_mask) == self.proto)
    }

    /// The rule's extent in dimension `d` as an inclusive `u128` range (protocol: a superset).
    fn range(&self, d: usize) -> (u128, u128) {
        if d == PROTO_DIM {
            let lo = u128::from(self.proto);
            (lo, lo | u128::from(!self.proto_mask))
        } else {
            let lo = self.lo[d].to_u128();
            (lo, lo + self.span[d].to_u128())
        }
    }
}

/// A tree node, stored inline in its parent's child array so each level costs one load.
///
/// The child for key words `k` is `children[base + ((k[dim] >> shift) & mask)]`. A leaf has
/// `dim` [`LEAF_DIM`]; its rules are `leaf_rules[base..base + len]` with `len` in
/// `shift:mask` (24 bits; [`MAX_RULES`] fits), so reaching a leaf costs no further load
/// before its rules. IPv4 leaves with vector blocks start on a block boundary
/// (`base % BLOCK_RULES == 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Node {
    /// First child in `children` (internal) or first rule in `leaf_rules` (leaf).
    base: u32,
    shift: u8,
    /// Dimension cut, or [`LEAF_DIM`].
    dim: u8,
    mask: u16,
}

// The AVX-512 walk gathers nodes as the `u64`s of `Node::to_bits` (little-endian).
const _: () = assert!(
    std::mem::size_of::<Node>() == 8
        && std::mem::offset_of!(Node, base) == 0
        && std::mem::offset_of!(Node, shift) == 4
        && std::mem::offset_of!(Node, dim) == 5
        && std::mem::offset_of!(Node, mask) == 6
);

impl Node {
    #[inline(always)]
    fn is_leaf(self) -> bool {
        self.dim == LEAF_DIM
    }

    /// A leaf's number of rules.
    #[inline(always)]
    fn leaf_len(self) -> usize {
        (usize::from(self.shift) << 16) | usize::from(self.mask)
    }

    /// The node as the `u64` its memory holds on a little-endian CPU (what the SIMD walk
    /// gathers): `base | shift << 32 | dim << 40 | mask << 48`.
    #[inline(always)]
    fn to_bits(self) -> u64 {
        u64::from(self.base)
            | u64::from(self.shift) << 32
            | u64::from(self.dim) << 40
            | u64::from(self.mask) << 48
    }
}

/// A built classifier (immutable; share it between cores by reference or `Arc`).
#[derive(Debug, Clone)]
pub struct Acl<A: AclAddr> {
    rules: Vec<Compiled<A::Word>>,
    /// Internal nodes built.
    internal_nodes: usize,
    children: Vec<Node>,
    /// Distinct leaves and the size of the largest (statistics only).
    leaf_count: usize,
    max_leaf: usize,
    leaf_rules: Vec<u32>,
    /// IPv4 only: every leaf's rules as blocks for the vector matcher (see
    /// [`simd::LeafBlock`]); leaf `l` starts at block `l.base / BLOCK_RULES`.
    blocks: Vec<simd::LeafBlock>,
    root: Node,
    rule_count: usize,
    /// Bulk walks use AVX-512 (detected at build; see [`Acl::set_simd`]).
    simd: bool,
    /// Most rules in a leaf (build parameter).
    leaf_limit: usize,
    /// Rule references in distinct leaves (without the block padding of `leaf_rules`).
    leaf_refs: usize,
}

/// Statistics of a built classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclStats {
    /// Rules given to the builder.
    pub rules: usize,
    /// Internal nodes.
    pub nodes: usize,
    /// Distinct leaves.
    pub leaves: usize,
    /// Rule references stored in leaves (the replication).
    pub leaf_rule_refs: usize,
    /// Rules in the largest leaf.
    pub max_leaf_rules: usize,
    /// Bytes of the runtime structures.
    pub memory_bytes: usize,
}

/// What classifying a set of keys costs in the built structures (see [`Acl::profile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AclProfile {
    /// Keys walked.
    pub keys: usize,
    /// Internal nodes stepped through, summed over the keys (one dependent load each).
    pub nodes_visited: usize,
    /// Deepest walk.
    pub max_depth: usize,
    /// Rules in the leaves reached, summed over the keys.
    pub leaf_rules: usize,
    /// Rules compared before the answer was known, summed over the keys.
    pub rules_compared: usize,
}

impl<A: AclAddr> AclBuilder<A> {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule; its index is the number of rules added before it.
    pub fn add(&mut self, rule: AclRule<A>) -> Result<usize, AclError> {
        let index = self.rules.len();
        rule.validate(index)?;
        if index >= MAX_RULES {
            return Err(AclError::TooManyRules(index + 1));
        }
        self.rules.push(rule);
        Ok(index)
    }

    /// Fixes the most rules per leaf (at least 1) instead of the automatic choice of
    /// [`AclBuilder::build`]; `None` restores it. Larger leaves mean a smaller, shallower tree
    /// and more rules matched per key. For tuning and tests; any size gives the same answers.
    pub fn set_leaf_rules(&mut self, leaf_rules: Option<usize>) -> &mut Self {
        self.leaf_rules = leaf_rules.map(|n| n.max(1));
        self
    }

    /// Rules added so far.
    pub fn rules(&self) -> &[AclRule<A>] {
        &self.rules
    }

    /// Builds the classifier.
    ///
    /// With vector-matched leaves (IPv4 with AVX-512), the leaf size is chosen per rule set:
    /// the smallest of [`LEAF_RULES_V4`], 16 and 8 rules whose structures stay within
    /// `LEAF_MEMORY_BUDGET`, or [`LEAF_RULES_V4`] when none does (see the module docs).
    pub fn build(&self) -> Acl<A> {
        if let Some(limit) = self.leaf_rules {
            return self.build_with(limit);
        }
        if !Acl::<A>::vector_capable() {
            return self.build_with(LEAF_RULES);
        }
        let mut best = self.build_with(LEAF_RULES_V4);
        for limit in [16, 8] {
            if best.stats().memory_bytes > LEAF_MEMORY_BUDGET {
                break;
            }
            let smaller = self.build_with(limit);
            if smaller.stats().memory_bytes > LEAF_MEMORY_BUDGET {
                break;
            }
            best = smaller;
        }
        best
    }

    /// Builds the classifier with leaves of at most `leaf_limit` rules.
    fn build_with(&self, leaf_limit: usize) -> Acl<A> {
        let width = |len: u8| A::BITS - u32::from(len);
        let prefix = |addr: A, len: u8| -> (A::Word, A::Word) {
            let a = addr.to_word().to_u128();
            let host = if width(len) >= 128 {
                u128::MAX
            } else {
                (1u128 << width(len)) - 1
            };
            let host = host & addr_mask::<A>();
            (A::Word::from_u128(a & !host), A::Word::from_u128(host))
        };
        let mut rules: Vec<Compiled<A::Word>> = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (slo, sspan) = prefix(r.src, r.src_len);
                let (dlo, dspan) = prefix(r.dst, r.dst_len);
                Compiled {
                    lo: [
                        slo,
                        dlo,
                        A::Word::from_u128(u128::from(r.sport.0)),
                        A::Word::from_u128(u128::from(r.dport.0)),
                    ],
                    span: [
                        sspan,
                        dspan,
                        A::Word::from_u128(u128::from(r.sport.1 - r.sport.0)),
                        A::Word::from_u128(u128::from(r.dport.1 - r.dport.0)),
                    ],
                    proto: r.proto & r.proto_mask,
                    proto_mask: r.proto_mask,
                    userdata: r.userdata,
                    index: i as u32,
                }
            })
            .collect();
        // Rank order: priority descending, then insertion order.
        rules.sort_by_key(|r| {
            (
                std::cmp::Reverse(self.rules[r.index as usize].priority),
                r.index,
            )
        });
        let mut acl = Acl {
            rules,
            internal_nodes: 0,
            children: Vec::new(),
            leaf_count: 0,
            max_leaf: 0,
            leaf_rules: Vec::new(),
            blocks: Vec::new(),
            root: Node {
                base: 0,
                shift: 0,
                dim: LEAF_DIM,
                mask: 0,
            },
            rule_count: self.rules.len(),
            simd: Acl::<A>::vector_capable(),
            leaf_limit,
            leaf_refs: 0,
        };
        let bits = [A::BITS, A::BITS, 16, 16, 8];
        let region = Region {
            lo: [0; DIMS],
            bits,
        };
        let all: Vec<u32> = (0..acl.rules.len() as u32).collect();
        let mut leaf_memo = HashMap::new();
        acl.root = acl.build_node(all, region, 0, &mut leaf_memo);
        acl.blocks.shrink_to_fit();
        acl.leaf_rules.shrink_to_fit();
        acl.children.shrink_to_fit();
        acl
    }
}

fn addr_mask<A: AclAddr>() -> u128 {
    if A::BITS >= 128 {
        u128::MAX
    } else {
        (1u128 << A::BITS) - 1
    }
}

/// A node's region: in each dimension the aligned block `[lo, lo + 2^bits)`.
#[derive(Clone, Copy)]
struct Region {
    lo: [u128; DIMS],
    bits: [u32; DIMS],
}

impl Region {
    fn hi(&self, d: usize) -> u128 {
        if self.bits[d] >= 128 {
            u128::MAX
        } else {
            self.lo[d] + ((1u128 << self.bits[d]) - 1)
        }
    }
}

impl<A: AclAddr> Acl<A> {
    /// Whether rule `r` matches every key of `region` (so rules ranked after it never win
    /// there).
    fn covers(&self, r: &Compiled<A::Word>, region: &Region) -> bool {
        for d in 0..4 {
            let (lo, hi) = r.range(d);
            if lo > region.lo[d] || hi < region.hi(d) {
                return false;
            }
        }
        r.proto_mask == 0
            || (region.bits[PROTO_DIM] == 0
                && (region.lo[PROTO_DIM] as u8 & r.proto_mask) == r.proto)
    }

    fn make_leaf(&mut self, rules: Vec<u32>, memo: &mut HashMap<Vec<u32>, Node>) -> Node {
        if let Some(&leaf) = memo.get(&rules) {
            return leaf;
        }
        let len = rules.len() as u32;
        let leaf = Node {
            base: self.leaf_rules.len() as u32,
            shift: (len >> 16) as u8,
            dim: LEAF_DIM,
            mask: len as u16,
        };
        self.leaf_count += 1;
        self.leaf_refs += rules.len();
        self.max_leaf = self.max_leaf.max(rules.len());
        if Self::vector_capable() {
            // IPv4 leaves are also stored as blocks of eight rules; leaf `i`'s rule ids
            // are padded to whole blocks so `base / BLOCK_RULES` is its first block.
            for chunk in rules.chunks(simd::BLOCK_RULES) {
                let mut block = simd::LeafBlock::default();
                for (j, &r) in chunk.iter().enumerate() {
                    let c = &self.rules[r as usize];
                    let w = |d: usize| c.lo[d].to_u128() as u32;
                    let span = |d: usize| c.span[d].to_u128() as u32;
                    block.src_lo[j] = w(0);
                    block.src_span[j] = span(0);
                    block.dst_lo[j] = w(1);
                    block.dst_span[j] = span(1);
                    block.port_lo[j] = w(2) | w(3) << 16;
                    block.port_span[j] = span(2) | span(3) << 16;
                    block.proto[j] = u32::from(c.proto) | u32::from(c.proto_mask) << 8;
                    block.userdata[j] = c.userdata;
                }
                self.blocks.push(block);
            }
            self.leaf_rules.extend_from_slice(&rules);
            let padded = rules.len().next_multiple_of(simd::BLOCK_RULES);
            self.leaf_rules
                .resize(self.leaf_rules.len() + padded - rules.len(), u32::MAX);
        } else {
            self.leaf_rules.extend_from_slice(&rules);
        }
        memo.insert(rules, leaf);
        leaf
    }

    /// Child index range of rule `r` when dimension `d` of `region` is cut in `2^k`.
    fn child_span(&self, r: &Compiled<A::Word>, region: &Region, d: usize, k: u32) -> (u32, u32) {
        let (lo, hi) = r.range(d);
        let lo = lo.max(region.lo[d]) - region.lo[d];
        let hi = hi.min(region.hi(d)) - region.lo[d];
        let shift = region.bits[d] - k;
        ((lo >> shift) as u32, (hi >> shift) as u32)
    }

    fn build_node(
        &mut self,
        mut rules: Vec<u32>,
        region: Region,
        depth: usize,
        memo: &mut HashMap<Vec<u32>, Node>,
    ) -> Node {
        if let Some(pos) = rules
            .iter()
            .position(|&r| self.covers(&self.rules[r as usize], &region))
        {
            rules.truncate(pos + 1);
        }
        let n = rules.len();
        let leaf_limit = self.leaf_limit;
        if n <= leaf_limit || depth >= MAX_DEPTH {
            return self.make_leaf(rules, memo);
        }
        // Choose the cut: smallest largest child, then least replication.
        let mut best: Option<(usize, usize, usize, u32)> = None; // (max_child, total, dim, k)
        let mut counts = vec![0isize; (1 << MAX_CUT_BITS) + 1];
        for d in 0..DIMS {
            let kmax = region.bits[d].min(MAX_CUT_BITS);
            for k in 1..=kmax {
                let nc = 1usize << k;
                // Difference array: +1 at each span's start, -1 past its end.
                counts[..=nc].iter_mut().for_each(|c| *c = 0);
                let mut total = 0;
                for &r in &rules {
                    let (a, b) = self.child_span(&self.rules[r as usize], &region, d, k);
                    counts[a as usize] += 1;
                    counts[b as usize + 1] -= 1;
                    total += (b - a + 1) as usize;
                }
                let mut max_child = 0;
                let mut running = 0isize;
                for &c in &counts[..nc] {
                    running += c;
                    max_child = max_child.max(running as usize);
                }
                if k > 1 && total > SPACE_FACTOR * n + nc {
                    break;
                }
                let cand = (max_child, total, d, k);
                if best.is_none_or(|b| (cand.0, cand.1) < (b.0, b.1)) {
                    best = Some(cand);
                }
                if max_child <= leaf_limit {
                    break;
                }
            }
        }
        let Some((max_child, _, dim, k)) = best else {
            return self.make_leaf(rules, memo);
        };
        if max_child >= n {
            // No cut separates these rules.
            return self.make_leaf(rules, memo);
        }
        let nc = 1usize << k;
        let mut child_rules: Vec<Vec<u32>> = vec![Vec::new(); nc];
        for &r in &rules {
            let (a, b) = self.child_span(&self.rules[r as usize], &region, dim, k);
            for cr in &mut child_rules[a as usize..=b as usize] {
                cr.push(r);
            }
        }
        self.internal_nodes += 1;
        let base = self.children.len() as u32;
        let shift = region.bits[dim] - k;
        let node = Node {
            base,
            shift: shift as u8,
            dim: dim as u8,
            mask: (nc - 1) as u16,
        };
        self.children.resize(self.children.len() + nc, node);
        // Identical sibling rule lists share a subtree only when they end up leaves (a
        // subtree's cuts depend on the region it was built for).
        for (c, cr) in child_rules.into_iter().enumerate() {
            let mut sub = region;
            sub.lo[dim] = region.lo[dim] + ((c as u128) << shift);
            sub.bits[dim] = shift;
            let child = self.build_node(cr, sub, depth + 1, memo);
            self.children[base as usize + c] = child;
        }
        node
    }

    #[inline(always)]
    fn key_words(key: &AclKey<A>) -> [A::Word; KEY_WORDS] {
        [
            key.src.to_word(),
            key.dst.to_word(),
            A::Word::from_u128(u128::from(key.sport)),
            A::Word::from_u128(u128::from(key.dport)),
            A::Word::from_u128(u128::from(key.proto)),
            A::Word::default(),
        ]
    }

    #[inline(always)]
    fn scan_leaf(&self, leaf: Node, k: &[A::Word; KEY_WORDS], proto: u8) -> Option<usize> {
        let ids = self.leaf_ids(leaf);
        ids.iter()
            .map(|&r| r as usize)
            .find(|&r| self.rules[r].matches(k, proto))
    }

    /// The rules of `leaf` (a leaf node), in rank order.
    #[inline(always)]
    fn leaf_ids(&self, leaf: Node) -> &[u32] {
        let start = leaf.base as usize;
        &self.leaf_rules[start..start + leaf.leaf_len()]
    }

    /// One level down from an internal node.
    #[inline(always)]
    fn step(&self, n: Node, k: &[A::Word; KEY_WORDS]) -> Node {
        let idx = k[n.dim as usize].slice(u32::from(n.shift), u32::from(n.mask));
        self.children[n.base as usize + idx]
    }

    /// One level down, or `n` itself if it is a leaf. The load is made either way (a leaf
    /// reads the first, cache-hot, child slot), so choosing needs no branch.
    #[inline(always)]
    fn step_or_stay(&self, n: Node, k: &[A::Word; KEY_WORDS]) -> Node {
        let idx = k[n.dim as usize].slice(u32::from(n.shift), u32::from(n.mask));
        let pos = if n.is_leaf() {
            0
        } else {
            n.base as usize + idx
        };
        let next = self.children.get(pos).copied().unwrap_or(n);
        if n.is_leaf() { n } else { next }
    }

    /// The best matching rule's position in rank order.
    #[inline(always)]
    fn classify_ranked(&self, key: &AclKey<A>) -> Option<usize> {
        let k = Self::key_words(key);
        self.scan_leaf(self.walk_one(&k), &k, key.proto)
    }

    /// The leaf key words `k` lead to.
    #[inline(always)]
    fn walk_one(&self, k: &[A::Word; KEY_WORDS]) -> Node {
        let mut at = self.root;
        while !at.is_leaf() {
            at = self.step(at, k);
        }
        at
    }

    /// User data of the best matching rule, if any.
    #[inline]
    pub fn classify(&self, key: &AclKey<A>) -> Option<u32> {
        if A::BITS == 32 && self.simd {
            let leaf = self.walk_one(&Self::key_words(key));
            let mut out = [None];
            simd::match_leaves(
                &self.blocks,
                &[Self::leaf_ref(leaf)],
                &[Self::block_key(key)],
                &mut out,
                true,
            );
            return out[0];
        }
        self.classify_ranked(key).map(|r| self.rules[r].userdata)
    }

    /// An IPv4 leaf's place in the block table.
    #[inline(always)]
    fn leaf_ref(leaf: Node) -> simd::LeafRef {
        (leaf.base as usize / simd::BLOCK_RULES, leaf.leaf_len())
    }

    /// An IPv4 key as the block matcher takes it.
    #[inline(always)]
    fn block_key(key: &AclKey<A>) -> simd::BlockKey {
        simd::BlockKey {
            src: key.src.to_word().to_u128() as u32,
            dst: key.dst.to_word().to_u128() as u32,
            ports: u32::from(key.sport) | u32::from(key.dport) << 16,
            proto: u32::from(key.proto),
        }
    }

    /// Index (in insertion order) of the best matching rule, if any.
    pub fn classify_rule(&self, key: &AclKey<A>) -> Option<usize> {
        self.classify_ranked(key)
            .map(|r| self.rules[r].index as usize)
    }

    /// Classifies `keys` into `out` (user data or `None`), walking groups of several keys'
    /// trees in lock-step so their memory loads overlap. Only `min(keys.len(), out.len())`
    /// keys are classified; returns the number that matched a rule.
    ///
    /// Every round steps every lane of a group with no per-lane branch (lanes at leaves
    /// stay), and a group stops when all its lanes are at leaves. IPv4 classifiers walk 32
    /// keys per group with AVX-512 gathers and match leaves eight rules per instruction where
    /// the CPU has it ([`Acl::simd`]); otherwise eight keys per group with scalar code.
    pub fn classify_bulk(&self, keys: &[AclKey<A>], out: &mut [Option<u32>]) -> usize {
        let n = keys.len().min(out.len());
        if self.simd && A::BITS == 32 {
            return self.classify_bulk_simd(&keys[..n], &mut out[..n]);
        }
        let mut matched = 0;
        for (kc, oc) in keys[..n]
            .chunks(BULK_LANES)
            .zip(out[..n].chunks_mut(BULK_LANES))
        {
            // Lanes past the end of a short group walk a zero key; their results are unused.
            let mut words = [[A::Word::default(); KEY_WORDS]; BULK_LANES];
            for (w, key) in words.iter_mut().zip(kc) {
                *w = Self::key_words(key);
            }
            let mut at = [self.root; BULK_LANES];
            for _ in 0..MAX_DEPTH + 1 {
                if at.iter().all(|n| n.is_leaf()) {
                    break;
                }
                for i in 0..BULK_LANES {
                    at[i] = self.step_or_stay(at[i], &words[i]);
                }
            }
            matched += self.scan_leaves(&at, kc, oc);
        }
        matched
    }

    /// The bulk classifier for IPv4 keys with AVX-512: the walk ([`simd::walk`]) and the
    /// leaf matcher ([`simd::match_leaves`]), in blocks of [`SIMD_BLOCK`] keys.
    fn classify_bulk_simd(&self, keys: &[AclKey<A>], out: &mut [Option<u32>]) -> usize {
        let mut matched = 0;
        let mut words = [[0u64; SIMD_BLOCK + simd::PAD]; DIMS];
        let mut leaves = [self.root; SIMD_BLOCK];
        let mut refs = [(0usize, 0usize); SIMD_BLOCK];
        let mut bkeys = [simd::BlockKey {
            src: 0,
            dst: 0,
            ports: 0,
            proto: 0,
        }; SIMD_BLOCK];
        for (kc, oc) in keys.chunks(SIMD_BLOCK).zip(out.chunks_mut(SIMD_BLOCK)) {
            let n = kc.len();
            for (i, key) in kc.iter().enumerate() {
                let w = Self::key_words(key);
                for d in 0..DIMS {
                    words[d][i] = w[d].to_u128() as u64;
                }
                bkeys[i] = Self::block_key(key);
            }
            let [w0, w1, w2, w3, w4] = &words;
            let walked = !self.root.is_leaf()
                && simd::walk(
                    &self.children,
                    self.root,
                    &[&w0[..], &w1[..], &w2[..], &w3[..], &w4[..]],
                    n,
                    &mut leaves,
                );
            for ((leaf, r), key) in leaves.iter_mut().zip(refs.iter_mut()).zip(kc) {
                // Only for a root leaf: the walk always ends at leaves of trees built here.
                if !walked || !leaf.is_leaf() {
                    *leaf = self.walk_one(&Self::key_words(key));
                }
                *r = Self::leaf_ref(*leaf);
            }
            matched += simd::match_leaves(&self.blocks, &refs[..n], &bkeys[..n], oc, true);
            leaves[..n].fill(self.root);
        }
        matched
    }

    /// Scans the leaves a group of keys reached (`at[i]` is key `i`'s leaf), writing each
    /// key's user data; returns how many matched.
    #[inline(always)]
    fn scan_leaves(&self, at: &[Node], kc: &[AclKey<A>], oc: &mut [Option<u32>]) -> usize {
        let mut matched = 0;
        for ((ac, kc), oc) in at
            .chunks(BULK_LANES)
            .zip(kc.chunks(BULK_LANES))
            .zip(oc.chunks_mut(BULK_LANES))
        {
            // Start the leaves' rule loads for a few lanes before scanning any.
            for &leaf in &ac[..kc.len()] {
                if let Some(&first) = self.leaf_ids(leaf).first() {
                    prefetch(&self.rules[first as usize]);
                }
            }
            for ((&leaf, key), o) in ac.iter().zip(kc).zip(oc.iter_mut()) {
                *o = self
                    .scan_leaf(leaf, &Self::key_words(key), key.proto)
                    .map(|r| self.rules[r].userdata);
                matched += usize::from(o.is_some());
            }
        }
        matched
    }

    /// Whether this classifier can use the AVX-512 walk and matcher: IPv4 on a CPU with
    /// AVX-512F and AVX-512VL. Only such classifiers get the large, vector-matched leaves
    /// and their blocks; the others keep small leaves for the scalar scan.
    fn vector_capable() -> bool {
        A::BITS == 32 && simd::available() && simd::match_available()
    }

    /// Whether bulk classification uses the AVX-512 walk.
    pub fn simd(&self) -> bool {
        self.simd
    }

    /// Turns the AVX-512 bulk walk on (only if this CPU supports it) or off (the portable
    /// scalar walk, e.g. to test it or compare). Returns whether it is now on.
    pub fn set_simd(&mut self, on: bool) -> bool {
        self.simd = on && Self::vector_capable();
        self.simd
    }

    /// Walks `keys` through the classifier counting the work done (slow; for tuning and
    /// benchmarks, not the fast path).
    pub fn profile(&self, keys: &[AclKey<A>]) -> AclProfile {
        let mut p = AclProfile {
            keys: keys.len(),
            ..AclProfile::default()
        };
        for key in keys {
            let k = Self::key_words(key);
            let mut at = self.root;
            let mut depth = 0;
            while !at.is_leaf() {
                at = self.step(at, &k);
                depth += 1;
            }
            p.nodes_visited += depth;
            p.max_depth = p.max_depth.max(depth);
            let ids = self.leaf_ids(at);
            p.leaf_rules += ids.len();
            p.rules_compared += match self.scan_leaf(at, &k, key.proto) {
                Some(r) => ids
                    .iter()
                    .position(|&i| i as usize == r)
                    .map_or(0, |i| i + 1),
                None => ids.len(),
            };
        }
        p
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rule_count
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rule_count == 0
    }

    /// Size and shape of the built structures.
    pub fn stats(&self) -> AclStats {
        let memory_bytes = std::mem::size_of_val(&self.rules[..])
            + std::mem::size_of_val(&self.children[..])
            + std::mem::size_of_val(&self.leaf_rules[..])
            + std::mem::size_of_val(&self.blocks[..]);
        AclStats {
            rules: self.rule_count,
            nodes: self.internal_nodes,
            leaves: self.leaf_count,
            leaf_rule_refs: self.leaf_refs,
            max_leaf_rules: self.max_leaf,
            memory_bytes,
        }
    }
}

/// Reading and writing the ClassBench rule and trace files used by DPDK's `dpdk-test-acl`.
///
/// Rules: `@<src>/<len> <dst>/<len> <sp_lo> : <sp_hi> <dp_lo> : <dp_hi> <proto>/<mask>`, one
/// per line, earlier lines winning (priority = lines after it; user data = 1-based line
/// number among rules, as `dpdk-test-acl` assigns them). Traces: `<src> <dst> <sport>
/// <dport> <proto>` as numbers (decimal or `0x` hex), addresses as 32-bit integers.
/// Lines that are empty or start with `#` are skipped.
pub mod dpdk_format {
    use super::*;

    fn num<T: TryFrom<u64>>(s: &str, line: usize, text: &str) -> Result<T, AclError> {
        let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            u64::from_str_radix(h, 16).ok()
        } else {
            s.parse::<u64>().ok()
        };
        v.and_then(|v| T::try_from(v).ok())
            .ok_or_else(|| AclError::Parse {
                line,
                reason: "bad number",
                text: text.to_string(),
            })
    }

    fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
        text.lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
    }

    /// Parses an IPv4 rule file.
    pub fn parse_rules_v4(text: &str) -> Result<Vec<AclRuleV4>, AclError> {
        let parsed: Vec<(usize, &str)> = lines(text).collect();
        let total = parsed.len() as u32;
        parsed
            .into_iter()
            .enumerate()
            .map(|(n, (line, l))| {
                let bad = |reason| AclError::Parse {
                    line,
                    reason,
                    text: l.to_string(),
                };
                let body = l.strip_prefix('@').ok_or_else(|| bad("missing '@'"))?;
                let f: Vec<&str> = body.split_whitespace().collect();
                if f.len() != 9 || f[3] != ":" || f[6] != ":" {
                    return Err(bad("expected 9 fields"));
                }
                let net = |s: &str| -> Result<(Ipv4Addr, u8), AclError> {
                    let (a, m) = s.split_once('/').ok_or_else(|| bad("missing '/'"))?;
                    let a: Ipv4Addr = a.parse().map_err(|_| bad("bad address"))?;
                    let m: u8 = num(m, line, l)?;
                    Ok((a, m))
                };
                let (src, src_len) = net(f[0])?;
                let (dst, dst_len) = net(f[1])?;
                let (p, m) = f[8].split_once('/').ok_or_else(|| bad("missing '/'"))?;
                let rule = AclRule {
                    src,
                    src_len,
                    dst,
                    dst_len,
                    sport: (num(f[2], line, l)?, num(f[4], line, l)?),
                    dport: (num(f[5], line, l)?, num(f[7], line, l)?),
                    proto: num(p, line, l)?,
                    proto_mask: num(m, line, l)?,
                    priority: total - n as u32,
                    userdata: n as u32 + 1,
                };
                rule.validate(n)?;
                Ok(rule)
            })
            .collect()
    }

    /// Writes an IPv4 rule in the file format.
    pub fn format_rule_v4(r: &AclRuleV4) -> String {
        format!(
            "@{}/{}\t{}/{}\t{} : {}\t{} : {}\t0x{:02x}/0x{:02x}",
            r.src,
            r.src_len,
            r.dst,
            r.dst_len,
            r.sport.0,
            r.sport.1,
            r.dport.0,
            r.dport.1,
            r.proto,
            r.proto_mask
        )
    }

    /// Parses an IPv4 trace file.
    pub fn parse_trace_v4(text: &str) -> Result<Vec<AclKeyV4>, AclError> {
        lines(text)
            .map(|(line, l)| {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.len() < 5 {
                    return Err(AclError::Parse {
                        line,
                        reason: "expected 5 fields",
                        text: l.to_string(),
                    });
                }
                Ok(AclKey {
                    src: Ipv4Addr::from(num::<u32>(f[0], line, l)?),
                    dst: Ipv4Addr::from(num::<u32>(f[1], line, l)?),
                    sport: num(f[2], line, l)?,
                    dport: num(f[3], line, l)?,
                    proto: num(f[4], line, l)?,
                })
            })
            .collect()
    }

    /// Writes an IPv4 trace line.
    pub fn format_trace_v4(k: &AclKeyV4) -> String {
        format!(
            "0x{:08x}\t0x{:08x}\t{}\t{}\t{}",
            u32::from(k.src),
            u32::from(k.dst),
            k.sport,
            k.dport,
            k.proto
        )
    }
}
