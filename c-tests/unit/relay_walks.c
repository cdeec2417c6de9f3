/*
 * The walks over the relay model's containers, with every object embedded
 * in this program's own structs (the library's part first, then fields of
 * ours that the checks read back through the pointers the walks hand out):
 *
 *   - relay_session_for_each_ctf_trace(): the traces of the session, not
 *     another session's; a trace whose last reference an earlier visit put
 *     is not visited;
 *   - relay_ctf_trace_for_each_stream(): the published streams of the
 *     trace, not an unpublished or a closed one; one closed by an earlier
 *     visit is not visited;
 *   - relay_session_for_each_viewer_stream(): the viewer streams of the
 *     session's streams, published or not, closed or not, not a closed
 *     viewer stream nor another session's;
 *   - relay_viewer_session_for_each_session(): the attached sessions;
 *   - relay_connection_table_for_each(): the connections of the table, not
 *     a closed one nor one outside the table;
 *   - each walk: every visit holds a reference on what it visits (its count
 *     one above the program's own), the walk stops when the visitor returns
 *     non-zero and returns the number of visits, NULL arguments give -1 and
 *     one warning line naming the function;
 *   - relay_viewer_session_close_one_session(): the viewer streams of that
 *     session are closed, those of the other attached sessions are not; the
 *     session is detached (its attach reference put), the others stay
 *     attached; nothing is printed, even with the session's lock held; a
 *     second call returns -1 and closes nothing.
 *
 * At the end, after traceref_reclaim_barrier(), every struct the library
 * took was freed once by its kind's free function, and the census is back
 * to its start.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traceref.h"
#include "check.h"
#include "capture.h"

#define MAGIC 0x3A1C5EE5u
#define FREED 0xDEADu

/* ------------------------------------------------------------------------ */
/* Our structs.                                                             */

struct relay_session {
	struct relay_session_base base;
	uint32_t magic;
	char name[32];
};
TRACEREF_ASSERT_FIRST(struct relay_session, base);

struct ctf_trace {
	struct ctf_trace_base base;
	uint32_t magic;
	struct relay_session *session;
};
TRACEREF_ASSERT_FIRST(struct ctf_trace, base);

struct relay_stream {
	struct relay_stream_base base;
	uint32_t magic;
	uint64_t handle;
	struct ctf_trace *trace;
};
TRACEREF_ASSERT_FIRST(struct relay_stream, base);

struct relay_viewer_stream {
	struct relay_viewer_stream_base base;
	uint32_t magic;
	struct relay_stream *stream;
};
TRACEREF_ASSERT_FIRST(struct relay_viewer_stream, base);

struct relay_viewer_session {
	struct relay_viewer_session_base base;
	uint32_t magic;
};
TRACEREF_ASSERT_FIRST(struct relay_viewer_session, base);

struct relay_connection {
	struct relay_connection_base base;
	uint32_t magic;
	int sock;
};
TRACEREF_ASSERT_FIRST(struct relay_connection, base);

enum kind { K_SESSION, K_TRACE, K_STREAM, K_VSTREAM, K_VSESSION, K_CONN, K_COUNT };

static pthread_mutex_t tally_mutex = PTHREAD_MUTEX_INITIALIZER;
static long taken[K_COUNT], freed[K_COUNT], bad_frees;

static void count_free(enum kind k, uint32_t *magic)
{
	pthread_mutex_lock(&tally_mutex);
	if (*magic == MAGIC)
		freed[k]++;
	else
		bad_frees++;
	*magic = FREED;
	pthread_mutex_unlock(&tally_mutex);
}

static void count_taken(enum kind k)
{
	pthread_mutex_lock(&tally_mutex);
	taken[k]++;
	pthread_mutex_unlock(&tally_mutex);
}

static void free_session(struct relay_session *s)
{
	count_free(K_SESSION, &s->magic);
	free(s);
}

