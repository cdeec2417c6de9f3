/*
 * Wrong input to the relay functions and the traceref_* functions, each
 * answered as the header documents, changing nothing:
 *
 *   - NULL for every pointer argument of every function (in the header's
 *     order), and ids, handles and sockets that name nothing;
 *   - second attempts: a duplicate stream handle, second closes, a second
 *     viewer session attach, a second session or viewer session for a
 *     connection, a connection added twice, a socket already in a table;
 *   - objects at count 0, and children for a closed session or stream;
 *   - pointers of the wrong kind, across both models;
 *   - read-side section rules: no barrier and no table destruction inside;
 *   - the embedded forms' inits: NULL, no free function, misaligned or live
 *     memory, each leaving the caller's memory untouched and unfreed.
 *
 * Each refusal is checked against the counts and the census before and after.
 * Every call here is a misuse on purpose: diagnostics are turned off.
 */

#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traceref.h"
#include "check.h"
#include "tally.h"

#define PATH "host-b/sess-b/ust"

/* Destructor that counts its calls with NULL data. */
static int null_data_destroyed;

static void null_data_destroy(void *data)
{
	pthread_mutex_lock(&tally_lock);
	if (data == NULL)
		null_data_destroyed++;
	pthread_mutex_unlock(&tally_lock);
}

static int count_visit(void *obj, void *data)
{
	(void)obj;
	++*(int *)data;
	return 0;
}

static int visit_session(struct relay_session *s, void *data)
{
	return count_visit(s, data);
}

static int visit_stream(struct relay_stream *s, void *data)
{
	return count_visit(s, data);
}

static int visit_trace(struct ctf_trace *t, void *data)
{
	return count_visit(t, data);
}

static int visit_viewer_stream(struct relay_viewer_stream *v, void *data)
{
	return count_visit(v, data);
}

static int visit_connection(struct relay_connection *c, void *data)
{
	return count_visit(c, data);
}

/* A small valid hierarchy to pass beside the NULL arguments. */
struct fixture {
	struct relay_session *s;
	struct ctf_trace *t;
	struct relay_stream *st;
	struct relay_index *idx;
	struct relay_viewer_stream *v;
	struct relay_viewer_session *vs;
	struct relay_connection_table *table;
	struct relay_connection *c;
};

static void fixture_make(struct fixture *f, uint64_t handle, int sock)
{
	f->s = relay_session_create("sess-b", "host-b", 0, false, 2, 11);
	CHECK(f->s != NULL);
	f->t = relay_ctf_trace_get_by_path_or_create(f->s, PATH);
	CHECK(f->t != NULL);
	f->st = relay_stream_create(f->t, handle, "p", "chan", 0, 0);
	CHECK(f->st != NULL);
	CHECK_EQ_LONG(relay_stream_lock(f->st), 0);
	f->idx = relay_index_get_by_id_or_create(f->st, 1);
	CHECK(f->idx != NULL);
	CHECK_EQ_LONG(relay_index_get_ref_count(f->idx), 1);
	/* Kept past the stream's lock: a reference of the fixture's own, put
	 * by fixture_drop() (the index also keeps its self reference). */
	CHECK(relay_index_get(f->idx));
	CHECK_EQ_LONG(relay_index_get_ref_count(f->idx), 2);
	CHECK_EQ_LONG(relay_stream_unlock(f->st), 0);
	f->v = relay_viewer_stream_create(f->st, 0);
	CHECK(f->v != NULL);
	f->vs = relay_viewer_session_create();
	CHECK(f->vs != NULL);
	f->table = relay_connection_table_create();
	CHECK(f->table != NULL);
	f->c = relay_connection_create(sock, RELAY_CONTROL);
	CHECK(f->c != NULL);
	CHECK_EQ_LONG(relay_connection_table_add(f->table, f->c), 0);
}

/* Every count of the fixture, to compare before and after a refusal. */
struct counts {
	long s, t, st, idx, v, c;
	size_t live;
};

static struct counts counts_of(const struct fixture *f)
{
	struct counts n;

	/* A refusal may make an object and release it at once: what counts is
	 * that nothing is left once reclamation caught up. */
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	n.s = relay_session_get_ref_count(f->s);
	n.t = relay_ctf_trace_get_ref_count(f->t);
	n.st = relay_stream_get_ref_count(f->st);
	n.idx = relay_index_get_ref_count(f->idx);
	n.v = relay_viewer_stream_get_ref_count(f->v);
	n.c = relay_connection_get_ref_count(f->c);
	n.live = settled_live_objects();
	return n;
}

static void check_same(const struct counts *a, const struct counts *b)
{
	CHECK_EQ_LONG(a->s, b->s);
	CHECK_EQ_LONG(a->t, b->t);
	CHECK_EQ_LONG(a->st, b->st);
	CHECK_EQ_LONG(a->idx, b->idx);
	CHECK_EQ_LONG(a->v, b->v);
	CHECK_EQ_LONG(a->c, b->c);
	CHECK_EQ_LONG(a->live, b->live);
}

