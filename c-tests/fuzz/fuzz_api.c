/*
 * Fuzz target over the whole C API of traceref, both models.
 *
 * An input is a program: each call takes an operation byte and as many
 * argument bytes as it needs (a finished input reads as zeros). Arguments
 * are valid or not on purpose: NULL, pointers of another kind, duplicate
 * ids, handles and sockets, second closes, values out of range, puts on a
 * count of zero, calls inside a read-side section that are refused there.
 *
 * The harness keeps the contract the header asks of a caller, and only
 * that: it passes a pointer only while it holds a reference on it (or, in
 * the Babeltrace model, on an object of the same tree, where the header
 * allows it), or a pointer of another live kind for the wrong-kind checks,
 * or NULL; never a freed pointer. To that end it takes one reference of its
 * own on every relay object it creates (so that a close it does not know of,
 * such as a session closing its streams, never frees what it still names),
 * and it drops its last reference on an object with a close only after
 * calling that close. Locks are taken and released within one call of the
 * program, so no close ever waits on a lock the harness holds.
 *
 * Each program sets the stream close hook when it starts (a program may
 * remove it and set it again), counts its calls on the streams it tracks,
 * and removes it when it ends, so that programs are independent.
 *
 * At the end of each program it unwinds its read-side sections, aborts every
 * session (pending stream closes complete), closes whatever it created,
 * destroys its tables and viewer sessions, puts every reference it holds,
 * waits for reclamation with traceref_reclaim_barrier() and checks that the
 * census is zero, that every payload destructor ran once and that every
 * embedded object was released once.
 *
 * Two builds of this file:
 *   - with -DTRACEREF_LIBFUZZER (clang -fsanitize=fuzzer,address): the
 *     libFuzzer entry point LLVMFuzzerTestOneInput();
 *   - without: a standalone driver. `fuzz_api FILE...` runs each file as one
 *     program (a libFuzzer crash file, for instance); `fuzz_api` alone runs
 *     TRACEREF_FUZZ_RUNS (default 2000) pseudo-random programs from the seed
 *     TRACEREF_FUZZ_SEED (default: from the clock), printed first so that a
 *     failure can be replayed. A failing program is also written to
 *     fuzz_api-failure-<seed>-<run>.bin in the current directory.
 *
 * A failed check prints one line on stderr and aborts.
 */

#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "traceref.h"

enum kind {
	K_FREE = 0,
	/* relay, refcounted */
	K_SESSION,
	K_TRACE,
	K_STREAM,
	K_INDEX,
	K_VSTREAM,
	K_CONN,
	/* relay, not refcounted */
	K_VSESSION,
	K_TABLE,
	/* Babeltrace */
	K_BT_TRACE,
	K_BT_SC,
	K_BT_EC,
	K_BT_EMB,
	K_COUNT
};

#define BIT(k) (1u << (k))
#define M_BT (BIT(K_BT_TRACE) | BIT(K_BT_SC) | BIT(K_BT_EC) | BIT(K_BT_EMB))
#define M_RELAY_REF (BIT(K_SESSION) | BIT(K_TRACE) | BIT(K_STREAM) | BIT(K_INDEX) | \
		     BIT(K_VSTREAM) | BIT(K_CONN))

#define MAX_RECS 64
#define MAX_IDS 32

/* One object the harness may name. */
struct rec {
	int kind;     /* K_FREE: unused slot */
	void *ptr;
	int refs;     /* references the harness holds on it, from gets */
	bool owner;   /* relay: creation's owner reference, whose close the
		       * harness has not called yet (not counted in refs) */
	void *parent; /* Babeltrace: the parent, NULL for a root */
	int name;     /* Babeltrace classes: index in names[] */
	void *conn;   /* viewer sessions: the owning connection, or NULL */
	bool vclosed; /* viewer sessions: closed by relay_viewer_session_close() */
	int hooks;    /* streams: close hook calls for it since it was tracked */
	bool watch;   /* streams: seen open with the hook set, which has stayed
		       * set since: its close calls the hook once */
};

static const char *const names[] = { "a", "b", "c", "metadata" };
#define NAME_COUNT 4

/* An embedded Babeltrace object of the harness's own. */
#define EMB_MAGIC 0x656d6230u
struct emb {
	struct bt_object base;
	uint32_t magic;
	uint32_t serial;
};

/* A static embedded object (no release function): gets and puts do nothing. */
static struct emb static_emb;
/* Memory that is not an object of the library (zeroed, large enough for any
 * header the library reads to refuse it). */
static uint64_t foreign[64];

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static long emb_released;
static long payloads_destroyed;
static char payload_token;

static void emb_release(struct bt_object *obj)
{
	struct emb *e = (struct emb *)obj;

	if (e->magic != EMB_MAGIC) {
		fprintf(stderr, "fuzz_api: release of an embedded object with a bad magic\n");
		abort();
	}
	e->magic = 0;
	free(e);
	pthread_mutex_lock(&count_lock);
	emb_released++;
	pthread_mutex_unlock(&count_lock);
}

static void payload_destroy(void *data)
{
	if (data != &payload_token) {
		fprintf(stderr, "fuzz_api: payload destructor called with %p\n", data);
		abort();
	}
	pthread_mutex_lock(&count_lock);
	payloads_destroyed++;
	pthread_mutex_unlock(&count_lock);
}

static long locked_read(long *v)
{
	long n;

	pthread_mutex_lock(&count_lock);
	n = *v;
	pthread_mutex_unlock(&count_lock);
	return n;
}

/* The state of one program. */
struct fz {
	const uint8_t *data;
	size_t size, pos;
	long op;      /* calls made so far */
	int last_op;
	struct rec recs[MAX_RECS];
	int read_depth;
	uint64_t session_ids[MAX_IDS];
	int nsession_ids;
	long payloads_set;
	long emb_made;
	int devnull;
	bool hook_on;     /* the stream close hook is set */
	pthread_t thread; /* the thread running the program */
};

#ifndef TRACEREF_LIBFUZZER
/* Where the standalone driver is, for failure messages. */
static uint64_t drv_seed;
static long drv_run = -1;
#endif
static long total_calls;
static struct fz *cur; /* the program running */

static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_api: check failed");
	if (cur)
		fprintf(stderr, " (call %ld, operation %d)", cur->op, cur->last_op);
	fprintf(stderr, ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
#ifndef TRACEREF_LIBFUZZER
	if (cur && drv_run >= 0) {
		char path[128];
		FILE *f;

		snprintf(path, sizeof path, "fuzz_api-failure-%" PRIu64 "-%ld.bin", drv_seed,
			 drv_run);
		f = fopen(path, "wb");
		if (f) {
			fwrite(cur->data, 1, cur->size, f);
			fclose(f);
			fprintf(stderr, "fuzz_api: seed %" PRIu64 ", run %ld; program written to %s\n",
				drv_seed, drv_run, path);
		}
	}
#endif
	fflush(stderr);
	abort();
}

