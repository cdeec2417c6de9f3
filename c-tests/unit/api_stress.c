/*
 * Multi-threaded stress fuzzer of the whole C API, both models.
 *
 * Several threads drive the functions of the header on a shared pool of
 * objects, each choosing its next call at random among those that are
 * legal for it right now by the header: a thread only uses references it
 * holds (its "hand"), borrows only what the header lets it borrow (an
 * index under its stream's lock, a stream's trace while the stream is
 * held), and closes only what it owns. Lookups by id reach the other
 * threads' objects (every id and socket ever made is in a shared ring), so
 * the threads' gets, puts, closes, moves and walks interleave on the same
 * objects at random.
 *
 * Checked meanwhile: every object handed out is alive and of the right
 * kind, counts are at least 1 while held, released embedded objects are
 * released once, after their children. Checked at the end, after every
 * thread dropped what it held and a reclamation barrier: the census is
 * zero, every payload destructor and release function ran exactly once,
 * and the library printed nothing (stderr is captured for the whole run;
 * the only lines allowed are the refusals of a link that would make a
 * cycle, which another thread's move can make unforeseeable).
 *
 * Bounded: TRACEREF_STRESS_SECONDS (default 2) of calls, 4 threads
 * (TRACEREF_STRESS_THREADS). The seed is TRACEREF_SEED or the clock; it is
 * printed, and a failure can be replayed with it (up to the interleaving).
 * Run longer by hand: TRACEREF_STRESS_SECONDS=600 ./api_stress.
 */

#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
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

#define MAX_THREADS 16
#define HAND 48  /* references one thread holds at most */
#define RING 64  /* ids, handles and sockets recently made, for lookups */

/* ---- what a thread holds ------------------------------------------------ */

enum kind {
	K_NODE, /* embedded struct bt_object */
	K_TRACE, K_SC, K_EC, /* CTF-IR */
	K_INT, K_STRUCT,      /* CTF-IR field types */
	K_SESSION, K_CTRACE, K_STREAM, K_INDEX, K_VSTREAM, K_CONN,
	KINDS
};

/* A held reference. An owner entry (`owner`) stands for two references:
 * the one that the object's close drops (the owner's), and a plain one of
 * the thread's own, so that a close made by someone else (a session closing
 * its streams, a connection's final put closing its session) never leaves
 * the thread with a dangling pointer. Giving the entry up closes the object
 * (unless someone else did), then puts the plain reference. */
struct held {
	enum kind kind;
	void *p;
	bool owner;
};

struct hand {
	struct held h[HAND];
	int n;
	uint64_t seed;
	long ops;
	struct relay_viewer_session *vs; /* this thread's own, or NULL */
	int vs_attached;                  /* sessions attached to it */
	int devnull;
};

static int rnd(struct hand *t, int n)
{
	return (int)(next_rand(&t->seed) % (uint64_t)n);
}

static bool full(struct hand *t)
{
	return t->n >= HAND - 2;
}

static void hold(struct hand *t, enum kind k, void *p, bool owner)
{
	TCHECK(t->n < HAND);
	t->h[t->n].kind = k;
	t->h[t->n].p = p;
	t->h[t->n].owner = owner;
	t->n++;
}

static void forget(struct hand *t, int i)
{
	t->h[i] = t->h[--t->n];
}

/* A random held reference of kind `k` (owner token or not, as asked:
 * -1 either), or -1. */
static int pick(struct hand *t, enum kind k, int owner)
{
	int idx[HAND], m = 0, i;

	for (i = 0; i < t->n; i++)
		if (t->h[i].kind == k && (owner < 0 || t->h[i].owner == (owner != 0)))
			idx[m++] = i;
	return m ? idx[rnd(t, m)] : -1;
}

/* A random held Babeltrace object of any kind, or -1. */
static int pick_bt(struct hand *t)
{
	int idx[HAND], m = 0, i;

	for (i = 0; i < t->n; i++)
		if (t->h[i].kind <= K_STRUCT)
			idx[m++] = i;
	return m ? idx[rnd(t, m)] : -1;
}

/* ---- shared state --------------------------------------------------------- */

static atomic_uint_fast64_t session_ids[RING], stream_handles[RING];
static atomic_int socks[RING];
static atomic_uint ring_pos;
static atomic_uint_fast64_t next_handle = 1;
static atomic_int next_sock = 1000;
static atomic_long next_name;

static struct relay_connection_table *table; /* shared, for the whole run */

static atomic_long nodes_made, nodes_released;
static atomic_long payloads_set, payloads_destroyed;

static void remember(atomic_uint_fast64_t *ring, uint64_t id)
{
	atomic_store(&ring[atomic_fetch_add(&ring_pos, 1) % RING], id);
}

static uint64_t recall(struct hand *t, atomic_uint_fast64_t *ring)
{
	return atomic_load(&ring[rnd(t, RING)]);
}

