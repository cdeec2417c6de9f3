/*
 * traceref_dump_references() while other threads take and drop references
 * on the object dumped, in both models, with reference tracking on
 * (TRACEREF_TRACK=1; without it in the environment the program runs itself
 * again with it).
 *
 * The header's contract: the caller of a dump holds a reference on the
 * object (or, for a Babeltrace object at count 0, on its tree); any thread,
 * holding any lock. Here the main thread holds the references for the
 * whole race, so no dump can meet an object whose last reference goes
 * (which the contract rules out, and which is therefore not tested).
 *
 *   Babeltrace: a trace T with one stream class SC (count 0, owned by T).
 *     Four workers, each from a function of its own: bt_get/bt_put on T,
 *     bt_ctf_trace_get/bt_ctf_trace_put on T, bt_ctf_trace_get_stream_class
 *     then bt_put on SC (0 -> 1 -> 0: SC takes and drops its reference on
 *     T), bt_get/bt_put on SC directly.
 *   Relay: a session S with a ctf-trace and a published stream ST. Four
 *     workers: relay_session_get/put, relay_session_get_by_id/put,
 *     relay_stream_get/put, relay_stream_get_by_id/put.
 *
 * Meanwhile two dumper threads dump both objects of the model into pipes of
 * their own, over and over. Every dump must be one line in the header's
 * format: "<kind and id or address>, count N: created at F (file:line);
 * +G -P at F (file:line, ...); ...", naming the object dumped, with a count
 * within what the holders can have at once, the creation site the setup
 * function, each site a function of this test, unbalanced sites first, and,
 * for each worker that takes and drops its own references, at least as
 * many puts as the rounds it had finished before the dump, at most one get
 * more than its puts, and no more gets than the rounds it had begun. A site's
 * tallies never go down from one dump to the next.
 *
 * Once the workers and dumpers are joined, a last dump of each object must
 * be exactly its dump before the race with each worker's "+R -R" added (R
 * the worker's rounds), the same count: every reference taken was dropped.
 * The trace's sites of the stream-class workers (SC's references on T,
 * taken on 0 -> 1 and dropped on 1 -> 0, possibly by different workers)
 * must balance in total, and be there: SC was at 0 when they started, so
 * at least one of them took a reference on T. With no reference in flight
 * (before the race, after it), an object's count is its creation's
 * reference plus the gets minus the puts of its sites, as in the README's
 * leak report ("session 1, count 2: ...; +1 -0 at handle_attach; ...").
 * Those checks print their failure and let the rest of the test run; it
 * then exits with status 1. Then the objects are released and, after a
 * reclamation barrier, traceref_live_objects() is back where it started;
 * the library printed nothing on stderr.
 *
 * A deadlock fails the test: an alarm (TRACEREF_DUMP_RACE_TIMEOUT seconds,
 * 100 by default) ends it with status 1. The race lasts at least
 * TRACEREF_DUMP_RACE_MS milliseconds (1000 by default) and until each
 * dumper made at least 20 dumps of each object.
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "traceref.h"
#include "check.h"
#include "capture.h"

/* Kept out of line so that each is a call site of its own. */
#define SITE __attribute__((noinline))

#define THIS_FILE "track_dump_race.c:"
#define MIN_DUMPS 20
#define MAX_ITEMS 16
#define NAME_MAX_ 96
#define LINE_MAX_ 4096

/* Checks whose failure is reported at once but does not stop the test, so
 * that every other check still runs; main() then exits with status 1.
 * Reported on stdout: stderr is captured, and must receive nothing from
 * the library. Main thread only. */
static int soft_failures;

