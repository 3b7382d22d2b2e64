//! IPv4 longest-prefix match: DIR-24-8 (`rte_lpm` layout).
//!
//! `tbl24` holds one entry per /24; a /24 that contains a prefix longer than 24 bits points to a
//! 256-entry tbl8 group indexed by the last byte. A lookup is one memory read, or two for
//! addresses inside such a /24. Entries: bit 31 extended (low bits = group), bit 30 valid,
//! bits 24..30 depth, bits 0..24 next hop (so next hops are 24 bits, `0..=0xFF_FFFF`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::mem::{self, TablesRef, prefetch};
use crate::qsbr::reader_protocol;
use crate::trie::{EXT, MemoryUsage, Trie, VALID};
use crate::{LookupImpl, LpmConfig, LpmError, NO_ROUTE, route_found};

/// Next hops are 24 bits.
pub const MAX_NEXT_HOP4: u32 = (1 << 24) - 1;
const NH_BITS: u32 = 24;
/// Addresses per bulk-lookup block: the tbl24 lines of a whole block are prefetched before
/// any is read (32 = one DPDK burst; enough misses in flight to cover the memory latency).
const BLOCK: usize = 32;

#[inline(always)]
fn key(ip: u32) -> u128 {
    u128::from(ip) << 96
}

/// The tables as IPv4 lookups read them (the lookups are implemented below).
type View<'a> = mem::View<'a, u32>;

impl<'a> View<'a> {
    #[inline(always)]
    fn resolve(self, mut e: u32, ip: u32) -> u32 {
        if e & EXT != 0 {
            let idx = (((e & !EXT) as usize) << 8) | (ip & 0xff) as usize;
            e = self.tbl8.get(idx).map_or(0, |x| x.load(Ordering::Relaxed));
        }
        if e & VALID != 0 {
            e & MAX_NEXT_HOP4
        } else {
            NO_ROUTE
        }
    }

    #[inline(always)]
    fn first(self, ip: u32) -> &'a AtomicU32 {
        &self.tbl24[(ip >> 8) as usize]
    }

    #[inline(always)]
    fn lookup(self, ip: u32) -> u32 {
        self.resolve(self.first(ip).load(Ordering::Acquire), ip)
    }

    /// Eight independent lookups: all tbl24 loads are issued before any is resolved, so
    /// their cache misses overlap.
    #[inline(always)]
    fn lookup8(self, ips: &[u32; 8]) -> [u32; 8] {
        let e: [u32; 8] = std::array::from_fn(|i| self.first(ips[i]).load(Ordering::Acquire));
        std::array::from_fn(|i| self.resolve(e[i], ips[i]))
    }

    /// Prefetches the tbl24 lines of a whole block before any is loaded, so all of its
    /// cache misses are in flight at once (a sliding prefetch distance cannot help a 32-address
    /// burst: by the time it pays off the burst is over).
    #[inline(always)]
    fn prefetch_block(self, ips: &[u32]) {
        for &ip in ips {
            prefetch(self.first(ip));
        }
    }

    /// Scalar resolution of a block whose tbl24 lines are prefetched: first every tbl24 entry
    /// (raw, into `out`), then tbl8 for the rare extended entries, then a branch-free pass that
    /// turns entries into next hops or [`NO_ROUTE`]. Separating the passes keeps the
    /// unpredictable valid/miss outcome out of branches and lets all loads issue back to back.
    #[inline(always)]
    fn resolve_block(self, ips: &[u32], out: &mut [u32]) {
        let mut any = 0;
        for (o, &ip) in out.iter_mut().zip(ips) {
            let e = self.first(ip).load(Ordering::Acquire);
            *o = e;
            any |= e;
        }
        if any & EXT != 0 {
            for (o, &ip) in out.iter_mut().zip(ips) {
                if *o & EXT != 0 {
                    let idx = (((*o & !EXT) as usize) << 8) | (ip & 0xff) as usize;
                    *o = self.tbl8.get(idx).map_or(0, |x| x.load(Ordering::Relaxed));
                }
            }
        }
        for o in out.iter_mut() {
            // VALID set: the next hop; clear: all ones (NO_ROUTE). A resolved tbl8 entry is
            // never extended in a 32-bit trie.
            *o = (*o & MAX_NEXT_HOP4) | (((*o & VALID) >> VALID.trailing_zeros()).wrapping_sub(1));
        }
    }

    /// Bulk lookup in blocks of [`BLOCK`]: prefetch the block's tbl24 lines, then resolve it
    /// with `imp` (gathers for whole vectors, `resolve_block` for the rest).
    fn lookup_with(self, imp: LookupImpl, ips: &[u32], out: &mut [u32]) -> usize {
        let n = ips.len().min(out.len());
        let imp = imp.resolve();
        for (ipb, ob) in ips[..n].chunks(BLOCK).zip(out[..n].chunks_mut(BLOCK)) {
            self.prefetch_block(ipb);
            let done = match imp {
                LookupImpl::Scalar | LookupImpl::Auto => 0,
                #[cfg(target_arch = "x86_64")]
                LookupImpl::Avx2 => {
                    // SAFETY: `resolve` returned Avx2 only after detecting AVX2; the pointers
                    // come from live tables of the right sizes, and every extended entry names
                    // an allocated group.
                    unsafe { crate::simd::lookup_avx2(self.raw(), ipb, ob) }
                }
                #[cfg(target_arch = "x86_64")]
                LookupImpl::Avx512 => {
                    // SAFETY: as above, with AVX-512F detected.
                    unsafe { crate::simd::lookup_avx512(self.raw(), ipb, ob) }
                }
                #[cfg(not(target_arch = "x86_64"))]
                _ => 0,
            };
            self.resolve_block(&ipb[done..], &mut ob[done..]);
        }
        n
    }

    #[cfg(target_arch = "x86_64")]
    fn raw(self) -> crate::simd::RawTables {
        crate::simd::RawTables {
            tbl24: self.tbl24.as_ptr().cast(),
            tbl8: self.tbl8.as_ptr().cast(),
            nh_mask: MAX_NEXT_HOP4,
        }
    }
}

