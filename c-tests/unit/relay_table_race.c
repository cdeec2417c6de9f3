/*
 * Connection-table membership against close and destroy, each race run in
 * rounds for a bounded time (TRACEREF_RACE_SECONDS per scenario, default 2;
 * at most MAX_ROUNDS rounds), the two sides released together by a barrier
 * and each delayed by a random spin so that both orders and the overlaps
 * between them come up:
 *
 *   1. relay_connection_table_add() racing relay_connection_close() of the
 *      same connection, a reference held by the test: close returns 0, the
 *      add returns 0 (it came first; close took the connection out) or -1
 *      (refused, one warning line); either way no lookup finds the
 *      connection afterwards, nor after its last put and a reclaim barrier;
 *   2. relay_connection_table_add() racing relay_connection_table_destroy():
 *      the add is refused (-1, one warning line), or it came first and the
 *      destruction closed the connection as its doc says (a later close
 *      returns -1); the later close never touches the freed table. The
 *      adding thread is inside a read-side section entered before the
 *      destruction began, which is what keeps the table's memory valid
 *      across an add that overlaps it;
 *   3. relay_connection_close() of a connection in the table racing
 *      relay_connection_table_destroy(): it is closed once, by one of them;
 *   4. relay_connection_get_by_sock() (and the put of what it found) racing
 *      relay_connection_table_destroy(), from a read-side section as in 2:
 *      the lookup finds the connection or nothing, and the destruction
 *      closes it once.
 *
 * Every round ends with a reclaim barrier and the census back to its start.
 * TRACEREF_RACE_SCENARIO=N runs scenario N alone; TRACEREF_SEED replays the
 * random spins.
 * Warnings are on and stderr is captured for the whole run: the only lines
 * are the refused adds and the refused second closes the rounds counted.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "traceref.h"
#include "check.h"
#include "capture.h"

#define SOCK 7
#define MAX_ROUNDS 20000L
#define MAX_SPIN 256

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds each scenario runs (TRACEREF_RACE_SECONDS, default 2). */
static double budget(void)
{
	const char *s = getenv("TRACEREF_RACE_SECONDS");

	return s ? atof(s) : 2.0;
}

static void spin(unsigned n)
{
	volatile unsigned sink = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		sink += i;
	(void)sink;
}

/* The other side of a round, run by a thread of its own. */
enum op { OP_ADD, OP_CLOSE, OP_LOOKUP };

struct side {
	enum op op;
	struct relay_connection_table *table;
	struct relay_connection *conn;
	unsigned spin;
	int in_read_section;
	int rc;
};

static pthread_barrier_t go;

static void *side_thread(void *arg)
{
	struct side *s = arg;

	if (s->in_read_section)
		traceref_read_lock();
	pthread_barrier_wait(&go);
	spin(s->spin);
	switch (s->op) {
	case OP_ADD:
		s->rc = relay_connection_table_add(s->table, s->conn);
		break;
	case OP_CLOSE:
		s->rc = relay_connection_close(s->conn);
		break;
	case OP_LOOKUP: {
		struct relay_connection *found = relay_connection_get_by_sock(s->table, SOCK);

		TCHECK(found == NULL || found == s->conn);
		s->rc = found != NULL;
		if (found)
			relay_connection_put(found);
		break;
	}
	}
	if (s->in_read_section)
		traceref_read_unlock();
	return NULL;
}

/* Start `s` on its thread; the caller then waits on `go` and races it. */
static pthread_t start_side(struct side *s)
{
	pthread_t t;

	TCHECK(pthread_barrier_init(&go, NULL, 2) == 0);
	TCHECK(pthread_create(&t, NULL, side_thread, s) == 0);
	return t;
}

static void join_side(pthread_t t)
{
	TCHECK(pthread_join(t, NULL) == 0);
	TCHECK(pthread_barrier_destroy(&go) == 0);
}

/* Warnings the rounds caused, checked against the capture at the end. */
static long expected_add_refusals, expected_close_refusals;
static uint64_t seed;

