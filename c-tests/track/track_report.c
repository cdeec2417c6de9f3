/*
 * Reference tracking (TRACEREF_TRACK=1) names the code that leaked or
 * over-put, in both models.
 *
 * Run with no argument, this program runs itself again in each mode below
 * with TRACEREF_TRACK=1 and TRACEREF_LEAK_CHECK=1, captures what the child
 * prints on stderr and checks it:
 *
 *   relay, bt:  two functions keep a reference they never put
 *               (leak_one_ref, leak_two_refs) and a third puts once too
 *               often (put_too_often). The child exits 1; the leak report
 *               names the two leaking functions on the lines of the leaked
 *               objects, the over-put's warning names put_too_often as the
 *               extra put and the functions that took references.
 *   balanced:   the same calls, each reference put back once: the child
 *               prints nothing and exits 0.
 *   dump:       traceref_dump_references() of a live object writes one
 *               line naming the functions that hold its references.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "traceref.h"
#include "check.h"

/* Kept out of line so that each is a call site of its own. */
#define SITE __attribute__((noinline))

/* ---- The relay model ---- */

SITE static void leak_one_ref(struct relay_session *s)
{
	CHECK(relay_session_get(s));
}

SITE static void leak_two_refs(struct relay_stream *st)
{
	CHECK(relay_stream_get(st));
	CHECK(relay_stream_get(st));
}

SITE static void take_and_put(struct relay_session *s)
{
	CHECK(relay_session_get(s));
	relay_session_put(s);
}

SITE static void put_too_often(struct relay_viewer_stream *v)
{
	relay_viewer_stream_put(v);
}

static void relay_mode(bool leaky)
{
	struct relay_session *s = relay_session_create("track", "host", 0, false, 2, 11);
	struct ctf_trace *t = relay_ctf_trace_get_by_path_or_create(s, "host/track/ust");
	struct relay_stream *st = relay_stream_create(t, 7, "ust", "chan", 0, 0);
	struct relay_viewer_stream *v;

	relay_ctf_trace_put(t);
	CHECK(st != NULL);
	v = relay_viewer_stream_create(st, 0);
	CHECK(v != NULL);
	take_and_put(s);
	if (leaky) {
		leak_one_ref(s);
		leak_two_refs(st);
	}
	/* The viewer stream: its owner's reference dropped by a put, then (in
	 * the leaky mode) one put too many, inside a read-side section so that
	 * the memory is still there to be checked. */
	traceref_read_lock();
	relay_viewer_stream_put(v);
	if (leaky)
		put_too_often(v);
	traceref_read_unlock();
	CHECK_EQ_LONG(relay_session_close(s), 0);
}

/* ---- The Babeltrace model ---- */

static void bt_release(struct bt_object *obj)
{
	free(obj);
}

SITE static void bt_leak_one_ref(struct bt_object *o)
{
	bt_get(o);
}

SITE static void bt_leak_two_refs(struct bt_object *o)
{
	bt_get(o);
	bt_get(o);
}

SITE static void bt_put_too_often(struct bt_object *o)
{
	bt_put(o);
}

static void bt_mode(bool leaky)
{
	struct bt_object *root = malloc(sizeof(*root));
	struct bt_object *child = malloc(sizeof(*child));
	struct bt_object *other = malloc(sizeof(*other));

	CHECK(root && child && other);
	bt_object_init(root, bt_release);
	bt_object_init(child, bt_release);
	bt_object_init(other, bt_release);
	bt_object_set_parent(child, root);
	/* The child at count 0 lives on, owned by its parent. */
	bt_put(child);
	if (leaky) {
		bt_leak_one_ref(other);
		bt_leak_two_refs(root);
		bt_put_too_often(child);
	}
	bt_put(other);
	bt_put(root);
}

/* ---- traceref_dump_references ---- */

