/*
 * The stream close hook (relay_stream_set_close_hook()), as a daemon uses
 * it: its own `struct relay_stream`, the library's part first, releases its
 * own per-stream resources when the library closes the stream, whichever
 * call closes it.
 *
 * Each round makes a session (owned by a control connection in one round
 * out of three) with streams in the program's own structs
 * (relay_stream_init()) and library-allocated ones (relay_stream_create()),
 * plus a few streams whose owner's reference is put without any close. Then
 * four threads race:
 *
 *   - the owner closes each of its streams with relay_stream_close(), or
 *     relay_stream_try_close() at once, or relay_stream_try_close() left
 *     pending on a last_net_seq_num announced just before, or leaves it to
 *     the session's teardown;
 *   - the teardown closes the session (relay_session_close()), aborts then
 *     closes it (relay_session_abort()), or closes the control connection
 *     that owns it (its final put closes the session), at a random moment;
 *   - the data side looks every stream up by handle and records its data
 *     step by step (relay_stream_set_received_seq_num()), completing the
 *     pending closes;
 *   - the locker looks streams up, holds their lock a while and releases
 *     it, so that closes made meanwhile complete at its unlock.
 *
 * A deterministic scenario adds the last case for certain: a thread holds
 * the locks of two streams while another closes one (relay_stream_close())
 * and aborts the session of the other: neither hook runs until the holder
 * releases the locks, and then both run on the holder's thread.
 *
 * The hook checks, for every call: the stream is one of this round's, closed,
 * no longer found by handle, with a reference still counted (the owner's);
 * relay_stream_lock() on it returns -1 (this thread holds its lock); the
 * thread running it is one of the program's own live threads (not the
 * library's reclaim thread). It counts the call in the stream's struct (an
 * atomic counter) and in the program's record of the stream. After each
 * round and traceref_reclaim_barrier(): every stream that was closed had
 * exactly one call, every stream put without a close none; every struct of
 * the program's was freed once by its free function, which saw the counter
 * at 1 (or 0 for one put without a close); and traceref_live_objects() is
 * back where it started.
 *
 * TRACEREF_SEED replays a run (the seed is printed); TRACEREF_HOOK_ROUNDS
 * sets the number of rounds.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "traceref.h"
#include "check.h"

#define STREAMS 24       /* closed streams per round */
#define UNCLOSED 4       /* streams per round put without a close */
#define PER_ROUND (STREAMS + UNCLOSED)
#define MAX_ROUNDS 200
#define LAST_SEQ 6       /* data steps of the data side */
#define STREAM_MAGIC 0x53545245414d4b31ull
#define HANDLE_BASE 0x4B000000ull
#define MAX_THREADS 16

/* The daemon's stream. */
struct relay_stream {
	struct relay_stream_base base;
	uint64_t magic;
	int index;               /* its record */
	int data_fd;             /* released by the hook */
	atomic_int hook_runs;
};
TRACEREF_ASSERT_FIRST(struct relay_stream, base);

enum mode { BY_CLOSE, BY_TRY_CLOSE, BY_PENDING, BY_TEARDOWN, N_MODES };
enum teardown { SESSION_CLOSE, SESSION_ABORT, CONNECTION_CLOSE, N_TEARDOWNS };
static const char *const teardown_name[N_TEARDOWNS] = { "session close", "abort and close",
							  "connection close" };

/* The program's record of each stream, by index. */
struct record {
	uint64_t handle;
	bool embedded;
	bool closes;             /* expected to close (not put without a close) */
	enum mode mode;
	struct relay_stream *own;/* its struct, when embedded (identity only) */
	atomic_int hook_runs;
	atomic_int frees;
	atomic_int runs_seen_at_free;
};

static struct record records[MAX_ROUNDS * PER_ROUND + 8];
/* Written by the main thread only; read by hooks and free functions. */
static atomic_int n_records;

/* Failures seen inside the hook or the free function (checked later). */
static atomic_int bad_hook_stream, bad_hook_lock, bad_hook_thread, bad_hook_state;
static atomic_int bad_free;
static atomic_long hooks_total;
/* Hook calls by the role of the thread that ran them. */
enum role { R_MAIN, R_OWNER, R_TEARDOWN, R_DATA, R_LOCKER, R_HOLDER, R_CLOSER, N_ROLES };
static atomic_long hooks_by_role[N_ROLES];
static __thread int my_role = -1;

