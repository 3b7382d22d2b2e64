#!/usr/bin/env bash
# ACL classification: Ferroplane's decision-tree ACL (AVX-512 walk and leaf matching where the
# CPU has it; FERROPLANE_ACL_SCALAR=1 forces the portable path) against DPDK's rte_acl (dpdk-test-acl),
# on the same generated ClassBench-style IPv4 rule sets (1,000 and 10,000 rules) and traces
# (65,536 headers), cycles per packet. Row protocol: see scripts/bench-vs-dpdk.sh.
#
# DPDK runs every classify algorithm this CPU supports (scalar, sse, avx2, avx512x16,
# avx512x32) and its best is the DPDK column. Both sides are measured the same way: a fresh
# process builds the rules, classifies the trace ITER times (default 5) in calls of 256
# headers, and reports the average cycles per header (first pass cold); each side is run
# REPEAT times (default 5) and the fastest run counts, to filter out runs disturbed by other
# load on the machine. The per-packet results of both are also compared (must be identical).
# Env: QUICK=1 (ITER=2, REPEAT=1), BENCH_CPU (default 1), ITER, REPEAT.
# With REPEAT > 1 the per-run values of the bulk and build-time rows (DPDK: its best algorithm's
# runs) go to stderr as RUNS<TAB>case<TAB>ours|dpdk<TAB>v1 v2 ... (scripts/bench.sh's spread column).
set -euo pipefail
cd "$(dirname "$0")/../.."
cpu="${BENCH_CPU:-1}"
iter="${ITER:-5}" repeat="${REPEAT:-5}"
if [ "${QUICK:-0}" = 1 ]; then iter=2 repeat=1; fi

echo "acl: building examples/acl_perf (release)" >&2
cargo build --release -q -p ferroplane-classify --example acl_perf >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
ours_bin="$target_dir/release/examples/acl_perf"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
have_dpdk=0
command -v dpdk-test-acl > /dev/null && have_dpdk=1 || echo "acl: dpdk-test-acl not installed; DPDK column empty" >&2

min() { sort -g | head -1; }

for n in 1000 10000; do
    rules="$tmp/rules$n" trace="$tmp/trace$n"
    "$ours_bin" gen "$n" 65536 "$n" "$rules" "$trace"

    field() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$tmp/ours.txt"; }
    ours_runs=() single_runs=() build_runs=()
    for _ in $(seq "$repeat"); do
        taskset -c "$cpu" "$ours_bin" run "$rules" "$trace" "$iter" > "$tmp/ours.txt"
        ours_runs+=("$(field bulk_cycles_per_pkt)")
        single_runs+=("$(field single_cycles_per_pkt)")
        build_runs+=("$(field build_ms)")
    done
    ours=$(printf '%s\n' "${ours_runs[@]}" | min)
    build_ms=$(printf '%s\n' "${build_runs[@]}" | min)
    mem=$(awk -v b="$(field memory_bytes)" 'BEGIN { printf "%.2f", b / 1048576 }')
    echo "acl: $n rules: ours bulk best $ours of: ${ours_runs[*]}; single: ${single_runs[*]} cycles/pkt; build ${build_ms} ms; ${mem} MiB; AVX-512 path: $(field simd)" >&2

    dpdk=- dpdk_alg=- dpdk_mem=- dpdk_runs=()
    if [ "$have_dpdk" = 1 ]; then
        for alg in scalar sse avx2 avx512x16 avx512x32; do
            runs=()
            for _ in $(seq "$repeat"); do
                out=$(timeout 600 dpdk-test-acl --no-pci -l "$cpu" --file-prefix "fpacl$$" --log-level=lib.acl:debug -- \
                    --rulesf="$rules" --tracef="$trace" --alg="$alg" --iter="$iter" --verbose=0 2>&1) || {
                    echo "acl: DPDK alg $alg not usable here: $(echo "$out" | grep -m1 -i cause || echo failed)" >&2
                    break
                }
                runs+=("$(echo "$out" | sed -n 's/.* \([0-9.]*\) cycles\/pkt.*/\1/p')")
                m=$(echo "$out" | sed -n 's/^total: \([0-9]*\) bytes/\1/p' | head -1)
                [ -n "$m" ] && dpdk_mem=$(awk -v b="$m" 'BEGIN { printf "%.2f", b / 1048576 }')
            done
            [ ${#runs[@]} -gt 0 ] || continue
            best=$(printf '%s\n' "${runs[@]}" | min)
            echo "acl: $n rules: DPDK $alg best $best of: ${runs[*]} cycles/pkt" >&2
            if [ "$dpdk" = - ] || awk -v a="$best" -v b="$dpdk" 'BEGIN { exit !(a < b) }'; then
                dpdk=$best dpdk_alg=$alg dpdk_runs=("${runs[@]}")
            fi
        done
        # Same answers? DPDK prints each header's result at --verbose=3.
        timeout 600 dpdk-test-acl --no-pci -l "$cpu" --file-prefix "fpacl$$" -- --rulesf="$rules" --tracef="$trace" \
            --alg=scalar --iter=1 --verbose=3 2>/dev/null | sed -n 's/^ipv4_5tuple: [0-9]*, category: 0, result: //p' > "$tmp/dpdk_res"
        "$ours_bin" dump "$rules" "$trace" > "$tmp/ours_res"
        if cmp -s "$tmp/dpdk_res" "$tmp/ours_res"; then
            echo "acl: $n rules: all $(wc -l < "$tmp/ours_res") results identical to DPDK's" >&2
        else
            echo "acl: $n rules: RESULTS DIFFER from DPDK's ($(cmp "$tmp/dpdk_res" "$tmp/ours_res" 2>&1 | head -1))" >&2
            exit 1
        fi
    fi
    printf 'ROW\t%s\t%s\t%s\t%s\n' \
        "IPv4 5-tuple, $n rules, bulk (DPDK best: $dpdk_alg)" "$ours" "$dpdk" "cycles/pkt" \
        "IPv4 5-tuple, $n rules, runtime memory" "$mem" "$dpdk_mem" "MiB" \
        "IPv4 5-tuple, $n rules, build time" "$build_ms" "-" "ms"
    if [ "$repeat" -gt 1 ]; then
        printf 'RUNS\t%s\t%s\t%s\n' \
            "IPv4 5-tuple, $n rules, bulk (DPDK best: $dpdk_alg)" ours "${ours_runs[*]}" \
            "IPv4 5-tuple, $n rules, build time" ours "${build_runs[*]}" >&2
        if [ ${#dpdk_runs[@]} -gt 0 ]; then
            printf 'RUNS\t%s\tdpdk\t%s\n' "IPv4 5-tuple, $n rules, bulk (DPDK best: $dpdk_alg)" "${dpdk_runs[*]}" >&2
        fi
    fi
done