/// An IPv4 routing table. Lookups take `&self`; updates take `&mut self`, so the owner is the
/// single writer. For lookups on other threads *while* the owner updates, hand each worker an
/// [`Lpm4Reader`] from [`Lpm4::reader`] (see the crate docs for the protocol).
///
/// Addresses are host-order `u32` (`u32::from(Ipv4Addr)`).
pub struct Lpm4 {
    trie: Trie,
    /// The trie's tables as the lookups read them (see `TablesRef`).
    fast: TablesRef,
}

impl Lpm4 {
    /// Creates an empty table (64 MiB tbl24 plus `cfg.tbl8_groups` KiB of tbl8 groups).
    pub fn new(cfg: &LpmConfig) -> Result<Self, LpmError> {
        let trie = Trie::new(32, NH_BITS, cfg)?;
        let fast = TablesRef::new(Arc::clone(&trie.tables));
        Ok(Self { trie, fast })
    }

    /// Adds `ip/depth -> next_hop` (bits of `ip` beyond `depth` are ignored). If the prefix
    /// exists its next hop is replaced and the old one returned.
    ///
    /// Errors: [`LpmError::InvalidDepth`] (depth > 32), [`LpmError::InvalidNextHop`]
    /// (> [`MAX_NEXT_HOP4`]), [`LpmError::TableFull`], [`LpmError::Tbl8Exhausted`]. On error
    /// nothing changes.
    pub fn add(&mut self, ip: u32, depth: u8, next_hop: u32) -> Result<Option<u32>, LpmError> {
        self.trie.add(key(ip), depth, next_hop)
    }

    /// Deletes `ip/depth`, restoring the next-longest covering prefix in its place; returns the
    /// deleted next hop. Errors: [`LpmError::InvalidDepth`], [`LpmError::NotFound`].
    pub fn delete(&mut self, ip: u32, depth: u8) -> Result<u32, LpmError> {
        self.trie.delete(key(ip), depth)
    }

