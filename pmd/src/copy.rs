//! Copying frames between plain memory and mbufs, for the drivers that cannot receive into
//! mbufs directly (af_packet, tap, pcap).

use ferroplane_mempool::{Mbuf, MbufBurst, Mempool, OffloadFlags};

/// A small stock of mbufs refilled from the pool in bulk, so per-packet receive paths allocate
/// with one pool operation per burst instead of one per packet.
pub(crate) struct Stash {
    stock: MbufBurst,
    refill: usize,
}

impl Stash {
    /// A stash refilled `refill` mbufs at a time (at most the burst capacity).
    pub(crate) fn new(refill: usize) -> Self {
        Stash {
            stock: MbufBurst::new(),
            refill: refill.clamp(1, ferroplane_mempool::MAX_BURST),
        }
    }

    /// One fresh mbuf, refilling in bulk when empty; `None` if the pool is exhausted.
    #[inline]
    pub(crate) fn take(&mut self, pool: &Mempool) -> Option<Mbuf> {
        if let Some(m) = self.stock.pop() {
            return Some(m);
        }
        if pool.alloc_bulk(&mut self.stock, self.refill) == 0 {
            // Bulk is all or nothing: when the pool runs low, fall back to single allocations.
            return pool.alloc();
        }
        self.stock.pop()
    }

    /// Returns an unused mbuf to the stock (or drops it if full).
    #[inline]
    pub(crate) fn give_back(&mut self, m: Mbuf) {
        let _ = self.stock.push(m);
    }
}

/// Copies `data` into a new packet (chaining segments when it exceeds one buffer), with
/// `ts_nanos` as its timestamp when given. `None` if the pool runs out (nothing is leaked).
#[inline]
pub(crate) fn mbuf_from_bytes(
    stash: &mut Stash,
    pool: &Mempool,
    data: &[u8],
    ts_nanos: Option<u64>,
) -> Option<Mbuf> {
    let mut head = stash.take(pool)?;
    let first = data.len().min(head.tailroom());
    head.append(first).ok()?.copy_from_slice(&data[..first]);
    let mut rest = &data[first..];
    while !rest.is_empty() {
        let mut seg = stash.take(pool)?; // on failure `head` drops and frees what it holds
        let n = rest.len().min(seg.tailroom());
        if n == 0 {
            return None;
        }
        seg.append(n).ok()?.copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        head.chain(seg).ok()?;
    }
    if let Some(ts) = ts_nanos
        && let Some(info) = head.info_mut()
    {
        info.timestamp = ts;
        info.ol_flags.insert(OffloadFlags::RX_TIMESTAMP);
    }
    Some(head)
}

/// The segments of a packet as byte slices (up to 8; longer chains are linearised into
/// `spill`).
pub(crate) fn segments<'a>(m: &'a Mbuf, spill: &'a mut Vec<u8>) -> ([&'a [u8]; 8], usize) {
    let mut parts: [&[u8]; 8] = [&[]; 8];
    if m.nb_segs() <= 8 {
        let mut n = 0;
        for s in m.segments() {
            parts[n] = s.data();
            n += 1;
        }
        return (parts, n);
    }
    spill.clear();
    for s in m.segments() {
        spill.extend_from_slice(s.data());
    }
    parts[0] = spill.as_slice();
    (parts, 1)
}