#define SOFT_CHECK(cond, ...)                                             \
	do {                                                              \
		if (!(cond)) {                                            \
			printf("%s:%d: check failed: %s: ",               \
			       __FILE__, __LINE__, #cond);                \
			printf(__VA_ARGS__);                              \
			putchar('\n');                                    \
			fflush(stdout);                                   \
			soft_failures++;                                  \
		}                                                         \
		++*check_counter();                                       \
	} while (0)

/* ---- Parsing a dump ---- */

struct item {
	char fn[NAME_MAX_];
	long gets, puts;
	bool has_place;
};

struct dump {
	char what[NAME_MAX_]; /* "session 3", "trace at 0x...": before ", count" */
	long count;
	char created_fn[NAME_MAX_];
	bool created_place;
	int n;
	struct item items[MAX_ITEMS];
};

/* `text` up to `end`, into `out`; false when empty or too long for it. */
static bool copy_span(char *out, size_t size, const char *text, const char *end)
{
	size_t len = (size_t)(end - text);

	if (len == 0 || len >= size)
		return false;
	memcpy(out, text, len);
	out[len] = '\0';
	return true;
}

/* "F (places)" or "F", from `p` to `end`: the function into `fn`, whether
 * places follow (each must be in this file, with a line number). */
static bool parse_site(const char *p, const char *end, char *fn, size_t size, bool *has_place)
{
	const char *paren = NULL, *q;

	for (q = p; q + 1 < end; q++)
		if (q[0] == ' ' && q[1] == '(') {
			paren = q;
			break;
		}
	*has_place = paren != NULL;
	if (!paren)
		return copy_span(fn, size, p, end) && !strchr(fn, ' ');
	if (!copy_span(fn, size, p, paren) || strchr(fn, ' ') || end[-1] != ')')
		return false;
	/* Places: "file.c:12, file.c:14", each in this file. */
	for (q = paren + 2; q < end - 1;) {
		const char *sep = q, *colon;
		char *num_end;

		while (sep < end - 1 && !(sep[0] == ',' && sep[1] == ' '))
			sep++;
		if ((size_t)(sep - q) <= strlen(THIS_FILE) ||
		    strncmp(q, THIS_FILE, strlen(THIS_FILE)) != 0)
			return false;
		colon = q + strlen(THIS_FILE) - 1;
		if (strtol(colon + 1, &num_end, 10) <= 0 || num_end != sep)
			return false;
		q = sep < end - 1 ? sep + 2 : sep;
	}
	return true;
}

/* A non-negative decimal at `p`, ending at `*end`. */
static bool parse_count(const char *p, long *value, const char **end)
{
	char *e;

	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	*value = strtol(p, &e, 10);
	*end = e;
	return errno == 0 && *value >= 0;
}

/* Parse one dump (the whole text the call wrote). NULL on success, or
 * what is wrong. */
static const char *parse_dump(const char *text, struct dump *d)
{
	const char *nl = strchr(text, '\n');
	const char *p, *created, *comma, *end;

	memset(d, 0, sizeof(*d));
	if (!nl || nl[1] != '\0')
		return "not exactly one line ending with a newline";
	created = strstr(text, ": created at ");
	if (!created)
		return "no \": created at \"";
	/* "<what>, count N" */
	for (comma = created; comma > text && strncmp(comma, ", count ", 8) != 0; comma--)
		;
	if (comma == text)
		return "no \", count N\" before \": created at\"";
	if (!copy_span(d->what, sizeof(d->what), text, comma))
		return "the object's name is empty or too long";
	if (!parse_count(comma + 8, &d->count, &end) || end != created)
		return "the count is not a non-negative number";
	p = created + strlen(": created at ");
	end = strstr(p, "; ");
	if (!end)
		end = nl;
	if (!parse_site(p, end, d->created_fn, sizeof(d->created_fn), &d->created_place))
		return "the creation site is not \"F\" or \"F (" THIS_FILE "N)\"";
	while (*end == ';') {
		struct item *it;

		if (d->n == MAX_ITEMS)
			return "too many sites";
		it = &d->items[d->n++];
		p = end + 2;
		end = strstr(p, "; ");
		if (!end)
			end = nl;
		if (*p != '+' || !parse_count(p + 1, &it->gets, &p) || strncmp(p, " -", 2) != 0 ||
		    !parse_count(p + 2, &it->puts, &p) || strncmp(p, " at ", 4) != 0)
			return "a site is not \"+G -P at F...\"";
		if (!parse_site(p + 4, end, it->fn, sizeof(it->fn), &it->has_place))
			return "a site's function is not \"F\" or \"F (" THIS_FILE "N, ...)\"";
	}
	if (end != nl)
		return "trailing text";
	return NULL;
}

static const struct item *find_item(const struct dump *d, const char *fn)
{
	int i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->items[i].fn, fn) == 0)
			return &d->items[i];
	return NULL;
}

