/*
 * Concurrent use of the relay daemon model.
 *
 * Creator threads build and tear down small hierarchies (session, trace,
 * streams with indexes, viewer streams, sometimes a viewer session or a
 * control connection in a shared connection table), each in one of four
 * teardown variants. An index takes no reference for its creator: the
 * hierarchies' indexes keep their self reference only, dropped when their
 * stream closes. The creators also race each other to create streams with
 * the same handles (exactly one wins each), traces with the same paths (both
 * get the same trace) and indexes of one stream with the same sequence
 * numbers (both get the same index, borrowed under the stream's lock, and
 * keep it with relay_index_get()); then they race to flush the indexes of
 * another stream, each with a reference of its own (for each index, exactly
 * one relay_index_try_flush() returns 0, the others 1). Reader threads
 * meanwhile look up random ids (sessions, streams, viewer streams,
 * connections), some in batches inside one read-side section, and check that
 * every result is either NULL or a live object with the id looked up and a
 * count of at least 1 while it is held. A walker thread enumerates every
 * session and the streams of each (but the race session's, whose exact
 * counts are checked meanwhile).
 *
 * A second phase makes one thread create streams with a handle already in
 * the stream table, for a session that another thread keeps aborting, while
 * a third makes and closes streams elsewhere: every creation is refused, and
 * the refused streams must not be closed (their reference put) by the abort.
 * A fourth thread walks that session's streams all along: a refused stream
 * is never visible, so it must never see one.
 *
 * At the end, after the barrier, the census is back to its start and the
 * payload destructors ran exactly as many times as payloads were attached.
 * Diagnostics are on and stderr is captured for the whole run: the only
 * warnings allowed are the refusals of duplicate handles, one per refused
 * creation, and of gets at count 0, one per refused get; anything else (a put on a count of zero, ...) fails the test.
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

#define CREATORS 2
#define READERS 2
#define ITERS 240           /* hierarchies per creator */
#define WINDOW 8            /* hierarchies alive at once, per creator */
#define CYCLE (2 * WINDOW)  /* handles and sockets are reused after this */
#define STREAMS 4           /* streams per hierarchy */
#define RACE 48             /* contested handles and paths */
/* Readers and the walker run as long as the creators do, within bounds. */
#define MIN_LOOKUPS 4000    /* per reader, at least ... */
#define MAX_LOOKUPS 250000  /* ... and at most */
#define BATCH 16            /* lookups per read-side batch */
#define WALKS_MAX 10000
/* Refused creations racing session aborts: at least DUP_MIN_ROUNDS and
 * DUP_MIN_MS of racing, at most DUP_MAX_ROUNDS. */
#define DUP_MIN_ROUNDS 2000
#define DUP_MIN_MS 500
#define DUP_MAX_ROUNDS 100000
#define DUP_HANDLE ((uint64_t)8000000u)

#define HANDLE_BASE(c) ((uint64_t)((c) + 1) * 1000000u)
/* Hierarchies owned by a control connection close their session (and so
 * their streams) at the connection's final put, which a reader may be the
 * one to make: their handles are never reused. */
#define CONN_HANDLE_BASE(c) (HANDLE_BASE(c) + 500000u)
#define RACE_HANDLE_BASE ((uint64_t)9000000u)
#define SOCK_BASE(c) (((c) + 1) * 100000)

/* ------------------------------------------------------------------------ */

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static long payloads_destroyed;
static int creators_running;
static uint64_t latest_session_id;

static void payload_destroy(void *data)
{
	(void)data;
	pthread_mutex_lock(&stats_lock);
	payloads_destroyed++;
	pthread_mutex_unlock(&stats_lock);
}

static char payload_token;

static void attach_payload(void *obj, long *attached)
{
	TCHECK(traceref_payload_set(obj, &payload_token, payload_destroy) == 0);
	++*attached;
}

static bool creators_done(void)
{
	int n;

	pthread_mutex_lock(&stats_lock);
	n = creators_running;
	pthread_mutex_unlock(&stats_lock);
	return n == 0;
}

/* Shared state, set before the threads start. */
static uint64_t first_session_id;
static uint64_t last_session_id; /* upper bound of the ids made here */
static struct relay_connection_table *shared_table;
static struct relay_session *race_session;
static pthread_barrier_t start_line;
static pthread_barrier_t race_line;

