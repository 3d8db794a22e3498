// SPDX-License-Identifier: GPL-2.0
/*
 * wgfabric load balancer data path for one VIP:port (UDP, IPv4), a tc (cls_bpf, direct-action)
 * ingress program attached to every interface of the LB's network namespace.
 *
 * Packets to VIP:port ("forward"):
 *  1. Guard: drop what cannot be WireGuard (type 1 = 148 bytes, 2 = 92, 3 = 64, 4 >= 32 and a
 *     multiple of 16; bytes 1..3 zero; IP fragments), drop initiations whose mac1 does not verify
 *     with the pool's public key when one is configured (wglb-mac1.bpf.h), and rate-limit
 *     initiations (type 1) with a token bucket per source address and one global bucket. Every
 *     drop counts under its reason.
 *  2. Steering: types 2, 3, 4 by their receiver index when the index was learned from a
 *     backend's handshake message (bpf_map idx); otherwise, and for initiations, the flow table
 *     (LRU, source address:port -> backend) keeps an established flow on its backend; a new flow
 *     is hashed exactly like nftables' `jhash ip saddr . udp sport mod M seed S` and looked up in
 *     the Maglev slot table (the table is written by user space, identical to the nft map).
 *  3. Direct server return (cfg dsr): send the packet unchanged to the backend's MAC (dsr_out).
 *     Otherwise rewrite destination (and, with snat, the source to the LB's address and a port of its own),
 *     fix the checksums, decrement TTL, look the route up (bpf_fib_lookup; an established flow
 *     keeps its route for up to a second, see forward_cached) and send the packet to the next
 *     hop with bpf_redirect_neigh: no conntrack, no netfilter, no second routing pass.
 * Per packet cost (README, "where a packet's time goes"): headers are read and written by direct
 * packet access, the IP checksum is updated by hand, the UDP checksum with one helper call; an
 * established flow's entry is written at most once a second; counters are per CPU.
 * Packets from a backend that belong to one of our flows ("reply"): learn the sender index of
 * handshake messages (types 1 and 2), rewrite the source back to VIP:port (and, with snat, the
 * destination back to the client) and redirect likewise. Everything else: TC_ACT_UNSPEC (the next
 * filter, or the normal stack, decides).
 *
 * The program never reads the wall clock: times are bpf_ktime_get_coarse_ns() (CLOCK_MONOTONIC
 * at tick resolution, a few ms; no clock source read per packet), which user space compares with
 * its own monotonic clock.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <linux/if_link.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define MAX_SLOTS (1 << 20)
#define WG_HDR 12

/* Counter indexes: keep in sync with COUNTERS in bpf-maps.ts. */
enum {
	C_FWD_MAGLEV, C_FWD_FLOW, C_FWD_INDEX, C_REPLY, C_LEARNED, C_UNKNOWN_INDEX,
	C_DROP_TYPE, C_DROP_SIZE, C_DROP_RESERVED, C_DROP_RATE_SOURCE, C_DROP_RATE_GLOBAL,
	C_DROP_NO_BACKEND, C_DROP_FRAGMENT, C_DROP_SNAT_PORTS, C_PASS_STACK,
	C_FWD_DSR, C_DROP_DSR_OFFLINK,
	C_XDP_FWD, C_XDP_PASS,
	C_DROP_MAC1,
	C_MAX
};

struct wglb_cfg {
	__be32 vip;
	__be16 port;
	__u8 affinity;  /* 0: src-ip-port, 1: src-ip */
	__u8 snat;      /* 1: rewrite the source to the LB's address (return path snat) */
	__u32 size;     /* Maglev table size M; 0 = no backends (drop) */
	__u32 seed;     /* jhash seed, as nft's `seed` */
	__u32 guard;    /* 1: drop non-WireGuard and rate-limit initiations */
	__u32 dsr;      /* 1: direct server return (only the destination MAC changes; see dsr_out) */
	__u64 src_cost_ns;   /* token bucket per source: ns of credit one initiation costs */
	__u64 src_burst_ns;  /* ... and the most credit a source may hold */
	__u64 glob_cost_ns;  /* global bucket, same meaning */
	__u64 glob_burst_ns;
	__u64 index_ttl_ns;  /* a learned receiver index is used this long after it was seen */
	__u64 flow_ttl_ns;   /* a flow entry idle this long is ignored */
};

