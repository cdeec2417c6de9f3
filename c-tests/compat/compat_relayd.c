/*
 * Relay daemon code written with the daemon's own function names, compiled
 * through traceref/relayd-compat.h as strict C99.
 *
 * Every call that the original daemon had is written with its original name
 * (session_create, stream_get_by_id, try_stream_close, connection_ht_add,
 * ...). What the originals did by reading or writing structure fields, or
 * with pthread_mutex_lock(&obj->lock), goes through this library's own
 * functions (relay_stream_get_handle, relay_stream_lock, ...), and so do the
 * connection table's creation and destruction, which were generic hash
 * table calls. The counts are checked after every step, and at the end every
 * object is reclaimed.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <traceref/relayd-compat.h>

#include "check.h"

/* The stream handles of this program, as a session daemon would send them. */
enum {
	HANDLE_CHAN0 = 100,
	HANDLE_METADATA = 101,
	HANDLE_PENDING = 102,
	HANDLE_ABORTED = 300
};

/* A heap copy, as the daemon receives names from the network. */
static char *dup_string(const char *s)
{
	size_t n = strlen(s) + 1;
	char *copy = malloc(n);

	CHECK(copy != NULL);
	memcpy(copy, s, n);
	return copy;
}

/*
 * The control side of relay_add_stream: find or create the trace, create the
 * stream, drop the trace reference (the stream holds the trace).
 */
static struct relay_stream *add_stream(struct relay_session *session, const char *trace_path,
				       uint64_t handle, const char *channel)
{
	struct ctf_trace *trace;
	struct relay_stream *stream;
	char *path_name = dup_string(trace_path);
	char *channel_name = dup_string(channel);

	trace = ctf_trace_get_by_path_or_create(session, path_name);
	CHECK(trace != NULL);
	stream = stream_create(trace, handle, path_name, channel_name, 0, 0);
	ctf_trace_put(trace);
	/* The library copied the names. */
	free(path_name);
	free(channel_name);
	return stream;
}

static void sessions_and_traces(void)
{
	struct relay_session *session, *found;
	struct ctf_trace *trace, *again, *kept;
	uint64_t id;

	session = session_create("s1", "host", 0, false, 2, 11);
	CHECK(session != NULL);
	id = relay_session_get_id(session);
	CHECK_EQ_LONG(relay_session_get_ref_count(session), 1);

	found = session_get_by_id(id);
	CHECK_EQ_PTR(found, session);
	CHECK_EQ_LONG(relay_session_get_ref_count(session), 2);
	session_put(found);
	CHECK(session_get(session));
	session_put(session);
	CHECK_EQ_LONG(relay_session_get_ref_count(session), 1);
	CHECK(session_get_by_id(UINT64_MAX - 1) == NULL);
	session_put(NULL);

	trace = ctf_trace_get_by_path_or_create(session, "host/s1/ust");
	CHECK(trace != NULL);
	again = ctf_trace_get_by_path_or_create(session, "host/s1/ust");
	CHECK_EQ_PTR(again, trace);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(trace), 2);
	CHECK_EQ_LONG(relay_session_get_ref_count(session), 2); /* the trace's */
	ctf_trace_put(again);
	CHECK(ctf_trace_get(trace));
	ctf_trace_put(trace);
	ctf_trace_put(trace);
	CHECK_EQ_LONG(relay_session_get_ref_count(session), 1); /* trace gone */

	kept = ctf_trace_get_by_path_or_create(session, "host/s1/kernel");
	CHECK(kept != NULL);
	CHECK(session_get(session)); /* to look at it after the close */
	CHECK_EQ_LONG(session_close(session), 0);
	CHECK(relay_session_is_closed(session));
	CHECK_EQ_LONG(session_close(session), -1);         /* refused */
	CHECK(ctf_trace_get_by_path_or_create(session, "x") == NULL); /* closed */
	/* As in the original, a closed session still gives the trace it has. */
	again = ctf_trace_get_by_path_or_create(session, "host/s1/kernel");
	CHECK_EQ_PTR(again, kept);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(kept), 2);
	ctf_trace_put(again);
	ctf_trace_put(kept);
	CHECK_EQ_LONG(relay_session_get_ref_count(session), 1);
	session_put(session);
	CHECK(session_get_by_id(id) == NULL);
	CHECK_OK("sessions and traces: create, get_by_id, get/put, close once");
}

