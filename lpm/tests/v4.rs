//! IPv4 table: edge cases, errors, group recycling, and differential tests against naive
//! references (proptest and a large random workload).

mod common;

use common::{HashLpm, NaiveLpm, Rng, k4};
use ferroplane_lpm::{LookupImpl, Lpm4, LpmConfig, LpmError, MAX_NEXT_HOP4, NO_ROUTE};
use proptest::prelude::*;

fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

fn small(max_rules: usize, groups: u32) -> LpmConfig {
    LpmConfig {
        max_rules,
        tbl8_groups: groups,
        hugepages: false,
        prefault: false,
        ..LpmConfig::default()
    }
}

const IMPLS: [LookupImpl; 4] = [
    LookupImpl::Auto,
    LookupImpl::Scalar,
    LookupImpl::Avx2,
    LookupImpl::Avx512,
];

/// Checks single and every bulk implementation against the expected answers.
fn check_all(lpm: &Lpm4, addrs: &[u32], expect: impl Fn(u32) -> Option<u32>) {
    let want: Vec<u32> = addrs
        .iter()
        .map(|&a| expect(a).unwrap_or(NO_ROUTE))
        .collect();
    for (&a, &w) in addrs.iter().zip(&want) {
        assert_eq!(
            lpm.lookup(a).unwrap_or(NO_ROUTE),
            w,
            "single lookup of {a:#010x}"
        );
    }
    for imp in IMPLS {
        let mut out = vec![0u32; addrs.len()];
        assert_eq!(lpm.lookup_bulk_with(imp, addrs, &mut out), addrs.len());
        for i in 0..addrs.len() {
            assert_eq!(out[i], want[i], "{imp:?} bulk lookup of {:#010x}", addrs[i]);
        }
    }
}

#[test]
fn default_route_host_route_and_overlaps() {
    let mut lpm = Lpm4::new(&small(100, 16)).unwrap();
    assert_eq!(lpm.lookup(ip(1, 2, 3, 4)), None);
    lpm.add(0, 0, 1).unwrap();
    assert_eq!(lpm.lookup(ip(1, 2, 3, 4)), Some(1));
    assert_eq!(lpm.lookup(u32::MAX), Some(1));
    lpm.add(ip(10, 0, 0, 0), 8, 2).unwrap();
    lpm.add(ip(10, 1, 0, 0), 16, 3).unwrap();
    lpm.add(ip(10, 1, 2, 0), 24, 4).unwrap();
    lpm.add(ip(10, 1, 2, 128), 25, 5).unwrap();
    lpm.add(ip(10, 1, 2, 200), 32, 6).unwrap();
    lpm.add(ip(255, 255, 255, 255), 32, 7).unwrap();
    let cases = [
        (ip(9, 0, 0, 0), 1),
        (ip(10, 0, 0, 1), 2),
        (ip(10, 1, 0, 1), 3),
        (ip(10, 1, 2, 1), 4),
        (ip(10, 1, 2, 129), 5),
        (ip(10, 1, 2, 200), 6),
        (ip(10, 1, 2, 201), 5),
        (ip(255, 255, 255, 255), 7),
        (ip(255, 255, 255, 254), 1),
    ];
    for (a, nh) in cases {
        assert_eq!(lpm.lookup(a), Some(nh), "{a:#x}");
    }
    // Adding a shorter prefix later must not override longer ones.
    lpm.add(ip(10, 1, 0, 0), 7, 8).unwrap();
    lpm.add(ip(10, 1, 2, 0), 23, 9).unwrap();
    for (a, nh) in cases {
        assert_eq!(lpm.lookup(a), Some(nh), "{a:#x} after shorter adds");
    }
    assert_eq!(lpm.lookup(ip(11, 0, 0, 1)), Some(8));
    assert_eq!(lpm.lookup(ip(10, 1, 3, 1)), Some(9));
    assert_eq!(lpm.len(), 9);
}