static void fixture_drop(struct fixture *f)
{
	relay_index_put(f->idx);
	CHECK_EQ_LONG(relay_viewer_stream_close(f->v), 0);
	relay_viewer_session_destroy(f->vs);
	CHECK_EQ_LONG(relay_connection_table_destroy(f->table), 0);
	CHECK_EQ_LONG(relay_stream_close(f->st), 0);
	relay_ctf_trace_put(f->t);
	CHECK_EQ_LONG(relay_session_close(f->s), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
}

/* ------------------------------------------------------------------------ */
/* NULL for every pointer argument, in the header's order.                  */

static void null_arguments(void)
{
	const size_t start = traceref_live_objects();
	struct fixture f;
	struct counts before, after;
	struct tally unused = { 0 };
	int n = 0;

	fixture_make(&f, 4000, 40);
	before = counts_of(&f);

	/* Read-side sections, reclamation, payloads. */
	traceref_read_unlock(); /* none open: reported and ignored */
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_payload_set(NULL, &unused, tally_destroy), -1);
	CHECK(traceref_payload_get(NULL) == NULL);
	/* NULL data and a NULL destructor are allowed. */
	{
		struct relay_session *a = relay_session_create("pa", "h", 0, false, 2, 11);
		struct relay_session *b = relay_session_create("pb", "h", 0, false, 2, 11);

		CHECK(a != NULL && b != NULL);
		CHECK_EQ_LONG(traceref_payload_set(a, NULL, null_data_destroy), 0);
		CHECK(traceref_payload_get(a) == NULL);
		CHECK_EQ_LONG(traceref_payload_set(b, &unused, NULL), 0);
		CHECK_EQ_PTR(traceref_payload_get(b), &unused);
		CHECK_EQ_LONG(relay_session_close(a), 0);
		CHECK_EQ_LONG(relay_session_close(b), 0);
		CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
		pthread_mutex_lock(&tally_lock);
		CHECK_EQ_LONG(null_data_destroyed, 1);
		pthread_mutex_unlock(&tally_lock);
	}

	/* The registry picture: NULL means the whole registry; a descriptor
	 * that cannot be written is refused. */
	{
		FILE *out = tmpfile();
		char text[64];
		size_t len;
		int devnull = open("/dev/null", O_WRONLY);

		CHECK(out != NULL && devnull >= 0);
		CHECK_EQ_LONG(traceref_dump_dot(NULL, fileno(out)), 0);
		rewind(out);
		len = fread(text, 1, sizeof(text) - 1, out);
		text[len] = '\0';
		CHECK(strstr(text, "digraph") != NULL);
		fclose(out);
		CHECK_EQ_LONG(traceref_dump_dot(NULL, -1), -1);
		/* Reference tracking is off here (no TRACEREF_TRACK=1): -1. */
		CHECK_EQ_LONG(traceref_dump_references(NULL, devnull), -1);
		CHECK_EQ_LONG(traceref_dump_references(f.s, devnull), -1);
		CHECK_EQ_LONG(traceref_dump_dot(f.table, -1), -1);
		CHECK_EQ_LONG(traceref_dump_dot(f.table, devnull), 0);
		close(devnull);
	}

	/* Sessions. */
	CHECK(relay_session_create(NULL, "host", 0, false, 2, 11) == NULL);
	CHECK(relay_session_create("name", NULL, 0, false, 2, 11) == NULL);
	CHECK(relay_session_create(NULL, NULL, 0, false, 2, 11) == NULL);
	CHECK(!relay_session_get(NULL));
	relay_session_put(NULL);
	CHECK_EQ_LONG(relay_session_close(NULL), -1);
	CHECK_EQ_LONG(relay_session_abort(NULL), -1);
	CHECK(relay_session_get_id(NULL) == UINT64_MAX);
	CHECK(relay_session_get_name(NULL) == NULL);
	CHECK(relay_session_get_hostname(NULL) == NULL);
	CHECK_EQ_LONG(relay_session_get_live_timer(NULL), 0);
	CHECK(!relay_session_is_snapshot(NULL));
	CHECK_EQ_LONG(relay_session_get_major(NULL), 0);
	CHECK_EQ_LONG(relay_session_get_minor(NULL), 0);
	CHECK(!relay_session_is_closed(NULL));
	CHECK(!relay_session_is_aborted(NULL));
	CHECK(!relay_session_is_viewer_attached(NULL));
	{
		int rc = traceref_set_reclaim_thread_hooks(NULL, NULL);

		CHECK(rc == 0 || rc == -1);
	}
	CHECK_EQ_LONG(relay_session_get_ref_count(NULL), -1);
	CHECK_EQ_LONG(relay_session_lock(NULL), -1);
	CHECK_EQ_LONG(relay_session_unlock(NULL), -1);
	CHECK_EQ_LONG(relay_sessions_for_each(NULL, &n), -1);
	CHECK_EQ_LONG(relay_sessions_for_each(NULL, NULL), -1);
	CHECK_EQ_LONG(relay_session_for_each_stream(NULL, visit_stream, &n), -1);
	CHECK_EQ_LONG(relay_session_for_each_stream(f.s, NULL, &n), -1);
	CHECK_EQ_LONG(relay_session_for_each_stream(NULL, NULL, NULL), -1);
	CHECK_EQ_LONG(relay_session_for_each_ctf_trace(NULL, visit_trace, &n), -1);
	CHECK_EQ_LONG(relay_session_for_each_ctf_trace(f.s, NULL, &n), -1);
	CHECK_EQ_LONG(relay_session_for_each_ctf_trace(NULL, NULL, NULL), -1);
	CHECK_EQ_LONG(relay_session_for_each_viewer_stream(NULL, visit_viewer_stream, &n), -1);
	CHECK_EQ_LONG(relay_session_for_each_viewer_stream(f.s, NULL, &n), -1);
	CHECK_EQ_LONG(relay_session_for_each_viewer_stream(NULL, NULL, NULL), -1);
	CHECK_EQ_LONG(n, 0);
	CHECK_OK("sessions: NULL gives NULL, -1, false, 0 or UINT64_MAX");

	/* Ctf-traces. */
	CHECK(relay_ctf_trace_get_by_path_or_create(NULL, PATH) == NULL);
	CHECK(relay_ctf_trace_get_by_path_or_create(f.s, NULL) == NULL);
	CHECK(relay_ctf_trace_get_by_path_or_create(NULL, NULL) == NULL);
	CHECK(!relay_ctf_trace_get(NULL));
	relay_ctf_trace_put(NULL);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(NULL), -1);
	CHECK(relay_ctf_trace_get_path(NULL) == NULL);
	CHECK(relay_ctf_trace_get_session(NULL) == NULL);
	CHECK(relay_ctf_trace_get_viewer_metadata_stream(NULL) == NULL);
	CHECK_EQ_LONG(relay_ctf_trace_lock(NULL), -1);
	CHECK_EQ_LONG(relay_ctf_trace_unlock(NULL), -1);
	CHECK_EQ_LONG(relay_ctf_trace_for_each_stream(NULL, visit_stream, &n), -1);
	CHECK_EQ_LONG(relay_ctf_trace_for_each_stream(f.t, NULL, &n), -1);
	CHECK_EQ_LONG(relay_ctf_trace_for_each_stream(NULL, NULL, NULL), -1);
	CHECK_EQ_LONG(n, 0);
	CHECK_OK("ctf-traces: NULL gives NULL, -1 or false");

	/* Streams. */
	CHECK(relay_stream_create(NULL, 4001, "p", "chan", 0, 0) == NULL);
	CHECK(relay_stream_create(f.t, 4001, NULL, "chan", 0, 0) == NULL);
	CHECK(relay_stream_create(f.t, 4001, "p", NULL, 0, 0) == NULL);
	CHECK(relay_stream_get_by_id(4001) == NULL);
	CHECK(!relay_stream_get(NULL));
	relay_stream_put(NULL);
	CHECK_EQ_LONG(relay_stream_publish(NULL), -1);
	CHECK_EQ_LONG(relay_stream_close(NULL), -1);
	CHECK_EQ_LONG(relay_stream_try_close(NULL), -1);
	CHECK(relay_stream_get_handle(NULL) == UINT64_MAX);
	CHECK(relay_stream_get_path_name(NULL) == NULL);
	CHECK(relay_stream_get_channel_name(NULL) == NULL);
	CHECK_EQ_LONG(relay_stream_get_tracefile_size(NULL), 0);
	CHECK_EQ_LONG(relay_stream_get_tracefile_count(NULL), 0);
	CHECK(!relay_stream_is_published(NULL));
	CHECK(!relay_stream_is_closed(NULL));
	CHECK(!relay_stream_is_metadata(NULL));
	CHECK(relay_stream_get_last_net_seq_num(NULL) == RELAY_SEQ_UNSET);
	CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(NULL, 3), -1);
	CHECK(relay_stream_get_received_seq_num(NULL) == RELAY_SEQ_UNSET);
	CHECK_EQ_LONG(relay_stream_set_received_seq_num(NULL, 3), -1);
	CHECK(relay_stream_get_trace(NULL) == NULL);
	CHECK_EQ_LONG(relay_stream_get_ref_count(NULL), -1);
	CHECK_EQ_LONG(relay_stream_lock(NULL), -1);
	CHECK_EQ_LONG(relay_stream_unlock(NULL), -1);
	relay_stream_set_close_hook(NULL); /* no hook: the closes below call none */
	CHECK_OK("streams: NULL gives NULL, -1, false, 0, UINT64_MAX or RELAY_SEQ_UNSET; "
		 "a NULL close hook is none");

	/* Indexes. */
	CHECK(relay_index_get_by_id_or_create(NULL, 1) == NULL);
	CHECK(!relay_index_get(NULL));
	relay_index_put(NULL);
	CHECK_EQ_LONG(relay_index_try_flush(NULL), -1);
	CHECK_EQ_LONG(relay_index_close_all(NULL), -1);
	CHECK(relay_index_get_net_seq_num(NULL) == RELAY_SEQ_UNSET);
	CHECK_EQ_LONG(relay_index_get_ref_count(NULL), -1);
	CHECK_OK("indexes: NULL gives NULL, -1, false or RELAY_SEQ_UNSET");

	/* Viewer streams. */
	CHECK(relay_viewer_stream_create(NULL, 0) == NULL);
	CHECK(!relay_viewer_stream_get(NULL));
	relay_viewer_stream_put(NULL);
	CHECK_EQ_LONG(relay_viewer_stream_close(NULL), -1);
	CHECK(relay_viewer_stream_get_stream(NULL) == NULL);
	CHECK_EQ_LONG(relay_viewer_stream_get_seek(NULL), 0);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(NULL), -1);
	CHECK_OK("viewer streams: NULL gives NULL, -1, false or 0");

	/* Viewer sessions. */
	CHECK_EQ_LONG(relay_viewer_session_attach(NULL, f.s), -1);
	CHECK_EQ_LONG(relay_viewer_session_attach(f.vs, NULL), -1);
	CHECK_EQ_LONG(relay_viewer_session_attach(NULL, NULL), -1);
	CHECK_EQ_LONG(relay_viewer_session_detach(NULL, f.s), -1);
	CHECK_EQ_LONG(relay_viewer_session_detach(f.vs, NULL), -1);
	CHECK(!relay_viewer_session_is_attached(NULL, f.s));
	CHECK(!relay_viewer_session_is_attached(f.vs, NULL));
	CHECK_EQ_LONG(relay_viewer_session_close(NULL), -1);
	CHECK_EQ_LONG(relay_viewer_session_close_one_session(NULL, f.s), -1);
	CHECK_EQ_LONG(relay_viewer_session_close_one_session(f.vs, NULL), -1);
	CHECK_EQ_LONG(relay_viewer_session_close_one_session(NULL, NULL), -1);
	/* Not attached: refused, the viewer stream of f.s left open. */
	CHECK_EQ_LONG(relay_viewer_session_close_one_session(f.vs, f.s), -1);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(f.v), 1);
	CHECK_EQ_LONG(relay_viewer_session_for_each_session(NULL, visit_session, &n), -1);
	CHECK_EQ_LONG(relay_viewer_session_for_each_session(f.vs, NULL, &n), -1);
	CHECK_EQ_LONG(relay_viewer_session_for_each_session(NULL, NULL, NULL), -1);
	CHECK_EQ_LONG(n, 0);
	relay_viewer_session_destroy(NULL);
	/* The NULL attach did not mark the session attached. */
	CHECK_EQ_LONG(relay_viewer_session_attach(f.vs, f.s), 0);
	CHECK_EQ_LONG(relay_viewer_session_detach(f.vs, f.s), 0);
	CHECK_OK("viewer sessions: NULL gives -1 or false");

	/* Connections and tables. */
	CHECK_EQ_LONG(relay_connection_table_destroy(NULL), -1);
	CHECK(relay_connection_create(-1, RELAY_DATA) == NULL);
	CHECK(relay_connection_create(-1000, RELAY_CONTROL) == NULL);
	CHECK(relay_connection_create(7, -1) == NULL);
	CHECK(relay_connection_create(7, RELAY_VIEWER_NOTIFICATION + 1) == NULL);
	CHECK(relay_connection_create(7, 1000) == NULL);
	/* Every type from RELAY_CONNECTION_UNKNOWN to RELAY_VIEWER_NOTIFICATION
	 * is accepted. */
	{
		int type;

		for (type = RELAY_CONNECTION_UNKNOWN; type <= RELAY_VIEWER_NOTIFICATION; type++) {
			struct relay_connection *ok = relay_connection_create(7, type);

			CHECK(ok != NULL);
			CHECK_EQ_LONG(relay_connection_get_type(ok), type);
			CHECK_EQ_LONG(relay_connection_close(ok), 0);
		}
	}
	CHECK_EQ_LONG(relay_connection_table_add(NULL, f.c), -1);
	CHECK_EQ_LONG(relay_connection_table_add(f.table, NULL), -1);
	CHECK(relay_connection_get_by_sock(NULL, 40) == NULL);
	CHECK(relay_connection_get_by_sock(f.table, -1) == NULL);
	CHECK(!relay_connection_get(NULL));
	relay_connection_put(NULL);
	CHECK_EQ_LONG(relay_connection_close(NULL), -1);
	CHECK_EQ_LONG(relay_connection_set_session(NULL, f.s), -1);
	CHECK_EQ_LONG(relay_connection_set_session(f.c, NULL), -1);
	CHECK_EQ_LONG(relay_connection_set_viewer_session(NULL, f.vs), -1);
	CHECK_EQ_LONG(relay_connection_set_viewer_session(f.c, NULL), -1);
	CHECK(relay_connection_get_session(NULL) == NULL);
	CHECK(relay_connection_get_viewer_session(NULL) == NULL);
	CHECK_EQ_LONG(relay_connection_get_sock(NULL), -1);
	CHECK_EQ_LONG(relay_connection_get_type(NULL), -1);
	CHECK_EQ_LONG(relay_connection_get_ref_count(NULL), -1);
	CHECK_EQ_LONG(relay_connection_table_for_each(NULL, visit_connection, &n), -1);
	CHECK_EQ_LONG(relay_connection_table_for_each(f.table, NULL, &n), -1);
	CHECK_EQ_LONG(relay_connection_table_for_each(NULL, NULL, NULL), -1);
	CHECK_EQ_LONG(n, 0);
	/* The refused calls left the connection as it was. */
	CHECK(relay_connection_get_session(f.c) == NULL);
	CHECK(relay_connection_get_viewer_session(f.c) == NULL);
	CHECK_OK("connections: NULL, a negative socket or a type outside "
		 "RELAY_CONNECTION_UNKNOWN..RELAY_VIEWER_NOTIFICATION give NULL or -1");

	after = counts_of(&f);
	check_same(&before, &after);
	/* The handle refused above is still free. */
	{
		struct relay_stream *st = relay_stream_create(f.t, 4001, "p", "chan", 0, 0);

		CHECK(st != NULL);
		CHECK_EQ_LONG(relay_stream_close(st), 0);
	}
	fixture_drop(&f);
	CHECK_EQ_LONG(tally_runs(&unused), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("NULL arguments changed no count and made no object");
}

