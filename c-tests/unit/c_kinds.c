/*
 * Objects of kinds that C code defines: a cache of entries, each entry a
 * struct of its own embedding a struct traceref_object, under container
 * objects (caches), found by number and by name in tables.
 *
 *   - every function: init, get, put, get_ref_count, close, set_container,
 *     tables (create, destroy, add_unique, add_unique_str, get, get_str,
 *     remove, for_each), TRACEREF_CONTAINER_OF;
 *   - the semantics: release then free after a grace period, several tables
 *     per object, whole-string keys, destroy with objects in it, for_each
 *     stopping, a release cascade through containers reclaimed by one
 *     barrier;
 *   - every misuse: one diagnostic line naming the kind and key;
 *   - threads racing get-or-create on shared keys, lookups, closes and
 *     final puts; the census back to zero.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traceref.h"
#include "capture.h"
#include "check.h"

static pthread_mutex_t tally = PTHREAD_MUTEX_INITIALIZER;
static long released, freed;

struct entry {
	uint64_t id;
	char name[48];
	struct traceref_object obj;	/* not first, on purpose */
	int released;
};

static void entry_release(struct traceref_object *obj)
{
	struct entry *e = TRACEREF_CONTAINER_OF(obj, struct entry, obj);

	e->released++;
	pthread_mutex_lock(&tally);
	released++;
	pthread_mutex_unlock(&tally);
}

static void entry_free(struct traceref_object *obj)
{
	struct entry *e = TRACEREF_CONTAINER_OF(obj, struct entry, obj);

	if (e->released != 1) {
		fprintf(stderr, "entry %llu freed after %d releases\n",
			(unsigned long long)e->id, e->released);
		abort();
	}
	pthread_mutex_lock(&tally);
	freed++;
	pthread_mutex_unlock(&tally);
	memset(e, 0x5a, sizeof(*e));
	free(e);
}

static const struct traceref_kind entry_kind = {
	.name = "entry",
	.release = entry_release,
	.free = entry_free,
};

/* A container: no release function. */
struct cache {
	struct traceref_object obj;
	int tag;
};

static void cache_free(struct traceref_object *obj)
{
	pthread_mutex_lock(&tally);
	freed++;
	pthread_mutex_unlock(&tally);
	free(TRACEREF_CONTAINER_OF(obj, struct cache, obj));
}

static const struct traceref_kind cache_kind = {
	.name = "cache",
	.release = NULL,
	.free = cache_free,
};

static const struct traceref_kind no_free_kind = {
	.name = "leaky",
	.release = entry_release,
	.free = NULL,
};

static struct entry *entry_new(uint64_t id)
{
	/* malloc, not calloc: init must not need zeroed memory. */
	struct entry *e = malloc(sizeof(*e));

	CHECK(e != NULL);
	e->id = id;
	snprintf(e->name, sizeof(e->name), "entry-%llu", (unsigned long long)id);
	e->released = 0;
	CHECK_EQ_LONG(traceref_object_init(&e->obj, &entry_kind), 0);
	return e;
}

static struct cache *cache_new(int tag)
{
	struct cache *c = malloc(sizeof(*c));

	CHECK(c != NULL);
	c->tag = tag;
	CHECK_EQ_LONG(traceref_object_init(&c->obj, &cache_kind), 0);
	return c;
}

static struct entry *as_entry(struct traceref_object *o)
{
	return o ? TRACEREF_CONTAINER_OF(o, struct entry, obj) : NULL;
}

static void reset_tally(void)
{
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	pthread_mutex_lock(&tally);
	released = freed = 0;
	pthread_mutex_unlock(&tally);
}

struct align_probe {
	char c;
	struct traceref_object o;
};

