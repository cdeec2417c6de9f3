/*
 * Minimal assertion macros for the C tests of traceref.
 *
 * Every macro prints file:line and the failing expression on stderr and exits
 * with status 1; a test that reaches the end of main() has passed all of its
 * checks. CHECK_OK(...) prints one line saying what a group of checks proved,
 * and CHECK_DONE() the total, so a passing run reads like a list of facts.
 */

#ifndef TRACEREF_CHECK_H
#define TRACEREF_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Number of checks that passed so far (one counter per test program). */
static inline long *check_counter(void)
{
	static long n;
	return &n;
}

#define CHECK_FAIL_(...)                                                  \
	do {                                                              \
		fprintf(stderr, "%s:%d: check failed: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);                             \
		fputc('\n', stderr);                                      \
		fflush(stdout);                                           \
		exit(1);                                                  \
	} while (0)

/* `cond` must be true. */
#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond))                                              \
			CHECK_FAIL_("%s", #cond);                         \
		++*check_counter();                                       \
	} while (0)

/* Two integers must be equal (both are converted to long). */
#define CHECK_EQ_LONG(a, b)                                               \
	do {                                                              \
		long check_a_ = (long)(a);                                \
		long check_b_ = (long)(b);                                \
		if (check_a_ != check_b_)                                 \
			CHECK_FAIL_("%s == %s (%ld != %ld)", #a, #b,      \
				    check_a_, check_b_);                  \
		++*check_counter();                                       \
	} while (0)

/* Two pointers must be equal. */
#define CHECK_EQ_PTR(a, b)                                                \
	do {                                                              \
		const void *check_a_ = (const void *)(a);                 \
		const void *check_b_ = (const void *)(b);                 \
		if (check_a_ != check_b_)                                 \
			CHECK_FAIL_("%s == %s (%p != %p)", #a, #b,        \
				    check_a_, check_b_);                  \
		++*check_counter();                                       \
	} while (0)

/* Two C strings must be equal; NULL is a failure. */
#define CHECK_EQ_STR(a, b)                                                \
	do {                                                              \
		const char *check_a_ = (a);                               \
		const char *check_b_ = (b);                               \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_)) \
			CHECK_FAIL_("%s == %s (\"%s\" != \"%s\")", #a, #b, \
				    check_a_ ? check_a_ : "(null)",       \
				    check_b_ ? check_b_ : "(null)");      \
		++*check_counter();                                       \
	} while (0)

/* `cond` must be true; for worker threads: the same report as CHECK, but no
 * shared counter. */
#define TCHECK(cond)                                                      \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "%s:%d: check failed: %s\n",      \
				__FILE__, __LINE__, #cond);               \
			exit(1);                                          \
		}                                                         \
	} while (0)

/* The next number of a per-thread xorshift64* generator seeded in `*s`
 * (non-zero), so that the randomised tests are reproducible from a seed. */
static inline uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* Report a group of checks that passed. */
#define CHECK_OK(...)                                                     \
	do {                                                              \
		printf("ok: ");                                           \
		printf(__VA_ARGS__);                                      \
		putchar('\n');                                            \
		fflush(stdout);                                           \
	} while (0)

/* Final line of a passing test. */
#define CHECK_DONE(name)                                                  \
	do {                                                              \
		printf("%s: all %ld checks passed\n", (name),             \
		       *check_counter());                                 \
		fflush(stdout);                                           \
	} while (0)

#ifdef TRACEREF_H
/*
 * traceref_live_objects() once every object released so far is freed: the
 * reclaim thread frees released objects in the background (within some
 * milliseconds), so a census taken right after releases may still count
 * some and drop while the test goes on. Not inside a read-side section.
 */
static inline size_t settled_live_objects(void)
{
	if (traceref_reclaim_barrier() != 0) {
		fprintf(stderr, "settled_live_objects: traceref_reclaim_barrier failed\n");
		exit(1);
	}
	return traceref_live_objects();
}
#endif

#endif /* TRACEREF_CHECK_H */
