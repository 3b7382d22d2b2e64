//! Exact-match hash table for fixed-size keys, in the design of DPDK's `rte_hash`.
//!
//! # Layout
//! - **Buckets** of 8 slots, one cache line each: eight 16-bit short signatures (packed in two
//!   `u64` words, so the eight compare in one SSE2 compare, or two SWAR word operations off
//!   x86_64) and eight 32-bit key-store indices (0 = empty).
//! - **Key store**: one entry per key, `key words + 1 value word`, padded to a power of two of
//!   8-byte words so no entry straddles a cache line. Index 0 is reserved.
//! - Every key has two candidate buckets: the primary `hash & mask` and the alternative
//!   `primary ^ f(signature)`, so a key can be moved to its other bucket knowing only its
//!   signature (no rehash, no key read): the bucket a slot is in plus its signature give the
//!   slot's other bucket, which is what `rte_hash` keeps `sig_current`/`sig_alt` for. Inserts
//!   that find both buckets full make room by a breadth-first search for a chain of moves
//!   (cuckoo displacement) rooted at both buckets at once, which stops at the first free slot
//!   it sees. An insert that finds its primary bucket full prefetches that bucket's entries'
//!   other buckets at once (before it even reads the alternative bucket), and the search
//!   prefetches the next node's candidates while it examines the current one's, so even at 95
//!   percent load a displacement mostly costs misses already in flight. This lets the table
//!   fill to well above 90 percent of its slots.
//! - Both arrays are written once (zero over zero, one word per page) when the table is created,
//!   so the kernel backs them then, as DPDK's pre-faulted hugepage memory is, and no insert
//!   takes a page fault later.
//!
//! # Concurrency
//! Lookups ([`ExactMatchTable::lookup`], [`ExactMatchTable::lookup_bulk`]) take `&self`, never
//! lock and never write shared memory. Writes serialise on a writer mutex, so there is one
//! writer at a time, running concurrently with any number of readers, like `rte_hash`'s
//! lock-free mode. The mutex is taken either per call ([`ExactMatchTable::insert`],
//! [`ExactMatchTable::remove`] on `&self`), or once by the thread that does all the writing:
//! [`ExactMatchTable::writer`] returns an [`ExactMatchWriter`] that holds it for its lifetime
//! and whose `&mut self` methods then take no lock at all. Either way the protocol with the
//! readers is the same:
//! - all shared memory is atomics, so there are no data races;
//! - a new entry's key and value are written before its index is published with `Release`;
//! - whenever an entry moves between buckets, or a key-store entry is freed (and so may be
//!   reused and overwritten), the writer bumps a table-change counter and issues a `Release`
//!   fence before it removes the old copy or reuses the entry. (Only the writer, under the
//!   mutex, writes the counter and the length, so it bumps them with a plain load and store,
//!   no locked read-modify-write; readers see the same values and orderings as before.) A reader reads the counter
//!   before its search and again after an `Acquire` fence, and retries on a change: it can
//!   therefore never report a miss for a key that was only moving, nor accept a torn key.
//!
//! A key that is present for the whole duration of a lookup is always found; a key inserted
//! or removed during a lookup is found or not (each lookup is atomic with respect to writes).
//!
//! # Capacity
//! As in `rte_hash`, `entries` is rounded up to a power of two of slots (`entries / 8`
//! buckets) and the key store holds exactly `entries` keys. An insert that finds no free
//! key-store entry, or no displacement path, returns [`HashError::Full`]; the table is
//! unchanged by a failed insert.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Mutex, MutexGuard};

use thiserror::Error;

use crate::key::{HashKey, MAX_KEY_LEN};
use crate::prefetch::prefetch;
use crate::zeroed::{Zeroable, ZeroedBuf};

/// Slots per bucket.
pub const BUCKET_ENTRIES: usize = 8;
/// Most keys in one call of the bulk lookup's inner batch (longer slices are processed in
/// batches of this size).
pub const MAX_BULK: usize = 32;
/// Largest number of entries a table may be created with.
pub const MAX_ENTRIES: usize = 1 << 30;
/// Limit on the breadth-first search for a displacement path (buckets visited).
const BFS_LIMIT: usize = 1024;

const MAX_KEY_WORDS: usize = MAX_KEY_LEN / 8;
const EMPTY: u32 = 0;
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
const LANE_LOW: u64 = 0x0001_0001_0001_0001;
const LANE_LOW15: u64 = 0x7fff_7fff_7fff_7fff;
const LANE_HIGH: u64 = 0x8000_8000_8000_8000;

/// Errors of the exact-match table.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum HashError {
    /// No room for another key (key store exhausted or no displacement path found).
    #[error("hash table full ({len} keys in {slots} slots)")]
    Full {
        /// Keys in the table.
        len: usize,
        /// Slots in the table.
        slots: usize,
    },
    /// Bad table size.
    #[error("hash table entries must be between 1 and {MAX_ENTRIES}, got {0}")]
    Entries(usize),
    /// Key type too long or empty.
    #[error("hash key length must be between 1 and {MAX_KEY_LEN} bytes, got {0}")]
    KeyLength(usize),
}