/* `text` without its final newline (main thread only). */
static const char *chomp(const char *text)
{
	static char line[LINE_MAX_];
	size_t len = strlen(text);

	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	memcpy(line, text, len);
	line[len] = '\0';
	return line;
}

/* The references the sites of `d` still hold: gets minus puts. With no
 * reference in flight, the count is the creation's reference plus these. */
static long held_by_sites(const struct dump *d)
{
	long held = 0;
	int i;

	for (i = 0; i < d->n; i++)
		held += d->items[i].gets - d->items[i].puts;
	return held;
}

/* ---- Dumping into a pipe ---- */

struct pipe_pair {
	int rd, wr;
};

static void pipe_open(struct pipe_pair *pp)
{
	int fds[2];

	CHECK(pipe(fds) == 0);
	CHECK(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0);
	pp->rd = fds[0];
	pp->wr = fds[1];
}

static void pipe_close(struct pipe_pair *pp)
{
	close(pp->rd);
	close(pp->wr);
}

/* Dump `obj` into the pipe and read back all it wrote (the call returned,
 * so all of it is in the pipe). */
static void dump_text(const void *obj, struct pipe_pair *pp, char *text, size_t size)
{
	size_t len = 0;
	ssize_t n;

	TCHECK(traceref_dump_references(obj, pp->wr) == 0);
	for (;;) {
		n = read(pp->rd, text + len, size - 1 - len);
		if (n > 0) {
			len += (size_t)n;
			TCHECK(len < size - 1);
			continue;
		}
		TCHECK(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		break;
	}
	text[len] = '\0';
}

/* ---- Workers ---- */

static int stop_flag;

static bool stopped(void)
{
	return __atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE) != 0;
}

struct worker {
	const char *fn;          /* the function making the calls */
	void (*round)(struct worker *w);
	const void *target;      /* the object of its own gets and puts */
	unsigned long begun;     /* rounds started (atomic) */
	unsigned long done;      /* rounds finished (atomic) */
	pthread_t thread;
};

static void round_begin(struct worker *w)
{
	__atomic_store_n(&w->begun, w->begun + 1, __ATOMIC_SEQ_CST);
}

static void round_end(struct worker *w)
{
	__atomic_store_n(&w->done, w->done + 1, __ATOMIC_SEQ_CST);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	while (!stopped())
		w->round(w);
	return NULL;
}

/* The Babeltrace objects. */
static struct bt_ctf_trace *bt_trace;
static struct bt_ctf_stream_class *bt_sc;

SITE static void bt_trace_a(struct worker *w)
{
	round_begin(w);
	TCHECK(bt_get(bt_trace) == bt_trace);
	bt_put(bt_trace);
	round_end(w);
}

SITE static void bt_trace_b(struct worker *w)
{
	round_begin(w);
	bt_ctf_trace_get(bt_trace);
	bt_ctf_trace_put(bt_trace);
	round_end(w);
}

SITE static void bt_sc_via_parent(struct worker *w)
{
	struct bt_ctf_stream_class *sc;

	round_begin(w);
	sc = bt_ctf_trace_get_stream_class(bt_trace, 0);
	TCHECK(sc == bt_sc);
	bt_put(sc);
	round_end(w);
}

SITE static void bt_sc_direct(struct worker *w)
{
	round_begin(w);
	TCHECK(bt_get(bt_sc) == bt_sc);
	bt_put(bt_sc);
	round_end(w);
}

/* The relay objects. */
static struct relay_session *rl_session;
static struct relay_stream *rl_stream;
static uint64_t rl_session_id;
#define RL_HANDLE 41

SITE static void relay_session_direct(struct worker *w)
{
	round_begin(w);
	TCHECK(relay_session_get(rl_session));
	relay_session_put(rl_session);
	round_end(w);
}

