/*
 * The walkthrough of the Babeltrace reference-counting design document, step
 * by step, with every count the document states (and the counts of the other
 * objects of the example), followed by the getters of the CTF-IR example and
 * their answers to out-of-range indexes, wrong kinds and refused adds (NULL
 * arguments: bt_bad_input.c). The walkthrough runs twice: as the document
 * tells it, then with an integer-structure payload type on every event class
 * (as the upstream test of the walkthrough builds it): the document's counts
 * are the same, and the payload types, held only by the event classes and
 * structures, are freed with the tree.
 *
 * Misuse is deliberate in the second part: diagnostics are turned off.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>

#include "traceref.h"
#include "check.h"

struct example {
	struct bt_ctf_trace *tc1;
	struct bt_ctf_stream_class *sc1, *sc2;
	struct bt_ctf_event_class *ec1, *ec2, *ec3;
	/* With payloads: EC1, EC2, EC3 have payload p1, p2, p3, each a structure
	 * { id: u32, flag: u8 }; the references of the builder are put, so only
	 * the event classes hold the structures, and the structures the
	 * integers. Weak pointers, kept to read counts. */
	struct bt_ctf_field_type *u32, *u8, *p1, *p2, *p3;
};

/* Field types of the example with payloads: u32, u8, p1, p2, p3. */
#define PAYLOAD_TYPES 5

/* A structure { id: u32, flag: u8 } set as the payload of `ec`, held by it
 * only. */
static struct bt_ctf_field_type *set_payload(struct bt_ctf_event_class *ec,
					     struct bt_ctf_field_type *u32,
					     struct bt_ctf_field_type *u8)
{
	struct bt_ctf_field_type *p = bt_ctf_field_type_structure_create();
	struct bt_ctf_field_type *got;

	CHECK(p != NULL);
	CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(p, u32, "id"), 0);
	CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(p, u8, "flag"), 0);
	CHECK_EQ_LONG(bt_ctf_event_class_set_payload_type(ec, p), 0);
	got = bt_ctf_event_class_get_payload_type(ec);
	CHECK_EQ_PTR(got, p);
	bt_put(got);
	bt_put(p);
	CHECK_EQ_LONG(bt_object_get_ref_count(p), 1);
	return p;
}

/* TC1 with SC1 {EC1, EC2} and SC2 {EC3}, with or without payload types;
 * every class reference still held. */
static struct example build_example(int with_payloads)
{
	struct example x;

	x.tc1 = bt_ctf_trace_create();
	x.sc1 = bt_ctf_stream_class_create("SC1");
	x.sc2 = bt_ctf_stream_class_create("SC2");
	x.ec1 = bt_ctf_event_class_create("EC1");
	x.ec2 = bt_ctf_event_class_create("EC2");
	x.ec3 = bt_ctf_event_class_create("EC3");
	CHECK(x.tc1 && x.sc1 && x.sc2 && x.ec1 && x.ec2 && x.ec3);
	x.u32 = x.u8 = x.p1 = x.p2 = x.p3 = NULL;
	if (with_payloads) {
		x.u32 = bt_ctf_field_type_integer_create(32);
		x.u8 = bt_ctf_field_type_integer_create(8);
		CHECK(x.u32 && x.u8);
		x.p1 = set_payload(x.ec1, x.u32, x.u8);
		x.p2 = set_payload(x.ec2, x.u32, x.u8);
		x.p3 = set_payload(x.ec3, x.u32, x.u8);
		bt_put(x.u32);
		bt_put(x.u8);
	}

	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(x.sc1, x.ec1), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(x.sc1, x.ec2), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(x.sc2, x.ec3), 0);
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(x.tc1, x.sc1), 0);
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(x.tc1, x.sc2), 0);
	return x;
}

