/*
 * The LTTng relay daemon's object-lifetime pattern on liburcu, the baseline
 * of workloads 2 to 5.
 *
 * Objects embed a `struct urcu_ref`, a `struct cds_lfht_node` and a
 * `struct rcu_head`. Sessions and streams live in global `cds_lfht` tables
 * keyed by a u64 id; each table starts at the next power of two of the
 * expected object count and may resize itself (AUTO_RESIZE | ACCOUNTING, the
 * flags of the daemon's table wrapper). A getter looks the id up inside
 * rcu_read_lock() and takes a reference with urcu_ref_get_unless_zero(); a
 * put runs urcu_ref_put() inside rcu_read_lock(); the release leaves the
 * table and lists, puts the container, and frees through call_rcu(). The
 * "memb" flavour, with the read-side fast path inlined (_LGPL_SOURCE), as
 * the daemon builds it. Every thread that reads registers itself.
 */

#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>
#include <urcu/rculist.h>
#include <urcu/list.h>
#include <urcu/ref.h>
#include <urcu/compiler.h>

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

/* ------------------------------------------------------------------------ */
/* Objects.                                                                 */

/*
 * Field order: by default the count and the hash node sit after the
 * object's other fields and the id at its start, so that a lookup touches
 * two lines of the object (node and count, then the id), as in the daemon's
 * structures, where the key sits with the node and the count elsewhere.
 * With BENCH_COMPACT_BASELINE the id, the count and the node share the
 * first cache line: the best layout C code could choose (a sensitivity
 * check, not what the daemon does).
 */
#ifdef BENCH_COMPACT_BASELINE
#define RB_HOT_FIELDS struct urcu_ref ref; struct cds_lfht_node ht_node;
#define RB_COLD_FIELDS
#else
#define RB_HOT_FIELDS
#define RB_COLD_FIELDS struct urcu_ref ref; struct cds_lfht_node ht_node;
#endif

struct rb_session {
	uint64_t id;
	RB_HOT_FIELDS
	char *name;
	char *hostname;
	uint32_t live_timer;
	uint32_t major;
	uint32_t minor;
	bool snapshot;
	bool closed;
	bool aborted;
	pthread_mutex_t lock;           /* outermost object lock */
	pthread_mutex_t list_lock;      /* guards the two lists below */
	struct cds_list_head traces;    /* struct rb_trace.session_node */
	struct cds_list_head recv_list; /* streams not closed: rb_stream.recv_node */
	RB_COLD_FIELDS                  /* count; node in the sessions table */
	struct rcu_head rcu;
};

struct rb_trace {
	char *path;
	struct rb_session *session;     /* counted reference */
	struct urcu_ref ref;
	pthread_mutex_t lock;
	pthread_mutex_t stream_list_lock;
	struct cds_list_head stream_list; /* published streams */
	struct cds_list_head session_node;
	struct rcu_head rcu;
};

struct rb_stream {
	uint64_t handle;
	RB_HOT_FIELDS
	char *path_name;
	char *channel_name;
	uint64_t tracefile_size;
	uint64_t tracefile_count;
	uint64_t last_net_seq_num;
	uint64_t received_seq_num;
	bool is_metadata;
	bool published;
	bool closed;
	bool close_requested;
	bool in_table;
	bool in_recv_list;
	struct rb_trace *trace;         /* counted reference */
	pthread_mutex_t lock;
	struct cds_list_head stream_node; /* trace's published streams */
	struct cds_list_head recv_node;   /* session's streams */
	struct cds_list_head indexes;     /* indexes (none in these workloads) */
	RB_COLD_FIELDS                    /* count; node in the streams table */
	struct rcu_head rcu;
};

static struct cds_lfht *sessions_ht;
static struct cds_lfht *streams_ht;
static uint64_t next_session_id = 1;    /* atomic */