/* ------------------------------------------------------------------------ */
/* Ids, handles and sockets that name nothing.                              */

static void unknown_ids(void)
{
	const size_t start = traceref_live_objects();
	struct relay_session *s;
	struct relay_connection_table *table;
	uint64_t id;

	s = relay_session_create("probe", "host", 0, false, 2, 11);
	CHECK(s != NULL);
	id = relay_session_get_id(s);
	CHECK(relay_session_get_by_id(0) == NULL);
	CHECK(relay_session_get_by_id(id + 1) == NULL);
	CHECK(relay_session_get_by_id(id + 1000000) == NULL);
	CHECK(relay_session_get_by_id(UINT64_MAX) == NULL);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK(relay_session_get_by_id(id) == NULL);

	CHECK(relay_stream_get_by_id(0) == NULL);
	CHECK(relay_stream_get_by_id(4242) == NULL);
	CHECK(relay_stream_get_by_id(UINT64_MAX) == NULL);
	CHECK(relay_stream_get_by_id(RELAY_SEQ_UNSET - 1) == NULL);
	CHECK(relay_viewer_stream_get_by_id(0) == NULL);
	CHECK(relay_viewer_stream_get_by_id(4242) == NULL);
	CHECK(relay_viewer_stream_get_by_id(UINT64_MAX) == NULL);

	table = relay_connection_table_create();
	CHECK(table != NULL);
	CHECK(relay_connection_get_by_sock(table, 0) == NULL);
	CHECK(relay_connection_get_by_sock(table, 99) == NULL);
	CHECK(relay_connection_get_by_sock(table, -99) == NULL);
	CHECK_EQ_LONG(relay_connection_table_destroy(table), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("unknown session ids, stream handles and sockets give NULL");
}

/* ------------------------------------------------------------------------ */
/* Second attempts, each refused with nothing changed.                      */

static void second_attempts(void)
{
	const size_t start = traceref_live_objects();
	struct fixture f;
	struct counts before, after;
	struct relay_session *s2, *s3, *s4;
	struct ctf_trace *t2;
	struct relay_stream *st2, *found;
	struct relay_viewer_stream *old_v, *v;
	struct relay_viewer_session *vs2, *vs3;
	struct relay_connection *ctrl, *live, *other, *dup, *c;
	struct relay_connection_table *table2;
	struct tally first = { 0 }, second = { 0 };
	size_t live_before;

	fixture_make(&f, 4100, 41);

	/* A duplicate stream handle, from the same or another session. */
	s2 = relay_session_create("sess-b2", "host-b", 0, false, 2, 11);
	t2 = relay_ctf_trace_get_by_path_or_create(s2, PATH);
	CHECK(s2 != NULL && t2 != NULL);
	before = counts_of(&f);
	CHECK(relay_stream_create(f.t, 4100, "p", "chan", 0, 0) == NULL);
	CHECK(relay_stream_create(t2, 4100, "p", "chan", 0, 0) == NULL);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t2), 1);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(f.t), before.t);
	/* Never visible to anyone, the refused streams were freed at once:
	 * nothing waits for a grace period. */
	CHECK_EQ_LONG(traceref_live_objects(), before.live);
	{
		int n = 0;

		CHECK_EQ_LONG(relay_session_for_each_stream(s2, visit_stream, &n), 0);
		CHECK_EQ_LONG(relay_session_for_each_stream(f.s, visit_stream, &n), 1);
		CHECK_EQ_LONG(n, 1);
	}
	after = counts_of(&f);
	check_same(&before, &after);
	found = relay_stream_get_by_id(4100);
	CHECK_EQ_PTR(found, f.st);
	relay_stream_put(found);
	CHECK_OK("a duplicate stream handle is refused, never seen, freed at once; "
		 "nothing changes");

	/* A second viewer stream for the same stream. */
	before = counts_of(&f);
	CHECK(relay_viewer_stream_create(f.st, 3) == NULL);
	after = counts_of(&f);
	check_same(&before, &after);
	v = relay_viewer_stream_get_by_id(4100);
	CHECK_EQ_PTR(v, f.v);
	relay_viewer_stream_put(v);
	CHECK_OK("a second viewer stream for one stream is refused");

	/* A second payload. */
	CHECK_EQ_LONG(traceref_payload_set(f.st, &first, tally_destroy), 0);
	CHECK_EQ_LONG(traceref_payload_set(f.st, &second, tally_destroy), -1);
	CHECK_EQ_PTR(traceref_payload_get(f.st), &first);
	CHECK_OK("a second payload is refused; the first stays");

	/* Double closes of a stream and a session. */
	st2 = relay_stream_create(t2, 4101, "p", "chan", 0, 0);
	CHECK(st2 != NULL && relay_stream_get(st2));
	CHECK_EQ_LONG(relay_stream_close(st2), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	live_before = traceref_live_objects();
	CHECK_EQ_LONG(relay_stream_close(st2), -1);
	CHECK_EQ_LONG(relay_stream_try_close(st2), -1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st2), 1);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t2), 2);
	CHECK_EQ_LONG(traceref_live_objects(), live_before);
	relay_stream_put(st2);
	relay_ctf_trace_put(t2);
	CHECK(relay_session_get(s2));
	CHECK_EQ_LONG(relay_session_close(s2), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(s2), 1);
	CHECK_EQ_LONG(relay_session_close(s2), -1);
	CHECK_EQ_LONG(relay_session_get_ref_count(s2), 1);
	CHECK(relay_session_is_closed(s2));
	relay_session_put(s2);
	CHECK_OK("a second session close and a second stream close are refused");

	/* A second attach, to the same or another viewer session. */
	vs2 = relay_viewer_session_create();
	CHECK(vs2 != NULL);
	CHECK_EQ_LONG(relay_viewer_session_attach(f.vs, f.s), 0);
	before = counts_of(&f);
	CHECK_EQ_LONG(relay_viewer_session_attach(f.vs, f.s), -1);
	CHECK_EQ_LONG(relay_viewer_session_attach(vs2, f.s), -1);
	CHECK(!relay_viewer_session_is_attached(vs2, f.s));
	CHECK_EQ_LONG(relay_viewer_session_detach(vs2, f.s), -1);
	CHECK(relay_viewer_session_is_attached(f.vs, f.s));
	after = counts_of(&f);
	check_same(&before, &after);
	CHECK_EQ_LONG(relay_viewer_session_detach(f.vs, f.s), 0);
	CHECK_EQ_LONG(relay_viewer_session_attach(vs2, f.s), 0);
	CHECK_EQ_LONG(relay_viewer_session_detach(vs2, f.s), 0);
	CHECK_OK("a session is attached to one viewer session at a time");

	/* A second session for a connection. */
	s3 = relay_session_create("sess-b3", "host-b", 0, false, 2, 11);
	s4 = relay_session_create("sess-b4", "host-b", 0, false, 2, 11);
	ctrl = relay_connection_create(45, RELAY_CONTROL);
	CHECK(s3 != NULL && s4 != NULL && ctrl != NULL);
	CHECK_EQ_LONG(relay_connection_set_session(ctrl, s3), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(s3), 2);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	live_before = traceref_live_objects();
	CHECK_EQ_LONG(relay_connection_set_session(ctrl, s3), -1);
	CHECK_EQ_LONG(relay_connection_set_session(ctrl, s4), -1);
	CHECK_EQ_LONG(relay_session_get_ref_count(s3), 2);
	CHECK_EQ_LONG(relay_session_get_ref_count(s4), 1);
	CHECK_EQ_PTR(relay_connection_get_session(ctrl), s3);
	CHECK_EQ_LONG(relay_connection_get_ref_count(ctrl), 1);
	CHECK_EQ_LONG(traceref_live_objects(), live_before);
	CHECK_EQ_LONG(relay_session_close(s4), 0);
	/* A second close of the connection. */
	CHECK(relay_connection_get(ctrl));
	CHECK_EQ_LONG(relay_connection_close(ctrl), 0);
	CHECK_EQ_LONG(relay_connection_close(ctrl), -1);
	CHECK_EQ_LONG(relay_connection_get_ref_count(ctrl), 1);
	relay_connection_put(ctrl); /* closes s3 */
	CHECK_OK("a second relay_connection_set_session, a second connection close, are refused");

	/* A second viewer session for a connection; one owned elsewhere. */
	live = relay_connection_create(42, RELAY_VIEWER_COMMAND);
	other = relay_connection_create(43, RELAY_VIEWER_COMMAND);
	vs3 = relay_viewer_session_create();
	CHECK(live != NULL && other != NULL && vs3 != NULL);
	CHECK_EQ_LONG(relay_connection_set_viewer_session(live, vs2), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	live_before = traceref_live_objects();
	CHECK_EQ_LONG(relay_connection_set_viewer_session(live, vs3), -1);
	CHECK_EQ_PTR(relay_connection_get_viewer_session(live), vs2);
	CHECK_EQ_LONG(relay_connection_set_viewer_session(other, vs2), -1);
	CHECK(relay_connection_get_viewer_session(other) == NULL);
	/* Owned by a connection: not destroyed by the caller. */
	relay_viewer_session_destroy(vs2);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), live_before);
	s2 = relay_session_create("sess-b5", "host-b", 0, false, 2, 11);
	CHECK(s2 != NULL);
	CHECK_EQ_LONG(relay_viewer_session_attach(vs2, s2), 0);
	CHECK(relay_viewer_session_is_attached(vs2, s2));
	CHECK_EQ_LONG(relay_session_get_ref_count(s2), 2);
	/* vs3 was refused by `live`, so `other` may take it. */
	CHECK_EQ_LONG(relay_connection_set_viewer_session(other, vs3), 0);
	CHECK_EQ_LONG(relay_connection_close(other), 0);
	CHECK_EQ_LONG(relay_connection_close(live), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(s2), 1);
	CHECK_EQ_LONG(relay_session_close(s2), 0);
	CHECK_OK("a second viewer session for a connection, or one owned elsewhere, is refused");

	/* A connection added twice, to the same or another table. */
	table2 = relay_connection_table_create();
	CHECK(table2 != NULL);
	before = counts_of(&f);
	CHECK_EQ_LONG(relay_connection_table_add(f.table, f.c), -1);
	CHECK_EQ_LONG(relay_connection_table_add(table2, f.c), -1);
	CHECK(relay_connection_get_by_sock(table2, 41) == NULL);
	c = relay_connection_get_by_sock(f.table, 41);
	CHECK_EQ_PTR(c, f.c);
	relay_connection_put(c);
	after = counts_of(&f);
	check_same(&before, &after);
	CHECK_OK("a connection is added to one table, once");

	/* A socket already in the table. */
	dup = relay_connection_create(41, RELAY_DATA);
	CHECK(dup != NULL);
	before = counts_of(&f);
	CHECK_EQ_LONG(relay_connection_table_add(f.table, dup), -1);
	c = relay_connection_get_by_sock(f.table, 41);
	CHECK_EQ_PTR(c, f.c);
	relay_connection_put(c);
	CHECK_EQ_LONG(relay_connection_get_ref_count(dup), 1);
	after = counts_of(&f);
	check_same(&before, &after);
	/* Refused, so still in no table: another table takes it. */
	CHECK_EQ_LONG(relay_connection_table_add(table2, dup), 0);
	c = relay_connection_get_by_sock(table2, 41);
	CHECK_EQ_PTR(c, dup);
	relay_connection_put(c);
	CHECK_EQ_LONG(relay_connection_close(dup), 0);
	/* A closed connection is refused too. */
	dup = relay_connection_create(44, RELAY_DATA);
	CHECK(dup != NULL && relay_connection_get(dup));
	CHECK_EQ_LONG(relay_connection_close(dup), 0);
	CHECK_EQ_LONG(relay_connection_table_add(table2, dup), -1);
	CHECK(relay_connection_get_by_sock(table2, 44) == NULL);
	CHECK_EQ_LONG(relay_connection_get_ref_count(dup), 1);
	relay_connection_put(dup);
	CHECK_EQ_LONG(relay_connection_table_destroy(table2), 0);
	CHECK_OK("a socket already in the table, and a closed connection, are refused");

	/* Second closes of a viewer stream and a viewer session. */
	old_v = f.v;
	CHECK(relay_viewer_stream_get(old_v));
	CHECK_EQ_LONG(relay_viewer_stream_close(old_v), 0);
	CHECK_EQ_LONG(relay_viewer_stream_close(old_v), -1);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(old_v), 1);
	CHECK(relay_viewer_stream_get_by_id(4100) == NULL);
	relay_viewer_stream_put(old_v);
	f.v = relay_viewer_stream_create(f.st, 0); /* the handle is free again */
	CHECK(f.v != NULL);
	v = relay_viewer_stream_get_by_id(4100);
	CHECK_EQ_PTR(v, f.v);
	relay_viewer_stream_put(v);
	vs3 = relay_viewer_session_create();
	CHECK(vs3 != NULL);
	CHECK_EQ_LONG(relay_viewer_session_close(vs3), 0);
	CHECK_EQ_LONG(relay_viewer_session_close(vs3), -1);
	relay_viewer_session_destroy(vs3);
	CHECK_OK("second closes of viewer streams and viewer sessions are refused");

	fixture_drop(&f);
	CHECK_EQ_LONG(tally_runs(&first), 1);
	CHECK_EQ_LONG(tally_runs(&second), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("the refused second payload was never destroyed; the first once");
}

