#!/usr/bin/env bash
# The demo: Ferroplane's l3fwd routing real traffic between two network namespaces, driven and
# measured by Ferroplane's pktgen.
#
#   scripts/demo.sh                     # set-up, release build, ~20 s of traffic with the live view
#   DEMO_SECONDS=3 scripts/demo.sh      # the short mode CI runs
#
# Environment: DEMO_SECONDS (default 20), DEMO_RATE (pktgen rate, default 100kpps),
# DEMO_SIZE (frame size or "imix", default 64), DEMO_DRIVER (af_xdp or af_packet for l3fwd;
# default af_xdp, falling back to af_packet with a note if AF_XDP does not work here),
# DEMO_SKIP_SETUP=1 (do not run scripts/setup.sh), DEMO_OUT (where the reports go; default
# bench-results/demo), CARGO_TARGET_DIR.
#
# Topology (three namespaces, all created here and removed on exit, Ctrl-C or error; nothing
# touches the host's own interfaces):
#
#   ns A (host 10.0.1.2/24)            ns R (l3fwd --router)            ns B (host 10.0.2.2/24)
#   <A>a  ---- veth ----  <A>ra  port 0: 10.0.1.1/24   port 1: 10.0.2.1/24  <A>rb ---- veth ---- <A>b
#
# pktgen transmits on A's interface (af_packet, opened inside ns A) frames from 10.0.1.2 to
# 10.0.2.2 with the router's port-0 MAC as destination (learnt by a ping from A), and measures
# on B's interface (af_packet, opened inside ns B): sequence numbers (loss, duplicates,
# reordering) and TSC timestamps (latency). B's interface has its address, so B's kernel answers
# l3fwd's ARP for 10.0.2.2 (no static neighbours needed); it also sees the UDP frames and
# answers a few with rate-limited ICMP port-unreachable, which l3fwd routes back to A: that
# return traffic is tiny and not part of the measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DEMO_SECONDS="${DEMO_SECONDS:-20}"
DEMO_RATE="${DEMO_RATE:-100kpps}"
DEMO_SIZE="${DEMO_SIZE:-64}"
DEMO_DRIVER="${DEMO_DRIVER:-af_xdp}"
DEMO_OUT="${DEMO_OUT:-$ROOT/bench-results/demo}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

