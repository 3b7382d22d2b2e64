/* Times DPDK's rte_raw_cksum (an inline function from rte_ip.h, no EAL needed) over buffers
 * of the sizes given on the command line; prints "size ns_per_checksum" per size, the best of
 * 7 runs. Same method as net/examples/cksum_bench.rs: one byte of the buffer changes each
 * iteration so the sum cannot be hoisted, and the results are accumulated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <rte_ip.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    static uint8_t buf[9000] __attribute__((aligned(64)));
    for (size_t i = 0; i < sizeof(buf); i++) buf[i] = (uint8_t)(i * 131 + 7);
    uint32_t acc = 0;
    for (int a = 1; a < argc; a++) {
        size_t len = strtoul(argv[a], NULL, 10);
        if (len == 0 || len > sizeof(buf)) { fprintf(stderr, "bad size %s\n", argv[a]); return 2; }
        long iters = 200000000L / (long)(len + 32);
        double best = 1e30;
        for (int run = 0; run < 7; run++) {
            double t0 = now_ns();
            for (long i = 0; i < iters; i++) {
                buf[0] = (uint8_t)i;
                __asm__ volatile("" ::: "memory");
                acc += rte_raw_cksum(buf, len);
            }
            double ns = (now_ns() - t0) / (double)iters;
            if (ns < best) best = ns;
        }
        printf("%zu %.2f\n", len, best);
    }
    fprintf(stderr, "checksum accumulator %u\n", acc);
    return 0;
}
