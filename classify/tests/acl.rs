//! ACL: differential tests against a linear scan by priority, edge cases, file format.

use std::net::{Ipv4Addr, Ipv6Addr};

use ferroplane_classify::acl::{
    Acl, AclBuilder, AclError, AclKey, AclKeyV4, AclRule, AclRuleV4, dpdk_format,
};
use proptest::prelude::*;

#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

/// The reference: best priority, ties to the lowest index.
fn linear<A: ferroplane_classify::acl::AclAddr>(
    rules: &[AclRule<A>],
    key: &AclKey<A>,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, r) in rules.iter().enumerate() {
        if r.matches(key) && best.is_none_or(|b| r.priority > rules[b].priority) {
            best = Some(i);
        }
    }
    best
}

fn port_range(rng: &mut Rng) -> (u16, u16) {
    match rng.below(6) {
        0 => (0, u16::MAX),
        1 => {
            let p = rng.below(65536) as u16;
            (p, p)
        }
        2 => (0, rng.below(1024) as u16),
        3 => (rng.below(65536) as u16, u16::MAX),
        4 => (1024, u16::MAX),
        _ => {
            let a = rng.below(65536) as u16;
            let b = rng.below(65536) as u16;
            (a.min(b), a.max(b))
        }
    }
}

fn random_rule_v4(rng: &mut Rng, pool: &[u32], i: usize) -> AclRuleV4 {
    let addr = |rng: &mut Rng| {
        let base = pool[rng.below(pool.len() as u64) as usize];
        let len = [0u8, 8, 16, 24, 32, 12, 20, 28][rng.below(8) as usize];
        (Ipv4Addr::from(base ^ (rng.below(256) as u32)), len)
    };
    let (src, src_len) = addr(rng);
    let (dst, dst_len) = addr(rng);
    let (proto, proto_mask) = match rng.below(5) {
        0 => (0, 0),
        1 => (6, 0xff),
        2 => (17, 0xff),
        3 => (rng.below(256) as u8, 0xff),
        _ => (rng.below(256) as u8, rng.below(256) as u8),
    };
    AclRule {
        src,
        src_len,
        dst,
        dst_len,
        sport: port_range(rng),
        dport: port_range(rng),
        proto,
        proto_mask,
        priority: rng.below(8) as u32, // many ties
        userdata: i as u32 + 1000,
    }
}

/// A key inside `r` (each field drawn within the rule), or at its edges.
fn key_in_v4(rng: &mut Rng, r: &AclRuleV4) -> AclKeyV4 {
    let inside = |rng: &mut Rng, a: Ipv4Addr, len: u8| {
        let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        Ipv4Addr::from((u32::from(a) & !host) | (rng.next() as u32 & host))
    };
    let port = |rng: &mut Rng, (lo, hi): (u16, u16)| match rng.below(3) {
        0 => lo,
        1 => hi,
        _ => lo + (rng.below(u64::from(hi - lo) + 1) as u16),
    };
    AclKey {
        src: inside(rng, r.src, r.src_len),
        dst: inside(rng, r.dst, r.dst_len),
        sport: port(rng, r.sport),
        dport: port(rng, r.dport),
        proto: (r.proto & r.proto_mask) | (rng.next() as u8 & !r.proto_mask),
    }
}

fn check_v4(rules: &[AclRuleV4], rng: &mut Rng, lookups: usize) {
    let mut b = AclBuilder::new();
    for r in rules {
        b.add(*r).unwrap();
    }
    // The automatic leaf size, leaves of 32 rules (multi-block vector leaves) and, for
    // small sets, of 2 (deep trees).
    let small: &[Option<usize>] = if rules.len() <= 100 { &[Some(2)] } else { &[] };
    for &leaf_rules in [None, Some(32)].iter().chain(small) {
        b.set_leaf_rules(leaf_rules);
        check_v4_built(b.build(), rules, rng, lookups);
    }
}

