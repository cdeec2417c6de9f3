//! The Babeltrace object (`bt::object`: `get`, `put`, `link` and the
//! destruction) under loom.
//!
//! Each node is a `BtObject` at the start of a `#[repr(C)]` struct, as in C.
//! Its release function records the release in the shared state and
//! overwrites the node's contents (a loom `UnsafeCell`, as a free would);
//! the memory itself is freed when the model ends, so that a release that
//! came too early shows up as a failed check or a loom causality violation
//! rather than as a use after free of the model's own memory. Threads that
//! hold references read the contents of every node they can reach and check
//! that none was released.
//!
//! The children list is a `parking_lot::Mutex`: loom does not see it, which
//! is sound here because it is never contended inside a model (it is taken
//! by `link`, under the forest's shape lock, which loom does see, and by the
//! destruction, which runs once, after every other thread has dropped its
//! last reference to the tree).

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use traceref_loom_tests::bt::object::{get, get_parent, link, put, BtObject, LinkError};
use traceref_loom_tests::core::kind::Kind;
use traceref_loom_tests::ffi::bt::bt_object;
use traceref_loom_tests::model;

const LIVE: u32 = 0x11fe;
const FREED: u32 = 0xdead;
const NODES: usize = 3;

/// What the release functions record.
struct Shared {
    /// Releases per node.
    releases: [AtomicUsize; NODES],
    /// Position of each node's (last) release in the destruction order.
    order: [AtomicUsize; NODES],
    next: AtomicUsize,
}

impl Shared {
    /// Each node was released exactly once, every child before its parent
    /// (`parents[i]` is the parent of node `i`).
    fn check_destroyed(&self, parents: &[Option<usize>]) {
        for (id, parent) in parents.iter().enumerate() {
            let n = self.releases[id].load(SeqCst);
            assert_eq!(n, 1, "node {id} released {n} times");
            if let Some(p) = *parent {
                assert!(
                    self.order[id].load(SeqCst) < self.order[p].load(SeqCst),
                    "node {id} released after its parent {p}"
                );
            }
        }
    }
}

#[repr(C)]
struct Node {
    obj: BtObject,
    id: usize,
    data: UnsafeCell<u32>,
    shared: Arc<Shared>,
}

thread_local! {
    /// A failed check inside a release function (which cannot unwind: it is
    /// `extern "C"`), raised again when the put that ran it returns. loom
    /// runs all the threads of a model on the test's own thread.
    static RELEASE_PANIC: RefCell<Option<Box<dyn Any + Send>>> = const { RefCell::new(None) };
}

unsafe extern "C" fn release(p: *mut bt_object) {
    // SAFETY: every counted object of these models is the head of a `Node`.
    let node = unsafe { &*p.cast::<Node>() };
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        node.data.with_mut(|d| unsafe { *d = FREED });
        let shared = &node.shared;
        shared.releases[node.id].fetch_add(1, SeqCst);
        shared.order[node.id].store(shared.next.fetch_add(1, SeqCst), SeqCst);
    }));
    if let Err(e) = r {
        RELEASE_PANIC.with(|p| {
            p.borrow_mut().get_or_insert(e);
        });
    }
}

/// A pointer to a node that threads share (the models' trees).
#[derive(Clone, Copy)]
struct NodeRef(NonNull<Node>);
// SAFETY: nodes are only touched under a reference, or by the destruction.
unsafe impl Send for NodeRef {}

impl NodeRef {
    fn new(id: usize, shared: &Arc<Shared>) -> Self {
        let node = Box::new(Node {
            obj: BtObject::new(Kind::BtObject, Some(release)),
            id,
            data: UnsafeCell::new(LIVE),
            shared: shared.clone(),
        });
        NodeRef(NonNull::from(Box::leak(node)))
    }

    fn obj(&self) -> &BtObject {
        // SAFETY: freed only by `free`, at the end of a model.
        unsafe { &self.0.as_ref().obj }
    }

    fn get(&self) {
        get("bt_get", self.obj());
    }

    /// # Safety
    /// The caller owns the reference it drops.
    unsafe fn put(&self) {
        unsafe { put("bt_put", self.obj()) };
        let failed = RELEASE_PANIC.with(|p| p.borrow_mut().take());
        if let Some(e) = failed {
            panic::resume_unwind(e);
        }
    }

    /// Check, under a reference that keeps this node alive, that it was not
    /// released: its contents are intact and its release did not run.
    fn check_live(&self) {
        // SAFETY: as in `obj`.
        let node = unsafe { self.0.as_ref() };
        node.data
            .with(|d| assert_eq!(unsafe { *d }, LIVE, "node {} freed", node.id));
        assert_eq!(
            node.shared.releases[node.id].load(SeqCst),
            0,
            "node {} released under a reference",
            node.id
        );
    }

