//! The multibit trie shared by IPv4 and IPv6: a 2^24-entry first level (`tbl24`) and 256-entry
//! groups (`tbl8`) for every further 8 bits, plus the rule store and the writer's bookkeeping.
//!
//! Keys are `u128` with the address in the most significant bits (an IPv4 address is shifted left
//! by 96), so level `l >= 1` indexes its group with bits `16 + 8l .. 24 + 8l` of the key.
//!
//! Entry layout (`u32`): bit 31 `EXT` (the low 31 bits are a group index), else bit 30 `VALID`,
//! the route's depth above `nh_bits`, and the next hop in the low `nh_bits` bits. Every
//! non-extended entry carries the depth of the route that produced it, which is what lets adds
//! keep longer prefixes and deletes restore the covering prefix without rebuilding anything.
//!
//! # Range writes
//! A short prefix covers a run of up to 2^23 tbl24 entries. Reading each entry before writing it
//! (to keep longer prefixes) would stall on every cache miss, so the writer keeps [`Hints`]: per
//! 16-entry line of tbl24, a lower and an upper bound of the depths stored there and whether it
//! may hold an extended entry. An add whose depth is at least the line's upper bound, or a delete
//! whose depth equals it, writes the line's part of the range blindly (stores only); a delete
//! skips lines whose lower bound is deeper than the route; only the other lines are checked entry
//! by entry (and then get exact bounds again).
//!
//! # Memory ordering
//! Route entries publish nothing but themselves, so they are stored `Relaxed`: readers may see a
//! mix of old and new valid entries while a range is rewritten (each lookup still sees one whole
//! entry, the route before or after the update). The only `Release` stores are those that link a
//! filled group into its parent (readers load entries with `Acquire` before following them).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::mem::{AtomicArray, fill_relaxed};
use crate::qsbr::Qsbr;
use crate::{LpmConfig, LpmError};

pub(crate) const EXT: u32 = 1 << 31;
pub(crate) const VALID: u32 = 1 << 30;
pub(crate) const TBL24_ENTRIES: usize = 1 << 24;
pub(crate) const GROUP_ENTRIES: usize = 256;
/// Deepest level: 24 + 13 * 8 = 128.
const MAX_LEVELS: usize = 14;

/// Memory shared between the writer and its readers.
pub(crate) struct Tables {
    pub(crate) tbl24: AtomicArray,
    pub(crate) tbl8: AtomicArray,
    pub(crate) qsbr: Qsbr,
}

/// A hasher for prefix keys: one folded multiply (foldhash-like); keys are not attacker-chosen
/// in a routing table, and SipHash would dominate the add/delete cost.
#[derive(Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

const K1: u64 = 0x243f_6a88_85a3_08d3;
const K2: u64 = 0x1319_8a2e_0370_7344;

#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = folded_multiply(self.0 ^ u64::from_le_bytes(b) ^ K1, K2);
        }
    }
    #[inline]
    fn write_u32(&mut self, k: u32) {
        self.0 = folded_multiply(u64::from(k) ^ K1 ^ self.0, K2);
    }
    #[inline]
    fn write_u128(&mut self, k: u128) {
        self.0 = folded_multiply((k as u64) ^ K1 ^ self.0, ((k >> 64) as u64) ^ K2);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type Map<K> = HashMap<K, u32, BuildHasherDefault<KeyHasher>>;

/// An IPv6 prefix as four `u32`s: 4-byte alignment keeps a map slot at 20 bytes (a `u128` key
/// would make it 32).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key6([u32; 4]);

impl std::hash::Hash for Key6 {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        let [a, b, c, d] = self.0;
        h.write_u128(
            u128::from(a) << 96 | u128::from(b) << 64 | u128::from(c) << 32 | u128::from(d),
        );
    }
}

impl Key6 {
    #[inline]
    fn new(k: u128) -> Self {
        Self([
            (k >> 96) as u32,
            (k >> 64) as u32,
            (k >> 32) as u32,
            k as u32,
        ])
    }
}

/// The rule store: per prefix length, a map from masked prefix to next hop. IPv4 prefixes are
/// kept as `u32` (8-byte slots).
enum Rules {
    V4(Vec<Map<u32>>),
    V6(Vec<Map<Key6>>),
}

