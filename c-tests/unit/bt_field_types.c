/*
 * CTF-IR field types: integer and structure field types as refcounted
 * shared objects (roots of the Babeltrace model), structures holding a
 * counted reference on each member type, event classes one on their
 * payload type.
 *
 *   - every function, with the signature of the original API (a mismatch
 *     in a function pointer initialiser below is a compile error);
 *   - counts: constructors give 1, getters give new references, a member
 *     or a payload holds one reference each;
 *   - every refusal returns -1 / NULL with exactly one warning line naming
 *     the function, and changes no count and no census;
 *   - destruction: a type held only by its holders is freed with the last
 *     of them (an event class's tree, a structure), members after the
 *     structure that held them; the census is back to its start.
 *
 * NULL for every pointer argument: bt_bad_input.c. Threads:
 * bt_field_type_threads.c.
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

/* `stmt` prints exactly one warning line, which names `func`. */
#define ONE_WARNING(func, stmt)                                           \
	do {                                                              \
		struct capture cap_;                                      \
		capture_scope_begin(&cap_);                               \
		stmt;                                                     \
		CHECK_EQ_LONG(capture_scope_end(&cap_), 1);               \
		CHECK(strstr(cap_.text, "warning") != NULL);              \
		CHECK(strstr(cap_.text, func) != NULL);                   \
	} while (0)

/* `stmt` prints nothing. */
#define SILENT(stmt)                                                      \
	do {                                                              \
		struct capture cap_;                                      \
		capture_scope_begin(&cap_);                               \
		stmt;                                                     \
		CHECK_EQ_LONG(capture_scope_end(&cap_), 0);               \
	} while (0)

static long count(void *obj)
{
	return bt_object_get_ref_count(obj);
}

static long live(void)
{
	return (long)traceref_live_objects();
}

/* The upstream signatures, checked by the compiler. */
static void signatures(void)
{
	struct bt_ctf_field_type *(*int_create)(unsigned int) =
		bt_ctf_field_type_integer_create;
	int (*int_size)(struct bt_ctf_field_type *) = bt_ctf_field_type_integer_get_size;
	struct bt_ctf_field_type *(*struct_create)(void) = bt_ctf_field_type_structure_create;
	int (*add_field)(struct bt_ctf_field_type *, struct bt_ctf_field_type *,
			 const char *) = bt_ctf_field_type_structure_add_field;
	int (*field_count)(struct bt_ctf_field_type *) =
		bt_ctf_field_type_structure_get_field_count;
	int (*get_field)(struct bt_ctf_field_type *, const char **,
			 struct bt_ctf_field_type **, int) =
		bt_ctf_field_type_structure_get_field;
	struct bt_ctf_field_type *(*by_name)(struct bt_ctf_field_type *, const char *) =
		bt_ctf_field_type_structure_get_field_type_by_name;
	int (*set_payload)(struct bt_ctf_event_class *, struct bt_ctf_field_type *) =
		bt_ctf_event_class_set_payload_type;
	struct bt_ctf_field_type *(*get_payload)(struct bt_ctf_event_class *) =
		bt_ctf_event_class_get_payload_type;
	void (*ft_get)(struct bt_ctf_field_type *) = bt_ctf_field_type_get;
	void (*ft_put)(struct bt_ctf_field_type *) = bt_ctf_field_type_put;

	CHECK(int_create && int_size && struct_create && add_field && field_count &&
	      get_field && by_name && set_payload && get_payload && ft_get && ft_put);
	CHECK_OK("the eleven field type functions have the upstream signatures");
}

