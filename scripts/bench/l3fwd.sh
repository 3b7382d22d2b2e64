#!/usr/bin/env bash
# Pure forwarding cost of l3fwd (LPM and exact match) and l2fwd on in-memory ports, against
# DPDK 22.11's own l3fwd and l2fwd examples, in the same run, alternating.
#
#   scripts/bench/l3fwd.sh              # 5 runs of 6 s per side and case
#   QUICK=1 scripts/bench/l3fwd.sh      # 1 run of 2 s
#   RUNS=7 SECS=10 scripts/bench/l3fwd.sh
#   SKIP_BUILD=1 scripts/bench/l3fwd.sh # use the release binaries in $CARGO_TARGET_DIR as they are
#
# Setup (the same on both sides): one forwarding lcore, 1 (ours: lcore 0 is the main lcore and
# does control; DPDK: -l 1, its main lcore forwards and control runs on EAL threads). Port 0 replays a
# one-frame pcap from memory (ours: pcap:rx=F,infinite_rx=1,tx=/dev/null; DPDK: net_pcap0,
# rx_pcap=F,infinite_rx=1,tx_pcap=/dev/null); port 1 only sends, into /dev/null (ours:
# pcap:tx=/dev/null; DPDK: net_pcap1,tx_pcap=/dev/null). The frame is 64 bytes on the wire: UDP/IPv4
# 198.18.1.1:9 -> 198.18.1.0:9, which DPDK's default LPM routes and default exact-match flows both
# send to port 1. DPDK's l3fwd runs with --parse-ptype (the pcap PMD does not classify).
# DPDK's examples are built from /usr/share/dpdk/examples in a temporary directory with make and
# pkg-config libdpdk; l3fwd's hard-coded RX checksum offload request is set to none (the pcap PMD
# cannot offload and l3fwd would refuse to start).
#
# The rate of a run: packets sent on port 1 between 1 s after start and the end, over that time
# (ours: a run of SECS + 1 s, the per-second "tx ... Mpps" statistics lines of port 1, median of
# the samples after the first; DPDK: two reads of /ethdev/stats,1 opackets on its telemetry
# socket). The row is the median over runs. Prints, per the protocol of scripts/bench-vs-dpdk.sh:
#   ROW<TAB>l3fwd_lpm_pcap_1core<TAB>ours<TAB>dpdk<TAB>ns/packet   (ns/packet = 1000 / Mpps)
#   ROW<TAB>l3fwd_em_pcap_1core<TAB>...
#   ROW<TAB>l2fwd_pcap_1core<TAB>...
# and the Mpps (per run and medians) on stderr, with, per row and side, the runs in the row's unit:
#   RUNS<TAB>case<TAB>ours|dpdk<TAB>v1 v2 ...   (scripts/bench.sh turns these into its spread column)
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS="${RUNS:-5}"
SECS="${SECS:-6}"
if [ "${QUICK:-0}" = 1 ]; then RUNS=1; SECS=2; fi
LCORES="${LCORES:-0-1}"
# DPDK's examples forward on their main lcore too and give every lcore a TX queue (the pcap PMD
# has one per port), so they run on the forwarding lcore alone; telemetry is a control thread.
DPDK_LCORE="${LCORES##*[-,]}"
log() { echo "l3fwd-bench: $*" >&2; }

work=$(mktemp -d /tmp/fp-l3fwd-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ "${SKIP_BUILD:-0}" = 1 ]; then
    log "SKIP_BUILD=1: using the release binaries already in $CARGO_TARGET_DIR"
else
    log "building l3fwd and l2fwd (release)"
    cargo build --release -q -p ferroplane-examples >&2
fi
OURS_L3="$CARGO_TARGET_DIR/release/l3fwd"
OURS_L2="$CARGO_TARGET_DIR/release/l2fwd"

# shellcheck source=scripts/lib/dpdk_examples.sh
. scripts/lib/dpdk_examples.sh
DPDK_EXAMPLES_LOG_TAG=l3fwd-bench dpdk_examples_build "$work"

