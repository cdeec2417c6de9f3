/*
 * An index borrowed under its stream's lock stays valid for as long as the
 * lock is held, whatever the calls made under it do.
 *
 * relay_index_get_by_id_or_create() lends the index (no reference for the
 * caller) "while the caller holds the stream's lock". The relay daemon's
 * data path, under one stream lock: get the index for sequence number N,
 * record the data up to N, try to flush the index. Each scenario below makes
 * one call of that path, or one more call under the same lock, complete the
 * stream's close:
 *
 *   - relay_stream_set_received_seq_num() reaching the `last_net_seq_num`
 *     of an earlier relay_stream_try_close() (the close was pending);
 *   - relay_session_abort() (a pending close no longer waits for data);
 *   - relay_session_close() (a stream with no announced last sequence
 *     number closes at once);
 *   - relay_stream_set_last_net_seq_num() announcing data that already
 *     arrived (the close was pending);
 *   - the final relay_connection_put() of the control connection owning the
 *     session (it closes the session);
 *   - several of these, and relay_stream_close() / relay_stream_try_close()
 *     again, under the same lock: the close completes once.
 *
 * After that call, still under the lock, the reclamation another thread may
 * run at any time is made deterministic: traceref_reclaim_barrier() frees
 * everything already released (a thread running it in a loop also runs
 * throughout). Then the borrowed indexes are used: their sequence numbers
 * and counts are read and both are flushed (one is ready). A library that
 * dropped the indexes' self references inside the closing call has freed
 * them by now: valgrind and AddressSanitizer report the reads; a plain run
 * sees the library refuse them ("... was already reclaimed", or not an index
 * at all: -1 / RELAY_SEQ_UNSET) and the payload destructors already run.
 *
 * Once the lock is released the close completes: the index still holding
 * its self reference is reclaimed, the stream's owner reference is put (the
 * data path's own reference is then its only one), and the census returns
 * to where it started. A close completed without the lock held releases the
 * indexes at once, as before.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "traceref.h"
#include "check.h"
#include "capture.h"
#include "tally.h"

#define PATH "host-b/sess-b/ust"
#define SEQ 40u

/* ------------------------------------------------------------------------ */
/* Another thread reclaiming all along, as a relay daemon's threads do.     */

static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static bool stop;

static bool stopping(void)
{
	bool s;

	pthread_mutex_lock(&stop_lock);
	s = stop;
	pthread_mutex_unlock(&stop_lock);
	return s;
}

