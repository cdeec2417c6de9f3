/*
 * The life of every refcounted object of the relay daemon model, one kind at
 * a time: creation (count 1, the owner's reference), lookups by id (sessions,
 * streams, viewer streams; connections by socket through a table), gets and
 * puts, close, and reclamation.
 *
 * Reclamation is observed through a payload destructor: the last reference
 * of each object is dropped inside a read-side section, so that the object
 * is still allocated at count 0 and its getter can be shown to refuse it;
 * after traceref_read_unlock() and traceref_reclaim_barrier() its
 * destructor has run exactly once. Every step also checks the census.
 *
 * Indexes follow the original contract: relay_index_get_by_id_or_create()
 * lends the index (count 1, its self reference) for as long as the caller
 * holds the stream's lock, a reference that outlives the lock is taken with
 * relay_index_get(), and relay_index_try_flush() returns 0 when it flushed,
 * 1 when it did not.
 *
 * A few refusals (a second close, an index asked of a closed stream) are
 * part of the story: diagnostics are turned off.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "traceref.h"
#include "check.h"
#include "tally.h"

/* ------------------------------------------------------------------------ */
/* Payloads: one tally per object; its destructor counts the runs.          */

/* Attach `t` to `obj` (any refcounted relay object). */
static void attach_tally(void *obj, struct tally *t)
{
	t->runs = 0;
	CHECK(traceref_payload_get(obj) == NULL);
	CHECK_EQ_LONG(traceref_payload_set(obj, t, tally_destroy), 0);
	CHECK_EQ_PTR(traceref_payload_get(obj), t);
}

#define PATH "host-a/sess-a-20150801/ust/uid/1000/64-bit"

struct seen_sessions {
	int n;
	uint64_t ids[8];
	long min_count;
	int stop_after;
};

static int visit_session(struct relay_session *session, void *data)
{
	struct seen_sessions *seen = data;
	long c = relay_session_get_ref_count(session);

	if (seen->n < 8)
		seen->ids[seen->n] = relay_session_get_id(session);
	seen->n++;
	if (c < seen->min_count)
		seen->min_count = c;
	return seen->stop_after && seen->n >= seen->stop_after;
}

static bool saw_id(const struct seen_sessions *seen, uint64_t id)
{
	int i;

	for (i = 0; i < seen->n && i < 8; i++)
		if (seen->ids[i] == id)
			return true;
	return false;
}

/* ------------------------------------------------------------------------ */
/* Sessions.                                                                */

static void session_life(void)
{
	const size_t start = traceref_live_objects();
	struct tally pay;
	struct relay_session *s, *s2, *found;
	uint64_t id, id2;

	s = relay_session_create("sess-a", "host-a", 1500, true, 2, 11);
	CHECK(s != NULL);
	CHECK_EQ_LONG(traceref_live_objects(), start + 1);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
	id = relay_session_get_id(s);
	CHECK(id != UINT64_MAX);
	CHECK_EQ_STR(relay_session_get_name(s), "sess-a");
	CHECK_EQ_STR(relay_session_get_hostname(s), "host-a");
	CHECK_EQ_LONG(relay_session_get_live_timer(s), 1500);
	CHECK(relay_session_is_snapshot(s));
	CHECK_EQ_LONG(relay_session_get_major(s), 2);
	CHECK_EQ_LONG(relay_session_get_minor(s), 11);
	CHECK(!relay_session_is_closed(s));
	CHECK(!relay_session_is_aborted(s));
	attach_tally(s, &pay);

	/* A second session: another id from the counter, its own values. */
	s2 = relay_session_create("sess-b", "host-b", 0, false, 2, 4);
	CHECK(s2 != NULL);
	id2 = relay_session_get_id(s2);
	CHECK(id2 != id && id2 > id);
	CHECK_EQ_STR(relay_session_get_name(s2), "sess-b");
	CHECK_EQ_STR(relay_session_get_hostname(s2), "host-b");
	CHECK_EQ_LONG(relay_session_get_live_timer(s2), 0);
	CHECK(!relay_session_is_snapshot(s2));
	CHECK_EQ_LONG(relay_session_get_minor(s2), 4);
	CHECK_EQ_LONG(traceref_live_objects(), start + 2);
	CHECK_OK("session created: count 1, in the table, attributes as given");

	found = relay_session_get_by_id(id);
	CHECK_EQ_PTR(found, s);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
	CHECK(relay_session_get(s));
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 3);
	relay_session_put(s);
	relay_session_put(found);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
	found = relay_session_get_by_id(id2);
	CHECK_EQ_PTR(found, s2);
	CHECK_EQ_LONG(relay_session_get_ref_count(s2), 2);
	relay_session_put(found);
	CHECK_EQ_LONG(relay_session_get_ref_count(s2), 1);
	CHECK_OK("session get_by_id and get take a reference, put drops it");

	/* Every session of the table, each with a reference during its visit
	 * (no other session exists now). */
	{
		struct seen_sessions seen;

		memset(&seen, 0, sizeof(seen));
		seen.min_count = 1000;
		CHECK_EQ_LONG(relay_sessions_for_each(visit_session, &seen), 2);
		CHECK_EQ_LONG(seen.n, 2);
		CHECK(saw_id(&seen, id) && saw_id(&seen, id2));
		CHECK(seen.min_count >= 2);
		CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
		CHECK_EQ_LONG(relay_session_get_ref_count(s2), 1);
		memset(&seen, 0, sizeof(seen));
		seen.min_count = 1000;
		seen.stop_after = 1;
		CHECK_EQ_LONG(relay_sessions_for_each(visit_session, &seen), 1);
		CHECK_EQ_LONG(seen.n, 1);
		CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
		CHECK_EQ_LONG(relay_session_get_ref_count(s2), 1);
	}
	CHECK_OK("sessions_for_each visits every session with a reference, stops on request");

	/* Closed with a reference kept: still found (count > 0), marked. */
	CHECK(relay_session_get(s2));
	CHECK_EQ_LONG(relay_session_close(s2), 0);
	CHECK(relay_session_is_closed(s2));
	CHECK_EQ_LONG(relay_session_get_ref_count(s2), 1);
	found = relay_session_get_by_id(id2);
	CHECK_EQ_PTR(found, s2);
	relay_session_put(found);
	relay_session_put(s2);
	CHECK(relay_session_get_by_id(id2) == NULL);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + 1);
	CHECK_OK("session close puts the owner's reference; at 0 it leaves the table");

	/* The last reference goes inside a read-side section. */
	traceref_read_lock();
	found = relay_session_get_by_id(id);
	CHECK_EQ_PTR(found, s);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
	relay_session_put(found);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 0);
	CHECK(relay_session_is_closed(s));
	CHECK(!relay_session_get(s));
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 0);
	CHECK(relay_session_get_by_id(id) == NULL);
	CHECK_EQ_LONG(tally_runs(&pay), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + 1);
	traceref_read_unlock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay), 1);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay), 1);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("session at count 0 refuses get and lookups; reclaimed once after the barrier");
}

