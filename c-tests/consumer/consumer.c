/*
 * A program of a project that uses an installed libtraceref: it includes the
 * installed headers (<traceref.h> and <traceref/relayd-compat.h>), links the
 * shared or the static library, and walks both object models once. Exits 0
 * when every check holds, 1 otherwise (naming the failed check).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <traceref.h>
#include <traceref/relayd-compat.h>

static int failures;

#define EXPECT(cond)                                                        \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: check failed: %s\n",        \
				__FILE__, __LINE__, #cond);                 \
			failures++;                                         \
		}                                                           \
	} while (0)

/* The Babeltrace model: a trace owning a stream class owning an event class. */
static void babeltrace_model(void)
{
	struct bt_ctf_trace *trace = bt_ctf_trace_create();
	struct bt_ctf_stream_class *sc = bt_ctf_stream_class_create("sc");
	struct bt_ctf_event_class *ec = bt_ctf_event_class_create("ec");
	struct bt_ctf_stream_class *again;

	EXPECT(trace && sc && ec);
	EXPECT(bt_ctf_trace_add_stream_class(trace, sc) == 0);
	EXPECT(bt_ctf_stream_class_add_event_class(sc, ec) == 0);
	EXPECT(bt_object_get_ref_count(trace) == 2); /* ours and sc's */
	BT_PUT(ec);
	BT_PUT(sc);
	EXPECT(bt_object_get_ref_count(trace) == 1);
	EXPECT(bt_ctf_trace_get_stream_class_count(trace) == 1);

	again = bt_ctf_trace_get_stream_class(trace, 0);
	EXPECT(again != NULL);
	EXPECT(strcmp(bt_ctf_stream_class_get_name(again), "sc") == 0);
	EXPECT(bt_object_get_ref_count(trace) == 2);
	BT_PUT(trace); /* kept alive by the stream class */
	EXPECT(bt_ctf_stream_class_get_event_class_count(again) == 1);
	BT_PUT(again); /* the whole tree goes */
}

/* The relay model, with the relay daemon's names. */
static void relay_model(void)
{
	struct relay_session *session = session_create("s", "host", 0, false, 2, 11);
	struct ctf_trace *trace;
	struct relay_stream *stream, *found;
	uint64_t id;

	EXPECT(session != NULL);
	if (!session)
		return;
	id = relay_session_get_id(session);
	trace = ctf_trace_get_by_path_or_create(session, "host/s/ust");
	EXPECT(trace != NULL);
	stream = stream_create(trace, 7, "host/s/ust", "chan_0", 0, 0);
	EXPECT(stream != NULL);
	ctf_trace_put(trace);
	EXPECT(stream_publish(stream) == 0);

	found = stream_get_by_id(7);
	EXPECT(found == stream);
	stream_put(found);

	EXPECT(session_close(session) == 0); /* closes the stream too */
	EXPECT(stream_get_by_id(7) == NULL);
	EXPECT(session_get_by_id(id) == NULL);
}

int main(void)
{
	size_t live_at_start = traceref_live_objects();

	babeltrace_model();
	relay_model();
	EXPECT(traceref_reclaim_barrier() == 0);
	EXPECT(traceref_live_objects() == live_at_start);

	if (failures) {
		fprintf(stderr, "consumer: %d check(s) failed\n", failures);
		return 1;
	}
	printf("consumer: ok\n");
	return 0;
}
