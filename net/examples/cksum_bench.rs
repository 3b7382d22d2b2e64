//! Times `ferroplane_net::checksum::sum` over buffers of the sizes given as arguments and
//! prints `size ns_per_checksum` per size, the best of 7 runs. Same method as
//! `net/benches/c/raw_cksum.c` (DPDK's `rte_raw_cksum`), which `scripts/bench/cksum.sh` runs
//! beside it: one byte changes each iteration so the sum cannot be hoisted.

use std::hint::black_box;
use std::time::Instant;

use ferroplane_net::checksum;

fn main() {
    let mut buf = vec![0u8; 9000];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i * 131 + 7) as u8;
    }
    let mut acc = 0u32;
    for arg in std::env::args().skip(1) {
        let len: usize = match arg.parse() {
            Ok(l) if l > 0 && l <= buf.len() => l,
            _ => {
                eprintln!("cksum_bench: bad size {arg:?} (1..=9000)");
                std::process::exit(2);
            }
        };
        let iters = 200_000_000 / (len + 32);
        let mut best = f64::MAX;
        for _ in 0..7 {
            let t0 = Instant::now();
            for i in 0..iters {
                buf[0] = i as u8;
                acc = acc.wrapping_add(checksum::sum(black_box(&buf[..len])) as u32);
            }
            best = best.min(t0.elapsed().as_nanos() as f64 / iters as f64);
        }
        println!("{len} {best:.2}");
    }
    eprintln!("checksum accumulator {acc}");
}