fn check_v4_built(mut acl: Acl<Ipv4Addr>, rules: &[AclRuleV4], rng: &mut Rng, lookups: usize) {
    let mut keys = Vec::with_capacity(lookups);
    for _ in 0..lookups {
        let k = if rules.is_empty() || rng.below(4) == 0 {
            AclKey {
                src: Ipv4Addr::from(rng.next() as u32),
                dst: Ipv4Addr::from(rng.next() as u32),
                sport: rng.next() as u16,
                dport: rng.next() as u16,
                proto: rng.next() as u8,
            }
        } else {
            let i = rng.below(rules.len() as u64) as usize;
            key_in_v4(rng, &rules[i])
        };
        let want = linear(rules, &k);
        assert_eq!(acl.classify_rule(&k), want, "key {k:?}");
        assert_eq!(acl.classify(&k), want.map(|i| rules[i].userdata));
        keys.push(k);
    }
    let want: Vec<_> = keys.iter().map(|k| acl.classify(k)).collect();
    // Both bulk paths: AVX-512 (where the CPU has it) and the portable scalar walk.
    for simd in [true, false] {
        acl.set_simd(simd);
        let mut out = vec![Some(0); keys.len()];
        let matched = acl.classify_bulk(&keys, &mut out);
        assert_eq!(out, want, "simd {}", acl.simd());
        assert_eq!(matched, want.iter().flatten().count());
    }
}

fn avx512_here() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[test]
fn simd_path_is_chosen_where_supported_and_can_be_turned_off() {
    let mut b = AclBuilder::new();
    b.add(AclRule::any(Ipv4Addr::UNSPECIFIED, 1, 7)).unwrap();
    let mut acl = b.build();
    assert_eq!(acl.simd(), avx512_here());
    assert!(!acl.set_simd(false));
    assert!(!acl.simd());
    assert_eq!(acl.set_simd(true), avx512_here());
    // IPv6 classifiers always walk with scalar code.
    let mut b6 = AclBuilder::new();
    b6.add(AclRule::any(Ipv6Addr::UNSPECIFIED, 1, 7)).unwrap();
    let mut acl6 = b6.build();
    assert!(!acl6.simd());
    assert!(!acl6.set_simd(true));
}

/// Bulk calls of every length around the vector widths and block sizes (lanes idle at the
/// end of a block, refills running out of keys) give the single-key answers.
#[test]
fn bulk_lengths_around_block_sizes() {
    let mut rng = Rng(0xb10c);
    let pool: Vec<u32> = (0..16).map(|_| rng.next() as u32).collect();
    let rules: Vec<_> = (0..2000)
        .map(|i| random_rule_v4(&mut rng, &pool, i))
        .collect();
    let mut b = AclBuilder::new();
    for r in &rules {
        b.add(*r).unwrap();
    }
    let mut acl = b.build();
    let keys: Vec<_> = (0..1100)
        .map(|_| {
            let i = rng.below(rules.len() as u64) as usize;
            key_in_v4(&mut rng, &rules[i])
        })
        .collect();
    let want: Vec<_> = keys.iter().map(|k| acl.classify(k)).collect();
    for simd in [true, false] {
        acl.set_simd(simd);
        for len in [0, 1, 7, 8, 9, 31, 32, 33, 255, 256, 257, 513, 1100] {
            let mut out = vec![Some(u32::MAX); len];
            let matched = acl.classify_bulk(&keys[..len], &mut out);
            assert_eq!(out, want[..len], "len {len} simd {simd}");
            assert_eq!(matched, want[..len].iter().flatten().count());
        }
        // A shorter output slice bounds the keys classified.
        let mut out = vec![None; 5];
        acl.classify_bulk(&keys, &mut out);
        assert_eq!(out, want[..5]);
    }
}

#[test]
fn random_v4_rule_sets_match_linear_scan() {
    let mut rng = Rng(0x5eed);
    for (nrules, lookups) in [(0, 100), (1, 200), (10, 2000), (100, 5000), (1000, 10_000)] {
        let pool: Vec<u32> = (0..8).map(|_| rng.next() as u32).collect();
        let rules: Vec<_> = (0..nrules)
            .map(|i| random_rule_v4(&mut rng, &pool, i))
            .collect();
        check_v4(&rules, &mut rng, lookups);
    }
}

#[test]
fn larger_rule_set_builds_and_matches() {
    let mut rng = Rng(42);
    let pool: Vec<u32> = (0..64).map(|_| rng.next() as u32).collect();
    let rules: Vec<_> = (0..1_500)
        .map(|i| random_rule_v4(&mut rng, &pool, i))
        .collect();
    check_v4(&rules, &mut rng, 1000);
}

