/*
 * Captures of the process's stderr, for tests whose warnings are part of
 * what they check.
 *
 * Whole run (capture_begin / capture_end): every line the library prints is
 * classified at the end, expected kinds are counted, and any other line is
 * copied to the real stderr and makes the count of unexpected lines.
 * capture_begin() also registers an exit handler, so that a failed check
 * (which exits at once) still shows what was captured.
 *
 * Scoped (capture_scope_begin / capture_scope_end): around a few calls, the
 * text kept for the test to inspect.
 */

#ifndef TRACEREF_CAPTURE_H
#define TRACEREF_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/* Kind of a captured line: an index into the caller's counts, or -1 for a
 * line that was not expected. */
typedef int (*capture_classify_func)(const char *line);

static FILE *capture_file_;
static int capture_saved_fd_ = -1;

/* Stop capturing (once; later calls return 0). Each line is passed to
 * `classify` (NULL: every line is unexpected); counts[kind] is incremented
 * for expected lines (the `kinds` counts are zeroed first), the others are
 * copied to the real stderr. Returns the number of unexpected lines. */
static inline long capture_end(capture_classify_func classify, long *counts, int kinds)
{
	char line[512];
	long others = 0;
	int k;

	if (capture_saved_fd_ < 0)
		return 0;
	fflush(stderr);
	dup2(capture_saved_fd_, 2);
	close(capture_saved_fd_);
	capture_saved_fd_ = -1;
	for (k = 0; k < kinds; k++)
		counts[k] = 0;
	rewind(capture_file_);
	while (fgets(line, sizeof(line), capture_file_)) {
		k = classify ? classify(line) : -1;
		if (k >= 0 && k < kinds) {
			counts[k]++;
		} else {
			others++;
			fputs(line, stderr);
		}
	}
	fclose(capture_file_);
	return others;
}

static inline void capture_at_exit_(void)
{
	capture_end(NULL, NULL, 0);
}

/* Start capturing stderr into a temporary file. */
static inline void capture_begin(void)
{
	fflush(stderr);
	capture_file_ = tmpfile();
	CHECK(capture_file_ != NULL);
	capture_saved_fd_ = dup(2);
	CHECK(capture_saved_fd_ >= 0);
	CHECK(dup2(fileno(capture_file_), 2) == 2);
	atexit(capture_at_exit_);
}

/* A capture of stderr around a few calls, whose text a test then checks. */
struct capture {
	FILE *file;
	int saved_fd;
	char text[4096];
};

static inline void capture_scope_begin(struct capture *c)
{
	fflush(stderr);
	c->file = tmpfile();
	CHECK(c->file != NULL);
	c->saved_fd = dup(2);
	CHECK(c->saved_fd >= 0);
	CHECK(dup2(fileno(c->file), 2) == 2);
}

/* End the capture, keep its text in c->text, show it as the test's own
 * output, and return the number of lines captured. */
static inline int capture_scope_end(struct capture *c)
{
	size_t len;
	int lines = 0;
	const char *p;

	fflush(stderr);
	CHECK(dup2(c->saved_fd, 2) == 2);
	close(c->saved_fd);
	rewind(c->file);
	len = fread(c->text, 1, sizeof(c->text) - 1, c->file);
	c->text[len] = '\0';
	fclose(c->file);
	for (p = c->text; *p; p++)
		if (*p == '\n')
			lines++;
	for (p = c->text; *p;) {
		const char *end = strchr(p, '\n');
		int n = end ? (int)(end - p) : (int)strlen(p);

		printf("   captured: %.*s\n", n, p);
		p += n + (end ? 1 : 0);
	}
	return lines;
}

#endif /* TRACEREF_CAPTURE_H */