struct target {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct flow_key {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct flow {
	struct target t;
	__be16 lport;  /* snat: our source port towards the backend */
	__u16 pad;
	__u32 pad2;
	__u64 seen;
	/* The route towards the backend as bpf_fib_lookup gave it, kept for one refresh interval
	 * (see commit_flow; 0 = look it up): egress interface, next hop, with snat the source address
	 * it picks, and the longest IP packet it was checked for (a longer one is looked up again,
	 * so the MTU verdict stays per packet). Only the tc program's forward path uses it. */
	__u32 oif;
	__be32 nh;
	__be32 rsrc;
	__u16 rlen;
	__u16 pad3;
};

struct idx_val {
	struct target t;
	__u64 seen;
};

struct rev_key {   /* snat: backend addr:port + our port -> client */
	__be32 baddr;
	__be16 bport;
	__be16 lport;
};

struct bucket {
	__u64 last;
	__u64 credit;
};

struct glob_bucket {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 last;
	__u64 credit;
};

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct wglb_cfg); } wglb_cfg SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, MAX_SLOTS); __type(key, __u32); __type(value, struct target); } wglb_slots SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 262144); __type(key, struct flow_key); __type(value, struct flow); } wglb_flows SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 262144); __type(key, __u32); __type(value, struct idx_val); } wglb_idx SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 262144); __type(key, struct rev_key); __type(value, struct flow_key); } wglb_rev SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 65536); __type(key, __be32); __type(value, struct bucket); } wglb_rl SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct glob_bucket); } wglb_glob SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, C_MAX); __type(key, __u32); __type(value, __u64); } wglb_cnt SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *c = bpf_map_lookup_elem(&wglb_cnt, &i);
	if (c)
		*c += 1;
}

static __always_inline int drop(__u32 reason)
{
	count(reason);
	return TC_ACT_SHOT;
}

static __always_inline __u32 rol32(__u32 x, int r) { return (x << r) | (x >> (32 - r)); }

/* The kernel's jhash(key, len, seed) for len 4 or 8 (include/linux/jhash.h), words read
 * little-endian from memory as the kernel does on x86-64/arm64: what nft's jhash computes. */
static __always_inline __u32 jhash_tail(__u32 w0, __u32 w1, __u32 len, __u32 seed)
{
	__u32 a, b, c;
	a = b = c = 0xdeadbeef + len + seed;
	a += w0;
	b += w1;
	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	return c;
}

/* Token bucket in nanoseconds of credit: true when one more initiation may pass. */
static __always_inline int take(__u64 *last, __u64 *credit, __u64 now, __u64 cost, __u64 burst)
{
	__u64 c = *credit + (now - *last);
	if (c > burst)
		c = burst;
	*last = now;
	if (c < cost) {
		*credit = c;
		return 0;
	}
	*credit = c - cost;
	return 1;
}

static __always_inline int rate_ok(const struct wglb_cfg *cfg, __be32 src, __u64 now, __u32 *reason)
{
	if (cfg->src_cost_ns) {
		struct bucket *b = bpf_map_lookup_elem(&wglb_rl, &src);
		if (!b) {
			struct bucket nb = { .last = now, .credit = cfg->src_burst_ns };
			bpf_map_update_elem(&wglb_rl, &src, &nb, BPF_ANY);
			b = bpf_map_lookup_elem(&wglb_rl, &src);
		}
		if (b && !take(&b->last, &b->credit, now, cfg->src_cost_ns, cfg->src_burst_ns)) {
			*reason = C_DROP_RATE_SOURCE;
			return 0;
		}
	}
	if (cfg->glob_cost_ns) {
		__u32 zero = 0;
		struct glob_bucket *g = bpf_map_lookup_elem(&wglb_glob, &zero);
		if (g) {
			int ok;
			bpf_spin_lock(&g->lock);
			if (g->last == 0) {
				g->last = now;
				g->credit = cfg->glob_burst_ns;
			}
			ok = take(&g->last, &g->credit, now, cfg->glob_cost_ns, cfg->glob_burst_ns);
			bpf_spin_unlock(&g->lock);
			if (!ok) {
				*reason = C_DROP_RATE_GLOBAL;
				return 0;
			}
		}
	}
	return 1;
}

