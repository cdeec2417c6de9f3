//! Property test of the Babeltrace model against a reference model of who
//! holds what: random sequences of creates, adds, gets (direct, through
//! enumeration and through parent getters) and puts; after every step each
//! live object's count and the census must match the model.

mod common;

use common::Rng;
use std::ffi::{c_void, CString};
use traceref::ffi::bt::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum K {
    Trace,
    Sc,
    Ec,
}

struct Node {
    kind: K,
    ptr: *mut c_void,
    parent: Option<usize>,
    children: Vec<usize>,
    user: u32,
    alive: bool,
}

struct Model {
    nodes: Vec<Node>,
}

impl Model {
    /// The count the model predicts: the user's references plus one per child
    /// whose own count is above zero.
    fn count(&self, i: usize) -> u32 {
        let n = &self.nodes[i];
        n.user + n.children.iter().filter(|&&c| self.count(c) > 0).count() as u32
    }
    fn root(&self, mut i: usize) -> usize {
        while let Some(p) = self.nodes[i].parent {
            i = p;
        }
        i
    }
    fn kill_tree(&mut self, i: usize) {
        self.nodes[i].alive = false;
        for c in self.nodes[i].children.clone() {
            self.kill_tree(c);
        }
    }
    fn held(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && self.nodes[i].user > 0)
            .collect()
    }
    fn live(&self) -> usize {
        self.nodes.iter().filter(|n| n.alive).count()
    }
}

