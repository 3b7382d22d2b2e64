#!/usr/bin/env bash
# Engine overhead: io forwarding between two null ports through the full worker loop (RX burst,
# worker call, TX buffering, drain timer) on one pinned forwarding core, against
# dpdk-testpmd --forward-mode=io on two net_null vdevs, in the same run, alternating.
#
#   scripts/bench/engine.sh              # 5 runs of 6 s per side
#   QUICK=1 scripts/bench/engine.sh      # 1 run of 3 s per side
#   RUNS=7 SECS=10 scripts/bench/engine.sh
#
# Both sides run at burst 32 (testpmd's default, the issue's command) and at burst 64; each row
# compares the same burst size (--burst sets Ferroplane's RX burst and TX flush threshold).
# Both sides: main lcore 0 (control, stats), forwarding lcore 1, stats every second. The rate of
# a run is the median over its per-second samples (the first one dropped) of the packets sent on
# both ports together; the row is the median over runs. Prints on stdout, per the protocol of
# scripts/bench-vs-dpdk.sh:
#   ROW<TAB>io_fwd_null_1core_burst32<TAB>ours<TAB>dpdk<TAB>ns/packet      (ns/packet = 1000 / Mpps)
# and the Mpps (per run and medians) on stderr, with, for RUNS > 1, per row and side, the runs in
# the row's unit: RUNS<TAB>case<TAB>ours|dpdk<TAB>v1 v2 ...  (scripts/bench.sh's spread column).
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS="${RUNS:-5}"
SECS="${SECS:-6}"
# Quick: 3 s, since the first one-second sample (start-up) is dropped and a 2-s run may print
# only that one.
if [ "${QUICK:-0}" = 1 ]; then RUNS=1; SECS=3; fi
LCORES="${LCORES:-0-1}"
log() { echo "engine-bench: $*" >&2; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
log "building io_fwd (release)"
cargo build --release -q -p ferroplane --example io_fwd >&2
IO_FWD="$CARGO_TARGET_DIR/release/examples/io_fwd"
TESTPMD="$(command -v dpdk-testpmd || true)"

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# Ours: lines "port N (...): rx ... | tx X pkts (R Mpps) dropped D"; sum R over ports per period.
# $1 = burst.
ours_run() {
    local out; out=$(mktemp)
    RUST_LOG=warn "$IO_FWD" -l "$LCORES" --port null:size=64 --port null:size=64 --burst "$1" \
        --stats-period 1 --duration "$SECS" > "$out" 2>&1 || { log "io_fwd failed:"; cat "$out" >&2; rm -f "$out"; echo "-"; return; }
    awk -F'|' '
        /^port [0-9]+ / { split($2, f, " "); v = f[4]; gsub(/[()]/, "", v);
            if (f[5] ~ /^Kpps/) v /= 1000; else if (f[5] ~ /^pps/) v /= 1e6; sum += v; next }
        /^lcores:/ { samples[++k] = sum; sum = 0 }
        END { for (i = 2; i <= k; i++) print samples[i] }' "$out" | median
    rm -f "$out"
}

# testpmd: per port "Tx-pps: R" every second; sum over the two ports per period. $1 = burst.
dpdk_run() {
    [ -n "$TESTPMD" ] || { echo "-"; return; }
    local out; out=$(mktemp)
    timeout -s INT "$((SECS + 3))" "$TESTPMD" --no-pci --vdev net_null0 --vdev net_null1 -l "$LCORES" \
        --file-prefix "fpbench$$" --log-level=error -- --forward-mode=io --burst="$1" --stats-period 1 \
        --no-lsc-interrupt < /dev/null > "$out" 2>&1 || true
    awk '
        /Tx-pps:/ { v[++n] = $2 }
        END { for (i = 1; i + 1 <= n; i += 2) { k++; s[k] = (v[i] + v[i + 1]) / 1e6 }
              for (i = 3; i <= k; i++) if (s[i] > 0) print s[i] }' "$out" | median
    rm -f "$out"
}

o32=(); o64=(); d32=(); d64=()
for r in $(seq 1 "$RUNS"); do
    if [ $((r % 2)) = 1 ]; then a=$(ours_run 32); b=$(dpdk_run 32); c=$(ours_run 64); d=$(dpdk_run 64)
    else d=$(dpdk_run 64); c=$(ours_run 64); b=$(dpdk_run 32); a=$(ours_run 32); fi
    log "run $r: burst 32: ferroplane $a Mpps, testpmd $b Mpps; burst 64: ferroplane $c Mpps, testpmd $d Mpps"
    o32+=("$a"); d32+=("$b"); o64+=("$c"); d64+=("$d")
done
med() { printf '%s\n' "$@" | grep -v '^-$' | median; }
om32=$(med "${o32[@]}"); m32=$(med "${d32[@]}"); om64=$(med "${o64[@]}"); m64=$(med "${d64[@]}")
log "median Mpps: burst 32: ferroplane $om32, testpmd $m32; burst 64: ferroplane $om64, testpmd $m64 (lcores $LCORES, $RUNS runs of $SECS s)"
ns() { awk -v m="$1" 'BEGIN { if (m == "-" || m + 0 == 0) print "-"; else printf "%.3f\n", 1000 / m }'; }
# runs_ns MPPS...: the runs in ns/packet (runs without a rate left out), space separated.
runs_ns() { printf '%s\n' "$@" | awk '$1 != "-" && $1 + 0 > 0 { printf "%s%.3f", sep, 1000 / $1; sep = " " }'; }
printf 'ROW\tio_fwd_null_1core_burst32\t%s\t%s\tns/packet\n' "$(ns "$om32")" "$(ns "$m32")"
printf 'ROW\tio_fwd_null_1core_burst64\t%s\t%s\tns/packet\n' "$(ns "$om64")" "$(ns "$m64")"
# runs_line CASE SIDE MPPS...: the RUNS line of one row and side (none without any rate).
runs_line() {
    local list
    list=$(runs_ns "${@:3}")
    if [ -n "$list" ]; then printf 'RUNS\t%s\t%s\t%s\n' "$1" "$2" "$list" >&2; fi
}
if [ "$RUNS" -gt 1 ]; then
    runs_line io_fwd_null_1core_burst32 ours "${o32[@]}"
    runs_line io_fwd_null_1core_burst32 dpdk "${d32[@]}"
    runs_line io_fwd_null_1core_burst64 ours "${o64[@]}"
    runs_line io_fwd_null_1core_burst64 dpdk "${d64[@]}"
fi
