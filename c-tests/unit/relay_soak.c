/*
 * Soak: every kind of object, one thread per online core plus one, for a
 * bounded time (TRACEREF_SOAK_MS, default 5000 ms) and a bounded number of
 * operations per thread (SOAK_MAX_OPS).
 *
 * Every thread mixes, at random:
 *   - building a relay hierarchy into a free shared slot: a session owned by
 *     a control connection in the shared connection table, a ctf-trace,
 *     streams (one with a contested handle that every thread tries, so
 *     creations race and exactly one wins while it is open), indexes made
 *     under the stream's lock, viewer streams, a viewer session owned by a
 *     live connection, payloads on some of them;
 *   - tearing down the hierarchy of a taken slot, in one of several ways:
 *     dropping the control connection (its final put closes the session and
 *     its streams), closing streams first, closing streams once their data
 *     arrives, aborting the session, closing viewer streams one by one or
 *     dropping the live connection (its final put closes the viewer
 *     session);
 *   - lookups racing those closes and drops: sessions by id, streams and
 *     viewer streams by handle, connections by socket, some batched in one
 *     read-side section; a found object is checked (its id, a count of at
 *     least 1 while held), walked to its containers, locked in order, asked
 *     for a new index or a trace, then put;
 *   - walks of every session and its streams;
 *   - Babeltrace trees (trace, stream classes, event classes, embedded
 *     objects with parents) kept in shared slots: other threads take
 *     references through a slot, enumerate and walk up, while the slot's own
 *     reference is dropped, so the last put races.
 *
 * Diagnostics are on and stderr is captured: the only warnings allowed are
 * the refusals these races make on purpose (a contested handle, an index or
 * a trace asked for after a close won). At the end, after the barrier, the
 * census is zero, every payload destructor ran once and every embedded
 * object was released once.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "traceref.h"
#include "check.h"
#include "capture.h"

#define SOAK_MAX_OPS 2000000L /* per thread */
#define SOAK_DEFAULT_MS 5000
#define MAX_THREADS 64

#define RELAY_SLOTS 12
#define BT_SLOTS 8
#define STREAMS 3
#define CONTESTED_HANDLES 4
#define CONTESTED_BASE ((uint64_t)90000000u)
#define HANDLE_BASE ((uint64_t)10000000u)
#define CTRL_SOCK(slot) (1000 + (slot))
#define LIVE_SOCK(slot) (2000 + (slot))
#define BATCH 8

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* Counters shared by every thread.                                         */

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static long payloads_attached, payloads_destroyed;
static long emb_made, emb_released;
static uint64_t next_handle = HANDLE_BASE; /* under stats_lock */
static uint64_t latest_session_id;         /* under stats_lock */
static char payload_token;

static void payload_destroy(void *data)
{
	TCHECK(data == &payload_token);
	pthread_mutex_lock(&stats_lock);
	payloads_destroyed++;
	pthread_mutex_unlock(&stats_lock);
}

static void attach_payload(void *obj)
{
	TCHECK(traceref_payload_set(obj, &payload_token, payload_destroy) == 0);
	pthread_mutex_lock(&stats_lock);
	payloads_attached++;
	pthread_mutex_unlock(&stats_lock);
}

static uint64_t new_handle(void)
{
	uint64_t h;

	pthread_mutex_lock(&stats_lock);
	h = next_handle++;
	pthread_mutex_unlock(&stats_lock);
	return h;
}

static uint64_t handles_made(void)
{
	uint64_t h;

	pthread_mutex_lock(&stats_lock);
	h = next_handle;
	pthread_mutex_unlock(&stats_lock);
	return h;
}

static struct relay_connection_table *table;
static uint64_t first_session_id;

/* ------------------------------------------------------------------------ */
/* Relay hierarchies.                                                       */

