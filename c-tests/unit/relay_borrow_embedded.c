/*
 * Indexes in the program's own structs, borrowed under their stream's lock,
 * against closes made by other threads meanwhile.
 *
 * relay_index_get_by_id_or_init() lends the index it returns (no reference
 * for the caller): the pointer stays valid while the caller holds the
 * stream's lock, whatever other threads do meanwhile; a close of the stream
 * completed during that time leaves the indexes' self references to the
 * holder's relay_stream_unlock(). Here the index is the program's own
 * `struct relay_index` (the library's part first, then a magic value, the
 * program's copy of its sequence number and counters), freed by the
 * program's free function after the grace period.
 *
 * Each round makes a session with a few library-allocated streams. Three
 * borrower threads look streams up by handle and, under the stream's lock:
 * get-or-init a few indexes (new sequence numbers and ones asked for before,
 * each with a fresh candidate struct; a candidate that lost to an existing
 * index is checked untouched and freed by the test), write and read the
 * program's fields of every borrowed index for a while (and read its
 * sequence number and count through the library), record the stream's data
 * (relay_stream_set_received_seq_num()), flush some of the indexes
 * (relay_index_try_flush(); a flushed one is not used again), use the rest
 * again, then unlock. A stream whose close completed during the hold gets a
 * traceref_reclaim_barrier() under the lock, a last use of every index still
 * borrowed, and a get-or-init of a new sequence number, which must refuse
 * (NULL, the candidate left to the test). Racing them, a closer thread,
 * whose action depends on the round:
 *
 *   - relay_stream_close() of each stream;
 *   - relay_stream_set_last_net_seq_num() just past the data recorded so far
 *     and relay_stream_try_close() of each stream: the close is pending, and
 *     a borrower's relay_stream_set_received_seq_num() completes it;
 *   - relay_session_abort() (some closes pending on data that never
 *     arrives), then relay_session_close();
 *   - relay_session_close();
 *   - relay_connection_close() of the control connection owning the session
 *     (the connection's final put, inside the close, closes the session);
 *   - relay_connection_put() of that connection, whose owner's reference
 *     was closed before: the final put closes the session.
 *
 * The closer acts when a borrower holds a stream's lock with indexes
 * borrowed, and a borrower holding them waits a little for it, so that most
 * closes complete under a borrower's lock. A thread running
 * traceref_reclaim_barrier() in a loop reclaims throughout.
 *
 * The free function checks that the struct is one the library took (never a
 * candidate that lost, was refused, or was freed already), with its magic
 * and fields intact; that no borrower holds its stream's lock with it
 * borrowed in that hold and not flushed (a per-stream flag and hold number
 * the borrowers maintain); then poisons the struct, counts the free and
 * frees it. After each round, traceref_reclaim_barrier(): every struct the
 * library took was freed exactly once, every other candidate was freed by
 * the test and never passed to the free function, each stream is left with
 * our reference only, and traceref_live_objects() is back where it started.
 * Every kind of close must have completed under a borrower's lock with
 * indexes borrowed at least once in the run.
 *
 * TRACEREF_SEED replays a run (the seed is printed); TRACEREF_BORROW_ROUNDS
 * sets the number of rounds (each kind of close in turn; 300 by default, at
 * least 60).
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

#define STREAMS 4          /* streams per round */
#define BORROWERS 3
#define MAX_PICKS 4        /* get-or-inits per hold */
#define WINDOW 6           /* sequence numbers asked for again */
#define INDEX_MAGIC 0x494e444558424f52ull
#define BASE_FILL 0xC5     /* a candidate's library part, before the call */
#define POISON 0xDB
#define HANDLE_BASE 0xBE000000ull
#define EXPOSE_WAIT 3000   /* closer: yields waiting for a borrower's hold */
#define ACT_WAIT 300       /* borrower: rounds of use waiting for the closer */
#define MIN_ROUNDS 60      /* so that every kind of close lands in a hold */

enum mode {
	M_STREAM_CLOSE,
	M_PENDING_RECEIVED,
	M_SESSION_ABORT,
	M_SESSION_CLOSE,
	M_CONNECTION_CLOSE,
	M_CONNECTION_PUT,
	N_MODES
};