#[test]
fn delete_restores_cover_and_keeps_children() {
    let mut lpm = Lpm4::new(&small(100, 16)).unwrap();
    lpm.add(ip(10, 0, 0, 0), 8, 1).unwrap();
    lpm.add(ip(10, 1, 0, 0), 16, 2).unwrap();
    lpm.add(ip(10, 1, 2, 0), 24, 3).unwrap();
    lpm.add(ip(10, 1, 2, 64), 26, 4).unwrap();
    lpm.add(ip(10, 1, 2, 65), 32, 5).unwrap();
    // Delete the /16 with more specific children: /8 covers its other addresses.
    assert_eq!(lpm.delete(ip(10, 1, 0, 0), 16), Ok(2));
    assert_eq!(lpm.lookup(ip(10, 1, 0, 1)), Some(1));
    assert_eq!(lpm.lookup(ip(10, 1, 2, 1)), Some(3));
    assert_eq!(lpm.lookup(ip(10, 1, 2, 64)), Some(4));
    assert_eq!(lpm.lookup(ip(10, 1, 2, 65)), Some(5));
    // Delete the /24 under which a tbl8 group exists.
    assert_eq!(lpm.delete(ip(10, 1, 2, 0), 24), Ok(3));
    assert_eq!(lpm.lookup(ip(10, 1, 2, 1)), Some(1));
    assert_eq!(lpm.lookup(ip(10, 1, 2, 66)), Some(4));
    assert_eq!(lpm.tbl8_groups_in_use(), 1);
    // Delete the /26: the /32 stays, the group stays.
    assert_eq!(lpm.delete(ip(10, 1, 2, 64), 26), Ok(4));
    assert_eq!(lpm.lookup(ip(10, 1, 2, 66)), Some(1));
    assert_eq!(lpm.lookup(ip(10, 1, 2, 65)), Some(5));
    // Delete the /32: the group becomes uniform and is freed.
    assert_eq!(lpm.delete(ip(10, 1, 2, 65), 32), Ok(5));
    assert_eq!(lpm.lookup(ip(10, 1, 2, 65)), Some(1));
    lpm.reclaim();
    assert_eq!(lpm.tbl8_groups_in_use(), 0);
    // Not found / re-adding.
    assert_eq!(
        lpm.delete(ip(10, 1, 2, 65), 32),
        Err(LpmError::NotFound { depth: 32 })
    );
    lpm.add(ip(10, 1, 2, 65), 32, 6).unwrap();
    assert_eq!(lpm.lookup(ip(10, 1, 2, 65)), Some(6));
    assert_eq!(lpm.delete(ip(10, 0, 0, 0), 8), Ok(1));
    assert_eq!(lpm.lookup(ip(10, 1, 2, 66)), None);
    assert_eq!(lpm.lookup(ip(10, 1, 2, 65)), Some(6));
    assert_eq!(lpm.len(), 1);
}

#[test]
fn replace_returns_old_next_hop() {
    let mut lpm = Lpm4::new(&small(2, 4)).unwrap();
    assert_eq!(lpm.add(ip(192, 168, 0, 0), 16, 1), Ok(None));
    assert_eq!(lpm.add(ip(192, 168, 77, 3), 16, 2), Ok(Some(1)));
    assert_eq!(lpm.get(ip(192, 168, 0, 0), 16), Ok(Some(2)));
    assert_eq!(lpm.lookup(ip(192, 168, 1, 1)), Some(2));
    lpm.add(ip(192, 168, 1, 1), 32, 3).unwrap();
    assert_eq!(lpm.add(ip(192, 168, 1, 1), 32, 4), Ok(Some(3)));
    assert_eq!(lpm.lookup(ip(192, 168, 1, 1)), Some(4));
    assert_eq!(lpm.len(), 2);
}

