//! The RX and TX queues: the fast path between the XSK rings and mbufs.
//!
//! - RX: descriptors become mbufs in place (chunk index and data offset from the descriptor
//!   address); the fill ring is topped up in batches of raw chunks from the pool.
//! - TX: an mbuf of our pool goes to the kernel as is (its chunk is lent, and comes back to the
//!   pool when its completion is reclaimed); an mbuf of another pool (or a shared or chained
//!   one) is copied into a chunk of ours first. Completions are reclaimed in bulk.
//!
//! Every chunk lent to the kernel is tracked in a per-queue bitmap, so that on close the chunks
//! still in the fill, RX, TX or completion rings (or held by a zero-copy driver) are all given
//! back to the pool once the socket is closed.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use ferroplane_mempool::{MAX_BURST, Mbuf, MbufBurst, Mempool};

use super::ring::{ConsRing, ProdRing};
use super::sys::{self, xdp_desc};
use super::xsk::XskStats;
use crate::stats::{QueueKind, QueueStats, QueueStatsSnapshot};

/// Low 48 bits of a descriptor address: the chunk address; in unaligned mode the high 16 bits
/// carry an offset to add to it.
const ADDR_MASK: u64 = (1 << 48) - 1;
const OFFSET_SHIFT: u32 = 48;

/// Fill-ring refill granularity.
const FILL_BATCH: usize = 64;
/// Completions reclaimed per call at most.
const RECLAIM_MAX: u32 = 512;
/// An all-zero descriptor, to initialise a TX burst array.
const NO_DESC: xdp_desc = xdp_desc {
    addr: 0,
    len: 0,
    options: 0,
};

/// Chunks currently lent to the kernel by one queue.
pub(crate) struct ChunkSet {
    words: Box<[u64]>,
    count: usize,
}

impl ChunkSet {
    pub(crate) fn new(chunks: usize) -> Self {
        ChunkSet {
            words: vec![0; chunks.div_ceil(64)].into_boxed_slice(),
            count: 0,
        }
    }

    #[inline]
    fn insert(&mut self, i: u32) {
        if let Some(w) = self.words.get_mut(i as usize / 64) {
            let bit = 1u64 << (i % 64);
            if *w & bit == 0 {
                *w |= bit;
                self.count += 1;
            }
        }
    }

    /// Removes `i`; false if it was not lent (a bogus address from the kernel).
    #[inline]
    fn remove(&mut self, i: u32) -> bool {
        match self.words.get_mut(i as usize / 64) {
            Some(w) if *w & (1u64 << (i % 64)) != 0 => {
                *w &= !(1u64 << (i % 64));
                self.count -= 1;
                true
            }
            _ => false,
        }
    }

    fn drain_into(&mut self, out: &mut Vec<u32>) {
        for (wi, w) in self.words.iter_mut().enumerate() {
            let mut bits = std::mem::take(w);
            while bits != 0 {
                out.push(wi as u32 * 64 + bits.trailing_zeros());
                bits &= bits - 1;
            }
        }
        self.count = 0;
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }
}

/// What the RX and TX queue of one socket share: the socket itself and, on close, the chunks
/// to give back once it is closed.
pub(crate) struct SocketShared {
    fd: Option<OwnedFd>,
    pool: Mempool,
    returned: Mutex<Vec<u32>>,
    pub(crate) iface: String,
    pub(crate) ifindex: u32,
    pub(crate) queue: u32,
    pub(crate) zerocopy: bool,
}

impl SocketShared {
    pub(crate) fn new(
        fd: OwnedFd,
        pool: Mempool,
        iface: String,
        ifindex: u32,
        queue: u32,
        zerocopy: bool,
    ) -> Self {
        SocketShared {
            fd: Some(fd),
            pool,
            returned: Mutex::new(Vec::new()),
            iface,
            ifindex,
            queue,
            zerocopy,
        }
    }

