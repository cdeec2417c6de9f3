//! Every misuse the C boundary detects prints exactly one line naming the
//! function, the object's kind and its id (or address), and changes nothing
//! else. The lines are captured per thread (`diag::capture`).

use super::bt::*;
use super::relay::*;
use crate::core::diag::capture;
use crate::core::refcount::MAX;
use crate::relay::object::Head;
use std::ffi::CString;
use std::ptr;

/// Run `f`; exactly one diagnostic line must come out, containing every
/// string of `needles`. Returns the line.
fn one_line(needles: &[&str], f: impl FnOnce()) -> String {
    let lines = capture(f);
    assert_eq!(lines.len(), 1, "expected one line, got {lines:?}");
    for n in needles {
        assert!(lines[0].contains(n), "{:?} lacks {:?}", lines[0], n);
    }
    lines[0].clone()
}

fn silent(f: impl FnOnce()) {
    let lines = capture(f);
    assert!(lines.is_empty(), "expected no line, got {lines:?}");
}

fn session(name: &str) -> *mut relay_session {
    let n = CString::new(name).unwrap();
    let s = relay_session_create(n.as_ptr(), c"host".as_ptr(), 0, false, 2, 11);
    assert!(!s.is_null());
    s
}

fn head<'a, T>(p: *mut T) -> &'a Head {
    // SAFETY: every refcounted relay object starts with its `Head`; the
    // tests pass live objects only.
    unsafe { &*p.cast::<Head>() }
}

#[test]
fn relay_count_overflow_saturates_with_one_line() {
    let s = session("saturated");
    let id = format!("session {}", relay_session_get_id(s));
    head(s).count_for_test().set_refs_for_test(MAX + 1);
    one_line(&["relay_session_get:", &id, "overflow"], || {
        assert!(relay_session_get(s))
    });
    // Saturated: later gets and puts move nothing and say nothing more.
    silent(|| {
        assert!(relay_session_get(s));
        relay_session_put(s);
        relay_session_put(s);
    });
    assert!(relay_session_get_ref_count(s) > MAX as _);
    // Put it back to one reference so that the test leaks nothing.
    head(s).count_for_test().set_refs_for_test(1);
    silent(|| assert_eq!(relay_session_close(s), 0));
}

#[test]
fn bt_count_overflow_saturates_with_one_line() {
    let t = bt_ctf_trace_create();
    let addr = format!("trace {:p}", t);
    // SAFETY: a live trace; its head is a `BtObject`.
    let obj = unsafe { &*t.cast::<crate::bt::object::BtObject>() };
    obj.count_for_test().set_for_test(MAX);
    one_line(&["bt_get:", &addr, "overflow"], || {
        assert_eq!(bt_get(t.cast()), t.cast())
    });
    silent(|| bt_put(t.cast()));
    obj.count_for_test().set_for_test(1);
    silent(|| bt_put(t.cast()));
}

#[test]
fn relay_get_and_put_at_zero_one_line_each() {
    let s = session("at-zero");
    let sid = relay_session_get_id(s);
    let id = format!("session {sid}");
    traceref_read_lock();
    let found = relay_session_get_by_id(sid);
    assert_eq!(found, s);
    silent(|| {
        assert_eq!(relay_session_close(s), 0);
        relay_session_put(found);
    });
    assert_eq!(relay_session_get_ref_count(s), 0);
    // A lookup racing the last put is refused silently ...
    silent(|| assert!(relay_session_get_by_id(sid).is_null()));
    // ... a direct get or put at zero is a caller's bug: one line each.
    one_line(&["relay_session_get:", &id, "count of zero"], || {
        assert!(!relay_session_get(s))
    });
    one_line(&["relay_session_put:", &id, "count of zero"], || {
        relay_session_put(s)
    });
    assert_eq!(relay_session_get_ref_count(s), 0);
    traceref_read_unlock();
    assert_eq!(traceref_reclaim_barrier(), 0);
}

#[test]
fn bt_put_at_zero_one_line() {
    let t = bt_ctf_trace_create();
    let sc = bt_ctf_stream_class_create(c"sc".as_ptr());
    assert_eq!(bt_ctf_trace_add_stream_class(t, sc), 0);
    // The trace's claim keeps the stream class alive at count 0.
    silent(|| bt_put(sc.cast()));
    assert_eq!(bt_object_get_ref_count(sc.cast()), 0);
    let addr = format!("stream class {:p}", sc);
    one_line(&["bt_put:", &addr, "count of zero"], || bt_put(sc.cast()));
    assert_eq!(bt_object_get_ref_count(sc.cast()), 0);
    assert_eq!(bt_object_get_ref_count(t.cast()), 1);
    silent(|| bt_put(t.cast()));
}

