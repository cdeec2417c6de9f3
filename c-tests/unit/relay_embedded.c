/*
 * The seven relay kinds embedded in the C code's own structs, as the relay
 * daemon would define them: the library's part first (TRACEREF_ASSERT_FIRST),
 * then the daemon's own fields (sockets and fds, tracefile counters, names
 * and paths as char arrays, metadata offsets, viewer positions, protocol
 * versions), read and written directly by this program.
 *
 *   control connection -> session -> ctf-traces -> streams -> indexes
 *                                                          \-> viewer streams
 *   live connection -> viewer session -> (the same session)
 *
 * Every struct comes from alloc_obj(), which fills it with a pattern and
 * gives it a record. Each write of own fields is followed, under the lock
 * that guards it, by a seal: the record keeps a digest (and a copy) of the
 * own fields as last written. The free functions (one per kind) check that
 * the struct is one of ours, count the free, keep the digest of what they
 * see, and free the struct. After traceref_reclaim_barrier(): every struct
 * the library took was freed exactly once, by its kind's free function, on
 * the reclaim thread or inside a barrier, seeing the fields as last written
 * (so the library wrote nothing outside its base); every candidate or
 * refused struct was left to this program (never freed by the library);
 * and traceref_live_objects() is back to its start.
 *
 * Scenarios:
 *   - refusals: NULL arguments, NULL free functions, misaligned memory, an
 *     init of a live object, and the reasons the _create functions refuse,
 *     each -1 / NULL with nothing done: the caller's fields unchanged, and
 *     for memory holding no object the part reserved for the library too;
 *     nothing freed; the memory still its owner's (an init of it succeeds
 *     afterwards, the getters still answer "not an object" for it); stderr
 *     captured (at most one line naming the function, exactly one for an
 *     init of a live object, a misuse);
 *   - the hierarchy on one thread, torn down three ways (live connection
 *     closed first, control connection closed first, connection table
 *     destroyed): traces by path (an existing path gives the existing trace
 *     and leaves the candidate to the caller), streams across two traces,
 *     indexes arriving before and after their data, a stream close pending
 *     until its late data arrives, viewer streams including the metadata
 *     one found through its trace, lookups returning our own structs;
 *   - embedded objects mixed with library-allocated ones;
 *   - a control thread and a live thread, as in the daemon: the control
 *     thread adds data and indexes, closes streams (one at once, one pending
 *     on late data) and finally its connection, hence the session; the live
 *     thread looks the session, the streams and its viewer streams up by id
 *     and reads our fields under the objects' locks (closing its connection
 *     mid-way in one run, after the session's close in the other).
 *
 * The normal scenarios run with stderr captured: they must print nothing
 * (RELAY_EMBEDDED_NO_CAPTURE=1 leaves stderr alone, to see a sanitizer's
 * report as it happens).
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traceref.h"
#include "check.h"
#include "capture.h"

#define NAME_LEN 255 /* LTTNG_NAME_MAX */
#define HOST_LEN 64  /* HOST_NAME_MAX */
#define PATH_LEN 256
#define PEER_LEN 64
#define MAX_ATTACH 4
#define PATTERN 0xA5
#define SEQ_UNSET RELAY_SEQ_UNSET

#define PATH_A "host-e/sess-e-20150801-123456/ust/uid/1000/64-bit"
#define PATH_B "host-e/sess-e-20150801-123456/kernel"

/* ------------------------------------------------------------------------ */
/* The daemon's structs.                                                    */

struct relay_session {
	struct relay_session_base base;
	uint64_t magic;
	int serial;
	uint64_t id;
	char session_name[NAME_LEN];
	char hostname[HOST_LEN];
	uint32_t live_timer;
	bool snapshot;
	uint32_t major;
	uint32_t minor;
	bool viewer_attached;
	bool connection_closed;
	bool new_streams;
	uint64_t stream_count;
	uint64_t bytes_received;
};

struct ctf_trace {
	struct ctf_trace_base base;
	uint64_t magic;
	int serial;
	uint64_t id;
	char path[PATH_LEN];
	struct relay_session *session;
	uint64_t metadata_received;
	uint64_t metadata_version;
	int stream_count;
};

struct relay_stream {
	struct relay_stream_base base;
	uint64_t magic;
	int serial;
	uint64_t stream_handle;
	int stream_fd;
	int index_fd;
	char path_name[PATH_LEN];
	char channel_name[NAME_LEN];
	uint64_t tracefile_size;
	uint64_t tracefile_size_current;
	uint64_t tracefile_count;
	uint64_t tracefile_count_current;
	uint64_t total_index_received;
	uint64_t packets_received;
	uint64_t bytes_received;
	uint64_t packet_len;
	uint64_t prev_seq;
	uint64_t last_net_seq_num;
	uint64_t metadata_received;
	bool is_metadata;
	bool closed_by_owner;
	struct ctf_trace *trace;
};

struct ctf_packet_index {
	uint64_t offset;
	uint64_t packet_size;
	uint64_t content_size;
	uint64_t timestamp_begin;
	uint64_t timestamp_end;
	uint64_t events_discarded;
	uint64_t stream_id;
	uint64_t packet_seq_num;
};

struct relay_index {
	struct relay_index_base base;
	uint64_t magic;
	int serial;
	uint64_t net_seq_num;
	struct ctf_packet_index index_data;
	bool has_index_data;
	int index_fd;
	uint64_t data_offset;
};

struct relay_viewer_stream {
	struct relay_viewer_stream_base base;
	uint64_t magic;
	int serial;
	char path_name[PATH_LEN];
	char channel_name[NAME_LEN];
	int stream_fd;
	int index_fd;
	uint64_t current_tracefile_id;
	uint64_t last_sent_index;
	uint64_t index_sent_seqcount;
	uint64_t metadata_sent;
	bool is_metadata;
	struct relay_stream *stream;
};

struct relay_viewer_session {
	struct relay_viewer_session_base base;
	uint64_t magic;
	int serial;
	int session_count;
	uint64_t attached_ids[MAX_ATTACH];
	uint64_t new_streams_polls;
};

struct relay_connection {
	struct relay_connection_base base;
	uint64_t magic;
	int serial;
	int sock;
	int type;
	uint32_t major;
	uint32_t minor;
	char peer[PEER_LEN];
	uint64_t bytes_received;
	uint64_t commands;
	int protocol_state;
	bool version_check_done;
	struct relay_session *session;
	struct relay_viewer_session *viewer_session;
};

TRACEREF_ASSERT_FIRST(struct relay_session, base);
TRACEREF_ASSERT_FIRST(struct ctf_trace, base);
TRACEREF_ASSERT_FIRST(struct relay_stream, base);
TRACEREF_ASSERT_FIRST(struct relay_index, base);
TRACEREF_ASSERT_FIRST(struct relay_viewer_stream, base);
TRACEREF_ASSERT_FIRST(struct relay_viewer_session, base);
TRACEREF_ASSERT_FIRST(struct relay_connection, base);

/* ------------------------------------------------------------------------ */
/* Records of every struct allocated.                                       */

enum kind { K_SESSION, K_TRACE, K_STREAM, K_INDEX, K_VSTREAM, K_VSESSION, K_CONN, N_KINDS };

static const char *const kind_name[N_KINDS] = {
	"session", "ctf-trace", "stream", "index", "viewer stream", "viewer session", "connection",
};

static const uint64_t kind_magic[N_KINDS] = {
	0x53455353494f4e31ull, 0x4354465452414331ull, 0x53545245414d3031ull,
	0x494e444558303031ull, 0x5653545245414d31ull, 0x5653455353494f31ull,
	0x434f4e4e45435431ull,
};

static const size_t kind_size[N_KINDS] = {
	sizeof(struct relay_session),        sizeof(struct ctf_trace),
	sizeof(struct relay_stream),         sizeof(struct relay_index),
	sizeof(struct relay_viewer_stream),  sizeof(struct relay_viewer_session),
	sizeof(struct relay_connection),
};

static const size_t kind_base_size[N_KINDS] = {
	sizeof(struct relay_session_base),        sizeof(struct ctf_trace_base),
	sizeof(struct relay_stream_base),         sizeof(struct relay_index_base),
	sizeof(struct relay_viewer_stream_base),  sizeof(struct relay_viewer_session_base),
	sizeof(struct relay_connection_base),
};

#define MAX_RECORDS 8192

struct record {
	enum kind kind;
	const void *ptr;      /* identity only: never read through once freed */
	bool handed;          /* an init took it: its free function frees it */
	bool caller_freed;    /* refused or unused: this program freed it */
	bool sealed;
	int frees;
	bool bad_context;     /* freed outside the reclaim thread and barriers */
	uint64_t expect;      /* digest of the own fields as last written */
	uint64_t seen;        /* digest the free function saw */
	uint64_t seen_aux;    /* one field the free function saw (per kind) */
	unsigned char *expect_copy;
	unsigned char *seen_copy;
};

static struct record records[MAX_RECORDS];
static int n_records;
static long frees_by_kind[N_KINDS];
static long handed_by_kind[N_KINDS];
static long stray_frees;
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;

/* The threads of this program carry a role; the reclaim thread has none. */
struct role {
	bool in_barrier;
};
static pthread_key_t role_key;

static void barrier(void)
{
	struct role *r = pthread_getspecific(role_key);

	TCHECK(r != NULL);
	r->in_barrier = true;
	TCHECK(traceref_reclaim_barrier() == 0);
	r->in_barrier = false;
}

/* FNV-1a. */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define MIX(field) (h = mix(h, &(field), sizeof(field)))
#define FNV0 0xcbf29ce484222325ull

static uint64_t session_digest(const struct relay_session *o)
{
	uint64_t h = FNV0;

	MIX(o->magic); MIX(o->serial); MIX(o->id); MIX(o->session_name); MIX(o->hostname);
	MIX(o->live_timer); MIX(o->snapshot); MIX(o->major); MIX(o->minor);
	MIX(o->viewer_attached); MIX(o->connection_closed); MIX(o->new_streams);
	MIX(o->stream_count); MIX(o->bytes_received);
	return h;
}

static uint64_t trace_digest(const struct ctf_trace *o)
{
	uint64_t h = FNV0;

	MIX(o->magic); MIX(o->serial); MIX(o->id); MIX(o->path); MIX(o->session);
	MIX(o->metadata_received); MIX(o->metadata_version); MIX(o->stream_count);
	return h;
}

static uint64_t stream_digest(const struct relay_stream *o)
{
	uint64_t h = FNV0;

	MIX(o->magic); MIX(o->serial); MIX(o->stream_handle); MIX(o->stream_fd); MIX(o->index_fd);
	MIX(o->path_name); MIX(o->channel_name); MIX(o->tracefile_size);
	MIX(o->tracefile_size_current); MIX(o->tracefile_count); MIX(o->tracefile_count_current);
	MIX(o->total_index_received); MIX(o->packets_received); MIX(o->bytes_received);
	MIX(o->packet_len); MIX(o->prev_seq); MIX(o->last_net_seq_num); MIX(o->metadata_received);
	MIX(o->is_metadata); MIX(o->closed_by_owner); MIX(o->trace);
	return h;
}

static uint64_t index_digest(const struct relay_index *o)
{
	uint64_t h = FNV0;

	MIX(o->magic); MIX(o->serial); MIX(o->net_seq_num);
	MIX(o->index_data.offset); MIX(o->index_data.packet_size); MIX(o->index_data.content_size);
	MIX(o->index_data.timestamp_begin); MIX(o->index_data.timestamp_end);
	MIX(o->index_data.events_discarded); MIX(o->index_data.stream_id);
	MIX(o->index_data.packet_seq_num); MIX(o->has_index_data); MIX(o->index_fd);
	MIX(o->data_offset);
	return h;
}

static uint64_t vstream_digest(const struct relay_viewer_stream *o)
{
	uint64_t h = FNV0;

	MIX(o->magic); MIX(o->serial); MIX(o->path_name); MIX(o->channel_name); MIX(o->stream_fd);
	MIX(o->index_fd); MIX(o->current_tracefile_id); MIX(o->last_sent_index);
	MIX(o->index_sent_seqcount); MIX(o->metadata_sent); MIX(o->is_metadata); MIX(o->stream);
	return h;
}

static uint64_t vsession_digest(const struct relay_viewer_session *o)
{
	uint64_t h = FNV0;

	MIX(o->magic); MIX(o->serial); MIX(o->session_count); MIX(o->attached_ids);
	MIX(o->new_streams_polls);
	return h;
}

static uint64_t conn_digest(const struct relay_connection *o)
{
	uint64_t h = FNV0;

	MIX(o->magic); MIX(o->serial); MIX(o->sock); MIX(o->type); MIX(o->major); MIX(o->minor);
	MIX(o->peer); MIX(o->bytes_received); MIX(o->commands); MIX(o->protocol_state);
	MIX(o->version_check_done); MIX(o->session); MIX(o->viewer_session);
	return h;
}

static uint64_t digest_of(enum kind k, const void *p)
{
	switch (k) {
	case K_SESSION: return session_digest(p);
	case K_TRACE: return trace_digest(p);
	case K_STREAM: return stream_digest(p);
	case K_INDEX: return index_digest(p);
	case K_VSTREAM: return vstream_digest(p);
	case K_VSESSION: return vsession_digest(p);
	case K_CONN: return conn_digest(p);
	default: break;
	}
	TCHECK(!"unknown kind");
	return 0;
}

/* The magic and serial of a struct of kind k (own fields, after the base). */
static void header_of(enum kind k, const void *p, uint64_t *magic, int *serial)
{
	switch (k) {
#define HDR(K, T) case K: *magic = ((const T *)p)->magic; *serial = ((const T *)p)->serial; return
	HDR(K_SESSION, struct relay_session);
	HDR(K_TRACE, struct ctf_trace);
	HDR(K_STREAM, struct relay_stream);
	HDR(K_INDEX, struct relay_index);
	HDR(K_VSTREAM, struct relay_viewer_stream);
	HDR(K_VSESSION, struct relay_viewer_session);
	HDR(K_CONN, struct relay_connection);
#undef HDR
	default: break;
	}
	TCHECK(!"unknown kind");
}

static void set_header(enum kind k, void *p, int serial)
{
	switch (k) {
#define HDR(K, T) case K: ((T *)p)->magic = kind_magic[K]; ((T *)p)->serial = serial; return
	HDR(K_SESSION, struct relay_session);
	HDR(K_TRACE, struct ctf_trace);
	HDR(K_STREAM, struct relay_stream);
	HDR(K_INDEX, struct relay_index);
	HDR(K_VSTREAM, struct relay_viewer_stream);
	HDR(K_VSESSION, struct relay_viewer_session);
	HDR(K_CONN, struct relay_connection);
#undef HDR
	default: break;
	}
	TCHECK(!"unknown kind");
}