    pub(crate) fn raw_fd(&self) -> i32 {
        self.fd.as_ref().map_or(-1, |f| f.as_raw_fd())
    }

    /// The kernel's counters for this socket.
    pub(crate) fn xsk_stats(&self) -> XskStats {
        XskStats::read(self.raw_fd()).unwrap_or_default()
    }

    fn give_back(&self, set: &mut ChunkSet) {
        if set.len() == 0 {
            return;
        }
        let mut v = self.returned.lock().unwrap_or_else(|p| p.into_inner());
        set.drain_into(&mut v);
    }
}

impl Drop for SocketShared {
    fn drop(&mut self) {
        // Close first: after the socket is released the kernel no longer touches its chunks.
        drop(self.fd.take());
        let chunks = std::mem::take(self.returned.get_mut().unwrap_or_else(|p| p.into_inner()));
        if !chunks.is_empty() {
            // SAFETY: each index was lent to the kernel by one of this socket's queues and not
            // given back (tracked in a ChunkSet); the socket is closed, so nothing uses them.
            if let Err(e) = unsafe { self.pool.free_chunks(&chunks) } {
                log::error!(
                    "af_xdp {} queue {}: returning chunks failed: {e}",
                    self.iface,
                    self.queue
                );
            }
        }
        log::debug!(
            "af_xdp {} queue {}: socket closed, {} chunks returned",
            self.iface,
            self.queue,
            chunks.len()
        );
    }
}

/// Geometry shared by both queue kinds.
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    pub chunk_size: usize,
    pub chunk_count: usize,
    pub base: usize,
}

impl Layout {
    /// (chunk index, offset in chunk) of a descriptor address, if inside the region.
    #[inline]
    fn split(&self, addr: u64) -> Option<(u32, usize)> {
        let a = ((addr & ADDR_MASK) + (addr >> OFFSET_SHIFT)) as usize;
        let index = a / self.chunk_size;
        (index < self.chunk_count).then_some((index as u32, a % self.chunk_size))
    }

    #[inline]
    fn holds(&self, ptr: *const u8) -> bool {
        let p = ptr as usize;
        p >= self.base && p < self.base + self.chunk_size * self.chunk_count
    }
}

/// An AF_XDP receive queue (one socket's RX and fill rings).
pub struct AfXdpRxQueue {
    rx: ConsRing<xdp_desc>,
    fill: ProdRing<u64>,
    lent: ChunkSet,
    ctx: QueueCtx,
    busy_poll: bool,
}

/// What both queue kinds hold besides their rings and the chunks they lent.
pub(crate) struct QueueCtx {
    pub layout: Layout,
    pub pool: Mempool,
    pub stats: Arc<QueueStats>,
    pub sock: Arc<SocketShared>,
    pub queue: u16,
}

impl AfXdpRxQueue {
    pub(crate) fn new(
        rx: ConsRing<xdp_desc>,
        fill: ProdRing<u64>,
        ctx: QueueCtx,
        busy_poll: bool,
    ) -> Self {
        let mut q = AfXdpRxQueue {
            rx,
            fill,
            lent: ChunkSet::new(ctx.layout.chunk_count),
            ctx,
            busy_poll,
        };
        q.refill(usize::MAX);
        q
    }

    /// Tops the fill ring up with fresh chunks, in full batches, at most `max_batches`.
    fn refill(&mut self, max_batches: usize) {
        let batch = FILL_BATCH.min(self.fill.size() as usize);
        for _ in 0..max_batches {
            if (self.fill.free(batch as u32) as usize) < batch {
                break;
            }
            let mut idx = [0u32; FILL_BATCH];
            let got = self.ctx.pool.alloc_chunks(&mut idx[..batch]);
            if got < batch {
                self.ctx.stats.add_alloc_failures(1);
            }
            if got == 0 {
                break;
            }
            let cs = self.ctx.layout.chunk_size as u64;
            // Room for `batch >= got` entries was checked above.
            self.fill
                .produce_with(got as u32, |i| idx[i as usize] as u64 * cs);
            for &i in &idx[..got] {
                self.lent.insert(i);
            }
            if got < batch {
                break;
            }
        }
    }

