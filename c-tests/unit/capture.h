/*
 * Capture of the process's stderr for a whole test run, for tests whose
 * warnings are part of what they check: every line the library prints is
 * classified at the end, expected kinds are counted, and any other line is
 * copied to the real stderr and makes the count of unexpected lines.
 *
 * capture_begin() also registers an exit handler, so that a failed check
 * (which exits at once) still shows what was captured.
 */

#ifndef TRACEREF_CAPTURE_H
#define TRACEREF_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
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
static long capture_end(capture_classify_func classify, long *counts, int kinds)
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

static void capture_at_exit_(void)
{
	capture_end(NULL, NULL, 0);
}

/* Start capturing stderr into a temporary file. */
static void capture_begin(void)
{
	fflush(stderr);
	capture_file_ = tmpfile();
	CHECK(capture_file_ != NULL);
	capture_saved_fd_ = dup(2);
	CHECK(capture_saved_fd_ >= 0);
	CHECK(dup2(fileno(capture_file_), 2) == 2);
	atexit(capture_at_exit_);
}

#endif /* TRACEREF_CAPTURE_H */
