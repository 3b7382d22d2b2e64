//! [`Mbuf`]: an owned handle to one packet buffer and its metadata.
//!
//! An `Mbuf` is a pointer to its metadata (see `meta`); `Option<Mbuf>` is pointer-sized too.
//! Cloning increments a reference count and shares both data and metadata, so a shared mbuf is
//! read-only: every method that changes data or metadata first checks that the count is 1 and
//! otherwise returns [`MbufError::Shared`] (`data_mut` returns `None`). That is the rule that
//! keeps safe code from ever holding a mutable view of bytes another handle can read.
//!
//! Chains: a segment is owned by the one before it (its `next` link counts as a reference).
//! `pkt_len` and `nb_segs` are kept on the first segment, as in DPDK. [`Mbuf::chain`] requires
//! every segment of the head to be unshared, which also rules out cycles.
//!
//! Freeing releases one reference per segment, walking the chain while counts reach zero; a
//! segment whose count reaches zero has its metadata reset and its chunk index returned to its
//! pool through the current lcore's cache. Bulk frees group indices by pool.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::burst::MAX_BURST;
use crate::error::MbufError;
use crate::meta::{MbufMeta, PacketInfo};
use crate::pool::PoolInner;

/// An owned packet buffer from a [`Mempool`](crate::Mempool); dropping it returns it.
#[repr(transparent)]
pub struct Mbuf {
    meta: NonNull<MbufMeta>,
}

// SAFETY: an Mbuf owns (a reference to) its buffer; the pool it returns to is Sync, and shared
// buffers are only read.
unsafe impl Send for Mbuf {}
// SAFETY: `&Mbuf` only reads data and metadata, and changes the reference count atomically.
unsafe impl Sync for Mbuf {}

/// An mbuf as a plain `Copy` token, to travel through rings ([`Mbuf::into_raw`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct RawMbuf(NonNull<MbufMeta>);

// SAFETY: a token; only `Mbuf::from_raw` (unsafe) gives access through it.
unsafe impl Send for RawMbuf {}
// SAFETY: as above.
unsafe impl Sync for RawMbuf {}

impl RawMbuf {
    /// A placeholder token (for initialising arrays); never turned into an mbuf.
    pub(crate) const fn dangling() -> RawMbuf {
        RawMbuf(NonNull::dangling())
    }

    /// The token of the mbuf whose metadata is `meta` (ownership is the caller's business).
    #[inline(always)]
    pub(crate) const fn from_meta(meta: NonNull<MbufMeta>) -> RawMbuf {
        RawMbuf(meta)
    }
}

/// Writes the initial metadata of chunk `index` of `pool`.
pub(crate) fn init_meta(pool: &PoolInner, index: u32) {
    let meta = MbufMeta {
        pool: pool as *const PoolInner,
        buf_addr: pool.data.chunk_ptr(index),
        next: None,
        chunk_index: index,
        pkt_len: 0,
        refcnt: AtomicU32::new(1),
        data_off: pool.headroom,
        data_len: 0,
        buf_len: pool.buf_len,
        nb_segs: 1,
        default_data_off: pool.headroom,
        info: PacketInfo::default(),
    };
    // SAFETY: `meta_ptr` points into the pool's metadata region, sized and aligned for
    // `count` MbufMeta; the pool is being built, nothing else accesses it.
    unsafe { pool.meta_ptr(index).as_ptr().write(meta) }
}

/// Resets a segment's metadata for its next user (the caller is its only owner).
#[inline]
fn reset(meta: &mut MbufMeta) {
    meta.next = None;
    meta.pkt_len = 0;
    *meta.refcnt.get_mut() = 1;
    meta.data_off = meta.default_data_off;
    meta.data_len = 0;
    meta.nb_segs = 1;
    meta.info = PacketInfo::default();
}

