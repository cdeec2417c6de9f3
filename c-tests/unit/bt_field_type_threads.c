/*
 * Field types shared between threads.
 *
 * 1. Crossed adds: in each round two threads add structure A into B and B
 *    into A at the same moment (released together by a spinning barrier;
 *    A and B share a large member, so that each containment check has a
 *    graph to walk while the other thread adds). Exactly one succeeds (the
 *    other would make a structure that contains itself): one warning line
 *    per round, and the member counts say which one won.
 *
 * 2. Shared payloads: a trace of event classes whose payload structures are
 *    shared between event classes and replaced all the time. Setters make a
 *    new structure (over a shared pool of integer types), set it on a few
 *    event classes and put their own reference (the event classes then hold
 *    the only ones, and the next replacement frees it, in whichever thread
 *    drops the last reference); readers reach payload types through the
 *    tree and read them; holders keep some for a while and put them later.
 *    At the end the trace and the integer pool are put: the census is back
 *    to its start.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traceref.h"
#include "check.h"
#include "capture.h"

#define ROUNDS 400

#define N_SC 2
#define EC_PER_SC 4
#define N_EC (N_SC * EC_PER_SC)
#define N_INT 4

#define SET_ITERS 4000
#define READ_ITERS 12000
#define HOLD_ITERS 9000

/* The shared member of every A and B: LEAVES structures of LEAF_FIELDS
 * integer fields each. */
#define LEAVES 32
#define LEAF_FIELDS 4

static struct bt_ctf_field_type *cross_a[ROUNDS], *cross_b[ROUNDS];
static int cross_result[2][ROUNDS];
static int arrived;

/* Both threads leave round `r`'s barrier within a few instructions of each
 * other (a pthread barrier wakes them one after the other). */
static void spin_barrier(int r)
{
	__atomic_add_fetch(&arrived, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&arrived, __ATOMIC_ACQUIRE) < 2 * (r + 1))
		sched_yield();
}

static void *crosser(void *arg)
{
	int side = (int)(intptr_t)arg;
	int r;

	for (r = 0; r < ROUNDS; r++) {
		spin_barrier(r);
		if (side == 0)
			cross_result[0][r] =
				bt_ctf_field_type_structure_add_field(cross_a[r], cross_b[r], "b");
		else
			cross_result[1][r] =
				bt_ctf_field_type_structure_add_field(cross_b[r], cross_a[r], "a");
	}
	return NULL;
}

enum { CONTAINS_ITSELF, KINDS };

static int classify(const char *line)
{
	if (strstr(line, "warning: bt_ctf_field_type_structure_add_field:") &&
	    strstr(line, "contain"))
		return CONTAINS_ITSELF;
	return -1;
}

static void crossed_adds(void)
{
	const size_t start = traceref_live_objects();
	pthread_t t[2];
	long warnings[KINDS];
	int r, a_won = 0, b_won = 0;
	struct bt_ctf_field_type *big = bt_ctf_field_type_structure_create();
	struct bt_ctf_field_type *u32 = bt_ctf_field_type_integer_create(32);

	CHECK(big && u32);
	for (r = 0; r < LEAVES; r++) {
		struct bt_ctf_field_type *leaf = bt_ctf_field_type_structure_create();
		char name[16];
		int f;

		for (f = 0; f < LEAF_FIELDS; f++) {
			snprintf(name, sizeof(name), "f%d", f);
			CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(leaf, u32, name), 0);
		}
		snprintf(name, sizeof(name), "leaf%d", r);
		CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(big, leaf, name), 0);
		bt_put(leaf);
	}
	bt_put(u32);
	for (r = 0; r < ROUNDS; r++) {
		cross_a[r] = bt_ctf_field_type_structure_create();
		cross_b[r] = bt_ctf_field_type_structure_create();
		CHECK(cross_a[r] && cross_b[r]);
		CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(cross_a[r], big, "big"), 0);
		CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(cross_b[r], big, "big"), 0);
	}
	bt_put(big);
	capture_begin();
	for (r = 0; r < 2; r++)
		CHECK(pthread_create(&t[r], NULL, crosser, (void *)(intptr_t)r) == 0);
	for (r = 0; r < 2; r++)
		CHECK(pthread_join(t[r], NULL) == 0);
	CHECK_EQ_LONG(capture_end(classify, warnings, KINDS), 0);
	CHECK_EQ_LONG(warnings[CONTAINS_ITSELF], ROUNDS);

	for (r = 0; r < ROUNDS; r++) {
		int ra = cross_result[0][r], rb = cross_result[1][r];

		/* Exactly one of the two adds succeeded. */
		CHECK((ra == 0) != (rb == 0));
		CHECK(ra <= 0 && rb <= 0);
		if (ra == 0) {
			a_won++;
			CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(cross_a[r]), 2);
			CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(cross_b[r]), 1);
			CHECK_EQ_LONG(bt_object_get_ref_count(cross_b[r]), 2);
			CHECK_EQ_LONG(bt_object_get_ref_count(cross_a[r]), 1);
		} else {
			b_won++;
			CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(cross_b[r]), 2);
			CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(cross_a[r]), 1);
			CHECK_EQ_LONG(bt_object_get_ref_count(cross_a[r]), 2);
			CHECK_EQ_LONG(bt_object_get_ref_count(cross_b[r]), 1);
		}
		/* Put in either order: the container frees its member at the end. */
		if (r % 2) {
			bt_put(cross_a[r]);
			bt_put(cross_b[r]);
		} else {
			bt_put(cross_b[r]);
			bt_put(cross_a[r]);
		}
	}
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("%d rounds of A-into-B against B-into-A: exactly one add succeeded in "
		 "each (A %d times, B %d times), one warning for the other; census back",
		 ROUNDS, a_won, b_won);
}

