/*
 * NULL for every pointer argument of every bt_* function, in the header's
 * order, each answered as the header documents and changing nothing: the
 * counts of a small valid tree passed beside the NULLs, its parent links and
 * the census are compared before and after. Then the same functions with a
 * pointer of the wrong kind where the object has a tag to check.
 *
 * Every call here is a misuse on purpose: diagnostics are turned off.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "traceref.h"
#include "check.h"

struct node {
	struct bt_object base;
	int released;
};

static int released;

static void node_release(struct bt_object *obj)
{
	(void)obj;
	released++;
}

/* A small tree: trace <- stream class <- event class, and an embedded
 * parent <- child pair, each held once by the test. */
struct tree {
	struct bt_ctf_trace *t;
	struct bt_ctf_stream_class *sc;
	struct bt_ctf_event_class *ec;
	struct node parent, child;
};

struct counts {
	long t, sc, ec, parent, child;
	size_t live;
};

static void tree_make(struct tree *x)
{
	x->t = bt_ctf_trace_create();
	x->sc = bt_ctf_stream_class_create("sc");
	x->ec = bt_ctf_event_class_create("ec");
	CHECK(x->t && x->sc && x->ec);
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(x->t, x->sc), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(x->sc, x->ec), 0);
	bt_object_init(&x->parent, node_release);
	bt_object_init(&x->child, node_release);
	bt_object_set_parent(&x->child, &x->parent);
	CHECK_EQ_PTR(bt_object_get_parent(&x->child), &x->parent);
	bt_put(&x->parent); /* the reference bt_object_get_parent() gave */
}

static struct counts counts_of(struct tree *x)
{
	struct counts c;

	c.t = bt_object_get_ref_count(x->t);
	c.sc = bt_object_get_ref_count(x->sc);
	c.ec = bt_object_get_ref_count(x->ec);
	c.parent = bt_object_get_ref_count(&x->parent);
	c.child = bt_object_get_ref_count(&x->child);
	c.live = settled_live_objects();
	return c;
}

static void same_counts(struct tree *x, const struct counts *before)
{
	struct counts now = counts_of(x);

	CHECK_EQ_LONG(now.t, before->t);
	CHECK_EQ_LONG(now.sc, before->sc);
	CHECK_EQ_LONG(now.ec, before->ec);
	CHECK_EQ_LONG(now.parent, before->parent);
	CHECK_EQ_LONG(now.child, before->child);
	CHECK_EQ_LONG(now.live, before->live);
	CHECK_EQ_LONG(released, 0);
	CHECK_EQ_LONG(bt_ctf_trace_get_stream_class_count(x->t), 1);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count(x->sc), 1);
}

static void tree_drop(struct tree *x)
{
	bt_put(x->ec);
	bt_put(x->sc);
	bt_put(x->t);
	bt_put(&x->child);
	bt_put(&x->parent);
	CHECK_EQ_LONG(released, 2);
}