    /// The next hop stored for exactly `ip/depth`, if that rule exists.
    pub fn get(&self, ip: u32, depth: u8) -> Result<Option<u32>, LpmError> {
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
    pub fn lookup(&self, ip: u32) -> Option<u32> {
        route_found(View::new(&self.fast).lookup(ip))
    }

    /// Looks up `min(ips.len(), next_hops.len())` addresses, writing each next hop or
    /// [`NO_ROUTE`]; returns how many were written. Uses the fastest implementation this CPU
    /// has ([`LookupImpl::Auto`]).
    #[inline]
    pub fn lookup_bulk(&self, ips: &[u32], next_hops: &mut [u32]) -> usize {
        View::new(&self.fast).lookup_with(LookupImpl::Auto, ips, next_hops)
    }

    /// [`Lpm4::lookup_bulk`] with a chosen implementation (unsupported ones fall back to
    /// scalar); all give identical results.
    pub fn lookup_bulk_with(&self, imp: LookupImpl, ips: &[u32], next_hops: &mut [u32]) -> usize {
        View::new(&self.fast).lookup_with(imp, ips, next_hops)
    }

    /// Looks up 8 addresses ([`NO_ROUTE`] for misses).
    #[inline]
    pub fn lookup8(&self, ips: &[u32; 8]) -> [u32; 8] {
        View::new(&self.fast).lookup8(ips)
    }

    /// Looks up 32 addresses ([`NO_ROUTE`] for misses).
    #[inline]
    pub fn lookup32(&self, ips: &[u32; 32]) -> [u32; 32] {
        let mut out = [NO_ROUTE; 32];
        self.lookup_bulk(ips, &mut out);
        out
    }

    /// A lock-free lookup handle for another thread, registered online.
    /// Errors: [`LpmError::TooManyReaders`].
    pub fn reader(&self) -> Result<Lpm4Reader, LpmError> {
        let (tables, slot) = TablesRef::register_reader(&self.trie.tables)?;
        Ok(Lpm4Reader { tables, slot })
    }

    /// Number of registered readers.
    pub fn readers(&self) -> usize {
        self.trie.tables.qsbr.readers()
    }

    /// Makes groups retired by deletes reusable once every online reader has reported a
    /// quiescent state since. Adds do this on their own when they run short of groups.
    pub fn reclaim(&mut self) {
        self.trie.reclaim();
    }

    /// tbl8 groups in use or waiting for their grace period.
    pub fn tbl8_groups_in_use(&self) -> usize {
        self.trie.groups_in_use()
    }

    /// Configured tbl8 groups.
    pub fn tbl8_groups(&self) -> u32 {
        self.trie.groups_total()
    }

    /// Memory used by the tables and the rule store.
    pub fn memory(&self) -> MemoryUsage {
        self.trie.memory()
    }
}

/// A worker's lookup handle on an [`Lpm4`]: `Send`, lock-free, safe to use while the owner of
/// the `Lpm4` adds and deletes routes. Each lookup sees, per address, either the route before an
/// update or after it.
///
/// The handle starts online. Call [`Lpm4Reader::quiescent`] between bursts (it promises no
/// lookup result pointer is held across it: cheap, a load and at most one store), and
/// [`Lpm4Reader::offline`] before blocking or idling, else the writer's reuse of freed tbl8
/// groups waits for this reader (up to [`LpmConfig::grace_timeout`], then
/// [`LpmError::Tbl8Exhausted`]). Dropping the handle unregisters it.
pub struct Lpm4Reader {
    tables: TablesRef,
    slot: usize,
}
reader_protocol!(Lpm4Reader);

impl Lpm4Reader {
    /// Longest-prefix match of one address.
    #[inline]
    pub fn lookup(&self, ip: u32) -> Option<u32> {
        route_found(View::new(&self.tables).lookup(ip))
    }

    /// See [`Lpm4::lookup_bulk`].
    #[inline]
    pub fn lookup_bulk(&self, ips: &[u32], next_hops: &mut [u32]) -> usize {
        View::new(&self.tables).lookup_with(LookupImpl::Auto, ips, next_hops)
    }

    /// See [`Lpm4::lookup_bulk_with`].
    pub fn lookup_bulk_with(&self, imp: LookupImpl, ips: &[u32], next_hops: &mut [u32]) -> usize {
        View::new(&self.tables).lookup_with(imp, ips, next_hops)
    }
}
