/*
 * Concurrent references on one CTF-IR tree. The main thread holds the trace;
 * worker threads
 *   - enumerate it (count, get by index, look at the event classes, put),
 *   - take and drop references directly (bt_get/bt_put) on classes reachable
 *     from the held trace, so 0 -> 1 and 1 -> 0 transitions race,
 *   - hold an event class for a while, walking up to its stream class and
 *     trace through the parent getters,
 *   - add new stream classes and event classes while the others enumerate.
 * At the end every class is back to 0, the trace to 1, the census counts
 * exactly what was created, and putting the trace reclaims everything.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traceref.h"
#include "check.h"

#define INITIAL_SC 4
#define EC_PER_SC 4
#define ADDED_SC 40
#define ADDED_EC_PER_SC 3
#define ADDED_EC_TO_OLD 40

#define ENUM_ITERS 12000
#define DIRECT_ITERS 40000
#define HOLD_ITERS 8000

/* A sane upper bound for any count in this test. */
#define COUNT_BOUND 100000L

static struct bt_ctf_trace *trace;
/* Weak pointers to the initial classes: reachable from the held trace. */
static struct bt_ctf_stream_class *initial_sc[INITIAL_SC];
static struct bt_ctf_event_class *initial_ec[INITIAL_SC * EC_PER_SC];

static pthread_barrier_t start_line;

struct worker {
	pthread_t thread;
	uint64_t seed;
	long ops;
};

static int below(uint64_t *s, int n)
{
	return (int)(next_rand(s) % (uint64_t)n);
}

static int in_bounds(long count)
{
	return count >= 1 && count < COUNT_BOUND;
}

/* Count, get by index, look at an event class and its parent, put. */
static void *enumerator(void *arg)
{
	struct worker *w = arg;
	int i;

	pthread_barrier_wait(&start_line);
	for (i = 0; i < ENUM_ITERS; i++) {
		int n = bt_ctf_trace_get_stream_class_count(trace);
		struct bt_ctf_stream_class *sc;
		int m;

		TCHECK(n >= INITIAL_SC && n <= INITIAL_SC + ADDED_SC);
		sc = bt_ctf_trace_get_stream_class(trace, below(&w->seed, n));
		TCHECK(sc != NULL);
		TCHECK(in_bounds(bt_object_get_ref_count(sc)));
		TCHECK(bt_ctf_stream_class_get_name(sc) != NULL);
		m = bt_ctf_stream_class_get_event_class_count(sc);
		TCHECK(m >= 0);
		if (m > 0) {
			struct bt_ctf_event_class *ec;
			struct bt_ctf_stream_class *back;

			ec = bt_ctf_stream_class_get_event_class(sc, below(&w->seed, m));
			TCHECK(ec != NULL);
			TCHECK(in_bounds(bt_object_get_ref_count(ec)));
			TCHECK(bt_ctf_event_class_get_name(ec) != NULL);
			back = bt_ctf_event_class_get_stream_class(ec);
			TCHECK(back == sc);
			bt_put(back);
			bt_put(ec);
			w->ops += 4;
		}
		bt_put(sc);
		w->ops += 3;
	}
	return NULL;
}

/* bt_get/bt_put on weak pointers to classes reachable from the trace. */
static void *direct(void *arg)
{
	struct worker *w = arg;
	int i;

	pthread_barrier_wait(&start_line);
	for (i = 0; i < DIRECT_ITERS; i++) {
		void *obj;

		if (below(&w->seed, 4) == 0)
			obj = initial_sc[below(&w->seed, INITIAL_SC)];
		else
			obj = initial_ec[below(&w->seed, INITIAL_SC * EC_PER_SC)];
		TCHECK(bt_get(obj) == obj);
		TCHECK(in_bounds(bt_object_get_ref_count(obj)));
		bt_put(obj);
		w->ops += 2;
	}
	return NULL;
}

/* Hold a few event classes at once and walk up through the parent getters. */
static void *holder(void *arg)
{
	struct worker *w = arg;
	struct bt_ctf_event_class *held[3] = { NULL, NULL, NULL };
	int i, k;

	pthread_barrier_wait(&start_line);
	for (i = 0; i < HOLD_ITERS; i++) {
		struct bt_ctf_stream_class *sc;
		struct bt_ctf_trace *tc;

		k = below(&w->seed, 3);
		BT_PUT(held[k]);
		held[k] = bt_get(initial_ec[below(&w->seed, INITIAL_SC * EC_PER_SC)]);
		sc = bt_ctf_event_class_get_stream_class(held[k]);
		TCHECK(sc != NULL);
		tc = bt_ctf_stream_class_get_trace(sc);
		TCHECK(tc == trace);
		TCHECK(in_bounds(bt_object_get_ref_count(sc)));
		TCHECK(in_bounds(bt_object_get_ref_count(tc)));
		BT_PUT(tc);
		BT_PUT(sc);
		w->ops += 6;
	}
	for (k = 0; k < 3; k++)
		BT_PUT(held[k]);
	return NULL;
}

/* Add new stream classes (with event classes) and event classes to the
 * initial stream classes while the others enumerate. */
