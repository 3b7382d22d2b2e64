//! Exact-match table: differential tests against `HashMap`, load factor, full table, bulk
//! lookups, iteration and lookups concurrent with a writer.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ferroplane_classify::hash::{ExactMatchTable, HashError};
use ferroplane_classify::key::{HashKey, Ipv4FiveTuple, Ipv6FiveTuple, MacKey};
use proptest::prelude::*;

/// Small deterministic PRNG (xorshift64*), so failures reproduce.
#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

fn tuple(i: u64) -> Ipv4FiveTuple {
    let r = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    Ipv4FiveTuple::new(
        Ipv4Addr::from((r >> 32) as u32),
        Ipv4Addr::from(i as u32),
        (r >> 8) as u16,
        (i >> 32) as u16,
        [6, 17][(r & 1) as usize],
    )
}

#[test]
fn random_ops_match_hashmap() {
    let table = ExactMatchTable::<Ipv4FiveTuple, u64>::new(4096).unwrap();
    let mut reference = HashMap::new();
    let mut rng = Rng(0x1234_5678);
    let mut full_seen = 0;
    // Key universe larger than the table so inserts hit Full sometimes.
    for step in 0..100_000u64 {
        let k = tuple(rng.next() % 6400);
        match rng.next() % 4 {
            0 | 1 => match table.insert(k, step) {
                Ok(prev) => assert_eq!(prev, reference.insert(k, step), "insert {k:?}"),
                Err(HashError::Full { len, .. }) => {
                    assert!(!reference.contains_key(&k));
                    assert_eq!(len, reference.len());
                    full_seen += 1;
                }
                Err(e) => panic!("unexpected {e}"),
            },
            2 => assert_eq!(table.remove(&k), reference.remove(&k), "remove {k:?}"),
            _ => assert_eq!(table.lookup(&k), reference.get(&k).copied(), "lookup {k:?}"),
        }
        assert_eq!(table.len(), reference.len());
    }
    assert!(
        full_seen > 0,
        "workload should have filled the table at least once"
    );
    let mut got = table.entries();
    got.sort();
    let mut want: Vec<_> = reference.into_iter().collect();
    want.sort();
    assert_eq!(got, want);
}

