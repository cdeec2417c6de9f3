/*
 * Wrong input to the functions of C kinds and their tables, each answered
 * as the header documents, changing nothing: NULL for every pointer
 * argument of every function (in the header's order), pointers of the
 * wrong kind (a relay object, a table for an object and the reverse, a
 * zeroed struct never initialised), keys that name nothing. Every call here
 * is a misuse on purpose: diagnostics are turned off.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traceref.h"
#include "check.h"

struct thing {
	struct traceref_object obj;
};

static void thing_free(struct traceref_object *obj)
{
	free(TRACEREF_CONTAINER_OF(obj, struct thing, obj));
}

static const struct traceref_kind thing_kind = { "thing", NULL, thing_free };

static int visit(struct traceref_object *obj, void *data)
{
	(void)obj;
	if (data)
		++*(int *)data;
	return 0;
}

int main(void)
{
	size_t live;
	struct thing *t = malloc(sizeof(*t));
	struct traceref_object *zero = calloc(1, sizeof(*zero));
	struct traceref_table *table = traceref_table_create();
	struct relay_session *s = relay_session_create("s", "h", 0, false, 2, 11);
	struct traceref_object *wrong_obj = (struct traceref_object *)s;
	struct traceref_table *wrong_table = (struct traceref_table *)s;
	int n = 0;

	CHECK(t && zero && table && s);
	CHECK_EQ_LONG(traceref_object_init(&t->obj, &thing_kind), 0);
	CHECK(traceref_table_add_unique(table, 1, &t->obj) == &t->obj);
	live = settled_live_objects();

	/* NULL, one pointer parameter at a time. */
	CHECK_EQ_LONG(traceref_object_init(NULL, &thing_kind), -1);
	CHECK_EQ_LONG(traceref_object_init(zero, NULL), -1);
	CHECK(!traceref_object_get(NULL));
	traceref_object_put(NULL);
	CHECK_EQ_LONG(traceref_object_get_ref_count(NULL), -1);
	CHECK_EQ_LONG(traceref_object_close(NULL), -1);
	CHECK_EQ_LONG(traceref_object_set_container(NULL, &t->obj), -1);
	CHECK_EQ_LONG(traceref_object_set_container(&t->obj, NULL), -1);
	CHECK_EQ_LONG(traceref_table_destroy(NULL), -1);
	CHECK(traceref_table_add_unique(NULL, 2, &t->obj) == NULL);
	CHECK(traceref_table_add_unique(table, 2, NULL) == NULL);
	CHECK(traceref_table_add_unique_str(NULL, "k", &t->obj) == NULL);
	CHECK(traceref_table_add_unique_str(table, NULL, &t->obj) == NULL);
	CHECK(traceref_table_add_unique_str(table, "k", NULL) == NULL);
	CHECK(traceref_table_get(NULL, 1) == NULL);
	CHECK(traceref_table_get_str(NULL, "k") == NULL);
	CHECK(traceref_table_get_str(table, NULL) == NULL);
	CHECK_EQ_LONG(traceref_table_remove(NULL, &t->obj), -1);
	CHECK_EQ_LONG(traceref_table_remove(table, NULL), -1);
	CHECK_EQ_LONG(traceref_table_for_each(NULL, visit, &n), -1);
	CHECK_EQ_LONG(traceref_table_for_each(table, NULL, &n), -1);
	CHECK_EQ_LONG(traceref_table_for_each(table, visit, NULL), 1);
	CHECK_EQ_LONG(traceref_mutex_init(NULL, "m", 1), -1);
	CHECK_EQ_LONG(traceref_mutex_lock(NULL), -1);
	CHECK_EQ_LONG(traceref_mutex_unlock(NULL), -1);
	CHECK_EQ_LONG(traceref_mutex_destroy(NULL), -1);
	{
		/* A NULL name is allowed. */
		struct traceref_mutex m;

		CHECK_EQ_LONG(traceref_mutex_init(&m, NULL, 1), 0);
		CHECK_EQ_LONG(traceref_mutex_lock(&m), 0);
		CHECK_EQ_LONG(traceref_mutex_unlock(&m), 0);
		CHECK_EQ_LONG(traceref_mutex_destroy(&m), 0);
		/* Wrong kinds: a zeroed struct, an object, a relay session. */
		memset(&m, 0, sizeof(m));
		CHECK_EQ_LONG(traceref_mutex_lock(&m), -1);
		CHECK_EQ_LONG(traceref_mutex_unlock((struct traceref_mutex *)&t->obj), -1);
		CHECK_EQ_LONG(traceref_mutex_destroy((struct traceref_mutex *)s), -1);
	}
	CHECK_OK("NULL for every pointer parameter");

	/* Wrong kinds: a relay session, and a zeroed struct never initialised. */
	CHECK(!traceref_object_get(wrong_obj));
	CHECK(!traceref_object_get(zero));
	traceref_object_put(wrong_obj);
	traceref_object_put(zero);
	CHECK_EQ_LONG(traceref_object_get_ref_count(wrong_obj), -1);
	CHECK_EQ_LONG(traceref_object_close(wrong_obj), -1);
	CHECK_EQ_LONG(traceref_object_close(zero), -1);
	CHECK_EQ_LONG(traceref_object_set_container(wrong_obj, &t->obj), -1);
	CHECK_EQ_LONG(traceref_object_set_container(&t->obj, zero), -1);
	CHECK_EQ_LONG(traceref_table_destroy(wrong_table), -1);
	CHECK_EQ_LONG(traceref_table_destroy((struct traceref_table *)&t->obj), -1);
	CHECK(traceref_table_add_unique(wrong_table, 2, &t->obj) == NULL);
	CHECK(traceref_table_add_unique(table, 2, wrong_obj) == NULL);
	CHECK(traceref_table_add_unique(table, 2, zero) == NULL);
	CHECK(traceref_table_add_unique(table, 2, (struct traceref_object *)table) == NULL);
	/* Already in the table under another key. */
	CHECK(traceref_table_add_unique(table, 2, &t->obj) == NULL);
	CHECK(traceref_table_add_unique_str(wrong_table, "k", &t->obj) == NULL);
	CHECK(traceref_table_add_unique_str(table, "k", wrong_obj) == NULL);
	CHECK(traceref_table_get(wrong_table, 1) == NULL);
	CHECK(traceref_table_get((struct traceref_table *)&t->obj, 1) == NULL);
	CHECK(traceref_table_get(table, 2) == NULL);
	CHECK(traceref_table_get_str(wrong_table, "k") == NULL);
	CHECK(traceref_table_get_str(table, "k") == NULL);
	CHECK_EQ_LONG(traceref_table_remove(wrong_table, &t->obj), -1);
	CHECK_EQ_LONG(traceref_table_remove(table, wrong_obj), -1);
	CHECK_EQ_LONG(traceref_table_for_each(wrong_table, visit, &n), -1);
	CHECK_EQ_LONG(relay_session_get_ref_count((struct relay_session *)&t->obj), -1);
	CHECK_OK("pointers of the wrong kind");

	/* Nothing changed. */
	CHECK_EQ_LONG(traceref_object_get_ref_count(&t->obj), 1);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 1);
	CHECK_EQ_LONG(traceref_live_objects(), live);
	n = 0;
	CHECK_EQ_LONG(traceref_table_for_each(table, visit, &n), 1);
	CHECK_EQ_LONG(n, 1);

	CHECK_EQ_LONG(traceref_object_close(&t->obj), 0);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(traceref_table_destroy(table), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	free(zero);
	CHECK_DONE("c_kinds_bad_input");
	return 0;
}