struct hierarchy {
	struct relay_session *s;
	struct ctf_trace *t;
	struct relay_stream *st[STREAMS];
	struct relay_stream *contested; /* or NULL: another hierarchy won it */
	struct relay_viewer_stream *v[STREAMS];
	struct relay_viewer_session *vs;
	struct relay_connection *ctrl, *live;
};

static struct relay_slot {
	pthread_mutex_t lock;
	bool taken; /* being built or torn down by one thread */
	bool built;
	struct hierarchy h;
} relay_slots[RELAY_SLOTS];

static void build(struct hierarchy *h, int slot, uint64_t *seed)
{
	struct relay_index *idx;
	uint64_t r = next_rand(seed);
	int j;

	memset(h, 0, sizeof(*h));
	h->s = relay_session_create("soak", "host", 0, false, 2, 11);
	TCHECK(h->s != NULL);
	pthread_mutex_lock(&stats_lock);
	if (relay_session_get_id(h->s) > latest_session_id)
		latest_session_id = relay_session_get_id(h->s);
	pthread_mutex_unlock(&stats_lock);
	if (r % 2)
		attach_payload(h->s);

	/* The control connection owns the session (before lookups find it). */
	h->ctrl = relay_connection_create(CTRL_SOCK(slot), RELAY_CONTROL);
	TCHECK(h->ctrl != NULL);
	TCHECK(relay_connection_set_session(h->ctrl, h->s) == 0);
	TCHECK(relay_connection_table_add(table, h->ctrl) == 0);

	h->t = relay_ctf_trace_get_by_path_or_create(h->s, "soak/ust");
	TCHECK(h->t != NULL);
	if (r % 3 == 0)
		attach_payload(h->t);
	for (j = 0; j < STREAMS; j++) {
		h->st[j] = relay_stream_create(h->t, new_handle(), "soak/ust",
					       j == 0 ? "metadata" : "chan", 0, 0);
		TCHECK(h->st[j] != NULL);
		if ((r >> 8) % 2)
			attach_payload(h->st[j]);
		if (j % 2 == 0)
			TCHECK(relay_stream_publish(h->st[j]) == 0);
		TCHECK(relay_stream_lock(h->st[j]) == 0);
		idx = relay_index_get_by_id_or_create(h->st[j], 1 + j);
		TCHECK(idx != NULL);
		if ((r >> 12) % 4 == 0) {
			TCHECK(relay_index_get(idx));
			attach_payload(idx);
			relay_index_put(idx);
		}
		TCHECK(relay_stream_unlock(h->st[j]) == 0);
		h->v[j] = relay_viewer_stream_create(h->st[j], (uint32_t)j);
		TCHECK(h->v[j] != NULL);
		if ((r >> 16) % 3 == 0)
			attach_payload(h->v[j]);
	}
	/* Every builder tries the contested handle: one wins while it is open. */
	h->contested = relay_stream_create(h->t, CONTESTED_BASE + (r >> 20) % CONTESTED_HANDLES,
					   "soak/ust", "chan", 0, 0);

	/* A live viewer: its connection owns the viewer session. */
	h->vs = relay_viewer_session_create();
	TCHECK(h->vs != NULL);
	TCHECK(relay_viewer_session_attach(h->vs, h->s) == 0);
	h->live = relay_connection_create(LIVE_SOCK(slot), RELAY_VIEWER_COMMAND);
	TCHECK(h->live != NULL);
	TCHECK(relay_connection_set_viewer_session(h->live, h->vs) == 0);
	TCHECK(relay_connection_table_add(table, h->live) == 0);
	if ((r >> 24) % 2)
		attach_payload(h->live);
}

