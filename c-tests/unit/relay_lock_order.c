/*
 * The per-object locks of the relay daemon model and their checked order:
 * session, then ctf-trace, then stream (the outermost first).
 *
 *   - taken in order, each lock call returns 0 and prints nothing;
 *   - taken out of order (an outer lock while holding an inner one, or a
 *     second lock of the same level: two sessions, two traces, two
 *     streams), the call returns 1, the lock is taken anyway, and one
 *     warning naming both locks is printed;
 *   - relocking a lock this thread holds returns -1 and does not take it;
 *     unlocking a lock this thread does not hold returns -1 and releases
 *     nothing (also when another thread holds it);
 *   - the locks exclude other threads;
 *   - relay_index_get_by_id_or_create() without the stream lock works but
 *     prints a warning; it takes no reference for the caller (the index it
 *     returns is borrowed under the stream's lock);
 *   - the stream locks the library takes inside a call (closing a stream's
 *     indexes, flushing an index) are checked against the caller's: under
 *     the same stream's lock, or under the session's, silent; under another
 *     stream's lock, one warning naming both.
 *
 * Diagnostics are on ("warn") and captured from stderr to check them.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
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

#define PATH "host-l/sess-l/ust"

static bool mentions(const struct capture *c, const char *word)
{
	return strstr(c->text, word) != NULL;
}

/* ------------------------------------------------------------------------ */

struct objects {
	struct relay_session *s;
	struct ctf_trace *t;
	struct relay_stream *st;
};

static void make(struct objects *o, uint64_t handle)
{
	o->s = relay_session_create("sess-l", "host-l", 0, false, 2, 11);
	CHECK(o->s != NULL);
	o->t = relay_ctf_trace_get_by_path_or_create(o->s, PATH);
	CHECK(o->t != NULL);
	o->st = relay_stream_create(o->t, handle, "p", "chan", 0, 0);
	CHECK(o->st != NULL);
}

static void drop(struct objects *o)
{
	CHECK_EQ_LONG(relay_stream_close(o->st), 0);
	relay_ctf_trace_put(o->t);
	CHECK_EQ_LONG(relay_session_close(o->s), 0);
}

static void in_order(struct objects *o)
{
	struct capture cap;
	struct relay_index *idx;
	long created_count;
	bool got;

	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_session_lock(o->s), 0);
	CHECK_EQ_LONG(relay_ctf_trace_lock(o->t), 0);
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	idx = relay_index_get_by_id_or_create(o->st, 1);
	created_count = relay_index_get_ref_count(idx);
	/* Kept past the stream's lock: a reference of our own. */
	got = relay_index_get(idx);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_EQ_LONG(relay_ctf_trace_unlock(o->t), 0);
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	/* Any subset, in order. */
	CHECK_EQ_LONG(relay_session_lock(o->s), 0);
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	CHECK_EQ_LONG(relay_ctf_trace_lock(o->t), 0);
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	/* Released in any order. */
	CHECK_EQ_LONG(relay_ctf_trace_unlock(o->t), 0);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_EQ_LONG(capture_scope_end(&cap), 0);
	CHECK(idx != NULL);
	CHECK_EQ_LONG(created_count, 1); /* its self reference only */
	CHECK(got);
	CHECK_EQ_LONG(relay_index_get_ref_count(idx), 2); /* self + ours */
	relay_index_put(idx);
	CHECK_EQ_LONG(relay_index_get_ref_count(idx), 1);
	CHECK_OK("session, then trace, then stream: each lock returns 0, nothing printed");
}

static void out_of_order(struct objects *o)
{
	struct capture cap;

	/* A session lock while holding a stream lock. */
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_session_lock(o->s), 1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(mentions(&cap, "session"));
	CHECK(mentions(&cap, "stream"));
	/* It was taken: both unlock. */
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_OK("session lock while holding a stream lock: 1, reported naming both, taken");

	/* A trace lock while holding a stream lock. */
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_ctf_trace_lock(o->t), 1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(mentions(&cap, "trace"));
	CHECK(mentions(&cap, "stream"));
	CHECK_EQ_LONG(relay_ctf_trace_unlock(o->t), 0);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_OK("trace lock while holding a stream lock: 1, reported naming both, taken");

	/* A session lock while holding a trace lock. */
	CHECK_EQ_LONG(relay_ctf_trace_lock(o->t), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_session_lock(o->s), 1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(mentions(&cap, "session"));
	CHECK(mentions(&cap, "trace"));
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	CHECK_EQ_LONG(relay_ctf_trace_unlock(o->t), 0);
	CHECK_OK("session lock while holding a trace lock: 1, reported naming both, taken");

	/* Back in order afterwards: nothing is remembered wrongly. */
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_session_lock(o->s), 0);
	CHECK_EQ_LONG(relay_ctf_trace_lock(o->t), 0);
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_EQ_LONG(relay_ctf_trace_unlock(o->t), 0);
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	CHECK_EQ_LONG(capture_scope_end(&cap), 0);
}