#[test]
fn wrong_kind_is_refused_with_one_line() {
    let s = session("wrong-kind");
    let t = relay_ctf_trace_get_by_path_or_create(s, c"h/s/ust".as_ptr());
    let st = relay_stream_create(t, 0x5eed_0001, c"p".as_ptr(), c"c".as_ptr(), 0, 0);
    assert!(!st.is_null());
    let bt = bt_ctf_trace_create();
    let (s_count, st_count) = (
        relay_session_get_ref_count(s),
        relay_stream_get_ref_count(st),
    );
    one_line(
        &["relay_session_get:", "is a stream, not a session"],
        || assert!(!relay_session_get(st.cast())),
    );
    one_line(&["relay_stream_put:", "is a session, not a stream"], || {
        relay_stream_put(s.cast())
    });
    one_line(&["bt_get:", "not a Babeltrace object"], || {
        assert!(bt_get(s.cast()).is_null())
    });
    one_line(&["relay_session_get:", "is a trace, not a session"], || {
        assert!(!relay_session_get(bt.cast()))
    });
    assert_eq!(relay_session_get_ref_count(s), s_count);
    assert_eq!(relay_stream_get_ref_count(st), st_count);
    silent(|| {
        bt_put(bt.cast());
        relay_ctf_trace_put(t);
        assert_eq!(relay_stream_close(st), 0);
        assert_eq!(relay_session_close(s), 0);
    });
}

#[test]
fn operations_on_closed_objects_one_line_each() {
    let s = session("closed-ops");
    let sid = format!("session {}", relay_session_get_id(s));
    let t = relay_ctf_trace_get_by_path_or_create(s, c"h/c/ust".as_ptr());
    let st = relay_stream_create(t, 0x5eed_0002, c"p".as_ptr(), c"c".as_ptr(), 0, 0);
    assert!(!st.is_null());
    let stid = format!("stream {}", 0x5eed_0002u64);
    assert!(relay_stream_get(st));
    silent(|| assert_eq!(relay_stream_close(st), 0));
    one_line(&["relay_stream_close:", &stid, "already closed"], || {
        assert_eq!(relay_stream_close(st), -1)
    });
    // Refusals that another thread's close can cause are silent.
    assert_eq!(relay_stream_lock(st), 0);
    silent(|| assert!(relay_index_get_by_id_or_create(st, 7).is_null()));
    assert_eq!(relay_stream_unlock(st), 0);
    // A stream closed by its session's close: the owner's close, racing
    // that teardown, returns -1 silently.
    let st2 = relay_stream_create(t, 0x5eed_0003, c"p".as_ptr(), c"c".as_ptr(), 0, 0);
    assert!(!st2.is_null());
    assert!(relay_stream_get(st2));
    assert!(relay_session_get(s));
    silent(|| assert_eq!(relay_session_close(s), 0));
    silent(|| assert_eq!(relay_stream_close(st2), -1));
    one_line(&["relay_session_close:", &sid, "already closed"], || {
        assert_eq!(relay_session_close(s), -1)
    });
    silent(|| {
        assert!(relay_ctf_trace_get_by_path_or_create(s, c"h/c/other".as_ptr()).is_null());
        assert!(relay_stream_create(t, 0x5eed_0004, c"p".as_ptr(), c"c".as_ptr(), 0, 0).is_null());
    });
    silent(|| {
        relay_ctf_trace_put(t);
        relay_stream_put(st);
        relay_stream_put(st2);
        relay_session_put(s);
    });
    assert_eq!(traceref_reclaim_barrier(), 0);
}

#[test]
fn null_arguments_name_the_argument() {
    one_line(&["relay_session_get:", "is NULL"], || {
        assert!(!relay_session_get(ptr::null_mut()))
    });
    one_line(&["bt_object_set_parent:", "is NULL"], || {
        bt_object_set_parent(ptr::null_mut(), ptr::null_mut())
    });
    // NULL is a no-op for puts, as in the originals: silent.
    silent(|| {
        relay_session_put(ptr::null_mut());
        bt_put(ptr::null_mut());
    });
}