static void free_trace(struct ctf_trace *t)
{
	count_free(K_TRACE, &t->magic);
	free(t);
}

static void free_stream(struct relay_stream *s)
{
	count_free(K_STREAM, &s->magic);
	free(s);
}

static void free_vstream(struct relay_viewer_stream *v)
{
	count_free(K_VSTREAM, &v->magic);
	free(v);
}

static void free_vsession(struct relay_viewer_session *v)
{
	count_free(K_VSESSION, &v->magic);
	free(v);
}

static void free_conn(struct relay_connection *c)
{
	count_free(K_CONN, &c->magic);
	free(c);
}

static struct relay_session *new_session(const char *name)
{
	struct relay_session *s = calloc(1, sizeof(*s));

	CHECK(s != NULL);
	s->magic = MAGIC;
	snprintf(s->name, sizeof(s->name), "%s", name);
	CHECK_EQ_LONG(relay_session_init(s, free_session, name, "host-w", 0, false, 2, 11), 0);
	count_taken(K_SESSION);
	return s;
}

/* The trace of `s` at `path`, ours, with a reference for the caller. */
static struct ctf_trace *new_trace(struct relay_session *s, const char *path)
{
	struct ctf_trace *fresh = calloc(1, sizeof(*fresh)), *t;

	CHECK(fresh != NULL);
	fresh->magic = MAGIC;
	fresh->session = s;
	t = relay_ctf_trace_get_by_path_or_init(s, path, fresh, free_trace);
	CHECK_EQ_PTR(t, fresh);
	count_taken(K_TRACE);
	return t;
}

static struct relay_stream *new_stream(struct ctf_trace *t, uint64_t handle, bool publish)
{
	struct relay_stream *s = calloc(1, sizeof(*s));

	CHECK(s != NULL);
	s->magic = MAGIC;
	s->handle = handle;
	s->trace = t;
	CHECK_EQ_LONG(relay_stream_init(s, free_stream, t, handle, "p", "chan", 0, 0), 0);
	count_taken(K_STREAM);
	if (publish)
		CHECK_EQ_LONG(relay_stream_publish(s), 0);
	return s;
}

static struct relay_viewer_stream *new_vstream(struct relay_stream *st)
{
	struct relay_viewer_stream *v = calloc(1, sizeof(*v));

	CHECK(v != NULL);
	v->magic = MAGIC;
	v->stream = st;
	CHECK_EQ_LONG(relay_viewer_stream_init(v, free_vstream, st, 0), 0);
	count_taken(K_VSTREAM);
	return v;
}

static struct relay_viewer_session *new_vsession(void)
{
	struct relay_viewer_session *v = calloc(1, sizeof(*v));

	CHECK(v != NULL);
	v->magic = MAGIC;
	CHECK_EQ_LONG(relay_viewer_session_init(v, free_vsession), 0);
	count_taken(K_VSESSION);
	return v;
}

static struct relay_connection *new_conn(int sock)
{
	struct relay_connection *c = calloc(1, sizeof(*c));

	CHECK(c != NULL);
	c->magic = MAGIC;
	c->sock = sock;
	CHECK_EQ_LONG(relay_connection_init(c, free_conn, sock, RELAY_DATA), 0);
	count_taken(K_CONN);
	return c;
}

/* ------------------------------------------------------------------------ */
/* What the visitors saw.                                                   */

#define MAX_SEEN 16

struct seen {
	void *objs[MAX_SEEN];
	long counts[MAX_SEEN]; /* the object's count during its visit */
	int n;
	int stop_at;  /* return non-zero at this visit (1-based); 0: never */
	int odd;      /* visits of a struct that is not ours, or not where it
		       * should be */
	void *parent; /* where every visited object must belong */
	/* Called at the first visit, with the visited object. */
	void (*first)(struct seen *w, void *obj);
	void *ctx[MAX_SEEN];
};

static void seen_reset(struct seen *w, void *parent)
{
	memset(w, 0, sizeof(*w));
	w->parent = parent;
}