/*
 * The route to daddr: the egress interface (returned, -1 when there is none), its next hop in
 * *nh (the gateway, or daddr itself on-link) and, with want_src, the source address it picks.
 * The next hop goes to bpf_redirect_neigh, which then skips its own output route lookup and
 * hands the packet to the kernel's neighbour entry (cached Ethernet header; ARP, stale and
 * changed MACs handled as for any forwarded packet).
 */
static __always_inline int forward(struct __sk_buff *skb, __be32 saddr, __be32 daddr, int want_src, __be32 *src_out, struct bpf_redir_neigh *nh)
{
	struct bpf_fib_lookup p = {};
	int rc;
	p.family = AF_INET;
	p.l4_protocol = IPPROTO_UDP;
	p.tot_len = skb->len - ETH_HLEN;
	p.ipv4_src = saddr;
	p.ipv4_dst = daddr;
	p.ifindex = skb->ingress_ifindex;
	rc = bpf_fib_lookup(skb, &p, sizeof(p), want_src ? BPF_FIB_LOOKUP_SRC | BPF_FIB_LOOKUP_SKIP_NEIGH : BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return -1;
	if (src_out)
		*src_out = p.ipv4_src;
	__builtin_memset(nh, 0, sizeof(*nh));
	nh->nh_family = AF_INET;
	nh->ipv4_nh = p.ipv4_dst;  /* bpf_fib_lookup put the gateway here when the route has one */
	return p.ifindex;
}

struct hdrs {
	__u32 l3;
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u32 plen;    /* UDP payload length */
	__u8 ttl;
	__u8 wg[WG_HDR];
};

#define IP_OFF(f) (ETH_HLEN + __builtin_offsetof(struct iphdr, f))
#define UDP_OFF(f) (ETH_HLEN + sizeof(struct iphdr) + __builtin_offsetof(struct udphdr, f))
#define UDP_CSUM UDP_OFF(check)
#define IP_CSUM IP_OFF(check)

static __always_inline __u16 fold16(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* Ones' complement difference of a 32- or 16-bit field changing from -> to (RFC 1624: ~m + m'),
 * as a sum of 16-bit words read from memory like the checksum itself. */
static __always_inline __u32 diff32(__u32 from, __u32 to)
{
	return (~from & 0xffff) + (~from >> 16) + (to & 0xffff) + (to >> 16);
}

static __always_inline __u32 diff16(__u16 from, __u16 to)
{
	return (__u16)~from + (__u32)to;
}

/* Packet bytes [0, n) in the skb's linear part, where direct packet access reaches them: pulled
 * there when they are not (a non-linear skb). 0 when they are, -1 for a shorter packet. */
static __always_inline int linear(struct __sk_buff *skb, __u32 n)
{
	if ((void *)(long)skb->data + n <= (void *)(long)skb->data_end)
		return 0;
	if (skb->len < n || bpf_skb_pull_data(skb, n))
		return -1;
	return (void *)(long)skb->data + n <= (void *)(long)skb->data_end ? 0 : -1;
}

#define L4_OFF (ETH_HLEN + sizeof(struct iphdr))
#define WG_OFF (L4_OFF + sizeof(struct udphdr))

/*
 * Rewrites addresses, ports and TTL by direct packet access (parse() made the headers linear).
 * The IP header checksum is updated by hand (RFC 1624). The UDP checksum goes through
 * bpf_l4_csum_replace with the precomputed differences, at most two calls (addresses as part of
 * the pseudo header, ports): only the kernel knows whether the skb carries a complete checksum
 * or a partial one (a local sender's packet over veth holds only the pseudo-header sum, where
 * ports must not be added), and it keeps a CHECKSUM_COMPLETE skb's csum right.
 */
static __always_inline int rewrite(struct __sk_buff *skb, __be32 saddr, __be16 sport, __be32 daddr, __be16 dport)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	struct udphdr *udp = data + L4_OFF;
	__u32 pseudo = 0, ports = 0, ttl;

	if ((void *)(udp + 1) > end)
		return -1;
	if (ip->saddr != saddr)
		pseudo += diff32(ip->saddr, saddr);
	if (ip->daddr != daddr)
		pseudo += diff32(ip->daddr, daddr);
	if (udp->source != sport)
		ports += diff16(udp->source, sport);
	if (udp->dest != dport)
		ports += diff16(udp->dest, dport);
	/* TTL shares a 16-bit checksum word with the protocol byte. */
	ttl = diff16(bpf_htons((__u16)ip->ttl << 8 | ip->protocol), bpf_htons((__u16)(ip->ttl - 1) << 8 | ip->protocol));
	ip->check = ~fold16((__u16)~ip->check + pseudo + ttl);
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip->ttl--;
	udp->source = sport;
	udp->dest = dport;
	/* From here on packet pointers are stale (the helpers may move the data). */
	if (pseudo && bpf_l4_csum_replace(skb, UDP_CSUM, 0, pseudo, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0))
		return -1;
	if (ports && bpf_l4_csum_replace(skb, UDP_CSUM, 0, ports, BPF_F_MARK_MANGLED_0))
		return -1;
	return 0;
}

