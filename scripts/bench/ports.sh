#!/usr/bin/env bash
# Ports: Ferroplane's poll-mode drivers against dpdk-testpmd, I/O forwarding on one pinned
# core (core 1), in one run. Rows follow scripts/bench-vs-dpdk.sh: "ROW case ours dpdk unit".
# Forwarding rates are "higher is better", so rows carry ns per packet (1000 / Mpps) to keep
# the ratio "lower is better"; the Mpps themselves go to stderr.
#
# Cases (both sides: burst 64, two ports, port 0 RX -> port 1 TX and back, Mpps summed):
#   null      null:size=64 x2            vs --vdev net_null0 --vdev net_null1
#   ring      ring pair, 128 frames looping vs --vdev net_ring0 --vdev net_ring1 --tx-first
#   af_packet two veth pairs, trafgen (core 0) -> veth -> af_packet -> af_packet -> veth
#             vs --vdev net_af_packet0,iface=... --vdev net_af_packet1,iface=...
#
#   scripts/bench/ports.sh            # 5 s per measurement
#   QUICK=1 scripts/bench/ports.sh    # 2 s, to prove the script works
# Env: CASES=null,ring,af_packet (which rows; default all), REPEAT=N (each side runs N times,
#      alternating; a row is the median; default 1; with N > 1 the runs of each row, in ns/pkt,
#      go to stderr as RUNS<TAB>case<TAB>ours|dpdk<TAB>v1 v2 ..., for scripts/bench.sh's spread
#      column), PORTFWD_BIN=<prebuilt portfwd example>
#      (e.g. to compare two builds; else built with cargo --release).
# Needs root for the af_packet case (skipped with a message otherwise).
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS=5
[ "${QUICK:-0}" = 1 ] && SECS=2
FWD_CORE=1
GEN_CORE=0
BURST=64
log() { echo "ports: $*" >&2; }