static const char *const mode_name[N_MODES] = {
	"relay_stream_close",
	"relay_stream_try_close completed by relay_stream_set_received_seq_num",
	"relay_session_abort",
	"relay_session_close",
	"relay_connection_close (the connection's final put)",
	"relay_connection_put (the connection's final put)",
};

/* The program's record of a stream of the round. */
struct slot {
	uint64_t handle;
	struct relay_stream *st;   /* the owner's pointer (we hold a reference) */
	atomic_int held;           /* a borrower holds the lock */
	atomic_ulong hold_gen;     /* number of the current (or last) hold */
	atomic_int exposed;        /* ... with indexes borrowed */
	atomic_int gone;           /* no longer found by handle */
	atomic_int acted;          /* the closer acted on it */
	atomic_ulong received_hint;/* the data recorded, for the closer */
	/* Under the stream's lock. */
	uint64_t next_new;         /* next sequence number never asked for */
	uint64_t received;         /* data recorded so far (0: none) */
};

/* The program's index: the library's part first. */
struct relay_index {
	struct relay_index_base base;
	uint64_t magic;
	struct slot *slot;
	uint64_t seq;
	size_t serial;             /* its ledger entry */
	/* Written under the stream's lock by the borrowers. */
	uint64_t uses;
	uint64_t check;            /* mix(seq, uses, serial) */
	uint64_t holds;            /* holds that borrowed it */
	/* Read by the free function. */
	atomic_ulong borrow_gen;   /* the hold that borrowed it last */
	atomic_int flushing;       /* a borrower flushed it (or is flushing) */
};
TRACEREF_ASSERT_FIRST(struct relay_index, base);

/* ------------------------------------------------------------------------ */
/* The ledger: every candidate of the round, and the structs the library     */
/* holds (the only ones its free function may be given).                    */

enum cand_state { C_PENDING, C_TAKEN, C_LOST, C_REFUSED };

struct entry {
	int state;
	int frees;                 /* by the free function */
	int test_frees;            /* by the test (lost or refused) */
	bool flushed;
};

static pthread_mutex_t ledger_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *ledger;
static size_t ledger_n, ledger_cap;
/* Candidates in a call and structs the library took, not yet freed. */
struct live { struct relay_index *p; size_t serial; };
static struct live *live;
static size_t live_n, live_cap;

/* Failures seen by the free function (checked after each round). */
static atomic_int bad_unknown, bad_not_taken, bad_fields, freed_while_borrowed;
static atomic_long frees_total;
static uint64_t borrowed_freed_handle, borrowed_freed_seq; /* first one */

static uint64_t mix(uint64_t seq, uint64_t uses, size_t serial)
{
	uint64_t x = seq * 0x9E3779B97F4A7C15ull ^ uses * 0xBF58476D1CE4E5B9ull ^ (uint64_t)serial;

	return x ^ (x >> 31);
}

static long live_find(const struct relay_index *p)
{
	size_t i;

	for (i = 0; i < live_n; i++)
		if (live[i].p == p)
			return (long)i;
	return -1;
}

/* A new candidate for `seq` of `slot`, in the ledger and the live set. */
static struct relay_index *new_candidate(struct slot *slot, uint64_t seq)
{
	struct relay_index *c = malloc(sizeof(*c));
	size_t serial;

	TCHECK(c != NULL);
	pthread_mutex_lock(&ledger_lock);
	if (ledger_n == ledger_cap) {
		ledger_cap = ledger_cap ? 2 * ledger_cap : 1024;
		ledger = realloc(ledger, ledger_cap * sizeof(*ledger));
		TCHECK(ledger != NULL);
	}
	if (live_n == live_cap) {
		live_cap = live_cap ? 2 * live_cap : 256;
		live = realloc(live, live_cap * sizeof(*live));
		TCHECK(live != NULL);
	}
	serial = ledger_n++;
	memset(&ledger[serial], 0, sizeof(ledger[serial]));
	ledger[serial].state = C_PENDING;
	live[live_n].p = c;
	live[live_n].serial = serial;
	live_n++;
	pthread_mutex_unlock(&ledger_lock);

	memset(c, BASE_FILL, sizeof(*c));
	c->magic = INDEX_MAGIC;
	c->slot = slot;
	c->seq = seq;
	c->serial = serial;
	c->uses = 0;
	c->check = mix(seq, 0, serial);
	c->holds = 0;
	atomic_init(&c->borrow_gen, 0);
	atomic_init(&c->flushing, 0);
	return c;
}