/* Parses Ethernet + IPv4 (no options) + UDP and the first WG_HDR payload bytes (zero when
 * shorter), by direct packet access. Returns 0 when the packet is such a packet, 1 for a
 * fragment, -1 otherwise. */
static __always_inline int parse(struct __sk_buff *skb, struct hdrs *h)
{
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;
	void *data, *end;

	if (skb->protocol != bpf_htons(ETH_P_IP) || linear(skb, L4_OFF))
		return -1;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return -1;
	h->saddr = ip->saddr;
	h->daddr = ip->daddr;
	h->ttl = ip->ttl;
	if (ip->frag_off & bpf_htons(0x3fff))
		return 1;
	if (linear(skb, WG_OFF))
		return -1;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	udp = data + L4_OFF;
	if ((void *)(udp + 1) > end)
		return -1;
	h->sport = udp->source;
	h->dport = udp->dest;
	h->plen = bpf_ntohs(udp->len);
	h->plen = h->plen >= 8 ? h->plen - 8 : 0;
	__builtin_memset(h->wg, 0, WG_HDR);
	if (h->plen >= WG_HDR) {
		if (linear(skb, WG_OFF + WG_HDR) == 0) {
			data = (void *)(long)skb->data;
			end = (void *)(long)skb->data_end;
			if (data + WG_OFF + WG_HDR <= end)
				__builtin_memcpy(h->wg, data + WG_OFF, WG_HDR);
		} else {
			bpf_skb_load_bytes(skb, WG_OFF, h->wg, WG_HDR);
		}
	}
	return 0;
}

static __always_inline __u32 u32_at(const __u8 *b)
{
	return (__u32)b[0] | (__u32)b[1] << 8 | (__u32)b[2] << 16 | (__u32)b[3] << 24;
}

/* 0 when the payload may be WireGuard, else the drop reason. */
static __always_inline __u32 guard_reason(const struct hdrs *h)
{
	__u8 type = h->wg[0];
	if (h->plen < 4)
		return C_DROP_SIZE;
	if (h->wg[1] | h->wg[2] | h->wg[3])
		return C_DROP_RESERVED;
	switch (type) {
	case 1: return h->plen == 148 ? 0 : C_DROP_SIZE;
	case 2: return h->plen == 92 ? 0 : C_DROP_SIZE;
	case 3: return h->plen == 64 ? 0 : C_DROP_SIZE;
	case 4: return h->plen >= 32 && (h->plen & 15) == 0 ? 0 : C_DROP_SIZE;
	default: return C_DROP_TYPE;
	}
}

#include "wglb-mac1.bpf.h"

/*
 * Direct server return: the packet leaves unchanged (destination still VIP:port, TTL and
 * checksums untouched) towards the backend's MAC address: bpf_redirect_neigh resolves the
 * backend's address as the next hop in the neighbour table (ARP when needed) and writes only
 * the Ethernet header. The backend holds the VIP itself and answers the client directly. A
 * backend whose route has a gateway (not on this L2 segment) or that listens on another port
 * cannot be reached so: dropped and counted (user space refuses such backends before).
 */