/* ------------------------------------------------------------------------ */
/* Objects at count 0 (kept allocated by a read-side section).              */

static void count_zero(void)
{
	const size_t start = traceref_live_objects();
	struct relay_session *s, *found;
	struct ctf_trace *t;
	struct relay_stream *st, *fst;
	struct relay_viewer_session *vs;
	struct relay_connection *c;
	struct tally ps = { 0 }, pst = { 0 };
	size_t live;

	s = relay_session_create("sess-z", "host", 0, false, 2, 11);
	t = relay_ctf_trace_get_by_path_or_create(s, PATH);
	st = relay_stream_create(t, 4200, "p", "chan", 0, 0);
	vs = relay_viewer_session_create();
	c = relay_connection_create(50, RELAY_CONTROL);
	CHECK(s && t && st && vs && c);
	CHECK_EQ_LONG(traceref_payload_set(s, &ps, tally_destroy), 0);
	CHECK_EQ_LONG(traceref_payload_set(st, &pst, tally_destroy), 0);

	/*
	 * Nothing released before waits to be freed: inside the section below
	 * the census changes only by what the section lets happen.
	 */
	(void)settled_live_objects();
	traceref_read_lock();
	/* The stream at 0: no viewer stream, a second put frees nothing. */
	fst = relay_stream_get_by_id(4200);
	CHECK_EQ_PTR(fst, st);
	CHECK_EQ_LONG(relay_stream_close(st), 0);
	relay_stream_put(fst);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 0);
	live = traceref_live_objects();
	CHECK(relay_viewer_stream_create(st, 0) == NULL);
	CHECK(relay_viewer_stream_get_by_id(4200) == NULL);
	CHECK_EQ_LONG(traceref_live_objects(), live);
	relay_stream_put(st);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 0);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 1);

	/* The session at 0: no attach, no connection takes it. */
	relay_ctf_trace_put(t);
	found = relay_session_get_by_id(relay_session_get_id(s));
	CHECK_EQ_PTR(found, s);
	relay_session_put(found);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 0);
	CHECK_EQ_LONG(relay_viewer_session_attach(vs, s), -1);
	CHECK(!relay_viewer_session_is_attached(vs, s));
	CHECK_EQ_LONG(relay_connection_set_session(c, s), -1);
	CHECK(relay_connection_get_session(c) == NULL);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 0);
	relay_session_put(s);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 0);
	CHECK_EQ_LONG(relay_session_close(s), -1);
	CHECK_EQ_LONG(tally_runs(&ps), 0);
	CHECK_EQ_LONG(tally_runs(&pst), 0);
	traceref_read_unlock();

	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&ps), 1);
	CHECK_EQ_LONG(tally_runs(&pst), 1);
	relay_viewer_session_destroy(vs);
	CHECK_EQ_LONG(relay_connection_close(c), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&ps), 1);
	CHECK_EQ_LONG(tally_runs(&pst), 1);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("objects at count 0 are refused as children and owners; "
		 "a put on 0 frees nothing twice");
}

