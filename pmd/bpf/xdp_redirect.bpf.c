// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Benchmark helpers (not used by the af_xdp driver itself):
 *   xdp_redirect_dev: XDP_REDIRECT every frame to the device in devmap slot 0:
 *                     the kernel's own forwarding ceiling between two interfaces.
 *   xdp_count_drop:   counts frames and bytes per CPU, then drops them: a cheap
 *                     receiver at the far end of a benchmark path.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tx_port SEC(".maps");

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counter);
} counters SEC(".maps");

static __always_inline void count(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct counter *c = bpf_map_lookup_elem(&counters, &zero);
	if (c) {
		c->packets += 1;
		c->bytes += ctx->data_end - ctx->data;
	}
}

SEC("xdp")
int xdp_redirect_dev(struct xdp_md *ctx)
{
	count(ctx);
	return bpf_redirect_map(&tx_port, 0, 0);
}

SEC("xdp")
int xdp_count_drop(struct xdp_md *ctx)
{
	count(ctx);
	return XDP_DROP;
}

/* Target of a devmap redirect into a veth: the peer must run an XDP program. */
SEC("xdp")
int xdp_pass_all(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