    /// Receives up to `burst.free()` frames into `burst`; returns how many were added.
    pub fn rx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        let max = burst.free().min(MAX_BURST) as u32;
        if self.rx.available(1) == 0 {
            // Nothing to read: with busy polling, one syscall lets the kernel run the driver's
            // poll loop in our context; without, wake the driver only if it asked (an empty
            // fill ring in zero-copy mode).
            self.refill(1);
            if self.busy_poll || self.fill.needs_wakeup() {
                sys::kick_rx(self.ctx.sock.raw_fd());
            }
            return 0;
        }
        // Two passes, so that the loads of the whole burst overlap: first take the descriptors
        // (freeing their slots for the kernel at once) and prefetch each chunk's metadata and
        // frame, then turn the chunks into mbufs, which writes that metadata. The frame was
        // written by the kernel on the CPU that ran the interface's receive path, often
        // another core; in copy mode our TX `sendto` copies it out a frame at a time, where
        // each cache miss would stall the kernel's per-frame work.
        // Each descriptor's (chunk, offset) is kept from the first pass: splitting an address
        // divides by the chunk size.
        let mut chunks = [None; MAX_BURST];
        let mut lens = [0u32; MAX_BURST];
        let mut n = 0;
        let Self { rx, lent, ctx, .. } = self;
        rx.consume(max, |d| {
            let chunk = ctx.layout.split(d.addr);
            if let Some((index, off)) = chunk {
                ctx.pool.prefetch_chunk(index, off);
            }
            chunks[n] = chunk;
            lens[n] = d.len;
            n += 1;
        });
        let (mut got, mut bytes, mut errors) = (0usize, 0u64, 0u64);
        let mut bad = [0u32; MAX_BURST];
        let mut nbad = 0;
        for (&chunk, &len) in chunks[..n].iter().zip(&lens[..n]) {
            let Some((index, off)) = chunk else {
                errors += 1;
                continue;
            };
            if !lent.remove(index) {
                errors += 1;
                continue;
            }
            // SAFETY: the chunk was lent to the kernel by this queue's fill ring (checked in
            // `lent`) and the kernel handed it back on the RX ring: we own it again.
            match unsafe { ctx.pool.mbuf_from_chunk(index, off, len as usize) } {
                Ok(m) => {
                    bytes += u64::from(len);
                    got += 1;
                    if let Err(m) = burst.push(m) {
                        drop(m);
                    }
                }
                Err(_) => {
                    errors += 1;
                    bad[nbad] = index;
                    nbad += 1;
                }
            }
        }
        if nbad > 0 {
            // SAFETY: these chunks are ours (see above) and were not turned into mbufs.
            let _ = unsafe { self.ctx.pool.free_chunks(&bad[..nbad]) };
        }
        self.ctx.stats.add_rx(got as u64, bytes);
        if errors > 0 {
            self.ctx.stats.add_rx_errors(errors);
        }
        self.refill(4);
        if self.fill.needs_wakeup() {
            sys::kick_rx(self.ctx.sock.raw_fd());
        }
        got
    }

    /// The queue index (interface queue minus `start_queue`).
    pub fn queue(&self) -> u16 {
        self.ctx.queue
    }

    /// Whether the socket is bound in zero-copy mode.
    pub fn zerocopy(&self) -> bool {
        self.ctx.sock.zerocopy
    }

    /// Chunks currently lent to the kernel through the fill ring.
    pub fn chunks_lent(&self) -> usize {
        self.lent.len()
    }

    /// A snapshot of this queue's counters.
    pub fn stats(&self) -> QueueStatsSnapshot {
        self.ctx.stats.snapshot(QueueKind::Rx, self.ctx.queue)
    }
}

impl Drop for AfXdpRxQueue {
    fn drop(&mut self) {
        self.ctx.sock.give_back(&mut self.lent);
    }
}

