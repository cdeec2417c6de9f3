/*
 * traceref benchmark: the library, through its public header, side by side
 * with the C code it replaces.
 *
 *   1. bt_get + bt_put on a child (steady, and the 0->1->0 transition) vs
 *      Babeltrace's counters, plain and C11 atomic (baseline_bt.c), and the
 *      atomic ones behind a shared library, the floor of any .so (floor_bt.c);
 *   2. relay_session_get_by_id + relay_session_put vs the relay daemon's
 *      pattern on liburcu (baseline_urcu.c): one hot object, random ids;
 *   3. the same on streams, one lookup per read-side section or 16;
 *   4. churn: create, publish, look up, close, final put, until reclaimed;
 *   5. memory: resident bytes per live session and per live stream, each
 *      measured in a child process of its own; then, settled, per session
 *      embedded in the bench's own struct and per object of a C kind,
 *      beside the library's own sessions;
 *   6. lookups of sessions embedded in the bench's own struct
 *      (relay_session_init) and of objects of a C kind in a traceref_table,
 *      beside the library's own sessions (relay_session_create) and liburcu.
 *
 *   7. reference tracking: bt_get + bt_put and session lookups in processes
 *      of their own (bench-remote, remote.c) started with TRACEREF_TRACK
 *      unset and with TRACEREF_TRACK=1, beside this process.
 *
 * Workload 1 also runs the library through the header's inline fast paths
 * (bt_inline.c, compiled with TRACEREF_INLINE); workloads 2 and 5 also run
 * two crates.io maps used as the library uses its table (bench/rust-maps).
 *
 * Usage: bench [--smoke] [--only=1,2,...] [--rounds=N] [--run-ms=MS]
 *              [--iters=N] [--threads=LIST] [--sizes=LIST] [--ckind-max=N]
 *              [--split] [--before-lib=DIR]
 */

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <traceref.h>

#include "harness.h"
#include "rust_maps.h"
#include "workloads.h"

/* ------------------------------------------------------------------------ */
/* Memory use of this process.                                              */

struct mem_usage mem_now(void)
{
	struct mem_usage m = { 0, 0 };
	struct mallinfo2 mi = mallinfo2();
	long long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lld %lld", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	m.rss = resident * sysconf(_SC_PAGESIZE);
	m.heap = (long long)mi.uordblks + (long long)mi.hblkhd;
	return m;
}

/* ------------------------------------------------------------------------ */
/* Workload 1 through the library.                                          */

struct lib_node {
	struct bt_object base;  /* first member: the library's header */
};

static void lib_node_release(struct bt_object *obj)
{
	free(obj);
}

static struct lib_node *lib_node_new(void)
{
	void *p = NULL;

	if (posix_memalign(&p, 128, 128))
		die("out of memory");
	bt_object_init(p, lib_node_release);
	return p;
}

static void lib_w1_setup(struct w1_ctx *c, int threads)
{
	for (int i = 0; i < threads; i++) {
		struct lib_node *root = lib_node_new(), *child = lib_node_new();

		bt_object_set_parent(child, root);      /* root: 2 */
		if (c->transition)
			bt_put(child);                  /* child 0, root 1 */
		c->root[i] = root;
		c->child[i] = child;
	}
}

static void lib_w1_teardown(struct w1_ctx *c, int threads)
{
	for (int i = 0; i < threads; i++) {
		if (!c->transition)
			bt_put(c->child[i]);
		bt_put(c->root[i]);             /* destroys root and child */
	}
}

static void lib_w1_body(struct worker *w)
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

/* ------------------------------------------------------------------------ */
/* Objects in the bench's own memory (workloads 5 and 6).                   */

/*
 * A session embedded in the bench's own struct: the library's part first,
 * then fields of the bench's own, as the daemon keeps its socket and flags
 * beside its session (relay_session_init; the library touches none of them).
 */
struct relay_session {
	struct relay_session_base base;
	uint64_t cookie;
	int32_t sock;
	uint32_t flags;
};
TRACEREF_ASSERT_FIRST(struct relay_session, base);

static void emb_session_free(struct relay_session *s)
{
	free(s);
}

/* The struct of an embedded session, own fields set, not yet initialised. */
static struct relay_session *emb_session_alloc(uint64_t cookie)
{
	struct relay_session *s = malloc(sizeof(*s));

	if (!s)
		die("out of memory");
	s->cookie = cookie;
	s->sock = -1;
	s->flags = 0;
	return s;
}

/* The same fields as a payload of a created session (the fair row of
 * workload 5: the embedded struct carries them). */
struct emb_fields {
	uint64_t cookie;
	int32_t sock;
	uint32_t flags;
};

static struct emb_fields *emb_fields_alloc(uint64_t cookie)
{
	struct emb_fields *f = malloc(sizeof(*f));

	if (!f)
		die("out of memory");
	f->cookie = cookie;
	f->sock = -1;
	f->flags = 0;
	return f;
}

static void emb_fields_free(void *data)
{
	free(data);
}

static void emb_session_init(struct relay_session *s)
{
	if (relay_session_init(s, emb_session_free, BENCH_SESSION_NAME, BENCH_HOSTNAME,
			       0, false, 2, 11))
		die("relay_session_init failed");
}

/*
 * A kind of the bench's own, carrying what a session carries for its
 * owner: an id, a copy of the name and of the hostname, the live timer, the
 * protocol version and three flags.
 */
struct bench_obj {
	struct traceref_object obj;
	uint64_t id;
	char *name;
	char *hostname;
	uint32_t live_timer, major, minor;
	bool snapshot, closed, aborted;
};

static void bench_obj_free(struct traceref_object *o)
{
	struct bench_obj *b = TRACEREF_CONTAINER_OF(o, struct bench_obj, obj);

	free(b->name);
	free(b->hostname);
	free(b);
}

static const struct traceref_kind bench_kind = {
	.name = "bench object",
	.release = NULL,
	.free = bench_obj_free,
};

/* An object of the bench's kind, its own fields set, not yet initialised;
 * `strings`: with its copies of the names (false: none). */
static struct bench_obj *bench_obj_alloc(uint64_t id, bool strings)
{
	struct bench_obj *b = malloc(sizeof(*b));

	if (!b)
		die("out of memory");
	b->id = id;
	b->name = strings ? strdup(BENCH_SESSION_NAME) : NULL;
	b->hostname = strings ? strdup(BENCH_HOSTNAME) : NULL;
	if (strings && (!b->name || !b->hostname))
		die("out of memory");
	b->live_timer = 0;
	b->major = 2;
	b->minor = 11;
	b->snapshot = b->closed = b->aborted = false;
	return b;
}

/* Initialise `b` and add it to `t` under its id. */
static void bench_obj_add(struct traceref_table *t, struct bench_obj *b)
{
	if (traceref_object_init(&b->obj, &bench_kind) ||
	    traceref_table_add_unique(t, b->id, &b->obj) != &b->obj)
		die("adding an object of the bench's kind failed");
}

static void lib_barrier(void *unused);

/*
 * Reclaim what waits for a grace period, and what one barrier leaves: a
 * table of a C kind replaced on every add frees its old copies through the
 * epoch collector, and those that the adding thread has not handed to the
 * collector yet wait for its next retirement, not for a barrier. So: retire
 * one object of the bench's kind, barrier, until the heap stops changing.
 */
static void settle(void)
{
	long long heap = -1;

	for (int i = 0; i < 20; i++) {
		struct bench_obj *b = bench_obj_alloc(0, false);
		long long now;

		if (traceref_object_init(&b->obj, &bench_kind))
			die("traceref_object_init failed");
		traceref_object_close(&b->obj);
		lib_barrier(NULL);
		now = mem_now().heap;
		if (now == heap)
			return;
		heap = now;
	}
}

/* ------------------------------------------------------------------------ */
/* Workloads 2 to 4 through the library.                                    */

static void lib_session_lookup_body(struct worker *w)
{
	const struct lookup_ctx *c = w->ctx;
	uint64_t seed = w->seed, miss = 0, first, count;

	lookup_range(c, w, &first, &count);
	for (uint64_t i = 0; i < w->iters; i++) {
		uint64_t id = first + rng_below(&seed, count);
		struct relay_session *s = relay_session_get_by_id(id);

		if (!s) {
			miss++;
			continue;
		}
		relay_session_put(s);
	}
	w->misses = miss;
}

static void lib_cobj_lookup_body(struct worker *w)
{
	const struct lookup_ctx *c = w->ctx;
	struct traceref_table *t = c->table;
	uint64_t seed = w->seed, miss = 0;

	for (uint64_t i = 0; i < w->iters; i++) {
		uint64_t key = c->first + rng_below(&seed, c->count);
		struct traceref_object *o = traceref_table_get(t, key);

		if (!o) {
			miss++;
			continue;
		}
		traceref_object_put(o);
	}
	w->misses = miss;
}