static struct bt_ctf_trace *trace;
/* The integer pool, held by main for the whole phase. */
static struct bt_ctf_field_type *ints[N_INT];
static const unsigned int_sizes[N_INT] = { 8, 16, 32, 64 };
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

/* A new reference on event class `i` of the trace. */
static struct bt_ctf_event_class *event_class(int i)
{
	struct bt_ctf_stream_class *sc = bt_ctf_trace_get_stream_class(trace, i / EC_PER_SC);
	struct bt_ctf_event_class *ec;

	TCHECK(sc != NULL);
	ec = bt_ctf_stream_class_get_event_class(sc, i % EC_PER_SC);
	TCHECK(ec != NULL);
	bt_put(sc);
	return ec;
}

/* A new structure of one to three integer members from the pool. */
static struct bt_ctf_field_type *new_payload(uint64_t *seed)
{
	struct bt_ctf_field_type *s = bt_ctf_field_type_structure_create();
	int k, n = 1 + below(seed, 3);
	static const char *const names[] = { "f0", "f1", "f2" };

	TCHECK(s != NULL);
	for (k = 0; k < n; k++)
		TCHECK(bt_ctf_field_type_structure_add_field(s, ints[below(seed, N_INT)],
							     names[k]) == 0);
	return s;
}

/* A payload type as a reader sees it: one to three integer members. */
static void check_payload(struct bt_ctf_field_type *p)
{
	int n = bt_ctf_field_type_structure_get_field_count(p);
	const char *name;
	struct bt_ctf_field_type *m, *by_name;
	int size;

	TCHECK(n >= 1 && n <= 3);
	TCHECK(bt_object_get_ref_count(p) >= 1);
	TCHECK(bt_ctf_field_type_structure_get_field(p, &name, &m, n - 1) == 0);
	size = bt_ctf_field_type_integer_get_size(m);
	TCHECK(size == 8 || size == 16 || size == 32 || size == 64);
	by_name = bt_ctf_field_type_structure_get_field_type_by_name(p, name);
	TCHECK(by_name == m);
	bt_ctf_field_type_put(by_name);
	bt_ctf_field_type_put(m);
}

/* Replace the payloads of a few event classes by a new shared structure. */
static void *setter(void *arg)
{
	struct worker *w = arg;
	int i, k;

	pthread_barrier_wait(&start_line);
	for (i = 0; i < SET_ITERS; i++) {
		struct bt_ctf_field_type *p = new_payload(&w->seed);
		int n = 1 + below(&w->seed, 3);

		for (k = 0; k < n; k++) {
			struct bt_ctf_event_class *ec = event_class(below(&w->seed, N_EC));

			TCHECK(bt_ctf_event_class_set_payload_type(ec, p) == 0);
			bt_ctf_event_class_put(ec);
		}
		/* The event classes hold it now; the next replacements free it. */
		bt_ctf_field_type_put(p);
		w->ops += 2 + 3 * n;
	}
	return NULL;
}

