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
//! # Group covers
//! A group covers a prefix of `base` bits (the bits consumed above it). Of the routes that cover
//! that whole prefix, only the longest, the group's *cover*, can show anywhere in the group or
//! below it (every other entry there is a route longer than `base`). The writer keeps the cover's
//! depth per group (0 when no route covers it), which lets range writes skip whole subtrees: an
//! add of a route shorter than a group's cover changes nothing below it, and a delete touches
//! only groups whose cover is the deleted route (same depth, as both cover the group), whose
//! new cover is then the deleted route's own cover. Without it, deleting or adding a short route
//! would walk every group under it, including those under longer routes (which is what
//! `rte_fib6` avoids by writing only the gaps between more specific routes).
//!
//! # Memory ordering
//! Route entries publish nothing but themselves, so they are stored `Relaxed`: readers may see a
//! mix of old and new valid entries while a range is rewritten (each lookup still sees one whole
//! entry, the route before or after the update). The only `Release` stores are those that link a
//! filled group into its parent (readers load entries with `Acquire` before following them).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::mem::{AtomicArray, fill_relaxed, prefetch};
use crate::qsbr::Qsbr;
use crate::rules::{Key6, RuleTable};
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

/// The rule store: per prefix length, a table from masked prefix to next hop. IPv4 prefixes
/// are kept as `u32` (8-byte slots).
enum Rules {
    V4(Vec<RuleTable<u32>>),
    V6(Vec<RuleTable<Key6>>),
}

impl Rules {
    fn new(key_bits: u8) -> Self {
        if key_bits == 32 {
            Self::V4((0..=key_bits).map(|_| RuleTable::new()).collect())
        } else {
            Self::V6((0..=key_bits).map(|_| RuleTable::new()).collect())
        }
    }

    /// Starts the miss on the slot of `key` (masked to `depth`).
    #[inline]
    fn prefetch(&self, depth: u8, key: u128) {
        match self {
            Self::V4(m) => m[usize::from(depth)].prefetch((key >> 96) as u32),
            Self::V6(m) => m[usize::from(depth)].prefetch(Key6::new(key)),
        }
    }

    #[inline]
    fn get(&self, depth: u8, key: u128) -> Option<u32> {
        match self {
            Self::V4(m) => m[usize::from(depth)].get((key >> 96) as u32),
            Self::V6(m) => m[usize::from(depth)].get(Key6::new(key)),
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
            Self::V4(m) => m[usize::from(depth)].remove((key >> 96) as u32),
            Self::V6(m) => m[usize::from(depth)].remove(Key6::new(key)),
        }
    }

    #[inline]
    fn is_empty_at(&self, depth: u8) -> bool {
        match self {
            Self::V4(m) => m[usize::from(depth)].len() == 0,
            Self::V6(m) => m[usize::from(depth)].len() == 0,
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Self::V4(m) => m.iter().map(RuleTable::heap_bytes).sum(),
            Self::V6(m) => m.iter().map(RuleTable::heap_bytes).sum(),
        }
    }
}

/// Entries of tbl24 per hint (one cache line).
const HINT_SHIFT: u32 = 4;
const HINT_BLOCK: usize = 1 << HINT_SHIFT;
/// Upper bound meaning "may hold an extended entry".
const HINT_EXT: u8 = u8::MAX;

/// Lines per superline: 256 lines, 4096 entries (a /12 in IPv4, a /20 in IPv6).
const SUPER_SHIFT: u32 = 8;
const SUPER_ENTRIES: usize = HINT_BLOCK << SUPER_SHIFT;

#[inline(always)]
fn unpack(h: u16) -> (u8, u8) {
    (h as u8, (h >> 8) as u8)
}

#[inline(always)]
fn pack(lo: u8, hi: u8) -> u16 {
    u16::from(lo) | u16::from(hi) << 8
}

/// The writer's per-line bounds on tbl24 (see the module docs): `lo` is at most, and `hi` at
/// least, the depth of every non-extended entry in the line (invalid entries count as depth 0);
/// `hi == HINT_EXT` when the line may hold an extended entry. Bounds only ever need to be
/// conservative; a full-line check makes them exact again.
///
/// The same bounds per superline of 256 lines (bounds of its lines' bounds) let a range write
/// over a short prefix decide a whole superline at once: every change to a line's bounds widens
/// its superline's, and a superline processed line by line gets exact bounds again.
struct Hints {
    lines: Vec<u16>,
    supers: Vec<u16>,
}