impl Rules {
    fn new(key_bits: u8) -> Self {
        if key_bits == 32 {
            Self::V4((0..=key_bits).map(|_| Map::default()).collect())
        } else {
            Self::V6((0..=key_bits).map(|_| Map::default()).collect())
        }
    }

    #[inline]
    fn get(&self, depth: u8, key: u128) -> Option<u32> {
        match self {
            Self::V4(m) => m[usize::from(depth)].get(&((key >> 96) as u32)).copied(),
            Self::V6(m) => m[usize::from(depth)].get(&Key6::new(key)).copied(),
        }
    }

    #[inline]
    fn insert(&mut self, depth: u8, key: u128, nh: u32) {
        match self {
            Self::V4(m) => m[usize::from(depth)].insert((key >> 96) as u32, nh),
            Self::V6(m) => m[usize::from(depth)].insert(Key6::new(key), nh),
        };
    }

    #[inline]
    fn remove(&mut self, depth: u8, key: u128) -> Option<u32> {
        match self {
            Self::V4(m) => m[usize::from(depth)].remove(&((key >> 96) as u32)),
            Self::V6(m) => m[usize::from(depth)].remove(&Key6::new(key)),
        }
    }

    #[inline]
    fn is_empty_at(&self, depth: u8) -> bool {
        match self {
            Self::V4(m) => m[usize::from(depth)].is_empty(),
            Self::V6(m) => m[usize::from(depth)].is_empty(),
        }
    }

    fn heap_bytes(&self) -> usize {
        fn bytes<K>(maps: &[Map<K>]) -> usize {
            maps.iter()
                .map(|m| m.capacity() * (std::mem::size_of::<(K, u32)>() + 1))
                .sum()
        }
        match self {
            Self::V4(m) => bytes(m),
            Self::V6(m) => bytes(m),
        }
    }
}

/// Entries of tbl24 per hint (one cache line).
const HINT_SHIFT: u32 = 4;
const HINT_BLOCK: usize = 1 << HINT_SHIFT;
/// Upper bound meaning "may hold an extended entry".
const HINT_EXT: u8 = u8::MAX;

/// The writer's per-line bounds on tbl24 (see the module docs): `lo` is at most, and `hi` at
/// least, the depth of every non-extended entry in the line (invalid entries count as depth 0);
/// `hi == HINT_EXT` when the line may hold an extended entry. Bounds only ever need to be
/// conservative; a full-line check makes them exact again.
struct Hints(Vec<u16>);

impl Hints {
    fn new() -> Self {
        // All entries start invalid: depth 0.
        Self(vec![0; TBL24_ENTRIES >> HINT_SHIFT])
    }

    #[inline(always)]
    fn get(&self, line: usize) -> (u8, u8) {
        let h = self.0[line];
        (h as u8, (h >> 8) as u8)
    }

    #[inline(always)]
    fn set(&mut self, line: usize, lo: u8, hi: u8) {
        self.0[line] = u16::from(lo) | u16::from(hi) << 8;
    }

    /// An entry of the line may now have depth `depth`.
    #[inline(always)]
    fn lower(&mut self, line: usize, depth: u8) {
        let (lo, hi) = self.get(line);
        self.set(line, lo.min(depth), hi.max(depth));
    }

    /// An entry of the line is now extended.
    #[inline(always)]
    fn mark_ext(&mut self, line: usize) {
        let (lo, _) = self.get(line);
        self.set(line, lo, HINT_EXT);
    }

    fn heap_bytes(&self) -> usize {
        self.0.capacity() * 2
    }
}

/// Where an entry lives: `tbl24[idx]` at level 0, else `tbl8[idx]`.
#[derive(Clone, Copy)]
struct Loc {
    level: usize,
    idx: usize,
}

#[inline(always)]
pub(crate) fn prefix_mask(depth: u8) -> u128 {
    if depth == 0 {
        0
    } else {
        !0u128 << (128 - u32::from(depth))
    }
}

#[inline(always)]
fn top24(key: u128) -> usize {
    (key >> 104) as usize
}

#[inline(always)]
fn byte_at(key: u128, level: usize) -> usize {
    ((key >> (104 - 8 * level)) & 0xff) as usize
}

/// Bits of the key consumed before `level`.
#[inline(always)]
fn base(level: usize) -> u8 {
    if level == 0 {
        0
    } else {
        (16 + 8 * level) as u8
    }
}