static void lib_stream_lookup_body(struct worker *w)
{
	const struct lookup_ctx *c = w->ctx;
	uint64_t seed = w->seed, miss = 0;

	if (!c->batch) {
		for (uint64_t i = 0; i < w->iters; i++) {
			uint64_t h = c->first + rng_below(&seed, c->count);
			struct relay_stream *st = relay_stream_get_by_id(h);

			if (!st) {
				miss++;
				continue;
			}
			relay_stream_put(st);
		}
	} else {
		for (uint64_t i = 0; i < w->iters; i += (uint64_t)c->batch) {
			uint64_t left = w->iters - i;
			uint64_t n = left < (uint64_t)c->batch ? left : (uint64_t)c->batch;

			traceref_read_lock();
			for (uint64_t j = 0; j < n; j++) {
				uint64_t h = c->first + rng_below(&seed, c->count);
				struct relay_stream *st = relay_stream_get_by_id(h);

				if (!st) {
					miss++;
					continue;
				}
				relay_stream_put(st);
			}
			traceref_read_unlock();
		}
	}
	w->misses = miss;
}

static void lib_churn_body(struct worker *w)
{
	struct churn_ctx *c = w->ctx;
	struct ctf_trace *t = c->trace[w->index];
	uint64_t h = c->next_handle[w->index], miss = 0;

	for (uint64_t i = 0; i < w->iters; i++, h++) {
		struct relay_stream *st, *found;

		st = relay_stream_create(t, h, BENCH_STREAM_PATH, BENCH_CHANNEL, 0, 0);
		if (!st) {
			miss++;
			continue;
		}
		relay_stream_publish(st);
		found = relay_stream_get_by_id(h);
		if (found != st)
			miss++;
		relay_stream_close(st);
		relay_stream_put(found);
	}
	c->next_handle[w->index] = h;
	w->misses = miss;
}

static void lib_barrier(void *unused)
{
	(void)unused;
	if (traceref_reclaim_barrier())
		die("traceref_reclaim_barrier failed");
}

/* ------------------------------------------------------------------------ */
/* Workload 2 through two crates.io maps (bench/rust-maps).                 */

/*
 * An object of the maps' columns: the size of the library's session
 * (struct relay_session_base, 160 bytes), its count first (read by the
 * crate: rm_*_get() takes a reference unless it is zero, rm_obj_put()
 * drops it), its id, and copies of the names, as a session has.
 */
struct map_obj {
	uint32_t count;         /* 1 = one reference; the crate's atomics */
	uint32_t flags;
	uint64_t id;
	char *name;
	char *hostname;
	uint32_t live_timer, major, minor;
	bool snapshot, closed, aborted;
	char rest[160 - 48];
};
_Static_assert(sizeof(struct map_obj) == 160, "a map object has the size of a session");

static struct map_obj *map_obj_new(uint64_t id)
{
	struct map_obj *o = calloc(1, sizeof(*o));

	if (!o)
		die("out of memory");
	o->count = 1;
	o->id = id;
	o->name = strdup(BENCH_SESSION_NAME);
	o->hostname = strdup(BENCH_HOSTNAME);
	if (!o->name || !o->hostname)
		die("out of memory");
	o->major = 2;
	o->minor = 11;
	return o;
}

static void map_obj_free(struct map_obj *o)
{
	free(o->name);
	free(o->hostname);
	free(o);
}

static void scc_lookup_body(struct worker *w)
{
	const struct lookup_ctx *c = w->ctx;
	struct rm_scc *m = c->table;
	uint64_t seed = w->seed, miss = 0, first, count;

	lookup_range(c, w, &first, &count);
	for (uint64_t i = 0; i < w->iters; i++) {
		void *o = rm_scc_get(m, first + rng_below(&seed, count));

		if (!o) {
			miss++;
			continue;
		}
		rm_obj_put(o);
	}
	w->misses = miss;
}

static void papaya_lookup_body(struct worker *w)
{
	const struct lookup_ctx *c = w->ctx;
	struct rm_papaya *m = c->table;
	uint64_t seed = w->seed, miss = 0, first, count;

	lookup_range(c, w, &first, &count);
	for (uint64_t i = 0; i < w->iters; i++) {
		void *o = rm_papaya_get(m, first + rng_below(&seed, count));

		if (!o) {
			miss++;
			continue;
		}
		rm_obj_put(o);
	}
	w->misses = miss;
}

/* ------------------------------------------------------------------------ */
/* Workload 1.                                                              */

static void workload1(void)
{
	static const struct table t = {
		.title = "Workload 1: bt_get + bt_put on a child (one object tree per thread)",
		.nimpl = 4,
		.impl_names = { "traceref", "C plain", "C atomic", "C atomic .so" },
		.ratio_names = { "", "vs plain", "vs atomic", "vs .so" },
		.target_base = 2,
		.has_objects = false,
	};
	/* The same runs, the library through the header's inline paths. */
	static const struct table ti = {
		.title = "Workload 1, inline: the same runs, with the header's inline fast paths "
			 "(a translation unit compiled with\n-DTRACEREF_INLINE) beside the library's "
			 "functions and the inline C atomic counter",
		.nimpl = 4,
		.impl_names = { "traceref inline", "traceref", "C atomic", "C atomic .so" },
		.ratio_names = { "", "vs traceref", "vs atomic", "vs .so" },
		.target_base = 2,
		.has_objects = false,
	};
	struct row rows[8];
	int nrows = 0;

	if (!lib_inline_enabled())
		fprintf(stderr, "bench: note: traceref_bt_inline_enabled is 0 (TRACEREF_TRACK=1 or "
			"TRACEREF_LOG=debug): the inline column calls the library\n");
	table_begin(&t);
	for (int tr = 0; tr < 2; tr++) {
		for (int ti_ = 0; ti_ < cfg.nthreads; ti_++) {
			int threads = cfg.threads[ti_];
			struct w1_ctx lib = { .transition = tr }, plain = lib, atom = lib, so = lib, inl = lib;
			struct impl impls[5] = {
				{ .name = "traceref", .body = lib_w1_body, .ctx = &lib },
				{ .name = "C plain", .body = cbt_body, .ctx = &plain },
				{ .name = "C atomic", .body = abt_body, .ctx = &atom },
				{ .name = "C atomic .so", .body = fbt_body, .ctx = &so },
				{ .name = "traceref inline", .body = lib_inline_w1_body, .ctx = &inl },
			};
			struct row row = {
				.label = tr ? "0->1->0 (takes the parent)" : "steady (count stays >= 1)",
				.threads = threads,
				.limit = 1.30,
			};
			struct row *ri = &rows[nrows++];

			progress("workload 1, %s, %d thread(s)", row.label, threads);
			lib_w1_setup(&lib, threads);
			lib_w1_setup(&inl, threads);
			cbt_setup(&plain, threads);
			abt_setup(&atom, threads);
			abt_setup(&so, threads);
			measure(impls, 5, threads, row.r);
			lib_w1_teardown(&lib, threads);
			lib_w1_teardown(&inl, threads);
			cbt_teardown(&plain, threads);
			abt_teardown(&atom, threads);
			abt_teardown(&so, threads);
			table_row(&t, &row);
			for (int k = 0; k < 5; k++)
				tally(row.r[k].ok, "workload 1");
			/* Targets of the inline paths: the steady pair at most
			 * 1.3 times the inline counter, 0->1->0 at most 1.0. */
			*ri = (struct row){
				.label = row.label,
				.threads = threads,
				.limit = tr ? 1.00 : 1.30,
				.r = { row.r[4], row.r[0], row.r[2], row.r[3] },
			};
		}
	}
	table_end();
	table_begin(&ti);
	for (int i = 0; i < nrows; i++)
		table_row(&ti, &rows[i]);
	table_end();
}

/* ------------------------------------------------------------------------ */
/* Workloads 2 and 3: populate, look up, tear down.                         */

static double lookup_limit(uint64_t objects)
{
	return objects >= 100000 ? 0.77 : 1.00;
}