/* ------------------------------------------------------------------------ */
/* Ctf-traces.                                                              */

static void trace_life(void)
{
	const size_t start = traceref_live_objects();
	struct tally pay, pay2;
	struct relay_session *s;
	struct ctf_trace *t, *t2, *same;

	s = relay_session_create("sess-t", "host-t", 0, false, 2, 11);
	CHECK(s != NULL);
	t = relay_ctf_trace_get_by_path_or_create(s, PATH);
	CHECK(t != NULL);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 1);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
	CHECK_EQ_LONG(traceref_live_objects(), start + 2);
	CHECK_EQ_STR(relay_ctf_trace_get_path(t), PATH);
	CHECK_EQ_PTR(relay_ctf_trace_get_session(t), s);
	CHECK(relay_ctf_trace_get_viewer_metadata_stream(t) == NULL);
	attach_tally(t, &pay);

	same = relay_ctf_trace_get_by_path_or_create(s, PATH);
	CHECK_EQ_PTR(same, t);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 2);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
	CHECK_EQ_LONG(traceref_live_objects(), start + 2);
	relay_ctf_trace_put(same);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 1);
	CHECK(relay_ctf_trace_get(t));
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 2);
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 1);
	CHECK_OK("trace: one per path, count 1 plus a session reference");

	/* Another path: another trace, another session reference. */
	t2 = relay_ctf_trace_get_by_path_or_create(s, "host-t/sess-t/kernel");
	CHECK(t2 != NULL && t2 != t);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t2), 1);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 3);
	attach_tally(t2, &pay2);
	relay_ctf_trace_put(t2);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay2), 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + 2);
	/* Its path is free again: a fresh trace, without the old payload. */
	t2 = relay_ctf_trace_get_by_path_or_create(s, "host-t/sess-t/kernel");
	CHECK(t2 != NULL);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t2), 1);
	CHECK(traceref_payload_get(t2) == NULL);
	relay_ctf_trace_put(t2);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay2), 1);
	CHECK_OK("trace put to 0 drops its session reference; its path can be made again");

	traceref_read_lock();
	same = relay_ctf_trace_get_by_path_or_create(s, PATH);
	CHECK_EQ_PTR(same, t);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 2);
	relay_ctf_trace_put(same);
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 0);
	CHECK(!relay_ctf_trace_get(t));
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
	CHECK_EQ_LONG(tally_runs(&pay), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + 2);
	traceref_read_unlock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay), 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + 1);
	CHECK_OK("trace at count 0 refuses get; reclaimed once after the barrier");

	/* A closed session makes no new trace, but still gives the trace it
	 * has at a path, with a new reference (as the original did). */
	t2 = relay_ctf_trace_get_by_path_or_create(s, "host-t/sess-t/kernel");
	CHECK(t2 != NULL);
	CHECK(relay_session_get(s));
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK(relay_session_is_closed(s));
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2); /* ours and the trace's */
	same = relay_ctf_trace_get_by_path_or_create(s, "host-t/sess-t/kernel");
	CHECK_EQ_PTR(same, t2);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t2), 2);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
	CHECK(relay_ctf_trace_get_by_path_or_create(s, PATH) == NULL);
	CHECK_EQ_LONG(traceref_live_objects(), start + 2);
	relay_ctf_trace_put(same);
	relay_ctf_trace_put(t2);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
	relay_session_put(s);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("a closed session gives the trace it has (a new reference), makes no new one");
}

/* ------------------------------------------------------------------------ */
/* Streams.                                                                 */

struct seen_streams {
	int n;
	uint64_t handles[8];
	long min_count;
	int stop_after;
};

static int visit_stream(struct relay_stream *stream, void *data)
{
	struct seen_streams *seen = data;
	long c = relay_stream_get_ref_count(stream);

	if (seen->n < 8)
		seen->handles[seen->n] = relay_stream_get_handle(stream);
	seen->n++;
	if (c < seen->min_count)
		seen->min_count = c;
	return seen->stop_after && seen->n >= seen->stop_after;
}

static bool saw_handle(const struct seen_streams *seen, uint64_t h)
{
	int i;

	for (i = 0; i < seen->n && i < 8; i++)
		if (seen->handles[i] == h)
			return true;
	return false;
}

