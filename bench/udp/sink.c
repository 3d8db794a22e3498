/*
 * sink: a bounded UDP packet counter for bench/pps.ts.
 *
 * Binds one UDP socket, prints {"ready":true}, then reads its time window from stdin as one
 * line "FROM TO UNTIL" (absolute CLOCK_MONOTONIC nanoseconds, shared with the sender; see
 * blast.c) and reads datagrams with recvmmsg until UNTIL or SIGTERM. Datagrams read while the
 * clock is in [FROM, TO) are counted as "packets"/"bytes", with this process's CPU time over
 * that window as "cpu_s"; "total" counts every datagram. Reading on past TO keeps the port
 * open while the sender winds down, so it draws no ICMP port-unreachable errors. With
 * SO_RXQ_OVFL the kernel says how many datagrams this socket dropped because its buffer was
 * full ("drops", over the run), so a result shows whether the sink, rather than the path to
 * it, lost packets.
 *
 * Bounded: UNTIL must lie at most MAX_RUN_NS ahead, a receive timeout wakes the loop to check
 * the clock when no traffic arrives, and an alarm ends the process after MAX_LIFE_S whatever
 * happens. Prints one JSON line; exits 2 on bad arguments, 1 on a socket error.
 *
 *   echo "$FROM $TO $UNTIL" | sink --port P [--bind ADDR] [--rcvbuf BYTES] [--cpu N]
 */
#define _GNU_SOURCE
#define PROG "sink"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define BATCH 64
#define BUF_SIZE 2048

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

/* The socket's cumulative drop counter, if this message carries one (SO_RXQ_OVFL). */
static void read_drops(struct msghdr *h, uint32_t *drops)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) memcpy(drops, CMSG_DATA(c), sizeof(*drops));
	}
}

int main(int argc, char **argv)
{
	static char bufs[BATCH][BUF_SIZE];
	static char ctrl[BATCH][CMSG_SPACE(sizeof(uint32_t))];
	static struct iovec iovs[BATCH];
	static struct mmsghdr msgs[BATCH];
	long long port = -1, from, to, until, rcvbuf = 4 << 20;
	struct in_addr bind_addr = { .s_addr = htonl(INADDR_ANY) };

	alarm(MAX_LIFE_S);
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		if (i + 1 >= argc) die_usage("missing option value");
		const char *val = argv[++i];
		if (!strcmp(opt, "--port")) {
			port = parse_num(val, 1, 65535, "--port");
		} else if (!strcmp(opt, "--rcvbuf")) {
			rcvbuf = parse_num(val, 4096, 1 << 30, "--rcvbuf");
		} else if (!strcmp(opt, "--cpu")) {
			pin_cpu(parse_num(val, 0, CPU_SETSIZE - 1, "--cpu"));
		} else if (!strcmp(opt, "--bind")) {
			if (inet_pton(AF_INET, val, &bind_addr) != 1) die_usage("bad --bind");
		} else {
			die_usage("unknown option");
		}
	}
	if (port < 0) die_usage("need --port");

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int one = 1;
	int rb = (int)rcvbuf;
	struct timeval tick = { .tv_sec = 0, .tv_usec = 20000 };
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = bind_addr };
	if (fd < 0
	    /* SO_RCVBUFFORCE (root) may exceed net.core.rmem_max; fall back to SO_RCVBUF. */
	    || (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof(rb)) < 0
	        && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb)) < 0)
	    || setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) < 0
	    || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick)) < 0
	    || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		fprintf(stderr, "sink: socket setup on port %lld: %s\n", port, strerror(errno));
		return 1;
	}
	/* No SA_RESTART: a pending recvmmsg returns EINTR and the loop sees the flag. */
	struct sigaction sa = { .sa_handler = on_term };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	printf("{\"ready\":true}\n");
	fflush(stdout);
	read_window(&from, &to, &until);

	for (int i = 0; i < BATCH; i++) {
		iovs[i].iov_base = bufs[i];
		iovs[i].iov_len = BUF_SIZE;
	}
	long long packets = 0, bytes = 0, total = 0;
	uint32_t drops = 0;
	int64_t cpu_from = -1, cpu_to = -1;
	for (;;) {
		int64_t t = now_ns();
		if (t >= until || stopping) break;
		if (cpu_from < 0 && t >= from) cpu_from = cpu_ns();
		if (cpu_to < 0 && t >= to) cpu_to = cpu_ns();
		for (int i = 0; i < BATCH; i++) {
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iovs[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_control = ctrl[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(ctrl[i]);
		}
		/* Blocks until one datagram (or the 20 ms timeout), then takes what is queued. */
		int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
			fprintf(stderr, "sink: recvmmsg: %s\n", strerror(errno));
			return 1;
		}
		t = now_ns();
		int counted = t >= from && t < to;
		for (int i = 0; i < n; i++) {
			total++;
			if (counted) {
				packets++;
				bytes += msgs[i].msg_len;
			}
			read_drops(&msgs[i].msg_hdr, &drops);
		}
	}
	if (cpu_from < 0) cpu_from = cpu_ns();
	if (cpu_to < 0) cpu_to = cpu_ns();
	printf("{\"packets\":%lld,\"bytes\":%lld,\"total\":%lld,\"drops\":%u,\"window_s\":%.6f,\"cpu_s\":%.6f}\n",
	       packets, bytes, total, drops, (to - from) / 1e9, (cpu_to - cpu_from) / 1e9);
	close(fd);
	return 0;
}