/* ------------------------------------------------------------------------ */
/* No children for a closed session or a closed stream.                     */

static void closed_parents(void)
{
	const size_t start = traceref_live_objects();
	struct relay_session *s;
	struct ctf_trace *t;
	struct relay_stream *st;
	size_t live;

	s = relay_session_create("sess-closed", "host", 0, false, 2, 11);
	t = relay_ctf_trace_get_by_path_or_create(s, PATH);
	st = relay_stream_create(t, 4300, "p", "chan", 0, 0);
	CHECK(s && t && st);
	CHECK(relay_session_get(s) && relay_stream_get(st));
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK(relay_stream_is_closed(st));
	live = settled_live_objects();

	/* A closed stream: no index, no publication. */
	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	CHECK(relay_index_get_by_id_or_create(st, 1) == NULL);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	CHECK_EQ_LONG(relay_stream_publish(st), -1);
	CHECK(!relay_stream_is_published(st));
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);

	/* A closed session: no stream, no new trace. */
	CHECK(relay_stream_create(t, 4301, "p", "chan", 0, 0) == NULL);
	CHECK(relay_stream_get_by_id(4301) == NULL);
	CHECK(relay_ctf_trace_get_by_path_or_create(s, "host/other/path") == NULL);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 2);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2); /* ours and the trace's */
	CHECK_EQ_LONG(traceref_live_objects(), live);
	CHECK_OK("no index or publication for a closed stream; no stream or new trace "
		 "for a closed session");

	/* The trace it already has at a path is still returned, with a new
	 * reference ("NULL ... when there is no trace at `path` and the
	 * session is closed"). */
	{
		struct ctf_trace *again = relay_ctf_trace_get_by_path_or_create(s, PATH);

		CHECK_EQ_PTR(again, t);
		CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 3);
		CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
		CHECK_EQ_LONG(traceref_live_objects(), live);
		relay_ctf_trace_put(again);
		CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 2);
	}
	/* Once that trace is gone, there is no trace at its path any more,
	 * and none is made. */
	relay_stream_put(st);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 1);
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
	CHECK(relay_ctf_trace_get_by_path_or_create(s, PATH) == NULL);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
	relay_session_put(s);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("a closed session still gives the trace it has at a path (a new "
		 "reference), and NULL where it has none");
}