static void workload2(void)
{
	static const struct table t = {
		.title = "Workload 2: relay_session_get_by_id + relay_session_put vs liburcu (cds_lfht + urcu_ref),\n"
			 "and vs two crates.io maps used the same way (scc HashIndex, papaya HashMap: guard, "
			 "lookup,\nget-unless-zero on the object's count; put)",
		.nimpl = 4,
		.impl_names = { "traceref", "liburcu", "scc", "papaya" },
		.ratio_names = { "", "ratio", "vs scc", "vs papaya" },
		.target_base = 1,
		.has_objects = true,
	};

	table_begin(&t);
	for (int si = 0; si < cfg.nsizes; si++) {
		uint64_t n = cfg.sizes[si];
		struct relay_session **ls = calloc(n, sizeof(*ls));
		struct rb_session **bs = calloc(n, sizeof(*bs));
		struct map_obj **so = calloc(n, sizeof(*so)), **po = calloc(n, sizeof(*po));
		struct lookup_ctx lc = { .count = n }, bc = { .count = n };
		struct lookup_ctx sc = { .count = n, .first = 1 }, pc = { .count = n, .first = 1 };
		struct rm_scc *smap = rm_scc_create(n);
		struct rm_papaya *pmap = rm_papaya_create(n);
		size_t live0 = traceref_live_objects();

		if (!ls || !bs || !so || !po || !smap || !pmap)
			die("out of memory");
		sc.table = smap;
		pc.table = pmap;
		lc.split = bc.split = sc.split = pc.split = cfg.split;
		progress("workload 2: creating %llu sessions", (unsigned long long)n);
		rb_tables_create(n, 1);
		/* One object of each column in turn, so the heap interleaves
		 * them. The maps, like liburcu's table, are sized for n. */
		for (uint64_t i = 0; i < n; i++) {
			ls[i] = relay_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11);
			bs[i] = rb_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11);
			if (!ls[i] || !bs[i])
				die("session creation failed");
			so[i] = map_obj_new(sc.first + i);
			po[i] = map_obj_new(pc.first + i);
			if (rm_scc_insert(smap, so[i]->id, so[i]) || rm_papaya_insert(pmap, po[i]->id, po[i]))
				die("map insertion failed");
		}
		lc.first = relay_session_get_id(ls[0]);
		bc.first = rb_session_id(bs[0]);
		for (uint64_t i = 0; i < n; i++)
			if (relay_session_get_id(ls[i]) != lc.first + i ||
			    rb_session_id(bs[i]) != bc.first + i)
				die("session ids are not consecutive");

		for (int ti = 0; ti < cfg.nthreads; ti++) {
			int threads = cfg.threads[ti];
			struct impl impls[4] = {
				{ .name = "traceref", .body = lib_session_lookup_body, .ctx = &lc },
				{ .name = "liburcu", .body = rb_session_lookup_body,
				  .thread_init = rb_thread_init, .thread_fini = rb_thread_fini, .ctx = &bc },
				{ .name = "scc", .body = scc_lookup_body, .ctx = &sc },
				{ .name = "papaya", .body = papaya_lookup_body, .ctx = &pc },
			};
			struct row row = {
				.label = n == 1 ? "one hot object" : "random ids",
				.objects = n,
				.threads = threads,
				.limit = lookup_limit(n),
			};

			progress("workload 2, %llu sessions, %d thread(s)", (unsigned long long)n, threads);
			measure(impls, 4, threads, row.r);
			table_row(&t, &row);
			tally(row.r[0].ok, "workload 2 (traceref)");
			tally(row.r[1].ok, "workload 2 (liburcu)");
			tally(row.r[2].ok, "workload 2 (scc)");
			tally(row.r[3].ok, "workload 2 (papaya)");
		}

		for (uint64_t i = 0; i < n; i++) {
			relay_session_close(ls[i]);
			rb_session_close(bs[i]);
		}
		lib_barrier(NULL);
		rb_tables_destroy();
		rm_scc_destroy(smap);
		rm_papaya_destroy(pmap);
		for (uint64_t i = 0; i < n; i++) {
			map_obj_free(so[i]);
			map_obj_free(po[i]);
		}
		if (traceref_live_objects() != live0)
			fprintf(stderr, "bench: warning: %zu library objects left after workload 2\n",
				traceref_live_objects() - live0);
		free(ls);
		free(bs);
		free(so);
		free(po);
	}
	table_end();
}

static void workload3(void)
{
	static const struct table t = {
		.title = "Workload 3: relay_stream_get_by_id + relay_stream_put vs liburcu (cds_lfht + urcu_ref)",
		.nimpl = 2,
		.impl_names = { "traceref", "liburcu" },
		.ratio_names = { "", "ratio" },
		.target_base = 1,
		.has_objects = true,
	};

	table_begin(&t);
	for (int si = 0; si < cfg.nsizes; si++) {
		uint64_t n = cfg.sizes[si];
		const uint64_t first = 1ULL << 32;
		struct relay_stream **ls = calloc(n, sizeof(*ls));
		struct rb_stream **bs = calloc(n, sizeof(*bs));
		struct relay_session *lsess;
		struct ctf_trace *ltrace;
		struct rb_session *bsess;
		struct rb_trace *btrace;
		size_t live0 = traceref_live_objects();

		if (!ls || !bs)
			die("out of memory");
		progress("workload 3: creating %llu streams", (unsigned long long)n);
		rb_tables_create(1, n);
		lsess = relay_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11);
		ltrace = relay_ctf_trace_get_by_path_or_create(lsess, BENCH_TRACE_PATH);
		bsess = rb_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11);
		btrace = rb_trace_get_by_path_or_create(bsess, BENCH_TRACE_PATH);
		if (!ltrace || !btrace)
			die("trace creation failed");
		for (uint64_t i = 0; i < n; i++) {
			ls[i] = relay_stream_create(ltrace, first + i, BENCH_STREAM_PATH, BENCH_CHANNEL, 0, 0);
			bs[i] = rb_stream_create(btrace, first + i, BENCH_STREAM_PATH, BENCH_CHANNEL, 0, 0);
			if (!ls[i] || !bs[i] || relay_stream_publish(ls[i]) || rb_stream_publish(bs[i]))
				die("stream creation failed");
		}

		for (int ti = 0; ti < cfg.nthreads; ti++) {
			for (int batch = 0; batch <= 16; batch += 16) {
				int threads = cfg.threads[ti];
				struct lookup_ctx lc = { .first = first, .count = n, .batch = batch };
				struct lookup_ctx bc = lc;
				struct impl impls[2] = {
					{ .name = "traceref", .body = lib_stream_lookup_body, .ctx = &lc },
					{ .name = "liburcu", .body = rb_stream_lookup_body,
					  .thread_init = rb_thread_init, .thread_fini = rb_thread_fini,
					  .ctx = &bc },
				};
				struct row row = {
					.label = n == 1 ? (batch ? "hot, 16 per read section" : "hot, 1 per read section")
							: (batch ? "random, 16 per read section" : "random, 1 per read section"),
					.objects = n,
					.threads = threads,
					.limit = lookup_limit(n),
				};

				progress("workload 3, %llu streams, %d thread(s), batch %d",
					 (unsigned long long)n, threads, batch);
				measure(impls, 2, threads, row.r);
				table_row(&t, &row);
				tally(row.r[0].ok, "workload 3 (traceref)");
				tally(row.r[1].ok, "workload 3 (liburcu)");
			}
		}

		for (uint64_t i = 0; i < n; i++) {
			relay_stream_close(ls[i]);
			rb_stream_close(bs[i]);
		}
		relay_ctf_trace_put(ltrace);
		relay_session_close(lsess);
		rb_trace_put(btrace);
		rb_session_close(bsess);
		lib_barrier(NULL);
		rb_tables_destroy();
		if (traceref_live_objects() != live0)
			fprintf(stderr, "bench: warning: %zu library objects left after workload 3\n",
				traceref_live_objects() - live0);
		free(ls);
		free(bs);
	}
	table_end();
}

/* ------------------------------------------------------------------------ */
/* Workload 4: churn.                                                       */

static void workload4(void)
{
	static const struct table t = {
		.title = "Workload 4: churn: stream create + publish, lookup, close, final put, reclaimed",
		.nimpl = 2,
		.impl_names = { "traceref", "liburcu" },
		.ratio_names = { "", "ratio" },
		.target_base = 1,
		.has_objects = false,
	};
	int list[2] = { 1, cfg.ncpu }, nlist = cfg.ncpu > 1 ? 2 : 1;
	double run_ns = cfg.run_ns;

	/* Each run ends with one reclamation barrier, inside the timing; the
	 * liburcu one waits for its call_rcu thread, which batches callbacks
	 * and sleeps between batches (about 10 ms). Longer runs amortise it. */
	cfg.run_ns = run_ns * 5 > 20e6 ? run_ns * 5 : 20e6;
	table_begin(&t);
	for (int ti = 0; ti < nlist; ti++) {
		int threads = list[ti];
		struct churn_ctx *lc = calloc(1, sizeof(*lc)), *bc = calloc(1, sizeof(*bc));
		size_t live0 = traceref_live_objects();

		if (!lc || !bc)
			die("out of memory");
		rb_tables_create((uint64_t)threads, (uint64_t)threads);
		for (int i = 0; i < threads; i++) {
			lc->session[i] = relay_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11);
			lc->trace[i] = relay_ctf_trace_get_by_path_or_create(lc->session[i], BENCH_TRACE_PATH);
			bc->session[i] = rb_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11);
			bc->trace[i] = rb_trace_get_by_path_or_create(bc->session[i], BENCH_TRACE_PATH);
			if (!lc->trace[i] || !bc->trace[i])
				die("trace creation failed");
			lc->next_handle[i] = bc->next_handle[i] = (uint64_t)(i + 1) << 40;
		}
		{
			struct impl impls[2] = {
				{ .name = "traceref", .body = lib_churn_body, .after = lib_barrier, .ctx = lc },
				{ .name = "liburcu", .body = rb_churn_body, .after = rb_barrier,
				  .thread_init = rb_thread_init, .thread_fini = rb_thread_fini, .ctx = bc },
			};
			struct row row = {
				.label = threads == 1 ? "1 thread" : "one thread per core",
				.threads = threads,
				.limit = 1.00,
			};

			progress("workload 4, %d thread(s)", threads);
			measure(impls, 2, threads, row.r);
			table_row(&t, &row);
			tally(row.r[0].ok, "workload 4 (traceref)");
			tally(row.r[1].ok, "workload 4 (liburcu)");
		}
		for (int i = 0; i < threads; i++) {
			relay_ctf_trace_put(lc->trace[i]);
			relay_session_close(lc->session[i]);
			rb_trace_put(bc->trace[i]);
			rb_session_close(bc->session[i]);
		}
		lib_barrier(NULL);
		rb_tables_destroy();
		if (traceref_live_objects() != live0)
			fprintf(stderr, "bench: warning: %zu library objects left after workload 4\n",
				traceref_live_objects() - live0);
		free(lc);
		free(bc);
	}
	cfg.run_ns = run_ns;
	table_end();
}

