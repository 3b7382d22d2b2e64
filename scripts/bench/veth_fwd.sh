#!/usr/bin/env bash
# l2fwd and l3fwd (LPM, exact match) over AF_XDP on veths: Ferroplane's examples against DPDK
# 22.11's own l2fwd and l3fwd examples (built from /usr/share/dpdk/examples) and against
# dpdk-testpmd io forwarding, on the same topology and generator, in the same run, alternating.
#
#   scripts/bench/veth_fwd.sh               # 5 runs of 6 s per forwarder (~7 min here)
#   QUICK=1 scripts/bench/veth_fwd.sh       # 1 run of 2 s (CI: proves the script works; ~2 min)
#   RUNS=7 SECS=10 scripts/bench/veth_fwd.sh
#   SKIP_BUILD=1 TRAFGEN=0 scripts/bench/veth_fwd.sh
#
# Topology (three namespaces, created here, removed on exit, Ctrl-C or error):
#
#   ns G: pktgen xdp / trafgen on <g>  ---veth--- <fa> ns F: forwarder port 0
#                                                  <fb>    forwarder port 1 ---veth--- <c> ns C
#
# Both forwarder ports are AF_XDP (ours: af_xdp:iface=<fa>; DPDK: --vdev net_af_xdp0,iface=<fa>).
# The frames are 64-byte UDP/IPv4 198.18.1.1:9 -> 198.18.1.0:9 addressed to port 0's MAC: DPDK
# l3fwd's default LPM route (198.18.1.0/24) and default exact-match flow both send them to port 1,
# and so do ours. l3fwd runs with --eth-dest 1,<c's MAC> (both), DPDK's with -P and --parse-ptype
# (the af_xdp PMD does not classify). l2fwd forwards port 0 -> 1 with MAC updating (both).
# The "io" row is our l2fwd --no-mac-updating against testpmd --forward-mode=io.
#
# Generator: pktgen's XDP live-frames mode (BPF_PROG_RUN into <g>, pinned to core GEN_CORE, 0) for
# SECS s per forwarder, in chunks of GEN_CHUNK frames (500000); each run starts with the offered load (the generator alone for 1 s, an
# XDP counter on <fa>, no forwarder). Forwarders: one lcore, pinned to FWD_CORE (1). The rate of
# a run is what arrives at the far end, counted by pktgen's XDP count-and-drop program on <c>
# (the far end's rx_packets is read too and must agree), over the generator's sending time. With TRAFGEN=1 (default) every forwarder also gets one run driven by
# trafgen (netsniff-ng) for SECS s, counted by <c>'s rx_packets: an independent generator.
#
# Output, per the protocol of scripts/bench-vs-dpdk.sh (ns/packet = 1000 / Mpps, lower is better):
#   ROW<TAB>l2fwd_afxdp_veth_64B<TAB>ours<TAB>dpdk<TAB>ns/packet
#   ROW<TAB>l3fwd_lpm_afxdp_veth_64B ...   ROW<TAB>l3fwd_em_afxdp_veth_64B ...
#   ROW<TAB>io_afxdp_veth_64B (DPDK: testpmd io) ...
#   ROW<TAB>... (trafgen) rows, and a reference row for the offered load (generator alone)
# and on stderr the Mpps per run and the medians, plus RUNS<TAB>case<TAB>ours|dpdk<TAB>v1 v2 ...
# (the runs in the row's unit, for scripts/bench.sh's spread column).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