fn run(seed: u64, steps: usize, census: bool) {
    let mut rng = Rng::new(seed);
    let base = traceref_live_objects();
    let mut m = Model { nodes: Vec::new() };
    let mut names = 0u32;
    for step in 0..steps {
        let held = m.held();
        let op = rng.below(if held.is_empty() { 1 } else { 8 });
        match op {
            0 => {
                // Create a trace, stream class or event class.
                let kind = [K::Trace, K::Sc, K::Ec][rng.below(3)];
                names += 1;
                let name = CString::new(format!("n{names}")).unwrap();
                let ptr: *mut c_void = match kind {
                    K::Trace => bt_ctf_trace_create().cast(),
                    K::Sc => bt_ctf_stream_class_create(name.as_ptr()).cast(),
                    K::Ec => bt_ctf_event_class_create(name.as_ptr()).cast(),
                };
                assert!(!ptr.is_null());
                m.nodes.push(Node {
                    kind,
                    ptr,
                    parent: None,
                    children: vec![],
                    user: 1,
                    alive: true,
                });
            }
            1 | 2 => {
                // Put a held reference.
                let i = held[rng.below(held.len())];
                let r = m.root(i);
                m.nodes[i].user -= 1;
                bt_put(m.nodes[i].ptr);
                if m.count(r) == 0 {
                    m.kill_tree(r);
                }
            }
            3 => {
                let i = held[rng.below(held.len())];
                assert_eq!(bt_get(m.nodes[i].ptr), m.nodes[i].ptr);
                m.nodes[i].user += 1;
            }
            4 => {
                // Enumerate a child of a held node.
                let i = held[rng.below(held.len())];
                let n = m.nodes[i].children.len();
                let (cnt, got) = match m.nodes[i].kind {
                    K::Trace => {
                        let t = m.nodes[i].ptr.cast();
                        let idx = rng.below(n + 1) as i32;
                        (
                            bt_ctf_trace_get_stream_class_count(t),
                            (idx, bt_ctf_trace_get_stream_class(t, idx).cast::<c_void>()),
                        )
                    }
                    K::Sc => {
                        let s = m.nodes[i].ptr.cast();
                        let idx = rng.below(n + 1) as i32;
                        (
                            bt_ctf_stream_class_get_event_class_count(s),
                            (
                                idx,
                                bt_ctf_stream_class_get_event_class(s, idx).cast::<c_void>(),
                            ),
                        )
                    }
                    K::Ec => continue,
                };
                assert_eq!(cnt as usize, n);
                let (idx, p) = got;
                if (idx as usize) < n {
                    let c = m.nodes[i].children[idx as usize];
                    assert_eq!(p, m.nodes[c].ptr, "seed {seed} step {step}: child order");
                    m.nodes[c].user += 1;
                } else {
                    assert!(p.is_null());
                }
            }
            5 => {
                // Parent getter of a held node.
                let i = held[rng.below(held.len())];
                let p: *mut c_void = match m.nodes[i].kind {
                    K::Trace => continue,
                    K::Sc => bt_ctf_stream_class_get_trace(m.nodes[i].ptr.cast()).cast(),
                    K::Ec => bt_ctf_event_class_get_stream_class(m.nodes[i].ptr.cast()).cast(),
                };
                match m.nodes[i].parent {
                    Some(pi) => {
                        assert_eq!(p, m.nodes[pi].ptr);
                        m.nodes[pi].user += 1;
                    }
                    None => assert!(p.is_null()),
                }
            }
            _ => {
                // Add a held child to a held container of the right kind.
                let c = held[rng.below(held.len())];
                let p = held[rng.below(held.len())];
                let ok_kinds = matches!(
                    (m.nodes[p].kind, m.nodes[c].kind),
                    (K::Trace, K::Sc) | (K::Sc, K::Ec)
                );
                let rc = match m.nodes[c].kind {
                    K::Sc => {
                        bt_ctf_trace_add_stream_class(m.nodes[p].ptr.cast(), m.nodes[c].ptr.cast())
                    }
                    K::Ec => bt_ctf_stream_class_add_event_class(
                        m.nodes[p].ptr.cast(),
                        m.nodes[c].ptr.cast(),
                    ),
                    // A trace is never a child: passed as an event class, it is refused.
                    K::Trace => bt_ctf_stream_class_add_event_class(
                        m.nodes[p].ptr.cast(),
                        m.nodes[c].ptr.cast(),
                    ),
                };
                let expect_ok = ok_kinds && m.nodes[c].parent.is_none();
                if expect_ok {
                    assert_eq!(rc, 0, "seed {seed} step {step}: add refused");
                    m.nodes[c].parent = Some(p);
                    m.nodes[p].children.push(c);
                } else {
                    assert!(rc < 0, "seed {seed} step {step}: bad add accepted");
                }
            }
        }
        for (i, n) in m.nodes.iter().enumerate() {
            if n.alive {
                assert_eq!(
                    bt_object_get_ref_count(n.ptr) as u32,
                    m.count(i),
                    "seed {seed} step {step}: count of node {i} ({:?})",
                    n.kind
                );
            }
        }
        if census {
            assert_eq!(
                traceref_live_objects() - base,
                m.live(),
                "seed {seed} step {step}: census"
            );
        }
    }
    // Drop everything still held.
    while let Some(&i) = m.held().first() {
        let r = m.root(i);
        m.nodes[i].user -= 1;
        bt_put(m.nodes[i].ptr);
        if m.count(r) == 0 {
            m.kill_tree(r);
        }
    }
    assert_eq!(m.live(), 0);
    if census {
        assert_eq!(
            traceref_live_objects(),
            base,
            "seed {seed}: census after cleanup"
        );
    }
}

/// The census is process-wide: the tests of this file run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn random_sequences_match_the_reference_model() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::quiet();
    for seed in 1..=300 {
        run(seed, 200, true);
    }
}

/// Several threads, each running its own sequences on its own trees at the
/// same time: every count still matches each thread's model after every
/// step, and the census is back to its start when all are done.
#[test]
fn concurrent_sequences_match_their_models() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::quiet();
    let base = traceref_live_objects();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                for seed in 0..40 {
                    run(1000 * (t + 1) + seed, 200, false);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a model thread failed");
    }
    assert_eq!(traceref_live_objects(), base, "census after all threads");
}
