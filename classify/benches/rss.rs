//! Toeplitz hash: table-driven fast path against the bit-by-bit reference.
use criterion::{Criterion, criterion_group, criterion_main};
use ferroplane_classify::rss::{MICROSOFT_RSS_KEY, RssKey, toeplitz_hash, toeplitz_hash_bitwise};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let key = RssKey::microsoft();
    let v4 = [10u8, 0, 0, 1, 192, 168, 1, 1, 0x30, 0x39, 0, 80];
    let v6 = [0x5au8; 36];
    c.bench_function("toeplitz_table_ipv4_4tuple", |b| {
        b.iter(|| toeplitz_hash(&key, black_box(&v4)))
    });
    c.bench_function("toeplitz_table_ipv6_4tuple", |b| {
        b.iter(|| toeplitz_hash(&key, black_box(&v6)))
    });
    c.bench_function("toeplitz_bitwise_ipv4_4tuple", |b| {
        b.iter(|| toeplitz_hash_bitwise(&MICROSOFT_RSS_KEY, black_box(&v4)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
