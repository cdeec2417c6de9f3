/*
 * Babeltrace code as upstream writes it:
 *
 *   - bt_object_set_parent(child, NULL) detaches the child: it leaves its
 *     parent's children, drops its reference on the parent, and becomes a
 *     root destroyed when its count reaches 0;
 *   - C code's own embedded objects as children of the library's CTF-IR
 *     objects (trace, stream class, event class): accepted, found by
 *     bt_object_get_parent(), released before their parent, and invisible
 *     to the typed getters (counts, get by index, duplicate names);
 *   - bt_ctf_stream_class_create(NULL): an anonymous stream class;
 *   - bt_object_init() on an object already initialised and alive: one
 *     diagnostic line, nothing changed.
 */

#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traceref.h"
#include "check.h"
#include "capture.h"

#define MAX_NODES 16

struct node {
	struct bt_object base;
	int id;
};

static int released[MAX_NODES];
static int order[MAX_NODES];
static int n_released;
/* Set by the test: the object that must still be alive when a node is
 * released (its parent), checked through its count. */
static void *alive_parent[MAX_NODES];

static void node_release(struct bt_object *obj)
{
	struct node *n = (struct node *)obj;

	CHECK(n->id >= 0 && n->id < MAX_NODES);
	CHECK_EQ_LONG(released[n->id], 0);
	if (alive_parent[n->id])
		CHECK(bt_object_get_ref_count(alive_parent[n->id]) >= 0);
	released[n->id]++;
	order[n_released++] = n->id;
	free(n);
}

static struct node *node(int id)
{
	struct node *n = calloc(1, sizeof(*n));

	CHECK(n != NULL);
	bt_object_init(n, node_release);
	n->id = id;
	return n;
}

static void reset(void)
{
	memset(released, 0, sizeof(released));
	memset(alive_parent, 0, sizeof(alive_parent));
	n_released = 0;
}

static void detach(void)
{
	struct node *p = node(0), *c = node(1), *k = node(2);
	long before = (long)traceref_live_objects();

	reset();
	bt_object_set_parent(c, p);
	bt_object_set_parent(k, c);
	bt_put(k); /* k: count 0, kept by c */
	CHECK_EQ_LONG(bt_object_get_ref_count(p), 2); /* ours and c's */

	/* Detach c: it drops its reference on p and becomes a root. */
	bt_object_set_parent(c, NULL);
	CHECK(bt_object_get_parent(c) == NULL);
	CHECK_EQ_LONG(bt_object_get_ref_count(p), 1);
	CHECK_EQ_LONG(bt_object_get_ref_count(c), 1);
	/* Detaching a root again changes nothing. */
	bt_object_set_parent(c, NULL);
	CHECK_EQ_LONG(bt_object_get_ref_count(c), 1);

	/* p goes alone; c, a root now, destroys itself and k at 0. */
	bt_put(p);
	CHECK_EQ_LONG(released[0], 1);
	CHECK_EQ_LONG(released[1], 0);
	bt_put(c);
	CHECK_EQ_LONG(released[2], 1);
	CHECK_EQ_LONG(released[1], 1);
	CHECK_EQ_LONG(order[1], 2); /* k before c */
	CHECK_EQ_LONG((long)traceref_live_objects(), before - 3);

	/* A child at count 0 detached by whoever holds it: reached through its
	 * parent, held, detached, put: destroyed then. */
	p = node(3);
	c = node(4);
	bt_object_set_parent(c, p);
	bt_put(c);
	bt_get(c); /* count 0 -> 1, takes p */
	CHECK_EQ_LONG(bt_object_get_ref_count(p), 2);
	bt_object_set_parent(c, NULL);
	CHECK_EQ_LONG(bt_object_get_ref_count(p), 1);
	bt_put(c);
	CHECK_EQ_LONG(released[4], 1);
	bt_put(p);
	CHECK_EQ_LONG(released[3], 1);
	CHECK_OK("bt_object_set_parent(child, NULL): detached, a root, destroyed at 0");
}

