/*
 * Workload 1 through the header's inline fast paths: this translation unit
 * alone is compiled with TRACEREF_INLINE defined, so bt_get() and bt_put()
 * below are the header's static inline steady-case paths, which call the
 * library for everything else (a 0->1 or 1->0 transition, NULL, ...). The
 * objects are the same library objects as the traceref column's
 * (lib_w1_setup() in bench.c).
 */

#ifndef TRACEREF_INLINE
#error "compile bt_inline.c with -DTRACEREF_INLINE (bench/CMakeLists.txt does)"
#endif
#include <traceref.h>

#include "harness.h"
#include "workloads.h"

#ifndef TRACEREF_H_TRAILER
#error "traceref.h has no inline fast paths (TRACEREF_H_TRAILER)"
#endif

void lib_inline_w1_body(struct worker *w)
{
	const struct w1_ctx *c = w->ctx;
	void *obj = c->child[w->index];

	for (uint64_t i = 0; i < w->iters; i++) {
		bt_get(obj);
		BENCH_OPAQUE(obj);
		bt_put(obj);
		BENCH_OPAQUE(obj);
	}
}

/* Whether the library lets the inline paths work (0 under TRACEREF_TRACK=1
 * or TRACEREF_LOG=debug: every call then reaches the library). */
int lib_inline_enabled(void)
{
	return traceref_bt_inline_enabled;
}
