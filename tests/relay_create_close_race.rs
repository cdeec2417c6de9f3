//! A stream created while another thread closes its session must end up
//! either refused or closed, and in both cases absent from the stream table
//! once the close is over: its handle is free again.
//!
//! Pairs of threads run at once: in each pair, one thread creates streams on
//! a session while the other closes that session at a random moment. The
//! streams used for the check carry payloads whose destructor is slow, so
//! that garbage collection, which runs on any thread entering a read-side
//! section, now and then pauses a creation anywhere.
//!
//! The check never touches a stream pointer that the close may have
//! released: after each round it only creates new streams with the handles
//! handed out during the round (a handle still in the table refuses the
//! creation). Any refusal means the table kept an entry for a stream that
//! its session's close had already closed, released and retired: an entry
//! that every later lookup of that handle dereferences after it is freed.
//!
//! `TRACEREF_SEED=<n>` replays the random pauses; the seed is printed.

mod common;

use common::Rng;
use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use traceref::ffi::bt::traceref_live_objects;
use traceref::ffi::relay::*;

const PAIRS: usize = 2;
const ROUNDS: usize = 600;
const STREAMS: usize = 24;

static ATTACHED: AtomicUsize = AtomicUsize::new(0);
static DESTROYED: AtomicUsize = AtomicUsize::new(0);

/// A slow payload destructor (allowed: it does not call into the library).
/// Reclamation runs it on whichever thread collects garbage, which can be
/// any thread entering a read-side section, a creating thread included:
/// it gives creations pauses in odd places.
unsafe extern "C" fn slow_destroy(_data: *mut c_void) {
    thread::sleep(std::time::Duration::from_micros(20));
    DESTROYED.fetch_add(1, Ordering::SeqCst);
}

struct Pair {
    barrier: Barrier,
    session: AtomicUsize,
}

/// Closes each round's session at a random moment.
fn closer(pair: &Pair, seed: u64) {
    let mut rng = Rng::new(seed);
    for _ in 0..ROUNDS {
        pair.barrier.wait();
        let s = pair.session.load(Ordering::SeqCst) as *mut relay_session;
        for _ in 0..rng.below(40) {
            thread::yield_now();
        }
        let rc = relay_session_close(s);
        pair.barrier.wait();
        assert_eq!(rc, 0, "seed {seed}: session close refused");
    }
}

/// Creates streams on the session being closed; after each round, checks
/// that every handle handed out is free again. Returns the rounds where the
/// close landed between two creations.
fn maker(
    p: usize,
    pair: &Pair,
    seed: u64,
    stale: &Mutex<Vec<(usize, usize, u64)>>,
    stop: &AtomicBool,
) -> usize {
    let mut rng = Rng::new(seed);
    let name = CString::new("race").unwrap();
    let path = CString::new("race/ust").unwrap();
    let chan = CString::new("chan").unwrap();
    let mut next = (p as u64 + 1) << 40;
    let mut raced = 0;
    for round in 0..ROUNDS {
        let s = relay_session_create(name.as_ptr(), name.as_ptr(), 0, false, 2, 11);
        if stop.load(Ordering::SeqCst) {
            // Another pair found the fault: let the closer finish its
            // rounds on sessions nobody creates in.
            pair.session.store(s as usize, Ordering::SeqCst);
            pair.barrier.wait();
            pair.barrier.wait();
            continue;
        }
        let t = relay_ctf_trace_get_by_path_or_create(s, path.as_ptr());
        assert!(!t.is_null());
        // The owner reference goes to the closer; the trace keeps the
        // session alive for us.
        pair.session.store(s as usize, Ordering::SeqCst);
        pair.barrier.wait();
        let mut made = Vec::new();
        let mut refused = false;
        for _ in 0..STREAMS {
            let h = next;
            next += 1;
            // The returned pointer is never used: the close may already
            // have put its only reference.
            if relay_stream_create(t, h, path.as_ptr(), chan.as_ptr(), 0, 0).is_null() {
                refused = true;
                break;
            }
            made.push(h);
            if rng.chance(20) {
                thread::yield_now();
            }
        }
        pair.barrier.wait();
        if refused && !made.is_empty() {
            raced += 1;
        }
        assert!(relay_session_is_closed(s));

        // Every handle handed out this round is free again.
        let s2 = relay_session_create(name.as_ptr(), name.as_ptr(), 0, false, 2, 11);
        let t2 = relay_ctf_trace_get_by_path_or_create(s2, path.as_ptr());
        for &h in &made {
            let q = relay_stream_create(t2, h, path.as_ptr(), chan.as_ptr(), 0, 0);
            if q.is_null() {
                stale.lock().unwrap().push((p, round, h));
                stop.store(true, Ordering::SeqCst);
            } else {
                let rc = traceref_payload_set(q.cast(), std::ptr::null_mut(), Some(slow_destroy));
                assert_eq!(rc, 0);
                ATTACHED.fetch_add(1, Ordering::SeqCst);
                assert_eq!(relay_stream_close(q), 0);
            }
        }
        relay_ctf_trace_put(t2);
        assert_eq!(relay_session_close(s2), 0);
        relay_ctf_trace_put(t);
    }
    raced
}

#[test]
fn streams_created_during_a_session_close_leave_the_stream_table() {
    common::quiet();
    let seed = common::seed("relay_create_close_race");
    let base = traceref_live_objects();
    // (pair, round, handle) of every handle still taken after its close.
    let stale = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let pairs: Vec<Pair> = (0..PAIRS)
        .map(|_| Pair {
            barrier: Barrier::new(2),
            session: AtomicUsize::new(0),
        })
        .collect();
    let raced: usize = thread::scope(|sc| {
        let mut makers = Vec::new();
        for (p, pair) in pairs.iter().enumerate() {
            let (stale, stop) = (&stale, &stop);
            let s = seed ^ (p as u64 + 1);
            sc.spawn(move || closer(pair, s ^ 0xC105E));
            makers.push(sc.spawn(move || maker(p, pair, s ^ 0x2ACE, stale, stop)));
        }
        makers.into_iter().map(|h| h.join().unwrap()).sum()
    });

    let stale = stale.into_inner().unwrap();
    println!("relay_create_close_race: {raced} rounds where the close landed between creations");
    assert!(
        stale.is_empty(),
        "seed {seed}: after the session's close, the stream table still holds streams \
         created during the close (pair, round, handle): {stale:x?}"
    );
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(traceref_live_objects(), base, "seed {seed}: census");
    assert_eq!(
        DESTROYED.load(Ordering::SeqCst),
        ATTACHED.load(Ordering::SeqCst)
    );
}