/* The program's live threads: pthread_self() of each, while it runs. */
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t live_threads[MAX_THREADS];
static bool live_slot[MAX_THREADS];

static void thread_enter(enum role role)
{
	int i;

	my_role = (int)role;
	pthread_mutex_lock(&threads_lock);
	for (i = 0; i < MAX_THREADS && live_slot[i]; i++)
		;
	TCHECK(i < MAX_THREADS);
	live_threads[i] = pthread_self();
	live_slot[i] = true;
	pthread_mutex_unlock(&threads_lock);
}

static void thread_leave(void)
{
	int i;

	pthread_mutex_lock(&threads_lock);
	for (i = 0; i < MAX_THREADS; i++) {
		if (live_slot[i] && pthread_equal(live_threads[i], pthread_self())) {
			live_slot[i] = false;
			break;
		}
	}
	pthread_mutex_unlock(&threads_lock);
	TCHECK(i < MAX_THREADS);
	my_role = -1;
}

static bool is_program_thread(void)
{
	bool found = false;
	int i;

	pthread_mutex_lock(&threads_lock);
	for (i = 0; i < MAX_THREADS; i++)
		if (live_slot[i] && pthread_equal(live_threads[i], pthread_self()))
			found = true;
	pthread_mutex_unlock(&threads_lock);
	return found;
}

static struct record *record_of_handle(uint64_t handle)
{
	if (handle < HANDLE_BASE || handle - HANDLE_BASE >= (uint64_t)atomic_load(&n_records))
		return NULL;
	return &records[handle - HANDLE_BASE];
}

/* ------------------------------------------------------------------------ */
/* The hook and the free function.                                          */

static void close_hook(struct relay_stream *stream)
{
	struct record *r = record_of_handle(relay_stream_get_handle(stream));
	struct relay_stream *found;

	atomic_fetch_add(&hooks_total, 1);
	if (!is_program_thread() || my_role < 0)
		atomic_fetch_add(&bad_hook_thread, 1);
	else
		atomic_fetch_add(&hooks_by_role[my_role], 1);
	if (!r || !r->closes) {
		atomic_fetch_add(&bad_hook_stream, 1);
		return;
	}
	/* This thread holds the stream's lock: refused, not deadlocked. */
	if (relay_stream_lock(stream) != -1)
		atomic_fetch_add(&bad_hook_lock, 1);
	found = relay_stream_get_by_id(r->handle);
	if (found) {
		relay_stream_put(found);
		atomic_fetch_add(&bad_hook_state, 1);
	}
	if (!relay_stream_is_closed(stream) || relay_stream_get_ref_count(stream) < 1)
		atomic_fetch_add(&bad_hook_state, 1);
	if (r->embedded) {
		if (stream != r->own || stream->magic != STREAM_MAGIC ||
		    &records[stream->index] != r)
			atomic_fetch_add(&bad_hook_stream, 1);
		/* The daemon's own resources, released here. */
		stream->data_fd = -1;
		atomic_fetch_add(&stream->hook_runs, 1);
	}
	atomic_fetch_add(&r->hook_runs, 1);
}

static void stream_free(struct relay_stream *stream)
{
	struct record *r;

	if (stream->magic != STREAM_MAGIC || stream->index < 0 ||
	    stream->index >= atomic_load(&n_records)) {
		atomic_fetch_add(&bad_free, 1);
		return;
	}
	r = &records[stream->index];
	if (r->own != stream)
		atomic_fetch_add(&bad_free, 1);
	atomic_store(&r->runs_seen_at_free, atomic_load(&stream->hook_runs));
	if (atomic_load(&stream->hook_runs) > 0 && stream->data_fd != -1)
		atomic_fetch_add(&bad_free, 1);
	atomic_fetch_add(&r->frees, 1);
	stream->magic = 0;
	free(stream);
}

/* ------------------------------------------------------------------------ */
/* Streams.                                                                 */