/* ---- 1. add racing close -------------------------------------------------- */

static void add_races_close(size_t start)
{
	struct relay_connection_table *table = relay_connection_table_create();
	double end = now() + budget();
	long rounds = 0, add_first = 0, refused = 0;

	CHECK(table != NULL);
	do {
		struct relay_connection *c = relay_connection_create(SOCK, RELAY_DATA);
		struct relay_connection *found;
		struct side s = { OP_ADD, NULL, NULL, 0, 0, -2 };
		uint64_t r = next_rand(&seed);
		pthread_t t;
		int rc_close;

		TCHECK(c != NULL);
		TCHECK(relay_connection_get(c)); /* the reference held */
		s.table = table;
		s.conn = c;
		s.spin = (unsigned)(r % MAX_SPIN);
		t = start_side(&s);
		pthread_barrier_wait(&go);
		spin((unsigned)((r >> 16) % MAX_SPIN));
		rc_close = relay_connection_close(c);
		join_side(t);

		TCHECK(rc_close == 0);
		TCHECK(s.rc == 0 || s.rc == -1);
		if (s.rc == 0)
			add_first++;
		else
			refused++;
		TCHECK(relay_connection_get_ref_count(c) == 1);
		/* Closed: nobody finds it, whichever call came first. */
		found = relay_connection_get_by_sock(table, SOCK);
		TCHECK(found == NULL);
		relay_connection_put(c);
		TCHECK(traceref_reclaim_barrier() == 0);
		found = relay_connection_get_by_sock(table, SOCK);
		TCHECK(found == NULL);
		TCHECK(traceref_live_objects() == start + 1);
		rounds++;
	} while (now() < end && rounds < MAX_ROUNDS);
	CHECK_EQ_LONG(relay_connection_table_destroy(table), 0);
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	expected_add_refusals += refused;
	CHECK_OK("add racing close: %ld rounds (add first %ld, add refused %ld); "
		 "the closed connection was never found, before or after its reclamation",
		 rounds, add_first, refused);
}

/* ---- 2. add racing destroy ------------------------------------------------ */

static void add_races_destroy(size_t start)
{
	double end = now() + budget();
	long rounds = 0, add_first = 0, refused = 0;

	do {
		struct relay_connection_table *table = relay_connection_table_create();
		struct relay_connection *c = relay_connection_create(SOCK, RELAY_DATA);
		struct side s = { OP_ADD, NULL, NULL, 0, 1, -2 };
		uint64_t r = next_rand(&seed);
		pthread_t t;

		TCHECK(table != NULL && c != NULL);
		TCHECK(relay_connection_get(c)); /* the reference held */
		s.table = table;
		s.conn = c;
		s.spin = (unsigned)(r % MAX_SPIN);
		t = start_side(&s);
		pthread_barrier_wait(&go);
		spin((unsigned)((r >> 16) % MAX_SPIN));
		TCHECK(relay_connection_table_destroy(table) == 0);
		join_side(t);

		TCHECK(s.rc == 0 || s.rc == -1);
		if (s.rc == 0) {
			/* Added before the destruction, which closed it. */
			add_first++;
			TCHECK(relay_connection_close(c) == -1);
			expected_close_refusals++;
		} else {
			/* Refused: still open, in no table. */
			refused++;
			TCHECK(relay_connection_close(c) == 0);
		}
		TCHECK(relay_connection_get_ref_count(c) == 1);
		relay_connection_put(c);
		TCHECK(traceref_reclaim_barrier() == 0);
		TCHECK(traceref_live_objects() == start);
		rounds++;
	} while (now() < end && rounds < MAX_ROUNDS);
	CHECK(rounds > 0);
	expected_add_refusals += refused;
	CHECK_OK("add racing destroy: %ld rounds (added and closed by the destruction %ld, "
		 "add refused %ld); census back to its start after each",
		 rounds, add_first, refused);
}

/* ---- 3 and 4. close, or a lookup, racing destroy --------------------------- */