static void integers(void)
{
	const long start = live();
	struct bt_ctf_field_type *i1, *i8, *i32, *i64, *s;
	static const unsigned sizes[] = { 1, 8, 32, 64 };
	struct bt_ctf_field_type **all[] = { &i1, &i8, &i32, &i64 };
	unsigned k;

	for (k = 0; k < 4; k++) {
		SILENT(*all[k] = bt_ctf_field_type_integer_create(sizes[k]));
		CHECK(*all[k] != NULL);
		CHECK_EQ_LONG(count(*all[k]), 1);
		CHECK_EQ_LONG(bt_ctf_field_type_integer_get_size(*all[k]), (long)sizes[k]);
		CHECK(bt_object_get_parent(*all[k]) == NULL); /* a root */
	}
	CHECK_EQ_LONG(live(), start + 4);
	CHECK_OK("integer field types of 1, 8, 32, 64 bits: count 1, their size, roots, "
		 "counted in the census");

	/* Refusals: one line each, nothing made. */
	{
		struct bt_ctf_field_type *bad = i1;

		ONE_WARNING("bt_ctf_field_type_integer_create",
			    bad = bt_ctf_field_type_integer_create(0));
		CHECK(bad == NULL);
		bad = i1;
		ONE_WARNING("bt_ctf_field_type_integer_create",
			    bad = bt_ctf_field_type_integer_create(65));
		CHECK(bad == NULL);
	}
	s = bt_ctf_field_type_structure_create();
	CHECK(s != NULL);
	ONE_WARNING("bt_ctf_field_type_integer_get_size",
		    CHECK(bt_ctf_field_type_integer_get_size(s) < 0));
	ONE_WARNING("bt_ctf_field_type_integer_get_size",
		    CHECK(bt_ctf_field_type_integer_get_size(NULL) < 0));
	CHECK_EQ_LONG(live(), start + 5);
	CHECK_OK("integer_create(0), (65): NULL; get_size of a structure, of NULL: "
		 "negative; one warning each");

	/* Typed and generic gets and puts. */
	SILENT(bt_ctf_field_type_get(i32));
	CHECK_EQ_LONG(count(i32), 2);
	CHECK(bt_get(i32) == i32);
	CHECK_EQ_LONG(count(i32), 3);
	bt_put(i32);
	SILENT(bt_ctf_field_type_put(i32));
	CHECK_EQ_LONG(count(i32), 1);
	bt_ctf_field_type_get(s);
	CHECK_EQ_LONG(count(s), 2);
	bt_ctf_field_type_put(s);
	SILENT(bt_ctf_field_type_get(NULL));
	SILENT(bt_ctf_field_type_put(NULL));
	{
		struct bt_ctf_trace *t = bt_ctf_trace_create();
		struct bt_ctf_event_class *ec = bt_ctf_event_class_create("not a type");

		ONE_WARNING("bt_ctf_field_type_get",
			    bt_ctf_field_type_get((struct bt_ctf_field_type *)(void *)t));
		ONE_WARNING("bt_ctf_field_type_put",
			    bt_ctf_field_type_put((struct bt_ctf_field_type *)(void *)ec));
		CHECK_EQ_LONG(count(t), 1);
		CHECK_EQ_LONG(count(ec), 1);
		bt_put(t);
		bt_put(ec);
	}
	CHECK_EQ_LONG(live(), start + 5);
	CHECK_OK("bt_ctf_field_type_get/put and bt_get/bt_put move a field type's count; "
		 "NULL does nothing; another kind: one warning, nothing moves");

	/* A put on a count of 0 frees nothing twice: the last put destroys. */
	for (k = 0; k < 4; k++)
		bt_ctf_field_type_put(*all[k]);
	bt_put(s);
	CHECK_EQ_LONG(live(), start);
	CHECK_OK("the last put destroys a field type: census back to %ld", start);
}