/* The picture traceref_dump_dot() draws of `obj`, in `buf`. */
static const char *picture(const void *obj, char *buf, size_t size)
{
	FILE *f = tmpfile();
	size_t n;

	CHECK(f != NULL);
	CHECK_EQ_LONG(traceref_dump_dot(obj, fileno(f)), 0);
	rewind(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_layout(void)
{
	struct entry e;

	CHECK_EQ_LONG((long)sizeof(struct traceref_object), 128);
	CHECK(offsetof(struct align_probe, o) >= 8);
	CHECK(TRACEREF_CONTAINER_OF(&e.obj, struct entry, obj) == &e);
	CHECK_OK("layout: 128 bytes, TRACEREF_CONTAINER_OF");
}

static void test_life(void)
{
	size_t live = settled_live_objects();
	struct entry *e;

	reset_tally();
	e = entry_new(1);
	CHECK_EQ_LONG(traceref_live_objects(), live + 1);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&e->obj), 1);
	CHECK(traceref_object_get(&e->obj));
	CHECK_EQ_LONG(traceref_object_get_ref_count(&e->obj), 2);
	traceref_object_put(&e->obj);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&e->obj), 1);
	CHECK(traceref_object_get(&e->obj));
	CHECK_EQ_LONG(traceref_object_close(&e->obj), 0);	/* 2 -> 1 */
	CHECK_EQ_LONG(e->released, 0);
	traceref_object_put(&e->obj);				/* 1 -> 0 */
	CHECK_EQ_LONG(released, 1);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(freed, 1);
	CHECK_EQ_LONG(traceref_live_objects(), live);

	/* A put as the owner's last reference works as well as a close. */
	e = entry_new(2);
	traceref_object_put(&e->obj);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(freed, 2);
	CHECK_OK("life: init, get, put, close, release, free after the barrier");
}

static int count_visit(struct traceref_object *obj, void *data)
{
	int *n = data;

	CHECK(traceref_object_get_ref_count(obj) >= 2);	/* the walk's own */
	return ++n[0] == n[1];
}