/* The record of a struct of ours that is still ours to read (rec_lock held). */
static struct record *record_of_locked(enum kind k, const void *p)
{
	uint64_t magic;
	int serial;

	header_of(k, p, &magic, &serial);
	TCHECK(magic == kind_magic[k]);
	TCHECK(serial >= 0 && serial < n_records);
	TCHECK(records[serial].ptr == p && records[serial].kind == k);
	return &records[serial];
}

/* A struct of kind k: malloc'd, filled with a pattern (not zeroed), its
 * magic and serial set, recorded. */
static void *alloc_obj(enum kind k)
{
	unsigned char *p = malloc(kind_size[k]);
	int serial;

	TCHECK(p != NULL);
	memset(p, PATTERN, kind_size[k]);
	pthread_mutex_lock(&rec_lock);
	TCHECK(n_records < MAX_RECORDS);
	serial = n_records++;
	memset(&records[serial], 0, sizeof(records[serial]));
	records[serial].kind = k;
	records[serial].ptr = p;
	pthread_mutex_unlock(&rec_lock);
	set_header(k, p, serial);
	return p;
}

#define NEW_SESSION() ((struct relay_session *)alloc_obj(K_SESSION))
#define NEW_TRACE() ((struct ctf_trace *)alloc_obj(K_TRACE))
#define NEW_STREAM() ((struct relay_stream *)alloc_obj(K_STREAM))
#define NEW_INDEX() ((struct relay_index *)alloc_obj(K_INDEX))
#define NEW_VSTREAM() ((struct relay_viewer_stream *)alloc_obj(K_VSTREAM))
#define NEW_VSESSION() ((struct relay_viewer_session *)alloc_obj(K_VSESSION))
#define NEW_CONN() ((struct relay_connection *)alloc_obj(K_CONN))

/* An init (or a get-or-init) took `p`: its free function frees it. */
static void handed(enum kind k, const void *p)
{
	struct record *r;

	pthread_mutex_lock(&rec_lock);
	r = record_of_locked(k, p);
	TCHECK(!r->handed && !r->caller_freed);
	r->handed = true;
	handed_by_kind[k]++;
	pthread_mutex_unlock(&rec_lock);
}

/* `p` was refused or not used: it is still ours, and we free it. */
static void caller_free(enum kind k, void *p)
{
	struct record *r;

	pthread_mutex_lock(&rec_lock);
	r = record_of_locked(k, p);
	TCHECK(!r->handed && !r->caller_freed && r->frees == 0);
	r->caller_freed = true;
	pthread_mutex_unlock(&rec_lock);
	memset(p, 0, kind_size[k]);
	free(p);
}

/* Remember the own fields of `p` as last written. Called, under the lock
 * that guards them, after every write. */
static void seal(enum kind k, const void *p)
{
	struct record *r;
	uint64_t d = digest_of(k, p);

	pthread_mutex_lock(&rec_lock);
	r = record_of_locked(k, p);
	TCHECK(r->handed && r->frees == 0);
	r->expect = d;
	r->sealed = true;
	if (!r->expect_copy)
		r->expect_copy = malloc(kind_size[k]);
	TCHECK(r->expect_copy != NULL);
	memcpy(r->expect_copy, p, kind_size[k]);
	pthread_mutex_unlock(&rec_lock);
}

/* Every free function: check the struct is ours (magic, serial, address),
 * count it, keep what it saw. */
static void on_free(enum kind k, void *p, uint64_t aux)
{
	struct role *role = pthread_getspecific(role_key);
	uint64_t magic;
	int serial;
	uint64_t d = digest_of(k, p);

	header_of(k, p, &magic, &serial);
	pthread_mutex_lock(&rec_lock);
	frees_by_kind[k]++;
	if (magic != kind_magic[k] || serial < 0 || serial >= n_records ||
	    records[serial].ptr != p || records[serial].kind != k) {
		stray_frees++;
	} else {
		struct record *r = &records[serial];

		r->frees++;
		r->seen = d;
		r->seen_aux = aux;
		if (role && !role->in_barrier)
			r->bad_context = true;
		if (!r->seen_copy)
			r->seen_copy = malloc(kind_size[k]);
		if (r->seen_copy)
			memcpy(r->seen_copy, p, kind_size[k]);
	}
	pthread_mutex_unlock(&rec_lock);
}

static void session_free(struct relay_session *o)
{
	on_free(K_SESSION, o, o->bytes_received);
	o->magic = 0;
	free(o);
}

static void trace_free(struct ctf_trace *o)
{
	on_free(K_TRACE, o, o->metadata_received);
	o->magic = 0;
	free(o);
}

static void stream_free(struct relay_stream *o)
{
	on_free(K_STREAM, o, o->bytes_received);
	o->magic = 0;
	free(o);
}

static void index_free(struct relay_index *o)
{
	on_free(K_INDEX, o, o->net_seq_num);
	o->magic = 0;
	free(o);
}

static void vstream_free(struct relay_viewer_stream *o)
{
	on_free(K_VSTREAM, o, o->last_sent_index);
	o->magic = 0;
	free(o);
}

static void vsession_free(struct relay_viewer_session *o)
{
	on_free(K_VSESSION, o, (uint64_t)o->session_count);
	o->magic = 0;
	free(o);
}

static void conn_free(struct relay_connection *o)
{
	on_free(K_CONN, o, o->bytes_received);
	o->magic = 0;
	free(o);
}

/* The free count of one struct, by serial. */
static int frees_of(int serial)
{
	int n;

	pthread_mutex_lock(&rec_lock);
	TCHECK(serial >= 0 && serial < n_records);
	n = records[serial].frees;
	pthread_mutex_unlock(&rec_lock);
	return n;
}

static long frees_of_kind(enum kind k)
{
	long n;

	pthread_mutex_lock(&rec_lock);
	n = frees_by_kind[k];
	pthread_mutex_unlock(&rec_lock);
	return n;
}

static uint64_t seen_aux_of(int serial)
{
	uint64_t v;

	pthread_mutex_lock(&rec_lock);
	TCHECK(serial >= 0 && serial < n_records);
	v = records[serial].seen_aux;
	pthread_mutex_unlock(&rec_lock);
	return v;
}

/* After a barrier: every struct the library took was freed once, in the
 * right context, with its fields as last written; every other one is ours
 * and untouched by free functions. Then forget the records. */
static void verify_frees(const char *what)
{
	int i, k;
	long taken = 0, ours = 0;

	barrier();
	pthread_mutex_lock(&rec_lock);
	CHECK_EQ_LONG(stray_frees, 0);
	for (i = 0; i < n_records; i++) {
		struct record *r = &records[i];

		if (!r->handed) {
			if (r->frees != 0 || !r->caller_freed)
				CHECK_FAIL_("[%s] %s #%d (not taken by the library): freed %d times "
					    "by its free function, freed by us: %d",
					    what, kind_name[r->kind], i, r->frees, r->caller_freed);
			++*check_counter();
			ours++;
			continue;
		}
		taken++;
		if (r->frees != 1)
			CHECK_FAIL_("[%s] %s #%d: freed %d times (want 1)", what,
				    kind_name[r->kind], i, r->frees);
		++*check_counter();
		if (r->bad_context)
			CHECK_FAIL_("[%s] %s #%d: freed on a thread of the program outside "
				    "traceref_reclaim_barrier()", what, kind_name[r->kind], i);
		++*check_counter();
		if (!r->sealed)
			CHECK_FAIL_("[%s] %s #%d: never sealed (test bug)", what,
				    kind_name[r->kind], i);
		if (r->seen != r->expect) {
			size_t off, n = 0;

			fprintf(stderr, "[%s] %s #%d: fields seen by the free function differ "
				"from the last written; differing bytes (offset: written -> seen):\n",
				what, kind_name[r->kind], i);
			for (off = 0; off < kind_size[r->kind] && r->seen_copy && n < 16; off++)
				if (r->expect_copy[off] != r->seen_copy[off]) {
					fprintf(stderr, "  +%zu: %02x -> %02x%s\n", off,
						r->expect_copy[off], r->seen_copy[off],
						off < kind_base_size[r->kind] ?
						" (base)" : "");
					n++;
				}
			CHECK_FAIL_("[%s] %s #%d: own fields overwritten", what,
				    kind_name[r->kind], i);
		}
		++*check_counter();
	}
	for (k = 0; k < N_KINDS; k++)
		CHECK_EQ_LONG(frees_by_kind[k], handed_by_kind[k]);
	CHECK_OK("[%s] %ld structs taken, each freed once by its free function "
		 "(sessions %ld, traces %ld, streams %ld, indexes %ld, viewer streams %ld, "
		 "viewer sessions %ld, connections %ld), seeing its fields as last written; "
		 "%ld candidates/refused left to us, never freed by the library",
		 what, taken, frees_by_kind[K_SESSION], frees_by_kind[K_TRACE],
		 frees_by_kind[K_STREAM], frees_by_kind[K_INDEX], frees_by_kind[K_VSTREAM],
		 frees_by_kind[K_VSESSION], frees_by_kind[K_CONN], ours);
	for (i = 0; i < n_records; i++) {
		free(records[i].expect_copy);
		free(records[i].seen_copy);
	}
	memset(records, 0, sizeof(records[0]) * (size_t)n_records);
	n_records = 0;
	for (k = 0; k < N_KINDS; k++)
		frees_by_kind[k] = handed_by_kind[k] = 0;
	pthread_mutex_unlock(&rec_lock);
}

/* ------------------------------------------------------------------------ */
/* The daemon's sequences (any thread: TCHECK only).                        */

#define LOCK(kind, o) TCHECK(relay_##kind##_lock(o) == 0)
#define UNLOCK(kind, o) TCHECK(relay_##kind##_unlock(o) == 0)

/* An init that succeeds and leaves the own fields as they were. */
#define INIT_OK(k, obj, call)                                                     \
	do {                                                                      \
		uint64_t init_d_ = digest_of((k), (obj));                         \
		int init_r_ = (call);                                             \
		TCHECK(init_r_ == 0);                                             \
		TCHECK(digest_of((k), (obj)) == init_d_);                         \
		handed((k), (obj));                                               \
		seal((k), (obj));                                                 \
	} while (0)

static void copy_str(char *dst, size_t size, const char *src)
{
	memset(dst, 0, size);
	snprintf(dst, size, "%s", src);
}

/* Accept a connection of `type` on `sock` and add it to `table`. The own
 * fields are filled first, as the daemon does while accepting. */
static struct relay_connection *conn_open(struct relay_connection_table *table, int sock,
					  int type, const char *peer)
{
	struct relay_connection *c = NEW_CONN(), *found;

	c->sock = sock;
	c->type = type;
	c->major = 2;
	c->minor = 11;
	copy_str(c->peer, sizeof(c->peer), peer);
	c->bytes_received = 0;
	c->commands = 0;
	c->protocol_state = 0;
	c->version_check_done = true;
	c->session = NULL;
	c->viewer_session = NULL;
	INIT_OK(K_CONN, c, relay_connection_init(c, conn_free, sock, type));
	TCHECK(relay_connection_get_ref_count(c) == 1);
	TCHECK(relay_connection_get_sock(c) == sock);
	TCHECK(relay_connection_get_type(c) == type);
	TCHECK(relay_connection_get_session(c) == NULL);
	TCHECK(relay_connection_table_add(table, c) == 0);
	found = relay_connection_get_by_sock(table, sock);
	TCHECK(found == c);
	TCHECK(found->magic == kind_magic[K_CONN] && found->sock == sock);
	TCHECK(strcmp(found->peer, peer) == 0);
	relay_connection_put(found);
	return c;
}

/* RELAYD_CREATE_SESSION on `ctrl`. */
static struct relay_session *session_open(struct relay_connection *ctrl, const char *name,
					  const char *host, uint32_t live_timer)
{
	struct relay_session *s = NEW_SESSION(), *found;
	char name_arg[NAME_LEN];

	copy_str(s->session_name, sizeof(s->session_name), name);
	copy_str(s->hostname, sizeof(s->hostname), host);
	s->live_timer = live_timer;
	s->snapshot = false;
	s->major = ctrl->major;
	s->minor = ctrl->minor;
	s->viewer_attached = false;
	s->connection_closed = false;
	s->new_streams = false;
	s->stream_count = 0;
	s->bytes_received = 0;
	s->id = UINT64_MAX;
	/* The name comes from a buffer of the command: the library copies it. */
	copy_str(name_arg, sizeof(name_arg), name);
	INIT_OK(K_SESSION, s, relay_session_init(s, session_free, name_arg, host, live_timer,
						 false, ctrl->major, ctrl->minor));
	memset(name_arg, 'X', sizeof(name_arg) - 1);
	TCHECK(strcmp(relay_session_get_name(s), name) == 0);
	TCHECK(strcmp(relay_session_get_hostname(s), host) == 0);
	TCHECK(relay_session_get_live_timer(s) == live_timer);
	TCHECK(!relay_session_is_snapshot(s));
	TCHECK(relay_session_get_major(s) == ctrl->major);
	TCHECK(relay_session_get_minor(s) == ctrl->minor);
	TCHECK(relay_session_get_ref_count(s) == 1);
	LOCK(session, s);
	s->id = relay_session_get_id(s);
	seal(K_SESSION, s);
	UNLOCK(session, s);
	TCHECK(s->id != UINT64_MAX);

	TCHECK(relay_connection_set_session(ctrl, s) == 0);
	ctrl->session = s;
	ctrl->commands++;
	seal(K_CONN, ctrl);
	TCHECK(relay_connection_get_session(ctrl) == s);
	TCHECK(relay_session_get_ref_count(s) == 2);

	found = relay_session_get_by_id(s->id);
	TCHECK(found == s);
	TCHECK(found->magic == kind_magic[K_SESSION] && found->id == s->id);
	TCHECK(strcmp(found->session_name, name) == 0 && strcmp(found->hostname, host) == 0);
	TCHECK(found->live_timer == live_timer && found->major == 2 && found->minor == 11);
	relay_session_put(found);
	return s;
}

/* False while another thread may hold lookup references on the streams. */
static bool exact_counts = true;

static uint64_t next_trace_id;
static pthread_mutex_t trace_id_lock = PTHREAD_MUTEX_INITIALIZER;

/* The trace of `s` at `path`, made from a candidate struct when new: a new
 * reference for the caller. When the path has a trace, the candidate must
 * come back untouched, and we free it. */
static struct ctf_trace *trace_get(struct relay_session *s, const char *path, bool expect_new)
{
	struct ctf_trace *fresh = NEW_TRACE(), *t;
	unsigned char *before = malloc(sizeof(*fresh));

