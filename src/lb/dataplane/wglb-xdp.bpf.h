/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The XDP side of the data path, included at the end of wglb.bpf.c: the same maps, the same
 * guard, the same pick (pick_backend, commit_flow) and the same reply learning as the tc program,
 * run in the driver before any skb exists.
 *
 * The XDP program forwards a packet itself only when it can do the whole job; otherwise it
 * returns XDP_PASS before writing any map, and the tc program behind it (always attached too)
 * handles the packet exactly as in tc mode. It leaves to tc:
 *  - a UDP checksum that is not complete yet (CHECKSUM_PARTIAL: packets sent by a local socket
 *    over a veth carry only the pseudo-header sum; XDP has no skb to keep that state in, so a
 *    redirected frame would reach its receiver with a bad checksum);
 *  - a destination whose route or neighbour (MAC) is not resolved (bpf_fib_lookup != SUCCESS);
 *  - an egress interface that is not in wglb_tx (user space writes there the interfaces where
 *    XDP_REDIRECT works: native-XDP NICs, or veths whose peers run XDP or GRO);
 *  - TTL <= 1.
 * Junk (the guard's verdicts), rate-limited initiations and VIP fragments are dropped here.
 */

/* Egress interfaces XDP may redirect to (key = value = ifindex). */
struct { __uint(type, BPF_MAP_TYPE_DEVMAP_HASH); __uint(max_entries, 256); __type(key, __u32); __type(value, __u32); } wglb_tx SEC(".maps");

static __always_inline int xdrop(__u32 reason)
{
	count(reason);
	return XDP_DROP;
}

static __always_inline int xpass(void)
{
	count(C_XDP_PASS);
	return XDP_PASS;
}

/* As parse() for tc, by direct packet access. */
static __always_inline int xparse(struct xdp_md *ctx, struct hdrs *h)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;
	struct udphdr *udp = data + ETH_HLEN + sizeof(struct iphdr);
	__u8 *wg = data + ETH_HLEN + sizeof(struct iphdr) + sizeof(struct udphdr);

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return -1;
	h->saddr = ip->saddr;
	h->daddr = ip->daddr;
	h->ttl = ip->ttl;
	if (ip->frag_off & bpf_htons(0x3fff))
		return 1;
	if ((void *)(udp + 1) > end)
		return -1;
	h->sport = udp->source;
	h->dport = udp->dest;
	h->plen = bpf_ntohs(udp->len);
	h->plen = h->plen >= 8 ? h->plen - 8 : 0;
	__builtin_memset(h->wg, 0, WG_HDR);
	if (h->plen >= WG_HDR && (void *)(wg + WG_HDR) <= end)
		__builtin_memcpy(h->wg, wg, WG_HDR);
	return 0;
}

/* True when the UDP checksum field holds only the pseudo-header sum (CHECKSUM_PARTIAL). */
static __always_inline int csum_pending(const struct iphdr *ip, const struct udphdr *udp)
{
	__u32 s;
	if (udp->check == 0)
		return 0;
	s = (ip->saddr & 0xffff) + (ip->saddr >> 16) + (ip->daddr & 0xffff) + (ip->daddr >> 16) + bpf_htons(IPPROTO_UDP) + udp->len;
	return fold16(s) == udp->check;
}

/* Incremental checksum update (RFC 1624: HC' = ~(~HC + ~m + m')); a UDP checksum of 0 means none. */
static __always_inline void csum_upd(__u16 *sum, __u32 from, __u32 to, int udp)
{
	__u32 s;
	if (udp && *sum == 0)
		return;
	s = (__u16)~*sum;
	s += (~from & 0xffff) + (~from >> 16) + (to & 0xffff) + (to >> 16);
	*sum = ~fold16(s);
	if (udp && *sum == 0)
		*sum = 0xffff;
}

/* The route (with neighbour) to daddr; with want_src, the source address it picks. */
static __always_inline int xfib(struct xdp_md *ctx, struct bpf_fib_lookup *p, const struct hdrs *h, __be32 saddr, __be32 daddr, int want_src)
{
	__builtin_memset(p, 0, sizeof(*p));
	p->family = AF_INET;
	p->l4_protocol = IPPROTO_UDP;
	p->tot_len = h->plen + sizeof(struct iphdr) + sizeof(struct udphdr);
	p->ipv4_src = saddr;
	p->ipv4_dst = daddr;
	p->ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, p, sizeof(*p), want_src ? BPF_FIB_LOOKUP_SRC : 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return 0;
	return bpf_map_lookup_elem(&wglb_tx, &p->ifindex) != 0;
}

/* True when XDP may forward this packet (see the list above); nothing is written. */
static __always_inline int xdp_can(struct xdp_md *ctx, const struct hdrs *h)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	struct udphdr *udp = data + ETH_HLEN + sizeof(struct iphdr);
	if ((void *)(udp + 1) > end)
		return 0;
	return h->ttl > 1 && !csum_pending(ip, udp);
}