CASES=",${CASES:-null,ring,af_packet},"
REPEAT=${REPEAT:-1}
want() { [[ "$CASES" == *",$1,"* ]]; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN=${PORTFWD_BIN:-}
if [ -z "$BIN" ]; then
    log "building the portfwd example (release)"
    cargo build --release -q -p ferroplane-pmd --example portfwd >&2
    BIN="$CARGO_TARGET_DIR/release/examples/portfwd"
fi

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# ours DEV_A DEV_B [extra args] -> prints Mpps
ours() {
    local a=$1 b=$2
    shift 2
    local out
    out=$("$BIN" --a "$a" --b "$b" --core "$FWD_CORE" --seconds "$SECS" "$@" 2>/dev/null)
    sed -n 's/.*mpps=\([0-9.]*\).*/\1/p' <<<"$out"
}

# testpmd [vdev/testpmd args...] -> prints Mpps: median over the stats periods (after the
# first two) of the sum of both ports' Tx-pps.
testpmd() {
    local eal=() app=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do eal+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    app=("$@")
    # testpmd runs until interrupted: stop it with SIGINT after the measurement.
    { timeout -s INT $((SECS + 4)) dpdk-testpmd --no-pci --in-memory -l "$GEN_CORE,$FWD_CORE" \
        --main-lcore "$GEN_CORE" --log-level=lib.eal:error --file-prefix "fpbench$$" "${eal[@]}" -- \
        --forward-mode=io --burst="$BURST" --stats-period 1 "${app[@]}" 2>&1 || true; } |
        awk '/Tx-pps:/ { v[n++] = $2 }
             END {
                 m = 0
                 for (i = 4; i + 1 < n; i += 2) s[m++] = v[i] + v[i + 1]
                 if (m == 0) { print ""; exit }
                 # median
                 for (i = 0; i < m; i++) for (j = i + 1; j < m; j++) if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
                 printf "%.3f\n", s[int(m / 2)] / 1e6
             }'
}

# both "ours args" "testpmd args" -> sets o and d to the medians of REPEAT alternating runs, and
# o_runs and d_runs to the runs (Mpps, space separated)
both() {
    local os="" ds="" i
    for i in $(seq "$REPEAT"); do
        os+="$(eval "ours $1")"$'\n'
        ds+="$(eval "testpmd $2")"$'\n'
    done
    o=$(grep . <<<"$os" | median || true)
    d=$(grep . <<<"$ds" | median || true)
    o_runs=$(echo $os) d_runs=$(echo $ds)
    [ "$REPEAT" -gt 1 ] && log "runs: ours [$o_runs] dpdk [$d_runs] Mpps"
    return 0
}

row() { # case ours_mpps dpdk_mpps [ours_runs_mpps dpdk_runs_mpps]
    local c=$1 o=$2 d=$3
    log "$(printf '%-10s ours %8s Mpps   dpdk-testpmd %8s Mpps' "$c" "${o:--}" "${d:--}")"
    awk -v c="$c" -v o="$o" -v d="$d" -v ours_runs="${4:-}" -v dpdk_runs="${5:-}" '
        # the runs in ns/pkt (runs without a rate left out); a RUNS line where there are several
        function runs(side, list,   v, n, i, out, k) {
            n = split(list, v, " "); out = ""; k = 0
            for (i = 1; i <= n; i++) if (v[i] + 0 > 0) { out = out (k++ ? " " : "") sprintf("%.3f", 1000 / v[i]) }
            if (n > 1 && k > 0) printf "RUNS\t%s\t%s\t%s\n", c, side, out > "/dev/stderr"
        }
        BEGIN {
        oo = (o == "" || o + 0 == 0) ? "-" : sprintf("%.3f", 1000 / o)
        dd = (d == "" || d + 0 == 0) ? "-" : sprintf("%.3f", 1000 / d)
        printf "ROW\t%s\t%s\t%s\tns/pkt\n", c, oo, dd
        runs("ours", ours_runs); runs("dpdk", dpdk_runs) }'
}

# --- null -------------------------------------------------------------------------------
if want null; then
    both "null:size=64 null:size=64" "--vdev net_null0 --vdev net_null1"
    row "null io fwd 64B" "$o" "$d" "$o_runs" "$d_runs"
fi

# --- ring -------------------------------------------------------------------------------
if want ring; then
    both "ring:name=bench$$ ring:name=bench$$ --prefill 128" "--vdev net_ring0 --vdev net_ring1 -- --tx-first"
    row "ring io fwd 64B" "$o" "$d" "$o_runs" "$d_runs"
fi

# --- af_packet on veth --------------------------------------------------------------------
want af_packet || exit 0
if [ "$(id -u)" -ne 0 ]; then
    log "SKIP af_packet: needs root"
    exit 0
fi
command -v trafgen >/dev/null || { log "SKIP af_packet: trafgen (netsniff-ng) not installed"; exit 0; }
p="fpb$(($$ % 100000))"
ga="${p}ga" fa="${p}fa" fb="${p}fb" gb="${p}gb"
cleanup() {
    local rc=$?
    # trafgen forks a worker: stop its whole process group (it was started with setsid).
    if [ -n "${gen_pid:-}" ]; then
        kill -INT -- "-$gen_pid" 2>/dev/null || true
        wait "$gen_pid" 2>/dev/null || true
    fi
    ip link del "$ga" 2>/dev/null || true
    ip link del "$fb" 2>/dev/null || true
    rm -f "${cfg_file:-}"
    exit "$rc"
}
trap cleanup EXIT
ip link add "$ga" type veth peer name "$fa"
ip link add "$fb" type veth peer name "$gb"
for i in "$ga" "$fa" "$fb" "$gb"; do
    sysctl -qw "net.ipv6.conf.$i.disable_ipv6=1"
    ip link set "$i" up
done
cfg_file=$(mktemp /tmp/fpbench-trafgen.XXXXXX)
# 64-byte IPv4/UDP frames from 02:00:00:00:00:01 to 02:00:00:00:00:02.
cat >"$cfg_file" <<'CFG'
{ 0x02,0,0,0,0,0x02, 0x02,0,0,0,0,0x01, 0x08,0x00,
  0x45,0x00, 0x00,0x32, 0,0, 0,0, 64, 17, csumip(14, 33),
  10,0,0,1, 10,0,0,2,
  0x04,0xd2, 0x16,0x2e, 0x00,0x1e, 0,0,
  fill(0xab, 22) }
CFG
setsid taskset -c "$GEN_CORE" trafgen --dev "$ga" --conf "$cfg_file" --cpus 1 -Q -C >/dev/null 2>&1 &
gen_pid=$!
sleep 1
gen_rate() { # packets per second arriving at $fa from the generator, over one second
    local a b
    a=$(cat "/sys/class/net/$fa/statistics/rx_packets")
    sleep 1
    b=$(cat "/sys/class/net/$fa/statistics/rx_packets")
    echo $((b - a))
}
log "generator (trafgen, core $GEN_CORE) offers $(gen_rate) pps on $fa"
o=$(ours "af_packet:iface=$fa" "af_packet:iface=$fb")
d=$(testpmd --vdev "net_af_packet0,iface=$fa" --vdev "net_af_packet1,iface=$fb")
row "af_packet veth io fwd 64B" "$o" "$d"
log "generator offered $(gen_rate) pps at the end (the veth case is bound by the generator on 2 cores)"
