//! Several threads hammer the Babeltrace model at once:
//!
//! * enumerator threads take stream classes and event classes of one shared
//!   trace and drop them again, so that the 0→1 and 1→0 transitions of the
//!   same children race (through enumeration from a held trace, through the
//!   parent getters, and through bt_get/bt_put of held pointers); some drop
//!   their trace reference while an event class keeps the tree alive, then
//!   climb back to the trace from it;
//! * an adder thread adds new stream classes and event classes while the
//!   others enumerate;
//! * embedded-object threads build C-style objects (a struct whose first
//!   member is a `struct bt_object`, initialised with bt_object_init) under a
//!   shared root with bt_object_set_parent, and take and drop references on
//!   nodes the other thread made.
//!
//! At the end every count is what the holders left (zero, or one for the
//! roots), the census is back to its start once the roots are put, and
//! every release function ran exactly once, children before parents.

mod common;

use common::Rng;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::mem::MaybeUninit;
use std::ptr::addr_of_mut;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use traceref::ffi::bt::*;

const ENUMERATORS: usize = 3;
const EMBEDDERS: usize = 2;
const ITERATIONS: usize = 150_000;
/// Upper bound of the adder's rounds (it stops when the enumerators do).
const ADDS: usize = 3000;
/// Embedded nodes stop being made past this many.
const POOL_MAX: usize = 1500;
const INITIAL_SC: usize = 4;
const INITIAL_EC: usize = 4;
const MAX_NODES: usize = 4096;

/// A C-style object: the library's header first, then the caller's fields.
#[repr(C)]
struct Emb {
    base: bt_object,
    id: usize,
    /// The id of the parent it was finally linked under (usize::MAX: root).
    parent_id: usize,
}

static RELEASED: [AtomicBool; MAX_NODES] = [const { AtomicBool::new(false) }; MAX_NODES];
static RELEASE_LOG: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static RELEASE_ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
static ENUMERATORS_DONE: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn release_emb(obj: *mut bt_object) {
    let e = unsafe { Box::from_raw(obj.cast::<Emb>()) };
    let mut errs = RELEASE_ERRORS.lock().unwrap_or_else(|p| p.into_inner());
    if RELEASED[e.id].swap(true, Ordering::SeqCst) {
        errs.push(format!("node {} released twice", e.id));
    }
    if e.parent_id != usize::MAX && RELEASED[e.parent_id].load(Ordering::SeqCst) {
        errs.push(format!(
            "node {} released after its parent {}",
            e.id, e.parent_id
        ));
    }
    drop(errs);
    RELEASE_LOG
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(e.id);
    drop(e);
}

fn new_emb() -> *mut Emb {
    let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
    assert!(id < MAX_NODES, "too many embedded nodes");
    // As C would: allocate, fill in its own fields, let the library
    // initialise the header.
    let e = Box::into_raw(Box::new(MaybeUninit::<Emb>::uninit())).cast::<Emb>();
    unsafe {
        addr_of_mut!((*e).id).write(id);
        addr_of_mut!((*e).parent_id).write(usize::MAX);
    }
    bt_object_init(e.cast(), Some(release_emb));
    assert_eq!(bt_object_get_ref_count(e.cast()), 1);
    e
}

fn count(p: *mut c_void) -> i64 {
    bt_object_get_ref_count(p) as i64
}

/// Not reclaimed (-1) and not parked for destruction (top bit set).
fn alive(p: *mut c_void) -> bool {
    (0..0x8000_0000).contains(&count(p))
}

#[derive(Clone, Copy)]
struct P(usize);
impl P {
    fn of<T>(p: *mut T) -> P {
        P(p as usize)
    }
    fn get<T>(self) -> *mut T {
        self.0 as *mut T
    }
}