static void streams_indexes_and_closes(void)
{
	struct relay_session *session;
	struct relay_stream *stream, *pending, *found;
	struct relay_index *index1, *index2, *index3, *same;

	session = session_create("s2", "host", 0, false, 2, 11);
	CHECK(session != NULL);

	stream = add_stream(session, "host/s2/ust", HANDLE_CHAN0, "chan_0");
	CHECK(stream != NULL);
	CHECK_EQ_LONG(relay_stream_get_handle(stream), HANDLE_CHAN0);
	CHECK_EQ_STR(relay_stream_get_channel_name(stream), "chan_0");
	CHECK(add_stream(session, "host/s2/ust", HANDLE_CHAN0, "dup") == NULL);

	found = stream_get_by_id(HANDLE_CHAN0);
	CHECK_EQ_PTR(found, stream);
	CHECK_EQ_LONG(relay_stream_get_ref_count(stream), 2);
	stream_put(found);
	CHECK(stream_get(stream));
	stream_put(stream);

	/* relay_streams_sent: publish. */
	relay_session_lock(session);
	stream_publish(stream);
	relay_session_unlock(session);
	CHECK(relay_stream_is_published(stream));

	/* relay_recv_index, with the stream's lock held: as in the original,
	 * the index is lent, not referenced, for as long as the lock is held. */
	CHECK_EQ_LONG(relay_stream_lock(stream), 0);
	index1 = relay_index_get_by_id_or_create(stream, 1);
	CHECK(index1 != NULL);
	CHECK_EQ_LONG(relay_index_get_ref_count(index1), 1); /* its self reference */
	same = relay_index_get_by_id_or_create(stream, 1);
	CHECK_EQ_PTR(same, index1);
	CHECK_EQ_LONG(relay_index_get_ref_count(index1), 1);
	index2 = relay_index_get_by_id_or_create(stream, 2);
	CHECK(index2 != NULL);
	CHECK_EQ_LONG(relay_index_get_ref_count(index2), 1);
	/* Kept past the lock, as the live side does: relay_index_get(). */
	CHECK(relay_index_get(index1));
	CHECK_EQ_LONG(relay_index_get_ref_count(index1), 2);
	CHECK_EQ_LONG(relay_stream_unlock(stream), 0);
	/* Each index holds the stream. */
	CHECK_EQ_LONG(relay_stream_get_ref_count(stream), 3);

	/* The data of packet 1 arrived: index 1 flushes (0), index 2 waits
	 * (1), and a second flush of index 1 does nothing (1). */
	relay_stream_set_received_seq_num(stream, 1);
	CHECK_EQ_LONG(relay_stream_lock(stream), 0);
	CHECK_EQ_LONG(relay_index_try_flush(index1), 0);
	CHECK_EQ_LONG(relay_index_try_flush(index1), 1);
	CHECK_EQ_LONG(relay_index_try_flush(index2), 1);
	CHECK_EQ_LONG(relay_index_get_ref_count(index2), 1);
	CHECK_EQ_LONG(relay_stream_unlock(stream), 0);
	CHECK_EQ_LONG(relay_index_get_ref_count(index1), 1); /* ours only */
	relay_index_put(index1);
	/* index2 keeps its self reference: nothing to put. */
	CHECK_EQ_LONG(relay_stream_get_ref_count(stream), 2);

	/* An index nobody else holds goes as soon as it is flushed (it puts
	 * its stream reference then). */
	CHECK_EQ_LONG(relay_stream_lock(stream), 0);
	index3 = relay_index_get_by_id_or_create(stream, 0);
	CHECK(index3 != NULL);
	CHECK_EQ_LONG(relay_stream_get_ref_count(stream), 3);
	CHECK_EQ_LONG(relay_index_try_flush(index3), 0);
	CHECK_EQ_LONG(relay_stream_get_ref_count(stream), 2);
	CHECK_EQ_LONG(relay_stream_unlock(stream), 0);

	/* A stream closed at once: its index drops its self reference. */
	CHECK(stream_get(stream));
	CHECK_EQ_LONG(stream_close(stream), 0);
	CHECK(relay_stream_is_closed(stream));
	CHECK(stream_get_by_id(HANDLE_CHAN0) == NULL);
	CHECK_EQ_LONG(relay_stream_get_ref_count(stream), 1); /* ours */
	CHECK_EQ_LONG(stream_close(stream), -1);
	CHECK_EQ_LONG(try_stream_close(stream), -1);
	stream_put(stream);

	/* A stream whose close waits for announced data. */
	pending = add_stream(session, "host/s2/ust", HANDLE_PENDING, "chan_1");
	CHECK(pending != NULL);
	CHECK(stream_get(pending));
	relay_stream_set_last_net_seq_num(pending, 5);
	relay_stream_set_received_seq_num(pending, 3);
	CHECK_EQ_LONG(try_stream_close(pending), 1); /* pending */
	found = stream_get_by_id(HANDLE_PENDING);
	CHECK_EQ_PTR(found, pending);
	stream_put(found);
	relay_stream_set_received_seq_num(pending, 5); /* completes the close */
	CHECK(relay_stream_is_closed(pending));
	CHECK(stream_get_by_id(HANDLE_PENDING) == NULL);
	CHECK_EQ_LONG(relay_stream_get_ref_count(pending), 1);
	stream_put(pending);

	CHECK_EQ_LONG(session_close(session), 0);
	CHECK_OK("streams and indexes: create, publish, index self references, close and try close");
}