/// A value stored beside a key: anything that fits in 64 bits.
pub trait HashValue: Copy {
    /// Encodes the value.
    fn to_word(self) -> u64;
    /// Decodes a value produced by [`HashValue::to_word`].
    fn from_word(word: u64) -> Self;
}

macro_rules! hash_value_int {
    ($($t:ty),*) => {$(
        impl HashValue for $t {
            #[inline]
            fn to_word(self) -> u64 {
                self as u64
            }
            #[inline]
            fn from_word(word: u64) -> Self {
                word as $t
            }
        }
    )*};
}
hash_value_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64);

impl HashValue for () {
    fn to_word(self) -> u64 {
        0
    }
    fn from_word(_: u64) -> Self {}
}

/// One bucket: a cache line.
#[repr(C, align(64))]
struct Bucket {
    /// Eight 16-bit signatures, four per word, slot `i` in lane `i % 4` of word `i / 4`.
    sigs: [AtomicU64; 2],
    /// Key-store indices, 0 = empty slot.
    idx: [AtomicU32; BUCKET_ENTRIES],
}

// SAFETY: a Bucket is only atomics; all-zero is "every slot empty"; no Drop.
unsafe impl Zeroable for Bucket {}

impl Bucket {
    #[cfg(test)]
    fn new() -> Self {
        Bucket {
            sigs: [AtomicU64::new(0), AtomicU64::new(0)],
            idx: std::array::from_fn(|_| AtomicU32::new(EMPTY)),
        }
    }

    /// Bit `i` set when slot `i`'s signature equals `sig`: one SSE2 compare of the eight
    /// 16-bit lanes, packed to a byte mask (a SWAR compare where SSE2 is not available).
    #[inline(always)]
    fn sig_matches(&self, sig: u16) -> u32 {
        let (lo, hi) = (
            self.sigs[0].load(Ordering::Relaxed),
            self.sigs[1].load(Ordering::Relaxed),
        );
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            crate::simd::eq_lanes16(lo, hi, sig)
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            sig_matches_swar(lo, hi, sig)
        }
    }

    /// Writer only: sets slot `i`'s signature lane.
    fn set_sig(&self, i: usize, sig: u16) {
        let w = &self.sigs[i / 4];
        let shift = (i % 4) * 16;
        let v = w.load(Ordering::Relaxed);
        w.store(
            (v & !(0xffff << shift)) | (u64::from(sig) << shift),
            Ordering::Relaxed,
        );
    }

    fn sig(&self, i: usize) -> u16 {
        (self.sigs[i / 4].load(Ordering::Relaxed) >> ((i % 4) * 16)) as u16
    }
}

/// The portable signature compare: bit `i` set when 16-bit lane `i` of `lo` (lanes 0..4) and
/// `hi` (lanes 4..8) equals `sig`, as two SWAR word operations.
#[inline(always)]
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
fn sig_matches_swar(lo: u64, hi: u64, sig: u16) -> u32 {
    let pattern = u64::from(sig) * LANE_LOW;
    lanes_zero(lo ^ pattern) | (lanes_zero(hi ^ pattern) << 4)
}

/// 4-bit mask of the zero 16-bit lanes of `x` (exact, no false positives).
#[inline(always)]
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
fn lanes_zero(x: u64) -> u32 {
    // High bit of each lane set iff the lane is non-zero.
    let nonzero = (((x & LANE_LOW15) + LANE_LOW15) | x) & LANE_HIGH;
    let zero = !nonzero & LANE_HIGH;
    // Gather the four lane bits (15, 31, 47, 63) into bits 0..4.
    let g = zero >> 15; // lanes at bits 0, 16, 32, 48
    ((g | (g >> 15) | (g >> 30) | (g >> 45)) & 0xf) as u32
}

// SAFETY: an atomic word is valid when zero and has no Drop.
unsafe impl Zeroable for AtomicU64 {}

/// The words of a key (little-endian), the last one zero padded. Built straight from the key's
/// bytes (whole-word loads, the tail byte by byte), never through a staging buffer: reading
/// words back from a buffer just written bytewise would stall on store forwarding.
#[inline(always)]
fn key_words<K: HashKey>(key: &K) -> [u64; MAX_KEY_WORDS] {
    let bytes = &key.as_bytes()[..K::LEN];
    let mut w = [0u64; MAX_KEY_WORDS];
    let (whole, tail) = bytes.split_at(K::LEN / 8 * 8);
    for (word, chunk) in w.iter_mut().zip(whole.chunks_exact(8)) {
        *word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
    }
    if !tail.is_empty() {
        w[K::LEN / 8] = if K::LEN >= 8 {
            // The key's last 8 bytes in one load, shifted so only the tail remains.
            let last = u64::from_le_bytes(bytes[K::LEN - 8..].try_into().expect("8 bytes"));
            last >> (8 * (8 - tail.len()))
        } else {
            tail.iter()
                .enumerate()
                .fold(0, |t, (i, &b)| t | u64::from(b) << (8 * i))
        };
    }
    w
}