static void null_arguments(struct tree *x)
{
	const struct counts before = counts_of(x);

	/* bt_get, bt_put, bt_object_get_ref_count */
	CHECK(bt_get(NULL) == NULL);
	bt_put(NULL);
	CHECK_EQ_LONG(bt_object_get_ref_count(NULL), -1);
	same_counts(x, &before);

	/* bt_object_init: NULL object (with and without a release function) */
	bt_object_init(NULL, node_release);
	bt_object_init(NULL, NULL);
	same_counts(x, &before);

	/* bt_object_set_parent: a NULL child, with a parent and without (a
	 * NULL parent alone detaches the child: see bt_upstream) */
	bt_object_set_parent(NULL, &x->parent);
	bt_object_set_parent(NULL, NULL);
	same_counts(x, &before);
	CHECK_EQ_PTR(bt_object_get_parent(&x->child), &x->parent);
	bt_put(&x->parent);

	/* bt_object_get_parent */
	CHECK(bt_object_get_parent(NULL) == NULL);

	/* constructors: only the names are pointers; a NULL stream class name
	 * makes an anonymous stream class */
	{
		struct bt_ctf_stream_class *anon = bt_ctf_stream_class_create(NULL);

		CHECK(anon != NULL);
		CHECK(bt_ctf_stream_class_get_name(anon) == NULL);
		bt_put(anon);
	}
	CHECK(bt_ctf_event_class_create(NULL) == NULL);
	same_counts(x, &before);

	/* bt_ctf_trace_add_stream_class, bt_ctf_stream_class_add_event_class */
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(NULL, x->sc), -1);
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(x->t, NULL), -1);
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(NULL, NULL), -1);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(NULL, x->ec), -1);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(x->sc, NULL), -1);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(NULL, NULL), -1);
	same_counts(x, &before);

	/* enumeration */
	CHECK_EQ_LONG(bt_ctf_trace_get_stream_class_count(NULL), -1);
	CHECK(bt_ctf_trace_get_stream_class(NULL, 0) == NULL);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count(NULL), -1);
	CHECK(bt_ctf_stream_class_get_event_class(NULL, 0) == NULL);
	CHECK(bt_ctf_stream_class_get_trace(NULL) == NULL);
	CHECK(bt_ctf_event_class_get_stream_class(NULL) == NULL);
	CHECK(bt_ctf_stream_class_get_name(NULL) == NULL);
	CHECK(bt_ctf_event_class_get_name(NULL) == NULL);
	same_counts(x, &before);

	/* typed gets and puts */
	bt_ctf_trace_get(NULL);
	bt_ctf_trace_put(NULL);
	bt_ctf_stream_class_get(NULL);
	bt_ctf_stream_class_put(NULL);
	bt_ctf_event_class_get(NULL);
	bt_ctf_event_class_put(NULL);
	same_counts(x, &before);

	/* field types: a structure with one integer member, the payload of a
	 * lone event class; every pointer argument NULL in turn */
	{
		struct bt_ctf_field_type *st = bt_ctf_field_type_structure_create();
		struct bt_ctf_field_type *in = bt_ctf_field_type_integer_create(32);
		struct bt_ctf_event_class *ev = bt_ctf_event_class_create("ev");
		struct bt_ctf_field_type *got = in;
		const char *name = "untouched";

		CHECK(st && in && ev);
		CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(st, in, "m"), 0);
		CHECK_EQ_LONG(bt_ctf_event_class_set_payload_type(ev, st), 0);

		CHECK(bt_ctf_field_type_integer_get_size(NULL) < 0);
		CHECK(bt_ctf_field_type_structure_add_field(NULL, in, "x") < 0);
		CHECK(bt_ctf_field_type_structure_add_field(st, NULL, "x") < 0);
		CHECK(bt_ctf_field_type_structure_add_field(st, in, NULL) < 0);
		CHECK(bt_ctf_field_type_structure_add_field(NULL, NULL, NULL) < 0);
		CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(NULL), -1);
		CHECK(bt_ctf_field_type_structure_get_field(NULL, &name, &got, 0) < 0);
		CHECK(bt_ctf_field_type_structure_get_field(NULL, NULL, NULL, 0) < 0);
		CHECK_EQ_STR(name, "untouched");
		CHECK_EQ_PTR(got, in);
		/* NULL out pointers are allowed: nothing returned, nothing taken */
		CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field(st, NULL, &got, 0), 0);
		CHECK_EQ_PTR(got, in);
		bt_put(got);
		CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field(st, &name, NULL, 0), 0);
		CHECK_EQ_STR(name, "m");
		CHECK(bt_ctf_field_type_structure_get_field_type_by_name(NULL, "m") == NULL);
		CHECK(bt_ctf_field_type_structure_get_field_type_by_name(st, NULL) == NULL);
		CHECK(bt_ctf_event_class_set_payload_type(NULL, st) < 0);
		CHECK(bt_ctf_event_class_set_payload_type(ev, NULL) < 0);
		CHECK(bt_ctf_event_class_get_payload_type(NULL) == NULL);
		bt_ctf_field_type_get(NULL);
		bt_ctf_field_type_put(NULL);
		CHECK_EQ_LONG(bt_object_get_ref_count(st), 2);
		CHECK_EQ_LONG(bt_object_get_ref_count(in), 2);
		CHECK_EQ_LONG(bt_object_get_ref_count(ev), 1);
		CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(st), 1);
		got = bt_ctf_event_class_get_payload_type(ev);
		CHECK_EQ_PTR(got, st);
		bt_put(got);
		bt_put(ev);
		bt_put(st);
		bt_put(in);
	}
	same_counts(x, &before);

	/* the header's macros */
	{
		void *p = NULL, *q = NULL;

		BT_PUT(p);
		CHECK(p == NULL);
		BT_MOVE(p, q);
		CHECK(p == NULL && q == NULL);
	}
	same_counts(x, &before);

	/* the picture of a NULL object is refused */
	CHECK_EQ_LONG(traceref_dump_dot(NULL, -1), -1);
	CHECK_OK("NULL for every pointer argument of every bt_* function: defined "
		 "return, no count, link or census changed");
}

