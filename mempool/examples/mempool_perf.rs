//! Mempool throughput in the shape of DPDK's `mempool_perf_autotest`, for
//! `scripts/bench/mempool.sh`.
//!
//! Each lcore takes `n_keep` objects in bulks of `n_get_bulk`, then puts them back in bulks of
//! `n_put_bulk`, 65536 objects per loop, for a fixed time; the rate is objects taken and returned
//! per second of thread CPU time (summed over cores; CPU time rather than wall time so that other
//! processes on a shared machine do not count against us). Raw objects are chunk indices (`alloc_chunks`/`free_chunks`,
//! what rte_mempool_generic_get/put move); the `mbuf` cases allocate and free whole mbufs.
//!
//! Output, one line per case:
//! `mempool_perf kind=<raw|mbuf> cache=<n> cores=<n> n_get_bulk=<n> n_put_bulk=<n> n_keep=<n> rate_persec=<n>`
//!
//! Usage: `mempool_perf [seconds per case, default 2]`; `MEMPOOL_PERF_CASES=quick` runs fewer,
//! `MEMPOOL_PERF_FILTER=<substring of the case>` only the matching ones.

use std::sync::{Arc, Barrier};

use ferroplane_mempool::{CACHE_MAX, HugePolicy, MbufBurst, Mempool, MempoolConfig, lcore};

const N: usize = 65536;
const MAX_KEEP: usize = 128;

#[derive(Clone, Copy)]
enum Kind {
    Raw,
    Mbuf,
}

/// CPU time consumed by the calling thread, in seconds.
fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn loop_raw(pool: &Mempool, keep: usize, get: usize, put: usize) {
    let mut table = [0u32; MAX_KEEP];
    for _ in 0..N / keep {
        for chunk in table[..keep].chunks_mut(get) {
            assert_eq!(pool.alloc_chunks(chunk), chunk.len(), "pool exhausted");
        }
        for chunk in table[..keep].chunks(put) {
            // SAFETY: every index was just taken by alloc_chunks and is given back once.
            unsafe { pool.free_chunks(chunk) }.expect("indices from this pool");
        }
    }
}

fn loop_mbuf(pool: &Mempool, keep: usize, get: usize) {
    let mut bursts: [MbufBurst; MAX_KEEP / 32] = Default::default();
    let per = 32usize.min(keep);
    for _ in 0..N / keep {
        for b in bursts.iter_mut().take(keep / per) {
            if get == 1 {
                for _ in 0..per {
                    let m = pool.alloc().expect("pool exhausted");
                    let _ = b.push(m);
                }
            } else {
                assert_eq!(pool.alloc_bulk(b, per), per, "pool exhausted");
            }
        }
        for b in bursts.iter_mut().take(keep / per) {
            if get == 1 {
                while let Some(m) = b.pop() {
                    drop(m);
                }
            } else {
                b.clear();
            }
        }
    }
}

fn run_case(
    kind: Kind,
    cache: usize,
    cores: usize,
    keep: usize,
    get: usize,
    put: usize,
    secs: f64,
) -> u64 {
    let count = cores * (MAX_KEEP + CACHE_MAX * 3) - 1;
    let pool = Mempool::new(&MempoolConfig {
        cache_size: cache,
        hugepages: HugePolicy::Auto,
        ..MempoolConfig::new("perf", count)
    })
    .expect("create pool");
    let barrier = Arc::new(Barrier::new(cores));
    let core_ids = core_affinity::get_core_ids().unwrap_or_default();
    let handles: Vec<_> = (0..cores)
        .map(|c| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            let core = core_ids.get(c).copied();
            std::thread::spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                let _lcore = lcore::register(c as u32).expect("lcore id");
                barrier.wait();
                let start = thread_cpu_secs();
                let mut objects = 0u64;
                while thread_cpu_secs() - start < secs {
                    match kind {
                        Kind::Raw => loop_raw(&pool, keep, get, put),
                        Kind::Mbuf => loop_mbuf(&pool, keep, get),
                    }
                    objects += N as u64;
                }
                (objects as f64 / (thread_cpu_secs() - start)) as u64
            })
        })
        .collect();
    let rate = handles.into_iter().map(|h| h.join().expect("worker")).sum();
    assert_eq!(pool.in_use(), 0);
    rate
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let quick = std::env::var("MEMPOOL_PERF_CASES").is_ok_and(|v| v == "quick");
    let mut cases: Vec<(Kind, usize, usize, usize, usize)> = vec![
        // kind, cache, cores, keep, bulk
        (Kind::Raw, CACHE_MAX, 1, 32, 32),
        (Kind::Raw, 0, 1, 32, 32),
        (Kind::Raw, CACHE_MAX, 1, 32, 1),
        (Kind::Mbuf, CACHE_MAX, 1, 32, 32),
        (Kind::Mbuf, CACHE_MAX, 1, 32, 1),
    ];
    if !quick {
        cases.extend([
            (Kind::Raw, CACHE_MAX, 1, 128, 32),
            (Kind::Raw, 0, 1, 32, 1),
            (Kind::Raw, CACHE_MAX, 2, 32, 32),
            (Kind::Raw, 0, 2, 32, 32),
        ]);
    }
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let filter = std::env::var("MEMPOOL_PERF_FILTER").unwrap_or_default();
    for (kind, cache, cores, keep, bulk) in cases {
        let name = match kind {
            Kind::Raw => "raw",
            Kind::Mbuf => "mbuf",
        };
        let case = format!(
            "kind={name} cache={cache} cores={cores} n_get_bulk={bulk} n_put_bulk={bulk} n_keep={keep}"
        );
        if cores > ncpu || !case.contains(&filter) {
            continue;
        }
        let rate = run_case(kind, cache, cores, keep, bulk, bulk, secs);
        println!("mempool_perf {case} rate_persec={rate}");
    }
}