/* Counts of TC1, SC1, SC2, EC1, EC2, EC3, in that order. */
static void check_counts(const struct example *x, long tc1, long sc1, long sc2,
			 long ec1, long ec2, long ec3)
{
	CHECK_EQ_LONG(bt_object_get_ref_count(x->tc1), tc1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x->sc1), sc1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x->sc2), sc2);
	CHECK_EQ_LONG(bt_object_get_ref_count(x->ec1), ec1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x->ec2), ec2);
	CHECK_EQ_LONG(bt_object_get_ref_count(x->ec3), ec3);
	if (x->p1) {
		/* Payload types: held by their event class (whatever its count)
		 * and by the structures that have them as members. */
		CHECK_EQ_LONG(bt_object_get_ref_count(x->p1), 1);
		CHECK_EQ_LONG(bt_object_get_ref_count(x->p2), 1);
		CHECK_EQ_LONG(bt_object_get_ref_count(x->p3), 1);
		CHECK_EQ_LONG(bt_object_get_ref_count(x->u32), 3);
		CHECK_EQ_LONG(bt_object_get_ref_count(x->u8), 3);
	}
}

static void walkthrough(int with_payloads)
{
	const size_t start = traceref_live_objects();
	/* Objects of the example: six classes, and the payload types. */
	const size_t all = 6 + (with_payloads ? PAYLOAD_TYPES : 0);
	struct example w; /* weak pointers, kept to read counts */
	struct {
		struct bt_ctf_trace *tc;
		struct bt_ctf_stream_class *sc;
		struct bt_ctf_event_class *ec;
	} user_a = { NULL, NULL, NULL }, user_b = { NULL, NULL, NULL },
	  user_c = { NULL, NULL, NULL };

	w = build_example(with_payloads);
	CHECK_EQ_LONG(traceref_live_objects(), start + all);
	/* Every reference held: each parent also counts its live children. */
	check_counts(&w, 3, 3, 2, 1, 1, 1);
	CHECK_OK("built TC1 { SC1 { EC1, EC2 }, SC2 { EC3 } }: counts 3 3 2 1 1 1");

	/* Put every class reference: only the trace (User A) is held. */
	user_a.tc = w.tc1;
	bt_put(w.ec1);
	bt_put(w.ec2);
	bt_put(w.ec3);
	check_counts(&w, 3, 1, 1, 0, 0, 0);
	bt_put(w.sc1);
	bt_put(w.sc2);

	/* Step 1: User A holds TC1; no class holds anything. */
	check_counts(&w, 1, 0, 0, 0, 0, 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + all);
	CHECK_OK("step 1: User A holds TC1 (1); SC1, SC2, EC1, EC2, EC3 are at 0");

	/* Step 2: User A acquires SC2 through TC1; SC2 0 -> 1 takes TC1. */
	user_a.sc = bt_ctf_trace_get_stream_class(user_a.tc, 1);
	CHECK_EQ_PTR(user_a.sc, w.sc2);
	CHECK_EQ_STR(bt_ctf_stream_class_get_name(user_a.sc), "SC2");
	check_counts(&w, 2, 0, 1, 0, 0, 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + all);
	CHECK_OK("step 2: User A gets SC2 through TC1: SC2 1, TC1 2");

	/* Step 3: User A acquires EC3 through SC2; SC2 goes to 2, TC1 stays. */
	user_a.ec = bt_ctf_stream_class_get_event_class(user_a.sc, 0);
	CHECK_EQ_PTR(user_a.ec, w.ec3);
	CHECK_EQ_STR(bt_ctf_event_class_get_name(user_a.ec), "EC3");
	check_counts(&w, 2, 0, 2, 0, 0, 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + all);
	if (with_payloads) {
		/* EC3's payload type: a new reference, and no class count moves. */
		struct bt_ctf_field_type *p = bt_ctf_event_class_get_payload_type(user_a.ec);

		CHECK_EQ_PTR(p, w.p3);
		CHECK_EQ_LONG(bt_object_get_ref_count(w.p3), 2);
		BT_PUT(p);
		check_counts(&w, 2, 0, 2, 0, 0, 1);
	}
	CHECK_OK("step 3: User A gets EC3 through SC2: EC3 1, SC2 2, TC1 still 2");

	/* Step 4: User A drops SC2: back to 1, everything else unchanged. */
	BT_PUT(user_a.sc);
	CHECK(user_a.sc == NULL);
	check_counts(&w, 2, 0, 1, 0, 0, 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + all);
	CHECK_OK("step 4: User A puts SC2: SC2 1, TC1 2, EC3 1");

	/* Step 5: User A drops TC1: EC3 keeps everything alive and reachable. */
	BT_PUT(user_a.tc);
	check_counts(&w, 1, 0, 1, 0, 0, 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + all);
	CHECK_OK("step 5: User A puts TC1: TC1 1 (held by SC2), SC2 1, EC3 1; nothing freed");

	/*
	 * Step 6: User B acquires SC1: 0 -> 1 takes a reference on TC1. SC1 is
	 * reachable from EC3, held by User A, so bt_get() on it is allowed.
	 */
	user_b.sc = bt_get(w.sc1);
	CHECK_EQ_PTR(user_b.sc, w.sc1);
	check_counts(&w, 2, 1, 1, 0, 0, 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + all);
	CHECK_OK("step 6: User B gets SC1: SC1 1, TC1 2");

	/* Step 7: User C gets EC1 through SC1: EC1 0 -> 1 takes SC1. */
	user_c.ec = bt_ctf_stream_class_get_event_class(user_b.sc, 0);
	CHECK_EQ_PTR(user_c.ec, w.ec1);
	CHECK_EQ_STR(bt_ctf_event_class_get_name(user_c.ec), "EC1");
	check_counts(&w, 2, 2, 1, 1, 0, 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + all);
	CHECK_OK("step 7: User C gets EC1 through SC1: EC1 1, SC1 2, TC1 2");

	/* Step 8: User A puts EC3: EC3 -> 0, SC2 -> 0, TC1 -> 1. */
	BT_PUT(user_a.ec);
	check_counts(&w, 1, 2, 0, 1, 0, 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + all);
	CHECK_OK("step 8: User A puts EC3: EC3 0, SC2 0, TC1 1; nothing freed");

	/* Step 9: User B puts SC1: User C owns the hierarchy through EC1. */
	BT_PUT(user_b.sc);
	check_counts(&w, 1, 1, 0, 1, 0, 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + all);
	CHECK_OK("step 9: User B puts SC1: SC1 1, TC1 1, EC1 1 (User C owns everything)");

	/* Step 10: User C puts EC1: the whole hierarchy is reclaimed. */
	BT_PUT(user_c.ec);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("step 10: User C puts EC1: all %zu objects reclaimed (census back to %zu)",
		 all, start);
	if (with_payloads)
		CHECK_OK("walkthrough with a payload type on every event class: the "
			 "document's counts unchanged, the payload types freed with the tree");
}