/* The library took `c` (get-or-init returned it). */
static void candidate_taken(struct relay_index *c)
{
	pthread_mutex_lock(&ledger_lock);
	TCHECK(ledger[c->serial].state == C_PENDING);
	ledger[c->serial].state = C_TAKEN;
	pthread_mutex_unlock(&ledger_lock);
}

/* `c` is the test's again (lost or refused): untouched, then freed here. */
static void candidate_back(struct relay_index *c, enum cand_state why)
{
	unsigned char base[sizeof(c->base)];
	long k;

	memset(base, BASE_FILL, sizeof(base));
	TCHECK(memcmp(&c->base, base, sizeof(base)) == 0);
	TCHECK(c->magic == INDEX_MAGIC && c->uses == 0 &&
	       c->check == mix(c->seq, 0, c->serial) && c->holds == 0);
	pthread_mutex_lock(&ledger_lock);
	k = live_find(c);
	TCHECK(k >= 0 && live[k].serial == c->serial);
	TCHECK(ledger[c->serial].state == C_PENDING);
	ledger[c->serial].state = (int)why;
	ledger[c->serial].test_frees++;
	live[k] = live[--live_n];
	pthread_mutex_unlock(&ledger_lock);
	memset(c, POISON, sizeof(*c));
	free(c);
}

/* The free function: after the grace period, on any thread. */
static void index_free(struct relay_index *o)
{
	struct slot *slot;
	size_t serial;
	long k;
	int state;

	pthread_mutex_lock(&ledger_lock);
	k = live_find(o);
	if (k < 0) {
		/* A candidate that lost or was refused (freed by the test), or
		 * a struct freed already: not the library's to free. */
		pthread_mutex_unlock(&ledger_lock);
		atomic_fetch_add(&bad_unknown, 1);
		return;
	}
	serial = live[k].serial;
	state = ledger[serial].state;
	live[k] = live[--live_n];
	ledger[serial].frees++;
	pthread_mutex_unlock(&ledger_lock);
	if (state != C_TAKEN)
		atomic_fetch_add(&bad_not_taken, 1);
	if (o->magic != INDEX_MAGIC || o->serial != serial ||
	    o->check != mix(o->seq, o->uses, o->serial) || o->holds == 0)
		atomic_fetch_add(&bad_fields, 1);
	slot = o->slot;
	/* Freed while a borrower holds its stream's lock, borrowed in that
	 * hold and not flushed by it: the promise is broken. The flag is
	 * read before the hold number, which a borrower sets before it. */
	if (atomic_load(&slot->held) &&
	    atomic_load(&slot->hold_gen) == atomic_load(&o->borrow_gen) &&
	    !atomic_load(&o->flushing)) {
		if (atomic_fetch_add(&freed_while_borrowed, 1) == 0) {
			borrowed_freed_handle = slot->handle;
			borrowed_freed_seq = o->seq;
		}
	}
	memset(o, POISON, sizeof(*o));
	free(o);
	atomic_fetch_add(&frees_total, 1);
}

/* ------------------------------------------------------------------------ */
/* One round.                                                               */

struct round {
	enum mode mode;
	uint64_t seed;
	struct relay_session *session;
	struct relay_connection *conn;
	struct slot slot[STREAMS];
	pthread_barrier_t go;
	atomic_long holds;         /* the borrowers' holds so far */
	atomic_int armed;          /* the closer looks for a hold to act in */
	atomic_int acts;           /* the closer's actions so far */
	atomic_int closer_done;
};

static struct round rd;

/* Statistics over the run, by mode. */
static atomic_long st_holds[N_MODES], st_closed_in_hold[N_MODES], st_taken[N_MODES],
	st_lost[N_MODES], st_refused[N_MODES], st_flushed[N_MODES], st_not_ready[N_MODES];

/* Write and read the program's fields of every borrowed index. */
static void use(struct slot *slot, struct relay_index **b, int n, int rounds)
{
	int r, i;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < n; i++) {
			struct relay_index *o = b[i];

			TCHECK(o->magic == INDEX_MAGIC);
			TCHECK(o->slot == slot);
			TCHECK(o->check == mix(o->seq, o->uses, o->serial));
			o->uses++;
			o->check = mix(o->seq, o->uses, o->serial);
			if ((r + i) % 8 == 0) {
				TCHECK(relay_index_get_net_seq_num(o) == o->seq);
				TCHECK(relay_index_get_ref_count(o) == 1);
			}
		}
		if (r % 4 == 3)
			sched_yield();
	}
}