SITE static void relay_session_lookup(struct worker *w)
{
	struct relay_session *s;

	round_begin(w);
	s = relay_session_get_by_id(rl_session_id);
	TCHECK(s == rl_session);
	relay_session_put(s);
	round_end(w);
}

SITE static void relay_stream_direct(struct worker *w)
{
	round_begin(w);
	TCHECK(relay_stream_get(rl_stream));
	relay_stream_put(rl_stream);
	round_end(w);
}

SITE static void relay_stream_lookup(struct worker *w)
{
	struct relay_stream *st;

	round_begin(w);
	st = relay_stream_get_by_id(RL_HANDLE);
	TCHECK(st == rl_stream);
	relay_stream_put(st);
	round_end(w);
}

/* ---- One object under the race ---- */

#define MAX_WORKERS 4

struct subject {
	const char *label;       /* for the messages */
	const void *obj;
	char what[NAME_MAX_];    /* expected before ", count" */
	const char *creator;     /* the function that created it */
	struct dump baseline;    /* the dump before the race */
	long max_extra;          /* references the race may add to the count */
	/* Worker functions that may appear among its sites. */
	const char *race_fns[MAX_WORKERS];
	int nrace;
};

static bool race_fn(const struct subject *s, const char *fn)
{
	int i;

	for (i = 0; i < s->nrace; i++)
		if (strcmp(s->race_fns[i], fn) == 0)
			return true;
	return false;
}

/* Checks of any dump of `s`, during the race or after: the line's shape,
 * the object named, the creation site, sites of this test's functions only,
 * unbalanced ones first. */
static void check_shape(const struct subject *s, const char *text, struct dump *d)
{
	const char *err = parse_dump(text, d);
	bool balanced_seen = false;
	int i, j;

	if (err) {
		fprintf(stderr, "%s: malformed dump (%s): %s", s->label, err, text);
		exit(1);
	}
	if (strcmp(d->what, s->what) != 0 || strcmp(d->created_fn, s->creator) != 0 ||
	    !d->created_place) {
		fprintf(stderr, "%s: dump names \"%s\" created at %s, expected \"%s\" created at %s (" THIS_FILE "N): %s",
			s->label, d->what, d->created_fn, s->what, s->creator, text);
		exit(1);
	}
	for (i = 0; i < d->n; i++) {
		const struct item *it = &d->items[i];

		if ((!race_fn(s, it->fn) && !find_item(&s->baseline, it->fn)) || !it->has_place) {
			fprintf(stderr, "%s: site %s is not one of this test's functions with its place: %s",
				s->label, it->fn, text);
			exit(1);
		}
		for (j = 0; j < i; j++)
			TCHECK(strcmp(d->items[j].fn, it->fn) != 0);
		if (it->gets == it->puts)
			balanced_seen = true;
		else if (balanced_seen) {
			fprintf(stderr, "%s: unbalanced site %s after a balanced one: %s",
				s->label, it->fn, text);
			exit(1);
		}
	}
}

/* ---- Dumpers ---- */

struct dumper {
	struct subject *subjects[2];
	struct worker *workers;
	int nworkers;
	int first;               /* which subject it dumps first */
	unsigned long dumps[2];  /* dumps made of each (atomic) */
	unsigned long changed;   /* dumps whose tallies differed from the previous one */
	struct pipe_pair pipe;
	char text[LINE_MAX_];
	struct dump d, last[2];
	pthread_t thread;
};

/* The dump checks that depend on the workers' progress: `before` and
 * `after` are each worker's finished and begun rounds read around the
 * dump, `last` the previous dump of the same object by this dumper. */