static int seen_add(struct seen *w, void *obj, long count, bool ours)
{
	if (!ours)
		w->odd++;
	if (w->n < MAX_SEEN) {
		w->objs[w->n] = obj;
		w->counts[w->n] = count;
	}
	w->n++;
	if (w->n == 1 && w->first)
		w->first(w, obj);
	return w->n == w->stop_at;
}

static bool seen_has(const struct seen *w, const void *obj)
{
	int i;

	for (i = 0; i < w->n && i < MAX_SEEN; i++)
		if (w->objs[i] == obj)
			return true;
	return false;
}

/* Every count read during a visit is `c`. */
static bool seen_counts_are(const struct seen *w, long c)
{
	int i;

	for (i = 0; i < w->n && i < MAX_SEEN; i++)
		if (w->counts[i] != c)
			return false;
	return true;
}

static int visit_trace(struct ctf_trace *t, void *data)
{
	struct seen *w = data;

	return seen_add(w, t, relay_ctf_trace_get_ref_count(t),
			t->magic == MAGIC && (void *)t->session == w->parent);
}

static int visit_stream(struct relay_stream *s, void *data)
{
	struct seen *w = data;

	return seen_add(w, s, relay_stream_get_ref_count(s),
			s->magic == MAGIC && (void *)s->trace == w->parent &&
				relay_stream_is_published(s));
}

static int visit_vstream(struct relay_viewer_stream *v, void *data)
{
	struct seen *w = data;

	return seen_add(w, v, relay_viewer_stream_get_ref_count(v),
			v->magic == MAGIC && v->stream->magic == MAGIC &&
				(void *)v->stream->trace->session == w->parent);
}

static int visit_session(struct relay_session *s, void *data)
{
	struct seen *w = data;

	return seen_add(w, s, relay_session_get_ref_count(s),
			s->magic == MAGIC &&
				relay_viewer_session_is_attached(w->parent, s));
}

static int visit_conn(struct relay_connection *c, void *data)
{
	struct seen *w = data;

	return seen_add(w, c, relay_connection_get_ref_count(c),
			c->magic == MAGIC && relay_connection_get_sock(c) == c->sock);
}

/* Each call of `call` (a statement) prints exactly one line naming `fn`. */
#define ONE_WARNING(fn, call)                                             \
	do {                                                              \
		struct capture cap_;                                      \
		capture_scope_begin(&cap_);                               \
		call;                                                     \
		CHECK_EQ_LONG(capture_scope_end(&cap_), 1);               \
		CHECK(strstr(cap_.text, fn) != NULL);                     \
	} while (0)

/* ------------------------------------------------------------------------ */
/* The traces of a session.                                                 */

static struct ctf_trace *doomed[4];

/* At the first visit: put the program's reference on every other trace,
 * their last. */
static void put_other_traces(struct seen *w, void *obj)
{
	int i;

	(void)w;
	for (i = 0; i < 4; i++) {
		if (doomed[i] != obj) {
			relay_ctf_trace_put(doomed[i]);
			doomed[i] = NULL;
		}
	}
}

