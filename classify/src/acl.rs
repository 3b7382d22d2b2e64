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
//! # Algorithm: a HiCuts/HyperCuts-style decision tree
//! The rule space is five dimensions (source, destination, source port, destination port,
//! protocol). Each internal node cuts one dimension of its region into `2^k` equal,
//! power-of-two aligned slices, so the child for a key is `(field >> shift) & mask`, one load
//! per level, no comparisons. The build picks, per node, the dimension and number of cuts that
//! best split the node's rules while bounding rule replication (`SPACE_FACTOR`), and stops at
//! leaves of at most [`LEAF_RULES`] rules, which are scanned in priority order with
//! branch-light range checks (`key - lo <= hi - lo`). Two prunings keep the tree small:
//! rules after the first one that covers the whole node region can never win there and are
//! dropped, and identical leaves are stored once.
//!
//! Why this rather than the alternatives:
//! - `rte_acl`'s multi-bit trie/DFA over key bytes has a fixed cost per key but explodes
//!   in memory on port ranges and wildcards, so it splits rule sets into several tries that
//!   must all be walked; its build is slow for 10,000 rules.
//! - Tuple-space search costs one hash probe per distinct (prefix length, prefix length,
//!   port shape, protocol) tuple, which is dozens to hundreds for realistic rule sets, and
//!   port ranges must be expanded into prefixes.
//! - A decision tree with cheap per-level indexing walks a handful of nodes plus one short,
//!   cache-friendly leaf scan, needs memory proportional to the (bounded) replication, and
//!   builds 10,000 rules in about a second. Bulk classification walks groups of keys in
//!   lock-step so their memory loads overlap; leaves step to themselves, so the walk has
//!   no per-key branch (measured with [`Acl::profile`] and `examples/acl_perf.rs`: at
//!   10,000 rules about 5 nodes and 2 rule compares per key, with the tree mostly in cache,
//!   so branch mispredictions rather than misses set the cost).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use crate::prefetch::prefetch;

/// Most rules in a leaf (the leaf is scanned linearly).
pub const LEAF_RULES: usize = 8;
/// Most rules in a classifier.
pub const MAX_RULES: usize = 1 << 22;
/// Allowed replication of rules into children per cut (HiCuts' `spfac`).
const SPACE_FACTOR: usize = 8;
/// Most cut bits in one node (`2^8` children).
const MAX_CUT_BITS: u32 = 8;
/// Deepest tree; nodes at this depth become leaves whatever their size.
const MAX_DEPTH: usize = 40;
/// Keys walked together by the bulk classifier.
const BULK_LANES: usize = 8;

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
}