/// Drops one reference to segment `m`. If it was the last: resets the metadata and returns the
/// segment's pool, chunk index and next segment (whose reference passes to the caller).
#[inline]
fn release_segment(m: NonNull<MbufMeta>) -> Option<(*const PoolInner, u32, Option<Mbuf>)> {
    {
        // SAFETY: the caller owns one reference, so the metadata is live.
        let refcnt = unsafe { &m.as_ref().refcnt };
        // A count of 1 means ours is the only reference: nobody can add one concurrently.
        if refcnt.load(Ordering::Acquire) != 1 && refcnt.fetch_sub(1, Ordering::AcqRel) != 1 {
            return None;
        }
    }
    // SAFETY: we held the last reference (Acquire above orders every other holder's reads
    // before this), so this is the only access to the metadata.
    let meta = unsafe { &mut *m.as_ptr() };
    let next = meta.next.take();
    let out = (meta.pool, meta.chunk_index, next);
    reset(meta);
    Some(out)
}

/// Resets a single-segment, uniquely owned segment (`next` is `None`, the count is 1).
#[inline(always)]
fn reset_single(meta: &mut MbufMeta) {
    debug_assert!(meta.next.is_none());
    meta.pkt_len = 0;
    meta.data_off = meta.default_data_off;
    meta.data_len = 0;
    meta.nb_segs = 1;
    meta.info = PacketInfo::default();
}

/// Frees the mbufs behind `raws` in bulk. The common case (unique, one segment) is reset in
/// place and its index collected; each run of one pool goes back in one `put` (straight into
/// the lcore cache). Shared or chained mbufs take the general path.
///
/// # Safety
/// Each token is owned by the caller (made by `Mbuf::into_raw` and not turned back), and is
/// consumed here: the caller must not use it again.
#[inline]
pub(crate) unsafe fn free_raw_bulk(raws: &[RawMbuf]) {
    let mut indices = [0u32; MAX_BURST];
    let mut pool: *const PoolInner = std::ptr::null();
    let mut n = 0;
    for &r in raws {
        {
            // SAFETY: the caller owns a reference, so the metadata is live; shared access.
            let meta = unsafe { r.0.as_ref() };
            if meta.refcnt.load(Ordering::Acquire) != 1 || meta.next.is_some() {
                // SAFETY: an owned token, turned back once.
                drop(unsafe { Mbuf::from_raw(r) });
                continue;
            }
            if meta.pool != pool || n == MAX_BURST {
                if n > 0 {
                    // SAFETY: pools outlive their mbufs.
                    unsafe { &*pool }.put(&indices[..n]);
                }
                pool = meta.pool;
                n = 0;
            }
        }
        // SAFETY: a count of 1 is our reference: no other handle or link can reach this
        // metadata, and none can appear (cloning needs a handle).
        let meta = unsafe { &mut *r.0.as_ptr() };
        indices[n] = meta.chunk_index;
        n += 1;
        reset_single(meta);
    }
    if n > 0 {
        // SAFETY: pools outlive their mbufs.
        unsafe { &*pool }.put(&indices[..n]);
    }
}

/// Chunk indices freed in a row, grouped by pool, returned in one `put` per pool change or 64.
pub(crate) struct FreeBatch {
    pool: *const PoolInner,
    len: usize,
    indices: [u32; 64],
}

impl FreeBatch {
    pub(crate) fn new() -> Self {
        FreeBatch {
            pool: std::ptr::null(),
            len: 0,
            indices: [0; 64],
        }
    }

    #[inline]
    fn add(&mut self, pool: *const PoolInner, index: u32) {
        if pool != self.pool || self.len == self.indices.len() {
            self.flush();
            self.pool = pool;
        }
        self.indices[self.len] = index;
        self.len += 1;
    }

    /// Frees `m` and every segment it solely owns.
    #[inline]
    pub(crate) fn add_chain(&mut self, m: Mbuf) {
        let mut cur = Some(m);
        while let Some(seg) = cur {
            let seg = ManuallyDrop::new(seg);
            match release_segment(seg.meta) {
                Some((pool, index, next)) => {
                    self.add(pool, index);
                    cur = next;
                }
                None => break,
            }
        }
    }