/* ------------------------------------------------------------------------ */
/* Pointers of the wrong kind.                                              */

static void wrong_kinds(void)
{
	const size_t start = traceref_live_objects();
	struct fixture f;
	struct counts before, after;
	struct bt_ctf_trace *bt;
	struct tally pay = { 0 };

	fixture_make(&f, 4400, 60);
	bt = bt_ctf_trace_create();
	CHECK(bt != NULL);
	before = counts_of(&f);

	/* A stream passed as a session. */
	CHECK(!relay_session_get((struct relay_session *)f.st));
	relay_session_put((struct relay_session *)f.st);
	CHECK_EQ_LONG(relay_session_close((struct relay_session *)f.st), -1);
	CHECK_EQ_LONG(relay_session_abort((struct relay_session *)f.st), -1);
	CHECK(relay_session_get_id((struct relay_session *)f.st) == UINT64_MAX);
	CHECK(relay_session_get_name((struct relay_session *)f.st) == NULL);
	CHECK_EQ_LONG(relay_session_get_ref_count((struct relay_session *)f.st), -1);
	CHECK_EQ_LONG(relay_session_lock((struct relay_session *)f.st), -1);
	CHECK_EQ_LONG(relay_session_unlock((struct relay_session *)f.st), -1);
	CHECK(relay_ctf_trace_get_by_path_or_create((struct relay_session *)f.st, PATH) == NULL);
	CHECK_EQ_LONG(relay_viewer_session_attach(f.vs, (struct relay_session *)f.st), -1);
	CHECK_EQ_LONG(relay_connection_set_session(f.c, (struct relay_session *)f.st), -1);
	CHECK(!relay_stream_is_closed(f.st));
	CHECK(relay_connection_get_session(f.c) == NULL);

	/* A session passed as a stream, a trace, an index, a viewer stream,
	 * a connection. */
	CHECK(!relay_stream_get((struct relay_stream *)f.s));
	relay_stream_put((struct relay_stream *)f.s);
	CHECK_EQ_LONG(relay_stream_close((struct relay_stream *)f.s), -1);
	CHECK(relay_stream_get_handle((struct relay_stream *)f.s) == UINT64_MAX);
	CHECK(relay_viewer_stream_create((struct relay_stream *)f.s, 0) == NULL);
	CHECK(!relay_ctf_trace_get((struct ctf_trace *)f.s));
	relay_ctf_trace_put((struct ctf_trace *)f.s);
	CHECK(relay_stream_create((struct ctf_trace *)f.s, 4401, "p", "chan", 0, 0) == NULL);
	CHECK(!relay_index_get((struct relay_index *)f.s));
	relay_index_put((struct relay_index *)f.s);
	CHECK_EQ_LONG(relay_index_try_flush((struct relay_index *)f.s), -1);
	CHECK(!relay_viewer_stream_get((struct relay_viewer_stream *)f.s));
	relay_viewer_stream_put((struct relay_viewer_stream *)f.s);
	CHECK_EQ_LONG(relay_viewer_stream_close((struct relay_viewer_stream *)f.s), -1);
	CHECK(!relay_connection_get((struct relay_connection *)f.s));
	relay_connection_put((struct relay_connection *)f.s);
	CHECK_EQ_LONG(relay_connection_close((struct relay_connection *)f.s), -1);
	CHECK(!relay_session_is_closed(f.s));
	/* An index as a viewer stream and the other way round. */
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count((struct relay_viewer_stream *)f.idx), -1);
	CHECK_EQ_LONG(relay_index_get_ref_count((struct relay_index *)f.v), -1);
	relay_index_put((struct relay_index *)f.v);
	relay_viewer_stream_put((struct relay_viewer_stream *)f.idx);
	CHECK_OK("relay objects of the wrong kind are refused by each relay function");

	/* Viewer sessions and tables are not refcounted objects. */
	CHECK_EQ_LONG(relay_connection_table_destroy((struct relay_connection_table *)f.vs), -1);
	CHECK_EQ_LONG(relay_connection_table_add((struct relay_connection_table *)f.vs, f.c), -1);
	CHECK_EQ_LONG(relay_viewer_session_close((struct relay_viewer_session *)f.table), -1);
	relay_viewer_session_destroy((struct relay_viewer_session *)f.table);
	relay_viewer_session_destroy((struct relay_viewer_session *)f.s);
	CHECK_EQ_LONG(relay_viewer_session_attach((struct relay_viewer_session *)f.s, f.s), -1);
	CHECK_EQ_LONG(relay_connection_set_viewer_session(f.c, (struct relay_viewer_session *)f.s), -1);
	CHECK(relay_connection_get_by_sock((struct relay_connection_table *)f.c, 60) == NULL);
	{
		int n = 0;

		CHECK_EQ_LONG(relay_connection_table_for_each((struct relay_connection_table *)f.vs,
							      visit_connection, &n), -1);
		CHECK_EQ_LONG(relay_viewer_session_for_each_session((struct relay_viewer_session *)f.table,
								    visit_session, &n), -1);
		CHECK_EQ_LONG(relay_viewer_session_close_one_session((struct relay_viewer_session *)f.s,
								     f.s), -1);
		CHECK_EQ_LONG(relay_viewer_session_close_one_session(f.vs,
								     (struct relay_session *)f.st), -1);
		CHECK_EQ_LONG(relay_session_for_each_ctf_trace((struct relay_session *)f.st,
							       visit_trace, &n), -1);
		CHECK_EQ_LONG(relay_session_for_each_viewer_stream((struct relay_session *)f.t,
								   visit_viewer_stream, &n), -1);
		CHECK_EQ_LONG(relay_ctf_trace_for_each_stream((struct ctf_trace *)f.s,
							      visit_stream, &n), -1);
		CHECK_EQ_LONG(n, 0);
	}
	CHECK_EQ_LONG(traceref_payload_set(f.vs, &pay, tally_destroy), -1);
	CHECK_EQ_LONG(traceref_payload_set(f.table, &pay, tally_destroy), -1);
	CHECK(traceref_payload_get(f.vs) == NULL);
	CHECK(traceref_payload_get(f.table) == NULL);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	/* Both still work. */
	CHECK_EQ_LONG(relay_viewer_session_attach(f.vs, f.s), 0);
	CHECK_EQ_LONG(relay_viewer_session_detach(f.vs, f.s), 0);
	{
		struct relay_connection *c = relay_connection_get_by_sock(f.table, 60);

		CHECK_EQ_PTR(c, f.c);
		relay_connection_put(c);
	}
	CHECK_OK("viewer sessions and connection tables are told apart, and carry no payload");

	/* Across the two models. */
	CHECK(bt_get(f.s) == NULL);
	bt_put(f.s);
	CHECK_EQ_LONG(bt_object_get_ref_count(f.s), -1);
	CHECK(bt_get(f.vs) == NULL);
	CHECK_EQ_LONG(bt_object_get_ref_count(f.table), -1);
	bt_ctf_trace_get((struct bt_ctf_trace *)f.t);
	bt_ctf_trace_put((struct bt_ctf_trace *)f.t);
	CHECK_EQ_LONG(bt_ctf_trace_get_stream_class_count((struct bt_ctf_trace *)f.t), -1);
	CHECK(!relay_session_get((struct relay_session *)bt));
	relay_session_put((struct relay_session *)bt);
	CHECK(!relay_ctf_trace_get((struct ctf_trace *)bt));
	relay_ctf_trace_put((struct ctf_trace *)bt);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count((struct ctf_trace *)bt), -1);
	CHECK(relay_stream_create((struct ctf_trace *)bt, 4402, "p", "chan", 0, 0) == NULL);
	CHECK_EQ_LONG(traceref_payload_set(bt, &pay, tally_destroy), -1);
	CHECK(traceref_payload_get(bt) == NULL);
	/* Only Babeltrace objects, connection tables and NULL are drawn. */
	{
		int devnull = open("/dev/null", O_WRONLY);

		CHECK(devnull >= 0);
		CHECK_EQ_LONG(traceref_dump_dot(f.s, devnull), -1);
		CHECK_EQ_LONG(traceref_dump_dot(f.st, devnull), -1);
		CHECK_EQ_LONG(traceref_dump_dot(f.c, devnull), -1);
		CHECK_EQ_LONG(traceref_dump_dot(f.vs, devnull), -1);
		CHECK_EQ_LONG(traceref_dump_dot(bt, devnull), 0);
		close(devnull);
	}
	CHECK_EQ_LONG(bt_object_get_ref_count(bt), 1);
	CHECK_OK("relay objects refused by bt_* functions, Babeltrace objects by relay_* ones");

	after = counts_of(&f);
	check_same(&before, &after);
	bt_put(bt);
	fixture_drop(&f);
	CHECK_EQ_LONG(tally_runs(&pay), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("wrong kinds changed no count");
}