/* ------------------------------------------------------------------------ */
/* Workload 5: memory, one child process per measurement.                   */

static struct mem_usage lib_memory(const char *kind, uint64_t n)
{
	struct mem_usage before = mem_now(), after;

	if (!strcmp(kind, "sessions")) {
		for (uint64_t i = 0; i < n; i++)
			if (!relay_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11))
				die("session creation failed");
	} else {
		struct relay_session *s;
		struct ctf_trace *t;

		s = relay_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11);
		t = relay_ctf_trace_get_by_path_or_create(s, BENCH_TRACE_PATH);
		before = mem_now();
		for (uint64_t i = 0; i < n; i++) {
			struct relay_stream *st = relay_stream_create(t, i + 1, BENCH_STREAM_PATH,
								      BENCH_CHANNEL, 0, 0);
			if (!st || relay_stream_publish(st))
				die("stream creation failed");
		}
	}
	/* Settled (see settle()): one barrier with nothing outstanding does
	 * not flush what the creating thread deferred (the session and
	 * stream tables' replaced slot arrays). */
	lib_barrier(NULL);
	settle();
	after = mem_now();
	return (struct mem_usage){ after.rss - before.rss, after.heap - before.heap };
}

static int memory_child(int argc, char **argv)
{
	struct mem_usage m;
	uint64_t n;

	if (argc != 5)
		die("usage: --memory-child traceref|liburcu sessions|streams COUNT");
	n = strtoull(argv[4], NULL, 10);
	if (strcmp(argv[3], "sessions") && strcmp(argv[3], "streams"))
		die("unknown object kind %s", argv[3]);
	if (!strcmp(argv[2], "traceref"))
		m = lib_memory(argv[3], n);
	else if (!strcmp(argv[2], "liburcu"))
		m = rb_memory(argv[3], n);
	else
		die("unknown implementation %s", argv[2]);
	printf("%lld %lld\n", m.rss, m.heap);
	return 0;
}

/* Run `bench MODE A B [C]` in a fresh process (fork + exec of this
 * program) and read `nvals` numbers from its standard output. */