    pub(crate) fn flush(&mut self) {
        if self.len > 0 {
            // SAFETY: pools outlive their mbufs (see `pool`): this one is alive.
            let pool = unsafe { &*self.pool };
            pool.put(&self.indices[..self.len]);
            self.len = 0;
        }
    }
}

impl Drop for FreeBatch {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Frees many mbufs, returning their buffers to their pools in bulk (grouped by pool).
pub fn free_bulk<I: IntoIterator<Item = Mbuf>>(mbufs: I) {
    let mut batch = FreeBatch::new();
    for m in mbufs {
        batch.add_chain(m);
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        let mut cur = Some(self.meta);
        while let Some(m) = cur {
            match release_segment(m) {
                Some((pool, index, next)) => {
                    // SAFETY: pools outlive their mbufs.
                    unsafe { &*pool }.put(&[index]);
                    cur = next.map(|n| ManuallyDrop::new(n).meta);
                }
                None => break,
            }
        }
    }
}

impl Clone for Mbuf {
    /// Another handle to the same buffer: data and metadata become read-only while shared.
    fn clone(&self) -> Mbuf {
        let old = self.meta().refcnt.fetch_add(1, Ordering::Relaxed);
        if old > u32::MAX / 2 {
            // As Arc does: billions of handles mean a leak loop; overflow would be unsound.
            std::process::abort();
        }
        Mbuf { meta: self.meta }
    }
}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("chunk", &self.chunk_index())
            .field("data_off", &self.headroom())
            .field("len", &self.len())
            .field("pkt_len", &self.pkt_len())
            .field("nb_segs", &self.nb_segs())
            .field("refcnt", &self.refcnt())
            .finish()
    }
}

impl Mbuf {
    /// # Safety
    /// The caller owns one reference to this live metadata, which it passes to the new handle.
    #[inline]
    pub(crate) unsafe fn from_meta(meta: NonNull<MbufMeta>) -> Mbuf {
        Mbuf { meta }
    }

    #[inline]
    fn meta(&self) -> &MbufMeta {
        // SAFETY: this handle owns a reference, so the metadata is live; shared access only.
        unsafe { self.meta.as_ref() }
    }

    /// The metadata for writing, if this handle is its only owner.
    #[inline]
    fn meta_mut(&mut self) -> Result<&mut MbufMeta, MbufError> {
        let refcnt = self.refcnt();
        if refcnt != 1 {
            return Err(MbufError::Shared { refcnt });
        }
        // SAFETY: count 1 and `&mut self`: no other handle or chain link refers to this
        // metadata, and none can appear while we hold `&mut self`.
        Ok(unsafe { &mut *self.meta.as_ptr() })
    }

    /// Sets the data range of a unique mbuf (fresh from the pool), range checked by the caller.
    pub(crate) fn set_data_range(&mut self, data_off: u16, len: u16) {
        if let Ok(meta) = self.meta_mut() {
            debug_assert!(data_off as usize + len as usize <= meta.buf_len as usize);
            meta.data_off = data_off;
            meta.data_len = len;
            meta.pkt_len = len as u32;
        }
    }

    /// Sets the length of an mbuf fresh from the pool.
    ///
    /// # Safety
    /// The mbuf was just allocated (count 1, one segment, default headroom) and `len` fits in
    /// its data room.
    #[inline(always)]
    pub(crate) unsafe fn set_fresh_len(&mut self, len: u16) {
        // SAFETY: fresh from the pool (the caller's promise): this handle is the only reference
        // and `&mut self` keeps it so.
        let m = unsafe { &mut *self.meta.as_ptr() };
        debug_assert!(m.refcnt.load(Ordering::Relaxed) == 1 && m.next.is_none());
        debug_assert!(m.data_off as usize + len as usize <= m.buf_len as usize);
        m.data_len = len;
        m.pkt_len = len as u32;
    }