static void wrong_kinds(struct tree *x)
{
	const struct counts before = counts_of(x);
	struct relay_session *s = relay_session_create("bt-bad", "host", 0, false, 2, 11);
	void *sc_as_trace = x->sc, *t_as_sc = x->t, *sc_as_ec = x->sc;

	CHECK(s != NULL);
	/* A relay object is not an object of this model. */
	CHECK(bt_get(s) == NULL);
	bt_put(s);
	CHECK_EQ_LONG(bt_object_get_ref_count(s), -1);
	CHECK(bt_object_get_parent(s) == NULL);
	bt_object_set_parent(&x->child, s);
	bt_object_set_parent(s, &x->parent);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);

	/* A CTF-IR object where another CTF-IR kind is expected. */
	CHECK_EQ_LONG(bt_ctf_trace_get_stream_class_count(sc_as_trace), -1);
	CHECK(bt_ctf_trace_get_stream_class(sc_as_trace, 0) == NULL);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count(t_as_sc), -1);
	CHECK(bt_ctf_stream_class_get_trace(t_as_sc) == NULL);
	CHECK(bt_ctf_event_class_get_stream_class(sc_as_ec) == NULL);
	CHECK(bt_ctf_event_class_get_name(sc_as_ec) == NULL);
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(sc_as_trace, x->sc), -1);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(t_as_sc, x->ec), -1);
	bt_ctf_trace_get(sc_as_trace);
	bt_ctf_trace_put(sc_as_trace);
	bt_ctf_stream_class_put(t_as_sc);
	bt_ctf_event_class_put(sc_as_ec);

	/* A class where a field type is expected, and the other way round; an
	 * integer where a structure is expected. */
	{
		struct bt_ctf_field_type *st = bt_ctf_field_type_structure_create();
		struct bt_ctf_field_type *in = bt_ctf_field_type_integer_create(8);
		void *ec_as_ft = x->ec, *st_as_ec = st;

		CHECK(st && in);
		CHECK(bt_ctf_field_type_integer_get_size(ec_as_ft) < 0);
		CHECK(bt_ctf_field_type_integer_get_size(st) < 0);
		CHECK(bt_ctf_field_type_structure_add_field(ec_as_ft, in, "x") < 0);
		CHECK(bt_ctf_field_type_structure_add_field(st, ec_as_ft, "x") < 0);
		CHECK(bt_ctf_field_type_structure_add_field(in, in, "x") < 0);
		CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(in), -1);
		CHECK(bt_ctf_field_type_structure_get_field(in, NULL, NULL, 0) < 0);
		CHECK(bt_ctf_field_type_structure_get_field_type_by_name(ec_as_ft, "x") == NULL);
		CHECK(bt_ctf_event_class_set_payload_type(x->ec, in) < 0);
		CHECK(bt_ctf_event_class_set_payload_type(x->ec, ec_as_ft) < 0);
		CHECK(bt_ctf_event_class_set_payload_type(st_as_ec, st) < 0);
		CHECK(bt_ctf_event_class_get_payload_type(st_as_ec) == NULL);
		CHECK(bt_ctf_event_class_get_payload_type(x->ec) == NULL);
		bt_ctf_field_type_get(ec_as_ft);
		bt_ctf_field_type_put(ec_as_ft);
		CHECK(bt_ctf_field_type_structure_add_field(st, st, "self") < 0);
		CHECK_EQ_LONG(bt_object_get_ref_count(st), 1);
		CHECK_EQ_LONG(bt_object_get_ref_count(in), 1);
		CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(st), 0);
		bt_ctf_field_type_put(st);
		bt_ctf_field_type_put(in);
	}

	/* CTF-IR objects are linked by their typed functions only. */
	bt_object_set_parent(x->ec, x->t);
	CHECK_EQ_PTR(bt_ctf_event_class_get_stream_class(x->ec), x->sc);
	bt_put(x->sc);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	same_counts(x, &before);
	CHECK_OK("pointers of the wrong kind are refused by every bt_* function "
		 "that checks a tag; nothing changed");
}

int main(void)
{
	struct tree x;
	const size_t start = traceref_live_objects();

	tree_make(&x);
	null_arguments(&x);
	wrong_kinds(&x);
	tree_drop(&x);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("the tree is released once; the census is back to its start");
	CHECK_DONE("bt_bad_input");
	return 0;
}
