/*
 * C structures that embed `struct bt_object` as their first member,
 * initialised with bt_object_init() and linked with bt_object_set_parent():
 * destruction order, parent getter, static objects, re-parenting, a put on a
 * count of zero, and release functions that touch references.
 *
 * Deliberate misuse is part of this test: its diagnostics are captured (so the
 * output stays clean) and checked where the contract promises one.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traceref.h"
#include "check.h"
#include "capture.h"

#define MAX_NODES 32
#define NODE_MAGIC 0x6e6f6465L

struct node {
	struct bt_object base; /* first member: the library's header */
	long magic;
	int id;
	struct node *parent; /* the C side's own idea of the parent */
};

/* What the release functions saw. */
static int released[MAX_NODES];
static int release_order[MAX_NODES];
static int n_released;

static void reset_releases(void)
{
	memset(released, 0, sizeof(released));
	n_released = 0;
}

static void record_release(struct node *n)
{
	CHECK(n->magic == NODE_MAGIC);
	CHECK(n->id >= 0 && n->id < MAX_NODES);
	CHECK_EQ_LONG(released[n->id], 0);
	if (n->parent) {
		/* The parent must still be alive: checked by id first, so a
		 * released parent is never read. */
		CHECK_EQ_LONG(released[n->parent->id], 0);
		CHECK(n->parent->magic == NODE_MAGIC);
	}
	released[n->id]++;
	release_order[n_released++] = n->id;
}

static void node_release(struct bt_object *obj)
{
	struct node *n = (struct node *)obj;

	record_release(n);
	n->magic = 0;
	free(n);
}

static struct node *new_node_with(int id, struct node *parent,
				  bt_object_release_func release)
{
	struct node *n = malloc(sizeof(*n));

	CHECK(n != NULL);
	bt_object_init(n, release);
	n->magic = NODE_MAGIC;
	n->id = id;
	n->parent = NULL;
	if (parent) {
		bt_object_set_parent(n, parent);
		n->parent = parent;
	}
	return n;
}

static struct node *new_node(int id, struct node *parent)
{
	return new_node_with(id, parent, node_release);
}

static long count_of(const void *obj)
{
	return bt_object_get_ref_count(obj);
}

static int position_of(int id)
{
	int i;

	for (i = 0; i < n_released; i++)
		if (release_order[i] == id)
			return i;
	return -1;
}

/*
 * root(0) -> mid(1) { leaves 3, 4, 5 }, mid(2) { leaves 6, 7, 8 }.
 * All nine references are held on return.
 */
struct tree {
	struct node *root, *mid[2], *leaf[6];
};

static struct tree build_tree(void)
{
	struct tree t;
	int i;

	t.root = new_node(0, NULL);
	t.mid[0] = new_node(1, t.root);
	t.mid[1] = new_node(2, t.root);
	for (i = 0; i < 6; i++)
		t.leaf[i] = new_node(3 + i, t.mid[i / 3]);
	return t;
}

static void check_children_first(int n)
{
	int id;

	CHECK_EQ_LONG(n_released, n);
	for (id = 0; id < n; id++)
		CHECK_EQ_LONG(released[id], 1);
	/* Every child before its parent. */
	CHECK(position_of(1) < position_of(0));
	CHECK(position_of(2) < position_of(0));
	for (id = 3; id < 9 && id < n; id++)
		CHECK(position_of(id) < position_of(id < 6 ? 1 : 2));
}

static void test_destruction_order(void)
{
	const size_t start = traceref_live_objects();
	struct tree t;
	int i;

	reset_releases();
	t = build_tree();
	CHECK_EQ_LONG(traceref_live_objects(), start + 9);
	CHECK_EQ_LONG(count_of(t.root), 3);
	CHECK_EQ_LONG(count_of(t.mid[0]), 4);
	CHECK_EQ_LONG(count_of(t.mid[1]), 4);
	for (i = 0; i < 6; i++)
		CHECK_EQ_LONG(count_of(t.leaf[i]), 1);

	for (i = 0; i < 6; i++)
		bt_put(t.leaf[i]);
	CHECK_EQ_LONG(count_of(t.mid[0]), 1);
	CHECK_EQ_LONG(count_of(t.mid[1]), 1);
	CHECK_EQ_LONG(count_of(t.leaf[0]), 0);
	bt_put(t.mid[0]);
	bt_put(t.mid[1]);
	CHECK_EQ_LONG(count_of(t.root), 1);
	CHECK_EQ_LONG(count_of(t.mid[0]), 0);
	CHECK_EQ_LONG(n_released, 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + 9);

	bt_put(t.root);
	check_children_first(9);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("3-level tree: nothing released before the root's last put; "
		 "then 9 releases, each once, children before parents, census back");
}