	TCHECK(before != NULL);
	memcpy(before, fresh, sizeof(*fresh));
	t = relay_ctf_trace_get_by_path_or_init(s, path, fresh, trace_free);
	TCHECK(t != NULL);
	if (t == fresh) {
		TCHECK(expect_new);
		handed(K_TRACE, t);
		/* The init wrote nothing outside the base. */
		TCHECK(memcmp(before + sizeof(struct ctf_trace_base),
			      (unsigned char *)t + sizeof(struct ctf_trace_base),
			      sizeof(*t) - sizeof(struct ctf_trace_base)) == 0);
		TCHECK(relay_ctf_trace_get_ref_count(t) == 1);
		LOCK(ctf_trace, t);
		pthread_mutex_lock(&trace_id_lock);
		t->id = ++next_trace_id;
		pthread_mutex_unlock(&trace_id_lock);
		copy_str(t->path, sizeof(t->path), path);
		t->session = s;
		t->metadata_received = 0;
		t->metadata_version = 0;
		t->stream_count = 0;
		seal(K_TRACE, t);
		UNLOCK(ctf_trace, t);
	} else {
		TCHECK(!expect_new);
		/* The candidate was not touched at all (base included). */
		TCHECK(memcmp(before, fresh, sizeof(*fresh)) == 0);
		caller_free(K_TRACE, fresh);
		TCHECK(t->magic == kind_magic[K_TRACE]);
		TCHECK(strcmp(t->path, path) == 0 && t->session == s);
	}
	free(before);
	TCHECK(strcmp(relay_ctf_trace_get_path(t), path) == 0);
	TCHECK(relay_ctf_trace_get_session(t) == s);
	return t;
}

/* RELAYD_ADD_STREAM: a stream of `t` (own fields filled before the init,
 * since the init makes it visible to lookups), published. */
static struct relay_stream *stream_add_(struct relay_session *s, struct ctf_trace *t,
					bool t_ours, uint64_t handle, const char *chan,
					uint64_t tf_size, uint64_t tf_count, int fd,
					uint64_t packet_len)
{
	struct relay_stream *st = NEW_STREAM(), *found;
	char path[PATH_LEN];

	snprintf(path, sizeof(path), "%s/%s", relay_ctf_trace_get_path(t), chan);
	st->stream_handle = handle;
	st->stream_fd = fd;
	st->index_fd = fd + 1;
	copy_str(st->path_name, sizeof(st->path_name), path);
	copy_str(st->channel_name, sizeof(st->channel_name), chan);
	st->tracefile_size = tf_size;
	st->tracefile_size_current = 0;
	st->tracefile_count = tf_count;
	st->tracefile_count_current = 0;
	st->total_index_received = 0;
	st->packets_received = 0;
	st->bytes_received = 0;
	st->packet_len = packet_len;
	st->prev_seq = SEQ_UNSET;
	st->last_net_seq_num = SEQ_UNSET;
	st->metadata_received = 0;
	st->is_metadata = strcmp(chan, "metadata") == 0;
	st->closed_by_owner = false;
	st->trace = t;
	INIT_OK(K_STREAM, st, relay_stream_init(st, stream_free, t, handle, path, chan,
						tf_size, tf_count));
	TCHECK(relay_stream_get_ref_count(st) == 1);
	TCHECK(relay_stream_get_handle(st) == handle);
	TCHECK(strcmp(relay_stream_get_path_name(st), path) == 0);
	TCHECK(strcmp(relay_stream_get_channel_name(st), chan) == 0);
	TCHECK(relay_stream_get_tracefile_size(st) == tf_size);
	TCHECK(relay_stream_get_tracefile_count(st) == tf_count);
	TCHECK(relay_stream_is_metadata(st) == st->is_metadata);
	TCHECK(relay_stream_get_trace(st) == t);
	TCHECK(!relay_stream_is_published(st) && !relay_stream_is_closed(st));

	if (t_ours) {
		LOCK(ctf_trace, t);
		t->stream_count++;
		seal(K_TRACE, t);
		UNLOCK(ctf_trace, t);
	}
	LOCK(session, s);
	s->stream_count++;
	s->new_streams = true;
	seal(K_SESSION, s);
	UNLOCK(session, s);

	TCHECK(relay_stream_publish(st) == 0);
	TCHECK(relay_stream_is_published(st));
	found = relay_stream_get_by_id(handle);
	TCHECK(found == st);
	TCHECK(found->magic == kind_magic[K_STREAM] && found->stream_handle == handle);
	TCHECK(found->stream_fd == fd && strcmp(found->channel_name, chan) == 0);
	TCHECK(found->trace == t);
	relay_stream_put(found);
	return st;
}

/* A stream of one of our traces. */
static struct relay_stream *stream_add(struct relay_session *s, struct ctf_trace *t,
				       uint64_t handle, const char *chan, uint64_t tf_size,
				       uint64_t tf_count, int fd, uint64_t packet_len)
{
	TCHECK(t->magic == kind_magic[K_TRACE]);
	return stream_add_(s, t, true, handle, chan, tf_size, tf_count, fd, packet_len);
}

static void fill_index_data(struct relay_index *idx, const struct relay_stream *st,
			    uint64_t seq)
{
	idx->index_data.offset = seq * st->packet_len;
	idx->index_data.packet_size = st->packet_len * 8;
	idx->index_data.content_size = st->packet_len * 8 - 64;
	idx->index_data.timestamp_begin = 1000000 * seq;
	idx->index_data.timestamp_end = 1000000 * seq + 999999;
	idx->index_data.events_discarded = seq / 7;
	idx->index_data.stream_id = st->stream_handle;
	idx->index_data.packet_seq_num = seq;
	idx->has_index_data = true;
}

/* RELAYD_SEND_INDEX on the control connection: the index part of packet
 * `seq`. Index before data: the candidate becomes the index, not flushable
 * (1). Data before index: the existing index is returned (the candidate is
 * ours to free), and now flushable (0). `keep`, when not NULL, receives a
 * reference taken before the flush. Returns whether the candidate was used. */
static bool recv_index(struct relay_connection *ctrl, struct relay_stream *st, uint64_t seq,
		       struct relay_index **keep)
{
	struct relay_index *fresh = NEW_INDEX(), *idx;
	long stream_count;
	bool used;

	LOCK(stream, st);
	stream_count = relay_stream_get_ref_count(st);
	idx = relay_index_get_by_id_or_init(st, seq, fresh, index_free);
	TCHECK(idx != NULL);
	TCHECK(relay_index_get_net_seq_num(idx) == seq);
	used = idx == fresh;
	if (used) {
		/* Index before data: our candidate, with its self reference
		 * only, holding a reference on the stream. */
		handed(K_INDEX, idx);
		TCHECK(relay_index_get_ref_count(idx) == 1);
		TCHECK(!exact_counts || relay_stream_get_ref_count(st) == stream_count + 1);
		idx->net_seq_num = seq;
		fill_index_data(idx, st, seq);
		idx->index_fd = -1;
		idx->data_offset = SEQ_UNSET;
		seal(K_INDEX, idx);
		if (keep) {
			TCHECK(relay_index_get(idx));
			*keep = idx;
		}
		TCHECK(relay_index_try_flush(idx) == 1);
	} else {
		/* Data before index: the index the data made, its fields as
		 * the data path left them. */
		caller_free(K_INDEX, fresh);
		TCHECK(!exact_counts || relay_stream_get_ref_count(st) == stream_count);
		TCHECK(relay_index_get_ref_count(idx) == 1);
		TCHECK(idx->magic == kind_magic[K_INDEX] && idx->net_seq_num == seq);
		TCHECK(!idx->has_index_data && idx->index_fd == st->index_fd);
		TCHECK(idx->data_offset == seq * st->packet_len ||
		       idx->data_offset < st->bytes_received);
		fill_index_data(idx, st, seq);
		seal(K_INDEX, idx);
		if (keep) {
			TCHECK(relay_index_get(idx));
			TCHECK(relay_index_get_ref_count(idx) == 2);
			*keep = idx;
		}
		TCHECK(relay_index_try_flush(idx) == 0);
		if (keep)
			TCHECK(relay_index_get_ref_count(idx) == 1);
		/* A borrowed index is not touched after its flush. */
	}
	st->total_index_received++;
	seal(K_STREAM, st);
	UNLOCK(stream, st);
	ctrl->commands++;
	seal(K_CONN, ctrl);
	return used;
}

/* A packet of data for `st` on the data connection (RELAYD data header +
 * payload): the tracefile counters move, the index part of the packet is
 * made or completed (flushed when its index data is there), then the data
 * is marked received (which completes a pending close at our unlock). */
static void recv_data(struct relay_connection *data, struct relay_stream *st, uint64_t seq)
{
	struct relay_index *fresh, *idx = NULL;
	uint64_t len;
	bool flush = false, closing;

	if (st->is_metadata) {
		struct ctf_trace *t = relay_stream_get_trace(st);

		TCHECK(t == st->trace);
		LOCK(ctf_trace, t);
		t->metadata_received += st->packet_len;
		t->metadata_version++;
		seal(K_TRACE, t);
		UNLOCK(ctf_trace, t);
	}
	LOCK(stream, st);
	TCHECK(st->magic == kind_magic[K_STREAM]);
	len = st->packet_len;
	closing = st->last_net_seq_num != SEQ_UNSET && seq >= st->last_net_seq_num;
	if (st->tracefile_size && st->tracefile_size_current + len > st->tracefile_size) {
		st->tracefile_count_current = st->tracefile_count ?
			(st->tracefile_count_current + 1) % st->tracefile_count :
			st->tracefile_count_current + 1;
		st->tracefile_size_current = 0;
	}
	st->tracefile_size_current += len;
	st->bytes_received += len;
	st->packets_received++;
	st->prev_seq = seq;
	if (st->is_metadata)
		st->metadata_received += len;
	if (!st->is_metadata) {
		fresh = NEW_INDEX();
		idx = relay_index_get_by_id_or_init(st, seq, fresh, index_free);
		TCHECK(idx != NULL);
		if (idx == fresh) {
			/* Data before index. */
			handed(K_INDEX, idx);
			TCHECK(relay_index_get_ref_count(idx) == 1);
			idx->net_seq_num = seq;
			memset(&idx->index_data, 0, sizeof(idx->index_data));
			idx->has_index_data = false;
		} else {
			/* Index before data. */
			caller_free(K_INDEX, fresh);
			TCHECK(idx->magic == kind_magic[K_INDEX] && idx->net_seq_num == seq);
			TCHECK(idx->has_index_data && idx->index_fd == -1);
			TCHECK(idx->index_data.packet_size == len * 8);
			TCHECK(idx->index_data.stream_id == st->stream_handle);
			flush = true;
		}
		idx->index_fd = st->index_fd;
		idx->data_offset = st->bytes_received - len;
		seal(K_INDEX, idx);
	}
	seal(K_STREAM, st);
	TCHECK(relay_stream_set_received_seq_num(st, seq) == 0);
	TCHECK(relay_stream_get_received_seq_num(st) == seq);
	if (flush) {
		int r = relay_index_try_flush(idx);

		/* The packet that completes a pending close: the close drops
		 * the self references at our unlock, the flush at once; the
		 * index is freed once either way (checked by its record). */
		if (closing)
			TCHECK(r == 0 || r == 1);
		else
			TCHECK(r == 0);
	}
	UNLOCK(stream, st);
	data->bytes_received += len;
	data->commands++;
	seal(K_CONN, data);
}

/* RELAYD_CLOSE_STREAM with data still to come: the close waits for it.
 * The caller gives up the owner's reference. Returns try_close's answer. */
static int stream_close_pending(struct relay_stream *st, uint64_t last)
{
	LOCK(stream, st);
	st->last_net_seq_num = last;
	st->closed_by_owner = true;
	seal(K_STREAM, st);
	TCHECK(relay_stream_set_last_net_seq_num(st, last) == 0);
	UNLOCK(stream, st);
	TCHECK(relay_stream_get_last_net_seq_num(st) == last);
	return relay_stream_try_close(st);
}

/* RELAYD_CLOSE_STREAM with all the data there: closed at once. */
static void stream_close_now(struct relay_stream *st)
{
	uint64_t h;

	LOCK(stream, st);
	st->closed_by_owner = true;
	st->last_net_seq_num = st->prev_seq;
	seal(K_STREAM, st);
	h = st->stream_handle;
	UNLOCK(stream, st);
	TCHECK(relay_stream_close(st) == 0);
	TCHECK(relay_stream_get_by_id(h) == NULL);
}

/* LTTNG_VIEWER_CREATE_SESSION: the live connection's viewer session. */
static struct relay_viewer_session *viewer_open(struct relay_connection *live)
{
	struct relay_viewer_session *vs = NEW_VSESSION();

	vs->session_count = 0;
	memset(vs->attached_ids, 0, sizeof(vs->attached_ids));
	vs->new_streams_polls = 0;
	INIT_OK(K_VSESSION, vs, relay_viewer_session_init(vs, vsession_free));
	TCHECK(relay_connection_set_viewer_session(live, vs) == 0);
	live->viewer_session = vs;
	live->commands++;
	seal(K_CONN, live);
	TCHECK(relay_connection_get_viewer_session(live) == vs);
	return vs;
}

/* LTTNG_VIEWER_ATTACH_SESSION: the session by id. */
static void viewer_attach(struct relay_viewer_session *vs, uint64_t id, const char *name)
{
	struct relay_session *s = relay_session_get_by_id(id);

	TCHECK(s != NULL);
	TCHECK(s->magic == kind_magic[K_SESSION] && s->id == id);
	LOCK(session, s);
	TCHECK(strcmp(s->session_name, name) == 0);
	UNLOCK(session, s);
	TCHECK(!relay_viewer_session_is_attached(vs, s));
	TCHECK(!relay_session_is_viewer_attached(s));
	TCHECK(relay_viewer_session_attach(vs, s) == 0);
	TCHECK(relay_viewer_session_is_attached(vs, s));
	TCHECK(relay_session_is_viewer_attached(s));
	LOCK(session, s);
	s->viewer_attached = true;
	seal(K_SESSION, s);
	UNLOCK(session, s);
	TCHECK(vs->session_count < MAX_ATTACH);
	vs->attached_ids[vs->session_count++] = id;
	seal(K_VSESSION, vs);
	relay_session_put(s);
}

/* The viewer stream of the stream with `handle` (found by id). */
static struct relay_viewer_stream *viewer_stream_add(uint64_t handle, uint32_t seek)
{
	struct relay_stream *st = relay_stream_get_by_id(handle);
	struct relay_viewer_stream *v = NEW_VSTREAM(), *found;

