/*
 * The walkthrough of the Babeltrace reference-counting design, step by step.
 *
 * A trace TC1 has two stream classes, SC1 {EC1, EC2} and SC2 {EC3}. Users A,
 * B and C take and drop references; after each step the program prints the
 * reference count of every object and how many library objects are alive.
 *
 * Rules to watch in the table:
 *   - a class whose count goes 0 -> 1 takes one reference on its parent;
 *   - a class whose count goes 1 -> 0 drops it, and is NOT freed;
 *   - only the trace (the root) reaching 0 frees anything: the whole tree.
 *
 * Build and run: scripts/demo.sh
 */

#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "traceref.h"

static struct bt_ctf_trace *tc1;
static struct bt_ctf_stream_class *sc1, *sc2;
static struct bt_ctf_event_class *ec1, *ec2, *ec3;
static size_t census_start;
static int step = -1; /* row 0 is the construction; 1 to 10 are the document's steps */
static const char *picture_dir; /* argv[1]: where to write one DOT file per step */

/* With a picture directory, draw the tree as it is now into step-NN.dot. */
static void picture(void)
{
	char path[4096];
	int fd;

	if (!picture_dir)
		return;
	snprintf(path, sizeof(path), "%s/step-%02d.dot", picture_dir, step);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(path);
		return;
	}
	if (traceref_dump_dot(tc1, fd) != 0)
		fprintf(stderr, "walkthrough: could not draw step %d\n", step);
	close(fd);
}

static void header(void)
{
	printf("%-4s %-60s %4s %4s %4s %4s %4s %4s %5s\n", "step", "what happened",
	       "TC1", "SC1", "SC2", "EC1", "EC2", "EC3", "live");
	printf("%-4s %-60s %4s %4s %4s %4s %4s %4s %5s\n", "----",
	       "------------------------------------------------------------",
	       "---", "---", "---", "---", "---", "---", "----");
}

/* One row: the counts of the six objects and the live objects made here. */
static void row(const char *what)
{
	printf("%-4d %-60s %4ld %4ld %4ld %4ld %4ld %4ld %5zu\n", ++step, what,
	       bt_object_get_ref_count(tc1), bt_object_get_ref_count(sc1),
	       bt_object_get_ref_count(sc2), bt_object_get_ref_count(ec1),
	       bt_object_get_ref_count(ec2), bt_object_get_ref_count(ec3),
	       traceref_live_objects() - census_start);
	picture();
}

/* The last row: the objects are gone, their counts cannot be read. */
static void row_gone(const char *what)
{
	printf("%-4d %-60s %4s %4s %4s %4s %4s %4s %5zu\n", ++step, what, "-", "-",
	       "-", "-", "-", "-", traceref_live_objects() - census_start);
}

static void note(const char *text)
{
	printf("     %s\n", text);
}

int main(int argc, char **argv)
{
	struct bt_ctf_trace *user_a_tc;
	struct bt_ctf_stream_class *user_a_sc, *user_b_sc;
	struct bt_ctf_event_class *user_a_ec, *user_c_ec;

	census_start = traceref_live_objects();
	picture_dir = argc > 1 ? argv[1] : NULL;

	printf("Babeltrace reference counting: the walkthrough\n\n");
	printf("Building TC1 { SC1 { EC1, EC2 }, SC2 { EC3 } }, then putting every\n");
	printf("class reference so that only User A's reference on TC1 is left.\n");
	printf("Columns: reference counts; \"live\" = objects not yet reclaimed.\n\n");

	tc1 = bt_ctf_trace_create();
	sc1 = bt_ctf_stream_class_create("SC1");
	sc2 = bt_ctf_stream_class_create("SC2");
	ec1 = bt_ctf_event_class_create("EC1");
	ec2 = bt_ctf_event_class_create("EC2");
	ec3 = bt_ctf_event_class_create("EC3");
	if (!tc1 || !sc1 || !sc2 || !ec1 || !ec2 || !ec3 ||
	    bt_ctf_trace_add_stream_class(tc1, sc1) ||
	    bt_ctf_trace_add_stream_class(tc1, sc2) ||
	    bt_ctf_stream_class_add_event_class(sc1, ec1) ||
	    bt_ctf_stream_class_add_event_class(sc1, ec2) ||
	    bt_ctf_stream_class_add_event_class(sc2, ec3)) {
		fprintf(stderr, "walkthrough: could not build the example\n");
		return 1;
	}

	header();
	row("built; every reference still held");
	note("a parent counts its creator's reference plus one per live child");

	bt_put(ec1);
	bt_put(ec2);
	bt_put(ec3);
	bt_put(sc1);
	bt_put(sc2);
	user_a_tc = tc1;
	row("class references put: User A holds TC1 only");
	note("the classes are at 0 but alive: TC1 owns them");

	user_a_sc = bt_ctf_trace_get_stream_class(user_a_tc, 1);
	row("User A gets SC2 through TC1");
	note("SC2 went 0 -> 1, so SC2 took a reference on TC1");

	user_a_ec = bt_ctf_stream_class_get_event_class(user_a_sc, 0);
	row("User A gets EC3 through SC2");
	note("EC3 went 0 -> 1 and took SC2 (now 2); TC1 does not change");

	BT_PUT(user_a_sc);
	row("User A puts SC2");
	note("SC2 back to 1: EC3 still holds it");

	BT_PUT(user_a_tc);
	row("User A puts TC1");
	note("TC1 stays at 1: EC3 -> SC2 -> TC1 keeps everything alive");

	/* SC1 is reachable from EC3, which User A holds. */
	user_b_sc = bt_get(sc1);
	row("User B gets SC1");
	note("SC1 went 0 -> 1 and took a reference on TC1 (now 2)");

	user_c_ec = bt_ctf_stream_class_get_event_class(user_b_sc, 0);
	row("User B hands EC1, taken through SC1, to User C");
	note("EC1 went 0 -> 1 and took a reference on SC1 (now 2)");

	BT_PUT(user_a_ec);
	row("User A puts EC3");
	note("EC3 1 -> 0 drops SC2; SC2 1 -> 0 drops TC1 (now 1); nothing is freed");

	BT_PUT(user_b_sc);
	row("User B puts SC1");
	note("User C is now the sole owner of the hierarchy, through EC1");

	BT_PUT(user_c_ec);
	row_gone("User C puts EC1");
	note("EC1 -> 0 drops SC1 -> 0 drops TC1 -> 0: TC1 is a root, so it");
	note("destroys its tree: event classes, then stream classes, then itself");

	printf("\n%s: %zu objects still alive after the last put\n",
	       traceref_live_objects() == census_start ? "done" : "LEAK",
	       traceref_live_objects() - census_start);
	return traceref_live_objects() == census_start ? 0 : 1;
}