static void test_leaf_keeps_tree(void)
{
	const size_t start = traceref_live_objects();
	struct tree t;
	struct node *other;
	int i;

	reset_releases();
	t = build_tree();
	bt_put(t.root);
	bt_put(t.mid[0]);
	bt_put(t.mid[1]);
	for (i = 0; i < 6; i++)
		if (i != 4)
			bt_put(t.leaf[i]);
	/* Only leaf 7 (under mid 2) is held. */
	CHECK_EQ_LONG(count_of(t.leaf[4]), 1);
	CHECK_EQ_LONG(count_of(t.mid[1]), 1);
	CHECK_EQ_LONG(count_of(t.root), 1);
	CHECK_EQ_LONG(count_of(t.mid[0]), 0);
	CHECK_EQ_LONG(count_of(t.leaf[0]), 0);
	CHECK_EQ_LONG(n_released, 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + 9);

	/* A node reachable from the held leaf can be taken again: 0 -> 1 up
	 * the tree. */
	other = bt_get(t.leaf[0]);
	CHECK_EQ_PTR(other, t.leaf[0]);
	CHECK_EQ_LONG(count_of(t.leaf[0]), 1);
	CHECK_EQ_LONG(count_of(t.mid[0]), 1);
	CHECK_EQ_LONG(count_of(t.root), 2);
	BT_PUT(other);
	CHECK_EQ_LONG(count_of(t.mid[0]), 0);
	CHECK_EQ_LONG(count_of(t.root), 1);

	bt_put(t.leaf[4]);
	check_children_first(9);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("a single held leaf keeps the whole tree; its put reclaims all 9");
}

static void test_get_parent(void)
{
	const size_t start = traceref_live_objects();
	struct tree t = build_tree();
	struct bt_object *p;
	int i;

	reset_releases();
	p = bt_object_get_parent(t.leaf[0]);
	CHECK_EQ_PTR(p, &t.mid[0]->base);
	CHECK_EQ_LONG(count_of(t.mid[0]), 5);
	CHECK_EQ_LONG(count_of(t.root), 3);
	BT_PUT(p);
	CHECK_EQ_LONG(count_of(t.mid[0]), 4);

	p = bt_object_get_parent(t.mid[1]);
	CHECK_EQ_PTR(p, &t.root->base);
	CHECK_EQ_LONG(count_of(t.root), 4);
	BT_PUT(p);
	CHECK_EQ_LONG(count_of(t.root), 3);
	CHECK(bt_object_get_parent(t.root) == NULL);
	CHECK_EQ_LONG(count_of(t.root), 3);

	/* From a leaf at 0 reached through a held node: the parent getter on
	 * a freshly taken leaf. */
	for (i = 0; i < 6; i++)
		bt_put(t.leaf[i]);
	CHECK_EQ_LONG(count_of(t.mid[0]), 1);
	bt_get(t.leaf[5]);
	p = bt_object_get_parent(t.leaf[5]);
	CHECK_EQ_PTR(p, &t.mid[1]->base);
	CHECK_EQ_LONG(count_of(t.mid[1]), 3);
	bt_put(p);
	bt_put(t.leaf[5]);
	CHECK_EQ_LONG(count_of(t.mid[1]), 1);

	bt_put(t.mid[0]);
	bt_put(t.mid[1]);
	bt_put(t.root);
	check_children_first(9);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("bt_object_get_parent returns the parent with its count up by one; NULL for a root");
}