/// An AF_XDP transmit queue (one socket's TX and completion rings).
pub struct AfXdpTxQueue {
    tx: ProdRing<xdp_desc>,
    comp: ConsRing<u64>,
    lent: ChunkSet,
    ctx: QueueCtx,
    /// Frames one copy-mode `sendto` transmits at most.
    tx_budget: u32,
}

impl AfXdpTxQueue {
    pub(crate) fn new(
        tx: ProdRing<xdp_desc>,
        comp: ConsRing<u64>,
        ctx: QueueCtx,
        tx_budget: u32,
    ) -> Self {
        AfXdpTxQueue {
            tx,
            comp,
            tx_budget: tx_budget.max(1),
            lent: ChunkSet::new(ctx.layout.chunk_count),
            ctx,
        }
    }

    /// Gives completed chunks back to the pool, in bulk.
    fn reclaim(&mut self) {
        let mut done = [0u32; MAX_BURST];
        let mut n = 0;
        let mut total = 0;
        loop {
            let Self {
                comp, lent, ctx, ..
            } = self;
            let got = comp.consume((MAX_BURST as u32).min(RECLAIM_MAX - total), |addr| {
                if let Some((index, _)) = ctx.layout.split(addr)
                    && lent.remove(index)
                {
                    done[n] = index;
                    n += 1;
                }
            });
            if n > 0 {
                // SAFETY: each index was lent by this queue's TX ring (checked in `lent`) and
                // the kernel reported it complete: we own it again, and give it back once.
                let _ = unsafe { self.ctx.pool.free_chunks(&done[..n]) };
                n = 0;
            }
            total += got;
            if got < MAX_BURST as u32 || total >= RECLAIM_MAX {
                break;
            }
        }
    }

    /// Writes to `desc` a descriptor for `m`, lending its chunk (zero copy) or a copy of it
    /// in a fresh chunk; `false` if it cannot be sent (counted). Written in place rather than
    /// returned: a returned `Option<xdp_desc>` goes through the stack, and reloading it whole
    /// right after its fields were stored one by one stalls store-to-load forwarding, once
    /// per frame.
    #[inline]
    fn desc_for(&mut self, m: Mbuf, desc: &mut xdp_desc) -> bool {
        let len = m.pkt_len();
        if self.ctx.layout.holds(m.data().as_ptr()) && m.nb_segs() == 1 {
            let addr = m.data_offset_in_region() as u64;
            match m.into_chunk() {
                Ok(index) => {
                    self.lent.insert(index);
                    desc.addr = addr;
                    desc.len = len as u32;
                    return true;
                }
                Err(m) => return self.copy_desc(m, len, desc),
            }
        }
        self.copy_desc(m, len, desc)
    }

    #[cold]
    fn copy_desc(&mut self, m: Mbuf, len: usize, desc: &mut xdp_desc) -> bool {
        let Some(mut c) = self.ctx.pool.alloc() else {
            self.ctx.stats.add_alloc_failures(1);
            self.ctx.stats.add_tx_drops(1);
            return false;
        };
        let copied = match c.append(len) {
            Ok(dst) => m.linearize_into(dst).is_ok(),
            Err(_) => false,
        };
        if !copied {
            self.ctx.stats.add_tx_errors(1);
            return false;
        }
        let addr = c.data_offset_in_region() as u64;
        match c.into_chunk() {
            Ok(index) => {
                self.lent.insert(index);
                desc.addr = addr;
                desc.len = len as u32;
                true
            }
            Err(_) => {
                self.ctx.stats.add_tx_errors(1);
                false
            }
        }
    }