/* One hold of `slot`'s stream: borrow, use, record data, flush some, use. */
static void hold(struct slot *slot, uint64_t *seed)
{
	struct relay_index *b[MAX_PICKS];
	struct relay_stream *st;
	unsigned long gen;
	bool was_closed;
	int acts0, picks, n = 0, i, p, w;
	uint64_t adv;

	st = relay_stream_get_by_id(slot->handle);
	if (!st) {
		atomic_store(&slot->gone, 1);
		return;
	}
	TCHECK(st == slot->st);
	TCHECK(relay_stream_lock(st) == 0);
	gen = atomic_fetch_add(&slot->hold_gen, 1) + 1;
	atomic_store(&slot->held, 1);
	atomic_fetch_add(&rd.holds, 1);
	atomic_fetch_add(&st_holds[rd.mode], 1);
	was_closed = relay_stream_is_closed(st);
	acts0 = atomic_load(&rd.acts);

	picks = 1 + (int)(next_rand(seed) % MAX_PICKS);
	for (p = 0; p < picks; p++) {
		uint64_t seq;
		struct relay_index *c, *r;

		if (slot->next_new == 1 || next_rand(seed) % 2)
			seq = slot->next_new++;
		else
			seq = slot->next_new - 1 -
			      next_rand(seed) % (slot->next_new - 1 < WINDOW ? slot->next_new - 1 : WINDOW);
		c = new_candidate(slot, seq);
		r = relay_index_get_by_id_or_init(st, seq, c, index_free);
		if (!r) {
			TCHECK(relay_stream_is_closed(st));
			candidate_back(c, C_REFUSED);
			atomic_fetch_add(&st_refused[rd.mode], 1);
			continue;
		}
		if (r == c) {
			candidate_taken(c);
			atomic_fetch_add(&st_taken[rd.mode], 1);
		} else {
			candidate_back(c, C_LOST);
			atomic_fetch_add(&st_lost[rd.mode], 1);
		}
		TCHECK(r->magic == INDEX_MAGIC && r->slot == slot && r->seq == seq);
		TCHECK(relay_index_get_net_seq_num(r) == seq);
		for (i = 0; i < n && b[i] != r; i++)
			;
		if (i == n) {
			b[n++] = r;
			r->holds++;
			atomic_store(&r->borrow_gen, gen);
		}
	}
	if (n > 0)
		atomic_store(&slot->exposed, 1);

	/* A while under the lock; while the closer still has work, until it
	 * acted (or a bounded time). */
	use(slot, b, n, 8);
	for (w = 0; n > 0 && w < ACT_WAIT && atomic_load(&rd.armed) &&
		    !atomic_load(&rd.closer_done) && atomic_load(&rd.acts) == acts0; w++) {
		use(slot, b, n, 1);
		sched_yield();
	}
	use(slot, b, n, 8);

	/* The data path: record data, flush what it covers (some of it). */
	adv = next_rand(seed) % 4;
	if (adv) {
		slot->received += adv;
		atomic_store(&slot->received_hint, slot->received);
		TCHECK(relay_stream_set_received_seq_num(st, slot->received) == 0);
	}
	for (i = 0; i < n;) {
		struct relay_index *o = b[i];
		const uint64_t seq = o->seq;
		int rc;

		if (next_rand(seed) % 2) {
			i++;
			continue;
		}
		atomic_store(&o->flushing, 1);
		rc = relay_index_try_flush(o);
		if (rc == 0) {
			/* Flushed: not to be used again (its free function
			 * may run at once). */
			TCHECK(slot->received != 0 && seq <= slot->received);
			b[i] = b[--n];
			atomic_fetch_add(&st_flushed[rd.mode], 1);
		} else {
			TCHECK(rc == 1);
			TCHECK(slot->received == 0 || o->seq > slot->received);
			atomic_store(&o->flushing, 0);
			atomic_fetch_add(&st_not_ready[rd.mode], 1);
			i++;
		}
	}
	use(slot, b, n, 16);

	if (!was_closed && relay_stream_is_closed(st)) {
		struct relay_index *c;

		/* Closed during this hold: whatever was released is reclaimed
		 * now; what is borrowed is not. */
		if (n > 0)
			atomic_fetch_add(&st_closed_in_hold[rd.mode], 1);
		TCHECK(traceref_reclaim_barrier() == 0);
		use(slot, b, n, 8);
		c = new_candidate(slot, slot->next_new++);
		TCHECK(relay_index_get_by_id_or_init(st, c->seq, c, index_free) == NULL);
		candidate_back(c, C_REFUSED);
		atomic_fetch_add(&st_refused[rd.mode], 1);
		TCHECK(traceref_reclaim_barrier() == 0);
		use(slot, b, n, 8);
	} else if (next_rand(seed) % 8 == 0) {
		TCHECK(traceref_reclaim_barrier() == 0);
		use(slot, b, n, 4);
	}

	atomic_store(&slot->exposed, 0);
	atomic_store(&slot->held, 0);
	TCHECK(relay_stream_unlock(st) == 0);
	relay_stream_put(st);
}