    /// Sets the data length of a unique, single-segment mbuf (such as one fresh from the pool)
    /// to `len`, growing or shrinking it at the end, with one bounds check. Cheaper than
    /// [`append`](Self::append) for drivers that fill whole frames. The bytes it exposes hold
    /// whatever the buffer held before. Refused if shared ([`MbufError::Shared`]), chained or
    /// too long ([`MbufError::NoTailroom`]).
    #[inline]
    pub fn set_len(&mut self, len: usize) -> Result<(), MbufError> {
        let m = self.meta_mut()?;
        let room = m.buf_len as usize - m.data_off as usize;
        if len > room || m.next.is_some() {
            return Err(MbufError::NoTailroom {
                requested: len,
                available: if m.next.is_some() { 0 } else { room },
            });
        }
        m.data_len = len as u16;
        m.pkt_len = len as u32;
        Ok(())
    }

    /// Classifies the packet (Ethernet first, [`ferroplane_net::parse`]) and stores its packet
    /// type, header lengths and VLAN TCIs in the metadata ([`ferroplane_net::fill_meta`]);
    /// returns what was found. Parses the first segment only. On a parse error the metadata
    /// gets packet type `UNKNOWN` and zero lengths. Refused if shared.
    pub fn parse_packet_type(
        &mut self,
    ) -> Result<Result<ferroplane_net::PacketInfo, ferroplane_net::ParseError>, MbufError> {
        let m = self.meta_mut()?;
        // SAFETY: as in `data`: the first segment's data, in the chunk this mbuf owns uniquely;
        // it does not overlap the metadata written through `m.info`.
        let data = unsafe {
            std::slice::from_raw_parts(m.buf_addr.add(m.data_off as usize), m.data_len as usize)
        };
        Ok(ferroplane_net::fill_meta(data, &mut m.info))
    }

    /// Number of handles and chain links sharing this segment.
    #[inline]
    pub fn refcnt(&self) -> u32 {
        self.meta().refcnt.load(Ordering::Acquire)
    }

    /// Whether this handle is the only owner (data and metadata are writable).
    #[inline]
    pub fn is_unique(&self) -> bool {
        self.refcnt() == 1
    }