TOPO_PREFIX=fpd
TOPO_LOG_TAG=demo
# shellcheck source=scripts/lib/topo.sh
. "$ROOT/scripts/lib/topo.sh"
log() { echo "demo: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { log "needs root (network namespaces, veth pairs, AF_XDP)"; exit 1; }

if [ "${DEMO_SKIP_SETUP:-0}" != 1 ]; then
    log "set-up (scripts/setup.sh)"
    scripts/setup.sh >&2 || log "set-up reported problems (see above); going on"
fi

log "building pktgen and l3fwd (release)"
cargo build --release -q -p ferroplane-pktgen -p ferroplane-examples >&2
PKTGEN="$CARGO_TARGET_DIR/release/pktgen"
L3FWD="$CARGO_TARGET_DIR/release/l3fwd"

topo_init
topo_router
log "namespaces $NS_A (10.0.1.2) -- $NS_R (l3fwd) -- $NS_B (10.0.2.2)"

mkdir -p "$DEMO_OUT"
L3FWD_LOG="$DEMO_OUT/l3fwd.log"
L3FWD_PID=

start_l3fwd() {
    local drv=$1 opt=
    # Router mode needs ARP: the AF_XDP port's XDP program hands ARP to the kernel by default.
    [ "$drv" = af_xdp ] && opt=,arp=xsk
    ip netns exec "$NS_R" "$L3FWD" -l 0-1 \
        --port "$drv:iface=$IF_RA$opt" --port "$drv:iface=$IF_RB$opt" \
        --router --addr 0,10.0.1.1/24 --addr 1,10.0.2.1/24 --stats-period 0 \
        >"$L3FWD_LOG" 2>&1 &
    L3FWD_PID=$!
    topo_pid "$L3FWD_PID"
}

# Routed ping A -> B: proves l3fwd forwards and fills its neighbour table (and A's) first.
route_up() {
    local i
    for ((i = 0; i < 15; i++)); do
        kill -0 "$L3FWD_PID" 2>/dev/null || return 1
        ip netns exec "$NS_A" ping -c 1 -W 1 10.0.2.2 >/dev/null 2>&1 && return 0
    done
    return 1
}

DRIVER=$DEMO_DRIVER
start_l3fwd "$DRIVER"
if ! route_up; then
    if [ "$DRIVER" = af_xdp ]; then
        log "NOTE: l3fwd on af_xdp did not come up; falling back to af_packet. Its log:"
        sed 's/^/    /' "$L3FWD_LOG" >&2
        topo_stop "$L3FWD_PID"
        DRIVER=af_packet
        start_l3fwd "$DRIVER"
        route_up || { log "l3fwd on af_packet does not route either; its log:"; cat "$L3FWD_LOG" >&2; exit 1; }
    else
        log "l3fwd on $DRIVER does not route; its log:"; cat "$L3FWD_LOG" >&2; exit 1
    fi
fi
ROUTER_MAC=$(ip -n "$NS_A" neigh show 10.0.1.1 | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')
A_MAC=$(topo_mac "$NS_A" "$IF_A")
[ -n "$ROUTER_MAC" ] || { log "no neighbour entry for 10.0.1.1 in $NS_A"; exit 1; }
log "l3fwd routes on $DRIVER (port 0 MAC $ROUTER_MAC); pktgen: $DEMO_RATE of $DEMO_SIZE-byte frames for $DEMO_SECONDS s"

# pktgen on core 0, l3fwd's worker on core 1 (-l 0-1: lcore 0 is its main lcore).
"$PKTGEN" run \
    --tx "af_packet:iface=$IF_A" --tx-netns "$NS_A" \
    --rx "af_packet:iface=$IF_B" --rx-netns "$NS_B" \
    --src-mac "$A_MAC" --dst-mac "$ROUTER_MAC" \
    --src-ip 10.0.1.2 --dst-ip 10.0.2.2 --src-port 1024-1279 --dst-port 5001 \
    --size "$DEMO_SIZE" --rate "$DEMO_RATE" --duration "$DEMO_SECONDS" --cores 0 --live \
    --json "$DEMO_OUT/demo.json" --csv "$DEMO_OUT/demo.csv" >"$DEMO_OUT/pktgen.out" &
PKTGEN_PID=$!
topo_pid "$PKTGEN_PID"
# Show the live view as it comes, then the summary (the last lines pktgen prints).
tail -n +1 -f --pid "$PKTGEN_PID" "$DEMO_OUT/pktgen.out" &
TAIL_PID=$!
rc=0
wait "$PKTGEN_PID" || rc=$?
wait "$TAIL_PID" 2>/dev/null || true
[ "$rc" = 0 ] || { log "pktgen failed (exit $rc)"; exit "$rc"; }

topo_stop "$L3FWD_PID"
"$PKTGEN" plot --out "$DEMO_OUT/latency-cdf" --title "demo: latency CDF through l3fwd ($DRIVER)" \
    "$DEMO_OUT/demo.json" >/dev/null 2>&1 && log "latency CDF: $DEMO_OUT/latency-cdf.svg and .png" || true

echo
echo "=== demo summary: l3fwd ($DRIVER, router mode) between $NS_A and $NS_B ==="
sed -n '/^tx [0-9]* frames/,$p' "$DEMO_OUT/pktgen.out"
grep -h 'router:' "$L3FWD_LOG" | sed 's/^/l3fwd /' || true
echo "reports: $DEMO_OUT/demo.json $DEMO_OUT/demo.csv"