/* Race results, read after the join. */
static struct relay_stream *race_streams[CREATORS][RACE];
static struct ctf_trace *race_traces[CREATORS][RACE];
static struct relay_stream *race_index_stream;
static struct relay_index *race_indexes[CREATORS][RACE];
/* Indexes of another stream, whose data arrived: flushed by racing
 * creators, each holding a reference of its own. */
static struct relay_stream *race_flush_stream;
static struct relay_index *race_flush_indexes[CREATORS][RACE];
static int race_flush_results[CREATORS][RACE];

/* ------------------------------------------------------------------------ */
/* Creators.                                                                */

struct creator {
	pthread_t thread;
	int index;
	uint64_t seed;
	long attached;
	long hierarchies;
	long dup_refused;
};

static void race_phase(struct creator *c)
{
	int k;
	char path[64];

	pthread_barrier_wait(&race_line);
	for (k = 0; k < RACE; k++) {
		race_streams[c->index][k] = NULL;
		sprintf(path, "race/%d", k);
		race_traces[c->index][k] =
			relay_ctf_trace_get_by_path_or_create(race_session, path);
		TCHECK(race_traces[c->index][k] != NULL);
		race_streams[c->index][k] = relay_stream_create(
			race_traces[c->index][k], RACE_HANDLE_BASE + (uint64_t)k,
			path, "chan", 0, 0);
		/* Borrowed under the stream's lock: kept past it with a
		 * reference of this creator's. */
		TCHECK(relay_stream_lock(race_index_stream) == 0);
		race_indexes[c->index][k] =
			relay_index_get_by_id_or_create(race_index_stream, (uint64_t)k);
		TCHECK(race_indexes[c->index][k] != NULL);
		TCHECK(relay_index_get(race_indexes[c->index][k]));
		TCHECK(relay_stream_unlock(race_index_stream) == 0);
		TCHECK(relay_stream_lock(race_flush_stream) == 0);
		race_flush_indexes[c->index][k] =
			relay_index_get_by_id_or_create(race_flush_stream, (uint64_t)k);
		TCHECK(race_flush_indexes[c->index][k] != NULL);
		TCHECK(relay_index_get(race_flush_indexes[c->index][k]));
		TCHECK(relay_stream_unlock(race_flush_stream) == 0);
	}
	/* Everyone holds what they got until every creator has tried. */
	pthread_barrier_wait(&race_line);
	pthread_barrier_wait(&race_line); /* main thread compares */
	/* All at once: flush with a reference held (no stream lock). */
	for (k = 0; k < RACE; k++)
		race_flush_results[c->index][k] =
			relay_index_try_flush(race_flush_indexes[c->index][k]);
	pthread_barrier_wait(&race_line);
	pthread_barrier_wait(&race_line); /* main thread checks the flushes */
	for (k = 0; k < RACE; k++) {
		if (race_streams[c->index][k])
			TCHECK(relay_stream_close(race_streams[c->index][k]) == 0);
		relay_ctf_trace_put(race_traces[c->index][k]);
		relay_index_put(race_indexes[c->index][k]);
		/* The last put of a flushed index releases it. */
		relay_index_put(race_flush_indexes[c->index][k]);
	}
}

struct hierarchy {
	bool live;
	int variant;
	struct relay_session *s;
	struct ctf_trace *t;
	struct relay_stream *st[STREAMS];
	struct relay_viewer_stream *v[STREAMS];
	struct relay_viewer_session *vs;
	struct relay_connection *conn;
};

static uint64_t stream_handle(int c, int iter, int j, bool with_conn)
{
	if (with_conn)
		return CONN_HANDLE_BASE(c) + (uint64_t)iter * STREAMS + (uint64_t)j;
	return HANDLE_BASE(c) + (uint64_t)(iter % CYCLE) * STREAMS + (uint64_t)j;
}

