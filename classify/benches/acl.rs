//! ACL: build time and bulk/single classification for random IPv4 rule sets of 1,000 and
//! 10,000 rules, bulk with AVX-512 (where available) and with the scalar path (the DPDK
//! side-by-side run is `scripts/bench/acl.sh`).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferroplane_classify::acl::{AclBuilder, AclKey, AclKeyV4, AclRule, AclRuleV4};
use std::hint::black_box;
use std::net::Ipv4Addr;

#[path = "../tests/common/rng.rs"]
mod rng;
use rng::Rng;

fn rules(n: usize, rng: &mut Rng) -> Vec<AclRuleV4> {
    let nets: Vec<u32> = (0..n / 20 + 4).map(|_| rng.next() as u32).collect();
    (0..n)
        .map(|i| {
            let mut prefix = || {
                let len = [0u8, 8, 16, 20, 24, 24, 28, 32][(rng.next() % 8) as usize];
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                let net = nets[(rng.next() % nets.len() as u64) as usize];
                (Ipv4Addr::from(net & mask), len)
            };
            let (src, src_len) = prefix();
            let (dst, dst_len) = prefix();
            let dp = [80u16, 443, 53, 22][(rng.next() % 4) as usize];
            AclRule {
                src,
                src_len,
                dst,
                dst_len,
                sport: (0, 65535),
                dport: if rng.next() % 3 == 0 {
                    (1024, 65535)
                } else {
                    (dp, dp)
                },
                proto: 6,
                proto_mask: if rng.next() % 4 == 0 { 0 } else { 0xff },
                priority: (n - i) as u32,
                userdata: i as u32 + 1,
            }
        })
        .collect()
}

fn keys(rules: &[AclRuleV4], rng: &mut Rng) -> Vec<AclKeyV4> {
    (0..4096)
        .map(|_| {
            let r = &rules[(rng.next() % rules.len() as u64) as usize];
            let host = u32::MAX.checked_shr(u32::from(r.src_len)).unwrap_or(0);
            let dhost = u32::MAX.checked_shr(u32::from(r.dst_len)).unwrap_or(0);
            AclKey {
                src: Ipv4Addr::from(u32::from(r.src) | (rng.next() as u32 & host)),
                dst: Ipv4Addr::from(u32::from(r.dst) | (rng.next() as u32 & dhost)),
                sport: rng.next() as u16,
                dport: r.dport.0,
                proto: 6,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x5eed);
    for n in [1_000usize, 10_000] {
        let rs = rules(n, &mut rng);
        let mut builder = AclBuilder::new();
        for r in &rs {
            builder.add(*r).unwrap();
        }
        let mut g = c.benchmark_group(format!("acl_{n}"));
        g.sample_size(10);
        g.bench_function("build", |b| b.iter(|| black_box(builder.build())));
        let acl = builder.build();
        let ks = keys(&rs, &mut rng);
        g.throughput(Throughput::Elements(ks.len() as u64));
        g.bench_function("classify_single", |b| {
            b.iter(|| {
                ks.iter()
                    .filter(|k| acl.classify(black_box(k)).is_some())
                    .count()
            })
        });
        g.bench_function("classify_bulk", |b| {
            let mut out = vec![None; 256];
            b.iter(|| {
                ks.chunks(256)
                    .map(|c| acl.classify_bulk(black_box(c), &mut out))
                    .sum::<usize>()
            })
        });
        // The portable path (what CPUs without AVX-512 run).
        let mut scalar = acl.clone();
        scalar.set_simd(false);
        g.bench_function("classify_bulk_scalar", |b| {
            let mut out = vec![None; 256];
            b.iter(|| {
                ks.chunks(256)
                    .map(|c| scalar.classify_bulk(black_box(c), &mut out))
                    .sum::<usize>()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
