#!/usr/bin/env bash
# The benchmark suite: Ferroplane side by side with DPDK 22.11 on this machine, in one run.
#
#   scripts/bench.sh                       # every suite, full length
#   scripts/bench.sh --quick               # every suite, a few seconds per case (CI: proves the
#                                          # scripts work, asserts no speed; ~6 min of runs
#                                          # here, plus the release builds)
#   scripts/bench.sh af_xdp pcap-l3fwd     # chosen suites
#   scripts/bench.sh --runs 7 l3fwd-veth   # more alternating runs per case
#
# Suites:
#   micro       ring, mempool, cksum, lpm, hash, acl through scripts/bench-vs-dpdk.sh (dpdk-test
#               perf autotests, dpdk-test-acl); --quick runs the ones that finish in seconds
#   null        engine io forwarding on null ports vs dpdk-testpmd on net_null (scripts/bench/engine.sh)
#   af_packet   port drivers vs testpmd: null, ring, af_packet on veths (scripts/bench/ports.sh)
#   af_xdp      AF_XDP io forwarding vs testpmd net_af_xdp, with the kernel's XDP_REDIRECT ceiling
#               (scripts/bench/af_xdp.sh, trafgen generator, far-end XDP counter)
#   veth-fwd    our l2fwd and l3fwd (LPM, EM) against DPDK's l2fwd/l3fwd examples, and our l2fwd
#               without MAC updating against testpmd io, all on AF_XDP between veths, pktgen xdp
#               (live frames) as generator with trafgen as a cross-check, far-end counters
#               (scripts/bench/veth_fwd.sh)
#   l3fwd-veth  our l3fwd (router mode, AF_XDP, then af_packet) between two namespaces, driven by
#               pktgen; alternating runs; pktgen's own RX count checked against the far end's
#               interface counters, and trafgen as an independent generator
#   gen         generators into a veth, counted at the far end by an XDP counter: pktgen xdp
#               (BPF_PROG_RUN live frames) vs trafgen vs dpdk-testpmd --forward-mode=txonly
#   pcap-l3fwd  our l3fwd/l2fwd replaying a pcap (infinite_rx=1) vs DPDK's l3fwd/l2fwd examples
#               (built with make + pkg-config libdpdk) on net_pcap (scripts/bench/l3fwd.sh)
#
# Output: bench-results/<date>/bench-<time>/ with report.md (one table: ours, DPDK, unit,
# ratio, spread), raw/ (every script's rows and logs, per-run numbers), and plots (SVG + PNG:
# ratios, per-suite rates). Env: CARGO_TARGET_DIR, BENCH_OUT (output directory).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ALL_SUITES=(micro null af_packet af_xdp veth-fwd l3fwd-veth gen pcap-l3fwd)

QUICK=0
RUNS=
suites=()
while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --runs) RUNS=$2; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "bench: unknown option $1" >&2; exit 2 ;;
        *)
            ok=0
            for s in "${ALL_SUITES[@]}"; do [ "$s" = "$1" ] && ok=1; done
            [ $ok = 1 ] || { echo "bench: unknown suite '$1' (suites: ${ALL_SUITES[*]})" >&2; exit 2; }
            suites+=("$1")
            ;;
    esac
    shift