impl Hints {
    fn new() -> Self {
        // All entries start invalid: depth 0.
        Self {
            lines: vec![0; TBL24_ENTRIES >> HINT_SHIFT],
            supers: vec![0; TBL24_ENTRIES / SUPER_ENTRIES],
        }
    }

    /// A placeholder while the real hints are borrowed out.
    fn empty() -> Self {
        Self {
            lines: Vec::new(),
            supers: Vec::new(),
        }
    }

    #[inline(always)]
    fn get(&self, line: usize) -> (u8, u8) {
        unpack(self.lines[line])
    }

    #[inline(always)]
    fn set(&mut self, line: usize, lo: u8, hi: u8) {
        self.lines[line] = pack(lo, hi);
        let (slo, shi) = unpack(self.supers[line >> SUPER_SHIFT]);
        self.supers[line >> SUPER_SHIFT] = pack(slo.min(lo), shi.max(hi));
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

    #[inline(always)]
    fn get_super(&self, sup: usize) -> (u8, u8) {
        unpack(self.supers[sup])
    }

    /// Every entry of superline `sup` now has depth `depth`.
    fn set_super_uniform(&mut self, sup: usize, depth: u8) {
        let h = pack(depth, depth);
        self.lines[sup << SUPER_SHIFT..(sup + 1) << SUPER_SHIFT].fill(h);
        self.supers[sup] = h;
    }

    /// Makes superline `sup`'s bounds exact from its lines'.
    fn exact_super(&mut self, sup: usize) {
        let (mut lo, mut hi) = (u8::MAX, 0u8);
        for &h in &self.lines[sup << SUPER_SHIFT..(sup + 1) << SUPER_SHIFT] {
            let (l, h) = unpack(h);
            lo = lo.min(l);
            hi = hi.max(h);
        }
        self.supers[sup] = pack(lo, hi);
    }

    fn heap_bytes(&self) -> usize {
        (self.lines.capacity() + self.supers.capacity()) * 2
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
    /// Per group: the depth of its cover (see "Group covers" in the module docs). Only the
    /// writer uses it (atomics just so the recursive range writers can update it via `&self`).
    cover: Box<[AtomicU8]>,
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
        let tbl24 = AtomicArray::new(TBL24_ENTRIES, cfg.hugepages, cfg.prefault)?;
        let tbl8 = AtomicArray::new(
            cfg.tbl8_groups as usize * GROUP_ENTRIES,
            cfg.hugepages,
            cfg.prefault,
        )?;
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
            cover: (0..cfg.tbl8_groups).map(|_| AtomicU8::new(0)).collect(),
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
        // The tbl24 entry and its line's hint are needed next: start both misses now, so they
        // overlap the rule store's.
        self.prefetch_path(key);
        self.rules.prefetch(depth, key);
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
                self.cover[g as usize].store(self.depth_of(e), Ordering::Relaxed);
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
            let mut hints = std::mem::replace(&mut self.hints, Hints::empty());
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

    /// Prefetches the tbl24 entry of `key` and the writer's hint for its line.
    #[inline(always)]
    fn prefetch_path(&self, key: u128) {
        let idx = top24(key);
        prefetch(&self.tables.tbl24.as_slice()[idx]);
        prefetch(&self.hints.lines[idx >> HINT_SHIFT]);
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
    /// the hints prove no longer prefix and no group is there, else entry by entry. Whole
    /// superlines inside the range are first decided by their own bounds.
    fn set_range24(&self, hints: &mut Hints, start: usize, count: usize, new: u32, depth: u8) {
        let tbl24 = self.tables.tbl24.as_slice();
        let end = start + count;
        // Consecutive lines to overwrite blindly are written as one run.
        let mut blind = start..start;
        let mut i = start;
        while i < end {
            if i % SUPER_ENTRIES == 0 && end - i >= SUPER_ENTRIES {
                let sup = i / SUPER_ENTRIES;
                let (_, hi) = hints.get_super(sup);
                let sup_end = i + SUPER_ENTRIES;
                if hi <= depth {
                    blind.end = sup_end;
                    hints.set_super_uniform(sup, depth);
                    i = sup_end;
                } else {
                    while i < sup_end {
                        i = self.set_line24(hints, &mut blind, i, end, new, depth);
                    }
                    hints.exact_super(sup);
                }
            } else {
                i = self.set_line24(hints, &mut blind, i, end, new, depth);
            }
        }
        fill_relaxed(&tbl24[blind], new);
    }

    /// One line's part (from `i`, before `end`) of [`Trie::set_range24`]: extends the blind
    /// run, or flushes it and writes the line entry by entry. Returns where the part ends.
    #[inline(always)]
    fn set_line24(
        &self,
        hints: &mut Hints,
        blind: &mut std::ops::Range<usize>,
        i: usize,
        end: usize,
        new: u32,
        depth: u8,
    ) -> usize {
        let tbl24 = self.tables.tbl24.as_slice();
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
            *blind = line_end..line_end;
            self.set_range(run, new, depth);
            if full {
                self.exact_hint(hints, line, run);
            } else {
                hints.lower(line, depth);
            }
        }
        line_end
    }

    /// `clear_range` over `count` tbl24 entries from `start` (the range of the deleted route,
    /// so every entry in it is extended or has a depth of at least `depth`). Whole superlines
    /// inside the range are first decided by their own bounds.
    fn clear_range24(&self, hints: &mut Hints, start: usize, count: usize, depth: u8, repl: u32) {
        let tbl24 = self.tables.tbl24.as_slice();
        let end = start + count;
        let mut blind = start..start;
        let mut i = start;
        while i < end {
            if i % SUPER_ENTRIES == 0 && end - i >= SUPER_ENTRIES {
                let sup = i / SUPER_ENTRIES;
                let (lo, hi) = hints.get_super(sup);
                let sup_end = i + SUPER_ENTRIES;
                if hi == depth {
                    // Every entry of the superline is exactly the deleted route.
                    blind.end = sup_end;
                    hints.set_super_uniform(sup, self.depth_of(repl));
                    i = sup_end;
                } else if hi != HINT_EXT && lo > depth {
                    // Only longer prefixes here: nothing to restore.
                    fill_relaxed(&tbl24[blind.clone()], repl);
                    blind = sup_end..sup_end;
                    i = sup_end;
                } else {
                    while i < sup_end {
                        i = self.clear_line24(hints, &mut blind, i, end, depth, repl);
                    }
                    hints.exact_super(sup);
                }
            } else {
                i = self.clear_line24(hints, &mut blind, i, end, depth, repl);
            }
        }
        fill_relaxed(&tbl24[blind], repl);
    }

    /// One line's part (from `i`, before `end`) of [`Trie::clear_range24`]; returns where the
    /// part ends.
    #[inline(always)]
    fn clear_line24(
        &self,
        hints: &mut Hints,
        blind: &mut std::ops::Range<usize>,
        i: usize,
        end: usize,
        depth: u8,
        repl: u32,
    ) -> usize {
        let tbl24 = self.tables.tbl24.as_slice();
        let repl_depth = self.depth_of(repl);
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
            return line_end;
        }
        fill_relaxed(&tbl24[blind.clone()], repl);
        *blind = line_end..line_end;
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
        line_end
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
                // The route covers the whole group: it replaces the group's cover unless that
                // is longer, in which case nothing below changes (see "Group covers").
                let cover = &self.cover[(e & !EXT) as usize];
                if cover.load(Ordering::Relaxed) <= depth {
                    cover.store(depth, Ordering::Relaxed);
                    self.set_range(self.group(e), new, depth);
                }
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
        // Every candidate's slot is requested before any is probed, so the misses overlap.
        for d in (0..depth).rev() {
            if !self.rules.is_empty_at(d) {
                self.rules.prefetch(d, key & prefix_mask(d));
            }
        }
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
        self.prefetch_path(key);
        self.rules.prefetch(depth, key);
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
            let mut hints = std::mem::replace(&mut self.hints, Hints::empty());
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
                // Only a group whose cover is the deleted route holds copies of it.
                let cover = &self.cover[(e & !EXT) as usize];
                if cover.load(Ordering::Relaxed) == depth {
                    cover.store(self.depth_of(repl), Ordering::Relaxed);
                    self.clear_range(self.group(e), depth, repl);
                }
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
        let rules = self.rules.heap_bytes() + self.hints.heap_bytes() + self.cover.len();
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