static void *adder(void *arg)
{
	struct worker *w = arg;
	char name[64];
	int i, j;

	pthread_barrier_wait(&start_line);
	for (i = 0; i < ADDED_SC; i++) {
		struct bt_ctf_stream_class *sc;

		snprintf(name, sizeof(name), "added-sc-%d", i);
		sc = bt_ctf_stream_class_create(name);
		TCHECK(sc != NULL);
		for (j = 0; j < ADDED_EC_PER_SC; j++) {
			struct bt_ctf_event_class *ec;

			snprintf(name, sizeof(name), "added-ec-%d-%d", i, j);
			ec = bt_ctf_event_class_create(name);
			TCHECK(bt_ctf_stream_class_add_event_class(sc, ec) == 0);
			bt_put(ec);
		}
		TCHECK(bt_ctf_trace_add_stream_class(trace, sc) == 0);
		bt_put(sc);
		w->ops += 2 + 3 * ADDED_EC_PER_SC;
	}
	for (i = 0; i < ADDED_EC_TO_OLD; i++) {
		struct bt_ctf_stream_class *sc;
		struct bt_ctf_event_class *ec;

		sc = bt_ctf_trace_get_stream_class(trace, i % INITIAL_SC);
		TCHECK(sc == initial_sc[i % INITIAL_SC]);
		snprintf(name, sizeof(name), "late-ec-%d", i);
		ec = bt_ctf_event_class_create(name);
		TCHECK(bt_ctf_stream_class_add_event_class(sc, ec) == 0);
		bt_put(ec);
		bt_put(sc);
		w->ops += 5;
	}
	return NULL;
}

int main(void)
{
	void *(*const roles[])(void *) = {
		enumerator, enumerator, direct, direct, holder, adder,
	};
	enum { N_WORKERS = sizeof(roles) / sizeof(roles[0]) };
	struct worker workers[N_WORKERS];
	const size_t start = traceref_live_objects();
	long ops = 0, events = 0;
	int i, j, n_sc;

	trace = bt_ctf_trace_create();
	CHECK(trace != NULL);
	for (i = 0; i < INITIAL_SC; i++) {
		char name[32];

		snprintf(name, sizeof(name), "sc-%d", i);
		initial_sc[i] = bt_ctf_stream_class_create(name);
		for (j = 0; j < EC_PER_SC; j++) {
			struct bt_ctf_event_class *ec;

			snprintf(name, sizeof(name), "ec-%d-%d", i, j);
			ec = bt_ctf_event_class_create(name);
			CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(initial_sc[i], ec), 0);
			initial_ec[i * EC_PER_SC + j] = ec;
			bt_put(ec);
		}
		CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(trace, initial_sc[i]), 0);
		bt_put(initial_sc[i]);
	}
	CHECK_EQ_LONG(bt_object_get_ref_count(trace), 1);
	CHECK_EQ_LONG(traceref_live_objects(),
		      start + 1 + INITIAL_SC + INITIAL_SC * EC_PER_SC);

	CHECK(pthread_barrier_init(&start_line, NULL, N_WORKERS) == 0);
	for (i = 0; i < N_WORKERS; i++) {
		workers[i].seed = UINT64_C(0x9E3779B97F4A7C15) * (uint64_t)(i + 1) | 1;
		workers[i].ops = 0;
		CHECK(pthread_create(&workers[i].thread, NULL, roles[i], &workers[i]) == 0);
	}
	for (i = 0; i < N_WORKERS; i++) {
		CHECK(pthread_join(workers[i].thread, NULL) == 0);
		ops += workers[i].ops;
	}
	pthread_barrier_destroy(&start_line);
	CHECK(ops >= 200000);
	CHECK_OK("%d threads made %ld reference operations", N_WORKERS, ops);

	/* Everything added is there, once. */
	n_sc = bt_ctf_trace_get_stream_class_count(trace);
	CHECK_EQ_LONG(n_sc, INITIAL_SC + ADDED_SC);
	CHECK_EQ_LONG(bt_object_get_ref_count(trace), 1);
	for (i = 0; i < n_sc; i++) {
		struct bt_ctf_stream_class *sc = bt_ctf_trace_get_stream_class(trace, i);
		int m;

		CHECK(sc != NULL);
		/* Our reference only: no event class holds one. */
		CHECK_EQ_LONG(bt_object_get_ref_count(sc), 1);
		CHECK_EQ_LONG(bt_object_get_ref_count(trace), 2);
		m = bt_ctf_stream_class_get_event_class_count(sc);
		CHECK_EQ_LONG(m, i < INITIAL_SC ? EC_PER_SC + ADDED_EC_TO_OLD / INITIAL_SC
						: ADDED_EC_PER_SC);
		for (j = 0; j < m; j++) {
			struct bt_ctf_event_class *ec = bt_ctf_stream_class_get_event_class(sc, j);

			CHECK(ec != NULL);
			CHECK_EQ_LONG(bt_object_get_ref_count(ec), 1);
			CHECK_EQ_LONG(bt_object_get_ref_count(sc), 2);
			bt_put(ec);
			CHECK_EQ_LONG(bt_object_get_ref_count(ec), 0);
			CHECK_EQ_LONG(bt_object_get_ref_count(sc), 1);
		}
		events += m;
		bt_put(sc);
		CHECK_EQ_LONG(bt_object_get_ref_count(sc), 0);
		CHECK_EQ_LONG(bt_object_get_ref_count(trace), 1);
	}
	for (i = 0; i < INITIAL_SC; i++)
		CHECK_EQ_LONG(bt_object_get_ref_count(initial_sc[i]), 0);
	for (i = 0; i < INITIAL_SC * EC_PER_SC; i++)
		CHECK_EQ_LONG(bt_object_get_ref_count(initial_ec[i]), 0);
	CHECK_EQ_LONG(events, INITIAL_SC * EC_PER_SC + ADDED_EC_TO_OLD +
				      ADDED_SC * ADDED_EC_PER_SC);
	CHECK_EQ_LONG(traceref_live_objects(), start + 1 + n_sc + events);
	CHECK_OK("after the threads: %d stream classes and %ld event classes, all at 0; "
		 "trace at 1 (main's reference)", n_sc, events);

	bt_put(trace);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("putting the trace reclaims everything: census back to %zu", start);
	CHECK_DONE("bt_concurrency");
	return 0;
}