#[inline(always)]
fn hash_words(words: &[u64], seed: u64) -> u64 {
    let mut h = seed ^ (words.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for &w in words {
        h = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    }
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

/// Writes (a zero, over zero) to every page of a fresh table, so the kernel backs the whole
/// table with memory now, at creation, and not page by page in the first inserts: like DPDK's
/// tables, which live in pre-faulted hugepage memory, inserts then never take a page fault.
fn prefault<T: Zeroable, A: ZeroWord>(buf: &ZeroedBuf<T>, word: impl Fn(&T) -> &A) {
    const PAGE: usize = 4096;
    let per_page = (PAGE / std::mem::size_of::<T>()).max(1);
    for elem in buf.iter().step_by(per_page) {
        word(elem).store_zero();
    }
}

/// An atomic word that can be set to zero.
trait ZeroWord {
    fn store_zero(&self);
}

impl ZeroWord for AtomicU32 {
    fn store_zero(&self) {
        self.store(0, Ordering::Relaxed);
    }
}

impl ZeroWord for AtomicU64 {
    fn store_zero(&self) {
        self.store(0, Ordering::Relaxed);
    }
}

/// The lookup side's view of a table: the arrays and constants every lookup needs, copied out
/// of the table once per call so they stay in registers (the table holds atomics, so the
/// compiler would otherwise reload its pointers and lengths after every atomic load).
#[derive(Clone, Copy)]
struct View<'a, K> {
    buckets: &'a [Bucket],
    store: &'a [AtomicU64],
    mask: u32,
    seed: u64,
    _key: PhantomData<fn(K)>,
}

impl<'a, K: HashKey> View<'a, K> {
    const KEY_WORDS: usize = K::LEN.div_ceil(8);
    /// Key-store entry size in words: key words plus the value word, rounded up to a power of
    /// two so that no entry straddles a cache line.
    const STRIDE: usize = (Self::KEY_WORDS + 1).next_power_of_two();

    /// Key-store entry `idx`: `KEY_WORDS` key words, then the value word.
    #[inline(always)]
    fn entry(self, idx: u32) -> &'a [AtomicU64] {
        let base = idx as usize * Self::STRIDE;
        &self.store[base..base + Self::STRIDE]
    }

    #[inline(always)]
    fn alt_bucket(self, bucket: u32, sig: u16) -> u32 {
        let spread = (u32::from(sig) | (u32::from(sig) << 16)).wrapping_mul(0x9e37_79b1) >> 7;
        let mut d = spread & self.mask;
        if d == 0 {
            d = 1 & self.mask;
        }
        bucket ^ d
    }

    #[inline(always)]
    fn place(self, words: &[u64; MAX_KEY_WORDS]) -> Place {
        let h = hash_words(&words[..Self::KEY_WORDS], self.seed);
        let prim = (h as u32) & self.mask;
        let sig = (h >> 48) as u16;
        Place {
            prim,
            alt: self.alt_bucket(prim, sig),
            sig,
        }
    }

    #[inline(always)]
    fn key_eq(self, idx: u32, words: &[u64; MAX_KEY_WORDS]) -> bool {
        let e = self.entry(idx);
        let mut diff = 0;
        for (stored, w) in e[..Self::KEY_WORDS].iter().zip(words) {
            diff |= stored.load(Ordering::Relaxed) ^ w;
        }
        diff == 0
    }

    #[inline(always)]
    fn value_of(self, idx: u32) -> u64 {
        self.entry(idx)[Self::KEY_WORDS].load(Ordering::Relaxed)
    }

    /// Slot and key-store index of the key in `bucket`, if there.
    #[inline(always)]
    fn find_in(self, bucket: u32, sig: u16, words: &[u64; MAX_KEY_WORDS]) -> Option<(usize, u32)> {
        let b = &self.buckets[bucket as usize];
        self.find_slot(b, b.sig_matches(sig), words)
    }

    /// The value of the key among the slots `m` (signature matches) of `bucket`, if there.
    #[inline(always)]
    fn scan(self, bucket: u32, m: u32, words: &[u64; MAX_KEY_WORDS]) -> Option<u64> {
        if m == 0 {
            return None;
        }
        let b = &self.buckets[bucket as usize];
        self.find_slot(b, m, words)
            .map(|(_, idx)| self.value_of(idx))
    }

    #[inline(always)]
    fn find_slot(
        self,
        b: &Bucket,
        mut m: u32,
        words: &[u64; MAX_KEY_WORDS],
    ) -> Option<(usize, u32)> {
        while m != 0 {
            let slot = m.trailing_zeros() as usize;
            let idx = b.idx[slot].load(Ordering::Acquire);
            if idx != EMPTY && self.key_eq(idx, words) {
                return Some((slot, idx));
            }
            m &= m - 1;
        }
        None
    }
}

/// Where a key may live.
#[derive(Clone, Copy, Default)]
struct Place {
    prim: u32,
    alt: u32,
    sig: u16,
}