RUNS="${RUNS:-5}"
SECS="${SECS:-6}"
if [ "${QUICK:-0}" = 1 ]; then RUNS=1; SECS=2; fi
GEN_CORE="${GEN_CORE:-0}"
FWD_CORE="${FWD_CORE:-1}"
TRAFGEN="${TRAFGEN:-1}"
# This script and what it starts without a core of its own (ip, cat, awk) stay off the
# forwarder's core: a shell loop there preempts the forwarder for milliseconds at a time.
[ "$GEN_CORE" != "$FWD_CORE" ] && taskset -p -c "$GEN_CORE" $$ >/dev/null
log() { echo "veth-fwd: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { log "needs root (network namespaces, veth pairs, AF_XDP)"; exit 1; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "${SKIP_BUILD:-0}" = 1 ]; then
    log "SKIP_BUILD=1: using the release binaries already in $CARGO_TARGET_DIR"
else
    log "building pktgen, l2fwd, l3fwd (release)"
    cargo build --release -q -p ferroplane-pktgen -p ferroplane-examples >&2
fi
PKTGEN="$CARGO_TARGET_DIR/release/pktgen"
OURS_L3="$CARGO_TARGET_DIR/release/l3fwd"
OURS_L2="$CARGO_TARGET_DIR/release/l2fwd"
TESTPMD=$(command -v dpdk-testpmd || echo -)
if [ "$TRAFGEN" = 1 ] && ! command -v trafgen >/dev/null; then
    log "trafgen (netsniff-ng) is missing: no trafgen cross-check"
    TRAFGEN=0
fi

work=$(mktemp -d /tmp/fp-veth-fwd.XXXXXX)
# shellcheck source=scripts/lib/dpdk_examples.sh
. scripts/lib/dpdk_examples.sh
DPDK_EXAMPLES_LOG_TAG=veth-fwd dpdk_examples_build "$work"

TOPO_PREFIX=fpv
TOPO_LOG_TAG=veth-fwd
# shellcheck source=scripts/lib/topo.sh
. scripts/lib/topo.sh
topo_init
trap 'topo_cleanup; rm -rf "$work"' EXIT

G=$(topo_name g) F=$(topo_name f) C=$(topo_name c)
IG=$(topo_name g) IFA=$(topo_name fa) IFB=$(topo_name fb) IC=$(topo_name c)
for ns in "$G" "$F" "$C"; do topo_ns "$ns"; done
topo_veth "$G" "$IG" "$F" "$IFA"
topo_veth "$F" "$IFB" "$C" "$IC"
G_MAC=$(topo_mac "$G" "$IG")
FA_MAC=$(topo_mac "$F" "$IFA")
C_MAC=$(topo_mac "$C" "$IC")
log "topology: $G/$IG -> $F/$IFA [forwarder] $F/$IFB -> $C/$IC (far end, $C_MAC)"

TRAFFIC=(--size 64 --src-mac "$G_MAC" --dst-mac "$FA_MAC" --src-ip 198.18.1.1 --dst-ip 198.18.1.0
    --src-port 9 --dst-port 9)
rx_packets() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }

# gen COUNT COUNT_NS COUNT_IF: pktgen xdp sends COUNT frames into <g>, an XDP counter on
# COUNT_IF counts arrivals; prints "sent_mpps received seconds", or "- 0 0" on failure.
gen() {
    local out="$work/gen.out"
    if ! ip netns exec "$G" taskset -c "$GEN_CORE" "$PKTGEN" xdp --iface "$IG" --count "$1" \
        --count-on "$3" --netns "$2" "${TRAFFIC[@]}" >"$out" 2>&1; then
        log "pktgen xdp failed:"
        tail -3 "$out" >&2
        echo "- 0 0"
        return 0
    fi
    awk '/^xdp live-frames:/ { for (i = 1; i <= NF; i++) { if ($i == "s") t = $(i - 1); if ($i == "Mpps") m = $(i - 1) } }
         /^received on/ { rx = $(NF - 1) }
         END { if (m == "" || rx == "") print "- 0 0"; else print m, rx, t }' "$out"
}

