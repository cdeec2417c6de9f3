/*
 * The public header on its own, as strict C99 (-std=c99 -Wall -Wextra -Werror
 * -pedantic): it includes what it needs, can be included twice, and declares
 * every function with the signature of the original API (a mismatch in a
 * function pointer initialiser below is a compile error under -Werror).
 */

#include "traceref.h"
#include "traceref.h"

#include <stdio.h>

/* Compile-time checks (a negative array size fails the build). */
typedef char bt_object_is_64_bytes[sizeof(struct bt_object) == 64 ? 1 : -1];
typedef char traceref_object_is_128_bytes[sizeof(struct traceref_object) == 128 ? 1 : -1];
typedef char traceref_mutex_is_32_bytes[sizeof(struct traceref_mutex) == 32 ? 1 : -1];

/* The objects of C kinds, with the exact signatures. */
struct c_kinds_api {
	int (*init)(struct traceref_object *, const struct traceref_kind *);
	bool (*get)(struct traceref_object *);
	void (*put)(struct traceref_object *);
	long (*count)(const struct traceref_object *);
	int (*close)(struct traceref_object *);
	int (*set_container)(struct traceref_object *, struct traceref_object *);
	struct traceref_table *(*create)(void);
	int (*destroy)(struct traceref_table *);
	struct traceref_object *(*add)(struct traceref_table *, uint64_t, struct traceref_object *);
	struct traceref_object *(*add_str)(struct traceref_table *, const char *,
					   struct traceref_object *);
	struct traceref_object *(*lookup)(struct traceref_table *, uint64_t);
	struct traceref_object *(*lookup_str)(struct traceref_table *, const char *);
	int (*remove)(struct traceref_table *, struct traceref_object *);
	int (*for_each)(struct traceref_table *,
			int (*)(struct traceref_object *, void *), void *);
};

static const struct c_kinds_api c_kinds_api = {
	traceref_object_init, traceref_object_get, traceref_object_put,
	traceref_object_get_ref_count, traceref_object_close,
	traceref_object_set_container, traceref_table_create,
	traceref_table_destroy, traceref_table_add_unique,
	traceref_table_add_unique_str, traceref_table_get,
	traceref_table_get_str, traceref_table_remove, traceref_table_for_each,
};

struct kind_user {
	int x;
	struct traceref_object obj;
};

int main(void)
{
	void *(*get)(void *) = bt_get;
	void (*put)(void *) = bt_put;
	long (*ref_count)(const void *) = bt_object_get_ref_count;
	void (*init)(void *, bt_object_release_func) = bt_object_init;
	void (*set_parent)(void *, void *) = bt_object_set_parent;
	struct bt_object *(*get_parent)(void *) = bt_object_get_parent;
	struct bt_ctf_trace *(*trace_create)(void) = bt_ctf_trace_create;
	struct bt_ctf_stream_class *(*sc_create)(const char *) = bt_ctf_stream_class_create;
	struct bt_ctf_event_class *(*ec_create)(const char *) = bt_ctf_event_class_create;
	int (*add_sc)(struct bt_ctf_trace *, struct bt_ctf_stream_class *) =
		bt_ctf_trace_add_stream_class;
	int (*add_ec)(struct bt_ctf_stream_class *, struct bt_ctf_event_class *) =
		bt_ctf_stream_class_add_event_class;
	int (*sc_count)(struct bt_ctf_trace *) = bt_ctf_trace_get_stream_class_count;
	struct bt_ctf_stream_class *(*sc_at)(struct bt_ctf_trace *, int) =
		bt_ctf_trace_get_stream_class;
	int (*ec_count)(struct bt_ctf_stream_class *) =
		bt_ctf_stream_class_get_event_class_count;
	struct bt_ctf_event_class *(*ec_at)(struct bt_ctf_stream_class *, int) =
		bt_ctf_stream_class_get_event_class;
	struct bt_ctf_trace *(*sc_trace)(struct bt_ctf_stream_class *) =
		bt_ctf_stream_class_get_trace;
	struct bt_ctf_stream_class *(*ec_sc)(struct bt_ctf_event_class *) =
		bt_ctf_event_class_get_stream_class;
	const char *(*sc_name)(struct bt_ctf_stream_class *) = bt_ctf_stream_class_get_name;
	const char *(*ec_name)(struct bt_ctf_event_class *) = bt_ctf_event_class_get_name;
	void (*trace_get)(struct bt_ctf_trace *) = bt_ctf_trace_get;
	void (*trace_put)(struct bt_ctf_trace *) = bt_ctf_trace_put;
	void (*sc_get)(struct bt_ctf_stream_class *) = bt_ctf_stream_class_get;
	void (*sc_put)(struct bt_ctf_stream_class *) = bt_ctf_stream_class_put;
	void (*ec_get)(struct bt_ctf_event_class *) = bt_ctf_event_class_get;
	void (*ec_put)(struct bt_ctf_event_class *) = bt_ctf_event_class_put;
	size_t (*live)(void) = traceref_live_objects;
	void *p = NULL;
	int all = get && put && ref_count && init && set_parent && get_parent &&
		  trace_create && sc_create && ec_create && add_sc && add_ec &&
		  sc_count && sc_at && ec_count && ec_at && sc_trace && ec_sc &&
		  sc_name && ec_name && trace_get && trace_put && sc_get &&
		  sc_put && ec_get && ec_put && live && c_kinds_api.for_each &&
		  c_kinds_api.init;
	struct kind_user ku;

	if (TRACEREF_CONTAINER_OF(&ku.obj, struct kind_user, obj) != &ku)
		return 1;

	/* The macros expand to valid statements (bt_put(NULL) does nothing). */
	BT_PUT(p);
	BT_MOVE(p, p);
	if (!all || p != NULL)
		return 1;
	printf("ok: traceref.h compiles alone as C99 (-Wall -Wextra -Werror -pedantic), "
	       "twice included, with the original API's signatures\n");
	return 0;
}