/* A 64-bit mixer (the daemon hashes its u64 keys with a jhash variant). */
static inline unsigned long hash_u64(uint64_t k)
{
	k ^= k >> 30;
	k *= 0xBF58476D1CE4E5B9ULL;
	k ^= k >> 27;
	k *= 0x94D049BB133111EBULL;
	k ^= k >> 31;
	return (unsigned long)k;
}

static int match_session(struct cds_lfht_node *node, const void *key)
{
	const struct rb_session *s = caa_container_of(node, struct rb_session, ht_node);

	return s->id == *(const uint64_t *)key;
}

static int match_stream(struct cds_lfht_node *node, const void *key)
{
	const struct rb_stream *s = caa_container_of(node, struct rb_stream, ht_node);

	return s->handle == *(const uint64_t *)key;
}

/* ------------------------------------------------------------------------ */
/* RCU set-up.                                                              */

void rb_init(void)
{
	urcu_memb_register_thread();
}

void rb_thread_init(void)
{
	urcu_memb_register_thread();
}

void rb_thread_fini(void)
{
	urcu_memb_unregister_thread();
}

void rb_barrier(void *unused)
{
	(void)unused;
	urcu_memb_barrier();
}

int rb_has_sys_membarrier(void)
{
	return urcu_memb_has_sys_membarrier;
}

static unsigned long pow2_at_least(uint64_t n)
{
	unsigned long p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static struct cds_lfht *table_new(uint64_t count)
{
	struct cds_lfht *ht = cds_lfht_new_flavor(pow2_at_least(count ? count : 1), 1, 0,
						  CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
						  &urcu_memb_flavor, NULL);
	if (!ht)
		die("cds_lfht_new failed");
	return ht;
}

void rb_tables_create(uint64_t sessions, uint64_t streams)
{
	sessions_ht = table_new(sessions);
	streams_ht = table_new(streams);
}

void rb_tables_destroy(void)
{
	urcu_memb_barrier();
	if (cds_lfht_destroy(sessions_ht, NULL) || cds_lfht_destroy(streams_ht, NULL))
		die("a baseline table was not empty at destruction");
	sessions_ht = streams_ht = NULL;
}

/* ------------------------------------------------------------------------ */
/* Sessions.                                                                */

static void session_free_rcu(struct rcu_head *head)
{
	struct rb_session *s = caa_container_of(head, struct rb_session, rcu);

	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->list_lock);
	free(s->name);
	free(s->hostname);
	free(s);
}

/* Called by the put that reached zero, inside rcu_read_lock(). */
static void session_release(struct urcu_ref *ref)
{
	struct rb_session *s = caa_container_of(ref, struct rb_session, ref);

	cds_lfht_del(sessions_ht, &s->ht_node);
	urcu_memb_call_rcu(&s->rcu, session_free_rcu);
}

struct rb_session *rb_session_create(const char *name, const char *hostname,
				     uint32_t live_timer, bool snapshot,
				     uint32_t major, uint32_t minor)
{
	struct rb_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = uatomic_add_return(&next_session_id, 1) - 1;
	s->name = strdup(name);
	s->hostname = strdup(hostname);
	s->live_timer = live_timer;
	s->snapshot = snapshot;
	s->major = major;
	s->minor = minor;
	urcu_ref_init(&s->ref);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->list_lock, NULL);
	CDS_INIT_LIST_HEAD(&s->traces);
	CDS_INIT_LIST_HEAD(&s->recv_list);
	cds_lfht_node_init(&s->ht_node);
	urcu_memb_read_lock();
	cds_lfht_add(sessions_ht, hash_u64(s->id), &s->ht_node);
	urcu_memb_read_unlock();
	return s;
}

uint64_t rb_session_id(const struct rb_session *s)
{
	return s->id;
}