    /// Sends mbufs from the front of `burst`; returns how many were taken (sent, or dropped
    /// and counted). What is not taken stays in `burst`.
    pub fn tx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        self.reclaim();
        let want = burst.len().min(MAX_BURST);
        let n = (self.tx.free(want as u32) as usize).min(want);
        if n == 0 {
            self.kick();
            return 0;
        }
        let mut descs = [NO_DESC; MAX_BURST];
        let mut k = 0;
        let mut bytes = 0u64;
        for m in burst.drain(..n) {
            if self.desc_for(m, &mut descs[k]) {
                bytes += u64::from(descs[k].len);
                k += 1;
            }
        }
        // Room for n >= k entries was checked above.
        let sent = self.tx.produce(&descs[..k]);
        debug_assert_eq!(sent, k);
        self.ctx.stats.add_tx(k as u64, bytes);
        self.kick();
        n
    }

    /// Asks the kernel to transmit what waits in the TX ring. In copy mode a `sendto`
    /// transmits at most one kernel batch (32 frames, or the socket's `XDP_MAX_TX_SKB_BUDGET`)
    /// and answers `EAGAIN` while more wait, so
    /// one kick per burst never catches up with a backlog left by a busy moment (the ring then
    /// fills and frames are dropped): kick again, reclaiming completions in between (a full
    /// completion ring also stops transmission), until the ring is drained, like DPDK's
    /// net_af_xdp, but at most a bounded number of times.
    #[inline]
    fn kick(&mut self) {
        if !self.tx.needs_wakeup() {
            return;
        }
        let mut tries = self.tx.outstanding() / self.tx_budget + 2;
        while tries > 0 && self.tx.outstanding() > 0 {
            tries -= 1;
            match sys::kick_tx(self.ctx.sock.raw_fd()) {
                Ok(true) => self.reclaim(),
                Ok(false) => return,
                Err(e) => {
                    log::debug!(
                        "af_xdp {} queue {}: TX kick failed: {e}",
                        self.ctx.sock.iface,
                        self.ctx.queue
                    );
                    return;
                }
            }
        }
    }

    /// Reclaims completions and kicks the kernel if frames are waiting.
    pub fn flush(&mut self) {
        self.reclaim();
        self.kick();
    }

    /// Frames one copy-mode `sendto` transmits at most: the `tx_budget` key where the kernel
    /// takes `XDP_MAX_TX_SKB_BUDGET` (6.17+), else the kernel's 32.
    pub fn tx_budget(&self) -> u32 {
        self.tx_budget
    }

    /// Frames submitted but not yet completed by the kernel.
    pub fn in_flight(&self) -> usize {
        self.lent.len()
    }

    /// The queue index.
    pub fn queue(&self) -> u16 {
        self.ctx.queue
    }

    /// A snapshot of this queue's counters.
    pub fn stats(&self) -> QueueStatsSnapshot {
        self.ctx.stats.snapshot(QueueKind::Tx, self.ctx.queue)
    }
}

impl Drop for AfXdpTxQueue {
    fn drop(&mut self) {
        self.reclaim();
        self.ctx.sock.give_back(&mut self.lent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_set_tracks_and_drains() {
        let mut s = ChunkSet::new(200);
        for i in [0, 63, 64, 199, 64] {
            s.insert(i);
        }
        s.insert(500); // out of range: ignored
        assert_eq!(s.len(), 4);
        assert!(s.remove(63));
        assert!(!s.remove(63));
        assert!(!s.remove(1000));
        let mut v = Vec::new();
        s.drain_into(&mut v);
        assert_eq!(v, vec![0, 64, 199]);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn layout_splits_aligned_and_unaligned_addresses() {
        let l = Layout {
            chunk_size: 2048,
            chunk_count: 4,
            base: 0x1000_0000,
        };
        assert_eq!(l.split(2048 + 256), Some((1, 256)));
        // Unaligned mode: offset 256 in the top 16 bits, chunk start below.
        assert_eq!(l.split((256u64 << 48) | 4096), Some((2, 256)));
        assert_eq!(l.split(4 * 2048), None);
        assert!(l.holds(0x1000_0000 as *const u8));
        assert!(!l.holds((0x1000_0000 + 4 * 2048) as *const u8));
    }
}
