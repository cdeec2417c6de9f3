/*
 * Benchmark harness: see harness.h.
 */

#include "harness.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct bench_config cfg;

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

void progress(const char *fmt, ...)
{
	va_list ap;

	if (cfg.smoke)
		return;
	va_start(ap, fmt);
	fputs("  .. ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* One timed run.                                                           */

struct thread_arg {
	struct worker w;
	struct impl *im;
	pthread_barrier_t *start;
	pthread_t tid;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	if (a->im->thread_init)
		a->im->thread_init();
	pthread_barrier_wait(a->start);
	a->w.t_start = now_ns();
	a->im->body(&a->w);
	a->w.t_end = now_ns();
	if (a->im->thread_fini)
		a->im->thread_fini();
	return NULL;
}

/* Wall time (ns) of one run of `im` with `threads` workers of `iters`
 * operations each; adds the workers' misses to *misses. */
static double run_once(struct impl *im, int threads, uint64_t iters,
		       uint64_t seed, uint64_t *misses)
{
	struct thread_arg args[256];
	pthread_barrier_t start;
	uint64_t t_start = UINT64_MAX, t_end = 0;
	int i, err;

	if (threads < 1 || threads > 256)
		die("bad thread count %d", threads);
	if (im->run)
		return im->run(im, threads, iters, seed, misses);
	pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
	for (i = 0; i < threads; i++) {
		args[i].w = (struct worker){
			.index = i,
			.nthreads = threads,
			.iters = iters,
			.seed = (seed * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)(i + 1) << 32) ^ 0x5DEECE66DULL,
			.ctx = im->ctx,
		};
		if (args[i].w.seed == 0)
			args[i].w.seed = 1;
		args[i].im = im;
		args[i].start = &start;
		err = pthread_create(&args[i].tid, NULL, thread_main, &args[i]);
		if (err)
			die("pthread_create: %s", strerror(err));
	}
	pthread_barrier_wait(&start);
	for (i = 0; i < threads; i++) {
		pthread_join(args[i].tid, NULL);
		if (args[i].w.t_start < t_start)
			t_start = args[i].w.t_start;
		if (args[i].w.t_end > t_end)
			t_end = args[i].w.t_end;
		*misses += args[i].w.misses;
	}
	if (im->after) {
		im->after(im->ctx);
		t_end = now_ns();
	}
	pthread_barrier_destroy(&start);
	/* From the first worker's start to the last one's end (or to the end
	 * of after()). */
	return (double)(t_end - t_start);
}

double bench_run_once(struct impl *im, int threads, uint64_t iters, uint64_t seed,
		      uint64_t *misses)
{
	return run_once(im, threads, iters, seed, misses);
}

/*
 * Operations per thread so that one run lasts about cfg.run_ns. A run may
 * have a fixed cost (the churn's final reclamation barrier): n grows until
 * the run is long enough AND doubling n nearly doubles its time, so that
 * the per-operation cost dominates the estimate.
 */
static uint64_t calibrate(struct impl *im, int threads, uint64_t *misses)
{
	uint64_t n = cfg.smoke ? 64 : 1024;
	double e;

	if (cfg.fixed_iters) {
		/* Profiling: a fixed count; this first run is the warm-up. */
		run_once(im, threads, cfg.fixed_iters, 12345, misses);
		return cfg.fixed_iters;
	}
	e = run_once(im, threads, n, 12345, misses);

	while (n < (1ULL << 32)) {
		uint64_t n2 = e < cfg.run_ns / 64 ? n * 8 : n * 2;
		double e2 = run_once(im, threads, n2, 12345, misses);
		bool linear = e2 >= 0.8 * e * (double)(n2 / n);

		n = n2;
		e = e2;
		if (e >= cfg.run_ns / 8 && linear)
			break;
	}
	if (e < 1)
		e = 1;
	n = (uint64_t)((double)n * cfg.run_ns / e);
	return n < 16 ? 16 : n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void measure(struct impl *impls, int n, int threads, struct result *out)
{
	double v[BENCH_MAX_IMPLS][BENCH_MAX_ROUNDS];
	int rounds = cfg.rounds, r, k;

	if (n > BENCH_MAX_IMPLS || rounds > BENCH_MAX_ROUNDS || rounds < 1)
		die("bad measurement shape");
	for (k = 0; k < n; k++) {
		out[k] = (struct result){ 0 };
		/* The calibration run is also the warm-up: caches, tables,
		 * thread-local state, allocator arenas. */
		out[k].iters = calibrate(&impls[k], threads, &out[k].misses);
	}
	for (r = 0; r < rounds; r++) {
		for (k = 0; k < n; k++) {
			int i = (k + r) % n;
			double e = run_once(&impls[i], threads, out[i].iters,
					    (uint64_t)r + 1, &out[i].misses);
			v[i][r] = e / (double)out[i].iters;
		}
	}
	for (k = 0; k < n; k++) {
		qsort(v[k], (size_t)rounds, sizeof(double), cmp_double);
		out[k].min = v[k][0];
		out[k].max = v[k][rounds - 1];
		out[k].med = rounds % 2 ? v[k][rounds / 2]
					: (v[k][rounds / 2 - 1] + v[k][rounds / 2]) / 2;
		out[k].ok = isfinite(out[k].med) && out[k].med > 0 &&
			    isfinite(out[k].max) && out[k].misses == 0;
	}
}

/* ------------------------------------------------------------------------ */
/* Tables.                                                                  */

static int passed, failed;

void tally(bool ok, const char *what)
{
	if (ok) {
		passed++;
	} else {
		failed++;
		fprintf(stderr, "bench: FAILED: %s\n", what);
	}
}

int tally_failed(void)
{
	return failed;
}

int tally_passed(void)
{
	return passed;
}

#define W_CASE 26
#define W_OBJ 9
#define W_THR 3
#define W_VAL 22
#define W_RATIO 10
#define W_TARGET 8
#define W_MET 4

static void fmt_ns(char *buf, size_t len, double v)
{
	if (v >= 1000)
		snprintf(buf, len, "%.0f", v);
	else if (v >= 100)
		snprintf(buf, len, "%.1f", v);
	else
		snprintf(buf, len, "%.2f", v);
}

static void fmt_result(char *buf, size_t len, const struct result *r)
{
	char a[32], b[32], c[32];

	if (!r->ok) {
		snprintf(buf, len, "FAILED");
		return;
	}
	fmt_ns(a, sizeof a, r->med);
	fmt_ns(b, sizeof b, r->min);
	fmt_ns(c, sizeof c, r->max);
	snprintf(buf, len, "%s (%s-%s)", a, b, c);
}

static void dashes(int w, bool right)
{
	int i;

	putchar('|');
	for (i = 0; i < w + 1; i++)
		putchar('-');
	putchar(right ? ':' : '-');
}

void table_begin(const struct table *t)
{
	char h[64];
	int k;

	printf("\n%s\n\n", t->title);
	printf("| %-*s ", W_CASE, "case");
	if (t->has_objects)
		printf("| %*s ", W_OBJ, "objects");
	printf("| %*s ", W_THR, "thr");
	for (k = 0; k < t->nimpl; k++) {
		snprintf(h, sizeof h, "%s ns/op", t->impl_names[k]);
		printf("| %-*s ", W_VAL, h);
	}
	for (k = 1; k < t->nimpl; k++) {
		printf("| %*s ", W_RATIO, t->ratio_names[k]);
	}
	printf("| %-*s | %-*s |\n", W_TARGET, "target", W_MET, "met");
	dashes(W_CASE, false);
	if (t->has_objects)
		dashes(W_OBJ, true);
	dashes(W_THR, true);
	for (k = 0; k < t->nimpl; k++)
		dashes(W_VAL, false);
	for (k = 1; k < t->nimpl; k++)
		dashes(W_RATIO, true);
	dashes(W_TARGET, false);
	dashes(W_MET, false);
	printf("|\n");
	fflush(stdout);
}

void table_row(const struct table *t, const struct row *r)
{
	char buf[128];
	int k;
	bool all_ok = true;
	double ratio = 0;

	printf("| %-*s ", W_CASE, r->label);
	if (t->has_objects)
		printf("| %*llu ", W_OBJ, (unsigned long long)r->objects);
	printf("| %*d ", W_THR, r->threads);
	for (k = 0; k < t->nimpl; k++) {
		fmt_result(buf, sizeof buf, &r->r[k]);
		printf("| %-*s ", W_VAL, buf);
		all_ok = all_ok && r->r[k].ok;
	}
	for (k = 1; k < t->nimpl; k++) {
		if (r->r[0].ok && r->r[k].ok) {
			double q = r->r[0].med / r->r[k].med;
			if (k == t->target_base)
				ratio = q;
			printf("| %*.2f ", W_RATIO, q);
		} else {
			printf("| %*s ", W_RATIO, "-");
		}
	}
	if (r->limit > 0) {
		snprintf(buf, sizeof buf, "<= %.2f", r->limit);
		printf("| %-*s | %-*s |\n", W_TARGET, buf, W_MET,
		       !all_ok ? "-" : ratio <= r->limit ? "yes" : "NO");
	} else {
		printf("| %-*s | %-*s |\n", W_TARGET, "-", W_MET, "-");
	}
	fflush(stdout);
}

void table_end(void)
{
	fflush(stdout);
}