static struct relay_stream *new_stream(struct ctf_trace *t, bool embedded, bool closes,
				       enum mode mode)
{
	const int i = atomic_load(&n_records);
	struct record *r = &records[i];
	struct relay_stream *st;

	memset(r, 0, sizeof(*r));
	atomic_store(&n_records, i + 1);
	r->handle = HANDLE_BASE + (uint64_t)i;
	r->embedded = embedded;
	r->closes = closes;
	r->mode = mode;
	if (embedded) {
		st = calloc(1, sizeof(*st));
		CHECK(st != NULL);
		st->magic = STREAM_MAGIC;
		st->index = i;
		st->data_fd = 100 + i;
		atomic_init(&st->hook_runs, 0);
		r->own = st;
		CHECK_EQ_LONG(relay_stream_init(st, stream_free, t, r->handle, "path", "chan", 0, 0),
			      0);
	} else {
		st = relay_stream_create(t, r->handle, "path", "chan", 0, 0);
		CHECK(st != NULL);
	}
	return st;
}

/* ------------------------------------------------------------------------ */
/* One round of racing threads.                                             */

struct round {
	int first;               /* records[first .. first + STREAMS) */
	struct relay_stream *st[STREAMS];
	struct relay_session *session;
	struct relay_connection *conn;
	enum teardown teardown;
	uint64_t seed;
	pthread_barrier_t go;
	atomic_int running;      /* owner, teardown and data still at work */
};

static void pause_a_little(uint64_t *seed)
{
	int n = (int)(next_rand(seed) % 8);

	while (n-- > 0)
		sched_yield();
}

static void *owner_main(void *arg)
{
	struct round *rd = arg;
	uint64_t seed = rd->seed ^ 0x1111;
	int i;

	thread_enter(R_OWNER);
	pthread_barrier_wait(&rd->go);
	for (i = 0; i < STREAMS; i++) {
		struct relay_stream *st = rd->st[i];
		int rc;

		switch (records[rd->first + i].mode) {
		case BY_CLOSE:
			rc = relay_stream_close(st);
			TCHECK(rc == 0 || rc == -1);
			break;
		case BY_TRY_CLOSE:
			rc = relay_stream_try_close(st);
			TCHECK(rc == 0 || rc == -1);
			break;
		case BY_PENDING:
			TCHECK(relay_stream_set_last_net_seq_num(
				       st, 1 + next_rand(&seed) % LAST_SEQ) == 0);
			rc = relay_stream_try_close(st);
			TCHECK(rc >= -1 && rc <= 1);
			break;
		default:
			break;
		}
		pause_a_little(&seed);
	}
	/* The owner's own references (taken at creation). */
	for (i = 0; i < STREAMS; i++)
		relay_stream_put(rd->st[i]);
	atomic_fetch_sub(&rd->running, 1);
	thread_leave();
	return NULL;
}

static void *teardown_main(void *arg)
{
	struct round *rd = arg;
	uint64_t seed = rd->seed ^ 0x2222;
	int n = (int)(next_rand(&seed) % (3 * STREAMS));

	thread_enter(R_TEARDOWN);
	pthread_barrier_wait(&rd->go);
	while (n-- > 0)
		sched_yield();
	switch (rd->teardown) {
	case SESSION_CLOSE:
		TCHECK(relay_session_close(rd->session) == 0);
		break;
	case SESSION_ABORT:
		TCHECK(relay_session_abort(rd->session) == 0);
		TCHECK(relay_session_close(rd->session) == 0);
		break;
	default:
		TCHECK(relay_connection_close(rd->conn) == 0);
		break;
	}
	atomic_fetch_sub(&rd->running, 1);
	thread_leave();
	return NULL;
}

static void *data_main(void *arg)
{
	struct round *rd = arg;
	uint64_t seed = rd->seed ^ 0x3333;
	uint64_t step;
	int i;

	thread_enter(R_DATA);
	pthread_barrier_wait(&rd->go);
	for (step = 1; step <= LAST_SEQ; step++) {
		for (i = 0; i < STREAMS; i++) {
			struct relay_stream *st =
				relay_stream_get_by_id(records[rd->first + i].handle);

			if (!st)
				continue; /* closed already */
			TCHECK(st == rd->st[i]);
			TCHECK(relay_stream_set_received_seq_num(st, step) == 0);
			relay_stream_put(st);
		}
		pause_a_little(&seed);
	}
	atomic_fetch_sub(&rd->running, 1);
	thread_leave();
	return NULL;
}

