#!/usr/bin/env bash
# AF_XDP forwarding: Ferroplane's af_xdp io forwarder against dpdk-testpmd's net_af_xdp, on the
# same veths, same generator, alternating runs, medians. Row protocol: see scripts/bench-vs-dpdk.sh.
#
# Topology (all created here, deleted on exit):
#   netns fpxG: generator on fpxAg  ->  fpxA (root ns): forwarder (AF_XDP on fpxA and fpxB)
#   -> fpxB (root ns)  ->  netns fpxC: fpxBc with our XDP count-and-drop program (the counter).
# The forwarder is pinned to CPU FWD_CORE (1), the generator to CPU GEN_CORE (0). trafgen pins its
# worker to CPU 0 itself (`-P 1` forks one process and binds it to CPU 0, whatever taskset says),
# so the generator must be on CPU 0: with the forwarder there too, both share a core.
#
# Two phases, for each generator chosen with GEN:
# 1. Maximum rate: the offered load (the counter on fpxA itself, no forwarder), ours, testpmd
#    and the kernel's ceiling (our XDP_REDIRECT program fpxA -> fpxB), RUNS alternating runs,
#    medians. Row: ns/packet (1000/Mpps, lower is better); Mpps go to stderr.
# 2. Loss below the generator's rate (trafgen only: pktgen's live-frames mode has no rate
#    control): LOSS_PCTS percent of the measured maximum offered rate, LOSS_SECS seconds of a
#    fixed frame count, for ours, testpmd and the kernel path. Loss = frames the generator put
#    into fpxAg (its tx_packets + tx_dropped) minus frames counted on fpxBc. Row: percent lost
#    (median over LOSS_RUNS), ours and testpmd; the kernel path's loss goes to stderr.
# Where a row has several runs (RUNS > 1, LOSS_RUNS > 1), each side's runs in the row's unit go to
# stderr as RUNS<TAB>case<TAB>ours|dpdk<TAB>v1 v2 ... (scripts/bench.sh's spread column).
#
#   RUNS=5 SECS=6 scripts/bench/af_xdp.sh              QUICK=1 scripts/bench/af_xdp.sh
#   GEN=trafgen|pktgen|both (default both)              LOSS_PCTS="25 50 75" LOSS_SECS=5 LOSS_RUNS=3
#   LOSS=0 (skip phase 2)   MAX=0 (skip phase 1; then RATE_MAX=<pps> gives the maximum)
#   PRIO=-10 (nice value for both forwarders, on a busy host: each runs in a session of its
#   own, whose autogroup gets this nice value, since with kernel.sched_autogroup_enabled=1 a
#   plain `nice` only acts within a session; do not use SCHED_FIFO: a busy-polling forwarder
#   then starves ksoftirqd on its CPU and the far side of the path loses nearly everything)
#   RXD=2048 (RX ring size of both forwarders: rx_ring for ours, --rxd for testpmd; 8192 rides
#   out longer stalls of a forwarder that shares its core)
#   FWD_EXTRA="busy_poll=0" FWD_POOL=N (our forwarder's extra af_xdp keys; its pool size,
#   default 6 * RXD + 8192 chunks)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
SECS=${SECS:-6}
GEN=${GEN:-both}
LOSS=${LOSS:-1}
MAX=${MAX:-1}
LOSS_PCTS=${LOSS_PCTS:-25 50 75}
LOSS_SECS=${LOSS_SECS:-5}
LOSS_RUNS=${LOSS_RUNS:-3}
RXD=${RXD:-2048}
GEN_CORE=0
FWD_CORE=${FWD_CORE:-1}
[ "$FWD_CORE" != "$GEN_CORE" ] || { echo "af_xdp bench: FWD_CORE=$FWD_CORE is trafgen's CPU (0)" >&2; exit 2; }
# This script and everything it starts without a core of its own (counters, ip, awk) stay off
# the forwarder's core: a shell loop there preempts the forwarder for milliseconds at a time.
taskset -p -c "$GEN_CORE" $$ >/dev/null
FWD_POOL=${FWD_POOL:-$((6 * RXD + 8192))}
PRIO_ARGS=()
if [ -n "${PRIO:-}" ]; then
    [[ $PRIO =~ ^-?[0-9]+$ ]] || { echo "af_xdp bench: PRIO=$PRIO: expected a nice value like -10" >&2; exit 2; }
    PRIO_ARGS=(setsid sh -c 'echo "$0" > /proc/self/autogroup; renice -n "$0" -p $$ >/dev/null; exec "$@"' "$PRIO")