static __always_inline int dsr_out(struct __sk_buff *skb, const struct hdrs *h, const struct target *t)
{
	struct bpf_fib_lookup p = {};
	struct bpf_redir_neigh nh = {};
	int rc;
	if (t->port != h->dport)
		return drop(C_DROP_DSR_OFFLINK);
	p.family = AF_INET;
	p.l4_protocol = IPPROTO_UDP;
	p.tot_len = skb->len - ETH_HLEN;
	p.ipv4_src = h->saddr;
	p.ipv4_dst = t->addr;
	p.ifindex = skb->ingress_ifindex;
	/* As a forwarded packet (net.ipv4.ip_forward on, as for the other return paths). */
	rc = bpf_fib_lookup(skb, &p, sizeof(p), BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
		count(C_PASS_STACK);
		return TC_ACT_UNSPEC;
	}
	/* bpf_fib_lookup replaces ipv4_dst with the gateway when the route has one. */
	if (p.ipv4_dst != t->addr)
		return drop(C_DROP_DSR_OFFLINK);
	nh.nh_family = AF_INET;
	nh.ipv4_nh = t->addr;
	count(C_FWD_DSR);
	return bpf_redirect_neigh(p.ifindex, &nh, sizeof(nh), 0);
}

/* Where a packet to the VIP goes, found by map lookups only (nothing is written yet, so an XDP
 * program can still leave the packet to tc). */
struct pick {
	struct target t;
	struct flow *f;   /* the flow entry of the source, if any */
	__u32 via;        /* C_FWD_INDEX, C_FWD_FLOW or C_FWD_MAGLEV */
	__u8 stale;       /* f is older than the flow TTL */
	__u8 unknown;     /* a receiver index nobody learned */
	__u8 est;         /* set by commit_flow: f stays this flow's entry (established, same backend) */
};

/* 0, or C_DROP_NO_BACKEND. */
static __always_inline __u32 pick_backend(const struct wglb_cfg *cfg, const struct hdrs *h, __u64 now, struct pick *p)
{
	__u8 type = h->wg[0];
	struct flow_key fk = { .addr = h->saddr, .port = h->sport };
	int found = 0;

	p->unknown = 0;
	/* With dsr no reply passes here, so no index is ever learned: skip the lookup. */
	if (!cfg->dsr && (type == 2 || type == 3 || type == 4)) {
		__u32 idx = u32_at(type == 2 ? &h->wg[8] : &h->wg[4]);
		struct idx_val *iv = bpf_map_lookup_elem(&wglb_idx, &idx);
		if (iv && now - iv->seen <= cfg->index_ttl_ns) {
			p->t = iv->t;
			p->via = C_FWD_INDEX;
			found = 1;
		} else {
			p->unknown = 1;
		}
	}
	p->f = bpf_map_lookup_elem(&wglb_flows, &fk);
	p->stale = p->f && now - p->f->seen > cfg->flow_ttl_ns;
	if (!found && p->f && !p->stale) {
		p->t = p->f->t;
		p->via = C_FWD_FLOW;
		found = 1;
	}
	if (!found) {
		__u32 slot, w1 = cfg->affinity == 0 ? (__u32)h->sport : 0;
		struct target *st;
		if (cfg->size == 0 || cfg->size > MAX_SLOTS)
			return C_DROP_NO_BACKEND;
		slot = (__u32)(((__u64)jhash_tail(h->saddr, w1, cfg->affinity == 0 ? 8 : 4, cfg->seed) * cfg->size) >> 32);
		st = bpf_map_lookup_elem(&wglb_slots, &slot);
		if (!st || st->addr == 0)
			return C_DROP_NO_BACKEND;
		p->t = *st;
		p->via = C_FWD_MAGLEV;
	}
	return 0;
}

/* Counts the pick and records the flow (with snat: picks our port towards the backend, *sport).
 * 0, or C_DROP_SNAT_PORTS. */