static void teardown(struct hierarchy *h, uint64_t *seed)
{
	uint64_t r = next_rand(seed);
	int j;

	/* Viewer side. */
	if (r % 2) {
		for (j = 0; j < STREAMS; j++)
			TCHECK(relay_viewer_stream_close(h->v[j]) == 0);
	}
	/* Dropped: its final put (maybe by a reader) closes the viewer
	 * session, which closes the viewer streams not closed yet. */
	TCHECK(relay_connection_close(h->live) == 0);

	if (h->contested)
		TCHECK(relay_stream_close(h->contested) == 0);
	/* Streams: the owner's references are given up here, so nothing is
	 * read from a stream after its close. */
	switch ((r >> 8) % 4) {
	case 0: /* closed with the session, at the control connection's drop */
		break;
	case 1:
		for (j = 0; j < STREAMS; j++)
			TCHECK(relay_stream_close(h->st[j]) == 0);
		break;
	case 2: /* once their data arrives */
		for (j = 0; j < STREAMS; j++) {
			TCHECK(relay_stream_set_last_net_seq_num(h->st[j], 7) == 0);
			TCHECK(relay_stream_try_close(h->st[j]) == 1);
			TCHECK(relay_stream_set_received_seq_num(h->st[j], 7) == 0);
		}
		break;
	default: /* pending, then the session is aborted */
		for (j = 0; j < STREAMS; j++) {
			TCHECK(relay_stream_set_last_net_seq_num(h->st[j], 9) == 0);
			TCHECK(relay_stream_try_close(h->st[j]) == 1);
		}
		TCHECK(relay_session_abort(h->s) == 0);
		break;
	}
	relay_ctf_trace_put(h->t);
	/* The drop: the final put of the control connection (maybe by a
	 * reader) closes the session and whatever streams are still open. */
	TCHECK(relay_connection_close(h->ctrl) == 0);
}

/* Build into a free slot or tear a built one down; false when the slot was
 * busy. */
static bool relay_slot_op(uint64_t *seed)
{
	int slot = (int)(next_rand(seed) % RELAY_SLOTS);
	struct relay_slot *sl = &relay_slots[slot];
	struct hierarchy h;
	bool built;

	pthread_mutex_lock(&sl->lock);
	if (sl->taken) {
		pthread_mutex_unlock(&sl->lock);
		return false;
	}
	sl->taken = true;
	built = sl->built;
	h = sl->h;
	pthread_mutex_unlock(&sl->lock);

	if (built)
		teardown(&h, seed);
	else
		build(&h, slot, seed);

	pthread_mutex_lock(&sl->lock);
	sl->h = h;
	sl->built = !built;
	sl->taken = false;
	pthread_mutex_unlock(&sl->lock);
	return true;
}

/* ------------------------------------------------------------------------ */
/* Lookups racing closes and drops.                                         */

struct lookups {
	long found_sessions, found_streams, found_vstreams, found_conns, new_indexes;
};

static void look_session(uint64_t *seed, struct lookups *l, bool in_section)
{
	uint64_t latest, id;
	struct relay_session *s;
	struct ctf_trace *t;

	pthread_mutex_lock(&stats_lock);
	latest = latest_session_id;
	pthread_mutex_unlock(&stats_lock);
	id = latest + 2 - next_rand(seed) % (2 * RELAY_SLOTS + 4);
	s = relay_session_get_by_id(id);
	if (!s)
		return;
	l->found_sessions++;
	TCHECK(relay_session_get_id(s) == id);
	TCHECK(relay_session_get_ref_count(s) >= 1);
	TCHECK(relay_session_get_name(s) != NULL);
	if (!in_section) {
		/* Racing the session's close: the existing trace, or NULL. */
		t = relay_ctf_trace_get_by_path_or_create(s, "soak/ust");
		if (t) {
			TCHECK(relay_ctf_trace_get_session(t) == s);
			TCHECK(relay_ctf_trace_lock(t) == 0);
			TCHECK(relay_ctf_trace_unlock(t) == 0);
			relay_ctf_trace_put(t);
		}
	}
	relay_session_put(s);
}

