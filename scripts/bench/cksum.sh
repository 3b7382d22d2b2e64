#!/usr/bin/env bash
# Internet checksum: ferroplane_net::checksum::sum against DPDK's rte_raw_cksum, ns per checksum
# over 64, 576 and 1500 bytes. Both sides use the same loop (net/examples/cksum_bench.rs and
# net/benches/c/raw_cksum.c): best of 7 runs, one byte changed per iteration. Rows per the
# protocol in scripts/bench-vs-dpdk.sh. QUICK=1 is accepted (the runs are already short).
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes="64 576 1500"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -p ferroplane-net --example cksum_bench >&2
ours_bin="$CARGO_TARGET_DIR/release/examples/cksum_bench"
# shellcheck disable=SC2046
cc -O3 $(pkg-config --cflags libdpdk) -o "$work/raw_cksum" net/benches/c/raw_cksum.c $(pkg-config --libs libdpdk) >&2

pin() { if command -v taskset >/dev/null; then taskset -c "${BENCH_CPU:-1}" "$@"; else "$@"; fi; }
# shellcheck disable=SC2086
pin "$ours_bin" $sizes > "$work/ours"
# shellcheck disable=SC2086
pin "$work/raw_cksum" $sizes > "$work/dpdk"
for s in $sizes; do
    o=$(awk -v s="$s" '$1 == s { print $2 }' "$work/ours")
    d=$(awk -v s="$s" '$1 == s { print $2 }' "$work/dpdk")
    printf 'ROW\traw checksum %s B\t%s\t%s\tns\n' "$s" "${o:--}" "${d:--}"
done