struct WriterState {
    /// Free key-store indices.
    free: Vec<u32>,
    /// BFS queue: (bucket, parent node, slot of the parent's bucket whose entry moves here).
    queue: Vec<(u32, u32, u8)>,
}

/// Exact-match table mapping fixed-size keys `K` to values `V` (see the module docs).
pub struct ExactMatchTable<K: HashKey, V: HashValue> {
    buckets: ZeroedBuf<Bucket>,
    bucket_mask: u32,
    /// `STRIDE` words per key-store entry, 64-byte aligned.
    store: ZeroedBuf<AtomicU64>,
    entries: usize,
    seed: u64,
    len: AtomicUsize,
    change: AtomicU64,
    writer: Mutex<WriterState>,
    _marker: PhantomData<fn(K) -> V>,
}

impl<K: HashKey, V: HashValue> std::fmt::Debug for ExactMatchTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactMatchTable")
            .field("len", &self.len())
            .field("entries", &self.entries)
            .field("buckets", &self.buckets.len())
            .finish()
    }
}

impl<K: HashKey, V: HashValue> ExactMatchTable<K, V> {
    const KEY_WORDS: usize = View::<'static, K>::KEY_WORDS;
    const STRIDE: usize = View::<'static, K>::STRIDE;

    /// Creates a table for up to `entries` keys (see "Capacity" in the module docs).
    pub fn new(entries: usize) -> Result<Self, HashError> {
        Self::with_seed(entries, 0x5eed_f00d_cafe_b0ba)
    }

    /// Like [`ExactMatchTable::new`] with an explicit hash seed.
    pub fn with_seed(entries: usize, seed: u64) -> Result<Self, HashError> {
        if K::LEN == 0 || K::LEN > MAX_KEY_LEN {
            return Err(HashError::KeyLength(K::LEN));
        }
        if entries == 0 || entries > MAX_ENTRIES {
            return Err(HashError::Entries(entries));
        }
        let nbuckets = entries.next_power_of_two().div_ceil(BUCKET_ENTRIES).max(1);
        let store = ZeroedBuf::with_align((entries + 1) * Self::STRIDE, 64);
        let buckets = ZeroedBuf::new(nbuckets);
        prefault(&buckets, |b: &Bucket| &b.idx[0]);
        prefault(&store, |w: &AtomicU64| w);
        // Pop order: low indices first.
        let free = (1..=entries as u32).rev().collect();
        Ok(ExactMatchTable {
            buckets,
            bucket_mask: (nbuckets - 1) as u32,
            store,
            entries,
            seed,
            len: AtomicUsize::new(0),
            change: AtomicU64::new(0),
            writer: Mutex::new(WriterState {
                free,
                queue: Vec::with_capacity(BFS_LIMIT),
            }),
            _marker: PhantomData,
        })
    }

    /// Keys in the table.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys the key store can hold.
    pub fn capacity(&self) -> usize {
        self.entries
    }

    /// Bucket slots (`buckets * 8`); `len() / slots()` is the load factor.
    pub fn slots(&self) -> usize {
        self.buckets.len() * BUCKET_ENTRIES
    }