# The frame: 60 bytes + FCS = 64 on the wire.
FRAME="$work/udp64.pcap"
python3 - "$FRAME" <<'EOF'
import struct, sys
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return (~s) & 0xffff
payload = bytes(18)
udp = struct.pack('!HHHH', 9, 9, 8 + len(payload), 0) + payload
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                 bytes([198, 18, 1, 1]), bytes([198, 18, 1, 0]))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
frame = bytes([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]) + b'\x08\x00' + ip + udp
with open(sys.argv[1], 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    f.write(struct.pack('<IIII', 0, 0, len(frame), len(frame)) + frame)
EOF

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

P0="pcap:rx=$FRAME,infinite_rx=1,tx=/dev/null"
P1="pcap:tx=/dev/null"

# Ours: "port 1 (...): rx ... | tx X pkts (R Mpps) ..." every second; median of the samples
# after the first. $1 = binary, rest = its options.
ours_run() {
    local bin=$1; shift
    local out; out=$(mktemp)
    RUST_LOG=warn "$bin" -l "$LCORES" --port "$P0" --port "$P1" --stats-period 1 \
        --duration "$((SECS + 1))" "$@" > "$out" 2>&1 || { log "$bin failed:"; tail -5 "$out" >&2; rm -f "$out"; echo "-"; return; }
    awk -F'|' '
        /^port 1 / && !/bytes/ { split($2, f, " "); v = f[4]; gsub(/[()]/, "", v);
            if (f[5] ~ /^Kpps/) v /= 1000; else if (f[5] ~ /^pps/) v /= 1e6; s[++k] = v }
        END { for (i = 2; i <= k; i++) print s[i] }' "$out" | median
    rm -f "$out"
}

# DPDK: opackets of port 1 from the telemetry socket at 1 s and at SECS s.
dpdk_tx_mpps() {
    python3 - "$1" "$SECS" <<'EOF'
import json, socket, sys, time
path, secs = sys.argv[1], float(sys.argv[2])
def opackets():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    s.recv(1024)  # greeting
    s.send(b"/ethdev/stats,1")
    v = json.loads(s.recv(65536).decode())["/ethdev/stats"]["opackets"]
    s.close()
    return v, time.monotonic()
deadline = time.monotonic() + 10
while True:
    try:
        a, ta = opackets(); break
    except OSError:
        if time.monotonic() > deadline: print("-"); sys.exit()
        time.sleep(0.1)
time.sleep(1)
a, ta = opackets()
time.sleep(max(secs - 1, 1))
b, tb = opackets()
print("%.4f" % ((b - a) / (tb - ta) / 1e6))
EOF
}

# $1 = binary, rest = application options (after --).
dpdk_run() {
    local bin=$1; shift
    [ -x "$bin" ] || { echo "-"; return; }
    local prefix="fpl3b$$"
    local out; out=$(mktemp)
    "$bin" -l "$DPDK_LCORE" --no-pci --file-prefix "$prefix" --log-level=error \
        --vdev "net_pcap0,rx_pcap=$FRAME,infinite_rx=1,tx_pcap=/dev/null" \
        --vdev "net_pcap1,tx_pcap=/dev/null" -- "$@" < /dev/null > "$out" 2>&1 &
    local pid=$!
    local r; r=$(dpdk_tx_mpps "/var/run/dpdk/$prefix/dpdk_telemetry.v2")
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [ "$r" = "-" ]; then log "DPDK $bin gave no rate:"; tail -5 "$out" >&2; fi
    rm -f "$out"
    echo "$r"
}

# The runs' Mpps as ns/packet, space-separated (failed runs left out).
per_run_ns() { echo "$1" | tr ' ' '\n' | { grep -v '^-\?$' || true; } | awk '$1 + 0 > 0 { printf "%s%.2f", sep, 1000 / $1; sep = " " }'; }

row() { # name, ours Mpps list, dpdk Mpps list
    local name=$1 o d
    o=$(echo "$2" | tr ' ' '\n' | { grep -v '^-\?$' || true; } | median)
    d=$(echo "$3" | tr ' ' '\n' | { grep -v '^-\?$' || true; } | median)
    log "$name: ours runs [$2] median $o Mpps; DPDK runs [$3] median $d Mpps"
    local on dn
    on=$(awk -v v="$o" 'BEGIN { if (v == "-" || v + 0 == 0) print "-"; else printf "%.2f", 1000 / v }')
    dn=$(awk -v v="$d" 'BEGIN { if (v == "-" || v + 0 == 0) print "-"; else printf "%.2f", 1000 / v }')
    printf 'ROW\t%s\t%s\t%s\tns/packet\n' "$name" "$on" "$dn"
    # Per-run values in the row's unit, for scripts/bench.sh's spread column.
    printf 'RUNS\t%s\tours\t%s\n' "$name" "$(per_run_ns "$2")" >&2
    printf 'RUNS\t%s\tdpdk\t%s\n' "$name" "$(per_run_ns "$3")" >&2
}

L3_CFG="(0,0,1),(1,0,1)"
for case in lpm em l2; do
    ours=""; dpdk=""
    for i in $(seq "$RUNS"); do
        case $case in
            lpm) o=$(ours_run "$OURS_L3" --lookup lpm)
                 d=$(dpdk_run "$DPDK_L3" -p 0x3 --config="$L3_CFG" --parse-ptype -L) ;;
            em)  o=$(ours_run "$OURS_L3" --lookup em)
                 d=$(dpdk_run "$DPDK_L3" -p 0x3 --config="$L3_CFG" --parse-ptype -E) ;;
            l2)  o=$(ours_run "$OURS_L2" -T 1 -q 2)
                 d=$(dpdk_run "$DPDK_L2" -p 0x3 -q 2 -T 0) ;;
        esac
        log "$case run $i: ours $o Mpps, DPDK $d Mpps"
        ours="$ours $o"; dpdk="$dpdk $d"
    done
    case $case in
        lpm) row l3fwd_lpm_pcap_1core "$ours" "$dpdk" ;;
        em) row l3fwd_em_pcap_1core "$ours" "$dpdk" ;;
        l2) row l2fwd_pcap_1core "$ours" "$dpdk" ;;
    esac
done