/* ---- embedded objects ------------------------------------------------------ */

#define NODE_MAGIC 0x6e6f6465L

struct node {
	struct bt_object base;
	long magic;
	atomic_int released;
};

static void node_release(struct bt_object *obj)
{
	struct node *n = (struct node *)obj;
	struct bt_object *parent;

	TCHECK(n->magic == NODE_MAGIC);
	TCHECK(atomic_fetch_add(&n->released, 1) == 0);
	/* Released after its children, before its parent: the parent (a node
	 * or a CTF-IR object) is still an object of the model here. */
	parent = bt_object_get_parent(n);
	if (parent) {
		TCHECK(bt_object_get_ref_count(parent) != -1);
		bt_put(parent);
	}
	n->magic = 0;
	atomic_fetch_add(&nodes_released, 1);
	free(n);
}

static void payload_destroy(void *data)
{
	TCHECK(*(long *)data == 0x5eed);
	free(data);
	atomic_fetch_add(&payloads_destroyed, 1);
}

static void attach_payload(struct hand *t, void *obj)
{
	long *data;

	if (rnd(t, 2))
		return;
	data = malloc(sizeof(*data));
	TCHECK(data != NULL);
	*data = 0x5eed;
	TCHECK(traceref_payload_set(obj, data, payload_destroy) == 0);
	atomic_fetch_add(&payloads_set, 1);
	TCHECK(traceref_payload_get(obj) == data);
}

/* ---- dropping references ----------------------------------------------------- */

static void put_ref(enum kind k, void *p)
{
	switch (k) {
	case K_NODE: bt_put(p); break;
	case K_TRACE: bt_ctf_trace_put(p); break;
	case K_SC: bt_ctf_stream_class_put(p); break;
	case K_EC: bt_ctf_event_class_put(p); break;
	case K_INT:
	case K_STRUCT: bt_ctf_field_type_put(p); break;
	case K_SESSION: relay_session_put(p); break;
	case K_CTRACE: relay_ctf_trace_put(p); break;
	case K_STREAM: relay_stream_put(p); break;
	case K_INDEX: relay_index_put(p); break;
	case K_VSTREAM: relay_viewer_stream_put(p); break;
	case K_CONN: relay_connection_put(p); break;
	default: TCHECK(0);
	}
}

/* Close a stream this thread owns, sometimes under its lock (the close
 * then completes at the unlock). Its session's close or abort may have
 * closed it first, which is no misuse: -1, silently. */
static void close_owned_stream(struct relay_stream *s, int how)
{
	int rc;

	if (how & 1)
		TCHECK(relay_stream_lock(s) == 0);
	if (how & 2) {
		rc = relay_stream_try_close(s);
		TCHECK(rc >= 0 || (rc == -1 && relay_stream_is_closed(s)));
	} else {
		rc = relay_stream_close(s);
		TCHECK(rc == 0 || (rc == -1 && relay_stream_is_closed(s)));
	}
	if (how & 1)
		TCHECK(relay_stream_unlock(s) == 0);
}

/* Give up the owner entry at index i: close what it owns, put the plain
 * reference that came with it. */
static void close_owned(struct hand *t, int i)
{
	struct held h = t->h[i];

	forget(t, i);
	switch (h.kind) {
	case K_SESSION: TCHECK(relay_session_close(h.p) == 0); break;
	case K_STREAM: close_owned_stream(h.p, rnd(t, 4)); break;
	case K_CONN: TCHECK(relay_connection_close(h.p) == 0); break;
	default: TCHECK(0);
	}
	put_ref(h.kind, h.p);
}

/* ---- the operations ---------------------------------------------------------- */

static bool op_bt_create(struct hand *t)
{
	char name[32];
	int i;

	if (full(t))
		return false;
	snprintf(name, sizeof(name), "c%ld", atomic_fetch_add(&next_name, 1));
	switch (rnd(t, 4)) {
	case 0: {
		struct node *n = calloc(1, sizeof(*n));

		TCHECK(n != NULL);
		bt_object_init(n, node_release);
		n->magic = NODE_MAGIC;
		atomic_fetch_add(&nodes_made, 1);
		TCHECK(bt_object_get_ref_count(n) == 1);
		/* A fresh node has no descendants: linking it under a held node
		 * is never refused. */
		i = pick(t, K_NODE, -1);
		if (i >= 0 && rnd(t, 2))
			bt_object_set_parent(n, t->h[i].p);
		hold(t, K_NODE, n, false);
		break;
	}
	case 1:
		hold(t, K_TRACE, bt_ctf_trace_create(), false);
		break;
	case 2: {
		struct bt_ctf_stream_class *sc = bt_ctf_stream_class_create(name);

		TCHECK(sc != NULL);
		i = pick(t, K_TRACE, -1);
		if (i >= 0 && rnd(t, 3))
			TCHECK(bt_ctf_trace_add_stream_class(t->h[i].p, sc) == 0);
		hold(t, K_SC, sc, false);
		break;
	}
	default: {
		struct bt_ctf_event_class *ec = bt_ctf_event_class_create(name);

		TCHECK(ec != NULL);
		i = pick(t, K_SC, -1);
		if (i >= 0 && rnd(t, 3))
			TCHECK(bt_ctf_stream_class_add_event_class(t->h[i].p, ec) == 0);
		hold(t, K_EC, ec, false);
		break;
	}
	}
	return true;
}