static void *locker_main(void *arg)
{
	struct round *rd = arg;
	uint64_t seed = rd->seed ^ 0x4444;

	thread_enter(R_LOCKER);
	pthread_barrier_wait(&rd->go);
	while (atomic_load(&rd->running) > 0) {
		int i = (int)(next_rand(&seed) % STREAMS);
		struct relay_stream *st = relay_stream_get_by_id(records[rd->first + i].handle);

		if (!st) {
			sched_yield();
			continue;
		}
		TCHECK(relay_stream_lock(st) == 0);
		pause_a_little(&seed);
		/* Completes a close made meanwhile: the hook runs here. */
		TCHECK(relay_stream_unlock(st) == 0);
		relay_stream_put(st);
	}
	thread_leave();
	return NULL;
}

static void check_round(int first, int count, const char *what)
{
	int i;

	for (i = first; i < first + count; i++) {
		struct record *r = &records[i];

		if (atomic_load(&r->hook_runs) != (r->closes ? 1 : 0))
			CHECK_FAIL_("%s: stream %d (%s, mode %d): %d hook calls", what, i,
				    r->embedded ? "embedded" : "created", (int)r->mode,
				    atomic_load(&r->hook_runs));
		++*check_counter();
		if (r->embedded) {
			CHECK_EQ_LONG(atomic_load(&r->frees), 1);
			CHECK_EQ_LONG(atomic_load(&r->runs_seen_at_free), r->closes ? 1 : 0);
		}
	}
	CHECK_EQ_LONG(atomic_load(&bad_hook_stream), 0);
	CHECK_EQ_LONG(atomic_load(&bad_hook_lock), 0);
	CHECK_EQ_LONG(atomic_load(&bad_hook_thread), 0);
	CHECK_EQ_LONG(atomic_load(&bad_hook_state), 0);
	CHECK_EQ_LONG(atomic_load(&bad_free), 0);
}

static void race_round(int round, uint64_t seed)
{
	const size_t start = traceref_live_objects();
	struct round rd;
	struct ctf_trace *t;
	pthread_t owner, teardown, data, locker;
	char name[32];
	int first, i;

	memset(&rd, 0, sizeof(rd));
	rd.seed = seed;
	rd.teardown = (enum teardown)(round % N_TEARDOWNS);
	snprintf(name, sizeof(name), "hook-%d", round);
	rd.session = relay_session_create(name, "host", 0, false, 2, 11);
	CHECK(rd.session != NULL);
	if (rd.teardown == CONNECTION_CLOSE) {
		/* The connection owns the session: its final put closes it. */
		rd.conn = relay_connection_create(3000 + round, RELAY_CONTROL);
		CHECK(rd.conn != NULL);
		CHECK_EQ_LONG(relay_connection_set_session(rd.conn, rd.session), 0);
	}
	t = relay_ctf_trace_get_by_path_or_create(rd.session, "host/hook/ust");
	CHECK(t != NULL);

	/* Streams put without a close, before any other thread could see
	 * them: released at count 0, never closed. */
	first = atomic_load(&n_records);
	for (i = 0; i < UNCLOSED; i++) {
		struct relay_stream *st = new_stream(t, i % 2 == 0, false, BY_TEARDOWN);

		CHECK_EQ_LONG(relay_stream_publish(st), 0);
		relay_stream_put(st);
	}
	rd.first = atomic_load(&n_records);
	for (i = 0; i < STREAMS; i++) {
		enum mode mode = (enum mode)(next_rand(&seed) % N_MODES);

		rd.st[i] = new_stream(t, i % 2 == 0, true, mode);
		if (i % 3 == 0)
			CHECK_EQ_LONG(relay_stream_publish(rd.st[i]), 0);
		/* The owner's own reference, so that it may keep using the
		 * pointer after the session's teardown closed the stream. */
		CHECK(relay_stream_get(rd.st[i]));
	}
	relay_ctf_trace_put(t);

	atomic_init(&rd.running, 3);
	CHECK_EQ_LONG(pthread_barrier_init(&rd.go, NULL, 4), 0);
	CHECK_EQ_LONG(pthread_create(&owner, NULL, owner_main, &rd), 0);
	CHECK_EQ_LONG(pthread_create(&teardown, NULL, teardown_main, &rd), 0);
	CHECK_EQ_LONG(pthread_create(&data, NULL, data_main, &rd), 0);
	CHECK_EQ_LONG(pthread_create(&locker, NULL, locker_main, &rd), 0);
	CHECK_EQ_LONG(pthread_join(owner, NULL), 0);
	CHECK_EQ_LONG(pthread_join(teardown, NULL), 0);
	CHECK_EQ_LONG(pthread_join(data, NULL), 0);
	CHECK_EQ_LONG(pthread_join(locker, NULL), 0);
	pthread_barrier_destroy(&rd.go);

	for (i = 0; i < STREAMS; i++)
		CHECK(relay_stream_get_by_id(records[rd.first + i].handle) == NULL);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	snprintf(name, sizeof(name), "round %d (%s)", round, teardown_name[rd.teardown]);
	check_round(first, PER_ROUND, name);
	CHECK_EQ_LONG(traceref_live_objects(), start);
}