	TCHECK(st != NULL);
	TCHECK(st->magic == kind_magic[K_STREAM] && st->stream_handle == handle);
	TCHECK(relay_stream_is_published(st));
	LOCK(stream, st);
	copy_str(v->path_name, sizeof(v->path_name), st->path_name);
	copy_str(v->channel_name, sizeof(v->channel_name), st->channel_name);
	v->current_tracefile_id = st->tracefile_count_current;
	v->stream_fd = st->stream_fd + 1000;
	v->index_fd = st->index_fd + 1000;
	v->is_metadata = st->is_metadata;
	UNLOCK(stream, st);
	v->last_sent_index = 0;
	v->index_sent_seqcount = 0;
	v->metadata_sent = 0;
	v->stream = st;
	INIT_OK(K_VSTREAM, v, relay_viewer_stream_init(v, vstream_free, st, seek));
	TCHECK(relay_viewer_stream_get_ref_count(v) == 1);
	TCHECK(relay_viewer_stream_get_stream(v) == st);
	TCHECK(relay_viewer_stream_get_seek(v) == seek);
	found = relay_viewer_stream_get_by_id(handle);
	TCHECK(found == v);
	TCHECK(found->magic == kind_magic[K_VSTREAM] && found->stream == st);
	TCHECK(strcmp(found->channel_name, st->channel_name) == 0);
	relay_viewer_stream_put(found);
	relay_stream_put(st); /* the viewer stream holds it */
	return v;
}

/* LTTNG_VIEWER_GET_NEXT_INDEX, roughly: read the stream's counters under
 * its lock (they must be consistent: written together under it) and move
 * the viewer's position. Returns the packets seen. */
static uint64_t viewer_poll(struct relay_viewer_stream *v)
{
	struct relay_stream *st = relay_viewer_stream_get_stream(v);
	uint64_t packets;

	TCHECK(st == v->stream && st->magic == kind_magic[K_STREAM]);
	LOCK(stream, st);
	packets = st->packets_received;
	TCHECK(st->bytes_received == packets * st->packet_len);
	TCHECK(packets == 0 ? st->prev_seq == SEQ_UNSET : st->prev_seq == packets - 1);
	TCHECK(st->tracefile_size == 0 || st->tracefile_size_current <= st->tracefile_size);
	TCHECK(strcmp(st->channel_name, v->channel_name) == 0);
	v->last_sent_index = st->total_index_received;
	v->current_tracefile_id = st->tracefile_count_current;
	v->index_sent_seqcount++;
	if (v->is_metadata)
		v->metadata_sent = st->metadata_received;
	seal(K_VSTREAM, v);
	UNLOCK(stream, st);
	return packets;
}

/* ------------------------------------------------------------------------ */
/* Scenario: refusals.                                                      */

static bool lines_name(const char *text, const char *fn)
{
	const char *p = text;

	while (*p) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char line[512];

		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (!strstr(line, fn))
			return false;
		p += n + (end ? 1 : 0);
	}
	return true;
}

static unsigned char snap[sizeof(struct relay_stream) + sizeof(struct relay_session) +
			  sizeof(struct relay_viewer_stream)];

/* A refused call did nothing to the struct at `now`, whose bytes were
 * `before`: neither to the caller's fields nor, for memory that holds no
 * object (all ours, pattern-filled), to the part reserved for the library.
 * For a live object only the caller's fields are compared: its base is the
 * library's (with padding it leaves undefined); the callers check its state
 * through getters and lookups. */
static void check_unchanged(const char *call, const unsigned char *before, const void *now,
			    size_t size)
{
	const unsigned char *p = now;
	size_t base = 0, off, n_base = 0, n_own = 0;
	enum kind kind = N_KINDS;
	uint64_t magic;
	int k, serial;
	bool live;

	for (k = 0; k < N_KINDS; k++)
		if (kind_size[k] == size) {
			base = kind_base_size[k];
			kind = (enum kind)k;
		}
	CHECK(base != 0);
	header_of(kind, now, &magic, &serial);
	CHECK(magic == kind_magic[kind]);
	pthread_mutex_lock(&rec_lock);
	CHECK(serial >= 0 && serial < n_records && records[serial].ptr == now);
	live = records[serial].handed;
	pthread_mutex_unlock(&rec_lock);
	for (off = live ? base : 0; off < size; off++) {
		if (before[off] == p[off])
			continue;
		if (off < base)
			n_base++;
		else
			n_own++;
		if (n_base + n_own <= 8)
			fprintf(stderr, "%s: byte +%zu (%s) changed: %02x -> %02x\n", call, off,
				off < base ? "library base" : "caller's field", before[off],
				p[off]);
	}
	if (n_own)
		CHECK_FAIL_("%s refused, but %zu bytes of the caller's fields changed", call, n_own);
	++*check_counter();
	if (n_base)
		CHECK_FAIL_("%s refused (\"nothing done\"), but %zu bytes of the library's base "
			    "in the caller's memory changed", call, n_base);
	++*check_counter();
}

/* Memory whose inits were all refused is still no object for the library:
 * the kind's ref-count getter answers -1 with one warning, as for memory
 * never given to it. */
static void check_not_an_object(enum kind k, void *p)
{
	struct capture cap;
	long count = 0;
	int lines;

	capture_scope_begin(&cap);
	switch (k) {
	case K_TRACE: count = relay_ctf_trace_get_ref_count(p); break;
	case K_STREAM: count = relay_stream_get_ref_count(p); break;
	case K_INDEX: count = relay_index_get_ref_count(p); break;
	case K_VSTREAM: count = relay_viewer_stream_get_ref_count(p); break;
	case K_CONN: count = relay_connection_get_ref_count(p); break;
	default: CHECK(!"kind without a ref-count getter"); break;
	}
	lines = capture_scope_end(&cap);
	if (count != -1)
		CHECK_FAIL_("the %s struct whose init was refused is taken for a live %s by the "
			    "library (ref count %ld, not -1)", kind_name[k], kind_name[k], count);
	++*check_counter();
	CHECK_EQ_LONG(lines, 1);
}

/* `call` must return -1 (or NULL with REFUSE_NULL), print between minl and
 * maxl lines on stderr, each naming `fn`, and leave `obj` (`size` bytes,
 * base included; NULL: nothing to compare) exactly as it was. */