static void test_tables(void)
{
	size_t live = settled_live_objects();
	struct traceref_table *by_id = traceref_table_create();
	struct traceref_table *by_name = traceref_table_create();
	struct entry *a, *b, *c;
	struct traceref_object *o;
	int n[2];
	/* Two long keys that differ only at their end. */
	char long1[200], long2[200];

	reset_tally();
	CHECK(by_id && by_name);
	a = entry_new(10);
	b = entry_new(10);
	c = entry_new(11);
	memset(long1, 'k', sizeof(long1));
	long1[sizeof(long1) - 1] = '\0';
	memcpy(long2, long1, sizeof(long1));
	long2[sizeof(long2) - 2] = 'K';

	CHECK(traceref_table_add_unique(by_id, 10, &a->obj) == &a->obj);
	/* b loses: it gets a, with a new reference, and stays out. */
	o = traceref_table_add_unique(by_id, 10, &b->obj);
	CHECK(o == &a->obj);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&a->obj), 2);
	traceref_object_put(o);
	CHECK(traceref_table_add_unique(by_id, 11, &c->obj) == &c->obj);
	/* Adding an object under the key it has: itself, no reference. */
	CHECK(traceref_table_add_unique(by_id, 10, &a->obj) == &a->obj);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&a->obj), 1);

	/* Several tables per object, string keys compared in full. */
	CHECK(traceref_table_add_unique_str(by_name, long1, &a->obj) == &a->obj);
	CHECK(traceref_table_add_unique_str(by_name, long2, &b->obj) == &b->obj);
	CHECK(traceref_table_add_unique_str(by_name, "", &c->obj) == &c->obj);
	o = traceref_table_get_str(by_name, long1);
	CHECK(as_entry(o) == a);
	traceref_object_put(o);
	o = traceref_table_get_str(by_name, long2);
	CHECK(as_entry(o) == b);
	traceref_object_put(o);
	long2[0] = 'x';
	CHECK(traceref_table_get_str(by_name, long2) == NULL);
	long2[0] = 'k';
	CHECK(traceref_table_get_str(by_name, "kkk") == NULL);

	o = traceref_table_get(by_id, 11);
	CHECK(as_entry(o) == c);
	CHECK_EQ_LONG(traceref_object_get_ref_count(o), 2);
	traceref_object_put(o);
	CHECK(traceref_table_get(by_id, 12) == NULL);

	/* for_each: all, then stopping at the second. */
	n[0] = 0;
	n[1] = -1;
	CHECK_EQ_LONG(traceref_table_for_each(by_name, count_visit, n), 3);
	CHECK_EQ_LONG(n[0], 3);
	n[0] = 0;
	n[1] = 2;
	CHECK_EQ_LONG(traceref_table_for_each(by_name, count_visit, n), 2);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&a->obj), 1);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&b->obj), 1);

	{
		static char pic[8192];

		picture(by_name, pic, sizeof(pic));
		CHECK(strstr(pic, "object table") != NULL);
		CHECK(strstr(pic, "entry 10\\ncount 1") != NULL);
		CHECK(strstr(pic, "entry 11\\ncount 1") != NULL);
		CHECK_EQ_LONG(traceref_object_get_ref_count(&a->obj), 1);
	}

	/* remove: out of one table, still in the other. */
	CHECK_EQ_LONG(traceref_table_remove(by_id, &c->obj), 0);
	CHECK_EQ_LONG(traceref_table_remove(by_id, &c->obj), -1);
	CHECK(traceref_table_get(by_id, 11) == NULL);
	o = traceref_table_get_str(by_name, "");
	CHECK(as_entry(o) == c);
	traceref_object_put(o);

	/* The release takes a out of both tables, before its release runs. */
	CHECK_EQ_LONG(traceref_object_close(&a->obj), 0);
	CHECK_EQ_LONG(released, 1);
	CHECK(traceref_table_get(by_id, 10) == NULL);
	CHECK(traceref_table_get_str(by_name, long1) == NULL);
	/* The key is free again: b takes it. */
	CHECK(traceref_table_add_unique(by_id, 10, &b->obj) == &b->obj);
	o = traceref_table_get(by_id, 10);
	CHECK(as_entry(o) == b);
	traceref_object_put(o);

	/* Destroyed with objects in it: they live on, out of it. */
	CHECK_EQ_LONG(traceref_table_destroy(by_id), 0);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&b->obj), 1);
	o = traceref_table_get_str(by_name, long2);
	CHECK(as_entry(o) == b);
	traceref_object_put(o);
	CHECK_EQ_LONG(traceref_table_destroy(by_name), 0);
	CHECK_EQ_LONG(traceref_object_close(&b->obj), 0);
	CHECK_EQ_LONG(traceref_object_close(&c->obj), 0);
	CHECK_EQ_LONG(released, 3);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(freed, 3);
	CHECK_EQ_LONG(traceref_live_objects(), live);

	/* Inside a read-side section the object found stays allocated. */
	by_id = traceref_table_create();
	a = entry_new(20);
	CHECK(traceref_table_add_unique(by_id, 20, &a->obj) == &a->obj);
	traceref_read_lock();
	o = traceref_table_get(by_id, 20);
	CHECK(o == &a->obj);
	traceref_object_put(o);
	traceref_object_close(&a->obj);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&a->obj), 0);
	CHECK(traceref_table_get(by_id, 20) == NULL);
	traceref_read_unlock();
	CHECK_EQ_LONG(traceref_table_destroy(by_id), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), live);
	CHECK_OK("tables: unique keys, several tables, string keys, remove, for_each, destroy");
}

/* A release that puts another object: a cascade through containers. */
static void test_cascade(void)
{
	enum { DEPTH = 50 };
	size_t live = settled_live_objects();
	struct cache *root = cache_new(0);
	struct entry *chain[DEPTH];
	struct traceref_object *up = &root->obj;
	int i;

	reset_tally();
	for (i = 0; i < DEPTH; i++) {
		chain[i] = entry_new(100 + i);
		CHECK_EQ_LONG(traceref_object_set_container(&chain[i]->obj, up), 0);
		up = &chain[i]->obj;
	}
	CHECK_EQ_LONG(traceref_object_get_ref_count(&root->obj), 2);
	{
		static char pic[65536];

		picture(&chain[DEPTH - 1]->obj, pic, sizeof(pic));
		CHECK(strstr(pic, "cache") != NULL);
		CHECK(strstr(pic, "style=dashed, label=\"ref\"") != NULL);
	}
	/* Owners let go of every container: the chain holds them. */
	CHECK_EQ_LONG(traceref_object_close(&root->obj), 0);
	for (i = 0; i < DEPTH - 1; i++)
		CHECK_EQ_LONG(traceref_object_close(&chain[i]->obj), 0);
	CHECK_EQ_LONG(released, 0);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&root->obj), 1);
	/* The leaf's last put releases the whole chain, leaf first. */
	CHECK_EQ_LONG(traceref_object_close(&chain[DEPTH - 1]->obj), 0);
	CHECK_EQ_LONG(released, DEPTH);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(freed, DEPTH + 1);
	CHECK_EQ_LONG(traceref_live_objects(), live);
	CHECK_OK("cascade: %d releases through containers, one barrier", DEPTH);
}

