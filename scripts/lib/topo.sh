# shellcheck shell=bash
# Shared helpers for scripts that build veth topologies in network namespaces (demo, bench).
#
#   . scripts/lib/topo.sh
#   TOPO_PREFIX=fpd            # before topo_init: names are <prefix><pid><suffix>
#   topo_init                  # sweeps leftovers of dead runs, installs the cleanup trap
#   ns=$(topo_name r); topo_ns "$ns"
#   topo_veth "$nsA" "$(topo_name a)" "$nsR" "$(topo_name ra)"
#   some_daemon & topo_pid $!
#
# Everything is named <prefix><pid><suffix> (at most 15 bytes for interface names), so two
# runs never collide and a later run can tell leftovers of a dead run (its pid is gone) from
# those of a live one. topo_cleanup (run by the trap on exit, Ctrl-C and errors) stops the
# processes registered with topo_pid, then deletes the namespaces, which deletes their veths.
# Nothing is ever created in, or moved out of, the caller's namespace.

TOPO_PREFIX="${TOPO_PREFIX:-fpt}"
TOPO_NS=()
TOPO_PIDS=()
TOPO_CLEANED=0

topo_log() { echo "${TOPO_LOG_TAG:-topo}: $*" >&2; }

# topo_name SUFFIX: the unique name for this run.
topo_name() { echo "${TOPO_PREFIX}$$$1"; }

# Deletes namespaces <prefix><pid>* whose pid no longer runs (a run killed with SIGKILL).
topo_sweep_stale() {
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${TOPO_PREFIX}[0-9]+" || true); do
        pid=$(sed -E "s/^${TOPO_PREFIX}([0-9]+).*/\1/" <<<"$ns")
        if [ "$pid" != "$$" ] && ! kill -0 "$pid" 2>/dev/null; then
            topo_log "removing leftover namespace $ns (its run, pid $pid, is gone)"
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}

# topo_ns NAME: creates a namespace with lo up, IPv6 off (no ND/MLD chatter in measurements).
topo_ns() {
    ip netns add "$1"
    TOPO_NS+=("$1")
    ip -n "$1" link set lo up
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# topo_veth NS1 IF1 NS2 IF2 [queues]: a veth pair with one end in each namespace, both up.
topo_veth() {
    local q=${5:-1}
    ip link add "$2" netns "$1" numrxqueues "$q" numtxqueues "$q" type veth \
        peer name "$4" netns "$3" numrxqueues "$q" numtxqueues "$q"
    ip -n "$1" link set "$2" up
    ip -n "$3" link set "$4" up
}

# topo_mac NS IF: the interface's MAC address.
topo_mac() { ip netns exec "$1" cat "/sys/class/net/$2/address"; }

# topo_pid PID: stop this process on cleanup.
topo_pid() { TOPO_PIDS+=("$1"); }

# topo_stop PID [secs]: SIGINT, then SIGKILL after secs (default 5); waits for it, and forgets
# it (cleanup must not signal a later process that reuses the pid).
topo_stop() {
    local pid=$1 secs=${2:-5} i p keep=()
    for p in "${TOPO_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    TOPO_PIDS=("${keep[@]}")
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -INT "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

topo_cleanup() {
    [ "$TOPO_CLEANED" = 1 ] && return 0
    TOPO_CLEANED=1
    local p ns
    for p in "${TOPO_PIDS[@]}"; do topo_stop "$p" 3; done
    for ns in "${TOPO_NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    [ ${#TOPO_NS[@]} -gt 0 ] && topo_log "removed namespaces ${TOPO_NS[*]}"
    return 0
}

# topo_init: sweep leftovers, clean up on exit, Ctrl-C, TERM and errors.
topo_init() {
    [ "$(id -u)" -eq 0 ] || { topo_log "needs root (network namespaces and veth pairs)"; return 1; }
    topo_sweep_stale
    trap 'topo_cleanup' EXIT
    trap 'topo_log "interrupted"; topo_cleanup; exit 130' INT
    trap 'topo_cleanup; exit 143' TERM
}

# topo_router: the routed topology of the demo and the l3fwd-veth bench,
#   ns A (10.0.1.2/24) -- ns R (the router: ports IF_RA, IF_RB) -- ns B (10.0.2.2/24),
# each host with a default route via .1 on its side. Sets NS_A NS_B NS_R IF_A IF_B IF_RA IF_RB.
topo_router() {
    NS_A=$(topo_name a) NS_B=$(topo_name b) NS_R=$(topo_name r)
    IF_A=$(topo_name a) IF_B=$(topo_name b) IF_RA=$(topo_name ra) IF_RB=$(topo_name rb)
    for ns in "$NS_A" "$NS_B" "$NS_R"; do topo_ns "$ns"; done
    topo_veth "$NS_A" "$IF_A" "$NS_R" "$IF_RA"
    topo_veth "$NS_B" "$IF_B" "$NS_R" "$IF_RB"
    ip -n "$NS_A" addr add 10.0.1.2/24 dev "$IF_A"
    ip -n "$NS_A" route add default via 10.0.1.1
    ip -n "$NS_B" addr add 10.0.2.2/24 dev "$IF_B"
    ip -n "$NS_B" route add default via 10.0.2.1
}