/// Embedded nodes published for every thread: node -> parent.
struct Pool {
    nodes: Vec<usize>,
    parent: HashMap<usize, usize>,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

fn pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    let mut g = POOL.lock().unwrap_or_else(|p| p.into_inner());
    f(g.as_mut().expect("pool set up"))
}

fn name_of(p: *const c_char) -> String {
    assert!(!p.is_null());
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------

/// What an enumerator holds.
#[derive(Clone, Copy)]
enum Held {
    Sc(*mut bt_ctf_stream_class),
    Ec(*mut bt_ctf_event_class),
}

fn enumerator(n: usize, trace: P, seed: u64) {
    let mut rng = Rng::new(seed ^ (0xE0 + n as u64));
    let trace = trace.get::<bt_ctf_trace>();
    // Our own trace reference (the main thread holds one: it is reachable).
    bt_ctf_trace_get(trace);
    let mut have_trace = true;
    let mut held: Vec<Held> = Vec::new();
    let mut last_count = INITIAL_SC as i32;
    for it in 0..ITERATIONS {
        let ctx = format!("seed {seed} enumerator {n} iteration {it}");
        match rng.below(10) {
            0..=3 if have_trace => {
                // Through enumeration from the held trace.
                let nsc = bt_ctf_trace_get_stream_class_count(trace);
                assert!(nsc >= last_count, "{ctx}: stream class count went down");
                last_count = nsc;
                // Mostly the first few, so that threads race on the same
                // children.
                let range = if rng.chance(80) {
                    INITIAL_SC
                } else {
                    nsc as usize
                };
                let sc = bt_ctf_trace_get_stream_class(trace, rng.below(range) as i32);
                assert!(!sc.is_null(), "{ctx}: stream class in range not returned");
                assert!(count(sc.cast()) >= 1, "{ctx}");
                // The main thread's reference and ours.
                assert!(count(trace.cast()) >= 2, "{ctx}");
                let name = name_of(bt_ctf_stream_class_get_name(sc));
                assert!(
                    name.starts_with("sc") || name.starts_with("add"),
                    "{ctx}: {name}"
                );
                let nec = bt_ctf_stream_class_get_event_class_count(sc);
                assert!(nec >= 0, "{ctx}");
                if nec > 0 {
                    let ec =
                        bt_ctf_stream_class_get_event_class(sc, rng.below(nec as usize) as i32);
                    assert!(!ec.is_null(), "{ctx}: event class in range not returned");
                    assert!(count(ec.cast()) >= 1, "{ctx}");
                    assert!(count(sc.cast()) >= 1, "{ctx}");
                    let back = bt_ctf_event_class_get_stream_class(ec);
                    assert_eq!(back, sc, "{ctx}: parent of an enumerated event class");
                    bt_ctf_stream_class_put(back);
                    held.push(Held::Ec(ec));
                }
                if rng.chance(50) {
                    held.push(Held::Sc(sc));
                } else {
                    bt_ctf_stream_class_put(sc);
                }
            }
            4 | 5 if !held.is_empty() => {
                // bt_get / bt_put of a held pointer.
                let h = held[rng.below(held.len())];
                let p: *mut c_void = match h {
                    Held::Sc(p) => p.cast(),
                    Held::Ec(p) => p.cast(),
                };
                assert_eq!(bt_get(p), p, "{ctx}");
                assert!(count(p) >= 2, "{ctx}");
                if rng.chance(50) {
                    held.push(h);
                } else {
                    bt_put(p);
                }
            }
            6 if have_trace && held.iter().any(|h| matches!(h, Held::Ec(_))) => {
                // Drop the trace: a held event class keeps the tree alive.
                bt_ctf_trace_put(trace);
                have_trace = false;
            }
            7 if !have_trace => {
                // Climb back from an event class (or a stream class).
                let h = held[rng.below(held.len())];
                let sc = match h {
                    Held::Ec(ec) => bt_ctf_event_class_get_stream_class(ec),
                    Held::Sc(sc) => {
                        bt_ctf_stream_class_get(sc);
                        sc
                    }
                };
                assert!(!sc.is_null(), "{ctx}");
                let t = bt_ctf_stream_class_get_trace(sc);
                assert_eq!(t, trace, "{ctx}: trace of a stream class");
                bt_ctf_stream_class_put(sc);
                have_trace = true;
            }
            _ if !held.is_empty() => {
                // Drop a held reference (when the trace is not held, keep at
                // least one event class so that the tree stays reachable).
                let i = rng.below(held.len());
                let keeps_tree = have_trace
                    || held
                        .iter()
                        .enumerate()
                        .any(|(k, h)| k != i && matches!(h, Held::Ec(_) | Held::Sc(_)));
                if keeps_tree {
                    match held.swap_remove(i) {
                        Held::Sc(p) => bt_ctf_stream_class_put(p),
                        Held::Ec(p) => bt_put(p.cast()),
                    }
                }
            }
            _ => {}
        }
        while held.len() > 6 {
            match held.swap_remove(rng.below(held.len())) {
                Held::Sc(p) => bt_put(p.cast()),
                Held::Ec(p) => bt_ctf_event_class_put(p),
            }
        }
    }
    // Drop everything, in a random order; the trace (if held) in between.
    if !have_trace {
        let h = held[0];
        let sc = match h {
            Held::Ec(ec) => bt_ctf_event_class_get_stream_class(ec),
            Held::Sc(sc) => {
                bt_ctf_stream_class_get(sc);
                sc
            }
        };
        assert_eq!(bt_ctf_stream_class_get_trace(sc), trace);
        bt_ctf_stream_class_put(sc);
    }
    while !held.is_empty() {
        match held.swap_remove(rng.below(held.len())) {
            Held::Sc(p) => bt_ctf_stream_class_put(p),
            Held::Ec(p) => bt_ctf_event_class_put(p),
        }
    }
    bt_ctf_trace_put(trace);
    ENUMERATORS_DONE.fetch_add(1, Ordering::SeqCst);
}

fn adder(trace: P, seed: u64, added: &AtomicUsize, added_ec: &AtomicUsize) {
    let mut rng = Rng::new(seed ^ 0xADD);
    let trace = trace.get::<bt_ctf_trace>();
    bt_ctf_trace_get(trace);
    for k in 0..ADDS {
        if ENUMERATORS_DONE.load(Ordering::SeqCst) == ENUMERATORS {
            break;
        }
        let ctx = format!("seed {seed} adder {k}");
        let name = CString::new(format!("add{k}")).unwrap();
        let sc = bt_ctf_stream_class_create(name.as_ptr());
        assert!(!sc.is_null());
        let mut ecs = Vec::new();
        for j in 0..rng.below(3) {
            let en = CString::new(format!("e{j}")).unwrap();
            let ec = bt_ctf_event_class_create(en.as_ptr());
            ecs.push(ec);
        }
        let before = rng.chance(50);
        if before {
            for &ec in &ecs {
                assert_eq!(bt_ctf_stream_class_add_event_class(sc, ec), 0, "{ctx}");
            }
        }
        assert_eq!(bt_ctf_trace_add_stream_class(trace, sc), 0, "{ctx}");
        assert_eq!(
            bt_ctf_trace_add_stream_class(trace, sc),
            -1,
            "{ctx}: added twice"
        );
        added.fetch_add(1, Ordering::SeqCst);
        if !before {
            // Added while enumerators may already walk this stream class.
            for &ec in &ecs {
                assert_eq!(bt_ctf_stream_class_add_event_class(sc, ec), 0, "{ctx}");
            }
        }
        added_ec.fetch_add(ecs.len(), Ordering::SeqCst);
        // A second event class of the same name is refused.
        if !ecs.is_empty() {
            let dup = bt_ctf_event_class_create(c"e0".as_ptr());
            assert_eq!(
                bt_ctf_stream_class_add_event_class(sc, dup),
                -1,
                "{ctx}: duplicate"
            );
            bt_ctf_event_class_put(dup);
        }
        // Sometimes add to a stream class others are enumerating.
        if rng.chance(30) {
            let n = bt_ctf_trace_get_stream_class_count(trace);
            let other = bt_ctf_trace_get_stream_class(trace, rng.below(n as usize) as i32);
            let en = CString::new(format!("x{k}")).unwrap();
            let ec = bt_ctf_event_class_create(en.as_ptr());
            assert_eq!(bt_ctf_stream_class_add_event_class(other, ec), 0, "{ctx}");
            added_ec.fetch_add(1, Ordering::SeqCst);
            bt_ctf_event_class_put(ec);
            bt_ctf_stream_class_put(other);
        }
        let mut refs: Vec<*mut c_void> = ecs.iter().map(|&e| e.cast()).collect();
        refs.push(sc.cast());
        while !refs.is_empty() {
            bt_put(refs.swap_remove(rng.below(refs.len())));
        }
    }
    bt_ctf_trace_put(trace);
}

fn embedder(n: usize, root: P, seed: u64) {
    let mut rng = Rng::new(seed ^ (0xE3B + n as u64));
    let root = root.get::<Emb>();
    bt_get(root.cast());
    let mut held: Vec<*mut Emb> = Vec::new();
    let pick_node = |rng: &mut Rng| -> (*mut Emb, usize) {
        pool(|p| {
            let x = p.nodes[rng.below(p.nodes.len())];
            (x as *mut Emb, p.parent[&x])
        })
    };
    for it in 0..ITERATIONS {
        let ctx = format!("seed {seed} embedder {n} iteration {it}");
        match rng.below(8) {
            0 if pool(|p| p.nodes.len()) < POOL_MAX => {
                // A new node under a published node (or the root), perhaps
                // moved under another one before anyone else can see it.
                let e = new_emb();
                let (p1, _) = if rng.chance(20) {
                    (root, 0)
                } else {
                    pick_node(&mut rng)
                };
                bt_get(p1.cast());
                let c1 = count(p1.cast());
                assert!(c1 >= 1, "{ctx}");
                bt_object_set_parent(e.cast(), p1.cast());
                let got = bt_object_get_parent(e.cast());
                assert_eq!(got.cast::<Emb>(), p1, "{ctx}: parent after set_parent");
                bt_put(got.cast());
                let mut parent = p1;
                if rng.chance(30) {
                    let (p2, _) = pick_node(&mut rng);
                    bt_get(p2.cast());
                    bt_object_set_parent(e.cast(), p2.cast());
                    let got = bt_object_get_parent(e.cast());
                    assert_eq!(got.cast::<Emb>(), p2, "{ctx}: parent after re-parenting");
                    bt_put(got.cast());
                    bt_put(p2.cast());
                    parent = p2;
                }
                bt_put(p1.cast());
                unsafe { (*e).parent_id = (*parent).id };
                pool(|p| {
                    p.nodes.push(e as usize);
                    p.parent.insert(e as usize, parent as usize);
                });
                if rng.chance(50) {
                    held.push(e);
                } else {
                    // 1 -> 0: drops its reference on its parent; the node
                    // lives on as long as the root does.
                    bt_put(e.cast());
                }
            }
            1..=4 => {
                // Take a published node (often 0 -> 1, racing the other
                // thread's 1 -> 0), check the chain above it, keep or drop.
                let (x, parent) = pick_node(&mut rng);
                assert_eq!(bt_get(x.cast()), x.cast(), "{ctx}");
                assert!(count(x.cast()) >= 1, "{ctx}");
                let got = bt_object_get_parent(x.cast());
                assert_eq!(got as usize, parent, "{ctx}: parent of a published node");
                assert!(count(got.cast()) >= 1, "{ctx}: parent we hold at 0");
                bt_put(got.cast());
                // Every ancestor is alive and not being destroyed. (Its count
                // may read 0 for a moment: another thread's 0 -> 1 on a node
                // below it may not have reached it yet; only the final counts
                // are exact.)
                let mut a = parent;
                while a != root as usize {
                    assert!(
                        alive(a as *mut c_void),
                        "{ctx}: ancestor reclaimed or dying"
                    );
                    a = pool(|p| p.parent[&a]);
                }
                assert!(alive(root.cast()), "{ctx}: root reclaimed or dying");
                if rng.chance(50) {
                    held.push(x);
                } else {
                    bt_put(x.cast());
                }
            }
            5 if !held.is_empty() => {
                let x = held[rng.below(held.len())];
                bt_get(x.cast());
                held.push(x);
            }
            6 => {
                // A cycle is refused: the root under one of its descendants.
                let (x, _) = pick_node(&mut rng);
                bt_get(x.cast());
                bt_object_set_parent(root.cast(), x.cast());
                assert!(
                    bt_object_get_parent(root.cast()).is_null(),
                    "{ctx}: cycle made"
                );
                bt_put(x.cast());
            }
            _ if !held.is_empty() => {
                bt_put(held.swap_remove(rng.below(held.len())).cast());
            }
            _ => {}
        }
        while held.len() > 8 {
            bt_put(held.swap_remove(rng.below(held.len())).cast());
        }
    }
    while let Some(x) = held.pop() {
        bt_put(x.cast());
    }
    bt_put(root.cast());
}

#[test]
fn threads_race_transitions_adds_and_embedded_objects() {
    common::quiet();
    let seed = common::seed("bt_concurrency");
    let base = traceref_live_objects();

    // The shared CTF-IR tree: only the trace is held.
    let trace = bt_ctf_trace_create();
    for i in 0..INITIAL_SC {
        let name = CString::new(format!("sc{i}")).unwrap();
        let sc = bt_ctf_stream_class_create(name.as_ptr());
        for j in 0..INITIAL_EC {
            let en = CString::new(format!("ec{i}_{j}")).unwrap();
            let ec = bt_ctf_event_class_create(en.as_ptr());
            assert_eq!(bt_ctf_stream_class_add_event_class(sc, ec), 0);
            bt_ctf_event_class_put(ec);
        }
        assert_eq!(bt_ctf_trace_add_stream_class(trace, sc), 0);
        bt_ctf_stream_class_put(sc);
    }
    assert_eq!(count(trace.cast()), 1);

    // The shared embedded tree: a root and a first level.
    let root = new_emb();
    *POOL.lock().unwrap() = Some(Pool {
        nodes: Vec::new(),
        parent: HashMap::new(),
    });
    for _ in 0..4 {
        let e = new_emb();
        bt_object_set_parent(e.cast(), root.cast());
        unsafe { (*e).parent_id = (*root).id };
        pool(|p| {
            p.nodes.push(e as usize);
            p.parent.insert(e as usize, root as usize);
        });
        bt_put(e.cast());
    }
    assert_eq!(count(root.cast()), 1);

    let added = AtomicUsize::new(0);
    let added_ec = AtomicUsize::new(0);
    let (tp, rp) = (P::of(trace), P::of(root));
    thread::scope(|s| {
        let mut hs = Vec::new();
        for n in 0..ENUMERATORS {
            hs.push(s.spawn(move || enumerator(n, tp, seed)));
        }
        hs.push(s.spawn(|| adder(tp, seed, &added, &added_ec)));
        for n in 0..EMBEDDERS {
            hs.push(s.spawn(move || embedder(n, rp, seed)));
        }
        let mut failed = None;
        for h in hs {
            if let Err(e) = h.join() {
                failed.get_or_insert(e);
            }
        }
        if let Some(e) = failed {
            eprintln!("bt_concurrency: failed with seed {seed}");
            std::panic::resume_unwind(e);
        }
    });

    // Every thread dropped what it held: only the main thread's roots.
    let added = added.load(Ordering::SeqCst);
    let added_ec = added_ec.load(Ordering::SeqCst);
    assert_eq!(count(trace.cast()), 1, "seed {seed}: trace count");
    let nsc = bt_ctf_trace_get_stream_class_count(trace);
    assert_eq!(nsc as usize, INITIAL_SC + added, "seed {seed}");
    let mut nec_total = 0;
    for i in 0..nsc {
        let sc = bt_ctf_trace_get_stream_class(trace, i);
        assert_eq!(
            count(sc.cast()),
            1,
            "seed {seed}: stream class {i} left held"
        );
        assert_eq!(count(trace.cast()), 2, "seed {seed}");
        let nec = bt_ctf_stream_class_get_event_class_count(sc);
        for j in 0..nec {
            let ec = bt_ctf_stream_class_get_event_class(sc, j);
            assert_eq!(
                count(ec.cast()),
                1,
                "seed {seed}: event class {i}/{j} left held"
            );
            assert_eq!(count(sc.cast()), 2, "seed {seed}");
            bt_ctf_event_class_put(ec);
        }
        nec_total += nec as usize;
        bt_ctf_stream_class_put(sc);
        assert_eq!(count(trace.cast()), 1, "seed {seed}");
    }
    assert_eq!(nec_total, INITIAL_SC * INITIAL_EC + added_ec, "seed {seed}");

    assert_eq!(count(root.cast()), 1, "seed {seed}: root count");
    let nodes = pool(|p| p.nodes.clone());
    for &x in &nodes {
        assert_eq!(
            count(x as *mut c_void),
            0,
            "seed {seed}: embedded node left held"
        );
    }
    let ctf_objects = 1 + INITIAL_SC + added + nec_total;
    let emb_objects = 1 + nodes.len();
    assert_eq!(
        traceref_live_objects() - base,
        ctf_objects + emb_objects,
        "seed {seed}: census before the final puts"
    );
    assert!(
        RELEASE_LOG.lock().unwrap().is_empty(),
        "seed {seed}: early release"
    );
    // Who is under whom, read while the nodes are alive.
    let root_id = unsafe { (*root).id };
    let links: Vec<(usize, usize)> = nodes
        .iter()
        .map(|&x| unsafe { ((*(x as *mut Emb)).id, (*(x as *mut Emb)).parent_id) })
        .collect();

    bt_ctf_trace_put(trace);
    assert_eq!(traceref_live_objects() - base, emb_objects, "seed {seed}");
    bt_put(root.cast());
    assert_eq!(
        traceref_live_objects(),
        base,
        "seed {seed}: census after the final puts"
    );

    let errors = RELEASE_ERRORS.lock().unwrap().clone();
    assert!(errors.is_empty(), "seed {seed}: {errors:#?}");
    let log = RELEASE_LOG.lock().unwrap().clone();
    assert_eq!(log.len(), emb_objects, "seed {seed}: release count");
    let mut pos = vec![usize::MAX; NEXT_ID.load(Ordering::SeqCst)];
    for (k, &id) in log.iter().enumerate() {
        assert_eq!(pos[id], usize::MAX, "seed {seed}: node {id} released twice");
        pos[id] = k;
    }
    assert_eq!(
        pos[root_id],
        log.len() - 1,
        "seed {seed}: root not released last"
    );
    for &(id, parent) in &links {
        assert!(
            pos[id] != usize::MAX,
            "seed {seed}: node {id} never released"
        );
        assert!(
            pos[id] < pos[parent],
            "seed {seed}: node {id} released after its parent {parent}"
        );
    }
    println!(
        "bt_concurrency: {} stream classes added, {} event classes added, {} embedded nodes",
        added,
        added_ec,
        nodes.len()
    );
}