static void check_progress(const struct subject *s, const char *text, const struct dump *d,
			   const struct dump *last, struct worker *workers, int nworkers,
			   const unsigned long *done_before, const unsigned long *begun_after)
{
	int i;

	if (d->count < s->baseline.count || d->count > s->baseline.count + s->max_extra) {
		fprintf(stderr, "%s: count %ld outside [%ld, %ld]: %s", s->label, d->count,
			s->baseline.count, s->baseline.count + s->max_extra, text);
		exit(1);
	}
	/* Tallies only grow. */
	for (i = 0; last && i < last->n; i++) {
		const struct item *now = find_item(d, last->items[i].fn);

		if (!now || now->gets < last->items[i].gets || now->puts < last->items[i].puts) {
			fprintf(stderr, "%s: site %s went from +%ld -%ld to %s: %s", s->label,
				last->items[i].fn, last->items[i].gets, last->items[i].puts,
				now ? "less" : "nothing", text);
			exit(1);
		}
	}
	/* A worker's own gets and puts, against its rounds. */
	for (i = 0; i < nworkers; i++) {
		const struct worker *w = &workers[i];
		const struct item *it;
		long gets = 0, puts = 0;

		if (w->target != s->obj)
			continue;
		it = find_item(d, w->fn);
		if (it) {
			gets = it->gets;
			puts = it->puts;
		}
		if (puts < (long)done_before[i] || gets < puts || gets > puts + 1 ||
		    gets > (long)begun_after[i]) {
			fprintf(stderr,
				"%s: %s +%ld -%ld, with %lu rounds finished before the dump and %lu begun after: %s",
				s->label, w->fn, gets, puts, done_before[i], begun_after[i], text);
			exit(1);
		}
	}
}

static bool same_tallies(const struct dump *a, const struct dump *b)
{
	int i;

	if (a->n != b->n || a->count != b->count)
		return false;
	for (i = 0; i < a->n; i++) {
		const struct item *o = find_item(b, a->items[i].fn);

		if (!o || o->gets != a->items[i].gets || o->puts != a->items[i].puts)
			return false;
	}
	return true;
}

