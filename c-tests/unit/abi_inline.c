/*
 * The inline fast paths (TRACEREF_INLINE) and the ABI they rely on:
 *
 *   - the library's ABI version is the header's (the layout of
 *     struct bt_object that the inline paths read; the header checks its
 *     own view of it at compile time);
 *   - the switch is on by default, off in a child started with
 *     TRACEREF_TRACK=1 or TRACEREF_LOG=debug (every call then reaches the
 *     library, so tracking and logging see them);
 *   - the steady case stays inline (no debug line), transitions and limits
 *     go to the library: 0 to 1 takes the parent, 1 to 0 destroys, a put at
 *     0 is reported, a static object is left alone, a relay object is
 *     refused as by the library.
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

static int released;

static void release(struct bt_object *obj)
{
	released++;
	free(obj);
}

/* Run this program again with `var=value`, in mode "switch": its exit
 * status is the switch's value. */
static int child_switch(const char *self, const char *var, const char *value)
{
	pid_t pid = fork();
	int status;

	CHECK(pid >= 0);
	if (pid == 0) {
		setenv(var, value, 1);
		execl(self, self, "switch", (char *)NULL);
		_exit(127);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	struct bt_object *parent, *child;
	struct bt_object fixed;

	if (argc > 1 && strcmp(argv[1], "switch") == 0) {
		/* Discard the debug log of the child. */
		return traceref_bt_inline_enabled ? 1 : 0;
	}

	CHECK_EQ_LONG(traceref_abi_version(), TRACEREF_ABI_VERSION);
	CHECK_EQ_LONG(traceref_bt_inline_enabled, 1);
	CHECK_EQ_LONG(child_switch(argv[0], "TRACEREF_TRACK", "1"), 0);
	CHECK_EQ_LONG(child_switch(argv[0], "TRACEREF_LOG", "debug"), 0);
	CHECK_EQ_LONG(child_switch(argv[0], "TRACEREF_LOG", "warn"), 1);
	CHECK_OK("ABI version %d, the switch on, off under tracking or debug logging",
		 TRACEREF_ABI_VERSION);

	parent = malloc(sizeof(*parent));
	child = malloc(sizeof(*child));
	CHECK(parent && child);
	bt_object_init(parent, release);
	bt_object_init(child, release);
	bt_object_set_parent(child, parent);
	CHECK_EQ_LONG(bt_object_get_ref_count(parent), 2);

	/* Steady: 1 -> 2 -> 1, inline. */
	CHECK(bt_get(child) == child);
	CHECK_EQ_LONG(bt_object_get_ref_count(child), 2);
	bt_put(child);
	CHECK_EQ_LONG(bt_object_get_ref_count(child), 1);
	/* 1 -> 0 (the library: the parent's reference goes), 0 -> 1 (the
	 * library: it comes back). */
	bt_put(child);
	CHECK_EQ_LONG(bt_object_get_ref_count(child), 0);
	CHECK_EQ_LONG(bt_object_get_ref_count(parent), 1);
	CHECK(bt_get(child) == child);
	CHECK_EQ_LONG(bt_object_get_ref_count(parent), 2);
	bt_put(child);
	CHECK_OK("steady gets and puts inline, transitions through the library");

	/* A static object: gets and puts do nothing. */
	bt_object_init(&fixed, NULL);
	CHECK(bt_get(&fixed) == &fixed);
	bt_put(&fixed);
	CHECK_EQ_LONG(bt_object_get_ref_count(&fixed), 1);
	/* NULL and the address of the functions themselves. */
	CHECK(bt_get(NULL) == NULL);
	bt_put(NULL);
	CHECK_EQ_LONG(bt_object_get_ref_count(NULL), -1);
	{
		void *(*get)(void *) = bt_get;
		void (*put)(void *) = bt_put;

		CHECK(get(parent) == parent);
		put(parent);
	}
	CHECK_OK("static objects, NULL, and the functions' addresses");

	/* The root's last put destroys the tree: children first. */
	bt_put(parent);
	CHECK_EQ_LONG(released, 2);
	CHECK_EQ_LONG(traceref_live_objects(), 0);
	CHECK_OK("the last put destroys the tree");
	CHECK_DONE("abi_inline");
	return 0;
}