static bool spawn_child(const char *mode, const char *a, const char *b, const char *c,
			long long *vals, int nvals)
{
	int fd[2], status;
	pid_t pid;
	FILE *f;
	bool ok;

	if (pipe(fd))
		die("pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fd[0]);
		if (dup2(fd[1], STDOUT_FILENO) < 0)
			_exit(127);
		close(fd[1]);
		execl("/proc/self/exe", "bench", mode, a, b, c, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	ok = f != NULL;
	for (int i = 0; ok && i < nvals; i++)
		ok = fscanf(f, "%lld", &vals[i]) == 1;
	if (f)
		fclose(f);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		ok = false;
	return ok;
}

/* Run one measurement in a fresh process. */
static bool spawn_memory(const char *impl, const char *kind, uint64_t n, struct mem_usage *out)
{
	char count[32];
	long long v[2];
	bool ok;

	snprintf(count, sizeof count, "%llu", (unsigned long long)n);
	ok = spawn_child("--memory-child", impl, kind, count, v, 2);
	out->rss = v[0];
	out->heap = v[1];
	return ok;
}

static void workload5(void)
{
	static const char *kinds[2] = { "sessions", "streams" };
	uint64_t n = cfg.mem_objects;

	printf("\nWorkload 5: memory per live object (resident set growth / objects; "
	       "heap = malloc bytes in use), each in its own process\n\n");
	printf("| %-8s | %9s | %-18s | %-18s | %10s | %-15s | %-15s | %-10s | %-4s |\n",
	       "kind", "objects", "traceref RSS B/obj", "liburcu RSS B/obj", "difference",
	       "traceref heap", "liburcu heap", "target", "met");
	printf("|----------|----------:|--------------------|--------------------|-----------:|"
	       "-----------------|-----------------|------------|------|\n");
	for (int k = 0; k < 2; k++) {
		struct mem_usage lm, bm;
		bool lok, bok;
		double l, b, lh, bh;

		progress("workload 5: %llu %s", (unsigned long long)n, kinds[k]);
		lok = spawn_memory("traceref", kinds[k], n, &lm);
		bok = spawn_memory("liburcu", kinds[k], n, &bm);
		l = (double)lm.rss / (double)n;
		b = (double)bm.rss / (double)n;
		lh = (double)lm.heap / (double)n;
		bh = (double)bm.heap / (double)n;
		lok = lok && isfinite(l) && l > 0 && isfinite(lh) && lh > 0;
		bok = bok && isfinite(b) && b > 0 && isfinite(bh) && bh > 0;
		if (lok && bok)
			printf("| %-8s | %9llu | %-18.1f | %-18.1f | %+10.1f | %-15.1f | %-15.1f | %-10s | %-4s |\n",
			       kinds[k], (unsigned long long)n, l, b, l - b, lh, bh,
			       "<= base+64", l <= b + 64 ? "yes" : "NO");
		else
			printf("| %-8s | %9llu | %-18s | %-18s | %10s | %-15s | %-15s | %-10s | %-4s |\n",
			       kinds[k], (unsigned long long)n, lok ? "ok" : "FAILED",
			       bok ? "ok" : "FAILED", "-", "-", "-", "<= base+64", "-");
		tally(lok, "workload 5 (traceref)");
		tally(bok, "workload 5 (liburcu)");
	}
	fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Workload 5, settled: embedded sessions and a C kind beside the library's */
/* own sessions.                                                            */

/* Growth of one child process, in bytes: resident set and heap settled,
 * heap after one barrier (the method of the rows above), the heap of the
 * bench's own allocations (structs, and the names of the C kind), the
 * table's share (C kind: what destroying the table gave back; else -1),
 * and the resident set once malloc_trim(0) gave free memory back. */
struct form_usage {
	long long rss, heap, heap1, own, table, rss_trim;
};

/* Resident bytes that malloc_trim(0) gives back to the system (free
 * memory the allocator kept). */
static long long trimmed(void)
{
	long long before = mem_now().rss;

	malloc_trim(0);
	return before - mem_now().rss;
}

static struct form_usage form_memory(const char *form, uint64_t n)
{
	struct form_usage u = { 0, 0, 0, 0, -1, 0 };
	struct mem_usage before, mid, after;
	struct traceref_table *t = NULL;
	void **p = NULL;

	if (!strcmp(form, "liburcu")) {
		struct mem_usage m = rb_memory("sessions", n);

		return (struct form_usage){ m.rss, m.heap, m.heap, m.heap, -1,
					    m.rss - trimmed() };
	}
	if (strcmp(form, "relay")) {
		/* The array of pointers is resident before the measurement. */
		p = calloc(n, sizeof(*p));
		if (!p)
			die("out of memory");
		memset(p, 0, n * sizeof(*p));
	}
	before = mid = mem_now();
	if (!strcmp(form, "relay")) {
		for (uint64_t i = 0; i < n; i++)
			if (!relay_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11))
				die("session creation failed");
	} else if (!strcmp(form, "payload")) {
		/* The embedded struct's own fields, as a payload of a created
		 * session, freed by its destructor. */
		for (uint64_t i = 0; i < n; i++)
			p[i] = emb_fields_alloc(i);
		mid = mem_now();
		for (uint64_t i = 0; i < n; i++) {
			struct relay_session *s = relay_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME,
									0, false, 2, 11);

			if (!s || traceref_payload_set(s, p[i], emb_fields_free))
				die("session creation or traceref_payload_set failed");
		}
	} else if (!strcmp(form, "scc") || !strcmp(form, "papaya")) {
		bool scc = !strcmp(form, "scc");
		struct rm_scc *sm = NULL;
		struct rm_papaya *pm = NULL;

		for (uint64_t i = 0; i < n; i++)
			p[i] = map_obj_new(i + 1);
		mid = mem_now();
		if (scc)
			sm = rm_scc_create(n);
		else
			pm = rm_papaya_create(n);
		if (!sm && !pm)
			die("map creation failed");
		for (uint64_t i = 0; i < n; i++)
			if (scc ? rm_scc_insert(sm, i + 1, p[i]) : rm_papaya_insert(pm, i + 1, p[i]))
				die("map insertion failed");
		/* Each crate frees what it deferred as guards come and go:
		 * lookups (each with its guard) until the heap stops changing. */
		{
			long long heap = -1;

			for (int r = 0; r < 20; r++) {
				long long now;

				for (uint64_t i = 0; i < 4096; i++) {
					void *o = scc ? rm_scc_get(sm, 1 + i % n)
						      : rm_papaya_get(pm, 1 + i % n);

					if (!o)
						die("map lookup failed");
					rm_obj_put(o);
				}
				now = mem_now().heap;
				if (now == heap)
					break;
				heap = now;
			}
		}
	} else if (!strcmp(form, "embedded")) {
		for (uint64_t i = 0; i < n; i++)
			p[i] = emb_session_alloc(i);
		mid = mem_now();
		for (uint64_t i = 0; i < n; i++)
			emb_session_init(p[i]);
	} else if (!strcmp(form, "ckind-init")) {
		for (uint64_t i = 0; i < n; i++)
			p[i] = bench_obj_alloc(i + 1, true);
		mid = mem_now();
		for (uint64_t i = 0; i < n; i++)
			if (traceref_object_init(&((struct bench_obj *)p[i])->obj, &bench_kind))
				die("traceref_object_init failed");
	} else if (!strcmp(form, "ckind")) {
		for (uint64_t i = 0; i < n; i++)
			p[i] = bench_obj_alloc(i + 1, true);
		mid = mem_now();
		t = traceref_table_create();
		if (!t)
			die("traceref_table_create failed");
		for (uint64_t i = 0; i < n; i++)
			bench_obj_add(t, p[i]);
	} else {
		die("unknown form %s", form);
	}
	lib_barrier(NULL);
	u.heap1 = mem_now().heap - before.heap;
	settle();
	after = mem_now();
	u.rss = after.rss - before.rss;
	u.heap = after.heap - before.heap;
	u.own = mid.heap - before.heap;
	u.rss_trim = u.rss - trimmed();
	if (t) {
		if (traceref_table_destroy(t))
			die("traceref_table_destroy failed");
		settle();
		u.table = after.heap - mem_now().heap;
	}
	return u;
}

static int memory_form_child(int argc, char **argv)
{
	struct form_usage u;

	if (argc != 4)
		die("usage: --memory-form relay|payload|embedded|ckind-init|ckind|liburcu|scc|papaya COUNT");
	u = form_memory(argv[2], strtoull(argv[3], NULL, 10));
	printf("%lld %lld %lld %lld %lld %lld\n", u.rss, u.heap, u.heap1, u.own, u.table, u.rss_trim);
	return 0;
}

#define F_CREATE 0
#define F_PAYLOAD 1
#define F_EMBED 2
#define F_CINIT 3
#define F_CKIND 4
#define F_URCU 5
#define F_SCC 6
#define F_PAPAYA 7
#define NFORMS 8

static const char *const forms[NFORMS] = {
	"relay", "payload", "embedded", "ckind-init", "ckind", "liburcu", "scc", "papaya",
};
static const char *const form_labels[NFORMS] = {
	"session (create)", "create + payload", "session (embedded)", "C kind, no table",
	"C kind, in a table", "liburcu session", "scc HashIndex", "papaya HashMap",
};

static void forms_block(uint64_t n, bool ckind)
{
	struct form_usage u[NFORMS];
	bool ok[NFORMS] = { false };
	double d = (double)n;

	for (int k = 0; k < NFORMS; k++) {
		char count[32];
		long long v[6];

		if (k == F_CKIND && !ckind)
			continue;
		snprintf(count, sizeof count, "%llu", (unsigned long long)n);
		progress("workload 5: %llu objects, %s", (unsigned long long)n, form_labels[k]);
		ok[k] = spawn_child("--memory-form", forms[k], count, NULL, v, 6);
		u[k] = (struct form_usage){ v[0], v[1], v[2], v[3], v[4], v[5] };
		ok[k] = ok[k] && u[k].rss > 0 && u[k].heap > 0;
		tally(ok[k], "workload 5 (settled)");
	}
	for (int k = 0; k < NFORMS; k++) {
		char table[32], vs_rss[32], vs_heap[32], vs_urcu[32];
		const char *target = "-", *met = "-";

		if (k == F_CKIND && !ckind)
			continue;
		if (!ok[k]) {
			printf("| %-18s | %9llu | %-9s | %9s | %9s | %9s | %9s | %9s | %7s | %9s | %9s | %10s | %-10s | %-4s |\n",
			       form_labels[k], (unsigned long long)n, "FAILED", "-", "-", "-", "-", "-",
			       "-", "-", "-", "-", "-", "-");
			continue;
		}
		snprintf(table, sizeof table, "%s", "-");
		if (u[k].table >= 0)
			snprintf(table, sizeof table, "%.1f", (double)u[k].table / d);
		snprintf(vs_rss, sizeof vs_rss, "%s", "-");
		snprintf(vs_heap, sizeof vs_heap, "%s", "-");
		snprintf(vs_urcu, sizeof vs_urcu, "%s", "-");
		if ((k == F_PAYLOAD || k == F_EMBED || k == F_CKIND) && ok[F_CREATE]) {
			double dr = (double)(u[k].rss - u[F_CREATE].rss) / d;
			double dh = (double)(u[k].heap - u[F_CREATE].heap) / d;

			snprintf(vs_rss, sizeof vs_rss, "%+.1f", dr);
			snprintf(vs_heap, sizeof vs_heap, "%+.1f", dh);
			if (k == F_CKIND) {
				target = "<= create";
				met = dr <= 0 && dh <= 0 ? "yes" : "NO";
			}
		}
		/* The embedded struct carries its own fields: its fair
		 * comparison is a created session carrying them as a payload. */
		if (k == F_EMBED && ok[F_PAYLOAD]) {
			target = "<= cr+pl";
			met = u[k].rss <= u[F_PAYLOAD].rss && u[k].heap <= u[F_PAYLOAD].heap ? "yes" : "NO";
		}
		if (k != F_URCU && k != F_CINIT && ok[F_URCU])
			snprintf(vs_urcu, sizeof vs_urcu, "%+.1f",
				 (double)(u[k].rss - u[F_URCU].rss) / d);
		printf("| %-18s | %9llu | %-9.1f | %9.1f | %9.1f | %9.1f | %9.1f | %9.1f | %7s | %9s | %9s | %10s | %-10s | %-4s |\n",
		       form_labels[k], (unsigned long long)n, (double)u[k].rss / d,
		       (double)u[k].rss_trim / d, (double)u[k].heap / d, (double)u[k].heap1 / d, (double)u[k].own / d,
		       (double)(u[k].heap - u[k].own) / d, table, vs_rss, vs_heap, vs_urcu,
		       target, met);
	}
	fflush(stdout);
}

static void workload5_forms(void)
{
	uint64_t n = cfg.mem_objects, m = cfg.ckind_max;

	printf("\nWorkload 5, settled: memory per live object of each form, each in its own process "
	       "(B/obj; RSS, trim = RSS once malloc_trim(0)\ngave free memory back; heap = malloc "
	       "bytes in use; heap, 1 b = after one barrier; caller = the bench's own allocations,\n"
	       "library = the rest (for the maps: the map); table = given back by "
	       "traceref_table_destroy; - cr = minus session (create);\n- urcu = minus liburcu; "
	       "create + payload = a created session with the embedded struct's own fields as a "
	       "payload;\nmaps: 160-byte objects with copies of the names, in a map sized for them)\n\n");
	printf("| %-18s | %9s | %-9s | %9s | %9s | %9s | %9s | %9s | %7s | %9s | %9s | %10s | %-10s | %-4s |\n",
	       "form", "objects", "RSS", "RSS, trim", "heap", "heap, 1 b", "caller", "library",
	       "table", "RSS - cr", "heap - cr", "RSS - urcu", "target", "met");
	printf("|--------------------|----------:|-----------|----------:|----------:|----------:|"
	       "----------:|----------:|--------:|----------:|----------:|-----------:|------------|------|\n");
	forms_block(n, n <= m);
	if (m < n && m > 0)
		forms_block(m, true);
}

/* ------------------------------------------------------------------------ */
/* Workload 6: lookups of embedded sessions and of a C kind.                */

#define W6_CREATE 0
#define W6_EMBED 1
#define W6_CKIND 2
#define W6_URCU 3
#define W6_CHUNK 8      /* objects of each form per turn of the fill */

/*
 * Workload 6 creates its two relay forms in turns of W6_CHUNK sessions, so
 * the ids of one form run in blocks of W6_CHUNK, 2 * W6_CHUNK apart: the
 * i-th session of a form has id first + w6_id_offset(i) (the object count
 * is a multiple of W6_CHUNK, or below it).
 */
static inline uint64_t w6_id_offset(uint64_t i)
{
	return ((i / W6_CHUNK) * 2 * W6_CHUNK) | (i % W6_CHUNK);
}

/* lib_session_lookup_body() with the ids of workload 6. */
static void lib_session_lookup_chunked_body(struct worker *w)
{
	const struct lookup_ctx *c = w->ctx;
	uint64_t seed = w->seed, miss = 0;

	for (uint64_t i = 0; i < w->iters; i++) {
		uint64_t id = c->first + w6_id_offset(rng_below(&seed, c->count));
		struct relay_session *s = relay_session_get_by_id(id);

		if (!s) {
			miss++;
			continue;
		}
		relay_session_put(s);
	}
	w->misses = miss;
}

static void print_ratio(const struct result *a, const struct result *b)
{
	if (a->ok && b->ok)
		printf("| %13.2f ", a->med / b->med);
	else
		printf("| %13s ", "-");
}

static void workload6_row(const char *label, uint64_t n, int threads, const struct result *r,
			  bool ckind)
{
	char buf[128];
	struct result none = { 0 };
	const struct result *ck = ckind ? &r[W6_CKIND] : &none;

	printf("| %-14s | %9llu | %3d ", label, (unsigned long long)n, threads);
	for (int k = 0; k < 4; k++) {
		if (k == W6_CKIND && !ckind)
			snprintf(buf, sizeof buf, "not run");
		else if (!r[k].ok)
			snprintf(buf, sizeof buf, "FAILED");
		else {
			char a[32], b[32], c[32];

			snprintf(a, sizeof a, r[k].med >= 1000 ? "%.0f" : r[k].med >= 100 ? "%.1f" : "%.2f", r[k].med);
			snprintf(b, sizeof b, r[k].min >= 1000 ? "%.0f" : r[k].min >= 100 ? "%.1f" : "%.2f", r[k].min);
			snprintf(c, sizeof c, r[k].max >= 1000 ? "%.0f" : r[k].max >= 100 ? "%.1f" : "%.2f", r[k].max);
			snprintf(buf, sizeof buf, "%s (%s-%s)", a, b, c);
		}
		printf("| %-22s ", buf);
	}
	print_ratio(&r[W6_CREATE], &r[W6_URCU]);
	print_ratio(&r[W6_EMBED], &r[W6_URCU]);
	print_ratio(ck, &r[W6_URCU]);
	print_ratio(&r[W6_EMBED], &r[W6_CREATE]);
	print_ratio(ck, &r[W6_CREATE]);
	printf("| %-9s ", "<= create");
	printf("| %-5s ", !r[W6_EMBED].ok || !r[W6_CREATE].ok ? "-" :
	       r[W6_EMBED].med <= r[W6_CREATE].med ? "yes" : "NO");
	printf("| %-6s |\n", !ck->ok || !r[W6_CREATE].ok ? "-" :
	       ck->med <= r[W6_CREATE].med ? "yes" : "NO");
	fflush(stdout);
}

static void workload6(void)
{
	struct {
		uint64_t n;
		double ns[4];           /* fill time per object; < 0: not run */
	} fills[4];

	printf("\nWorkload 6: lookups by id + put: sessions made by relay_session_create, "
	       "sessions embedded in the bench's struct\n(relay_session_init), objects of a C kind "
	       "in a traceref_table, and liburcu sessions (cds_lfht + urcu_ref)\n\n");
	printf("| %-14s | %9s | %3s | %-22s | %-22s | %-22s | %-22s | %13s | %13s | %13s | %13s | %13s | %-9s | %-5s | %-6s |\n",
	       "case", "objects", "thr", "create ns/op", "embedded ns/op", "C kind ns/op",
	       "liburcu ns/op", "create/urcu", "embedded/urcu", "C kind/urcu", "embed/create",
	       "C kind/create", "target", "met e", "met ck");
	printf("|----------------|----------:|----:|------------------------|------------------------|"
	       "------------------------|------------------------|--------------:|--------------:|"
	       "--------------:|--------------:|--------------:|-----------|-------|--------|\n");
	fflush(stdout);

	for (int si = 0; si < cfg.nsizes; si++) {
		uint64_t n = cfg.sizes[si];
		bool ckind = n <= cfg.ckind_max;
		struct relay_session **ls = calloc(n, sizeof(*ls));
		struct relay_session **es = calloc(n, sizeof(*es));
		struct bench_obj **cs = calloc(n, sizeof(*cs));
		struct rb_session **bs = calloc(n, sizeof(*bs));
		struct lookup_ctx lc = { .count = n }, ec = { .count = n };
		struct lookup_ctx cc = { .count = n, .first = 1 }, bc = { .count = n };
		struct traceref_table *table = NULL;
		size_t live0 = traceref_live_objects();
		uint64_t t0;

		if (!ls || !es || !cs || !bs)
			die("out of memory");
		if (n > W6_CHUNK && n % W6_CHUNK)
			die("workload 6: %llu objects is not a multiple of %d",
			    (unsigned long long)n, W6_CHUNK);
		fills[si].n = n;
		for (int k = 0; k < 4; k++)
			fills[si].ns[k] = 0;
		progress("workload 6: creating %llu objects of each form%s", (unsigned long long)n,
			 ckind ? " (the C kind's table is copied on every add)" : "");
		rb_tables_create(n, 1);
		if (ckind && !(table = traceref_table_create()))
			die("traceref_table_create failed");
		cc.table = table;
		/*
		 * The forms are created in turns, W6_CHUNK objects of each at a
		 * time (each turn timed), so that the library's session table
		 * receives both of its forms throughout the fill and the heap
		 * interleaves them, as workload 2 interleaves its two sides. The
		 * session ids of the two relay forms interleave in the same way:
		 * see lib_session_lookup_chunked_body(). The library's session
		 * table holds both forms (2n sessions), liburcu's its n.
		 */
		for (uint64_t lo = 0; lo < n; lo += W6_CHUNK) {
			uint64_t hi = n - lo < W6_CHUNK ? n : lo + W6_CHUNK;

			t0 = now_ns();
			for (uint64_t i = lo; i < hi; i++)
				if (!(bs[i] = rb_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11)))
					die("session creation failed");
			fills[si].ns[W6_URCU] += (double)(now_ns() - t0);
			t0 = now_ns();
			for (uint64_t i = lo; i < hi; i++)
				if (!(ls[i] = relay_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11)))
					die("session creation failed");
			fills[si].ns[W6_CREATE] += (double)(now_ns() - t0);
			t0 = now_ns();
			for (uint64_t i = lo; i < hi; i++) {
				es[i] = emb_session_alloc(i);
				emb_session_init(es[i]);
			}
			fills[si].ns[W6_EMBED] += (double)(now_ns() - t0);
		}
		/* The C kind has a table of its own; its fill, after the others,
		 * copies a map of the table on every add, which would evict the others'
		 * working sets in the middle of their turns. */
		if (ckind) {
			t0 = now_ns();
			for (uint64_t i = 0; i < n; i++) {
				cs[i] = bench_obj_alloc(cc.first + i, true);
				bench_obj_add(table, cs[i]);
			}
			fills[si].ns[W6_CKIND] = (double)(now_ns() - t0);
		}
		for (int k = 0; k < 4; k++)
			fills[si].ns[k] /= (double)n;
		if (!ckind)
			fills[si].ns[W6_CKIND] = -1;
		/* The table's old copies, and anything else waiting for a grace
		 * period, are freed before the measurement. */
		settle();

		lc.first = relay_session_get_id(ls[0]);
		ec.first = relay_session_get_id(es[0]);
		bc.first = rb_session_id(bs[0]);
		for (uint64_t i = 0; i < n; i++)
			if (relay_session_get_id(ls[i]) != lc.first + w6_id_offset(i) ||
			    relay_session_get_id(es[i]) != ec.first + w6_id_offset(i) ||
			    rb_session_id(bs[i]) != bc.first + i)
				die("session ids are not where workload 6 looks them up");
		if (n && relay_session_get_by_id(ec.first) != es[0])
			die("lookup of an embedded session did not return the bench's struct");
		relay_session_put(es[0]);

		for (int ti = 0; ti < cfg.nthreads; ti++) {
			int threads = cfg.threads[ti];
			struct impl impls[4] = {
				{ .name = "create", .body = lib_session_lookup_chunked_body, .ctx = &lc },
				{ .name = "embedded", .body = lib_session_lookup_chunked_body, .ctx = &ec },
				{ .name = "C kind", .body = lib_cobj_lookup_body, .ctx = &cc },
				{ .name = "liburcu", .body = rb_session_lookup_body,
				  .thread_init = rb_thread_init, .thread_fini = rb_thread_fini, .ctx = &bc },
			};
			struct result r[4] = { { 0 } };

			progress("workload 6, %llu objects, %d thread(s)", (unsigned long long)n, threads);
			if (ckind) {
				measure(impls, 4, threads, r);
			} else {
				struct impl three[3] = { impls[W6_CREATE], impls[W6_EMBED], impls[W6_URCU] };
				struct result r3[3];

				measure(three, 3, threads, r3);
				r[W6_CREATE] = r3[0];
				r[W6_EMBED] = r3[1];
				r[W6_URCU] = r3[2];
			}
			workload6_row(n == 1 ? "one hot object" : "random ids", n, threads, r, ckind);
			tally(r[W6_CREATE].ok, "workload 6 (create)");
			tally(r[W6_EMBED].ok, "workload 6 (embedded)");
			if (ckind)
				tally(r[W6_CKIND].ok, "workload 6 (C kind)");
			tally(r[W6_URCU].ok, "workload 6 (liburcu)");
		}

		/* Destroying the table first empties it in one step; closing its
		 * objects one by one would copy it once per object. */
		if (table && traceref_table_destroy(table))
			die("traceref_table_destroy failed");
		for (uint64_t i = 0; i < n; i++) {
			relay_session_close(ls[i]);
			relay_session_close(es[i]);
			if (ckind)
				traceref_object_close(&cs[i]->obj);
			rb_session_close(bs[i]);
		}
		lib_barrier(NULL);
		rb_tables_destroy();
		if (traceref_live_objects() != live0)
			fprintf(stderr, "bench: warning: %zu library objects left after workload 6\n",
				traceref_live_objects() - live0);
		free(ls);
		free(es);
		free(cs);
		free(bs);
	}

	printf("\nWorkload 6, fill: creating the objects above, one timed fill per form and size "
	       "(not alternated; ns per object;\nC kind: malloc + copies of the names + "
	       "traceref_object_init + traceref_table_add_unique)\n\n");
	printf("| %9s | %-14s | %-14s | %-14s | %-14s | %13s | %13s | %13s |\n", "objects",
	       "create", "embedded", "C kind", "liburcu", "create/urcu", "embedded/urcu",
	       "C kind/urcu");
	printf("|----------:|----------------|----------------|----------------|----------------|"
	       "--------------:|--------------:|--------------:|\n");
	for (int si = 0; si < cfg.nsizes; si++) {
		char v[4][32];

		for (int k = 0; k < 4; k++) {
			if (fills[si].ns[k] < 0)
				snprintf(v[k], sizeof v[k], "not run");
			else
				snprintf(v[k], sizeof v[k], "%.0f", fills[si].ns[k]);
		}
		printf("| %9llu | %-14s | %-14s | %-14s | %-14s | %13.2f | %13.2f ",
		       (unsigned long long)fills[si].n, v[0], v[1], v[2], v[3],
		       fills[si].ns[W6_CREATE] / fills[si].ns[W6_URCU],
		       fills[si].ns[W6_EMBED] / fills[si].ns[W6_URCU]);
		if (fills[si].ns[W6_CKIND] < 0)
			printf("| %13s |\n", "-");
		else
			printf("| %13.2f |\n", fills[si].ns[W6_CKIND] / fills[si].ns[W6_URCU]);
	}
	printf("\nC kind rows are run up to %llu objects (--ckind-max): every add copies a "
	       "copy-on-write map of the table (one of\nits shards), so a fill grows faster than "
	       "the count.\n", (unsigned long long)cfg.ckind_max);
	fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Workload 7: reference tracking (TRACEREF_TRACK=1), in processes of their */