__attribute__((noinline))
struct rb_session *rb_session_get_by_id(uint64_t id)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;
	struct rb_session *s = NULL;

	urcu_memb_read_lock();
	cds_lfht_lookup(sessions_ht, hash_u64(id), match_session, &id, &iter);
	node = cds_lfht_iter_get_node(&iter);
	if (node) {
		s = caa_container_of(node, struct rb_session, ht_node);
		if (!urcu_ref_get_unless_zero(&s->ref))
			s = NULL;
	}
	urcu_memb_read_unlock();
	return s;
}

__attribute__((noinline))
void rb_session_put(struct rb_session *s)
{
	if (!s)
		return;
	urcu_memb_read_lock();
	urcu_ref_put(&s->ref, session_release);
	urcu_memb_read_unlock();
}

int rb_session_close(struct rb_session *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->closed) {
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	pthread_mutex_lock(&s->list_lock);
	s->closed = true;
	pthread_mutex_unlock(&s->list_lock);
	pthread_mutex_unlock(&s->lock);
	/* Its streams were closed by their owners beforehand. */
	rb_session_put(s);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Traces.                                                                  */

static void trace_free_rcu(struct rcu_head *head)
{
	struct rb_trace *t = caa_container_of(head, struct rb_trace, rcu);

	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->stream_list_lock);
	free(t->path);
	free(t);
}

static void trace_release(struct urcu_ref *ref)
{
	struct rb_trace *t = caa_container_of(ref, struct rb_trace, ref);
	struct rb_session *s = t->session;

	pthread_mutex_lock(&s->list_lock);
	cds_list_del_rcu(&t->session_node);
	pthread_mutex_unlock(&s->list_lock);
	rb_session_put(s);
	urcu_memb_call_rcu(&t->rcu, trace_free_rcu);
}

void rb_trace_put(struct rb_trace *t)
{
	if (!t)
		return;
	urcu_memb_read_lock();
	urcu_ref_put(&t->ref, trace_release);
	urcu_memb_read_unlock();
}

struct rb_trace *rb_trace_get_by_path_or_create(struct rb_session *s, const char *path)
{
	struct rb_trace *t;

	pthread_mutex_lock(&s->list_lock);
	cds_list_for_each_entry(t, &s->traces, session_node) {
		if (!strcmp(t->path, path) && urcu_ref_get_unless_zero(&t->ref)) {
			pthread_mutex_unlock(&s->list_lock);
			return t;
		}
	}
	t = NULL;
	if (s->closed || !urcu_ref_get_unless_zero(&s->ref))
		goto out;
	t = calloc(1, sizeof(*t));
	if (!t)
		die("out of memory");
	t->path = strdup(path);
	t->session = s;
	urcu_ref_init(&t->ref);
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->stream_list_lock, NULL);
	CDS_INIT_LIST_HEAD(&t->stream_list);
	cds_list_add_rcu(&t->session_node, &s->traces);
out:
	pthread_mutex_unlock(&s->list_lock);
	return t;
}

/* ------------------------------------------------------------------------ */
/* Streams.                                                                 */

static void stream_free_rcu(struct rcu_head *head)
{
	struct rb_stream *st = caa_container_of(head, struct rb_stream, rcu);

	pthread_mutex_destroy(&st->lock);
	free(st->path_name);
	free(st->channel_name);
	free(st);
}

/* Leave the stream table and the trace's published list. */
static void stream_unpublish(struct rb_stream *st)
{
	if (st->in_table) {
		urcu_memb_read_lock();
		cds_lfht_del(streams_ht, &st->ht_node);
		urcu_memb_read_unlock();
		st->in_table = false;
	}
	if (st->published) {
		pthread_mutex_lock(&st->trace->stream_list_lock);
		cds_list_del_rcu(&st->stream_node);
		pthread_mutex_unlock(&st->trace->stream_list_lock);
		st->published = false;
	}
}