/// The writer handle against `HashMap`, mostly at 90-100 percent load so that nearly every
/// insert displaces keys; the table's `&self` API sees the same contents once it is dropped.
#[test]
fn writer_handle_matches_hashmap_near_full() {
    let table = ExactMatchTable::<Ipv4FiveTuple, u64>::new(2048).unwrap();
    let mut reference = HashMap::new();
    let mut rng = Rng(0xfeed);
    let mut w = table.writer();
    let mut full_seen = 0;
    for step in 0..25_000u64 {
        let k = tuple(rng.next() % 2800);
        if rng.next() % 5 == 0 {
            assert_eq!(w.remove(&k), reference.remove(&k), "remove {k:?}");
        } else {
            match w.insert(k, step) {
                Ok(prev) => assert_eq!(prev, reference.insert(k, step), "insert {k:?}"),
                Err(HashError::Full { len, .. }) => {
                    assert!(!reference.contains_key(&k));
                    assert_eq!(len, reference.len());
                    full_seen += 1;
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(w.lookup(&k), reference.get(&k).copied());
        assert_eq!(w.table().len(), reference.len());
    }
    assert!(
        reference.len() * 100 > 2048 * 90,
        "load {}",
        reference.len()
    );
    assert!(full_seen > 0);
    drop(w);
    let mut got = table.entries();
    got.sort();
    let mut want: Vec<_> = reference.into_iter().collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn fills_above_ninety_percent_and_reports_full() {
    let table = ExactMatchTable::<Ipv4FiveTuple, u32>::new(1 << 15).unwrap();
    let mut inserted = Vec::new();
    let mut i = 0u64;
    let err = loop {
        match table.insert(tuple(i), i as u32) {
            Ok(None) => inserted.push(i),
            Ok(Some(_)) => panic!("fresh key reported as present"),
            Err(e) => break e,
        }
        i += 1;
    };
    assert!(matches!(err, HashError::Full { .. }), "{err}");
    let load = table.len() as f64 / table.slots() as f64;
    assert!(load > 0.90, "load factor {load:.3} at first failure");
    // A failed insert leaves the table unchanged and every key findable.
    assert_eq!(table.len(), inserted.len());
    assert_eq!(table.lookup(&tuple(i)), None);
    for &k in &inserted {
        assert_eq!(table.lookup(&tuple(k)), Some(k as u32));
    }
    // Freeing one key makes room for one more.
    assert_eq!(table.remove(&tuple(inserted[7])), Some(inserted[7] as u32));
    let fresh = tuple(1 << 40);
    table
        .insert(fresh, 5)
        .or_else(|_| table.insert(tuple(inserted[7]), 1))
        .unwrap();
}

#[test]
fn key_store_exhaustion_is_an_error() {
    let table = ExactMatchTable::<MacKey, u16>::new(8).unwrap();
    for i in 0..8u8 {
        assert_eq!(
            table.insert(MacKey([i, 0, 0, 0, 0, 1]), u16::from(i)),
            Ok(None)
        );
    }
    assert_eq!(
        table.insert(MacKey([9, 0, 0, 0, 0, 1]), 9),
        Err(HashError::Full { len: 8, slots: 8 })
    );
    // Updating a present key still works when full.
    assert_eq!(table.insert(MacKey([3, 0, 0, 0, 0, 1]), 33), Ok(Some(3)));
    assert_eq!(table.lookup(&MacKey([3, 0, 0, 0, 0, 1])), Some(33));
    assert!(matches!(
        ExactMatchTable::<MacKey, u16>::new(0),
        Err(HashError::Entries(0))
    ));
    assert!(matches!(
        ExactMatchTable::<[u8; 65], u16>::new(8),
        Err(HashError::KeyLength(65))
    ));
}

#[test]
fn bulk_lookup_matches_single_lookups() {
    let table = ExactMatchTable::<Ipv4FiveTuple, u64>::new(1 << 12).unwrap();
    for i in 0..3000u64 {
        table.insert(tuple(i), i * 3).unwrap();
    }
    let mut rng = Rng(99);
    for len in [0usize, 1, 7, 31, 32, 33, 64, 100] {
        let keys: Vec<_> = (0..len).map(|_| tuple(rng.next() % 6000)).collect();
        let mut out = vec![Some(u64::MAX); len];
        let hits = table.lookup_bulk(&keys, &mut out);
        let want: Vec<_> = keys.iter().map(|k| table.lookup(k)).collect();
        assert_eq!(out, want);
        assert_eq!(hits, want.iter().flatten().count());
    }
}

#[test]
fn ipv6_and_mac_keys_round_trip() {
    let table = ExactMatchTable::<Ipv6FiveTuple, u32>::new(1024).unwrap();
    let mut reference = HashMap::new();
    let mut rng = Rng(7);
    for i in 0..900u32 {
        let k = Ipv6FiveTuple::new(
            Ipv6Addr::from(u128::from(rng.next()) << 64 | u128::from(rng.next())),
            Ipv6Addr::from(u128::from(rng.next() % 4)),
            i as u16,
            443,
            6,
        );
        table.insert(k, i).unwrap();
        reference.insert(k, i);
    }
    for (k, v) in &reference {
        assert_eq!(table.lookup(k), Some(*v));
        let mut b = *k.as_bytes().last().unwrap();
        b ^= 1;
        let mut bytes = k.as_bytes().to_vec();
        *bytes.last_mut().unwrap() = b;
        assert_eq!(table.lookup(&Ipv6FiveTuple::from_bytes(&bytes)), None);
    }
    let mut got = table.entries();
    got.sort();
    let mut want: Vec<_> = reference.into_iter().collect();
    want.sort();
    assert_eq!(got, want);
    table.clear();
    assert!(table.is_empty());
    assert!(table.entries().is_empty());
}

/// Readers look up keys that stay in the table for the whole test while one writer churns
/// other keys at a high load factor (forcing cuckoo moves and entry reuse). A reader must
/// never miss a stable key, never see a wrong value, and never find a key never inserted.
#[test]
fn lookups_concurrent_with_writer() {
    let table = Arc::new(ExactMatchTable::<Ipv4FiveTuple, u64>::new(1 << 13).unwrap());
    let stable: Vec<u64> = (0..4000).collect();
    for &i in &stable {
        table.insert(tuple(i), i ^ 0xabcd).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (table, stop) = (table.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(3);
            let mut live = Vec::new();
            let mut moves = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Churn keys 1_000_000.. : fill up to the brim, then drain some.
                let k = 1_000_000 + rng.next() % 20_000;
                if rng.next() % 3 != 0 {
                    if table.insert(tuple(k), k ^ 0xabcd).is_ok() {
                        live.push(k);
                    }
                } else if let Some(k) = live.pop() {
                    table.remove(&tuple(k));
                }
                moves += 1;
            }
            moves
        })
    };
    let mut rng = Rng(11);
    let mut checks = 0u64;
    let mut out = [None; 32];
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    while std::time::Instant::now() < deadline {
        let i = stable[(rng.next() % stable.len() as u64) as usize];
        assert_eq!(
            table.lookup(&tuple(i)),
            Some(i ^ 0xabcd),
            "stable key {i} missed"
        );
        let absent = 500_000 + rng.next() % 1000;
        assert_eq!(table.lookup(&tuple(absent)), None);
        // Churned keys may or may not be present, but a hit must carry the key's own value.
        for _ in 0..16 {
            let c = 1_000_000 + rng.next() % 20_000;
            if let Some(v) = table.lookup(&tuple(c)) {
                assert_eq!(v, c ^ 0xabcd, "churned key {c} returned a foreign value");
            }
            let s = stable[(rng.next() % stable.len() as u64) as usize];
            assert_eq!(
                table.lookup(&tuple(s)),
                Some(s ^ 0xabcd),
                "stable key {s} missed"
            );
        }
        let keys: [Ipv4FiveTuple; 32] =
            std::array::from_fn(|_| tuple(stable[(rng.next() % stable.len() as u64) as usize]));
        assert_eq!(table.lookup_bulk(&keys, &mut out), 32);
        for (k, v) in keys.iter().zip(&out) {
            let want = stable.iter().find(|&&s| tuple(s) == *k).map(|s| s ^ 0xabcd);
            assert_eq!(*v, want);
        }
        checks += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert!(
        checks > 10 && writes > 10,
        "checks {checks}, writes {writes}"
    );
}

/// A tiny table (8 buckets) at full load: nearly every insert displaces keys, and readers
/// hit the buckets the writer is rearranging all the time.
#[test]
fn lookups_concurrent_with_writer_tiny_table() {
    let table = Arc::new(ExactMatchTable::<Ipv4FiveTuple, u64>::new(64).unwrap());
    let stable: Vec<u64> = (0..40).collect();
    for &i in &stable {
        table.insert(tuple(i), i ^ 0xabcd).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (table, stop) = (table.clone(), stop.clone());
        std::thread::spawn(move || {
            // The lock-free writer handle: the same protocol as the `&self` writes.
            let mut w = table.writer();
            let mut rng = Rng(17);
            let mut writes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let k = 1_000 + rng.next() % 64;
                if w.remove(&tuple(k)).is_none() {
                    let _ = w.insert(tuple(k), k ^ 0xabcd);
                }
                writes += 1;
            }
            writes
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1000);
    let mut rng = Rng(23);
    let mut out = [None; 32];
    while std::time::Instant::now() < deadline {
        for _ in 0..1000 {
            let s = stable[(rng.next() % stable.len() as u64) as usize];
            assert_eq!(
                table.lookup(&tuple(s)),
                Some(s ^ 0xabcd),
                "stable key {s} missed"
            );
            let c = 1_000 + rng.next() % 64;
            if let Some(v) = table.lookup(&tuple(c)) {
                assert_eq!(v, c ^ 0xabcd, "churned key {c} returned a foreign value");
            }
        }
        let keys: [Ipv4FiveTuple; 32] = std::array::from_fn(|i| tuple(stable[i]));
        assert_eq!(table.lookup_bulk(&keys, &mut out), 32);
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
}

/// A fixed, small amount of concurrent work (no timing), sized for Miri, which checks the
/// reader/writer protocol for data races and explores weak-memory behaviours:
/// `cargo +nightly miri test -p ferroplane-classify --test hash miri_`.
#[test]
fn miri_concurrent_fixed_ops() {
    let table = Arc::new(ExactMatchTable::<Ipv4FiveTuple, u64>::new(16).unwrap());
    for i in 0..10u64 {
        table.insert(tuple(i), i ^ 0xabcd).unwrap();
    }
    let writer = {
        let table = table.clone();
        std::thread::spawn(move || {
            let mut rng = Rng(29);
            for _ in 0..60 {
                let k = 100 + rng.next() % 12;
                if table.remove(&tuple(k)).is_none() {
                    let _ = table.insert(tuple(k), k ^ 0xabcd);
                }
            }
        })
    };
    let mut rng = Rng(31);
    let mut out = [None; 4];
    for _ in 0..60 {
        let s = rng.next() % 10;
        assert_eq!(table.lookup(&tuple(s)), Some(s ^ 0xabcd));
        let c = 100 + rng.next() % 12;
        if let Some(v) = table.lookup(&tuple(c)) {
            assert_eq!(v, c ^ 0xabcd);
        }
        let keys = [tuple(0), tuple(3), tuple(c), tuple(9)];
        assert!(table.lookup_bulk(&keys, &mut out) >= 3);
    }
    writer.join().unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u16, u32),
    Remove(u16),
    Lookup(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u16>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k % 300, v)),
        any::<u16>().prop_map(|k| Op::Remove(k % 300)),
        any::<u16>().prop_map(|k| Op::Lookup(k % 300)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn proptest_ops_match_hashmap(ops in proptest::collection::vec(op(), 1..400)) {
        let table = ExactMatchTable::<[u8; 2], u32>::new(256).unwrap();
        let mut reference = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => match table.insert(k.to_be_bytes(), v) {
                    Ok(prev) => prop_assert_eq!(prev, reference.insert(k, v)),
                    Err(_) => prop_assert!(!reference.contains_key(&k)),
                },
                Op::Remove(k) => prop_assert_eq!(table.remove(&k.to_be_bytes()), reference.remove(&k)),
                Op::Lookup(k) => prop_assert_eq!(table.lookup(&k.to_be_bytes()), reference.get(&k).copied()),
            }
        }
        prop_assert_eq!(table.len(), reference.len());
    }
}

/// A million lookups after many random adds and deletes (release: a few seconds).
#[test]
#[ignore]
fn soak_million_lookups() {
    let table = ExactMatchTable::<Ipv4FiveTuple, u64>::new(1 << 20).unwrap();
    let mut reference = HashMap::new();
    let mut rng = Rng(5);
    for step in 0..2_000_000u64 {
        let k = tuple(rng.next() % 1_200_000);
        if rng.next() % 4 == 0 {
            assert_eq!(table.remove(&k), reference.remove(&k));
        } else if let Ok(prev) = table.insert(k, step) {
            assert_eq!(prev, reference.insert(k, step));
        }
    }
    for _ in 0..1_000_000 {
        let k = tuple(rng.next() % 1_200_000);
        assert_eq!(table.lookup(&k), reference.get(&k).copied());
    }
}
