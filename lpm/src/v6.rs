//! IPv6 longest-prefix match: a 24-bit first stride then 8-bit strides (the `rte_lpm6` shape),
//! up to 14 reads for a /128, typically 4 to 6 for real tables (/32 to /64 routes).
//!
//! Entries: bit 31 extended (low bits = group), bit 30 valid, bits 22..30 depth (0..=128),
//! bits 0..22 next hop (so next hops are 22 bits, `0..=0x3F_FFFF`; `rte_lpm6` has 21).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::mem::{self, TablesRef, prefetch};
use crate::qsbr::reader_protocol;
use crate::trie::{EXT, MemoryUsage, Trie, VALID};
use crate::{LpmConfig, LpmError, NO_ROUTE, route_found};

/// Next hops are 22 bits.
pub const MAX_NEXT_HOP6: u32 = (1 << 22) - 1;
const NH_BITS: u32 = 22;
const BLOCK: usize = 16;

#[inline(always)]
fn key(ip: &[u8; 16]) -> u128 {
    u128::from_be_bytes(*ip)
}

/// The tables as IPv6 lookups read them (the lookups are implemented below).
type View<'a> = mem::View<'a, [u8; 16]>;

impl<'a> View<'a> {
    #[inline(always)]
    fn first(self, ip: &[u8; 16]) -> &'a AtomicU32 {
        let idx = (usize::from(ip[0]) << 16) | (usize::from(ip[1]) << 8) | usize::from(ip[2]);
        &self.tbl24[idx]
    }

    #[inline(always)]
    fn next(self, e: u32, byte: u8) -> u32 {
        let idx = (((e & !EXT) as usize) << 8) | usize::from(byte);
        self.tbl8.get(idx).map_or(0, |x| x.load(Ordering::Acquire))
    }

    #[inline(always)]
    fn finish(e: u32) -> u32 {
        if e & (EXT | VALID) == VALID {
            e & MAX_NEXT_HOP6
        } else {
            NO_ROUTE
        }
    }

    #[inline(always)]
    fn lookup(self, ip: &[u8; 16]) -> u32 {
        let mut e = self.first(ip).load(Ordering::Acquire);
        for &b in &ip[3..] {
            if e & EXT == 0 {
                break;
            }
            e = self.next(e, b);
        }
        Self::finish(e)
    }

    /// Bulk: per block, all tbl24 loads first (next block prefetched), then the walks advance
    /// level by level across the block so independent misses overlap.
    fn lookup_bulk(self, ips: &[[u8; 16]], out: &mut [u32]) -> usize {
        let n = ips.len().min(out.len());
        let (ips, out) = (&ips[..n], &mut out[..n]);
        for ip in ips.iter().take(BLOCK) {
            prefetch(self.first(ip));
        }
        for (b, (ipb, outb)) in ips.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
            for ip in ips.iter().skip((b + 1) * BLOCK).take(BLOCK) {
                prefetch(self.first(ip));
            }
            let mut e = [0u32; BLOCK];
            let mut any_ext = 0u32;
            for (e, ip) in e.iter_mut().zip(ipb) {
                *e = self.first(ip).load(Ordering::Acquire);
                any_ext |= *e & EXT;
            }
            let mut pos = 3;
            while any_ext != 0 && pos < 16 {
                any_ext = 0;
                for (e, ip) in e.iter_mut().zip(ipb) {
                    if *e & EXT != 0 {
                        *e = self.next(*e, ip[pos]);
                        any_ext |= *e & EXT;
                    }
                }
                pos += 1;
            }
            for (o, &e) in outb.iter_mut().zip(&e) {
                *o = Self::finish(e);
            }
        }
        n
    }
}

/// An IPv6 routing table; the same ownership model as [`crate::Lpm4`]: lookups on `&self`,
/// updates on `&mut self`, and [`Lpm6Reader`] handles for lookups on other threads during
/// updates. Addresses are network-order bytes (`Ipv6Addr::octets()`).
pub struct Lpm6 {
    trie: Trie,
    /// The trie's tables as the lookups read them (see `TablesRef`).
    fast: TablesRef,
}

impl Lpm6 {
    /// Creates an empty table (64 MiB tbl24 plus `cfg.tbl8_groups` KiB of groups).
    pub fn new(cfg: &LpmConfig) -> Result<Self, LpmError> {
        let trie = Trie::new(128, NH_BITS, cfg)?;
        let fast = TablesRef::new(Arc::clone(&trie.tables));
        Ok(Self { trie, fast })
    }

    /// Adds `ip/depth -> next_hop` (depth 0..=128), replacing (and returning) the next hop of
    /// an existing prefix. Errors as [`crate::Lpm4::add`], with [`MAX_NEXT_HOP6`].
    pub fn add(
        &mut self,
        ip: &[u8; 16],
        depth: u8,
        next_hop: u32,
    ) -> Result<Option<u32>, LpmError> {
        self.trie.add(key(ip), depth, next_hop)
    }

    /// Deletes `ip/depth`, restoring the covering prefix; returns the deleted next hop.
    pub fn delete(&mut self, ip: &[u8; 16], depth: u8) -> Result<u32, LpmError> {
        self.trie.delete(key(ip), depth)
    }

    /// The next hop stored for exactly `ip/depth`, if that rule exists.
    pub fn get(&self, ip: &[u8; 16], depth: u8) -> Result<Option<u32>, LpmError> {
        self.trie.get(key(ip), depth)
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.trie.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.trie.len() == 0
    }

    /// Longest-prefix match of one address.
    #[inline]
    pub fn lookup(&self, ip: &[u8; 16]) -> Option<u32> {
        route_found(View::new(&self.fast).lookup(ip))
    }

    /// Looks up `min(ips.len(), next_hops.len())` addresses, writing next hops or
    /// [`NO_ROUTE`]; returns how many were written.
    #[inline]
    pub fn lookup_bulk(&self, ips: &[[u8; 16]], next_hops: &mut [u32]) -> usize {
        View::new(&self.fast).lookup_bulk(ips, next_hops)
    }

    /// A lock-free lookup handle for another thread (see [`crate::Lpm4Reader`]).
    pub fn reader(&self) -> Result<Lpm6Reader, LpmError> {
        let (tables, slot) = TablesRef::register_reader(&self.trie.tables)?;
        Ok(Lpm6Reader { tables, slot })
    }

    /// Makes groups retired by deletes reusable once their grace period has passed.
    pub fn reclaim(&mut self) {
        self.trie.reclaim();
    }

    /// Groups in use or waiting for their grace period.
    pub fn tbl8_groups_in_use(&self) -> usize {
        self.trie.groups_in_use()
    }

    /// Memory used by the tables and the rule store.
    pub fn memory(&self) -> MemoryUsage {
        self.trie.memory()
    }
}

/// A worker's lookup handle on an [`Lpm6`]; same protocol as [`crate::Lpm4Reader`].
pub struct Lpm6Reader {
    tables: TablesRef,
    slot: usize,
}
reader_protocol!(Lpm6Reader);

impl Lpm6Reader {
    /// Longest-prefix match of one address.
    #[inline]
    pub fn lookup(&self, ip: &[u8; 16]) -> Option<u32> {
        route_found(View::new(&self.tables).lookup(ip))
    }

    /// See [`Lpm6::lookup_bulk`].
    #[inline]
    pub fn lookup_bulk(&self, ips: &[[u8; 16]], next_hops: &mut [u32]) -> usize {
        View::new(&self.tables).lookup_bulk(ips, next_hops)
    }
}
