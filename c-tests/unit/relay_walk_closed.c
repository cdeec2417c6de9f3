/*
 * relay_session_for_each_stream() visits the streams of a session that are
 * not closed, and lets its visitor call into the library. A stream that an
 * earlier visit of the same walk closed is not handed to the visitor: the
 * walk re-checks each stream right before its visit. (The reference the walk
 * took on it keeps it allocated until the walk puts it.)
 *
 *   - a visitor that closes every other stream of the session on its first
 *     visit is called once, and the walk returns 1;
 *   - a visitor that aborts the session on its first visit, every stream
 *     waiting for announced data (a pending relay_stream_try_close()), is
 *     called once too: the abort closed them all;
 *   - a close left pending by a visit does not close the stream: it is still
 *     visited;
 *   - every stream closed during a walk is reclaimed afterwards (census).
 */

#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traceref.h"
#include "check.h"

#define PATH "host-w/sess-w/ust"
#define NSTREAMS 5

enum mode {
	CLOSE_OTHERS,
	ABORT_SESSION,
	TRY_CLOSE_PENDING,
	VISIT_ONLY,
};

struct walk {
	enum mode mode;
	struct relay_session *s;
	struct relay_stream *owners[NSTREAMS];
	bool closed_by_us[NSTREAMS];
	int visits;
	int closed_handed; /* visits of a stream already closed */
	int visited_handles[NSTREAMS];
};

static int slot_of(struct walk *w, struct relay_stream *st)
{
	int i;

	for (i = 0; i < NSTREAMS; i++)
		if (w->owners[i] == st)
			return i;
	return -1;
}

static int visit(struct relay_stream *stream, void *data)
{
	struct walk *w = data;
	int me = slot_of(w, stream);
	int i;

	if (relay_stream_is_closed(stream))
		w->closed_handed++;
	if (me >= 0)
		w->visited_handles[me]++;
	w->visits++;
	if (w->visits > 1)
		return 0;
	switch (w->mode) {
	case CLOSE_OTHERS:
		for (i = 0; i < NSTREAMS; i++) {
			if (i == me)
				continue;
			TCHECK(relay_stream_close(w->owners[i]) == 0);
			w->closed_by_us[i] = true;
		}
		break;
	case ABORT_SESSION:
		TCHECK(relay_session_abort(w->s) == 0);
		for (i = 0; i < NSTREAMS; i++)
			w->closed_by_us[i] = true;
		break;
	case TRY_CLOSE_PENDING:
		for (i = 0; i < NSTREAMS; i++)
			if (i != me)
				TCHECK(relay_stream_try_close(w->owners[i]) == 1);
		break;
	case VISIT_ONLY:
		break;
	}
	return 0;
}

static void one_walk(enum mode mode, uint64_t first_handle, const char *what)
{
	struct walk w;
	struct ctf_trace *t;
	size_t base = traceref_live_objects();
	int n, i;

	memset(&w, 0, sizeof(w));
	w.mode = mode;
	w.s = relay_session_create("sess-w", "host-w", 0, false, 2, 11);
	CHECK(w.s != NULL);
	t = relay_ctf_trace_get_by_path_or_create(w.s, PATH);
	CHECK(t != NULL);
	for (i = 0; i < NSTREAMS; i++) {
		w.owners[i] = relay_stream_create(t, first_handle + (uint64_t)i, "p",
						  "chan", 0, 0);
		CHECK(w.owners[i] != NULL);
		if (mode != CLOSE_OTHERS) {
			/* Data announced up to 10, none arrived. */
			CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(w.owners[i], 10), 0);
		}
		if (mode == ABORT_SESSION)
			CHECK_EQ_LONG(relay_stream_try_close(w.owners[i]), 1);
	}

	n = relay_session_for_each_stream(w.s, visit, &w);
	CHECK_EQ_LONG(w.closed_handed, 0);
	if (mode == TRY_CLOSE_PENDING) {
		CHECK_EQ_LONG(n, NSTREAMS);
		CHECK_EQ_LONG(w.visits, NSTREAMS);
	} else {
		CHECK_EQ_LONG(n, 1);
		CHECK_EQ_LONG(w.visits, 1);
	}
	for (i = 0; i < NSTREAMS; i++) {
		CHECK(w.visited_handles[i] <= 1);
		CHECK_EQ_LONG(relay_stream_is_closed(w.owners[i]), w.closed_by_us[i]);
	}
	/* A second walk sees what is left. */
	w.visits = 0;
	w.mode = VISIT_ONLY;
	memset(w.visited_handles, 0, sizeof(w.visited_handles));
	n = relay_session_for_each_stream(w.s, visit, &w);
	CHECK_EQ_LONG(w.closed_handed, 0);
	CHECK_EQ_LONG(n, mode == CLOSE_OTHERS ? 1 : mode == ABORT_SESSION ? 0 : NSTREAMS);

	/* Close what is left. */
	for (i = 0; i < NSTREAMS; i++)
		if (!relay_stream_is_closed(w.owners[i]))
			CHECK_EQ_LONG(relay_stream_close(w.owners[i]), 0);
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(relay_session_close(w.s), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), base);
	CHECK_OK("%s", what);
}

int main(void)
{
	size_t start;

	setenv("TRACEREF_LOG", "warn", 1);
	start = traceref_live_objects();
	one_walk(CLOSE_OTHERS, 0x3A1C00u,
		 "a visitor closing the session's other streams: none of them is visited");
	one_walk(ABORT_SESSION, 0x3A1D00u,
		 "a visitor aborting the session (pending closes complete): no closed stream is visited");
	one_walk(TRY_CLOSE_PENDING, 0x3A1E00u,
		 "a close left pending by a visit: the stream is not closed, still visited");
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_DONE("relay_walk_closed");
	return 0;
}
