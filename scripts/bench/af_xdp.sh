#!/usr/bin/env bash
# AF_XDP forwarding: Ferroplane's af_xdp io forwarder against dpdk-testpmd's net_af_xdp, on the
# same veths, same generator, alternating runs, medians. Row protocol: see scripts/bench-vs-dpdk.sh
# (the unit is ns/packet = 1000/Mpps, so lower is better; Mpps go to stderr).
#
# Topology (all created here, deleted on exit):
#   netns fpxG: trafgen on fpxAg  ->  fpxA (root ns): forwarder (AF_XDP on fpxA and fpxB)
#   -> fpxB (root ns)  ->  netns fpxC: fpxBc with our XDP count-and-drop program (the counter).
# The forwarder is pinned to CPU 0, the generator to CPU 1. Also measured: the offered load
# (counter on fpxA itself) and the kernel's ceiling (our XDP_REDIRECT program fpxA -> fpxB).
#
#   RUNS=5 SECS=6 scripts/bench/af_xdp.sh     QUICK=1 scripts/bench/af_xdp.sh
#   RATE=50000pps scripts/bench/af_xdp.sh      # rate-limited generator: checks for loss below it
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
SECS=${SECS:-6}
if [ "${QUICK:-0}" = 1 ]; then RUNS=1; SECS=3; fi
GEN_RATE=()
[ -n "${RATE:-}" ] && GEN_RATE=(-b "$RATE")
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p ferroplane-pmd --example xdp_io_fwd >&2
FWD=$CARGO_TARGET_DIR/release/examples/xdp_io_fwd
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
cleanup_links_only() { ip link del "$A" 2>/dev/null || true; ip link del "$B" 2>/dev/null || true; }
cleanup_links_only
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

# measure NAME NETNS|- IFACE [FORWARDER_CMD...]: runs the counter on IFACE (in netns IFACE_NS),
# starts the forwarder command (if any), then the generator; prints the median pps over the
# steady seconds.
measure() {
    local name=$1 cns=$2 cif=$3; shift 3
    local total=$((SECS + 3))
    local nsexec=(ip netns exec "$cns")
    [ "$cns" = - ] && nsexec=()
    "${nsexec[@]}" "$FWD" count "$cif" --secs "$total" > "$TMP/count.txt" 2>"$TMP/count.err" &
    local cpid=$!
    local fpid=
    if [ $# -gt 0 ]; then
        "$@" > "$TMP/fwd.out" 2>&1 &
        fpid=$!
    fi
    sleep 1
    setsid ip netns exec "$G" taskset -c 1 trafgen -o "$Ag" -i "$TMP/udp64.cfg" -P 1 -Q -C "${GEN_RATE[@]}" >/dev/null 2>"$TMP/gen.err" &
    local gpid=$!
    wait "$cpid" || { echo "af_xdp bench: counter failed: $(cat "$TMP/count.err")" >&2; }
    kill -INT -- "-$gpid" 2>/dev/null || true
    wait "$gpid" 2>/dev/null || true
    if [ -n "$fpid" ]; then
        kill -INT "$fpid" 2>/dev/null || true
        wait "$fpid" 2>/dev/null || true
        sed 's/^/    /' "$TMP/fwd.out" | grep -E "xdp_io_fwd|Forward statistics|RX-packets|TX-packets|error|Error" | head -8 >&2 || true
    fi
    # Seconds 2..SECS+1 of the counter: the generator runs and everything is warm.
    local pps
    pps=$(sed -n 's/^pps //p' "$TMP/count.txt" | sed -n "3,$((SECS + 1))p" | median)
    printf '%s %s\n' "$name" "$pps" >> "$TMP/results"
    awk -v n="$name" -v p="$pps" 'BEGIN { printf "af_xdp bench: %-10s %8.3f Mpps\n", n, p / 1e6 }' >&2
}

ours() {
    taskset -c 0 "$FWD" fwd "$A" "$B" --core 0 --secs $((SECS + 2))
}
testpmd() {
    (sleep $((SECS + 2)); echo) | dpdk-testpmd -l 0,1 --main-lcore 1 --no-pci --in-memory --file-prefix fpxbench \
        --vdev "net_af_xdp0,iface=$A" --vdev "net_af_xdp1,iface=$B" -- \
        --forward-mode=io --auto-start --nb-cores=1 --txd=2048 --rxd=2048
}
redirect() {
    "$FWD" redirect "$A" "$B" --secs $((SECS + 2))
}

: > "$TMP/results"
for r in $(seq 1 "$RUNS"); do
    echo "af_xdp bench: run $r of $RUNS" >&2
    # Offered load: the counter on fpxA itself (no forwarder).
    measure offered - "$A"
    if [ $((r % 2)) = 1 ]; then
        measure ours "$C" "$Bc" ours
        measure dpdk "$C" "$Bc" testpmd
    else
        measure dpdk "$C" "$Bc" testpmd
        measure ours "$C" "$Bc" ours
    fi
    measure kernel "$C" "$Bc" redirect
done

med() { awk -v n="$1" '$1 == n { print $2 }' "$TMP/results" | median; }
o=$(med ours); d=$(med dpdk); k=$(med kernel); g=$(med offered)
ns() { awk -v p="$1" 'BEGIN { if (p + 0 == 0) print "-"; else printf "%.2f", 1e9 / p }'; }
awk -v o="$o" -v d="$d" -v k="$k" -v g="$g" 'BEGIN {
    printf "af_xdp bench: medians over runs: offered %.3f Mpps, ours %.3f, testpmd %.3f, kernel XDP_REDIRECT %.3f\n", g/1e6, o/1e6, d/1e6, k/1e6
    if (k > 0) printf "af_xdp bench: of the kernel ceiling: ours %.0f%%, testpmd %.0f%%\n", 100*o/k, 100*d/k
}' >&2
printf 'ROW\tio fwd 64B veth->AF_XDP->veth (1 core)\t%s\t%s\tns/packet\n' "$(ns "$o")" "$(ns "$d")"
