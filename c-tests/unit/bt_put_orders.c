/*
 * Six user references (TC1, SC1, SC2, EC1, EC2, EC3 of the walkthrough
 * example) put in all 720 orders. After every put, each object's count must
 * equal what the model predicts (the user's reference plus one per child whose
 * own count is above zero), nothing may be reclaimed before the last put, and
 * the census must be back to its start after it.
 *
 * Second pass, with field types among the user references: TC1 { SC1 { EC1,
 * EC2 } }, EC1 and EC2 sharing the payload structure S = { a: I, b: I } (the
 * integer I twice). The six user references TC1, SC1, EC1, EC2, S, I are put
 * in all 720 orders; after every put, each live object's count and the
 * census must be what the model predicts: the tree lives while one of its
 * nodes is held, S while it is held or the tree lives, I while it is held
 * or S lives.
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

/* Second pass: the user references, and the objects of the field types. */
enum { F_TC1, F_SC1, F_EC1, F_EC2, F_S, F_I };

static const char *const names_f[N] = { "TC1", "SC1", "EC1", "EC2", "S", "I" };

/* Parent of each class in the tree, -1 for the root and for field types. */
static const int parent_f[N] = { -1, F_TC1, F_SC1, F_SC1, -1, -1 };

static int tree_alive(const int held[N])
{
	return held[F_TC1] || held[F_SC1] || held[F_EC1] || held[F_EC2];
}

static int s_alive(const int held[N])
{
	return held[F_S] || tree_alive(held);
}

static int i_alive(const int held[N])
{
	return held[F_I] || s_alive(held);
}

/* Objects alive according to the model. */
static long alive_f(const int held[N])
{
	return (tree_alive(held) ? 4 : 0) + s_alive(held) + i_alive(held);
}

static int is_alive_f(const int held[N], int i)
{
	if (i == F_S)
		return s_alive(held);
	if (i == F_I)
		return i_alive(held);
	return tree_alive(held);
}

/* The count the model predicts for the live object `i`: the user's
 * reference, plus one per child above zero for a class, one per event
 * class (while the tree lives) for S, one per member of a live S for I. */
static long expected_f(const int held[N], int i)
{
	long n = held[i];
	int c;

	if (i == F_S)
		return n + (tree_alive(held) ? 2 : 0);
	if (i == F_I)
		return n + (s_alive(held) ? 2 : 0);
	for (c = 0; c < F_S; c++)
		if (parent_f[c] == i && expected_f(held, c) > 0)
			n++;
	return n;
}

static void build_f(void *obj[N])
{
	obj[F_TC1] = bt_ctf_trace_create();
	obj[F_SC1] = bt_ctf_stream_class_create("SC1");
	obj[F_EC1] = bt_ctf_event_class_create("EC1");
	obj[F_EC2] = bt_ctf_event_class_create("EC2");
	obj[F_S] = bt_ctf_field_type_structure_create();
	obj[F_I] = bt_ctf_field_type_integer_create(32);
	CHECK_EQ_LONG(bt_ctf_trace_add_stream_class(obj[F_TC1], obj[F_SC1]), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(obj[F_SC1], obj[F_EC1]), 0);
	CHECK_EQ_LONG(bt_ctf_stream_class_add_event_class(obj[F_SC1], obj[F_EC2]), 0);
	CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(obj[F_S], obj[F_I], "a"), 0);
	CHECK_EQ_LONG(bt_ctf_field_type_structure_add_field(obj[F_S], obj[F_I], "b"), 0);
	CHECK_EQ_LONG(bt_ctf_event_class_set_payload_type(obj[F_EC1], obj[F_S]), 0);
	CHECK_EQ_LONG(bt_ctf_event_class_set_payload_type(obj[F_EC2], obj[F_S]), 0);
}

static void run_order_f(const int order[N])
{
	const size_t start = traceref_live_objects();
	void *obj[N];
	int held[N] = { 1, 1, 1, 1, 1, 1 };
	int step, i, key = 0;

	for (i = 0; i < N; i++)
		key = key * N + order[i];
	CHECK(!seen[key]);
	seen[key] = 1;

	build_f(obj);
	CHECK_EQ_LONG(traceref_live_objects(), start + N);
	for (i = 0; i < N; i++)
		CHECK_EQ_LONG(bt_object_get_ref_count(obj[i]), expected_f(held, i));

	for (step = 0; step < N; step++) {
		bt_put(obj[order[step]]);
		held[order[step]] = 0;
		CHECK_EQ_LONG(traceref_live_objects(), start + alive_f(held));
		for (i = 0; i < N; i++) {
			long want, got;

			if (!is_alive_f(held, i))
				continue;
			want = expected_f(held, i);
			got = bt_object_get_ref_count(obj[i]);
			if (got != want) {
				fprintf(stderr, "order %s %s %s %s %s %s, after %d puts: %s\n",
					names_f[order[0]], names_f[order[1]], names_f[order[2]],
					names_f[order[3]], names_f[order[4]], names_f[order[5]],
					step + 1, names_f[i]);
			}
			CHECK_EQ_LONG(got, want);
		}
	}
	CHECK_EQ_LONG(traceref_live_objects(), start);
	orders_run++;
}

/* Heap's algorithm: every permutation of `a`, each passed to `run`. */
static void permute(int a[N], int k, void (*run)(const int order[N]))
{
	int i, t;

	if (k == 1) {
		run(a);
		return;
	}
	permute(a, k - 1, run);
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
		permute(a, k - 1, run);
	}
}

int main(void)
{
	const size_t start = traceref_live_objects();
	int order[N] = { TC1, SC1, SC2, EC1, EC2, EC3 };

	permute(order, N, run_order);
	CHECK_EQ_LONG(orders_run, 720); /* all distinct: checked in run_order() */
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("720 put orders: counts match the model after every put, "
		 "nothing reclaimed before the last put, census back to %zu each time",
		 start);

	memset(seen, 0, sizeof(seen));
	orders_run = 0;
	{
		int order_f[N] = { F_TC1, F_SC1, F_EC1, F_EC2, F_S, F_I };

		permute(order_f, N, run_order_f);
	}
	CHECK_EQ_LONG(orders_run, 720);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("720 put orders of TC1, SC1, EC1, EC2 and field types S (payload of "
		 "EC1 and EC2), I (member of S twice): counts and census match the "
		 "model after every put; payload types freed with their last holder");
	CHECK_DONE("bt_put_orders");
	return 0;
}