#define EXPECT(cond)                                                  \
	do {                                                          \
		if (!(cond))                                          \
			fail("%s (line %d)", #cond, __LINE__);        \
	} while (0)

/* ------------------------------------------------------------------------ */
/* Reading the program.                                                     */

static bool more(struct fz *f)
{
	return f->pos < f->size;
}

static uint8_t u8(struct fz *f)
{
	return f->pos < f->size ? f->data[f->pos++] : 0;
}

static uint32_t u32(struct fz *f)
{
	uint32_t v = u8(f);

	v |= (uint32_t)u8(f) << 8;
	return v;
}

/* A 64-bit value: small ones, edges, or anything. */
static uint64_t u64(struct fz *f)
{
	uint8_t b = u8(f);

	switch (b % 8) {
	case 0:
		return RELAY_SEQ_UNSET;
	case 1:
		return RELAY_SEQ_UNSET - 1;
	case 2:
		return (uint64_t)1 << 63;
	case 3: {
		uint64_t v = 0;
		int i;

		for (i = 0; i < 8; i++)
			v = v << 8 | u8(f);
		return v;
	}
	default:
		return b >> 3;
	}
}

/* ------------------------------------------------------------------------ */
/* Records.                                                                 */

static bool is_bt(int kind)
{
	return (M_BT & BIT(kind)) != 0;
}

static int rec_find(struct fz *f, const void *ptr)
{
	int i;

	if (!ptr)
		return -1;
	for (i = 0; i < MAX_RECS; i++)
		if (f->recs[i].kind != K_FREE && f->recs[i].ptr == ptr)
			return i;
	return -1;
}

static int rec_free_slots(struct fz *f)
{
	int i, n = 0;

	for (i = 0; i < MAX_RECS; i++)
		if (f->recs[i].kind == K_FREE)
			n++;
	return n;
}

static int rec_add(struct fz *f, int kind, void *ptr)
{
	int i;

	for (i = 0; i < MAX_RECS; i++) {
		if (f->recs[i].kind == K_FREE) {
			memset(&f->recs[i], 0, sizeof(f->recs[i]));
			f->recs[i].kind = kind;
			f->recs[i].ptr = ptr;
			return i;
		}
	}
	return -1;
}

static void rec_remove(struct fz *f, int slot)
{
	struct rec *r = &f->recs[slot];
	int i;

	if (r->kind == K_CONN) {
		/* Its viewer session is destroyed with it. */
		for (i = 0; i < MAX_RECS; i++)
			if (f->recs[i].kind == K_VSESSION && f->recs[i].conn == r->ptr)
				f->recs[i].kind = K_FREE;
	}
	r->kind = K_FREE;
	r->ptr = NULL;
}

/* Drop one reference with the put of its kind. */
static void put_ptr(int kind, void *p)
{
	switch (kind) {
	case K_SESSION:
		relay_session_put(p);
		break;
	case K_TRACE:
		relay_ctf_trace_put(p);
		break;
	case K_STREAM:
		relay_stream_put(p);
		break;
	case K_INDEX:
		relay_index_put(p);
		break;
	case K_VSTREAM:
		relay_viewer_stream_put(p);
		break;
	case K_CONN:
		relay_connection_put(p);
		break;
	case K_BT_TRACE:
		bt_ctf_trace_put(p);
		break;
	case K_BT_SC:
		bt_ctf_stream_class_put(p);
		break;
	case K_BT_EC:
		bt_ctf_event_class_put(p);
		break;
	case K_BT_EMB:
		bt_put(p);
		break;
	default:
		fail("put of kind %d", kind);
	}
}

/* The trees of the Babeltrace model: a tree stays allocated while the
 * harness holds a reference on one of its nodes. Forget the nodes of every
 * other tree (the library destroyed them). */
static int bt_root(struct fz *f, int slot)
{
	int depth = 0;

	while (f->recs[slot].parent) {
		int p = rec_find(f, f->recs[slot].parent);

		if (p < 0 || !is_bt(f->recs[p].kind))
			fail("parent %p of a tracked object is not tracked", f->recs[slot].parent);
		slot = p;
		if (++depth > MAX_RECS)
			fail("cycle in the tracked parents");
	}
	return slot;
}

static void bt_prune(struct fz *f)
{
	int held[MAX_RECS] = { 0 };
	int root[MAX_RECS];
	int i;

	for (i = 0; i < MAX_RECS; i++) {
		root[i] = -1;
		if (!is_bt(f->recs[i].kind))
			continue;
		root[i] = bt_root(f, i);
		held[root[i]] += f->recs[i].refs;
	}
	for (i = 0; i < MAX_RECS; i++)
		if (root[i] >= 0 && held[root[i]] == 0)
			f->recs[i].kind = K_FREE;
}

/* A new reference returned by the library on `p` of `kind`: counted on its
 * record, made one if needed; put at once if there is no room. */
static int adopt(struct fz *f, int kind, void *p)
{
	int slot;

	if (!p)
		return -1;
	slot = rec_find(f, p);
	if (slot >= 0) {
		if (f->recs[slot].kind != kind)
			fail("%p returned as kind %d, tracked as kind %d", p, kind,
			     f->recs[slot].kind);
		f->recs[slot].refs++;
		return slot;
	}
	slot = rec_add(f, kind, p);
	if (slot < 0) {
		put_ptr(kind, p);
		return -1;
	}
	f->recs[slot].refs = 1;
	if (kind == K_STREAM)
		f->recs[slot].watch = f->hook_on && !relay_stream_is_closed(p);
	return slot;
}

/* Drop one reference the harness holds on the record. Not the last one of
 * an object whose close was not called (the harness would lose the owner's
 * reference). */
static bool drop_ref(struct fz *f, int slot)
{
	struct rec *r = &f->recs[slot];

	if (r->refs <= 0 || (r->refs == 1 && r->owner))
		return false;
	put_ptr(r->kind, r->ptr);
	r->refs--;
	if (!is_bt(r->kind) && r->refs == 0)
		rec_remove(f, slot);
	return true;
}

/* An argument: a record of a wanted kind, or another pointer on purpose. */
struct arg {
	void *p;
	int slot; /* >= 0: a record of a wanted kind */
};

#define PICK_FOREIGN 1 /* foreign memory and the static object are fine */
#define PICK_HELD 2    /* Babeltrace: only objects the harness holds */

static bool usable(const struct rec *r, unsigned mask, int flags)
{
	if (r->kind == K_FREE || !(mask & BIT(r->kind)))
		return false;
	if ((flags & PICK_HELD) && is_bt(r->kind) && r->refs == 0)
		return false;
	return true;
}

static int pick_slot(struct fz *f, unsigned mask, int flags, uint8_t sel)
{
	int i, n = 0;

	for (i = 0; i < MAX_RECS; i++)
		if (usable(&f->recs[i], mask, flags))
			n++;
	if (n == 0)
		return -1;
	n = sel % n;
	for (i = 0; i < MAX_RECS; i++)
		if (usable(&f->recs[i], mask, flags) && n-- == 0)
			return i;
	return -1;
}

static struct arg pick(struct fz *f, unsigned mask, int flags)
{
	struct arg a = { NULL, -1 };
	uint8_t how = u8(f), sel = u8(f);
	int slot;

	if (how < 10)
		return a; /* NULL */
	if (how < 28) {
		/* another live kind (any tracked object is allocated) */
		slot = pick_slot(f, ~mask & ((1u << K_COUNT) - 1), 0, sel);
		if (slot >= 0)
			a.p = f->recs[slot].ptr;
		else if (!(mask & BIT(K_BT_EMB)))
			a.p = &static_emb;
		return a;
	}
	if (how < 36 && (flags & PICK_FOREIGN)) {
		a.p = how % 2 ? (void *)foreign : (void *)&static_emb;
		return a;
	}
	slot = pick_slot(f, mask, flags, sel);
	if (slot >= 0) {
		a.p = f->recs[slot].ptr;
		a.slot = slot;
	}
	return a;
}

static struct rec *R(struct fz *f, struct arg a)
{
	return &f->recs[a.slot];
}

/* A relay object the harness holds: its count covers the harness's
 * references. */
static void check_count(struct fz *f, struct arg a, long count)
{
	if (a.slot < 0) {
		EXPECT(count == -1);
		return;
	}
	if (count < R(f, a)->refs)
		fail("%p (kind %d): count %ld below the %d references held", a.p, R(f, a)->kind,
		     count, R(f, a)->refs);
}

/* ------------------------------------------------------------------------ */
/* The stream close hook.                                                   */

/* Called where a close completes, on the program's thread, with the stream's
 * lock held by it (a relay_stream_lock() of it is refused) and the stream
 * closed. Each call is counted on the stream's record: one at most. */
static void close_hook(struct relay_stream *st)
{
	struct fz *f = cur;
	int slot;

	if (!f)
		fail("close hook called for %p outside a program", (void *)st);
	EXPECT(f->hook_on);
	EXPECT(pthread_equal(pthread_self(), f->thread));
	EXPECT(relay_stream_get_ref_count(st) >= 1);
	EXPECT(relay_stream_is_closed(st));
	EXPECT(relay_stream_get_trace(st) != NULL);
	EXPECT(relay_stream_lock(st) == -1);
	slot = rec_find(f, st);
	if (slot >= 0) {
		EXPECT(f->recs[slot].kind == K_STREAM);
		f->recs[slot].hooks++;
		if (f->recs[slot].hooks > 1)
			fail("close hook called %d times for stream %p", f->recs[slot].hooks,
			     (void *)st);
	}
}

/* Set the hook, or remove it: a stream open now is watched from now on. */
static void set_hook(struct fz *f, bool on)
{
	int i;

	relay_stream_set_close_hook(on ? close_hook : NULL);
	f->hook_on = on;
	for (i = 0; i < MAX_RECS; i++)
		if (f->recs[i].kind == K_STREAM)
			f->recs[i].watch = on && !relay_stream_is_closed(f->recs[i].ptr);
}

/* A tracked stream: no hook call while open; one if it closed while watched. */
static void check_stream_hook(struct fz *f, int slot)
{
	struct rec *r = &f->recs[slot];
	bool closed;

	if (r->kind != K_STREAM)
		return;
	closed = relay_stream_is_closed(r->ptr);
	if (r->hooks > 0 && !closed)
		fail("close hook called for stream %p, which is open", r->ptr);
	if (r->watch && closed && r->hooks != 1)
		fail("stream %p closed with the hook set: %d hook calls", r->ptr, r->hooks);
}

static void check_stream_hooks(struct fz *f)
{
	int i;

	for (i = 0; i < MAX_RECS; i++)
		check_stream_hook(f, i);
}

/* ------------------------------------------------------------------------ */
/* Viewer streams and the sessions of viewer sessions.                      */

/* The session of a viewer stream the harness holds (through its stream and
 * trace, which the viewer stream holds). */
static struct relay_session *vstream_session(struct relay_viewer_stream *v)
{
	struct relay_stream *st = relay_viewer_stream_get_stream(v);
	struct ctf_trace *t;

	EXPECT(st != NULL);
	t = relay_stream_get_trace(st);
	EXPECT(t != NULL);
	return relay_ctf_trace_get_session(t);
}

/* Whether a viewer stream the harness holds is in the viewer stream table
 * (not closed). */
static bool vstream_in_table(struct relay_viewer_stream *v)
{
	struct relay_stream *st = relay_viewer_stream_get_stream(v);
	struct relay_viewer_stream *found;

	EXPECT(st != NULL);
	found = relay_viewer_stream_get_by_id(relay_stream_get_handle(st));
	if (found)
		relay_viewer_stream_put(found);
	return found == v;
}

/* A close of viewer streams by a viewer session: of its session `only`, or
 * of every session attached to it when `only` is NULL. Before the call, the
 * tracked viewer streams it is to close and those in the table. */
struct vs_close {
	bool closing[MAX_RECS];
	bool in_table[MAX_RECS];
};

static void vs_close_before(struct fz *f, struct relay_viewer_session *vs,
			    struct relay_session *only, struct vs_close *c)
{
	int i;

	for (i = 0; i < MAX_RECS; i++) {
		struct relay_session *s;

		c->closing[i] = c->in_table[i] = false;
		if (f->recs[i].kind != K_VSTREAM)
			continue;
		c->in_table[i] = vstream_in_table(f->recs[i].ptr);
		if (!c->in_table[i])
			continue;
		s = vstream_session(f->recs[i].ptr);
		if (only) {
			c->closing[i] = s == only;
			continue;
		}
		EXPECT(relay_session_get(s));
		c->closing[i] = relay_viewer_session_is_attached(vs, s);
		relay_session_put(s);
	}
}

/* After it: the ones it closed left the table, their owner's reference put
 * by the library (the harness's close of them would be refused); the
 * others are as they were. */
static void vs_close_after(struct fz *f, bool closed, const struct vs_close *c)
{
	int i;

	for (i = 0; i < MAX_RECS; i++) {
		bool in;

		if (f->recs[i].kind != K_VSTREAM)
			continue;
		in = vstream_in_table(f->recs[i].ptr);
		if (closed && c->closing[i]) {
			if (in)
				fail("viewer stream %p still open after its viewer session's close",
				     f->recs[i].ptr);
			f->recs[i].owner = false;
		} else if (in != c->in_table[i]) {
			fail("viewer stream %p %s by a close of another session", f->recs[i].ptr,
			     in ? "reopened" : "closed");
		}
	}
}

/* A tracked session is attached to one tracked viewer session at most (every
 * viewer session is tracked), and relay_session_is_viewer_attached() says
 * whether it is. */
static void check_viewer_attached(struct fz *f, struct arg s)
{
	int i, n = 0;

	if (s.slot < 0) {
		EXPECT(!relay_session_is_viewer_attached(s.p));
		return;
	}
	for (i = 0; i < MAX_RECS; i++)
		if (f->recs[i].kind == K_VSESSION &&
		    relay_viewer_session_is_attached(f->recs[i].ptr, s.p))
			n++;
	EXPECT(n <= 1);
	EXPECT(relay_session_is_viewer_attached(s.p) == (n == 1));
}

/* relay_viewer_session_close_one_session(): 0 exactly when `s` was attached
 * to `vs`, closing the viewer streams of `s` only. */
static void close_one_session(struct fz *f, struct arg vs, struct arg s)
{
	struct vs_close c;
	bool attached = false;
	int r;

	if (vs.slot >= 0 && s.slot >= 0) {
		attached = relay_viewer_session_is_attached(vs.p, s.p);
		vs_close_before(f, vs.p, s.p, &c);
	}
	r = relay_viewer_session_close_one_session(vs.p, s.p);
	EXPECT(r == (attached ? 0 : -1));
	if (vs.slot < 0 || s.slot < 0)
		return;
	vs_close_after(f, r == 0, &c);
	EXPECT(!relay_viewer_session_is_attached(vs.p, s.p));
	if (r == 0)
		EXPECT(!relay_session_is_viewer_attached(s.p));
}

/* ------------------------------------------------------------------------ */
/* Walks over one container.                                                */

#define MAX_SEEN 256

/* One walk: what it walks, when its visitor stops it, what the visitor does
 * besides its checks. A walk whose order is not the program's (the library
 * orders those containers by address, or in a table shared with earlier
 * programs) either stops or changes something, never both, and what it
 * changes is chosen by the object, not by its turn: the program stays the
 * same for the same input. */
struct cwalk {
	struct fz *f;
	void *of;       /* the session, trace, viewer session or table walked */
	int visited;
	int stop_at;    /* non-zero at this visit; 0: never */
	uint8_t act;    /* what the visits do */
	bool quiet;     /* checks, and references taken and put, only */
	bool stopped;
	bool gone;      /* the table walked was destroyed by a visit */
	bool vs_closed; /* the viewer session walked was closed by a visit */
	int nseen;
	void *seen[MAX_SEEN];
};

static void cwalk_init(struct cwalk *w, struct fz *f, void *of)
{
	memset(w, 0, sizeof *w);
	w->f = f;
	w->of = of;
	w->stop_at = u8(f) % 4;
	w->act = u8(f);
}

/* What this visit does, in a walk whose order is the program's. */
static int cwalk_turn(const struct cwalk *w, int n)
{
	return (w->act + 3 * w->visited) % n;
}

static void cwalk_seen(struct cwalk *w, void *p)
{
	int i;

	for (i = 0; i < w->nseen && i < MAX_SEEN; i++)
		if (w->seen[i] == p)
			fail("%p visited twice by one walk over %p", p, w->of);
	if (w->nseen < MAX_SEEN)
		w->seen[w->nseen] = p;
	w->nseen++;
}

/* The visit's return value: non-zero at the visit where the walk stops. */
static int cwalk_next(struct cwalk *w)
{
	w->visited++;
	w->stopped = w->stop_at > 0 && w->visited == w->stop_at;
	return w->stopped;
}

/* After the walk: -1 and no visit for a NULL or wrong argument; else the
 * number of visits made, and, unless it stopped, a visit of each object of
 * `expect` (found in the container before the walk). */
static void cwalk_done(struct cwalk *w, bool valid, int n, void *const *expect, int nexpect)
{
	int i, j;

	if (!valid) {
		EXPECT(n == -1);
		EXPECT(w->visited == 0);
		return;
	}
	if (n != w->visited)
		fail("walk over %p returned %d after %d visits", w->of, n, w->visited);
	if (w->stop_at > 0)
		EXPECT(n <= w->stop_at);
	if (w->stopped || w->nseen > MAX_SEEN)
		return;
	for (i = 0; i < nexpect; i++) {
		for (j = 0; j < w->nseen && w->seen[j] != expect[i]; j++)
			;
		if (j == w->nseen)
			fail("walk over %p: %p not visited", w->of, expect[i]);
	}
}

/* A stream of a trace's published streams. */
static int visit_trace_stream(struct relay_stream *st, void *data)
{
	struct cwalk *w = data;
	struct fz *f = w->f;
	int slot = rec_find(f, st);

	EXPECT(relay_stream_get_ref_count(st) >= 1);
	EXPECT(relay_stream_get_trace(st) == w->of);
	EXPECT(!relay_stream_is_closed(st));
	EXPECT(relay_stream_is_published(st));
	cwalk_seen(w, st);
	if (slot >= 0) {
		EXPECT(f->recs[slot].kind == K_STREAM);
		check_stream_hook(f, slot);
	}
	if (w->act & 1) {
		EXPECT(relay_stream_get(st));
		relay_stream_put(st);
	}
	/* The owner closes it, during its own visit: still valid until it
	 * returns. */
	if (!w->quiet && slot >= 0 && f->recs[slot].owner &&
	    relay_stream_get_handle(st) % 4 == (uint64_t)(w->act >> 1) % 4) {
		EXPECT(relay_stream_close(st) == 0);
		f->recs[slot].owner = false;
		EXPECT(relay_stream_is_closed(st));
		EXPECT(f->recs[slot].hooks == (f->hook_on ? 1 : 0));
		EXPECT(relay_stream_get_ref_count(st) >= 1);
	}
	return cwalk_next(w);
}

static void walk_trace_streams(struct fz *f, struct arg a, bool quiet)
{
	void *expect[MAX_RECS] = { NULL };
	int nexpect = 0, i, n;
	struct cwalk w;
	relay_stream_visit_func visit = u8(f) % 8 ? visit_trace_stream : NULL;

	cwalk_init(&w, f, a.p);
	w.quiet = quiet || w.stop_at > 0;
	for (i = 0; a.slot >= 0 && i < MAX_RECS; i++) {
		void *st = f->recs[i].ptr;

		if (f->recs[i].kind == K_STREAM && relay_stream_get_trace(st) == a.p &&
		    relay_stream_is_published(st) && !relay_stream_is_closed(st))
			expect[nexpect++] = st;
	}
	n = relay_ctf_trace_for_each_stream(a.p, visit, &w);
	cwalk_done(&w, a.slot >= 0 && visit, n, expect, nexpect);
}

/* A ctf-trace of a session. */
static int visit_session_trace(struct ctf_trace *t, void *data)
{
	struct cwalk *w = data;
	struct fz *f = w->f;
	int slot;

	EXPECT(relay_ctf_trace_get_ref_count(t) >= 1);
	EXPECT(relay_ctf_trace_get_session(t) == w->of);
	EXPECT(relay_ctf_trace_get_path(t) != NULL);
	cwalk_seen(w, t);
	switch (w->quiet ? cwalk_turn(w, 2) * 4 + 1 : cwalk_turn(w, 6)) {
	case 1: /* a reference taken and put */
		EXPECT(relay_ctf_trace_get(t));
		relay_ctf_trace_put(t);
		break;
	case 2: /* a reference kept */
		EXPECT(relay_ctf_trace_get(t));
		adopt(f, K_TRACE, t);
		break;
	case 3: /* a reference of the harness's put: the walk's keeps it */
		slot = rec_find(f, t);
		if (slot >= 0) {
			EXPECT(f->recs[slot].kind == K_TRACE);
			drop_ref(f, slot);
		}
		EXPECT(relay_ctf_trace_get_ref_count(t) >= 1);
		break;
	case 5: { /* its streams, inside the visit */
		struct arg at = { t, 0 };

		walk_trace_streams(f, at, true);
		break;
	}
	default:
		break;
	}
	return cwalk_next(w);
}

static void walk_session_traces(struct fz *f, struct arg a, bool quiet)
{
	void *expect[MAX_RECS] = { NULL };
	int nexpect = 0, i, n;
	struct cwalk w;
	relay_ctf_trace_visit_func visit = u8(f) % 8 ? visit_session_trace : NULL;

	cwalk_init(&w, f, a.p);
	w.quiet = quiet;
	for (i = 0; a.slot >= 0 && i < MAX_RECS; i++)
		if (f->recs[i].kind == K_TRACE &&
		    relay_ctf_trace_get_session(f->recs[i].ptr) == a.p)
			expect[nexpect++] = f->recs[i].ptr;
	n = relay_session_for_each_ctf_trace(a.p, visit, &w);
	cwalk_done(&w, a.slot >= 0 && visit, n, expect, nexpect);
}

/* A viewer stream of a session. */
static int visit_session_vstream(struct relay_viewer_stream *v, void *data)
{
	struct cwalk *w = data;
	struct fz *f = w->f;
	int slot = rec_find(f, v);

	EXPECT(relay_viewer_stream_get_ref_count(v) >= 1);
	EXPECT(vstream_session(v) == w->of);
	EXPECT(vstream_in_table(v));
	cwalk_seen(w, v);
	if (slot >= 0)
		EXPECT(f->recs[slot].kind == K_VSTREAM);
	if (w->act & 1) {
		EXPECT(relay_viewer_stream_get(v));
		relay_viewer_stream_put(v);
	}
	/* The owner closes it, during its own visit. */
	if (!w->quiet && slot >= 0 && f->recs[slot].owner &&
	    relay_stream_get_handle(relay_viewer_stream_get_stream(v)) % 4 ==
		    (uint64_t)(w->act >> 1) % 4) {
		EXPECT(relay_viewer_stream_close(v) == 0);
		f->recs[slot].owner = false;
		EXPECT(!vstream_in_table(v));
		EXPECT(relay_viewer_stream_get_ref_count(v) >= 1);
	}
	return cwalk_next(w);
}

static void walk_session_vstreams(struct fz *f, struct arg a, bool quiet)
{
	void *expect[MAX_RECS] = { NULL };
	int nexpect = 0, i, n;
	struct cwalk w;
	relay_viewer_stream_visit_func visit = u8(f) % 8 ? visit_session_vstream : NULL;

	cwalk_init(&w, f, a.p);
	w.quiet = quiet || w.stop_at > 0;
	for (i = 0; a.slot >= 0 && i < MAX_RECS; i++)
		if (f->recs[i].kind == K_VSTREAM && vstream_session(f->recs[i].ptr) == a.p &&
		    vstream_in_table(f->recs[i].ptr))
			expect[nexpect++] = f->recs[i].ptr;
	n = relay_session_for_each_viewer_stream(a.p, visit, &w);
	cwalk_done(&w, a.slot >= 0 && visit, n, expect, nexpect);
}

/* A session of a viewer session. */
static int visit_vs_session(struct relay_session *s, void *data)
{
	struct cwalk *w = data;
	struct fz *f = w->f;
	struct vs_close c;
	int slot, r;

	EXPECT(relay_session_get_ref_count(s) >= 1);
	EXPECT(relay_session_get_id(s) != UINT64_MAX);
	EXPECT(relay_session_get_name(s) != NULL);
	cwalk_seen(w, s);
	/* Attached when the walk started: only this visit, or a close of the
	 * viewer session by an earlier one, detaches it. */
	EXPECT(relay_viewer_session_is_attached(w->of, s) == !w->vs_closed);
	EXPECT(relay_session_is_viewer_attached(s) == !w->vs_closed);
	switch (w->quiet ? cwalk_turn(w, 2) : cwalk_turn(w, 7)) {
	case 1:
		EXPECT(relay_session_get(s));
		relay_session_put(s);
		break;
	case 2:
		EXPECT(relay_session_get(s));
		adopt(f, K_SESSION, s);
		break;
	case 3:
		slot = rec_find(f, s);
		if (slot >= 0) {
			EXPECT(f->recs[slot].kind == K_SESSION);
			drop_ref(f, slot);
		}
		break;
	case 4:
		r = relay_viewer_session_detach(w->of, s);
		EXPECT(r == (w->vs_closed ? -1 : 0));
		EXPECT(!relay_viewer_session_is_attached(w->of, s));
		EXPECT(!relay_session_is_viewer_attached(s));
		break;
	case 5:
		vs_close_before(f, w->of, s, &c);
		r = relay_viewer_session_close_one_session(w->of, s);
		EXPECT(r == (w->vs_closed ? -1 : 0));
		vs_close_after(f, r == 0, &c);
		EXPECT(!relay_viewer_session_is_attached(w->of, s));
		EXPECT(!relay_session_is_viewer_attached(s));
		break;
	case 6:
		vs_close_before(f, w->of, NULL, &c);
		r = relay_viewer_session_close(w->of);
		EXPECT(r == (w->vs_closed ? -1 : 0));
		vs_close_after(f, r == 0, &c);
		if (r == 0) {
			slot = rec_find(f, w->of);
			EXPECT(slot >= 0 && f->recs[slot].kind == K_VSESSION);
			f->recs[slot].vclosed = true;
			w->vs_closed = true;
		}
		EXPECT(!relay_session_is_viewer_attached(s));
		break;
	default:
		break;
	}
	EXPECT(relay_session_get_ref_count(s) >= 1);
	return cwalk_next(w);
}

static void walk_vs_sessions(struct fz *f, struct arg a)
{
	void *expect[MAX_RECS] = { NULL };
	int nexpect = 0, i, n;
	bool was_closed = a.slot >= 0 && R(f, a)->vclosed;
	struct cwalk w;
	relay_session_visit_func visit = u8(f) % 8 ? visit_vs_session : NULL;

	cwalk_init(&w, f, a.p);
	for (i = 0; a.slot >= 0 && i < MAX_RECS; i++)
		if (f->recs[i].kind == K_SESSION &&
		    relay_viewer_session_is_attached(a.p, f->recs[i].ptr))
			expect[nexpect++] = f->recs[i].ptr;
	n = relay_viewer_session_for_each_session(a.p, visit, &w);
	cwalk_done(&w, a.slot >= 0 && visit, n, expect, nexpect);
	if (was_closed && visit)
		EXPECT(n == 0);
}

/* A connection of a table. */
static int visit_table_conn(struct relay_connection *c, void *data)
{
	struct cwalk *w = data;
	struct fz *f = w->f;
	int slot = rec_find(f, c), sock = relay_connection_get_sock(c), r;
	struct relay_connection *found;

	EXPECT(relay_connection_get_ref_count(c) >= 1);
	EXPECT(sock >= 0);
	/* Every live connection is tracked. */
	EXPECT(slot >= 0 && f->recs[slot].kind == K_CONN);
	cwalk_seen(w, c);
	if (!w->gone) {
		found = relay_connection_get_by_sock(w->of, sock);
		EXPECT(found == c);
		relay_connection_put(found);
	}
	switch (w->quiet ? cwalk_turn(w, 2) : cwalk_turn(w, 6)) {
	case 1:
		EXPECT(relay_connection_get(c));
		relay_connection_put(c);
		break;
	case 2:
		EXPECT(relay_connection_get(c));
		adopt(f, K_CONN, c);
		break;
	case 3: /* the owner closes it, during its own visit */
		if (!f->recs[slot].owner)
			break;
		EXPECT(relay_connection_close(c) == 0);
		f->recs[slot].owner = false;
		EXPECT(relay_connection_get_by_sock(w->of, sock) == NULL);
		EXPECT(relay_connection_get_ref_count(c) >= 1);
		break;
	case 4: { /* the table's destruction, the rest of the walk skipped */
		int t = rec_find(f, w->of);

		EXPECT(t >= 0 && f->recs[t].kind == K_TABLE);
		r = relay_connection_table_destroy(w->of);
		if (f->read_depth > 0) {
			EXPECT(r == -1);
			break;
		}
		EXPECT(r == 0);
		rec_remove(f, t);
		w->gone = true;
		EXPECT(relay_connection_get_ref_count(c) >= 1);
		break;
	}
	default:
		break;
	}
	return cwalk_next(w);
}

static void walk_table(struct fz *f, struct arg t)
{
	void *expect[MAX_RECS] = { NULL };
	int nexpect = 0, i, n;
	struct cwalk w;
	relay_connection_visit_func visit = u8(f) % 8 ? visit_table_conn : NULL;

	cwalk_init(&w, f, t.p);
	for (i = 0; t.slot >= 0 && i < MAX_RECS; i++) {
		struct relay_connection *found;

		if (f->recs[i].kind != K_CONN)
			continue;
		found = relay_connection_get_by_sock(t.p, relay_connection_get_sock(f->recs[i].ptr));
		if (found == f->recs[i].ptr)
			expect[nexpect++] = found;
		relay_connection_put(found);
	}
	n = relay_connection_table_for_each(t.p, visit, &w);
	cwalk_done(&w, t.slot >= 0 && visit, n, expect, nexpect);
	/* Every connection of the table is tracked: all were visited. */
	if (t.slot >= 0 && visit && !w.stopped && !w.gone)
		EXPECT(n == nexpect);
}

/* ------------------------------------------------------------------------ */
/* Relay operations.                                                        */

static const char *pick_str(struct fz *f, const char *const *set, int n)
{
	uint8_t b = u8(f);

	if (b % 16 == 0)
		return NULL;
	return set[b % n];
}

static void op_session_create(struct fz *f)
{
	static const char *const nm[] = { "s", "sess", "" };
	static const char *const hn[] = { "host", "h" };
	const char *name = pick_str(f, nm, 3), *host = pick_str(f, hn, 2);
	uint32_t timer = u32(f), major = u8(f), minor = u32(f);
	bool snapshot = u8(f) & 1;
	struct relay_session *s;
	int slot;

	if (rec_free_slots(f) < 1)
		return;
	s = relay_session_create(name, host, timer, snapshot, major, minor);
	if (!name || !host) {
		EXPECT(s == NULL);
		return;
	}
	EXPECT(s != NULL);
	EXPECT(relay_session_get_ref_count(s) == 1);
	EXPECT(relay_session_get_live_timer(s) == timer);
	EXPECT(relay_session_get_major(s) == major && relay_session_get_minor(s) == minor);
	EXPECT(relay_session_is_snapshot(s) == snapshot);
	EXPECT(!strcmp(relay_session_get_name(s), name));
	slot = rec_add(f, K_SESSION, s);
	/* the owner\'s reference: dropped by the close, not counted in refs */
	f->recs[slot].owner = true;
	EXPECT(relay_session_get(s));
	f->recs[slot].refs++;
	if (f->nsession_ids < MAX_IDS)
		f->session_ids[f->nsession_ids++] = relay_session_get_id(s);
}

static uint64_t pick_session_id(struct fz *f)
{
	uint8_t b = u8(f);

	if (f->nsession_ids == 0 || b % 8 == 0)
		return u64(f);
	return f->session_ids[b % f->nsession_ids];
}

static uint64_t pick_handle(struct fz *f)
{
	uint8_t b = u8(f);

	if (b % 16 == 0)
		return u64(f);
	return 7000000u + b % 12; /* few handles: duplicates are common */
}

static void op_session_misc(struct fz *f)
{
	uint8_t what = u8(f);
	struct arg a = pick(f, BIT(K_SESSION), 0);
	struct relay_session *s = a.p;
	int r;

	switch (what % 11) {
	case 0: /* lookup by id */
		adopt(f, K_SESSION, relay_session_get_by_id(pick_session_id(f)));
		break;
	case 1: /* get */
		if (a.slot >= 0) {
			EXPECT(relay_session_get(s));
			R(f, a)->refs++;
		} else {
			EXPECT(!relay_session_get(s));
		}
		break;
	case 2: /* put */
		if (a.slot >= 0)
			drop_ref(f, a.slot);
		else
			relay_session_put(s);
		break;
	case 3: /* close (again, sometimes) */
		r = relay_session_close(s);
		if (a.slot >= 0) {
			EXPECT(r == 0 || r == -1);
			R(f, a)->owner = false;
		} else {
			EXPECT(r == -1);
		}
		break;
	case 4:
		r = relay_session_abort(s);
		EXPECT(r == (a.slot >= 0 ? 0 : -1));
		if (a.slot >= 0)
			EXPECT(relay_session_is_aborted(s));
		break;
	case 5:
		walk_session_traces(f, a, false);
		break;
	case 6:
		walk_session_vstreams(f, a, false);
		break;
	default: /* read everything */
		check_count(f, a, relay_session_get_ref_count(s));
		if (a.slot < 0) {
			EXPECT(relay_session_get_id(s) == UINT64_MAX);
			EXPECT(relay_session_get_name(s) == NULL);
			EXPECT(relay_session_get_hostname(s) == NULL);
			EXPECT(!relay_session_is_closed(s) && !relay_session_is_aborted(s));
		} else {
			struct relay_session *again =
				relay_session_get_by_id(relay_session_get_id(s));

			EXPECT(relay_session_get_name(s) && relay_session_get_hostname(s));
			/* Found while held, unless its count is 0: never the case here. */
			EXPECT(again == s);
			relay_session_put(again);
		}
		check_viewer_attached(f, a);
		(void)relay_session_get_live_timer(s);
		(void)relay_session_is_snapshot(s);
		(void)relay_session_get_major(s);
		(void)relay_session_get_minor(s);
		break;
	}
}

static void op_trace(struct fz *f)
{
	static const char *const paths[] = { "h/s/ust", "h/s/kernel", "h/s/ust/uid" };
	uint8_t what = u8(f);
	struct arg a;
	struct ctf_trace *t;

	switch (what % 7) {
	case 0:
	case 5: { /* get or create by path */
		const char *path;

		a = pick(f, BIT(K_SESSION), 0);
		path = pick_str(f, paths, 3);
		t = relay_ctf_trace_get_by_path_or_create(a.p, path);
		if (a.slot < 0 || !path)
			EXPECT(t == NULL);
		if (t) {
			int slot = adopt(f, K_TRACE, t);

			EXPECT(!strcmp(relay_ctf_trace_get_path(t), path));
			EXPECT(relay_ctf_trace_get_session(t) == a.p);
			(void)slot;
		}
		break;
	}
	case 1:
		a = pick(f, BIT(K_TRACE), 0);
		if (a.slot >= 0) {
			EXPECT(relay_ctf_trace_get(a.p));
			R(f, a)->refs++;
		} else {
			EXPECT(!relay_ctf_trace_get(a.p));
		}
		break;
	case 2:
		a = pick(f, BIT(K_TRACE), 0);
		if (a.slot >= 0)
			drop_ref(f, a.slot);
		else
			relay_ctf_trace_put(a.p);
		break;
	case 3: { /* its session, borrowed, then a reference of our own */
		struct relay_session *s;

		a = pick(f, BIT(K_TRACE), 0);
		s = relay_ctf_trace_get_session(a.p);
		if (a.slot < 0) {
			EXPECT(s == NULL);
			break;
		}
		EXPECT(s != NULL);
		EXPECT(relay_session_get(s));
		if (adopt(f, K_SESSION, s) < 0)
			break;
		break;
	}
	case 6:
		walk_trace_streams(f, pick(f, BIT(K_TRACE), 0), false);
		break;
	default:
		a = pick(f, BIT(K_TRACE), 0);
		check_count(f, a, relay_ctf_trace_get_ref_count(a.p));
		if (a.slot < 0)
			EXPECT(relay_ctf_trace_get_path(a.p) == NULL);
		adopt(f, K_VSTREAM, relay_ctf_trace_get_viewer_metadata_stream(a.p));
		break;
	}
}

static void op_stream_create(struct fz *f)
{
	static const char *const chans[] = { "chan", "metadata", "chan_1" };
	struct arg a = pick(f, BIT(K_TRACE), 0);
	uint64_t handle = pick_handle(f);
	const char *path = u8(f) % 16 ? "h/s/ust" : NULL;
	const char *chan = pick_str(f, chans, 3);
	uint64_t size = u64(f), count = u64(f);
	struct relay_stream *st;
	int slot;

	if (rec_free_slots(f) < 1)
		return;
	st = relay_stream_create(a.p, handle, path, chan, size, count);
	if (a.slot < 0 || !path || !chan) {
		EXPECT(st == NULL);
		return;
	}
	if (!st)
		return; /* a handle in use, or a closed session */
	EXPECT(relay_stream_get_handle(st) == handle);
	EXPECT(relay_stream_get_trace(st) == a.p);
	EXPECT(relay_stream_is_metadata(st) == !strcmp(chan, "metadata"));
	EXPECT(relay_stream_get_tracefile_size(st) == size);
	EXPECT(relay_stream_get_tracefile_count(st) == count);
	slot = rec_add(f, K_STREAM, st);
	/* the owner\'s reference: dropped by the close, not counted in refs */
	f->recs[slot].owner = true;
	f->recs[slot].watch = f->hook_on;
	EXPECT(relay_stream_get(st));
	f->recs[slot].refs++;
}

static void op_stream_misc(struct fz *f)
{
	uint8_t what = u8(f);
	struct arg a = pick(f, BIT(K_STREAM), 0);
	struct relay_stream *st = a.p;
	int r;

	switch (what % 12) {
	case 0:
		adopt(f, K_STREAM, relay_stream_get_by_id(pick_handle(f)));
		break;
	case 1:
		if (a.slot >= 0) {
			EXPECT(relay_stream_get(st));
			R(f, a)->refs++;
		} else {
			EXPECT(!relay_stream_get(st));
		}
		break;
	case 2:
		if (a.slot >= 0)
			drop_ref(f, a.slot);
		else
			relay_stream_put(st);
		break;
	case 3:
		r = relay_stream_publish(st);
		EXPECT(r == 0 || r == -1);
		if (a.slot < 0)
			EXPECT(r == -1);
		if (r == 0)
			EXPECT(relay_stream_is_published(st));
		break;
	case 4:
		r = relay_stream_close(st);
		if (a.slot >= 0) {
			EXPECT(r == 0 || r == -1);
			EXPECT(relay_stream_is_closed(st));
			R(f, a)->owner = false;
			/* Closed now: the hook ran here if set. */
			if (r == 0)
				EXPECT(R(f, a)->hooks == (f->hook_on ? 1 : 0));
		} else {
			EXPECT(r == -1);
		}
		break;
	case 5:
		r = relay_stream_try_close(st);
		if (a.slot >= 0) {
			EXPECT(r == 0 || r == 1 || r == -1);
			R(f, a)->owner = false;
			if (r == 0)
				EXPECT(R(f, a)->hooks == (f->hook_on ? 1 : 0));
			if (r == 1)
				EXPECT(!relay_stream_is_closed(st) && R(f, a)->hooks == 0);
		} else {
			EXPECT(r == -1);
		}
		break;
	case 6:
		r = relay_stream_set_last_net_seq_num(st, u64(f));
		EXPECT(r == (a.slot >= 0 ? 0 : -1));
		break;
	case 7:
		r = relay_stream_set_received_seq_num(st, u64(f));
		EXPECT(r == (a.slot >= 0 ? 0 : -1));
		break;
	case 8: { /* its trace, borrowed, then a reference of our own */
		struct ctf_trace *t = relay_stream_get_trace(st);

		if (a.slot < 0) {
			EXPECT(t == NULL);
			break;
		}
		EXPECT(t != NULL);
		EXPECT(relay_ctf_trace_get(t));
		adopt(f, K_TRACE, t);
		break;
	}
	default:
		check_count(f, a, relay_stream_get_ref_count(st));
		if (a.slot < 0) {
			EXPECT(relay_stream_get_handle(st) == UINT64_MAX);
			EXPECT(relay_stream_get_path_name(st) == NULL);
			EXPECT(relay_stream_get_channel_name(st) == NULL);
			EXPECT(!relay_stream_is_published(st) && !relay_stream_is_closed(st));
			EXPECT(relay_stream_get_last_net_seq_num(st) == RELAY_SEQ_UNSET);
			EXPECT(relay_stream_get_received_seq_num(st) == RELAY_SEQ_UNSET);
		} else {
			struct relay_stream *found =
				relay_stream_get_by_id(relay_stream_get_handle(st));

			/* A closed stream left the table; an open one is found. */
			if (!relay_stream_is_closed(st))
				EXPECT(found == st);
			adopt(f, K_STREAM, found);
		}
		(void)relay_stream_is_metadata(st);
		(void)relay_stream_get_tracefile_size(st);
		(void)relay_stream_get_tracefile_count(st);
		break;
	}
}

/* Locks, taken and released within this one call, in any order; while the
 * stream locks are held, index calls on those streams. */
static void op_locks(struct fz *f)
{
	struct held {
		int type; /* 0 session, 1 trace, 2 stream */
		void *p;
	} held[4];
	int nheld = 0, n = 1 + u8(f) % 4, i;

	for (i = 0; i < n; i++) {
		int type = u8(f) % 3, r;
		struct arg a = pick(f, BIT(type == 0 ? K_SESSION : type == 1 ? K_TRACE : K_STREAM), 0);

		if (type == 0)
			r = relay_session_lock(a.p);
		else if (type == 1)
			r = relay_ctf_trace_lock(a.p);
		else
			r = relay_stream_lock(a.p);
		/* 1: taken out of order (reported); -1: not taken */
		EXPECT(r == 0 || r == 1 || r == -1);
		if (a.slot < 0)
			EXPECT(r == -1);
		if (r >= 0) {
			held[nheld].type = type;
			held[nheld].p = a.p;
			nheld++;
		}
	}
	/* Index calls on a held stream: the borrowed pointer is valid now. */
	for (i = 0; i < nheld; i++) {
		struct relay_index *idx;
		uint8_t what = u8(f);

		if (held[i].type != 2)
			continue;
		if (what % 4 == 3) {
			EXPECT(relay_index_close_all(held[i].p) == 0);
			continue;
		}
		idx = relay_index_get_by_id_or_create(held[i].p, u64(f));
		if (!idx) {
			EXPECT(relay_stream_is_closed(held[i].p));
			continue;
		}
		EXPECT(relay_index_get_ref_count(idx) >= 1);
		if (what % 4 == 1) {
			int r = relay_index_try_flush(idx);

			EXPECT(r == 0 || r == 1);
			continue; /* flushed: maybe freed; not kept */
		}
		if (what % 4 == 2 && rec_free_slots(f) > 0) {
			EXPECT(relay_index_get(idx));
			adopt(f, K_INDEX, idx);
		}
	}
	/* Holding them: a walk, or a close of one session of a viewer session
	 * (neither takes a relay lock). */
	if (nheld > 0) {
		uint8_t what = u8(f);
		struct held *h = &held[what / 4 % nheld];
		struct arg ha = { h->p, rec_find(f, h->p) };

		if (h->type == 0 && what % 4 == 0)
			walk_session_traces(f, ha, true);
		else if (h->type == 0 && what % 4 == 1)
			walk_session_vstreams(f, ha, true);
		else if (h->type == 0 && what % 4 == 2)
			close_one_session(f, pick(f, BIT(K_VSESSION), 0), ha);
		else if (h->type == 1 && what % 2 == 0)
			walk_trace_streams(f, ha, true);
	}
	/* A stray unlock sometimes, then every lock, in any order. */
	if (u8(f) % 4 == 0) {
		struct arg a = pick(f, BIT(K_STREAM), 0);
		bool mine = false;

		for (i = 0; i < nheld; i++)
			if (held[i].p == a.p && held[i].type == 2)
				mine = true;
		if (!mine)
			EXPECT(relay_stream_unlock(a.p) == -1);
	}
	while (nheld > 0) {
		int k = u8(f) % nheld, r;

		if (held[k].type == 0)
			r = relay_session_unlock(held[k].p);
		else if (held[k].type == 1)
			r = relay_ctf_trace_unlock(held[k].p);
		else
			r = relay_stream_unlock(held[k].p);
		EXPECT(r == 0);
		held[k] = held[--nheld];
	}
}

/* An index call without the stream's lock (reported: misuse); the result
 * is not kept. */
static void op_index_misc(struct fz *f)
{
	uint8_t what = u8(f);
	struct arg a = pick(f, BIT(K_INDEX), 0);
	struct relay_index *idx = a.p;
	int r;

	switch (what % 6) {
	case 0:
		if (a.slot >= 0) {
			EXPECT(relay_index_get(idx));
			R(f, a)->refs++;
		} else {
			EXPECT(!relay_index_get(idx));
		}
		break;
	case 1:
		if (a.slot >= 0)
			drop_ref(f, a.slot);
		else
			relay_index_put(idx);
		break;
	case 2: /* with a reference of our own, no lock */
		r = relay_index_try_flush(idx);
		EXPECT(r == (a.slot >= 0 ? r : -1));
		EXPECT(r == 0 || r == 1 || r == -1);
		break;
	case 3: {
		struct arg s = pick(f, BIT(K_STREAM), 0);

		EXPECT(relay_index_close_all(s.p) == (s.slot >= 0 ? 0 : -1));
		break;
	}
	case 4: {
		/* Without the lock: reported; the pointer is not used. */
		struct arg s = pick(f, BIT(K_STREAM), 0);

		(void)relay_index_get_by_id_or_create(s.p, u64(f));
		break;
	}
	default:
		check_count(f, a, relay_index_get_ref_count(idx));
		if (a.slot < 0)
			EXPECT(relay_index_get_net_seq_num(idx) == RELAY_SEQ_UNSET);
		break;
	}
}

static void op_vstream(struct fz *f)
{
	uint8_t what = u8(f);
	struct arg a;
	struct relay_viewer_stream *v;
	int r;

	switch (what % 7) {
	case 0: { /* create */
		struct arg s = pick(f, BIT(K_STREAM), 0);
		uint32_t seek = u32(f);
		int slot;

		if (rec_free_slots(f) < 1)
			return;
		v = relay_viewer_stream_create(s.p, seek);
		if (s.slot < 0)
			EXPECT(v == NULL);
		if (!v)
			return;
		EXPECT(relay_viewer_stream_get_stream(v) == s.p);
		EXPECT(relay_viewer_stream_get_seek(v) == seek);
		slot = rec_add(f, K_VSTREAM, v);
		/* the owner\'s reference: dropped by the close, not counted in refs */
		f->recs[slot].owner = true;
		EXPECT(relay_viewer_stream_get(v));
		f->recs[slot].refs++;
		return;
	}
	case 1:
		adopt(f, K_VSTREAM, relay_viewer_stream_get_by_id(pick_handle(f)));
		return;
	default:
		break;
	}
	a = pick(f, BIT(K_VSTREAM), 0);
	v = a.p;
	switch (what % 7) {
	case 2:
		if (a.slot >= 0) {
			EXPECT(relay_viewer_stream_get(v));
			R(f, a)->refs++;
		} else {
			EXPECT(!relay_viewer_stream_get(v));
		}
		break;
	case 3:
		if (a.slot >= 0)
			drop_ref(f, a.slot);
		else
			relay_viewer_stream_put(v);
		break;
	case 4:
		r = relay_viewer_stream_close(v);
		if (a.slot >= 0) {
			EXPECT(r == 0 || r == -1);
			R(f, a)->owner = false;
		} else {
			EXPECT(r == -1);
		}
		break;
	case 5: { /* its stream, borrowed, then a reference of our own */
		struct relay_stream *st = relay_viewer_stream_get_stream(v);

		if (a.slot < 0) {
			EXPECT(st == NULL);
			break;
		}
		EXPECT(st != NULL);
		EXPECT(relay_stream_get(st));
		adopt(f, K_STREAM, st);
		break;
	}
	default:
		check_count(f, a, relay_viewer_stream_get_ref_count(v));
		if (a.slot < 0)
			EXPECT(relay_viewer_stream_get_seek(v) == 0);
		break;
	}
}

static void op_vsession(struct fz *f)
{
	uint8_t what = u8(f);
	struct arg a;
	int r;

	if (what % 10 == 0) {
		struct relay_viewer_session *vs;

		if (rec_free_slots(f) < 1)
			return;
		vs = relay_viewer_session_create();
		EXPECT(vs != NULL);
		rec_add(f, K_VSESSION, vs);
		return;
	}
	a = pick(f, BIT(K_VSESSION), 0);
	switch (what % 10) {
	case 1:
	case 2: {
		struct arg s = pick(f, BIT(K_SESSION), 0);

		if (what % 10 == 1) {
			r = relay_viewer_session_attach(a.p, s.p);
		} else {
			r = relay_viewer_session_detach(a.p, s.p);
		}
		EXPECT(r == 0 || r == -1);
		if (a.slot < 0 || s.slot < 0)
			EXPECT(r == -1);
		if (what % 10 == 1 && a.slot >= 0 && R(f, a)->vclosed)
			EXPECT(r == -1); /* a closed viewer session refuses attaches */
		if (r == 0)
			EXPECT(relay_viewer_session_is_attached(a.p, s.p) == (what % 10 == 1));
		check_viewer_attached(f, s);
		break;
	}
	case 3: {
		struct arg s = pick(f, BIT(K_SESSION), 0);

		if (a.slot < 0 || s.slot < 0)
			EXPECT(!relay_viewer_session_is_attached(a.p, s.p));
		check_viewer_attached(f, s);
		break;
	}
	case 4: {
		struct vs_close c;

		if (a.slot >= 0)
			vs_close_before(f, a.p, NULL, &c);
		r = relay_viewer_session_close(a.p);
		EXPECT(r == (a.slot >= 0 && !R(f, a)->vclosed ? 0 : -1));
		if (a.slot >= 0) {
			vs_close_after(f, r == 0, &c);
			R(f, a)->vclosed = true;
		}
		break;
	}
	case 5:
		close_one_session(f, a, pick(f, BIT(K_SESSION), 0));
		break;
	case 6:
	case 7:
		walk_vs_sessions(f, a);
		break;
	default:
		/* Refused for a viewer session owned by a connection. */
		relay_viewer_session_destroy(a.p);
		if (a.slot >= 0 && !R(f, a)->conn)
			rec_remove(f, a.slot);
		break;
	}
}

static int pick_sock(struct fz *f)
{
	uint8_t b = u8(f);

	return b % 16 == 0 ? -1 - b % 3 : b % 6;
}

static void op_conn(struct fz *f)
{
	uint8_t what = u8(f);
	struct arg a, t;
	int r;

	switch (what % 15) {
	case 0: { /* a table */
		int i, n = 0;

		for (i = 0; i < MAX_RECS; i++)
			if (f->recs[i].kind == K_TABLE)
				n++;
		if (n >= 3 || rec_free_slots(f) < 1)
			return;
		rec_add(f, K_TABLE, relay_connection_table_create());
		return;
	}
	case 1:
		t = pick(f, BIT(K_TABLE), 0);
		r = relay_connection_table_destroy(t.p);
		if (t.slot < 0) {
			EXPECT(r == -1);
		} else if (f->read_depth > 0) {
			EXPECT(r == -1); /* refused inside a read-side section */
		} else {
			EXPECT(r == 0);
			rec_remove(f, t.slot);
		}
		return;
	case 2: { /* a connection */
		int sock = pick_sock(f), type = (int)(u8(f) % 8) - 2;
		struct relay_connection *c;
		int slot;

		if (rec_free_slots(f) < 1)
			return;
		c = relay_connection_create(sock, type);
		if (sock < 0 || type < RELAY_CONNECTION_UNKNOWN || type > RELAY_VIEWER_NOTIFICATION) {
			EXPECT(c == NULL);
			return;
		}
		EXPECT(c != NULL);
		EXPECT(relay_connection_get_sock(c) == sock);
		EXPECT(relay_connection_get_type(c) == type);
		slot = rec_add(f, K_CONN, c);
		/* the owner\'s reference: dropped by the close, not counted in refs */
		f->recs[slot].owner = true;
		EXPECT(relay_connection_get(c));
		f->recs[slot].refs++;
		return;
	}
	case 3:
		t = pick(f, BIT(K_TABLE), 0);
		a = pick(f, BIT(K_CONN), 0);
		r = relay_connection_table_add(t.p, a.p);
		EXPECT(r == 0 || r == -1);
		if (t.slot < 0 || a.slot < 0)
			EXPECT(r == -1);
		return;
	case 4: {
		struct relay_connection *c;

		t = pick(f, BIT(K_TABLE), 0);
		c = relay_connection_get_by_sock(t.p, pick_sock(f));
		if (t.slot < 0)
			EXPECT(c == NULL);
		adopt(f, K_CONN, c);
		return;
	}
	case 14:
		walk_table(f, pick(f, BIT(K_TABLE), 0));
		return;
	default:
		break;
	}
	a = pick(f, BIT(K_CONN), 0);
	switch (what % 15) {
	case 5:
		if (a.slot >= 0) {
			EXPECT(relay_connection_get(a.p));
			R(f, a)->refs++;
		} else {
			EXPECT(!relay_connection_get(a.p));
		}
		break;
	case 6:
		if (a.slot >= 0)
			drop_ref(f, a.slot);
		else
			relay_connection_put(a.p);
		break;
	case 7:
		r = relay_connection_close(a.p);
		if (a.slot >= 0) {
			EXPECT(r == 0 || r == -1);
			R(f, a)->owner = false;
		} else {
			EXPECT(r == -1);
		}
		break;
	case 8: {
		struct arg s = pick(f, BIT(K_SESSION), 0);

		r = relay_connection_set_session(a.p, s.p);
		EXPECT(r == 0 || r == -1);
		if (a.slot < 0 || s.slot < 0)
			EXPECT(r == -1);
		if (r == 0) {
			/* The owner's reference is the connection's now. */
			EXPECT(relay_connection_get_session(a.p) == s.p);
			R(f, s)->owner = false;
		}
		break;
	}
	case 9: {
		struct arg v = pick(f, BIT(K_VSESSION), 0);

		r = relay_connection_set_viewer_session(a.p, v.p);
		EXPECT(r == 0 || r == -1);
		if (a.slot < 0 || v.slot < 0)
			EXPECT(r == -1);
		if (r == 0) {
			EXPECT(!R(f, v)->conn);
			EXPECT(relay_connection_get_viewer_session(a.p) == v.p);
			R(f, v)->conn = a.p;
		}
		break;
	}
	case 10: { /* its session, borrowed, then a reference of our own */
		struct relay_session *s = relay_connection_get_session(a.p);

		if (a.slot < 0)
			EXPECT(s == NULL);
		if (s && relay_session_get(s))
			adopt(f, K_SESSION, s);
		break;
	}
	case 11: { /* its viewer session: valid while the connection is held */
		struct relay_viewer_session *vs = relay_connection_get_viewer_session(a.p);
		int slot;

		if (a.slot < 0)
			EXPECT(vs == NULL);
		if (!vs)
			break;
		slot = rec_find(f, vs);
		if (slot >= 0) {
			EXPECT(f->recs[slot].kind == K_VSESSION && f->recs[slot].conn == a.p);
		} else if ((slot = rec_add(f, K_VSESSION, vs)) >= 0) {
			f->recs[slot].conn = a.p;
		}
		break;
	}
	default:
		check_count(f, a, relay_connection_get_ref_count(a.p));
		if (a.slot < 0) {
			EXPECT(relay_connection_get_sock(a.p) == -1);
			EXPECT(relay_connection_get_type(a.p) == -1);
		}
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* Shared calls: read-side sections, barrier, payloads, walks, pictures.   */

struct walk {
	int visited, stop_at, streams;
	bool nested;
};

static int visit_stream(struct relay_stream *st, void *data)
{
	struct walk *w = data;

	EXPECT(relay_stream_get_ref_count(st) >= 1);
	EXPECT(!relay_stream_is_closed(st) || relay_stream_get_ref_count(st) >= 1);
	w->streams++;
	return w->streams == w->stop_at;
}

static int visit_session(struct relay_session *s, void *data)
{
	struct walk *w = data;

	EXPECT(relay_session_get_ref_count(s) >= 1);
	EXPECT(relay_session_get_id(s) != UINT64_MAX);
	w->visited++;
	if (w->nested)
		EXPECT(relay_session_for_each_stream(s, visit_stream, w) >= 0);
	return w->visited == w->stop_at;
}

static int visit_abort(struct relay_session *s, void *data)
{
	(void)data;
	EXPECT(relay_session_abort(s) == 0);
	return 0;
}

static void op_shared(struct fz *f)
{
	uint8_t what = u8(f);

	switch (what % 9) {
	case 0:
		traceref_read_lock();
		f->read_depth++;
		break;
	case 1: /* a stray unlock (none open) is reported and ignored */
		traceref_read_unlock();
		if (f->read_depth > 0)
			f->read_depth--;
		break;
	case 2:
		EXPECT(traceref_reclaim_barrier() == (f->read_depth > 0 ? -1 : 0));
		break;
	case 3: { /* a payload on anything */
		struct arg a = pick(f, M_RELAY_REF, PICK_FOREIGN);
		int r = traceref_payload_set(a.p, &payload_token, payload_destroy);

		if (a.slot < 0)
			EXPECT(r == -1);
		EXPECT(r == 0 || r == -1);
		if (r == 0)
			f->payloads_set++;
		if (a.slot >= 0 && r == 0)
			EXPECT(traceref_payload_get(a.p) == &payload_token);
		break;
	}
	case 4: {
		struct arg a = pick(f, M_RELAY_REF, PICK_FOREIGN);
		void *p = traceref_payload_get(a.p);

		EXPECT(p == NULL || (a.slot >= 0 && p == &payload_token));
		break;
	}
	case 5: { /* pictures: Babeltrace trees, the registry, or refused */
		struct arg a = pick(f, M_BT | BIT(K_TABLE), PICK_HELD);
		int fd = u8(f) % 8 == 0 ? -1 : f->devnull;
		int r = traceref_dump_dot(a.p, fd);

		EXPECT(r == 0 || r == -1);
		if (a.p && a.slot < 0 && a.p != (void *)&static_emb)
			EXPECT(r == -1);
		break;
	}
	case 6: {
		struct walk w;

		memset(&w, 0, sizeof w);
		w.stop_at = u8(f) % 4;
		w.nested = u8(f) & 1;
		EXPECT(relay_sessions_for_each(visit_session, &w) >= 0);
		EXPECT(relay_sessions_for_each(NULL, &w) == -1);
		break;
	}
	case 7: /* the close hook removed, or set again */
		set_hook(f, u8(f) & 1);
		break;
	default: {
		struct walk w;
		struct arg a = pick(f, BIT(K_SESSION), 0);
		int n;

		memset(&w, 0, sizeof w);
		w.stop_at = u8(f) % 4;
		n = relay_session_for_each_stream(a.p, u8(f) % 8 ? visit_stream : NULL, &w);
		if (a.slot < 0)
			EXPECT(n == -1);
		break;
	}
	}
}

/* ------------------------------------------------------------------------ */
/* Babeltrace operations.                                                   */

static void set_bt_parent(struct fz *f, int slot, void *parent)
{
	f->recs[slot].parent = parent;
}

/* The library's view of the parent of a held object: the model follows. */
static void sync_parent(struct fz *f, int slot)
{
	struct bt_object *p;

	if (slot < 0 || f->recs[slot].refs == 0)
		return;
	p = bt_object_get_parent(f->recs[slot].ptr);
	if (p) {
		int ps = rec_find(f, p);

		if (ps < 0 || !is_bt(f->recs[ps].kind))
			fail("parent %p of %p is not tracked", (void *)p, f->recs[slot].ptr);
		bt_put(p);
	}
	set_bt_parent(f, slot, p);
}

static void op_bt_create(struct fz *f)
{
	uint8_t what = u8(f);
	int slot, name = u8(f) % (NAME_COUNT + 1);
	const char *nm = name < NAME_COUNT ? names[name] : NULL;
	void *p = NULL;
	int kind;

	if (rec_free_slots(f) < 1)
		return;
	switch (what % 4) {
	case 0:
		kind = K_BT_TRACE;
		p = bt_ctf_trace_create();
		EXPECT(p != NULL);
		break;
	case 1:
		kind = K_BT_SC;
		p = bt_ctf_stream_class_create(nm); /* NULL: anonymous */
		EXPECT(p != NULL);
		break;
	case 2:
		kind = K_BT_EC;
		p = bt_ctf_event_class_create(nm);
		EXPECT((p == NULL) == (nm == NULL));
		break;
	default: {
		struct emb *e;

		kind = K_BT_EMB;
		if (what % 16 == 3)
			bt_object_init(NULL, emb_release); /* does nothing */
		e = calloc(1, sizeof *e);
		if (!e)
			fail("out of memory");
		e->magic = EMB_MAGIC;
		e->serial = (uint32_t)f->emb_made;
		bt_object_init(&e->base, emb_release);
		f->emb_made++;
		p = e;
		break;
	}
	}
	if (!p)
		return;
	EXPECT(bt_object_get_ref_count(p) == 1);
	slot = rec_add(f, kind, p);
	f->recs[slot].refs = 1;
	f->recs[slot].name = name;
}

static void op_bt_link(struct fz *f)
{
	uint8_t what = u8(f);
	struct arg a, b;
	int r;

	switch (what % 3) {
	case 0:
		a = pick(f, BIT(K_BT_TRACE), PICK_HELD);
		b = pick(f, BIT(K_BT_SC), PICK_HELD);
		r = bt_ctf_trace_add_stream_class(a.p, b.p);
		EXPECT(r == 0 || r == -1);
		if (a.slot < 0 || b.slot < 0)
			EXPECT(r == -1);
		if (r == 0) {
			EXPECT(R(f, b)->parent == NULL);
			set_bt_parent(f, b.slot, a.p);
		}
		break;
	case 1:
		a = pick(f, BIT(K_BT_SC), PICK_HELD);
		b = pick(f, BIT(K_BT_EC), PICK_HELD);
		r = bt_ctf_stream_class_add_event_class(a.p, b.p);
		EXPECT(r == 0 || r == -1);
		if (a.slot < 0 || b.slot < 0)
			EXPECT(r == -1);
		if (r == 0) {
			EXPECT(R(f, b)->parent == NULL);
			set_bt_parent(f, b.slot, a.p);
		}
		break;
	default:
		/* Embedded objects only; refused for NULL, static objects,
		 * other kinds, and cycles. */
		a = pick(f, BIT(K_BT_EMB), PICK_HELD | PICK_FOREIGN);
		b = pick(f, BIT(K_BT_EMB), PICK_HELD | PICK_FOREIGN);
		if (a.p == (void *)foreign || b.p == (void *)foreign)
			break;
		bt_object_set_parent(a.p, b.p);
		sync_parent(f, a.slot);
		if (a.slot >= 0 && b.slot >= 0 && a.p != b.p) {
			/* accepted unless b is below a */
			int s = b.slot, depth = 0;
			bool below = false;

			while (f->recs[s].parent && depth++ < MAX_RECS) {
				if (f->recs[s].parent == a.p)
					below = true;
				s = rec_find(f, f->recs[s].parent);
				if (s < 0)
					break;
			}
			if (!below)
				EXPECT(R(f, a)->parent == b.p);
		}
		break;
	}
}

static void op_bt_get_put(struct fz *f)
{
	uint8_t what = u8(f);
	struct arg a;

	switch (what % 6) {
	case 0: /* any node of a live tree, or anything else */
		a = pick(f, M_BT, PICK_FOREIGN);
		if (a.slot >= 0) {
			EXPECT(bt_get(a.p) == a.p);
			R(f, a)->refs++;
		} else if (a.p == (void *)&static_emb) {
			EXPECT(bt_get(a.p) == a.p);
		} else {
			EXPECT(bt_get(a.p) == NULL);
		}
		break;
	case 1:
		a = pick(f, M_BT, PICK_FOREIGN);
		if (a.slot < 0) {
			bt_put(a.p); /* refused, or nothing (static) */
		} else if (R(f, a)->refs > 0) {
			drop_ref(f, a.slot);
		} else if (bt_object_get_ref_count(a.p) == 0) {
			/* A put on a count of zero: one warning, nothing freed. */
			bt_put(a.p);
			EXPECT(bt_object_get_ref_count(a.p) == 0);
		}
		break;
	case 2: { /* typed get/put: the kind must match */
		int k = u8(f) % 3;
		unsigned want = BIT(k == 0 ? K_BT_TRACE : k == 1 ? K_BT_SC : K_BT_EC);

		a = pick(f, want, 0);
		if (u8(f) & 1) {
			if (k == 0)
				bt_ctf_trace_get(a.p);
			else if (k == 1)
				bt_ctf_stream_class_get(a.p);
			else
				bt_ctf_event_class_get(a.p);
			if (a.slot >= 0)
				R(f, a)->refs++;
		} else if (a.slot < 0) {
			if (k == 0)
				bt_ctf_trace_put(a.p);
			else if (k == 1)
				bt_ctf_stream_class_put(a.p);
			else
				bt_ctf_event_class_put(a.p);
		} else {
			drop_ref(f, a.slot);
		}
		break;
	}
	case 3: { /* the parent: a new reference */
		struct bt_object *p;

		a = pick(f, M_BT, PICK_HELD | PICK_FOREIGN);
		p = bt_object_get_parent(a.p);
		if (a.slot < 0) {
			EXPECT(p == NULL);
			break;
		}
		EXPECT((void *)p == R(f, a)->parent);
		if (p) {
			int ps = rec_find(f, p);

			EXPECT(ps >= 0);
			adopt(f, f->recs[ps].kind, p);
		}
		break;
	}
	default: { /* counts: a held object's count covers our references */
		long c;

		a = pick(f, M_BT, PICK_FOREIGN);
		c = bt_object_get_ref_count(a.p);
		if (a.slot >= 0)
			EXPECT(c >= R(f, a)->refs);
		else if (a.p != (void *)&static_emb)
			EXPECT(c == -1);
		break;
	}
	}
}

static void op_bt_query(struct fz *f)
{
	uint8_t what = u8(f);
	int index = (int)(u8(f) % 8) - 2;
	struct arg a;

	switch (what % 4) {
	case 0: {
		struct bt_ctf_stream_class *sc;
		int n;

		a = pick(f, BIT(K_BT_TRACE), PICK_HELD);
		n = bt_ctf_trace_get_stream_class_count(a.p);
		sc = bt_ctf_trace_get_stream_class(a.p, index);
		if (a.slot < 0) {
			EXPECT(n == -1 && sc == NULL);
			break;
		}
		EXPECT(n >= 0);
		EXPECT((sc != NULL) == (index >= 0 && index < n));
		if (sc) {
			int s = rec_find(f, sc);

			EXPECT(s >= 0 && f->recs[s].parent == a.p);
			adopt(f, K_BT_SC, sc);
		}
		break;
	}
	case 1: {
		struct bt_ctf_event_class *ec;
		int n;

		a = pick(f, BIT(K_BT_SC), PICK_HELD);
		n = bt_ctf_stream_class_get_event_class_count(a.p);
		ec = bt_ctf_stream_class_get_event_class(a.p, index);
		if (a.slot < 0) {
			EXPECT(n == -1 && ec == NULL);
			break;
		}
		EXPECT(n >= 0);
		EXPECT((ec != NULL) == (index >= 0 && index < n));
		if (ec) {
			int s = rec_find(f, ec);

			EXPECT(s >= 0 && f->recs[s].parent == a.p);
			adopt(f, K_BT_EC, ec);
		}
		break;
	}
	case 2: {
		void *p;

		if (u8(f) & 1) {
			a = pick(f, BIT(K_BT_SC), PICK_HELD);
			p = bt_ctf_stream_class_get_trace(a.p);
		} else {
			a = pick(f, BIT(K_BT_EC), PICK_HELD);
			p = bt_ctf_event_class_get_stream_class(a.p);
		}
		if (a.slot < 0) {
			EXPECT(p == NULL);
			break;
		}
		EXPECT(p == R(f, a)->parent);
		if (p) {
			int ps = rec_find(f, p);

			EXPECT(ps >= 0);
			adopt(f, f->recs[ps].kind, p);
		}
		break;
	}
	default: { /* names, valid as long as the class is (not held: fine) */
		const char *n;

		if (u8(f) & 1) {
			a = pick(f, BIT(K_BT_SC), 0);
			n = bt_ctf_stream_class_get_name(a.p);
		} else {
			a = pick(f, BIT(K_BT_EC), 0);
			n = bt_ctf_event_class_get_name(a.p);
		}
		if (a.slot < 0 || R(f, a)->name == NAME_COUNT)
			EXPECT(n == NULL); /* none, or an anonymous stream class */
		else
			EXPECT(n && !strcmp(n, names[R(f, a)->name]));
		break;
	}
	}
}

/* ------------------------------------------------------------------------ */
/* One program.                                                             */

static void cleanup(struct fz *f)
{
	int i, kind;
	static const int close_order[] = { K_VSTREAM, K_STREAM, K_SESSION, K_CONN };

	while (f->read_depth > 0) {
		traceref_read_unlock();
		f->read_depth--;
	}
	/* Every session aborted: streams waiting for data close now. */
	EXPECT(relay_sessions_for_each(visit_abort, NULL) >= 0);
	/* Every close the harness has not made yet (a second one is refused). */
	for (kind = 0; kind < 4; kind++) {
		for (i = 0; i < MAX_RECS; i++) {
			struct rec *r = &f->recs[i];

			if (r->kind != close_order[kind])
				continue;
			switch (r->kind) {
			case K_VSTREAM:
				(void)relay_viewer_stream_close(r->ptr);
				break;
			case K_STREAM:
				(void)relay_stream_close(r->ptr);
				break;
			case K_SESSION:
				/* A session given to a connection is closed by it. */
				if (r->owner)
					(void)relay_session_close(r->ptr);
				break;
			default:
				(void)relay_connection_close(r->ptr);
				break;
			}
			r->owner = false;
		}
	}
	/* Every stream is closed now: once for the hook where it watched it. */
	for (i = 0; i < MAX_RECS; i++) {
		if (f->recs[i].kind != K_STREAM)
			continue;
		EXPECT(relay_stream_is_closed(f->recs[i].ptr));
		check_stream_hook(f, i);
	}
	for (i = 0; i < MAX_RECS; i++) {
		if (f->recs[i].kind == K_VSESSION && !f->recs[i].conn) {
			relay_viewer_session_destroy(f->recs[i].ptr);
			rec_remove(f, i);
		}
	}
	for (i = 0; i < MAX_RECS; i++) {
		if (f->recs[i].kind == K_TABLE) {
			EXPECT(relay_connection_table_destroy(f->recs[i].ptr) == 0);
			rec_remove(f, i);
		}
	}
	/* Every reference. */
	for (i = 0; i < MAX_RECS; i++) {
		while (f->recs[i].kind != K_FREE && f->recs[i].refs > 0)
			EXPECT(drop_ref(f, i));
	}
	bt_prune(f);
	for (i = 0; i < MAX_RECS; i++)
		if (f->recs[i].kind != K_FREE)
			fail("object %p of kind %d still tracked at the end", f->recs[i].ptr,
			     f->recs[i].kind);
}

static void run_program(const uint8_t *data, size_t size)
{
	struct fz *f = calloc(1, sizeof *f);
	size_t start = traceref_live_objects();
	long payloads_before = locked_read(&payloads_destroyed);
	long released_before = locked_read(&emb_released);
	size_t live;

	if (!f)
		fail("out of memory");
	f->data = data;
	f->size = size;
	f->devnull = open("/dev/null", O_WRONLY);
	f->thread = pthread_self();
	cur = f;
	set_hook(f, true);
	while (more(f)) {
		uint8_t op = u8(f);

		f->op++;
		total_calls++;
		f->last_op = op % 32;
		/* Creations weigh more: a random program then builds deeper. */
		switch (op % 32) {
		case 0: case 1: case 2:
			op_session_create(f);
			break;
		case 3: case 4:
			op_session_misc(f);
			break;
		case 5: case 6: case 7:
			op_trace(f);
			break;
		case 8: case 9: case 10:
			op_stream_create(f);
			break;
		case 11: case 12: case 13:
			op_stream_misc(f);
			break;
		case 14: case 15:
			op_locks(f);
			break;
		case 16:
			op_index_misc(f);
			break;
		case 17: case 18:
			op_vstream(f);
			break;
		case 19:
			op_vsession(f);
			break;
		case 20: case 21:
			op_conn(f);
			break;
		case 22: case 23:
			op_shared(f);
			break;
		case 24: case 25:
			op_bt_create(f);
			break;
		case 26: case 27:
			op_bt_link(f);
			break;
		case 28: case 29:
			op_bt_get_put(f);
			break;
		default:
			op_bt_query(f);
			break;
		}
		bt_prune(f);
		check_stream_hooks(f);
	}
	f->last_op = -1;
	cleanup(f);
	/* Each program starts without it. */
	set_hook(f, false);
	EXPECT(traceref_reclaim_barrier() == 0);
	live = traceref_live_objects();
	if (live != 0)
		fail("census %zu after the program (%zu before it), not zero", live, start);
	if (locked_read(&payloads_destroyed) - payloads_before != f->payloads_set)
		fail("%ld payload destructors ran for %ld payloads",
		     locked_read(&payloads_destroyed) - payloads_before, f->payloads_set);
	if (locked_read(&emb_released) - released_before != f->emb_made)
		fail("%ld embedded objects released of %ld made",
		     locked_read(&emb_released) - released_before, f->emb_made);
	if (f->devnull >= 0)
		close(f->devnull);
	cur = NULL;
	free(f);
}

static void init_once(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	/* Misuse is the point: no diagnostics unless asked for. */
	setenv("TRACEREF_LOG", "off", 0);
	bt_object_init(&static_emb.base, NULL);
	static_emb.magic = EMB_MAGIC;
}

#ifdef TRACEREF_LIBFUZZER

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	init_once();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	run_program(data, size);
	return 0;
}

#else /* the standalone driver */

static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static int run_file(const char *path)
{
	FILE *in = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!in) {
		perror(path);
		return 1;
	}
	do {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				fail("out of memory");
		}
		n = fread(buf + len, 1, cap - len, in);
		len += n;
	} while (n > 0);
	fclose(in);
	run_program(buf, len);
	printf("fuzz_api: %s: %zu bytes run\n", path, len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *env_runs = getenv("TRACEREF_FUZZ_RUNS");
	const char *env_seed = getenv("TRACEREF_FUZZ_SEED");
	long runs = env_runs ? atol(env_runs) : 2000;
	uint64_t state;
	uint8_t buf[1024];
	int i;

	init_once();
	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (run_file(argv[i]))
				return 1;
		return 0;
	}
	drv_seed = env_seed ? strtoull(env_seed, NULL, 0)
			    : (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
	printf("fuzz_api: seed %" PRIu64 " (replay with TRACEREF_FUZZ_SEED=%" PRIu64 "), %ld programs\n",
	       drv_seed, drv_seed, runs);
	fflush(stdout);
	state = drv_seed * 0x9E3779B97F4A7C15ull + 1;
	for (drv_run = 0; drv_run < runs; drv_run++) {
		size_t len = (size_t)(next_rand(&state) % sizeof buf), k;

		for (k = 0; k < len; k++)
			buf[k] = (uint8_t)(next_rand(&state) >> 56);
		run_program(buf, len);
	}
	drv_run = -1;
	printf("fuzz_api: %ld programs of %ld calls in all passed: no failed check, census "
	       "zero after each\n", runs, total_calls);
	return 0;
}

#endif
