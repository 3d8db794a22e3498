/*
 * blast: a bounded UDP load generator for bench/pps.ts.
 *
 * Opens one connected UDP socket per flow (distinct source ports, so each is its own flow for
 * the load balancer's hash), prints {"ready":true}, then reads its time window from stdin as
 * one line "FROM TO UNTIL" (absolute CLOCK_MONOTONIC nanoseconds, the clock every process on
 * the host shares, so the sinks count over the same window). Two modes:
 *
 *   window mode (default): send fixed-size datagrams with sendmmsg, one batch per call,
 *     round-robin over the flows, as fast as possible until UNTIL. Datagrams sent while the
 *     clock is in [FROM, TO) are counted as "sent", with this process's CPU time over that
 *     window as "cpu_s" (it includes the softirq work the kernel runs in this process's
 *     context, which over veth is the whole path up to the receiving socket).
 *   paced mode (--per-flow K): send exactly K datagrams per flow, one per flow every
 *     millisecond, for checks that must not lose a packet; FROM and TO are ignored.
 *
 * Bounded: every loop stops at --max-packets and at UNTIL, which must lie at most MAX_RUN_NS
 * ahead, and an alarm ends the process after MAX_LIFE_S whatever happens (say, stdin never
 * delivers a window). Prints one JSON line; exits 2 on bad arguments, 1 on a socket error.
 *
 *   echo "$FROM $TO $UNTIL" | blast --src ADDR --flow SPORT,DADDR,DPORT [--flow ...]
 *       [--size 64] [--batch 32] [--max-packets N] [--per-flow K] [--cpu N] [--type T]
 *
 * The payload looks like a WireGuard transport message (type T = 4, bytes 1..3 zero, then
 * "wgfabric-pps" from byte 16) so the BPF data path's guard forwards it; --type 9 makes junk.
 */
#define _GNU_SOURCE
#define PROG "blast"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_FLOWS 1024
#define MAX_BATCH 256
#define MAX_SIZE 1472

struct flow {
	uint16_t sport;
	struct sockaddr_in dst;
	int fd;
};

static void parse_flow(const char *arg, struct flow *f)
{
	char buf[64];
	if (strlen(arg) >= sizeof(buf)) die_usage("flow too long");
	strcpy(buf, arg);
	char *a = strchr(buf, ',');
	char *b = a ? strchr(a + 1, ',') : NULL;
	if (!a || !b) die_usage("flow must be SPORT,DADDR,DPORT");
	*a = '\0';
	*b = '\0';
	f->sport = (uint16_t)parse_num(buf, 1, 65535, "source port");
	memset(&f->dst, 0, sizeof(f->dst));
	f->dst.sin_family = AF_INET;
	f->dst.sin_port = htons((uint16_t)parse_num(b + 1, 1, 65535, "destination port"));
	if (inet_pton(AF_INET, a + 1, &f->dst.sin_addr) != 1) die_usage("bad destination address");
}

static int open_flow(const struct in_addr *src, struct flow *f)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) return -1;
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(f->sport), .sin_addr = *src };
	if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) return -1;
	if (connect(fd, (struct sockaddr *)&f->dst, sizeof(f->dst)) < 0) return -1;
	f->fd = fd;
	return 0;
}