static bool op_bt_refs(struct hand *t)
{
	int i = pick_bt(t);
	void *p;

	if (i < 0)
		return false;
	p = t->h[i].p;
	TCHECK(bt_object_get_ref_count(p) >= 1);
	if (!full(t) && rnd(t, 2)) {
		bt_get(p);
		hold(t, t->h[i].kind, p, false);
	} else {
		enum kind k = t->h[i].kind;

		forget(t, i);
		put_ref(k, p);
	}
	return true;
}

/* Move a held node under another held node (any thread may be moving
 * them too), or read a parent. */
static bool op_bt_move(struct hand *t)
{
	int a = pick(t, K_NODE, -1), b = pick(t, K_NODE, -1);
	struct bt_object *parent;

	if (a < 0)
		return false;
	switch (rnd(t, 6)) {
	case 0:
		bt_object_set_parent(t->h[a].p, NULL); /* detach */
		break;
	case 1: {
		/* Under a CTF-IR object: an own child of a class or trace. */
		int c = pick_bt(t);

		if (c >= 0 && t->h[c].kind != K_NODE)
			bt_object_set_parent(t->h[a].p, t->h[c].p);
		break;
	}
	case 2:
	case 3:
		if (b >= 0 && t->h[a].p != t->h[b].p)
			bt_object_set_parent(t->h[a].p, t->h[b].p);
		break;
	default:
		break;
	}
	parent = bt_object_get_parent(t->h[a].p);
	if (parent) {
		/* A node or a CTF-IR object, alive and counted. */
		TCHECK(bt_object_get_ref_count(parent) >= 1);
		bt_put(parent);
	}
	return true;
}

/* Walk a CTF-IR tree up and down, holding what the getters return. */
static bool op_bt_walk(struct hand *t)
{
	int i = pick_bt(t);
	void *p;

	if (i < 0 || full(t))
		return false;
	p = t->h[i].p;
	switch (t->h[i].kind) {
	case K_TRACE: {
		int n = bt_ctf_trace_get_stream_class_count(p);

		TCHECK(n >= 0);
		if (n > 0) {
			struct bt_ctf_stream_class *sc =
				bt_ctf_trace_get_stream_class(p, rnd(t, n));

			TCHECK(sc != NULL);
			TCHECK(bt_ctf_stream_class_get_name(sc) != NULL);
			hold(t, K_SC, sc, false);
		}
		break;
	}
	case K_SC: {
		int n = bt_ctf_stream_class_get_event_class_count(p);
		struct bt_ctf_trace *tr = bt_ctf_stream_class_get_trace(p);

		TCHECK(n >= 0);
		if (tr)
			hold(t, K_TRACE, tr, false);
		if (n > 0 && !full(t)) {
			struct bt_ctf_event_class *ec =
				bt_ctf_stream_class_get_event_class(p, rnd(t, n));

			TCHECK(ec != NULL);
			TCHECK(bt_ctf_event_class_get_name(ec) != NULL);
			hold(t, K_EC, ec, false);
		}
		break;
	}
	case K_EC: {
		struct bt_ctf_stream_class *sc = bt_ctf_event_class_get_stream_class(p);

		if (sc)
			hold(t, K_SC, sc, false);
		break;
	}
	default:
		break;
	}
	if (rnd(t, 8) == 0)
		TCHECK(traceref_dump_dot(p, t->devnull) == 0);
	return true;
}

/* Field types shared between threads: integers and structures made here,
 * fields added (an integer, or a fresh structure: nothing it contains can
 * contain the structure it joins), payloads set on held event classes
 * (replacing and putting the previous one), every getter. */