/// Bits of the key consumed after `level`.
#[inline(always)]
fn end(level: usize) -> u8 {
    if level == 0 {
        24
    } else {
        (24 + 8 * level) as u8
    }
}

/// The level whose stride holds the last bit of a prefix of `depth` bits.
#[inline(always)]
fn level_of(depth: u8) -> usize {
    if depth <= 24 {
        0
    } else {
        usize::from(depth - 17) / 8
    }
}

/// The writer's side of a trie: owns the rule store and the group allocator.
pub(crate) struct Trie {
    pub(crate) tables: Arc<Tables>,
    key_bits: u8,
    nh_bits: u32,
    rules: Rules,
    rule_count: usize,
    max_rules: usize,
    groups_total: u32,
    free: Vec<u32>,
    hints: Hints,
    /// Groups unlinked but maybe still read: (epoch to wait for, group).
    pending: VecDeque<(u64, u32)>,
    grace_timeout: Duration,
}

impl Trie {
    pub(crate) fn new(key_bits: u8, nh_bits: u32, cfg: &LpmConfig) -> Result<Self, LpmError> {
        if cfg.max_rules == 0 {
            return Err(LpmError::InvalidConfig("max_rules must be at least 1"));
        }
        if cfg.tbl8_groups >= (1 << 31) / GROUP_ENTRIES as u32 {
            return Err(LpmError::InvalidConfig(
                "tbl8_groups must be below 2^23 (group index must fit in 31 bits)",
            ));
        }
        let tbl24 = AtomicArray::new(TBL24_ENTRIES, cfg.hugepages)?;
        let tbl8 = AtomicArray::new(cfg.tbl8_groups as usize * GROUP_ENTRIES, cfg.hugepages)?;
        Ok(Self {
            tables: Arc::new(Tables {
                tbl24,
                tbl8,
                qsbr: Qsbr::new(),
            }),
            key_bits,
            nh_bits,
            rules: Rules::new(key_bits),
            rule_count: 0,
            max_rules: cfg.max_rules,
            groups_total: cfg.tbl8_groups,
            free: (0..cfg.tbl8_groups).rev().collect(),
            hints: Hints::new(),
            pending: VecDeque::new(),
            grace_timeout: cfg.grace_timeout,
        })
    }

    #[inline(always)]
    fn at(&self, loc: Loc) -> &AtomicU32 {
        if loc.level == 0 {
            &self.tables.tbl24.as_slice()[loc.idx]
        } else {
            &self.tables.tbl8.as_slice()[loc.idx]
        }
    }

    #[inline(always)]
    fn route_entry(&self, depth: u8, nh: u32) -> u32 {
        VALID | (u32::from(depth) << self.nh_bits) | nh
    }

    #[inline(always)]
    fn depth_of(&self, e: u32) -> u8 {
        ((e & !(EXT | VALID)) >> self.nh_bits) as u8
    }

    pub(crate) fn nh_max(&self) -> u32 {
        (1 << self.nh_bits) - 1
    }

