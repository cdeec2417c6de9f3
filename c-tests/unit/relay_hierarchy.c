/*
 * The whole hierarchy of the relay daemon design document:
 *
 *   control connection -> session -> ctf-trace -> streams -> indexes
 *                                                        \-> viewer streams
 *   live connection -> viewer session -> (the same session)
 *
 * built in one connection table, every refcounted object carrying a payload
 * whose destructor counts its runs, then torn down three ways: the control
 * connection closed first, the live connection closed first, and the table
 * destroyed with both connections still in it. After the barrier the census
 * is back to its start and every destructor ran exactly once. The facts the
 * header promises between the two closes are checked too.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "traceref.h"
#include "check.h"
#include "tally.h"

#define N_DATA 3  /* data streams, plus one metadata stream */
#define N_IDX 3   /* indexes per data stream */
#define MAX_TALLIES 64

#define PATH "host-h/sess-h-20150801/ust/uid/1000/64-bit"

enum teardown { CONTROL_FIRST, LIVE_FIRST, TABLE_DESTROY };

static const char *const teardown_name[] = {
	"control connection closed first",
	"live connection closed first",
	"connection table destroyed",
};

/* ------------------------------------------------------------------------ */
/* Payloads: one tally per object.                                          */

static struct tally tallies[MAX_TALLIES];
static int n_tallies;

static struct tally *attach_tally(void *obj)
{
	struct tally *t;

	CHECK(n_tallies < MAX_TALLIES);
	t = &tallies[n_tallies++];
	t->runs = 0;
	CHECK_EQ_LONG(traceref_payload_set(obj, t, tally_destroy), 0);
	CHECK_EQ_PTR(traceref_payload_get(obj), t);
	return t;
}

/* ------------------------------------------------------------------------ */

struct hierarchy {
	struct relay_connection_table *table;
	struct relay_connection *control, *live, *data;
	int sock_control, sock_live, sock_data;
	struct relay_session *session;
	uint64_t session_id;
	struct ctf_trace *trace;
	struct relay_stream *streams[N_DATA + 1]; /* the last is metadata */
	uint64_t handles[N_DATA + 1];
	struct relay_index *indexes[N_DATA][N_IDX];
	struct tally *index_tally[N_DATA][N_IDX];
	struct relay_viewer_session *vs;
	struct relay_viewer_stream *vstreams[N_DATA + 1];
	struct tally *control_tally, *live_tally, *session_tally, *trace_tally;
	struct tally *stream_tally[N_DATA + 1], *vstream_tally[N_DATA + 1];
};