static void build(struct creator *c, struct hierarchy *hi, int iter)
{
	struct relay_session *s;
	struct ctf_trace *t;
	int j;

	memset(hi, 0, sizeof(*hi));
	hi->variant = iter % 4;
	s = relay_session_create("stress", "host", 0, false, 2, 11);
	TCHECK(s != NULL);
	TCHECK(relay_session_get_id(s) >= first_session_id &&
	       relay_session_get_id(s) <= last_session_id);
	attach_payload(s, &c->attached);
	pthread_mutex_lock(&stats_lock);
	if (relay_session_get_id(s) > latest_session_id)
		latest_session_id = relay_session_get_id(s);
	pthread_mutex_unlock(&stats_lock);
	if (hi->variant == 3) {
		hi->conn = relay_connection_create(SOCK_BASE(c->index) + iter % CYCLE,
						   RELAY_CONTROL);
		TCHECK(hi->conn != NULL);
		attach_payload(hi->conn, &c->attached);
		TCHECK(relay_connection_table_add(shared_table, hi->conn) == 0);
		TCHECK(relay_connection_set_session(hi->conn, s) == 0);
	}
	t = relay_ctf_trace_get_by_path_or_create(s, "stress/trace");
	TCHECK(t != NULL);
	attach_payload(t, &c->attached);

	for (j = 0; j < STREAMS; j++) {
		struct relay_index *idx;
		uint64_t h = stream_handle(c->index, iter, j, hi->conn != NULL);

		hi->st[j] = relay_stream_create(t, h, "stress/trace",
						j == 0 ? "metadata" : "chan", 0, 0);
		TCHECK(hi->st[j] != NULL);
		attach_payload(hi->st[j], &c->attached);
		if (j % 2 == 0)
			TCHECK(relay_stream_publish(hi->st[j]) == 0);
		/* Borrowed under the stream's lock; its self reference is
		 * its only one, dropped when the stream closes. */
		TCHECK(relay_stream_lock(hi->st[j]) == 0);
		idx = relay_index_get_by_id_or_create(hi->st[j], (uint64_t)iter);
		TCHECK(idx != NULL);
		TCHECK(relay_index_get_ref_count(idx) == 1);
		TCHECK(relay_index_get_by_id_or_create(hi->st[j], (uint64_t)iter) == idx);
		attach_payload(idx, &c->attached);
		TCHECK(relay_stream_unlock(hi->st[j]) == 0);
		hi->v[j] = relay_viewer_stream_create(hi->st[j], (uint32_t)iter);
		TCHECK(hi->v[j] != NULL);
		attach_payload(hi->v[j], &c->attached);
	}
	/* A duplicate handle is refused while the stream is in the table. */
	TCHECK(relay_stream_create(t, stream_handle(c->index, iter, 0, hi->conn != NULL),
				   "dup", "chan", 0, 0) == NULL);
	c->dup_refused++;

	if (hi->variant == 1 || hi->variant == 2) {
		hi->vs = relay_viewer_session_create();
		TCHECK(hi->vs != NULL);
		TCHECK(relay_viewer_session_attach(hi->vs, s) == 0);
	}
	hi->s = s;
	hi->t = t;
	hi->live = true;
}

static void teardown(struct hierarchy *hi)
{
	int j;

	/* Viewer side. */
	if (hi->variant == 1) {
		TCHECK(relay_viewer_session_close(hi->vs) == 0);
	} else {
		for (j = 0; j < STREAMS; j++)
			TCHECK(relay_viewer_stream_close(hi->v[j]) == 0);
	}
	if (hi->vs)
		relay_viewer_session_destroy(hi->vs);

	/* Streams. */
	switch (hi->variant) {
	case 0:
		for (j = 0; j < STREAMS; j++)
			TCHECK(relay_stream_close(hi->st[j]) == 0);
		break;
	case 1:
		for (j = 0; j < STREAMS; j++) {
			TCHECK(relay_stream_set_last_net_seq_num(hi->st[j], 5) == 0);
			TCHECK(relay_stream_try_close(hi->st[j]) == 1);
			TCHECK(relay_stream_set_received_seq_num(hi->st[j], 5) == 0);
		}
		break;
	default:
		break; /* closed with their session */
	}
	relay_ctf_trace_put(hi->t);

	if (hi->conn)
		TCHECK(relay_connection_close(hi->conn) == 0);
	else
		TCHECK(relay_session_close(hi->s) == 0);
	hi->live = false;
}