static bool op_field_types(struct hand *t)
{
	int i = pick(t, K_STRUCT, -1);
	char name[32];

	if (full(t))
		return false;
	switch (rnd(t, 5)) {
	case 0: {
		struct bt_ctf_field_type *ft =
			bt_ctf_field_type_integer_create(1 + (unsigned int)rnd(t, 64));

		TCHECK(ft != NULL);
		TCHECK(bt_ctf_field_type_integer_get_size(ft) >= 1);
		hold(t, K_INT, ft, false);
		break;
	}
	case 1: {
		struct bt_ctf_field_type *st = bt_ctf_field_type_structure_create();

		TCHECK(st != NULL);
		hold(t, K_STRUCT, st, false);
		break;
	}
	case 2: {
		int f = rnd(t, 2) ? pick(t, K_INT, -1) : -1;
		struct bt_ctf_field_type *member;

		if (i < 0)
			return false;
		snprintf(name, sizeof(name), "f%ld", atomic_fetch_add(&next_name, 1));
		if (f >= 0) {
			member = t->h[f].p;
			bt_ctf_field_type_get(member);
		} else {
			member = bt_ctf_field_type_structure_create(); /* fresh */
			TCHECK(member != NULL);
		}
		TCHECK(bt_ctf_field_type_structure_add_field(t->h[i].p, member, name) == 0);
		bt_ctf_field_type_put(member); /* the structure holds it */
		break;
	}
	case 3: {
		int n, k;
		const char *fname = NULL;
		struct bt_ctf_field_type *ft = NULL;

		if (i < 0)
			return false;
		n = bt_ctf_field_type_structure_get_field_count(t->h[i].p);
		TCHECK(n >= 0);
		if (n == 0)
			return true;
		k = rnd(t, n);
		TCHECK(bt_ctf_field_type_structure_get_field(t->h[i].p, &fname, &ft, k) == 0);
		TCHECK(fname != NULL && ft != NULL);
		bt_ctf_field_type_put(ft);
		ft = bt_ctf_field_type_structure_get_field_type_by_name(t->h[i].p, fname);
		TCHECK(ft != NULL);
		bt_ctf_field_type_put(ft);
		break;
	}
	default: {
		int e = pick(t, K_EC, -1);
		struct bt_ctf_field_type *payload;

		if (e < 0)
			return false;
		if (i >= 0 && rnd(t, 2))
			TCHECK(bt_ctf_event_class_set_payload_type(t->h[e].p, t->h[i].p) == 0);
		payload = bt_ctf_event_class_get_payload_type(t->h[e].p);
		if (payload)
			hold(t, K_STRUCT, payload, false);
		break;
	}
	}
	return true;
}

static bool op_session_create(struct hand *t)
{
	struct relay_session *s;

	if (full(t))
		return false;
	s = relay_session_create("stress", "host", (uint32_t)rnd(t, 3), rnd(t, 2), 2, 13);
	TCHECK(s != NULL);
	attach_payload(t, s);
	remember(session_ids, relay_session_get_id(s));
	TCHECK(relay_session_get(s)); /* the owner entry's plain reference */
	hold(t, K_SESSION, s, true);
	return true;
}

/* Look sessions, streams and connections up by id, some in one read-side
 * section, and hold some of what is found. */
static bool op_lookup(struct hand *t)
{
	int batch = rnd(t, 3) == 0 ? 1 + rnd(t, 8) : 1, j;

	if (batch > 1)
		traceref_read_lock();
	for (j = 0; j < batch; j++) {
		int what = rnd(t, 4);
		void *p = NULL;
		enum kind k = K_SESSION;

		if (what == 0) {
			uint64_t id = recall(t, session_ids);

			p = relay_session_get_by_id(id);
			TCHECK(!p || relay_session_get_id(p) == id);
		} else if (what == 1) {
			uint64_t h = recall(t, stream_handles);

			k = K_STREAM;
			p = relay_stream_get_by_id(h);
			TCHECK(!p || relay_stream_get_handle(p) == h);
		} else if (what == 2) {
			uint64_t h = recall(t, stream_handles);

			k = K_VSTREAM;
			p = relay_viewer_stream_get_by_id(h);
			TCHECK(!p || relay_stream_get_handle(relay_viewer_stream_get_stream(p)) == h);
		} else {
			int sock = atomic_load(&socks[rnd(t, RING)]);

			k = K_CONN;
			p = relay_connection_get_by_sock(table, sock);
			TCHECK(!p || relay_connection_get_sock(p) == sock);
		}
		if (!p)
			continue;
		if (!full(t) && rnd(t, 2))
			hold(t, k, p, false);
		else
			put_ref(k, p);
	}
	if (batch > 1)
		traceref_read_unlock();
	return true;
}

static int visit_session(struct relay_session *s, void *data)
{
	struct hand *t = data;

	TCHECK(relay_session_get_ref_count(s) >= 1);
	TCHECK(relay_session_get_name(s) != NULL);
	return rnd(t, 16) == 0;
}

static int visit_stream(struct relay_stream *s, void *data)
{
	struct hand *t = data;

	TCHECK(relay_stream_get_ref_count(s) >= 1);
	TCHECK(relay_stream_get_channel_name(s) != NULL);
	TCHECK(relay_ctf_trace_get_path(relay_stream_get_trace(s)) != NULL);
	return rnd(t, 16) == 0;
}

static int visit_trace(struct ctf_trace *tr, void *data)
{
	struct hand *t = data;

	TCHECK(relay_ctf_trace_get_ref_count(tr) >= 1);
	TCHECK(relay_ctf_trace_get_path(tr) != NULL);
	return rnd(t, 16) == 0;
}