static void look_stream(uint64_t *seed, struct lookups *l, bool in_section)
{
	uint64_t made = handles_made(), h, x = next_rand(seed);
	struct relay_stream *st;
	struct ctf_trace *t;

	if (x % 8 == 0)
		h = CONTESTED_BASE + (x >> 8) % CONTESTED_HANDLES;
	else
		h = made - 1 - (x >> 8) % (RELAY_SLOTS * STREAMS * 2);
	st = relay_stream_get_by_id(h);
	if (!st)
		return;
	l->found_streams++;
	TCHECK(relay_stream_get_handle(st) == h);
	TCHECK(relay_stream_get_ref_count(st) >= 1);
	t = relay_stream_get_trace(st);
	TCHECK(t != NULL && relay_ctf_trace_get_ref_count(t) >= 1);
	TCHECK(relay_ctf_trace_get_session(t) != NULL);
	if (!in_section && (x >> 32) % 2) {
		/* A new index, racing the stream's close (NULL once closed). */
		struct relay_index *idx;

		TCHECK(relay_stream_lock(st) == 0);
		idx = relay_index_get_by_id_or_create(st, 100 + (x >> 40) % 4);
		if (idx) {
			l->new_indexes++;
			TCHECK(relay_index_get_ref_count(idx) >= 1);
			if ((x >> 48) % 2 && relay_index_get(idx)) {
				TCHECK(relay_stream_unlock(st) == 0);
				/* Held past the lock by a reference of ours. */
				TCHECK(relay_index_get_net_seq_num(idx) == 100 + (x >> 40) % 4);
				relay_index_put(idx);
				relay_stream_put(st);
				return;
			}
		} else {
			TCHECK(relay_stream_is_closed(st));
		}
		TCHECK(relay_stream_unlock(st) == 0);
	}
	relay_stream_put(st);
}

static void look_vstream(uint64_t *seed, struct lookups *l)
{
	uint64_t made = handles_made();
	uint64_t h = made - 1 - next_rand(seed) % (RELAY_SLOTS * STREAMS * 2);
	struct relay_viewer_stream *v = relay_viewer_stream_get_by_id(h);
	struct relay_stream *st;

	if (!v)
		return;
	l->found_vstreams++;
	TCHECK(relay_viewer_stream_get_ref_count(v) >= 1);
	st = relay_viewer_stream_get_stream(v);
	TCHECK(st != NULL && relay_stream_get_handle(st) == h);
	TCHECK(relay_stream_get_ref_count(st) >= 1);
	relay_viewer_stream_put(v);
}

static void look_conn(uint64_t *seed, struct lookups *l)
{
	uint64_t x = next_rand(seed);
	int slot = (int)(x % RELAY_SLOTS);
	bool live = (x >> 8) % 2;
	struct relay_connection *c =
		relay_connection_get_by_sock(table, live ? LIVE_SOCK(slot) : CTRL_SOCK(slot));

	if (!c)
		return;
	l->found_conns++;
	TCHECK(relay_connection_get_ref_count(c) >= 1);
	if (live) {
		TCHECK(relay_connection_get_type(c) == RELAY_VIEWER_COMMAND);
		TCHECK(relay_connection_get_viewer_session(c) != NULL);
	} else {
		struct relay_session *s;

		TCHECK(relay_connection_get_type(c) == RELAY_CONTROL);
		/* Valid while the connection is held: it holds the session. */
		s = relay_connection_get_session(c);
		TCHECK(s != NULL && relay_session_get_ref_count(s) >= 1);
	}
	/* This put may be the connection's final one. */
	relay_connection_put(c);
}

static int visit_stream(struct relay_stream *st, void *data)
{
	(void)data;
	TCHECK(relay_stream_get_ref_count(st) >= 1);
	return 0;
}

static int visit_session(struct relay_session *s, void *data)
{
	long *n = data;

	TCHECK(relay_session_get_ref_count(s) >= 1);
	TCHECK(relay_session_get_id(s) >= first_session_id);
	TCHECK(relay_session_for_each_stream(s, visit_stream, NULL) >= 0);
	++*n;
	return 0;
}

