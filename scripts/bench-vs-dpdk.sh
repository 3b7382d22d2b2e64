#!/usr/bin/env bash
# Side-by-side micro-benchmarks: Ferroplane against DPDK 22.11 on this machine, in one run.
#
#   scripts/bench-vs-dpdk.sh ring mempool lpm hash acl
#   QUICK=1 scripts/bench-vs-dpdk.sh ring      # short runs, to prove the script works
#
# Each suite is scripts/bench/<suite>.sh. It prints, on standard output, one line per row:
#   ROW<TAB>case<TAB>ours<TAB>dpdk<TAB>unit
# where "ours" and "dpdk" are numbers in "unit" (lower is better: cycles or ns per item),
# and "-" where a side has no such row. Anything else it prints goes to standard error, which
# this script passes through unchanged: among it, where a row is the median or minimum of several
# runs of a side, one line per row and side with those runs, in the row's unit and order of runs:
#   RUNS<TAB>case<TAB>ours|dpdk<TAB>v1 v2 ...
# (case exactly as in the ROW line; scripts/bench.sh reads them into its spread column).
# This script gathers the rows into one markdown table with the ratio ours/DPDK per row
# (below 1.00 means Ferroplane is faster) and writes it to bench-results/<date>/<suites>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 SUITE... (suites: $(ls scripts/bench | sed -n 's/\.sh$//p' | tr '\n' ' '))" >&2; exit 2; }
for s in "$@"; do
    [ -x "scripts/bench/$s.sh" ] || { echo "bench-vs-dpdk: unknown suite '$s' (no scripts/bench/$s.sh)" >&2; exit 2; }
done
out_dir="bench-results/$(date +%Y-%m-%d)"
mkdir -p "$out_dir"
out="$out_dir/vs-dpdk-$(echo "$@" | tr ' ' '-').md"
{
    echo "# Ferroplane vs DPDK $(dpkg-query -W -f='${Version}' dpdk 2>/dev/null || echo '?')"
    echo
    echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, kernel $(uname -r), $(date -u +%FT%TZ)."
    echo "Ratio = ours / DPDK (cost per item: below 1.00 means Ferroplane is faster)."
    echo
    echo "| suite | case | Ferroplane | DPDK | unit | ratio |"
    echo "|---|---|---:|---:|---|---:|"
} > "$out"
for s in "$@"; do
    echo "bench-vs-dpdk: running suite $s" >&2
    "scripts/bench/$s.sh" | while IFS=$'\t' read -r tag case ours dpdk unit; do
        [ "$tag" = ROW ] || continue
        ratio=$(awk -v a="$ours" -v b="$dpdk" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }')
        echo "| $s | $case | $ours | $dpdk | $unit | $ratio |"
    done >> "$out"
done
cat "$out"
echo "bench-vs-dpdk: table written to $out" >&2