static int visit_vstream(struct relay_viewer_stream *v, void *data)
{
	struct hand *t = data;

	TCHECK(relay_viewer_stream_get_ref_count(v) >= 1);
	TCHECK(relay_stream_get_channel_name(relay_viewer_stream_get_stream(v)) != NULL);
	return rnd(t, 16) == 0;
}

static int visit_connection(struct relay_connection *c, void *data)
{
	struct hand *t = data;

	TCHECK(relay_connection_get_ref_count(c) >= 1);
	TCHECK(relay_connection_get_sock(c) >= 1000);
	return rnd(t, 16) == 0;
}

static bool op_walk(struct hand *t)
{
	int i = pick(t, K_SESSION, -1), j = pick(t, K_CTRACE, -1);

	if (rnd(t, 4) == 0)
		TCHECK(relay_sessions_for_each(visit_session, t) >= 0);
	if (i >= 0) {
		TCHECK(relay_session_for_each_stream(t->h[i].p, visit_stream, t) >= 0);
		TCHECK(relay_session_for_each_ctf_trace(t->h[i].p, visit_trace, t) >= 0);
		TCHECK(relay_session_for_each_viewer_stream(t->h[i].p, visit_vstream, t) >= 0);
	}
	if (j >= 0)
		TCHECK(relay_ctf_trace_for_each_stream(t->h[j].p, visit_stream, t) >= 0);
	if (t->vs)
		TCHECK(relay_viewer_session_for_each_session(t->vs, visit_session, t) >= 0);
	if (rnd(t, 8) == 0)
		TCHECK(relay_connection_table_for_each(table, visit_connection, t) >= 0);
	if (rnd(t, 32) == 0)
		TCHECK(traceref_dump_dot(NULL, t->devnull) == 0);
	return true;
}

static bool op_session_misc(struct hand *t)
{
	int i = pick(t, K_SESSION, 0);
	struct relay_session *s;

	if (i < 0)
		return false;
	s = t->h[i].p;
	TCHECK(relay_session_get_ref_count(s) >= 1);
	TCHECK(strcmp(relay_session_get_hostname(s), "host") == 0);
	TCHECK(relay_session_get_major(s) == 2 && relay_session_get_minor(s) == 13);
	(void)relay_session_get_live_timer(s);
	(void)relay_session_is_snapshot(s);
	(void)relay_session_is_closed(s);
	(void)relay_session_is_aborted(s);
	switch (rnd(t, 4)) {
	case 0:
		TCHECK(relay_session_abort(s) == 0);
		break;
	case 1:
		TCHECK(relay_session_lock(s) == 0);
		(void)relay_session_is_closed(s);
		TCHECK(relay_session_unlock(s) == 0);
		break;
	case 2:
		if (!full(t)) {
			TCHECK(relay_session_get(s));
			hold(t, K_SESSION, s, false);
		}
		break;
	default:
		forget(t, i);
		relay_session_put(s);
		break;
	}
	return true;
}

static bool op_trace(struct hand *t)
{
	static const char *const paths[] = { "kernel", "ust/uid/0", "ust/uid/1" };
	int i = pick(t, K_SESSION, -1);
	struct ctf_trace *tr;

	if (i < 0 || full(t))
		return false;
	tr = relay_ctf_trace_get_by_path_or_create(t->h[i].p, paths[rnd(t, 3)]);
	if (!tr) {
		TCHECK(relay_session_is_closed(t->h[i].p));
		return true;
	}
	TCHECK(relay_ctf_trace_get_session(tr) == t->h[i].p);
	if (rnd(t, 4) == 0) {
		TCHECK(relay_ctf_trace_lock(tr) == 0);
		TCHECK(relay_ctf_trace_unlock(tr) == 0);
	}
	if (rnd(t, 4) == 0) {
		struct relay_viewer_stream *m = relay_ctf_trace_get_viewer_metadata_stream(tr);

		if (m)
			relay_viewer_stream_put(m);
	}
	hold(t, K_CTRACE, tr, false);
	return true;
}

static bool op_stream_create(struct hand *t)
{
	int i = pick(t, K_CTRACE, -1);
	uint64_t handle;
	struct relay_stream *s, *mine;

	if (i < 0 || full(t))
		return false;
	handle = atomic_fetch_add(&next_handle, 1);
	/* Another thread may close the session at any moment, and its close
	 * puts the owner's reference of the new stream: inside a read-side
	 * section the stream stays allocated, and a lookup takes a reference
	 * of our own unless that close came first. */
	traceref_read_lock();
	s = relay_stream_create(t->h[i].p, handle, "path", rnd(t, 8) ? "chan" : "metadata",
				0, 0);
	mine = s ? relay_stream_get_by_id(handle) : NULL;
	traceref_read_unlock();
	if (!mine)
		return true; /* its session was closed, before or after */
	TCHECK(mine == s);
	attach_payload(t, s);
	remember(stream_handles, handle);
	if (rnd(t, 2)) {
		/* A close by another thread (its session's) may come first. */
		int rc = relay_stream_publish(s);

		TCHECK(rc == 0 || (rc == -1 && relay_stream_is_closed(s)));
	}
	hold(t, K_STREAM, s, true);
	return true;
}

