/*
 * The reclaim thread's hooks (traceref_set_reclaim_thread_hooks()): a
 * program whose free functions need their thread registered with something
 * (liburcu, a logging context) gives the library a start and a stop
 * function.
 *
 * Set before any object exists, the hooks are taken (0), and may be set
 * again until the thread starts. Sessions in the program's own structs are
 * closed without a barrier: their free functions run on the reclaim thread,
 * each after the start function ran on that thread, which ran once. Once
 * the thread has started, setting hooks is refused (-1). Frees that
 * traceref_reclaim_barrier() runs on its caller run there, outside the
 * hooks, as documented. At exit, after the library stopped its thread, the
 * stop function must have run once, on the thread the start function ran
 * on (checked by an exit handler registered before the library's, hence
 * run after it).
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "traceref.h"
#include "check.h"

#define SESSIONS 64
#define MAGIC 0x5eed5e55ULL

struct relay_session {
	struct relay_session_base base;
	uint64_t magic;
};

static __thread bool started_here;
static __thread bool in_barrier;
static atomic_int start_calls, stop_calls, early_start_calls;
static atomic_int stop_off_thread;
static atomic_long freed, freed_on_reclaim_thread, freed_in_barrier, freed_elsewhere;
static pthread_t reclaim_thread;

static void early_start(void)
{
	atomic_fetch_add(&early_start_calls, 1);
}

static void on_start(void)
{
	reclaim_thread = pthread_self();
	started_here = true;
	atomic_fetch_add(&start_calls, 1);
}

static void on_stop(void)
{
	if (!started_here || !pthread_equal(pthread_self(), reclaim_thread))
		atomic_fetch_add(&stop_off_thread, 1);
	atomic_fetch_add(&stop_calls, 1);
}

static void session_free(struct relay_session *s)
{
	if (s->magic != MAGIC)
		abort();
	s->magic = 0;
	if (started_here)
		atomic_fetch_add(&freed_on_reclaim_thread, 1);
	else if (in_barrier)
		atomic_fetch_add(&freed_in_barrier, 1);
	else
		atomic_fetch_add(&freed_elsewhere, 1);
	atomic_fetch_add(&freed, 1);
	free(s);
}

/* Runs after the library's own exit handler has stopped its thread. */
static void check_stop_at_exit(void)
{
	if (atomic_load(&stop_calls) != 1 || atomic_load(&stop_off_thread) != 0) {
		fprintf(stderr,
			"reclaim_thread_hooks: at exit, the stop function ran %d time(s) "
			"(%d off the reclaim thread); expected once, on it\n",
			atomic_load(&stop_calls), atomic_load(&stop_off_thread));
		_exit(1);
	}
	printf("ok: at exit, the stop function ran once, on the reclaim thread\n");
	fflush(stdout);
}

/* Create and close `n` sessions in the program's own structs. */
static void make_and_close(int n, int base)
{
	int i;

	for (i = 0; i < n; i++) {
		struct relay_session *s = calloc(1, sizeof(*s));
		char name[32];

		CHECK(s != NULL);
		s->magic = MAGIC;
		snprintf(name, sizeof(name), "hooks-%d", base + i);
		CHECK_EQ_LONG(relay_session_init(s, session_free, name, "host", 0, false, 2, 13), 0);
		/* The owner's reference: the session is released and retired. */
		CHECK_EQ_LONG(relay_session_close(s), 0);
	}
}

int main(void)
{
	size_t live_before;
	int waited;

	/* Before any object exists, so before the library's own handler. */
	if (atexit(check_stop_at_exit) != 0) {
		fprintf(stderr, "reclaim_thread_hooks: atexit failed\n");
		return 1;
	}
	live_before = traceref_live_objects();

	CHECK_EQ_LONG(traceref_set_reclaim_thread_hooks(early_start, NULL), 0);
	CHECK_EQ_LONG(traceref_set_reclaim_thread_hooks(NULL, NULL), 0);
	CHECK_EQ_LONG(traceref_set_reclaim_thread_hooks(on_start, on_stop), 0);
	CHECK_OK("hooks set, and set again, before the reclaim thread starts");

	/* No barrier: the reclaim thread frees them, in bounded time. */
	make_and_close(SESSIONS, 0);
	for (waited = 0; waited < 1000 && atomic_load(&freed) < SESSIONS; waited++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	CHECK_EQ_LONG(atomic_load(&freed), SESSIONS);
	CHECK_EQ_LONG(atomic_load(&freed_on_reclaim_thread), SESSIONS);
	CHECK_EQ_LONG(atomic_load(&start_calls), 1);
	CHECK_EQ_LONG(atomic_load(&early_start_calls), 0);
	CHECK_EQ_LONG(atomic_load(&stop_calls), 0);
	CHECK_OK("%d free functions ran on the reclaim thread, after its start function, "
		 "without a barrier", SESSIONS);

	CHECK_EQ_LONG(traceref_set_reclaim_thread_hooks(early_start, NULL), -1);
	CHECK_EQ_LONG(traceref_set_reclaim_thread_hooks(NULL, NULL), -1);
	CHECK_OK("once the thread has started, setting hooks is refused");

	/* A barrier right after: some frees may run here, outside the hooks. */
	make_and_close(SESSIONS, SESSIONS);
	in_barrier = true;
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	in_barrier = false;
	CHECK_EQ_LONG(atomic_load(&freed), 2 * SESSIONS);
	CHECK_EQ_LONG(atomic_load(&freed_elsewhere), 0);
	CHECK_EQ_LONG(atomic_load(&freed_on_reclaim_thread) + atomic_load(&freed_in_barrier),
		      2 * SESSIONS);
	CHECK_EQ_LONG(atomic_load(&start_calls), 1);
	CHECK_EQ_LONG(atomic_load(&early_start_calls), 0);
	CHECK_EQ_LONG((long)traceref_live_objects(), (long)live_before);
	CHECK_OK("after a barrier: every free ran on the reclaim thread (%ld) or in the "
		 "barrier's caller (%ld), the start function still once",
		 atomic_load(&freed_on_reclaim_thread), atomic_load(&freed_in_barrier));

	CHECK_DONE("reclaim_thread_hooks");
	return 0;
}
