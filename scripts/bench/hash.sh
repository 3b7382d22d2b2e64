#!/usr/bin/env bash
# Exact-match hash lookups: Ferroplane's ExactMatchTable against DPDK's rte_hash
# (`hash_perf_autotest` of dpdk-test), cycles per operation. Row protocol: see
# scripts/bench-vs-dpdk.sh (ROW<TAB>case<TAB>ours<TAB>dpdk<TAB>unit on stdout, the rest on stderr).
#
# DPDK side: hash_perf_autotest, "Without locks", "ELEMENTS IN PRIMARY OR SECONDARY LOCATION",
# "Operations with 8-byte data", "Without pre-computed hash values", key size 13 (a 5-tuple):
# a 2^19-entry table (2^19 slots) into which it adds KEYS_TO_ADD * ADD_PERCENT = 393,216 keys
# (75% load; test_hash_perf.c), lookups in random order, bulk = bursts of 16.
# It has no size knob and takes a few minutes; it runs once.
# Our side: examples/hash_perf.rs, 1,000,000 5-tuple keys in a 2^20-slot table (95% load, a
# harder case than DPDK's: the last keys need cuckoo displacement), hits (random order) and
# misses, single and bulk (16 and 32); and, for like-for-like rows, a table of DPDK's size
# (2^19 slots) at DPDK's 75% load. Adds: the keys are generated before
# the timed loop (as DPDK's are), the fill is repeated HASH_PERF_ADD_RUNS times (default 3) on
# a fresh table and the fastest is reported (DPDK's single fill is its only one); the add's
# thread CPU time is reported beside it (ours only: immune to preemption on a loaded machine).
# Like-for-like DPDK side (the "1M keys" rows): scripts/bench/c/hash_perf.c, built here against
# libdpdk (pkg-config), runs rte_hash through exactly our workload: the same 1,000,000 keys
# (same generator and seed, 13-byte packed 5-tuples), a table created with the same 2^20 entries
# (2^17 buckets of 8, 95% load), the same fill (in order, fastest of HASH_PERF_ADD_RUNS), the same
# hit and miss streams, single lookups (rte_hash_lookup_data) and bursts of 16 and 32
# (rte_hash_lookup_bulk_data), rdtsc cycles per key, median of HASH_PERF_REPEAT passes (default
# 5) on both sides. rte_hash runs with DPDK's default hash (CRC32) and no extra flags (lookups
# without reader-writer concurrency, the autotest's "without locks"; HASH_DPDK_LF=1 makes them
# lock-free-concurrent like ours, HASH_DPDK_JHASH=1 uses the autotest's rte_jhash). EAL:
# --in-memory (hugepages), or --no-huge when that fails.
# The autotest rows compare only DPDK's own 2^19 table at 75% with ours of the same size and load.
# Env: QUICK=1 (no effect on DPDK's fixed run; ours uses 200k keys), BENCH_CPU (default 1),
# HASH_PERF_ADD_RUNS (default 3), BENCH_RT=1 (both sides at real-time priority, chrt -f 10, so
# nothing else on the core preempts them; it starves everything else on that core meanwhile).
# The add rows' fills (our side, when there are several) go to stderr as
# RUNS<TAB>case<TAB>ours<TAB>v1 v2 ... (scripts/bench.sh's spread column); the rest runs once.
set -euo pipefail
cd "$(dirname "$0")/../.."
rt=()
[ "${BENCH_RT:-0}" = 1 ] && rt=(chrt -f 10)
cpu="${BENCH_CPU:-1}"
keys=1000000
[ "${QUICK:-0}" = 1 ] && keys=200000