#define REFUSE_(fn, minl, maxl, obj, size, call, okexpr)                          \
	do {                                                                      \
		struct capture cap_;                                              \
		int lines_;                                                       \
		const void *obj_ = (obj);                                         \
		CHECK((size_t)(size) <= sizeof(snap));                            \
		if (obj_)                                                         \
			memcpy(snap, obj_, (size));                               \
		capture_scope_begin(&cap_);                                       \
		okexpr (call);                                                    \
		lines_ = capture_scope_end(&cap_);                                \
		if (!refused_)                                                    \
			CHECK_FAIL_("%s: not refused", #call);                    \
		++*check_counter();                                               \
		if (lines_ < (minl) || lines_ > (maxl))                           \
			CHECK_FAIL_("%s: %d lines on stderr (want %d..%d)", #call, \
				    lines_, (minl), (maxl));                      \
		++*check_counter();                                               \
		CHECK(lines_name(cap_.text, (fn)));                               \
		if (obj_)                                                         \
			check_unchanged(#call, snap, obj_, (size));               \
	} while (0)

#define REFUSE(fn, minl, maxl, obj, size, call)                                   \
	do {                                                                      \
		bool refused_;                                                    \
		REFUSE_(fn, minl, maxl, obj, size, call, refused_ = -1 ==);       \
	} while (0)

#define REFUSE_NULL(fn, minl, maxl, obj, size, call)                              \
	do {                                                                      \
		bool refused_;                                                    \
		REFUSE_(fn, minl, maxl, obj, size, call, refused_ = NULL ==);     \
	} while (0)

static void refusals(void)
{
	const size_t start = traceref_live_objects();
	struct relay_connection_table *table;
	struct relay_connection *ctrl, *c, *found_c;
	struct relay_session *s, *s2, *closed_s, *found;
	struct ctf_trace *t, *t2, *tf, *closed_t;
	struct relay_stream *st, *sf, *closed_st;
	struct relay_index *idx, *fresh, *fresh2;
	struct relay_viewer_stream *v, *vf;
	struct relay_viewer_session *vs, *vsf;
	uint64_t id;
	long count;
	size_t live;
	int i;

	table = relay_connection_table_create();
	CHECK(table != NULL);

	/* Sessions. */
	ctrl = conn_open(table, 900, RELAY_CONTROL, "refusals");
	s = session_open(ctrl, "refusals", "host-r", 0);
	id = s->id;
	s2 = NEW_SESSION();
	barrier();
	live = traceref_live_objects();
	REFUSE("relay_session_init", 0, 1, NULL, 0,
	       relay_session_init(NULL, session_free, "n", "h", 0, false, 2, 11));
	REFUSE("relay_session_init", 0, 1, s2, sizeof(*s2),
	       relay_session_init(s2, NULL, "n", "h", 0, false, 2, 11));
	REFUSE("relay_session_init", 0, 1, s2, sizeof(*s2),
	       relay_session_init(s2, session_free, NULL, "h", 0, false, 2, 11));
	REFUSE("relay_session_init", 0, 1, s2, sizeof(*s2),
	       relay_session_init(s2, session_free, "n", NULL, 0, false, 2, 11));
	{
		/* Misaligned memory (one byte into ours). */
		struct relay_session *mis = (struct relay_session *)(void *)((char *)s2 + 1);

		REFUSE("relay_session_init", 0, 1, s2, sizeof(*s2),
		       relay_session_init(mis, session_free, "n", "h", 0, false, 2, 11));
	}
	count = relay_session_get_ref_count(s);
	REFUSE("relay_session_init", 1, 1, s, sizeof(*s),
	       relay_session_init(s, session_free, "other", "other-host", 7, true, 2, 4));
	CHECK_EQ_LONG(relay_session_get_ref_count(s), count);
	CHECK(relay_session_get_id(s) == id);
	CHECK_EQ_STR(relay_session_get_name(s), "refusals");
	CHECK_EQ_STR(relay_session_get_hostname(s), "host-r");
	CHECK(!relay_session_is_snapshot(s));
	found = relay_session_get_by_id(id);
	CHECK_EQ_PTR(found, s);
	CHECK_EQ_STR(found->session_name, "refusals");
	relay_session_put(found);
	CHECK_EQ_LONG(traceref_live_objects(), live);
	/* The refused memory is still ours: an init of it now succeeds. */
	s2->id = UINT64_MAX;
	copy_str(s2->session_name, sizeof(s2->session_name), "second");
	copy_str(s2->hostname, sizeof(s2->hostname), "host-r");
	s2->live_timer = 0;
	s2->snapshot = true;
	s2->major = 2;
	s2->minor = 11;
	s2->viewer_attached = s2->connection_closed = s2->new_streams = false;
	s2->stream_count = s2->bytes_received = 0;
	INIT_OK(K_SESSION, s2, relay_session_init(s2, session_free, "second", "host-r", 0, true,
						  2, 11));
	CHECK(relay_session_is_snapshot(s2));
	CHECK(relay_session_get_id(s2) != id);
	CHECK_EQ_LONG(traceref_live_objects(), live + 1);
	CHECK_OK("relay_session_init refuses NULL arguments, a NULL free function and a live "
		 "session (struct unchanged, nothing done); the refused memory can be "
		 "initialised afterwards");

	/* Ctf-traces. */
	t = trace_get(s, PATH_A, true);
	tf = NEW_TRACE();
	barrier();
	live = traceref_live_objects();
	REFUSE_NULL("relay_ctf_trace_get_by_path_or_init", 0, 1, tf, sizeof(*tf),
		    relay_ctf_trace_get_by_path_or_init(NULL, PATH_B, tf, trace_free));
	REFUSE_NULL("relay_ctf_trace_get_by_path_or_init", 0, 1, tf, sizeof(*tf),
		    relay_ctf_trace_get_by_path_or_init(s, NULL, tf, trace_free));
	REFUSE_NULL("relay_ctf_trace_get_by_path_or_init", 0, 1, NULL, 0,
		    relay_ctf_trace_get_by_path_or_init(s, PATH_B, NULL, trace_free));
	REFUSE_NULL("relay_ctf_trace_get_by_path_or_init", 0, 1, tf, sizeof(*tf),
		    relay_ctf_trace_get_by_path_or_init(s, PATH_B, tf, NULL));
	REFUSE_NULL("relay_ctf_trace_get_by_path_or_init", 0, 1, tf, sizeof(*tf),
		    relay_ctf_trace_get_by_path_or_init(
			    s, PATH_B, (struct ctf_trace *)(void *)((char *)tf + 2), trace_free));
	/* A live trace as the candidate for another path. */
	count = relay_ctf_trace_get_ref_count(t);
	REFUSE_NULL("relay_ctf_trace_get_by_path_or_init", 0, 1, t, sizeof(*t),
		    relay_ctf_trace_get_by_path_or_init(s, PATH_B, t, trace_free));
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(t), count);
	CHECK_EQ_STR(relay_ctf_trace_get_path(t), PATH_A);
	CHECK_EQ_LONG(traceref_live_objects(), live);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 3); /* owner, connection, trace */
	/* Nothing was left at PATH_B by the refusals: the candidate is used now. */
	t2 = relay_ctf_trace_get_by_path_or_init(s, PATH_B, tf, trace_free);
	CHECK_EQ_PTR(t2, tf);
	handed(K_TRACE, t2);
	t2->id = 1000;
	copy_str(t2->path, sizeof(t2->path), PATH_B);
	t2->session = s;
	t2->metadata_received = t2->metadata_version = 0;
	t2->stream_count = 0;
	seal(K_TRACE, t2);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 4);
	CHECK_OK("relay_ctf_trace_get_by_path_or_init refuses NULL arguments, a NULL free "
		 "function and a live trace as candidate (NULL, candidate untouched)");

	/* Streams. */
	st = stream_add(s, t, 9000, "chan0", 0, 0, 300, 4096);
	sf = NEW_STREAM();
	barrier();
	live = traceref_live_objects();
	REFUSE("relay_stream_init", 0, 1, NULL, 0,
	       relay_stream_init(NULL, stream_free, t, 9001, "p", "chan1", 0, 0));
	REFUSE("relay_stream_init", 0, 1, sf, sizeof(*sf),
	       relay_stream_init(sf, NULL, t, 9001, "p", "chan1", 0, 0));
	REFUSE("relay_stream_init", 0, 1, sf, sizeof(*sf),
	       relay_stream_init(sf, stream_free, NULL, 9001, "p", "chan1", 0, 0));
	REFUSE("relay_stream_init", 0, 1, sf, sizeof(*sf),
	       relay_stream_init(sf, stream_free, t, 9001, NULL, "chan1", 0, 0));
	REFUSE("relay_stream_init", 0, 1, sf, sizeof(*sf),
	       relay_stream_init(sf, stream_free, t, 9001, "p", NULL, 0, 0));
	REFUSE("relay_stream_init", 0, 1, sf, sizeof(*sf),
	       relay_stream_init((struct relay_stream *)(void *)((char *)sf + 4), stream_free, t,
				 9001, "p", "chan1", 0, 0));
	/* A handle already in the stream table. */
	REFUSE("relay_stream_init", 0, 1, sf, sizeof(*sf),
	       relay_stream_init(sf, stream_free, t, 9000, "p", "chan1", 0, 0));
	/* A live stream initialised again, with another handle. */
	count = relay_stream_get_ref_count(st);
	REFUSE("relay_stream_init", 1, 1, st, sizeof(*st),
	       relay_stream_init(st, stream_free, t2, 9002, "p", "chan2", 1, 1));
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), count);
	CHECK(relay_stream_get_handle(st) == 9000);
	CHECK_EQ_PTR(relay_stream_get_trace(st), t);
	CHECK(relay_stream_get_by_id(9001) == NULL);
	CHECK(relay_stream_get_by_id(9002) == NULL);
	{
		struct relay_stream *f = relay_stream_get_by_id(9000);

		CHECK_EQ_PTR(f, st);
		CHECK_EQ_STR(f->channel_name, "chan0");
		relay_stream_put(f);
	}
	CHECK_EQ_LONG(traceref_live_objects(), live);
	CHECK_OK("relay_stream_init refuses NULL arguments, a NULL free function, a handle "
		 "in use and a live stream");

	/* Indexes (under the stream's lock). */
	fresh = NEW_INDEX();
	fresh2 = NEW_INDEX();
	REFUSE_NULL("relay_index_get_by_id_or_init", 0, 1, fresh, sizeof(*fresh),
		    relay_index_get_by_id_or_init(NULL, 0, fresh, index_free));
	CHECK_EQ_LONG(relay_stream_lock(st), 0);
	count = relay_stream_get_ref_count(st);
	REFUSE_NULL("relay_index_get_by_id_or_init", 0, 1, NULL, 0,
		    relay_index_get_by_id_or_init(st, 0, NULL, index_free));
	REFUSE_NULL("relay_index_get_by_id_or_init", 0, 1, fresh, sizeof(*fresh),
		    relay_index_get_by_id_or_init(st, 0, fresh, NULL));
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), count);
	/* Nothing left at seq 0: the candidate is used now. */
	idx = relay_index_get_by_id_or_init(st, 0, fresh, index_free);
	CHECK_EQ_PTR(idx, fresh);
	handed(K_INDEX, idx);
	idx->net_seq_num = 0;
	fill_index_data(idx, st, 0);
	idx->index_fd = -1;
	idx->data_offset = SEQ_UNSET;
	seal(K_INDEX, idx);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), count + 1);
	/* The live index of seq 0 as the candidate for seq 1. */
	REFUSE_NULL("relay_index_get_by_id_or_init", 0, 1, idx, sizeof(*idx),
		    relay_index_get_by_id_or_init(st, 1, idx, index_free));
	CHECK(relay_index_get_net_seq_num(idx) == 0);
	CHECK_EQ_LONG(relay_index_get_ref_count(idx), 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(st), count + 1);
	CHECK_EQ_PTR(relay_index_get_by_id_or_init(st, 0, fresh2, index_free), idx);
	CHECK_EQ_LONG(relay_stream_unlock(st), 0);
	CHECK_OK("relay_index_get_by_id_or_init refuses NULL arguments, a NULL free function "
		 "and a live index as candidate");

	/* Viewer streams. */
	v = viewer_stream_add(9000, 0);
	vf = NEW_VSTREAM();
	barrier();
	live = traceref_live_objects();
	REFUSE("relay_viewer_stream_init", 0, 1, NULL, 0,
	       relay_viewer_stream_init(NULL, vstream_free, st, 0));
	REFUSE("relay_viewer_stream_init", 0, 1, vf, sizeof(*vf),
	       relay_viewer_stream_init(vf, NULL, st, 0));
	REFUSE("relay_viewer_stream_init", 0, 1, vf, sizeof(*vf),
	       relay_viewer_stream_init(vf, vstream_free, NULL, 0));
	/* The stream has a viewer stream already. */
	REFUSE("relay_viewer_stream_init", 0, 1, vf, sizeof(*vf),
	       relay_viewer_stream_init(vf, vstream_free, st, 0));
	count = relay_viewer_stream_get_ref_count(v);
	REFUSE("relay_viewer_stream_init", 1, 1, v, sizeof(*v),
	       relay_viewer_stream_init(v, vstream_free, st, 5));
	CHECK_EQ_LONG(relay_viewer_stream_get_ref_count(v), count);
	CHECK_EQ_LONG(relay_viewer_stream_get_seek(v), 0);
	{
		struct relay_viewer_stream *f = relay_viewer_stream_get_by_id(9000);

		CHECK_EQ_PTR(f, v);
		relay_viewer_stream_put(f);
	}
	CHECK_EQ_LONG(traceref_live_objects(), live);
	CHECK_OK("relay_viewer_stream_init refuses NULL arguments, a NULL free function, a "
		 "stream with a viewer stream and a live viewer stream");

	/* Viewer sessions. */
	vs = NEW_VSESSION();
	vs->session_count = 0;
	memset(vs->attached_ids, 0, sizeof(vs->attached_ids));
	vs->new_streams_polls = 0;
	INIT_OK(K_VSESSION, vs, relay_viewer_session_init(vs, vsession_free));
	vsf = NEW_VSESSION();
	barrier();
	live = traceref_live_objects();
	REFUSE("relay_viewer_session_init", 0, 1, NULL, 0,
	       relay_viewer_session_init(NULL, vsession_free));
	REFUSE("relay_viewer_session_init", 0, 1, vsf, sizeof(*vsf),
	       relay_viewer_session_init(vsf, NULL));
	CHECK_EQ_LONG(relay_viewer_session_attach(vs, s2), 0);
	REFUSE("relay_viewer_session_init", 1, 1, vs, sizeof(*vs),
	       relay_viewer_session_init(vs, vsession_free));
	CHECK(relay_viewer_session_is_attached(vs, s2));
	CHECK_EQ_LONG(traceref_live_objects(), live);
	CHECK_OK("relay_viewer_session_init refuses NULL arguments, a NULL free function and "
		 "a live viewer session (which keeps its attachment)");

	/* Connections. */
	c = NEW_CONN();
	barrier();
	live = traceref_live_objects();
	REFUSE("relay_connection_init", 0, 1, NULL, 0,
	       relay_connection_init(NULL, conn_free, 901, RELAY_DATA));
	REFUSE("relay_connection_init", 0, 1, c, sizeof(*c),
	       relay_connection_init(c, NULL, 901, RELAY_DATA));
	REFUSE("relay_connection_init", 0, 1, c, sizeof(*c),
	       relay_connection_init(c, conn_free, -1, RELAY_DATA));
	REFUSE("relay_connection_init", 0, 1, c, sizeof(*c),
	       relay_connection_init((struct relay_connection *)(void *)((char *)c + 1), conn_free,
				     901, RELAY_DATA));
	REFUSE("relay_connection_init", 0, 1, c, sizeof(*c),
	       relay_connection_init(c, conn_free, 901, 99));
	REFUSE("relay_connection_init", 0, 1, c, sizeof(*c),
	       relay_connection_init(c, conn_free, 901, -1));
	count = relay_connection_get_ref_count(ctrl);
	REFUSE("relay_connection_init", 1, 1, ctrl, sizeof(*ctrl),
	       relay_connection_init(ctrl, conn_free, 902, RELAY_DATA));
	CHECK_EQ_LONG(relay_connection_get_ref_count(ctrl), count);
	CHECK_EQ_LONG(relay_connection_get_sock(ctrl), 900);
	CHECK_EQ_LONG(relay_connection_get_type(ctrl), RELAY_CONTROL);
	CHECK_EQ_PTR(relay_connection_get_session(ctrl), s);
	found_c = relay_connection_get_by_sock(table, 900);
	CHECK_EQ_PTR(found_c, ctrl);
	relay_connection_put(found_c);
	CHECK(relay_connection_get_by_sock(table, 902) == NULL);
	CHECK_EQ_LONG(traceref_live_objects(), live);
	CHECK_OK("relay_connection_init refuses NULL arguments, a NULL free function, a bad "
		 "socket or type and a live connection");

	/* The reasons the _create functions give for a closed session or
	 * stream, and a stream at count 0. */
	{
		struct relay_connection *c2 = conn_open(table, 903, RELAY_CONTROL, "closing");
		struct ctf_trace *ct;
		struct relay_index *cfresh;

		closed_s = session_open(c2, "closing", "host-r", 0);
		closed_t = trace_get(closed_s, PATH_A, true);
		closed_st = stream_add(closed_s, closed_t, 9010, "chan0", 0, 0, 310, 4096);
		CHECK(relay_stream_get(closed_st));
		LOCK(session, closed_s);
		closed_s->connection_closed = true;
		seal(K_SESSION, closed_s);
		UNLOCK(session, closed_s);
		CHECK(relay_session_get(closed_s));
		CHECK_EQ_LONG(relay_connection_close(c2), 0);
		CHECK(relay_session_is_closed(closed_s));
		CHECK(relay_stream_is_closed(closed_st));
		barrier();
	live = traceref_live_objects();
		tf = NEW_TRACE();
		REFUSE_NULL("relay_ctf_trace_get_by_path_or_init", 0, 1, tf, sizeof(*tf),
			    relay_ctf_trace_get_by_path_or_init(closed_s, PATH_B, tf, trace_free));
		/* The existing path still gives its trace; the candidate is ours. */
		ct = trace_get(closed_s, PATH_A, false);
		CHECK_EQ_PTR(ct, closed_t);
		relay_ctf_trace_put(ct);
		sf->stream_handle = 9011;
		REFUSE("relay_stream_init", 0, 1, sf, sizeof(*sf),
		       relay_stream_init(sf, stream_free, closed_t, 9011, "p", "chan1", 0, 0));
		CHECK(relay_stream_get_by_id(9011) == NULL);
		cfresh = NEW_INDEX();
		CHECK_EQ_LONG(relay_stream_lock(closed_st), 0);
		REFUSE_NULL("relay_index_get_by_id_or_init", 0, 1, cfresh, sizeof(*cfresh),
			    relay_index_get_by_id_or_init(closed_st, 0, cfresh, index_free));
		CHECK_EQ_LONG(relay_stream_unlock(closed_st), 0);
		caller_free(K_INDEX, cfresh);
		CHECK_EQ_LONG(traceref_live_objects(), live);
		/* A stream at count 0 (kept allocated by a read-side section). */
		traceref_read_lock();
		relay_ctf_trace_put(closed_t);
		relay_stream_put(closed_st);
		CHECK_EQ_LONG(relay_stream_get_ref_count(closed_st), 0);
		REFUSE("relay_viewer_stream_init", 0, 1, vf, sizeof(*vf),
		       relay_viewer_stream_init(vf, vstream_free, closed_st, 0));
		traceref_read_unlock();
		relay_session_put(closed_s);
		CHECK_OK("a closed session gives no new trace, no new stream; a closed stream "
			 "no index; a stream at count 0 no viewer stream (candidates untouched)");
	}

	/* None of the refused structs was freed by the library; all are ours. */
	barrier();
	pthread_mutex_lock(&rec_lock);
	for (i = 0; i < n_records; i++)
		if (!records[i].handed)
			CHECK_EQ_LONG(records[i].frees, 0);
	pthread_mutex_unlock(&rec_lock);
	check_not_an_object(K_TRACE, tf);
	check_not_an_object(K_STREAM, sf);
	check_not_an_object(K_INDEX, fresh2);
	check_not_an_object(K_VSTREAM, vf);
	check_not_an_object(K_CONN, c);
	CHECK_OK("memory whose inits were refused is no object for the library");
	caller_free(K_TRACE, tf);
	caller_free(K_STREAM, sf);
	caller_free(K_INDEX, fresh2);
	caller_free(K_VSTREAM, vf);
	caller_free(K_VSESSION, vsf);
	caller_free(K_CONN, c);

	/* Teardown: the standalone viewer session is destroyed by its owner. */
	relay_viewer_session_destroy(vs);
	CHECK_EQ_LONG(relay_viewer_stream_close(v), 0);
	relay_ctf_trace_put(t);
	relay_ctf_trace_put(t2);
	CHECK_EQ_LONG(relay_session_close(s2), 0);
	CHECK_EQ_LONG(relay_connection_close(ctrl), 0);
	CHECK_EQ_LONG(relay_connection_table_destroy(table), 0);
	verify_frees("refusals");
	CHECK_EQ_LONG(traceref_live_objects(), start);
}

/* ------------------------------------------------------------------------ */
/* Scenario: the hierarchy on one thread.                                   */

enum teardown { LIVE_FIRST, LIVE_LAST, TABLE_DESTROY };

static const char *const teardown_name[] = {
	"live connection closed first",
	"control connection closed first, live last",
	"connection table destroyed",
};

struct visit_seen {
	int n;
	int bad;
};

static int visit_stream_ours(struct relay_stream *st, void *data)
{
	struct visit_seen *seen = data;

	seen->n++;
	if (st->magic != kind_magic[K_STREAM] || st->stream_handle != relay_stream_get_handle(st))
		seen->bad++;
	return 0;
}

static int visit_session_ours(struct relay_session *s, void *data)
{
	struct visit_seen *seen = data;

	seen->n++;
	if (s->magic != kind_magic[K_SESSION] || s->id != relay_session_get_id(s))
		seen->bad++;
	return 0;
}

#define N_H 5