static void traces_walk(void)
{
	const size_t start = traceref_live_objects();
	struct relay_session *s = new_session("walk-t"), *o = new_session("walk-t-other");
	struct ctf_trace *t[3], *other, *kept = NULL;
	struct seen w;
	int i;

	t[0] = new_trace(s, "host-w/walk-t/ust");
	t[1] = new_trace(s, "host-w/walk-t/kernel");
	t[2] = new_trace(s, "host-w/walk-t/ust/pid");
	other = new_trace(o, "host-w/walk-t-other/ust");

	seen_reset(&w, s);
	CHECK_EQ_LONG(relay_session_for_each_ctf_trace(s, visit_trace, &w), 3);
	CHECK_EQ_LONG(w.n, 3);
	CHECK_EQ_LONG(w.odd, 0);
	for (i = 0; i < 3; i++)
		CHECK(seen_has(&w, t[i]));
	CHECK(!seen_has(&w, other));
	CHECK(seen_counts_are(&w, 2)); /* ours and the walk's */
	for (i = 0; i < 3; i++)
		CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t[i]), 1);
	seen_reset(&w, o);
	CHECK_EQ_LONG(relay_session_for_each_ctf_trace(o, visit_trace, &w), 1);
	CHECK_EQ_PTR(w.objs[0], other);
	CHECK_EQ_LONG(w.odd, 0);

	seen_reset(&w, s);
	w.stop_at = 2;
	CHECK_EQ_LONG(relay_session_for_each_ctf_trace(s, visit_trace, &w), 2);
	CHECK_EQ_LONG(w.n, 2);
	CHECK_OK("relay_session_for_each_ctf_trace: the session's traces, each held, "
		 "stopping on non-zero");

	/* A fourth trace; the first visit puts the last reference of the
	 * others, which are then not visited. */
	doomed[0] = t[0];
	doomed[1] = t[1];
	doomed[2] = t[2];
	doomed[3] = new_trace(s, "host-w/walk-t/extra");
	seen_reset(&w, s);
	w.first = put_other_traces;
	CHECK_EQ_LONG(relay_session_for_each_ctf_trace(s, visit_trace, &w), 1);
	CHECK_EQ_LONG(w.n, 1);
	for (i = 0; i < 4; i++)
		if (doomed[i])
			kept = doomed[i];
	CHECK_EQ_PTR(w.objs[0], kept);
	seen_reset(&w, s);
	CHECK_EQ_LONG(relay_session_for_each_ctf_trace(s, visit_trace, &w), 1);
	CHECK_EQ_PTR(w.objs[0], kept);
	CHECK_OK("relay_session_for_each_ctf_trace: a trace released by an earlier visit "
		 "is not visited");

	ONE_WARNING("relay_session_for_each_ctf_trace",
		    CHECK_EQ_LONG(relay_session_for_each_ctf_trace(NULL, visit_trace, &w), -1));
	ONE_WARNING("relay_session_for_each_ctf_trace",
		    CHECK_EQ_LONG(relay_session_for_each_ctf_trace(s, NULL, &w), -1));
	CHECK_EQ_LONG(w.n, 1);

	relay_ctf_trace_put(kept);
	relay_ctf_trace_put(other);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(relay_session_close(o), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("relay_session_for_each_ctf_trace: NULL gives -1");
}

/* ------------------------------------------------------------------------ */
/* The published streams of a trace.                                        */

static struct relay_stream *closable[3];

static void close_other_streams(struct seen *w, void *obj)
{
	int i;

	(void)w;
	for (i = 0; i < 3; i++)
		if (closable[i] != obj)
			TCHECK(relay_stream_close(closable[i]) == 0);
}

