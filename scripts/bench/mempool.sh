#!/usr/bin/env bash
# Mempool suite for scripts/bench-vs-dpdk.sh: Ferroplane's Mempool against DPDK 22.11's rte_mempool.
#
# Both sides run the loop of DPDK's mempool_perf_autotest (app/test/test_mempool_perf.c): each
# lcore takes n_keep objects in bulks of n_get_bulk, puts them back in bulks of n_put_bulk,
# 65536 objects per loop, for a fixed time; pool of cores*(128+3*512)-1 objects of 2 KiB,
# per-lcore cache 512 or none, threads pinned to cores 0 (and 1). Both report rate_persec
# (objects taken and returned per second, summed over cores), where both measure seconds of
# thread CPU time (CLOCK_THREAD_CPUTIME_ID) rather than wall time, so that other work on a shared
# 2-core machine does not land on one side only. The rows give the cost instead:
#     ns per object = 1e9 / rate_persec
# (for 2 cores: wall-clock ns per object of the combined rate). Lower is better.
#
# DPDK side: the autotest itself runs ~25 minutes (5 s per case, ~290 cases, cache rows last), so
# by default this script builds a small C program against libdpdk (pkg-config libdpdk) running the
# same loop with rte_mempool_generic_get/put (raw rows) and rte_pktmbuf_alloc(_bulk)/free(_bulk)
# (mbuf rows) for the matching cases only. DPDK_AUTOTEST=1 runs the real
#     dpdk-test --no-pci --in-memory -l 0-1 (mempool_perf_autotest)
# instead and takes the raw rows from its output (wall-clock rates; mbuf rows then have no DPDK number).
#
# Both sides run REPEAT times (default 3), alternating, and each row is the median; with several
# runs, each row's per-run values (ns/object) go to stderr as RUNS<TAB>case<TAB>ours|dpdk<TAB>v1 v2 ...
# (scripts/bench.sh's spread column).
#
# Env: QUICK=1 (short runs, fewer cases, one repetition), SECS=<CPU seconds per case> (default 1),
#      REPEAT=<runs of each side> (default 3),
#      MEMPOOL_PERF_BIN=<prebuilt mempool_perf example> (else built with cargo --release).
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${SECS:-1}
cases=full
repeat=${REPEAT:-3}
if [ "${QUICK:-0}" = 1 ]; then secs=${SECS:-0.3}; cases=quick; repeat=${REPEAT:-1}; fi
work=$(mktemp -d /tmp/fp-bench-mempool.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- ours ---------------------------------------------------------------------------------------
bin=${MEMPOOL_PERF_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release -q -p ferroplane-mempool --example mempool_perf >&2
    bin="${CARGO_TARGET_DIR:-target}/release/examples/mempool_perf"
fi
: > "$work/ours.txt"
: > "$work/dpdk.txt"
dpdk_cmd=()

# --- DPDK ---------------------------------------------------------------------------------------
dpdk_ok=1
if [ "${DPDK_AUTOTEST:-0}" = 1 ]; then
    echo "mempool: running dpdk-test mempool_perf_autotest (about 25 minutes)" >&2
    if ! echo mempool_perf_autotest | timeout "${DPDK_AUTOTEST_TIMEOUT:-2400}" \
        dpdk-test --no-pci --in-memory -l 0-1 --log-level=lib.eal:error > "$work/autotest.txt" 2>&1; then
        echo "mempool: dpdk-test failed or timed out; partial output used" >&2
    fi
    # "mempool_autotest cache=512 cores=1 n_get_bulk=32 n_put_bulk=32 n_keep=32 [constant_n=0] rate_persec=N"
    grep -E '^mempool_autotest cache=' "$work/autotest.txt" | grep -v 'constant_n=1' \
        | sed -E 's/^mempool_autotest /dpdk_perf kind=raw /; s/ constant_n=[0-9]+//' > "$work/dpdk.txt" || true
    cat "$work/dpdk.txt" >&2
elif pkg-config --exists libdpdk 2>/dev/null; then
    cat > "$work/dpdk_mempool_perf.c" <<'CEOF'
/* The mempool_perf_autotest loop over rte_mempool, for the cases Ferroplane reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>

#define LOOP_OBJS 65536
#define MAX_KEEP 128

enum kind { RAW, MBUF };
static enum kind kind;
static unsigned keep, bulk;
static double secs;
static uint64_t rates[RTE_MAX_LCORE];

/* CPU time of the calling thread: other processes on a shared machine do not count. */
static double thread_cpu_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int run(void *arg)
{
	struct rte_mempool *mp = arg;
	struct rte_mempool_cache *cache = rte_mempool_default_cache(mp, rte_lcore_id());
	void *objs[MAX_KEEP];
	struct rte_mbuf *mbufs[MAX_KEEP];
	double start = thread_cpu_secs();
	uint64_t done = 0;
	unsigned i, k;

	while (thread_cpu_secs() - start < secs) {
		for (i = 0; i < LOOP_OBJS / keep; i++) {
			if (kind == RAW) {
				for (k = 0; k < keep; k += bulk)
					if (rte_mempool_generic_get(mp, &objs[k], bulk, cache) < 0)
						return -1;
				for (k = 0; k < keep; k += bulk)
					rte_mempool_generic_put(mp, &objs[k], bulk, cache);
			} else if (bulk == 1) {
				for (k = 0; k < keep; k++)
					if ((mbufs[k] = rte_pktmbuf_alloc(mp)) == NULL)
						return -1;
				for (k = 0; k < keep; k++)
					rte_pktmbuf_free(mbufs[k]);
			} else {
				for (k = 0; k < keep; k += bulk)
					if (rte_pktmbuf_alloc_bulk(mp, &mbufs[k], bulk) != 0)
						return -1;
				rte_pktmbuf_free_bulk(mbufs, keep);
			}
		}
		done += LOOP_OBJS;
	}
	rates[rte_lcore_id()] = (uint64_t)((double)done / (thread_cpu_secs() - start));
	return 0;
}

static int one_case(enum kind k, unsigned cache, unsigned cores, unsigned n_keep, unsigned n_bulk)
{
	static unsigned seq;
	char name[RTE_MEMPOOL_NAMESIZE];
	unsigned count = cores * (MAX_KEEP + 3 * RTE_MEMPOOL_CACHE_MAX_SIZE) - 1, lcore, left;
	struct rte_mempool *mp;
	uint64_t rate = 0;
	int ret = 0;

	if (cores > rte_lcore_count())
		return 0;
	snprintf(name, sizeof(name), "fp_perf_%u", seq++);
	if (k == RAW)
		mp = rte_mempool_create(name, count, 2048, cache, 0, NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
	else
		mp = rte_pktmbuf_pool_create(name, count, cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (mp == NULL) {
		fprintf(stderr, "cannot create mempool %s: %s\n", name, rte_strerror(rte_errno));
		return -1;
	}
	kind = k;
	keep = n_keep;
	bulk = n_bulk;
	memset(rates, 0, sizeof(rates));
	left = cores - 1;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (left == 0)
			break;
		rte_eal_remote_launch(run, mp, lcore);
		left--;
	}
	if (run(mp) < 0)
		ret = -1;
	rte_eal_mp_wait_lcore();
	for (lcore = 0; lcore < RTE_MAX_LCORE; lcore++)
		rate += rates[lcore];
	printf("dpdk_perf kind=%s cache=%u cores=%u n_get_bulk=%u n_put_bulk=%u n_keep=%u rate_persec=%lu\n",
	       k == RAW ? "raw" : "mbuf", cache, cores, n_bulk, n_bulk, n_keep, (unsigned long)rate);
	fflush(stdout);
	rte_mempool_free(mp);
	return ret;
}

int main(int argc, char **argv)
{
	int n = rte_eal_init(argc, argv);
	int quick;

	if (n < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	argc -= n;
	argv += n;
	secs = argc > 1 ? atof(argv[1]) : 2.0;
	quick = argc > 2 && strcmp(argv[2], "quick") == 0;
	one_case(RAW, RTE_MEMPOOL_CACHE_MAX_SIZE, 1, 32, 32);
	one_case(RAW, 0, 1, 32, 32);
	one_case(RAW, RTE_MEMPOOL_CACHE_MAX_SIZE, 1, 32, 1);
	one_case(MBUF, RTE_MEMPOOL_CACHE_MAX_SIZE, 1, 32, 32);
	one_case(MBUF, RTE_MEMPOOL_CACHE_MAX_SIZE, 1, 32, 1);
	if (!quick) {
		one_case(RAW, RTE_MEMPOOL_CACHE_MAX_SIZE, 1, 128, 32);
		one_case(RAW, 0, 1, 32, 1);
		one_case(RAW, RTE_MEMPOOL_CACHE_MAX_SIZE, 2, 32, 32);
		one_case(RAW, 0, 2, 32, 32);
	}
	rte_eal_cleanup();
	return 0;
}
CEOF
    # shellcheck disable=SC2046
    if cc -O3 -o "$work/dpdk_mempool_perf" "$work/dpdk_mempool_perf.c" $(pkg-config --cflags --libs libdpdk) >&2; then
        lcores=0-1
        [ "$(nproc)" -ge 2 ] || lcores=0
        dpdk_cmd=("$work/dpdk_mempool_perf" --no-pci --in-memory -l "$lcores" --log-level=lib.eal:error -- "$secs" "$cases")
    else
        echo "mempool: cannot build the DPDK harness" >&2
        dpdk_ok=0
    fi
else
    echo "mempool: libdpdk not found (pkg-config libdpdk); DPDK column empty. Run scripts/setup.sh" >&2
    dpdk_ok=0
fi

# --- runs: ours and DPDK alternately, REPEAT times; each row takes the median rate ---------------
for r in $(seq "$repeat"); do
    echo "mempool: run $r/$repeat: ours ($bin, ${secs}s per case)" >&2
    MEMPOOL_PERF_CASES=$cases "$bin" "$secs" | tee -a "$work/ours.txt" >&2
    if [ ${#dpdk_cmd[@]} -gt 0 ]; then
        echo "mempool: run $r/$repeat: DPDK (rte_mempool, ${secs}s per case)" >&2
        "${dpdk_cmd[@]}" | tee -a "$work/dpdk.txt" >&2 || dpdk_ok=0
    fi
done
[ "$dpdk_ok" = 1 ] || echo "mempool: some DPDK rows missing" >&2

# --- rows ---------------------------------------------------------------------------------------
# key: kind cache cores bulk keep -> rate
key() { sed -nE 's/.*kind=([a-z]+) cache=([0-9]+) cores=([0-9]+) n_get_bulk=([0-9]+) n_put_bulk=([0-9]+) n_keep=([0-9]+) rate_persec=([0-9]+).*/\1 \2 \3 \4 \5 \6 \7/p' "$1"; }
# median rate of one case in a file of result lines (empty if none)
median() {
    key "$1" | awk -v k="$2" -v c="$3" -v n="$4" -v g="$5" -v p="$6" -v kp="$7" \
        '$1 == k && $2 == c && $3 == n && $4 == g && $5 == p && $6 == kp { print $7 }' \
        | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
# ns/object of every run of one case, in run order, space separated (same arguments as median)
runs_ns() {
    key "$1" | awk -v k="$2" -v c="$3" -v n="$4" -v g="$5" -v p="$6" -v kp="$7" \
        '$1 == k && $2 == c && $3 == n && $4 == g && $5 == p && $6 == kp && $7 > 0 { printf "%s%.3f", sep, 1e9 / $7; sep = " " }'
}
key "$work/ours.txt" | awk '!seen[$1 FS $2 FS $3 FS $4 FS $5 FS $6]++' | while read -r kind cache cores get put keep _; do
    [ "$get" = "$put" ] || continue
    rate=$(median "$work/ours.txt" "$kind" "$cache" "$cores" "$get" "$put" "$keep")
    theirs=$(median "$work/dpdk.txt" "$kind" "$cache" "$cores" "$get" "$put" "$keep")
    ours_ns=$(awk -v r="$rate" 'BEGIN { if (r > 0) printf "%.3f", 1e9 / r; else print "-" }')
    dpdk_ns=$(awk -v r="${theirs:-0}" 'BEGIN { if (r > 0) printf "%.3f", 1e9 / r; else print "-" }')
    what="get+put"
    [ "$kind" = mbuf ] && what="mbuf alloc+free"
    if [ "$cache" = 0 ]; then cdesc="no cache"; else cdesc="cache $cache"; fi
    name=$(printf '%s bulk %s keep %s, %s, %s core(s)' "$what" "$get" "$keep" "$cdesc" "$cores")
    printf 'ROW\t%s\t%s\t%s\tns/object\n' "$name" "$ours_ns" "$dpdk_ns"
    if [ "$repeat" -gt 1 ]; then
        printf 'RUNS\t%s\tours\t%s\n' "$name" "$(runs_ns "$work/ours.txt" "$kind" "$cache" "$cores" "$get" "$put" "$keep")" >&2
        theirs_runs=$(runs_ns "$work/dpdk.txt" "$kind" "$cache" "$cores" "$get" "$put" "$keep")
        if [ -n "$theirs_runs" ]; then printf 'RUNS\t%s\tdpdk\t%s\n' "$name" "$theirs_runs" >&2; fi
    fi
done