static void build(struct hierarchy *h, int run)
{
	int i, k;
	struct relay_viewer_stream *m;
	struct relay_connection *c;

	h->sock_control = 10 + 3 * run;
	h->sock_live = 11 + 3 * run;
	h->sock_data = 12 + 3 * run;

	h->table = relay_connection_table_create();
	CHECK(h->table != NULL);

	/* The control connection and its session. */
	h->control = relay_connection_create(h->sock_control, RELAY_CONTROL);
	CHECK(h->control != NULL);
	CHECK_EQ_LONG(relay_connection_table_add(h->table, h->control), 0);
	h->control_tally = attach_tally(h->control);
	h->data = relay_connection_create(h->sock_data, RELAY_DATA);
	CHECK(h->data != NULL);
	CHECK_EQ_LONG(relay_connection_table_add(h->table, h->data), 0);
	attach_tally(h->data);

	h->session = relay_session_create("hier", "host-h", 5, false, 2, 11);
	CHECK(h->session != NULL);
	h->session_id = relay_session_get_id(h->session);
	h->session_tally = attach_tally(h->session);
	CHECK_EQ_LONG(relay_connection_set_session(h->control, h->session), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(h->session), 2);
	CHECK_EQ_PTR(relay_connection_get_session(h->control), h->session);
	/* From now on the connection owns the session's owner reference. */

	h->trace = relay_ctf_trace_get_by_path_or_create(h->session, PATH);
	CHECK(h->trace != NULL);
	h->trace_tally = attach_tally(h->trace);
	CHECK_EQ_LONG(relay_session_get_ref_count(h->session), 3);

	for (i = 0; i <= N_DATA; i++) {
		const char *chan = i == N_DATA ? "metadata" : "chan";

		h->handles[i] = 2000 + 100 * (uint64_t)run + (uint64_t)i;
		h->streams[i] = relay_stream_create(h->trace, h->handles[i], PATH, chan,
						    1 << 20, 4);
		CHECK(h->streams[i] != NULL);
		h->stream_tally[i] = attach_tally(h->streams[i]);
		CHECK_EQ_LONG(relay_stream_publish(h->streams[i]), 0);
		CHECK(relay_stream_is_metadata(h->streams[i]) == (i == N_DATA));
	}
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(h->trace), 1 + N_DATA + 1);
	CHECK_EQ_LONG(relay_session_get_ref_count(h->session), 3);

	/* Indexes, under the stream lock, which is what keeps the pointers
	 * valid (no reference is taken for the caller); the first of each is
	 * flushed, and with only its self reference it is then released. */
	for (i = 0; i < N_DATA; i++) {
		CHECK_EQ_LONG(relay_stream_lock(h->streams[i]), 0);
		for (k = 0; k < N_IDX; k++) {
			h->indexes[i][k] = relay_index_get_by_id_or_create(h->streams[i],
									  (uint64_t)k);
			CHECK(h->indexes[i][k] != NULL);
			CHECK_EQ_LONG(relay_index_get_ref_count(h->indexes[i][k]), 1);
			h->index_tally[i][k] = attach_tally(h->indexes[i][k]);
		}
		for (k = 0; k < N_IDX; k++) {
			CHECK_EQ_PTR(relay_index_get_by_id_or_create(h->streams[i], (uint64_t)k),
				     h->indexes[i][k]);
			CHECK_EQ_LONG(relay_index_get_ref_count(h->indexes[i][k]), 1);
		}
		CHECK_EQ_LONG(relay_stream_get_ref_count(h->streams[i]), 1 + N_IDX);
		CHECK_EQ_LONG(relay_index_try_flush(h->indexes[i][0]), 1); /* no data yet */
		CHECK_EQ_LONG(relay_stream_set_received_seq_num(h->streams[i], 0), 0);
		for (k = 1; k < N_IDX; k++)
			CHECK_EQ_LONG(relay_index_try_flush(h->indexes[i][k]), 1);
		CHECK_EQ_LONG(relay_index_try_flush(h->indexes[i][0]), 0);
		/* The owner's reference and the unflushed indexes'. */
		CHECK_EQ_LONG(relay_stream_get_ref_count(h->streams[i]), 1 + (N_IDX - 1));
		for (k = 1; k < N_IDX; k++)
			CHECK_EQ_LONG(relay_index_get_ref_count(h->indexes[i][k]), 1);
		CHECK_EQ_LONG(relay_stream_unlock(h->streams[i]), 0);
		h->indexes[i][0] = NULL; /* flushed: not to be touched again */
	}

	/* The live connection, its viewer session, the viewer streams. */
	h->live = relay_connection_create(h->sock_live, RELAY_VIEWER_COMMAND);
	CHECK(h->live != NULL);
	CHECK_EQ_LONG(relay_connection_table_add(h->table, h->live), 0);
	h->live_tally = attach_tally(h->live);
	h->vs = relay_viewer_session_create();
	CHECK(h->vs != NULL);
	CHECK_EQ_LONG(relay_connection_set_viewer_session(h->live, h->vs), 0);
	CHECK_EQ_PTR(relay_connection_get_viewer_session(h->live), h->vs);
	CHECK_EQ_LONG(relay_viewer_session_attach(h->vs, h->session), 0);
	CHECK(relay_viewer_session_is_attached(h->vs, h->session));
	CHECK_EQ_LONG(relay_session_get_ref_count(h->session), 4);
	for (i = 0; i <= N_DATA; i++) {
		h->vstreams[i] = relay_viewer_stream_create(h->streams[i], (uint32_t)i);
		CHECK(h->vstreams[i] != NULL);
		h->vstream_tally[i] = attach_tally(h->vstreams[i]);
		CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(h->vstreams[i]), 1);
	}
	for (i = 0; i < N_DATA; i++)
		CHECK_EQ_LONG(relay_stream_get_ref_count(h->streams[i]), 1 + (N_IDX - 1) + 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(h->streams[N_DATA]), 2);

	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(h->trace), 1 + N_DATA + 1);
	m = relay_ctf_trace_get_viewer_metadata_stream(h->trace);
	CHECK_EQ_PTR(m, h->vstreams[N_DATA]);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(h->trace), 1 + N_DATA + 1);
	relay_viewer_stream_put(m);
	/* Drop the creator's trace reference: the streams hold the trace. */
	relay_ctf_trace_put(h->trace);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(h->trace), N_DATA + 1);

	/* Every object is found where the protocols look for it. */
	c = relay_connection_get_by_sock(h->table, h->sock_control);
	CHECK_EQ_PTR(c, h->control);
	relay_connection_put(c);
	c = relay_connection_get_by_sock(h->table, h->sock_live);
	CHECK_EQ_PTR(c, h->live);
	relay_connection_put(c);
	for (i = 0; i <= N_DATA; i++) {
		struct relay_stream *s = relay_stream_get_by_id(h->handles[i]);
		struct relay_viewer_stream *v = relay_viewer_stream_get_by_id(h->handles[i]);

		CHECK_EQ_PTR(s, h->streams[i]);
		CHECK_EQ_PTR(v, h->vstreams[i]);
		CHECK_EQ_PTR(relay_viewer_stream_get_stream(v), s);
		relay_viewer_stream_put(v);
		relay_stream_put(s);
	}
}