/* ------------------------------------------------------------------------ */
/* Read-side section rules.                                                 */

static void read_sections(void)
{
	const size_t start = traceref_live_objects();
	struct relay_connection_table *table;
	struct relay_connection *c, *found;
	int n = 0;

	traceref_read_lock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), -1);
	traceref_read_lock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), -1);
	traceref_read_unlock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), -1);
	traceref_read_unlock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	/* A stray unlock is ignored: sections still nest and count. */
	traceref_read_unlock();
	traceref_read_lock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), -1);
	traceref_read_unlock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_OK("traceref_reclaim_barrier() is refused (-1) inside a read-side section");

	table = relay_connection_table_create();
	c = relay_connection_create(70, RELAY_DATA);
	CHECK(table != NULL && c != NULL);
	CHECK_EQ_LONG(relay_connection_table_add(table, c), 0);
	traceref_read_lock();
	CHECK_EQ_LONG(relay_connection_table_destroy(table), -1);
	/* Nothing was done: the table still works. */
	found = relay_connection_get_by_sock(table, 70);
	CHECK_EQ_PTR(found, c);
	relay_connection_put(found);
	CHECK_EQ_LONG(relay_connection_get_ref_count(c), 1);
	/* Lookups and walks are fine inside. */
	CHECK(relay_sessions_for_each(visit_session, &n) >= 0);
	traceref_read_unlock();
	CHECK_EQ_LONG(relay_connection_table_destroy(table), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("relay_connection_table_destroy() is refused (-1) inside a read-side section");
}

/* Embedded forms: the library's part alone, in zeroed memory. */
static int embedded_freed;

static void free_any(void *p)
{
	pthread_mutex_lock(&tally_lock);
	embedded_freed++;
	pthread_mutex_unlock(&tally_lock);
	free(p);
}

static void free_session(struct relay_session *p) { free_any(p); }
static void free_trace(struct ctf_trace *p) { free_any(p); }
static void free_stream(struct relay_stream *p) { free_any(p); }
static void free_index(struct relay_index *p) { free_any(p); }
static void free_vstream(struct relay_viewer_stream *p) { free_any(p); }
static void free_vs(struct relay_viewer_session *p) { free_any(p); }
static void free_conn(struct relay_connection *p) { free_any(p); }

/* Whether `n` bytes at `p` are all zero: a refused init wrote nothing. */
static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

