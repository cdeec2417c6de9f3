/*
 * The workloads' shared state, and the entry points of the baselines. Each
 * workload case has one context that the library's body and the baselines'
 * bodies read; the per-thread slots are indexed by worker index.
 */

#ifndef BENCH_WORKLOADS_H
#define BENCH_WORKLOADS_H

#include <stdbool.h>
#include <stdint.h>

#include "harness.h"

#define BENCH_MAX_THREADS 256

/* Names every implementation stores in its objects (same lengths, so the
 * same allocation sizes). */
#define BENCH_SESSION_NAME "bench-session"
#define BENCH_HOSTNAME "bench-host"
#define BENCH_TRACE_PATH "bench-host/bench-session/ust/uid/1000/64-bit"
#define BENCH_STREAM_PATH "bench-host/bench-session/ust/uid/1000/64-bit"
#define BENCH_CHANNEL "channel0_0"

/* Workload 1: one object per worker (child of a root), so that threads do
 * not share a counter. */
struct w1_ctx {
	bool transition;        /* child count 0: every get/put is 0->1->0 */
	void *root[BENCH_MAX_THREADS];
	void *child[BENCH_MAX_THREADS];
};

/* Workloads 2, 3 and 6: lookups of ids first .. first+count-1. */
struct lookup_ctx {
	uint64_t first;
	uint64_t count;
	int batch;              /* 0: one lookup per section; n: n per section */
	void *table;            /* workload 6, C kind: its struct traceref_table;
				 * workload 2, the maps: the map */
	bool split;             /* workload 2 with --split: each worker looks up
				 * only its own share of the ids (profiling) */
};

/* The ids worker `w` draws from: all of c's, or with c->split its own
 * share (worker i of n: the i-th n-th). */
static inline void lookup_range(const struct lookup_ctx *c, const struct worker *w,
				uint64_t *first, uint64_t *count)
{
	*first = c->first;
	*count = c->count;
	if (c->split && w->nthreads > 1 && c->count >= (uint64_t)w->nthreads) {
		*count = c->count / (uint64_t)w->nthreads;
		*first += (uint64_t)w->index * *count;
	}
}

/* Workload 4: per worker, a session and a trace (made once), and the next
 * stream handle to use (unique across runs). */
struct churn_ctx {
	void *session[BENCH_MAX_THREADS];
	void *trace[BENCH_MAX_THREADS];
	uint64_t next_handle[BENCH_MAX_THREADS];
};

/* Memory measurement of workload 5: bytes resident and bytes allocated. */
struct mem_usage {
	long long rss;
	long long heap;
};
struct mem_usage mem_now(void);

/* ---- The library through the header's inline paths (bt_inline.c) ---- */

void lib_inline_w1_body(struct worker *w);
int lib_inline_enabled(void);

/* ---- Babeltrace baselines (baseline_bt.c) ---- */

void cbt_setup(struct w1_ctx *c, int threads);
void cbt_teardown(struct w1_ctx *c, int threads);
void cbt_body(struct worker *w);
void abt_setup(struct w1_ctx *c, int threads);
void abt_teardown(struct w1_ctx *c, int threads);
void abt_body(struct worker *w);
void fbt_body(struct worker *w);        /* atomic objects, through a .so */

/* ---- liburcu relay-daemon baseline (baseline_urcu.c) ---- */

void rb_init(void);
void rb_thread_init(void);
void rb_thread_fini(void);
void rb_barrier(void *unused);
int rb_has_sys_membarrier(void);

/* Tables sized for `count` objects (initial size: next power of two). */
void rb_tables_create(uint64_t sessions, uint64_t streams);
void rb_tables_destroy(void);

struct rb_session;
struct rb_trace;
struct rb_stream;

struct rb_session *rb_session_create(const char *name, const char *hostname,
				     uint32_t live_timer, bool snapshot,
				     uint32_t major, uint32_t minor);
uint64_t rb_session_id(const struct rb_session *s);
struct rb_session *rb_session_get_by_id(uint64_t id);
void rb_session_put(struct rb_session *s);
int rb_session_close(struct rb_session *s);

struct rb_trace *rb_trace_get_by_path_or_create(struct rb_session *s,
						const char *path);
void rb_trace_put(struct rb_trace *t);

struct rb_stream *rb_stream_create(struct rb_trace *t, uint64_t handle,
				   const char *path_name,
				   const char *channel_name,
				   uint64_t tracefile_size,
				   uint64_t tracefile_count);
struct rb_stream *rb_stream_get_by_id(uint64_t handle);
void rb_stream_put(struct rb_stream *s);
int rb_stream_publish(struct rb_stream *s);
int rb_stream_close(struct rb_stream *s);

void rb_session_lookup_body(struct worker *w);
void rb_stream_lookup_body(struct worker *w);
void rb_churn_body(struct worker *w);

/* Workload 5 in a child process: create `n` live objects of `kind`
 * ("sessions" or "streams") and return the growth of memory use. */
struct mem_usage rb_memory(const char *kind, uint64_t n);

#endif /* BENCH_WORKLOADS_H */
