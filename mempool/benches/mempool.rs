//! Criterion benches: get+put of 32 objects with and without the per-lcore cache, mbuf bulk
//! alloc/free, and single alloc/free. The side-by-side comparison with DPDK is
//! `scripts/bench-vs-dpdk.sh mempool` (examples/mempool_perf.rs).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferroplane_mempool::{CACHE_MAX, HugePolicy, MbufBurst, Mempool, MempoolConfig, lcore};

fn pool(cache: usize) -> Mempool {
    Mempool::new(&MempoolConfig {
        cache_size: cache,
        hugepages: HugePolicy::Auto,
        ..MempoolConfig::new("bench", 4096)
    })
    .expect("pool")
}

fn benches(c: &mut Criterion) {
    if let Some(core) = core_affinity::get_core_ids().and_then(|ids| ids.first().copied()) {
        core_affinity::set_for_current(core);
    }
    let _lcore = lcore::register(0).expect("lcore 0");
    let mut g = c.benchmark_group("mempool");
    g.throughput(Throughput::Elements(32));
    for (name, cache) in [("cache", CACHE_MAX), ("no_cache", 0)] {
        let p = pool(cache);
        g.bench_function(format!("get_put_bulk32/{name}"), |b| {
            let mut idx = [0u32; 32];
            b.iter(|| {
                assert_eq!(p.alloc_chunks(black_box(&mut idx)), 32);
                // SAFETY: the indices were just taken from this pool and go back once.
                unsafe { p.free_chunks(black_box(&idx)) }.expect("own indices");
            })
        });
        g.bench_function(format!("mbuf_alloc_free_bulk32/{name}"), |b| {
            let mut burst = MbufBurst::new();
            b.iter(|| {
                assert_eq!(p.alloc_bulk(black_box(&mut burst), 32), 32);
                burst.clear();
            })
        });
        assert_eq!(p.in_use(), 0);
    }
    g.throughput(Throughput::Elements(1));
    for (name, cache) in [("cache", CACHE_MAX), ("no_cache", 0)] {
        let p = pool(cache);
        g.bench_function(format!("mbuf_alloc_free_single/{name}"), |b| {
            b.iter(|| drop(black_box(p.alloc().expect("mbuf"))))
        });
        assert_eq!(p.in_use(), 0);
    }
    g.finish();
}

criterion_group!(mempool, benches);
criterion_main!(mempool);
