/*
 * TRACEREF_LOG and TRACEREF_LEAK_CHECK, observed from outside: the program
 * runs itself again with each setting (the library reads them once per
 * process) and checks the child's stderr and exit status.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "traceref.h"

/* Child behaviours. */
static int child(const char *mode)
{
	if (!strcmp(mode, "leak")) {
		/* A session and a trace never put: both must be reported. */
		struct relay_session *s = relay_session_create("leaky", "h", 0, false, 2, 11);
		struct bt_ctf_trace *t = bt_ctf_trace_create();
		(void)s;
		(void)t;
		printf("buffered output must survive the leak report\n");
		return 0;
	}
	if (!strcmp(mode, "clean")) {
		struct relay_session *s = relay_session_create("tidy", "h", 0, false, 2, 11);
		struct bt_ctf_trace *t = bt_ctf_trace_create();
		relay_session_close(s);
		bt_put(t);
		return 0;
	}
	if (!strcmp(mode, "log")) {
		struct bt_ctf_trace *t = bt_ctf_trace_create();
		struct bt_ctf_stream_class *sc = bt_ctf_stream_class_create("sc");
		struct relay_session *s = relay_session_create("logged", "h", 0, false, 2, 11);
		struct relay_session *found;

		bt_ctf_trace_add_stream_class(t, sc);
		bt_put(sc);
		bt_put(t);
		found = relay_session_get_by_id(relay_session_get_id(s));
		relay_session_put(found);
		bt_get(s); /* a misuse (wrong kind), reported at warn and debug */
		relay_session_close(s);
		return 0;
	}
	return 2;
}

/* Run this program with `mode` and the environment `var=value`; collect its
 * stderr and stdout into `err`/`out` and return its exit status. */
static int run(const char *self, const char *mode, const char *var, const char *value,
	       char *err, size_t errlen, char *out, size_t outlen)
{
	int ep[2], op[2], status;
	pid_t pid;
	size_t n;
	ssize_t r;

	CHECK(pipe(ep) == 0);
	CHECK(pipe(op) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(ep[1], 2);
		dup2(op[1], 1);
		close(ep[0]);
		close(op[0]);
		unsetenv("TRACEREF_LOG");
		unsetenv("TRACEREF_LEAK_CHECK");
		setenv(var, value, 1);
		execl(self, self, mode, (char *)NULL);
		_exit(127);
	}
	close(ep[1]);
	close(op[1]);
	for (n = 0; n + 1 < errlen && (r = read(ep[0], err + n, errlen - 1 - n)) > 0;)
		n += (size_t)r;
	err[n] = '\0';
	for (n = 0; n + 1 < outlen && (r = read(op[0], out + n, outlen - 1 - n)) > 0;)
		n += (size_t)r;
	out[n] = '\0';
	close(ep[0]);
	close(op[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	static char err[1 << 16], out[1 << 12];
	const char *self = "/proc/self/exe";

	if (argc > 1)
		return child(argv[1]);

	/* Leak check: every live object listed, with kind, id and count;
	 * status 1; the program's own buffered output still flushed. */
	CHECK_EQ_LONG(run(self, "leak", "TRACEREF_LEAK_CHECK", "1", err, sizeof err, out,
			  sizeof out), 1);
	CHECK(strstr(err, "2 object(s) still alive at exit") != NULL);
	CHECK(strstr(err, "session 1, count 1") != NULL);
	CHECK(strstr(err, "trace at 0x") != NULL);
	CHECK(strstr(out, "buffered output must survive") != NULL);
	CHECK_OK("TRACEREF_LEAK_CHECK=1 lists leaked objects and exits with status 1");

	CHECK_EQ_LONG(run(self, "clean", "TRACEREF_LEAK_CHECK", "1", err, sizeof err, out,
			  sizeof out), 0);
	CHECK(strstr(err, "leak check") == NULL);
	CHECK_OK("TRACEREF_LEAK_CHECK=1 is silent and exits 0 when nothing leaks");

	CHECK_EQ_LONG(run(self, "leak", "TRACEREF_LEAK_CHECK", "0", err, sizeof err, out,
			  sizeof out), 0);
	CHECK(strstr(err, "leak check") == NULL);
	CHECK_OK("without TRACEREF_LEAK_CHECK=1 a leak changes nothing at exit");

	/* Debug log: each reference operation with counts before and after. */
	CHECK_EQ_LONG(run(self, "log", "TRACEREF_LOG", "debug", err, sizeof err, out,
			  sizeof out), 0);
	CHECK(strstr(err, "debug: create: session") != NULL);
	CHECK(strstr(err, "debug: bt_put: stream class") != NULL);
	CHECK(strstr(err, ": 1 -> 0") != NULL);
	CHECK(strstr(err, "debug: relay_session_get_by_id: session") != NULL);
	CHECK(strstr(err, ": 1 -> 2") != NULL);
	CHECK(strstr(err, "debug: relay_session_put: session") != NULL);
	CHECK(strstr(err, ": 2 -> 1") != NULL);
	CHECK(strstr(err, "warning: bt_get:") != NULL);
	CHECK_OK("TRACEREF_LOG=debug logs every reference operation with its counts");

	/* Default level: the misuse only. */
	CHECK_EQ_LONG(run(self, "log", "TRACEREF_LOG", "warn", err, sizeof err, out,
			  sizeof out), 0);
	CHECK(strstr(err, "debug:") == NULL);
	CHECK(strstr(err, "warning: bt_get:") != NULL);
	CHECK_OK("TRACEREF_LOG=warn logs misuse only");

	CHECK_EQ_LONG(run(self, "log", "TRACEREF_LOG", "off", err, sizeof err, out,
			  sizeof out), 0);
	CHECK(err[0] == '\0');
	CHECK_OK("TRACEREF_LOG=off logs nothing");
	CHECK_DONE("diagnostics");
	return 0;
}
