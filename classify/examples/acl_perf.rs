//! ACL rule-set generator and classification cost, for `scripts/bench/acl.sh`.
//!
//! ```text
//! acl_perf gen RULES TRACES SEED RULES_FILE TRACE_FILE   # ClassBench-style files (dpdk-test-acl format)
//! acl_perf run RULES_FILE TRACE_FILE [ITER]              # build, classify, print cycles/pkt
//! acl_perf dump RULES_FILE TRACE_FILE                     # per-key results, as dpdk-test-acl prints them
//! ```
//!
//! `run` classifies the whole trace `ITER` times in calls of 256 keys (like `dpdk-test-acl`'s
//! default `--tracestep`), and prints `build_ms`, `memory_bytes`, `bulk_cycles_per_pkt`,
//! `single_cycles_per_pkt` (each the average over all passes, the first one cold, as
//! `dpdk-test-acl` measures), `bulk_best_pass_cycles_per_pkt` (the fastest single pass: the
//! least disturbed by other load), `bulk_passes_cycles_per_pkt` (every pass, in order),
//! `simd` (1 when bulk classification uses AVX-512), walk statistics and a checksum of the
//! results, one `name<TAB>value` per line. `FERROPLANE_ACL_SCALAR=1` in the environment
//! forces the portable scalar walk and leaf scan, and `FERROPLANE_ACL_LEAF_RULES=N` fixes the
//! leaf size (otherwise chosen by the builder), for comparison.

use std::net::Ipv4Addr;
use std::time::Instant;

use ferroplane_classify::acl::{AclBuilder, AclKey, AclKeyV4, AclRule, AclRuleV4, dpdk_format};

fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: RDTSC is available on every x86_64 CPU and has no memory effects.
    unsafe {
        std::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

#[path = "../tests/common/rng.rs"]
mod rng;
use rng::Rng;

/// A ClassBench-like ACL rule: prefixes from a pool of networks with a realistic length
/// mix, source ports mostly wildcard, destination ports exact, well-known ranges or
/// wildcard, TCP/UDP/any.
fn gen_rule(rng: &mut Rng, nets: &[u32]) -> AclRuleV4 {
    let prefix = |rng: &mut Rng| {
        let len = match rng.below(100) {
            0..=9 => 0u8,
            10..=24 => 8 + rng.below(9) as u8,
            25..=59 => 16 + rng.below(9) as u8,
            60..=89 => 24 + rng.below(8) as u8,
            _ => 32,
        };
        let net = nets[rng.below(nets.len() as u64) as usize] ^ (rng.next() as u32 & 0xffff);
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        (Ipv4Addr::from(net & mask), len)
    };
    let (src, src_len) = prefix(rng);
    let (dst, dst_len) = prefix(rng);
    let sport = match rng.below(10) {
        0..=7 => (0, 65535),
        8 => (1024, 65535),
        _ => {
            let p = rng.below(65536) as u16;
            (p, p)
        }
    };
    let dport = match rng.below(20) {
        0..=4 => (0, 65535),
        5..=12 => {
            let p = [80u16, 443, 53, 22, 25, 123, 8080, 3306][rng.below(8) as usize];
            (p, p)
        }
        13..=15 => (1024, 65535),
        16..=17 => {
            let p = rng.below(65536) as u16;
            (p, p)
        }
        _ => {
            let a = rng.below(65536) as u16;
            let b = rng.below(65536) as u16;
            (a.min(b), a.max(b))
        }
    };
    let (proto, proto_mask) = match rng.below(10) {
        0..=5 => (6, 0xff),
        6..=8 => (17, 0xff),
        _ => (0, 0),
    };
    AclRule {
        src,
        src_len,
        dst,
        dst_len,
        sport,
        dport,
        proto,
        proto_mask,
        priority: 0,
        userdata: 0,
    }
}

fn gen_key(rng: &mut Rng, rules: &[AclRuleV4]) -> AclKeyV4 {
    if rng.below(10) == 0 {
        return AclKey {
            src: Ipv4Addr::from(rng.next() as u32),
            dst: Ipv4Addr::from(rng.next() as u32),
            sport: rng.next() as u16,
            dport: rng.next() as u16,
            proto: [6, 17, 1][rng.below(3) as usize],
        };
    }
    let r = &rules[rng.below(rules.len() as u64) as usize];
    let inside = |rng: &mut Rng, a: Ipv4Addr, len: u8| {
        let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        Ipv4Addr::from((u32::from(a) & !host) | (rng.next() as u32 & host))
    };
    let port = |rng: &mut Rng, (lo, hi): (u16, u16)| lo + rng.below(u64::from(hi - lo) + 1) as u16;
    AclKey {
        src: inside(rng, r.src, r.src_len),
        dst: inside(rng, r.dst, r.dst_len),
        sport: port(rng, r.sport),
        dport: port(rng, r.dport),
        proto: if r.proto_mask == 0 {
            [6, 17][rng.below(2) as usize]
        } else {
            r.proto
        },
    }
}

fn die(msg: String) -> ! {
    eprintln!("acl_perf: {msg}");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> u64 {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| {
            die(format!(
                "argument {i} must be an integer: {:?}",
                args.get(i)
            ))
        })
    };
    match args.first().map(String::as_str) {
        Some("gen") if args.len() == 6 => {
            let (nrules, ntraces, seed) = (num(1) as usize, num(2) as usize, num(3));
            let mut rng = Rng(seed | 1);
            let nets: Vec<u32> = (0..(nrules / 20).max(4)).map(|_| rng.next() as u32).collect();
            let rules: Vec<_> = (0..nrules).map(|_| gen_rule(&mut rng, &nets)).collect();
            let text: String = rules.iter().map(|r| dpdk_format::format_rule_v4(r) + "\n").collect();
            std::fs::write(&args[4], text).unwrap_or_else(|e| die(format!("{}: {e}", args[4])));
            let trace: String = (0..ntraces)
                .map(|_| dpdk_format::format_trace_v4(&gen_key(&mut rng, &rules)) + "\n")
                .collect();
            std::fs::write(&args[5], trace).unwrap_or_else(|e| die(format!("{}: {e}", args[5])));
        }
        Some("dump") if args.len() == 3 => {
            // One line per trace key: the matching rule's 0-based line index, or 4294967295
            // for no match (what `dpdk-test-acl --verbose=3` prints as "result").
            let read = |p: &str| std::fs::read_to_string(p).unwrap_or_else(|e| die(format!("{p}: {e}")));
            let rules = dpdk_format::parse_rules_v4(&read(&args[1])).unwrap_or_else(|e| die(e.to_string()));
            let keys = dpdk_format::parse_trace_v4(&read(&args[2])).unwrap_or_else(|e| die(e.to_string()));
            let mut b = AclBuilder::new();
            for r in rules {
                b.add(r).unwrap_or_else(|e| die(e.to_string()));
            }
            let acl = b.build();
            for k in &keys {
                println!("{}", acl.classify(k).unwrap_or(0).wrapping_sub(1));
            }
        }
        Some("run") if args.len() >= 3 => {
            let iters = if args.len() > 3 { num(3) as usize } else { 1 };
            let read = |p: &str| std::fs::read_to_string(p).unwrap_or_else(|e| die(format!("{p}: {e}")));
            let rules = dpdk_format::parse_rules_v4(&read(&args[1])).unwrap_or_else(|e| die(e.to_string()));
            let keys = dpdk_format::parse_trace_v4(&read(&args[2])).unwrap_or_else(|e| die(e.to_string()));
            let t = Instant::now();
            let mut b = AclBuilder::new();
            if let Some(n) = std::env::var("FERROPLANE_ACL_LEAF_RULES").ok().and_then(|v| v.parse().ok()) {
                b.set_leaf_rules(Some(n));
            }
            for r in rules {
                b.add(r).unwrap_or_else(|e| die(e.to_string()));
            }
            let mut acl = b.build();
            let build = t.elapsed();
            if std::env::var_os("FERROPLANE_ACL_SCALAR").is_some_and(|v| v == "1") {
                acl.set_simd(false);
            }
            let stats = acl.stats();
            let mut out = vec![None; 256];
            let mut sum = 0u64;
            // Like dpdk-test-acl: no warm-up, the average over all passes.
            let c0 = rdtsc();
            let mut best_pass = f64::MAX;
            let mut passes = Vec::with_capacity(iters);
            for _ in 0..iters {
                let p0 = rdtsc();
                for c in keys.chunks(256) {
                    acl.classify_bulk(c, &mut out);
                    sum += out[..c.len()].iter().map(|o| u64::from(o.unwrap_or(0))).sum::<u64>();
                }
                let pass = (rdtsc() - p0) as f64 / keys.len() as f64;
                passes.push(format!("{pass:.1}"));
                best_pass = best_pass.min(pass);
            }
            let bulk = (rdtsc() - c0) as f64 / (iters * keys.len()) as f64;
            let c0 = rdtsc();
            let mut sum1 = 0u64;
            for _ in 0..iters {
                for k in &keys {
                    sum1 += u64::from(acl.classify(std::hint::black_box(k)).unwrap_or(0));
                }
            }
            let single = (rdtsc() - c0) as f64 / (iters * keys.len()) as f64;
            assert_eq!(sum, sum1, "bulk and single classification disagree");
            println!("build_ms\t{:.1}", build.as_secs_f64() * 1e3);
            println!("memory_bytes\t{}", stats.memory_bytes);
            println!("simd\t{}", u8::from(acl.simd()));
            println!("nodes\t{}\nleaves\t{}\nleaf_rule_refs\t{}\nmax_leaf_rules\t{}", stats.nodes, stats.leaves, stats.leaf_rule_refs, stats.max_leaf_rules);
            let prof = acl.profile(&keys);
            let per = |x: usize| x as f64 / prof.keys.max(1) as f64;
            println!(
                "nodes_per_pkt\t{:.2}\nmax_depth\t{}\nleaf_rules_per_pkt\t{:.2}\nrules_compared_per_pkt\t{:.2}",
                per(prof.nodes_visited),
                prof.max_depth,
                per(prof.leaf_rules),
                per(prof.rules_compared)
            );
            println!("bulk_cycles_per_pkt\t{bulk:.1}");
            println!("single_cycles_per_pkt\t{single:.1}");
            // The least disturbed pass (the machine may be shared).
            println!("bulk_best_pass_cycles_per_pkt\t{best_pass:.1}");
            println!("bulk_passes_cycles_per_pkt\t{}", passes.join(" "));
            println!("checksum\t{sum}");
        }
        _ => die("usage: acl_perf gen RULES TRACES SEED RULES_FILE TRACE_FILE | acl_perf run RULES_FILE TRACE_FILE [ITER] | acl_perf dump RULES_FILE TRACE_FILE".into()),
    }
}