fi
if [ "${QUICK:-0}" = 1 ]; then RUNS=1; SECS=3; LOSS_SECS=2; LOSS_RUNS=1; fi
case $GEN in
    trafgen) GENS=(trafgen) ;;
    pktgen) GENS=(pktgen) ;;
    both) GENS=(trafgen pktgen) ;;
    *) echo "af_xdp bench: GEN=$GEN: expected trafgen, pktgen or both" >&2; exit 2 ;;
esac
if [ "$MAX" = 0 ] && [ "$LOSS" = 1 ] && [ -z "${RATE_MAX:-}" ]; then
    echo "af_xdp bench: MAX=0 needs RATE_MAX=<pps> (the generator's maximum) for the loss phase" >&2
    exit 2
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p ferroplane-pmd --example xdp_io_fwd >&2
FWD=$CARGO_TARGET_DIR/release/examples/xdp_io_fwd
PKTGEN=$CARGO_TARGET_DIR/release/pktgen
if [[ " ${GENS[*]} " = *" pktgen "* ]]; then
    cargo build -q --release -p ferroplane-pktgen --bin pktgen >&2
fi
command -v trafgen >/dev/null || { echo "af_xdp bench: trafgen (netsniff-ng) is missing" >&2; exit 1; }
command -v dpdk-testpmd >/dev/null || { echo "af_xdp bench: dpdk-testpmd is missing" >&2; exit 1; }

G=fpxG C=fpxC A=fpxA Ag=fpxAg B=fpxB Bc=fpxBc
TMP=$(mktemp -d)
cleanup() {
    for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip link del "$A" 2>/dev/null || true
    ip link del "$B" 2>/dev/null || true
    ip netns del "$G" 2>/dev/null || true
    ip netns del "$C" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
ip link del "$A" 2>/dev/null || true
ip link del "$B" 2>/dev/null || true
ip netns del "$G" 2>/dev/null || true
ip netns del "$C" 2>/dev/null || true
ip netns add "$G"
ip netns add "$C"
ip link add "$A" type veth peer name "$Ag"
ip link add "$B" type veth peer name "$Bc"
ip link set "$Ag" netns "$G"
ip link set "$Bc" netns "$C"
for dev in "$A" "$B"; do sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"; ip link set "$dev" up; done
ip netns exec "$G" sh -c "sysctl -qw net.ipv6.conf.$Ag.disable_ipv6=1; ip link set $Ag up; ip link set lo up"
ip netns exec "$C" sh -c "sysctl -qw net.ipv6.conf.$Bc.disable_ipv6=1; ip link set $Bc up; ip link set lo up"
sleep 1

cat > "$TMP/udp64.cfg" <<'CFG'
{ eth(da=02:00:00:00:00:02, sa=02:00:00:00:00:01, type=0x0800),
  ipv4(saddr=10.0.0.1, daddr=10.0.0.2, ttl=64),
  udp(sport=1000, dport=2000),
  fill(0x41, 18) }
CFG

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# gen_start GEN [PPS COUNT]: starts the generator in the background (its own process group, so
# that it can be stopped with kill -- -PID); unlimited when PPS is absent. Sets GPID.
gen_start() {
    local gen=$1 pps=${2:-} count=${3:-0}
    case $gen in
        trafgen)
            local rate=()
            [ -n "$pps" ] && rate=(-b "${pps}pps")
            setsid ip netns exec "$G" taskset -c "$GEN_CORE" trafgen -o "$Ag" -i "$TMP/udp64.cfg" -P 1 -Q -C \
                -n "$count" "${rate[@]}" >/dev/null 2>"$TMP/gen.err" &
            ;;
        pktgen)
            # 64-byte UDP frames (60 + FCS), like trafgen's; until stopped.
            setsid ip netns exec "$G" taskset -c "$GEN_CORE" "$PKTGEN" xdp --iface "$Ag" --count 1000000000000 \
                --size 64 --proto udp --src-ip 10.0.0.1 --dst-ip 10.0.0.2 --src-port 1000 \
                --dst-port 2000 --src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 \
                >/dev/null 2>"$TMP/gen.err" &
            ;;
    esac
    GPID=$!
}

show_fwd() {
    sed 's/^/    /' "$TMP/fwd.out" | grep -E "xdp_io_fwd|Forward statistics|RX-packets|TX-packets|error|Error" | head -9 >&2 || true
}

