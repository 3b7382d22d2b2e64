//! The rule store: per prefix length, an open-addressing hash table (linear probing, one array
//! of `(prefix, next hop)` slots) from masked prefix to next hop.
//!
//! It is consulted on every add (is the prefix there?) and delete (which covering prefix takes
//! over?), so its misses are most of an update's cost in a large table. Unlike a general map it
//! lets the writer compute a prefix's slot early and prefetch it (overlapping that miss with the
//! tbl24 one), and a delete prefetches the slots of every shorter length before probing any,
//! so the search for the covering prefix pays about one round trip instead of one per length.
//! Keys are not attacker-chosen in a routing table, so one folded multiply hashes them.

use crate::mem::prefetch;

/// Next hop of an empty slot (wider than any table's next-hop field).
const EMPTY: u32 = u32::MAX;

const K1: u64 = 0x243f_6a88_85a3_08d3;
const K2: u64 = 0x1319_8a2e_0370_7344;

#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A masked prefix as stored.
pub(crate) trait RuleKey: Copy + Eq + Default {
    /// The slot hash.
    fn hash(self) -> u64;
}

impl RuleKey for u32 {
    #[inline(always)]
    fn hash(self) -> u64 {
        folded_multiply(u64::from(self) ^ K1, K2)
    }
}

/// An IPv6 prefix as four `u32`s: 4-byte alignment keeps a slot at 20 bytes (a `u128` key
/// would make it 32).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Key6([u32; 4]);

impl Key6 {
    #[inline(always)]
    pub(crate) fn new(k: u128) -> Self {
        Self([
            (k >> 96) as u32,
            (k >> 64) as u32,
            (k >> 32) as u32,
            k as u32,
        ])
    }
}

impl RuleKey for Key6 {
    #[inline(always)]
    fn hash(self) -> u64 {
        let [a, b, c, d] = self.0.map(u64::from);
        folded_multiply((a << 32 | b) ^ K1, (c << 32 | d) ^ K2)
    }
}

#[derive(Clone, Copy)]
struct Slot<K> {
    key: K,
    nh: u32,
}

/// One prefix length's table. Capacity is zero or a power of two, at most 3/4 full.
pub(crate) struct RuleTable<K> {
    slots: Vec<Slot<K>>,
    len: usize,
}

impl<K: RuleKey> RuleTable<K> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
        }
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    #[inline(always)]
    fn home(&self, key: K) -> usize {
        key.hash() as usize & self.mask()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Starts the miss on `key`'s home slot.
    #[inline(always)]
    pub(crate) fn prefetch(&self, key: K) {
        if let Some(slot) = self.slots.get(self.home(key)) {
            prefetch(slot);
        }
    }

    /// The slot holding `key`, if any.
    #[inline]
    fn find(&self, key: K) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            if s.nh == EMPTY {
                return None;
            }
            if s.key == key {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    pub(crate) fn get(&self, key: K) -> Option<u32> {
        self.find(key).map(|i| self.slots[i].nh)
    }

    /// Inserts or replaces; returns the replaced next hop. `nh` must not be `u32::MAX`.
    pub(crate) fn insert(&mut self, key: K, nh: u32) -> Option<u32> {
        debug_assert_ne!(nh, EMPTY, "lpm: next hop u32::MAX cannot be stored");
        if let Some(i) = self.find(key) {
            return Some(std::mem::replace(&mut self.slots[i].nh, nh));
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        self.place(key, nh);
        self.len += 1;
        None
    }

    /// Puts a key known to be absent into the first free slot of its probe sequence.
    fn place(&mut self, key: K, nh: u32) {
        let mask = self.mask();
        let mut i = self.home(key);
        while self.slots[i].nh != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = Slot { key, nh };
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(8);
        let empty = Slot {
            key: K::default(),
            nh: EMPTY,
        };
        let old = std::mem::replace(&mut self.slots, vec![empty; cap]);
        for s in old {
            if s.nh != EMPTY {
                self.place(s.key, s.nh);
            }
        }
    }

    /// Removes `key`; returns its next hop. Later slots of the probe run shift back into the
    /// hole (no tombstones, so lookups never slow down with churn).
    pub(crate) fn remove(&mut self, key: K) -> Option<u32> {
        let i = self.find(key)?;
        let nh = self.slots[i].nh;
        let mask = self.mask();
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s.nh == EMPTY {
                break;
            }
            // `s` may fill the hole if the hole lies on its probe path (between its home and j).
            let home = self.home(s.key);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole].nh = EMPTY;
        self.len -= 1;
        Some(nh)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<K>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn matches_a_hashmap_under_churn() {
        // Few distinct keys with clustered hashes, so probe runs wrap and shift often.
        let mut t = RuleTable::<u32>::new();
        let mut m = HashMap::new();
        let mut x = 0x1234_5678_u64;
        for step in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x % 3000) as u32;
            if x >> 60 < 9 {
                assert_eq!(t.insert(key, step), m.insert(key, step), "insert {key}");
            } else {
                assert_eq!(t.remove(key), m.remove(&key), "remove {key}");
            }
            assert_eq!(t.len(), m.len());
            if step % 1000 == 0 {
                for k in 0..3000 {
                    assert_eq!(t.get(k), m.get(&k).copied(), "get {k} at {step}");
                }
            }
        }
        for (&k, &v) in &m {
            assert_eq!(t.get(k), Some(v));
        }
    }

    #[test]
    fn ipv6_keys_round_trip() {
        let mut t = RuleTable::<Key6>::new();
        for i in 0..1000u128 {
            assert_eq!(t.insert(Key6::new(i << 64), i as u32), None);
        }
        for i in 0..1000u128 {
            assert_eq!(t.get(Key6::new(i << 64)), Some(i as u32));
            assert_eq!(t.get(Key6::new(i << 64 | 1)), None);
        }
        for i in (0..1000u128).step_by(2) {
            assert_eq!(t.remove(Key6::new(i << 64)), Some(i as u32));
        }
        for i in 0..1000u128 {
            let want = (i % 2 == 1).then_some(i as u32);
            assert_eq!(t.get(Key6::new(i << 64)), want);
        }
    }
}
