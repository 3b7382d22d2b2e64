//! Exact-match lookup cost with one million IPv4 5-tuple keys (by default), in TSC cycles per
//! lookup, printed as `name<TAB>cycles` lines for `scripts/bench/hash.sh`:
//!
//! `cargo run --release -p ferroplane-classify --example hash_perf [-- KEYS [ENTRIES]]`
//!
//! Hits are looked up in a random order among the inserted keys, misses among keys never
//! inserted; single lookups call `lookup` per key, bulk ones `lookup_bulk` with 32 keys.
//! Adds go through an `ExactMatchWriter` (the single writer's lock-free handle); besides
//! TSC cycles per add, the add's thread CPU time is printed (immune to preemption).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

use ferroplane_classify::hash::ExactMatchTable;
use ferroplane_classify::key::Ipv4FiveTuple;

fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: RDTSC is available on every x86_64 CPU and has no memory effects.
    unsafe {
        std::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Instant::now().elapsed().as_nanos() as u64
    }
}

/// Nanoseconds of CPU time used by the calling thread.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[path = "../tests/common/rng.rs"]
mod rng;
use rng::Rng;

fn tuple(r: &mut Rng) -> Ipv4FiveTuple {
    let a = r.next();
    let b = r.next();
    Ipv4FiveTuple::new(
        Ipv4Addr::from(a as u32),
        Ipv4Addr::from((a >> 32) as u32),
        b as u16,
        (b >> 16) as u16,
        [6, 17][(b >> 40) as usize & 1],
    )
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("arguments: KEYS [ENTRIES] as integers"))
        .collect();
    let nkeys = args.first().copied().unwrap_or(1_000_000);
    let entries = args.get(1).copied().unwrap_or(1 << 20);
    let table = ExactMatchTable::<Ipv4FiveTuple, u64>::new(entries).expect("table");
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut keys = Vec::with_capacity(nkeys);
    let t = Instant::now();
    let cpu0 = thread_cpu_ns();
    let c0 = rdtsc();
    // The single writer holds the write handle (no lock per insert), as a control thread
    // filling a table would.
    let mut writer = table.writer();
    while keys.len() < nkeys {
        let k = tuple(&mut rng);
        match writer.insert(k, keys.len() as u64) {
            Ok(None) => keys.push(k),
            Ok(Some(_)) => {}
            Err(e) => {
                eprintln!("hash_perf: stopped at {} keys: {e}", keys.len());
                break;
            }
        }
    }
    drop(writer);
    let add_cycles = (rdtsc() - c0) as f64 / keys.len() as f64;
    let add_cpu_ns = (thread_cpu_ns() - cpu0) as f64 / keys.len() as f64;
    eprintln!(
        "hash_perf: {} keys in {} slots (load {:.1}%), memory {:.1} MiB, inserted in {:.2?}",
        keys.len(),
        table.slots(),
        100.0 * keys.len() as f64 / table.slots() as f64,
        table.memory_bytes() as f64 / (1 << 20) as f64,
        t.elapsed()
    );
    let lookups = 5 * keys.len();
    // Random order among the keys (a permutation-like stream, like hash_perf's shuffles).
    let hits: Vec<Ipv4FiveTuple> = (0..lookups)
        .map(|_| keys[(rng.next() % keys.len() as u64) as usize])
        .collect();
    let misses: Vec<Ipv4FiveTuple> = (0..lookups)
        .map(|_| {
            let mut k = tuple(&mut rng);
            while table.contains(&k) {
                k = tuple(&mut rng);
            }
            k
        })
        .collect();
    let single = |set: &[Ipv4FiveTuple]| {
        let c0 = rdtsc();
        let mut found = 0usize;
        for k in set {
            found += usize::from(table.lookup(black_box(k)).is_some());
        }
        ((rdtsc() - c0) as f64 / set.len() as f64, found)
    };
    let bulk = |set: &[Ipv4FiveTuple], burst: usize| {
        let mut out = vec![None; burst];
        let c0 = rdtsc();
        let mut found = 0usize;
        for chunk in set.chunks(burst) {
            found += table.lookup_bulk(black_box(chunk), &mut out);
        }
        ((rdtsc() - c0) as f64 / set.len() as f64, found)
    };
    let mut rows = Vec::new();
    for (name, set, want) in [("hit", &hits, lookups), ("miss", &misses, 0)] {
        let (c, f) = single(set);
        assert_eq!(f, want, "{name}: wrong number of hits");
        rows.push((
            format!("5-tuple 13B, {} keys, lookup {name}", keys.len()),
            c,
        ));
        for burst in [16, 32] {
            let (c, f) = bulk(set, burst);
            assert_eq!(f, want, "{name}: wrong number of bulk hits");
            rows.push((
                format!("5-tuple 13B, {} keys, bulk{burst} {name}", keys.len()),
                c,
            ));
        }
    }
    rows.push((format!("5-tuple 13B, {} keys, add", keys.len()), add_cycles));
    // CPU time of this thread only: not inflated by time the thread was preempted on a
    // loaded machine (the TSC figure above is).
    rows.push((
        format!("5-tuple 13B, {} keys, add thread-cpu-ns", keys.len()),
        add_cpu_ns,
    ));
    for (name, c) in rows {
        println!("{name}\t{c:.1}");
    }
    println!("memory_bytes\t{}", table.memory_bytes());
}