    /// The data of this (first) segment.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.meta();
        // SAFETY: data_off + data_len <= buf_len <= chunk size (kept by every writer), the
        // chunk is owned by this mbuf, and nobody writes it while `&self` is borrowed (writes
        // need `&mut` and a count of 1).
        unsafe {
            std::slice::from_raw_parts(m.buf_addr.add(m.data_off as usize), m.data_len as usize)
        }
    }

    /// The data of this (first) segment for writing; `None` if the mbuf is shared.
    #[inline]
    pub fn data_mut(&mut self) -> Option<&mut [u8]> {
        let m = self.meta_mut().ok()?;
        // SAFETY: as in `data`, and we are the only owner, borrowed mutably.
        Some(unsafe {
            std::slice::from_raw_parts_mut(m.buf_addr.add(m.data_off as usize), m.data_len as usize)
        })
    }

    /// Bytes of data in this (first) segment.
    #[inline]
    pub fn len(&self) -> usize {
        self.meta().data_len as usize
    }

    /// Whether this segment holds no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes in the whole packet (all segments); meaningful on the first segment.
    #[inline]
    pub fn pkt_len(&self) -> usize {
        self.meta().pkt_len as usize
    }

    /// Number of segments; meaningful on the first segment.
    #[inline]
    pub fn nb_segs(&self) -> usize {
        self.meta().nb_segs as usize
    }

    /// Bytes free before the data.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.meta().data_off as usize
    }

    /// Bytes free after the data of this segment.
    #[inline]
    pub fn tailroom(&self) -> usize {
        let m = self.meta();
        m.buf_len as usize - m.data_off as usize - m.data_len as usize
    }

    /// Usable size of the buffer (headroom + data room).
    #[inline]
    pub fn buf_len(&self) -> usize {
        self.meta().buf_len as usize
    }

    /// Packet metadata (offload flags, type, RSS hash, port, ...).
    #[inline]
    pub fn info(&self) -> &PacketInfo {
        &self.meta().info
    }

    /// Packet metadata for writing; `None` if the mbuf is shared.
    #[inline]
    pub fn info_mut(&mut self) -> Option<&mut PacketInfo> {
        self.meta_mut().ok().map(|m| &mut m.info)
    }

    /// Grows the data by `n` bytes at the front (into the headroom) and returns them.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Result<&mut [u8], MbufError> {
        let m = self.meta_mut()?;
        if n > m.data_off as usize {
            return Err(MbufError::NoHeadroom {
                requested: n,
                available: m.data_off as usize,
            });
        }
        m.data_off -= n as u16;
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        // SAFETY: the new range starts inside the buffer and we are the unique owner.
        Ok(unsafe { std::slice::from_raw_parts_mut(m.buf_addr.add(m.data_off as usize), n) })
    }

    /// Grows the data by `n` bytes at the end of the last segment and returns them.
    #[inline]
    pub fn append(&mut self, n: usize) -> Result<&mut [u8], MbufError> {
        let head = self.meta_mut()?;
        let last = last_segment_mut(head)?;
        let tailroom = last.buf_len as usize - last.data_off as usize - last.data_len as usize;
        if n > tailroom {
            return Err(MbufError::NoTailroom {
                requested: n,
                available: tailroom,
            });
        }
        let end = last.data_off as usize + last.data_len as usize;
        last.data_len += n as u16;
        let p = last.buf_addr;
        // The head's pkt_len may exceed u32 only with > 65535 segments of 64 KiB: checked.
        let head = self.meta_mut()?;
        head.pkt_len = head.pkt_len.saturating_add(n as u32);
        // SAFETY: `end + n <= buf_len` (checked), and we own the last segment uniquely.
        Ok(unsafe { std::slice::from_raw_parts_mut(p.add(end), n) })
    }

    /// Removes `n` bytes from the front of the data (of the first segment).
    #[inline]
    pub fn adj(&mut self, n: usize) -> Result<(), MbufError> {
        let m = self.meta_mut()?;
        if n > m.data_len as usize {
            return Err(MbufError::OutOfRange {
                offset: 0,
                len: n,
                data_len: m.data_len as usize,
            });
        }
        m.data_off += n as u16;
        m.data_len -= n as u16;
        m.pkt_len -= n as u32;
        Ok(())
    }

    /// Removes `n` bytes from the end of the data (of the last segment).
    pub fn trim(&mut self, n: usize) -> Result<(), MbufError> {
        let head = self.meta_mut()?;
        let last = last_segment_mut(head)?;
        if n > last.data_len as usize {
            return Err(MbufError::OutOfRange {
                offset: 0,
                len: n,
                data_len: last.data_len as usize,
            });
        }
        last.data_len -= n as u16;
        let head = self.meta_mut()?;
        head.pkt_len -= n as u32;
        Ok(())
    }

    /// The segments of the packet, this one first.
    pub fn segments(&self) -> Segments<'_> {
        Segments { next: Some(self) }
    }

    /// Copies `out.len()` bytes of the packet starting at `offset` (across segments) into `out`.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), MbufError> {
        let total: usize = self.segments().map(Mbuf::len).sum();
        if offset > total || out.len() > total - offset {
            return Err(MbufError::OutOfRange {
                offset,
                len: out.len(),
                data_len: total,
            });
        }
        let (mut skip, mut done) = (offset, 0);
        for seg in self.segments() {
            let d = seg.data();
            if skip >= d.len() {
                skip -= d.len();
                continue;
            }
            let k = (d.len() - skip).min(out.len() - done);
            out[done..done + k].copy_from_slice(&d[skip..skip + k]);
            done += k;
            skip = 0;
            if done == out.len() {
                break;
            }
        }
        Ok(())
    }

    /// The packet bytes `offset..offset + len` if they lie in the first segment.
    pub fn slice(&self, offset: usize, len: usize) -> Option<&[u8]> {
        self.data().get(offset..offset.checked_add(len)?)
    }

    /// Copies the whole packet (all segments) to the front of `out`; returns its length.
    pub fn linearize_into(&self, out: &mut [u8]) -> Result<usize, MbufError> {
        let total: usize = self.segments().map(Mbuf::len).sum();
        let room = out.len();
        let dst = out.get_mut(..total).ok_or(MbufError::OutOfRange {
            offset: 0,
            len: total,
            data_len: room,
        })?;
        self.read(0, dst)?;
        Ok(total)
    }

    /// Copies `src` into the packet at `offset` (across segments). Every segment written must be
    /// unshared; nothing is written if any check fails.
    pub fn write(&mut self, offset: usize, src: &[u8]) -> Result<(), MbufError> {
        let total: usize = self.segments().map(Mbuf::len).sum();
        if offset > total || src.len() > total - offset {
            return Err(MbufError::OutOfRange {
                offset,
                len: src.len(),
                data_len: total,
            });
        }
        // Every segment from the head to the last one written must be unshared: a shared
        // segment makes everything after it reachable from another owner.
        let end = offset + src.len();
        let mut start = 0;
        for seg in self.segments() {
            if start >= end && start > offset {
                break;
            }
            if !seg.is_unique() {
                return Err(MbufError::Shared {
                    refcnt: seg.refcnt(),
                });
            }
            start += seg.len();
        }
        let mut start = 0;
        let mut done = 0;
        let mut cur = Some(self.meta);
        while let Some(p) = cur {
            if done == src.len() {
                break;
            }
            // SAFETY: every segment we write is unshared (checked above) and reachable only
            // through `self`, which is borrowed mutably.
            let m = unsafe { &mut *p.as_ptr() };
            let len = m.data_len as usize;
            if start + len > offset {
                let from = offset + done - start;
                let k = (len - from).min(src.len() - done);
                // SAFETY: `from + k <= data_len`, inside this segment's buffer; unique access.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(m.buf_addr.add(m.data_off as usize + from), k)
                };
                dst.copy_from_slice(&src[done..done + k]);
                done += k;
            }
            start += len;
            cur = m.next.as_ref().map(|n| n.meta);
        }
        Ok(())
    }

    /// Appends `tail` (and its segments) after the last segment of this packet. Every segment
    /// of `self` must be unshared (`tail` may be shared, e.g. a cloned payload). On error the
    /// tail is given back in the [`ChainError`].
    pub fn chain(&mut self, tail: Mbuf) -> Result<(), ChainError> {
        let mut segs = 0usize;
        for seg in self.segments() {
            if !seg.is_unique() {
                return Err(ChainError {
                    error: MbufError::Shared {
                        refcnt: seg.refcnt(),
                    },
                    tail,
                });
            }
            segs += 1;
        }
        let nb_segs = segs + tail.nb_segs();
        let pkt_len = self.pkt_len() + tail.pkt_len();
        if nb_segs > u16::MAX as usize || pkt_len > u32::MAX as usize {
            return Err(ChainError {
                error: MbufError::ChainTooLong { nb_segs, pkt_len },
                tail,
            });
        }
        let head = match self.meta_mut() {
            Ok(h) => h,
            Err(error) => return Err(ChainError { error, tail }),
        };
        head.nb_segs = nb_segs as u16;
        head.pkt_len = pkt_len as u32;
        match last_segment_mut(head) {
            Ok(last) => last.next = Some(tail),
            Err(error) => return Err(ChainError { error, tail }),
        }
        Ok(())
    }

    /// Makes this mbuf like a fresh one from the pool (empty, default headroom, metadata
    /// cleared), freeing any further segments. Refused if shared.
    pub fn reset(&mut self) -> Result<(), MbufError> {
        let meta = self.meta_mut()?;
        let rest = meta.next.take();
        reset(meta);
        drop(rest);
        Ok(())
    }

    /// Index of this mbuf's chunk in its pool's region.
    #[inline]
    pub fn chunk_index(&self) -> u32 {
        self.meta().chunk_index
    }

    /// Offset of the first data byte from the start of the pool's region (an AF_XDP UMEM
    /// address).
    #[inline]
    pub fn data_offset_in_region(&self) -> usize {
        let m = self.meta();
        // SAFETY: pools outlive their mbufs.
        let chunk_size = unsafe { &*m.pool }.data.chunk_size();
        m.chunk_index as usize * chunk_size + m.data_off as usize
    }

    /// Gives up the buffer without returning it to the pool (it stays counted in use), for a
    /// driver handing it to the kernel; returns its chunk index. Take it back with
    /// [`Mempool::mbuf_from_chunk`](crate::Mempool::mbuf_from_chunk) or
    /// [`Mempool::free_chunks`](crate::Mempool::free_chunks). Refused (the mbuf is given back)
    /// if it is shared or has more than one segment.
    pub fn into_chunk(mut self) -> Result<u32, Mbuf> {
        let Ok(meta) = self.meta_mut() else {
            return Err(self);
        };
        if meta.next.is_some() {
            return Err(self);
        }
        let index = meta.chunk_index;
        reset(meta);
        std::mem::forget(self);
        Ok(index)
    }

    /// Turns this handle into a `Copy` token, e.g. to pass through a ring. It must be turned
    /// back with [`from_raw`](Self::from_raw) exactly once, or the mbuf leaks.
    #[inline]
    pub fn into_raw(self) -> RawMbuf {
        RawMbuf(ManuallyDrop::new(self).meta)
    }

    /// Rebuilds the handle from [`into_raw`](Self::into_raw)'s token.
    ///
    /// # Safety
    /// `raw` came from `into_raw` and is turned back only once.
    #[inline]
    pub unsafe fn from_raw(raw: RawMbuf) -> Mbuf {
        Mbuf { meta: raw.0 }
    }

    /// Prefetches the metadata and the first data cache line (call a few packets ahead).
    #[inline]
    pub fn prefetch(&self) {
        let m = self.meta();
        prefetch_line(self.meta.as_ptr().cast());
        prefetch_line(m.buf_addr.wrapping_add(m.data_off as usize));
    }
}