static void *dumper_main(void *arg)
{
	struct dumper *dp = arg;
	char *text = dp->text;
	struct dump *last = dp->last;
	bool have_last[2] = { false, false };
	unsigned long done_before[MAX_WORKERS], begun_after[MAX_WORKERS];
	unsigned long k;
	int i;

	for (k = dp->first; !stopped(); k++) {
		int which = (int)(k % 2);
		struct subject *s = dp->subjects[which];

		for (i = 0; i < dp->nworkers; i++)
			done_before[i] = __atomic_load_n(&dp->workers[i].done, __ATOMIC_SEQ_CST);
		dump_text(s->obj, &dp->pipe, text, sizeof(dp->text));
		for (i = 0; i < dp->nworkers; i++)
			begun_after[i] = __atomic_load_n(&dp->workers[i].begun, __ATOMIC_SEQ_CST);
		check_shape(s, text, &dp->d);
		check_progress(s, text, &dp->d, have_last[which] ? &last[which] : NULL, dp->workers,
			       dp->nworkers, done_before, begun_after);
		if (have_last[which] && !same_tallies(&dp->d, &last[which]))
			dp->changed++;
		last[which] = dp->d;
		have_last[which] = true;
		__atomic_store_n(&dp->dumps[which], dp->dumps[which] + 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/* ---- The race ---- */

static long env_long(const char *name, long fallback)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 10) : fallback;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Dump `s` before the race: its baseline, checked for shape. */
static void take_baseline(struct subject *s)
{
	struct pipe_pair pp;
	char text[LINE_MAX_];

	pipe_open(&pp);
	dump_text(s->obj, &pp, text, sizeof(text));
	pipe_close(&pp);
	printf("   before: %s", text);
	/* The baseline's own sites are what check_shape() allows besides the
	 * workers': check it against itself. */
	CHECK(parse_dump(text, &s->baseline) == NULL);
	check_shape(s, text, &s->baseline);
	SOFT_CHECK(s->baseline.count == 1 + held_by_sites(&s->baseline),
		   "%s before the race: count %ld, but the creation's reference and the sites' "
		   "gets minus puts make %ld: %s",
		   s->label, s->baseline.count, 1 + held_by_sites(&s->baseline), chomp(text));
}

/* The final dump of `s`: the baseline plus "+R -R" for each worker's own
 * gets and puts; `loose` workers' sites (references the object's children
 * take and drop on it) must balance in total. */
static void check_final(struct subject *s, struct worker *workers, int nworkers,
			const char *const *loose, int nloose)
{
	struct pipe_pair pp;
	char text[LINE_MAX_];
	struct dump d;
	long loose_gets = 0, loose_puts = 0;
	int i, expected_sites = s->baseline.n;

	pipe_open(&pp);
	dump_text(s->obj, &pp, text, sizeof(text));
	pipe_close(&pp);
	printf("   after:  %s", text);
	check_shape(s, text, &d);
	CHECK_EQ_LONG(d.count, s->baseline.count);
	for (i = 0; i < s->baseline.n; i++) {
		const struct item *b = &s->baseline.items[i];
		const struct item *it = find_item(&d, b->fn);

		CHECK(it != NULL);
		if (race_fn(s, b->fn))
			continue;
		CHECK_EQ_LONG(it->gets, b->gets);
		CHECK_EQ_LONG(it->puts, b->puts);
	}
	for (i = 0; i < nworkers; i++) {
		const struct worker *w = &workers[i];
		const struct item *it;

		if (w->target != s->obj)
			continue;
		it = find_item(&d, w->fn);
		CHECK(it != NULL);
		CHECK(find_item(&s->baseline, w->fn) == NULL);
		CHECK_EQ_LONG(it->gets, (long)w->done);
		CHECK_EQ_LONG(it->puts, (long)w->done);
		expected_sites++;
	}
	for (i = 0; i < nloose; i++) {
		const struct item *it = find_item(&d, loose[i]);

		if (!it)
			continue;
		loose_gets += it->gets;
		loose_puts += it->puts;
		expected_sites++;
	}
	CHECK_EQ_LONG(loose_gets, loose_puts);
	/* The child's count went from 0 to 1 at least once in those functions
	 * (it was 0 when they started), each time taking a reference on this
	 * object first (bt_get() in the header). */
	SOFT_CHECK(nloose == 0 || loose_gets > 0,
		   "%s: none of its sites is %s or %s, though the child went from 0 to 1 "
		   "there, which takes a reference on it: %s",
		   s->label, loose[0], nloose > 1 ? loose[1] : loose[0], chomp(text));
	CHECK_EQ_LONG(d.n, expected_sites);
	SOFT_CHECK(d.count == 1 + held_by_sites(&d),
		   "%s after the race: count %ld, but the creation's reference and the sites' "
		   "gets minus puts make %ld: %s",
		   s->label, d.count, 1 + held_by_sites(&d), chomp(text));
}

static void race(const char *model, struct subject *a, struct subject *b,
		 struct worker *workers, int nworkers)
{
	struct dumper dumpers[2];
	long race_ms = env_long("TRACEREF_DUMP_RACE_MS", 1000);
	double start;
	int i;

	__atomic_store_n(&stop_flag, 0, __ATOMIC_SEQ_CST);
	take_baseline(a);
	take_baseline(b);
	for (i = 0; i < nworkers; i++)
		CHECK(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) == 0);
	for (i = 0; i < 2; i++) {
		memset(&dumpers[i], 0, sizeof(dumpers[i]));
		dumpers[i].subjects[0] = a;
		dumpers[i].subjects[1] = b;
		dumpers[i].workers = workers;
		dumpers[i].nworkers = nworkers;
		dumpers[i].first = i;
		pipe_open(&dumpers[i].pipe);
		CHECK(pthread_create(&dumpers[i].thread, NULL, dumper_main, &dumpers[i]) == 0);
	}
	start = now_ms();
	for (;;) {
		bool enough = now_ms() - start >= race_ms;

		for (i = 0; i < 2; i++)
			enough = enough &&
				 __atomic_load_n(&dumpers[i].dumps[0], __ATOMIC_SEQ_CST) >= MIN_DUMPS &&
				 __atomic_load_n(&dumpers[i].dumps[1], __ATOMIC_SEQ_CST) >= MIN_DUMPS;
		if (enough)
			break;
		sleep_ms(10);
	}
	__atomic_store_n(&stop_flag, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < nworkers; i++)
		CHECK(pthread_join(workers[i].thread, NULL) == 0);
	for (i = 0; i < 2; i++) {
		CHECK(pthread_join(dumpers[i].thread, NULL) == 0);
		pipe_close(&dumpers[i].pipe);
	}
	printf("   %s: %.0f ms;", model, now_ms() - start);
	for (i = 0; i < nworkers; i++) {
		CHECK(workers[i].done > 0);
		CHECK_EQ_LONG(workers[i].begun, workers[i].done);
		printf(" %s %lu rounds,", workers[i].fn, workers[i].done);
	}
	for (i = 0; i < 2; i++) {
		/* The workers moved while this dumper was dumping. */
		CHECK(dumpers[i].changed > 0);
		printf(" dumper %d: %lu + %lu dumps (%lu saw new tallies)%s", i, dumpers[i].dumps[0],
		       dumpers[i].dumps[1], dumpers[i].changed, i ? "\n" : ",");
	}
}

/* ---- The two models ---- */

SITE static void bt_setup(void)
{
	bt_trace = bt_ctf_trace_create();
	CHECK(bt_trace != NULL);
	bt_sc = bt_ctf_stream_class_create("sc");
	CHECK(bt_sc != NULL);
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(bt_trace, bt_sc), 0);
	/* SC at count 0, owned by T: it lives as long as T is held. */
	bt_put(bt_sc);
}