static void embedded_inits(void)
{
	struct fixture f;
	struct counts before, after;
	/* Memory for each kind, zeroed; and one buffer to misalign. */
	struct relay_session *s = calloc(1, sizeof(struct relay_session_base));
	struct ctf_trace *t = calloc(1, sizeof(struct ctf_trace_base));
	struct relay_stream *st = calloc(1, sizeof(struct relay_stream_base));
	struct relay_index *idx = calloc(1, sizeof(struct relay_index_base));
	struct relay_viewer_stream *v = calloc(1, sizeof(struct relay_viewer_stream_base));
	struct relay_viewer_session *vs = calloc(1, sizeof(struct relay_viewer_session_base));
	struct relay_connection *c = calloc(1, sizeof(struct relay_connection_base));
	char *odd = calloc(1, sizeof(struct relay_session_base) + 8);

	fixture_make(&f, 4101, 4101);
	before = counts_of(&f);

	CHECK_EQ_LONG(relay_session_init(NULL, free_session, "n", "h", 0, false, 2, 11), -1);
	CHECK_EQ_LONG(relay_session_init(s, NULL, "n", "h", 0, false, 2, 11), -1);
	CHECK_EQ_LONG(relay_session_init(s, free_session, NULL, "h", 0, false, 2, 11), -1);
	CHECK_EQ_LONG(relay_session_init(s, free_session, "n", NULL, 0, false, 2, 11), -1);
	CHECK_EQ_LONG(relay_session_init((struct relay_session *)(odd + 1), free_session, "n", "h", 0,
					 false, 2, 11),
		      -1);
	CHECK(all_zero(s, sizeof(struct relay_session_base)));
	CHECK(all_zero(odd, sizeof(struct relay_session_base) + 8));

	CHECK(relay_ctf_trace_get_by_path_or_init(NULL, "x", t, free_trace) == NULL);
	CHECK(relay_ctf_trace_get_by_path_or_init(f.s, NULL, t, free_trace) == NULL);
	CHECK(relay_ctf_trace_get_by_path_or_init(f.s, "x", NULL, free_trace) == NULL);
	CHECK(relay_ctf_trace_get_by_path_or_init(f.s, "x", t, NULL) == NULL);
	/* A trace that is not a session. */
	CHECK(relay_ctf_trace_get_by_path_or_init((struct relay_session *)f.t, "x", t, free_trace) ==
	      NULL);
	CHECK(all_zero(t, sizeof(struct ctf_trace_base)));

	CHECK_EQ_LONG(relay_stream_init(NULL, free_stream, f.t, 4102, "p", "c", 0, 0), -1);
	CHECK_EQ_LONG(relay_stream_init(st, NULL, f.t, 4102, "p", "c", 0, 0), -1);
	CHECK_EQ_LONG(relay_stream_init(st, free_stream, NULL, 4102, "p", "c", 0, 0), -1);
	CHECK_EQ_LONG(relay_stream_init(st, free_stream, f.t, 4102, NULL, "c", 0, 0), -1);
	CHECK_EQ_LONG(relay_stream_init(st, free_stream, f.t, 4102, "p", NULL, 0, 0), -1);
	/* The fixture's handle is taken. */
	CHECK_EQ_LONG(relay_stream_init(st, free_stream, f.t, 4101, "p", "c", 0, 0), -1);
	CHECK(relay_stream_get_by_id(4102) == NULL);

	CHECK_EQ_LONG(relay_stream_lock(f.st), 0);
	CHECK(relay_index_get_by_id_or_init(NULL, 9, idx, free_index) == NULL);
	CHECK(relay_index_get_by_id_or_init(f.st, 9, NULL, free_index) == NULL);
	CHECK(relay_index_get_by_id_or_init(f.st, 9, idx, NULL) == NULL);
	/* An existing index is returned; the candidate stays untouched. */
	CHECK(relay_index_get_by_id_or_init(f.st, 1, idx, free_index) == f.idx);
	CHECK_EQ_LONG(relay_stream_unlock(f.st), 0);
	CHECK(all_zero(idx, sizeof(struct relay_index_base)));

	CHECK_EQ_LONG(relay_viewer_stream_init(NULL, free_vstream, f.st, 0), -1);
	CHECK_EQ_LONG(relay_viewer_stream_init(v, NULL, f.st, 0), -1);
	CHECK_EQ_LONG(relay_viewer_stream_init(v, free_vstream, NULL, 0), -1);
	/* The fixture's stream has a viewer stream already. */
	CHECK_EQ_LONG(relay_viewer_stream_init(v, free_vstream, f.st, 0), -1);

	CHECK_EQ_LONG(relay_viewer_session_init(NULL, free_vs), -1);
	CHECK_EQ_LONG(relay_viewer_session_init(vs, NULL), -1);
	CHECK(all_zero(vs, sizeof(struct relay_viewer_session_base)));

	CHECK_EQ_LONG(relay_connection_init(NULL, free_conn, 5, RELAY_DATA), -1);
	CHECK_EQ_LONG(relay_connection_init(c, NULL, 5, RELAY_DATA), -1);
	CHECK_EQ_LONG(relay_connection_init(c, free_conn, -1, RELAY_DATA), -1);
	CHECK_EQ_LONG(relay_connection_init(c, free_conn, 5, 1000), -1);
	CHECK(all_zero(c, sizeof(struct relay_connection_base)));

	after = counts_of(&f);
	check_same(&before, &after);
	CHECK_EQ_LONG(embedded_freed, 0);
	CHECK_OK("embedded inits: NULL, no free function, misaligned memory or bad arguments: -1 or NULL, memory untouched");

	/* A live object initialised again: refused, the first one intact. */
	CHECK_EQ_LONG(relay_session_init(s, free_session, "n", "h", 0, false, 2, 11), 0);
	CHECK_EQ_LONG(relay_session_init(s, free_session, "m", "h", 0, false, 2, 11), -1);
	CHECK(strcmp(relay_session_get_name(s), "n") == 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
	CHECK_EQ_LONG(relay_viewer_session_init(vs, free_vs), 0);
	CHECK_EQ_LONG(relay_viewer_session_init(vs, free_vs), -1);
	CHECK_EQ_LONG(relay_connection_init(c, free_conn, 5, RELAY_DATA), 0);
	CHECK_EQ_LONG(relay_connection_init(c, free_conn, 6, RELAY_DATA), -1);
	CHECK_EQ_LONG(relay_connection_get_sock(c), 5);
	CHECK(relay_ctf_trace_get_by_path_or_init(s, "x", t, free_trace) == t);
	CHECK(relay_ctf_trace_get_by_path_or_init(s, "y", t, free_trace) == NULL);
	CHECK_EQ_LONG(relay_stream_init(st, free_stream, t, 4103, "p", "c", 0, 0), 0);
	CHECK_EQ_LONG(relay_stream_init(st, free_stream, t, 4104, "p", "c", 0, 0), -1);
	CHECK(relay_stream_get_by_id(4104) == NULL);
	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	CHECK(relay_index_get_by_id_or_init(st, 1, idx, free_index) == idx);
	CHECK(relay_index_get_by_id_or_init(st, 2, idx, free_index) == NULL);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	CHECK_EQ_LONG(relay_viewer_stream_init(v, free_vstream, st, 0), 0);
	CHECK_EQ_LONG(relay_viewer_stream_init(v, free_vstream, st, 0), -1);
	CHECK_EQ_LONG(embedded_freed, 0);
	CHECK_OK("embedded inits: a live object initialised again is refused and left as it was");

	/* Torn down: each struct is given back once, through its free function. */
	CHECK_EQ_LONG(relay_viewer_stream_close(v), 0);
	CHECK_EQ_LONG(relay_stream_close(st), 0);
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	relay_viewer_session_destroy(vs);
	CHECK_EQ_LONG(relay_connection_close(c), 0);
	fixture_drop(&f);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(embedded_freed, 7);
	free(odd);
	CHECK_OK("embedded inits: each of the seven structs freed once by its free function");
}

int main(void)
{
	size_t start;

	/* Every call here is a misuse on purpose. */
	setenv("TRACEREF_LOG", "off", 1);
	start = traceref_live_objects();

	null_arguments();
	unknown_ids();
	second_attempts();
	count_zero();
	wrong_kinds();
	read_sections();
	closed_parents();
	embedded_inits();

	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_DONE("relay_bad_input");
	return 0;
}
