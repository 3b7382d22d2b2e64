//! Exact-match table: single and bulk lookups, hits and misses, in a table of 2^20 slots
//! filled with 900,000 IPv4 5-tuples (the full 1M-key run with cycle counts is
//! `examples/hash_perf.rs`, used by `scripts/bench/hash.sh`).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferroplane_classify::hash::ExactMatchTable;
use ferroplane_classify::key::Ipv4FiveTuple;
use std::hint::black_box;
use std::net::Ipv4Addr;

fn tuple(i: u64) -> Ipv4FiveTuple {
    let r = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    Ipv4FiveTuple::new(
        Ipv4Addr::from((r >> 32) as u32),
        Ipv4Addr::from(r as u32),
        (i >> 16) as u16,
        i as u16,
        6,
    )
}

fn bench(c: &mut Criterion) {
    let n = 900_000u64;
    let table = ExactMatchTable::<Ipv4FiveTuple, u64>::new(1 << 20).unwrap();
    for i in 0..n {
        table.insert(tuple(i), i).unwrap();
    }
    // Pseudo-random visiting order.
    let hits: Vec<_> = (0..4096u64).map(|i| tuple((i * 7_919_993) % n)).collect();
    let misses: Vec<_> = (0..4096u64).map(|i| tuple(n + i * 13)).collect();
    let mut g = c.benchmark_group("exact_match_1M");
    g.throughput(Throughput::Elements(hits.len() as u64));
    for (name, keys) in [("hit", &hits), ("miss", &misses)] {
        g.bench_function(format!("lookup_{name}"), |b| {
            b.iter(|| {
                let mut found = 0;
                for k in keys.iter() {
                    found += usize::from(table.lookup(black_box(k)).is_some());
                }
                found
            })
        });
        g.bench_function(format!("bulk32_{name}"), |b| {
            let mut out = [None; 32];
            b.iter(|| {
                let mut found = 0;
                for chunk in keys.chunks(32) {
                    found += table.lookup_bulk(black_box(chunk), &mut out);
                }
                found
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
