/*
 * Where payload destructors run. Lookups, gets, puts and closes made by the
 * application never run one: a destructor that takes a lock which the
 * caller of a lookup holds would deadlock. They run on the library's own
 * reclaim thread, or inside traceref_reclaim_barrier() on its caller.
 *
 * Worker threads create sessions with payloads, look sessions up by id
 * (and put what they found), and close them, each library call made with a thread-local flag
 * set; every destructor checks that the flag of the thread running it is
 * clear, and counts where it ran. No barrier is called until the workers
 * are done, so the destructors that run meanwhile run on the reclaim
 * thread; the test waits (bounded) until some have, then checks that the
 * barrier runs the rest and the census returns to zero.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "traceref.h"
#include "check.h"

#define WORKERS 2
#define SESSIONS_PER_WORKER 4000
#define LOOKUPS_PER_SESSION 8

static __thread int in_library_call;
static __thread int in_barrier;
static atomic_long destroyed, destroyed_in_call, destroyed_in_barrier;
static atomic_uint_fast64_t newest_id;

static void payload_destroy(void *data)
{
	if (in_library_call)
		atomic_fetch_add(&destroyed_in_call, 1);
	if (in_barrier)
		atomic_fetch_add(&destroyed_in_barrier, 1);
	atomic_fetch_add(&destroyed, 1);
	free(data);
}

/* Library calls of the workers, made with the flag set. */
#define CALL(expr)                                                        \
	do {                                                              \
		in_library_call = 1;                                      \
		expr;                                                     \
		in_library_call = 0;                                      \
	} while (0)

static void *worker(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
	int i, j;

	for (i = 0; i < SESSIONS_PER_WORKER; i++) {
		struct relay_session *s;
		int rc;

		CALL(s = relay_session_create("s", "host", 0, false, 2, 13));
		TCHECK(s != NULL);
		CALL(rc = traceref_payload_set(s, malloc(16), payload_destroy));
		TCHECK(rc == 0);
		atomic_store(&newest_id, relay_session_get_id(s));
		/* Lookups of recent ids: some find sessions on their way out. */
		for (j = 0; j < LOOKUPS_PER_SESSION; j++) {
			uint64_t top = atomic_load(&newest_id);
			uint64_t id = top - next_rand(&seed) % 64;
			struct relay_session *found;

			CALL(found = relay_session_get_by_id(id));
			if (found)
				CALL(relay_session_put(found));
		}
		/* Drops the owner's reference, the session's last but for
		 * lookups in flight. */
		CALL(rc = relay_session_close(s));
		TCHECK(rc == 0);
	}
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int main(void)
{
	pthread_t t[WORKERS];
	long total = (long)WORKERS * SESSIONS_PER_WORKER;
	long waited = 0;
	int i, rc;

	for (i = 0; i < WORKERS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1)) == 0);
	for (i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);

	/* Without a barrier, the reclaim thread frees the sessions by itself. */
	while (atomic_load(&destroyed) < total / 2 && waited < 20000) {
		sleep_ms(10);
		waited += 10;
	}
	CHECK(atomic_load(&destroyed) > 0);

	in_barrier = 1;
	rc = traceref_reclaim_barrier();
	in_barrier = 0;
	CHECK_EQ_LONG(rc, 0);
	CHECK_EQ_LONG(atomic_load(&destroyed), total);
	CHECK_EQ_LONG(atomic_load(&destroyed_in_call), 0);
	CHECK_EQ_LONG(traceref_live_objects(), 0);
	CHECK_OK("%ld payload destructors, none inside a lookup, get, put or close; "
		 "%ld ran inside the barrier, the rest on the reclaim thread",
		 total, atomic_load(&destroyed_in_barrier));
	CHECK_DONE("relay_reclaim_context");
	return 0;
}