# gen_for SECS COUNT_NS COUNT_IF: gen in chunks of GEN_CHUNK frames until SECS s have passed
# (pktgen xdp stops on a count, and a count sized in advance would make a run's length depend on
# the generator's rate, which the forwarder and everything else on the machine change); prints
# "sent_mpps received sending_seconds" over all chunks, or "- 0 0".
GEN_CHUNK="${GEN_CHUNK:-500000}"
gen_for() {
    local end gm rx t sum_rx=0 sum_t=0 sum_sent=0
    end=$(($(date +%s%N) + $1 * 1000000000))
    while [ "$(date +%s%N)" -lt "$end" ]; do
        read -r gm rx t < <(gen "$GEN_CHUNK" "$2" "$3")
        [ "$gm" = - ] && { echo "- 0 0"; return 0; }
        read -r sum_rx sum_t sum_sent < <(awk -v a="$sum_rx" -v b="$sum_t" -v c="$sum_sent" -v rx="$rx" -v t="$t" -v m="$gm" \
            'BEGIN { printf "%d %.6f %.1f\n", a + rx, b + t, c + m * 1e6 * t }')
    done
    awk -v rx="$sum_rx" -v t="$sum_t" -v s="$sum_sent" 'BEGIN { if (t + 0 > 0) printf "%.4f %d %.6f\n", s / t / 1e6, rx, t; else print "- 0 0" }'
}

# The XDP programs of a forwarder that did not exit cleanly must not outlive it.
xdp_off() { ip -n "$F" link set "$IFA" xdp off 2>/dev/null || true; ip -n "$F" link set "$IFB" xdp off 2>/dev/null || true; }

# start_fwd SIDE CASE: starts the forwarder in ns F on FWD_CORE; sets FWD_PID ("-" when this
# side has no such forwarder). Not in a subshell, so that cleanup knows the pid.
start_fwd() {
    local side=$1 case=$2 pa="af_xdp:iface=$IFA" pb="af_xdp:iface=$IFB" bin
    local -a cmd
    local dpdk_eal=(-l "$FWD_CORE" --no-pci --in-memory --no-telemetry --log-level=error
        --vdev "net_af_xdp0,iface=$IFA" --vdev "net_af_xdp1,iface=$IFB")
    local l3cfg="(0,0,$FWD_CORE),(1,0,$FWD_CORE)"
    case $side/$case in
        ours/l2) bin=$OURS_L2; cmd=("$bin" -l "$FWD_CORE" --main-lcore-works --port "$pa" --port "$pb" -q 2 -T 0) ;;
        ours/io) bin=$OURS_L2; cmd=("$bin" -l "$FWD_CORE" --main-lcore-works --port "$pa" --port "$pb" -q 2 -T 0 --no-mac-updating) ;;
        ours/lpm | ours/em)
            bin=$OURS_L3
            cmd=("$bin" -l "$FWD_CORE" --main-lcore-works --port "$pa" --port "$pb" --lookup "$case"
                --eth-dest "1,$C_MAC" --stats-period 0) ;;
        dpdk/l2) bin=$DPDK_L2; cmd=("$bin" "${dpdk_eal[@]}" -- -p 0x3 -q 2 -T 0) ;;
        dpdk/lpm | dpdk/em)
            bin=$DPDK_L3
            local mode=-L
            [ "$case" = em ] && mode=-E
            cmd=("$bin" "${dpdk_eal[@]}" -- -p 0x3 -P "$mode" --config="$l3cfg" --parse-ptype
                --eth-dest="1,$C_MAC") ;;
        dpdk/io)
            bin=$TESTPMD
            cmd=("$bin" -l "0,$FWD_CORE" --main-lcore 0 --no-pci --in-memory --no-telemetry --log-level=error
                --vdev "net_af_xdp0,iface=$IFA" --vdev "net_af_xdp1,iface=$IFB" --
                --forward-mode=io --auto-start --nb-cores=1 --stats-period 1) ;;
    esac
    FWD_PID=-
    [ "$bin" != - ] && [ -x "$bin" ] || return 0
    # testpmd's main lcore only prints statistics; everything else shares the forwarding core.
    local cores=$FWD_CORE
    [ "$side/$case" = dpdk/io ] && cores="0,$FWD_CORE"
    RUST_LOG=warn ip netns exec "$F" taskset -c "$cores" "${cmd[@]}" \
        </dev/null >"$work/fwd-$side-$case.log" 2>&1 &
    FWD_PID=$!
    topo_pid "$FWD_PID"
}

