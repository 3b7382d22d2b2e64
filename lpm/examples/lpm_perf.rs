//! Release-mode perf test mirroring DPDK's `lpm_perf_autotest`, `fib_perf_autotest` and
//! `lpm6_perf_autotest`, in TSC cycles. Used by `scripts/bench/lpm.sh`.
//!
//! ```text
//! lpm_perf v4 [--groups N] [--dist FILE]   # ~1.07M routes, DPDK's depth mix
//! lpm_perf v6 --dist FILE                  # ~1000 random routes, 100000 random addresses
//! ```
//! `--dist FILE`: the "Route distribution per prefix width" lines of DPDK's output
//! (`DEPTH COUNT (PERCENT)`), to build a table with exactly that depth mix.
//! Prints `name<TAB>value` lines: add, lookup, bulk, bulk_scalar, bulk_avx2, bulk_avx512, x8,
//! delete (cycles per route or lookup), add_cpu_ns and delete_cpu_ns (thread CPU time per
//! route, immune to preemption), plus routes, added, fails_pct, memory figures. IPv4 routes are
//! added and deleted in DPDK's generation order (depth by depth, each depth's prefixes in
//! ascending steps), as its tests do; v4 also prints add_random_order and
//! delete_random_order (and their _cpu_ns) for the same routes in a random order.

use std::process::ExitCode;

use ferroplane_lpm::{LookupImpl, Lpm4, Lpm6, LpmConfig, NO_ROUTE};

const ITERATIONS: usize = 1 << 10;
const BATCH: usize = 1 << 12;
const BULK: usize = 32;

/// Per-depth route counts (/1../32) of the table `lpm_perf_autotest` generates (its printed
/// distribution on this machine, 1,076,806 routes).
const DEFAULT_DIST4: [u32; 32] = [
    0, 0, 1, 0, 3, 2, 4, 201, 37, 55, 97, 381, 775, 2104, 3712, 69319, 12983, 23667, 69068, 62354,
    48531, 72355, 85427, 583900, 2654, 5650, 6467, 7127, 12936, 5999, 13, 984,
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[inline(always)]
fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86_64.
        unsafe { std::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }
}

/// Nanoseconds of CPU time used by the calling thread (not inflated by time the thread was
/// preempted on a loaded machine, as the TSC figures are).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn parse_dist(path: &str, max_depth: usize) -> Result<Vec<u32>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut dist = vec![0u32; max_depth];
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3
            && f[2].starts_with('(')
            && let (Ok(d), Ok(n)) = (f[0].parse::<usize>(), f[1].parse::<u32>())
            && (1..=max_depth).contains(&d)
        {
            dist[d - 1] = n;
        }
    }
    if dist.iter().all(|&n| n == 0) {
        return Err(format!("{path}: no distribution lines"));
    }
    Ok(dist)
}

/// Routes with the given per-depth counts, in the style of DPDK's generator: for each depth
/// (shortest first), evenly spread prefixes from a random start, over unicast space (first
/// octet below 224), in that order, which is the order `lpm_perf_autotest` and
/// `fib_perf_autotest` add and delete their table in (see [`shuffled`] for a random order).
fn routes4(dist: &[u32], rng: &mut Rng) -> Vec<(u32, u8)> {
    let mut routes = Vec::new();
    for (i, &n) in dist.iter().enumerate() {
        let depth = i as u8 + 1;
        if n == 0 {
            continue;
        }
        // Prefixes of `depth` bits whose first 3 bits are not 111.
        let range = (1u64 << depth) - (1u64 << depth.saturating_sub(3));
        let range = range.max(1);
        let step = ((range as f64 / f64::from(n)).round() as u64).max(1);
        let mut p = rng.next() % range;
        for _ in 0..n {
            let ip = (p << (32 - u32::from(depth))) as u32;
            routes.push((ip, depth));
            p = (p + step) % range;
        }
    }
    routes
}

