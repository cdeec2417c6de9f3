//! Connection-table membership (`core::member`, with the real `core::table`
//! and `core::refcount`) under loom: an add racing a close of the same
//! connection, an add racing the table's destruction, and a close racing
//! the destruction.
//!
//! `add`, `close`, `put` and `destroy` below are `ConnectionTable::add`,
//! `Connection::close`, the relay object's put (whose release leaves the
//! table) and `ConnectionTable::destroy`, step for step, on a connection
//! reduced to its key, its count and its membership. The table is freed as
//! `reclaim::retire` does it, after a crossbeam-epoch grace period; here the
//! "free" marks it freed and overwrites its contents (a loom `UnsafeCell`),
//! and every removal from the table reads those contents before and after
//! `Table::remove`, so that a removal that could run on a freed table shows
//! up as a failed check or a loom causality violation. The memory itself is
//! released when the model ends.
//!
//! The table's writer lock is a `parking_lot::Mutex`, which loom does not
//! see: that is sound here because the model has one connection, and every
//! insertion or removal of it runs under its membership's lock (loom's), so
//! the writer lock is never contended; the emptiness checks that take it
//! run after the other threads have finished.

use crossbeam_epoch as epoch;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;
use std::ptr::NonNull;
use traceref_loom_tests::core::member::{Gate, JoinError, Membership};
use traceref_loom_tests::core::refcount::{Dec, Inc, LookupCount};
use traceref_loom_tests::core::table::{Duplicate, Keyed, Table};
use traceref_loom_tests::model;

const SOCK: u64 = 7;
const LIVE: u64 = 0x11fe;
const FREED: u64 = 0xdead;

struct Conn {
    count: LookupCount,
    membership: Membership<Tbl>,
    /// Puts of the owner's reference (by a close).
    owner_puts: AtomicUsize,
    releases: AtomicUsize,
}

impl Keyed for Conn {
    fn key(&self) -> u64 {
        SOCK
    }
}

struct Tbl {
    table: Table<Conn>,
    gate: Gate,
    data: UnsafeCell<u64>,
    freed: AtomicBool,
}

// SAFETY: `data` is written only by the deferred free, which the grace
// period orders after every use of the table (that is what the models
// check).
unsafe impl Sync for Tbl {}
unsafe impl Send for Tbl {}

impl Tbl {
    fn check_live(&self) {
        assert!(!self.freed.load(SeqCst), "table used after its free");
        self.data.with(|d| assert_eq!(unsafe { *d }, LIVE));
    }

    /// The connection's removal, as `Connection` passes it to its
    /// membership, with the table's contents read on both sides of it.
    fn remove(&self, c: &Conn) -> bool {
        self.check_live();
        let removed = self.table.remove(c);
        self.check_live();
        removed
    }
}