static void test_static(void)
{
	const size_t start = traceref_live_objects();
	static struct node s;
	struct node *root, *child;
	struct capture cap;
	int w;

	reset_releases();
	bt_object_init(&s, NULL);
	s.magic = NODE_MAGIC;
	s.id = 30;
	s.parent = NULL;
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_EQ_LONG(count_of(&s), 1);
	CHECK_EQ_PTR(bt_get(&s), &s);
	CHECK_EQ_PTR(bt_get(&s), &s);
	CHECK_EQ_LONG(count_of(&s), 1);
	bt_put(&s);
	bt_put(&s);
	bt_put(&s);
	bt_put(&s);
	CHECK_EQ_LONG(count_of(&s), 1);
	CHECK(bt_object_get_parent(&s) == NULL);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_EQ_LONG(n_released, 0);

	/* A static object can neither be parented nor be a parent. */
	root = new_node(0, NULL);
	child = new_node(1, NULL);
	capture_scope_begin(&cap);
	bt_object_set_parent(&s, root);
	w = capture_scope_end(&cap);
	CHECK_EQ_LONG(w, 1);
	CHECK(bt_object_get_parent(&s) == NULL);
	CHECK_EQ_LONG(count_of(root), 1);
	capture_scope_begin(&cap);
	bt_object_set_parent(child, &s);
	w = capture_scope_end(&cap);
	CHECK_EQ_LONG(w, 1);
	CHECK(bt_object_get_parent(child) == NULL);
	CHECK_EQ_LONG(count_of(&s), 1);
	bt_put(child);
	bt_put(root);
	CHECK_EQ_LONG(n_released, 2);
	CHECK_EQ_LONG(count_of(&s), 1);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("static object: get/put are no-ops (count stays 1), never counted, never released, "
		 "cannot be linked (one warning each)");
}

static void test_reparent(void)
{
	const size_t start = traceref_live_objects();
	struct node *a, *b, *x, *m, *l;
	struct bt_object *p;
	struct capture cap;
	int w;

	reset_releases();
	a = new_node(0, NULL);
	b = new_node(1, NULL);
	x = new_node(2, a);
	CHECK_EQ_LONG(count_of(a), 2);
	CHECK_EQ_LONG(count_of(b), 1);

	/* Move x (count 1) from a to b: the reverse reference moves too. */
	bt_object_set_parent(x, b);
	x->parent = b;
	CHECK_EQ_LONG(count_of(a), 1);
	CHECK_EQ_LONG(count_of(b), 2);
	CHECK_EQ_LONG(count_of(x), 1);
	p = bt_object_get_parent(x);
	CHECK_EQ_PTR(p, &b->base);
	BT_PUT(p);

	/* Setting the same parent again changes nothing. */
	bt_object_set_parent(x, b);
	CHECK_EQ_LONG(count_of(b), 2);
	CHECK_EQ_LONG(count_of(x), 1);

	/* A subtree moves with its node: m (count 0, held through leaf l). */
	m = new_node(3, a);
	l = new_node(4, m);
	bt_put(m);
	CHECK_EQ_LONG(count_of(m), 1);
	CHECK_EQ_LONG(count_of(a), 2);
	bt_get(m); /* the caller must hold a reference to re-parent */
	bt_object_set_parent(m, b);
	m->parent = b;
	bt_put(m);
	CHECK_EQ_LONG(count_of(a), 1);
	CHECK_EQ_LONG(count_of(b), 3);
	CHECK_EQ_LONG(count_of(m), 1);
	CHECK_EQ_LONG(count_of(l), 1);

	/* Cycles are refused: a node under itself or under a descendant. */
	capture_scope_begin(&cap);
	bt_object_set_parent(b, l);
	bt_object_set_parent(x, x);
	w = capture_scope_end(&cap);
	CHECK_EQ_LONG(w, 2);
	CHECK(bt_object_get_parent(b) == NULL);
	p = bt_object_get_parent(x);
	CHECK_EQ_PTR(p, &b->base);
	BT_PUT(p);
	CHECK_EQ_LONG(count_of(b), 3);
	CHECK_EQ_LONG(count_of(l), 1);

	/* The old parent no longer owns what moved: destroying it releases
	 * only itself. */
	bt_put(a);
	CHECK_EQ_LONG(n_released, 1);
	CHECK_EQ_LONG(released[0], 1);
	CHECK_EQ_LONG(traceref_live_objects(), start + 4);

	bt_put(x);
	CHECK_EQ_LONG(count_of(b), 2);
	bt_put(l);
	CHECK_EQ_LONG(count_of(m), 0);
	CHECK_EQ_LONG(count_of(b), 1);
	CHECK_EQ_LONG(n_released, 1);
	bt_put(b);
	CHECK_EQ_LONG(n_released, 5);
	CHECK_EQ_LONG(released[1] + released[2] + released[3] + released[4], 4);
	CHECK(position_of(2) < position_of(1));
	CHECK(position_of(3) < position_of(1));
	CHECK(position_of(4) < position_of(3));
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("re-parenting moves the child's reference from the old parent to the new; "
		 "subtrees move along; cycles refused");
}