#[test]
fn edge_cases() {
    let any = AclRule::any(Ipv4Addr::UNSPECIFIED, 0, 1);
    let host = |a: [u8; 4]| Ipv4Addr::from(a);
    let rules = vec![
        // Duplicates: the first added wins.
        AclRule {
            userdata: 10,
            priority: 5,
            ..any
        },
        AclRule {
            userdata: 11,
            priority: 5,
            ..any
        },
        // Port edges.
        AclRule {
            sport: (0, 0),
            priority: 7,
            userdata: 20,
            ..any
        },
        AclRule {
            dport: (65535, 65535),
            priority: 7,
            userdata: 21,
            ..any
        },
        // /32 and /0.
        AclRule {
            src: host([1, 2, 3, 4]),
            src_len: 32,
            priority: 9,
            userdata: 30,
            ..any
        },
        AclRule {
            dst: host([9, 9, 9, 9]),
            dst_len: 0,
            priority: 1,
            userdata: 31,
            ..any
        },
        // Protocol mask 0 (any) and partial mask.
        AclRule {
            proto: 200,
            proto_mask: 0,
            priority: 2,
            userdata: 40,
            ..any
        },
        AclRule {
            proto: 0x06,
            proto_mask: 0x0f,
            priority: 8,
            userdata: 41,
            ..any
        },
    ];
    let mut b = AclBuilder::new();
    for r in &rules {
        b.add(*r).unwrap();
    }
    let acl = b.build();
    let key = |src: [u8; 4], sport, dport, proto| AclKey {
        src: host(src),
        dst: host([5, 6, 7, 8]),
        sport,
        dport,
        proto,
    };
    assert_eq!(acl.classify(&key([7, 7, 7, 7], 1, 1, 17)), Some(10));
    assert_eq!(acl.classify(&key([7, 7, 7, 7], 0, 1, 17)), Some(20));
    assert_eq!(acl.classify(&key([7, 7, 7, 7], 1, 65535, 17)), Some(21));
    assert_eq!(acl.classify(&key([1, 2, 3, 4], 0, 65535, 17)), Some(30));
    assert_eq!(acl.classify(&key([7, 7, 7, 7], 5, 5, 0x16)), Some(41));
    assert_eq!(acl.classify(&key([7, 7, 7, 7], 5, 5, 0x17)), Some(10));
    for (i, k) in [key([7, 7, 7, 7], 1, 1, 17), key([1, 2, 3, 4], 0, 0, 6)]
        .iter()
        .enumerate()
    {
        assert_eq!(acl.classify_rule(k), linear(&rules, k), "case {i}");
    }
    // Empty rule set: nothing matches.
    let empty = AclBuilder::<Ipv4Addr>::new().build();
    assert!(empty.is_empty());
    assert_eq!(empty.classify(&key([1, 1, 1, 1], 1, 1, 1)), None);
    // Bad rules are typed errors.
    let mut b = AclBuilder::new();
    assert_eq!(
        b.add(AclRule { src_len: 33, ..any }),
        Err(AclError::PrefixLength { index: 0, len: 33 })
    );
    assert_eq!(
        b.add(AclRule {
            dport: (10, 9),
            ..any
        }),
        Err(AclError::PortRange {
            index: 0,
            lo: 10,
            hi: 9
        })
    );
}