static void stream_life(void)
{
	const size_t start = traceref_live_objects();
	struct tally pay;
	struct relay_session *s;
	struct ctf_trace *t;
	struct relay_stream *st, *md, *other, *found, *again;
	struct seen_streams seen;

	s = relay_session_create("sess-s", "host-s", 0, false, 2, 11);
	t = relay_ctf_trace_get_by_path_or_create(s, PATH);
	CHECK(s != NULL && t != NULL);

	st = relay_stream_create(t, 1001, "host-s/chan0", "chan0", 4096, 8);
	CHECK(st != NULL);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 2);
	CHECK_EQ_LONG(traceref_live_objects(), start + 3);
	CHECK_EQ_LONG(relay_stream_get_handle(st), 1001);
	CHECK_EQ_STR(relay_stream_get_path_name(st), "host-s/chan0");
	CHECK_EQ_STR(relay_stream_get_channel_name(st), "chan0");
	CHECK_EQ_LONG(relay_stream_get_tracefile_size(st), 4096);
	CHECK_EQ_LONG(relay_stream_get_tracefile_count(st), 8);
	CHECK(!relay_stream_is_published(st));
	CHECK(!relay_stream_is_closed(st));
	CHECK(!relay_stream_is_metadata(st));
	CHECK(relay_stream_get_last_net_seq_num(st) == RELAY_SEQ_UNSET);
	CHECK(relay_stream_get_received_seq_num(st) == RELAY_SEQ_UNSET);
	CHECK_EQ_PTR(relay_stream_get_trace(st), t);
	attach_tally(st, &pay);
	CHECK_OK("stream created: count 1, a trace reference, attributes as given");

	found = relay_stream_get_by_id(1001);
	CHECK_EQ_PTR(found, st);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 2);
	CHECK(relay_stream_get(st));
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 3);
	relay_stream_put(st);
	relay_stream_put(found);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);

	CHECK_EQ_LONG(relay_stream_publish(st), 0);
	CHECK(relay_stream_is_published(st));
	CHECK_EQ_LONG(relay_stream_publish(st), -1);
	CHECK(relay_stream_is_published(st));
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);

	md = relay_stream_create(t, 1002, "host-s/metadata", "metadata", 0, 0);
	other = relay_stream_create(t, 1003, "host-s/metadata2", "metadata2", 0, 0);
	CHECK(md != NULL && other != NULL);
	CHECK(relay_stream_is_metadata(md));
	CHECK(!relay_stream_is_metadata(other));
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 4);
	CHECK_OK("stream get/put/publish; only the channel \"metadata\" is a metadata stream");

	/* Every stream of the session, published or not. */
	memset(&seen, 0, sizeof(seen));
	seen.min_count = 1000;
	CHECK_EQ_LONG(relay_session_for_each_stream(s, visit_stream, &seen), 3);
	CHECK_EQ_LONG(seen.n, 3);
	CHECK(saw_handle(&seen, 1001) && saw_handle(&seen, 1002) && saw_handle(&seen, 1003));
	CHECK(seen.min_count >= 2); /* the owner's and the visit's */
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(md), 1);
	memset(&seen, 0, sizeof(seen));
	seen.min_count = 1000;
	seen.stop_after = 1;
	CHECK_EQ_LONG(relay_session_for_each_stream(s, visit_stream, &seen), 1);
	CHECK_EQ_LONG(seen.n, 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(md), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(other), 1);
	CHECK_OK("for_each_stream visits every stream with a reference, stops on request");

	/* Close with a reference kept, inside a read-side section. */
	traceref_read_lock();
	found = relay_stream_get_by_id(1001);
	CHECK_EQ_PTR(found, st);
	CHECK_EQ_LONG(relay_stream_close(st), 0);
	CHECK(relay_stream_is_closed(st));
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);
	CHECK(relay_stream_get_by_id(1001) == NULL);
	CHECK_EQ_LONG(relay_stream_publish(st), -1);
	CHECK_EQ_LONG(relay_stream_close(st), -1);
	CHECK_EQ_LONG(relay_stream_try_close(st), -1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 4);
	memset(&seen, 0, sizeof(seen));
	seen.min_count = 1000;
	CHECK_EQ_LONG(relay_session_for_each_stream(s, visit_stream, &seen), 2);
	CHECK(!saw_handle(&seen, 1001));
	/* The handle left the table: it can be used again. */
	again = relay_stream_create(t, 1001, "host-s/chan0", "chan0", 0, 0);
	CHECK(again != NULL && again != st);
	/* The closed stream's last put must not take the new one out. */
	relay_stream_put(found);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 0);
	CHECK(!relay_stream_get(st));
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 0);
	CHECK_EQ_LONG(tally_runs(&pay), 0);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 4);
	found = relay_stream_get_by_id(1001);
	CHECK_EQ_PTR(found, again);
	relay_stream_put(found);
	traceref_read_unlock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay), 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + 5);
	found = relay_stream_get_by_id(1001);
	CHECK_EQ_PTR(found, again);
	relay_stream_put(found);
	CHECK_OK("closed stream leaves the table, refuses get at 0, reclaimed once; "
		 "its handle is reusable");

	CHECK_EQ_LONG(relay_stream_close(again), 0);
	CHECK_EQ_LONG(relay_stream_close(md), 0);
	CHECK_EQ_LONG(relay_stream_close(other), 0);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 1);
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
}