static void lookups(uint64_t *seed, struct lookups *l, long *walked)
{
	bool in_section = next_rand(seed) % 2;
	int i;

	if (in_section)
		traceref_read_lock();
	for (i = 0; i < BATCH; i++) {
		switch (next_rand(seed) % 4) {
		case 0:
			look_session(seed, l, in_section);
			break;
		case 1:
			look_stream(seed, l, in_section);
			break;
		case 2:
			look_vstream(seed, l);
			break;
		default:
			look_conn(seed, l);
			break;
		}
	}
	if (in_section)
		traceref_read_unlock();
	if (next_rand(seed) % 16 == 0)
		TCHECK(relay_sessions_for_each(visit_session, walked) >= 0);
}

/* ------------------------------------------------------------------------ */
/* Babeltrace trees in shared slots.                                        */

struct emb {
	struct bt_object base;
	uint32_t magic;
};

#define EMB_MAGIC 0x736f616bu

static void emb_release(struct bt_object *obj)
{
	struct emb *e = (struct emb *)obj;

	TCHECK(e->magic == EMB_MAGIC);
	e->magic = 0;
	free(e);
	pthread_mutex_lock(&stats_lock);
	emb_released++;
	pthread_mutex_unlock(&stats_lock);
}

static struct emb *emb_new(void)
{
	struct emb *e = calloc(1, sizeof(*e));

	TCHECK(e != NULL);
	e->magic = EMB_MAGIC;
	bt_object_init(&e->base, emb_release);
	pthread_mutex_lock(&stats_lock);
	emb_made++;
	pthread_mutex_unlock(&stats_lock);
	return e;
}

/* A slot holds one reference on a CTF-IR trace and one on an embedded
 * object (the leaf of a chain of three). */
static struct bt_slot {
	pthread_mutex_t lock;
	struct bt_ctf_trace *trace;
	struct emb *leaf;
} bt_slots[BT_SLOTS];

static void bt_build(struct bt_ctf_trace **trace_out, struct emb **leaf_out)
{
	static const char *const names[] = { "sc0", "sc1" };
	struct bt_ctf_trace *trace = bt_ctf_trace_create();
	struct emb *root = emb_new(), *mid = emb_new(), *leaf = emb_new();
	int i;

	TCHECK(trace != NULL);
	for (i = 0; i < 2; i++) {
		struct bt_ctf_stream_class *sc = bt_ctf_stream_class_create(names[i]);
		struct bt_ctf_event_class *ec = bt_ctf_event_class_create("ev");

		TCHECK(sc && ec);
		TCHECK(bt_ctf_trace_add_stream_class(trace, sc) == 0);
		TCHECK(bt_ctf_stream_class_add_event_class(sc, ec) == 0);
		bt_put(ec);
		bt_put(sc);
	}
	bt_object_set_parent(mid, root);
	bt_object_set_parent(leaf, mid);
	bt_put(mid);
	bt_put(root); /* the leaf holds the chain */
	*trace_out = trace;
	*leaf_out = leaf;
}