/* The daemon's data path on a held stream: under its lock, borrow the
 * index of a sequence number, record data, sometimes abort the session or
 * announce the end, flush; some indexes are kept with a reference. */
static bool op_data(struct hand *t)
{
	int i = pick(t, K_STREAM, -1);
	struct relay_stream *s;
	uint64_t seq;
	struct relay_index *idx;

	if (i < 0)
		return false;
	s = t->h[i].p;
	seq = (uint64_t)rnd(t, 16);
	TCHECK(relay_stream_lock(s) == 0);
	idx = relay_index_get_by_id_or_create(s, seq);
	if (idx) {
		TCHECK(relay_index_get_net_seq_num(idx) == seq);
		switch (rnd(t, 5)) {
		case 0:
			TCHECK(relay_stream_set_received_seq_num(s, seq) == 0);
			break;
		case 1:
			TCHECK(relay_stream_set_last_net_seq_num(s, seq) == 0);
			break;
		case 2:
			TCHECK(relay_session_abort(
				       relay_ctf_trace_get_session(relay_stream_get_trace(s))) == 0);
			break;
		default:
			break;
		}
		/* Still valid, whatever the calls above completed. */
		TCHECK(relay_index_get_net_seq_num(idx) == seq);
		if (!full(t) && rnd(t, 3) == 0) {
			TCHECK(relay_index_get(idx));
			hold(t, K_INDEX, idx, false);
		}
		if (rnd(t, 2))
			TCHECK(relay_index_try_flush(idx) >= 0);
	} else {
		TCHECK(relay_stream_is_closed(s));
	}
	(void)relay_stream_get_received_seq_num(s);
	(void)relay_stream_get_last_net_seq_num(s);
	TCHECK(relay_stream_unlock(s) == 0);
	if (rnd(t, 8) == 0)
		TCHECK(relay_index_close_all(s) == 0);
	return true;
}

static bool op_index_ref(struct hand *t)
{
	int i = pick(t, K_INDEX, -1);

	if (i < 0)
		return false;
	TCHECK(relay_index_get_ref_count(t->h[i].p) >= 1);
	if (rnd(t, 2)) {
		void *p = t->h[i].p;

		forget(t, i);
		relay_index_put(p);
	} else {
		TCHECK(relay_index_try_flush(t->h[i].p) >= 0);
	}
	return true;
}

static bool op_stream_misc(struct hand *t)
{
	int i = pick(t, K_STREAM, 0);
	struct relay_stream *s;

	if (i < 0)
		return false;
	s = t->h[i].p;
	TCHECK(relay_stream_get_ref_count(s) >= 1);
	TCHECK(strcmp(relay_stream_get_path_name(s), "path") == 0);
	(void)relay_stream_get_tracefile_size(s);
	(void)relay_stream_get_tracefile_count(s);
	(void)relay_stream_is_published(s);
	(void)relay_stream_is_metadata(s);
	if (!full(t) && rnd(t, 2)) {
		TCHECK(relay_stream_get(s));
		hold(t, K_STREAM, s, false);
	} else {
		forget(t, i);
		relay_stream_put(s);
	}
	return true;
}

/* Whether this thread holds the owner token of `session`. */
static bool owns_session(struct hand *t, struct relay_session *session)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (t->h[i].kind == K_SESSION && t->h[i].owner && t->h[i].p == session)
			return true;
	return false;
}

/* Viewer streams: created on a held stream of a session this thread owns
 * (so that only its own viewer session, attached to its own sessions, can
 * close them behind its back: never during this call), closed at once. */
static bool op_viewer(struct hand *t)
{
	int i = pick(t, K_STREAM, -1), v = pick(t, K_VSTREAM, -1);
	struct relay_viewer_stream *vs;

	if (v >= 0 && rnd(t, 2)) {
		void *p = t->h[v].p;

		TCHECK(relay_viewer_stream_get_ref_count(p) >= 1);
		(void)relay_viewer_stream_get_seek(p);
		forget(t, v);
		relay_viewer_stream_put(p);
		return true;
	}
	if (i < 0 || full(t) ||
	    !owns_session(t, relay_ctf_trace_get_session(relay_stream_get_trace(t->h[i].p))))
		return false;
	vs = relay_viewer_stream_create(t->h[i].p, (uint32_t)rnd(t, 2));
	if (!vs)
		return true; /* the stream already has one, or is going */
	attach_payload(t, vs);
	TCHECK(relay_viewer_stream_get_stream(vs) == t->h[i].p);
	if (!full(t) && rnd(t, 2)) {
		TCHECK(relay_viewer_stream_get(vs));
		hold(t, K_VSTREAM, vs, false);
	}
	TCHECK(relay_viewer_stream_close(vs) == 0);
	return true;
}