static __always_inline __u32 commit_flow(const struct wglb_cfg *cfg, const struct hdrs *h, __u64 now, struct pick *p, __be16 *sport)
{
	struct flow_key fk = { .addr = h->saddr, .port = h->sport };
	struct flow *f = p->f;

	if (p->unknown)
		count(C_UNKNOWN_INDEX);
	count(p->via);
	*sport = h->sport;
	if (f && !p->stale && f->t.addr == p->t.addr && f->t.port == p->t.port) {
		/* An established flow: no write per packet (a shared entry's cache line stays clean);
		 * its time is refreshed once it is older than a sixteenth of the TTL (at most 1 s). */
		__u64 every = cfg->flow_ttl_ns >> 4;
		if (every > 1000000000ULL)
			every = 1000000000ULL;
		if (now - f->seen > every) {
			f->seen = now;
			f->oif = 0;  /* the route is looked up again on this packet */
		}
		*sport = f->lport ? f->lport : h->sport;
		p->est = 1;
		return 0;
	}
	struct flow nf = { .t = p->t, .seen = now };
	if (cfg->snat) {
		/* A port of ours towards this backend: hashed from the client, probed a few times. */
		__u32 base = jhash_tail(h->saddr, h->sport, 8, cfg->seed ^ p->t.addr);
		int ok = 0;
#pragma unroll
		for (int i = 0; i < 8; i++) {
			__u16 lp = 20000 + (base + i * 7919) % 40000;
			struct rev_key rk = { .baddr = p->t.addr, .bport = p->t.port, .lport = bpf_htons(lp) };
			struct flow_key *owner = bpf_map_lookup_elem(&wglb_rev, &rk);
			if (!owner || (owner->addr == fk.addr && owner->port == fk.port)) {
				bpf_map_update_elem(&wglb_rev, &rk, &fk, BPF_ANY);
				nf.lport = rk.lport;
				ok = 1;
				break;
			}
		}
		if (!ok)
			return C_DROP_SNAT_PORTS;
		*sport = nf.lport;
	}
	bpf_map_update_elem(&wglb_flows, &fk, &nf, BPF_ANY);
	return 0;
}

/*
 * forward() for a packet to the VIP, through the route kept in its flow entry when the flow is
 * established: a fib lookup costs about as much as the rest of the program. The entry's route
 * is dropped at each refresh of the flow's time (at most every second), so a route change
 * reaches an established flow within that interval; the neighbour (MAC) is resolved by
 * bpf_redirect_neigh on every packet either way, so a changed MAC is followed at once.
 */
static __always_inline int forward_cached(struct __sk_buff *skb, const struct wglb_cfg *cfg, const struct hdrs *h, const struct pick *p, __be32 *src, struct bpf_redir_neigh *nh)
{
	struct flow *f = p->est ? p->f : 0;
	__u32 len = skb->len - ETH_HLEN;
	int ifindex;

	if (f && f->oif && len <= f->rlen) {
		__builtin_memset(nh, 0, sizeof(*nh));
		nh->nh_family = AF_INET;
		nh->ipv4_nh = f->nh;
		if (cfg->snat)
			*src = f->rsrc;
		return f->oif;
	}
	ifindex = forward(skb, h->saddr, p->t.addr, cfg->snat, cfg->snat ? src : 0, nh);
	if (f && ifindex > 0 && len <= 0xffff) {
		f->nh = nh->ipv4_nh;
		f->rsrc = *src;
		f->rlen = len > f->rlen || !f->oif ? len : f->rlen;
		asm volatile("" ::: "memory");  /* oif last: a reader on another CPU takes it as "valid" */
		f->oif = ifindex;
	}
	return ifindex;
}

static __always_inline int handle_forward(struct __sk_buff *skb, const struct wglb_cfg *cfg, struct hdrs *h)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	struct pick p = {};
	struct bpf_redir_neigh nh;
	__u32 reason;
	int ifindex;
	__be32 src = h->saddr;
	__be16 sport;

	if (cfg->guard) {
		reason = guard_reason(h);
		if (reason)
			return drop(reason);
	}
	/* Before the rate limits: forged initiations must not use up the real clients' budget. */
	if (!mac1_ok_skb(skb, h))
		return drop(C_DROP_MAC1);
	if (cfg->guard && h->wg[0] == 1 && !rate_ok(cfg, h->saddr, now, &reason))
		return drop(reason);
	reason = pick_backend(cfg, h, now, &p);
	if (!reason)
		reason = commit_flow(cfg, h, now, &p, &sport);
	if (reason)
		return drop(reason);

	if (cfg->dsr)
		return dsr_out(skb, h, &p.t);
	if (h->ttl <= 1)
		return TC_ACT_UNSPEC;
	ifindex = forward_cached(skb, cfg, h, &p, &src, &nh);
	if (ifindex < 0) {
		count(C_PASS_STACK);
		return TC_ACT_UNSPEC;
	}
	if (rewrite(skb, src, cfg->snat ? sport : h->sport, p.t.addr, p.t.port))
		return TC_ACT_SHOT;
	return bpf_redirect_neigh(ifindex, &nh, sizeof(nh), 0);
}