/* ------------------------------------------------------------------------ */
/* A thread holds the locks while another closes.                           */

struct held {
	struct relay_stream *a, *b;
	struct relay_session *session;
	pthread_barrier_t locked, closed;
	long a_runs_before_unlock, b_runs_before_unlock;
};

static void *holder_main(void *arg)
{
	struct held *h = arg;

	thread_enter(R_HOLDER);
	TCHECK(relay_stream_lock(h->a) == 0);
	TCHECK(relay_stream_lock(h->b) == 1); /* two streams: out of order, reported */
	pthread_barrier_wait(&h->locked);
	pthread_barrier_wait(&h->closed);
	h->a_runs_before_unlock = atomic_load(&h->a->hook_runs);
	h->b_runs_before_unlock = atomic_load(&h->b->hook_runs);
	TCHECK(relay_stream_unlock(h->b) == 0);
	TCHECK(relay_stream_unlock(h->a) == 0);
	thread_leave();
	return NULL;
}

static void *closer_main(void *arg)
{
	struct held *h = arg;

	thread_enter(R_CLOSER);
	pthread_barrier_wait(&h->locked);
	/* Neither waits for the locks the holder has. */
	TCHECK(relay_stream_close(h->a) == 0);
	TCHECK(relay_session_abort(h->session) == 0);
	pthread_barrier_wait(&h->closed);
	thread_leave();
	return NULL;
}

static void held_lock(void)
{
	const size_t start = traceref_live_objects();
	const long holder_before = atomic_load(&hooks_by_role[R_HOLDER]);
	const long closer_before = atomic_load(&hooks_by_role[R_CLOSER]);
	struct held h;
	struct ctf_trace *t;
	pthread_t holder, closer;
	int first = atomic_load(&n_records);

	memset(&h, 0, sizeof(h));
	h.session = relay_session_create("hook-held", "host", 0, false, 2, 11);
	CHECK(h.session != NULL);
	t = relay_ctf_trace_get_by_path_or_create(h.session, "host/hook-held/ust");
	CHECK(t != NULL);
	h.a = new_stream(t, true, true, BY_CLOSE);
	h.b = new_stream(t, true, true, BY_TEARDOWN);
	/* b waits for data: only the abort closes it. */
	CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(h.b, 5), 0);
	CHECK(relay_stream_get(h.a) && relay_stream_get(h.b));
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(pthread_barrier_init(&h.locked, NULL, 2), 0);
	CHECK_EQ_LONG(pthread_barrier_init(&h.closed, NULL, 2), 0);
	CHECK_EQ_LONG(pthread_create(&holder, NULL, holder_main, &h), 0);
	CHECK_EQ_LONG(pthread_create(&closer, NULL, closer_main, &h), 0);
	CHECK_EQ_LONG(pthread_join(closer, NULL), 0);
	CHECK_EQ_LONG(pthread_join(holder, NULL), 0);
	pthread_barrier_destroy(&h.locked);
	pthread_barrier_destroy(&h.closed);
	CHECK_EQ_LONG(h.a_runs_before_unlock, 0);
	CHECK_EQ_LONG(h.b_runs_before_unlock, 0);
	CHECK_EQ_LONG(atomic_load(&h.a->hook_runs), 1);
	CHECK_EQ_LONG(atomic_load(&h.b->hook_runs), 1);
	CHECK_EQ_LONG(atomic_load(&hooks_by_role[R_HOLDER]) - holder_before, 2);
	CHECK_EQ_LONG(atomic_load(&hooks_by_role[R_CLOSER]) - closer_before, 0);
	CHECK(relay_stream_is_closed(h.a) && relay_stream_is_closed(h.b));
	CHECK_EQ_LONG(relay_stream_get_ref_count(h.a), 1); /* ours: the owner's is put */
	relay_stream_put(h.a);
	relay_stream_put(h.b);
	CHECK_EQ_LONG(relay_session_close(h.session), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	check_round(first, 2, "held lock");
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("a close and an abort made while another thread holds the streams' locks: "
		 "no hook until its unlocks, then both hooks on that thread");
}