static void structures(void)
{
	const long start = live();
	struct bt_ctf_field_type *u32 = bt_ctf_field_type_integer_create(32);
	struct bt_ctf_field_type *u8 = bt_ctf_field_type_integer_create(8);
	struct bt_ctf_field_type *s = bt_ctf_field_type_structure_create();
	struct bt_ctf_field_type *got = NULL;
	const char *name = NULL;
	char buf[16];

	CHECK(u32 && u8 && s);
	CHECK_EQ_LONG(count(s), 1);
	CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(s), 0);

	/* Members: a reference each, the same type under two names twice. */
	strcpy(buf, "id");
	SILENT(CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(s, u32, buf), 0));
	strcpy(buf, "clobbered"); /* the name was copied */
	SILENT(CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(s, u8, "flag"), 0));
	SILENT(CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(s, u32, "len"), 0));
	CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(s), 3);
	CHECK_EQ_LONG(count(u32), 3);
	CHECK_EQ_LONG(count(u8), 2);
	CHECK_EQ_LONG(count(s), 1);
	CHECK_EQ_LONG(live(), start + 3);
	CHECK_OK("add_field: 0, the member holds one reference (u32 twice: 3), "
		 "the structure's own count unchanged");

	/* get_field: the name (valid while the structure is) and a new reference. */
	CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field(s, &name, &got, 0), 0);
	CHECK_EQ_STR(name, "id");
	CHECK_EQ_PTR(got, u32);
	CHECK_EQ_LONG(count(u32), 4);
	BT_PUT(got);
	CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field(s, &name, &got, 1), 0);
	CHECK_EQ_STR(name, "flag");
	CHECK_EQ_PTR(got, u8);
	CHECK_EQ_LONG(count(u8), 3);
	BT_PUT(got);
	name = NULL;
	CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field(s, &name, NULL, 2), 0);
	CHECK_EQ_STR(name, "len");
	CHECK_EQ_LONG(count(u32), 3); /* no type asked: no reference taken */
	CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field(s, NULL, &got, 2), 0);
	CHECK_EQ_PTR(got, u32);
	CHECK_EQ_LONG(count(u32), 4);
	BT_PUT(got);
	CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field(s, NULL, NULL, 1), 0);
	CHECK_OK("get_field: name and a new reference in insertion order; either out "
		 "pointer may be NULL");

	/* get_field_type_by_name: a new reference, NULL (silently) when absent. */
	SILENT(got = bt_ctf_field_type_structure_get_field_type_by_name(s, "flag"));
	CHECK_EQ_PTR(got, u8);
	CHECK_EQ_LONG(count(u8), 3);
	BT_PUT(got);
	got = bt_ctf_field_type_structure_get_field_type_by_name(s, "len");
	CHECK_EQ_PTR(got, u32);
	BT_PUT(got);
	SILENT(got = bt_ctf_field_type_structure_get_field_type_by_name(s, "clobbered"));
	CHECK(got == NULL);
	CHECK_EQ_LONG(count(u32), 3);
	CHECK_EQ_LONG(count(u8), 2);
	CHECK_OK("get_field_type_by_name: a new reference; NULL without a warning for "
		 "a name the structure lacks");

	/* Refusals: one line each, nothing changed. */
	name = "untouched";
	got = u8;
	ONE_WARNING("bt_ctf_field_type_structure_get_field",
		    CHECK(bt_ctf_field_type_structure_get_field(s, &name, &got, 3) < 0));
	ONE_WARNING("bt_ctf_field_type_structure_get_field",
		    CHECK(bt_ctf_field_type_structure_get_field(s, &name, &got, -1) < 0));
	ONE_WARNING("bt_ctf_field_type_structure_get_field",
		    CHECK(bt_ctf_field_type_structure_get_field(u32, &name, &got, 0) < 0));
	ONE_WARNING("bt_ctf_field_type_structure_get_field",
		    CHECK(bt_ctf_field_type_structure_get_field(NULL, &name, &got, 0) < 0));
	CHECK_EQ_STR(name, "untouched");
	CHECK_EQ_PTR(got, u8);
	got = NULL;
	ONE_WARNING("bt_ctf_field_type_structure_get_field_count",
		    CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(u8), -1));
	ONE_WARNING("bt_ctf_field_type_structure_get_field_count",
		    CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(NULL), -1));
	ONE_WARNING("bt_ctf_field_type_structure_get_field_type_by_name",
		    CHECK(bt_ctf_field_type_structure_get_field_type_by_name(u8, "id") == NULL));
	ONE_WARNING("bt_ctf_field_type_structure_get_field_type_by_name",
		    CHECK(bt_ctf_field_type_structure_get_field_type_by_name(s, NULL) == NULL));
	ONE_WARNING("bt_ctf_field_type_structure_get_field_type_by_name",
		    CHECK(bt_ctf_field_type_structure_get_field_type_by_name(NULL, "id") == NULL));
	/* add_field: duplicate name, NULL, a non-structure, itself. */
	ONE_WARNING("bt_ctf_field_type_structure_add_field",
		    CHECK(bt_ctf_field_type_structure_add_field(s, u8, "id") < 0));
	ONE_WARNING("bt_ctf_field_type_structure_add_field",
		    CHECK(bt_ctf_field_type_structure_add_field(s, u32, "id") < 0));
	ONE_WARNING("bt_ctf_field_type_structure_add_field",
		    CHECK(bt_ctf_field_type_structure_add_field(s, u8, NULL) < 0));
	ONE_WARNING("bt_ctf_field_type_structure_add_field",
		    CHECK(bt_ctf_field_type_structure_add_field(s, NULL, "x") < 0));
	ONE_WARNING("bt_ctf_field_type_structure_add_field",
		    CHECK(bt_ctf_field_type_structure_add_field(NULL, u8, "x") < 0));
	ONE_WARNING("bt_ctf_field_type_structure_add_field",
		    CHECK(bt_ctf_field_type_structure_add_field(u32, u8, "x") < 0));
	ONE_WARNING("bt_ctf_field_type_structure_add_field",
		    CHECK(bt_ctf_field_type_structure_add_field(s, s, "self") < 0));
	{
		struct bt_ctf_event_class *ec = bt_ctf_event_class_create("not a type");

		ONE_WARNING("bt_ctf_field_type_structure_add_field",
			    CHECK(bt_ctf_field_type_structure_add_field(
					  s, (struct bt_ctf_field_type *)(void *)ec, "x") < 0));
		CHECK_EQ_LONG(count(ec), 1);
		bt_put(ec);
	}
	CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(s), 3);
	CHECK_EQ_LONG(count(s), 1);
	CHECK_EQ_LONG(count(u32), 3);
	CHECK_EQ_LONG(count(u8), 2);
	CHECK_EQ_LONG(live(), start + 3);
	CHECK_OK("refused, one warning each, nothing changed: bad index, NULL, a "
		 "non-structure, a duplicate name, a structure added to itself");

	/* Containment through members: a structure never contains itself. */
	{
		struct bt_ctf_field_type *outer = bt_ctf_field_type_structure_create();
		struct bt_ctf_field_type *mid = bt_ctf_field_type_structure_create();
		struct bt_ctf_field_type *inner = s;

		CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(mid, inner, "inner"), 0);
		CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(outer, mid, "mid"), 0);
		/* The same structure twice in one and in two others is fine. */
		CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(outer, inner, "inner"), 0);
		CHECK_EQ_LONG(count(inner), 3);
		CHECK_EQ_LONG(count(mid), 2);
		ONE_WARNING("bt_ctf_field_type_structure_add_field",
			    CHECK(bt_ctf_field_type_structure_add_field(inner, mid, "up") < 0));
		ONE_WARNING("bt_ctf_field_type_structure_add_field",
			    CHECK(bt_ctf_field_type_structure_add_field(inner, outer, "up") < 0));
		ONE_WARNING("bt_ctf_field_type_structure_add_field",
			    CHECK(bt_ctf_field_type_structure_add_field(mid, outer, "up") < 0));
		CHECK_EQ_LONG(count(outer), 1);
		CHECK_EQ_LONG(count(mid), 2);
		CHECK_EQ_LONG(count(inner), 3);
		CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(inner), 3);
		CHECK_EQ_LONG(bt_ctf_field_type_structure_get_field_count(mid), 1);
		CHECK_EQ_LONG(live(), start + 5);

		/* Freed with the last holder: outer holds mid, both hold inner. */
		bt_put(mid);
		CHECK_EQ_LONG(live(), start + 5);
		bt_put(outer);
		CHECK_EQ_LONG(live(), start + 3);
		CHECK_EQ_LONG(count(inner), 1);
	}
	CHECK_OK("a structure that would contain itself through members is refused; "
		 "nested structures are freed with their last holder");

	/* The picture of a field type. */
	{
		int fd = open("/dev/null", O_WRONLY);

		CHECK(fd >= 0);
		CHECK_EQ_LONG(traceref_dump_dot(s, fd), 0);
		close(fd);
	}

	/* The structure goes first, then its members' last references. */
	bt_put(u32);
	bt_put(u8);
	CHECK_EQ_LONG(live(), start + 3);
	CHECK_EQ_LONG(count(u32), 2);
	CHECK_EQ_LONG(count(u8), 1);
	bt_put(s);
	CHECK_EQ_LONG(live(), start);
	CHECK_OK("members held only by their structure are freed with it: census back to %ld",
		 start);
}