static void streams_walk(void)
{
	const size_t start = traceref_live_objects();
	struct relay_session *s = new_session("walk-s");
	struct ctf_trace *t = new_trace(s, "host-w/walk-s/ust");
	struct ctf_trace *t2 = new_trace(s, "host-w/walk-s/kernel");
	struct relay_stream *pub[3], *unpub, *closed, *elsewhere, *survivor = NULL;
	struct seen w;
	int i;

	for (i = 0; i < 3; i++)
		pub[i] = new_stream(t, 0x3A2000u + (uint64_t)i, true);
	unpub = new_stream(t, 0x3A2010u, false);
	closed = new_stream(t, 0x3A2011u, true);
	elsewhere = new_stream(t2, 0x3A2012u, true);
	CHECK_EQ_LONG(relay_stream_close(closed), 0);

	seen_reset(&w, t);
	CHECK_EQ_LONG(relay_ctf_trace_for_each_stream(t, visit_stream, &w), 3);
	CHECK_EQ_LONG(w.n, 3);
	CHECK_EQ_LONG(w.odd, 0);
	for (i = 0; i < 3; i++)
		CHECK(seen_has(&w, pub[i]));
	CHECK(!seen_has(&w, unpub) && !seen_has(&w, elsewhere));
	CHECK(seen_counts_are(&w, 2)); /* the owner's and the walk's */
	seen_reset(&w, t2);
	CHECK_EQ_LONG(relay_ctf_trace_for_each_stream(t2, visit_stream, &w), 1);
	CHECK_EQ_PTR(w.objs[0], elsewhere);
	seen_reset(&w, t);
	w.stop_at = 1;
	CHECK_EQ_LONG(relay_ctf_trace_for_each_stream(t, visit_stream, &w), 1);
	CHECK_OK("relay_ctf_trace_for_each_stream: the trace's published streams, not an "
		 "unpublished or closed one, each held, stopping on non-zero");

	/* Published once its walk is over: the unpublished one joins. */
	CHECK_EQ_LONG(relay_stream_publish(unpub), 0);
	seen_reset(&w, t);
	CHECK_EQ_LONG(relay_ctf_trace_for_each_stream(t, visit_stream, &w), 4);

	/* Closed before the walk (the one just published), or by the first
	 * visit (the other two of pub[]): not visited. */
	CHECK_EQ_LONG(relay_stream_close(unpub), 0);
	for (i = 0; i < 3; i++)
		closable[i] = pub[i];
	seen_reset(&w, t);
	w.first = close_other_streams;
	CHECK_EQ_LONG(relay_ctf_trace_for_each_stream(t, visit_stream, &w), 1);
	for (i = 0; i < 3; i++)
		if (pub[i] == w.objs[0])
			survivor = pub[i];
	CHECK(survivor != NULL);
	CHECK(!relay_stream_is_closed(survivor));
	seen_reset(&w, t);
	CHECK_EQ_LONG(relay_ctf_trace_for_each_stream(t, visit_stream, &w), 1);
	CHECK_EQ_PTR(w.objs[0], survivor);
	CHECK_OK("relay_ctf_trace_for_each_stream: a stream closed by an earlier visit is "
		 "not visited");

	ONE_WARNING("relay_ctf_trace_for_each_stream",
		    CHECK_EQ_LONG(relay_ctf_trace_for_each_stream(NULL, visit_stream, &w), -1));
	ONE_WARNING("relay_ctf_trace_for_each_stream",
		    CHECK_EQ_LONG(relay_ctf_trace_for_each_stream(t, NULL, &w), -1));

	CHECK_EQ_LONG(relay_stream_close(survivor), 0);
	CHECK_EQ_LONG(relay_stream_close(elsewhere), 0);
	relay_ctf_trace_put(t);
	relay_ctf_trace_put(t2);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("relay_ctf_trace_for_each_stream: NULL gives -1");
}

/* ------------------------------------------------------------------------ */
/* The viewer streams of a session, the sessions of a viewer session, and  */
/* closing one session of a viewer session.                                 */

#define NSESS 3
#define PER 3

struct live {
	struct relay_session *s[NSESS];
	struct ctf_trace *t[NSESS];
	struct relay_stream *st[NSESS][PER];
	struct relay_viewer_stream *v[NSESS][PER];
};

/* Session i: stream 0 published, 1 unpublished, 2 published and closed
 * (its viewer stream still open: a viewer reading its tail). The program
 * keeps a reference of its own on every viewer stream. */
static void live_make(struct live *l)
{
	int i, j;
	char name[32], path[64];

	for (i = 0; i < NSESS; i++) {
		snprintf(name, sizeof(name), "walk-v%d", i);
		snprintf(path, sizeof(path), "host-w/walk-v%d/ust", i);
		l->s[i] = new_session(name);
		l->t[i] = new_trace(l->s[i], path);
		for (j = 0; j < PER; j++) {
			l->st[i][j] = new_stream(l->t[i], 0x3A3000u + (uint64_t)(i * 16 + j), j != 1);
			l->v[i][j] = new_vstream(l->st[i][j]);
			CHECK(relay_viewer_stream_get(l->v[i][j]));
		}
		CHECK_EQ_LONG(relay_stream_close(l->st[i][2]), 0);
	}
}