/* try_close: pending until the announced data arrives, or the abort. */
static void stream_try_close(void)
{
	const size_t start = traceref_live_objects();
	struct relay_session *s, *sa;
	struct ctf_trace *t, *ta;
	struct relay_stream *a, *b, *c, *d, *e, *f, *g, *h, *found;
	struct seen_streams seen;

	s = relay_session_create("sess-c", "host-c", 0, false, 2, 11);
	t = relay_ctf_trace_get_by_path_or_create(s, PATH);
	CHECK(s != NULL && t != NULL);

	a = relay_stream_create(t, 1010, "p", "chan", 0, 0);
	CHECK(a != NULL);
	CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(a, 10), 0);
	CHECK_EQ_LONG(relay_stream_get_last_net_seq_num(a), 10);
	CHECK(relay_stream_get(a));
	CHECK_EQ_LONG(relay_stream_try_close(a), 1);
	CHECK(!relay_stream_is_closed(a));
	CHECK_EQ_LONG(relay_stream_get_ref_count(a), 2);
	/* Still a stream of its session. */
	memset(&seen, 0, sizeof(seen));
	seen.min_count = 1000;
	CHECK_EQ_LONG(relay_session_for_each_stream(s, visit_stream, &seen), 1);
	CHECK(saw_handle(&seen, 1010));
	found = relay_stream_get_by_id(1010);
	CHECK_EQ_PTR(found, a);
	relay_stream_put(found);
	CHECK_EQ_LONG(relay_stream_set_received_seq_num(a, 5), 0);
	CHECK_EQ_LONG(relay_stream_get_received_seq_num(a), 5);
	CHECK(!relay_stream_is_closed(a));
	CHECK_EQ_LONG(relay_stream_set_received_seq_num(a, 3), 0);
	CHECK_EQ_LONG(relay_stream_get_received_seq_num(a), 5);
	CHECK_EQ_LONG(relay_stream_try_close(a), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(a), 2);
	CHECK_EQ_LONG(relay_stream_set_received_seq_num(a, 10), 0);
	CHECK(relay_stream_is_closed(a));
	CHECK_EQ_LONG(relay_stream_get_ref_count(a), 1);
	CHECK(relay_stream_get_by_id(1010) == NULL);
	CHECK_EQ_LONG(relay_stream_try_close(a), -1);
	CHECK_EQ_LONG(relay_stream_close(a), -1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(a), 1);
	relay_stream_put(a);
	CHECK_OK("try_close pending (1) until received_seq_num reaches last_net_seq_num");

	/* Nothing announced: closes at once. */
	b = relay_stream_create(t, 1011, "p", "chan", 0, 0);
	CHECK(b != NULL && relay_stream_get(b));
	CHECK_EQ_LONG(relay_stream_try_close(b), 0);
	CHECK(relay_stream_is_closed(b));
	CHECK_EQ_LONG(relay_stream_get_ref_count(b), 1);
	relay_stream_put(b);

	/* The data arrived before the announcement: closes at once. */
	c = relay_stream_create(t, 1012, "p", "chan", 0, 0);
	CHECK(c != NULL && relay_stream_get(c));
	CHECK_EQ_LONG(relay_stream_set_received_seq_num(c, 7), 0);
	CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(c, 5), 0);
	CHECK(!relay_stream_is_closed(c));
	CHECK_EQ_LONG(relay_stream_try_close(c), 0);
	CHECK(relay_stream_is_closed(c));
	CHECK_EQ_LONG(relay_stream_get_ref_count(c), 1);
	relay_stream_put(c);

	/* Pending, then an announcement the received data already covers. */
	d = relay_stream_create(t, 1013, "p", "chan", 0, 0);
	CHECK(d != NULL && relay_stream_get(d));
	CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(d, 20), 0);
	CHECK_EQ_LONG(relay_stream_set_received_seq_num(d, 14), 0);
	CHECK_EQ_LONG(relay_stream_try_close(d), 1);
	CHECK(!relay_stream_is_closed(d));
	CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(d, 14), 0);
	CHECK(relay_stream_is_closed(d));
	CHECK_EQ_LONG(relay_stream_get_ref_count(d), 1);
	relay_stream_put(d);
	CHECK_OK("try_close at once (0) when nothing is announced or the data is there");

	/* A pending stream is still a stream of its session. */
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), 1);

	/* Abort: pending streams close without their data. */
	sa = relay_session_create("sess-abort", "host-c", 0, false, 2, 11);
	ta = relay_ctf_trace_get_by_path_or_create(sa, PATH);
	CHECK(sa != NULL && ta != NULL);
	e = relay_stream_create(ta, 1014, "p", "chan", 0, 0);
	CHECK(e != NULL && relay_stream_get(e));
	CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(e, 100), 0);
	CHECK_EQ_LONG(relay_stream_try_close(e), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(e), 2);
	CHECK(!relay_session_is_aborted(sa));
	CHECK_EQ_LONG(relay_session_abort(sa), 0);
	CHECK(relay_session_is_aborted(sa));
	CHECK(!relay_session_is_closed(sa));
	CHECK(relay_stream_is_closed(e));
	CHECK_EQ_LONG(relay_stream_get_ref_count(e), 1);
	CHECK(relay_stream_get_by_id(1014) == NULL);
	relay_stream_put(e);
	/* In an aborted session, try_close does not wait. */
	f = relay_stream_create(ta, 1015, "p", "chan", 0, 0);
	CHECK(f != NULL && relay_stream_get(f));
	CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(f, 100), 0);
	CHECK_EQ_LONG(relay_stream_try_close(f), 0);
	CHECK(relay_stream_is_closed(f));
	CHECK_EQ_LONG(relay_stream_get_ref_count(f), 1);
	relay_stream_put(f);
	relay_ctf_trace_put(ta);
	CHECK_EQ_LONG(relay_session_get_ref_count(sa), 1);
	CHECK_EQ_LONG(relay_session_close(sa), 0);
	CHECK_OK("session abort closes pending streams; try_close no longer waits");

	/* Session close: streams without pending data close, the others wait
	 * for their data or for the abort. */
	g = relay_stream_create(t, 1016, "p", "chan", 0, 0);
	h = relay_stream_create(t, 1017, "p", "chan", 0, 0);
	CHECK(g != NULL && h != NULL);
	CHECK(relay_stream_get(g) && relay_stream_get(h));
	CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(g, 50), 0);
	CHECK(relay_session_get(s));
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK(relay_session_is_closed(s));
	CHECK(relay_stream_is_closed(h));
	CHECK_EQ_LONG(relay_stream_get_ref_count(h), 1);
	CHECK(!relay_stream_is_closed(g));
	CHECK_EQ_LONG(relay_stream_get_ref_count(g), 2);
	CHECK(relay_stream_get_by_id(1017) == NULL);
	found = relay_stream_get_by_id(1016);
	CHECK_EQ_PTR(found, g);
	relay_stream_put(found);
	CHECK_EQ_LONG(relay_session_abort(s), 0);
	CHECK(relay_stream_is_closed(g));
	CHECK_EQ_LONG(relay_stream_get_ref_count(g), 1);
	CHECK(relay_stream_get_by_id(1016) == NULL);
	relay_stream_put(g);
	relay_stream_put(h);
	relay_session_put(s);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("session close closes its streams; a pending one closes on abort");
}

