/*
 * Helpers shared by blast.c and sink.c (the packet-rate bench's sender and receiver).
 * Each program defines PROG (its name, for messages) before including this file.
 */
#ifndef WGF_BENCH_UDP_COMMON_H
#define WGF_BENCH_UDP_COMMON_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RUN_NS (120LL * 1000000000LL)
#define MAX_LIFE_S 150

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time of this process in ns, exact (the scheduler's runtime, not tick samples). */
static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die_usage(const char *why)
{
	fprintf(stderr, PROG ": %s\n", why);
	exit(2);
}

static long long parse_num(const char *s, long long min, long long max, const char *what)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, PROG ": bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

/* Pins this process to one CPU, so the bench knows which core carries what. */
static void pin_cpu(long long cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET((int)cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		fprintf(stderr, PROG ": cannot pin to cpu %lld: %s\n", cpu, strerror(errno));
		exit(2);
	}
}

/* Reads "FROM TO UNTIL" from stdin and checks FROM <= TO <= UNTIL <= now + MAX_RUN_NS. */
static void read_window(long long *from, long long *to, long long *until)
{
	if (scanf("%lld %lld %lld", from, to, until) != 3) die_usage("stdin must give FROM TO UNTIL");
	if (*from < 0 || *to < *from || *until < *to || *until - now_ns() > MAX_RUN_NS) {
		die_usage("need 0 <= FROM <= TO <= UNTIL, at most 120 s ahead");
	}
}

#endif