/* A viewer session of this thread: attach and detach sessions it owns,
 * close; sometimes, with nothing attached, hand it to a live connection of
 * the shared table. */
static bool op_viewer_session(struct hand *t)
{
	int i = pick(t, K_SESSION, 1);

	if (!t->vs) {
		t->vs = relay_viewer_session_create();
		TCHECK(t->vs != NULL);
		return true;
	}
	switch (rnd(t, 4)) {
	case 0:
		if (i >= 0 && !relay_viewer_session_is_attached(t->vs, t->h[i].p) &&
		    relay_viewer_session_attach(t->vs, t->h[i].p) == 0) {
			TCHECK(relay_viewer_session_is_attached(t->vs, t->h[i].p));
			switch (rnd(t, 4)) {
			case 0:
				TCHECK(relay_viewer_session_detach(t->vs, t->h[i].p) == 0);
				break;
			case 1:
				TCHECK(relay_viewer_session_close_one_session(t->vs, t->h[i].p) == 0);
				TCHECK(!relay_viewer_session_is_attached(t->vs, t->h[i].p));
				break;
			default:
				t->vs_attached++;
				break;
			}
		}
		break;
	case 1: {
		int sock = atomic_fetch_add(&next_sock, 1);
		struct relay_connection *c = relay_connection_create(sock, RELAY_VIEWER_COMMAND);

		TCHECK(c != NULL);
		if (t->vs_attached > 0 || full(t)) {
			TCHECK(relay_connection_close(c) == 0);
			break;
		}
		TCHECK(relay_connection_set_viewer_session(c, t->vs) == 0);
		TCHECK(relay_connection_get_viewer_session(c) == t->vs);
		t->vs = NULL;
		TCHECK(relay_connection_table_add(table, c) == 0);
		atomic_store(&socks[atomic_fetch_add(&ring_pos, 1) % RING], sock);
		TCHECK(relay_connection_get(c));
		hold(t, K_CONN, c, true);
		break;
	}
	case 2:
		TCHECK(relay_viewer_session_close(t->vs) == 0);
		relay_viewer_session_destroy(t->vs);
		t->vs = NULL;
		t->vs_attached = 0;
		break;
	default:
		relay_viewer_session_destroy(t->vs);
		t->vs = NULL;
		t->vs_attached = 0;
		break;
	}
	return true;
}

/* Connections: in the shared table (kept, owned, found by others), or in a
 * table of this call's own that is destroyed with them in it. */
static bool op_connection(struct hand *t)
{
	int sock = atomic_fetch_add(&next_sock, 1);
	int type = 1 + rnd(t, 4);
	struct relay_connection *c;
	int s;

	if (full(t))
		return false;
	c = relay_connection_create(sock, type);
	TCHECK(c != NULL);
	TCHECK(relay_connection_get_type(c) == type);
	attach_payload(t, c);
	s = pick(t, K_SESSION, 1);
	if (s >= 0 && rnd(t, 2)) {
		/* The session's owner reference goes to the connection. */
		TCHECK(relay_connection_set_session(c, t->h[s].p) == 0);
		TCHECK(relay_connection_get_session(c) == t->h[s].p);
		t->h[s].owner = false; /* its plain reference stays */
	}
	if (rnd(t, 3)) {
		TCHECK(relay_connection_table_add(table, c) == 0);
		atomic_store(&socks[atomic_fetch_add(&ring_pos, 1) % RING], sock);
		TCHECK(relay_connection_get(c));
		hold(t, K_CONN, c, true);
	} else {
		struct relay_connection_table *own = relay_connection_table_create();
		struct relay_connection *found;

		TCHECK(own != NULL);
		TCHECK(relay_connection_table_add(own, c) == 0);
		found = relay_connection_get_by_sock(own, sock);
		TCHECK(found == c);
		relay_connection_put(found);
		if (rnd(t, 2))
			TCHECK(relay_connection_close(c) == 0);
		/* Otherwise the destruction closes it. */
		TCHECK(relay_connection_table_destroy(own) == 0);
	}
	return true;
}

/* Give up an owner token: close a session, stream, viewer stream or
 * connection this thread owns. */
static bool op_close(struct hand *t)
{
	static const enum kind kinds[] = { K_SESSION, K_STREAM, K_CONN };
	int i = pick(t, kinds[rnd(t, 3)], 1);

	if (i < 0)
		return false;
	close_owned(t, i);
	return true;
}

static bool op_barrier(struct hand *t)
{
	if (rnd(t, 16))
		return false;
	TCHECK(traceref_reclaim_barrier() == 0);
	return true;
}