/* own.                                                                     */

/* A bench-remote process (bench/remote.c), started with its own
 * environment. */
struct remote {
	pid_t pid;
	FILE *to, *from;
};

/* A case run by a remote process: the impl's ctx. */
struct remote_case {
	struct remote *r;
	int id;
};

static double remote_run(struct impl *im, int threads, uint64_t iters, uint64_t seed,
			 uint64_t *misses)
{
	struct remote_case *c = im->ctx;
	double ns;
	unsigned long long m;

	fprintf(c->r->to, "run %d %d %llu %llu\n", c->id, threads, (unsigned long long)iters,
		(unsigned long long)seed);
	fflush(c->r->to);
	if (fscanf(c->r->from, "%lf %llu", &ns, &m) != 2)
		die("workload 7: %s: no answer from bench-remote", im->name);
	*misses += m;
	return ns;
}

/* Start bench-remote (next to this program) with TRACEREF_TRACK set to
 * `track` (NULL: unset) and, if `libdir`, LD_LIBRARY_PATH=libdir. */
static void remote_start(struct remote *r, const char *track, const char *libdir)
{
	char exe[4096], path[4200];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	int in[2], out[2];
	char *slash;

	if (len <= 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	exe[len] = 0;
	slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	snprintf(path, sizeof path, "%s/bench-remote", exe);
	/* Close-on-exec: a later remote must not inherit this one's pipe
	 * ends (it would keep this one's input open past remote_stop()). */
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	r->pid = fork();
	if (r->pid < 0)
		die("fork: %s", strerror(errno));
	if (r->pid == 0) {
		if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0)
			_exit(127);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		if (track)
			setenv("TRACEREF_TRACK", track, 1);
		else
			unsetenv("TRACEREF_TRACK");
		unsetenv("TRACEREF_LOG");
		if (libdir)
			setenv("LD_LIBRARY_PATH", libdir, 1);
		execl(path, "bench-remote", (char *)NULL);
		fprintf(stderr, "bench: cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	r->to = fdopen(in[1], "w");
	r->from = fdopen(out[0], "r");
	if (!r->to || !r->from)
		die("fdopen: %s", strerror(errno));
}

static void remote_stop(struct remote *r)
{
	int status;

	fclose(r->to);
	fclose(r->from);
	if (waitpid(r->pid, &status, 0) != r->pid || !WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, "bench: warning: bench-remote %d did not exit cleanly\n", (int)r->pid);
}

static void print_cell(const struct result *r)
{
	char buf[128];

	if (!r->ok) {
		snprintf(buf, sizeof buf, "%s", r->iters ? "FAILED" : "not run");
	} else {
		char a[32], b[32], c[32];

		snprintf(a, sizeof a, r->med >= 1000 ? "%.0f" : r->med >= 100 ? "%.1f" : "%.2f", r->med);
		snprintf(b, sizeof b, r->min >= 1000 ? "%.0f" : r->min >= 100 ? "%.1f" : "%.2f", r->min);
		snprintf(c, sizeof c, r->max >= 1000 ? "%.0f" : r->max >= 100 ? "%.1f" : "%.2f", r->max);
		snprintf(buf, sizeof buf, "%s (%s-%s)", a, b, c);
	}
	printf("| %-22s ", buf);
}

static void print_ratio_w(const struct result *a, const struct result *b, int w)
{
	if (a->ok && b->ok)
		printf("| %*.2f ", w, a->med / b->med);
	else
		printf("| %*s ", w, "-");
}

#define W7_THIS 0
#define W7_OFF 1
#define W7_ON 2
#define W7_BEFORE 3

static void workload7(void)
{
	static const char *const labels[4] = {
		"bt steady pair", "bt 0->1->0 pair", "session, hot (1)", "sessions, 1000 random",
	};
	struct remote off, on, before;
	bool have_before = cfg.before_lib != NULL;
	struct w1_ctx w1[2] = { { .transition = false }, { .transition = true } };
	struct relay_session **ls;
	struct lookup_ctx lc[2] = { { .count = 1 }, { .count = 1000 } };
	uint64_t nsess = 1001;

	printf("\nWorkload 7: reference tracking: the same cases in this process (TRACEREF_TRACK unset), "
	       "in a bench-remote process\nwith TRACEREF_TRACK unset (off) and in one with "
	       "TRACEREF_TRACK=1 (on)%s; one rotation per row\n\n",
	       have_before ? ", and in one with a library built before tracking (before)" : "");
	printf("| %-22s | %3s | %-22s | %-22s | %-22s | %-22s | %8s | %8s | %9s |\n", "case", "thr",
	       "this process ns/op", "off ns/op", "on ns/op", "before ns/op", "off/this", "on/off",
	       "off/before");
	printf("|------------------------|----:|------------------------|------------------------|"
	       "------------------------|------------------------|---------:|---------:|----------:|\n");
	fflush(stdout);

	remote_start(&off, NULL, NULL);
	remote_start(&on, "1", NULL);
	if (have_before)
		remote_start(&before, NULL, cfg.before_lib);

	/* This process's objects: the same as the remote ones. */
	lib_w1_setup(&w1[0], cfg.ncpu > 2 ? cfg.ncpu : 2);
	lib_w1_setup(&w1[1], cfg.ncpu > 2 ? cfg.ncpu : 2);
	ls = calloc(nsess, sizeof(*ls));
	if (!ls)
		die("out of memory");
	for (uint64_t i = 0; i < nsess; i++)
		if (!(ls[i] = relay_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11)))
			die("session creation failed");
	lc[0].first = relay_session_get_id(ls[0]);
	lc[1].first = relay_session_get_id(ls[1]);

	for (int id = 0; id < 4; id++) {
		for (int ti = 0; ti < cfg.nthreads; ti++) {
			int threads = cfg.threads[ti];
			struct remote_case rc[3] = { { &off, id }, { &on, id }, { &before, id } };
			struct impl impls[4] = {
				{ .name = "this process", .body = id < 2 ? lib_w1_body : lib_session_lookup_body,
				  .ctx = id < 2 ? (void *)&w1[id] : (void *)&lc[id - 2] },
				{ .name = "off", .run = remote_run, .ctx = &rc[0] },
				{ .name = "on", .run = remote_run, .ctx = &rc[1] },
				{ .name = "before", .run = remote_run, .ctx = &rc[2] },
			};
			struct result r[4] = { { 0 } };

			if (threads > 8)
				continue;
			progress("workload 7, %s, %d thread(s)", labels[id], threads);
			measure(impls, have_before ? 4 : 3, threads, r);
			printf("| %-22s | %3d ", labels[id], threads);
			for (int k = 0; k < 4; k++)
				print_cell(&r[k]);
			print_ratio_w(&r[W7_OFF], &r[W7_THIS], 8);
			print_ratio_w(&r[W7_ON], &r[W7_OFF], 8);
			print_ratio_w(&r[W7_OFF], &r[W7_BEFORE], 9);
			printf("|\n");
			fflush(stdout);
			for (int k = 0; k < (have_before ? 4 : 3); k++)
				tally(r[k].ok, "workload 7");
		}
	}

	remote_stop(&off);
	remote_stop(&on);
	if (have_before)
		remote_stop(&before);
	lib_w1_teardown(&w1[0], cfg.ncpu > 2 ? cfg.ncpu : 2);
	lib_w1_teardown(&w1[1], cfg.ncpu > 2 ? cfg.ncpu : 2);
	for (uint64_t i = 0; i < nsess; i++)
		relay_session_close(ls[i]);
	lib_barrier(NULL);
	free(ls);
}

/* ------------------------------------------------------------------------ */
/* Main.                                                                    */

static void cpu_model(char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			colon++;
			while (*colon == ' ' || *colon == '\t')
				colon++;
			colon[strcspn(colon, "\n")] = 0;
			snprintf(buf, len, "%s", colon);
			break;
		}
	}
	fclose(f);
}