echo "hash: building examples/hash_perf (release)" >&2
cargo build --release -q -p ferroplane-classify --example hash_perf >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
ours_bin="$target_dir/release/examples/hash_perf"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "hash: running ours on cpu $cpu ($keys keys)" >&2
"${rt[@]}" taskset -c "$cpu" "$ours_bin" "$keys" > "$tmp/ours.txt" 2> "$tmp/ours.err" || { cat "$tmp/ours.err" >&2; exit 1; }
cat "$tmp/ours.err" >&2
mv "$tmp/ours.err" "$tmp/ours.fills"
small_keys=$(( (1 << 19) * 3 / 4 ))
echo "hash: running ours on cpu $cpu ($small_keys keys, 2^19 slots: DPDK's table and load)" >&2
"${rt[@]}" taskset -c "$cpu" "$ours_bin" "$small_keys" $((1 << 19)) > "$tmp/small.txt" 2> "$tmp/ours.err" || { cat "$tmp/ours.err" >&2; exit 1; }
cat "$tmp/ours.err" >&2
mv "$tmp/ours.err" "$tmp/small.fills"
ours() { awk -F'\t' -v k="$1" '$1 ~ k { print $2; exit }' "$tmp/ours.txt"; }
small() { awk -F'\t' -v k="$1" '$1 ~ k { print $2; exit }' "$tmp/small.txt"; }

# like SIDEFILE KEY: a value of the like-for-like DPDK run ("-" when it did not run)
like() { awk -F'\t' -v k="$2" '$1 ~ k { print $2; found = 1; exit } END { if (!found) print "-" }' "$1"; }
: > "$tmp/like.txt"
if pkg-config --exists libdpdk 2> /dev/null; then
    echo "hash: building scripts/bench/c/hash_perf.c against libdpdk" >&2
    # shellcheck disable=SC2046
    if cc -O3 -march=native -o "$tmp/dpdk_hash_perf" scripts/bench/c/hash_perf.c $(pkg-config --cflags --libs libdpdk) >&2; then
        echo "hash: running DPDK rte_hash on our workload, cpu $cpu ($keys keys)" >&2
        eal=(--no-pci -l "$cpu" --log-level=lib.eal:error --file-prefix "fphashlike$$")
        if ! "${rt[@]}" "$tmp/dpdk_hash_perf" "${eal[@]}" --in-memory -- "$keys" > "$tmp/like.txt" 2> "$tmp/like.err"; then
            cat "$tmp/like.err" >&2
            echo "hash: retrying the DPDK side with --no-huge" >&2
            "${rt[@]}" "$tmp/dpdk_hash_perf" "${eal[@]}" --no-huge -m 512 -- "$keys" > "$tmp/like.txt" 2> "$tmp/like.err" \
                || { cat "$tmp/like.err" >&2; : > "$tmp/like.txt"; }
        fi
        cat "$tmp/like.err" >&2
    else
        echo "hash: cannot build scripts/bench/c/hash_perf.c; like-for-like DPDK column empty" >&2
    fi
else
    echo "hash: libdpdk not found (pkg-config); like-for-like DPDK column empty" >&2
fi