static void hierarchy(enum teardown order, int run)
{
	const size_t start = traceref_live_objects();
	const char *what = teardown_name[order];
	const int sock = 1000 + 10 * run;
	const uint64_t h0 = 10000 + 100 * (uint64_t)run;
	/* sa0, sa1, metadata of A, sb0, metadata of B */
	static const char *const chans[N_H] = { "chan0", "chan1", "metadata", "chan0", "metadata" };
	static const uint64_t lens[N_H] = { 4096, 8192, 1024, 2048, 512 };
	uint64_t handles[N_H], total_bytes;
	struct relay_stream *streams[N_H], *f;
	struct relay_viewer_stream *vst[N_H], *m, *fv;
	struct relay_connection_table *table;
	struct relay_connection *ctrl, *data, *live, *c;
	struct relay_session *s, *found;
	struct ctf_trace *ta, *tb, *again;
	struct relay_viewer_session *vs;
	struct relay_index *kept;
	struct visit_seen seen;
	char name[32];
	uint64_t id, seq;
	int i, serial_sa1, serial_s, serial_sa0_idx2;
	long idx_frees;

	snprintf(name, sizeof(name), "sess-e-%d", run);
	table = relay_connection_table_create();
	CHECK(table != NULL);
	ctrl = conn_open(table, sock, RELAY_CONTROL, "10.0.0.1:5342");
	data = conn_open(table, sock + 1, RELAY_DATA, "10.0.0.1:5343");
	CHECK_EQ_LONG(traceref_live_objects(), start + 3);
	s = session_open(ctrl, name, "host-e", 0);
	id = s->id;
	serial_s = s->serial;
	CHECK_EQ_LONG(traceref_live_objects(), start + 4);
	c = relay_connection_get_by_sock(table, sock);
	CHECK_EQ_PTR(c, ctrl);
	CHECK_EQ_PTR(relay_connection_get_session(c), s);
	CHECK_EQ_PTR(c->session, s);
	CHECK_EQ_STR(c->peer, "10.0.0.1:5342");
	relay_connection_put(c);
	CHECK_OK("[%s] control and data connections, the session: our structs, found by socket "
		 "and by id", what);

	ta = trace_get(s, PATH_A, true);
	tb = trace_get(s, PATH_B, true);
	CHECK(ta != tb && ta->id != tb->id);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 4); /* owner, connection, 2 traces */
	again = trace_get(s, PATH_A, false);
	CHECK_EQ_PTR(again, ta);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(ta), 2);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 4);
	relay_ctf_trace_put(again);
	CHECK_EQ_LONG(traceref_live_objects(), start + 6);
	CHECK_OK("[%s] two traces from candidates; an existing path gives the same trace and "
		 "leaves the candidate untouched (freed by us)", what);

	for (i = 0; i < N_H; i++) {
		handles[i] = h0 + (uint64_t)i;
		streams[i] = stream_add(s, i < 3 ? ta : tb, handles[i], chans[i],
					i == 0 ? 3 * lens[i] : 0, i == 0 ? 2 : 0, 200 + 10 * i,
					lens[i]);
	}
	serial_sa1 = streams[1]->serial;
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(ta), 1 + 3);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(tb), 1 + 2);
	CHECK_EQ_LONG(ta->stream_count, 3);
	CHECK_EQ_LONG(tb->stream_count, 2);
	CHECK_EQ_LONG(s->stream_count, N_H);
	CHECK(s->new_streams);
	CHECK_EQ_LONG(traceref_live_objects(), start + 6 + N_H);
	/* As the daemon does: the streams hold their traces. */
	relay_ctf_trace_put(ta);
	relay_ctf_trace_put(tb);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(ta), 3);
	CHECK_EQ_LONG(relay_ctf_trace_get_ref_count(tb), 2);
	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_LONG(relay_session_for_each_stream(s, visit_stream_ours, &seen), N_H);
	CHECK_EQ_LONG(seen.n, N_H);
	CHECK_EQ_LONG(seen.bad, 0);
	memset(&seen, 0, sizeof(seen));
	CHECK_EQ_LONG(relay_sessions_for_each(visit_session_ours, &seen), 1);
	CHECK_EQ_LONG(seen.bad, 0);
	CHECK_OK("[%s] %d streams across the two traces, published; the walks hand out our "
		 "structs", what, N_H);

	/* sa0: seq 0 index before data, seq 1 data before index, seq 2 an
	 * index whose data never comes. */
	CHECK(recv_index(ctrl, streams[0], 0, NULL));
	CHECK_EQ_LONG(relay_stream_get_ref_count(streams[0]), 2);
	recv_data(data, streams[0], 0);
	CHECK_EQ_LONG(relay_stream_get_ref_count(streams[0]), 1);
	recv_data(data, streams[0], 1);
	CHECK_EQ_LONG(relay_stream_get_ref_count(streams[0]), 2);
	CHECK(!recv_index(ctrl, streams[0], 1, NULL));
	CHECK_EQ_LONG(relay_stream_get_ref_count(streams[0]), 1);
	CHECK(recv_index(ctrl, streams[0], 2, NULL));
	CHECK_EQ_LONG(relay_stream_get_ref_count(streams[0]), 2);
	pthread_mutex_lock(&rec_lock);
	serial_sa0_idx2 = n_records - 1;
	CHECK(records[serial_sa0_idx2].kind == K_INDEX && records[serial_sa0_idx2].handed);
	pthread_mutex_unlock(&rec_lock);
	/* sa1: seq 0 data first; seq 1 index first, kept past its flush with
	 * a reference of ours. */
	recv_data(data, streams[1], 0);
	CHECK(!recv_index(ctrl, streams[1], 0, NULL));
	CHECK(recv_index(ctrl, streams[1], 1, &kept));
	CHECK_EQ_LONG(relay_index_get_ref_count(kept), 2);
	recv_data(data, streams[1], 1);
	CHECK_EQ_LONG(relay_index_get_ref_count(kept), 1);
	CHECK(kept->magic == kind_magic[K_INDEX]);
	CHECK(kept->net_seq_num == 1 && kept->has_index_data);
	CHECK_EQ_LONG(kept->index_fd, streams[1]->index_fd);
	CHECK(kept->index_data.packet_size == lens[1] * 8);
	CHECK(kept->data_offset == lens[1]);
	CHECK_EQ_LONG(relay_index_try_flush(kept), 1); /* flushed already */
	kept->index_data.events_discarded = 42;          /* ours to write while held */
	seal(K_INDEX, kept);
	relay_index_put(kept);
	CHECK_EQ_LONG(relay_stream_get_ref_count(streams[1]), 1);
	/* Metadata, and sb0 alternating. */
	for (seq = 0; seq < 3; seq++)
		recv_data(data, streams[2], seq);
	for (seq = 0; seq < 2; seq++)
		recv_data(data, streams[4], seq);
	for (seq = 0; seq < 4; seq++) {
		if (seq % 2) {
			CHECK(recv_index(ctrl, streams[3], seq, NULL));
			recv_data(data, streams[3], seq);
		} else {
			recv_data(data, streams[3], seq);
			CHECK(!recv_index(ctrl, streams[3], seq, NULL));
		}
	}
	CHECK(ta->metadata_received == 3 * lens[2] && ta->metadata_version == 3);
	CHECK(tb->metadata_received == 2 * lens[4]);
	CHECK(streams[0]->tracefile_size_current == 2 * lens[0]);
	CHECK(streams[3]->total_index_received == 4 && streams[3]->packets_received == 4);
	barrier();
	CHECK_EQ_LONG(frees_of_kind(K_INDEX), 8);
	CHECK_EQ_LONG(frees_of(serial_sa0_idx2), 0);
	for (i = 0; i < N_KINDS; i++)
		if (i != K_INDEX)
			CHECK_EQ_LONG(frees_of_kind((enum kind)i), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + 6 + N_H + 1);
	CHECK_OK("[%s] indexes before and after their data: the candidate is the index when "
		 "new (try_flush 1 until the data), else ours to free (try_flush 0); 8 flushed "
		 "and freed, the one without data kept", what);

	/* The live side. */
	live = conn_open(table, sock + 2, RELAY_VIEWER_COMMAND, "10.0.0.2:5344");
	vs = viewer_open(live);
	viewer_attach(vs, id, name);
	CHECK_EQ_LONG(relay_session_get_ref_count(s), 5);
	CHECK(s->viewer_attached);
	for (i = 0; i < N_H; i++)
		vst[i] = viewer_stream_add(handles[i], (uint32_t)i);
	CHECK_EQ_LONG(relay_stream_get_ref_count(streams[0]), 3); /* owner, index 2, viewer */
	CHECK_EQ_LONG(relay_stream_get_ref_count(streams[1]), 2);
	m = relay_ctf_trace_get_viewer_metadata_stream(ta);
	CHECK_EQ_PTR(m, vst[2]);
	CHECK(m->is_metadata && m->stream == streams[2]);
	CHECK_EQ_STR(m->channel_name, "metadata");
	relay_viewer_stream_put(m);
	m = relay_ctf_trace_get_viewer_metadata_stream(tb);
	CHECK_EQ_PTR(m, vst[4]);
	CHECK(m->is_metadata && m->stream == streams[4]);
	relay_viewer_stream_put(m);
	CHECK_EQ_LONG(viewer_poll(vst[0]), 2);
	CHECK_EQ_LONG(viewer_poll(vst[1]), 2);
	CHECK_EQ_LONG(viewer_poll(vst[2]), 3);
	CHECK_EQ_LONG(viewer_poll(vst[3]), 4);
	CHECK_EQ_LONG(viewer_poll(vst[4]), 2);
	CHECK(vst[2]->metadata_sent == 3 * lens[2]);
	CHECK(vst[3]->last_sent_index == 4);
	CHECK_EQ_LONG(traceref_live_objects(), start + 6 + N_H + 1 + 2 + N_H);
	CHECK_OK("[%s] live connection, its viewer session attached by id, viewer streams of "
		 "streams found by id; the metadata viewer streams found through their traces",
		 what);

	/* sa1 closed with data still to come: pending until it arrives. The
	 * control side gave up sa1; the data side finds it by id. */
	CHECK_EQ_LONG(stream_close_pending(streams[1], 4), 1);
	for (seq = 2; seq <= 4; seq++) {
		f = relay_stream_get_by_id(handles[1]);
		CHECK_EQ_PTR(f, streams[1]);
		CHECK(!relay_stream_is_closed(f));
		CHECK(f->last_net_seq_num == 4 && f->closed_by_owner);
		CHECK(f->packets_received == seq);
		if (seq == 3) {
			recv_data(data, f, seq);
			CHECK(!recv_index(ctrl, f, seq, NULL));
		} else {
			/* seq 2 and the last, 4: index first. */
			CHECK(recv_index(ctrl, f, seq, NULL));
			recv_data(data, f, seq);
		}
		if (seq < 4) {
			CHECK(!relay_stream_is_closed(f));
		} else {
			CHECK(relay_stream_is_closed(f));
			CHECK(relay_stream_get_by_id(handles[1]) == NULL);
			/* Closed, held by our lookup: our fields as written. */
			CHECK(f->magic == kind_magic[K_STREAM] && f->packets_received == 5);
			CHECK(f->bytes_received == 5 * lens[1] && f->prev_seq == 4);
			CHECK(f->total_index_received == 5);
		}
		relay_stream_put(f);
	}
	fv = relay_viewer_stream_get_by_id(handles[1]);
	CHECK_EQ_PTR(fv, vst[1]);
	CHECK_EQ_PTR(relay_viewer_stream_get_stream(fv), streams[1]);
	CHECK(relay_stream_is_closed(fv->stream));
	CHECK_EQ_LONG(viewer_poll(fv), 5);
	relay_viewer_stream_put(fv);
	/* sb0 closed at once. */
	stream_close_now(streams[3]);
	barrier();
	CHECK_EQ_LONG(frees_of_kind(K_INDEX), 8 + 3);
	CHECK_EQ_LONG(frees_of_kind(K_STREAM), 0); /* the viewer streams hold them */
	CHECK_OK("[%s] a stream close pending until its late data (found by id until then); our "
		 "fields intact after the close; a close at once", what);

	LOCK(stream, streams[0]);
	total_bytes = data->bytes_received;
	UNLOCK(stream, streams[0]);
	switch (order) {
	case LIVE_FIRST:
		found = relay_session_get_by_id(id);
		CHECK_EQ_PTR(found, s);
		LOCK(session, found);
		found->viewer_attached = false;
		seal(K_SESSION, found);
		UNLOCK(session, found);
		relay_session_put(found);
		live->commands++;
		seal(K_CONN, live);
		CHECK_EQ_LONG(relay_connection_close(live), 0);
		for (i = 0; i < N_H; i++)
			CHECK(relay_viewer_stream_get_by_id(handles[i]) == NULL);
		found = relay_session_get_by_id(id);
		CHECK_EQ_PTR(found, s);
		CHECK(!relay_session_is_closed(found));
		CHECK_EQ_LONG(relay_session_get_ref_count(found), 5); /* owner, conn, traces, ours */
		CHECK_EQ_STR(found->session_name, name);
		CHECK(found->stream_count == N_H && !found->viewer_attached);
		relay_session_put(found);
		barrier();
		CHECK_EQ_LONG(frees_of_kind(K_CONN), 1);
		CHECK_EQ_LONG(frees_of_kind(K_VSESSION), 1);
		CHECK_EQ_LONG(frees_of_kind(K_VSTREAM), N_H);
		CHECK_EQ_LONG(frees_of_kind(K_STREAM), 2); /* sa1, sb0: closed */
		CHECK_EQ_LONG(frees_of(serial_sa1), 1);
		CHECK(seen_aux_of(serial_sa1) == 5 * lens[1]);
		CHECK_EQ_LONG(frees_of_kind(K_SESSION), 0);
		CHECK_EQ_LONG(frees_of_kind(K_TRACE), 0);
		CHECK_EQ_LONG(traceref_live_objects(), start + 10);
		CHECK_OK("[%s] viewer streams, viewer session and live connection freed, with the "
			 "closed streams they held; the session open", what);
		/* The control side goes on, then closes. */
		recv_data(data, streams[2], 3);
		total_bytes = data->bytes_received;
		CHECK_EQ_LONG(relay_connection_close(data), 0);
		LOCK(session, s);
		s->connection_closed = true;
		s->bytes_received = total_bytes;
		seal(K_SESSION, s);
		UNLOCK(session, s);
		ctrl->commands++;
		seal(K_CONN, ctrl);
		CHECK_EQ_LONG(relay_connection_close(ctrl), 0);
		CHECK(relay_session_get_by_id(id) == NULL);
		for (i = 0; i < N_H; i++)
			CHECK(relay_stream_get_by_id(handles[i]) == NULL);
		break;

	case LIVE_LAST:
		LOCK(session, s);
		s->connection_closed = true;
		s->bytes_received = total_bytes;
		seal(K_SESSION, s);
		UNLOCK(session, s);
		CHECK_EQ_LONG(relay_connection_close(data), 0);
		ctrl->commands++;
		seal(K_CONN, ctrl);
		CHECK_EQ_LONG(relay_connection_close(ctrl), 0);
		/* Closed, held by the viewer session: our struct, our fields. */
		found = relay_session_get_by_id(id);
		CHECK_EQ_PTR(found, s);
		CHECK(relay_session_is_closed(found));
		CHECK_EQ_LONG(relay_session_get_ref_count(found), 4); /* traces, attach, ours */
		CHECK_EQ_STR(found->session_name, name);
		CHECK_EQ_STR(found->hostname, "host-e");
		CHECK(found->connection_closed && found->viewer_attached);
		CHECK(found->bytes_received == total_bytes);
		relay_session_put(found);
		for (i = 0; i < N_H; i++) {
			uint64_t want[N_H] = { 2, 5, 3, 4, 2 };

			CHECK(relay_stream_get_by_id(handles[i]) == NULL);
			fv = relay_viewer_stream_get_by_id(handles[i]);
			CHECK_EQ_PTR(fv, vst[i]);
			CHECK(relay_stream_is_closed(relay_viewer_stream_get_stream(fv)));
			CHECK(viewer_poll(fv) == want[i]);
			relay_viewer_stream_put(fv);
		}
		CHECK_EQ_PTR(relay_stream_get_trace(vst[0]->stream), ta);
		CHECK(ta->magic == kind_magic[K_TRACE] && strcmp(ta->path, PATH_A) == 0);
		CHECK(ta->metadata_received == 3 * lens[2] && ta->session == s);
		m = relay_ctf_trace_get_viewer_metadata_stream(ta);
		CHECK_EQ_PTR(m, vst[2]);
		relay_viewer_stream_put(m);
		barrier();
		CHECK_EQ_LONG(frees_of_kind(K_CONN), 2);
		CHECK_EQ_LONG(frees_of_kind(K_INDEX), 12); /* sa0's seq 2 dropped by the close */
		CHECK_EQ_LONG(frees_of(serial_sa0_idx2), 1);
		CHECK_EQ_LONG(frees_of_kind(K_STREAM), 0);
		CHECK_EQ_LONG(frees_of_kind(K_SESSION), 0);
		CHECK_EQ_LONG(frees_of_kind(K_TRACE), 0);
		CHECK_EQ_LONG(traceref_live_objects(), start + 6 + N_H + 2 + N_H - 2);
		CHECK_OK("[%s] session closed, held by the viewer session with its traces and "
			 "closed streams, fields intact; connections and indexes freed", what);
		found = relay_session_get_by_id(id);
		CHECK_EQ_PTR(found, s);
		LOCK(session, found);
		found->viewer_attached = false;
		seal(K_SESSION, found);
		UNLOCK(session, found);
		relay_session_put(found);
		live->commands++;
		seal(K_CONN, live);
		CHECK_EQ_LONG(relay_connection_close(live), 0);
		CHECK(relay_session_get_by_id(id) == NULL);
		for (i = 0; i < N_H; i++)
			CHECK(relay_viewer_stream_get_by_id(handles[i]) == NULL);
		break;

	case TABLE_DESTROY:
		LOCK(session, s);
		s->connection_closed = true;
		s->viewer_attached = false;
		s->bytes_received = total_bytes;
		seal(K_SESSION, s);
		UNLOCK(session, s);
		CHECK_EQ_LONG(relay_connection_table_destroy(table), 0);
		table = NULL;
		CHECK(relay_session_get_by_id(id) == NULL);
		for (i = 0; i < N_H; i++) {
			CHECK(relay_stream_get_by_id(handles[i]) == NULL);
			CHECK(relay_viewer_stream_get_by_id(handles[i]) == NULL);
		}
		break;
	}
	if (table) {
		for (i = 0; i < 3; i++)
			CHECK(relay_connection_get_by_sock(table, sock + i) == NULL);
		CHECK_EQ_LONG(relay_connection_table_destroy(table), 0);
	}
	barrier();
	CHECK(seen_aux_of(serial_s) == total_bytes);
	CHECK(seen_aux_of(serial_sa1) == 5 * lens[1]);
	idx_frees = frees_of_kind(K_INDEX);
	CHECK_EQ_LONG(idx_frees, 12);
	verify_frees(what);
	CHECK_EQ_LONG(traceref_live_objects(), start);
}