typedef bool (*op_func)(struct hand *t);

static const struct {
	op_func f;
	int weight;
} ops[] = {
	{ op_bt_create, 6 }, { op_bt_refs, 8 }, { op_bt_move, 6 }, { op_bt_walk, 5 },
	{ op_field_types, 5 },
	{ op_session_create, 3 }, { op_lookup, 8 }, { op_walk, 2 },
	{ op_session_misc, 4 }, { op_trace, 4 }, { op_stream_create, 4 },
	{ op_data, 8 }, { op_index_ref, 3 }, { op_stream_misc, 4 },
	{ op_viewer, 3 }, { op_viewer_session, 2 }, { op_connection, 2 },
	{ op_close, 4 }, { op_barrier, 1 },
};

/* ---- threads ------------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double deadline;

/* Drop everything a thread holds: owner tokens are closed, the rest put. */
static void empty_hand(struct hand *t)
{
	while (t->n > 0) {
		int i = t->n - 1;

		if (t->h[i].owner) {
			close_owned(t, i);
		} else {
			struct held h = t->h[i];

			forget(t, i);
			put_ref(h.kind, h.p);
		}
	}
	if (t->vs) {
		relay_viewer_session_destroy(t->vs);
		t->vs = NULL;
		t->vs_attached = 0;
	}
}

static void *stress_thread(void *arg)
{
	struct hand *t = arg;
	int total = 0;
	size_t k;

	for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		total += ops[k].weight;
	while (now() < deadline) {
		int r = rnd(t, total);

		for (k = 0; r >= ops[k].weight; k++)
			r -= ops[k].weight;
		if (ops[k].f(t))
			t->ops++;
		/* Now and then, start over with empty hands. */
		if (rnd(t, 2048) == 0)
			empty_hand(t);
	}
	empty_hand(t);
	return NULL;
}

/* Streams whose close waits for data that never came close when their
 * session is aborted, as at the daemon's teardown. */
static int abort_session(struct relay_session *s, void *data)
{
	(void)data;
	TCHECK(relay_session_abort(s) == 0);
	return 0;
}

/* The one kind of line a legal sequence may print: a link refused because
 * another thread's move made it a cycle. */
static int classify(const char *line)
{
	return strstr(line, "bt_object_set_parent") && strstr(line, "or one of its descendants")
		       ? 0
		       : -1;
}

int main(void)
{
	const char *env_seconds = getenv("TRACEREF_STRESS_SECONDS");
	const char *env_threads = getenv("TRACEREF_STRESS_THREADS");
	const char *env_seed = getenv("TRACEREF_SEED");
	double seconds = env_seconds ? atof(env_seconds) : 2.0;
	int threads = env_threads ? atoi(env_threads) : 4;
	uint64_t seed = env_seed ? strtoull(env_seed, NULL, 0) : (uint64_t)time(NULL);
	struct hand hands[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	long ops_total = 0, refused_links;
	int devnull = open("/dev/null", O_WRONLY);
	int i;

	CHECK(threads >= 1 && threads <= MAX_THREADS);
	CHECK(devnull >= 0);
	printf("api_stress: seed %llu (TRACEREF_SEED=%llu to replay), %d threads, %.1f s\n",
	       (unsigned long long)seed, (unsigned long long)seed, threads, seconds);
	fflush(stdout);

	capture_begin();
	table = relay_connection_table_create();
	CHECK(table != NULL);
	deadline = now() + seconds;
	for (i = 0; i < threads; i++) {
		memset(&hands[i], 0, sizeof(hands[i]));
		hands[i].seed = seed * 0x9E3779B97F4A7C15ull + (uint64_t)i + 1;
		hands[i].devnull = devnull;
		CHECK(pthread_create(&tid[i], NULL, stress_thread, &hands[i]) == 0);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		ops_total += hands[i].ops;
	}
	TCHECK(relay_sessions_for_each(abort_session, NULL) >= 0);
	/* Each thread closed the connections it added: the destruction finds
	 * the table empty. */
	CHECK_EQ_LONG(relay_connection_table_destroy(table), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(capture_end(classify, &refused_links, 1), 0);

	CHECK_EQ_LONG(traceref_live_objects(), 0);
	CHECK_EQ_LONG(atomic_load(&nodes_released), atomic_load(&nodes_made));
	CHECK_EQ_LONG(atomic_load(&payloads_destroyed), atomic_load(&payloads_set));
	close(devnull);
	CHECK_OK("%ld calls by %d threads; %ld embedded objects and %ld payloads, each "
		 "released once; %ld links refused as cycles; census back to zero, nothing "
		 "else printed",
		 ops_total, threads, atomic_load(&nodes_made), atomic_load(&payloads_set),
		 refused_links);
	CHECK_DONE("api_stress");
	return 0;
}