/* A holder's free function puts the next holder: each last put runs in
 * deferred work, yet one barrier reclaims the whole chain. */
struct holder {
	struct traceref_object obj;
	struct holder *next;
};

static void holder_free(struct traceref_object *obj)
{
	struct holder *h = TRACEREF_CONTAINER_OF(obj, struct holder, obj);

	if (h->next)
		traceref_object_put(&h->next->obj);
	pthread_mutex_lock(&tally);
	freed++;
	pthread_mutex_unlock(&tally);
	free(h);
}

static const struct traceref_kind holder_kind = { "holder", NULL, holder_free };

static void test_deferred_chain(void)
{
	enum { LEN = 40 };
	size_t live = settled_live_objects();
	struct holder *h = NULL;
	int i;

	reset_tally();
	for (i = 0; i < LEN; i++) {
		struct holder *n = malloc(sizeof(*n));

		CHECK(n != NULL);
		CHECK_EQ_LONG(traceref_object_init(&n->obj, &holder_kind), 0);
		n->next = h;	/* n takes over the owner's reference of h */
		h = n;
	}
	CHECK_EQ_LONG(traceref_live_objects(), live + LEN);
	traceref_object_put(&h->obj);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(freed, LEN);
	CHECK_EQ_LONG(traceref_live_objects(), live);
	CHECK_OK("deferred chain: %d frees that each put the next, one barrier", LEN);
}

static bool said(struct capture *c, const char *a, const char *b)
{
	return strstr(c->text, a) != NULL && (b == NULL || strstr(c->text, b) != NULL);
}