/* ------------------------------------------------------------------------ */
/* Indexes.                                                                 */

/*
 * As in the original, relay_index_get_by_id_or_create() takes no reference
 * for the caller: the index it returns is borrowed, valid while the caller
 * holds the stream's lock (self references are only dropped under it). A
 * reference that outlives the lock is taken with relay_index_get().
 */
static struct relay_index *index_held(struct relay_stream *st, uint64_t seq)
{
	struct relay_index *i;

	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	i = relay_index_get_by_id_or_create(st, seq);
	if (i)
		CHECK(relay_index_get(i));
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	return i;
}

static void index_life(void)
{
	const size_t start = traceref_live_objects();
	struct tally pay5, pay6, pay9, pay13;
	struct relay_session *s;
	struct ctf_trace *t;
	struct relay_stream *st;
	struct relay_index *i5, *i6, *i5b, *i7, *i9, *i13, *same, *ic;

	s = relay_session_create("sess-i", "host-i", 0, false, 2, 11);
	t = relay_ctf_trace_get_by_path_or_create(s, PATH);
	st = relay_stream_create(t, 1020, "p", "chan", 0, 0);
	CHECK(s != NULL && t != NULL && st != NULL);

	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	i5 = relay_index_get_by_id_or_create(st, 5);
	CHECK(i5 != NULL);
	CHECK_EQ_LONG(relay_index_get_ref_count(i5), 1); /* self only */
	CHECK_EQ_LONG(relay_index_get_net_seq_num(i5), 5);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 2);
	CHECK_EQ_LONG(traceref_live_objects(), start + 4);
	attach_tally(i5, &pay5);
	same = relay_index_get_by_id_or_create(st, 5);
	CHECK_EQ_PTR(same, i5);
	CHECK_EQ_LONG(relay_index_get_ref_count(i5), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 2);
	CHECK_EQ_LONG(traceref_live_objects(), start + 4);
	i6 = relay_index_get_by_id_or_create(st, 6);
	CHECK(i6 != NULL && i6 != i5);
	CHECK_EQ_LONG(relay_index_get_ref_count(i6), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 3);
	CHECK_EQ_LONG(traceref_live_objects(), start + 5);
	attach_tally(i6, &pay6);
	CHECK(relay_index_get(i5));
	CHECK_EQ_LONG(relay_index_get_ref_count(i5), 2);
	relay_index_put(i5);
	CHECK_EQ_LONG(relay_index_get_ref_count(i5), 1);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	/* Unflushed, it is still the index of its seq under a later lock. */
	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	same = relay_index_get_by_id_or_create(st, 5);
	CHECK_EQ_PTR(same, i5);
	CHECK_EQ_LONG(relay_index_get_ref_count(i5), 1);
	same = relay_index_get_by_id_or_create(st, 6);
	CHECK_EQ_PTR(same, i6);
	CHECK_EQ_LONG(relay_index_get_ref_count(i6), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 3);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	CHECK_OK("index: count 1 at creation (its self reference, none for the caller), "
		 "same index for the same seq while unflushed");

	/* i5 is kept past the flush with a reference of ours; i6 is not. */
	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	CHECK(relay_index_get(i5));
	CHECK_EQ_LONG(relay_index_get_ref_count(i5), 2);
	CHECK_EQ_LONG(relay_index_try_flush(i5), 1);
	CHECK_EQ_LONG(relay_stream_set_received_seq_num(st, 4), 0);
	CHECK_EQ_LONG(relay_index_try_flush(i5), 1);
	CHECK_EQ_LONG(relay_index_get_ref_count(i5), 2);
	CHECK_EQ_LONG(relay_stream_set_received_seq_num(st, 5), 0);
	CHECK_EQ_LONG(relay_index_try_flush(i5), 0);
	CHECK_EQ_LONG(relay_index_get_ref_count(i5), 1); /* ours */
	CHECK_EQ_LONG(relay_index_try_flush(i5), 1);
	CHECK_EQ_LONG(relay_index_get_ref_count(i5), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 3);
	CHECK_EQ_LONG(relay_index_try_flush(i6), 1);
	CHECK_EQ_LONG(relay_index_get_ref_count(i6), 1);
	CHECK_EQ_LONG(relay_stream_set_received_seq_num(st, 6), 0);
	CHECK_EQ_LONG(relay_index_try_flush(i6), 0);
	/* i6 had its self reference only: released at once (it put its
	 * stream reference), reclaimed after the grace period. Not touched
	 * again. */
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 2);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay6), 1);
	CHECK_EQ_LONG(tally_runs(&pay5), 0);
	CHECK_EQ_LONG(relay_index_get_ref_count(i5), 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + 4);
	CHECK_OK("try_flush: 1 not ready, 0 flushed (self reference put), 1 again; "
		 "a flushed index without a reference of ours is reclaimed");

	/* A flushed index left its stream: the same seq makes a new one. */
	i5b = index_held(st, 5);
	CHECK(i5b != NULL && i5b != i5);
	CHECK_EQ_LONG(relay_index_get_ref_count(i5b), 2); /* self + ours */
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 3);
	i7 = index_held(st, 7);
	CHECK(i7 != NULL);
	CHECK_EQ_LONG(relay_index_get_ref_count(i7), 2);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 4);

	CHECK_EQ_LONG(relay_index_close_all(st), 0);
	CHECK_EQ_LONG(relay_index_get_ref_count(i7), 1);
	CHECK_EQ_LONG(relay_index_get_ref_count(i5b), 1);
	CHECK_EQ_LONG(relay_index_get_ref_count(i5), 1);
	CHECK_EQ_LONG(relay_index_try_flush(i7), 1);
	CHECK_EQ_LONG(relay_index_try_flush(i5b), 1);
	CHECK_EQ_LONG(relay_index_close_all(st), 0);
	CHECK_EQ_LONG(relay_index_get_ref_count(i7), 1);
	CHECK_EQ_LONG(relay_index_get_ref_count(i5b), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 4);
	/* With the stream's lock held by the caller, close_all works too. */
	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	CHECK_EQ_LONG(relay_index_close_all(st), 0);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	CHECK_EQ_LONG(relay_index_get_ref_count(i7), 1);
	CHECK_OK("close_all puts every self reference once; closed indexes are not flushed");

	/* An index with its self reference only, closed inside a read-side
	 * section: at 0 it refuses get, and is reclaimed after the section. */
	traceref_read_lock();
	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	i9 = relay_index_get_by_id_or_create(st, 9);
	CHECK(i9 != NULL);
	CHECK_EQ_LONG(relay_index_get_ref_count(i9), 1);
	attach_tally(i9, &pay9);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 5);
	CHECK_EQ_LONG(relay_index_close_all(st), 0);
	CHECK_EQ_LONG(relay_index_get_ref_count(i9), 0);
	CHECK(!relay_index_get(i9));
	CHECK_EQ_LONG(relay_index_get_ref_count(i9), 0);
	CHECK_EQ_LONG(tally_runs(&pay9), 0);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 4);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	traceref_read_unlock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay9), 1);

	relay_index_put(i5);
	relay_index_put(i7);
	relay_index_put(i5b);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay5), 1);
	CHECK_EQ_LONG(tally_runs(&pay6), 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + 3);
	CHECK_OK("index at count 0 refuses get; each index puts its stream reference");

	/* Closing the stream drops the self references of its indexes: one
	 * kept with a reference of ours, one not (reclaimed). */
	ic = index_held(st, 11);
	CHECK(ic != NULL);
	CHECK_EQ_LONG(relay_index_get_ref_count(ic), 2);
	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	i13 = relay_index_get_by_id_or_create(st, 13);
	CHECK(i13 != NULL);
	CHECK_EQ_LONG(relay_index_get_ref_count(i13), 1);
	attach_tally(i13, &pay13);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 3);
	CHECK(relay_stream_get(st));
	CHECK_EQ_LONG(relay_stream_close(st), 0);
	CHECK_EQ_LONG(relay_index_get_ref_count(ic), 1);
	CHECK_EQ_LONG(relay_index_try_flush(ic), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 2);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay13), 1);
	/* No new index on a closed stream. */
	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	CHECK(relay_index_get_by_id_or_create(st, 12) == NULL);
	CHECK(relay_index_get_by_id_or_create(st, 11) == NULL);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 2);
	relay_index_put(ic);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);
	relay_stream_put(st);
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay13), 1);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("stream close closes its indexes; no index on a closed stream");
}

