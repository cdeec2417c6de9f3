/*
 * A small relay daemon that keeps its own structs: compiled through
 * traceref/relayd-compat.h with TRACEREF_RELAYD_EMBEDDED, as strict C99.
 *
 * Its structs have the fields of the 2015 design's (names, file
 * descriptors, tracefile counters, sequence numbers, viewer positions) and
 * the library's part first. Its creators keep their original names and
 * parameters and call the library's inits; every other call has its
 * original name, and lookups hand back the daemon's own structs, whose
 * fields it reads and writes directly. Its free functions run where the
 * originals' call_rcu() callbacks did; at the end each struct was freed
 * exactly once and the census is back to zero.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACEREF_RELAYD_EMBEDDED
#include <traceref/relayd-compat.h>

#include "check.h"

/* The daemon's structs: its fields, the library's part first. */
struct relay_session {
	struct relay_session_base base;
	uint64_t id;
	char session_name[64];
	char hostname[64];
	uint32_t live_timer;
	uint32_t major, minor;
};

struct ctf_trace {
	struct ctf_trace_base base;
	uint64_t id;
	char path[128];
	struct relay_session *session;
};

struct relay_stream {
	struct relay_stream_base base;
	uint64_t stream_handle;
	int stream_fd;
	int index_fd;
	uint64_t tracefile_size;
	uint64_t tracefile_size_current;
	uint64_t prev_seq;
	struct ctf_trace *trace;
};

struct relay_index {
	struct relay_index_base base;
	uint64_t net_seq_num;
	uint64_t offset;
	uint64_t packet_size;
};

struct relay_viewer_stream {
	struct relay_viewer_stream_base base;
	uint64_t last_sent_index;
	uint64_t metadata_sent;
	struct relay_stream *stream;
};

struct relay_viewer_session {
	struct relay_viewer_session_base base;
	uint64_t current_trace_chunk;
};

struct relay_connection {
	struct relay_connection_base base;
	int sock;
	enum connection_type type;
	bool version_check_done;
	uint32_t major, minor;
};

TRACEREF_ASSERT_FIRST(struct relay_session, base);
TRACEREF_ASSERT_FIRST(struct ctf_trace, base);
TRACEREF_ASSERT_FIRST(struct relay_stream, base);
TRACEREF_ASSERT_FIRST(struct relay_index, base);
TRACEREF_ASSERT_FIRST(struct relay_viewer_stream, base);
TRACEREF_ASSERT_FIRST(struct relay_viewer_session, base);
TRACEREF_ASSERT_FIRST(struct relay_connection, base);

/* The free functions: where the originals' call_rcu() callbacks freed. */
static int freed[7];
enum { F_SESSION, F_TRACE, F_STREAM, F_INDEX, F_VSTREAM, F_VSESSION, F_CONN };
/* What the stream's free function saw: the daemon's last writes. */
static uint64_t freed_stream_bytes;

static void session_free(struct relay_session *s) { freed[F_SESSION]++; free(s); }
static void trace_free(struct ctf_trace *t) { freed[F_TRACE]++; free(t); }
static void stream_free(struct relay_stream *s)
{
	freed[F_STREAM]++;
	freed_stream_bytes += s->tracefile_size_current;
	free(s);
}
static void index_free(struct relay_index *i) { freed[F_INDEX]++; free(i); }
static void vstream_free(struct relay_viewer_stream *v) { freed[F_VSTREAM]++; free(v); }
static void vsession_free(struct relay_viewer_session *v) { freed[F_VSESSION]++; free(v); }
static void connection_free(struct relay_connection *c) { freed[F_CONN]++; free(c); }

/* The daemon's creators, with the originals' names and parameters: fill in
 * the fields, then the init publishes the object. */
static struct relay_session *session_create(const char *session_name, const char *hostname,
					    uint32_t live_timer, bool snapshot, uint32_t major,
					    uint32_t minor)
{
	struct relay_session *session = calloc(1, sizeof(*session));

	if (!session)
		return NULL;
	snprintf(session->session_name, sizeof(session->session_name), "%s", session_name);
	snprintf(session->hostname, sizeof(session->hostname), "%s", hostname);
	session->live_timer = live_timer;
	session->major = major;
	session->minor = minor;
	if (relay_session_init(session, session_free, session_name, hostname, live_timer, snapshot,
			       major, minor)) {
		free(session);
		return NULL;
	}
	session->id = relay_session_get_id(session);
	return session;
}

static struct ctf_trace *ctf_trace_get_by_path_or_create(struct relay_session *session,
							 const char *path_name)
{
	struct ctf_trace *fresh = calloc(1, sizeof(*fresh));
	struct ctf_trace *trace;

	if (!fresh)
		return NULL;
	snprintf(fresh->path, sizeof(fresh->path), "%s", path_name);
	fresh->session = session;
	trace = relay_ctf_trace_get_by_path_or_init(session, path_name, fresh, trace_free);
	if (trace != fresh)
		free(fresh);
	return trace;
}