static void own_children_of_ctf_ir(void)
{
	struct bt_ctf_trace *trace = bt_ctf_trace_create();
	struct bt_ctf_stream_class *sc = bt_ctf_stream_class_create("sc");
	struct bt_ctf_event_class *ec = bt_ctf_event_class_create("ec");
	struct node *a = node(5), *b = node(6), *d = node(7);
	struct bt_ctf_event_class *ec_dup;
	struct bt_object *parent;

	reset();
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(trace, sc), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(sc, ec), 0);
	bt_object_set_parent(a, trace);
	bt_object_set_parent(b, sc);
	bt_object_set_parent(d, ec);
	alive_parent[5] = trace;
	alive_parent[6] = sc;
	alive_parent[7] = ec;

	parent = bt_object_get_parent(a);
	CHECK_EQ_PTR(parent, trace);
	bt_put(parent);
	parent = bt_object_get_parent(b);
	CHECK_EQ_PTR(parent, sc);
	bt_put(parent);
	parent = bt_object_get_parent(d);
	CHECK_EQ_PTR(parent, ec);
	bt_put(parent);

	/* The typed getters see the classes only. */
	CHECK_EQ_LONG(bt_ctf_trace_get_stream_class_count(trace), 1);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count(sc), 1);
	{
		struct bt_ctf_stream_class *got = bt_ctf_trace_get_stream_class(trace, 0);
		struct bt_ctf_event_class *got_ec = bt_ctf_stream_class_get_event_class(sc, 0);

		CHECK_EQ_PTR(got, sc);
		CHECK_EQ_PTR(got_ec, ec);
		bt_put(got);
		bt_put(got_ec);
	}
	/* Duplicate names are still found among the event classes. */
	ec_dup = bt_ctf_event_class_create("ec");
	{
		struct capture cap;

		capture_scope_begin(&cap);
		CHECK(bt_ctf_stream_class_add_event_class(sc, ec_dup) < 0);
		CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	}
	bt_put(ec_dup);

	/* Our references go; the tree lives through the trace's. */
	bt_put(a);
	bt_put(b);
	bt_put(d);
	bt_put(ec);
	bt_put(sc);
	CHECK_EQ_LONG(n_released, 0);
	bt_put(trace);
	CHECK_EQ_LONG(n_released, 3);
	CHECK_EQ_LONG(released[5] + released[6] + released[7], 3);
	CHECK_OK("own embedded objects under a trace, a stream class, an event class: "
		 "parents found, released first, invisible to the typed getters");
}

static void anonymous_stream_class(void)
{
	struct bt_ctf_trace *trace = bt_ctf_trace_create();
	struct bt_ctf_stream_class *a = bt_ctf_stream_class_create(NULL);
	struct bt_ctf_stream_class *b = bt_ctf_stream_class_create(NULL);

	CHECK(a != NULL && b != NULL);
	CHECK(bt_ctf_stream_class_get_name(a) == NULL);
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(trace, a), 0);
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(trace, b), 0);
	CHECK_EQ_LONG(bt_ctf_trace_get_stream_class_count(trace), 2);
	{
		/* Pictures draw it without a name. */
		int fd = open("/dev/null", O_WRONLY);

		CHECK(fd >= 0);
		CHECK_EQ_LONG(traceref_dump_dot(trace, fd), 0);
		close(fd);
	}
	bt_put(a);
	bt_put(b);
	bt_put(trace);
	CHECK_OK("bt_ctf_stream_class_create(NULL): an anonymous stream class (name NULL)");
}

static void init_twice(void)
{
	struct node *n = node(8);
	long live = (long)traceref_live_objects();
	struct capture cap;

	reset();
	bt_get(n);
	capture_scope_begin(&cap);
	bt_object_init(n, node_release);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(strstr(cap.text, "bt_object_init") != NULL);
	CHECK(strstr(cap.text, "already initialised") != NULL);
	CHECK_EQ_LONG(bt_object_get_ref_count(n), 2); /* unchanged */
	CHECK_EQ_LONG((long)traceref_live_objects(), live);
	bt_put(n);
	bt_put(n);
	CHECK_EQ_LONG(released[8], 1);
	CHECK_EQ_LONG((long)traceref_live_objects(), live - 1);
	CHECK_OK("bt_object_init on a live object: one line, nothing changed");
}

int main(void)
{
	setenv("TRACEREF_LOG", "warn", 1);
	detach();
	own_children_of_ctf_ir();
	anonymous_stream_class();
	init_twice();
	CHECK_EQ_LONG(traceref_live_objects(), 0);
	CHECK_DONE("bt_upstream");
	return 0;
}