static void leave_races_destroy(size_t start, enum op op)
{
	double end = now() + budget();
	long rounds = 0, first = 0;

	do {
		struct relay_connection_table *table = relay_connection_table_create();
		struct relay_connection *c = relay_connection_create(SOCK, RELAY_DATA);
		struct side s = { OP_CLOSE, NULL, NULL, 0, 0, -2 };
		uint64_t r = next_rand(&seed);
		pthread_t t;

		TCHECK(table != NULL && c != NULL);
		TCHECK(relay_connection_table_add(table, c) == 0);
		TCHECK(relay_connection_get(c)); /* the reference held */
		s.op = op;
		s.in_read_section = op == OP_LOOKUP;
		s.table = table;
		s.conn = c;
		s.spin = (unsigned)(r % MAX_SPIN);
		t = start_side(&s);
		pthread_barrier_wait(&go);
		spin((unsigned)((r >> 16) % MAX_SPIN));
		TCHECK(relay_connection_table_destroy(table) == 0);
		join_side(t);

		if (op == OP_CLOSE) {
			TCHECK(s.rc == 0 || s.rc == -1);
			if (s.rc == 0)
				first++;
			else
				expected_close_refusals++;
		} else if (s.rc) {
			first++;
		}
		/* Closed once, by one of the two (by the destruction in 4). */
		TCHECK(relay_connection_close(c) == -1);
		expected_close_refusals++;
		TCHECK(relay_connection_get_ref_count(c) == 1);
		relay_connection_put(c);
		TCHECK(traceref_reclaim_barrier() == 0);
		TCHECK(traceref_live_objects() == start);
		rounds++;
	} while (now() < end && rounds < MAX_ROUNDS);
	CHECK(rounds > 0);
	if (op == OP_CLOSE)
		CHECK_OK("close racing destroy: %ld rounds (close first %ld); closed once each time",
			 rounds, first);
	else
		CHECK_OK("lookup racing destroy: %ld rounds (found %ld); closed once by the "
			 "destruction each time", rounds, first);
}

/* ---- The warnings this test expects ---------------------------------------- */

enum { ADD_REFUSED, CLOSE_REFUSED, EXPECTED_KINDS };

static int classify(const char *line)
{
	if (strstr(line, "relay_connection_table_add: connection ") &&
	    strstr(line, " not added: "))
		return ADD_REFUSED;
	if (strstr(line, "relay_connection_close: connection ") &&
	    strstr(line, " is already closed"))
		return CLOSE_REFUSED;
	return -1;
}

int main(void)
{
	const char *s = getenv("TRACEREF_SEED");
	const char *only = getenv("TRACEREF_RACE_SCENARIO");
	int scenario = only ? atoi(only) : 0;
	long seen[EXPECTED_KINDS], others;
	size_t start;

	seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
	if (!seed)
		seed = 1;
	printf("seed %llu (TRACEREF_SEED to replay)\n", (unsigned long long)seed);

	/* Warnings on, captured: only the counted refusals may appear. */
	setenv("TRACEREF_LOG", "warn", 1);
	capture_begin();
	start = traceref_live_objects();

	if (!scenario || scenario == 1)
		add_races_close(start);
	if (!scenario || scenario == 2)
		add_races_destroy(start);
	if (!scenario || scenario == 3)
		leave_races_destroy(start, OP_CLOSE);
	if (!scenario || scenario == 4)
		leave_races_destroy(start, OP_LOOKUP);

	others = capture_end(classify, seen, EXPECTED_KINDS);
	CHECK_EQ_LONG(others, 0);
	CHECK_EQ_LONG(seen[ADD_REFUSED], expected_add_refusals);
	CHECK_EQ_LONG(seen[CLOSE_REFUSED], expected_close_refusals);
	CHECK_OK("the only warnings were the %ld refused adds and the %ld refused second closes",
		 seen[ADD_REFUSED], seen[CLOSE_REFUSED]);
	CHECK_DONE("relay_table_race");
	return 0;
}
