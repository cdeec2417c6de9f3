/*
 * The public header on its own, as C++ (-std=c++11 -Wall -Wextra -Werror
 * -pedantic): extern "C" linkage, no C-only constructs, the macros usable.
 */

#include "traceref.h"
#include "traceref.h"

#include <cstdio>

static_assert(sizeof(struct bt_object) == 64, "struct bt_object is 64 bytes");

extern "C" {
static void release_noop(struct bt_object *) {}
}

int main()
{
	void *(*get)(void *) = bt_get;
	void (*put)(void *) = bt_put;
	long (*ref_count)(const void *) = bt_object_get_ref_count;
	bt_object_release_func release = release_noop;
	struct bt_ctf_stream_class *(*sc_at)(struct bt_ctf_trace *, int) =
		bt_ctf_trace_get_stream_class;
	int (*add_ec)(struct bt_ctf_stream_class *, struct bt_ctf_event_class *) =
		bt_ctf_stream_class_add_event_class;
	size_t (*live)(void) = traceref_live_objects;
	struct bt_ctf_trace *tc = nullptr;
	struct bt_ctf_trace *other = nullptr;

	/* The macros take typed pointers in C++ too. */
	BT_PUT(tc);
	BT_MOVE(tc, other);
	bool all = get && put && ref_count && release && sc_at && add_ec && live;
	if (!all || tc != nullptr || other != nullptr)
		return 1;
	std::printf("ok: traceref.h compiles alone as C++11 (-Wall -Wextra -Werror -pedantic)\n");
	return 0;
}