/// `routes` in a random order (no locality between consecutive updates: the harder case).
fn shuffled<T: Copy>(routes: &[T], rng: &mut Rng) -> Vec<T> {
    let mut v = routes.to_vec();
    for i in (1..v.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

fn row(name: &str, value: f64) {
    println!("{name}\t{value:.1}");
}

/// One `lookup` per address; returns the misses. A function taking the table by reference, as
/// a worker's burst loop gets it (and as DPDK's test reads its table through a pointer): the
/// table's array addresses then stay in registers across the loop.
#[inline(never)]
fn lookup_each(lpm: &Lpm4, ips: &[u32]) -> u64 {
    let mut misses = 0;
    for &ip in ips {
        if lpm.lookup(ip).is_none() {
            misses += 1;
        }
    }
    misses
}

fn run_v4(groups: u32, dist: &[u32]) {
    let mut rng = Rng(rdtsc());
    let routes = routes4(dist, &mut rng);
    let n = routes.len();
    let mut lpm = Lpm4::new(&LpmConfig {
        max_rules: 2_000_000,
        tbl8_groups: groups,
        ..LpmConfig::default()
    })
    .expect("create table");
    let cpu = thread_cpu_ns();
    let begin = rdtsc();
    let mut added = 0usize;
    for &(ip, depth) in &routes {
        if lpm.add(ip, depth, 0xAA).is_ok() {
            added += 1;
        }
    }
    let t = rdtsc() - begin;
    row("routes", n as f64);
    row("added", added as f64);
    row("add", t as f64 / n as f64);
    row("add_cpu_ns", (thread_cpu_ns() - cpu) as f64 / n as f64);

    let mut ips = vec![0u32; BATCH];
    let fill = |ips: &mut [u32], rng: &mut Rng| ips.iter_mut().for_each(|x| *x = rng.next() as u32);

    let (mut total, mut misses) = (0u64, 0u64);
    for _ in 0..ITERATIONS {
        fill(&mut ips, &mut rng);
        let begin = rdtsc();
        misses += lookup_each(&lpm, &ips);
        total += rdtsc() - begin;
    }
    let lookups = (ITERATIONS * BATCH) as f64;
    row("lookup", total as f64 / lookups);
    row("fails_pct", misses as f64 * 100.0 / lookups);

    for (name, imp) in [
        ("bulk", LookupImpl::Auto),
        ("bulk_scalar", LookupImpl::Scalar),
        ("bulk_avx2", LookupImpl::Avx2),
        ("bulk_avx512", LookupImpl::Avx512),
    ] {
        if !imp.is_available() {
            continue;
        }
        let (mut total, mut misses) = (0u64, 0u64);
        let mut out = [0u32; BULK];
        for _ in 0..ITERATIONS {
            fill(&mut ips, &mut rng);
            let begin = rdtsc();
            for chunk in ips.chunks_exact(BULK) {
                lpm.lookup_bulk_with(imp, chunk, &mut out);
                for &nh in &out {
                    if nh == NO_ROUTE {
                        misses += 1;
                    }
                }
            }
            total += rdtsc() - begin;
        }
        row(name, total as f64 / lookups);
        if name == "bulk" {
            row("bulk_fails_pct", misses as f64 * 100.0 / lookups);
        }
    }

    // Fixed 8-wide calls (DPDK's closest is lookupx4).
    let mut total = 0u64;
    for _ in 0..ITERATIONS {
        fill(&mut ips, &mut rng);
        let begin = rdtsc();
        for chunk in ips.chunks_exact(8) {
            let arr: &[u32; 8] = chunk.try_into().expect("8 addresses");
            let r = lpm.lookup8(arr);
            misses += r.iter().filter(|&&nh| nh == NO_ROUTE).count() as u64;
        }
        total += rdtsc() - begin;
    }
    row("x8", total as f64 / lookups);

    let mem = lpm.memory();
    row(
        "mem_tables_mib",
        (mem.tbl24_bytes + mem.tbl8_bytes) as f64 / f64::from(1 << 20),
    );
    row("mem_rules_mib", mem.rule_bytes as f64 / f64::from(1 << 20));
    row("hugepages", f64::from(u8::from(mem.hugepages)));
    row("tbl8_in_use", lpm.tbl8_groups_in_use() as f64);

    let cpu = thread_cpu_ns();
    let begin = rdtsc();
    for &(ip, depth) in &routes {
        let _ = lpm.delete(ip, depth);
    }
    let t = rdtsc() - begin;
    row("delete", t as f64 / n as f64);
    row("delete_cpu_ns", (thread_cpu_ns() - cpu) as f64 / n as f64);
    assert!(lpm.is_empty(), "every route deleted");

    // The same routes added and deleted in a random order (ours only: DPDK's tests use the
    // generation order above).
    let random = shuffled(&routes, &mut rng);
    let (cpu, begin) = (thread_cpu_ns(), rdtsc());
    for &(ip, depth) in &random {
        let _ = lpm.add(ip, depth, 0xAA);
    }
    row("add_random_order", (rdtsc() - begin) as f64 / n as f64);
    row(
        "add_random_order_cpu_ns",
        (thread_cpu_ns() - cpu) as f64 / n as f64,
    );
    let random = shuffled(&routes, &mut rng);
    let (cpu, begin) = (thread_cpu_ns(), rdtsc());
    for &(ip, depth) in &random {
        let _ = lpm.delete(ip, depth);
    }
    row("delete_random_order", (rdtsc() - begin) as f64 / n as f64);
    row(
        "delete_random_order_cpu_ns",
        (thread_cpu_ns() - cpu) as f64 / n as f64,
    );
    assert!(lpm.is_empty(), "every route deleted");
    // Keep `misses` observable so the lookups cannot be optimised out.
    eprintln!("lpm_perf: total misses {misses}");
}

fn run_v6(dist: &[u32]) {
    const N_IPS: usize = 100_000;
    let mut rng = Rng(rdtsc());
    let mut routes: Vec<([u8; 16], u8)> = Vec::new();
    for (i, &n) in dist.iter().enumerate() {
        let depth = i as u8 + 1;
        for _ in 0..n {
            let k = u128::from(rng.next()) << 64 | u128::from(rng.next());
            let k = k & (!0u128).checked_shl(128 - u32::from(depth)).unwrap_or(0);
            routes.push((k.to_be_bytes(), depth));
        }
    }
    let n = routes.len();
    let mut lpm = Lpm6::new(&LpmConfig {
        max_rules: 1_000_000,
        tbl8_groups: 1 << 16,
        ..LpmConfig::default()
    })
    .expect("create table");
    let cpu = thread_cpu_ns();
    let begin = rdtsc();
    let mut added = 0;
    for &(ip, d) in &routes {
        if lpm.add(&ip, d, 0xAA).is_ok() {
            added += 1;
        }
    }
    let t = rdtsc() - begin;
    row("routes", n as f64);
    row("added", f64::from(added));
    row("add", t as f64 / n as f64);
    row("add_cpu_ns", (thread_cpu_ns() - cpu) as f64 / n as f64);
    // Random addresses, as DPDK's fixed test table appears to be (random routes of random depth
    // with several /1s, so every address hits).
    let ips: Vec<[u8; 16]> = (0..N_IPS)
        .map(|_| (u128::from(rng.next()) << 64 | u128::from(rng.next())).to_be_bytes())
        .collect();
    let (mut total, mut misses) = (0u64, 0u64);
    for _ in 0..ITERATIONS {
        let begin = rdtsc();
        for ip in &ips {
            if lpm.lookup(ip).is_none() {
                misses += 1;
            }
        }
        total += rdtsc() - begin;
    }
    let lookups = (ITERATIONS * N_IPS) as f64;
    row("lookup", total as f64 / lookups);
    row("fails_pct", misses as f64 * 100.0 / lookups);
    let mut out = vec![0u32; N_IPS];
    let mut total = 0u64;
    for _ in 0..ITERATIONS {
        let begin = rdtsc();
        lpm.lookup_bulk(&ips, &mut out);
        total += rdtsc() - begin;
        misses += out.iter().filter(|&&nh| nh == NO_ROUTE).count() as u64;
    }
    row("bulk", total as f64 / lookups);
    let mem = lpm.memory();
    row(
        "mem_tables_mib",
        (mem.tbl24_bytes + mem.tbl8_bytes) as f64 / f64::from(1 << 20),
    );
    row("tbl8_in_use", lpm.tbl8_groups_in_use() as f64);
    let cpu = thread_cpu_ns();
    let begin = rdtsc();
    for &(ip, d) in &routes {
        let _ = lpm.delete(&ip, d);
    }
    row("delete", (rdtsc() - begin) as f64 / n as f64);
    row("delete_cpu_ns", (thread_cpu_ns() - cpu) as f64 / n as f64);
    eprintln!("lpm_perf: total misses {misses}");
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("");
    let mut groups = 2048u32;
    let mut dist_file = None;
    let mut i = 1;
    while i < args.len() {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--groups", Some(v)) => match v.parse() {
                Ok(g) => groups = g,
                Err(_) => {
                    eprintln!("lpm_perf: bad --groups value '{v}'");
                    return ExitCode::from(2);
                }
            },
            ("--dist", Some(v)) => dist_file = Some(v.clone()),
            (other, _) => {
                eprintln!("lpm_perf: unknown or incomplete argument '{other}'");
                return ExitCode::from(2);
            }
        }
        i += 2;
    }
    match mode {
        "v4" => {
            let dist = match dist_file.as_deref().map(|f| parse_dist(f, 32)) {
                None => DEFAULT_DIST4.to_vec(),
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    eprintln!("lpm_perf: {e}");
                    return ExitCode::from(2);
                }
            };
            run_v4(groups, &dist);
        }
        "v6" => {
            let Some(f) = dist_file else {
                eprintln!("lpm_perf: v6 needs --dist FILE (lpm6_perf_autotest's output)");
                return ExitCode::from(2);
            };
            match parse_dist(&f, 128) {
                Ok(d) => run_v6(&d),
                Err(e) => {
                    eprintln!("lpm_perf: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => {
            eprintln!("usage: lpm_perf v4 [--groups N] [--dist FILE] | lpm_perf v6 --dist FILE");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
