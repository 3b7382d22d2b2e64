#!/usr/bin/env bash
# Ring suite for scripts/bench-vs-dpdk.sh: ferroplane-ring against DPDK's rte_ring, measured the
# same way in the same run.
#
#   scripts/bench/ring.sh            # 5 alternating runs of each side, medians per row
#   RUNS=9 scripts/bench/ring.sh     # more runs
#   QUICK=1 scripts/bench/ring.sh    # 1 short run of each side
#   NICE=-19 scripts/bench/ring.sh   # run both sides at a higher priority on a busy machine
#   RING_PERF_BIN=/tmp/ring_perf scripts/bench/ring.sh   # a prebuilt ring_perf instead of building
#
# DPDK side: `dpdk-test` runs `ring_perf_autotest` (hugepages if it can map them, else --no-huge).
# Our side: ring/examples/ring_perf.rs, which repeats the autotest's cases with the same ring size,
# burst sizes, iteration counts, item sizes (8-byte "legacy" items and 16-byte "elem" items) and
# the same clock (TSC cycles). The two sides run alternately (DPDK, ours, DPDK, ours, ...) so that
# both see the same background load, and each row is the median over the runs. Output rows: ROW<TAB>case<TAB>ours<TAB>dpdk<TAB>unit, lower is better.
#
# Units: DPDK 22.11's single-thread burst/bulk rows print cycles per *iteration* (an enqueue and a
# dequeue of `size` items: test_burst_bulk_enqueue_dequeue divides by the iteration count only);
# they are divided by `size` here so every row is cycles per element. The "single" rows are one
# item per iteration already; the two-core rows are already per element (the sum of the enqueue
# core's and the dequeue core's cycles per element); the empty-dequeue rows are cycles per call.
# crossbeam's ArrayQueue, moving the same u64 items one push/pop at a time, has rows with "-" for
# DPDK.
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${RUNS:-5}
perf_args=(--repeat 1)
if [ "${QUICK:-0}" = 1 ]; then
    runs=1
    perf_args=(--repeat 1 --quick)
fi

# Both sides get the same priority; on a loaded 2-core machine the two-core rows are mostly
# scheduling noise otherwise (a spinning thread descheduled for a time slice costs millions of
# cycles), for DPDK and for us alike.
prio=()
if [ -n "${NICE:-}" ]; then
    prio=(nice -n "$NICE")
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- DPDK -------------------------------------------------------------------------------------
command -v dpdk-test >/dev/null || { echo "ring.sh: dpdk-test not found (install dpdk: scripts/setup.sh)" >&2; exit 1; }
prefix="fpbench-ring-$$"
run_dpdk() {
    # Hugepages first (rte_ring's memory as DPDK applications get it); without them, --no-huge.
    if echo ring_perf_autotest | "${prio[@]}" dpdk-test --no-pci -m 64 --file-prefix "$prefix" -l 0-1 >"$tmp/dpdk.out" 2>&1 \
        && grep -q "Test OK" "$tmp/dpdk.out"; then
        echo "ring.sh: dpdk-test ran on hugepages" >&2
    elif echo ring_perf_autotest | "${prio[@]}" dpdk-test --no-pci --no-huge -m 512 --file-prefix "$prefix" -l 0-1 >"$tmp/dpdk.out" 2>&1 \
        && grep -q "Test OK" "$tmp/dpdk.out"; then
        echo "ring.sh: dpdk-test ran without hugepages (--no-huge)" >&2
    else
        cat "$tmp/dpdk.out" >&2
        echo "ring.sh: dpdk-test ring_perf_autotest failed" >&2
        exit 1
    fi
    rm -rf "/var/run/dpdk/$prefix" 2>/dev/null || true
}

# Turns ring_perf_autotest output into "case<TAB>cycles per element" lines named like ours.
parse_dpdk() {
    awk '
        /^### Testing single element/     { sec = "single"; next }
        /^### Testing burst enq\/deq/     { sec = "burst"; next }
        /^### Testing bulk enq\/deq/      { sec = "bulk"; next }
        /^### Testing empty bulk deq/     { sec = "empty"; next }
        /^### Testing using two physical/ { sec = "cores"; next }
        /^### /                           { sec = ""; next }
        sec != "" && /(legacy APIs|elem APIs: element size 16B): (SP\/SC|MP\/MC): / {
            pfx = ($0 ~ /^elem APIs/) ? "16B: " : ""
            mode = ($0 ~ /SP\/SC/) ? "SP/SC" : "MP/MC"
            value = $NF
            size = ""
            if (match($0, /size: [0-9]+/)) size = substr($0, RSTART + 6, RLENGTH - 6)
            if (sec == "single") name = mode " single enq+deq (1 thread)"
            else if (sec == "empty") name = mode " empty bulk deq size " size " (1 thread)"
            else if (sec == "cores") name = mode " bulk size " size " (2 cores)"
            else { name = mode " " sec " enq+deq size " size " (1 thread)"; value = value / size }
            printf "%s%s\t%.2f\n", pfx, name, value
        }'
}