    fn check_depth(&self, depth: u8) -> Result<(), LpmError> {
        if depth > self.key_bits {
            Err(LpmError::InvalidDepth(depth))
        } else {
            Ok(())
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rule_count
    }

    pub(crate) fn get(&self, key: u128, depth: u8) -> Result<Option<u32>, LpmError> {
        self.check_depth(depth)?;
        Ok(self.rules.get(depth, key & prefix_mask(depth)))
    }

    /// Adds a route or replaces the next hop of an existing one; returns the replaced next hop.
    pub(crate) fn add(&mut self, key: u128, depth: u8, nh: u32) -> Result<Option<u32>, LpmError> {
        self.check_depth(depth)?;
        if nh > self.nh_max() {
            return Err(LpmError::InvalidNextHop {
                next_hop: nh,
                max: self.nh_max(),
            });
        }
        let key = key & prefix_mask(depth);
        let prev = self.rules.get(depth, key);
        if prev == Some(nh) {
            // The tables already hold exactly this route.
            return Ok(prev);
        }
        if prev.is_none() && self.rule_count >= self.max_rules {
            return Err(LpmError::TableFull {
                max_rules: self.max_rules,
            });
        }
        let lvl = level_of(depth);
        let needed = self.groups_needed(key, lvl);
        self.ensure_free(needed)?;

        let new = self.route_entry(depth, nh);
        let mut loc = Loc {
            level: 0,
            idx: top24(key),
        };
        for l in 1..=lvl {
            let e = self.at(loc).load(Ordering::Relaxed);
            let g = if e & EXT != 0 {
                e & !EXT
            } else {
                // Unreachable after `ensure_free`; kept as an error rather than a panic (groups
                // made so far only copy their parent entry, so nothing changes for lookups).
                let g = self.free.pop().ok_or(LpmError::Tbl8Exhausted {
                    groups: self.groups_total,
                })?;
                let start = g as usize * GROUP_ENTRIES;
                for slot in &self.tables.tbl8.as_slice()[start..start + GROUP_ENTRIES] {
                    slot.store(e, Ordering::Relaxed);
                }
                // Publishes the filled group (readers load with Acquire).
                self.at(loc).store(EXT | g, Ordering::Release);
                if loc.level == 0 {
                    self.hints.mark_ext(loc.idx >> HINT_SHIFT);
                }
                g
            };
            loc = Loc {
                level: l,
                idx: g as usize * GROUP_ENTRIES + byte_at(key, l),
            };
        }
        let count = 1usize << (end(lvl) - depth);
        if lvl == 0 {
            let mut hints = std::mem::replace(&mut self.hints, Hints(Vec::new()));
            self.set_range24(&mut hints, loc.idx, count, new, depth);
            self.hints = hints;
        } else {
            self.set_range(self.range(loc, count), new, depth);
        }
        self.rules.insert(depth, key, nh);
        if prev.is_none() {
            self.rule_count += 1;
        }
        Ok(prev)
    }

    /// `count` entries starting at `loc`.
    #[inline]
    fn range(&self, loc: Loc, count: usize) -> &[AtomicU32] {
        let table = if loc.level == 0 {
            self.tables.tbl24.as_slice()
        } else {
            self.tables.tbl8.as_slice()
        };
        &table[loc.idx..loc.idx + count]
    }

    #[inline]
    fn group(&self, e: u32) -> &[AtomicU32] {
        let start = (e & !EXT) as usize * GROUP_ENTRIES;
        &self.tables.tbl8.as_slice()[start..start + GROUP_ENTRIES]
    }

    /// `set_range` over `count` tbl24 entries from `start`, line by line: blind stores where
    /// the hints prove no longer prefix and no group is there, else entry by entry.
    fn set_range24(&self, hints: &mut Hints, start: usize, count: usize, new: u32, depth: u8) {
        let tbl24 = self.tables.tbl24.as_slice();
        let end = start + count;
        // Consecutive lines to overwrite blindly are written as one run.
        let mut blind = start..start;
        let mut i = start;
        while i < end {
            let line = i >> HINT_SHIFT;
            let line_end = ((line + 1) << HINT_SHIFT).min(end);
            let run = &tbl24[i..line_end];
            let full = run.len() == HINT_BLOCK;
            let (lo, hi) = hints.get(line);
            if hi <= depth {
                // Every entry is invalid or a route no longer than `depth`: all are replaced.
                blind.end = line_end;
                hints.set(line, if full { depth } else { lo.min(depth) }, depth);
            } else {
                fill_relaxed(&tbl24[blind.clone()], new);
                blind = line_end..line_end;
                self.set_range(run, new, depth);
                if full {
                    self.exact_hint(hints, line, run);
                } else {
                    hints.lower(line, depth);
                }
            }
            i = line_end;
        }
        fill_relaxed(&tbl24[blind], new);
    }

    /// `clear_range` over `count` tbl24 entries from `start` (the range of the deleted route,
    /// so every entry in it is extended or has a depth of at least `depth`).
    fn clear_range24(&self, hints: &mut Hints, start: usize, count: usize, depth: u8, repl: u32) {
        let tbl24 = self.tables.tbl24.as_slice();
        let repl_depth = self.depth_of(repl);
        let end = start + count;
        let mut blind = start..start;
        let mut i = start;
        while i < end {
            let line = i >> HINT_SHIFT;
            let line_end = ((line + 1) << HINT_SHIFT).min(end);
            let run = &tbl24[i..line_end];
            let full = run.len() == HINT_BLOCK;
            let (lo, hi) = hints.get(line);
            if hi == depth {
                // Every entry in the run is exactly the deleted route.
                blind.end = line_end;
                if full {
                    hints.set(line, repl_depth, repl_depth);
                } else {
                    hints.lower(line, repl_depth);
                }
                i = line_end;
                continue;
            }
            fill_relaxed(&tbl24[blind.clone()], repl);
            blind = line_end..line_end;
            if hi != HINT_EXT && lo > depth {
                // Only longer prefixes here: nothing to restore.
            } else {
                self.clear_range(run, depth, repl);
                if full {
                    self.exact_hint(hints, line, run);
                } else {
                    hints.lower(line, repl_depth);
                }
            }
            i = line_end;
        }
        fill_relaxed(&tbl24[blind], repl);
    }

    /// Sets the hint of `line` from its entries (`run` is the whole line).
    fn exact_hint(&self, hints: &mut Hints, line: usize, run: &[AtomicU32]) {
        let (mut lo, mut hi) = (u8::MAX, 0u8);
        for slot in run {
            let e = slot.load(Ordering::Relaxed);
            if e & EXT != 0 {
                hi = HINT_EXT;
            } else {
                let d = self.depth_of(e);
                lo = lo.min(d);
                hi = hi.max(d);
            }
        }
        hints.set(line, lo, hi);
    }

    /// Writes route entry `new` of `depth` over `entries` and the groups below them, except
    /// where a longer prefix already wins.
    fn set_range(&self, entries: &[AtomicU32], new: u32, depth: u8) {
        let keep_above = u32::from(depth) << self.nh_bits;
        for slot in entries {
            let e = slot.load(Ordering::Relaxed);
            if e & EXT != 0 {
                self.set_range(self.group(e), new, depth);
            } else if e & VALID == 0 || (e & !VALID) <= keep_above | self.nh_max() {
                // (e & !VALID) compares depth first, as depth sits above the next hop.
                if e != new {
                    slot.store(new, Ordering::Relaxed);
                }
            }
        }
    }

    /// Groups an add of a prefix ending in level `lvl` must allocate.
    fn groups_needed(&self, key: u128, lvl: usize) -> usize {
        let mut loc = Loc {
            level: 0,
            idx: top24(key),
        };
        for l in 1..=lvl {
            let e = self.at(loc).load(Ordering::Relaxed);
            if e & EXT == 0 {
                return lvl - l + 1;
            }
            loc = Loc {
                level: l,
                idx: (e & !EXT) as usize * GROUP_ENTRIES + byte_at(key, l),
            };
        }
        0
    }

    fn ensure_free(&mut self, needed: usize) -> Result<(), LpmError> {
        if self.free.len() >= needed {
            return Ok(());
        }
        self.reclaim();
        if self.free.len() < needed && self.free.len() + self.pending.len() >= needed {
            let start = Instant::now();
            let mut spins = 0u32;
            while self.free.len() < needed && start.elapsed() < self.grace_timeout {
                if spins < 64 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(20));
                }
                spins += 1;
                self.reclaim();
            }
        }
        if self.free.len() < needed {
            return Err(LpmError::Tbl8Exhausted {
                groups: self.groups_total,
            });
        }
        Ok(())
    }

    /// Moves retired groups whose grace period has passed to the free list.
    pub(crate) fn reclaim(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let min = self.tables.qsbr.min_online();
        while let Some(&(epoch, g)) = self.pending.front() {
            if epoch > min {
                break;
            }
            self.pending.pop_front();
            self.free.push(g);
        }
    }

    /// The entry of the longest rule strictly shorter than `depth` covering `key` (0 if none).
    fn cover(&self, key: u128, depth: u8) -> u32 {
        for d in (0..depth).rev() {
            if self.rules.is_empty_at(d) {
                continue;
            }
            if let Some(nh) = self.rules.get(d, key & prefix_mask(d)) {
                return self.route_entry(d, nh);
            }
        }
        0
    }

    /// Deletes a route; returns its next hop.
    pub(crate) fn delete(&mut self, key: u128, depth: u8) -> Result<u32, LpmError> {
        self.check_depth(depth)?;
        let key = key & prefix_mask(depth);
        let nh = self
            .rules
            .remove(depth, key)
            .ok_or(LpmError::NotFound { depth })?;
        self.rule_count -= 1;
        let repl = self.cover(key, depth);
        let lvl = level_of(depth);

        let mut path = [Loc { level: 0, idx: 0 }; MAX_LEVELS];
        let mut groups = [0u32; MAX_LEVELS];
        let mut loc = Loc {
            level: 0,
            idx: top24(key),
        };
        path[0] = loc;
        for l in 1..=lvl {
            let e = self.at(loc).load(Ordering::Relaxed);
            if e & EXT == 0 {
                // Cannot happen: a rule ending below level 0 keeps its path of groups alive.
                debug_assert!(false, "lpm: missing group on the path of a stored rule");
                return Ok(nh);
            }
            groups[l] = e & !EXT;
            loc = Loc {
                level: l,
                idx: groups[l] as usize * GROUP_ENTRIES + byte_at(key, l),
            };
            path[l] = loc;
        }
        let count = 1usize << (end(lvl) - depth);
        if lvl == 0 {
            let mut hints = std::mem::replace(&mut self.hints, Hints(Vec::new()));
            self.clear_range24(&mut hints, loc.idx, count, depth, repl);
            self.hints = hints;
        } else {
            self.clear_range(self.range(loc, count), depth, repl);
        }
        // Collapse groups on the path that became uniform, deepest first.
        for l in (1..=lvl).rev() {
            match self.uniform(groups[l], base(l)) {
                Some(u) => {
                    self.at(path[l - 1]).store(u, Ordering::Release);
                    if l == 1 {
                        self.hints
                            .lower(path[0].idx >> HINT_SHIFT, self.depth_of(u));
                    }
                    let epoch = self.tables.qsbr.retire_epoch();
                    self.pending.push_back((epoch, groups[l]));
                }
                None => break,
            }
        }
        Ok(nh)
    }

    /// Replaces entries of the deleted route (`depth`) in `entries` and below with `repl`.
    fn clear_range(&self, entries: &[AtomicU32], depth: u8, repl: u32) {
        let lo = VALID | (u32::from(depth) << self.nh_bits);
        let hi = lo | self.nh_max();
        for slot in entries {
            let e = slot.load(Ordering::Relaxed);
            if e & EXT != 0 {
                self.clear_range(self.group(e), depth, repl);
            } else if (lo..=hi).contains(&e) {
                slot.store(repl, Ordering::Relaxed);
            }
        }
    }

    /// The single entry that can replace group `g` in its parent, if the group is uniform and
    /// its route covers the whole group (depth <= `base`).
    fn uniform(&self, g: u32, base: u8) -> Option<u32> {
        let start = g as usize * GROUP_ENTRIES;
        let group = &self.tables.tbl8.as_slice()[start..start + GROUP_ENTRIES];
        let first = group[0].load(Ordering::Relaxed);
        if first & EXT != 0 || (first & VALID != 0 && self.depth_of(first) > base) {
            return None;
        }
        group
            .iter()
            .all(|e| e.load(Ordering::Relaxed) == first)
            .then_some(first)
    }

    /// Groups holding entries (in use or waiting for their grace period).
    pub(crate) fn groups_in_use(&self) -> usize {
        self.groups_total as usize - self.free.len()
    }

    pub(crate) fn groups_total(&self) -> u32 {
        self.groups_total
    }

    pub(crate) fn memory(&self) -> MemoryUsage {
        let rules = self.rules.heap_bytes() + self.hints.heap_bytes();
        MemoryUsage {
            tbl24_bytes: self.tables.tbl24.mapped_bytes(),
            tbl8_bytes: self.tables.tbl8.mapped_bytes(),
            rule_bytes: rules,
            hugepages: self.tables.tbl24.is_huge() && self.tables.tbl8.is_huge(),
        }
    }
}

/// Memory a table uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Bytes mapped for the first-level table (2^24 entries of 4 bytes).
    pub tbl24_bytes: usize,
    /// Bytes mapped for the configured second-level groups (1 KiB each).
    pub tbl8_bytes: usize,
    /// Approximate heap bytes of the rule store and the writer's tbl24 hints (used only by
    /// updates).
    pub rule_bytes: usize,
    /// Whether both tables are in 2 MiB hugepages.
    pub hugepages: bool,
}

impl MemoryUsage {
    /// Total bytes.
    pub fn total(&self) -> usize {
        self.tbl24_bytes + self.tbl8_bytes + self.rule_bytes
    }
}