static void stream_release(struct urcu_ref *ref)
{
	struct rb_stream *st = caa_container_of(ref, struct rb_stream, ref);
	struct rb_trace *t = st->trace;

	pthread_mutex_lock(&st->lock);
	stream_unpublish(st);
	pthread_mutex_unlock(&st->lock);
	if (st->in_recv_list) {
		struct rb_session *s = t->session;

		pthread_mutex_lock(&s->list_lock);
		cds_list_del_rcu(&st->recv_node);
		pthread_mutex_unlock(&s->list_lock);
		st->in_recv_list = false;
	}
	rb_trace_put(t);
	urcu_memb_call_rcu(&st->rcu, stream_free_rcu);
}

struct rb_stream *rb_stream_create(struct rb_trace *t, uint64_t handle,
				   const char *path_name,
				   const char *channel_name,
				   uint64_t tracefile_size,
				   uint64_t tracefile_count)
{
	struct rb_session *s = t->session;
	struct cds_lfht_node *node;
	struct rb_stream *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->handle = handle;
	st->path_name = strdup(path_name);
	st->channel_name = strdup(channel_name);
	st->tracefile_size = tracefile_size;
	st->tracefile_count = tracefile_count;
	st->last_net_seq_num = UINT64_MAX;
	st->received_seq_num = UINT64_MAX;
	st->is_metadata = !strcmp(channel_name, "metadata");
	urcu_ref_init(&st->ref);
	pthread_mutex_init(&st->lock, NULL);
	CDS_INIT_LIST_HEAD(&st->indexes);
	cds_lfht_node_init(&st->ht_node);
	if (!urcu_ref_get_unless_zero(&t->ref)) {
		stream_free_rcu(&st->rcu);
		return NULL;
	}
	st->trace = t;
	pthread_mutex_lock(&s->list_lock);
	if (s->closed) {
		pthread_mutex_unlock(&s->list_lock);
		rb_trace_put(t);
		stream_free_rcu(&st->rcu);
		return NULL;
	}
	cds_list_add_rcu(&st->recv_node, &s->recv_list);
	st->in_recv_list = true;
	pthread_mutex_unlock(&s->list_lock);

	urcu_memb_read_lock();
	node = cds_lfht_add_unique(streams_ht, hash_u64(handle), match_stream,
				   &handle, &st->ht_node);
	urcu_memb_read_unlock();
	if (node != &st->ht_node) {
		/* Duplicate handle: release it the normal way. */
		rb_stream_put(st);
		return NULL;
	}
	st->in_table = true;
	return st;
}

__attribute__((noinline))
struct rb_stream *rb_stream_get_by_id(uint64_t handle)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;
	struct rb_stream *st = NULL;

	urcu_memb_read_lock();
	cds_lfht_lookup(streams_ht, hash_u64(handle), match_stream, &handle, &iter);
	node = cds_lfht_iter_get_node(&iter);
	if (node) {
		st = caa_container_of(node, struct rb_stream, ht_node);
		if (!urcu_ref_get_unless_zero(&st->ref))
			st = NULL;
	}
	urcu_memb_read_unlock();
	return st;
}

__attribute__((noinline))
void rb_stream_put(struct rb_stream *st)
{
	if (!st)
		return;
	urcu_memb_read_lock();
	urcu_ref_put(&st->ref, stream_release);
	urcu_memb_read_unlock();
}

int rb_stream_publish(struct rb_stream *st)
{
	int ret = -1;

	pthread_mutex_lock(&st->lock);
	if (!st->published && !st->closed) {
		pthread_mutex_lock(&st->trace->stream_list_lock);
		cds_list_add_rcu(&st->stream_node, &st->trace->stream_list);
		pthread_mutex_unlock(&st->trace->stream_list_lock);
		st->published = true;
		ret = 0;
	}
	pthread_mutex_unlock(&st->lock);
	return ret;
}

/* Close now: leave the table and the published list, close the indexes
 * (none here), put the owner's reference. */