/* Reach a payload type through the tree, read it, put it. */
static void *reader(void *arg)
{
	struct worker *w = arg;
	int i;

	pthread_barrier_wait(&start_line);
	for (i = 0; i < READ_ITERS; i++) {
		struct bt_ctf_event_class *ec = event_class(below(&w->seed, N_EC));
		struct bt_ctf_field_type *p = bt_ctf_event_class_get_payload_type(ec);

		TCHECK(p != NULL);
		bt_put(ec);
		/* The reference got keeps p alive after the event class let go. */
		check_payload(p);
		TCHECK(bt_get(p) == p);
		bt_put(p);
		bt_ctf_field_type_put(p);
		w->ops += 8;
	}
	return NULL;
}

/* Hold a few payload types at once and put them later, so that the last
 * reference on a replaced one is often this thread's. */
static void *holder(void *arg)
{
	struct worker *w = arg;
	struct bt_ctf_field_type *held[4] = { NULL, NULL, NULL, NULL };
	int i, k;

	pthread_barrier_wait(&start_line);
	for (i = 0; i < HOLD_ITERS; i++) {
		struct bt_ctf_event_class *ec = event_class(below(&w->seed, N_EC));

		k = below(&w->seed, 4);
		if (held[k])
			check_payload(held[k]);
		bt_ctf_field_type_put(held[k]);
		held[k] = bt_ctf_event_class_get_payload_type(ec);
		TCHECK(held[k] != NULL);
		bt_ctf_event_class_put(ec);
		w->ops += 4;
	}
	for (k = 0; k < 4; k++)
		BT_PUT(held[k]);
	return NULL;
}

static void shared_payloads(void)
{
	void *(*const roles[])(void *) = { setter, setter, reader, reader, holder };
	enum { N_WORKERS = sizeof(roles) / sizeof(roles[0]) };
	struct worker workers[N_WORKERS];
	const size_t start = traceref_live_objects();
	uint64_t seed = 12345;
	long ops = 0;
	int i, j;

	trace = bt_ctf_trace_create();
	CHECK(trace != NULL);
	for (i = 0; i < N_INT; i++) {
		ints[i] = bt_ctf_field_type_integer_create(int_sizes[i]);
		CHECK(ints[i] != NULL);
	}
	for (i = 0; i < N_SC; i++) {
		struct bt_ctf_stream_class *sc;
		char name[32];

		snprintf(name, sizeof(name), "sc-%d", i);
		sc = bt_ctf_stream_class_create(name);
		CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(trace, sc), 0);
		for (j = 0; j < EC_PER_SC; j++) {
			struct bt_ctf_event_class *ec;
			struct bt_ctf_field_type *p = new_payload(&seed);

			snprintf(name, sizeof(name), "ec-%d-%d", i, j);
			ec = bt_ctf_event_class_create(name);
			CHECK_EQ_LONG(bt_ctf_event_class_set_payload_type(ec, p), 0);
			CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(sc, ec), 0);
			bt_put(p);
			bt_put(ec);
		}
		bt_put(sc);
	}
	CHECK_EQ_LONG(traceref_live_objects(), start + 1 + N_SC + N_EC + N_EC + N_INT);

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
	CHECK_OK("%d threads made %ld field type operations", N_WORKERS, ops);

	/* Every event class has a payload, held by it (and maybe by others). */
	for (i = 0; i < N_EC; i++) {
		struct bt_ctf_event_class *ec = event_class(i);
		struct bt_ctf_field_type *p = bt_ctf_event_class_get_payload_type(ec);

		CHECK(p != NULL);
		CHECK(bt_object_get_ref_count(p) >= 2); /* ours and ec's */
		check_payload(p);
		bt_put(p);
		bt_put(ec);
	}
	/* Integers: main's reference plus one per member of a live structure. */
	for (i = 0; i < N_INT; i++)
		CHECK(bt_object_get_ref_count(ints[i]) >= 1);
	/* At most one structure per event class is still alive. */
	CHECK(traceref_live_objects() >= start + 1 + N_SC + N_EC + 1 + N_INT);
	CHECK(traceref_live_objects() <= start + 1 + N_SC + N_EC + N_EC + N_INT);

	bt_put(trace);
	for (i = 0; i < N_INT; i++)
		CHECK_EQ_LONG(bt_object_get_ref_count(ints[i]), 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + N_INT);
	for (i = 0; i < N_INT; i++)
		bt_ctf_field_type_put(ints[i]);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("after the threads: every event class has a payload; putting the trace "
		 "frees every structure, the integers then: census back to %zu", start);
}

int main(void)
{
	const size_t start = traceref_live_objects();

	setenv("TRACEREF_LOG", "warn", 1);
	crossed_adds();
	shared_payloads();
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_DONE("bt_field_type_threads");
	return 0;
}