static void viewer_streams_walk(void)
{
	const size_t start = traceref_live_objects();
	struct live l;
	struct seen w;
	int i, j;

	live_make(&l);
	for (i = 0; i < NSESS; i++) {
		seen_reset(&w, l.s[i]);
		CHECK_EQ_LONG(relay_session_for_each_viewer_stream(l.s[i], visit_vstream, &w), PER);
		CHECK_EQ_LONG(w.odd, 0);
		for (j = 0; j < PER; j++)
			CHECK(seen_has(&w, l.v[i][j]));
		CHECK(seen_counts_are(&w, 3)); /* the owner's, ours and the walk's */
	}
	seen_reset(&w, l.s[0]);
	w.stop_at = 2;
	CHECK_EQ_LONG(relay_session_for_each_viewer_stream(l.s[0], visit_vstream, &w), 2);
	CHECK_OK("relay_session_for_each_viewer_stream: the viewer streams of the session's "
		 "streams, published or not, closed or not, each held, stopping on non-zero");

	/* A closed viewer stream is not visited. */
	CHECK_EQ_LONG(relay_viewer_stream_close(l.v[0][0]), 0);
	seen_reset(&w, l.s[0]);
	CHECK_EQ_LONG(relay_session_for_each_viewer_stream(l.s[0], visit_vstream, &w), PER - 1);
	CHECK(!seen_has(&w, l.v[0][0]));
	CHECK_OK("relay_session_for_each_viewer_stream: a closed viewer stream is not visited");

	ONE_WARNING("relay_session_for_each_viewer_stream",
		    CHECK_EQ_LONG(relay_session_for_each_viewer_stream(NULL, visit_vstream, &w), -1));
	ONE_WARNING("relay_session_for_each_viewer_stream",
		    CHECK_EQ_LONG(relay_session_for_each_viewer_stream(l.s[0], NULL, &w), -1));

	for (i = 0; i < NSESS; i++) {
		for (j = 0; j < PER; j++) {
			if (i || j)
				CHECK_EQ_LONG(relay_viewer_stream_close(l.v[i][j]), 0);
			relay_viewer_stream_put(l.v[i][j]);
			if (j != 2)
				CHECK_EQ_LONG(relay_stream_close(l.st[i][j]), 0);
		}
		relay_ctf_trace_put(l.t[i]);
		CHECK_EQ_LONG(relay_session_close(l.s[i]), 0);
	}
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("relay_session_for_each_viewer_stream: NULL gives -1");
}

