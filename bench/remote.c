/*
 * bench-remote: the library's cases of workload 7 (reference tracking) in a
 * process of its own, so that each can start with its own environment
 * (TRACEREF_TRACK is read when the process starts) or its own library
 * (LD_LIBRARY_PATH). Started by bench with pipes on its standard input and
 * output; reads commands, one a line:
 *
 *   run CASE THREADS ITERS SEED   one timed run; answers "NS MISSES"
 *
 * and exits at end of input. CASE: 0 steady bt_get + bt_put, 1 the 0->1->0
 * pair, 2 one hot session, 3 random ids over 1 000 sessions (lookup by id +
 * put); each case's objects are made at its first run and kept. It calls
 * only functions that every version of the library since workload 1 and 2
 * were written has, so it also runs against an older build.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <traceref.h>

#include "harness.h"
#include "workloads.h"

#define W1_TREES 8      /* object trees of cases 0 and 1: one per worker */
#define NCASES 4

struct node {
	struct bt_object base;
};

static void node_release(struct bt_object *obj)
{
	free(obj);
}

static void *node_new(void)
{
	void *p = NULL;

	if (posix_memalign(&p, 128, 128))
		die("out of memory");
	bt_object_init(p, node_release);
	return p;
}

static void w1_body(struct worker *w)
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

static void session_body(struct worker *w)
{
	const struct lookup_ctx *c = w->ctx;
	uint64_t seed = w->seed, miss = 0;

	for (uint64_t i = 0; i < w->iters; i++) {
		struct relay_session *s = relay_session_get_by_id(c->first + rng_below(&seed, c->count));

		if (!s) {
			miss++;
			continue;
		}
		relay_session_put(s);
	}
	w->misses = miss;
}

static struct w1_ctx w1[2];
static struct lookup_ctx lookups[2];
static bool made[NCASES];

static void make(int id)
{
	if (id < 2) {
		w1[id].transition = id == 1;
		for (int i = 0; i < W1_TREES; i++) {
			void *root = node_new(), *child = node_new();

			bt_object_set_parent(child, root);
			if (id == 1)
				bt_put(child);
			w1[id].root[i] = root;
			w1[id].child[i] = child;
		}
	} else {
		struct lookup_ctx *c = &lookups[id - 2];
		uint64_t n = id == 2 ? 1 : 1000;

		c->count = n;
		for (uint64_t i = 0; i < n; i++) {
			struct relay_session *s = relay_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME,
									0, false, 2, 11);

			if (!s)
				die("session creation failed");
			if (i == 0)
				c->first = relay_session_get_id(s);
			else if (relay_session_get_id(s) != c->first + i)
				die("session ids are not consecutive");
		}
	}
	made[id] = true;
}

int main(void)
{
	char line[256];

	while (fgets(line, sizeof line, stdin)) {
		int id, threads;
		unsigned long long iters, seed;
		uint64_t misses = 0;
		struct impl im = { .name = "remote" };
		double ns;

		if (sscanf(line, "run %d %d %llu %llu", &id, &threads, &iters, &seed) != 4 ||
		    id < 0 || id >= NCASES || threads < 1 || (id < 2 && threads > W1_TREES))
			die("bench-remote: bad command: %s", line);
		if (!made[id])
			make(id);
		if (id < 2) {
			im.body = w1_body;
			im.ctx = &w1[id];
		} else {
			im.body = session_body;
			im.ctx = &lookups[id - 2];
		}
		ns = bench_run_once(&im, threads, iters, seed, &misses);
		printf("%.0f %llu\n", ns, (unsigned long long)misses);
		fflush(stdout);
	}
	return 0;
}