static void payloads(void)
{
	const long start = live();
	struct bt_ctf_event_class *ec = bt_ctf_event_class_create("ec");
	struct bt_ctf_field_type *p1 = bt_ctf_field_type_structure_create();
	struct bt_ctf_field_type *p2 = bt_ctf_field_type_structure_create();
	struct bt_ctf_field_type *u16 = bt_ctf_field_type_integer_create(16);
	struct bt_ctf_field_type *got;

	CHECK(ec && p1 && p2 && u16);
	CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(p1, u16, "a"), 0);
	CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(p2, u16, "b"), 0);

	/* None yet: NULL, no warning. */
	SILENT(got = bt_ctf_event_class_get_payload_type(ec));
	CHECK(got == NULL);

	SILENT(CHECK_EQ_LONG(bt_ctf_event_class_set_payload_type(ec, p1), 0));
	CHECK_EQ_LONG(count(p1), 2);
	CHECK_EQ_LONG(count(ec), 1);
	got = bt_ctf_event_class_get_payload_type(ec);
	CHECK_EQ_PTR(got, p1);
	CHECK_EQ_LONG(count(p1), 3);
	BT_PUT(got);
	CHECK_EQ_LONG(count(p1), 2);
	/* The same again: unchanged. */
	CHECK_EQ_LONG(bt_ctf_event_class_set_payload_type(ec, p1), 0);
	CHECK_EQ_LONG(count(p1), 2);
	CHECK_OK("set_payload_type: 0, the event class holds one reference; "
		 "get_payload_type: a new reference; NULL when none was set");

	/* Replacing drops the old reference. */
	CHECK_EQ_LONG(bt_ctf_event_class_set_payload_type(ec, p2), 0);
	CHECK_EQ_LONG(count(p1), 1);
	CHECK_EQ_LONG(count(p2), 2);
	got = bt_ctf_event_class_get_payload_type(ec);
	CHECK_EQ_PTR(got, p2);
	BT_PUT(got);
	CHECK_OK("setting another payload type replaces it and drops the old reference");

	/* Refusals: a non-structure, NULL, wrong kinds. */
	ONE_WARNING("bt_ctf_event_class_set_payload_type",
		    CHECK(bt_ctf_event_class_set_payload_type(ec, u16) < 0));
	ONE_WARNING("bt_ctf_event_class_set_payload_type",
		    CHECK(bt_ctf_event_class_set_payload_type(ec, NULL) < 0));
	ONE_WARNING("bt_ctf_event_class_set_payload_type",
		    CHECK(bt_ctf_event_class_set_payload_type(NULL, p1) < 0));
	ONE_WARNING("bt_ctf_event_class_set_payload_type",
		    CHECK(bt_ctf_event_class_set_payload_type(
				  (struct bt_ctf_event_class *)(void *)p1, p2) < 0));
	ONE_WARNING("bt_ctf_event_class_get_payload_type",
		    CHECK(bt_ctf_event_class_get_payload_type(NULL) == NULL));
	ONE_WARNING("bt_ctf_event_class_get_payload_type",
		    CHECK(bt_ctf_event_class_get_payload_type(
				  (struct bt_ctf_event_class *)(void *)p2) == NULL));
	CHECK_EQ_LONG(count(p1), 1);
	CHECK_EQ_LONG(count(p2), 2);
	CHECK_EQ_LONG(count(u16), 3);
	got = bt_ctf_event_class_get_payload_type(ec);
	CHECK_EQ_PTR(got, p2);
	BT_PUT(got);
	CHECK_EQ_LONG(live(), start + 4);
	CHECK_OK("set_payload_type of an integer, of NULL, on another kind; "
		 "get_payload_type of NULL, of another kind: refused, one warning each");

	/* A lone event class is a root: putting it drops its payload reference. */
	bt_put(p1);
	CHECK_EQ_LONG(live(), start + 3);
	CHECK_EQ_LONG(count(u16), 2);
	bt_put(ec);
	CHECK_EQ_LONG(live(), start + 2);
	CHECK_EQ_LONG(count(p2), 1);
	bt_put(p2);
	CHECK_EQ_LONG(live(), start + 1);
	CHECK_EQ_LONG(count(u16), 1);
	bt_put(u16);
	CHECK_EQ_LONG(live(), start);
	CHECK_OK("a destroyed event class drops its payload reference; census back to %ld",
		 start);
}