static void usage(FILE *to)
{
	fprintf(to,
		"usage: bench [--smoke] [--only=LIST] [--rounds=N] [--run-ms=MS]\n"
		"             [--iters=N] [--threads=LIST] [--sizes=LIST] [--ckind-max=N]\n"
		"             [--split] [--before-lib=DIR]\n"
		"  --smoke      tiny counts, every workload, a few seconds; exit 0 only\n"
		"               when every measurement ran and gave a finite number\n"
		"  --only=LIST  workloads to run, e.g. --only=2,3 (default: 1 to 7)\n"
		"  --rounds=N   alternating rounds per case (default 11; smoke 3)\n"
		"  --run-ms=MS  target duration of one timed run (default 200; smoke 2)\n"
		"  --iters=N    for profiling: N operations per thread in every run,\n"
		"               no calibration\n"
		"  --threads=L  thread counts of workloads 1 to 3 and 6, e.g. --threads=1\n"
		"               (default: 1, 2 and one per core)\n"
		"  --sizes=L    object counts of workloads 2, 3 and 6, e.g. --sizes=100000\n"
		"               (default: 1, 1000, 100000, 1000000; smoke 1, 1000, 5000, 20000)\n"
		"  --ckind-max=N  largest table of a C kind, workloads 5 and 6 (default\n"
		"               100000; smoke 5000): every add copies a copy-on-write map\n"
		"  --split      workload 2: each thread looks up only its own share of\n"
		"               the ids (profiling: no object shared between threads)\n"
		"  --before-lib=DIR  workload 7: also run its cases against the library in\n"
		"               DIR (its libtraceref.so.1), e.g. one built before tracking\n");
}

