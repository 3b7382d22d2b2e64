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
    // The common case: one buffer holds the frame (no parts loop, no chain).
    if data.len() <= head.tailroom() {
        head.append(data.len()).ok()?.copy_from_slice(data);
        stamp(&mut head, ts_nanos);
        return Some(head);
    }
    fill(stash, pool, head, &[data], ts_nanos)
}

/// Like [`mbuf_from_bytes`] for a frame given as consecutive parts.
pub(crate) fn mbuf_from_parts(
    stash: &mut Stash,
    pool: &Mempool,
    parts: &[&[u8]],
    ts_nanos: Option<u64>,
) -> Option<Mbuf> {
    let head = stash.take(pool)?;
    fill(stash, pool, head, parts, ts_nanos)
}

/// Appends `parts` to the empty mbuf `head`, chaining segments taken from the stash as needed.
fn fill(
    stash: &mut Stash,
    pool: &Mempool,
    mut head: Mbuf,
    parts: &[&[u8]],
    ts_nanos: Option<u64>,
) -> Option<Mbuf> {
    let mut room = head.tailroom();
    let mut tail: Option<Mbuf> = None; // the segment being filled, when not the head
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            if room == 0 {
                if let Some(t) = tail.take() {
                    head.chain(t).ok()?;
                }
                let seg = stash.take(pool)?; // on failure `head` drops and frees its chain
                room = seg.tailroom();
                if room == 0 {
                    return None;
                }
                tail = Some(seg);
            }
            let n = rest.len().min(room);
            let seg = tail.as_mut().unwrap_or(&mut head);
            seg.append(n).ok()?.copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            room -= n;
        }
    }
    if let Some(t) = tail.take() {
        head.chain(t).ok()?;
    }
    stamp(&mut head, ts_nanos);
    Some(head)
}

/// Sets the RX timestamp of a fresh packet, when there is one.
#[inline]
fn stamp(m: &mut Mbuf, ts_nanos: Option<u64>) {
    if let Some(ts) = ts_nanos
        && let Some(info) = m.info_mut()
    {
        info.timestamp = ts;
        info.ol_flags.insert(OffloadFlags::RX_TIMESTAMP);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ferroplane_mempool::{HugePolicy, MempoolConfig};

    #[test]
    fn parts_are_copied_across_chained_segments() {
        let pool = Mempool::new(&MempoolConfig {
            name: "copy_parts".into(),
            count: 64,
            cache_size: 0,
            data_room: 128,
            headroom: 0,
            hugepages: HugePolicy::Never,
            ..MempoolConfig::default()
        })
        .unwrap();
        let mut stash = Stash::new(8);
        let a: Vec<u8> = (0..100u8).collect();
        let b = [0xee; 4];
        let c: Vec<u8> = (0..200u32).map(|x| (x * 7) as u8).collect();
        let m = mbuf_from_parts(&mut stash, &pool, &[&a, &b, &c], Some(42)).unwrap();
        let want: Vec<u8> = a.iter().chain(&b).chain(&c).copied().collect();
        assert_eq!(m.pkt_len(), want.len());
        assert!(m.nb_segs() >= 3, "{} segments", m.nb_segs());
        let mut got = vec![0u8; want.len()];
        m.read(0, &mut got).unwrap();
        assert_eq!(got, want);
        assert_eq!(m.info().timestamp, 42);
        let mut spill = Vec::new();
        let (parts, k) = segments(&m, &mut spill);
        assert_eq!(parts[..k].concat(), want);
        drop(m);
        // One buffer's worth (the fast path) and one byte more (a chain of two).
        for (len, segs) in [(128, 1), (129, 2)] {
            let data: Vec<u8> = (0..len as u32).map(|x| (x * 13) as u8).collect();
            let m = mbuf_from_bytes(&mut stash, &pool, &data, Some(7)).unwrap();
            assert_eq!((m.pkt_len(), m.nb_segs()), (len, segs));
            let (parts, k) = segments(&m, &mut spill);
            assert_eq!(parts[..k].concat(), data);
            assert_eq!(m.info().timestamp, 7);
            assert!(m.info().ol_flags.contains(OffloadFlags::RX_TIMESTAMP));
            let m = mbuf_from_bytes(&mut stash, &pool, &data, None).unwrap();
            assert!(!m.info().ol_flags.contains(OffloadFlags::RX_TIMESTAMP));
        }
        // Running out of mbufs midway frees what was taken.
        let big = vec![1u8; 128 * 70];
        assert!(mbuf_from_bytes(&mut stash, &pool, &big, None).is_none());
        drop(stash);
        assert_eq!(pool.in_use(), 0);
    }
}