static void dump_mode(void)
{
	struct relay_session *s = relay_session_create("dump", "host", 0, false, 2, 11);
	int fds[2];
	char text[4096];
	ssize_t n;

	leak_one_ref(s);
	CHECK(pipe(fds) == 0);
	CHECK_EQ_LONG(traceref_dump_references(s, fds[1]), 0);
	close(fds[1]);
	n = read(fds[0], text, sizeof(text) - 1);
	CHECK(n > 0);
	text[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	CHECK(strstr(text, "session") != NULL);
	CHECK(strstr(text, "count 2") != NULL);
	CHECK(strstr(text, "+1 -0 at leak_one_ref") != NULL);
	CHECK(strstr(text, "created at dump_mode") != NULL);
	fputs(text, stdout);
	relay_session_put(s);
	CHECK_EQ_LONG(relay_session_close(s), 0);
	CHECK_EQ_LONG(traceref_dump_references(NULL, 1), -1);
}

/* ---- The driver ---- */

struct outcome {
	int status;
	char err[16384];
};

static void run_child(const char *self, const char *mode, struct outcome *out)
{
	int fds[2];
	pid_t pid;
	size_t len = 0;
	ssize_t n;

	CHECK(pipe(fds) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		setenv("TRACEREF_TRACK", "1", 1);
		setenv("TRACEREF_LEAK_CHECK", "1", 1);
		setenv("TRACEREF_LOG", "warn", 1);
		execl(self, self, mode, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], out->err + len, sizeof(out->err) - 1 - len)) > 0)
		len += (size_t)n;
	out->err[len] = '\0';
	close(fds[0]);
	CHECK(waitpid(pid, &out->status, 0) == pid);
}

/* The line of `text` that contains `what`, copied into `line`. */
static bool line_with(const char *text, const char *what, char *line, size_t size)
{
	const char *p = strstr(text, what);
	const char *start, *end;

	if (!p)
		return false;
	for (start = p; start > text && start[-1] != '\n'; start--)
		;
	end = strchr(p, '\n');
	if (!end)
		end = p + strlen(p);
	if ((size_t)(end - start) >= size)
		return false;
	memcpy(line, start, (size_t)(end - start));
	line[end - start] = '\0';
	return true;
}

static void check_leaky(const char *self, const char *mode, const char *leaked1,
			const char *leaked2, const char *extra, const char *taker)
{
	static struct outcome out;
	char line[4096];

	run_child(self, mode, &out);
	printf("--- the child (%s) printed on stderr:\n%s---\n", mode, out.err);
	CHECK(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 1);
	CHECK(strstr(out.err, "leak check:") != NULL);
	/* Each leaked reference is charged to the function that took it. */
	CHECK(line_with(out.err, leaked1, line, sizeof(line)) && strstr(line, "leak check:"));
	CHECK(line_with(out.err, leaked2, line, sizeof(line)) && strstr(line, "leak check:"));
	/* The over-put names the extra put and who took the references. */
	CHECK(line_with(out.err, extra, line, sizeof(line)));
	CHECK(strstr(line, "put on a reference count of zero") != NULL);
	CHECK(strstr(line, taker) != NULL);
	CHECK_OK("%s: the leaks name their functions, the over-put its function and the takers",
		 mode);
}

int main(int argc, char **argv)
{
	static struct outcome out;

	if (argc > 1) {
		if (strcmp(argv[1], "relay") == 0)
			relay_mode(true);
		else if (strcmp(argv[1], "bt") == 0)
			bt_mode(true);
		else if (strcmp(argv[1], "balanced") == 0) {
			relay_mode(false);
			bt_mode(false);
		} else if (strcmp(argv[1], "dump") == 0)
			dump_mode();
		CHECK_EQ_LONG(traceref_reclaim_barrier(), 0);
		return 0;
	}

	check_leaky(argv[0], "relay", "+1 -0 at leak_one_ref", "+2 -0 at leak_two_refs",
		    "extra put at put_too_often", "created at relay_mode");
	check_leaky(argv[0], "bt", "+1 -0 at bt_leak_one_ref", "+2 -0 at bt_leak_two_refs",
		    "extra put at bt_put_too_often", "created at bt_mode");

	run_child(argv[0], "balanced", &out);
	printf("--- the balanced child printed on stderr:\n%s---\n", out.err);
	CHECK(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0);
	CHECK_EQ_LONG((long)strlen(out.err), 0);
	CHECK_OK("balanced: nothing printed, exit 0");

	run_child(argv[0], "dump", &out);
	printf("--- the dump child printed on stderr:\n%s---\n", out.err);
	CHECK(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0);
	/* Only the warning of the NULL call. */
	CHECK_EQ_STR(out.err, "traceref: warning: traceref_dump_references: obj is NULL\n");
	CHECK_OK("traceref_dump_references: one line naming the holders");
	CHECK_DONE("track_report");
	return 0;
}