static void viewer_session_walk_and_close_one(void)
{
	const size_t start = traceref_live_objects();
	struct relay_viewer_session *vs = new_vsession();
	struct live l;
	struct seen w;
	struct capture cap;
	int i, j;

	live_make(&l);
	for (i = 0; i < NSESS; i++)
		CHECK_EQ_LONG(relay_viewer_session_attach(vs, l.s[i]), 0);

	seen_reset(&w, vs);
	CHECK_EQ_LONG(relay_viewer_session_for_each_session(vs, visit_session, &w), NSESS);
	CHECK_EQ_LONG(w.odd, 0);
	for (i = 0; i < NSESS; i++)
		CHECK(seen_has(&w, l.s[i]));
	/* The owner's, the trace's, the attach's and the walk's. */
	CHECK(seen_counts_are(&w, 4));
	seen_reset(&w, vs);
	w.stop_at = 2;
	CHECK_EQ_LONG(relay_viewer_session_for_each_session(vs, visit_session, &w), 2);
	ONE_WARNING("relay_viewer_session_for_each_session",
		    CHECK_EQ_LONG(relay_viewer_session_for_each_session(NULL, visit_session, &w), -1));
	ONE_WARNING("relay_viewer_session_for_each_session",
		    CHECK_EQ_LONG(relay_viewer_session_for_each_session(vs, NULL, &w), -1));
	CHECK_OK("relay_viewer_session_for_each_session: the attached sessions, each held, "
		 "stopping on non-zero; NULL gives -1");

	/* Close session 1 out of the viewer session, holding its lock: nothing
	 * printed (no lock taken, none out of order). */
	CHECK_EQ_LONG(relay_session_get_ref_count(l.s[1]), 3);
	CHECK_EQ_LONG(relay_session_lock(l.s[1]), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_viewer_session_close_one_session(vs, l.s[1]), 0);
	CHECK_EQ_LONG(capture_scope_end(&cap), 0);
	CHECK_EQ_LONG(relay_session_unlock(l.s[1]), 0);
	/* Its viewer streams are closed: only our references are left. */
	for (j = 0; j < PER; j++)
		CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(l.v[1][j]), 1);
	seen_reset(&w, l.s[1]);
	CHECK_EQ_LONG(relay_session_for_each_viewer_stream(l.s[1], visit_vstream, &w), 0);
	ONE_WARNING("relay_viewer_stream_close",
		    CHECK_EQ_LONG(relay_viewer_stream_close(l.v[1][0]), -1));
	/* The other sessions' are not. */
	for (i = 0; i < NSESS; i += 2) {
		for (j = 0; j < PER; j++)
			CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(l.v[i][j]), 2);
		seen_reset(&w, l.s[i]);
		CHECK_EQ_LONG(relay_session_for_each_viewer_stream(l.s[i], visit_vstream, &w), PER);
	}
	/* Detached, its attach reference put; the others still attached. */
	CHECK(!relay_viewer_session_is_attached(vs, l.s[1]));
	CHECK(relay_viewer_session_is_attached(vs, l.s[0]));
	CHECK(relay_viewer_session_is_attached(vs, l.s[2]));
	CHECK_EQ_LONG(relay_session_get_ref_count(l.s[1]), 2);
	seen_reset(&w, vs);
	CHECK_EQ_LONG(relay_viewer_session_for_each_session(vs, visit_session, &w), 2);
	CHECK(seen_has(&w, l.s[0]) && seen_has(&w, l.s[2]));
	CHECK_OK("relay_viewer_session_close_one_session: that session's viewer streams "
		 "closed (closed stream's included), the others' not; it is detached, the "
		 "others stay; nothing printed with its lock held");

	/* A second call: refused, nothing closed. */
	ONE_WARNING("relay_viewer_session_close_one_session",
		    CHECK_EQ_LONG(relay_viewer_session_close_one_session(vs, l.s[1]), -1));
	ONE_WARNING("relay_viewer_session_close_one_session",
		    CHECK_EQ_LONG(relay_viewer_session_close_one_session(NULL, l.s[0]), -1));
	ONE_WARNING("relay_viewer_session_close_one_session",
		    CHECK_EQ_LONG(relay_viewer_session_close_one_session(vs, NULL), -1));
	for (i = 0; i < NSESS; i += 2)
		for (j = 0; j < PER; j++)
			CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(l.v[i][j]), 2);
	CHECK(relay_viewer_session_is_attached(vs, l.s[0]));
	/* Detached for good: it may be attached again. */
	CHECK_EQ_LONG(relay_viewer_session_attach(vs, l.s[1]), 0);
	CHECK_EQ_LONG(relay_viewer_session_detach(vs, l.s[1]), 0);
	CHECK_OK("relay_viewer_session_close_one_session: a second call, and NULL, give -1 "
		 "and close nothing");

	/* The viewer session's close closes the rest. */
	CHECK_EQ_LONG(relay_viewer_session_close(vs), 0);
	for (i = 0; i < NSESS; i++) {
		for (j = 0; j < PER; j++) {
			CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(l.v[i][j]), 1);
			relay_viewer_stream_put(l.v[i][j]);
			if (j != 2)
				CHECK_EQ_LONG(relay_stream_close(l.st[i][j]), 0);
		}
		relay_ctf_trace_put(l.t[i]);
		CHECK_EQ_LONG(relay_session_close(l.s[i]), 0);
	}
	relay_viewer_session_destroy(vs);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
}