/* Two locks of the same level, in either order: the second is out of order.
 * Results taken while stderr is captured are checked after the capture, so
 * that a failure is seen. */
static void same_level(struct objects *o, struct objects *p)
{
	struct capture cap;
	int r;

	/* Two sessions. */
	CHECK_EQ_LONG(relay_session_lock(o->s), 0);
	capture_scope_begin(&cap);
	r = relay_session_lock(p->s);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK_EQ_LONG(r, 1);
	CHECK(mentions(&cap, "session"));
	CHECK(mentions(&cap, "order"));
	/* It was taken: both unlock. */
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	CHECK_EQ_LONG(relay_session_unlock(p->s), 0);
	CHECK_EQ_LONG(relay_session_lock(p->s), 0);
	capture_scope_begin(&cap);
	r = relay_session_lock(o->s);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK_EQ_LONG(r, 1);
	CHECK_EQ_LONG(relay_session_unlock(p->s), 0);
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	CHECK_OK("a second session lock: 1, reported, taken");

	/* Two traces. */
	CHECK_EQ_LONG(relay_ctf_trace_lock(o->t), 0);
	capture_scope_begin(&cap);
	r = relay_ctf_trace_lock(p->t);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK_EQ_LONG(r, 1);
	CHECK(mentions(&cap, "trace"));
	CHECK_EQ_LONG(relay_ctf_trace_unlock(p->t), 0);
	CHECK_EQ_LONG(relay_ctf_trace_unlock(o->t), 0);
	CHECK_OK("a second trace lock: 1, reported, taken");

	/* Two streams, also under a session's lock. */
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	capture_scope_begin(&cap);
	r = relay_stream_lock(p->st);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK_EQ_LONG(r, 1);
	CHECK(mentions(&cap, "stream"));
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_EQ_LONG(relay_stream_unlock(p->st), 0);
	CHECK_EQ_LONG(relay_session_lock(o->s), 0);
	CHECK_EQ_LONG(relay_stream_lock(p->st), 0);
	capture_scope_begin(&cap);
	r = relay_stream_lock(o->st);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK_EQ_LONG(r, 1);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_EQ_LONG(relay_stream_unlock(p->st), 0);
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	CHECK_OK("a second stream lock: 1, reported, taken");

	/* One of each level, across the two hierarchies, is in order. */
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_session_lock(o->s), 0);
	CHECK_EQ_LONG(relay_ctf_trace_lock(p->t), 0);
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_EQ_LONG(relay_ctf_trace_unlock(p->t), 0);
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	CHECK_EQ_LONG(capture_scope_end(&cap), 0);
	CHECK_OK("one lock per level, from different objects: in order, silent");
}

static void relock_and_unheld(struct objects *o)
{
	struct capture cap;

	CHECK_EQ_LONG(relay_session_lock(o->s), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_session_lock(o->s), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(mentions(&cap, "session"));
	/* Not taken twice: one unlock releases it, a second is refused. */
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_session_unlock(o->s), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);

	CHECK_EQ_LONG(relay_ctf_trace_lock(o->t), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_ctf_trace_lock(o->t), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(mentions(&cap, "trace"));
	CHECK_EQ_LONG(relay_ctf_trace_unlock(o->t), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_ctf_trace_unlock(o->t), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);

	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_stream_lock(o->st), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(mentions(&cap, "stream"));
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);

	/* Never taken at all. */
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_session_unlock(o->s), -1);
	CHECK_EQ_LONG(relay_ctf_trace_unlock(o->t), -1);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 3);

	/* All free again: the sequence in order still works silently. */
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_session_lock(o->s), 0);
	CHECK_EQ_LONG(relay_ctf_trace_lock(o->t), 0);
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_EQ_LONG(relay_ctf_trace_unlock(o->t), 0);
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	CHECK_EQ_LONG(capture_scope_end(&cap), 0);
	CHECK_OK("relock by the holder: -1, not taken; unlock of a lock not held: -1");
}

/* ------------------------------------------------------------------------ */
/* Two threads.                                                             */

struct contender {
	struct objects *o;
	pthread_mutex_t m;
	int phase;       /* 1: started, 2: has the session lock */
	bool saw_release; /* the main thread had released when it got it */
	int unlock_other; /* result of unlocking a lock it does not hold */
	int lock_result;
};