/* The session, looked up by id, with its count (without the lookup's
 * reference); -1 when not found. */
static long session_count_by_id(const struct hierarchy *h, bool *closed)
{
	struct relay_session *s = relay_session_get_by_id(h->session_id);
	long n;

	if (!s)
		return -1;
	CHECK_EQ_PTR(s, h->session);
	n = relay_session_get_ref_count(s) - 1;
	*closed = relay_session_is_closed(s);
	relay_session_put(s);
	return n;
}

static void check_all_gone(const struct hierarchy *h)
{
	int i;

	CHECK(relay_session_get_by_id(h->session_id) == NULL);
	for (i = 0; i <= N_DATA; i++) {
		CHECK(relay_stream_get_by_id(h->handles[i]) == NULL);
		CHECK(relay_viewer_stream_get_by_id(h->handles[i]) == NULL);
	}
}

static void run(enum teardown order, int run_no)
{
	const size_t start = traceref_live_objects();
	struct hierarchy h;
	bool closed = false;
	int i, k;
	/* table, 3 connections, viewer session, session, trace, streams,
	 * unflushed indexes, viewer streams */
	const size_t built = 1 + 3 + 1 + 1 + 1 + (N_DATA + 1) + N_DATA * (N_IDX - 1) +
			     (N_DATA + 1);

	n_tallies = 0;
	build(&h, run_no);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + built);
	for (i = 0; i < N_DATA; i++) {
		CHECK_EQ_LONG(tally_runs(h.index_tally[i][0]), 1);
		for (k = 1; k < N_IDX; k++)
			CHECK_EQ_LONG(tally_runs(h.index_tally[i][k]), 0);
	}
	CHECK_OK("[%s] hierarchy built: %d objects, flushed indexes reclaimed",
		 teardown_name[order], (int)built);

	switch (order) {
	case CONTROL_FIRST:
		CHECK_EQ_LONG(relay_connection_close(h.control), 0);
		CHECK(relay_connection_get_by_sock(h.table, h.sock_control) == NULL);
		/* The session is closed but the viewer session still holds it
		 * (and the trace, through the streams the viewer streams hold):
		 * it is still found by id. */
		CHECK_EQ_LONG(session_count_by_id(&h, &closed), 2);
		CHECK(closed);
		CHECK(relay_viewer_session_is_attached(h.vs, h.session));
		for (i = 0; i <= N_DATA; i++) {
			struct relay_viewer_stream *v;

			/* Closed streams left the stream table ... */
			CHECK(relay_stream_get_by_id(h.handles[i]) == NULL);
			/* ... but the viewer streams (owned by the live
			 * connection) still hold them. */
			v = relay_viewer_stream_get_by_id(h.handles[i]);
			CHECK_EQ_PTR(v, h.vstreams[i]);
			CHECK(relay_stream_is_closed(relay_viewer_stream_get_stream(v)));
			CHECK_EQ_LONG(relay_stream_get_ref_count(relay_viewer_stream_get_stream(v)), 1);
			relay_viewer_stream_put(v);
		}
		CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
		CHECK_EQ_LONG(tally_runs(h.control_tally), 1);
		CHECK_EQ_LONG(tally_runs(h.session_tally), 0);
		CHECK_EQ_LONG(tally_runs(h.trace_tally), 0);
		for (i = 0; i < N_DATA; i++)
			for (k = 0; k < N_IDX; k++)
				CHECK_EQ_LONG(tally_runs(h.index_tally[i][k]), 1);
		for (i = 0; i <= N_DATA; i++) {
			CHECK_EQ_LONG(tally_runs(h.stream_tally[i]), 0);
			CHECK_EQ_LONG(tally_runs(h.vstream_tally[i]), 0);
		}
		/* control gone, indexes gone */
		CHECK_EQ_LONG(traceref_live_objects(),
			      start + built - 1 - N_DATA * (N_IDX - 1));
		CHECK_OK("[%s] session closed, still held by the viewer session; "
			 "streams closed, held by their viewer streams",
			 teardown_name[order]);

		CHECK_EQ_LONG(relay_connection_close(h.live), 0);
		CHECK(relay_connection_get_by_sock(h.table, h.sock_live) == NULL);
		check_all_gone(&h);
		CHECK_EQ_LONG(relay_connection_close(h.data), 0);
		break;

	case LIVE_FIRST:
		CHECK_EQ_LONG(relay_connection_close(h.live), 0);
		CHECK(relay_connection_get_by_sock(h.table, h.sock_live) == NULL);
		/* The session is detached: owner, control connection and trace
		 * references remain; it is not closed. */
		CHECK_EQ_LONG(session_count_by_id(&h, &closed), 3);
		CHECK(!closed);
		for (i = 0; i <= N_DATA; i++) {
			struct relay_stream *s;

			CHECK(relay_viewer_stream_get_by_id(h.handles[i]) == NULL);
			s = relay_stream_get_by_id(h.handles[i]);
			CHECK_EQ_PTR(s, h.streams[i]);
			CHECK(!relay_stream_is_closed(s));
			CHECK_EQ_LONG(relay_stream_get_ref_count(s),
				      1 + 1 + (i == N_DATA ? 0 : N_IDX - 1));
			relay_stream_put(s);
		}
		CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
		{
			/* The trace is still there, without a metadata
			 * viewer stream. */
			struct relay_session *s = relay_connection_get_session(h.control);
			struct ctf_trace *t;

			CHECK_EQ_PTR(s, h.session);
			t = relay_ctf_trace_get_by_path_or_create(s, PATH);
			CHECK_EQ_PTR(t, h.trace);
			CHECK(relay_ctf_trace_get_viewer_metadata_stream(t) == NULL);
			relay_ctf_trace_put(t);
		}
		CHECK_EQ_LONG(tally_runs(h.live_tally), 1);
		for (i = 0; i <= N_DATA; i++) {
			CHECK_EQ_LONG(tally_runs(h.vstream_tally[i]), 1);
			CHECK_EQ_LONG(tally_runs(h.stream_tally[i]), 0);
		}
		CHECK_EQ_LONG(tally_runs(h.session_tally), 0);
		/* live connection, viewer session, viewer streams gone */
		CHECK_EQ_LONG(traceref_live_objects(), start + built - 2 - (N_DATA + 1));
		CHECK_OK("[%s] viewer streams closed, session detached and still open",
			 teardown_name[order]);

		CHECK_EQ_LONG(relay_connection_close(h.control), 0);
		CHECK(relay_connection_get_by_sock(h.table, h.sock_control) == NULL);
		check_all_gone(&h);
		CHECK_EQ_LONG(relay_connection_close(h.data), 0);
		break;

	case TABLE_DESTROY:
		CHECK_EQ_LONG(relay_connection_table_destroy(h.table), 0);
		h.table = NULL;
		check_all_gone(&h);
		break;
	}

	if (h.table) {
		CHECK(relay_connection_get_by_sock(h.table, h.sock_data) == NULL);
		CHECK_EQ_LONG(relay_connection_table_destroy(h.table), 0);
	}
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	for (i = 0; i < n_tallies; i++)
		CHECK_EQ_LONG(tally_runs(&tallies[i]), 1);
	CHECK_OK("[%s] census back to its start; all %d payload destructors ran once",
		 teardown_name[order], n_tallies);
}

int main(void)
{
	size_t start;

	start = traceref_live_objects();
	run(CONTROL_FIRST, 0);
	run(LIVE_FIRST, 1);
	run(TABLE_DESTROY, 2);
	/* Once more each, reusing the same sockets and handles. */
	run(LIVE_FIRST, 0);
	run(TABLE_DESTROY, 1);
	run(CONTROL_FIRST, 2);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_DONE("relay_hierarchy");
	return 0;
}