done
[ ${#suites[@]} -gt 0 ] || suites=("${ALL_SUITES[@]}")
if [ $QUICK = 1 ]; then SECS=2; RUNS=${RUNS:-1}; else SECS=8; RUNS=${RUNS:-5}; fi
export QUICK

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="${BENCH_OUT:-$ROOT/bench-results/$(date +%Y-%m-%d)/bench-$(date +%H%M%S)}"
RAW="$OUT/raw"
mkdir -p "$RAW"
ROWS="$RAW/rows.tsv"     # suite case ours dpdk unit spread note
: >"$ROWS"
NOTES="$RAW/notes.txt"
: >"$NOTES"
T0=$(date +%s)

log() { echo "bench: $*" >&2; }
note() { echo "- $*" >>"$NOTES"; log "NOTE: $*"; }
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ROWS"; }

# Statistics over the numbers on standard input (one per line).
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else printf "%.4g\n", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# Spread: (max - min) / median, in percent.
spread() { sort -g | awk '{a[NR]=$1} END {if (NR<2) {print "-"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; if (m==0) print "-"; else printf "%.1f%%", (a[NR]-a[1])*100/m}'; }

log "building pktgen, l2fwd, l3fwd (release)"
cargo build --release -q -p ferroplane-pktgen -p ferroplane-examples >&2
PKTGEN="$CARGO_TARGET_DIR/release/pktgen"
L3FWD="$CARGO_TARGET_DIR/release/l3fwd"

# --- suites that wrap scripts/bench-vs-dpdk.sh -------------------------------------------------
# vs_dpdk SUITE_LABEL BENCH...: runs the dispatcher, keeps its table rows.
vs_dpdk() {
    local label=$1; shift
    local log_file="$RAW/$label.log" t
    t=$(date +%s)
    if ! scripts/bench-vs-dpdk.sh "$@" >"$RAW/$label.md" 2>"$log_file"; then
        note "$label: scripts/bench-vs-dpdk.sh $* failed (exit code non-zero; see raw/$label.log)"
    fi
    # | suite | case | ours | dpdk | unit | ratio |, with the spread of the runs where the suite
    # script printed them on stderr as RUNS<TAB>case<TAB>ours|dpdk<TAB>v1 v2 ...
    awk -F'|' -v s="$label" -v log_file="$log_file" '
        function spread(list,   n, v, i, j, t, m) {
            n = split(list, v, " ");
            if (n < 2) return "";
            for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
            m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2;
            return (m + 0 == 0) ? "" : sprintf("%.1f%%", (v[n] - v[1]) * 100 / m) }
        BEGIN { FS = "\t"; while ((getline l < log_file) > 0) { split(l, f, "\t"); if (f[1] == "RUNS") runs[f[2], f[3]] = f[4] } FS = "|" }
        NF >= 7 && $2 !~ /suite|---/ {
            for (i = 2; i <= 6; i++) gsub(/^ +| +$/, "", $i);
            o = spread(runs[$3, "ours"]); d = spread(runs[$3, "dpdk"]);
            sp = (o != "" && d != "") ? "ours " o ", DPDK " d : (o != "") ? "ours " o : (d != "") ? "DPDK " d : "-";
            printf "%s\t%s/%s\t%s\t%s\t%s\t%s\n", s, $2, $3, $4, $5, $6, sp }' "$RAW/$label.md" >>"$ROWS"
    log "$label: $(grep -c "^$label	" "$ROWS" || true) rows in $(($(date +%s) - t)) s"
}

suite_micro() {
    if [ $QUICK = 1 ]; then
        # hash (DPDK's fixed-size autotest), lpm (rule adds) and mempool take minutes even short.
        vs_dpdk micro ring cksum acl
        note "micro --quick runs ring, cksum, acl only; mempool, lpm, hash run in the full suite"
    else
        vs_dpdk micro ring mempool cksum lpm hash acl
    fi
}
suite_null() { vs_dpdk null engine; }
suite_af_packet() { vs_dpdk af_packet ports; }
suite_af_xdp() { vs_dpdk af_xdp af_xdp; }
# Our l2fwd/l3fwd (LPM, EM) vs DPDK's l2fwd/l3fwd examples and testpmd io, AF_XDP on veths,
# pktgen xdp (and trafgen) as generator, counted at the far end (scripts/bench/veth_fwd.sh).
suite_veth_fwd() { RUNS=$RUNS SECS=$SECS SKIP_BUILD=1 vs_dpdk veth-fwd veth_fwd; }

# --- topologies of our own -----------------------------------------------------------------
TOPO_PREFIX=fpb
TOPO_LOG_TAG=bench
# shellcheck source=scripts/lib/topo.sh
. "$ROOT/scripts/lib/topo.sh"
TOPO_READY=0
need_topo() {
    [ $TOPO_READY = 1 ] && return 0
    topo_init
    TOPO_READY=1
}

# Router topology as in the demo: A -- R (l3fwd) -- B.
router_topo() {
    need_topo
    topo_router
}

# far_rx NS IF: the interface's RX packet counter.
far_rx() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }

# l3fwd_run DRIVER LABEL: one run of our l3fwd on DRIVER between A and B, pktgen at max rate.
# Appends "label mpps far_mpps" to $RAW/l3fwd-veth.runs.
l3fwd_run() {
    local drv=$1 label=$2 pid i ok=0
    # In router mode l3fwd gives ARP to its AF_XDP sockets itself (arp=xsk).
    ip netns exec "$NS_R" taskset -c 1 "$L3FWD" -l 1 --main-lcore-works \
        --port "$drv:iface=$IF_RA" --port "$drv:iface=$IF_RB" \
        --router --addr 0,10.0.1.1/24 --addr 1,10.0.2.1/24 --stats-period 0 \
        >"$RAW/l3fwd-$label.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 15; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        if ip netns exec "$NS_A" ping -c 1 -W 1 10.0.2.2 >/dev/null 2>&1; then ok=1; break; fi
    done
    if [ $ok = 0 ]; then
        topo_stop "$pid"
        note "l3fwd-veth: l3fwd on $drv did not route (raw/l3fwd-$label.log)"
        return 1
    fi
    local rmac amac far0 far1
    rmac=$(ip -n "$NS_A" neigh show 10.0.1.1 | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')
    amac=$(topo_mac "$NS_A" "$IF_A")
    far0=$(far_rx "$NS_B" "$IF_B")
    "$PKTGEN" run --tx "af_packet:iface=$IF_A" --tx-netns "$NS_A" \
        --rx "af_packet:iface=$IF_B" --rx-netns "$NS_B" \
        --src-mac "$amac" --dst-mac "$rmac" --src-ip 10.0.1.2 --dst-ip 10.0.2.2 \
        --src-port 1024-1279 --size 64 --rate max --duration "$SECS" --cores 0 \
        --json "$RAW/pktgen-$label.json" >"$RAW/pktgen-$label.out" 2>&1 || note "pktgen failed in $label"
    far1=$(far_rx "$NS_B" "$IF_B")
    topo_stop "$pid"
    python3 - "$RAW/pktgen-$label.json" "$((far1 - far0))" "$label" >>"$RAW/l3fwd-veth.runs" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rx = r["rx"][0]
secs = rx["seconds"] or 1
far = int(sys.argv[2])
print(sys.argv[3], rx["pps"] / 1e6, far / secs / 1e6, r["loss_ratio"] * 100)
PY
}

suite_l3fwd_veth() {
    router_topo
    local r drv
    for ((r = 1; r <= RUNS; r++)); do
        for drv in af_xdp af_packet; do
            l3fwd_run "$drv" "$drv-$r" || true
        done
    done
    [ -s "$RAW/l3fwd-veth.runs" ] || { note "l3fwd-veth: no run succeeded"; return 0; }
    for drv in af_xdp af_packet; do
        local m s far
        m=$(awk -v d="$drv" '$1 ~ "^"d"-" {print $2}' "$RAW/l3fwd-veth.runs" | median)
        s=$(awk -v d="$drv" '$1 ~ "^"d"-" {print $2}' "$RAW/l3fwd-veth.runs" | spread)
        far=$(awk -v d="$drv" '$1 ~ "^"d"-" {print $3}' "$RAW/l3fwd-veth.runs" | median)
        [ "$m" = - ] && continue
        row l3fwd-veth "l3fwd_router_${drv}_64B (Mpps, pktgen rx)" "$m" - Mpps "$s"
        # pktgen counts distinct stamped frames; the far end counts everything (ARP, ICMP too).
        awk -v a="$m" -v b="$far" -v d="$drv" 'BEGIN { if (b > 0 && (a - b) / b > 0.02 || (b - a) / b > 0.02)
            printf "l3fwd-veth %s: pktgen RX %.3f Mpps vs interface counter %.3f Mpps differ by more than 2%%\n", d, a, b }' >>"$RAW/disagree.txt"
    done
    [ -s "$RAW/disagree.txt" ] && while read -r l; do note "$l"; done <"$RAW/disagree.txt"
    note "l3fwd-veth has no DPDK column: DPDK's l3fwd has no router mode (no ARP); the veth-fwd suite runs both l3fwds side by side on veths with static --eth-dest"
    return 0
}

# Generators into a veth, counted at the far end (XDP counter in its own namespace).
suite_gen() {
    need_topo
    local G C IG IC
    G=$(topo_name g) C=$(topo_name c) IG=$(topo_name g) IC=$(topo_name c)
    topo_ns "$G"; topo_ns "$C"
    topo_veth "$G" "$IG" "$C" "$IC"
    local count r
    count=$((SECS * 1000000))
    for ((r = 1; r <= RUNS; r++)); do
        # pktgen xdp: live frames, its own XDP counter on the far end.
        ip netns exec "$G" taskset -c 0 "$PKTGEN" xdp --iface "$IG" --count "$count" \
            --count-on "$IC" --netns "$C" --size 64 >"$RAW/gen-pktgen-$r.out" 2>&1 || note "pktgen xdp failed (raw/gen-pktgen-$r.out)"
        awk '/^xdp live-frames/ {for (i = 1; i <= NF; i++) if ($(i) == "Mpps") m = $(i - 1)}
             /^received on/ {rx = $4} END {if (m != "") print "pktgen", m, rx}' "$RAW/gen-pktgen-$r.out" >>"$RAW/gen.runs"
        # trafgen, counted by the far end's interface counter (it has no XDP program now).
        local c0 c1
        printf '{ eth(da=ff:ff:ff:ff:ff:ff, sa=02:00:00:00:00:01, type=0x0800), ipv4(saddr=10.0.0.1, daddr=10.0.0.2, ttl=64), udp(sport=1000, dport=2000), fill(0x41, 18) }\n' >"$RAW/trafgen.cfg"
        c0=$(far_rx "$C" "$IC")
        ip netns exec "$G" timeout -s INT "$SECS" taskset -c 0 trafgen -o "$IG" -i "$RAW/trafgen.cfg" -P 1 -q >/dev/null 2>"$RAW/gen-trafgen-$r.err" || true
        c1=$(far_rx "$C" "$IC")
        echo "trafgen $(awk -v a="$c0" -v b="$c1" -v s="$SECS" 'BEGIN {print (b - a) / s / 1e6}') $((c1 - c0))" >>"$RAW/gen.runs"
        # testpmd txonly on an af_packet vdev.
        c0=$(far_rx "$C" "$IC")
        ip netns exec "$G" timeout -s INT "$SECS" dpdk-testpmd --no-pci --in-memory -l 0,1 --main-lcore 1 \
            --log-level=lib.eal:error --file-prefix "fpbgen$$" --vdev "net_af_packet0,iface=$IG" -- \
            --forward-mode=txonly --txpkts=60 --stats-period 1 >"$RAW/gen-testpmd-$r.out" 2>&1 </dev/null || true
        c1=$(far_rx "$C" "$IC")
        echo "testpmd_txonly $(awk -v a="$c0" -v b="$c1" -v s="$SECS" 'BEGIN {print (b - a) / s / 1e6}') $((c1 - c0))" >>"$RAW/gen.runs"
    done
    local g m s
    for g in pktgen trafgen testpmd_txonly; do
        m=$(awk -v g="$g" '$1 == g {print $2}' "$RAW/gen.runs" | median)
        s=$(awk -v g="$g" '$1 == g {print $2}' "$RAW/gen.runs" | spread)
        case $g in
            pktgen) row gen "generator_64B_into_veth: pktgen xdp (Mpps)" "$m" - Mpps "$s" ;;
            *) row gen "generator_64B_into_veth: $g, far-end counter (Mpps)" - "$m" Mpps "$s" ;;
        esac
    done
    # pktgen's own count of what it sent vs what the far end's counter saw.
    awk '$1 == "pktgen" && $3 != "" {print $3}' "$RAW/gen.runs" | while read -r rx; do
        awk -v rx="$rx" -v c="$count" 'BEGIN { if ((c - rx) / c > 0.02) printf "gen: pktgen xdp sent %d frames, the far end counted %d (more than 2%% apart)\n", c, rx }'
    done >>"$RAW/disagree.txt"
    return 0
}

