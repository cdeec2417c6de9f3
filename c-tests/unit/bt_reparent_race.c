/*
 * Re-parenting embedded objects while other threads use the same trees, each
 * thread holding only references it owns (every sequence is legal by the
 * header):
 *
 *   1. two roots A and B, `bt_object_set_parent(A, B)` and
 *      `bt_object_set_parent(B, A)` at the same moment: at most one is
 *      accepted, so no cycle forms and both trees are destroyed in the end;
 *   2. child C under P1, P1 held only by C; one thread holds C and calls
 *      `bt_object_get_parent(C)` then `bt_put()` in a loop while another
 *      holds C and P2 and moves C under P2 (whose put takes P1 to zero):
 *      P1 is released exactly once and never handed out once released;
 *   3. the same with `traceref_dump_dot(C)` in the loop: the walk never
 *      reads a released node (valgrind and ASan runs of this test see it).
 *
 * Each scenario runs in rounds for a bounded time; every release is checked
 * (each object released once, after its children) and the census returns
 * to zero after every round.
 */

#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "traceref.h"
#include "check.h"

#define NODE_MAGIC 0x6e6f6465L

struct node {
	struct bt_object base;
	long magic;
	atomic_int releases;
};

static atomic_long total_releases;

static void node_release(struct bt_object *obj)
{
	struct node *n = (struct node *)obj;

	TCHECK(n->magic == NODE_MAGIC);
	TCHECK(atomic_fetch_add(&n->releases, 1) == 0);
	n->magic = 0;
	atomic_fetch_add(&total_releases, 1);
	free(n);
}

static struct node *new_node(void)
{
	struct node *n = calloc(1, sizeof(*n));

	TCHECK(n != NULL);
	bt_object_init(n, node_release);
	n->magic = NODE_MAGIC;
	return n;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds each scenario runs (TRACEREF_RACE_SECONDS, default 1). */
static double budget(void)
{
	const char *s = getenv("TRACEREF_RACE_SECONDS");

	return s ? atof(s) : 1.0;
}

static pthread_barrier_t go;

/* ---- 1. crossed set_parent ---------------------------------------------- */

struct cross {
	struct node *child, *parent;
};

static void *cross_thread(void *arg)
{
	struct cross *c = arg;

	pthread_barrier_wait(&go);
	bt_object_set_parent(c->child, c->parent);
	return NULL;
}

/* The number of steps from `n` to its root, or -1 past `limit` (a cycle). */
static int depth(struct node *n, int limit)
{
	struct bt_object *p = bt_object_get_parent(n);
	int d = 0;

	while (p) {
		struct bt_object *up;

		if (++d > limit) {
			bt_put(p);
			return -1;
		}
		up = bt_object_get_parent(p);
		bt_put(p);
		p = up;
	}
	return d;
}

static void crossed_set_parent(void)
{
	double end = now() + budget();
	long rounds = 0, a_under_b = 0, b_under_a = 0;

	do {
		struct node *a = new_node(), *b = new_node();
		struct cross x = { a, b }, y = { b, a };
		pthread_t t1, t2;
		int da, db;

		pthread_barrier_init(&go, NULL, 2);
		TCHECK(pthread_create(&t1, NULL, cross_thread, &x) == 0);
		TCHECK(pthread_create(&t2, NULL, cross_thread, &y) == 0);
		pthread_join(t1, NULL);
		pthread_join(t2, NULL);
		pthread_barrier_destroy(&go);

		da = depth(a, 4);
		db = depth(b, 4);
		TCHECK(da >= 0 && db >= 0);
		/* Exactly one of the two links was accepted. */
		TCHECK(da + db == 1);
		a_under_b += da;
		b_under_a += db;
		bt_put(a);
		bt_put(b);
		TCHECK(traceref_live_objects() == 0);
		rounds++;
	} while (now() < end);
	CHECK(a_under_b + b_under_a == rounds);
	CHECK_OK("crossed set_parent: %ld rounds, never a cycle (A under B %ld, B under A %ld)",
		 rounds, a_under_b, b_under_a);
}

/* ---- 2 and 3. a walk through C while C moves from P1 to P2 --------------- */

enum walk { WALK_GET_PARENT, WALK_DOT };

struct walker {
	struct node *c, *p1, *p2;
	enum walk how;
	atomic_int stop;
	long walks;
	int devnull;
};

static void *walker_thread(void *arg)
{
	struct walker *w = arg;

	pthread_barrier_wait(&go);
	while (!atomic_load(&w->stop)) {
		if (w->how == WALK_GET_PARENT) {
			struct node *p = (struct node *)bt_object_get_parent(w->c);

			TCHECK(p == w->p1 || p == w->p2);
			/* Handed out alive, with a counted reference. */
			TCHECK(p->magic == NODE_MAGIC);
			TCHECK(bt_object_get_ref_count(p) >= 1);
			bt_put(p);
		} else {
			TCHECK(traceref_dump_dot(w->c, w->devnull) == 0);
		}
		w->walks++;
	}
	return NULL;
}

static void reparent_under_walk(enum walk how, const char *what)
{
	double end = now() + budget();
	long rounds = 0, seen = 0;
	int devnull = open("/dev/null", O_WRONLY);

	TCHECK(devnull >= 0);
	do {
		struct walker w = { 0 };
		pthread_t t;
		long before = atomic_load(&total_releases);
		int spin;

		w.how = how;
		w.devnull = devnull;
		w.p1 = new_node();
		w.p2 = new_node();
		w.c = new_node();
		bt_object_set_parent(w.c, w.p1);
		bt_put(w.p1); /* P1 is now held only by C. */
		bt_get(w.c);  /* the walker's reference on C */

		pthread_barrier_init(&go, NULL, 2);
		TCHECK(pthread_create(&t, NULL, walker_thread, &w) == 0);
		pthread_barrier_wait(&go);
		for (spin = 0; spin < (int)(rounds % 64); spin++)
			__asm__ __volatile__("" ::: "memory");
		/* The move: its put of P1 takes P1 to zero (unless the walker
		 * holds it at that instant); P1 is released exactly once. */
		bt_object_set_parent(w.c, w.p2);
		atomic_store(&w.stop, 1);
		pthread_join(t, NULL);
		pthread_barrier_destroy(&go);
		seen += w.walks;

		TCHECK(atomic_load(&total_releases) == before + 1);
		TCHECK((struct node *)bt_object_get_parent(w.c) == w.p2);
		bt_put(w.p2); /* the reference just taken */
		bt_put(w.c);  /* the walker's */
		bt_put(w.p2); /* ours: P2 lives on through C */
		bt_put(w.c);  /* ours: the tree of P2 goes */
		TCHECK(atomic_load(&total_releases) == before + 3);
		TCHECK(traceref_live_objects() == 0);
		rounds++;
	} while (now() < end);
	close(devnull);
	CHECK(rounds > 0);
	CHECK_OK("%s during a move from P1 to P2: %ld rounds, %ld walks, "
		 "P1 released once each time",
		 what, rounds, seen);
}

int main(void)
{
	crossed_set_parent();
	reparent_under_walk(WALK_GET_PARENT, "bt_object_get_parent");
	reparent_under_walk(WALK_DOT, "traceref_dump_dot");
	CHECK_DONE("bt_reparent_race");
	return 0;
}