/// A heap object shared by the model's threads, released at the end.
struct Shared<T>(NonNull<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<T> {}
// SAFETY: see `Tbl`; `Conn` is made of atomics and loom locks.
unsafe impl<T> Send for Shared<T> {}

impl<T> Shared<T> {
    fn new(v: T) -> Self {
        Shared(NonNull::from(Box::leak(Box::new(v))))
    }

    fn get<'a>(self) -> &'a T {
        // SAFETY: released only by `dealloc`, at the end.
        unsafe { self.0.as_ref() }
    }

    /// # Safety
    /// No thread touches the object any more.
    unsafe fn dealloc(self) {
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

fn new_table() -> Shared<Tbl> {
    Shared::new(Tbl {
        table: Table::new(),
        gate: Gate::new(),
        data: UnsafeCell::new(LIVE),
        freed: AtomicBool::new(false),
    })
}

/// A connection with the owner's reference and `extra` more.
fn new_conn(extra: usize) -> Shared<Conn> {
    let c = Shared::new(Conn {
        count: LookupCount::new(),
        membership: Membership::new(),
        owner_puts: AtomicUsize::new(0),
        releases: AtomicUsize::new(0),
    });
    for _ in 0..extra {
        assert!(matches!(c.get().count.get(), Some(Inc::Up(_))));
    }
    c
}

/// `ConnectionTable::add`.
fn add(t: &Tbl, c: &Conn) -> Result<(), JoinError<Duplicate>> {
    // SAFETY: `destroy` below shuts the gate, takes out every connection it
    // finds, and frees the table after a grace period.
    unsafe { c.membership.join(t, &t.gate, || t.table.insert(c)) }
}

/// The relay object's get.
fn get(c: &Conn) -> bool {
    match c.count.get() {
        Some(Inc::Up(_)) | Some(Inc::FromZero) => true,
        None => false,
        Some(other) => panic!("get returned {other:?}"),
    }
}

/// The relay object's put: the last one releases the connection, which
/// leaves its table.
fn put(c: &Conn) {
    match c.count.put() {
        Dec::ToZero => {
            c.releases.fetch_add(1, SeqCst);
            c.membership.leave(|t| t.remove(c));
        }
        Dec::Down(_) => {}
        other => panic!("put returned {other:?}"),
    }
}

/// `Connection::close`.
fn close(c: &Conn) -> bool {
    if !c.membership.close(|t| t.remove(c)) {
        return false;
    }
    c.owner_puts.fetch_add(1, SeqCst);
    put(c);
    true
}

/// `ConnectionTable::destroy`, then the free after a grace period (as
/// `reclaim::retire`, with its batching left out). `collect`: pin and flush
/// right away, so that the free may run while the other threads are still
/// at work (unless a pin holds it back).
fn destroy(t: Shared<Tbl>, collect: bool) {
    let tbl = t.get();
    assert!(tbl.gate.shut());
    let mut held = Vec::new();
    {
        let guard = epoch::pin();
        let mut dying = Vec::new();
        tbl.table.for_each(&guard, |c| {
            if get(c) {
                held.push(Shared(NonNull::from(c)));
            } else {
                dying.push(Shared(NonNull::from(c)));
            }
        });
        for c in dying {
            let conn = c.get();
            conn.membership.evict(tbl, |t| t.remove(conn));
        }
    }
    for c in held {
        close(c.get());
        put(c.get());
    }
    let guard = epoch::pin();
    let free = move || {
        let tbl = t.get();
        tbl.data.with_mut(|d| unsafe { *d = FREED });
        tbl.freed.store(true, SeqCst);
    };
    // SAFETY: every connection left the table, which no one reaches any
    // more except through a removal under way (pinned).
    unsafe { guard.defer_unchecked(free) };
    guard.flush();
    drop(guard);
    // A free is due two epochs after its retirement: pin and flush twice
    // more (as `reclaim::barrier` does, and the table model).
    if collect {
        for _ in 0..2 {
            epoch::pin().flush();
        }
    }
}

/// At the end of a model, every other thread finished: let the deferred
/// free run, and check that it did.
fn collect_until_freed(t: Shared<Tbl>) {
    for _ in 0..8 {
        if t.get().freed.load(SeqCst) {
            return;
        }
        epoch::pin().flush();
        thread::yield_now();
    }
    panic!("the destroyed table was not freed after the grace period");
}

/// Nobody finds the connection in the table.
fn not_found(t: &Tbl) {
    let guard = epoch::pin();
    assert!(
        t.table.lookup(SOCK, &guard).is_none(),
        "closed connection found"
    );
}

/// A thread adds the connection while another closes it, holding a
/// reference of its own. The close puts the owner's reference once; the add
/// succeeds only if it came first, and then the close took the connection
/// out: afterwards nobody finds it, nor after the last put.
#[test]
fn add_races_close() {
    model("add_races_close", 3, || {
        let t = new_table();
        let c = new_conn(1);

        let adder = thread::spawn(move || add(t.get(), c.get()));
        assert!(close(c.get()));
        let added = adder.join().unwrap();

        assert!(
            matches!(added, Ok(()) | Err(JoinError::Closed)),
            "{added:?}"
        );
        let conn = c.get();
        assert_eq!(conn.owner_puts.load(SeqCst), 1);
        assert!(conn.membership.is_closed());
        not_found(t.get());
        assert!(t.get().table.is_empty());
        put(conn);
        assert_eq!(conn.releases.load(SeqCst), 1);
        not_found(t.get());
        assert!(!close(conn));
        assert_eq!(add(t.get(), conn), Err(JoinError::Closed));
        unsafe {
            c.dealloc();
            t.dealloc();
        }
    });
}

/// A thread adds the connection to the table while another destroys the
/// table; the adder is pinned (the caller's read-side section) since before
/// the destruction began. The add is refused, or it came first and the
/// destruction closed the connection. The table is freed either way, after
/// the adder let it go, and the connection's later close does not touch it.
#[test]
fn add_races_destroy() {
    model("add_races_destroy", 3, || {
        let t = new_table();
        let c = new_conn(1);

        let section = epoch::pin();
        let destroyer = thread::spawn(move || destroy(t, true));
        let added = add(t.get(), c.get());
        drop(section);
        destroyer.join().unwrap();

        let conn = c.get();
        match added {
            Ok(()) => assert!(!close(conn), "not closed by the destruction"),
            Err(JoinError::GateShut) => assert!(close(conn)),
            Err(e) => panic!("add refused: {e:?}"),
        }
        assert_eq!(conn.owner_puts.load(SeqCst), 1);
        collect_until_freed(t);
        put(conn);
        assert_eq!(conn.releases.load(SeqCst), 1);
        unsafe {
            c.dealloc();
            t.dealloc();
        }
    });
}

/// The connection is in the table; a thread closes it (holding a reference
/// of its own) while another destroys the table. It is closed once, by one
/// of them, and the close that loses does not touch the freed table.
#[test]
fn close_races_destroy() {
    model("close_races_destroy", 3, || {
        let t = new_table();
        let c = new_conn(1);
        add(t.get(), c.get()).unwrap();

        let destroyer = thread::spawn(move || destroy(t, true));
        let closed_here = close(c.get());
        destroyer.join().unwrap();

        let conn = c.get();
        assert_eq!(
            conn.owner_puts.load(SeqCst),
            1,
            "closed here: {closed_here}"
        );
        assert!(!close(conn));
        collect_until_freed(t);
        put(conn);
        assert_eq!(conn.releases.load(SeqCst), 1);
        unsafe {
            c.dealloc();
            t.dealloc();
        }
    });
}

/// All three at once: an add, a close of the same connection and the
/// table's destruction (the adder pinned since before the destruction
/// began). The owner's reference is put once, and the table is freed. (The
/// free runs at the end, after every thread finished: the races of a free
/// with the table's users are the models above; with three threads, letting
/// it run early multiplies the executions past what a test can wait for.)
#[test]
fn add_close_destroy() {
    model("add_close_destroy", 1, || {
        let t = new_table();
        let c = new_conn(1);

        let section = epoch::pin();
        let destroyer = thread::spawn(move || destroy(t, false));
        let closer = thread::spawn(move || close(c.get()));
        let added = add(t.get(), c.get());
        drop(section);
        destroyer.join().unwrap();
        let closed_by_closer = closer.join().unwrap();

        let conn = c.get();
        assert!(added.is_ok() || matches!(added, Err(JoinError::Closed | JoinError::GateShut)));
        // The closer loses only to the destruction, which needs the add.
        assert!(closed_by_closer || added.is_ok());
        assert_eq!(conn.owner_puts.load(SeqCst), 1);
        assert!(!close(conn));
        collect_until_freed(t);
        put(conn);
        assert_eq!(conn.releases.load(SeqCst), 1);
        unsafe {
            c.dealloc();
            t.dealloc();
        }
    });
}