# wait_fwd PID: until frames get through to the far end (up to 20 s); 0 when they do.
wait_fwd() {
    local i r
    for ((i = 0; i < 40; i++)); do
        kill -0 "$1" 2>/dev/null || return 1
        read -r _ r _ < <(gen 2000 "$C" "$IC")
        [ "$r" -gt 0 ] 2>/dev/null && return 0
        sleep 0.5
    done
    return 1
}

stop_fwd() {
    topo_stop "$1" 5
    xdp_off
    sleep 0.3 # the XSK bind right after the previous owner can return EBUSY
}

RES="$work/results" # side case gen far_mpps far_rx_packets_mpps
: >"$RES"

# measure SIDE CASE: one run of SECS s.
measure() {
    local side=$1 case=$2 pid gm rx t c0 c1
    start_fwd "$side" "$case"
    pid=$FWD_PID
    [ "$pid" = - ] && return 0
    if ! wait_fwd "$pid"; then
        log "$side $case: no frame got through (log below)"
        tail -5 "$work/fwd-$side-$case.log" >&2
        stop_fwd "$pid"
        return 0
    fi
    c0=$(rx_packets "$C" "$IC")
    read -r gm rx t < <(gen_for "$SECS" "$C" "$IC")
    c1=$(rx_packets "$C" "$IC")
    kill -0 "$pid" 2>/dev/null || log "$side $case: the forwarder exited during the run"
    stop_fwd "$pid"
    [ "$gm" = - ] && return 0
    awk -v s="$side" -v c="$case" -v gm="$gm" -v rx="$rx" -v t="$t" -v d=$((c1 - c0)) 'BEGIN {
        printf "%s %s pktgen %.4f %.4f\n", s, c, rx / t / 1e6, d / t / 1e6 }' >>"$RES"
    log "$side $case: pktgen sent at $gm Mpps; far end $(tail -1 "$RES" | cut -d' ' -f4) Mpps (XDP counter), $(tail -1 "$RES" | cut -d' ' -f5) Mpps (rx_packets)"
}

# measure_trafgen SIDE CASE: one run driven by trafgen for SECS s, counted by rx_packets.
measure_trafgen() {
    local side=$1 case=$2 pid c0 c1 g0 g1
    start_fwd "$side" "$case"
    pid=$FWD_PID
    [ "$pid" = - ] && return 0
    if ! wait_fwd "$pid"; then stop_fwd "$pid"; return 0; fi
    printf '{ eth(da=%s, sa=%s, type=0x0800), ipv4(saddr=198.18.1.1, daddr=198.18.1.0, ttl=64), udp(sport=9, dport=9), fill(0x41, 18) }\n' \
        "$FA_MAC" "$G_MAC" >"$work/trafgen.cfg"
    c0=$(rx_packets "$C" "$IC")
    g0=$(rx_packets "$F" "$IFA")
    ip netns exec "$G" timeout -s INT "$SECS" taskset -c "$GEN_CORE" trafgen -o "$IG" -i "$work/trafgen.cfg" \
        -P 1 -q >/dev/null 2>"$work/trafgen.err" || true
    sleep 0.1
    c1=$(rx_packets "$C" "$IC")
    g1=$(rx_packets "$F" "$IFA")
    stop_fwd "$pid"
    awk -v s="$side" -v c="$case" -v d=$((c1 - c0)) -v g=$((g1 - g0)) -v t="$SECS" 'BEGIN {
        printf "%s %s trafgen %.4f %.4f\n", s, c, d / t / 1e6, g / t / 1e6 }' >>"$RES"
    log "$side $case (trafgen): far end $(tail -1 "$RES" | cut -d' ' -f4) Mpps of $(tail -1 "$RES" | cut -d' ' -f5) Mpps offered"
}

