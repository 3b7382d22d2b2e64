// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Ferroplane XDP steering program, attached by the af_xdp driver.
 *
 * For each frame, in this order:
 *   1. Flow director: exact-match rules, most specific first: 5-tuple, then
 *      destination address + port (+ L4 protocol), then ethertype. A hit counts
 *      packets and bytes in the rule's value and applies its action:
 *        DROP  -> XDP_DROP
 *        PASS  -> XDP_PASS (the kernel stack gets the frame)
 *        QUEUE -> the frame goes to the AF_XDP socket of the queue it ARRIVED on.
 *                 XDP can only redirect to the socket bound on the arrival queue,
 *                 so "to queue N" is honoured exactly when N is the arrival queue.
 *                 Otherwise the config's `mismatch_policy` decides: deliver to
 *                 the arrival queue's socket and let the engine steer in
 *                 software (default), pass to the kernel, or drop. Mismatches
 *                 are counted.
 *      A table with no rule (its count in `config` is 0) is not looked up.
 *   2. Filters: ARP goes to the kernel unless the config says otherwise;
 *      frames that are neither IPv4 nor IPv6 (nor ARP) go to the kernel.
 *   3. Everything else goes to the socket of the arrival queue; when no socket
 *      is bound there, bpf_redirect_map falls back to XDP_PASS.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define FP_ACT_QUEUE 0
#define FP_ACT_DROP 1
#define FP_ACT_PASS 2

#define FP_MISMATCH_ARRIVAL 0
#define FP_MISMATCH_PASS 1
#define FP_MISMATCH_DROP 2

/* Indices of the per-CPU statistics array. Keep in sync with af_xdp/xdp.rs. */
enum fp_stat {
	FP_STAT_REDIRECT = 0,      /* handed to bpf_redirect_map (socket present) */
	FP_STAT_PASS_NO_SOCKET,    /* no socket on the arrival queue: to the kernel */
	FP_STAT_PASS_ARP,
	FP_STAT_PASS_NON_IP,
	FP_STAT_RULE_QUEUE,
	FP_STAT_RULE_DROP,
	FP_STAT_RULE_PASS,
	FP_STAT_QUEUE_MISMATCH,    /* QUEUE rule for another queue than the arrival one */
	FP_STAT_PARSE_ERROR,       /* truncated headers: to the kernel */
	FP_STAT_MAX,
};

struct fp_key5 {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport; /* network byte order */
	__u16 dport; /* network byte order */
	__u8 proto;
	__u8 family; /* 4 or 6 */
	__u8 pad[2];
};

struct fp_key_dst {
	__u8 dst[16];
	__u16 dport; /* network byte order */
	__u8 proto;
	__u8 family;
};

struct fp_rule {
	__u32 action;
	__u32 queue;
	__u64 hits;
	__u64 bytes;
};

/* Keep in sync with ConfigState::encode in af_xdp/xdp.rs. The rule counts are kept by
 * the driver (incremented before a rule is inserted, decremented after it is deleted), so a
 * table whose count is 0 holds no rule and its lookup, and the key building, are skipped: the
 * common case of no flow-director rules costs no hash lookup per frame. */
struct fp_config {
	__u32 arp_to_xsk;      /* 0: ARP to the kernel; 1: ARP like any other frame */
	__u32 mismatch_policy; /* FP_MISMATCH_* */
	__u32 n_ethertype;     /* rules in rules_ethertype */
	__u32 n_5tuple;        /* rules in rules_5tuple */
	__u32 n_dst;           /* rules in rules_dst */
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fp_key5);
	__type(value, struct fp_rule);
} rules_5tuple SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fp_key_dst);
	__type(value, struct fp_rule);
} rules_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u16); /* host byte order */
	__type(value, struct fp_rule);
} rules_ethertype SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fp_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1;
}

static __always_inline void hit(struct fp_rule *r, __u64 len)
{
	__sync_fetch_and_add(&r->hits, 1);
	__sync_fetch_and_add(&r->bytes, len);
}

static __always_inline int to_socket(struct xdp_md *ctx)
{
	int ret = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
	count(ret == XDP_REDIRECT ? FP_STAT_REDIRECT : FP_STAT_PASS_NO_SOCKET);
	return ret;
}