static void getters(void)
{
	const size_t start = traceref_live_objects();
	struct example x = build_example(0);
	struct bt_ctf_trace *tc2 = bt_ctf_trace_create();
	struct bt_ctf_stream_class *lone_sc = bt_ctf_stream_class_create("lone");
	struct bt_ctf_event_class *lone_ec = bt_ctf_event_class_create("lone");
	struct bt_ctf_event_class *dup = bt_ctf_event_class_create("EC1");
	struct bt_ctf_event_class *again = bt_ctf_event_class_create("EC1");
	struct bt_ctf_stream_class *sc;
	struct bt_ctf_event_class *ec;
	struct bt_ctf_trace *tc;

	CHECK(tc2 && lone_sc && lone_ec && dup && again);
	CHECK_EQ_LONG(traceref_live_objects(), start + 11);

	/* Names and counts of classes. */
	CHECK_EQ_STR(bt_ctf_stream_class_get_name(x.sc1), "SC1");
	CHECK_EQ_STR(bt_ctf_stream_class_get_name(x.sc2), "SC2");
	CHECK_EQ_STR(bt_ctf_event_class_get_name(x.ec1), "EC1");
	CHECK_EQ_STR(bt_ctf_event_class_get_name(x.ec2), "EC2");
	CHECK_EQ_STR(bt_ctf_event_class_get_name(x.ec3), "EC3");
	CHECK_EQ_LONG(bt_ctf_trace_get_stream_class_count(x.tc1), 2);
	CHECK_EQ_LONG(bt_ctf_trace_get_stream_class_count(tc2), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count(x.sc1), 2);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count(x.sc2), 1);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count(lone_sc), 0);
	CHECK_OK("names and class counts: SC1 SC2 EC1 EC2 EC3; 2 stream classes, 2 and 1 event classes");

	/* Enumeration: insertion order, new references, NULL out of range. */
	sc = bt_ctf_trace_get_stream_class(x.tc1, 0);
	CHECK_EQ_PTR(sc, x.sc1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc1), 4);
	bt_put(sc);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc1), 3);
	sc = bt_ctf_trace_get_stream_class(x.tc1, 1);
	CHECK_EQ_PTR(sc, x.sc2);
	bt_put(sc);
	CHECK(bt_ctf_trace_get_stream_class(x.tc1, 2) == NULL);
	CHECK(bt_ctf_trace_get_stream_class(x.tc1, -1) == NULL);
	CHECK(bt_ctf_trace_get_stream_class(tc2, 0) == NULL);
	ec = bt_ctf_stream_class_get_event_class(x.sc1, 1);
	CHECK_EQ_PTR(ec, x.ec2);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.ec2), 2);
	BT_PUT(ec);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.ec2), 1);
	CHECK(bt_ctf_stream_class_get_event_class(x.sc1, 2) == NULL);
	CHECK(bt_ctf_stream_class_get_event_class(x.sc2, 1) == NULL);
	CHECK(bt_ctf_stream_class_get_event_class(x.sc2, -5) == NULL);
	CHECK_OK("enumeration returns new references in insertion order, NULL out of range");

	/* Parent getters return new references. */
	tc = bt_ctf_stream_class_get_trace(x.sc2);
	CHECK_EQ_PTR(tc, x.tc1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.tc1), 4);
	BT_PUT(tc);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.tc1), 3);
	sc = bt_ctf_event_class_get_stream_class(x.ec3);
	CHECK_EQ_PTR(sc, x.sc2);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc2), 3);
	BT_PUT(sc);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc2), 2);
	CHECK(bt_ctf_stream_class_get_trace(lone_sc) == NULL);
	CHECK(bt_ctf_event_class_get_stream_class(lone_ec) == NULL);
	CHECK(bt_object_get_parent(x.tc1) == NULL);
	CHECK_OK("get_trace / get_stream_class give new references; NULL when never added");

	/* NULL for every argument: bt_bad_input.c. */

	/* Wrong kinds are refused, not reinterpreted. */
	CHECK_EQ_LONG(bt_ctf_trace_get_stream_class_count((struct bt_ctf_trace *)(void *)x.sc1), -1);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count((struct bt_ctf_stream_class *)(void *)x.tc1), -1);
	CHECK(bt_ctf_stream_class_get_name((struct bt_ctf_stream_class *)(void *)x.ec1) == NULL);
	CHECK(bt_ctf_event_class_get_name((struct bt_ctf_event_class *)(void *)x.sc1) == NULL);
	CHECK(bt_ctf_trace_add_stream_class(tc2, (struct bt_ctf_stream_class *)(void *)lone_ec) < 0);
	CHECK(bt_ctf_stream_class_add_event_class(lone_sc, (struct bt_ctf_event_class *)(void *)lone_sc) < 0);
	CHECK(bt_ctf_trace_add_stream_class((struct bt_ctf_trace *)(void *)lone_sc, lone_sc) < 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count(lone_sc), 0);
	CHECK(bt_ctf_stream_class_get_trace(lone_sc) == NULL);
	CHECK_OK("pointers of the wrong kind are refused (-1 / NULL), nothing changes");

	/* A stream class that already has a parent cannot be added again. */
	CHECK(bt_ctf_trace_add_stream_class(tc2, x.sc1) < 0);
	CHECK(bt_ctf_trace_add_stream_class(x.tc1, x.sc1) < 0);
	CHECK_EQ_LONG(bt_ctf_trace_get_stream_class_count(tc2), 0);
	CHECK_EQ_LONG(bt_ctf_trace_get_stream_class_count(x.tc1), 2);
	CHECK_EQ_LONG(bt_object_get_ref_count(tc2), 1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.tc1), 3);
	tc = bt_ctf_stream_class_get_trace(x.sc1);
	CHECK_EQ_PTR(tc, x.tc1);
	BT_PUT(tc);
	/* Likewise an event class. */
	CHECK(bt_ctf_stream_class_add_event_class(x.sc2, x.ec1) < 0);
	CHECK(bt_ctf_stream_class_add_event_class(x.sc1, x.ec1) < 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count(x.sc1), 2);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count(x.sc2), 1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc1), 3);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc2), 2);
	CHECK_OK("adding a class that already has a parent fails, counts unchanged");

	/* An event class with a name the stream class already has is refused. */
	CHECK(bt_ctf_stream_class_add_event_class(x.sc1, dup) < 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count(x.sc1), 2);
	CHECK(bt_ctf_event_class_get_stream_class(dup) == NULL);
	CHECK_EQ_LONG(bt_object_get_ref_count(dup), 1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc1), 3);
	/* The same name in another stream class is fine. */
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(x.sc2, again), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_get_event_class_count(x.sc2), 2);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc2), 3);
	CHECK_OK("duplicate event class name in one stream class fails; in another it is accepted");

	/* A stream class added to a second trace; the first one is unaffected. */
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(tc2, lone_sc), 0);
	CHECK_EQ_LONG(bt_object_get_ref_count(tc2), 2);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(lone_sc, lone_ec), 0);
	CHECK_EQ_LONG(bt_object_get_ref_count(lone_sc), 2);
	BT_PUT(lone_ec);
	BT_PUT(lone_sc);
	CHECK_EQ_LONG(bt_object_get_ref_count(tc2), 1);

	/* BT_MOVE: dst's reference is put, src's moves over. */
	sc = bt_ctf_trace_get_stream_class(x.tc1, 0);
	{
		struct bt_ctf_stream_class *moved = NULL;
		BT_MOVE(moved, sc);
		CHECK(sc == NULL);
		CHECK_EQ_PTR(moved, x.sc1);
		CHECK_EQ_LONG(bt_object_get_ref_count(x.sc1), 4);
		sc = bt_ctf_trace_get_stream_class(x.tc1, 1);
		BT_MOVE(moved, sc);
		CHECK_EQ_PTR(moved, x.sc2);
		CHECK_EQ_LONG(bt_object_get_ref_count(x.sc1), 3);
		CHECK_EQ_LONG(bt_object_get_ref_count(x.sc2), 4);
		BT_PUT(moved);
		CHECK_EQ_LONG(bt_object_get_ref_count(x.sc2), 3);
	}
	CHECK_OK("BT_PUT and BT_MOVE put the old reference and clear the source");

	/* Typed get/put: same as bt_get/bt_put on their own kind only. */
	bt_ctf_trace_get(x.tc1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.tc1), 4);
	bt_ctf_trace_put(x.tc1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.tc1), 3);
	bt_ctf_stream_class_get(x.sc2);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc2), 4);
	bt_ctf_stream_class_put(x.sc2);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc2), 3);
	bt_ctf_event_class_put(x.ec3);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.ec3), 0);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc2), 2);
	bt_ctf_event_class_get(x.ec3); /* 0 -> 1: takes SC2 again */
	CHECK_EQ_LONG(bt_object_get_ref_count(x.ec3), 1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc2), 3);
	bt_ctf_trace_get((struct bt_ctf_trace *)(void *)x.sc1);
	bt_ctf_stream_class_put((struct bt_ctf_stream_class *)(void *)x.ec1);
	bt_ctf_event_class_get((struct bt_ctf_event_class *)(void *)x.tc1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.sc1), 3);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.ec1), 1);
	CHECK_EQ_LONG(bt_object_get_ref_count(x.tc1), 3);
	CHECK_EQ_LONG(traceref_live_objects(), start + 11);
	CHECK_OK("typed get/put move counts like bt_get/bt_put; wrong kinds change nothing");

	/* Tear down: every user reference; nothing is left. */
	bt_put(dup);
	bt_put(again);
	bt_put(x.ec1);
	bt_put(x.ec2);
	bt_put(x.ec3);
	bt_put(x.sc1);
	bt_put(x.sc2);
	CHECK_EQ_LONG(traceref_live_objects(), start + 10);
	bt_put(x.tc1);
	CHECK_EQ_LONG(traceref_live_objects(), start + 3);
	bt_put(tc2);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("census back to %zu after the getters", start);
}

int main(void)
{
	/* The getters provoke misuse diagnostics on purpose. */
	setenv("TRACEREF_LOG", "off", 1);

	walkthrough(0);
	walkthrough(1);
	getters();
	CHECK_DONE("bt_walkthrough");
	return 0;
}