static void *borrower_main(void *arg)
{
	uint64_t seed = rd.seed ^ (0x1000u * (uint64_t)(uintptr_t)arg + 0x77);
	int i, gone;

	pthread_barrier_wait(&rd.go);
	for (;;) {
		for (i = 0, gone = 0; i < STREAMS; i++)
			gone += atomic_load(&rd.slot[i].gone);
		if (gone == STREAMS)
			break;
		i = (int)(next_rand(&seed) % STREAMS);
		if (atomic_load(&rd.slot[i].gone))
			continue;
		hold(&rd.slot[i], &seed);
	}
	return NULL;
}

/* After some more holds of the borrowers, a stream a borrower holds with
 * indexes borrowed (one the closer did not act on yet, when `unacted`), or
 * after a while any such stream. */
static int exposed_slot(bool unacted, uint64_t *seed)
{
	const long holds = atomic_load(&rd.holds) + 4 + (long)(next_rand(seed) % 24);
	int w, i;

	while (atomic_load(&rd.holds) < holds)
		sched_yield();
	atomic_store(&rd.armed, 1);
	for (w = 0; w < EXPOSE_WAIT; w++) {
		for (i = 0; i < STREAMS; i++)
			if (atomic_load(&rd.slot[i].exposed) &&
			    !(unacted && atomic_load(&rd.slot[i].acted)))
				return i;
		sched_yield();
	}
	do
		i = (int)(next_rand(seed) % STREAMS);
	while (unacted && atomic_load(&rd.slot[i].acted));
	return i;
}

/* The closer acted: a borrower waiting for it goes on. */
static void acted(void)
{
	atomic_fetch_add(&rd.acts, 1);
	atomic_store(&rd.armed, 0);
}

static void *closer_main(void *arg)
{
	uint64_t seed = rd.seed ^ 0xC105E;
	int k, i, rc;

	(void)arg;
	pthread_barrier_wait(&rd.go);
	switch (rd.mode) {
	case M_STREAM_CLOSE:
	case M_PENDING_RECEIVED:
		for (k = 0; k < STREAMS; k++) {
			struct slot *s;

			i = exposed_slot(true, &seed);
			s = &rd.slot[i];
			if (rd.mode == M_STREAM_CLOSE) {
				TCHECK(relay_stream_close(s->st) == 0);
			} else {
				/* Just past the data recorded: a borrower's
				 * data completes it. */
				TCHECK(relay_stream_set_last_net_seq_num(
					       s->st, atomic_load(&s->received_hint) + 1 +
							      next_rand(&seed) % 3) == 0);
				rc = relay_stream_try_close(s->st);
				TCHECK(rc == 0 || rc == 1);
			}
			atomic_store(&s->acted, 1);
			acted();
		}
		/* Closes nothing left open in M_STREAM_CLOSE; in
		 * M_PENDING_RECEIVED the pending closes stay pending. */
		TCHECK(relay_session_close(rd.session) == 0);
		break;
	case M_SESSION_ABORT:
		(void)exposed_slot(false, &seed);
		TCHECK(relay_session_abort(rd.session) == 0);
		acted();
		TCHECK(relay_session_close(rd.session) == 0);
		break;
	case M_SESSION_CLOSE:
		(void)exposed_slot(false, &seed);
		TCHECK(relay_session_close(rd.session) == 0);
		acted();
		break;
	case M_CONNECTION_CLOSE:
		(void)exposed_slot(false, &seed);
		TCHECK(relay_connection_close(rd.conn) == 0);
		acted();
		break;
	case M_CONNECTION_PUT:
		(void)exposed_slot(false, &seed);
		relay_connection_put(rd.conn);
		acted();
		break;
	default:
		break;
	}
	atomic_store(&rd.closer_done, 1);
	return NULL;
}