/* ------------------------------------------------------------------------ */
/* The connections of a table.                                              */

static struct relay_connection *conns[4];

static void close_another_conn(struct seen *w, void *obj)
{
	int i;

	(void)w;
	for (i = 0; i < 3; i++) {
		if (conns[i] != obj) {
			TCHECK(relay_connection_close(conns[i]) == 0);
			w->ctx[0] = conns[i];
			return;
		}
	}
}

static void connections_walk(void)
{
	const size_t start = traceref_live_objects();
	struct relay_connection_table *table = relay_connection_table_create();
	struct relay_connection *outside = new_conn(79);
	struct seen w;
	int i;

	for (i = 0; i < 4; i++) {
		conns[i] = new_conn(70 + i);
		CHECK(relay_connection_get(conns[i])); /* ours, beside the owner's */
		CHECK_EQ_LONG(relay_connection_table_add(table, conns[i]), 0);
	}
	seen_reset(&w, table);
	CHECK_EQ_LONG(relay_connection_table_for_each(table, visit_conn, &w), 4);
	CHECK_EQ_LONG(w.odd, 0);
	for (i = 0; i < 4; i++)
		CHECK(seen_has(&w, conns[i]));
	CHECK(!seen_has(&w, outside));
	CHECK(seen_counts_are(&w, 3)); /* the owner's, ours and the walk's */
	seen_reset(&w, table);
	w.stop_at = 3;
	CHECK_EQ_LONG(relay_connection_table_for_each(table, visit_conn, &w), 3);
	CHECK_OK("relay_connection_table_for_each: the table's connections, each held, "
		 "stopping on non-zero");

	CHECK_EQ_LONG(relay_connection_close(conns[3]), 0);
	seen_reset(&w, table);
	w.first = close_another_conn;
	CHECK_EQ_LONG(relay_connection_table_for_each(table, visit_conn, &w), 2);
	CHECK(w.ctx[0] != NULL && !seen_has(&w, w.ctx[0]) && !seen_has(&w, conns[3]));
	CHECK_OK("relay_connection_table_for_each: a connection closed before the walk or by "
		 "an earlier visit is not visited");

	ONE_WARNING("relay_connection_table_for_each",
		    CHECK_EQ_LONG(relay_connection_table_for_each(NULL, visit_conn, &w), -1));
	ONE_WARNING("relay_connection_table_for_each",
		    CHECK_EQ_LONG(relay_connection_table_for_each(table, NULL, &w), -1));

	CHECK_EQ_LONG(relay_connection_table_destroy(table), 0);
	for (i = 0; i < 4; i++)
		relay_connection_put(conns[i]);
	CHECK_EQ_LONG(relay_connection_close(outside), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("relay_connection_table_for_each: NULL gives -1");
}

int main(void)
{
	size_t start;
	int k;

	setenv("TRACEREF_LOG", "warn", 1);
	start = traceref_live_objects();
	traces_walk();
	streams_walk();
	viewer_streams_walk();
	viewer_session_walk_and_close_one();
	connections_walk();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	pthread_mutex_lock(&tally_mutex);
	for (k = 0; k < K_COUNT; k++)
		CHECK_EQ_LONG(freed[k], taken[k]);
	CHECK_EQ_LONG(bad_frees, 0);
	pthread_mutex_unlock(&tally_mutex);
	CHECK_OK("every struct the library took was freed once, by its kind's free function");
	CHECK_DONE("relay_walks");
	return 0;
}