    /// Free the node's memory once the model is over.
    ///
    /// # Safety
    /// No thread touches the node any more.
    unsafe fn free(self) {
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

fn shared() -> Arc<Shared> {
    Arc::new(Shared {
        releases: Default::default(),
        order: Default::default(),
        next: AtomicUsize::new(0),
    })
}

fn link_under(parent: &NodeRef, child: &NodeRef) {
    link(
        "bt_object_set_parent",
        parent.obj(),
        child.obj(),
        false,
        |_| Ok::<(), ()>(()),
    )
    .unwrap_or_else(|_| panic!("link refused"));
}

/// A root and one child. The root's owner drops it (its last reference)
/// while two threads, each holding a reference on the root, take and drop a
/// reference on the child: the child's 0→1 transitions (each taking a
/// reference on the root) and 1→0 transitions (each dropping it) race each
/// other and the root's last put. While a thread holds a reference, neither
/// node is released; at the end, each was released exactly once (one
/// destruction, children first).
#[test]
fn child_transitions_race_root_put() {
    model("child_transitions_race_root_put", 3, || {
        let s = shared();
        let root = NodeRef::new(0, &s);
        let child = NodeRef::new(1, &s);
        link_under(&root, &child);
        // The child's creator lets it go: the child is at zero, kept by its
        // parent, and holds nothing on it.
        unsafe { child.put() };
        assert_eq!(child.obj().ref_count(), 0);
        assert_eq!(root.obj().ref_count(), 1);

        let users: Vec<_> = (0..2)
            .map(|_| {
                root.get();
                thread::spawn(move || {
                    child.get();
                    child.check_live();
                    root.check_live();
                    unsafe { child.put() };
                    root.check_live();
                    unsafe { root.put() };
                })
            })
            .collect();
        unsafe { root.put() };
        for u in users {
            u.join().unwrap();
        }
        s.check_destroyed(&[None, Some(0)]);
        unsafe {
            child.free();
            root.free();
        }
    });
}

/// A chain: root, child, grandchild, both children at zero. Two threads
/// each hold a reference on the root. One takes a reference on the
/// grandchild (0→1 up the chain: grandchild, child, root), drops its root
/// reference, then drops the grandchild (1→0 down the chain). The other
/// takes and drops a reference on the child directly, racing the first
/// thread's transitions of the child. The root's owner drops it meanwhile:
/// whichever put is the root's last destroys the tree, once, after every
/// reference is gone, children first.
#[test]
fn chain_transitions_race_root_put() {
    model("chain_transitions_race_root_put", 3, || {
        let s = shared();
        let root = NodeRef::new(0, &s);
        let child = NodeRef::new(1, &s);
        let grandchild = NodeRef::new(2, &s);
        link_under(&root, &child);
        link_under(&child, &grandchild);
        unsafe {
            grandchild.put();
            child.put();
        }
        assert_eq!(root.obj().ref_count(), 1);

        root.get();
        let deep = thread::spawn(move || {
            grandchild.get();
            unsafe { root.put() };
            for n in [grandchild, child, root] {
                n.check_live();
            }
            unsafe { grandchild.put() };
        });
        root.get();
        let direct = thread::spawn(move || {
            child.get();
            child.check_live();
            root.check_live();
            unsafe {
                child.put();
                root.put();
            }
        });
        unsafe { root.put() };
        deep.join().unwrap();
        direct.join().unwrap();
        s.check_destroyed(&[None, Some(0), Some(1)]);
        unsafe {
            grandchild.free();
            child.free();
            root.free();
        }
    });
}

fn move_under(parent: &NodeRef, child: &NodeRef) -> Result<(), LinkError> {
    link(
        "bt_object_set_parent",
        parent.obj(),
        child.obj(),
        true,
        |_| Ok::<(), ()>(()),
    )
    .map_err(|e| e.unwrap_or_else(|()| unreachable!()))
}

/// Two roots, A and B; one thread links A under B while another links B
/// under A, each holding a reference on both. Exactly one link is accepted
/// (never a cycle), and when both are put, both are released once.
#[test]
fn crossed_links_never_make_a_cycle() {
    model("crossed_links_never_make_a_cycle", 3, || {
        let s = shared();
        let a = NodeRef::new(0, &s);
        let b = NodeRef::new(1, &s);
        let linkers: Vec<_> = [(a, b), (b, a)]
            .into_iter()
            .map(|(child, parent)| {
                child.get();
                parent.get();
                thread::spawn(move || {
                    let r = move_under(&parent, &child);
                    unsafe {
                        child.put();
                        parent.put();
                    }
                    r.is_ok()
                })
            })
            .collect();
        let accepted: Vec<bool> = linkers.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(accepted.iter().filter(|&&ok| ok).count(), 1, "{accepted:?}");
        let parents = if accepted[0] {
            [Some(1), None]
        } else {
            [None, Some(0)]
        };
        unsafe {
            a.put();
            b.put();
        }
        s.check_destroyed(&parents);
        unsafe {
            a.free();
            b.free();
        }
    });
}

/// C under P1, P1 held only by C. One thread holds C and takes C's parent
/// (then puts it); another holds C and P2 and moves C under P2, its put of
/// P1 dropping P1's last reference. The parent handed out is P1 or P2, alive
/// while held; P1 is released exactly once, after the getter let it go.
#[test]
fn move_races_get_parent() {
    model("move_races_get_parent", 3, || {
        let s = shared();
        let p1 = NodeRef::new(0, &s);
        let p2 = NodeRef::new(1, &s);
        let c = NodeRef::new(2, &s);
        link_under(&p1, &c);
        unsafe { p1.put() };
        c.get();
        let getter = thread::spawn(move || {
            let p = get_parent("bt_object_get_parent", c.obj());
            let held = [p1, p2]
                .into_iter()
                .find(|n| std::ptr::eq(n.obj(), p))
                .expect("the parent is P1 or P2");
            held.check_live();
            unsafe {
                held.put();
                c.put();
            }
        });
        move_under(&p2, &c).expect("move accepted");
        getter.join().unwrap();
        assert!(std::ptr::eq(
            get_parent("bt_object_get_parent", c.obj()),
            p2.obj()
        ));
        unsafe {
            p2.put(); // the getter's reference just taken
            p2.put();
            c.put();
        }
        s.check_destroyed(&[None, None, Some(1)]);
        unsafe {
            c.free();
            p2.free();
            p1.free();
        }
    });
}