    /// Bytes of memory held by the buckets and the key store.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets) + std::mem::size_of_val(&*self.store)
    }

    /// The lookup side's view of the table (see [`View`]).
    #[inline(always)]
    fn view(&self) -> View<'_, K> {
        View {
            buckets: &self.buckets,
            store: &self.store,
            mask: self.bucket_mask,
            seed: self.seed,
            _key: PhantomData,
        }
    }

    /// Key-store entry `idx`: `KEY_WORDS` key words, then the value word.
    #[inline(always)]
    fn entry(&self, idx: u32) -> &[AtomicU64] {
        self.view().entry(idx)
    }

    #[inline(always)]
    fn alt_bucket(&self, bucket: u32, sig: u16) -> u32 {
        self.view().alt_bucket(bucket, sig)
    }

    #[inline(always)]
    fn place(&self, words: &[u64; MAX_KEY_WORDS]) -> Place {
        self.view().place(words)
    }

    #[inline(always)]
    fn value_of(&self, idx: u32) -> u64 {
        self.view().value_of(idx)
    }

    /// Slot and key-store index of the key in `bucket`, if there.
    #[inline(always)]
    fn find_in(&self, bucket: u32, sig: u16, words: &[u64; MAX_KEY_WORDS]) -> Option<(usize, u32)> {
        self.view().find_in(bucket, sig, words)
    }

    /// Looks up one key. Lock-free; safe to call while another thread writes.
    #[inline]
    pub fn lookup(&self, key: &K) -> Option<V> {
        let v = self.view();
        let words = key_words(key);
        let p = v.place(&words);
        // Overlap the (possible) miss on the alternative bucket with the primary's.
        prefetch(&v.buckets[p.alt as usize]);
        loop {
            let before = self.change.load(Ordering::Acquire);
            let r = v
                .find_in(p.prim, p.sig, &words)
                .or_else(|| v.find_in(p.alt, p.sig, &words))
                .map(|(_, idx)| v.value_of(idx));
            fence(Ordering::Acquire);
            if self.change.load(Ordering::Relaxed) == before {
                return r.map(V::from_word);
            }
        }
    }

    /// Whether the key is present.
    pub fn contains(&self, key: &K) -> bool {
        self.lookup(key).is_some()
    }

    /// Looks up `keys` in batches of [`MAX_BULK`], prefetching both candidate buckets of the
    /// whole batch and then the key-store entries of the signature hits before comparing
    /// keys. `out[i]` receives the value of `keys[i]`; only `min(keys.len(), out.len())` keys
    /// are looked up. Returns the number of hits.
    pub fn lookup_bulk(&self, keys: &[K], out: &mut [Option<V>]) -> usize {
        let n = keys.len().min(out.len());
        let mut hits = 0;
        for (kc, oc) in keys[..n]
            .chunks(MAX_BULK)
            .zip(out[..n].chunks_mut(MAX_BULK))
        {
            hits += self.lookup_batch(kc, oc);
        }
        hits
    }

    /// One batch of at most [`MAX_BULK`] keys (`out` as long as `keys`), in three passes so
    /// that each pass's cache misses are all in flight before the next pass needs them: hash
    /// and prefetch both buckets of every key; compare signatures and prefetch the first
    /// candidate key-store entry of every key; compare keys.
    #[inline(always)]
    fn lookup_batch(&self, keys: &[K], out: &mut [Option<V>]) -> usize {
        let v = self.view();
        let n = keys.len().min(out.len()).min(MAX_BULK);
        let (keys, out) = (&keys[..n], &mut out[..n]);
        let mut places = [Place::default(); MAX_BULK];
        for i in 0..n {
            let p = v.place(&key_words(&keys[i]));
            prefetch(&v.buckets[p.prim as usize]);
            prefetch(&v.buckets[p.alt as usize]);
            places[i] = p;
        }
        let mut cand = [(0u32, 0u32); MAX_BULK];
        loop {
            let before = self.change.load(Ordering::Acquire);
            for i in 0..n {
                let p = places[i];
                let (prim, alt) = (&v.buckets[p.prim as usize], &v.buckets[p.alt as usize]);
                let (pm, am) = (prim.sig_matches(p.sig), alt.sig_matches(p.sig));
                cand[i] = (pm, am);
                let first = if pm != 0 {
                    prim.idx[pm.trailing_zeros() as usize].load(Ordering::Relaxed)
                } else if am != 0 {
                    alt.idx[am.trailing_zeros() as usize].load(Ordering::Relaxed)
                } else {
                    EMPTY
                };
                if first != EMPTY {
                    prefetch(&v.entry(first)[0]);
                }
            }
            let mut hits = 0;
            for i in 0..n {
                let (pm, am) = cand[i];
                out[i] = None;
                if pm | am == 0 {
                    continue;
                }
                // Recomputed rather than kept from the first pass: a few instructions, cheaper
                // than storing and reloading 64 bytes per key (measured).
                let words = key_words(&keys[i]);
                let p = places[i];
                let r = v
                    .scan(p.prim, pm, &words)
                    .or_else(|| v.scan(p.alt, am, &words));
                if let Some(val) = r {
                    out[i] = Some(V::from_word(val));
                    hits += 1;
                }
            }
            fence(Ordering::Acquire);
            if self.change.load(Ordering::Relaxed) == before {
                return hits;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, WriterState> {
        // A panic while holding the lock cannot leave the table inconsistent for readers
        // (every step keeps each key in one of its buckets), so poisoning is ignored.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A write handle for the thread that does the writing: it takes the writer mutex once
    /// and holds it until dropped, so its `&mut self` inserts and removes take no lock
    /// (lookups from any thread continue meanwhile). Other writers (through `&self` or
    /// another handle) wait until it is dropped, so the thread holding it must not also
    /// call the table's locking methods (`insert`, `remove`, `clear`, `for_each`, `entries`,
    /// `writer`) meanwhile: it would wait for itself.
    pub fn writer(&self) -> ExactMatchWriter<'_, K, V> {
        ExactMatchWriter {
            table: self,
            state: self.lock(),
        }
    }

    /// Inserts `key -> value`, or replaces the value of a present key. Returns the previous
    /// value, or [`HashError::Full`] (with the table unchanged) when there is no room.
    /// Takes the writer mutex for the call; a thread that writes a lot should hold an
    /// [`ExactMatchWriter`] instead.
    pub fn insert(&self, key: K, value: V) -> Result<Option<V>, HashError> {
        let mut w = self.lock();
        self.insert_locked(&mut w, key, value)
    }

    /// Bumps the table-change counter (writer only, see the module docs).
    #[inline(always)]
    fn bump_change(&self) {
        let c = self.change.load(Ordering::Relaxed);
        self.change.store(c.wrapping_add(1), Ordering::Relaxed);
    }

    #[inline(always)]
    fn set_len(&self, len: usize) {
        self.len.store(len, Ordering::Relaxed);
    }

    fn insert_locked(&self, w: &mut WriterState, key: K, value: V) -> Result<Option<V>, HashError> {
        let words = key_words(&key);
        let p = self.place(&words);
        prefetch(&self.buckets[p.alt as usize]);
        // The key-store entry the new key will take (reads of it start now, overlapping the
        // bucket misses; the free list hands out low indices first, so this is mostly a
        // sequential stream anyway).
        if let Some(&idx) = w.free.last() {
            prefetch(&self.entry(idx)[0]);
        }
        // When the primary bucket is full, start fetching its entries' other buckets at
        // once: a displacement then finds them in flight, overlapped with the miss on the
        // alternative bucket, instead of paying one more round trip to memory.
        let prim_free = self.empty_slot(p.prim);
        if prim_free.is_none() {
            self.prefetched_children(p.prim);
        }
        if let Some((_, idx)) = self
            .find_in(p.prim, p.sig, &words)
            .or_else(|| self.find_in(p.alt, p.sig, &words))
        {
            let vw = &self.entry(idx)[Self::KEY_WORDS];
            let old = vw.swap(value.to_word(), Ordering::Release);
            return Ok(Some(V::from_word(old)));
        }
        let full = HashError::Full {
            len: self.len(),
            slots: self.slots(),
        };
        let Some(idx) = w.free.pop() else {
            return Err(full);
        };
        // Write the entry before publishing its index.
        let e = self.entry(idx);
        for (stored, word) in e[..Self::KEY_WORDS].iter().zip(&words) {
            stored.store(*word, Ordering::Relaxed);
        }
        e[Self::KEY_WORDS].store(value.to_word(), Ordering::Relaxed);

        let room = prim_free
            .map(|s| (p.prim, s))
            .or_else(|| self.empty_slot(p.alt).map(|s| (p.alt, s)))
            .or_else(|| self.make_room(&mut w.queue, p.prim, p.alt));
        if let Some((bucket, slot)) = room {
            self.publish(bucket, slot, p.sig, idx);
            self.set_len(self.len() + 1);
            return Ok(None);
        }
        w.free.push(idx);
        Err(full)
    }

    fn empty_slot(&self, bucket: u32) -> Option<usize> {
        let b = &self.buckets[bucket as usize];
        (0..BUCKET_ENTRIES).find(|&s| b.idx[s].load(Ordering::Relaxed) == EMPTY)
    }

    /// The other bucket of each slot's entry in `bucket` (computed from the signatures alone).
    #[inline(always)]
    fn children(&self, bucket: u32) -> [u32; BUCKET_ENTRIES] {
        let b = &self.buckets[bucket as usize];
        let sigs = [
            b.sigs[0].load(Ordering::Relaxed),
            b.sigs[1].load(Ordering::Relaxed),
        ];
        std::array::from_fn(|slot| {
            self.alt_bucket(bucket, (sigs[slot / 4] >> ((slot % 4) * 16)) as u16)
        })
    }

    /// [`Self::children`], with a prefetch of each.
    #[inline(always)]
    fn prefetched_children(&self, bucket: u32) -> [u32; BUCKET_ENTRIES] {
        let c = self.children(bucket);
        for &a in &c {
            prefetch(&self.buckets[a as usize]);
        }
        c
    }

    fn publish(&self, bucket: u32, slot: usize, sig: u16, idx: u32) {
        let b = &self.buckets[bucket as usize];
        b.set_sig(slot, sig);
        b.idx[slot].store(idx, Ordering::Release);
    }

    /// Frees a slot in bucket `prim` or `alt` by a chain of cuckoo moves found
    /// breadth-first from both at once, stopping at the first free slot seen. Returns the
    /// root bucket and its freed slot, or `None` when no chain exists within the search
    /// limit.
    ///
    /// Every bucket queued was checked for a free slot when it was queued, so its line is
    /// cached when its turn comes; its children (its entries' other buckets) are then
    /// misses. The search is software-pipelined by one node: the children of the next node
    /// are prefetched before the current node's children are examined, so two nodes'
    /// misses overlap (the two roots' in particular).
    fn make_room(
        &self,
        queue: &mut Vec<(u32, u32, u8)>,
        prim: u32,
        alt: u32,
    ) -> Option<(u32, usize)> {
        queue.clear();
        queue.push((prim, u32::MAX, 0));
        if alt != prim {
            queue.push((alt, u32::MAX, 0));
        }
        let mut head = 0;
        // (The insert prefetched the primary's children when it found it full.)
        let mut cur = self.children(prim);
        loop {
            let next = queue
                .get(head + 1)
                .map(|&(b, _, _)| self.prefetched_children(b));
            let bucket = queue[head].0;
            for (slot, &child) in cur.iter().enumerate() {
                if child == bucket {
                    continue;
                }
                if let Some(free) = self.empty_slot(child) {
                    return self.execute_moves(queue, head, slot, child, free);
                }
            }
            for (slot, &child) in cur.iter().enumerate() {
                if child != bucket && queue.len() < BFS_LIMIT {
                    queue.push((child, head as u32, slot as u8));
                }
            }
            head += 1;
            cur = match next {
                Some(c) => c,
                None => self.prefetched_children(queue.get(head)?.0),
            };
        }
    }

    /// Moves the entry at (`queue[node].bucket`, `slot`) to (`dest`, `dest_slot`), then walks
    /// back up the BFS tree moving each parent's entry into the slot just vacated. Each move is
    /// checked against the current state; on a mismatch (the path crossed itself) it stops,
    /// every key still in one of its buckets. Returns the root bucket and its freed slot.
    fn execute_moves(
        &self,
        queue: &[(u32, u32, u8)],
        mut node: usize,
        mut slot: usize,
        mut dest: u32,
        mut dest_slot: usize,
    ) -> Option<(u32, usize)> {
        loop {
            let (bucket, parent, parent_slot) = queue[node];
            let src = &self.buckets[bucket as usize];
            let dst = &self.buckets[dest as usize];
            let sig = src.sig(slot);
            let idx = src.idx[slot].load(Ordering::Relaxed);
            if idx == EMPTY
                || dst.idx[dest_slot].load(Ordering::Relaxed) != EMPTY
                || self.alt_bucket(bucket, sig) != dest
            {
                return None;
            }
            // Copy first, so the key is always in at least one bucket; then tell readers
            // that a key moved before its old copy disappears.
            self.publish(dest, dest_slot, sig, idx);
            self.bump_change();
            fence(Ordering::Release);
            src.idx[slot].store(EMPTY, Ordering::Relaxed);
            if parent == u32::MAX {
                return Some((bucket, slot));
            }
            dest = bucket;
            dest_slot = slot;
            node = parent as usize;
            slot = parent_slot as usize;
        }
    }

    /// Removes `key`, returning its value if it was present.
    pub fn remove(&self, key: &K) -> Option<V> {
        let mut w = self.lock();
        self.remove_locked(&mut w, key)
    }

    fn remove_locked(&self, w: &mut WriterState, key: &K) -> Option<V> {
        let words = key_words(key);
        let p = self.place(&words);
        for bucket in [p.prim, p.alt] {
            if let Some((slot, idx)) = self.find_in(bucket, p.sig, &words) {
                let value = self.value_of(idx);
                self.buckets[bucket as usize].idx[slot].store(EMPTY, Ordering::Relaxed);
                // The entry may be reused (overwritten) from now on: readers that might still
                // read it must see the counter move.
                self.bump_change();
                fence(Ordering::Release);
                w.free.push(idx);
                self.set_len(self.len() - 1);
                return Some(V::from_word(value));
            }
        }
        None
    }

    /// Removes every key.
    pub fn clear(&self) {
        let mut w = self.lock();
        for b in self.buckets.iter() {
            for s in &b.idx {
                s.store(EMPTY, Ordering::Relaxed);
            }
        }
        self.bump_change();
        fence(Ordering::Release);
        w.free.clear();
        w.free.extend((1..=self.entries as u32).rev());
        self.len.store(0, Ordering::Relaxed);
    }

    /// Calls `f` for every key and value, in bucket order, holding the writer lock (so the
    /// walk sees a consistent table; lookups continue meanwhile).
    pub fn for_each(&self, mut f: impl FnMut(K, V)) {
        let _w = self.lock();
        let mut bytes = [0u8; MAX_KEY_LEN + 8];
        for b in self.buckets.iter() {
            for s in &b.idx {
                let idx = s.load(Ordering::Relaxed);
                if idx == EMPTY {
                    continue;
                }
                for (i, w) in self.entry(idx)[..Self::KEY_WORDS].iter().enumerate() {
                    let w = w.load(Ordering::Relaxed);
                    bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
                }
                f(
                    K::from_bytes(&bytes[..K::LEN]),
                    V::from_word(self.value_of(idx)),
                );
            }
        }
    }

    /// All keys and values (see [`ExactMatchTable::for_each`]).
    pub fn entries(&self) -> Vec<(K, V)> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each(|k, val| v.push((k, val)));
        v
    }
}

/// The writer's handle to an [`ExactMatchTable`] (see [`ExactMatchTable::writer`]): holds the
/// writer mutex for its lifetime, so its writes take no lock.
pub struct ExactMatchWriter<'a, K: HashKey, V: HashValue> {
    table: &'a ExactMatchTable<K, V>,
    state: MutexGuard<'a, WriterState>,
}

