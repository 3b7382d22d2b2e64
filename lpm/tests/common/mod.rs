//! Naive references and helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::HashMap;

/// A list of prefixes; longest match by linear scan. Keys are u128 with the address in the top
/// bits (IPv4 shifted left by 96), like the table's own keys but computed independently here.
#[derive(Default, Clone)]
pub struct NaiveLpm {
    pub rules: Vec<(u128, u8, u32)>,
}

pub fn mask(depth: u8) -> u128 {
    if depth == 0 {
        0
    } else {
        !0u128 << (128 - depth as u32)
    }
}

impl NaiveLpm {
    pub fn add(&mut self, key: u128, depth: u8, nh: u32) -> Option<u32> {
        let key = key & mask(depth);
        for r in &mut self.rules {
            if r.0 == key && r.1 == depth {
                let old = r.2;
                r.2 = nh;
                return Some(old);
            }
        }
        self.rules.push((key, depth, nh));
        None
    }
    pub fn delete(&mut self, key: u128, depth: u8) -> Option<u32> {
        let key = key & mask(depth);
        let pos = self.rules.iter().position(|r| r.0 == key && r.1 == depth)?;
        Some(self.rules.swap_remove(pos).2)
    }
    pub fn lookup(&self, addr: u128) -> Option<u32> {
        self.rules
            .iter()
            .filter(|r| addr & mask(r.1) == r.0)
            .max_by_key(|r| r.1)
            .map(|r| r.2)
    }
}

/// Per-depth hash maps probed from the longest depth down: a faster naive reference for the
/// large workloads.
#[derive(Default)]
pub struct HashLpm {
    pub maps: Vec<HashMap<u128, u32>>,
}

impl HashLpm {
    pub fn new(bits: u8) -> Self {
        Self {
            maps: (0..=bits).map(|_| HashMap::new()).collect(),
        }
    }
    pub fn add(&mut self, key: u128, depth: u8, nh: u32) {
        self.maps[depth as usize].insert(key & mask(depth), nh);
    }
    pub fn delete(&mut self, key: u128, depth: u8) -> Option<u32> {
        self.maps[depth as usize].remove(&(key & mask(depth)))
    }
    pub fn lookup(&self, addr: u128) -> Option<u32> {
        for d in (0..self.maps.len()).rev() {
            if let Some(&nh) = self.maps[d].get(&(addr & mask(d as u8))) {
                return Some(nh);
            }
        }
        None
    }
    pub fn len(&self) -> usize {
        self.maps.iter().map(|m| m.len()).sum()
    }
}

/// splitmix64, for reproducible workloads.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn k4(ip: u32) -> u128 {
    (ip as u128) << 96
}