/* A subject: what its dumps name (`what`, before ", count"), the function
 * that created it, how many references the race may add to its count, the
 * worker functions whose sites it may show. */
static void subject_init(struct subject *s, const char *label, const void *obj,
			 const char *what, const char *creator, long max_extra,
			 const char *const *race_fns, int nrace)
{
	int i;

	memset(s, 0, sizeof(*s));
	s->label = label;
	s->obj = obj;
	CHECK(strlen(what) < sizeof(s->what));
	strcpy(s->what, what);
	s->creator = creator;
	s->max_extra = max_extra;
	CHECK(nrace <= MAX_WORKERS);
	for (i = 0; i < nrace; i++)
		s->race_fns[i] = race_fns[i];
	s->nrace = nrace;
}

static void bt_phase(void)
{
	struct worker workers[MAX_WORKERS] = {
		{ .fn = "bt_trace_a", .round = bt_trace_a },
		{ .fn = "bt_trace_b", .round = bt_trace_b },
		{ .fn = "bt_sc_via_parent", .round = bt_sc_via_parent },
		{ .fn = "bt_sc_direct", .round = bt_sc_direct },
	};
	static const char *const t_fns[] = { "bt_trace_a", "bt_trace_b", "bt_sc_via_parent",
					     "bt_sc_direct" };
	static const char *const sc_fns[] = { "bt_sc_via_parent", "bt_sc_direct" };
	struct subject t, sc;
	char what[NAME_MAX_];

	bt_setup();
	snprintf(what, sizeof(what), "trace at %p", (void *)bt_trace);
	/* Two workers' own references, and SC's: one while its count is
	 * above 0, and for a moment two, when a worker takes SC from 0 to 1
	 * before the other, having taken it from 1 to 0, dropped its
	 * reference on T. */
	subject_init(&t, "bt trace", bt_trace, what, "bt_setup", 4, t_fns, 4);
	snprintf(what, sizeof(what), "stream class at %p", (void *)bt_sc);
	subject_init(&sc, "bt stream class", bt_sc, what, "bt_setup", 2, sc_fns, 2);
	workers[0].target = bt_trace;
	workers[1].target = bt_trace;
	workers[2].target = bt_sc;
	workers[3].target = bt_sc;

	race("bt", &t, &sc, workers, MAX_WORKERS);

	check_final(&t, workers, MAX_WORKERS, sc_fns, 2);
	check_final(&sc, workers, MAX_WORKERS, NULL, 0);
	CHECK_EQ_LONG(bt_object_get_ref_count(bt_trace), 1);
	CHECK_EQ_LONG(bt_object_get_ref_count(bt_sc), 0);
	CHECK_OK("bt: %s and %s dumped during the race, every dump well-formed and consistent "
		 "with the workers' rounds; balanced at the end", t.what, sc.what);

	bt_ctf_trace_put(bt_trace);
	bt_trace = NULL;
	bt_sc = NULL;
}

