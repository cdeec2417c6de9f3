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
 *      measured in a child process of its own.
 *
 * Usage: bench [--smoke] [--only=1,2,...] [--rounds=N] [--run-ms=MS]
 *              [--iters=N] [--threads=LIST]   (the last two for profiling)
 */

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <traceref.h>

#include "harness.h"
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
/* Workloads 2 to 4 through the library.                                    */

static void lib_session_lookup_body(struct worker *w)
{
	const struct lookup_ctx *c = w->ctx;
	uint64_t seed = w->seed, miss = 0;

	for (uint64_t i = 0; i < w->iters; i++) {
		uint64_t id = c->first + rng_below(&seed, c->count);
		struct relay_session *s = relay_session_get_by_id(id);

		if (!s) {
			miss++;
			continue;
		}
		relay_session_put(s);
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

	table_begin(&t);
	for (int tr = 0; tr < 2; tr++) {
		for (int ti = 0; ti < cfg.nthreads; ti++) {
			int threads = cfg.threads[ti];
			struct w1_ctx lib = { .transition = tr }, plain = lib, atom = lib, so = lib;
			struct impl impls[4] = {
				{ .name = "traceref", .body = lib_w1_body, .ctx = &lib },
				{ .name = "C plain", .body = cbt_body, .ctx = &plain },
				{ .name = "C atomic", .body = abt_body, .ctx = &atom },
				{ .name = "C atomic .so", .body = fbt_body, .ctx = &so },
			};
			struct row row = {
				.label = tr ? "0->1->0 (takes the parent)" : "steady (count stays >= 1)",
				.threads = threads,
				.limit = 1.30,
			};

			progress("workload 1, %s, %d thread(s)", row.label, threads);
			lib_w1_setup(&lib, threads);
			cbt_setup(&plain, threads);
			abt_setup(&atom, threads);
			abt_setup(&so, threads);
			measure(impls, 4, threads, row.r);
			lib_w1_teardown(&lib, threads);
			cbt_teardown(&plain, threads);
			abt_teardown(&atom, threads);
			abt_teardown(&so, threads);
			table_row(&t, &row);
			for (int k = 0; k < 4; k++)
				tally(row.r[k].ok, "workload 1");
		}
	}
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
		.title = "Workload 2: relay_session_get_by_id + relay_session_put vs liburcu (cds_lfht + urcu_ref)",
		.nimpl = 2,
		.impl_names = { "traceref", "liburcu" },
		.ratio_names = { "", "ratio" },
		.target_base = 1,
		.has_objects = true,
	};

	table_begin(&t);
	for (int si = 0; si < 4; si++) {
		uint64_t n = cfg.sizes[si];
		struct relay_session **ls = calloc(n, sizeof(*ls));
		struct rb_session **bs = calloc(n, sizeof(*bs));
		struct lookup_ctx lc = { .count = n }, bc = { .count = n };
		size_t live0 = traceref_live_objects();

		if (!ls || !bs)
			die("out of memory");
		progress("workload 2: creating %llu sessions", (unsigned long long)n);
		rb_tables_create(n, 1);
		for (uint64_t i = 0; i < n; i++) {
			ls[i] = relay_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11);
			bs[i] = rb_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11);
			if (!ls[i] || !bs[i])
				die("session creation failed");
		}
		lc.first = relay_session_get_id(ls[0]);
		bc.first = rb_session_id(bs[0]);
		for (uint64_t i = 0; i < n; i++)
			if (relay_session_get_id(ls[i]) != lc.first + i ||
			    rb_session_id(bs[i]) != bc.first + i)
				die("session ids are not consecutive");

		for (int ti = 0; ti < cfg.nthreads; ti++) {
			int threads = cfg.threads[ti];
			struct impl impls[2] = {
				{ .name = "traceref", .body = lib_session_lookup_body, .ctx = &lc },
				{ .name = "liburcu", .body = rb_session_lookup_body,
				  .thread_init = rb_thread_init, .thread_fini = rb_thread_fini, .ctx = &bc },
			};
			struct row row = {
				.label = n == 1 ? "one hot object" : "random ids",
				.objects = n,
				.threads = threads,
				.limit = lookup_limit(n),
			};

			progress("workload 2, %llu sessions, %d thread(s)", (unsigned long long)n, threads);
			measure(impls, 2, threads, row.r);
			table_row(&t, &row);
			tally(row.r[0].ok, "workload 2 (traceref)");
			tally(row.r[1].ok, "workload 2 (liburcu)");
		}

		for (uint64_t i = 0; i < n; i++) {
			relay_session_close(ls[i]);
			rb_session_close(bs[i]);
		}
		lib_barrier(NULL);
		rb_tables_destroy();
		if (traceref_live_objects() != live0)
			fprintf(stderr, "bench: warning: %zu library objects left after workload 2\n",
				traceref_live_objects() - live0);
		free(ls);
		free(bs);
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
	for (int si = 0; si < 4; si++) {
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
	if (traceref_reclaim_barrier())
		die("traceref_reclaim_barrier failed");
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

/* Run one measurement in a fresh process (fork + exec of this program). */
static bool spawn_memory(const char *impl, const char *kind, uint64_t n, struct mem_usage *out)
{
	char count[32];
	int fd[2], status;
	pid_t pid;
	FILE *f;
	bool ok;

	snprintf(count, sizeof count, "%llu", (unsigned long long)n);
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
		execl("/proc/self/exe", "bench", "--memory-child", impl, kind, count, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	ok = f && fscanf(f, "%lld %lld", &out->rss, &out->heap) == 2;
	if (f)
		fclose(f);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		ok = false;
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
		"             [--iters=N] [--threads=LIST]\n"
		"  --smoke      tiny counts, every workload, a few seconds; exit 0 only\n"
		"               when every measurement ran and gave a finite number\n"
		"  --only=LIST  workloads to run, e.g. --only=2,3 (default: 1 to 5)\n"
		"  --rounds=N   alternating rounds per case (default 11; smoke 3)\n"
		"  --run-ms=MS  target duration of one timed run (default 200; smoke 2)\n"
		"  --iters=N    for profiling: N operations per thread in every run,\n"
		"               no calibration\n"
		"  --threads=L  thread counts of workloads 1 to 3, e.g. --threads=1\n"
		"               (default: 1, 2 and one per core)\n");
}

static void configure(int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int rounds = 0;
	double run_ms = 0;
	const char *threads_arg = NULL;

	cfg.ncpu = ncpu > 0 ? (int)(ncpu > BENCH_MAX_THREADS ? BENCH_MAX_THREADS : ncpu) : 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--smoke")) {
			cfg.smoke = true;
		} else if (!strncmp(a, "--only=", 7)) {
			for (const char *p = a + 7; *p; p++) {
				if (*p >= '1' && *p <= '5')
					cfg.only |= 1u << (*p - '0');
				else if (*p != ',')
					die("bad --only list: %s", a + 7);
			}
		} else if (!strncmp(a, "--iters=", 8)) {
			cfg.fixed_iters = strtoull(a + 8, NULL, 10);
			if (!cfg.fixed_iters)
				die("--iters must be positive");
		} else if (!strncmp(a, "--threads=", 10)) {
			threads_arg = a + 10;
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
	} else {
		static const uint64_t s[4] = { 1, 1000, 100000, 1000000 };
		memcpy(cfg.sizes, s, sizeof s);
		cfg.mem_objects = 1000000;
	}
}

int main(int argc, char **argv)
{
	struct utsname u;
	char cpu[256];
	uint64_t t0 = now_ns();

	if (argc > 1 && !strcmp(argv[1], "--memory-child"))
		return memory_child(argc, argv);
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
	if (!cfg.only || cfg.only & (1u << 5))
		workload5();

	printf("\nelapsed: %.1f s\n", (double)(now_ns() - t0) / 1e9);
	if (cfg.smoke || tally_failed())
		printf("bench: %d passed, %d failed\n", tally_passed(), tally_failed());
	return tally_failed() ? 1 : 0;
}
