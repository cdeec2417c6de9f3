/*
 * A known workload for the static probes test (run-probe-test.sh): N gets
 * and puts on one Babeltrace object and on one relay session, one refused
 * get, one misuse and one lock taken out of order, started when a tracer is
 * attached.
 *
 *   probe_workload DIR
 *
 * Creates the objects, prints one line
 *
 *   ready pid=P trace=A session=B session_id=I mutex_outer=M mutex_inner=L
 *         trace_gets=N session_gets=K
 *
 * (addresses in decimal), then waits (at most 60 s) for the file DIR/go,
 * runs the workload below, prints "done", and waits (at most 60 s) for
 * DIR/stop before exiting, so that the tracer reads its counts while the
 * process is still there.
 *
 * On the trace (a bt_ctf_trace, kind "trace", id 0): TRACE_GETS bt_get and
 * TRACE_GETS + 1 bt_put (the last one releases and frees it). On the
 * session (kind "session"): SESSION_GETS relay_session_get and as many
 * relay_session_put, then relay_session_close (the owner's reference: a put
 * to 0 and the release) inside a read-side section, a relay_session_get
 * refused there, and after the read-side section and
 * traceref_reclaim_barrier() the session is freed. One bt_put on memory
 * that is not an object (a misuse reported by bt_put), and mutex_outer
 * (level 1) taken while holding mutex_inner (level 2): out of order.
 *
 * Exits 0 when every call returned what it should; the counts seen by the
 * tracer are checked by the script.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "traceref.h"
#include "check.h"

#define TRACE_GETS 1000
#define SESSION_GETS 700

/* Wait for DIR/NAME to exist, at most 60 s. */
static int wait_for(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;
	int i;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (i = 0; i < 6000; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (stat(path, &st) == 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "probe_workload: no %s after 60 s\n", path);
	return -1;
}

int main(int argc, char **argv)
{
	struct bt_ctf_trace *trace;
	struct relay_session *session;
	struct traceref_mutex outer, inner;
	uint64_t not_an_object[16];
	uint64_t id;
	int i;

	if (argc != 2) {
		fprintf(stderr, "usage: probe_workload DIR\n");
		return 2;
	}

	trace = bt_ctf_trace_create();
	CHECK(trace != NULL);
	session = relay_session_create("probes", "localhost", 0, false, 2, 11);
	CHECK(session != NULL);
	id = relay_session_get_id(session);
	CHECK_EQ_LONG(traceref_mutex_init(&outer, "outer", 1), 0);
	CHECK_EQ_LONG(traceref_mutex_init(&inner, "inner", 2), 0);
	memset(not_an_object, 0, sizeof(not_an_object));

	printf("ready pid=%ld trace=%llu session=%llu session_id=%llu "
	       "mutex_outer=%llu mutex_inner=%llu trace_gets=%d session_gets=%d\n",
	       (long)getpid(), (unsigned long long)(uintptr_t)trace,
	       (unsigned long long)(uintptr_t)session, (unsigned long long)id,
	       (unsigned long long)(uintptr_t)&outer,
	       (unsigned long long)(uintptr_t)&inner, TRACE_GETS, SESSION_GETS);
	fflush(stdout);
	if (wait_for(argv[1], "go"))
		return 3;

	/* The Babeltrace object. */
	for (i = 0; i < TRACE_GETS; i++)
		CHECK_EQ_PTR(bt_get(trace), trace);
	CHECK_EQ_LONG(bt_object_get_ref_count(trace), TRACE_GETS + 1);
	for (i = 0; i < TRACE_GETS; i++)
		bt_put(trace);
	CHECK_EQ_LONG(bt_object_get_ref_count(trace), 1);
	bt_put(trace);

	/* The relay session. */
	for (i = 0; i < SESSION_GETS; i++)
		CHECK(relay_session_get(session));
	CHECK_EQ_LONG(relay_session_get_ref_count(session), SESSION_GETS + 1);
	for (i = 0; i < SESSION_GETS; i++)
		relay_session_put(session);
	traceref_read_lock();
	CHECK_EQ_LONG(relay_session_close(session), 0);
	CHECK(!relay_session_get(session));
	traceref_read_unlock();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);

	/* One misuse, one lock order violation. */
	bt_put(not_an_object);
	CHECK_EQ_LONG(traceref_mutex_lock(&inner), 0);
	CHECK_EQ_LONG(traceref_mutex_lock(&outer), 1);
	CHECK_EQ_LONG(traceref_mutex_unlock(&outer), 0);
	CHECK_EQ_LONG(traceref_mutex_unlock(&inner), 0);
	CHECK_EQ_LONG(traceref_mutex_destroy(&outer), 0);
	CHECK_EQ_LONG(traceref_mutex_destroy(&inner), 0);

	printf("done\n");
	fflush(stdout);
	if (wait_for(argv[1], "stop"))
		return 3;
	return 0;
}