#[test]
fn errors_leave_the_table_unchanged() {
    let mut lpm = Lpm4::new(&small(3, 2)).unwrap();
    assert_eq!(lpm.add(0, 33, 1), Err(LpmError::InvalidDepth(33)));
    assert_eq!(lpm.delete(0, 40), Err(LpmError::InvalidDepth(40)));
    assert_eq!(
        lpm.add(0, 8, MAX_NEXT_HOP4 + 1),
        Err(LpmError::InvalidNextHop {
            next_hop: MAX_NEXT_HOP4 + 1,
            max: MAX_NEXT_HOP4
        })
    );
    lpm.add(0, 8, MAX_NEXT_HOP4).unwrap();
    assert_eq!(lpm.lookup(1), Some(MAX_NEXT_HOP4));
    lpm.add(ip(1, 0, 0, 0), 25, 1).unwrap();
    lpm.add(ip(2, 0, 0, 0), 25, 2).unwrap();
    // Table full (3 rules), but replacing still works.
    assert_eq!(
        lpm.add(ip(3, 0, 0, 0), 24, 3),
        Err(LpmError::TableFull { max_rules: 3 })
    );
    assert_eq!(lpm.add(ip(2, 0, 0, 0), 25, 4), Ok(Some(2)));
    assert_eq!(lpm.lookup(ip(3, 0, 0, 1)), None);
    lpm.delete(0, 8).unwrap();
    // Both groups taken: a /25 in a third /24 fails, and leaves no trace.
    assert_eq!(
        lpm.add(ip(3, 0, 0, 0), 25, 3),
        Err(LpmError::Tbl8Exhausted { groups: 2 })
    );
    assert_eq!(lpm.lookup(ip(3, 0, 0, 1)), None);
    assert_eq!(lpm.get(ip(3, 0, 0, 0), 25), Ok(None));
    assert_eq!(lpm.len(), 2);
    // A /25 in a /24 that already has a group needs none.
    lpm.add(ip(1, 0, 0, 128), 25, 5).unwrap();
    assert_eq!(lpm.lookup(ip(1, 0, 0, 200)), Some(5));
    // Free one group, and the third /24 fits.
    lpm.delete(ip(2, 0, 0, 0), 25).unwrap();
    lpm.add(ip(3, 0, 0, 0), 25, 3).unwrap();
    assert_eq!(lpm.lookup(ip(3, 0, 0, 1)), Some(3));
    assert_eq!(lpm.lookup(ip(2, 0, 0, 1)), None);
}

#[test]
fn groups_are_reused_many_times() {
    let mut lpm = Lpm4::new(&small(10, 1)).unwrap();
    lpm.add(ip(10, 0, 0, 0), 8, 1).unwrap();
    for i in 0..2000u32 {
        let a = ip(10, (i % 200) as u8, (i / 200) as u8, 7);
        lpm.add(a, 32, i).unwrap();
        assert_eq!(lpm.lookup(a), Some(i));
        assert_eq!(lpm.lookup(a + 1), Some(1));
        lpm.delete(a, 32).unwrap();
        assert_eq!(lpm.lookup(a), Some(1));
    }
}

#[test]
fn bulk_sizes_and_helpers() {
    let mut lpm = Lpm4::new(&small(100, 8)).unwrap();
    lpm.add(ip(10, 0, 0, 0), 8, 1).unwrap();
    lpm.add(ip(10, 0, 0, 5), 32, 2).unwrap();
    let mut addrs: Vec<u32> = (0..70).map(|i| ip(10, 0, 0, i)).collect();
    addrs.push(ip(11, 0, 0, 0));
    for n in [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 71] {
        check_all(&lpm, &addrs[..n], |a| {
            if a == ip(10, 0, 0, 5) {
                Some(2)
            } else if a >> 24 == 10 {
                Some(1)
            } else {
                None
            }
        });
    }
    let a8: [u32; 8] = std::array::from_fn(|i| ip(10, 0, 0, i as u8));
    assert_eq!(lpm.lookup8(&a8), [1, 1, 1, 1, 1, 2, 1, 1]);
    let a32: [u32; 32] = std::array::from_fn(|i| ip(11 - (i % 2) as u8, 0, 0, 5));
    let r = lpm.lookup32(&a32);
    assert!(
        r.iter()
            .enumerate()
            .all(|(i, &nh)| nh == if i % 2 == 0 { NO_ROUTE } else { 2 })
    );
    // Mismatched lengths: the shorter one wins.
    let mut out = [0u32; 3];
    assert_eq!(lpm.lookup_bulk(&addrs, &mut out), 3);
}

