// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Ferroplane pktgen's kernel-speed transmitter.
 *
 * xdp_gen runs under BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: the kernel builds a frame
 * from the data given to the syscall, runs this program on it, and acts on the verdict for
 * real. The program stamps a per-CPU sequence number into the pktgen payload (fixing the L4
 * checksum incrementally) and redirects the frame to the egress interface.
 *
 * xdp_count is the receiving end for measurements: it counts frames per CPU and drops them.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Set by the loader before the program is loaded. */
const volatile __u32 egress_ifindex = 0;
/* Offset of the 8-byte stream/sequence word in the frame; 0: do not stamp. */
const volatile __u32 seq_off = 0;
/* Offset of the L4 checksum; 0: none to fix. */
const volatile __u32 csum_off = 0;
/* The checksum is UDP's (zero means "none"; a computed zero is sent as 0xffff). */
const volatile __u8 csum_udp = 0;
/* Stream id base; the CPU number is added so each CPU's sequence is its own stream. */
const volatile __u16 stream_base = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} seq_ctr SEC(".maps");

struct counts {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counts);
} rx_counts SEC(".maps");

#define MAX_OFF 4096

static __always_inline __u16 be16(const __u8 *p)
{
	return ((__u16)p[0] << 8) | p[1];
}

SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	__u64 *ctr = bpf_map_lookup_elem(&seq_ctr, &key);

	if (!ctr)
		return XDP_ABORTED;
	__u64 seq = *ctr;
	*ctr = seq + 1;

	__u32 so = seq_off & (MAX_OFF - 1);
	__u32 co = csum_off & (MAX_OFF - 1);
	if (so) {
		__u8 *p = data + so;
		if (p + 8 > end)
			return XDP_ABORTED;
		__u64 stream = (__u64)(__u16)(stream_base + bpf_get_smp_processor_id());
		__u64 word = (stream << 48) | (seq & 0xffffffffffffULL);
		__u32 sum = 0;
		int i;

		/* RFC 1624: HC' = ~(~HC + ~m + m'), over the four 16-bit words. */
#pragma unroll
		for (i = 0; i < 4; i++) {
			__u16 old = be16(p + 2 * i);
			__u16 new = (__u16)(word >> (48 - 16 * i));
			sum += (__u16)~old;
			sum += new;
			p[2 * i] = new >> 8;
			p[2 * i + 1] = new & 0xff;
		}
		if (co) {
			__u8 *c = data + co;
			if (c + 2 > end)
				return XDP_ABORTED;
			__u16 hc = be16(c);
			if (!(csum_udp && hc == 0)) {
				sum += (__u16)~hc;
				sum = (sum & 0xffff) + (sum >> 16);
				sum = (sum & 0xffff) + (sum >> 16);
				__u16 nc = ~sum & 0xffff;
				if (csum_udp && nc == 0)
					nc = 0xffff;
				c[0] = nc >> 8;
				c[1] = nc & 0xff;
			}
		}
	}
	return bpf_redirect(egress_ifindex, 0);
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct counts *c = bpf_map_lookup_elem(&rx_counts, &key);

	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
