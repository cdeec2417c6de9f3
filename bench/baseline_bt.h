/*
 * Babeltrace's parent/child reference counting as C code carries it: an
 * object header with a count, a release function and a parent pointer, and
 * static inline get/put. A child holds one reference on its parent while its
 * own count is above zero: the 0->1 get takes it, the 1->0 put drops it. An
 * object without a release function is static (get and put do nothing).
 *
 * Two variants: plain integers (the original, single-threaded) and C11
 * atomics (what a thread-safe C port would write: relaxed increment, release
 * decrement, acquire fence before the release function).
 */

#ifndef BENCH_BASELINE_BT_H
#define BENCH_BASELINE_BT_H

#include <stdatomic.h>
#include <stddef.h>

/* ---- plain counters ---- */

struct cbt_object {
	long ref_count;
	void (*release)(struct cbt_object *obj);
	struct cbt_object *parent;
};

static inline void cbt_object_init(struct cbt_object *obj,
				   void (*release)(struct cbt_object *))
{
	obj->ref_count = 1;
	obj->release = release;
	obj->parent = NULL;
}

static inline void *cbt_get(void *ptr)
{
	struct cbt_object *obj = ptr;

	while (obj && obj->release) {
		struct cbt_object *parent = obj->parent;

		if (obj->ref_count++ != 0 || !parent)
			break;
		obj = parent;           /* 0 -> 1: take the parent reference */
	}
	return ptr;
}

static inline void cbt_put(void *ptr)
{
	struct cbt_object *obj = ptr;

	while (obj && obj->release) {
		if (--obj->ref_count != 0)
			break;
		if (!obj->parent) {
			obj->release(obj);      /* a root at zero: destroy */
			break;
		}
		obj = obj->parent;      /* 1 -> 0: drop the parent reference */
	}
}

/* ---- C11 atomic counters ---- */

struct abt_object {
	atomic_long ref_count;
	void (*release)(struct abt_object *obj);
	struct abt_object *parent;
};

static inline void abt_object_init(struct abt_object *obj,
				   void (*release)(struct abt_object *))
{
	atomic_init(&obj->ref_count, 1);
	obj->release = release;
	obj->parent = NULL;
}

static inline void *abt_get(void *ptr)
{
	struct abt_object *obj = ptr;

	while (obj && obj->release) {
		long old = atomic_fetch_add_explicit(&obj->ref_count, 1,
						     memory_order_relaxed);
		if (old != 0 || !obj->parent)
			break;
		obj = obj->parent;
	}
	return ptr;
}

static inline void abt_put(void *ptr)
{
	struct abt_object *obj = ptr;

	while (obj && obj->release) {
		long old = atomic_fetch_sub_explicit(&obj->ref_count, 1,
						     memory_order_release);
		if (old != 1)
			break;
		atomic_thread_fence(memory_order_acquire);
		if (!obj->parent) {
			obj->release(obj);
			break;
		}
		obj = obj->parent;
	}
}

#endif /* BENCH_BASELINE_BT_H */