int rb_stream_close(struct rb_stream *st)
{
	pthread_mutex_lock(&st->lock);
	if (st->closed) {
		pthread_mutex_unlock(&st->lock);
		return -1;
	}
	stream_unpublish(st);
	st->closed = true;
	pthread_mutex_unlock(&st->lock);
	rb_stream_put(st);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Workload bodies.                                                         */

void rb_session_lookup_body(struct worker *w)
{
	const struct lookup_ctx *c = w->ctx;
	uint64_t seed = w->seed, miss = 0, first, count;

	lookup_range(c, w, &first, &count);
	for (uint64_t i = 0; i < w->iters; i++) {
		uint64_t id = first + rng_below(&seed, count);
		struct rb_session *s = rb_session_get_by_id(id);

		if (!s) {
			miss++;
			continue;
		}
		rb_session_put(s);
	}
	w->misses = miss;
}

void rb_stream_lookup_body(struct worker *w)
{
	const struct lookup_ctx *c = w->ctx;
	uint64_t seed = w->seed, miss = 0;

	if (!c->batch) {
		for (uint64_t i = 0; i < w->iters; i++) {
			uint64_t h = c->first + rng_below(&seed, c->count);
			struct rb_stream *st = rb_stream_get_by_id(h);

			if (!st) {
				miss++;
				continue;
			}
			rb_stream_put(st);
		}
	} else {
		for (uint64_t i = 0; i < w->iters; i += (uint64_t)c->batch) {
			uint64_t left = w->iters - i;
			uint64_t n = left < (uint64_t)c->batch ? left : (uint64_t)c->batch;

			urcu_memb_read_lock();
			for (uint64_t j = 0; j < n; j++) {
				uint64_t h = c->first + rng_below(&seed, c->count);
				struct rb_stream *st = rb_stream_get_by_id(h);

				if (!st) {
					miss++;
					continue;
				}
				rb_stream_put(st);
			}
			urcu_memb_read_unlock();
		}
	}
	w->misses = miss;
}

void rb_churn_body(struct worker *w)
{
	struct churn_ctx *c = w->ctx;
	struct rb_trace *t = c->trace[w->index];
	uint64_t h = c->next_handle[w->index], miss = 0;

	for (uint64_t i = 0; i < w->iters; i++, h++) {
		struct rb_stream *st, *found;

		st = rb_stream_create(t, h, BENCH_STREAM_PATH, BENCH_CHANNEL, 0, 0);
		if (!st) {
			miss++;
			continue;
		}
		rb_stream_publish(st);
		found = rb_stream_get_by_id(h);
		if (found != st)
			miss++;
		rb_stream_close(st);
		rb_stream_put(found);
	}
	c->next_handle[w->index] = h;
	w->misses = miss;
}

/* ------------------------------------------------------------------------ */
/* Workload 5.                                                              */

struct mem_usage rb_memory(const char *kind, uint64_t n)
{
	struct mem_usage before, after;

	rb_init();
	before = mem_now();
	if (!strcmp(kind, "sessions")) {
		rb_tables_create(n, 1);
		for (uint64_t i = 0; i < n; i++)
			if (!rb_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11))
				die("session creation failed");
	} else {
		struct rb_session *s;
		struct rb_trace *t;

		sessions_ht = table_new(1);
		s = rb_session_create(BENCH_SESSION_NAME, BENCH_HOSTNAME, 0, false, 2, 11);
		t = rb_trace_get_by_path_or_create(s, BENCH_TRACE_PATH);
		/* The stream table is sized for the streams, and counted. */
		before = mem_now();
		streams_ht = table_new(n);
		for (uint64_t i = 0; i < n; i++) {
			struct rb_stream *st = rb_stream_create(t, i + 1, BENCH_STREAM_PATH,
								BENCH_CHANNEL, 0, 0);
			if (!st || rb_stream_publish(st))
				die("stream creation failed");
		}
	}
	urcu_memb_barrier();
	after = mem_now();
	return (struct mem_usage){ after.rss - before.rss, after.heap - before.heap };
}
