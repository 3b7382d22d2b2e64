//! Unit tests of the public API (sized to run under Miri too).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::*;

/// Unique lcore ids for tests running in parallel (the lcore module's own tests use 100+).
fn next_lcore() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(id < 100, "test lcore ids exhausted");
    id
}

fn pool(count: usize, cache: usize) -> Mempool {
    Mempool::new(&MempoolConfig {
        cache_size: cache,
        hugepages: HugePolicy::Never,
        ..MempoolConfig::new("test", count)
    })
    .unwrap()
}

#[test]
fn alloc_gives_empty_mbuf_with_headroom() {
    let p = pool(4, 0);
    let m = p.alloc().unwrap();
    assert_eq!(m.len(), 0);
    assert!(m.is_empty());
    assert_eq!(m.pkt_len(), 0);
    assert_eq!(m.nb_segs(), 1);
    assert_eq!(m.headroom(), DEFAULT_HEADROOM);
    assert_eq!(m.tailroom(), DEFAULT_DATA_ROOM);
    assert_eq!(m.buf_len(), DEFAULT_HEADROOM + DEFAULT_DATA_ROOM);
    assert_eq!(*m.info(), PacketInfo::default());
    assert!(m.is_unique());
    assert_eq!((p.in_use(), p.available()), (1, 3));
    drop(m);
    assert_eq!((p.in_use(), p.available()), (0, 4));
    assert_eq!(
        std::mem::size_of::<Option<Mbuf>>(),
        std::mem::size_of::<usize>()
    );
}

