/*
 * Six user references (TC1, SC1, SC2, EC1, EC2, EC3 of the walkthrough
 * example) put in all 720 orders. After every put, each object's count must
 * equal what the model predicts (the user's reference plus one per child whose
 * own count is above zero), nothing may be reclaimed before the last put, and
 * the census must be back to its start after it.
 */

#include "traceref.h"
#include "check.h"

enum { TC1, SC1, SC2, EC1, EC2, EC3, N };

static const char *const names[N] = { "TC1", "SC1", "SC2", "EC1", "EC2", "EC3" };

/* Parent of each object in the example, -1 for the root. */
static const int parent_of[N] = { -1, TC1, TC1, SC1, SC1, SC2 };

/* The count the model predicts for `i` when `held[j]` says who is held. */
static long expected(const int held[N], int i)
{
	long n = held[i];
	int c;

	for (c = 0; c < N; c++)
		if (parent_of[c] == i && expected(held, c) > 0)
			n++;
	return n;
}

static void build(void *obj[N])
{
	obj[TC1] = bt_ctf_trace_create();
	obj[SC1] = bt_ctf_stream_class_create("SC1");
	obj[SC2] = bt_ctf_stream_class_create("SC2");
	obj[EC1] = bt_ctf_event_class_create("EC1");
	obj[EC2] = bt_ctf_event_class_create("EC2");
	obj[EC3] = bt_ctf_event_class_create("EC3");
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(obj[TC1], obj[SC1]), 0);
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(obj[TC1], obj[SC2]), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(obj[SC1], obj[EC1]), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(obj[SC1], obj[EC2]), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(obj[SC2], obj[EC3]), 0);
}

static long orders_run;
/* Orders already run, indexed by the order read as a base-6 number. */
static unsigned char seen[6 * 6 * 6 * 6 * 6 * 6];

static void run_order(const int order[N])
{
	const size_t start = traceref_live_objects();
	void *obj[N];
	int held[N] = { 1, 1, 1, 1, 1, 1 };
	int step, i, key = 0;

	for (i = 0; i < N; i++)
		key = key * N + order[i];
	CHECK(!seen[key]);
	seen[key] = 1;

	build(obj);
	CHECK_EQ_LONG(traceref_live_objects(), start + N);
	for (i = 0; i < N; i++)
		CHECK_EQ_LONG(bt_object_get_ref_count(obj[i]), expected(held, i));

	for (step = 0; step < N; step++) {
		bt_put(obj[order[step]]);
		held[order[step]] = 0;
		if (step == N - 1)
			break;
		/* Something is still held: nothing may be reclaimed yet. */
		CHECK_EQ_LONG(traceref_live_objects(), start + N);
		for (i = 0; i < N; i++) {
			long want = expected(held, i);
			long got = bt_object_get_ref_count(obj[i]);
			if (got != want) {
				fprintf(stderr, "order %s %s %s %s %s %s, after %d puts: %s\n",
					names[order[0]], names[order[1]], names[order[2]],
					names[order[3]], names[order[4]], names[order[5]],
					step + 1, names[i]);
			}
			CHECK_EQ_LONG(got, want);
		}
	}
	CHECK_EQ_LONG(traceref_live_objects(), start);
	orders_run++;
}

/* Heap's algorithm: every permutation of `a`, each passed to run_order(). */
static void permute(int a[N], int k)
{
	int i, t;

	if (k == 1) {
		run_order(a);
		return;
	}
	permute(a, k - 1);
	for (i = 0; i < k - 1; i++) {
		if (k % 2 == 0) {
			t = a[i];
			a[i] = a[k - 1];
			a[k - 1] = t;
		} else {
			t = a[0];
			a[0] = a[k - 1];
			a[k - 1] = t;
		}
		permute(a, k - 1);
	}
}

int main(void)
{
	const size_t start = traceref_live_objects();
	int order[N] = { TC1, SC1, SC2, EC1, EC2, EC3 };

	permute(order, N);
	CHECK_EQ_LONG(orders_run, 720); /* all distinct: checked in run_order() */
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("720 put orders: counts match the model after every put, "
		 "nothing reclaimed before the last put, census back to %zu each time",
		 start);
	CHECK_DONE("bt_put_orders");
	return 0;
}