static __always_inline int apply(struct xdp_md *ctx, struct fp_rule *r, __u64 len,
				 struct fp_config *cfg)
{
	hit(r, len);
	switch (r->action) {
	case FP_ACT_DROP:
		count(FP_STAT_RULE_DROP);
		return XDP_DROP;
	case FP_ACT_PASS:
		count(FP_STAT_RULE_PASS);
		return XDP_PASS;
	default:
		count(FP_STAT_RULE_QUEUE);
		if (r->queue != ctx->rx_queue_index) {
			count(FP_STAT_QUEUE_MISMATCH);
			__u32 policy = cfg ? cfg->mismatch_policy : FP_MISMATCH_ARRIVAL;
			if (policy == FP_MISMATCH_PASS)
				return XDP_PASS;
			if (policy == FP_MISMATCH_DROP)
				return XDP_DROP;
		}
		return to_socket(ctx);
	}
}

SEC("xdp")
int xdp_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 len = (__u64)(end - data);
	__u32 zero = 0;
	struct fp_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct ethhdr *eth = data;
	struct fp_rule *r;
	__u16 proto;
	void *l3;

	if ((void *)(eth + 1) > end) {
		count(FP_STAT_PARSE_ERROR);
		return XDP_PASS;
	}
	proto = bpf_ntohs(eth->h_proto);
	l3 = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
			if (l3 + 4 > end) {
				count(FP_STAT_PARSE_ERROR);
				return XDP_PASS;
			}
			proto = bpf_ntohs(*(__u16 *)(l3 + 2));
			l3 += 4;
		}
	}

	/* Without the config (never, for a 1-entry array) assume every table has rules. */
	__u32 n_eth = cfg ? cfg->n_ethertype : 1;
	__u32 n_5 = cfg ? cfg->n_5tuple : 1;
	__u32 n_dst = cfg ? cfg->n_dst : 1;

	if (n_eth) {
		r = bpf_map_lookup_elem(&rules_ethertype, &proto);
		if (r)
			return apply(ctx, r, len, cfg);
	}

	if (proto == ETH_P_ARP) {
		if (cfg && cfg->arp_to_xsk)
			return to_socket(ctx);
		count(FP_STAT_PASS_ARP);
		return XDP_PASS;
	}

	/* Header checks (and their parse-error verdicts) come first, rules or not. */
	void *l4;
	__u8 l4proto;
	if (proto == ETH_P_IP) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > end) {
			count(FP_STAT_PARSE_ERROR);
			return XDP_PASS;
		}
		l4proto = ip->protocol;
		l4 = l3 + ip->ihl * 4;
		/* Non-first fragments carry no ports: they match with ports 0. */
		if (ip->frag_off & bpf_htons(0x1fff))
			l4 = 0;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > end) {
			count(FP_STAT_PARSE_ERROR);
			return XDP_PASS;
		}
		l4proto = ip6->nexthdr;
		l4 = ip6 + 1;
	} else {
		count(FP_STAT_PASS_NON_IP);
		return XDP_PASS;
	}
	int ports = l4 && (l4proto == IPPROTO_TCP || l4proto == IPPROTO_UDP ||
			   l4proto == IPPROTO_SCTP);
	if (ports && l4 + 4 > end) {
		count(FP_STAT_PARSE_ERROR);
		return XDP_PASS;
	}

	if (!n_5 && !n_dst)
		return to_socket(ctx);

	struct fp_key5 k5 = {};
	k5.proto = l4proto;
	if (proto == ETH_P_IP) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > end) /* checked above; for the verifier */
			return XDP_PASS;
		__builtin_memcpy(k5.src, &ip->saddr, 4);
		__builtin_memcpy(k5.dst, &ip->daddr, 4);
		k5.family = 4;
	} else {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > end) /* checked above; for the verifier */
			return XDP_PASS;
		__builtin_memcpy(k5.src, &ip6->saddr, 16);
		__builtin_memcpy(k5.dst, &ip6->daddr, 16);
		k5.family = 6;
	}
	if (ports) {
		if (l4 + 4 > end) /* checked above; for the verifier */
			return XDP_PASS;
		k5.sport = *(__u16 *)l4;
		k5.dport = *(__u16 *)(l4 + 2);
	}

	if (n_5) {
		r = bpf_map_lookup_elem(&rules_5tuple, &k5);
		if (r)
			return apply(ctx, r, len, cfg);
	}

	if (n_dst) {
		struct fp_key_dst kd = {};
		__builtin_memcpy(kd.dst, k5.dst, 16);
		kd.dport = k5.dport;
		kd.proto = k5.proto;
		kd.family = k5.family;
		r = bpf_map_lookup_elem(&rules_dst, &kd);
		if (r)
			return apply(ctx, r, len, cfg);
	}

	return to_socket(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
