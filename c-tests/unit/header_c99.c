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
		  sc_put && ec_get && ec_put && live;

	/* The macros expand to valid statements (bt_put(NULL) does nothing). */
	BT_PUT(p);
	BT_MOVE(p, p);
	if (!all || p != NULL)
		return 1;
	printf("ok: traceref.h compiles alone as C99 (-Wall -Wextra -Werror -pedantic), "
	       "twice included, with the original API's signatures\n");
	return 0;
}