#[test]
fn random_v6_rule_sets_match_linear_scan() {
    let mut rng = Rng(77);
    let pool: Vec<u128> = (0..6)
        .map(|_| u128::from(rng.next()) << 64 | u128::from(rng.next()))
        .collect();
    let mut rules = Vec::new();
    for i in 0..600 {
        let addr = |rng: &mut Rng| {
            let base = pool[rng.below(pool.len() as u64) as usize] ^ u128::from(rng.below(4096));
            let len = [0u8, 16, 32, 48, 64, 96, 120, 128][rng.below(8) as usize];
            (Ipv6Addr::from(base), len)
        };
        let (src, src_len) = addr(&mut rng);
        let (dst, dst_len) = addr(&mut rng);
        rules.push(AclRule {
            src,
            src_len,
            dst,
            dst_len,
            sport: port_range(&mut rng),
            dport: port_range(&mut rng),
            proto: [6u8, 17, 58][rng.below(3) as usize],
            proto_mask: [0u8, 0xff][rng.below(2) as usize],
            priority: rng.below(4) as u32,
            userdata: i,
        });
    }
    let mut b = AclBuilder::new();
    for r in &rules {
        b.add(*r).unwrap();
    }
    let acl = b.build();
    let mut keys = Vec::new();
    for _ in 0..5000 {
        let r = &rules[rng.below(rules.len() as u64) as usize];
        let inside = |rng: &mut Rng, a: Ipv6Addr, len: u8| {
            let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            let noise = u128::from(rng.next()) << 64 | u128::from(rng.next());
            Ipv6Addr::from((u128::from(a) & !host) | (noise & host))
        };
        let k = AclKey {
            src: inside(&mut rng, r.src, r.src_len),
            dst: inside(&mut rng, r.dst, r.dst_len),
            sport: r.sport.0,
            dport: r.dport.1,
            proto: if rng.below(5) == 0 {
                rng.next() as u8
            } else {
                r.proto
            },
        };
        assert_eq!(acl.classify_rule(&k), linear(&rules, &k), "key {k:?}");
        keys.push(k);
    }
    let mut out = vec![None; keys.len()];
    acl.classify_bulk(&keys, &mut out);
    assert_eq!(
        out,
        keys.iter().map(|k| acl.classify(k)).collect::<Vec<_>>()
    );
}

#[test]
fn dpdk_rule_and_trace_files_round_trip() {
    let mut rng = Rng(5);
    let pool: Vec<u32> = (0..4).map(|_| rng.next() as u32).collect();
    let rules: Vec<_> = (0..50)
        .map(|i| random_rule_v4(&mut rng, &pool, i))
        .collect();
    let text: String = rules
        .iter()
        .map(|r| dpdk_format::format_rule_v4(r) + "\n")
        .collect();
    let parsed = dpdk_format::parse_rules_v4(&format!("# comment\n\n{text}")).unwrap();
    assert_eq!(parsed.len(), rules.len());
    for (i, (p, r)) in parsed.iter().zip(&rules).enumerate() {
        assert_eq!(
            (p.src, p.src_len, p.dst, p.dst_len),
            (r.src, r.src_len, r.dst, r.dst_len)
        );
        assert_eq!(
            (p.sport, p.dport, p.proto, p.proto_mask),
            (r.sport, r.dport, r.proto, r.proto_mask)
        );
        assert_eq!(
            (p.userdata, p.priority),
            (i as u32 + 1, (rules.len() - i) as u32)
        );
    }
    let keys: Vec<_> = (0..20).map(|i| key_in_v4(&mut rng, &rules[i])).collect();
    let trace: String = keys
        .iter()
        .map(|k| dpdk_format::format_trace_v4(k) + "\n")
        .collect();
    assert_eq!(dpdk_format::parse_trace_v4(&trace).unwrap(), keys);
    assert!(matches!(
        dpdk_format::parse_rules_v4("@1.2.3.4/8 5.6.7.8/8 0 : 1 2 : 3"),
        Err(AclError::Parse { line: 1, .. })
    ));
    assert!(matches!(
        dpdk_format::parse_trace_v4("1 2 3 70000 6"),
        Err(AclError::Parse { line: 1, .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn proptest_small_rule_sets(seed in any::<u64>(), n in 0usize..40) {
        let mut rng = Rng(seed | 1);
        let pool: Vec<u32> = (0..3).map(|_| rng.next() as u32).collect();
        let rules: Vec<_> = (0..n).map(|i| random_rule_v4(&mut rng, &pool, i)).collect();
        check_v4(&rules, &mut rng, 300);
    }
}

/// Large random workload: 10,000 rules, a million lookups (release: seconds).
#[test]
#[ignore]
fn soak_million_lookups() {
    let mut rng = Rng(9);
    let pool: Vec<u32> = (0..200).map(|_| rng.next() as u32).collect();
    let rules: Vec<_> = (0..10_000)
        .map(|i| random_rule_v4(&mut rng, &pool, i))
        .collect();
    check_v4(&rules, &mut rng, 1_000_000);
}
