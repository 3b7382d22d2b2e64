//! IPv6 table: edge cases and differential tests against naive references.

mod common;

use common::{HashLpm, NaiveLpm, Rng};
use ferroplane_lpm::{Lpm6, LpmConfig, LpmError, MAX_NEXT_HOP6, NO_ROUTE};
use proptest::prelude::*;

fn cfg(max_rules: usize, groups: u32) -> LpmConfig {
    LpmConfig {
        max_rules,
        tbl8_groups: groups,
        hugepages: false,
        prefault: false,
        ..LpmConfig::default()
    }
}

fn a(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

fn check(lpm: &Lpm6, addrs: &[[u8; 16]], expect: impl Fn(&[u8; 16]) -> Option<u32>) {
    let mut out = vec![0u32; addrs.len()];
    assert_eq!(lpm.lookup_bulk(addrs, &mut out), addrs.len());
    for (ip, &nh) in addrs.iter().zip(&out) {
        let want = expect(ip);
        assert_eq!(
            lpm.lookup(ip),
            want,
            "single lookup of {:?}",
            std::net::Ipv6Addr::from(*ip)
        );
        assert_eq!(
            nh,
            want.unwrap_or(NO_ROUTE),
            "bulk lookup of {:?}",
            std::net::Ipv6Addr::from(*ip)
        );
    }
}

#[test]
fn edges_default_host_and_overlaps() {
    let mut lpm = Lpm6::new(&cfg(100, 64)).unwrap();
    assert_eq!(lpm.lookup(&a("2001:db8::1")), None);
    lpm.add(&a("::"), 0, 1).unwrap();
    lpm.add(&a("2001:db8::"), 32, 2).unwrap();
    lpm.add(&a("2001:db8:1::"), 48, 3).unwrap();
    lpm.add(&a("2001:db8:1:2::"), 64, 4).unwrap();
    lpm.add(&a("2001:db8:1:2::1"), 128, 5).unwrap();
    lpm.add(&a("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 128, 6)
        .unwrap();
    lpm.add(&a("2001:db8:1:2::80"), 121, 7).unwrap();
    let cases = [
        ("::1", 1),
        ("2001:db8:ffff::1", 2),
        ("2001:db8:1:ffff::1", 3),
        ("2001:db8:1:2::2", 4),
        ("2001:db8:1:2::1", 5),
        ("2001:db8:1:2::ff", 7),
        ("2001:db8:1:2::100", 4),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 1),
    ];
    for (s, nh) in cases {
        assert_eq!(lpm.lookup(&a(s)), Some(nh), "{s}");
    }
    // Delete a prefix that has more specific children.
    assert_eq!(lpm.delete(&a("2001:db8:1::"), 48), Ok(3));
    assert_eq!(lpm.lookup(&a("2001:db8:1:ffff::1")), Some(2));
    assert_eq!(lpm.lookup(&a("2001:db8:1:2::1")), Some(5));
    assert_eq!(lpm.delete(&a("2001:db8:1:2::1"), 128), Ok(5));
    assert_eq!(lpm.lookup(&a("2001:db8:1:2::1")), Some(4));
    assert_eq!(lpm.delete(&a("2001:db8:1:2::80"), 121), Ok(7));
    assert_eq!(lpm.delete(&a("2001:db8:1:2::"), 64), Ok(4));
    assert_eq!(lpm.lookup(&a("2001:db8:1:2::1")), Some(2));
    assert_eq!(lpm.delete(&a("2001:db8::"), 32), Ok(2));
    assert_eq!(
        lpm.delete(&a("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 128),
        Ok(6)
    );
    lpm.reclaim();
    assert_eq!(lpm.tbl8_groups_in_use(), 0, "every group folded back");
    assert_eq!(lpm.lookup(&a("2001:db8:1:2::1")), Some(1));
    assert_eq!(lpm.add(&a("::"), 129, 1), Err(LpmError::InvalidDepth(129)));
    assert_eq!(
        lpm.add(&a("::"), 1, MAX_NEXT_HOP6 + 1),
        Err(LpmError::InvalidNextHop {
            next_hop: MAX_NEXT_HOP6 + 1,
            max: MAX_NEXT_HOP6
        })
    );
    assert_eq!(lpm.add(&a("::"), 0, 9), Ok(Some(1)));
    assert_eq!(lpm.len(), 1);
}

#[test]
fn group_exhaustion_is_an_error_without_side_effects() {
    // A /128 needs 13 groups; 20 are not enough for two in different /24s.
    let mut lpm = Lpm6::new(&cfg(100, 20)).unwrap();
    lpm.add(&a("2001:db8::1"), 128, 1).unwrap();
    assert_eq!(lpm.tbl8_groups_in_use(), 13);
    assert_eq!(
        lpm.add(&a("3001:db8::1"), 128, 2),
        Err(LpmError::Tbl8Exhausted { groups: 20 })
    );
    assert_eq!(lpm.lookup(&a("3001:db8::1")), None);
    assert_eq!(lpm.len(), 1);
    // Sharing most of the path fits.
    lpm.add(&a("2001:db8::2"), 128, 3).unwrap();
    assert_eq!(lpm.lookup(&a("2001:db8::2")), Some(3));
    lpm.delete(&a("2001:db8::1"), 128).unwrap();
    lpm.delete(&a("2001:db8::2"), 128).unwrap();
    lpm.add(&a("3001:db8::1"), 128, 2).unwrap();
    assert_eq!(lpm.lookup(&a("3001:db8::1")), Some(2));
    let mut full = Lpm6::new(&cfg(1, 20)).unwrap();
    full.add(&a("::"), 0, 1).unwrap();
    assert_eq!(
        full.add(&a("::"), 1, 1),
        Err(LpmError::TableFull { max_rules: 1 })
    );
}

fn addr6() -> impl Strategy<Value = [u8; 16]> {
    // A shared top, then few choices per byte so prefixes overlap at every level.
    proptest::collection::vec(
        prop_oneof![Just(0u8), Just(0x80), Just(0xff), any::<u8>()],
        13,
    )
    .prop_map(|v| {
        let mut ip = [0x20, 0x01, 0x0d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        ip[3..].copy_from_slice(&v);
        ip
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn matches_naive_reference(
        ops in proptest::collection::vec((any::<bool>(), addr6(), prop_oneof![1 => 14u8..=24, 8 => 25u8..=128], 0u32..1000), 1..80),
        probes in proptest::collection::vec(addr6(), 32),
    ) {
        let mut lpm = Lpm6::new(&cfg(1000, 4096)).unwrap();
        let mut naive = NaiveLpm::default();
        for &(add, ip, d, nh) in &ops {
            let k = u128::from_be_bytes(ip);
            if add {
                prop_assert_eq!(lpm.add(&ip, d, nh).unwrap(), naive.add(k, d, nh));
            } else {
                prop_assert_eq!(lpm.delete(&ip, d).ok(), naive.delete(k, d));
            }
        }
        let mut addrs = probes;
        for &(k, d, _) in &naive.rules {
            let last = k | !common::mask(d);
            addrs.extend([k, last, k.wrapping_sub(1), last.wrapping_add(1)].map(u128::to_be_bytes));
        }
        addrs.extend(ops.iter().map(|o| o.1));
        check(&lpm, &addrs, |ip| naive.lookup(u128::from_be_bytes(*ip)));
        for (k, d, _) in naive.rules.clone() {
            lpm.delete(&k.to_be_bytes(), d).unwrap();
        }
        lpm.reclaim();
        prop_assert_eq!(lpm.tbl8_groups_in_use(), 0);
    }
}

#[test]
fn large_random_workload_matches_reference() {
    const DEPTHS: [u8; 12] = [12, 16, 24, 29, 32, 40, 44, 48, 48, 56, 64, 128];
    let mut rng = Rng(0x6666);
    let mut lpm = Lpm6::new(&LpmConfig {
        tbl8_groups: 1 << 16,
        hugepages: false,
        prefault: false,
        ..LpmConfig::default()
    })
    .unwrap();
    let mut reference = HashLpm::new(128);
    let mut added = Vec::new();
    let rand_addr = |rng: &mut Rng| -> u128 {
        (0x2001_0db8u128 + rng.below(3) as u128) << 96
            | (rng.next() as u128) << 64
            | rng.next() as u128
    };
    for _ in 0..4000 {
        if rng.below(3) < 2 || added.is_empty() {
            let k = rand_addr(&mut rng) & !(u128::from(rng.below(2) as u8) * 0xffff_ffff_0000_0000);
            let d = DEPTHS[rng.below(DEPTHS.len() as u64) as usize];
            let nh = rng.below(u64::from(MAX_NEXT_HOP6) + 1) as u32;
            lpm.add(&k.to_be_bytes(), d, nh).unwrap();
            reference.add(k, d, nh);
            added.push((k, d));
        } else {
            let (k, d) = added.swap_remove(rng.below(added.len() as u64) as usize);
            assert_eq!(lpm.delete(&k.to_be_bytes(), d).ok(), reference.delete(k, d));
        }
    }
    assert_eq!(lpm.len(), reference.len());
    let mut out = vec![0u32; 1024];
    for _ in 0..256 {
        let addrs: Vec<[u8; 16]> = (0..1024)
            .map(|_| {
                let k = match rng.below(3) {
                    0 => rng.next() as u128 | (rng.next() as u128) << 64,
                    1 => rand_addr(&mut rng),
                    _ => {
                        added[rng.below(added.len() as u64) as usize].0
                            ^ u128::from(rng.below(4) as u8)
                    }
                };
                k.to_be_bytes()
            })
            .collect();
        lpm.lookup_bulk(&addrs, &mut out);
        for (ip, &nh) in addrs.iter().zip(&out) {
            assert_eq!(
                nh,
                reference
                    .lookup(u128::from_be_bytes(*ip))
                    .unwrap_or(NO_ROUTE)
            );
        }
    }
}

/// Nested routes at every stride boundary and between (short ones covering whole groups, deep
/// ones inside them, siblings that differ in one bit), added and deleted in random order and
/// with replaced next hops: after every operation each route's first and last address and
/// their neighbours must match the reference. Exercises the writer's skipping of subtrees
/// (group covers) in both directions: a short route added or deleted over groups whose cover
/// is longer, shorter or itself.
#[test]
fn nested_routes_in_any_order_match_reference_after_every_op() {
    // (No /0 to /3: each of their range writes covers millions of entries, slow in debug builds.)
    const DEPTHS: [u8; 15] = [4, 8, 16, 20, 23, 24, 25, 31, 32, 40, 47, 48, 64, 100, 128];
    let base: u128 = 0x2001_0db8_1234_5678_9abc_def0_1357_9bdf;
    let mut routes = Vec::new();
    for &d in &DEPTHS {
        routes.push((base & common::mask(d), d));
        // A sibling: the last bit of the prefix flipped.
        if d > 0 {
            let sib = (base ^ (1u128 << (128 - u32::from(d)))) & common::mask(d);
            routes.push((sib, d));
        }
    }
    let mut probes: Vec<u128> = Vec::new();
    for &(k, d) in &routes {
        let last = k | !common::mask(d);
        probes.extend([k, last, k.wrapping_sub(1), last.wrapping_add(1)]);
    }
    let mut rng = Rng(0x7777);
    let mut lpm = Lpm6::new(&cfg(1000, 1024)).unwrap();
    let mut naive = NaiveLpm::default();
    for step in 0..2000 {
        let (k, d) = routes[rng.below(routes.len() as u64) as usize];
        let ip = k.to_be_bytes();
        if rng.below(2) == 0 {
            let nh = rng.below(1000) as u32;
            assert_eq!(lpm.add(&ip, d, nh).unwrap(), naive.add(k, d, nh));
        } else {
            assert_eq!(lpm.delete(&ip, d).ok(), naive.delete(k, d));
        }
        for &p in &probes {
            assert_eq!(
                lpm.lookup(&p.to_be_bytes()),
                naive.lookup(p),
                "step {step}: probe {p:#x}"
            );
        }
    }
    for (k, d, _) in naive.rules.clone() {
        lpm.delete(&k.to_be_bytes(), d).unwrap();
    }
    lpm.reclaim();
    assert_eq!(lpm.tbl8_groups_in_use(), 0);
}