static void *reclaimer_main(void *arg)
{
	struct timespec ts = { 0, 200000 };

	(void)arg;
	while (!stopping()) {
		TCHECK(traceref_reclaim_barrier() == 0);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */

static void attach_tally(void *obj, struct tally *t)
{
	t->runs = 0;
	CHECK_EQ_LONG(traceref_payload_set(obj, t, tally_destroy), 0);
}

/* What makes the stream's close complete under the data path's lock. */
enum trigger {
	RECV_COMPLETES_PENDING,
	SESSION_ABORT,
	SESSION_CLOSE,
	SET_LAST_NET_SEQ_NUM,
	CONNECTION_FINAL_PUT,
	SEVERAL_CALLS,
};

static const char *const trigger_name[] = {
	"relay_stream_set_received_seq_num completing a pending try_close",
	"relay_session_abort",
	"relay_session_close",
	"relay_stream_set_last_net_seq_num completing a pending try_close",
	"the session's connection's final relay_connection_put",
	"several closing calls",
};

static void data_path_closes_under_lock(enum trigger how, uint64_t handle)
{
	struct relay_session *s;
	struct ctf_trace *t;
	struct relay_stream *owner, *st;
	struct relay_connection *conn = NULL;
	struct relay_index *idx, *later;
	struct tally pay_idx, pay_later;
	struct capture cap;
	size_t base = traceref_live_objects();
	uint64_t seq_seen, later_seq_seen;
	long idx_count, later_count;
	int rc_later_flush, rc_flush, rc_try_close, rc_close;
	bool session_closed = false;

	s = relay_session_create("sess-b", "host-b", 0, false, 2, 11);
	CHECK(s != NULL);
	t = relay_ctf_trace_get_by_path_or_create(s, PATH);
	CHECK(t != NULL);
	owner = relay_stream_create(t, handle, "p", "chan", 0, 0);
	CHECK(owner != NULL);

	/* Before the data path runs. */
	switch (how) {
	case RECV_COMPLETES_PENDING:
	case SEVERAL_CALLS:
		/* The close command announced SEQ; its data is not there. */
		CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(owner, SEQ), 0);
		CHECK_EQ_LONG(relay_stream_try_close(owner), 1);
		break;
	case SESSION_ABORT:
	case SET_LAST_NET_SEQ_NUM:
		/* Pending on data that will not have arrived. */
		CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(owner, SEQ + 100), 0);
		CHECK_EQ_LONG(relay_stream_try_close(owner), 1);
		break;
	case SESSION_CLOSE:
		break;
	case CONNECTION_FINAL_PUT:
		/* The session's owner reference becomes the connection's. */
		conn = relay_connection_create(77, RELAY_CONTROL);
		CHECK(conn != NULL);
		CHECK_EQ_LONG(relay_connection_set_session(conn, s), 0);
		break;
	}
	CHECK(!relay_stream_is_closed(owner));

	/* The data path: its own reference on the stream, then its lock. */
	st = relay_stream_get_by_id(handle);
	CHECK_EQ_PTR(st, owner);
	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	idx = relay_index_get_by_id_or_create(st, SEQ);
	later = relay_index_get_by_id_or_create(st, SEQ + 1);
	CHECK(idx != NULL && later != NULL && idx != later);
	attach_tally(idx, &pay_idx);
	attach_tally(later, &pay_later);
	CHECK_EQ_LONG(relay_stream_set_received_seq_num(st, SEQ), 0);
	switch (how) {
	case RECV_COMPLETES_PENDING:
		break;
	case SESSION_ABORT:
		CHECK_EQ_LONG(relay_session_abort(s), 0);
		break;
	case SESSION_CLOSE:
		CHECK_EQ_LONG(relay_session_close(s), 0);
		session_closed = true;
		break;
	case SET_LAST_NET_SEQ_NUM:
		CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(st, SEQ), 0);
		break;
	case CONNECTION_FINAL_PUT:
		relay_connection_put(conn);
		CHECK(relay_session_is_closed(s));
		session_closed = true;
		break;
	case SEVERAL_CALLS:
		/* Already closed by the received data: none closes again. */
		CHECK_EQ_LONG(relay_session_abort(s), 0);
		CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(st, SEQ), 0);
		CHECK_EQ_LONG(relay_stream_set_received_seq_num(st, SEQ), 0);
		capture_scope_begin(&cap);
		rc_try_close = relay_stream_try_close(st);
		rc_close = relay_stream_close(st);
		CHECK_EQ_LONG(capture_scope_end(&cap), 2);
		CHECK_EQ_LONG(rc_try_close, -1);
		CHECK_EQ_LONG(rc_close, -1);
		CHECK(strstr(cap.text, "already closed") != NULL);
		CHECK(strstr(cap.text, "reclaimed") == NULL);
		CHECK_EQ_LONG(relay_session_close(s), 0);
		session_closed = true;
		break;
	}
	/* Closed now, in every observable way but the reclamation. */
	CHECK(relay_stream_is_closed(st));
	CHECK(relay_stream_get_by_id(handle) == NULL);

	/* What another thread's barrier may do at any moment. */
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);

	/* The borrowed indexes, still under the lock. */
	seq_seen = relay_index_get_net_seq_num(idx);
	later_seq_seen = relay_index_get_net_seq_num(later);
	idx_count = relay_index_get_ref_count(idx);
	later_count = relay_index_get_ref_count(later);
	rc_later_flush = relay_index_try_flush(later); /* SEQ + 1: not there */
	rc_flush = relay_index_try_flush(idx);         /* SEQ: flushed now */
	CHECK_EQ_LONG(seq_seen, SEQ);
	CHECK_EQ_LONG(later_seq_seen, SEQ + 1);
	CHECK_EQ_LONG(idx_count, 1);
	CHECK_EQ_LONG(later_count, 1);
	CHECK_EQ_LONG(rc_later_flush, 1);
	CHECK_EQ_LONG(rc_flush, 0);
	CHECK_EQ_LONG(tally_runs(&pay_later), 0);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);

	/* The close completed at the unlock: `later` dropped its self
	 * reference (reclaimed), the owner's reference was put; ours is left. */
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay_idx), 1);
	CHECK_EQ_LONG(tally_runs(&pay_later), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);
	/* Nothing more happens at a later unlock. */
	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1);
	relay_stream_put(st);
	relay_ctf_trace_put(t);
	if (!session_closed)
		CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), base);
	CHECK_OK("%s under the stream lock: the borrowed indexes stay valid until "
		 "the unlock, which completes the close once", trigger_name[how]);
}

/* The same close completed with no lock held: the indexes go at once. */
static void close_without_the_lock(uint64_t handle)
{
	struct relay_session *s;
	struct ctf_trace *t;
	struct relay_stream *owner, *st;
	struct relay_index *idx;
	struct tally pay_idx;
	size_t base = traceref_live_objects();

	s = relay_session_create("sess-b", "host-b", 0, false, 2, 11);
	t = relay_ctf_trace_get_by_path_or_create(s, PATH);
	owner = relay_stream_create(t, handle, "p", "chan", 0, 0);
	CHECK(owner != NULL);
	CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(owner, SEQ), 0);
	CHECK_EQ_LONG(relay_stream_try_close(owner), 1);
	st = relay_stream_get_by_id(handle);
	CHECK_EQ_PTR(st, owner);
	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	idx = relay_index_get_by_id_or_create(st, SEQ + 1);
	CHECK(idx != NULL);
	attach_tally(idx, &pay_idx);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 3); /* owner, ours, index */

	CHECK_EQ_LONG(relay_stream_set_received_seq_num(st, SEQ), 0);
	CHECK(relay_stream_is_closed(st));
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), 1); /* ours */
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(tally_runs(&pay_idx), 1);

	relay_stream_put(st);
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), base);
	CHECK_OK("a pending close completed without the stream lock held releases "
		 "the indexes and the owner's reference at once");
}

int main(void)
{
	pthread_t reclaimer;
	size_t start;
	int how;

	setenv("TRACEREF_LOG", "warn", 1);
	start = traceref_live_objects();
	CHECK(pthread_create(&reclaimer, NULL, reclaimer_main, NULL) == 0);

	for (how = RECV_COMPLETES_PENDING; how <= SEVERAL_CALLS; how++)
		data_path_closes_under_lock((enum trigger)how, 0xB10C00u + (uint64_t)how);
	close_without_the_lock(0xB10CFFu);

	pthread_mutex_lock(&stop_lock);
	stop = true;
	pthread_mutex_unlock(&stop_lock);
	CHECK(pthread_join(reclaimer, NULL) == 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_DONE("relay_borrow_close");
	return 0;
}