int main(int argc, char **argv)
{
	static struct flow flows[MAX_FLOWS];
	static struct mmsghdr msgs[MAX_BATCH];
	static struct iovec iov;
	static char payload[MAX_SIZE];
	int nflows = 0, size = 64, batch = 32, msg_type = 4;
	long long from, to, until, max_packets = 100000000LL, per_flow = 0;
	struct in_addr src = { 0 };
	int have_src = 0;

	alarm(MAX_LIFE_S);
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		if (i + 1 >= argc) die_usage("missing option value");
		const char *val = argv[++i];
		if (!strcmp(opt, "--src")) {
			if (inet_pton(AF_INET, val, &src) != 1) die_usage("bad --src");
			have_src = 1;
		} else if (!strcmp(opt, "--flow")) {
			if (nflows == MAX_FLOWS) die_usage("too many flows");
			parse_flow(val, &flows[nflows++]);
		} else if (!strcmp(opt, "--size")) {
			size = (int)parse_num(val, 1, MAX_SIZE, "--size");
		} else if (!strcmp(opt, "--batch")) {
			batch = (int)parse_num(val, 1, MAX_BATCH, "--batch");
		} else if (!strcmp(opt, "--max-packets")) {
			max_packets = parse_num(val, 1, 1000000000LL, "--max-packets");
		} else if (!strcmp(opt, "--per-flow")) {
			per_flow = parse_num(val, 1, 100000, "--per-flow");
		} else if (!strcmp(opt, "--type")) {
			msg_type = (int)parse_num(val, 0, 255, "--type");
		} else if (!strcmp(opt, "--cpu")) {
			pin_cpu(parse_num(val, 0, CPU_SETSIZE - 1, "--cpu"));
		} else {
			die_usage("unknown option");
		}
	}
	if (!have_src || nflows == 0) die_usage("need --src and at least one --flow");

	for (int i = 0; i < nflows; i++) {
		if (open_flow(&src, &flows[i]) < 0) {
			fprintf(stderr, "blast: flow %d (source port %u): %s\n", i, flows[i].sport, strerror(errno));
			return 1;
		}
	}
	/* WireGuard-shaped: the type, three zero bytes, then a recognisable "wgfabric-pps" at 16. */
	payload[0] = (char)msg_type;
	if (size > 16)
		memcpy(payload + 16, "wgfabric-pps", size - 16 < 12 ? size - 16 : 12);
	iov.iov_base = payload;
	iov.iov_len = (size_t)size;
	for (int i = 0; i < MAX_BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	printf("{\"ready\":true}\n");
	fflush(stdout);
	read_window(&from, &to, &until);

	long long total = 0, sent = 0, errors = 0;
	int64_t cpu_from = 0, cpu_to = 0, t_first = 0, t_last = 0;
	int in_window = 0, window_done = 0;

	if (per_flow) {
		/* Paced: round r sends datagram r of every flow, then sleeps 1 ms. */
		for (long long r = 0; r < per_flow && total < max_packets && now_ns() < until; r++) {
			for (int i = 0; i < nflows; i++) {
				if (send(flows[i].fd, payload, (size_t)size, 0) == size) total++;
				else errors++;
			}
			usleep(1000);
		}
		sent = total;
	} else {
		int f = 0;
		for (;;) {
			int64_t t = now_ns();
			if (t >= until || total >= max_packets) break;
			if (!in_window && !window_done && t >= from) {
				in_window = 1;
				cpu_from = cpu_ns();
				t_first = t;
			}
			if (in_window && t >= to) {
				in_window = 0;
				window_done = 1;
				cpu_to = cpu_ns();
				t_last = t;
			}
			int want = batch;
			if (max_packets - total < want) want = (int)(max_packets - total);
			int n = sendmmsg(flows[f].fd, msgs, (unsigned)want, 0);
			if (n < 0) {
				errors++;
			} else {
				total += n;
				if (in_window) sent += n;
			}
			f = (f + 1) % nflows;
		}
		if (in_window) { /* stopped by --max-packets inside the window */
			cpu_to = cpu_ns();
			t_last = now_ns();
		}
	}
	printf("{\"sent\":%lld,\"total\":%lld,\"errors\":%lld,\"flows\":%d,\"size\":%d,"
	       "\"window_s\":%.6f,\"cpu_s\":%.6f}\n",
	       sent, total, errors, nflows, size, (t_last - t_first) / 1e9, (cpu_to - cpu_from) / 1e9);
	for (int i = 0; i < nflows; i++) close(flows[i].fd);
	return 0;
}