# --- pcap-l3fwd ------------------------------------------------------------------------------
# scripts/bench/l3fwd.sh (the l3fwd owners' script) does exactly this comparison: our l3fwd
# (LPM, EM) and l2fwd on pcap infinite_rx vs DPDK's examples built from /usr/share/dpdk/examples
# with make + pkg-config libdpdk, DPDK's rate read from its telemetry socket.
suite_pcap_l3fwd() {
    if [ -x scripts/bench/l3fwd.sh ]; then
        # The binaries were built above (a build of ferroplane-examples alone would unify
        # features differently and rebuild).
        SKIP_BUILD=1 vs_dpdk pcap-l3fwd l3fwd
    else
        note "pcap-l3fwd: scripts/bench/l3fwd.sh is not there yet"
    fi
}

# --- run -----------------------------------------------------------------------------------
for s in "${suites[@]}"; do
    t=$(date +%s)
    log "=== suite $s"
    "suite_${s//-/_}" || note "suite $s failed"
    echo "$s $(($(date +%s) - t))" >>"$RAW/durations.txt"
done

# --- report --------------------------------------------------------------------------------
REPORT="$OUT/report.md"
{
    echo "# Ferroplane vs DPDK $(dpkg-query -W -f='${Version}' dpdk 2>/dev/null || echo '?')"
    echo
    echo "$(date -u +%FT%TZ); suites: ${suites[*]}; $([ $QUICK = 1 ] && echo 'QUICK mode (a few seconds per case: proves the scripts work, the numbers are not meaningful)' || echo "$RUNS alternating runs per case, $SECS s each")."
    echo
    echo "- Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)."
    echo "- Pinning: forwarders on core 1, generators on core 0 (each suite script states its own); softirq work for veth runs on whichever core sends."
    echo "- Shared with: everything else on this machine; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). Busiest other processes:"
    echo
    echo '```'
    ps -eo pcpu,comm --sort=-pcpu | head -6
    echo '```'
    echo
    echo "Ratio = ours / DPDK in the row's unit (micro, null, af_packet, af_xdp rows: cost per item, below 1.00 = Ferroplane faster). Spread = (max - min) / median over the runs, where the suite keeps the runs."
    echo
    echo "| suite | case | Ferroplane | DPDK | unit | ratio | spread |"
    echo "|---|---|---:|---:|---|---:|---:|"
    while IFS=$'\t' read -r s c o d u sp; do
        ratio=$(awk -v a="$o" -v b="$d" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }')
        echo "| $s | $c | $o | $d | $u | $ratio | $sp |"
    done <"$ROWS"
    echo
    if [ -s "$NOTES" ]; then echo "## Notes"; echo; cat "$NOTES"; echo; fi
    echo "## Plots"
    echo
} >"$REPORT"

# Ratio chart of every row with both sides.
awk -F'\t' '$3 != "-" && $4 != "-" && $4 + 0 > 0 {printf "%s: %s\t%.4f\n", $1, $2, $3 / $4}' "$ROWS" >"$RAW/ratios.tsv"
if [ -s "$RAW/ratios.tsv" ]; then
    if "$PKTGEN" plot --out "$OUT/ratios" --title "Ferroplane / DPDK (cost per item)" "$RAW/ratios.tsv" >&2; then
        echo "![ratios](ratios.png)" >>"$REPORT"
    else
        note "the ratio plot could not be drawn"
    fi
fi
for j in "$RAW"/pktgen-af_xdp-1.json; do
    [ -f "$j" ] || continue
    "$PKTGEN" plot --out "$OUT/l3fwd-latency-cdf" --title "l3fwd router, AF_XDP: latency CDF at max rate" "$j" >&2 &&
        echo "![latency](l3fwd-latency-cdf.png)" >>"$REPORT"
done
echo >>"$REPORT"
echo "Total time: $(($(date +%s) - T0)) s (per suite: $(tr '\n' ' ' <"$RAW/durations.txt"))." >>"$REPORT"
cat "$REPORT"
log "report: $REPORT"