impl<A: AclAddr> Default for AclBuilder<A> {
    fn default() -> Self {
        AclBuilder { rules: Vec::new() }
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
/// The child for key words `k` is `children[base + ((k[dim] >> shift) & mask)]`. A leaf is
/// a node whose step leads back to itself: `dim` is [`LEAF_DIM`] (the key's last word,
/// always zero) and `base` is the position of the leaf's canonical copy in `children`, so a
/// walk can step every lane of a bulk group without a branch until all have reached their
/// leaves. The entry after the canonical copy describes the leaf's rules: `base` is their
/// start in `leaf_rules` and `shift:mask` their number (24 bits; [`MAX_RULES`] fits).
#[derive(Clone, Copy, Debug)]
struct Node {
    /// First child in `children` (internal) or the leaf's canonical position (leaf).
    base: u32,
    shift: u8,
    /// Dimension cut, or [`LEAF_DIM`].
    dim: u8,
    mask: u16,
}

impl Node {
    #[inline(always)]
    fn is_leaf(self) -> bool {
        self.dim == LEAF_DIM
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
    /// Distinct leaves and the size of the largest (statistics only).
    leaf_count: usize,
    max_leaf: usize,
    leaf_rules: Vec<u32>,
    root: Node,
    rule_count: usize,
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

    /// Rules added so far.
    pub fn rules(&self) -> &[AclRule<A>] {
        &self.rules
    }

    /// Builds the classifier.
    pub fn build(&self) -> Acl<A> {
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
            root: Node {
                base: 0,
                shift: 0,
                dim: LEAF_DIM,
                mask: 0,
            },
            rule_count: self.rules.len(),
        };
        let bits = [A::BITS, A::BITS, 16, 16, 8];
        let region = Region {
            lo: [0; DIMS],
            bits,
        };
        let all: Vec<u32> = (0..acl.rules.len() as u32).collect();
        let mut leaf_memo = HashMap::new();
        acl.root = acl.build_node(all, region, 0, &mut leaf_memo);
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
        let pos = self.children.len() as u32;
        let len = rules.len() as u32;
        let leaf = Node {
            base: pos,
            shift: 0,
            dim: LEAF_DIM,
            mask: 0,
        };
        let info = Node {
            base: self.leaf_rules.len() as u32,
            shift: (len >> 16) as u8,
            dim: LEAF_DIM,
            mask: len as u16,
        };
        self.children.extend([leaf, info]);
        self.leaf_count += 1;
        self.max_leaf = self.max_leaf.max(rules.len());
        self.leaf_rules.extend_from_slice(&rules);
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
        if n <= LEAF_RULES || depth >= MAX_DEPTH {
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
                if max_child <= LEAF_RULES {
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
        let info = self.children[leaf.base as usize + 1];
        let start = info.base as usize;
        let len = (usize::from(info.shift) << 16) | usize::from(info.mask);
        &self.leaf_rules[start..start + len]
    }

    /// One level down (a leaf steps to itself).
    #[inline(always)]
    fn step(&self, n: Node, k: &[A::Word; KEY_WORDS]) -> Node {
        let idx = k[n.dim as usize].slice(u32::from(n.shift), u32::from(n.mask));
        self.children[n.base as usize + idx]
    }

    /// The best matching rule's position in rank order.
    #[inline(always)]
    fn classify_ranked(&self, key: &AclKey<A>) -> Option<usize> {
        let k = Self::key_words(key);
        let mut at = self.root;
        while !at.is_leaf() {
            at = self.step(at, &k);
        }
        self.scan_leaf(at, &k, key.proto)
    }

    /// User data of the best matching rule, if any.
    #[inline]
    pub fn classify(&self, key: &AclKey<A>) -> Option<u32> {
        self.classify_ranked(key).map(|r| self.rules[r].userdata)
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
    /// Leaves step to themselves, so every round steps every lane with no per-lane branch,
    /// and the group stops when all lanes are at leaves: the walk is bound by computation
    /// and branch prediction far more than by memory, so removing the data-dependent
    /// branches is what pays.
    pub fn classify_bulk(&self, keys: &[AclKey<A>], out: &mut [Option<u32>]) -> usize {
        let n = keys.len().min(out.len());
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
            loop {
                let mut all_leaves = true;
                for i in 0..BULK_LANES {
                    at[i] = self.step(at[i], &words[i]);
                    all_leaves &= at[i].is_leaf();
                }
                if all_leaves {
                    break;
                }
            }
            // Start the leaves' rule loads for all lanes before scanning any.
            let lanes = kc.len();
            for &leaf in &at[..lanes] {
                if let Some(&first) = self.leaf_ids(leaf).first() {
                    prefetch(&self.rules[first as usize]);
                }
            }
            for i in 0..lanes {
                oc[i] = self
                    .scan_leaf(at[i], &words[i], kc[i].proto)
                    .map(|r| self.rules[r].userdata);
                matched += usize::from(oc[i].is_some());
            }
        }
        matched
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
            + std::mem::size_of_val(&self.leaf_rules[..]);
        AclStats {
            rules: self.rule_count,
            nodes: self.internal_nodes,
            leaves: self.leaf_count,
            leaf_rule_refs: self.leaf_rules.len(),
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