/*
 * Payload types held only by their holders, freed with the last of them:
 * trace A { sc { e1, e2 } } and a lone event class b share p, whose member
 * is u; a second structure q is the payload of e2 only.
 */
static void destruction_order(void)
{
	const long start = live();
	struct bt_ctf_trace *a = bt_ctf_trace_create();
	struct bt_ctf_stream_class *sc = bt_ctf_stream_class_create("sc");
	struct bt_ctf_event_class *e1 = bt_ctf_event_class_create("e1");
	struct bt_ctf_event_class *e2 = bt_ctf_event_class_create("e2");
	struct bt_ctf_event_class *b = bt_ctf_event_class_create("b");
	struct bt_ctf_field_type *p = bt_ctf_field_type_structure_create();
	struct bt_ctf_field_type *q = bt_ctf_field_type_structure_create();
	struct bt_ctf_field_type *u = bt_ctf_field_type_integer_create(64);
	struct bt_ctf_field_type *got;

	CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(p, u, "value"), 0);
	CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(q, u, "value"), 0);
	CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(q, p, "nested"), 0);
	CHECK_EQ_LONG(bt_ctf_event_class_set_payload_type(e1, p), 0);
	CHECK_EQ_LONG(bt_ctf_event_class_set_payload_type(e2, q), 0);
	CHECK_EQ_LONG(bt_ctf_event_class_set_payload_type(b, p), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(sc, e1), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(sc, e2), 0);
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(a, sc), 0);
	CHECK_EQ_LONG(live(), start + 8);

	/* Only the holders keep the types now. */
	bt_put(u);
	bt_put(q);
	bt_put(p);
	CHECK_EQ_LONG(count(p), 3); /* e1, b, q */
	CHECK_EQ_LONG(count(q), 1); /* e2 */
	CHECK_EQ_LONG(count(u), 2); /* p, q */
	/* Class counts are the tree's: payload types add nothing to them. */
	bt_put(e1);
	bt_put(e2);
	bt_put(sc);
	CHECK_EQ_LONG(count(a), 1);
	CHECK_EQ_LONG(count(sc), 0);
	CHECK_EQ_LONG(count(e1), 0);
	CHECK_EQ_LONG(count(e2), 0);
	CHECK_EQ_LONG(live(), start + 8);

	/* Reached through the tree, a payload type is a new reference. */
	{
		struct bt_ctf_stream_class *s2 = bt_ctf_trace_get_stream_class(a, 0);
		struct bt_ctf_event_class *e = bt_ctf_stream_class_get_event_class(s2, 1);

		got = bt_ctf_event_class_get_payload_type(e);
		CHECK_EQ_PTR(got, q);
		CHECK_EQ_LONG(count(q), 2);
		bt_put(e);
		bt_put(s2);
		BT_PUT(got);
		CHECK_EQ_LONG(count(q), 1);
	}

	/* The tree goes: e2 drops q (freed: drops u and p), e1 drops p (b
	 * still holds it). */
	bt_put(a);
	CHECK_EQ_LONG(live(), start + 3); /* b, p, u */
	CHECK_EQ_LONG(count(p), 1);
	CHECK_EQ_LONG(count(u), 1);
	got = bt_ctf_event_class_get_payload_type(b);
	CHECK_EQ_PTR(got, p);
	BT_PUT(got);
	CHECK_OK("the tree destroyed: its payload references dropped, q freed with "
		 "its last holder (e2), p kept by b");

	/* The last holder of p, then of u. */
	bt_put(b);
	CHECK_EQ_LONG(live(), start);
	CHECK_OK("the lone event class destroyed: p, then u, freed; census back to %ld",
		 start);
}

int main(void)
{
	const long start = live();

	setenv("TRACEREF_LOG", "warn", 1);
	signatures();
	integers();
	structures();
	payloads();
	destruction_order();
	CHECK_EQ_LONG(live(), start);
	CHECK_DONE("bt_field_types");
	return 0;
}