CASES=(l2 lpm em io)
for ((r = 1; r <= RUNS; r++)); do
    # Offered load: the generator alone for 1 s, counted on the forwarder's port 0.
    read -r gm rx t < <(gen_for 1 "$F" "$IFA")
    offered=$(awk -v rx="$rx" -v t="$t" 'BEGIN { if (t + 0 > 0) printf "%.4f", rx / t / 1e6; else print 0 }')
    echo "gen offered pktgen $offered $offered" >>"$RES"
    log "run $r of $RUNS: offered $offered Mpps (generator alone)"
    for case in "${CASES[@]}"; do
        if [ $((r % 2)) = 1 ]; then order=(ours dpdk); else order=(dpdk ours); fi
        for side in "${order[@]}"; do measure "$side" "$case"; done
    done
done
if [ "$TRAFGEN" = 1 ]; then
    for case in "${CASES[@]}"; do
        for side in ours dpdk; do measure_trafgen "$side" "$case"; done
    done
fi

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ns() { awk -v v="$1" 'BEGIN { if (v == "-" || v + 0 == 0) print "-"; else printf "%.2f", 1000 / v }'; }
runs_of() { awk -v s="$1" -v c="$2" -v g="$3" '$1 == s && $2 == c && $3 == g { print $4 }' "$RES"; }
runs_ns() { runs_of "$@" | awk '$1 + 0 > 0 { printf "%s%.2f", sep, 1000 / $1; sep = " " }'; }

# The two far-end counts (pktgen's XDP counter, the interface's rx_packets) must agree.
awk '$3 == "pktgen" && $1 != "gen" && $4 > 0 { d = ($4 - $5) / $4; if (d < 0) d = -d;
    if (d > 0.02) printf "veth-fwd: %s %s: XDP counter %.3f Mpps vs rx_packets %.3f Mpps differ by more than 2%%\n", $1, $2, $4, $5 }' "$RES" >&2

row() { # name case generator
    local name=$1 case=$2 g=$3 o d
    o=$(runs_of ours "$case" "$g" | median)
    d=$(runs_of dpdk "$case" "$g" | median)
    log "$name: ours [$(runs_of ours "$case" "$g" | tr '\n' ' ')] median $o Mpps; DPDK [$(runs_of dpdk "$case" "$g" | tr '\n' ' ')] median $d Mpps"
    printf 'ROW\t%s\t%s\t%s\tns/packet\n' "$name" "$(ns "$o")" "$(ns "$d")"
    printf 'RUNS\t%s\tours\t%s\n' "$name" "$(runs_ns ours "$case" "$g")" >&2
    printf 'RUNS\t%s\tdpdk\t%s\n' "$name" "$(runs_ns dpdk "$case" "$g")" >&2
}
row l2fwd_afxdp_veth_64B l2 pktgen
row l3fwd_lpm_afxdp_veth_64B lpm pktgen
row l3fwd_em_afxdp_veth_64B em pktgen
row "io_afxdp_veth_64B (ours: l2fwd --no-mac-updating; DPDK: testpmd io)" io pktgen
if [ "$TRAFGEN" = 1 ]; then
    row "l2fwd_afxdp_veth_64B (trafgen)" l2 trafgen
    row "l3fwd_lpm_afxdp_veth_64B (trafgen)" lpm trafgen
    row "l3fwd_em_afxdp_veth_64B (trafgen)" em trafgen
    row "io_afxdp_veth_64B (trafgen)" io trafgen
fi
off=$(runs_of gen offered pktgen | median)
log "offered load (pktgen xdp alone into the veth): [$(runs_of gen offered pktgen | tr '\n' ' ')] median $off Mpps"
printf 'ROW\t%s\t%s\t%s\tns/packet\n' "offered_load_pktgen_xdp_veth_64B (generator alone, no forwarder)" "$(ns "$off")" -