static bool released;
static pthread_mutex_t released_lock = PTHREAD_MUTEX_INITIALIZER;

static void set_phase(struct contender *c, int phase)
{
	pthread_mutex_lock(&c->m);
	c->phase = phase;
	pthread_mutex_unlock(&c->m);
}

static int get_phase(struct contender *c)
{
	int p;

	pthread_mutex_lock(&c->m);
	p = c->phase;
	pthread_mutex_unlock(&c->m);
	return p;
}

static void *contender_main(void *arg)
{
	struct contender *c = arg;

	/* The main thread holds the stream lock: this thread may not release
	 * it. */
	c->unlock_other = relay_stream_unlock(c->o->st);
	set_phase(c, 1);
	c->lock_result = relay_session_lock(c->o->s);
	pthread_mutex_lock(&released_lock);
	c->saw_release = released;
	pthread_mutex_unlock(&released_lock);
	set_phase(c, 2);
	CHECK_EQ_LONG(relay_session_unlock(c->o->s), 0);
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static void two_threads(struct objects *o)
{
	pthread_t thread;
	struct contender c;
	struct capture cap;

	memset(&c, 0, sizeof(c));
	c.o = o;
	CHECK(pthread_mutex_init(&c.m, NULL) == 0);

	CHECK_EQ_LONG(relay_session_lock(o->s), 0);
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	capture_scope_begin(&cap);
	CHECK(pthread_create(&thread, NULL, contender_main, &c) == 0);
	while (get_phase(&c) < 1)
		sleep_ms(1);
	/* It is now waiting for the session lock (or about to). */
	sleep_ms(50);
	CHECK_EQ_LONG(get_phase(&c), 1);
	pthread_mutex_lock(&released_lock);
	released = true;
	pthread_mutex_unlock(&released_lock);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	CHECK(pthread_join(thread, NULL) == 0);
	capture_scope_end(&cap);
	CHECK(mentions(&cap, "stream"));
	CHECK_EQ_LONG(c.unlock_other, -1);
	CHECK_EQ_LONG(c.lock_result, 0);
	CHECK(c.saw_release);
	CHECK_EQ_LONG(c.phase, 2);
	pthread_mutex_destroy(&c.m);
	CHECK_OK("locks exclude other threads; a thread cannot unlock another's lock");
}

static void index_without_lock(struct objects *o)
{
	struct capture cap;
	struct relay_index *idx, *again;
	long count;

	capture_scope_begin(&cap);
	idx = relay_index_get_by_id_or_create(o->st, 7);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(mentions(&cap, "lock"));
	CHECK(mentions(&cap, "stream"));
	CHECK(idx != NULL);
	CHECK_EQ_LONG(relay_index_get_ref_count(idx), 1); /* self only */
	CHECK_EQ_LONG(relay_index_get_net_seq_num(idx), 7);
	/* With the lock: the same index, silently, still without a reference
	 * for the caller (nothing to put: its self reference stays until the
	 * stream's close). */
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	again = relay_index_get_by_id_or_create(o->st, 7);
	count = relay_index_get_ref_count(idx);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_EQ_LONG(capture_scope_end(&cap), 0);
	CHECK_EQ_PTR(again, idx);
	CHECK_EQ_LONG(count, 1);
	CHECK_OK("relay_index_get_by_id_or_create without the stream lock: works, warned");
}

/* The library's own stream-lock acquisitions, checked against the locks
 * the caller holds. `o` is closed here (its stream by the library). */
static void internal_locks(struct objects *o, struct objects *p)
{
	struct capture cap;
	struct relay_index *idx, *idx2;

	/* Flushing an index of `o` under `o`'s stream lock: silent (the
	 * library sees the caller holds it); under the session's: in order. */
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	idx = relay_index_get_by_id_or_create(o->st, 9);
	CHECK(idx != NULL);
	CHECK(relay_index_get(idx));
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(relay_session_lock(o->s), 0);
	CHECK_EQ_LONG(relay_index_try_flush(idx), 1); /* not ready: no seq set */
	CHECK_EQ_LONG(relay_session_unlock(o->s), 0);
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	CHECK_EQ_LONG(relay_index_close_all(o->st), 0);
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_EQ_LONG(capture_scope_end(&cap), 0);
	CHECK_EQ_LONG(relay_index_get_ref_count(idx), 1); /* ours only */
	CHECK_OK("library-taken stream locks under the same stream's or the session's lock: silent");

	/* Closing `o`'s stream while holding `p`'s stream lock: a close never
	 * waits for the stream's lock (the teardown of a session made under
	 * one of its stream's locks must not deadlock against a thread doing
	 * the same under another), so nothing is out of order: silent, and
	 * with `o`'s lock free the close completes at once (the self
	 * reference of `o`'s index is dropped). */
	CHECK_EQ_LONG(relay_stream_lock(o->st), 0);
	idx2 = relay_index_get_by_id_or_create(o->st, 11);
	CHECK(idx2 != NULL);
	CHECK(relay_index_get(idx2));
	CHECK_EQ_LONG(relay_stream_unlock(o->st), 0);
	CHECK_EQ_LONG(relay_stream_lock(p->st), 0);
	capture_scope_begin(&cap);
	CHECK(relay_stream_get(o->st));
	CHECK_EQ_LONG(relay_stream_close(o->st), 0);
	CHECK_EQ_LONG(capture_scope_end(&cap), 0);
	CHECK_EQ_LONG(relay_index_get_ref_count(idx2), 1); /* ours only */
	/* Ours and the two indexes we hold: the owner's reference is gone. */
	CHECK_EQ_LONG(relay_stream_get_ref_count(o->st), 3);
	CHECK_EQ_LONG(relay_stream_unlock(p->st), 0);
	relay_index_put(idx2);
	relay_stream_put(o->st);
	relay_index_put(idx);
	relay_ctf_trace_put(o->t);
	CHECK_EQ_LONG(relay_session_close(o->s), 0);
	CHECK_OK("a close made while the caller holds another stream's lock: "
		 "silent, never waits, completes at once");
}

/* A close made while another thread holds the stream's lock returns at
 * once (never waits) and leaves the rest to that thread's unlock: the
 * index it borrowed under the lock keeps its self reference until then. */
struct holder {
	struct relay_stream *st;
	struct relay_index *idx;
	pthread_barrier_t locked, closed;
	long count_before_unlock;
};

static void *hold_stream_lock(void *arg)
{
	struct holder *h = arg;

	TCHECK(relay_stream_lock(h->st) == 0);
	h->idx = relay_index_get_by_id_or_create(h->st, 3);
	TCHECK(h->idx != NULL);
	TCHECK(relay_index_get(h->idx));
	pthread_barrier_wait(&h->locked);
	pthread_barrier_wait(&h->closed);
	/* Borrowed under the lock: still valid, self reference still there. */
	h->count_before_unlock = relay_index_get_ref_count(h->idx);
	TCHECK(relay_stream_unlock(h->st) == 0);
	return NULL;
}

static void close_while_another_holds(void)
{
	struct objects q;
	struct holder h;
	pthread_t t;

	make(&q, 5002);
	memset(&h, 0, sizeof(h));
	h.st = q.st;
	pthread_barrier_init(&h.locked, NULL, 2);
	pthread_barrier_init(&h.closed, NULL, 2);
	CHECK(relay_stream_get(q.st));
	CHECK(pthread_create(&t, NULL, hold_stream_lock, &h) == 0);
	pthread_barrier_wait(&h.locked);
	CHECK_EQ_LONG(relay_stream_close(q.st), 0); /* does not wait */
	CHECK(relay_stream_is_closed(q.st));
	pthread_barrier_wait(&h.closed);
	pthread_join(t, NULL);
	CHECK_EQ_LONG(h.count_before_unlock, 2); /* self reference and ours */
	CHECK_EQ_LONG(relay_index_get_ref_count(h.idx), 1); /* ours only */
	CHECK_EQ_LONG(relay_stream_get_ref_count(q.st), 2); /* ours, the index's */
	relay_index_put(h.idx);
	relay_stream_put(q.st);
	relay_ctf_trace_put(q.t);
	CHECK_EQ_LONG(relay_session_close(q.s), 0);
	pthread_barrier_destroy(&h.locked);
	pthread_barrier_destroy(&h.closed);
	CHECK_OK("a close while another thread holds the stream's lock: returns at "
		 "once, completed by that thread's unlock");
}

int main(void)
{
	struct objects o, p;
	size_t start;

	/* The warnings are what this test checks. */
	setenv("TRACEREF_LOG", "warn", 1);
	start = traceref_live_objects();

	make(&o, 5000);
	in_order(&o);
	out_of_order(&o);
	make(&p, 5001);
	same_level(&o, &p);
	drop(&p);
	relock_and_unheld(&o);
	two_threads(&o);
	index_without_lock(&o);
	make(&p, 5001);
	internal_locks(&o, &p);
	drop(&p);
	close_while_another_holds();

	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_DONE("relay_lock_order");
	return 0;
}