# measure GEN NAME NETNS|- IFACE [FORWARDER...]: the counter on IFACE (in netns NETNS), the
# forwarder command (if any), then the generator at full rate; records the median pps over the
# steady seconds.
measure() {
    local gen=$1 name=$2 cns=$3 cif=$4; shift 4
    local total=$((SECS + 3))
    local nsexec=(ip netns exec "$cns")
    [ "$cns" = - ] && nsexec=()
    "${nsexec[@]}" "$FWD" count "$cif" --secs "$total" > "$TMP/count.txt" 2>"$TMP/count.err" &
    local cpid=$!
    local fpid=
    if [ $# -gt 0 ]; then
        "$@" $((SECS + 2)) > "$TMP/fwd.out" 2>&1 &
        fpid=$!
    fi
    sleep 1
    gen_start "$gen"
    wait "$cpid" || { echo "af_xdp bench: counter failed: $(cat "$TMP/count.err")" >&2; }
    kill -INT -- "-$GPID" 2>/dev/null || true
    wait "$GPID" 2>/dev/null || true
    if [ -n "$fpid" ]; then
        kill -INT "$fpid" 2>/dev/null || true
        wait "$fpid" 2>/dev/null || true
        show_fwd
    fi
    # Seconds 2..SECS+1 of the counter: the generator runs and everything is warm.
    local pps
    pps=$(sed -n 's/^pps //p' "$TMP/count.txt" | sed -n "3,$((SECS + 1))p" | median)
    printf '%s %s %s\n' "$gen" "$name" "$pps" >> "$TMP/results"
    awk -v g="$gen" -v n="$name" -v p="$pps" 'BEGIN { printf "af_xdp bench: %-8s %-8s %8.3f Mpps\n", g, n, p / 1e6 }' >&2
}

ag_sent() {
    ip netns exec "$G" sh -c "echo \$((\$(cat /sys/class/net/$Ag/statistics/tx_packets) + \$(cat /sys/class/net/$Ag/statistics/tx_dropped)))"
}

# measure_loss PCT PPS NAME FORWARDER...: trafgen sends PPS * LOSS_SECS frames at PPS through
# the forwarder; records the percentage that did not reach the counter on fpxBc.
measure_loss() {
    local pct=$1 pps=$2 name=$3; shift 3
    local count=$((pps * LOSS_SECS))
    ip netns exec "$C" "$FWD" count "$Bc" --secs $((LOSS_SECS + 30)) > "$TMP/count.txt" 2>"$TMP/count.err" &
    local cpid=$!
    "$@" $((LOSS_SECS + 30)) > "$TMP/fwd.out" 2>&1 &
    local fpid=$!
    sleep 1.5
    local before after t0 t1
    before=$(ag_sent)
    t0=$(date +%s.%N)
    gen_start trafgen "$pps" "$count"
    wait "$GPID" 2>/dev/null || true
    t1=$(date +%s.%N)
    sleep 0.5
    after=$(ag_sent)
    kill -INT "$cpid" 2>/dev/null || true
    wait "$cpid" 2>/dev/null || true
    kill -INT "$fpid" 2>/dev/null || true
    wait "$fpid" 2>/dev/null || true
    show_fwd
    local got sent
    got=$(sed -n 's/^total //p' "$TMP/count.txt")
    sent=$((after - before))
    awk -v n="$name" -v p="$pct" -v s="$sent" -v g="${got:-0}" -v t0="$t0" -v t1="$t1" -v o="$TMP/loss" 'BEGIN {
        loss = s > 0 ? 100 * (s - g) / s : 100
        printf "af_xdp bench: loss at %s%% of max: %-7s sent %d in %.2f s (%.1f kpps), received %d, lost %.3f%%\n", p, n, s, t1 - t0, s / (t1 - t0) / 1e3, g, loss > "/dev/stderr"
        printf "%s %s %.4f\n", p, n, loss >> o
    }'
}

# The forwarders exec, so that a job's pid is the forwarder's own and kill -INT reaches it.
ours() {
    exec taskset -c "$FWD_CORE" "${PRIO_ARGS[@]}" "$FWD" fwd "$A" "$B" --core "$FWD_CORE" --secs "$1" --pool "$FWD_POOL" \
        --extra "rx_ring=$RXD${FWD_EXTRA:+,$FWD_EXTRA}"
}
testpmd() {
    # It quits on SIGINT or at the newline on its standard input.
    exec "${PRIO_ARGS[@]}" dpdk-testpmd -l "$GEN_CORE,$FWD_CORE" --main-lcore "$GEN_CORE" --no-pci --in-memory --file-prefix fpxbench \
        --vdev "net_af_xdp0,iface=$A" --vdev "net_af_xdp1,iface=$B" -- \
        --forward-mode=io --auto-start --nb-cores=1 --txd=2048 --rxd="$RXD" < <(sleep "$1"; echo)
}
redirect() { exec "$FWD" redirect "$A" "$B" --secs "$1"; }
ns() { awk -v p="$1" 'BEGIN { if (p + 0 == 0) print "-"; else printf "%.2f", 1e9 / p }'; }

