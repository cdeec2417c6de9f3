/*
 * Workload 1 on the C counters of baseline_bt.h: bt_get + bt_put on a child,
 * steady (count stays above zero) or through the 0->1->0 transition that
 * takes and drops the parent reference.
 */

#include "baseline_bt.h"

#include <stdlib.h>

#include "workloads.h"

/* In libbenchfloor.so (floor_bt.c). */
void *floor_bt_get(void *obj);
void floor_bt_put(void *obj);

/* Objects get a cache line pair of their own: no false sharing between
 * workers, as for the library's objects. */
static void *node_alloc(void)
{
	void *p = NULL;

	if (posix_memalign(&p, 128, 128))
		die("out of memory");
	return p;
}

static void cbt_free(struct cbt_object *obj)
{
	free(obj);
}

static void abt_free(struct abt_object *obj)
{
	free(obj);
}

void cbt_setup(struct w1_ctx *c, int threads)
{
	for (int i = 0; i < threads; i++) {
		struct cbt_object *root = node_alloc(), *child = node_alloc();

		cbt_object_init(root, cbt_free);
		cbt_object_init(child, cbt_free);
		/* Link: the child (count 1) holds a reference on its parent. */
		child->parent = root;
		cbt_get(root);
		if (c->transition)
			cbt_put(child);         /* child 0, root 1 */
		c->root[i] = root;
		c->child[i] = child;
	}
}

void cbt_teardown(struct w1_ctx *c, int threads)
{
	for (int i = 0; i < threads; i++) {
		if (!c->transition)
			cbt_put(c->child[i]);
		cbt_put(c->root[i]);            /* root released */
		free(c->child[i]);              /* children go with their root */
	}
}

void cbt_body(struct worker *w)
{
	const struct w1_ctx *c = w->ctx;
	void *obj = c->child[w->index];

	for (uint64_t i = 0; i < w->iters; i++) {
		cbt_get(obj);
		BENCH_OPAQUE(obj);
		cbt_put(obj);
		BENCH_OPAQUE(obj);
	}
}

void abt_setup(struct w1_ctx *c, int threads)
{
	for (int i = 0; i < threads; i++) {
		struct abt_object *root = node_alloc(), *child = node_alloc();

		abt_object_init(root, abt_free);
		abt_object_init(child, abt_free);
		child->parent = root;
		abt_get(root);
		if (c->transition)
			abt_put(child);
		c->root[i] = root;
		c->child[i] = child;
	}
}

void abt_teardown(struct w1_ctx *c, int threads)
{
	for (int i = 0; i < threads; i++) {
		if (!c->transition)
			abt_put(c->child[i]);
		abt_put(c->root[i]);
		free(c->child[i]);
	}
}

void abt_body(struct worker *w)
{
	const struct w1_ctx *c = w->ctx;
	void *obj = c->child[w->index];

	for (uint64_t i = 0; i < w->iters; i++) {
		abt_get(obj);
		BENCH_OPAQUE(obj);
		abt_put(obj);
		BENCH_OPAQUE(obj);
	}
}

/* The same atomic objects, through the shared library's functions. */
void fbt_body(struct worker *w)
{
	const struct w1_ctx *c = w->ctx;
	void *obj = c->child[w->index];

	for (uint64_t i = 0; i < w->iters; i++) {
		floor_bt_get(obj);
		BENCH_OPAQUE(obj);
		floor_bt_put(obj);
		BENCH_OPAQUE(obj);
	}
}