static struct relay_stream *stream_create(struct ctf_trace *trace, uint64_t stream_handle,
					  const char *path_name, const char *channel_name,
					  uint64_t tracefile_size, uint64_t tracefile_count)
{
	struct relay_stream *stream = calloc(1, sizeof(*stream));

	if (!stream)
		return NULL;
	stream->stream_handle = stream_handle;
	stream->stream_fd = 40 + (int)stream_handle;
	stream->index_fd = 80 + (int)stream_handle;
	stream->tracefile_size = tracefile_size;
	stream->trace = trace;
	if (relay_stream_init(stream, stream_free, trace, stream_handle, path_name, channel_name,
			      tracefile_size, tracefile_count)) {
		free(stream);
		return NULL;
	}
	return stream;
}

/* The daemon's relay_index_get_by_id_or_create() (renamed by the header, so
 * as not to clash with the library's function of that name). */
static struct relay_index *relay_index_get_by_id_or_create(struct relay_stream *stream,
							   uint64_t net_seq_num)
{
	struct relay_index *fresh = calloc(1, sizeof(*fresh));
	struct relay_index *index;

	if (!fresh)
		return NULL;
	fresh->net_seq_num = net_seq_num;
	index = relay_index_get_by_id_or_init(stream, net_seq_num, fresh, index_free);
	if (index != fresh)
		free(fresh);
	return index;
}

static struct relay_viewer_stream *viewer_stream_create(struct relay_stream *stream, uint32_t seek_t)
{
	struct relay_viewer_stream *vstream = calloc(1, sizeof(*vstream));

	if (!vstream)
		return NULL;
	vstream->stream = stream;
	if (relay_viewer_stream_init(vstream, vstream_free, stream, seek_t)) {
		free(vstream);
		return NULL;
	}
	return vstream;
}

static struct relay_viewer_session *viewer_session_create(void)
{
	struct relay_viewer_session *vsession = calloc(1, sizeof(*vsession));

	if (!vsession)
		return NULL;
	if (relay_viewer_session_init(vsession, vsession_free)) {
		free(vsession);
		return NULL;
	}
	return vsession;
}

static struct relay_connection *connection_create(int sock, enum connection_type type)
{
	struct relay_connection *conn = calloc(1, sizeof(*conn));

	if (!conn)
		return NULL;
	conn->sock = sock;
	conn->type = type;
	if (relay_connection_init(conn, connection_free, sock, (int)type)) {
		free(conn);
		return NULL;
	}
	return conn;
}

/*
 * As the daemon names a connection's type (relay_thread_close_connection()):
 * a switch over the enum with no default, which -Wswitch checks against the
 * enum's values.
 */
static const char *connection_type_str(enum connection_type type)
{
	switch (type) {
	case RELAY_CONNECTION_UNKNOWN:
		return "Unknown";
	case RELAY_DATA:
		return "Data";
	case RELAY_CONTROL:
		return "Control";
	case RELAY_VIEWER_COMMAND:
		return "Viewer Command";
	case RELAY_VIEWER_NOTIFICATION:
		return "Viewer Notification";
	}
	return "?";
}

/* The data side: a packet of `len` bytes with sequence number `seq`. */
static void recv_data(uint64_t handle, uint64_t seq, uint64_t len)
{
	struct relay_stream *stream = stream_get_by_id(handle);

	CHECK(stream != NULL);
	relay_stream_lock(stream);
	stream->tracefile_size_current += len;
	stream->prev_seq = seq;
	relay_stream_set_received_seq_num(stream, seq);
	relay_stream_unlock(stream);
	stream_put(stream);
}