impl<K: HashKey, V: HashValue> std::fmt::Debug for ExactMatchWriter<'_, K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactMatchWriter")
            .field("table", self.table)
            .finish()
    }
}

impl<K: HashKey, V: HashValue> ExactMatchWriter<'_, K, V> {
    /// Like [`ExactMatchTable::insert`], without taking the lock.
    pub fn insert(&mut self, key: K, value: V) -> Result<Option<V>, HashError> {
        self.table.insert_locked(&mut self.state, key, value)
    }

    /// Like [`ExactMatchTable::remove`], without taking the lock.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.table.remove_locked(&mut self.state, key)
    }

    /// Looks up one key (as [`ExactMatchTable::lookup`]).
    pub fn lookup(&self, key: &K) -> Option<V> {
        self.table.lookup(key)
    }

    /// The table written to.
    pub fn table(&self) -> &ExactMatchTable<K, V> {
        self.table
    }
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{Ipv4FiveTuple, Ipv6FiveTuple};

    /// Bulk lookups in batches shorter than, equal to and longer than [`MAX_BULK`] (a partial
    /// last chunk) agree with single lookups, for
    /// a 2-word and a 5-word key. Small enough for Miri:
    /// `cargo +nightly miri test -p ferroplane-classify --lib bulk_batches`.
    #[test]
    fn bulk_batches_match_single_lookups() {
        fn check<K: HashKey>(key: impl Fn(u64) -> K) {
            let table = ExactMatchTable::<K, u64>::new(64).unwrap();
            for i in 0..40u64 {
                table.insert(key(i), i * 7 + 1).unwrap();
            }
            // Keys 0..40 hit, 40..80 miss.
            for len in [0usize, 1, 5, 31, 32, 33, 70] {
                let keys: Vec<K> = (0..len as u64).map(|i| key((i * 13) % 80)).collect();
                let mut out = vec![Some(u64::MAX); len];
                let hits = table.lookup_bulk(&keys, &mut out);
                let want: Vec<Option<u64>> = keys.iter().map(|k| table.lookup(k)).collect();
                assert_eq!(out, want, "len {len}");
                assert_eq!(hits, want.iter().flatten().count(), "len {len}");
                for (i, k) in keys.iter().enumerate() {
                    let n = (i as u64 * 13) % 80;
                    assert_eq!(table.lookup(k), (n < 40).then_some(n * 7 + 1), "key {n}");
                }
            }
        }
        check(|i| {
            let mut b = [0u8; 13];
            b[..8].copy_from_slice(&(i * 0x9e37_79b9).to_le_bytes());
            b[12] = i as u8;
            Ipv4FiveTuple::from_bytes(&b)
        });
        check(|i| {
            let mut b = [0u8; 37];
            b[29..37].copy_from_slice(&i.to_be_bytes());
            b[36] ^= 0x5a;
            Ipv6FiveTuple::from_bytes(&b)
        });
    }

    /// `key_words` (whole-word loads plus a shifted or bytewise tail) equals the key's bytes
    /// zero padded to words, for every key length from 1 to `MAX_KEY_LEN`.
    #[test]
    fn key_words_are_the_zero_padded_bytes() {
        fn check<const N: usize>() {
            let key: [u8; N] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5);
            let mut padded = [0u8; MAX_KEY_LEN];
            padded[..N].copy_from_slice(&key);
            let want: [u64; MAX_KEY_WORDS] = std::array::from_fn(|w| {
                u64::from_le_bytes(padded[w * 8..w * 8 + 8].try_into().unwrap())
            });
            assert_eq!(key_words(&key), want, "key length {N}");
        }
        macro_rules! lens {
            ($($n:literal)*) => { $(check::<$n>();)* };
        }
        lens!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
            32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60
            61 62 63 64);
    }

    /// The signature compare (SSE2 on x86_64) agrees with the portable SWAR compare.
    #[test]
    fn sig_matches_agrees_with_swar() {
        let b = Bucket::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..if cfg!(miri) { 50 } else { 2000 } {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few distinct signatures, so that several slots often match.
            for s in 0..BUCKET_ENTRIES {
                b.set_sig(s, [0, 1, 0x8000, 0xffff][(x >> (2 * s)) as usize & 3]);
            }
            for sig in [0u16, 1, 0x8000, 0xffff, 0x1234] {
                let (lo, hi) = (
                    b.sigs[0].load(Ordering::Relaxed),
                    b.sigs[1].load(Ordering::Relaxed),
                );
                let swar = sig_matches_swar(lo, hi, sig);
                assert_eq!(b.sig_matches(sig), swar, "sig {sig:#x}");
            }
        }
    }

    #[test]
    fn lanes_zero_is_exact() {
        for lanes in 0u32..16 {
            let mut x = 0u64;
            for l in 0..4 {
                // Non-zero lanes get values that would fool the classic borrow trick.
                let v: u64 = if lanes & (1 << l) != 0 {
                    0
                } else {
                    [1, 0x8000, 0xffff, 0x100][l]
                };
                x |= v << (16 * l);
            }
            assert_eq!(lanes_zero(x), lanes, "x={x:#x}");
        }
    }

    #[test]
    fn sig_matches_finds_every_slot() {
        let b = Bucket::new();
        for s in 0..BUCKET_ENTRIES {
            b.set_sig(s, 0x1234 + (s as u16 % 3));
        }
        assert_eq!(b.sig_matches(0x1234), 0b0100_1001);
        assert_eq!(b.sig_matches(0x1236), 0b0010_0100);
        assert_eq!(b.sig_matches(0x9999), 0);
        assert_eq!(b.sig(7), 0x1235);
    }
}
