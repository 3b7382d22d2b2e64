#!/usr/bin/env bash
# LPM suite for scripts/bench-vs-dpdk.sh: Ferroplane's lpm_perf (lpm/examples/lpm_perf.rs)
# against DPDK's lpm_perf_autotest, fib_perf_autotest (scalar and AVX-512), lpm6_perf_autotest
# and fib6_perf_autotest, all pinned to core 0, in TSC cycles.
#
# Prints ROW<TAB>case<TAB>ours<TAB>dpdk<TAB>unit lines on stdout (see bench-vs-dpdk.sh);
# everything else goes to stderr. QUICK=1 skips lpm_perf_autotest (its rule store makes adds
# and deletes take minutes) and compares the other rows only.
#
# The machine is shared and noisy, so every run is repeated REPEAT times (default 3; lpm_perf_autotest
# and our matching table LPM_REPEAT times, default 1, as one DPDK run takes minutes), DPDK and
# ours alternating, and each row reports the median over the repeats for both sides (the
# lower middle value for an even count). Where a row has several runs on a side, their values go
# to stderr as RUNS<TAB>case<TAB>ours|dpdk<TAB>v1 v2 ... (scripts/bench.sh's spread column).
#
# BENCH_RT=1 runs both sides (DPDK's tests and ours) at real-time priority (chrt -f 10), so
# other processes on the core cannot preempt them: the figures then measure the code, not the
# neighbours. It starves everything else on that core while it runs (up to the kernel's 95%
# real-time limit), so use it only where that is acceptable.
set -euo pipefail
cd "$(dirname "$0")/../.."
rt=()
[ "${BENCH_RT:-0}" = 1 ] && rt=(chrt -f 10)

core=${LPM_BENCH_CORE:-0}
work=$(mktemp -d /tmp/fp-lpm-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

command -v dpdk-test >/dev/null || { echo "lpm.sh: dpdk-test not found (apt-get install dpdk)" >&2; exit 1; }
echo "lpm.sh: building lpm_perf (release)" >&2
cargo build --release -q -p ferroplane-lpm --example lpm_perf >&2
target_dir=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}
ours="$target_dir/release/examples/lpm_perf"
[ -x "$ours" ] || { echo "lpm.sh: $ours not built" >&2; exit 1; }

repeat=${REPEAT:-3}
lpm_repeat=${LPM_REPEAT:-1}
[ "${QUICK:-0}" = 1 ] && repeat=1