/* The client flow a packet from a backend answers, or NULL when it is not one of ours. */
static __always_inline struct flow *reply_flow(const struct wglb_cfg *cfg, const struct hdrs *h, struct flow_key *ck)
{
	struct flow *f;
	ck->addr = h->daddr;
	ck->port = h->dport;
	ck->pad = 0;
	if (cfg->snat) {
		struct rev_key rk = { .baddr = h->saddr, .bport = h->sport, .lport = h->dport };
		struct flow_key *c = bpf_map_lookup_elem(&wglb_rev, &rk);
		if (!c)
			return 0;
		*ck = *c;
	}
	f = bpf_map_lookup_elem(&wglb_flows, ck);
	if (!f || f->t.addr != h->saddr || f->t.port != h->sport)
		return 0;
	return f;
}

/* Learns the backend's own index from its handshake messages (clients send it back as the
 * receiver index) and counts the reply. */
static __always_inline void learn_reply(const struct hdrs *h, const struct flow *f)
{
	__u8 type = h->wg[0];
	if ((type == 1 && h->plen == 148) || (type == 2 && h->plen == 92)) {
		__u32 idx = u32_at(&h->wg[4]);
		struct idx_val v = { .t = f->t, .seen = bpf_ktime_get_coarse_ns() };
		bpf_map_update_elem(&wglb_idx, &idx, &v, BPF_ANY);
		count(C_LEARNED);
	}
	count(C_REPLY);
}

/* A packet from a backend: one of our flows' replies, or not ours (TC_ACT_UNSPEC). With direct
 * server return the backends answer clients themselves: nothing comes back here. */
static __always_inline int handle_reply(struct __sk_buff *skb, const struct wglb_cfg *cfg, struct hdrs *h)
{
	struct bpf_redir_neigh nh;
	struct flow_key ck;
	struct flow *f;
	int ifindex;

	if (cfg->dsr)
		return TC_ACT_UNSPEC;
	f = reply_flow(cfg, h, &ck);
	if (!f)
		return TC_ACT_UNSPEC;
	learn_reply(h, f);
	if (h->ttl <= 1)
		return TC_ACT_UNSPEC;
	ifindex = forward(skb, cfg->vip, ck.addr, 0, 0, &nh);
	if (ifindex < 0) {
		count(C_PASS_STACK);
		return TC_ACT_UNSPEC;
	}
	if (rewrite(skb, cfg->vip, cfg->port, cfg->snat ? ck.addr : h->daddr, cfg->snat ? ck.port : h->dport))
		return TC_ACT_SHOT;
	return bpf_redirect_neigh(ifindex, &nh, sizeof(nh), 0);
}

SEC("tc")
int wglb_tc(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct wglb_cfg *cfg = bpf_map_lookup_elem(&wglb_cfg, &zero);
	struct hdrs h;
	int r;

	if (!cfg || cfg->vip == 0)
		return TC_ACT_UNSPEC;
	r = parse(skb, &h);
	if (r < 0)
		return TC_ACT_UNSPEC;
	if (h.daddr == cfg->vip) {
		if (r == 1)
			return drop(C_DROP_FRAGMENT);
		if (h.dport == cfg->port)
			return handle_forward(skb, cfg, &h);
		return TC_ACT_UNSPEC;
	}
	if (r == 1)
		return TC_ACT_UNSPEC;
	return handle_reply(skb, cfg, &h);
}

char LICENSE[] SEC("license") = "GPL";

#include "wglb-xdp.bpf.h"
