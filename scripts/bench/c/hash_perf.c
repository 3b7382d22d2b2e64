/* DPDK's rte_hash under exactly the workload of Ferroplane's classify/examples/hash_perf.rs,
 * for scripts/bench/hash.sh: the same keys, table size, fill, lookup streams, bursts and timing,
 * so the two sides' rows compare like for like.
 *
 *   hash_perf [EAL args] -- KEYS [ENTRIES]
 *
 * - Keys: KEYS 13-byte IPv4 5-tuples (src, dst, sport, dport in network order, proto 6 or 17),
 *   packed back to back, drawn from the same xorshift64* generator and seed as hash_perf.rs
 *   (tests/common/rng.rs), so both sides insert and look up the very same keys.
 * - Table: rte_hash_create with ENTRIES entries (default 2^20: DPDK rounds to 2^17 buckets of 8
 *   slots and a key store of ENTRIES keys, our table's shape), key_len 13, 8-byte data, no
 *   extra flags (the "without locks" mode of hash_perf_autotest: lookups take no lock and
 *   assume no concurrent writer; HASH_DPDK_LF=1 selects RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
 *   lock-free lookups concurrent with one writer, as ours always are). Hash function: DPDK's
 *   default, rte_hash_crc (SSE4.2 CRC32; HASH_DPDK_JHASH=1 selects rte_jhash, the autotest's).
 * - Fill: the keys in order with rte_hash_add_key_data(key, i), stopping at the first failure
 *   (as ours does), HASH_PERF_ADD_RUNS times (default 3) on a fresh table; the fastest fill is
 *   reported, the table of the last one is kept for the lookups.
 * - Lookups: 5 * added lookups per pass; hits are random picks among the added keys, misses
 *   random keys not in the table, drawn from the generator after the keys exactly as ours are.
 *   Single: rte_hash_lookup_data per key. Bulk: rte_hash_lookup_bulk_data per burst of 16 or
 *   32 (the burst's key pointers are set up inside the timed loop: a pointer per key into the
 *   packed array, which is what our slice of keys is).
 * - Timing: rdtsc around each whole pass, cycles per key; every pass is run HASH_PERF_REPEAT
 *   times (default 5) and the median is reported.
 * Output (stdout): "name<TAB>value" lines named as hash_perf.rs's, plus memory_bytes (the
 * table's buckets and key store as rte_hash sizes them). Fills go to stderr as
 * "hash_perf: fill N: C cycles, T thread-cpu-ns per add".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_jhash.h>
#include <rte_lcore.h>

#define KEY_LEN 13
#define MAX_REPEAT 31

static uint64_t rng_state = 0x123456789abcdef1ULL;

/* xorshift64*, as classify/tests/common/rng.rs. */
static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* One 5-tuple key, as hash_perf.rs's tuple(). */
static void tuple(uint8_t *k)
{
	uint64_t a = rng_next(), b = rng_next();
	put_be32(k, (uint32_t)a);
	put_be32(k + 4, (uint32_t)(a >> 32));
	k[8] = (uint8_t)(b >> 8);
	k[9] = (uint8_t)b;
	k[10] = (uint8_t)(b >> 24);
	k[11] = (uint8_t)(b >> 16);
	k[12] = ((b >> 40) & 1) ? 17 : 6;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static struct rte_hash *create(uint32_t entries, int run)
{
	char name[RTE_HASH_NAMESIZE];
	snprintf(name, sizeof(name), "fp_hash_perf_%d", run);
	struct rte_hash_parameters p = {
		.name = name,
		.entries = entries,
		.key_len = KEY_LEN,
		.hash_func = getenv("HASH_DPDK_JHASH") ? rte_jhash : rte_hash_crc,
		.hash_func_init_val = 0,
		.socket_id = (int)rte_socket_id(),
		.extra_flag = getenv("HASH_DPDK_LF") ? RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF : 0,
	};
	return rte_hash_create(&p);
}

static const uint8_t *set_base;
static uint64_t set_len;

static double single(struct rte_hash *h, uint64_t *found)
{
	uint64_t f = 0;
	void *data;
	uint64_t c0 = rte_rdtsc();
	for (uint64_t i = 0; i < set_len; i++)
		f += rte_hash_lookup_data(h, set_base + i * KEY_LEN, &data) >= 0;
	uint64_t c1 = rte_rdtsc();
	*found = f;
	return (double)(c1 - c0) / (double)set_len;
}

static double bulk(struct rte_hash *h, unsigned burst, uint64_t *found)
{
	const void *ptrs[RTE_HASH_LOOKUP_BULK_MAX];
	void *data[RTE_HASH_LOOKUP_BULK_MAX];
	uint64_t hit_mask, f = 0;
	uint64_t c0 = rte_rdtsc();
	for (uint64_t i = 0; i < set_len; i += burst) {
		unsigned n = set_len - i < burst ? (unsigned)(set_len - i) : burst;
		for (unsigned j = 0; j < n; j++)
			ptrs[j] = set_base + (i + j) * KEY_LEN;
		f += (unsigned)rte_hash_lookup_bulk_data(h, ptrs, n, &hit_mask, data);
	}
	uint64_t c1 = rte_rdtsc();
	*found = f;
	return (double)(c1 - c0) / (double)set_len;
}

int main(int argc, char **argv)
{
	int eal = rte_eal_init(argc, argv);
	if (eal < 0) {
		fprintf(stderr, "hash_perf: rte_eal_init failed\n");
		return 1;
	}
	argc -= eal;
	argv += eal;
	uint64_t nkeys = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	uint32_t entries = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1u << 20;
	int runs = getenv("HASH_PERF_ADD_RUNS") ? atoi(getenv("HASH_PERF_ADD_RUNS")) : 3;
	int repeat = getenv("HASH_PERF_REPEAT") ? atoi(getenv("HASH_PERF_REPEAT")) : 5;
	if (runs < 1)
		runs = 1;
	if (repeat < 1)
		repeat = 1;
	if (repeat > MAX_REPEAT)
		repeat = MAX_REPEAT;
	if (nkeys == 0 || entries == 0) {
		fprintf(stderr, "hash_perf: KEYS and ENTRIES must be positive\n");
		return 1;
	}

	uint8_t *keys = malloc(nkeys * KEY_LEN);
	if (keys == NULL)
		return 1;
	for (uint64_t i = 0; i < nkeys; i++)
		tuple(keys + i * KEY_LEN);

	struct rte_hash *h = NULL;
	uint64_t added = 0;
	double best_cycles = 0, best_cpu = 0;
	for (int run = 0; run < runs; run++) {
		if (h != NULL)
			rte_hash_free(h);
		h = create(entries, run);
		if (h == NULL) {
			fprintf(stderr, "hash_perf: rte_hash_create(%u) failed: %s\n", entries,
				rte_strerror(rte_errno));
			return 1;
		}
		uint64_t n = nkeys;
		uint64_t cpu0 = thread_cpu_ns(), c0 = rte_rdtsc();
		for (uint64_t i = 0; i < nkeys; i++) {
			int r = rte_hash_add_key_data(h, keys + i * KEY_LEN, (void *)(uintptr_t)i);
			if (r < 0) {
				fprintf(stderr, "hash_perf: stopped at %" PRIu64 " keys: %s\n", i,
					strerror(-r));
				n = i;
				break;
			}
		}
		uint64_t c1 = rte_rdtsc(), cpu1 = thread_cpu_ns();
		double cyc = (double)(c1 - c0) / (double)(n ? n : 1);
		double cpu = (double)(cpu1 - cpu0) / (double)(n ? n : 1);
		fprintf(stderr, "hash_perf: fill %d: %.1f cycles, %.1f thread-cpu-ns per add\n", run,
			cyc, cpu);
		if (run == 0 || cyc < best_cycles) {
			best_cycles = cyc;
			best_cpu = cpu;
		}
		added = n;
	}
	if (added == 0) {
		fprintf(stderr, "hash_perf: no key could be added\n");
		return 1;
	}
	fprintf(stderr, "hash_perf: %" PRIu64 " keys in %u entries (load %.1f%%), %s, %s\n",
		added, entries, 100.0 * (double)added / entries,
		getenv("HASH_DPDK_JHASH") ? "rte_jhash" : "rte_hash_crc",
		getenv("HASH_DPDK_LF") ? "RW_CONCURRENCY_LF" : "no extra flags");

	uint64_t lookups = 5 * added;
	uint8_t *hits = malloc(lookups * KEY_LEN), *misses = malloc(lookups * KEY_LEN);
	if (hits == NULL || misses == NULL)
		return 1;
	for (uint64_t i = 0; i < lookups; i++)
		memcpy(hits + i * KEY_LEN, keys + (rng_next() % added) * KEY_LEN, KEY_LEN);
	for (uint64_t i = 0; i < lookups; i++) {
		uint8_t *k = misses + i * KEY_LEN;
		do
			tuple(k);
		while (rte_hash_lookup(h, k) >= 0);
	}

	static const struct {
		const char *name;
		int hit;
	} sets[] = {{"hit", 1}, {"miss", 0}};
	static const unsigned bursts[] = {0, 16, 32};
	for (unsigned s = 0; s < 2; s++) {
		set_base = sets[s].hit ? hits : misses;
		set_len = lookups;
		for (unsigned b = 0; b < 3; b++) {
			double v[MAX_REPEAT];
			for (int r = 0; r < repeat; r++) {
				uint64_t found;
				v[r] = bursts[b] ? bulk(h, bursts[b], &found) : single(h, &found);
				if (found != (sets[s].hit ? lookups : 0)) {
					fprintf(stderr, "hash_perf: %s: %" PRIu64 " found, want %" PRIu64 "\n",
						sets[s].name, found, sets[s].hit ? lookups : 0);
					return 1;
				}
			}
			qsort(v, (size_t)repeat, sizeof(v[0]), cmp_double);
			char name[64];
			if (bursts[b])
				snprintf(name, sizeof(name), "bulk%u %s", bursts[b], sets[s].name);
			else
				snprintf(name, sizeof(name), "lookup %s", sets[s].name);
			printf("5-tuple 13B, %" PRIu64 " keys, %s\t%.1f\n", added, name,
			       v[(repeat - 1) / 2]);
		}
	}
	printf("5-tuple 13B, %" PRIu64 " keys, add\t%.1f\n", added, best_cycles);
	printf("5-tuple 13B, %" PRIu64 " keys, add thread-cpu-ns\t%.1f\n", added, best_cpu);
	/* rte_hash's buckets (entries / 8 rounded up to a power of two, 64 bytes each) and key
	 * store (entries + 1 slots of align(8 + 13, 16) = 32 bytes), single-writer mode. */
	uint64_t buckets = rte_align32pow2(entries) / 8;
	printf("memory_bytes\t%" PRIu64 "\n", buckets * 64 + ((uint64_t)entries + 1) * 32);
	rte_hash_free(h);
	free(keys);
	free(hits);
	free(misses);
	rte_eal_cleanup();
	return 0;
}