#[derive(Debug, Clone)]
enum Op {
    Add(u32, u8, u32),
    Del(u32, u8),
}

fn op() -> impl Strategy<Value = Op> {
    // Addresses from two /16s of 10/8 (plus a little elsewhere) so prefixes overlap a lot.
    // Short prefixes are rare and at least /6: a /0 rewrites 2^24 entries, slow in debug
    // builds (/0 has its own tests).
    let addr = (0u32..2, any::<u16>(), 0u32..8).prop_map(|(net, low, top)| {
        (10 << 24) | (net << 16) | u32::from(low) | (top << 29) & 0x8000_0000
    });
    let depth = prop_oneof![1 => 6u8..=8, 12 => 9u8..=32];
    prop_oneof![
        3 => (addr.clone(), depth.clone(), 0u32..1000).prop_map(|(a, d, n)| Op::Add(a, d, n)),
        2 => (addr, depth).prop_map(|(a, d)| Op::Del(a, d)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn matches_naive_reference(ops in proptest::collection::vec(op(), 1..120), probes in proptest::collection::vec(any::<u32>(), 64)) {
        let mut lpm = Lpm4::new(&small(1000, 64)).unwrap();
        let mut naive = NaiveLpm::default();
        for op in &ops {
            match *op {
                Op::Add(a, d, n) => {
                    let r = lpm.add(a, d, n).unwrap();
                    prop_assert_eq!(r, naive.add(k4(a), d, n));
                }
                Op::Del(a, d) => {
                    let r = lpm.delete(a, d).ok();
                    prop_assert_eq!(r, naive.delete(k4(a), d));
                }
            }
        }
        prop_assert_eq!(lpm.len(), naive.rules.len());
        // Probe every rule's first and last address and neighbours, plus random addresses.
        let mut addrs = probes;
        for &(k, d, _) in &naive.rules {
            let first = (k >> 96) as u32;
            let last = first | (u32::MAX.checked_shr(d as u32).unwrap_or(0));
            addrs.extend([first, last, first.wrapping_sub(1), last.wrapping_add(1), first ^ 0x80]);
        }
        for op in &ops {
            let (Op::Add(a, _, _) | Op::Del(a, _)) = *op;
            addrs.push(a);
        }
        check_all(&lpm, &addrs, |a| naive.lookup(k4(a)));
        // Deleting everything frees every group.
        for (k, d, _) in naive.rules.clone() {
            lpm.delete((k >> 96) as u32, d).unwrap();
        }
        lpm.reclaim();
        prop_assert_eq!(lpm.tbl8_groups_in_use(), 0);
        prop_assert!(addrs.iter().all(|&a| lpm.lookup(a).is_none()));
    }
}

/// Thousands of random adds and deletes with a realistic depth mix, then a million lookups
/// (random addresses and addresses inside rules), against per-depth hash maps.
#[test]
fn large_random_workload_matches_reference() {
    run_large_workload(0x5eed, 6000, 1 << 20);
}

/// Bigger soak: run with `cargo test --release -p ferroplane-lpm -- --ignored`.
#[test]
#[ignore]
fn soak_random_workload_matches_reference() {
    for seed in 0..8 {
        run_large_workload(seed, 100_000, 1 << 22);
    }
}

fn run_large_workload(seed: u64, ops: usize, lookups: usize) {
    const DEPTHS: [u8; 16] = [
        8, 12, 14, 16, 16, 19, 20, 22, 23, 24, 24, 24, 25, 28, 30, 32,
    ];
    let mut rng = Rng(seed);
    let mut lpm = Lpm4::new(&LpmConfig {
        max_rules: 1 << 20,
        tbl8_groups: 1 << 14,
        ..LpmConfig::default()
    })
    .unwrap();
    let mut reference = HashLpm::new(32);
    let mut added: Vec<(u32, u8)> = Vec::new();
    // One default route (a /0 rewrites all 2^24 tbl24 entries; once is enough in debug).
    lpm.add(0, 0, 77).unwrap();
    reference.add(0, 0, 77);
    // Confine to a few /8s so prefixes overlap.
    let rand_addr =
        |rng: &mut Rng| ((rng.below(4) as u32 + 10) << 24) | (rng.next() as u32 & 0x00ff_ffff);
    for _ in 0..ops {
        if rng.below(3) < 2 || added.is_empty() {
            let a = rand_addr(&mut rng);
            let d = DEPTHS[rng.below(16) as usize];
            let nh = rng.below(1 << 24) as u32;
            lpm.add(a, d, nh).unwrap();
            reference.add(k4(a), d, nh);
            added.push((a, d));
        } else {
            let i = rng.below(added.len() as u64) as usize;
            let (a, d) = added.swap_remove(i);
            assert_eq!(lpm.delete(a, d).ok(), reference.delete(k4(a), d));
        }
    }
    assert_eq!(lpm.len(), reference.len());
    let mut addrs = Vec::with_capacity(4096);
    let mut out = vec![0u32; 4096];
    let mut done = 0;
    while done < lookups {
        addrs.clear();
        for _ in 0..4096 {
            let a = match rng.below(3) {
                0 => rng.next() as u32,
                1 => rand_addr(&mut rng),
                _ => added[rng.below(added.len() as u64) as usize].0 ^ (rng.below(4) as u32),
            };
            addrs.push(a);
        }
        lpm.lookup_bulk(&addrs, &mut out);
        for (&a, &nh) in addrs.iter().zip(&out) {
            let want = reference.lookup(k4(a)).unwrap_or(NO_ROUTE);
            assert_eq!(nh, want, "bulk lookup of {a:#010x}");
        }
        for &a in addrs.iter().step_by(8) {
            assert_eq!(
                lpm.lookup(a).unwrap_or(NO_ROUTE),
                reference.lookup(k4(a)).unwrap_or(NO_ROUTE)
            );
        }
        done += addrs.len();
    }
}

/// Adds and deletes confined to one /14 (1024 /24s, 64 tbl24 lines of 16 entries) with a depth
/// mix that covers whole lines (/14../20), parts of lines (/21../24) and groups (/25../32), so
/// every path of the writer's line hints is taken: blind stores, skipped lines, entry-by-entry
/// checks, lines whose group was folded back. Every /24 is probed at both ends and in the middle
/// against a naive reference after every few updates.
#[test]
fn range_writes_over_mixed_lines_match_reference() {
    const BASE: u32 = 20 << 24;
    let mut rng = Rng(0x11e5);
    let mut lpm = Lpm4::new(&small(10_000, 256)).unwrap();
    let mut naive = NaiveLpm::default();
    let mut added: Vec<(u32, u8)> = Vec::new();
    let probes: Vec<u32> = (0..1024u32)
        .flat_map(|s| [BASE | s << 8, BASE | s << 8 | 0x80, BASE | s << 8 | 0xff])
        .chain([BASE - 1, BASE + (1 << 18)])
        .collect();
    for step in 0..600 {
        if rng.below(5) < 3 || added.is_empty() {
            let depth = match rng.below(3) {
                0 => 14 + rng.below(7) as u8,
                1 => 21 + rng.below(4) as u8,
                _ => 25 + rng.below(8) as u8,
            };
            let a = BASE | (rng.next() as u32 & 0x3_ffff);
            // A few next hops only, so re-adding an identical route happens too.
            let nh = rng.below(4) as u32;
            assert_eq!(lpm.add(a, depth, nh).unwrap(), naive.add(k4(a), depth, nh));
            added.push((a, depth));
        } else {
            let (a, d) = added.swap_remove(rng.below(added.len() as u64) as usize);
            assert_eq!(lpm.delete(a, d).ok(), naive.delete(k4(a), d));
        }
        if step % 8 == 0 {
            check_all(&lpm, &probes, |a| naive.lookup(k4(a)));
        }
    }
    check_all(&lpm, &probes, |a| naive.lookup(k4(a)));
    for (k, d, _) in naive.rules.clone() {
        lpm.delete((k >> 96) as u32, d).unwrap();
    }
    lpm.reclaim();
    assert_eq!(lpm.tbl8_groups_in_use(), 0);
    assert!(probes.iter().all(|&a| lpm.lookup(a).is_none()));
}