static void test_misuse(void)
{
	size_t live = settled_live_objects();
	struct traceref_table *t = traceref_table_create();
	struct capture cap;
	struct entry *e, *f;
	struct cache *top;
	struct traceref_object *never = calloc(1, sizeof(*never));

	reset_tally();
	e = entry_new(7);
	CHECK(traceref_table_add_unique(t, 7, &e->obj) == &e->obj);

	capture_scope_begin(&cap);
	CHECK(!traceref_object_get(NULL));
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);

	capture_scope_begin(&cap);
	CHECK_EQ_LONG(traceref_object_get_ref_count(never), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(said(&cap, "traceref_object_get_ref_count", "not a"));

	capture_scope_begin(&cap);
	traceref_object_put(never);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);

	capture_scope_begin(&cap);
	CHECK_EQ_LONG(traceref_object_init(&e->obj, &entry_kind), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(said(&cap, "entry 7", "initialised again"));
	CHECK_EQ_LONG(traceref_object_get_ref_count(&e->obj), 1);

	capture_scope_begin(&cap);
	CHECK_EQ_LONG(traceref_object_init(never, &no_free_kind), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(said(&cap, "leaky", "no free function"));

	/* A cycle: the container of e is e's own contained. */
	top = cache_new(1);
	f = entry_new(8);
	CHECK_EQ_LONG(traceref_object_set_container(&f->obj, &e->obj), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(traceref_object_set_container(&e->obj, &f->obj), -1);
	CHECK_EQ_LONG(traceref_object_set_container(&e->obj, &e->obj), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 2);
	CHECK(said(&cap, "entry 7", "cycle"));
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(traceref_object_set_container(&f->obj, &top->obj), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&top->obj), 1);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&e->obj), 2);

	/* A second close, and a put at 0 inside a read-side section that
	 * keeps the memory. */
	CHECK_EQ_LONG(traceref_object_close(&f->obj), 0);
	CHECK(traceref_object_get(&e->obj));
	CHECK_EQ_LONG(traceref_object_close(&e->obj), 0);
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(traceref_object_close(&e->obj), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(said(&cap, "entry 7", "already closed"));
	traceref_read_lock();
	traceref_object_put(&e->obj);			/* 1 -> 0 */
	CHECK_EQ_LONG(released, 2);
	capture_scope_begin(&cap);
	traceref_object_put(&e->obj);
	CHECK(!traceref_object_get(&e->obj));
	CHECK_EQ_LONG(capture_scope_end(&cap), 2);
	CHECK(said(&cap, "entry 7", "put on a reference count of zero"));
	CHECK(said(&cap, "entry 7: get on a reference count of zero", NULL));
	traceref_read_unlock();
	CHECK_EQ_LONG(released, 2);

	/* Wrong kinds: a table for an object, an object for a table. */
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(traceref_object_close((struct traceref_object *)t), -1);
	CHECK(traceref_table_get((struct traceref_table *)&top->obj, 1) == NULL);
	CHECK_EQ_LONG(capture_scope_end(&cap), 2);

	CHECK_EQ_LONG(traceref_object_close(&top->obj), 0);
	CHECK_EQ_LONG(traceref_table_destroy(t), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(freed, 3);
	CHECK_EQ_LONG(traceref_live_objects(), live);
	free(never);
	CHECK_OK("misuse: one line each, naming the kind and key; nothing freed");
}

/* Mutexes with levels, checked against each other and the relay locks. */
static void test_mutex(void)
{
	struct traceref_mutex outer, inner;
	struct relay_session *s = relay_session_create("m", "h", 0, false, 2, 11);
	struct capture cap;

	CHECK(s != NULL);
	memset(&outer, 0xa5, sizeof(outer));	/* init needs no zeroed memory */
	CHECK_EQ_LONG(traceref_mutex_init(&outer, "cache", TRACEREF_LEVEL_SESSION - 1), 0);
	CHECK_EQ_LONG(traceref_mutex_init(&inner, "entry", TRACEREF_LEVEL_STREAM + 1), 0);

	/* In order: cache, session, entry. */
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(traceref_mutex_lock(&outer), 0);
	CHECK_EQ_LONG(relay_session_lock(s), 0);
	CHECK_EQ_LONG(traceref_mutex_lock(&inner), 0);
	CHECK_EQ_LONG(traceref_mutex_unlock(&inner), 0);
	CHECK_EQ_LONG(relay_session_unlock(s), 0);
	CHECK_EQ_LONG(traceref_mutex_unlock(&outer), 0);
	CHECK_EQ_LONG(capture_scope_end(&cap), 0);

	/* Out of order: one line naming both, the lock still taken. */
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(traceref_mutex_lock(&inner), 0);
	CHECK_EQ_LONG(relay_session_lock(s), 1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(said(&cap, "mutex entry", "lock order violation"));
	CHECK(said(&cap, "session", NULL));
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(traceref_mutex_lock(&outer), 1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 1);
	CHECK(said(&cap, "taking mutex cache while holding", NULL));

	/* Recursive: refused; destroy while held: refused. */
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(traceref_mutex_lock(&outer), -1);
	CHECK_EQ_LONG(traceref_mutex_destroy(&outer), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 2);
	CHECK(said(&cap, "already holds mutex cache", "is held; not destroyed"));
	CHECK_EQ_LONG(traceref_mutex_unlock(&outer), 0);
	CHECK_EQ_LONG(relay_session_unlock(s), 0);
	CHECK_EQ_LONG(traceref_mutex_unlock(&inner), 0);

	/* Unlock not held, use after destroy: refused, one line each. */
	capture_scope_begin(&cap);
	CHECK_EQ_LONG(traceref_mutex_unlock(&inner), -1);
	CHECK_EQ_LONG(traceref_mutex_destroy(&inner), 0);
	CHECK_EQ_LONG(traceref_mutex_lock(&inner), -1);
	CHECK_EQ_LONG(capture_scope_end(&cap), 2);
	CHECK(said(&cap, "does not hold mutex entry", "not an initialised mutex"));
	CHECK_EQ_LONG(traceref_mutex_destroy(&outer), 0);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_OK("mutexes: levels checked against each other and the relay locks");
}

/* Threads racing get-or-create, lookups, closes and final puts. */
enum { THREADS = 4, KEYS = 16, ITER = 3000, OWNED = 8 };

static struct traceref_table *shared_ids, *shared_names;
static struct cache *caches[2];
static long created, lost;

static void *racer(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
	struct entry *owned[OWNED];
	int n_owned = 0, i;
	long my_created = 0, my_lost = 0;

	for (i = 0; i < ITER; i++) {
		uint64_t r = next_rand(&seed);
		uint64_t k = r % KEYS;
		char name[32];
		struct traceref_object *o;

		snprintf(name, sizeof(name), "entry-%llu", (unsigned long long)k);
		switch ((r >> 8) % 4) {
		case 0:	/* lookup by number */
			o = traceref_table_get(shared_ids, k);
			if (o) {
				TCHECK(as_entry(o)->id == k);
				traceref_object_put(o);
			}
			break;
		case 1:	/* lookup by name */
			traceref_read_lock();
			o = traceref_table_get_str(shared_names, name);
			if (o) {
				TCHECK(strcmp(as_entry(o)->name, name) == 0);
				traceref_object_put(o);
			}
			traceref_read_unlock();
			break;
		case 2: {	/* get or create */
			struct entry *e;

			if (n_owned == OWNED)
				break;
			e = malloc(sizeof(*e));
			TCHECK(e != NULL);
			e->id = k;
			strcpy(e->name, name);
			e->released = 0;
			TCHECK(traceref_object_init(&e->obj, &entry_kind) == 0);
			TCHECK(traceref_object_set_container(&e->obj, &caches[k % 2]->obj) == 0);
			o = traceref_table_add_unique(shared_ids, k, &e->obj);
			TCHECK(o != NULL);
			if (o == &e->obj) {
				struct traceref_object *n;

				my_created++;
				n = traceref_table_add_unique_str(shared_names, name, &e->obj);
				TCHECK(n != NULL);
				if (n != &e->obj) {
					/* An older entry, closed but still held. */
					TCHECK(strcmp(as_entry(n)->name, name) == 0);
					traceref_object_put(n);
				}
				owned[n_owned++] = e;
			} else {
				my_lost++;
				TCHECK(as_entry(o)->id == k);
				TCHECK(traceref_object_close(&e->obj) == 0);
				traceref_object_put(o);
			}
			break;
		}
		case 3:	/* close one of ours */
			if (n_owned > 0) {
				int at = (int)(r % (uint64_t)n_owned);
				struct entry *e = owned[at];

				n_owned--;
				owned[at] = owned[n_owned];
				TCHECK(traceref_object_close(&e->obj) == 0);
			}
			break;
		}
	}
	while (n_owned > 0) {
		struct entry *e = owned[--n_owned];

		TCHECK(traceref_object_close(&e->obj) == 0);
	}
	pthread_mutex_lock(&tally);
	created += my_created;
	lost += my_lost;
	pthread_mutex_unlock(&tally);
	return NULL;
}

static void test_threads(void)
{
	size_t live = settled_live_objects();
	pthread_t th[THREADS];
	struct capture cap;
	int i;

	reset_tally();
	shared_ids = traceref_table_create();
	shared_names = traceref_table_create();
	caches[0] = cache_new(0);
	caches[1] = cache_new(1);
	capture_scope_begin(&cap);
	for (i = 0; i < THREADS; i++)
		CHECK(pthread_create(&th[i], NULL, racer, (void *)(uintptr_t)(i + 1)) == 0);
	for (i = 0; i < THREADS; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	CHECK_EQ_LONG(capture_scope_end(&cap), 0);
	CHECK(created > 0 && lost > 0);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&caches[0]->obj), 1);
	CHECK_EQ_LONG(traceref_object_get_ref_count(&caches[1]->obj), 1);
	CHECK_EQ_LONG(traceref_object_close(&caches[0]->obj), 0);
	CHECK_EQ_LONG(traceref_object_close(&caches[1]->obj), 0);
	CHECK_EQ_LONG(traceref_table_destroy(shared_ids), 0);
	CHECK_EQ_LONG(traceref_table_destroy(shared_names), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(released, created + lost);
	CHECK_EQ_LONG(freed, created + lost + 2);
	CHECK_EQ_LONG(traceref_live_objects(), live);
	CHECK_OK("threads: %ld created, %ld lost races, census back to %zu",
		 created, lost, live);
}

int main(void)
{
	test_layout();
	test_life();
	test_tables();
	test_cascade();
	test_deferred_chain();
	test_misuse();
	test_mutex();
	test_threads();
	CHECK_DONE("c_kinds");
	return 0;
}