static void bt_slot_op(uint64_t *seed, long *bt_ops)
{
	uint64_t x = next_rand(seed);
	struct bt_slot *sl = &bt_slots[x % BT_SLOTS];
	struct bt_ctf_trace *trace;
	struct emb *leaf;

	pthread_mutex_lock(&sl->lock);
	trace = sl->trace;
	leaf = sl->leaf;
	if ((x >> 8) % 4 == 0) {
		/* Take the slot's own references; put them outside the lock,
		 * racing the other threads' puts. */
		sl->trace = NULL;
		sl->leaf = NULL;
		pthread_mutex_unlock(&sl->lock);
		if (trace) {
			bt_put(trace);
			bt_put(leaf);
		} else {
			bt_build(&trace, &leaf);
			pthread_mutex_lock(&sl->lock);
			if (!sl->trace) {
				sl->trace = trace;
				sl->leaf = leaf;
				trace = NULL;
				leaf = NULL;
			}
			pthread_mutex_unlock(&sl->lock);
			bt_put(trace); /* NULL: nothing */
			bt_put(leaf);
		}
		++*bt_ops;
		return;
	}
	if (!trace) {
		pthread_mutex_unlock(&sl->lock);
		return;
	}
	/* References of our own, taken through the slot's. */
	TCHECK(bt_get(trace) == trace);
	TCHECK(bt_get(leaf) == leaf);
	pthread_mutex_unlock(&sl->lock);

	{
		int n = bt_ctf_trace_get_stream_class_count(trace), i;
		struct bt_object *mid, *root;

		TCHECK(n == 2);
		for (i = 0; i < n; i++) {
			struct bt_ctf_stream_class *sc = bt_ctf_trace_get_stream_class(trace, i);
			struct bt_ctf_event_class *ec;
			struct bt_ctf_trace *up;

			TCHECK(sc != NULL);
			ec = bt_ctf_stream_class_get_event_class(sc, 0);
			TCHECK(ec != NULL);
			TCHECK(bt_object_get_ref_count(ec) >= 1);
			up = bt_ctf_stream_class_get_trace(sc);
			TCHECK(up == trace);
			bt_put(up);
			/* The class holds the trace while we hold the class. */
			bt_put(sc);
			bt_put(ec);
		}
		mid = bt_object_get_parent(leaf);
		TCHECK(mid != NULL);
		root = bt_object_get_parent(mid);
		TCHECK(root != NULL && bt_object_get_parent(root) == NULL);
		bt_put(mid);
		bt_put(root);
	}
	bt_put(leaf);
	bt_put(trace);
	++*bt_ops;
}

/* ------------------------------------------------------------------------ */
/* Threads.                                                                 */

struct worker {
	pthread_t thread;
	uint64_t seed;
	long ops, relay_ops, bt_ops, walked;
	struct lookups l;
};