# dpdk TEST OUT [EAL args...]: runs one autotest, output in $work/OUT.txt
dpdk() {
    local test=$1 out=$2; shift 2
    echo "lpm.sh: dpdk-test $test $*" >&2
    echo "$test" | "${rt[@]}" taskset -c "$core" dpdk-test --no-pci -l "$core" --file-prefix "fplpm$$" "$@" \
        > "$work/$out.txt" 2>&1 || true
    grep -q "Test OK" "$work/$out.txt" || { echo "lpm.sh: $test failed:" >&2; tail -20 "$work/$out.txt" >&2; exit 1; }
}
# median: the median of the numbers on stdin, one per line
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", v[int((NR + 1) / 2)] }'
}
# with_runs: the numbers on stdin (one per line, in run order) as "MEDIAN|v1 v2 ...", for row
with_runs() {
    local v
    v=$(cat)
    if [ -n "$v" ]; then printf '%s|%s' "$(median <<<"$v")" "$(echo $v)"; fi
}
# The run files of NAME in run order (NAME.1.txt, NAME.2.txt, ..., NAME.10.txt).
run_files() { ls -v "$work/$1".*.txt; }
# field NAME 'regex': the median over repeats of the first number after the regex, with the runs
field() {
    # shellcheck disable=SC2046
    cat $(run_files "$1") | sed -n "s/.*$2[^0-9]*\([0-9.e+]*\).*/\1/p" | with_runs
}
# ourfield NAME key: the median over repeats of lpm_perf's value for key, with the runs
ourfield() {
    # shellcheck disable=SC2046
    cat $(run_files "$1") | awk -F'\t' -v k="$2" '$1 == k { print $2 }' | with_runs
}
# val CMD...: the median alone of field or ourfield
val() { local x; x=$("$@"); echo "${x%%|*}"; }
# row CASE OURS DPDK UNIT, OURS and DPDK a value or "MEDIAN|v1 v2 ..." from field/ourfield: prints
# the ROW line, and a RUNS line per side that has more than one run.
row() {
    printf 'ROW\t%s\t%s\t%s\t%s\n' "$1" "$(o=${2%%|*}; echo "${o:--}")" "$(d=${3%%|*}; echo "${d:--}")" "$4"
    local side runs
    for side in ours dpdk; do
        if [ $side = ours ]; then runs=$2; else runs=$3; fi
        case $runs in *"|"*) runs=${runs#*|} ;; *) continue ;; esac
        # shellcheck disable=SC2086
        if [ $(set -- $runs; echo $#) -gt 1 ]; then printf 'RUNS\t%s\t%s\t%s\n' "$1" "$side" "$runs" >&2; fi
    done
}

if [ "${QUICK:-0}" != 1 ]; then
    for r in $(seq "$lpm_repeat"); do
        dpdk lpm_perf_autotest "lpm.$r"
        echo "lpm.sh: ours v4 (2048 groups, as lpm_perf_autotest), run $r" >&2
        "${rt[@]}" taskset -c "$core" "$ours" v4 --groups 2048 --dist "$work/lpm.$r.txt" > "$work/our4.$r.txt"
    done
fi
for r in $(seq "$repeat"); do
    dpdk fib_perf_autotest "fib.$r"
    dpdk fib_perf_autotest "fib512.$r" --force-max-simd-bitwidth=512
    echo "lpm.sh: ours v4 (65535 groups, as fib_perf_autotest), run $r" >&2
    "${rt[@]}" taskset -c "$core" "$ours" v4 --groups 65535 --dist "$work/fib.$r.txt" > "$work/our4fib.$r.txt"
    dpdk lpm6_perf_autotest "lpm6.$r"
    dpdk fib6_perf_autotest "fib6.$r"
    echo "lpm.sh: ours v6 (lpm6_perf_autotest's depth mix), run $r" >&2
    "${rt[@]}" taskset -c "$core" "$ours" v6 --dist "$work/lpm6.$r.txt" > "$work/our6.$r.txt"
done
for f in "$work"/our*.txt; do sed "s/^/lpm.sh: $(basename "$f" .txt): /" "$f" >&2; done

if [ "${QUICK:-0}" != 1 ]; then
    row "lpm4 add (rte_lpm, 2048 tbl8)" "$(ourfield our4 add)" "$(field lpm 'Average LPM Add:')" cycles/route
    row "lpm4 lookup single" "$(ourfield our4 lookup)" "$(field lpm 'Average LPM Lookup:')" cycles/lookup
    row "lpm4 lookup bulk32" "$(ourfield our4 bulk)" "$(field lpm 'BULK LPM Lookup:')" cycles/lookup
    row "lpm4 lookupx4 (ours: lookup8)" "$(ourfield our4 x8)" "$(field lpm 'LPM LookupX4:')" cycles/lookup
    row "lpm4 delete" "$(ourfield our4 delete)" "$(field lpm 'Average LPM Delete:')" cycles/route
fi
row "fib4 add (rte_fib dir24_8, 65535 tbl8)" "$(ourfield our4fib add)" "$(field fib 'Average FIB Add:')" cycles/route
row "fib4 bulk32 scalar (ours: scalar)" "$(ourfield our4fib bulk_scalar)" "$(field fib 'BULK FIB Lookup:')" cycles/lookup
row "fib4 bulk32 avx512 (ours: avx512 gather)" "$(ourfield our4fib bulk_avx512)" "$(field fib512 'BULK FIB Lookup:')" cycles/lookup
row "fib4 bulk32 avx512 (ours: default bulk)" "$(ourfield our4fib bulk)" "$(field fib512 'BULK FIB Lookup:')" cycles/lookup
row "fib4 bulk32 (ours: avx2 gather)" "$(ourfield our4fib bulk_avx2)" "-" cycles/lookup
row "fib4 delete" "$(ourfield our4fib delete)" "$(field fib 'Average FIB Delete:')" cycles/route
row "lpm6 add (1000 routes)" "$(ourfield our6 add)" "$(field lpm6 'Average LPM Add:')" cycles/route
row "lpm6 lookup single" "$(ourfield our6 lookup)" "$(field lpm6 'Average LPM Lookup:')" cycles/lookup
row "lpm6 lookup bulk" "$(ourfield our6 bulk)" "$(field lpm6 'BULK LPM Lookup:')" cycles/lookup
row "lpm6 delete" "$(ourfield our6 delete)" "$(field lpm6 'Average LPM Delete:')" cycles/route
row "fib6 add (rte_fib6 trie)" "$(ourfield our6 add)" "$(field fib6 'Average FIB Add:')" cycles/route
row "fib6 lookup bulk" "$(ourfield our6 bulk)" "$(field fib6 'BULK FIB Lookup:')" cycles/lookup
row "fib6 delete" "$(ourfield our6 delete)" "$(field fib6 'Average FIB Delete:')" cycles/route
# Our updates' thread CPU time (immune to preemption on a loaded machine; DPDK has no equivalent).
row "fib4 add, thread CPU (ours only)" "$(ourfield our4fib add_cpu_ns)" "-" ns/route
row "fib4 delete, thread CPU (ours only)" "$(ourfield our4fib delete_cpu_ns)" "-" ns/route
row "fib4 add, random route order (ours only)" "$(ourfield our4fib add_random_order)" "-" cycles/route
row "fib4 delete, random route order (ours only)" "$(ourfield our4fib delete_random_order)" "-" cycles/route
row "v6 add, thread CPU (ours only)" "$(ourfield our6 add_cpu_ns)" "-" ns/route
row "v6 delete, thread CPU (ours only)" "$(ourfield our6 delete_cpu_ns)" "-" ns/route
# Memory: ours as mapped (tables) plus the rule store; DPDK's computed from the tests' configs:
# rte_lpm = 2^24*4 + 2048 tbl8s*256*4 + 2M max_rules*8 bytes; rte_fib dir24_8 (4-byte next
# hops) = 2^24*4 + 65535*256*4 bytes, plus its RIB (not counted).
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
if [ "${QUICK:-0}" != 1 ]; then
    row "lpm4 memory (tables + rules)" \
        "$(awk -v a="$(val ourfield our4 mem_tables_mib)" -v b="$(val ourfield our4 mem_rules_mib)" 'BEGIN { printf "%.1f", a + b }')" \
        "$(mib $(( (1 << 24) * 4 + 2048 * 256 * 4 + 2000000 * 8 )))" MiB
fi
row "fib4 memory (tables only)" "$(ourfield our4fib mem_tables_mib)" "$(mib $(( (1 << 24) * 4 + 65535 * 256 * 4 )))" MiB