/// Starts loading the cache line holding `addr` into all cache levels.
#[inline(always)]
pub(crate) fn prefetch_line(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and has no architectural effect,
    // whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// The last segment of the chain starting at `head`, for writing.
fn last_segment_mut(head: &mut MbufMeta) -> Result<&mut MbufMeta, MbufError> {
    let mut cur: *mut MbufMeta = head;
    loop {
        // SAFETY: `cur` is `head` or a segment owned through the chain from it; we checked the
        // head is unique and check each segment below before handing it out mutably.
        let m = unsafe { &mut *cur };
        match &m.next {
            None => return Ok(m),
            Some(n) => {
                let refcnt = n.refcnt();
                if refcnt != 1 {
                    return Err(MbufError::Shared { refcnt });
                }
                cur = n.meta.as_ptr();
            }
        }
    }
}

/// A refused [`Mbuf::chain`]: why, and the tail given back.
#[derive(Debug)]
pub struct ChainError {
    /// Why the chain was refused.
    pub error: MbufError,
    /// The mbuf that was to be appended.
    pub tail: Mbuf,
}

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot chain mbuf: {}", self.error)
    }
}

impl std::error::Error for ChainError {}

/// Iterator over the segments of a packet ([`Mbuf::segments`]).
#[derive(Debug, Clone)]
pub struct Segments<'a> {
    next: Option<&'a Mbuf>,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a Mbuf;

    fn next(&mut self) -> Option<&'a Mbuf> {
        let cur = self.next?;
        self.next = cur.meta().next.as_ref();
        Some(cur)
    }
}