# --- ours: build once (or RING_PERF_BIN=<prebuilt ring_perf>, e.g. to compare two versions) -----
perf_bin=${RING_PERF_BIN:-}
if [ -z "$perf_bin" ]; then
    echo "ring.sh: building ring_perf" >&2
    cargo build --release --quiet -p ferroplane-ring --example ring_perf >&2
    perf_bin="${CARGO_TARGET_DIR:-target}/release/examples/ring_perf"
fi
[ -x "$perf_bin" ] || { echo "ring.sh: $perf_bin not built" >&2; exit 1; }

# --- alternate the two sides ------------------------------------------------------------------
for i in $(seq "$runs"); do
    echo "ring.sh: run $i/$runs: DPDK ring_perf_autotest" >&2
    run_dpdk
    parse_dpdk <"$tmp/dpdk.out" >>"$tmp/dpdk.tsv"
    echo "ring.sh: run $i/$runs: ferroplane ring_perf" >&2
    "${prio[@]}" "$perf_bin" "${perf_args[@]}" | awk -F'\t' -v OFS='\t' '$1 == "RESULT" { print $2, $3, $4 }' >>"$tmp/ours.tsv"
done

# --- join: per-row medians of both sides, in the order ring_perf prints its cases --------------
# The two-core rows also get a "best of N" row (the minimum over the runs, on each side): two
# spinning threads on a shared 2-core machine lose whole time slices to other processes, and the
# minimum is the run that was least disturbed, for DPDK and for us alike.
stat() { # $1 = median|min; $2 = file of "case<TAB>value[<TAB>unit]" -> "case<TAB>stat[<TAB>unit]"
    sort -t $'\t' -k1,1 -k2,2g "$2" | awk -F'\t' -v OFS='\t' -v stat="$1" '
        { vals[$1] = vals[$1] " " $2; n[$1]++; unit[$1] = $3 }
        END {
            for (c in vals) {
                split(substr(vals[c], 2), a, " ")
                print c, (stat == "min") ? a[1] : a[int((n[c] + 1) / 2)], unit[c]
            }
        }'
}
stat median "$tmp/dpdk.tsv" >"$tmp/dpdk.median"
stat median "$tmp/ours.tsv" >"$tmp/ours.median"
stat min "$tmp/dpdk.tsv" >"$tmp/dpdk.min"
stat min "$tmp/ours.tsv" >"$tmp/ours.min"
awk -F'\t' '!seen[$1]++ { print $1 }' "$tmp/ours.tsv" >"$tmp/order"
awk -F'\t' -v OFS='\t' -v runs="$runs" '
    FILENAME == ARGV[1] { dpdk[$1] = $2; next }
    FILENAME == ARGV[2] { ours[$1] = $2; unit[$1] = $3; next }
    FILENAME == ARGV[3] { dpdk_min[$1] = $2; next }
    FILENAME == ARGV[4] { ours_min[$1] = $2; next }
    {
        print "ROW", $1, ours[$1], (($1 in dpdk) ? dpdk[$1] : "-"), unit[$1]
        if (runs > 1 && $1 ~ /\(2 cores\)$/) {
            best = $1; sub(/\(2 cores\)$/, "(2 cores, best of " runs ")", best)
            print "ROW", best, ours_min[$1], (($1 in dpdk_min) ? dpdk_min[$1] : "-"), unit[$1]
        }
        seen[$1] = 1
    }
    END { for (c in dpdk) if (!(c in seen)) print "ring.sh: DPDK row without ours: " c > "/dev/stderr" }
' "$tmp/dpdk.median" "$tmp/ours.median" "$tmp/dpdk.min" "$tmp/ours.min" "$tmp/order"
# Per-run values of every row (both sides, in run order) on stderr, for scripts/bench.sh's spread
# column: RUNS<TAB>case<TAB>ours|dpdk<TAB>v1 v2 ... (the "best of N" rows take the same runs).
if [ "$runs" -gt 1 ]; then
    awk -F'\t' -v OFS='\t' -v runs="$runs" '
        FNR == 1 { side = (FILENAME == ARGV[1]) ? "ours" : "dpdk" }
        { v[$1, side] = v[$1, side] (n_runs[$1, side]++ ? " " : "") $2 }
        side == "ours" && !seen[$1]++ { order[++n] = $1 }
        END {
            for (i = 1; i <= n; i++) {
                c = order[i]
                best = c; sub(/\(2 cores\)$/, "(2 cores, best of " runs ")", best)
                for (s = 0; s < 2; s++) {
                    side = s ? "dpdk" : "ours"
                    if (!((c, side) in v)) continue
                    print "RUNS", c, side, v[c, side]
                    if (c ~ /\(2 cores\)$/) print "RUNS", best, side, v[c, side]
                }
            }
        }' "$tmp/ours.tsv" "$tmp/dpdk.tsv" >&2
fi