int main(void)
{
	size_t start = traceref_live_objects();
	struct relay_connection_table *relay_connections_ht = relay_connection_table_create();
	struct relay_connection *control, *live, *found;
	struct relay_session *session, *looked_up;
	struct ctf_trace *trace, *again;
	struct relay_stream *chan, *meta;
	struct relay_index *index;
	struct relay_viewer_session *vsession;
	struct relay_viewer_stream *vmeta, *vchan;
	int i;

	CHECK(relay_connections_ht != NULL);

	/* The control connection creates a session. */
	control = connection_create(5, RELAY_CONTROL);
	CHECK(control != NULL);
	CHECK_EQ_LONG(connection_ht_add(relay_connections_ht, control), 0);
	found = connection_get_by_sock(relay_connections_ht, 5);
	CHECK(found == control && found->type == RELAY_CONTROL && found->sock == 5);
	CHECK(strcmp(connection_type_str(found->type), "Control") == 0);
	found->version_check_done = true;
	found->major = 2;
	found->minor = 11;
	connection_put(found);
	session = session_create("S", "host", 200000, false, control->major, control->minor);
	CHECK(session != NULL);
	CHECK_EQ_LONG(connection_set_session(control, session), 0);
	looked_up = session_get_by_id(session->id);
	CHECK(looked_up == session);
	CHECK(strcmp(looked_up->session_name, "S") == 0 && looked_up->minor == 11);
	session_put(looked_up);
	CHECK_OK("control connection and session: the daemon's structs come back from lookups");

	/* A trace and two streams, one of them metadata; a second get of the
	 * same path gives the same trace and frees the candidate. */
	trace = ctf_trace_get_by_path_or_create(session, "host/S/ust");
	CHECK(trace != NULL && trace->session == session);
	again = ctf_trace_get_by_path_or_create(session, "host/S/ust");
	CHECK(again == trace);
	ctf_trace_put(again);
	chan = stream_create(trace, 100, "ust/chan", "chan_0", 4096, 0);
	meta = stream_create(trace, 101, "ust", "metadata", 0, 0);
	CHECK(chan != NULL && meta != NULL);
	ctf_trace_put(trace);
	CHECK_EQ_LONG(stream_publish(chan), 0);
	CHECK_EQ_LONG(stream_publish(meta), 0);
	CHECK(stream_get_by_id(100) == chan && chan->stream_fd == 140);
	stream_put(chan);
	CHECK_OK("a trace and two streams, created under the original names");

	/* Indexes before and after their data. */
	relay_stream_lock(chan);
	index = relay_index_get_by_id_or_create(chan, 1);
	CHECK(index != NULL && index->net_seq_num == 1);
	index->offset = 0;
	index->packet_size = 512;
	CHECK(relay_index_get_by_id_or_create(chan, 1) == index);
	CHECK_EQ_LONG(relay_index_try_flush(index), 1);
	relay_stream_unlock(chan);
	recv_data(100, 1, 512);
	relay_stream_lock(chan);
	CHECK_EQ_LONG(relay_index_try_flush(index), 0);
	relay_stream_unlock(chan);
	for (i = 2; i <= 4; i++)
		recv_data(100, (uint64_t)i, 1024);
	relay_stream_lock(chan);
	index = relay_index_get_by_id_or_create(chan, 3);
	CHECK(index != NULL);
	CHECK_EQ_LONG(relay_index_try_flush(index), 0);
	relay_stream_unlock(chan);
	CHECK(chan->tracefile_size_current == 512 + 3 * 1024 && chan->prev_seq == 4);
	CHECK_OK("indexes before and after their data, the daemon's counters kept");

	/* A live connection attaches; viewer streams, the metadata one found
	 * through the trace. */
	live = connection_create(6, RELAY_VIEWER_COMMAND);
	CHECK(live != NULL);
	CHECK_EQ_LONG(connection_ht_add(relay_connections_ht, live), 0);
	vsession = viewer_session_create();
	CHECK(vsession != NULL);
	CHECK_EQ_LONG(relay_connection_set_viewer_session(live, vsession), 0);
	CHECK_EQ_LONG(viewer_session_attach(vsession, session), 0);
	vchan = viewer_stream_create(chan, 0);
	vmeta = viewer_stream_create(meta, 0);
	CHECK(vchan != NULL && vmeta != NULL);
	CHECK(ctf_trace_get_viewer_metadata_stream(trace) == vmeta);
	vmeta->metadata_sent = 4096;
	viewer_stream_put(vmeta);
	{
		struct relay_viewer_stream *v = viewer_stream_get_by_id(100);

		CHECK(v == vchan && v->stream == chan);
		v->last_sent_index = 3;
		viewer_stream_put(v);
	}
	CHECK_OK("viewer session and viewer streams, looked up as the daemon's structs");

	/* A close with late data: pending until seq 6 arrives. */
	relay_stream_set_last_net_seq_num(chan, 6);
	CHECK_EQ_LONG(try_stream_close(chan), 1);
	recv_data(100, 5, 100);
	CHECK(!relay_stream_is_closed(chan));
	recv_data(100, 6, 100);
	CHECK(stream_get_by_id(100) == NULL);
	CHECK_OK("a stream closed with late data closes when the data arrives");

	/* The live connection goes first (closing its viewer session and
	 * viewer streams), then the control connection (closing the session),
	 * then the table. */
	CHECK_EQ_LONG(relay_connection_close(live), 0);
	CHECK_EQ_LONG(relay_connection_close(control), 0);
	CHECK_EQ_LONG(relay_connection_table_destroy(relay_connections_ht), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(freed[F_SESSION], 1);
	CHECK_EQ_LONG(freed[F_TRACE], 1);
	CHECK_EQ_LONG(freed[F_STREAM], 2);
	CHECK_EQ_LONG(freed[F_INDEX], 2);
	CHECK_EQ_LONG(freed[F_VSTREAM], 2);
	CHECK_EQ_LONG(freed[F_VSESSION], 1);
	CHECK_EQ_LONG(freed[F_CONN], 2);
	CHECK(freed_stream_bytes == 512 + 3 * 1024 + 200);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("torn down: each struct freed once, by the daemon's free function");
	CHECK_DONE("compat_embedded");
	return 0;
}
