/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mac1 of WireGuard handshake initiations, verified in the data path (included by wglb.bpf.c).
 *
 *   mac1 = BLAKE2s-128(key = BLAKE2s-256("mac1----" || pool public key), msg[0..115])
 *
 * Only the pool's public key is needed, so a forged initiation (random bytes, a replay aimed at
 * another server, a flood tool that does not know the key) is dropped here and never costs a
 * backend its Curve25519 work. Keyed BLAKE2s compresses the key as a first block of its own: that
 * block depends only on the key, so user space compresses it once (mac1.ts) and writes the
 * chaining value after it into wglb_mac1; the program compresses the two message blocks
 * (bytes 0..63, then 64..115 zero-padded, final). With `on` = 0 (no key known, or
 * --no-verify-mac1) nothing is checked. mac2 and cookies stay with the backends.
 *
 * Everything is unrolled straight-line code on 32-bit words (10 rounds x 8 G per block); the
 * message, the working words and the chaining value live in a per-CPU scratch array, not on the
 * stack (the program's stack is 512 bytes and already holds the parsed headers).
 */

struct mac1_key {
	__u32 on;
	__u32 h[8];    /* BLAKE2s-128 chaining value after the (padded) key block, t = 64 */
};

struct mac1_scratch {
	__u32 m[36];   /* message bytes 0..131 (mac1 at words 29..32), then zero padding */
	__u32 mac[4];
	__u32 v[16];   /* BLAKE2s working words */
	__u32 h[8];    /* chaining value */
};

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct mac1_key); } wglb_mac1 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct mac1_scratch); } wglb_m1s SEC(".maps");

#define B2_IV0 0x6A09E667
#define B2_IV1 0xBB67AE85
#define B2_IV2 0x3C6EF372
#define B2_IV3 0xA54FF53A
#define B2_IV4 0x510E527F
#define B2_IV5 0x9B05688C
#define B2_IV6 0x1F83D9AB
#define B2_IV7 0x5BE0CD19

#define B2_ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
/* One G step on the working words in scratch memory: 16 live words do not fit BPF's registers,
 * and letting clang keep them there spills beyond the 512-byte stack; the barrier bounds what
 * it may keep across steps. */
#define B2_G(ia, ib, ic, id, x, y) do { \
	__u32 a = v[ia], b = v[ib], c = v[ic], d = v[id]; \
	a = a + b + m[x]; d = B2_ROR(d ^ a, 16); c = c + d; b = B2_ROR(b ^ c, 12); \
	a = a + b + m[y]; d = B2_ROR(d ^ a, 8); c = c + d; b = B2_ROR(b ^ c, 7); \
	v[ia] = a; v[ib] = b; v[ic] = c; v[id] = d; \
	asm volatile("" ::: "memory"); \
} while (0)
#define B2_ROUND(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15) do { \
	B2_G(0, 4, 8, 12, s0, s1); B2_G(1, 5, 9, 13, s2, s3); \
	B2_G(2, 6, 10, 14, s4, s5); B2_G(3, 7, 11, 15, s6, s7); \
	B2_G(0, 5, 10, 15, s8, s9); B2_G(1, 6, 11, 12, s10, s11); \
	B2_G(2, 7, 8, 13, s12, s13); B2_G(3, 4, 9, 14, s14, s15); \
} while (0)

/* One BLAKE2s compression of the 16 words at m into h (byte counter t < 2^32, final block or
 * not), with v (16 words) as working space. */
static __always_inline void b2s_compress(__u32 *h, const __u32 *m, __u32 *v, __u32 t, int last)
{
	v[0] = h[0]; v[1] = h[1]; v[2] = h[2]; v[3] = h[3]; v[4] = h[4]; v[5] = h[5]; v[6] = h[6]; v[7] = h[7];
	v[8] = B2_IV0; v[9] = B2_IV1; v[10] = B2_IV2; v[11] = B2_IV3;
	v[12] = B2_IV4 ^ t; v[13] = B2_IV5; v[14] = last ? ~(__u32)B2_IV6 : B2_IV6; v[15] = B2_IV7;

	B2_ROUND(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	B2_ROUND(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);
	B2_ROUND(11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4);
	B2_ROUND(7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8);
	B2_ROUND(9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13);
	B2_ROUND(2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9);
	B2_ROUND(12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11);
	B2_ROUND(13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10);
	B2_ROUND(6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5);
	B2_ROUND(10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0);
	h[0] ^= v[0] ^ v[8]; h[1] ^= v[1] ^ v[9]; h[2] ^= v[2] ^ v[10]; h[3] ^= v[3] ^ v[11];
	h[4] ^= v[4] ^ v[12]; h[5] ^= v[5] ^ v[13]; h[6] ^= v[6] ^ v[14]; h[7] ^= v[7] ^ v[15];
}

/* The configured key, or NULL when mac1 is not checked. */
static __always_inline const struct mac1_key *mac1_key(const struct hdrs *h)
{
	__u32 zero = 0;
	const struct mac1_key *k;
	if (h->wg[0] != 1 || h->plen != 148)
		return 0;
	k = bpf_map_lookup_elem(&wglb_mac1, &zero);
	return k && k->on ? k : 0;
}

static __always_inline struct mac1_scratch *mac1_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&wglb_m1s, &zero);
}

/* With the 132 first payload bytes in s->m: 1 when mac1 (bytes 116..131) verifies. */
static __always_inline int mac1_verify(const struct mac1_key *k, struct mac1_scratch *s)
{
	__u32 *h = s->h, *m = s->m;
	h[0] = k->h[0]; h[1] = k->h[1]; h[2] = k->h[2]; h[3] = k->h[3];
	h[4] = k->h[4]; h[5] = k->h[5]; h[6] = k->h[6]; h[7] = k->h[7];
	s->mac[0] = m[29]; s->mac[1] = m[30]; s->mac[2] = m[31]; s->mac[3] = m[32];
	m[29] = 0; m[30] = 0; m[31] = 0;
	b2s_compress(h, m, s->v, 128, 0);
	b2s_compress(h, m + 16, s->v, 180, 1);
	return ((h[0] ^ s->mac[0]) | (h[1] ^ s->mac[1]) | (h[2] ^ s->mac[2]) | (h[3] ^ s->mac[3])) == 0;
}

/* tc: 0 when this is an initiation whose mac1 does not verify with the configured key. */
static __always_inline int mac1_ok_skb(struct __sk_buff *skb, const struct hdrs *h)
{
	const struct mac1_key *k = mac1_key(h);
	struct mac1_scratch *s;
	if (!k)
		return 1;
	s = mac1_scratch();
	if (!s || bpf_skb_load_bytes(skb, ETH_HLEN + sizeof(struct iphdr) + sizeof(struct udphdr), s->m, 132))
		return 0;
	return mac1_verify(k, s);
}

/* XDP: the same. */
static __always_inline int mac1_ok_xdp(struct xdp_md *ctx, const struct hdrs *h)
{
	const struct mac1_key *k = mac1_key(h);
	struct mac1_scratch *s;
	if (!k)
		return 1;
	s = mac1_scratch();
	if (!s || bpf_xdp_load_bytes(ctx, ETH_HLEN + sizeof(struct iphdr) + sizeof(struct udphdr), s->m, 132))
		return 0;
	return mac1_verify(k, s);
}