/* ------------------------------------------------------------------------ */
/* Viewer streams.                                                          */

static void viewer_stream_life(void)
{
	const size_t start = traceref_live_objects();
	struct tally pay, paym;
	struct relay_session *s;
	struct ctf_trace *t;
	struct relay_stream *st, *md;
	struct relay_viewer_stream *v, *vm, *m, *found, *v2;
	long trace_count;

	s = relay_session_create("sess-v", "host-v", 0, false, 2, 11);
	t = relay_ctf_trace_get_by_path_or_create(s, PATH);
	st = relay_stream_create(t, 1030, "p", "chan", 0, 0);
	md = relay_stream_create(t, 1031, "p", "metadata", 0, 0);
	CHECK(s != NULL && t != NULL && st != NULL && md != NULL);
	CHECK_EQ_LONG(relay_stream_publish(st), 0);
	CHECK_EQ_LONG(relay_stream_publish(md), 0);

	v = relay_viewer_stream_create(st, 7);
	CHECK(v != NULL);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(v), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 2);
	CHECK_EQ_LONG(relay_viewer_stream_get_seek(v), 7);
	CHECK_EQ_PTR(relay_viewer_stream_get_stream(v), st);
	CHECK_EQ_LONG(traceref_live_objects(), start + 5);
	attach_tally(v, &pay);
	found = relay_viewer_stream_get_by_id(1030);
	CHECK_EQ_PTR(found, v);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(v), 2);
	CHECK(relay_viewer_stream_get(v));
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(v), 3);
	relay_viewer_stream_put(v);
	relay_viewer_stream_put(found);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(v), 1);
	CHECK(relay_viewer_stream_get_by_id(1031) == NULL);
	CHECK_OK("viewer stream: count 1, a stream reference, found by its stream's handle");

	/* The metadata viewer stream: the trace points at it, no reference. */
	trace_count = relay_ctf_trace_get_ref_count(t);
	CHECK(relay_ctf_trace_get_viewer_metadata_stream(t) == NULL);
	vm = relay_viewer_stream_create(md, 0);
	CHECK(vm != NULL);
	attach_tally(vm, &paym);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), trace_count);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(vm), 1);
	m = relay_ctf_trace_get_viewer_metadata_stream(t);
	CHECK_EQ_PTR(m, vm);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(vm), 2);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), trace_count);
	relay_viewer_stream_put(m);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(vm), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(md), 2);
	CHECK_EQ_LONG(relay_viewer_stream_close(vm), 0);
	CHECK(relay_ctf_trace_get_viewer_metadata_stream(t) == NULL);
	CHECK_EQ_LONG(relay_stream_get_ref_count(md), 1);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&paym), 1);
	CHECK(relay_ctf_trace_get_viewer_metadata_stream(t) == NULL);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), trace_count);
	CHECK_OK("metadata viewer stream pointer: no trace reference, NULL once reclaimed");

	traceref_read_lock();
	found = relay_viewer_stream_get_by_id(1030);
	CHECK_EQ_PTR(found, v);
	CHECK_EQ_LONG(relay_viewer_stream_close(v), 0);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(v), 1);
	CHECK(relay_viewer_stream_get_by_id(1030) == NULL);
	CHECK_EQ_LONG(relay_viewer_stream_close(v), -1);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(v), 1);
	relay_viewer_stream_put(found);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(v), 0);
	CHECK(!relay_viewer_stream_get(v));
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(v), 0);
	CHECK_EQ_LONG(tally_runs(&pay), 0);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);
	traceref_read_unlock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay), 1);
	CHECK_OK("viewer stream close leaves the table; at 0 it refuses get; reclaimed once");

	/* A viewer stream outlives its stream's close, and holds the stream. */
	v2 = relay_viewer_stream_create(st, 3);
	CHECK(v2 != NULL);
	CHECK_EQ_LONG(relay_stream_close(st), 0);
	CHECK(relay_stream_get_by_id(1030) == NULL);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);
	found = relay_viewer_stream_get_by_id(1030);
	CHECK_EQ_PTR(found, v2);
	CHECK_EQ_PTR(relay_viewer_stream_get_stream(found), st);
	CHECK(relay_stream_is_closed(relay_viewer_stream_get_stream(found)));
	relay_viewer_stream_put(found);
	CHECK_EQ_LONG(relay_viewer_stream_close(v2), 0);
	CHECK_EQ_LONG(relay_stream_close(md), 0);
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("a viewer stream keeps its closed stream until it is closed");
}