SITE static void relay_setup(void)
{
	struct ctf_trace *t;

	rl_session = relay_session_create("dumprace", "host", 0, false, 2, 11);
	CHECK(rl_session != NULL);
	rl_session_id = relay_session_get_id(rl_session);
	t = relay_ctf_trace_get_by_path_or_create(rl_session, "host/dumprace/ust");
	CHECK(t != NULL);
	rl_stream = relay_stream_create(t, RL_HANDLE, "ust", "chan", 0, 0);
	CHECK(rl_stream != NULL);
	relay_ctf_trace_put(t);
	CHECK_EQ_LONG(relay_stream_publish(rl_stream), 0);
}

static void relay_phase(void)
{
	struct worker workers[MAX_WORKERS] = {
		{ .fn = "relay_session_direct", .round = relay_session_direct },
		{ .fn = "relay_session_lookup", .round = relay_session_lookup },
		{ .fn = "relay_stream_direct", .round = relay_stream_direct },
		{ .fn = "relay_stream_lookup", .round = relay_stream_lookup },
	};
	static const char *const s_fns[] = { "relay_session_direct", "relay_session_lookup" };
	static const char *const st_fns[] = { "relay_stream_direct", "relay_stream_lookup" };
	struct subject s, st;
	char what[NAME_MAX_];

	relay_setup();
	snprintf(what, sizeof(what), "session %llu", (unsigned long long)rl_session_id);
	subject_init(&s, "relay session", rl_session, what, "relay_setup", 2, s_fns, 2);
	snprintf(what, sizeof(what), "stream %d", RL_HANDLE);
	subject_init(&st, "relay stream", rl_stream, what, "relay_setup", 2, st_fns, 2);
	workers[0].target = rl_session;
	workers[1].target = rl_session;
	workers[2].target = rl_stream;
	workers[3].target = rl_stream;

	race("relay", &s, &st, workers, MAX_WORKERS);

	check_final(&s, workers, MAX_WORKERS, NULL, 0);
	check_final(&st, workers, MAX_WORKERS, NULL, 0);
	CHECK_OK("relay: %s and %s dumped during the race, every dump well-formed and "
		 "consistent with the workers' rounds; balanced at the end", s.what, st.what);

	/* The session's close closes the stream and puts both owners'
	 * references. */
	CHECK_EQ_LONG(relay_session_close(rl_session), 0);
	rl_session = NULL;
	rl_stream = NULL;
}

static void on_alarm(int sig)
{
	static const char msg[] = "track_dump_race: timed out (a deadlock?)\n";
	ssize_t ignored;

	(void)sig;
	/* stderr may be captured: write to the real one. */
	ignored = write(capture_saved_fd_ >= 0 ? capture_saved_fd_ : 2, msg, sizeof(msg) - 1);
	(void)ignored;
	_exit(1);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	size_t live_start;
	const char *track = getenv("TRACEREF_TRACK");

	(void)argc;
	if (!track || strcmp(track, "1") != 0) {
		/* Tracking must be on from the start of the process. */
		CHECK(setenv("TRACEREF_TRACK", "1", 1) == 0);
		execv(argv[0], argv);
		perror("execv");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	alarm((unsigned)env_long("TRACEREF_DUMP_RACE_TIMEOUT", 100));

	capture_begin();
	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	live_start = traceref_live_objects();

	bt_phase();
	relay_phase();

	CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
	CHECK_EQ_LONG((long)traceref_live_objects(), (long)live_start);
	CHECK_EQ_LONG(capture_end(NULL, NULL, 0), 0);
	CHECK_OK("every object released: traceref_live_objects() back to %zu, nothing on stderr",
		 live_start);
	alarm(0);
	if (soft_failures) {
		fprintf(stderr, "track_dump_race: %d check(s) failed (above)\n", soft_failures);
		return 1;
	}
	CHECK_DONE("track_dump_race");
	return 0;
}
