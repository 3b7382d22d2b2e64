//! Criterion benches: IPv4 single and bulk lookups (each implementation) and IPv6 lookups over a
//! table with a realistic prefix-length mix. The DPDK comparison is `scripts/bench/lpm.sh`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferroplane_lpm::{LookupImpl, Lpm4, Lpm6, LpmConfig, NO_ROUTE};

/// xorshift64*: deterministic addresses without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Depth mix of a real IPv4 table (mostly /24, then /16-/23, a few longer).
const DEPTH_MIX4: &[(u8, u32)] = &[
    (8, 20),
    (12, 60),
    (16, 7_000),
    (18, 2_400),
    (19, 7_000),
    (20, 6_200),
    (22, 7_200),
    (23, 8_500),
    (24, 58_000),
    (26, 560),
    (28, 700),
    (29, 1_300),
    (32, 100),
];

fn table4() -> Lpm4 {
    let cfg = LpmConfig {
        max_rules: 200_000,
        tbl8_groups: 4096,
        ..LpmConfig::default()
    };
    let mut lpm = Lpm4::new(&cfg).expect("table");
    let mut rng = Rng(0x1234_5678);
    for &(depth, count) in DEPTH_MIX4 {
        for _ in 0..count {
            let ip = (rng.next() >> 32) as u32 & 0xdfff_ffff;
            let _ = lpm.add(ip, depth, (rng.next() & 0xffff) as u32);
        }
    }
    lpm
}

fn bench_v4(c: &mut Criterion) {
    let lpm = table4();
    let mut rng = Rng(99);
    let ips: Vec<u32> = (0..4096).map(|_| (rng.next() >> 32) as u32).collect();
    let mut g = c.benchmark_group("lpm4");
    g.throughput(Throughput::Elements(ips.len() as u64));
    g.bench_function("single", |b| {
        b.iter(|| {
            let mut miss = 0u32;
            for &ip in &ips {
                miss += u32::from(lpm.lookup(black_box(ip)).is_none());
            }
            miss
        })
    });
    for (name, imp) in [
        ("bulk32_scalar", LookupImpl::Scalar),
        ("bulk32_avx2", LookupImpl::Avx2),
        ("bulk32_avx512", LookupImpl::Avx512),
    ] {
        if !imp.is_available() {
            continue;
        }
        g.bench_function(name, |b| {
            let mut out = [0u32; 32];
            b.iter(|| {
                let mut miss = 0u32;
                for chunk in ips.chunks_exact(32) {
                    lpm.lookup_bulk_with(imp, black_box(chunk), &mut out);
                    miss += out.iter().filter(|&&nh| nh == NO_ROUTE).count() as u32;
                }
                miss
            })
        });
    }
    g.finish();
}

fn bench_v6(c: &mut Criterion) {
    let mut lpm = Lpm6::new(&LpmConfig {
        tbl8_groups: 65_536,
        ..LpmConfig::default()
    })
    .expect("table");
    let mut rng = Rng(7);
    let mut routes = Vec::new();
    for i in 0..1000u32 {
        let depth = [32u8, 40, 48, 48, 56, 64, 64, 128][i as usize % 8];
        let mut ip = [0u8; 16];
        ip[..8].copy_from_slice(&rng.next().to_be_bytes());
        ip[8..].copy_from_slice(&rng.next().to_be_bytes());
        ip[0] = 0x20;
        lpm.add(&ip, depth, i).expect("add");
        routes.push(ip);
    }
    let ips: Vec<[u8; 16]> = (0..4096).map(|i| routes[i % routes.len()]).collect();
    let mut g = c.benchmark_group("lpm6");
    g.throughput(Throughput::Elements(ips.len() as u64));
    g.bench_function("single", |b| {
        b.iter(|| {
            ips.iter()
                .filter(|ip| lpm.lookup(black_box(ip)).is_some())
                .count()
        })
    });
    g.bench_function("bulk", |b| {
        let mut out = vec![0u32; ips.len()];
        b.iter(|| lpm.lookup_bulk(black_box(&ips), &mut out))
    });
    g.finish();
}

criterion_group!(benches, bench_v4, bench_v6);
criterion_main!(benches);