static void test_embedded_and_ctf_do_not_mix(void)
{
	const size_t start = traceref_live_objects();
	struct bt_ctf_stream_class *sc = bt_ctf_stream_class_create("sc");
	struct node *n;
	struct capture cap;
	int w;

	/* A CTF-IR object joins its parent through its typed add function:
	 * bt_object_set_parent() refuses it as a child. (An embedded object
	 * under a CTF-IR parent is accepted: see bt_upstream.) */
	reset_releases();
	n = new_node(0, NULL);
	capture_scope_begin(&cap);
	bt_object_set_parent(sc, n);
	w = capture_scope_end(&cap);
	CHECK_EQ_LONG(w, 1);
	CHECK(bt_object_get_parent(sc) == NULL);
	CHECK_EQ_LONG(count_of(n), 1);
	bt_put(n);
	bt_put(sc);
	CHECK_EQ_LONG(n_released, 1);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("bt_object_set_parent refuses a CTF-IR child (one warning)");
}

static void test_put_on_zero(void)
{
	const size_t start = traceref_live_objects();
	struct node *r, *c;
	struct capture cap;
	int w;

	reset_releases();
	r = new_node(0, NULL);
	c = new_node(1, r);
	bt_put(c);
	CHECK_EQ_LONG(count_of(c), 0);
	CHECK_EQ_LONG(count_of(r), 1);

	capture_scope_begin(&cap);
	bt_put(c); /* one put too many */
	w = capture_scope_end(&cap);
	CHECK_EQ_LONG(w, 1);
	CHECK(strstr(cap.text, "bt_put") != NULL);
	CHECK_EQ_LONG(count_of(c), 0);
	CHECK_EQ_LONG(count_of(r), 1);
	CHECK_EQ_LONG(n_released, 0);
	CHECK_EQ_LONG(traceref_live_objects(), start + 2);

	bt_put(r);
	CHECK_EQ_LONG(n_released, 2);
	CHECK_EQ_LONG(released[0] + released[1], 2);
	CHECK(position_of(1) < position_of(0));
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("a put on a count of zero prints one warning and releases nothing");
}

/* Release function that takes and drops references on its own object and on
 * its parent, as a destruction listener might. */
static int release_depth;
static int touching_calls;

static void touching_release(struct bt_object *obj)
{
	struct node *n = (struct node *)obj;
	void *again;

	release_depth++;
	touching_calls++;
	CHECK_EQ_LONG(release_depth, 1);
	again = bt_get(n);
	CHECK(again == NULL || again == n);
	bt_put(n);
	bt_put(bt_get(n));
	if (n->parent) {
		CHECK_EQ_PTR(bt_get(n->parent), n->parent);
		bt_put(n->parent);
	}
	record_release(n);
	release_depth--;
	n->magic = 0;
	free(n);
}

static void test_release_touching_references(void)
{
	const size_t start = traceref_live_objects();
	struct node *root, *a, *b;
	struct capture cap;

	reset_releases();
	touching_calls = 0;
	root = new_node_with(0, NULL, touching_release);
	a = new_node_with(1, root, touching_release);
	b = new_node_with(2, a, touching_release);
	bt_put(b);
	bt_put(a);
	CHECK_EQ_LONG(count_of(root), 1);

	capture_scope_begin(&cap);
	bt_put(root);
	(void)capture_scope_end(&cap);
	CHECK_EQ_LONG(touching_calls, 3);
	CHECK_EQ_LONG(n_released, 3);
	CHECK_EQ_LONG(released[0] + released[1] + released[2], 3);
	CHECK(position_of(2) < position_of(1));
	CHECK(position_of(1) < position_of(0));
	CHECK_EQ_LONG(release_depth, 0);
	CHECK_EQ_LONG(traceref_live_objects(), start);
	CHECK_OK("release functions that get/put their own object and their parent: "
		 "no recursion, each released once, children first");
}

int main(void)
{
	/* Warnings are on (and captured) to check the ones the contract
	 * promises. */
	setenv("TRACEREF_LOG", "warn", 1);

	test_destruction_order();
	test_leaf_keeps_tree();
	test_get_parent();
	test_static();
	test_reparent();
	test_embedded_and_ctf_do_not_mix();
	test_put_on_zero();
	test_release_touching_references();
	CHECK_DONE("bt_embedded");
	return 0;
}