static long deadline;
static pthread_barrier_t start_line;

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start_line);
	while (w->ops < SOAK_MAX_OPS && (w->ops % 64 != 0 || now_ms() < deadline)) {
		uint64_t r = next_rand(&w->seed) % 100;

		if (r < 20) {
			if (relay_slot_op(&w->seed))
				w->relay_ops++;
		} else if (r < 35) {
			bt_slot_op(&w->seed, &w->bt_ops);
		} else {
			lookups(&w->seed, &w->l, &w->walked);
		}
		w->ops++;
		if (r % 16 == 0)
			sched_yield();
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* The warnings this test expects (stderr is captured for the whole run):   */
/* the refusals its races make on purpose: a contested handle refused, a    */
/* lookup's new index or trace refused because a close won.                 */

static int classify(const char *line)
{
	bool refusal =
		(strstr(line, "relay_stream_create: stream ") &&
		 strstr(line, " not created: DuplicateHandle")) ||
		(strstr(line, "relay_index_get_by_id_or_create: stream ") &&
		 strstr(line, " is closed: no new index")) ||
		(strstr(line, "relay_ctf_trace_get_by_path_or_create: session ") &&
		 strstr(line, " is closed: no new trace"));

	return refusal ? 0 : -1;
}

int main(void)
{
	struct worker workers[MAX_THREADS];
	const char *env_ms = getenv("TRACEREF_SOAK_MS");
	long ms = env_ms ? atol(env_ms) : SOAK_DEFAULT_MS, cpus, started;
	long ops = 0, relay_ops = 0, bt_ops = 0, walked = 0, refusals = 0, others;
	struct lookups l;
	struct relay_session *probe;
	int nthreads, i;

	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	nthreads = (int)(cpus > 0 ? cpus : 1) + 1;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;

	setenv("TRACEREF_LOG", "warn", 1);
	capture_begin();
	CHECK_EQ_LONG(traceref_live_objects(), 0);

	probe = relay_session_create("probe", "host", 0, false, 2, 11);
	CHECK(probe != NULL);
	first_session_id = relay_session_get_id(probe);
	latest_session_id = first_session_id;
	CHECK_EQ_LONG(relay_session_close(probe), 0);
	table = relay_connection_table_create();
	CHECK(table != NULL);
	for (i = 0; i < RELAY_SLOTS; i++)
		CHECK(pthread_mutex_init(&relay_slots[i].lock, NULL) == 0);
	for (i = 0; i < BT_SLOTS; i++)
		CHECK(pthread_mutex_init(&bt_slots[i].lock, NULL) == 0);

	CHECK(pthread_barrier_init(&start_line, NULL, (unsigned)nthreads + 1) == 0);
	started = now_ms();
	deadline = started + ms;
	for (i = 0; i < nthreads; i++) {
		memset(&workers[i], 0, sizeof(workers[i]));
		workers[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) ^ (uint64_t)started;
		CHECK(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) == 0);
	}
	pthread_barrier_wait(&start_line);
	memset(&l, 0, sizeof(l));
	for (i = 0; i < nthreads; i++) {
		CHECK(pthread_join(workers[i].thread, NULL) == 0);
		ops += workers[i].ops;
		relay_ops += workers[i].relay_ops;
		bt_ops += workers[i].bt_ops;
		walked += workers[i].walked;
		l.found_sessions += workers[i].l.found_sessions;
		l.found_streams += workers[i].l.found_streams;
		l.found_vstreams += workers[i].l.found_vstreams;
		l.found_conns += workers[i].l.found_conns;
		l.new_indexes += workers[i].l.new_indexes;
	}
	CHECK(ops > 0);
	CHECK_OK("%d threads (%ld cores online, plus one) ran %ld operations in %ld ms: "
		 "%ld builds and teardowns of relay hierarchies, %ld on shared Babeltrace trees",
		 nthreads, cpus, ops, now_ms() - started, relay_ops, bt_ops);
	CHECK_OK("lookups racing closes and drops found %ld sessions, %ld streams, "
		 "%ld viewer streams, %ld connections, made %ld indexes; walks saw %ld sessions",
		 l.found_sessions, l.found_streams, l.found_vstreams, l.found_conns,
		 l.new_indexes, walked);

	/* What is still built is torn down, the table destroyed. */
	{
		uint64_t seed = 42;

		for (i = 0; i < RELAY_SLOTS; i++)
			if (relay_slots[i].built)
				teardown(&relay_slots[i].h, &seed);
		for (i = 0; i < BT_SLOTS; i++) {
			bt_put(bt_slots[i].trace);
			bt_put(bt_slots[i].leaf);
		}
	}
	CHECK_EQ_LONG(relay_connection_table_destroy(table), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), 0);
	pthread_mutex_lock(&stats_lock);
	CHECK_EQ_LONG(payloads_destroyed, payloads_attached);
	CHECK_EQ_LONG(emb_released, emb_made);
	pthread_mutex_unlock(&stats_lock);
	CHECK_OK("census zero at the end; %ld payload destructors ran, one per payload; "
		 "%ld embedded objects released, one per object", payloads_attached, emb_made);

	others = capture_end(classify, &refusals, 1);
	CHECK_EQ_LONG(others, 0);
	CHECK_OK("the only warnings were %ld refusals that the races make on purpose "
		 "(a contested handle, an index or trace asked for after a close)", refusals);
	for (i = 0; i < RELAY_SLOTS; i++)
		pthread_mutex_destroy(&relay_slots[i].lock);
	for (i = 0; i < BT_SLOTS; i++)
		pthread_mutex_destroy(&bt_slots[i].lock);
	pthread_barrier_destroy(&start_line);
	CHECK_DONE("relay_soak");
	return 0;
}