static void configure(int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int rounds = 0;
	double run_ms = 0;
	const char *threads_arg = NULL, *sizes_arg = NULL;
	bool ckind_set = false;

	cfg.ncpu = ncpu > 0 ? (int)(ncpu > BENCH_MAX_THREADS ? BENCH_MAX_THREADS : ncpu) : 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--smoke")) {
			cfg.smoke = true;
		} else if (!strncmp(a, "--only=", 7)) {
			for (const char *p = a + 7; *p; p++) {
				if (*p >= '1' && *p <= '7')
					cfg.only |= 1u << (*p - '0');
				else if (*p != ',')
					die("bad --only list: %s", a + 7);
			}
		} else if (!strncmp(a, "--iters=", 8)) {
			cfg.fixed_iters = strtoull(a + 8, NULL, 10);
			if (!cfg.fixed_iters)
				die("--iters must be positive");
		} else if (!strncmp(a, "--ckind-max=", 12)) {
			cfg.ckind_max = strtoull(a + 12, NULL, 10);
			ckind_set = true;
		} else if (!strncmp(a, "--threads=", 10)) {
			threads_arg = a + 10;
		} else if (!strcmp(a, "--split")) {
			cfg.split = true;
		} else if (!strncmp(a, "--sizes=", 8)) {
			sizes_arg = a + 8;
		} else if (!strncmp(a, "--before-lib=", 13)) {
			cfg.before_lib = a + 13;
		} else if (!strncmp(a, "--rounds=", 9)) {
			rounds = atoi(a + 9);
			if (rounds < 1 || rounds > BENCH_MAX_ROUNDS)
				die("--rounds must be 1 to %d", BENCH_MAX_ROUNDS);
		} else if (!strncmp(a, "--run-ms=", 9)) {
			run_ms = atof(a + 9);
			if (!(run_ms > 0))
				die("--run-ms must be positive");
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else {
			usage(stderr);
			exit(2);
		}
	}
	cfg.rounds = rounds ? rounds : cfg.smoke ? 3 : 11;
	cfg.run_ns = (run_ms ? run_ms : cfg.smoke ? 2 : 200) * 1e6;
	cfg.nthreads = 0;
	if (threads_arg) {
		char *end;

		for (const char *p = threads_arg; *p; p = *end ? end + 1 : end) {
			long v = strtol(p, &end, 10);

			if (end == p || v < 1 || v > BENCH_MAX_THREADS || cfg.nthreads == 3 ||
			    (*end && *end != ','))
				die("bad --threads list: %s", threads_arg);
			cfg.threads[cfg.nthreads++] = (int)v;
		}
	} else {
		cfg.threads[cfg.nthreads++] = 1;
		if (cfg.ncpu >= 2)
			cfg.threads[cfg.nthreads++] = 2;
		if (cfg.ncpu > 2)
			cfg.threads[cfg.nthreads++] = cfg.ncpu;
	}
	if (cfg.smoke) {
		static const uint64_t s[4] = { 1, 1000, 5000, 20000 };
		memcpy(cfg.sizes, s, sizeof s);
		cfg.mem_objects = 20000;
		if (!ckind_set)
			cfg.ckind_max = 5000;
	} else {
		static const uint64_t s[4] = { 1, 1000, 100000, 1000000 };
		memcpy(cfg.sizes, s, sizeof s);
		cfg.mem_objects = 1000000;
		if (!ckind_set)
			cfg.ckind_max = 100000;
	}
	cfg.nsizes = 4;
	if (sizes_arg) {
		char *end;

		cfg.nsizes = 0;
		for (const char *p = sizes_arg; *p; p = *end ? end + 1 : end) {
			unsigned long long v = strtoull(p, &end, 10);

			if (end == p || v < 1 || cfg.nsizes == 4 || (*end && *end != ','))
				die("bad --sizes list: %s", sizes_arg);
			cfg.sizes[cfg.nsizes++] = v;
		}
	}
}

int main(int argc, char **argv)
{
	struct utsname u;
	char cpu[256];
	uint64_t t0 = now_ns();

	if (argc > 1 && !strcmp(argv[1], "--memory-child"))
		return memory_child(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "--memory-form"))
		return memory_form_child(argc, argv);
	configure(argc, argv);
	rb_init();

	cpu_model(cpu, sizeof cpu);
	uname(&u);
	printf("traceref benchmark (%s mode)\n\n", cfg.smoke ? "smoke" : "full");
	printf("machine:  %d online CPUs, %s, %s %s %s\n", cfg.ncpu, cpu, u.sysname, u.release, u.machine);
	printf("compiler: gcc %s; liburcu memb flavour, sys_membarrier %s\n", __VERSION__,
	       rb_has_sys_membarrier() ? "in use" : "unavailable (readers use a fence)");
	printf("method:   ns per operation per thread = wall time of one run / operations per thread;\n"
	       "          median of %d rounds (min-max in parentheses); in each round the library and\n"
	       "          the baselines run one after the other, the order rotating from round to\n"
	       "          round; each run lasts about %.0f ms (calibrated; churn runs %.0f ms);\n"
	       "          ratio = library median / baseline median (below 1: the library is faster).\n",
	       cfg.rounds, cfg.run_ns / 1e6, (cfg.run_ns * 5 > 20e6 ? cfg.run_ns * 5 : 20e6) / 1e6);
	printf("threads:  ");
	for (int i = 0; i < cfg.nthreads; i++)
		printf("%s%d", i ? ", " : "", cfg.threads[i]);
	printf(" (one per core = %d)\n", cfg.ncpu);
	fflush(stdout);

	if (!cfg.only || cfg.only & (1u << 1))
		workload1();
	if (!cfg.only || cfg.only & (1u << 2))
		workload2();
	if (!cfg.only || cfg.only & (1u << 3))
		workload3();
	if (!cfg.only || cfg.only & (1u << 4))
		workload4();
	if (!cfg.only || cfg.only & (1u << 5)) {
		workload5();
		workload5_forms();
	}
	if (!cfg.only || cfg.only & (1u << 6))
		workload6();
	if (!cfg.only || cfg.only & (1u << 7))
		workload7();

	printf("\nelapsed: %.1f s\n", (double)(now_ns() - t0) / 1e9);
	if (cfg.smoke || tally_failed())
		printf("bench: %d passed, %d failed\n", tally_passed(), tally_failed());
	return tally_failed() ? 1 : 0;
}
