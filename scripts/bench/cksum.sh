#!/usr/bin/env bash
# Internet checksum: ferroplane_net::checksum::sum against DPDK's rte_raw_cksum, ns per checksum
# over 64, 576 and 1500 bytes. Both sides use the same loop (net/examples/cksum_bench.rs and
# net/benches/c/raw_cksum.c): best of 7 runs, one byte changed per iteration. Rows per the
# protocol in scripts/bench-vs-dpdk.sh. QUICK=1 is accepted (the runs are already short).
# REPEAT=N (default 1) runs each side N times, alternating, and a row takes the minimum; with
# N > 1 the per-run values of each row go to stderr as RUNS<TAB>case<TAB>ours|dpdk<TAB>v1 v2 ...
# (scripts/bench.sh's spread column).
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
repeat=${REPEAT:-1}
: > "$work/ours"
: > "$work/dpdk"
for _ in $(seq "$repeat"); do
    # shellcheck disable=SC2086
    pin "$ours_bin" $sizes >> "$work/ours"
    # shellcheck disable=SC2086
    pin "$work/raw_cksum" $sizes >> "$work/dpdk"
done
# runs SIDE SIZE: that side's values for SIZE, one per run, in run order.
runs() { awk -v s="$2" '$1 == s { printf "%s%s", sep, $2; sep = " " }' "$work/$1"; }
best() { runs "$@" | tr ' ' '\n' | sort -g | head -1; }
for s in $sizes; do
    o=$(best ours "$s")
    d=$(best dpdk "$s")
    printf 'ROW\traw checksum %s B\t%s\t%s\tns\n' "$s" "${o:--}" "${d:--}"
    if [ "$repeat" -gt 1 ]; then
        printf 'RUNS\traw checksum %s B\tours\t%s\n' "$s" "$(runs ours "$s")" >&2
        printf 'RUNS\traw checksum %s B\tdpdk\t%s\n' "$s" "$(runs dpdk "$s")" >&2
    fi
done