/* ------------------------------------------------------------------------ */
/* Scenario: embedded and library-allocated objects in one hierarchy.       */

static void mixed(void)
{
	const size_t start = traceref_live_objects();
	struct relay_connection_table *table = relay_connection_table_create();
	struct relay_connection *lib_ctrl, *lib_live, *ec;
	struct relay_session *s, *ls;
	struct ctf_trace *lt, *et, *got, *fresh_t;
	struct relay_stream *est, *lst;
	struct relay_index *idx, *li, *fresh;
	struct relay_viewer_stream *ev, *lv, *f;
	struct relay_viewer_session *evs;
	unsigned char before[sizeof(struct ctf_trace)];
	const uint64_t h = 15000;

	CHECK(table != NULL);
	/* An embedded session owned by a library connection. */
	lib_ctrl = relay_connection_create(950, RELAY_CONTROL);
	CHECK(lib_ctrl != NULL);
	s = NEW_SESSION();
	s->id = UINT64_MAX;
	copy_str(s->session_name, sizeof(s->session_name), "mixed");
	copy_str(s->hostname, sizeof(s->hostname), "host-m");
	s->live_timer = 100;
	s->snapshot = false;
	s->major = 2;
	s->minor = 11;
	s->viewer_attached = s->connection_closed = s->new_streams = false;
	s->stream_count = s->bytes_received = 0;
	INIT_OK(K_SESSION, s, relay_session_init(s, session_free, "mixed", "host-m", 100, false,
						 2, 11));
	s->id = relay_session_get_id(s);
	seal(K_SESSION, s);
	CHECK_EQ_LONG(relay_connection_set_session(lib_ctrl, s), 0);
	CHECK_EQ_PTR(relay_connection_get_session(lib_ctrl), s);

	/* A library trace in it, and an embedded one. */
	lt = relay_ctf_trace_get_by_path_or_create(s, PATH_A);
	CHECK(lt != NULL);
	CHECK_EQ_PTR(relay_ctf_trace_get_session(lt), s);
	et = trace_get(s, PATH_B, true);
	fresh_t = NEW_TRACE();
	memcpy(before, fresh_t, sizeof(before));
	got = relay_ctf_trace_get_by_path_or_init(s, PATH_A, fresh_t, trace_free);
	CHECK_EQ_PTR(got, lt);
	CHECK(memcmp(before, fresh_t, sizeof(before)) == 0);
	caller_free(K_TRACE, fresh_t);
	relay_ctf_trace_put(got);
	got = relay_ctf_trace_get_by_path_or_create(s, PATH_B);
	CHECK_EQ_PTR(got, et);
	CHECK(got->magic == kind_magic[K_TRACE]);
	relay_ctf_trace_put(got);
	CHECK_OK("[mixed] a library trace and an embedded one in an embedded session; each "
		 "found by the other's get-or-make");

	/* An embedded stream in the library trace, a library stream in ours. */
	est = stream_add_(s, lt, false, h, "chan0", 0, 0, 500, 1024);
	lst = relay_stream_create(et, h + 1, "p", "chan1", 0, 0);
	CHECK(lst != NULL);
	CHECK_EQ_PTR(relay_stream_get_trace(est), lt);
	CHECK_EQ_PTR(relay_stream_get_trace(lst), et);
	CHECK(et->magic == kind_magic[K_TRACE] && strcmp(et->path, PATH_B) == 0);
	/* An embedded index in the library stream, a library one in ours. */
	fresh = NEW_INDEX();
	CHECK_EQ_LONG(relay_stream_lock(lst), 0);
	idx = relay_index_get_by_id_or_init(lst, 0, fresh, index_free);
	CHECK_EQ_PTR(idx, fresh);
	handed(K_INDEX, idx);
	idx->net_seq_num = 0;
	memset(&idx->index_data, 0, sizeof(idx->index_data));
	idx->has_index_data = false;
	idx->index_fd = 7;
	idx->data_offset = 0;
	seal(K_INDEX, idx);
	CHECK_EQ_LONG(relay_stream_unlock(lst), 0);
	CHECK_EQ_LONG(relay_stream_lock(est), 0);
	li = relay_index_get_by_id_or_create(est, 0);
	CHECK(li != NULL);
	CHECK_EQ_LONG(relay_index_get_ref_count(li), 1);
	CHECK_EQ_LONG(relay_stream_unlock(est), 0);
	CHECK_EQ_LONG(relay_stream_get_ref_count(est), 2);
	/* Viewer streams both ways, an embedded viewer session owned by a
	 * library live connection. */
	lib_live = relay_connection_create(951, RELAY_VIEWER_COMMAND);
	CHECK(lib_live != NULL);
	evs = NEW_VSESSION();
	evs->session_count = 0;
	memset(evs->attached_ids, 0, sizeof(evs->attached_ids));
	evs->new_streams_polls = 0;
	INIT_OK(K_VSESSION, evs, relay_viewer_session_init(evs, vsession_free));
	CHECK_EQ_LONG(relay_connection_set_viewer_session(lib_live, evs), 0);
	CHECK_EQ_PTR(relay_connection_get_viewer_session(lib_live), evs);
	viewer_attach(evs, s->id, "mixed");
	ev = NEW_VSTREAM();
	memset(ev->path_name, 0, sizeof(ev->path_name));
	memset(ev->channel_name, 0, sizeof(ev->channel_name));
	copy_str(ev->channel_name, sizeof(ev->channel_name), "chan1");
	ev->stream_fd = ev->index_fd = -1;
	ev->current_tracefile_id = ev->last_sent_index = ev->index_sent_seqcount = 0;
	ev->metadata_sent = 0;
	ev->is_metadata = false;
	ev->stream = lst;
	INIT_OK(K_VSTREAM, ev, relay_viewer_stream_init(ev, vstream_free, lst, 3));
	CHECK_EQ_PTR(relay_viewer_stream_get_stream(ev), lst);
	lv = relay_viewer_stream_create(est, 4);
	CHECK(lv != NULL);
	CHECK_EQ_PTR(relay_viewer_stream_get_stream(lv), est);
	f = relay_viewer_stream_get_by_id(h + 1);
	CHECK_EQ_PTR(f, ev);
	CHECK_EQ_STR(f->channel_name, "chan1");
	relay_viewer_stream_put(f);
	f = relay_viewer_stream_get_by_id(h);
	CHECK_EQ_PTR(f, lv);
	relay_viewer_stream_put(f);
	/* An embedded connection owning a library session. */
	ec = conn_open(table, 952, RELAY_CONTROL, "mixed");
	ls = relay_session_create("lib", "host-m", 0, false, 2, 11);
	CHECK(ls != NULL);
	CHECK_EQ_LONG(relay_connection_set_session(ec, ls), 0);
	ec->session = ls;
	seal(K_CONN, ec);
	CHECK_EQ_PTR(relay_connection_get_session(ec), ls);
	/* table, 2 library conns, ec, s, ls, lt, et, est, lst, idx, li, evs, ev, lv */
	CHECK_EQ_LONG(traceref_live_objects(), start + 15);
	CHECK_OK("[mixed] every kind embedded next to library ones: streams, indexes, viewer "
		 "streams, viewer session, connections, sessions, across each other");

	CHECK_EQ_LONG(relay_connection_close(lib_live), 0);
	CHECK(relay_viewer_stream_get_by_id(h) == NULL);
	CHECK(relay_viewer_stream_get_by_id(h + 1) == NULL);
	CHECK_EQ_LONG(relay_connection_close(ec), 0);
	relay_ctf_trace_put(lt);
	relay_ctf_trace_put(et);
	LOCK(session, s);
	s->connection_closed = true;
	seal(K_SESSION, s);
	UNLOCK(session, s);
	CHECK_EQ_LONG(relay_connection_close(lib_ctrl), 0);
	CHECK_EQ_LONG(relay_connection_table_destroy(table), 0);
	barrier();
	{
		int k;

		for (k = 0; k < N_KINDS; k++)
			CHECK_EQ_LONG(frees_of_kind((enum kind)k), 1);
	}
	verify_frees("mixed");
	CHECK_EQ_LONG(traceref_live_objects(), start);
}

/* ------------------------------------------------------------------------ */
/* Scenario: a control thread and a live thread.                            */

#define ROUNDS 240
#define T_STREAMS 6
/* A: chan0 (closed at once mid-way), chan1 (closed pending late data),
 * chan2, metadata; B: chan0, metadata. */
static const char *const t_chans[T_STREAMS] = { "chan0", "chan1", "chan2", "metadata", "chan0",
						"metadata" };

struct shared {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int phase; /* 1 session, 2 streams, 3 viewers, 4 live closed, 5 control done */
	long live_passes;
	long live_stream_reads;
	enum teardown order;
	int run;
	struct relay_connection_table *table;
	uint64_t session_id;
	char session_name[32];
	int session_serial;
	uint64_t handles[T_STREAMS];
	int stream_serial[T_STREAMS];
	uint64_t final_packets[T_STREAMS];
	uint64_t final_bytes[T_STREAMS];
	uint64_t final_session_bytes;
};

static void set_phase(struct shared *sh, int p)
{
	pthread_mutex_lock(&sh->lock);
	TCHECK(sh->phase < p);
	sh->phase = p;
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
}

static int get_phase(struct shared *sh)
{
	int p;

	pthread_mutex_lock(&sh->lock);
	p = sh->phase;
	pthread_mutex_unlock(&sh->lock);
	return p;
}

static void wait_phase(struct shared *sh, int p)
{
	pthread_mutex_lock(&sh->lock);
	while (sh->phase < p)
		pthread_cond_wait(&sh->cond, &sh->lock);
	pthread_mutex_unlock(&sh->lock);
}

static void record_final(struct shared *sh, int i, struct relay_stream *st)
{
	uint64_t p, b;

	LOCK(stream, st);
	p = st->packets_received;
	b = st->bytes_received;
	UNLOCK(stream, st);
	pthread_mutex_lock(&sh->lock);
	sh->final_packets[i] = p;
	sh->final_bytes[i] = b;
	pthread_mutex_unlock(&sh->lock);
}

