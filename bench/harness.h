/*
 * Benchmark harness: timing, worker threads, alternating rounds, medians and
 * the printed tables. Shared by the library's workloads (bench.c) and the
 * baselines (baseline_bt.c, baseline_urcu.c).
 */

#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Configuration, set once by main() from the command line.                 */

struct bench_config {
	bool smoke;             /* tiny counts, every workload, a few seconds */
	int rounds;             /* alternating rounds per case (odd) */
	double run_ns;          /* target duration of one timed run */
	int nthreads;           /* number of entries in threads[] */
	int threads[3];         /* 1, 2 and one per core, without duplicates */
	int ncpu;               /* online processors (sysconf) */
	uint64_t sizes[4];      /* object counts of workloads 2 and 3 */
	uint64_t mem_objects;   /* live objects of workload 5 */
	uint64_t ckind_max;     /* largest table of a C kind (workloads 5 and 6):
				 * every add copies a copy-on-write map (a
				 * shard of the table), so its fill grows
				 * faster than the object count */
	unsigned only;          /* bit i set: run workload i (all when 0) */
	uint64_t fixed_iters;   /* non-zero: operations per run, no calibration */
	int nsizes;             /* entries of sizes[] used by workloads 2, 3, 6 */
	bool split;             /* workload 2: each worker its own ids */
	const char *before_lib; /* workload 7: directory of a library built
				 * before reference tracking (optional) */
};

extern struct bench_config cfg;

/* Monotonic clock, nanoseconds. */
uint64_t now_ns(void);

/* ------------------------------------------------------------------------ */
/* Worker threads.                                                          */

struct worker {
	int index;              /* 0 .. threads-1 */
	int nthreads;
	uint64_t iters;         /* operations this worker performs */
	uint64_t seed;          /* for random ids; differs per worker and run */
	void *ctx;              /* the workload's shared state */
	uint64_t misses;        /* operations that did not find their object */
	uint64_t t_start;       /* set by the harness before body() runs */
	uint64_t t_end;         /* set by the harness when body() returns */
};

/*
 * One implementation of one workload case. body() runs in each worker
 * thread between a start barrier and its end timestamp; thread_init() and
 * thread_fini() run outside the timing (RCU registration); after() runs in
 * the main thread after every worker finished, inside the timing (the final
 * reclamation barrier of the churn workload).
 */
struct impl {
	const char *name;       /* column heading: "traceref", "liburcu", ... */
	void (*body)(struct worker *w);
	void (*thread_init)(void);
	void (*thread_fini)(void);
	void (*after)(void *ctx);
	void *ctx;
	/* Non-NULL: one timed run happens elsewhere (another process, see
	 * workload 7); returns its wall time in ns and adds its misses. */
	double (*run)(struct impl *im, int threads, uint64_t iters, uint64_t seed,
		      uint64_t *misses);
};

/* Fast per-thread pseudo-random numbers (xorshift64*). */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A uniform index in [0, n) without a division. */
static inline uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(s) * n) >> 64);
}

/* Keep the compiler from merging or dropping work around this point. */
#define BENCH_OPAQUE(p) __asm__ __volatile__("" : : "r"(p) : "memory")

/* ------------------------------------------------------------------------ */
/* Measurement.                                                             */

#define BENCH_MAX_IMPLS 6
#define BENCH_MAX_ROUNDS 15

struct result {
	double med, min, max;   /* ns per operation per thread */
	uint64_t iters;         /* operations per thread in each timed run */
	uint64_t misses;        /* summed over every run */
	bool ok;                /* ran, finite, positive, no misses */
};

/*
 * Measure `n` implementations of one case with `threads` workers: each is
 * calibrated to cfg.run_ns per run, then cfg.rounds rounds run every
 * implementation once, in an order that rotates from round to round.
 * ns/op = wall time of the run / operations per thread.
 */
void measure(struct impl *impls, int n, int threads, struct result *out);

/* One timed run of `im` (what measure() repeats): wall time in ns. */
double bench_run_once(struct impl *im, int threads, uint64_t iters, uint64_t seed,
		      uint64_t *misses);

/* ------------------------------------------------------------------------ */
/* Tables.                                                                  */

struct table {
	const char *title;
	int nimpl;                    /* library + baselines */
	const char *impl_names[BENCH_MAX_IMPLS];
	const char *ratio_names[BENCH_MAX_IMPLS]; /* headings of the ratios */
	int target_base;              /* baseline index (1..) the target uses */
	bool has_objects;             /* print an "objects" column */
};

/* Target kinds for a row: ratio (library / baseline) at most `limit`. */
struct row {
	const char *label;
	uint64_t objects;
	int threads;
	struct result r[BENCH_MAX_IMPLS];
	double limit;                 /* <= 0: no target (informative row) */
};

void table_begin(const struct table *t);
void table_row(const struct table *t, const struct row *r);
void table_end(void);

/* Smoke accounting: every measurement that ran counts once. */
void tally(bool ok, const char *what);
int tally_failed(void);
int tally_passed(void);

/* Print `fmt` to stderr as a progress line (suppressed when stderr is not a
 * terminal and the run is a smoke run). */
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Abort the whole benchmark with a message: a setup step failed. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif /* BENCH_HARNESS_H */