static void abort_closes_pending_streams(void)
{
	struct relay_session *session;
	struct relay_stream *stream, *found;
	uint64_t id;

	session = session_create("s3", "host", 0, false, 2, 11);
	CHECK(session != NULL);
	id = relay_session_get_id(session);
	stream = add_stream(session, "host/s3/kernel", HANDLE_ABORTED, "chan_0");
	CHECK(stream != NULL);
	relay_stream_set_last_net_seq_num(stream, 10);

	CHECK(session_get(session));
	CHECK_EQ_LONG(session_close(session), 0);
	found = stream_get_by_id(HANDLE_ABORTED); /* waiting for its data */
	CHECK_EQ_PTR(found, stream);
	stream_put(found);
	CHECK_EQ_LONG(session_abort(session), 0);
	CHECK(stream_get_by_id(HANDLE_ABORTED) == NULL);
	session_put(session);
	CHECK(session_get_by_id(id) == NULL);
	CHECK_OK("session close waits for a stream's data; session abort closes it");
}

static void viewers_and_connections(void)
{
	struct relay_connection_table *relay_connections_ht;
	struct relay_connection *conn, *live, *dup, *found;
	struct relay_session *session;
	struct relay_stream *chan, *meta;
	struct relay_viewer_session *vsession, *other;
	struct relay_viewer_stream *vstream, *vmeta, *vfound;
	struct ctf_trace *trace;
	enum connection_type type = RELAY_CONTROL;
	uint64_t id;

	relay_connections_ht = relay_connection_table_create();
	CHECK(relay_connections_ht != NULL);

	/* A control connection and its session. */
	conn = connection_create(10, type);
	CHECK(conn != NULL);
	CHECK_EQ_LONG(connection_ht_add(relay_connections_ht, conn), 0);
	dup = connection_create(10, RELAY_DATA);
	CHECK(dup != NULL);
	CHECK_EQ_LONG(connection_ht_add(relay_connections_ht, dup), -1); /* same socket */
	connection_put(dup); /* never in a table: its put is its end */
	found = connection_get_by_sock(relay_connections_ht, 10);
	CHECK_EQ_PTR(found, conn);
	CHECK_EQ_LONG(relay_connection_get_type(found), RELAY_CONTROL);
	connection_put(found);
	CHECK(connection_get(conn));
	connection_put(conn);
	CHECK(connection_get_by_sock(relay_connections_ht, 11) == NULL);

	session = session_create("live", "host", 1000000, false, 2, 11);
	CHECK(session != NULL);
	id = relay_session_get_id(session);
	CHECK_EQ_LONG(connection_set_session(conn, session), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(session), 2);

	chan = add_stream(session, "host/live/ust", HANDLE_CHAN0, "chan_0");
	meta = add_stream(session, "host/live/ust", HANDLE_METADATA, "metadata");
	CHECK(chan != NULL && meta != NULL);
	stream_publish(chan);
	stream_publish(meta);
	CHECK(relay_stream_is_metadata(meta));

	/* A live viewer attaches and gets its viewer streams. */
	vsession = viewer_session_create();
	CHECK(vsession != NULL);
	CHECK_EQ_LONG(viewer_session_attach(vsession, session), 0);
	CHECK(viewer_session_is_attached(vsession, session));
	/* The owner's, the connection's, the trace's and the attach's. */
	CHECK_EQ_LONG(relay_session_get_ref_count(session), 4);
	other = viewer_session_create();
	CHECK(other != NULL);
	CHECK_EQ_LONG(viewer_session_attach(other, session), -1); /* already attached */
	viewer_session_destroy(other);

	vstream = viewer_stream_create(chan, 1);
	CHECK(vstream != NULL);
	vmeta = viewer_stream_create(meta, 1);
	CHECK(vmeta != NULL);
	CHECK(viewer_stream_create(chan, 1) == NULL); /* one per handle */
	CHECK_EQ_LONG(relay_stream_get_ref_count(chan), 2);
	vfound = viewer_stream_get_by_id(HANDLE_CHAN0);
	CHECK_EQ_PTR(vfound, vstream);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(vstream), 2);
	viewer_stream_put(vfound);
	CHECK(viewer_stream_get(vstream));
	viewer_stream_put(vstream);

	trace = relay_stream_get_trace(meta);
	vfound = ctf_trace_get_viewer_metadata_stream(trace);
	CHECK_EQ_PTR(vfound, vmeta);
	viewer_stream_put(vfound);

	/* The viewer goes away: its viewer streams and the attach go. */
	CHECK_EQ_LONG(viewer_session_close(vsession), 0);
	CHECK(viewer_stream_get_by_id(HANDLE_CHAN0) == NULL);
	CHECK(viewer_stream_get_by_id(HANDLE_METADATA) == NULL);
	CHECK(ctf_trace_get_viewer_metadata_stream(trace) == NULL);
	CHECK(!viewer_session_is_attached(vsession, session));
	CHECK_EQ_LONG(relay_session_get_ref_count(session), 3);
	CHECK_EQ_LONG(relay_stream_get_ref_count(chan), 1);
	CHECK_EQ_LONG(viewer_session_close(vsession), -1);
	CHECK_EQ_LONG(viewer_session_attach(vsession, session), -1); /* closed */
	viewer_session_destroy(vsession);

	/* Attach and detach. */
	other = viewer_session_create();
	CHECK(other != NULL);
	CHECK_EQ_LONG(viewer_session_attach(other, session), 0);
	CHECK_EQ_LONG(viewer_session_detach(other, session), 0);
	CHECK_EQ_LONG(viewer_session_detach(other, session), -1);
	CHECK(!viewer_session_is_attached(other, session));
	viewer_session_destroy(other);

	/* A live connection owning a viewer session attached to the session. */
	live = connection_create(20, RELAY_VIEWER_COMMAND);
	CHECK(live != NULL);
	CHECK_EQ_LONG(connection_ht_add(relay_connections_ht, live), 0);
	vsession = viewer_session_create();
	CHECK(vsession != NULL);
	CHECK_EQ_LONG(relay_connection_set_viewer_session(live, vsession), 0);
	CHECK_EQ_LONG(viewer_session_attach(vsession, session), 0);
	vstream = viewer_stream_create(chan, 2);
	CHECK(vstream != NULL);
	CHECK_EQ_LONG(relay_stream_get_ref_count(chan), 2);
	/* The viewer hangs up: the live connection closes its viewer session. */
	CHECK_EQ_LONG(relay_connection_close(live), 0);
	CHECK(connection_get_by_sock(relay_connections_ht, 20) == NULL);
	CHECK(viewer_stream_get_by_id(HANDLE_CHAN0) == NULL);
	CHECK_EQ_LONG(relay_stream_get_ref_count(chan), 1);
	CHECK_EQ_LONG(relay_session_get_ref_count(session), 3);

	/* The worker thread ends: the table closes the control connection,
	 * whose end closes the session (its streams close) and frees it. */
	CHECK_EQ_LONG(relay_connection_table_destroy(relay_connections_ht), 0);
	CHECK(session_get_by_id(id) == NULL);
	CHECK(stream_get_by_id(HANDLE_CHAN0) == NULL);
	CHECK(stream_get_by_id(HANDLE_METADATA) == NULL);
	CHECK_OK("viewer sessions, viewer streams and connections, up to the table's end");
}

int main(void)
{
	size_t live_at_start;

	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	live_at_start = traceref_live_objects();

	sessions_and_traces();
	streams_indexes_and_closes();
	abort_closes_pending_streams();
	viewers_and_connections();

	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), live_at_start);
	CHECK_OK("every object reclaimed");
	CHECK_DONE("compat_relayd");
	return 0;
}