static void *creator_main(void *arg)
{
	struct creator *c = arg;
	struct hierarchy ring[WINDOW];
	int iter, spin;

	memset(ring, 0, sizeof(ring));
	pthread_barrier_wait(&start_line);
	for (iter = 0; iter < ITERS; iter++) {
		struct hierarchy *hi = &ring[iter % WINDOW];

		if (hi->live)
			teardown(hi);
		build(c, hi, iter);
		c->hierarchies++;
		if (iter == ITERS / 2)
			race_phase(c);
		for (spin = (int)(next_rand(&c->seed) % 8); spin > 0; spin--)
			sched_yield();
	}
	for (iter = 0; iter < WINDOW; iter++)
		if (ring[iter].live)
			teardown(&ring[iter]);
	pthread_mutex_lock(&stats_lock);
	creators_running--;
	pthread_mutex_unlock(&stats_lock);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Readers.                                                                 */

struct reader {
	pthread_t thread;
	uint64_t seed;
	long lookups;
	long found_sessions, found_streams, found_vstreams, found_conns;
	long regets, refused_regets;
	uint64_t latest_id, latest_iter; /* refreshed at each batch */
};

static uint64_t random_handle(uint64_t *seed, uint64_t latest_iter)
{
	uint64_t r = next_rand(seed);
	int c = (int)(r % (CREATORS + 2));

	if (c == CREATORS) /* the contested range, and a little beyond */
		return RACE_HANDLE_BASE + (r >> 8) % (RACE + 4);
	if (c == CREATORS + 1) { /* near the latest connection-owned ones */
		uint64_t iter = latest_iter > 2 * WINDOW ? latest_iter - 2 * WINDOW : 0;

		iter += (r >> 8) % (3 * WINDOW);
		return CONN_HANDLE_BASE((r >> 40) % CREATORS) + iter * STREAMS +
		       (r >> 50) % STREAMS;
	}
	return HANDLE_BASE(c) + (r >> 8) % (CYCLE * STREAMS + 4);
}

static void lookup_once(struct reader *r, bool in_section)
{
	uint64_t x = next_rand(&r->seed);

	switch (x % 4) {
	case 0: {
		uint64_t id = r->latest_id + 4 - (x >> 8) % (CREATORS * WINDOW * 2);
		struct relay_session *s = relay_session_get_by_id(id);

		if (!s)
			break;
		r->found_sessions++;
		TCHECK(relay_session_get_id(s) == id);
		TCHECK(relay_session_get_ref_count(s) >= 1);
		TCHECK(relay_session_get_name(s) != NULL);
		relay_session_put(s);
		if (in_section) {
			/* Found in this section: still allocated, so a get
			 * is allowed, and either succeeds or is refused (the
			 * last put won), with one warning line. */
			if (relay_session_get(s)) {
				r->regets++;
				TCHECK(relay_session_get_id(s) == id);
				TCHECK(relay_session_get_ref_count(s) >= 1);
				relay_session_put(s);
			} else {
				r->refused_regets++;
			}
		}
		break;
	}
	case 1: {
		uint64_t h = random_handle(&r->seed, r->latest_iter);
		struct relay_stream *s = relay_stream_get_by_id(h);
		struct ctf_trace *t;

		if (!s)
			break;
		r->found_streams++;
		TCHECK(relay_stream_get_handle(s) == h);
		TCHECK(relay_stream_get_ref_count(s) >= 1);
		t = relay_stream_get_trace(s);
		TCHECK(t != NULL);
		TCHECK(relay_ctf_trace_get_ref_count(t) >= 1);
		TCHECK(relay_ctf_trace_get_session(t) != NULL);
		if (!in_section && (x >> 40) % 8 == 0) {
			/* Contend on the stream's lock with its creator. */
			TCHECK(relay_stream_lock(s) == 0);
			TCHECK(relay_stream_unlock(s) == 0);
		}
		relay_stream_put(s);
		if (in_section) {
			if (relay_stream_get(s)) {
				r->regets++;
				TCHECK(relay_stream_get_handle(s) == h);
				relay_stream_put(s);
			} else {
				r->refused_regets++;
			}
		}
		break;
	}
	case 2: {
		uint64_t h = random_handle(&r->seed, r->latest_iter);
		struct relay_viewer_stream *v = relay_viewer_stream_get_by_id(h);

		if (!v)
			break;
		r->found_vstreams++;
		TCHECK(relay_viewer_stream_get_ref_count(v) >= 1);
		TCHECK(relay_stream_get_handle(relay_viewer_stream_get_stream(v)) == h);
		TCHECK(relay_stream_get_ref_count(relay_viewer_stream_get_stream(v)) >= 1);
		relay_viewer_stream_put(v);
		break;
	}
	default: {
		int c = (int)((x >> 8) % CREATORS);
		int sock = SOCK_BASE(c) + (int)((x >> 16) % (CYCLE + 2));
		struct relay_connection *conn = relay_connection_get_by_sock(shared_table, sock);

		if (!conn)
			break;
		r->found_conns++;
		TCHECK(relay_connection_get_sock(conn) == sock);
		TCHECK(relay_connection_get_type(conn) == RELAY_CONTROL);
		TCHECK(relay_connection_get_ref_count(conn) >= 1);
		relay_connection_put(conn);
		break;
	}
	}
	r->lookups++;
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	long batch = 0;

	pthread_barrier_wait(&start_line);
	while (r->lookups < MAX_LOOKUPS && (r->lookups < MIN_LOOKUPS || !creators_done())) {
		bool in_section = batch++ % 2 == 0;
		int i;

		pthread_mutex_lock(&stats_lock);
		r->latest_id = latest_session_id;
		pthread_mutex_unlock(&stats_lock);
		r->latest_iter = (r->latest_id - first_session_id) / CREATORS;

		if (in_section)
			traceref_read_lock();
		for (i = 0; i < BATCH; i++)
			lookup_once(r, in_section);
		if (in_section)
			traceref_read_unlock();
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Walker.                                                                  */

struct walker {
	pthread_t thread;
	long walks, sessions, streams;
};

static int visit_stream(struct relay_stream *stream, void *data)
{
	struct relay_session *session = data;
	uint64_t h = relay_stream_get_handle(stream);

	TCHECK(relay_stream_get_ref_count(stream) >= 1);
	TCHECK(h != UINT64_MAX);
	TCHECK(relay_ctf_trace_get_session(relay_stream_get_trace(stream)) == session);
	return 0;
}

static int visit_session(struct relay_session *session, void *data)
{
	struct walker *w = data;
	uint64_t id = relay_session_get_id(session);
	int n;

	TCHECK(relay_session_get_ref_count(session) >= 1);
	TCHECK(id >= first_session_id && id <= last_session_id);
	/* Not the streams of the race session: the main thread checks their
	 * exact counts while the walker runs, and a visit holds a reference. */
	n = session == race_session ? 0
				    : relay_session_for_each_stream(session, visit_stream, session);
	TCHECK(n >= 0);
	w->sessions++;
	w->streams += n;
	return 0;
}

static void *walker_main(void *arg)
{
	struct walker *w = arg;

	pthread_barrier_wait(&start_line);
	while (w->walks < WALKS_MAX && !creators_done()) {
		TCHECK(relay_sessions_for_each(visit_session, w) >= 0);
		w->walks++;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Duplicate handles against session aborts.                                */

static struct ctf_trace *dup_trace;        /* of the aborted session */
static struct relay_session *dup_session;
static pthread_mutex_t dup_lock = PTHREAD_MUTEX_INITIALIZER;
static bool dup_done;

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - since->tv_sec) * 1000 +
	       (now.tv_nsec - since->tv_nsec) / 1000000;
}

struct duplicator {
	long rounds, accepted;
};

static void *duplicator_main(void *arg)
{
	struct duplicator *d = arg;
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (d->rounds < DUP_MAX_ROUNDS &&
	       (d->rounds < DUP_MIN_ROUNDS || elapsed_ms(&start) < DUP_MIN_MS)) {
		struct relay_stream *st =
			relay_stream_create(dup_trace, DUP_HANDLE, "dup", "chan", 0, 0);

		d->rounds++;
		if (st) {
			d->accepted++;
			relay_stream_close(st);
		}
	}
	pthread_mutex_lock(&dup_lock);
	dup_done = true;
	pthread_mutex_unlock(&dup_lock);
	return NULL;
}

/* Streams made and closed in another session meanwhile: the stream table's
 * writers contend with the refused creations. */
static struct ctf_trace *churn_trace;

static void *churner_main(void *arg)
{
	long *made = arg;
	bool done = false;
	uint64_t h = DUP_HANDLE + 1;

	while (!done) {
		struct relay_stream *st =
			relay_stream_create(churn_trace, h++, "churn", "chan", 0, 0);

		TCHECK(st != NULL);
		TCHECK(relay_stream_close(st) == 0);
		++*made;
		pthread_mutex_lock(&dup_lock);
		done = dup_done;
		pthread_mutex_unlock(&dup_lock);
	}
	return NULL;
}

/* Walks the aborted session's streams and looks the handle up meanwhile:
 * the session never has a stream, and the handle is always the holder's. */
static struct relay_stream *dup_holder;

struct watcher {
	long walks, visits;
};

static int count_visit(struct relay_stream *stream, void *data)
{
	(void)stream;
	++*(long *)data;
	return 0;
}

static void *watcher_main(void *arg)
{
	struct watcher *w = arg;
	bool done = false;

	while (!done) {
		struct relay_stream *found;

		TCHECK(relay_session_for_each_stream(dup_session, count_visit, &w->visits) >= 0);
		found = relay_stream_get_by_id(DUP_HANDLE);
		TCHECK(found == dup_holder);
		relay_stream_put(found);
		w->walks++;
		pthread_mutex_lock(&dup_lock);
		done = dup_done;
		pthread_mutex_unlock(&dup_lock);
	}
	return NULL;
}

static void *aborter_main(void *arg)
{
	long *aborts = arg;
	bool done = false;

	while (!done) {
		TCHECK(relay_session_abort(dup_session) == 0);
		++*aborts;
		pthread_mutex_lock(&dup_lock);
		done = dup_done;
		pthread_mutex_unlock(&dup_lock);
	}
	return NULL;
}

static long duplicates_against_abort(void)
{
	const size_t start = traceref_live_objects();
	struct relay_session *owner;
	struct ctf_trace *owner_trace;
	struct relay_stream *holder, *found;
	pthread_t dup_thread, abort_thread, churn_thread, watch_thread;
	struct duplicator d = { 0, 0 };
	struct watcher w = { 0, 0 };
	long aborts = 0, churned = 0;

	/* The handle is held by a stream of another session. */
	owner = relay_session_create("dup-owner", "host", 0, false, 2, 11);
	owner_trace = relay_ctf_trace_get_by_path_or_create(owner, "dup");
	holder = relay_stream_create(owner_trace, DUP_HANDLE, "dup", "chan", 0, 0);
	CHECK(owner && owner_trace && holder);
	dup_session = relay_session_create("dup-victim", "host", 0, false, 2, 11);
	dup_trace = relay_ctf_trace_get_by_path_or_create(dup_session, "dup");
	CHECK(dup_session && dup_trace);

	churn_trace = owner_trace;
	dup_holder = holder;
	CHECK(pthread_create(&churn_thread, NULL, churner_main, &churned) == 0);
	CHECK(pthread_create(&watch_thread, NULL, watcher_main, &w) == 0);
	CHECK(pthread_create(&dup_thread, NULL, duplicator_main, &d) == 0);
	CHECK(pthread_create(&abort_thread, NULL, aborter_main, &aborts) == 0);
	CHECK(pthread_join(dup_thread, NULL) == 0);
	CHECK(pthread_join(abort_thread, NULL) == 0);
	CHECK(pthread_join(churn_thread, NULL) == 0);
	CHECK(pthread_join(watch_thread, NULL) == 0);
	CHECK(churned > 0);
	CHECK(w.walks > 0);
	CHECK_EQ_LONG(w.visits, 0);

	CHECK_EQ_LONG(d.accepted, 0);
	found = relay_stream_get_by_id(DUP_HANDLE);
	CHECK_EQ_PTR(found, holder);
	relay_stream_put(found);
	CHECK(!relay_stream_is_closed(holder));
	CHECK_EQ_LONG(relay_stream_get_ref_count(holder), 1);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(dup_trace), 1);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(owner_trace), 2);
	relay_ctf_trace_put(dup_trace);
	CHECK_EQ_LONG(relay_session_close(dup_session), 0);
	CHECK_EQ_LONG(relay_stream_close(holder), 0);
	relay_ctf_trace_put(owner_trace);
	CHECK_EQ_LONG(relay_session_close(owner), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("%ld duplicate handles refused while the session was aborted %ld times "
		 "and %ld other streams came and went", d.rounds, aborts, churned);
	CHECK_OK("%ld walks of that session's streams never saw a refused stream", w.walks);
	return d.rounds;
}

/* ------------------------------------------------------------------------ */
/* The warnings this test expects (stderr is captured for the whole run).   */

enum { DUPLICATE_REFUSED, GET_REFUSED, EXPECTED_KINDS };

static int classify(const char *line)
{
	if (strstr(line, "relay_stream_create: stream ") &&
	    strstr(line, " not created: DuplicateHandle"))
		return DUPLICATE_REFUSED;
	if ((strstr(line, "relay_session_get: session ") ||
	     strstr(line, "relay_stream_get: stream ")) &&
	    strstr(line, ": get on a reference count of zero; refused"))
		return GET_REFUSED;
	return -1;
}

int main(void)
{
	struct creator creators[CREATORS];
	struct reader readers[READERS];
	struct walker walker;
	struct relay_session *probe;
	size_t start;
	long attached = 0, lookups = 0, found = 0, regets = 0, refused_regets = 0;
	long destroyed, dup_rounds;
	long main_attached = 0;
	int i, k;

	/* Warnings on, captured: only the expected refusals may appear. */
	setenv("TRACEREF_LOG", "warn", 1);
	capture_begin();
	start = traceref_live_objects();

	/* The session ids this test will see: after the probe's, and no more
	 * than the sessions made here. */
	probe = relay_session_create("probe", "host", 0, false, 2, 11);
	CHECK(probe != NULL);
	first_session_id = relay_session_get_id(probe);
	latest_session_id = first_session_id;
	CHECK_EQ_LONG(relay_session_close(probe), 0);
	race_session = relay_session_create("race", "host", 0, false, 2, 11);
	CHECK(race_session != NULL);
	{
		struct ctf_trace *t = relay_ctf_trace_get_by_path_or_create(race_session,
									    "race/indexes");

		CHECK(t != NULL);
		race_index_stream = relay_stream_create(t, RACE_HANDLE_BASE + RACE + 100,
							"race/indexes", "chan", 0, 0);
		CHECK(race_index_stream != NULL);
		race_flush_stream = relay_stream_create(t, RACE_HANDLE_BASE + RACE + 101,
							"race/indexes", "chan", 0, 0);
		CHECK(race_flush_stream != NULL);
		/* The data of every contested seq is there: its index can be
		 * flushed as soon as it exists. */
		CHECK_EQ_LONG(relay_stream_set_received_seq_num(race_flush_stream, RACE), 0);
		relay_ctf_trace_put(t);
	}
	last_session_id = relay_session_get_id(race_session) + CREATORS * ITERS;
	shared_table = relay_connection_table_create();
	CHECK(shared_table != NULL);

	CHECK(pthread_barrier_init(&start_line, NULL, CREATORS + READERS + 1) == 0);
	CHECK(pthread_barrier_init(&race_line, NULL, CREATORS + 1) == 0);
	creators_running = CREATORS;

	for (i = 0; i < CREATORS; i++) {
		memset(&creators[i], 0, sizeof(creators[i]));
		creators[i].index = i;
		creators[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
		CHECK(pthread_create(&creators[i].thread, NULL, creator_main, &creators[i]) == 0);
	}
	for (i = 0; i < READERS; i++) {
		memset(&readers[i], 0, sizeof(readers[i]));
		readers[i].seed = 0xD1B54A32D192ED03ull * (uint64_t)(i + 7);
		CHECK(pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]) == 0);
	}
	memset(&walker, 0, sizeof(walker));
	CHECK(pthread_create(&walker.thread, NULL, walker_main, &walker) == 0);

	/* The race: every creator tried every contested handle and path. */
	pthread_barrier_wait(&race_line);
	pthread_barrier_wait(&race_line);
	for (k = 0; k < RACE; k++) {
		int winners = 0;

		for (i = 0; i < CREATORS; i++) {
			if (race_streams[i][k]) {
				winners++;
				CHECK_EQ_LONG(relay_stream_get_handle(race_streams[i][k]),
					      RACE_HANDLE_BASE + (uint64_t)k);
			}
			CHECK_EQ_PTR(race_traces[i][k], race_traces[0][k]);
		}
		CHECK_EQ_LONG(winners, 1);
		for (i = 0; i < CREATORS; i++) {
			CHECK_EQ_PTR(race_indexes[i][k], race_indexes[0][k]);
			CHECK_EQ_PTR(race_flush_indexes[i][k], race_flush_indexes[0][k]);
		}
		/* its self reference and every creator's relay_index_get() */
		CHECK_EQ_LONG(relay_index_get_ref_count(race_indexes[0][k]), CREATORS + 1);
		CHECK_EQ_LONG(relay_index_get_net_seq_num(race_indexes[0][k]), k);
		CHECK_EQ_LONG(relay_index_get_ref_count(race_flush_indexes[0][k]), CREATORS + 1);
		/* every creator's reference and the winning stream's */
		CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(race_traces[0][k]), CREATORS + 1);
		/* A payload on each index to be flushed, to see it reclaimed. */
		CHECK(relay_index_get(race_flush_indexes[0][k]));
		attach_payload(race_flush_indexes[0][k], &main_attached);
		relay_index_put(race_flush_indexes[0][k]);
	}
	CHECK_EQ_LONG(relay_stream_get_ref_count(race_flush_stream), 1 + RACE);
	pthread_barrier_wait(&race_line);
	CHECK_OK("%d contested handles: exactly one creator won each; racing creators "
		 "got the same trace for each path and the same index for each seq", RACE);
	pthread_barrier_wait(&race_line); /* every creator tried every flush */
	for (k = 0; k < RACE; k++) {
		int flushed = 0;

		for (i = 0; i < CREATORS; i++) {
			if (race_flush_results[i][k] == 0)
				flushed++;
			else
				CHECK_EQ_LONG(race_flush_results[i][k], 1);
		}
		CHECK_EQ_LONG(flushed, 1);
		/* the self reference is gone; every creator's is left */
		CHECK_EQ_LONG(relay_index_get_ref_count(race_flush_indexes[0][k]), CREATORS);
	}
	/* The flushed indexes left their stream; they still hold it. */
	CHECK_EQ_LONG(relay_stream_get_ref_count(race_flush_stream), 1 + RACE);
	CHECK_EQ_LONG(relay_stream_lock(race_flush_stream), 0);
	for (k = 0; k < RACE; k++) {
		struct relay_index *fresh =
			relay_index_get_by_id_or_create(race_flush_stream, (uint64_t)k);

		CHECK(fresh != NULL && fresh != race_flush_indexes[0][k]);
		CHECK_EQ_LONG(relay_index_get_ref_count(fresh), 1);
		/* Ready at once, and no one else holds it: flushed, released. */
		CHECK_EQ_LONG(relay_index_try_flush(fresh), 0);
	}
	CHECK_EQ_LONG(relay_stream_unlock(race_flush_stream), 0);
	CHECK_EQ_LONG(relay_stream_get_ref_count(race_flush_stream), 1 + RACE);
	pthread_barrier_wait(&race_line);
	CHECK_OK("%d racing flushes: exactly one returned 0 for each index, the others 1", RACE);

	for (i = 0; i < CREATORS; i++)
		CHECK(pthread_join(creators[i].thread, NULL) == 0);
	for (i = 0; i < READERS; i++)
		CHECK(pthread_join(readers[i].thread, NULL) == 0);
	CHECK(pthread_join(walker.thread, NULL) == 0);

	attached = main_attached;
	for (i = 0; i < CREATORS; i++) {
		CHECK_EQ_LONG(creators[i].hierarchies, ITERS);
		CHECK_EQ_LONG(creators[i].dup_refused, ITERS);
		attached += creators[i].attached;
	}
	for (i = 0; i < READERS; i++) {
		lookups += readers[i].lookups;
		regets += readers[i].regets;
		refused_regets += readers[i].refused_regets;
		found += readers[i].found_sessions + readers[i].found_streams +
			 readers[i].found_vstreams + readers[i].found_conns;
	}
	CHECK(lookups >= READERS * MIN_LOOKUPS);
	CHECK_OK("%d creators made %d hierarchies; %ld lookups found %ld live objects "
		 "(%ld gets in read-side sections, %ld refused at 0); %ld walks saw "
		 "%ld sessions, %ld streams",
		 CREATORS, CREATORS * ITERS, lookups, found, regets, refused_regets, walker.walks,
		 walker.sessions, walker.streams);

	CHECK_EQ_LONG(relay_stream_get_ref_count(race_index_stream), 1 + RACE);
	/* Flushed, then put by every creator: the flushed indexes are gone. */
	CHECK_EQ_LONG(relay_stream_get_ref_count(race_flush_stream), 1);
	CHECK_EQ_LONG(relay_session_close(race_session), 0); /* closes the indexes */
	CHECK_EQ_LONG(relay_connection_table_destroy(shared_table), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	pthread_mutex_lock(&stats_lock);
	destroyed = payloads_destroyed;
	pthread_mutex_unlock(&stats_lock);
	CHECK_EQ_LONG(destroyed, attached);
	CHECK_OK("census back to its start; %ld payload destructors ran, one per payload",
		 destroyed);

	dup_rounds = duplicates_against_abort();

	{
		long seen[EXPECTED_KINDS], others;
		/* each creator's own duplicate per hierarchy, the race losers,
		 * and every round of the abort phase */
		const long expected = CREATORS * ITERS + (CREATORS - 1) * RACE + dup_rounds;

		others = capture_end(classify, seen, EXPECTED_KINDS);
		CHECK_EQ_LONG(others, 0);
		CHECK_EQ_LONG(seen[DUPLICATE_REFUSED], expected);
		CHECK_EQ_LONG(seen[GET_REFUSED], refused_regets);
		CHECK_OK("the only warnings were the %ld refusals of duplicate handles and "
			 "one per get refused at 0 (%ld)", seen[DUPLICATE_REFUSED],
			 seen[GET_REFUSED]);
	}

	pthread_barrier_destroy(&start_line);
	pthread_barrier_destroy(&race_line);
	CHECK_DONE("relay_stress");
	return 0;
}