static void *control_main(void *arg)
{
	struct shared *sh = arg;
	struct role role = { false };
	struct relay_connection *ctrl, *data;
	struct relay_session *s;
	struct ctf_trace *ta, *tb;
	struct relay_stream *st[T_STREAMS];
	bool owned[T_STREAMS], done[T_STREAMS];
	uint64_t last_seq[T_STREAMS];
	const int sock = 2000 + 10 * sh->run;
	const uint64_t pending_at = 2 * ROUNDS / 3;
	uint64_t r;
	int i;

	TCHECK(pthread_setspecific(role_key, &role) == 0);
	ctrl = conn_open(sh->table, sock, RELAY_CONTROL, "sessiond");
	data = conn_open(sh->table, sock + 1, RELAY_DATA, "consumerd");
	s = session_open(ctrl, sh->session_name, "host-thr", 1000);
	pthread_mutex_lock(&sh->lock);
	sh->session_id = s->id;
	sh->session_serial = s->serial;
	pthread_mutex_unlock(&sh->lock);
	set_phase(sh, 1);

	ta = trace_get(s, PATH_A, true);
	tb = trace_get(s, PATH_B, true);
	for (i = 0; i < T_STREAMS; i++) {
		st[i] = stream_add(s, i < 4 ? ta : tb, sh->handles[i], t_chans[i],
				   i == 2 ? 64 * 1024 : 0, i == 2 ? 3 : 0, 600 + 10 * i,
				   1024 + 512 * (uint64_t)i);
		owned[i] = true;
		done[i] = false;
		last_seq[i] = SEQ_UNSET;
		pthread_mutex_lock(&sh->lock);
		sh->stream_serial[i] = st[i]->serial;
		pthread_mutex_unlock(&sh->lock);
	}
	relay_ctf_trace_put(ta);
	relay_ctf_trace_put(tb);
	set_phase(sh, 2);
	wait_phase(sh, 3);

	for (r = 0; r < ROUNDS; r++) {
		if (r > 0 && r % (ROUNDS / 6) == 0) {
			/* A checkpoint: a whole pass of the live thread
			 * (lookups, reads under the locks) from here. */
			long p0;

			pthread_mutex_lock(&sh->lock);
			p0 = sh->live_passes;
			while (sh->live_passes < p0 + 2)
				pthread_cond_wait(&sh->cond, &sh->lock);
			pthread_mutex_unlock(&sh->lock);
		}
		if (r == ROUNDS / 2) {
			/* The live thread has read at least once (and, in the
			 * live-first run, closed its connection). */
			pthread_mutex_lock(&sh->lock);
			while (sh->live_passes < 1 || (sh->order == LIVE_FIRST && sh->phase < 4))
				pthread_cond_wait(&sh->cond, &sh->lock);
			pthread_mutex_unlock(&sh->lock);
			record_final(sh, 0, st[0]);
			stream_close_now(st[0]);
			owned[0] = false;
			done[0] = true;
		}
		for (i = 0; i < T_STREAMS; i++) {
			struct relay_stream *cur = st[i];

			if (done[i])
				continue;
			if (!owned[i]) {
				/* Closed pending late data: the data side
				 * finds it by id. */
				cur = relay_stream_get_by_id(sh->handles[i]);
				TCHECK(cur == st[i]);
				TCHECK(!relay_stream_is_closed(cur));
				TCHECK(cur->last_net_seq_num == last_seq[i]);
			}
			if (cur->is_metadata) {
				recv_data(data, cur, r);
			} else {
				/* The late index of the previous packet. */
				if (r % 3 == 0 && r > 0)
					TCHECK(!recv_index(ctrl, cur, r - 1, NULL));
				if (r % 3 == 0) {
					TCHECK(recv_index(ctrl, cur, r, NULL));
					recv_data(data, cur, r);
				} else if (r % 3 == 1) {
					recv_data(data, cur, r);
					TCHECK(!recv_index(ctrl, cur, r, NULL));
				} else {
					recv_data(data, cur, r); /* index next round */
				}
			}
			if (!owned[i]) {
				if (r == last_seq[i]) {
					TCHECK(relay_stream_is_closed(cur));
					TCHECK(relay_stream_get_by_id(sh->handles[i]) == NULL);
					record_final(sh, i, cur);
					done[i] = true;
				} else {
					TCHECK(!relay_stream_is_closed(cur));
				}
				relay_stream_put(cur);
			}
		}
		if (r == pending_at) {
			last_seq[1] = r + 2;
			TCHECK(stream_close_pending(st[1], r + 2) == 1);
			owned[1] = false;
		}
		if (r % 8 == 0) {
			LOCK(session, s);
			s->bytes_received = data->bytes_received;
			seal(K_SESSION, s);
			UNLOCK(session, s);
		}
	}
	for (i = 0; i < T_STREAMS; i++)
		if (owned[i])
			record_final(sh, i, st[i]);
	TCHECK(done[0] && done[1]);
	LOCK(session, s);
	s->bytes_received = data->bytes_received;
	s->connection_closed = true;
	seal(K_SESSION, s);
	UNLOCK(session, s);
	pthread_mutex_lock(&sh->lock);
	sh->final_session_bytes = data->bytes_received;
	pthread_mutex_unlock(&sh->lock);
	TCHECK(relay_connection_close(data) == 0);
	ctrl->commands++;
	seal(K_CONN, ctrl);
	TCHECK(relay_connection_close(ctrl) == 0); /* closes the session */
	for (i = 0; i < T_STREAMS; i++)
		TCHECK(relay_stream_get_by_id(sh->handles[i]) == NULL);
	set_phase(sh, 5);
	return NULL;
}

static void live_close(struct relay_connection *live, uint64_t id,
		       const uint64_t *handles)
{
	struct relay_session *s = relay_session_get_by_id(id);
	int i;

	TCHECK(s != NULL);
	LOCK(session, s);
	s->viewer_attached = false;
	seal(K_SESSION, s);
	UNLOCK(session, s);
	relay_session_put(s);
	live->commands++;
	seal(K_CONN, live);
	TCHECK(relay_connection_close(live) == 0);
	for (i = 0; i < T_STREAMS; i++)
		TCHECK(relay_viewer_stream_get_by_id(handles[i]) == NULL);
}

static void *live_main(void *arg)
{
	struct shared *sh = arg;
	struct role role = { false };
	struct relay_connection *live;
	struct relay_viewer_session *vs;
	struct relay_viewer_stream *v[T_STREAMS];
	struct relay_stream *stream_ptr[T_STREAMS];
	uint64_t last_packets[T_STREAMS], last_sbytes = 0, last_meta = 0, id;
	struct ctf_trace *ta;
	bool live_open = true;
	int i;

	TCHECK(pthread_setspecific(role_key, &role) == 0);
	wait_phase(sh, 1);
	pthread_mutex_lock(&sh->lock);
	id = sh->session_id;
	pthread_mutex_unlock(&sh->lock);
	live = conn_open(sh->table, 2000 + 10 * sh->run + 2, RELAY_VIEWER_COMMAND, "viewer");
	vs = viewer_open(live);
	wait_phase(sh, 2);
	viewer_attach(vs, id, sh->session_name);
	for (i = 0; i < T_STREAMS; i++) {
		v[i] = viewer_stream_add(sh->handles[i], 0);
		stream_ptr[i] = v[i]->stream;
		last_packets[i] = 0;
	}
	ta = relay_stream_get_trace(v[3]->stream); /* borrowed: held through v[3] */
	TCHECK(ta->magic == kind_magic[K_TRACE] && strcmp(ta->path, PATH_A) == 0);
	for (i = 3; i < T_STREAMS; i += 2) {
		struct relay_viewer_stream *m =
			relay_ctf_trace_get_viewer_metadata_stream(relay_stream_get_trace(v[i]->stream));

		TCHECK(m == v[i] && m->is_metadata);
		relay_viewer_stream_put(m);
	}
	set_phase(sh, 3);

	for (;;) {
		const int phase = get_phase(sh);
		struct relay_session *s = relay_session_get_by_id(id);
		long reads = 0;

		if (s) {
			LOCK(session, s);
			TCHECK(s->magic == kind_magic[K_SESSION] && s->id == id);
			TCHECK(strcmp(s->session_name, sh->session_name) == 0);
			TCHECK(strcmp(s->hostname, "host-thr") == 0);
			TCHECK(s->stream_count == T_STREAMS);
			TCHECK(s->bytes_received >= last_sbytes);
			last_sbytes = s->bytes_received;
			UNLOCK(session, s);
			relay_session_put(s);
		}
		for (i = 0; i < T_STREAMS; i++) {
			struct relay_stream *st = relay_stream_get_by_id(sh->handles[i]);

			if (!st)
				continue;
			TCHECK(st == stream_ptr[i]);
			LOCK(stream, st);
			TCHECK(st->magic == kind_magic[K_STREAM]);
			TCHECK(st->stream_handle == sh->handles[i]);
			TCHECK(st->bytes_received == st->packets_received * st->packet_len);
			TCHECK(st->packets_received == 0 ? st->prev_seq == SEQ_UNSET :
							    st->prev_seq == st->packets_received - 1);
			TCHECK(st->packets_received >= last_packets[i]);
			last_packets[i] = st->packets_received;
			UNLOCK(stream, st);
			relay_stream_put(st);
			reads++;
		}
		if (live_open) {
			for (i = 0; i < T_STREAMS; i++) {
				struct relay_viewer_stream *fv =
					relay_viewer_stream_get_by_id(sh->handles[i]);
				uint64_t p;

				TCHECK(fv == v[i]);
				TCHECK(relay_viewer_stream_get_stream(fv) == stream_ptr[i]);
				p = viewer_poll(fv);
				TCHECK(p >= last_packets[i]);
				last_packets[i] = p;
				relay_viewer_stream_put(fv);
			}
			LOCK(ctf_trace, ta);
			TCHECK(ta->magic == kind_magic[K_TRACE]);
			TCHECK(ta->metadata_received >= last_meta);
			last_meta = ta->metadata_received;
			UNLOCK(ctf_trace, ta);
		}
		pthread_mutex_lock(&sh->lock);
		sh->live_passes++;
		sh->live_stream_reads += reads;
		pthread_cond_broadcast(&sh->cond);
		pthread_mutex_unlock(&sh->lock);
		if (sh->order == LIVE_FIRST && live_open && last_packets[2] >= ROUNDS / 4) {
			live_close(live, id, sh->handles);
			live_open = false;
			set_phase(sh, 4);
		}
		if (phase >= 5)
			break;
		sched_yield();
	}

	if (live_open) {
		/* The control side closed everything; the viewer session
		 * still holds the session, the viewer streams their streams:
		 * our structs, with the fields as last written. */
		struct relay_session *s = relay_session_get_by_id(id);

		TCHECK(s != NULL && relay_session_is_closed(s));
		LOCK(session, s);
		TCHECK(s->connection_closed && s->viewer_attached);
		TCHECK(s->bytes_received == sh->final_session_bytes);
		UNLOCK(session, s);
		relay_session_put(s);
		for (i = 0; i < T_STREAMS; i++) {
			struct relay_viewer_stream *fv;
			struct relay_stream *st;

			TCHECK(relay_stream_get_by_id(sh->handles[i]) == NULL);
			fv = relay_viewer_stream_get_by_id(sh->handles[i]);
			TCHECK(fv == v[i]);
			st = relay_viewer_stream_get_stream(fv);
			TCHECK(relay_stream_is_closed(st));
			LOCK(stream, st);
			TCHECK(st->packets_received == sh->final_packets[i]);
			TCHECK(st->bytes_received == sh->final_bytes[i]);
			UNLOCK(stream, st);
			TCHECK(viewer_poll(fv) == sh->final_packets[i]);
			relay_viewer_stream_put(fv);
		}
		live_close(live, id, sh->handles);
	} else {
		TCHECK(relay_session_get_by_id(id) == NULL);
	}
	for (i = 0; i < T_STREAMS; i++)
		TCHECK(relay_stream_get_by_id(sh->handles[i]) == NULL);
	return NULL;
}

static void threaded(enum teardown order, int run)
{
	const size_t start = traceref_live_objects();
	struct shared sh;
	pthread_t control, live;
	char what[96];
	int i;

	memset(&sh, 0, sizeof(sh));
	CHECK_EQ_LONG(pthread_mutex_init(&sh.lock, NULL), 0);
	CHECK_EQ_LONG(pthread_cond_init(&sh.cond, NULL), 0);
	sh.order = order;
	sh.run = run;
	snprintf(sh.session_name, sizeof(sh.session_name), "sess-thr-%d", run);
	for (i = 0; i < T_STREAMS; i++)
		sh.handles[i] = 20000 + 100 * (uint64_t)run + (uint64_t)i;
	sh.table = relay_connection_table_create();
	CHECK(sh.table != NULL);
	snprintf(what, sizeof(what), "threads, %s", teardown_name[order]);

	exact_counts = false;
	CHECK_EQ_LONG(pthread_create(&control, NULL, control_main, &sh), 0);
	CHECK_EQ_LONG(pthread_create(&live, NULL, live_main, &sh), 0);
	CHECK_EQ_LONG(pthread_join(control, NULL), 0);
	CHECK_EQ_LONG(pthread_join(live, NULL), 0);
	exact_counts = true;
	CHECK(sh.live_passes > 0 && sh.live_stream_reads > 0);
	CHECK(sh.final_packets[0] == ROUNDS / 2);
	CHECK(sh.final_packets[1] == 2 * ROUNDS / 3 + 3);
	for (i = 2; i < T_STREAMS; i++)
		CHECK(sh.final_packets[i] == ROUNDS);
	CHECK_OK("[%s] %ld passes of the live thread, %ld stream reads under the lock while the "
		 "control thread added %d rounds of data and indexes and closed streams",
		 what, sh.live_passes, sh.live_stream_reads, ROUNDS);

	barrier();
	for (i = 0; i < T_STREAMS; i++) {
		CHECK_EQ_LONG(frees_of(sh.stream_serial[i]), 1);
		CHECK(seen_aux_of(sh.stream_serial[i]) == sh.final_bytes[i]);
	}
	CHECK_EQ_LONG(frees_of(sh.session_serial), 1);
	CHECK(seen_aux_of(sh.session_serial) == sh.final_session_bytes);
	CHECK_EQ_LONG(relay_connection_table_destroy(sh.table), 0);
	verify_frees(what);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	pthread_cond_destroy(&sh.cond);
	pthread_mutex_destroy(&sh.lock);
}

/* ------------------------------------------------------------------------ */

int main(void)
{
	static struct role main_role = { false };
	const char *no_capture = getenv("RELAY_EMBEDDED_NO_CAPTURE");
	size_t start;

	/* Misuse lines are counted in the refusals: the default level. */
	setenv("TRACEREF_LOG", "warn", 1);
	CHECK_EQ_LONG(pthread_key_create(&role_key, NULL), 0);
	CHECK_EQ_LONG(pthread_setspecific(role_key, &main_role), 0);
	start = traceref_live_objects();
	printf("bases: session %zu, ctf-trace %zu, stream %zu, index %zu, viewer stream %zu, "
	       "viewer session %zu, connection %zu bytes\n",
	       sizeof(struct relay_session_base), sizeof(struct ctf_trace_base),
	       sizeof(struct relay_stream_base), sizeof(struct relay_index_base),
	       sizeof(struct relay_viewer_stream_base), sizeof(struct relay_viewer_session_base),
	       sizeof(struct relay_connection_base));

	refusals();

	/* From here on the library must print nothing (set
	 * RELAY_EMBEDDED_NO_CAPTURE=1 to see a sanitizer's report live). */
	if (!no_capture || !*no_capture)
		capture_begin();
	hierarchy(LIVE_FIRST, 0);
	hierarchy(LIVE_LAST, 1);
	hierarchy(TABLE_DESTROY, 2);
	mixed();
	threaded(LIVE_FIRST, 0);
	threaded(LIVE_LAST, 1);
	CHECK_EQ_LONG(capture_end(NULL, NULL, 0), 0);
	CHECK_OK("nothing printed on stderr by the library in the daemon's sequences");

	barrier();
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_DONE("relay_embedded");
	return 0;
}