/* ------------------------------------------------------------------------ */

int main(void)
{
	const char *s = getenv("TRACEREF_SEED");
	const char *r = getenv("TRACEREF_HOOK_ROUNDS");
	uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
	int rounds = r ? atoi(r) : 30;
	size_t start;
	int round, k;
	long closed = 0;

	/* relay_stream_lock() inside the hook is refused with a warning line
	 * each time: the refusal is what is checked. */
	setenv("TRACEREF_LOG", "off", 1);
	if (!seed)
		seed = 1;
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 30;
	printf("relay_close_hook: seed %llu (replay with TRACEREF_SEED=%llu), %d rounds\n",
	       (unsigned long long)seed, (unsigned long long)seed, rounds);
	thread_enter(R_MAIN);
	start = traceref_live_objects();
	relay_stream_set_close_hook(close_hook);

	held_lock();
	for (round = 0; round < rounds; round++)
		race_round(round, next_rand(&seed) | 1);
	for (k = 0; k < atomic_load(&n_records); k++)
		closed += records[k].closes;
	CHECK_EQ_LONG(atomic_load(&hooks_total), closed);
	CHECK_OK("%d rounds, %d streams (%ld closed, %d put without a close): one hook call per "
		 "closed stream, none for the others, each under the stream's lock on a thread of "
		 "the program; by role: owner %ld, teardown %ld, data %ld, locker %ld, holder %ld",
		 rounds, atomic_load(&n_records), closed, atomic_load(&n_records) - (int)closed,
		 atomic_load(&hooks_by_role[R_OWNER]), atomic_load(&hooks_by_role[R_TEARDOWN]),
		 atomic_load(&hooks_by_role[R_DATA]), atomic_load(&hooks_by_role[R_LOCKER]),
		 atomic_load(&hooks_by_role[R_HOLDER]));
	CHECK_EQ_LONG(atomic_load(&hooks_by_role[R_MAIN]), 0);

	relay_stream_set_close_hook(NULL);
	{
		/* Removed: a close calls nothing. */
		struct relay_session *sess = relay_session_create("hook-off", "host", 0, false, 2, 11);
		struct ctf_trace *t = relay_ctf_trace_get_by_path_or_create(sess, "host/off/ust");
		struct relay_stream *st = new_stream(t, true, false, BY_CLOSE);

		relay_ctf_trace_put(t);
		CHECK_EQ_LONG(relay_stream_close(st), 0);
		CHECK_EQ_LONG(relay_session_close(sess), 0);
		CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
		check_round(atomic_load(&n_records) - 1, 1, "no hook");
		CHECK_EQ_LONG(atomic_load(&hooks_total), closed);
	}
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("with the hook removed (NULL), a close calls nothing; the census is back to "
		 "its start");
	thread_leave();
	CHECK_DONE("relay_close_hook");
	return 0;
}