/* ------------------------------------------------------------------------ */
/* Viewer sessions (not refcounted).                                        */

static void viewer_session_life(void)
{
	const size_t start = traceref_live_objects();
	struct relay_session *s;
	struct ctf_trace *t;
	struct relay_stream *st;
	struct relay_viewer_session *vs;
	struct relay_viewer_stream *v, *v_other, *found;
	struct relay_session *s_other;
	struct ctf_trace *t_other;
	struct relay_stream *st_other;

	s = relay_session_create("sess-vs", "host-vs", 0, false, 2, 11);
	t = relay_ctf_trace_get_by_path_or_create(s, PATH);
	st = relay_stream_create(t, 1040, "p", "chan", 0, 0);
	CHECK(s != NULL && t != NULL && st != NULL);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);

	vs = relay_viewer_session_create();
	CHECK(vs != NULL);
	CHECK_EQ_LONG(traceref_live_objects(), start + 4);
	CHECK(!relay_viewer_session_is_attached(vs, s));
	CHECK_EQ_LONG(relay_viewer_session_attach(vs, s), 0);
	CHECK(relay_viewer_session_is_attached(vs, s));
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 3);
	CHECK_EQ_LONG(relay_viewer_session_detach(vs, s), 0);
	CHECK(!relay_viewer_session_is_attached(vs, s));
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
	CHECK_EQ_LONG(relay_viewer_session_detach(vs, s), -1);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
	CHECK_EQ_LONG(relay_viewer_session_attach(vs, s), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 3);
	CHECK_OK("viewer session attach/detach take and put a session reference");

	v = relay_viewer_stream_create(st, 0);
	CHECK(v != NULL);
	CHECK(relay_viewer_stream_get(v));
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(v), 2);
	/* A session not attached to vs, with its own viewer stream. */
	s_other = relay_session_create("sess-vs-other", "host-vs", 0, false, 2, 11);
	t_other = relay_ctf_trace_get_by_path_or_create(s_other, PATH);
	st_other = relay_stream_create(t_other, 1041, "p", "chan", 0, 0);
	CHECK(s_other != NULL && t_other != NULL && st_other != NULL);
	v_other = relay_viewer_stream_create(st_other, 0);
	CHECK(v_other != NULL);
	CHECK_EQ_LONG(relay_viewer_session_close(vs), 0);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(v), 1);
	CHECK(relay_viewer_stream_get_by_id(1040) == NULL);
	CHECK_EQ_LONG(relay_viewer_stream_close(v), -1);
	/* The other session's viewer stream is left alone. */
	found = relay_viewer_stream_get_by_id(1041);
	CHECK_EQ_PTR(found, v_other);
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(v_other), 2);
	relay_viewer_stream_put(found);
	CHECK_EQ_LONG(relay_viewer_stream_close(v_other), 0);
	CHECK_EQ_LONG(relay_stream_close(st_other), 0);
	relay_ctf_trace_put(t_other);
	CHECK_EQ_LONG(relay_session_close(s_other), 0);
	CHECK(!relay_viewer_session_is_attached(vs, s));
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
	CHECK_EQ_LONG(relay_viewer_session_close(vs), -1);
	CHECK_EQ_LONG(relay_viewer_session_attach(vs, s), -1);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
	relay_viewer_stream_put(v);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);
	CHECK_OK("viewer session close closes the viewer streams of its sessions (only), "
		 "detaches them");

	relay_viewer_session_destroy(vs);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + 3);
	CHECK_EQ_LONG(relay_stream_close(st), 0);
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);

	/* Destroying an open viewer session closes it first. */
	s = relay_session_create("sess-vs2", "host-vs", 0, false, 2, 11);
	vs = relay_viewer_session_create();
	CHECK(s != NULL && vs != NULL);
	CHECK_EQ_LONG(relay_viewer_session_attach(vs, s), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
	relay_viewer_session_destroy(vs);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("viewer session destroy detaches and is reclaimed after the barrier");
}

/* ------------------------------------------------------------------------ */
/* Connections.                                                             */