#[test]
fn exhaustion_returns_none_and_counts() {
    let p = pool(8, 0);
    let held: Vec<Mbuf> = (0..8).map(|_| p.alloc().unwrap()).collect();
    assert!(p.alloc().is_none());
    assert!(p.alloc().is_none());
    assert_eq!(p.alloc_failures(), 2);
    let mut b = MbufBurst::new();
    assert_eq!(p.alloc_bulk(&mut b, 1), 0);
    assert_eq!(p.alloc_failures(), 3);
    assert_eq!(p.in_use(), 8);
    drop(held);
    assert_eq!(p.alloc_bulk(&mut b, 8), 8);
    drop(b);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn exhaustion_with_lcore_cache_uses_cache_and_ring() {
    let p = pool(16, 4);
    let _g = lcore::register(next_lcore()).unwrap();
    // Fill the cache: free a few after allocating.
    let mut held: Vec<Mbuf> = (0..6).map(|_| p.alloc().unwrap()).collect();
    held.truncate(1);
    // 5 objects now sit in this lcore's cache, 10 in the ring: all 15 must be allocatable.
    let mut b = MbufBurst::new();
    assert_eq!(p.alloc_bulk(&mut b, 15), 15);
    assert!(p.alloc().is_none());
    assert_eq!(p.alloc_failures(), 1);
    let mut chunks: Vec<u32> = b.iter().chain(held.iter()).map(Mbuf::chunk_index).collect();
    chunks.sort_unstable();
    chunks.dedup();
    assert_eq!(chunks.len(), 16, "no chunk handed out twice");
    drop(b);
    drop(held);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn alloc_bulk_is_all_or_nothing() {
    let p = pool(10, 0);
    let mut a = MbufBurst::new();
    assert_eq!(p.alloc_bulk(&mut a, 8), 8);
    let mut b = MbufBurst::new();
    assert_eq!(p.alloc_bulk(&mut b, 4), 0);
    assert!(b.is_empty());
    assert_eq!(p.in_use(), 8);
    assert_eq!(p.alloc_failures(), 1);
    assert_eq!(p.alloc_bulk(&mut b, 2), 2);
    assert_eq!(p.alloc_bulk(&mut b, 0), 0);
    // More than the burst has room for: refused without touching the pool.
    let mut full = MbufBurst::new();
    drop(a);
    let p2 = pool(100, 0);
    assert_eq!(p2.alloc_bulk(&mut full, 60), 60);
    assert_eq!(p2.alloc_bulk(&mut full, 5), 0);
    assert_eq!(p2.in_use(), 60);
    drop(full);
    drop(b);
    assert_eq!((p.in_use(), p2.in_use()), (0, 0));
}

#[test]
fn prepend_append_adj_trim() {
    let p = pool(2, 0);
    let mut m = p.alloc().unwrap();
    m.append(4).unwrap().copy_from_slice(b"abcd");
    assert_eq!(m.data(), b"abcd");
    m.prepend(2).unwrap().copy_from_slice(b"xy");
    assert_eq!(m.data(), b"xyabcd");
    assert_eq!((m.len(), m.pkt_len(), m.headroom()), (6, 6, 126));
    assert_eq!(m.tailroom(), 2048 - 4);
    m.adj(1).unwrap();
    assert_eq!(m.data(), b"yabcd");
    m.trim(2).unwrap();
    assert_eq!(m.data(), b"yab");
    assert_eq!(m.pkt_len(), 3);
    m.data_mut().unwrap()[0] = b'Y';
    assert_eq!(m.slice(0, 2), Some(&b"Ya"[..]));
    assert_eq!(m.slice(2, 2), None);
    assert_eq!(
        m.prepend(200).unwrap_err(),
        MbufError::NoHeadroom {
            requested: 200,
            available: 127
        }
    );
    assert_eq!(
        m.append(3000).unwrap_err(),
        MbufError::NoTailroom {
            requested: 3000,
            available: 2046
        }
    );
    assert!(matches!(m.adj(4), Err(MbufError::OutOfRange { .. })));
    assert!(matches!(m.trim(4), Err(MbufError::OutOfRange { .. })));
    assert_eq!(m.data(), b"Yab", "failed calls change nothing");
    let all = m.append(m.tailroom()).unwrap().len();
    assert_eq!(all, 2046);
    assert_eq!(m.tailroom(), 0);
    let head = m.headroom();
    m.prepend(head).unwrap();
    assert_eq!(m.len(), m.buf_len());
    drop(m);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn metadata_is_reset_on_free() {
    let p = pool(1, 0);
    let mut m = p.alloc().unwrap();
    let chunk = m.chunk_index();
    m.append(100).unwrap();
    m.adj(10).unwrap();
    {
        let info = m.info_mut().unwrap();
        info.port = 3;
        info.queue = 1;
        info.rss_hash = 0xdead_beef;
        info.ol_flags = OffloadFlags::RX_RSS_HASH | OffloadFlags::RX_IP_CKSUM_GOOD;
        info.packet_type = ptype::L2_ETHER | ptype::L3_IPV4 | ptype::L4_UDP;
        info.vlan_tci = 7;
        info.l2_len = 14;
        info.user_data = 99;
        info.timestamp = 5;
    }
    assert!(m.info().ol_flags.contains(OffloadFlags::RX_RSS_HASH));
    assert_eq!(m.info().packet_type & ptype::L4_MASK, ptype::L4_UDP);
    drop(m);
    let m = p.alloc().unwrap();
    assert_eq!(m.chunk_index(), chunk);
    assert_eq!(*m.info(), PacketInfo::default());
    assert_eq!(
        (m.headroom(), m.len(), m.pkt_len(), m.nb_segs()),
        (128, 0, 0, 1)
    );
}

#[test]
fn reset_empties_and_frees_segments() {
    let p = pool(3, 0);
    let mut m = filled(&p, b"abc");
    m.chain(filled(&p, b"def")).unwrap();
    m.adj(1).unwrap();
    m.info_mut().unwrap().port = 9;
    let c = m.clone();
    assert!(matches!(m.reset(), Err(MbufError::Shared { .. })));
    drop(c);
    m.reset().unwrap();
    assert_eq!(
        (m.len(), m.pkt_len(), m.nb_segs(), m.headroom()),
        (0, 0, 1, 128)
    );
    assert_eq!(*m.info(), PacketInfo::default());
    assert_eq!(p.in_use(), 1, "the second segment went back to the pool");
    drop(m);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn clone_shares_read_only() {
    let p = pool(2, 0);
    let mut a = p.alloc().unwrap();
    a.append(3).unwrap().copy_from_slice(b"abc");
    let mut b = a.clone();
    assert_eq!((a.refcnt(), b.refcnt()), (2, 2));
    assert_eq!(b.data(), b"abc");
    assert_eq!(p.in_use(), 1, "a clone is not a new buffer");
    assert!(a.data_mut().is_none());
    assert!(b.info_mut().is_none());
    assert_eq!(b.prepend(1).unwrap_err(), MbufError::Shared { refcnt: 2 });
    assert!(matches!(a.append(1), Err(MbufError::Shared { .. })));
    assert!(matches!(a.adj(1), Err(MbufError::Shared { .. })));
    assert!(matches!(a.trim(1), Err(MbufError::Shared { .. })));
    assert!(matches!(a.write(0, b"x"), Err(MbufError::Shared { .. })));
    let b = b.into_chunk().unwrap_err();
    let c = std::thread::spawn(move || {
        assert_eq!(b.data(), b"abc");
        b
    })
    .join()
    .unwrap();
    drop(c);
    assert!(a.is_unique());
    a.data_mut().unwrap()[0] = b'A';
    assert_eq!(a.data(), b"Abc");
    assert_eq!(p.in_use(), 1);
    drop(a);
    assert_eq!(p.in_use(), 0);
}

fn filled(p: &Mempool, bytes: &[u8]) -> Mbuf {
    let mut m = p.alloc().unwrap();
    m.append(bytes.len()).unwrap().copy_from_slice(bytes);
    m
}

#[test]
fn chains_read_write_and_free_all_segments() {
    let p = pool(4, 0);
    let mut head = filled(&p, b"hello ");
    head.chain(filled(&p, b"big ")).unwrap();
    head.chain(filled(&p, b"world")).unwrap();
    assert_eq!((head.nb_segs(), head.pkt_len(), head.len()), (3, 15, 6));
    let lens: Vec<usize> = head.segments().map(Mbuf::len).collect();
    assert_eq!(lens, [6, 4, 5]);
    let mut out = [0u8; 32];
    assert_eq!(head.linearize_into(&mut out).unwrap(), 15);
    assert_eq!(&out[..15], b"hello big world");
    assert!(matches!(
        head.linearize_into(&mut [0u8; 10]),
        Err(MbufError::OutOfRange { .. })
    ));
    let mut mid = [0u8; 7];
    head.read(4, &mut mid).unwrap();
    assert_eq!(&mid, b"o big w");
    assert!(matches!(
        head.read(10, &mut [0u8; 6]),
        Err(MbufError::OutOfRange { .. })
    ));
    head.write(5, b"_BIG_").unwrap();
    head.read(0, &mut out[..15]).unwrap();
    assert_eq!(&out[..15], b"hello_BIG_world");
    head.append(1).unwrap()[0] = b'!';
    assert_eq!(head.pkt_len(), 16);
    assert_eq!(head.segments().last().unwrap().data(), b"world!");
    head.trim(6).unwrap();
    assert_eq!(head.pkt_len(), 10);
    assert_eq!(p.in_use(), 3);
    drop(head);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn chain_with_shared_tail_and_refusals() {
    let p = pool(6, 0);
    let payload = filled(&p, b"payload");
    let mut h1 = filled(&p, b"h1:");
    let mut h2 = filled(&p, b"h2:");
    h1.chain(payload.clone()).unwrap();
    h2.chain(payload.clone()).unwrap();
    assert_eq!(payload.refcnt(), 3);
    let mut out = [0u8; 10];
    h2.linearize_into(&mut out).unwrap();
    assert_eq!(&out, b"h2:payload");
    // A write to the unshared second segment of a shared head is refused too.
    let mut h3 = filled(&p, b"h3:");
    h3.chain(filled(&p, b"tail")).unwrap();
    let h3_clone = h3.clone();
    assert!(matches!(
        h3.write(4, b"T"),
        Err(MbufError::Shared { refcnt: 2 })
    ));
    drop(h3_clone);
    h3.write(4, b"T").unwrap();
    let mut out7 = [0u8; 7];
    h3.read(0, &mut out7).unwrap();
    assert_eq!(&out7, b"h3:tTil");
    drop(h3);
    // The shared last segment cannot grow or shrink, and nothing can be chained after it.
    assert!(matches!(h1.append(1), Err(MbufError::Shared { refcnt: 3 })));
    assert!(matches!(h1.trim(1), Err(MbufError::Shared { .. })));
    assert!(matches!(h1.write(5, b"X"), Err(MbufError::Shared { .. })));
    h1.write(0, b"H").unwrap(); // the unshared header is writable
    let extra = filled(&p, b"!");
    let err = h1.chain(extra).unwrap_err();
    assert!(matches!(err.error, MbufError::Shared { .. }));
    assert!(err.to_string().contains("shared"));
    // A chain cannot be closed into a cycle: the head's segments would have to be shared.
    let tail_again = payload.clone();
    let err2 = h2.chain(tail_again).unwrap_err();
    drop(err2);
    drop(err);
    assert_eq!(
        p.in_use(),
        3,
        "the refused tails were freed with their errors"
    );
    drop(h1);
    assert_eq!(
        p.in_use(),
        2,
        "payload still referenced by h2 and the handle"
    );
    assert_eq!(payload.refcnt(), 2);
    drop(payload);
    assert_eq!(p.in_use(), 2);
    drop(h2);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn chain_refused_when_head_shared_and_too_long_checked() {
    let p = pool(3, 0);
    let mut a = filled(&p, b"a");
    let a2 = a.clone();
    let err = a.chain(filled(&p, b"b")).unwrap_err();
    assert_eq!(err.error, MbufError::Shared { refcnt: 2 });
    drop(err.tail);
    drop(a2);
    a.chain(filled(&p, b"b")).unwrap();
    assert_eq!(a.nb_segs(), 2);
    // into_chunk refuses chains.
    let a = a.into_chunk().unwrap_err();
    drop(a);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn burst_push_pop_drain_retain() {
    let p = pool(70, 0);
    let mut b = MbufBurst::new();
    assert_eq!(p.alloc_bulk(&mut b, 64), 64);
    assert!(b.is_full());
    assert_eq!(b.free(), 0);
    let extra = p.alloc().unwrap();
    let extra = b.push(extra).unwrap_err();
    drop(extra);
    for (i, m) in b.iter_mut().enumerate() {
        m.append(1).unwrap()[0] = i as u8;
    }
    let last = b.pop().unwrap();
    assert_eq!(last.data(), [63]);
    drop(last);
    assert_eq!(b.len(), 63);
    // Drain the middle: take two, let the drop free the rest of the range.
    let mut d = b.drain(10..20);
    assert_eq!(d.len(), 10);
    let x = d.next().unwrap();
    let y = d.next().unwrap();
    drop(d);
    assert_eq!((x.data()[0], y.data()[0]), (10, 11));
    assert_eq!(b.len(), 53);
    assert_eq!(b.get(10).unwrap().data(), [20]);
    assert_eq!(p.in_use(), 55);
    drop((x, y));
    // Keep the even ones.
    b.retain_mut(|m| m.data()[0] % 2 == 0);
    assert!(b.iter().all(|m| m.data()[0] % 2 == 0));
    assert_eq!(b.len(), 27);
    assert_eq!(p.in_use(), 27);
    let firsts: Vec<u8> = b.drain(..3).map(|m| m.data()[0]).collect();
    assert_eq!(firsts, [0, 2, 4]);
    assert_eq!(b.drain(100..).len(), 0);
    b.clear();
    assert!(b.is_empty());
    assert_eq!(p.in_use(), 0);
}

#[test]
fn retain_mut_panic_loses_nothing() {
    let p = pool(8, 0);
    let mut b = MbufBurst::new();
    assert_eq!(p.alloc_bulk(&mut b, 8), 8);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut seen = 0;
        b.retain_mut(|_| {
            seen += 1;
            if seen == 5 {
                panic!("boom");
            }
            seen % 2 == 0
        });
    }));
    assert!(r.is_err());
    // 4 visited (2 kept), the panicking one and 3 unvisited are kept.
    assert_eq!(b.len(), 6);
    assert_eq!(p.in_use(), 6);
    drop(b);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn free_bulk_groups_by_pool() {
    let p1 = pool(8, 0);
    let p2 = pool(8, 2);
    let ms: Vec<Mbuf> = (0..12)
        .map(|i| if i % 3 == 0 { p1.alloc() } else { p2.alloc() }.unwrap())
        .collect();
    assert_eq!((p1.in_use(), p2.in_use()), (4, 8));
    free_bulk(ms);
    assert_eq!((p1.in_use(), p2.in_use()), (0, 0));
    assert_eq!((p1.available(), p2.available()), (8, 8));
}

#[test]
fn mbuf_ring_moves_and_frees() {
    let p = pool(40, 0);
    let r = MbufRing::new(16).unwrap();
    let mut b = MbufBurst::new();
    assert_eq!(p.alloc_bulk(&mut b, 20), 20);
    for (i, m) in b.iter_mut().enumerate() {
        m.append(1).unwrap()[0] = i as u8;
    }
    assert_eq!(r.enqueue_burst(&mut b), 16);
    assert_eq!(b.len(), 4);
    assert_eq!(b.get(0).unwrap().data(), [16], "the rest stays in order");
    assert_eq!(r.enqueue_bulk(&mut b), 0);
    assert_eq!(b.len(), 4);
    assert_eq!(
        (r.len(), r.free_count(), r.capacity(), r.is_empty()),
        (16, 0, 16, false)
    );
    let m = r.dequeue().unwrap();
    assert_eq!(m.data(), [0]);
    assert!(r.enqueue(m).is_ok());
    let back = r.enqueue(p.alloc().unwrap()).unwrap_err();
    assert!(back.is_empty(), "a full ring gives the mbuf back");
    drop(back);
    assert_eq!(r.dequeue().unwrap().data(), [1]);
    let mut out = MbufBurst::new();
    assert_eq!(r.dequeue_bulk(&mut out, 20), 0);
    assert_eq!(r.dequeue_burst(&mut out), 15);
    assert_eq!(out.get(0).unwrap().data(), [2]);
    assert_eq!(out.get(14).unwrap().data(), [0]);
    assert!(r.enqueue(p.alloc().unwrap()).is_ok());
    drop(out);
    assert_eq!(p.in_use(), 4 + 1);
    drop(r); // frees the one still queued
    drop(b);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn mbuf_channel_frees_leftovers() {
    let p = pool(16, 0);
    let (mut tx, mut rx) = MbufRing::channel(8, SyncMode::Single, SyncMode::Single).unwrap();
    assert!(tx.try_clone().is_none());
    assert!(rx.try_clone().is_none());
    let mut b = MbufBurst::new();
    assert_eq!(p.alloc_bulk(&mut b, 10), 10);
    assert_eq!(tx.enqueue_burst(&mut b), 8);
    assert_eq!(
        (tx.len(), tx.free_count(), tx.capacity(), tx.is_empty()),
        (8, 0, 8, false)
    );
    let mut got = MbufBurst::new();
    assert_eq!(rx.dequeue_bulk(&mut got, 3), 3);
    assert!(rx.dequeue().is_some());
    assert_eq!(rx.len(), 4);
    assert_eq!(rx.dequeue_burst(&mut got), 4);
    assert_eq!(tx.enqueue_bulk(&mut b), 2);
    drop(rx); // frees the 2 queued
    assert_eq!(p.in_use(), 7);
    // Enqueued after the consumer is gone: freed when the producer goes too.
    assert!(tx.enqueue(p.alloc().unwrap()).is_ok());
    assert_eq!(p.in_use(), 8);
    drop(tx);
    drop(got);
    assert_eq!(p.in_use(), 0);
    let (tx, rx) = MbufRing::channel(8, SyncMode::Multi, SyncMode::Multi).unwrap();
    assert!(tx.try_clone().is_some() && rx.try_clone().is_some());
    assert!(format!("{tx:?} {rx:?}").contains("capacity: 8"));
}

#[test]
fn raw_chunks_for_umem() {
    let p = Mempool::new(&MempoolConfig {
        chunk_size: Some(4096),
        cache_size: 4,
        hugepages: HugePolicy::Never,
        ..MempoolConfig::new("umem", 16)
    })
    .unwrap();
    let mut chunks = [0u32; 10];
    assert_eq!(p.alloc_chunks(&mut chunks), 10);
    assert_eq!(p.in_use(), 10);
    let mut more = [0u32; 10];
    assert_eq!(p.alloc_chunks(&mut more), 6, "short count when exhausted");
    assert_eq!(p.alloc_failures(), 1);
    assert_eq!(p.alloc_chunks(&mut []), 0);
    let mut all: Vec<u32> = chunks.iter().chain(&more[..6]).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 16);
    // SAFETY: these came from alloc_chunks and are given back once.
    unsafe { p.free_chunks(&more[..6]) }.unwrap();
    assert_eq!(p.in_use(), 10);
    // SAFETY: an out-of-range index is refused before anything is freed.
    let e = unsafe { p.free_chunks(&[chunks[0], 99]) }.unwrap_err();
    assert!(
        matches!(
            e,
            MempoolError::BadChunkIndex {
                index: 99,
                count: 16,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(p.in_use(), 10);
    // A burst's prefetch: the last index is in range, one past it is ignored (under Miri, a
    // pointer past the metadata array would be an error).
    p.prefetch_chunk(chunks[0], 256);
    p.prefetch_chunk(15, 0);
    p.prefetch_chunk(16, 0);
    p.prefetch_chunk(u32::MAX, usize::MAX);
    // A driver receives into chunk[0] at offset 256, 60 bytes.
    // SAFETY: chunk[0] came from alloc_chunks and is owned by this test.
    let m = unsafe { p.mbuf_from_chunk(chunks[0], 256, 60) }.unwrap();
    assert_eq!(
        (m.headroom(), m.len(), m.pkt_len(), m.chunk_index()),
        (256, 60, 60, chunks[0])
    );
    assert_eq!(
        m.data_offset_in_region(),
        p.region().offset_of(chunks[0]).unwrap() + 256
    );
    assert_eq!(
        p.region().index_of(m.data_offset_in_region()),
        Some(chunks[0])
    );
    assert_eq!(p.in_use(), 10);
    // SAFETY: the range check fails before any ownership is assumed.
    let bad_range = unsafe { p.mbuf_from_chunk(chunks[1], 2000, 200) };
    assert!(matches!(bad_range, Err(MempoolError::BadDataRange { .. })));
    // SAFETY: as above.
    let bad_index = unsafe { p.mbuf_from_chunk(16, 0, 0) };
    assert!(matches!(bad_index, Err(MempoolError::BadChunkIndex { .. })));
    // Back to a raw chunk and into the pool.
    let idx = m.into_chunk().unwrap();
    assert_eq!(idx, chunks[0]);
    assert_eq!(p.in_use(), 10);
    // SAFETY: all ten came from alloc_chunks/into_chunk and are given back once.
    unsafe { p.free_chunks(&chunks) }.unwrap();
    assert_eq!(p.in_use(), 0);
    // A chunk back from into_chunk has reset metadata.
    let m = p.alloc().unwrap();
    assert_eq!((m.headroom(), m.len()), (128, 0));
}

#[test]
fn lcore_guard_drop_returns_cached_objects() {
    let p = pool(64, 16);
    let p2 = p.clone();
    std::thread::spawn(move || {
        let g = lcore::register(next_lcore()).unwrap();
        let mut b = MbufBurst::new();
        assert_eq!(p2.alloc_bulk(&mut b, 40), 40);
        b.clear(); // into this lcore's cache (up to the flush threshold) and the ring
        assert_eq!(p2.in_use(), 0);
        drop(g);
    })
    .join()
    .unwrap();
    // This thread has no lcore: it sees only the ring, which must hold everything again.
    let mut b = MbufBurst::new();
    assert_eq!(p.alloc_bulk(&mut b, 64), 64);
    assert_eq!(p.alloc_failures(), 0);
    drop(b);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn dropping_pool_with_mbufs_out_keeps_them_valid() {
    let p = pool(4, 2);
    let mut m = filled(&p, b"still here");
    drop(p);
    assert_eq!(m.data(), b"still here");
    m.append(1).unwrap()[0] = b'!';
    drop(m); // returns to the leaked pool: no use after free
    let p = pool(4, 2);
    let m = p.alloc().unwrap();
    drop(p);
    drop(m);
}

#[test]
fn offload_flags_ops() {
    let mut f = OffloadFlags::RX_VLAN | OffloadFlags::TX_IP_CKSUM;
    assert!(f.contains(OffloadFlags::RX_VLAN));
    assert!(f.intersects(OffloadFlags::TX_MASK));
    assert!(!f.contains(OffloadFlags::RX_VLAN | OffloadFlags::RX_FDIR));
    f.remove(OffloadFlags::RX_VLAN);
    assert_eq!(f & OffloadFlags::RX_MASK, OffloadFlags::NONE);
    f.insert(OffloadFlags::RX_L4_CKSUM_BAD);
    f |= OffloadFlags::RX_TIMESTAMP;
    assert_eq!(f.bits() & 0xffff_ffff, (1 << 6) | (1 << 9));
    assert!(!f.is_empty());
    assert!(OffloadFlags::default().is_empty());
}

/// Several lcores allocate, pass mbufs to the next lcore through rings, which checks and frees
/// them; a per-chunk flag catches any chunk handed out twice.
#[test]
fn threads_pass_mbufs_through_rings() {
    #[cfg(miri)]
    const ROUNDS: usize = 20;
    #[cfg(not(miri))]
    const ROUNDS: usize = 5000;
    relay(4, ROUNDS);
}

/// The same relay, long: `cargo test -p ferroplane-mempool --release -- --ignored`.
#[test]
#[ignore = "soak test, about 20 s in release"]
fn soak_threads_pass_mbufs_through_rings() {
    relay(6, 20_000_000);
}

fn relay(threads: usize, rounds: usize) {
    let p = pool(256, 16);
    let owned: Arc<Vec<std::sync::atomic::AtomicBool>> = Arc::new(
        (0..256)
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect(),
    );
    let rings: Arc<Vec<MbufRing>> =
        Arc::new((0..threads).map(|_| MbufRing::new(64).unwrap()).collect());
    let ids: Vec<u32> = (0..threads).map(|_| next_lcore()).collect();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (p, owned, rings, id) = (p.clone(), owned.clone(), rings.clone(), ids[t]);
            std::thread::spawn(move || {
                let _g = lcore::register(id).unwrap();
                let mut sent = 0;
                let mut received = 0;
                let mut b = MbufBurst::new();
                while sent < rounds {
                    let n = 1 + sent % 8;
                    if p.alloc_bulk(&mut b, n) == n {
                        for m in b.iter_mut() {
                            let c = m.chunk_index();
                            assert!(
                                !owned[c as usize].swap(true, Ordering::AcqRel),
                                "chunk {c} handed out twice"
                            );
                            let tag = [t as u8, c as u8, (c >> 8) as u8];
                            m.append(3).unwrap().copy_from_slice(&tag);
                        }
                        sent += b.len();
                        rings[(t + 1) % threads].enqueue_burst(&mut b);
                        for m in b.iter() {
                            owned[m.chunk_index() as usize].store(false, Ordering::Release);
                        }
                        b.clear(); // whatever did not fit
                    }
                    let mut rx = MbufBurst::new();
                    rings[t].dequeue_burst(&mut rx);
                    for m in rx.iter() {
                        let c = m.chunk_index();
                        assert_eq!(
                            m.data(),
                            [((t + threads - 1) % threads) as u8, c as u8, (c >> 8) as u8]
                        );
                        assert!(
                            owned[c as usize].swap(false, Ordering::AcqRel),
                            "chunk {c} not marked owned"
                        );
                    }
                    received += rx.len();
                    drop(rx);
                }
                received
            })
        })
        .collect();
    // Unmark what is still in rings or was cleared locally before checking the total.
    for h in handles {
        h.join().unwrap();
    }
    for r in rings.iter() {
        while let Some(m) = r.dequeue() {
            assert!(owned[m.chunk_index() as usize].swap(false, Ordering::AcqRel));
        }
    }
    drop(rings);
    assert_eq!(p.in_use(), 0);
    assert_eq!(p.available(), 256);
}

/// Chains with a shared (cloned) payload cross threads through an SP/SC channel; the receiver
/// checks the bytes and drops them while the sender still holds and drops payload clones.
#[test]
fn threads_pass_chains_and_clones() {
    #[cfg(miri)]
    const ROUNDS: usize = 10;
    #[cfg(not(miri))]
    const ROUNDS: usize = 3000;
    let p = pool(64, 8);
    let (mut tx, mut rx) = MbufRing::channel(16, SyncMode::Single, SyncMode::Single).unwrap();
    let (id_tx, id_rx) = (next_lcore(), next_lcore());
    let p2 = p.clone();
    let sender = std::thread::spawn(move || {
        let _g = lcore::register(id_tx).unwrap();
        let mut sent = 0;
        while sent < ROUNDS {
            let Some(mut payload) = p2.alloc() else {
                continue;
            };
            payload
                .append(4)
                .unwrap()
                .copy_from_slice(&(sent as u32).to_le_bytes());
            let Some(mut head) = p2.alloc() else { continue };
            head.append(2).unwrap().copy_from_slice(b"hd");
            head.chain(payload.clone()).unwrap();
            let mut m = head;
            loop {
                match tx.enqueue(m) {
                    Ok(()) => break,
                    Err(back) => m = back,
                }
            }
            // The payload clone is dropped here or after the receiver is done: either way once.
            drop(payload);
            sent += 1;
        }
    });
    let receiver = std::thread::spawn(move || {
        let _g = lcore::register(id_rx).unwrap();
        let mut got = 0;
        while got < ROUNDS {
            if let Some(m) = rx.dequeue() {
                assert_eq!(m.nb_segs(), 2);
                let mut buf = [0u8; 6];
                assert_eq!(m.linearize_into(&mut buf).unwrap(), 6);
                assert_eq!(&buf[..2], b"hd");
                assert_eq!(u32::from_le_bytes(buf[2..].try_into().unwrap()), got as u32);
                got += 1;
            }
        }
    });
    sender.join().unwrap();
    receiver.join().unwrap();
    assert_eq!(p.in_use(), 0);
}

#[test]
fn set_len_and_alloc_bulk_len() {
    let p = pool(16, 0);
    let mut m = p.alloc().unwrap();
    m.set_len(60).unwrap();
    assert_eq!(
        (m.len(), m.pkt_len(), m.tailroom()),
        (60, 60, DEFAULT_DATA_ROOM - 60)
    );
    m.set_len(10).unwrap();
    assert_eq!((m.len(), m.pkt_len()), (10, 10));
    assert!(matches!(
        m.set_len(DEFAULT_DATA_ROOM + 1),
        Err(MbufError::NoTailroom { requested, available })
            if requested == DEFAULT_DATA_ROOM + 1 && available == DEFAULT_DATA_ROOM
    ));
    assert_eq!(m.len(), 10, "a refused set_len changes nothing");
    m.set_len(DEFAULT_DATA_ROOM).unwrap();
    // Shared or chained: refused.
    let c = m.clone();
    assert!(matches!(m.set_len(5), Err(MbufError::Shared { refcnt: 2 })));
    drop(c);
    m.set_len(4).unwrap();
    m.chain(filled(&p, b"tail")).unwrap();
    assert!(matches!(m.set_len(5), Err(MbufError::NoTailroom { .. })));
    assert_eq!(m.pkt_len(), 8);
    drop(m);

    let mut b = MbufBurst::new();
    assert_eq!(p.alloc_bulk(&mut b, 3), 3);
    assert_eq!(p.alloc_bulk_len(&mut b, 5, 64), 5);
    assert_eq!(b.len(), 8);
    for (i, m) in b.iter().enumerate() {
        let want = if i < 3 { 0 } else { 64 };
        assert_eq!((m.len(), m.pkt_len(), m.nb_segs()), (want, want, 1));
        assert_eq!(m.headroom(), DEFAULT_HEADROOM);
    }
    // Too long for the data room: nothing taken, not a pool failure.
    assert_eq!(p.alloc_bulk_len(&mut b, 2, DEFAULT_DATA_ROOM + 1), 0);
    assert_eq!(p.alloc_bulk_len(&mut b, 2, DEFAULT_DATA_ROOM), 2);
    assert_eq!(p.alloc_failures(), 0);
    // More than the pool has: all or nothing, counted.
    assert_eq!(p.alloc_bulk_len(&mut b, 7, 64), 0);
    assert_eq!(p.alloc_failures(), 1);
    assert_eq!(p.in_use(), 10);
    drop(b);
    assert_eq!(p.in_use(), 0);
    // Lengths do not survive a free.
    let m = p.alloc().unwrap();
    assert_eq!(m.len(), 0);
}

/// Ethernet + IPv4 + UDP to `dport` with `payload`, checksums left zero.
fn udp_frame(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 42];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((28 + payload.len()) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[38..40].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn parse_packet_type_fills_metadata() {
    let p = pool(8, 0);
    let mut m = filled(&p, &udp_frame(53, &[0xab; 20]));
    let info = m.parse_packet_type().unwrap().unwrap();
    assert_eq!(info.ptype, ptype::L2_ETHER | ptype::L3_IPV4 | ptype::L4_UDP);
    let i = m.info();
    assert_eq!(
        i.packet_type,
        ptype::L2_ETHER | ptype::L3_IPV4 | ptype::L4_UDP
    );
    assert_eq!((i.l2_len, i.l3_len, i.l4_len), (14, 20, 8));
    assert_eq!((i.outer_l2_len, i.outer_l3_len, i.vlan_tci), (0, 0, 0));

    // VLAN-tagged VXLAN: outer lengths, inner TCP, the tag's TCI.
    let mut inner = vec![0u8; 14 + 20 + 20];
    inner[12..14].copy_from_slice(&[0x08, 0x00]);
    inner[14] = 0x45;
    inner[16..18].copy_from_slice(&40u16.to_be_bytes());
    inner[22] = 64;
    inner[23] = 6;
    inner[14 + 20 + 12] = 5 << 4; // TCP data offset
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 0x2a, 0];
    vx.extend_from_slice(&inner);
    let mut f = udp_frame(4789, &vx);
    f.splice(12..12, [0x81, 0x00, 0x20, 0x07]);
    let mut m2 = filled(&p, &f);
    m2.parse_packet_type().unwrap().unwrap();
    let i = m2.info();
    assert_eq!(i.packet_type & ptype::TUNNEL_MASK, ptype::TUNNEL_VXLAN);
    assert_eq!(i.packet_type & ptype::INNER_L4_MASK, ptype::INNER_L4_TCP);
    assert_eq!((i.outer_l2_len, i.outer_l3_len), (18, 20));
    assert_eq!((i.l2_len, i.l3_len, i.l4_len), (8 + 8 + 14, 20, 20));
    assert_eq!(i.vlan_tci, 0x2007);

    // Garbage: an error, and the type is reset to UNKNOWN.
    m.info_mut().unwrap().packet_type = ptype::L4_TCP;
    m.trim(m.len() - 20).unwrap();
    assert!(m.parse_packet_type().unwrap().is_err());
    assert_eq!(m.info().packet_type, ptype::UNKNOWN);
    assert_eq!(m.info().l3_len, 0);

    // A stripped tag's TCI (not in the data) survives parsing.
    let mut m3 = filled(&p, &udp_frame(7, b"x"));
    let i3 = m3.info_mut().unwrap();
    i3.vlan_tci = 99;
    i3.ol_flags.insert(OffloadFlags::RX_VLAN_STRIPPED);
    m3.parse_packet_type().unwrap().unwrap();
    assert_eq!(m3.info().vlan_tci, 99);

    // Shared: refused, metadata untouched.
    let c = m3.clone();
    assert!(matches!(
        m3.parse_packet_type(),
        Err(MbufError::Shared { .. })
    ));
    drop((c, m, m2, m3));
    assert_eq!(p.in_use(), 0);
}

#[test]
fn burst_bulk_free_handles_shared_chained_and_mixed_pools() {
    let _l = lcore::register(next_lcore()).unwrap();
    let (a, b) = (pool(64, 8), pool(64, 0));
    let mut burst = MbufBurst::new();
    assert_eq!(a.alloc_bulk(&mut burst, 10), 10);
    let kept = burst.get(3).unwrap().clone(); // shared: must survive the free
    let mut chained = b.alloc().unwrap();
    chained.append(3).unwrap().copy_from_slice(b"abc");
    chained.chain(filled(&a, b"def")).unwrap();
    burst.push(chained).unwrap();
    assert_eq!(b.alloc_bulk(&mut burst, 5), 5);
    assert_eq!(a.alloc_bulk(&mut burst, 5), 5);
    assert_eq!((a.in_use(), b.in_use()), (16, 6));
    for m in burst.iter_mut() {
        if m.is_unique() {
            m.info_mut().unwrap().user_data = 7;
        }
    }
    burst.truncate(2);
    assert_eq!(burst.len(), 2);
    assert_eq!((a.in_use(), b.in_use()), (3, 0));
    assert_eq!(kept.refcnt(), 1);
    burst.clear();
    assert_eq!((a.in_use(), b.in_use()), (1, 0));
    drop(kept);
    assert_eq!(a.in_use(), 0);
    // Everything freed was reset.
    assert_eq!(a.alloc_bulk(&mut burst, 40), 40);
    assert!(
        burst
            .iter()
            .all(|m| m.info().user_data == 0 && m.is_empty())
    );
}

#[test]
fn mbuf_ring_partial_enqueue_keeps_order_and_dequeue_appends() {
    let p = pool(128, 0);
    let r = MbufRing::new(8).unwrap();
    let mut b = MbufBurst::new();
    for i in 0..12u8 {
        b.push(filled(&p, &[i])).unwrap();
    }
    assert_eq!(r.enqueue_burst(&mut b), 8);
    let left: Vec<u8> = b.iter().map(|m| m.data()[0]).collect();
    assert_eq!(left, [8, 9, 10, 11]);
    assert_eq!(r.enqueue_bulk(&mut b), 0, "bulk is all or nothing");
    assert_eq!(b.len(), 4);
    assert_eq!(r.dequeue_bulk(&mut b, 3), 3);
    assert_eq!(r.dequeue_burst(&mut b), 5);
    let all: Vec<u8> = b.iter().map(|m| m.data()[0]).collect();
    assert_eq!(all, [8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7]);
    // A full burst takes nothing from the ring.
    assert_eq!(r.enqueue_burst(&mut b), 8);
    while b.push(p.alloc().unwrap()).is_ok() {}
    assert_eq!(r.dequeue_burst(&mut b), 0);
    assert_eq!(r.len(), 8);
    drop(b);
    drop(r);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn burst_limit_bounds_fills_pushes_and_ring_dequeues() {
    let p = pool(256, 0);
    let mut b = MbufBurst::with_limit(32);
    assert_eq!((b.limit(), b.free()), (32, 32));
    assert_eq!(
        p.alloc_bulk(&mut b, 33),
        0,
        "beyond the limit is all-or-nothing 0"
    );
    assert_eq!(p.alloc_bulk(&mut b, 30), 30);
    assert_eq!(b.free(), 2);
    b.push(p.alloc().unwrap()).unwrap();
    b.push(p.alloc().unwrap()).unwrap();
    assert!(b.is_full());
    let extra = p.alloc().unwrap();
    assert!(b.push(extra).is_err(), "push refuses past the limit");

    // A ring dequeue into a limited burst takes at most the room left.
    let ring = MbufRing::new(64).unwrap();
    let mut src = MbufBurst::new();
    assert_eq!(p.alloc_bulk(&mut src, 40), 40);
    assert_eq!(ring.enqueue_burst(&mut src), 40);
    b.clear();
    b.set_limit(16);
    assert_eq!(ring.dequeue_burst(&mut b), 16);
    assert_eq!(b.len(), 16);
    // Lowering the limit below what is held keeps the mbufs, with no room left.
    b.set_limit(4);
    assert_eq!((b.len(), b.free()), (16, 0));
    assert_eq!(MbufBurst::with_limit(0).limit(), 1);
    assert_eq!(MbufBurst::with_limit(1000).limit(), MAX_BURST);
    drop(b);
    drop(ring);
    assert_eq!(p.in_use(), 0);
}

#[test]
fn in_use_counts_ring_and_cache_contents_exactly() {
    // Cache of 8 (flush threshold 12): single allocations refill it from the ring, single frees
    // fill it and flush the excess; `in_use` must follow every step exactly.
    let p = pool(40, 8);
    let _g = lcore::register(next_lcore()).unwrap();
    let mut held = Vec::new();
    for k in 1..=40 {
        held.push(p.alloc().unwrap());
        assert_eq!((p.in_use(), p.available()), (k, 40 - k));
    }
    assert!(p.alloc().is_none());
    assert_eq!(p.alloc_failures(), 1);
    for k in (0..40).rev() {
        held.pop();
        assert_eq!((p.in_use(), p.available()), (k, 40 - k));
    }
    // Raw chunks through the same cache, in odd-sized groups.
    let mut chunks = [0u32; 7];
    for round in 1..=5 {
        assert_eq!(p.alloc_chunks(&mut chunks), 7);
        assert_eq!(p.in_use(), 7);
        // SAFETY: just taken by alloc_chunks, given back once.
        unsafe { p.free_chunks(&chunks[..3]) }.unwrap();
        assert_eq!(p.in_use(), 4, "round {round}");
        // SAFETY: as above.
        unsafe { p.free_chunks(&chunks[3..]) }.unwrap();
        assert_eq!(p.in_use(), 0, "round {round}");
    }
}

#[test]
fn no_cache_pool_with_lcore_goes_to_the_ring_and_counts_failures() {
    let p = pool(6, 0);
    let _g = lcore::register(next_lcore()).unwrap();
    let mut chunks = [0u32; 4];
    assert_eq!(p.alloc_chunks(&mut chunks), 4);
    assert_eq!(p.alloc_chunks(&mut chunks), 2, "short count when exhausted");
    assert_eq!(p.alloc_failures(), 1);
    assert!(p.alloc().is_none());
    assert_eq!(p.alloc_failures(), 2);
    assert_eq!(p.in_use(), 6);
    // SAFETY: the last two taken, given back once.
    unsafe { p.free_chunks(&chunks[..2]) }.unwrap();
    assert_eq!(p.in_use(), 4);
    let m = p.alloc().unwrap();
    assert_eq!(p.in_use(), 5);
    drop(m);
    assert_eq!(p.in_use(), 4);
}

#[test]
fn in_use_never_undercounts_while_frees_run() {
    // One lcore thread frees its mbufs one by one through its cache (with flushes to the ring);
    // this thread, which allocates nothing, samples `in_use` meanwhile. Every object being freed
    // must count as in use until its free is complete: at most one free is in flight, so a
    // sample never falls below `held - done - 1` (a flush counted both in the cache and in the
    // ring would).
    const HELD: usize = 600;
    let p = pool(640, 8);
    let done = Arc::new(AtomicU32::new(0));
    let (p2, done2) = (p.clone(), done.clone());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let freer = std::thread::spawn(move || {
        let _g = lcore::register(next_lcore()).unwrap();
        let mut held: Vec<Mbuf> = (0..HELD).map(|_| p2.alloc().unwrap()).collect();
        ready_tx.send(()).unwrap();
        while let Some(m) = held.pop() {
            drop(m);
            done2.fetch_add(1, Ordering::Release);
        }
    });
    ready_rx.recv().unwrap();
    let mut samples = 0;
    loop {
        let in_use = p.in_use();
        let finished = done.load(Ordering::Acquire) as usize;
        assert!(
            in_use + finished + 1 >= HELD,
            "in_use {in_use} with {finished} of {HELD} frees done"
        );
        samples += 1;
        if finished == HELD {
            break;
        }
    }
    freer.join().unwrap();
    assert!(samples > 0);
    assert_eq!(p.in_use(), 0);
}