/* A thread reclaiming all along, as a relay daemon's threads do. */
static atomic_int stop_reclaimer;

static void *reclaimer_main(void *arg)
{
	struct timespec ts = { 0, 100000 };

	(void)arg;
	while (!atomic_load(&stop_reclaimer)) {
		TCHECK(traceref_reclaim_barrier() == 0);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void check_ledger(int round)
{
	size_t i;

	CHECK_EQ_LONG(atomic_load(&freed_while_borrowed), 0);
	CHECK_EQ_LONG(atomic_load(&bad_unknown), 0);
	CHECK_EQ_LONG(atomic_load(&bad_not_taken), 0);
	CHECK_EQ_LONG(atomic_load(&bad_fields), 0);
	pthread_mutex_lock(&ledger_lock);
	CHECK_EQ_LONG(live_n, 0);
	for (i = 0; i < ledger_n; i++) {
		const struct entry *e = &ledger[i];
		bool ok;

		if (e->state == C_TAKEN)
			ok = e->frees == 1 && e->test_frees == 0;
		else
			ok = (e->state == C_LOST || e->state == C_REFUSED) && e->frees == 0 &&
			     e->test_frees == 1;
		if (!ok)
			CHECK_FAIL_("round %d: candidate %zu (state %d): %d frees by the free "
				    "function, %d by the test",
				    round, i, e->state, e->frees, e->test_frees);
		++*check_counter();
	}
	ledger_n = 0;
	pthread_mutex_unlock(&ledger_lock);
}

static void race_round(int round, uint64_t seed)
{
	const size_t start = traceref_live_objects();
	static uint64_t next_handle = HANDLE_BASE;
	pthread_t borrower[BORROWERS], closer;
	struct ctf_trace *t;
	char name[32];
	int i;

	memset(&rd, 0, sizeof(rd));
	rd.mode = (enum mode)(round % N_MODES);
	rd.seed = seed;
	atomic_init(&rd.holds, 0);
	atomic_init(&rd.armed, 0);
	atomic_init(&rd.acts, 0);
	atomic_init(&rd.closer_done, 0);
	snprintf(name, sizeof(name), "borrow-%d", round);
	rd.session = relay_session_create(name, "host", 0, false, 2, 11);
	CHECK(rd.session != NULL);
	if (rd.mode == M_CONNECTION_CLOSE || rd.mode == M_CONNECTION_PUT) {
		/* The connection owns the session: its final put closes it. */
		rd.conn = relay_connection_create(4000 + round, RELAY_CONTROL);
		CHECK(rd.conn != NULL);
		CHECK_EQ_LONG(relay_connection_set_session(rd.conn, rd.session), 0);
		if (rd.mode == M_CONNECTION_PUT) {
			/* Our reference is the last after the owner's close. */
			CHECK(relay_connection_get(rd.conn));
			CHECK_EQ_LONG(relay_connection_close(rd.conn), 0);
			CHECK_EQ_LONG(relay_connection_get_ref_count(rd.conn), 1);
			CHECK(!relay_session_is_closed(rd.session));
		}
	}
	snprintf(name, sizeof(name), "host/borrow-%d/ust", round);
	t = relay_ctf_trace_get_by_path_or_create(rd.session, name);
	CHECK(t != NULL);
	for (i = 0; i < STREAMS; i++) {
		struct slot *s = &rd.slot[i];

		s->handle = next_handle++;
		s->next_new = 1;
		s->received = 0;
		s->st = relay_stream_create(t, s->handle, "path", "chan", 0, 0);
		CHECK(s->st != NULL);
		if (i % 2 == 0)
			CHECK_EQ_LONG(relay_stream_publish(s->st), 0);
		/* Ours: the stream stays allocated past its close, for the
		 * closer's calls and the checks below. */
		CHECK(relay_stream_get(s->st));
		if (rd.mode == M_SESSION_ABORT && i % 2 == 1) {
			/* Pending on data that never comes: the abort closes it. */
			CHECK_EQ_LONG(relay_stream_set_last_net_seq_num(s->st, 1ull << 40), 0);
			CHECK_EQ_LONG(relay_stream_try_close(s->st), 1);
		}
	}
	relay_ctf_trace_put(t);

	CHECK_EQ_LONG(pthread_barrier_init(&rd.go, NULL, BORROWERS + 1), 0);
	for (i = 0; i < BORROWERS; i++)
		CHECK_EQ_LONG(pthread_create(&borrower[i], NULL, borrower_main,
					     (void *)(uintptr_t)i), 0);
	CHECK_EQ_LONG(pthread_create(&closer, NULL, closer_main, NULL), 0);
	for (i = 0; i < BORROWERS; i++)
		CHECK_EQ_LONG(pthread_join(borrower[i], NULL), 0);
	CHECK_EQ_LONG(pthread_join(closer, NULL), 0);
	pthread_barrier_destroy(&rd.go);

	CHECK(relay_session_is_closed(rd.session));
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	for (i = 0; i < STREAMS; i++) {
		struct slot *s = &rd.slot[i];

		CHECK(relay_stream_is_closed(s->st));
		CHECK(relay_stream_get_by_id(s->handle) == NULL);
		/* The owner's reference put once, every index's released. */
		CHECK_EQ_LONG(relay_stream_get_ref_count(s->st), 1);
		relay_stream_put(s->st);
	}
	if (rd.mode == M_CONNECTION_CLOSE || rd.mode == M_CONNECTION_PUT)
		rd.conn = NULL; /* given up: its final put was the closer's */
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	check_ledger(round);
	CHECK_EQ_LONG(traceref_live_objects(), start);
}

int main(void)
{
	const char *s = getenv("TRACEREF_SEED");
	const char *r = getenv("TRACEREF_BORROW_ROUNDS");
	uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
	int rounds = r ? atoi(r) : 300;
	pthread_t reclaimer;
	size_t start;
	int round, m;

	setenv("TRACEREF_LOG", "warn", 1);
	if (!seed)
		seed = 1;
	if (rounds < MIN_ROUNDS)
		rounds = MIN_ROUNDS;
	printf("relay_borrow_embedded: seed %llu (replay with TRACEREF_SEED=%llu), %d rounds\n",
	       (unsigned long long)seed, (unsigned long long)seed, rounds);
	fflush(stdout);
	start = traceref_live_objects();
	atomic_init(&stop_reclaimer, 0);
	CHECK_EQ_LONG(pthread_create(&reclaimer, NULL, reclaimer_main, NULL), 0);

	for (round = 0; round < rounds; round++) {
		race_round(round, seed);
		seed = next_rand(&seed) | 1;
	}

	atomic_store(&stop_reclaimer, 1);
	CHECK_EQ_LONG(pthread_join(reclaimer, NULL), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	if (atomic_load(&freed_while_borrowed))
		printf("first index freed while borrowed: stream %llu, seq %llu\n",
		       (unsigned long long)borrowed_freed_handle,
		       (unsigned long long)borrowed_freed_seq);
	for (m = 0; m < N_MODES; m++) {
		printf("  %s: %ld holds, %ld closed during a hold with indexes borrowed; "
		       "%ld candidates taken, %ld lost, %ld refused; %ld flushed, %ld not ready\n",
		       mode_name[m], atomic_load(&st_holds[m]), atomic_load(&st_closed_in_hold[m]),
		       atomic_load(&st_taken[m]), atomic_load(&st_lost[m]),
		       atomic_load(&st_refused[m]), atomic_load(&st_flushed[m]),
		       atomic_load(&st_not_ready[m]));
		CHECK(atomic_load(&st_closed_in_hold[m]) > 0);
		CHECK(atomic_load(&st_taken[m]) > 0 && atomic_load(&st_lost[m]) > 0);
		CHECK(atomic_load(&st_flushed[m]) > 0);
	}
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("indexes in the program's own structs, borrowed under their stream's lock, "
		 "stay valid and unfreed until the holder's unlock whatever closes the stream "
		 "meanwhile (%ld freed, each once; lost and refused candidates the test's)",
		 atomic_load(&frees_total));
	free(ledger);
	free(live);
	CHECK_DONE("relay_borrow_embedded");
	return 0;
}