static void connection_life(void)
{
	const size_t start = traceref_live_objects();
	struct tally pay;
	struct relay_connection_table *table;
	struct relay_connection *c, *c2, *c3, *c4, *c5, *found;
	struct relay_session *s, *s2;
	struct relay_viewer_session *vs;

	table = relay_connection_table_create();
	CHECK(table != NULL);
	CHECK_EQ_LONG(traceref_live_objects(), start + 1);

	c = relay_connection_create(42, RELAY_DATA);
	CHECK(c != NULL);
	CHECK_EQ_LONG(traceref_live_objects(), start + 2);
	CHECK_EQ_LONG(relay_connection_get_ref_count(c), 1);
	CHECK_EQ_LONG(relay_connection_get_sock(c), 42);
	CHECK_EQ_LONG(relay_connection_get_type(c), RELAY_DATA);
	CHECK(relay_connection_get_session(c) == NULL);
	CHECK(relay_connection_get_viewer_session(c) == NULL);
	attach_tally(c, &pay);
	CHECK(relay_connection_get_by_sock(table, 42) == NULL);
	CHECK_EQ_LONG(relay_connection_table_add(table, c), 0);
	CHECK_EQ_LONG(relay_connection_get_ref_count(c), 1);
	found = relay_connection_get_by_sock(table, 42);
	CHECK_EQ_PTR(found, c);
	CHECK_EQ_LONG(relay_connection_get_ref_count(c), 2);
	CHECK(relay_connection_get(c));
	CHECK_EQ_LONG(relay_connection_get_ref_count(c), 3);
	relay_connection_put(c);
	relay_connection_put(found);
	CHECK_EQ_LONG(relay_connection_get_ref_count(c), 1);
	CHECK(relay_connection_get_by_sock(table, 41) == NULL);
	CHECK_OK("connection: count 1, found by socket once added to a table");

	traceref_read_lock();
	found = relay_connection_get_by_sock(table, 42);
	CHECK_EQ_PTR(found, c);
	CHECK_EQ_LONG(relay_connection_close(c), 0);
	CHECK_EQ_LONG(relay_connection_get_ref_count(c), 1);
	CHECK(relay_connection_get_by_sock(table, 42) == NULL);
	CHECK_EQ_LONG(relay_connection_close(c), -1);
	relay_connection_put(found);
	CHECK_EQ_LONG(relay_connection_get_ref_count(c), 0);
	CHECK(!relay_connection_get(c));
	CHECK_EQ_LONG(relay_connection_get_ref_count(c), 0);
	CHECK_EQ_LONG(tally_runs(&pay), 0);
	traceref_read_unlock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay), 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + 1);
	CHECK_OK("connection close leaves the table; at 0 it refuses get; reclaimed once");

	/* The final put of a connection never closed also leaves the table. */
	c2 = relay_connection_create(43, RELAY_VIEWER_NOTIFICATION);
	CHECK(c2 != NULL);
	CHECK_EQ_LONG(relay_connection_get_type(c2), RELAY_VIEWER_NOTIFICATION);
	CHECK_EQ_LONG(relay_connection_table_add(table, c2), 0);
	relay_connection_put(c2);
	CHECK(relay_connection_get_by_sock(table, 43) == NULL);

	/* A control connection closes its session at its final put. */
	c3 = relay_connection_create(44, RELAY_CONTROL);
	s = relay_session_create("sess-conn", "host", 0, false, 2, 11);
	CHECK(c3 != NULL && s != NULL);
	CHECK_EQ_LONG(relay_connection_table_add(table, c3), 0);
	CHECK_EQ_LONG(relay_connection_set_session(c3, s), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 2);
	CHECK_EQ_PTR(relay_connection_get_session(c3), s);
	CHECK(relay_session_get(s));
	CHECK_EQ_LONG(relay_connection_close(c3), 0);
	CHECK(relay_session_is_closed(s));
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
	relay_session_put(s);
	CHECK_OK("control connection: its final put closes its session and puts both references");

	/* A live connection closes and destroys its viewer session. */
	c4 = relay_connection_create(45, RELAY_VIEWER_COMMAND);
	s2 = relay_session_create("sess-live", "host", 0, false, 2, 11);
	vs = relay_viewer_session_create();
	CHECK(c4 != NULL && s2 != NULL && vs != NULL);
	CHECK_EQ_LONG(relay_connection_table_add(table, c4), 0);
	CHECK_EQ_LONG(relay_connection_set_viewer_session(c4, vs), 0);
	CHECK_EQ_PTR(relay_connection_get_viewer_session(c4), vs);
	CHECK_EQ_LONG(relay_viewer_session_attach(vs, s2), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(s2), 2);
	CHECK_EQ_LONG(relay_connection_close(c4), 0);
	CHECK_EQ_LONG(relay_session_get_ref_count(s2), 1);
	CHECK(!relay_session_is_closed(s2));
	CHECK_EQ_LONG(relay_session_close(s2), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + 1);
	CHECK_OK("live connection: its final put closes and destroys its viewer session");

	/* A socket is free again once its connection left; table destruction
	 * closes the connections still in it. */
	c5 = relay_connection_create(42, RELAY_DATA);
	CHECK(c5 != NULL);
	CHECK_EQ_LONG(relay_connection_table_add(table, c5), 0);
	CHECK(relay_connection_get(c5));
	CHECK_EQ_LONG(relay_connection_table_destroy(table), 0);
	CHECK_EQ_LONG(relay_connection_get_ref_count(c5), 1);
	CHECK_EQ_LONG(relay_connection_close(c5), -1);
	relay_connection_put(c5);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("table destroy closes its connections; everything reclaimed");
}

int main(void)
{
	size_t start;

	/* Refused second closes and indexes are part of the story. */
	setenv("TRACEREF_LOG", "off", 1);
	start = traceref_live_objects();

	session_life();
	trace_life();
	stream_life();
	stream_try_close();
	index_life();
	viewer_stream_life();
	viewer_session_life();
	connection_life();

	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_DONE("relay_lifecycle");
	return 0;
}