dpdk_add=- dpdk_lookup=- dpdk_bulk=-
if command -v dpdk-test > /dev/null; then
    echo "hash: running DPDK hash_perf_autotest on lcore $cpu (a few minutes)" >&2
    if echo hash_perf_autotest | timeout 1800 "${rt[@]}" dpdk-test --no-pci -l "$cpu" --file-prefix "fphash$$" \
        > "$tmp/dpdk.txt" 2>&1; then
        read -r dpdk_add dpdk_lookup dpdk_bulk _ < <(awk '
            /Without locks in the code/ { nolock = 1 }
            /With locks in the code/ || /EXTENDABLE/ { nolock = 0 }
            /ELEMENTS IN PRIMARY OR SECONDARY LOCATION/ { both = 1 }
            /ALL ELEMENTS IN PRIMARY LOCATION/ { both = 0 }
            /Operations with 8-byte data/ { data = 1 }
            /Operations without data/ { data = 0 }
            /Without pre-computed hash values/ { nohash = 1 }
            /With pre-computed hash values/ { nohash = 0 }
            nolock && both && data && nohash && $1 == "13" { print $2, $3, $4, $5; exit }
        ' "$tmp/dpdk.txt") || true
        [ -n "$dpdk_lookup" ] || { echo "hash: could not parse DPDK output:" >&2; tail -20 "$tmp/dpdk.txt" >&2; dpdk_add=- dpdk_lookup=- dpdk_bulk=-; }
    else
        echo "hash: dpdk-test failed:" >&2
        tail -20 "$tmp/dpdk.txt" >&2
    fi
else
    echo "hash: dpdk-test not installed; DPDK column empty" >&2
fi

# Like-for-like rows: both sides on the same workload (1M keys, 2^20 entries, see above).
lk="$tmp/like.txt"
printf 'ROW\t%s\t%s\t%s\t%s\n' \
    "1M keys, 2^20 entries: lookup hit, single" "$(ours 'lookup hit')" "$(like "$lk" 'lookup hit')" "cycles/lookup" \
    "1M keys, 2^20 entries: lookup hit, bulk 16" "$(ours 'bulk16 hit')" "$(like "$lk" 'bulk16 hit')" "cycles/lookup" \
    "1M keys, 2^20 entries: lookup hit, bulk 32" "$(ours 'bulk32 hit')" "$(like "$lk" 'bulk32 hit')" "cycles/lookup" \
    "1M keys, 2^20 entries: lookup miss, single" "$(ours 'lookup miss')" "$(like "$lk" 'lookup miss')" "cycles/lookup" \
    "1M keys, 2^20 entries: lookup miss, bulk 16" "$(ours 'bulk16 miss')" "$(like "$lk" 'bulk16 miss')" "cycles/lookup" \
    "1M keys, 2^20 entries: lookup miss, bulk 32" "$(ours 'bulk32 miss')" "$(like "$lk" 'bulk32 miss')" "cycles/lookup" \
    "1M keys, 2^20 entries: add to 95%" "$(ours ', add$')" "$(like "$lk" ', add$')" "cycles/add" \
    "1M keys, 2^20 entries: add, thread CPU time" "$(ours 'add thread-cpu-ns')" "$(like "$lk" 'add thread-cpu-ns')" "ns/add"
# Against hash_perf_autotest, in its own table (2^19 slots at 75%). Our 1M-key figures are
# compared with the like-for-like C bench above, not with the autotest's smaller table.
printf 'ROW\t%s\t%s\t%s\t%s\n' \
    "2^19 slots, 75% (DPDK's table): lookup hit, single" "$(small 'lookup hit')" "$dpdk_lookup" "cycles/lookup" \
    "2^19 slots, 75% (DPDK's table): lookup hit, bulk 16" "$(small 'bulk16 hit')" "$dpdk_bulk" "cycles/lookup" \
    "2^19 slots, 75% (DPDK's table): add" "$(small ', add$')" "$dpdk_add" "cycles/add"
# fill_runs CASE FILE FIELD: the fills in FILE (hash_perf's stderr lines "hash_perf: fill N:
# C cycles, T thread-cpu-ns per add"), FIELD 1 (cycles per add) or 2 (thread CPU ns per add),
# as a RUNS line for CASE when there are several.
fill_runs() {
    local v
    v=$(sed -n 's/^hash_perf: fill [0-9]*: \([0-9.]*\) cycles, \([0-9.]*\) thread-cpu-ns per add$/\1 \2/p' "$2" \
        | awk -v f="$3" '{ printf "%s%s", sep, $f; sep = " " }')
    if [ "$(wc -w <<<"$v")" -gt 1 ]; then printf 'RUNS\t%s\tours\t%s\n' "$1" "$v" >&2; fi
}
fill_runs "2^19 slots, 75% (DPDK's table): add" "$tmp/small.fills" 1
if [ -s "$tmp/like.err" ]; then
    for side in ours dpdk; do
        f="$tmp/ours.fills"
        [ $side = dpdk ] && f="$tmp/like.err"
        v=$(sed -n 's/^hash_perf: fill [0-9]*: \([0-9.]*\) cycles, .*/\1/p' "$f" | tr '\n' ' ' | sed 's/ $//')
        if [ "$(wc -w <<<"$v")" -gt 1 ]; then printf 'RUNS\t%s\t%s\t%s\n' "1M keys, 2^20 entries: add to 95%" "$side" "$v" >&2; fi
    done
fi
fill_runs "1M keys, 2^20 entries: add, thread CPU time" "$tmp/ours.fills" 2
mem=$(awk -F'\t' '$1 == "memory_bytes" { printf "%.1f", $2 / 1048576 }' "$tmp/ours.txt")
dmem=$(awk -F'\t' '$1 == "memory_bytes" { printf "%.1f", $2 / 1048576 }' "$tmp/like.txt")
printf 'ROW\t%s\t%s\t%s\t%s\n' "table memory ($keys keys; buckets + key store)" "$mem" "${dmem:--}" "MiB"