/* Rewrites addresses, ports, TTL, MACs (checksums updated) and redirects out of fib->ifindex. */
static __always_inline int xsend(struct xdp_md *ctx, const struct bpf_fib_lookup *fib, __be32 saddr, __be16 sport, __be32 daddr, __be16 dport)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;
	struct udphdr *udp = data + ETH_HLEN + sizeof(struct iphdr);
	__u16 ttl_from, ttl_to;

	if ((void *)(udp + 1) > end)
		return XDP_ABORTED;
	csum_upd(&ip->check, ip->saddr, saddr, 0);
	csum_upd(&ip->check, ip->daddr, daddr, 0);
	csum_upd(&udp->check, ip->saddr, saddr, 1);
	csum_upd(&udp->check, ip->daddr, daddr, 1);
	csum_upd(&udp->check, udp->source, sport, 1);
	csum_upd(&udp->check, udp->dest, dport, 1);
	ip->saddr = saddr;
	ip->daddr = daddr;
	udp->source = sport;
	udp->dest = dport;
	/* TTL shares a 16-bit checksum word with the protocol byte. */
	ttl_from = bpf_htons((__u16)ip->ttl << 8 | ip->protocol);
	ttl_to = bpf_htons((__u16)(ip->ttl - 1) << 8 | ip->protocol);
	csum_upd(&ip->check, ttl_from, ttl_to, 0);
	ip->ttl--;
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	count(C_XDP_FWD);
	return bpf_redirect_map(&wglb_tx, fib->ifindex, 0);
}

/* Direct server return: the frame leaves unchanged but for its MAC addresses. */
static __always_inline int xsend_dsr(struct xdp_md *ctx, const struct bpf_fib_lookup *fib)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_ABORTED;
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	count(C_FWD_DSR);
	count(C_XDP_FWD);
	return bpf_redirect_map(&wglb_tx, fib->ifindex, 0);
}

static __always_inline int xdp_forward(struct xdp_md *ctx, const struct wglb_cfg *cfg, const struct hdrs *h)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	struct bpf_fib_lookup fib;
	struct pick p = {};
	__u32 reason = 0;
	__be16 sport;

	if (cfg->guard) {
		reason = guard_reason(h);
		if (reason)
			return xdrop(reason);
	}
	if (!mac1_ok_xdp(ctx, h))
		return xdrop(C_DROP_MAC1);
	if (pick_backend(cfg, h, now, &p)) {
		if (cfg->guard && h->wg[0] == 1 && !rate_ok(cfg, h->saddr, now, &reason))
			return xdrop(reason);
		return xdrop(C_DROP_NO_BACKEND);
	}
	if (!xdp_can(ctx, h) || !xfib(ctx, &fib, h, h->saddr, p.t.addr, cfg->snat))
		return xpass();
	/* Direct server return: only a backend on this segment at VIP's port (else tc decides). */
	if (cfg->dsr && (p.t.port != h->dport || fib.ipv4_dst != p.t.addr))
		return xpass();
	/* From here on the packet is ours: the same writes, in the same order, as tc. */
	if (cfg->guard && h->wg[0] == 1 && !rate_ok(cfg, h->saddr, now, &reason))
		return xdrop(reason);
	reason = commit_flow(cfg, h, now, &p, &sport);
	if (reason)
		return xdrop(reason);
	if (cfg->dsr)
		return xsend_dsr(ctx, &fib);
	return xsend(ctx, &fib, cfg->snat ? fib.ipv4_src : h->saddr, sport, p.t.addr, p.t.port);
}

static __always_inline int xdp_reply(struct xdp_md *ctx, const struct wglb_cfg *cfg, const struct hdrs *h)
{
	struct bpf_fib_lookup fib;
	struct flow_key ck;
	struct flow *f;

	if (cfg->dsr)
		return XDP_PASS;
	f = reply_flow(cfg, h, &ck);
	if (!f)
		return XDP_PASS;
	if (!xdp_can(ctx, h) || !xfib(ctx, &fib, h, cfg->vip, ck.addr, 0))
		return xpass();
	learn_reply(h, f);
	return xsend(ctx, &fib, cfg->vip, cfg->port, ck.addr, ck.port);
}

SEC("xdp")
int wglb_xdp(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct wglb_cfg *cfg = bpf_map_lookup_elem(&wglb_cfg, &zero);
	struct hdrs h;
	int r;

	if (!cfg || cfg->vip == 0)
		return XDP_PASS;
	r = xparse(ctx, &h);
	if (r < 0)
		return XDP_PASS;
	if (h.daddr == cfg->vip) {
		if (r == 1)
			return xdrop(C_DROP_FRAGMENT);
		if (h.dport == cfg->port)
			return xdp_forward(ctx, cfg, &h);
		return XDP_PASS;
	}
	if (r == 1)
		return XDP_PASS;
	return xdp_reply(ctx, cfg, &h);
}