: > "$TMP/results"
: > "$TMP/loss"
for gen in "${GENS[@]}"; do
    [ "$MAX" = 1 ] || break
    for r in $(seq 1 "$RUNS"); do
        echo "af_xdp bench: $gen, maximum rate, run $r of $RUNS" >&2
        measure "$gen" offered - "$A"
        if [ $((r % 2)) = 1 ]; then
            measure "$gen" ours "$C" "$Bc" ours
            measure "$gen" dpdk "$C" "$Bc" testpmd
        else
            measure "$gen" dpdk "$C" "$Bc" testpmd
            measure "$gen" ours "$C" "$Bc" ours
        fi
        measure "$gen" kernel "$C" "$Bc" redirect
    done
    med() { awk -v g="$gen" -v n="$1" '$1 == g && $2 == n { print $3 }' "$TMP/results" | median; }
    o=$(med ours); d=$(med dpdk); k=$(med kernel); g=$(med offered)
    awk -v gen="$gen" -v o="$o" -v d="$d" -v k="$k" -v g="$g" 'BEGIN {
        printf "af_xdp bench: %s medians: offered %.3f Mpps, ours %.3f, testpmd %.3f, kernel XDP_REDIRECT %.3f\n", gen, g/1e6, o/1e6, d/1e6, k/1e6
        if (k > 0) printf "af_xdp bench: %s, of the kernel ceiling: ours %.0f%%, testpmd %.0f%%\n", gen, 100*o/k, 100*d/k
    }' >&2
    row_case="io fwd 64B veth->AF_XDP->veth (1 core), $gen"
    printf 'ROW\t%s\t%s\t%s\tns/packet\n' "$row_case" "$(ns "$o")" "$(ns "$d")"
    if [ "$RUNS" -gt 1 ]; then
        for side in ours dpdk; do
            printf 'RUNS\t%s\t%s\t%s\n' "$row_case" "$side" "$(awk -v g="$gen" -v n="$side" \
                '$1 == g && $2 == n && $3 + 0 > 0 { printf "%s%.2f", sep, 1e9 / $3; sep = " " }' "$TMP/results")" >&2
        done
    fi
done

if [ "$LOSS" = 1 ]; then
    gmax=${RATE_MAX:-$(awk '$1 == "trafgen" && $2 == "offered" { print $3 }' "$TMP/results" | median)}
    if [ "${gmax%.*}" = 0 ] || [ -z "$gmax" ]; then
        # Phase 1 ran with pktgen only: measure trafgen's maximum for the loss phase.
        measure trafgen offered - "$A"
        gmax=$(awk '$1 == "trafgen" && $2 == "offered" { print $3 }' "$TMP/results" | median)
    fi
    echo "af_xdp bench: loss phase, trafgen maximum $(awk -v p="$gmax" 'BEGIN { printf "%.1f kpps", p / 1e3 }')" >&2
    for pct in $LOSS_PCTS; do
        pps=$(awk -v p="$gmax" -v f="$pct" 'BEGIN { printf "%d", p * f / 100 }')
        for r in $(seq 1 "$LOSS_RUNS"); do
            if [ $((r % 2)) = 1 ]; then
                measure_loss "$pct" "$pps" ours ours
                measure_loss "$pct" "$pps" dpdk testpmd
            else
                measure_loss "$pct" "$pps" dpdk testpmd
                measure_loss "$pct" "$pps" ours ours
            fi
            measure_loss "$pct" "$pps" kernel redirect
        done
        lmed() { awk -v p="$pct" -v n="$1" '$1 == p && $2 == n { print $3 }' "$TMP/loss" | median; }
        lo=$(lmed ours); ld=$(lmed dpdk); lk=$(lmed kernel)
        echo "af_xdp bench: loss at $pct% of max ($pps pps), medians: ours $lo%, testpmd $ld%, kernel XDP_REDIRECT $lk%" >&2
        row_case="loss at $pct% of trafgen max rate, io fwd veth->AF_XDP->veth, RX ring $RXD"
        printf 'ROW\t%s\t%.3f\t%.3f\t%% lost\n' "$row_case" "$lo" "$ld"
        if [ "$LOSS_RUNS" -gt 1 ]; then
            for side in ours dpdk; do
                printf 'RUNS\t%s\t%s\t%s\n' "$row_case" "$side" "$(awk -v p="$pct" -v n="$side" \
                    '$1 == p && $2 == n { printf "%s%.3f", sep, $3; sep = " " }' "$TMP/loss")" >&2
            done
        fi
    done
fi
