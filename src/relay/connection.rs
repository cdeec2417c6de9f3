//! Connections and connection tables. A control connection owns its session
//! (through a reference); a live connection owns its viewer session. The
//! final put of a connection closes what it owns.

use super::object::{self, Head, Place, PlaceError, RelayObject};
use super::session::Session;
use super::viewer::ViewerSession;
use super::Ptr;
use crate::core::census;
use crate::core::kind::{Kind, Tag};
use crate::core::member::{Gate, JoinError, Membership};
use crate::core::reclaim;
use crate::core::table::{Keyed, Table};
use std::sync::atomic::{AtomicPtr, Ordering};

/// Connection types, with the relay daemon's values.
pub(crate) const TYPE_UNKNOWN: i32 = 0;
pub(crate) const TYPE_DATA: i32 = 1;
pub(crate) const TYPE_CONTROL: i32 = 2;
pub(crate) const TYPE_VIEWER_COMMAND: i32 = 3;
pub(crate) const TYPE_VIEWER_NOTIFICATION: i32 = 4;

#[repr(C)]
pub struct Connection {
    head: Head,
    pub sock: i32,
    pub ctype: i32,
    /// Counted reference on the session, once set.
    session: AtomicPtr<Session>,
    /// Owned viewer session, once set.
    viewer_session: AtomicPtr<ViewerSession>,
    /// The table this connection is in, if any, and whether it was closed:
    /// a connection is in a table only while it is open.
    membership: Membership<ConnectionTable>,
}

impl Keyed for Connection {
    #[inline]
    fn key(&self) -> u64 {
        self.sock as u32 as u64
    }
}

impl RelayObject for Connection {
    const KIND: Kind = Kind::RelayConnection;
    fn head(&self) -> &Head {
        &self.head
    }
    fn id(&self) -> u64 {
        self.sock as u64
    }
    fn release(&self) {
        const F: &str = "relay_connection_put";
        self.leave_table();
        let vs = self
            .viewer_session
            .swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !vs.is_null() {
            // SAFETY: the connection owned the viewer session.
            unsafe { ViewerSession::destroy(F, vs) };
        }
        let s = self.session.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: the connection held a reference on its session.
        if let Some(session) = unsafe { s.as_ref() } {
            // SAFETY: closing puts the session's owner reference (if not
            // already closed); then the connection's own reference goes.
            unsafe {
                session.close(F);
                object::put(F, session);
            }
        }
    }
}

/// Why a connection table operation was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TableError {
    AlreadyInTable,
    DuplicateSock,
    /// The connection was closed.
    Closed,
    /// The table is being destroyed.
    Destroyed,
}

impl Connection {
    /// A new connection with count 1 (the owner's reference).
    ///
    /// # Safety
    /// As for [`object::place`].
    pub unsafe fn create(
        place: Place,
        sock: i32,
        ctype: i32,
    ) -> Result<*mut Connection, PlaceError> {
        let obj = Connection {
            head: Head::new_in(Kind::RelayConnection, place),
            sock,
            ctype,
            session: AtomicPtr::new(std::ptr::null_mut()),
            viewer_session: AtomicPtr::new(std::ptr::null_mut()),
            membership: Membership::new(),
        };
        // SAFETY: per the contract.
        unsafe { object::place(obj, place) }
    }

    /// Take a reference on `session` and keep it. False when a session is
    /// already set or this one's count is zero.
    pub fn set_session(&self, func: &str, session: &Session) -> bool {
        if !object::get(func, session) {
            return false;
        }
        let p = session as *const Session as *mut Session;
        if self
            .session
            .compare_exchange(std::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: the reference taken just above.
            unsafe { object::put(func, session) };
            return false;
        }
        true
    }

    pub fn session_ptr(&self) -> *mut Session {
        self.session.load(Ordering::Acquire)
    }

    /// Take ownership of `vs`. False when one is already set or `vs` is
    /// owned by another connection.
    pub fn set_viewer_session(&self, vs: &ViewerSession) -> bool {
        if vs.owned.swap(true, Ordering::AcqRel) {
            return false;
        }
        let p = vs as *const ViewerSession as *mut ViewerSession;
        if self
            .viewer_session
            .compare_exchange(std::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            vs.owned.store(false, Ordering::Release);
            return false;
        }
        true
    }

    pub fn viewer_session_ptr(&self) -> *mut ViewerSession {
        self.viewer_session.load(Ordering::Acquire)
    }

    /// Leave the table (if in one) and put the owner's reference. False when
    /// already closed. Ordered with `ConnectionTable::add` and `destroy` by
    /// the membership: an add that comes after is refused.
    pub fn close(&self, func: &str) -> bool {
        if !self.membership.close(|t| t.table.remove(self)) {
            return false;
        }
        // SAFETY: the owner's reference, dropped once (the membership
        // closes once); put after the membership's lock was let go, since
        // the final put leaves the table again (a no-op) under that lock.
        unsafe { object::put(func, self) };
        true
    }

    /// Whether it was closed, by its owner or by its table's destruction
    /// (it left its table then, if it was in one).
    pub fn is_closed(&self) -> bool {
        self.membership.is_closed()
    }

    fn leave_table(&self) {
        self.membership.leave(|t| t.table.remove(self));
    }
}

/// Leak report line of a live connection table.
unsafe fn describe_table(p: *const ()) -> String {
    // SAFETY: called on tracked (live) tables only.
    let t = unsafe { &*p.cast::<ConnectionTable>() };
    format!(
        "connection table at {:p}, {} connection(s)",
        p,
        t.table.len()
    )
}

/// A connection table: connections by socket, one table per worker thread.
#[repr(C)]
pub struct ConnectionTable {
    tag: Tag,
    pub(crate) table: Table<Connection>,
    /// Shut when destruction begins: no add succeeds after that.
    gate: Gate,
}

impl ConnectionTable {
    pub fn create() -> *mut ConnectionTable {
        let p = Box::into_raw(Box::new(ConnectionTable {
            tag: Tag::new(Kind::RelayConnectionTable),
            table: Table::new(),
            gate: Gate::new(),
        }));
        census::register(Kind::RelayConnectionTable, p as *const (), describe_table);
        p
    }

    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// Add `c` (the caller holds a reference). One table per connection,
    /// one connection per socket, and only while the connection is open and
    /// the table is not being destroyed: an add ordered after a close of `c`,
    /// or after `destroy` began, is refused.
    pub fn add(&self, c: &Connection) -> Result<(), TableError> {
        // SAFETY: `destroy` frees the table through `reclaim::retire` only
        // after shutting the gate and then evicting or closing every
        // connection it still finds in the table.
        let joined = unsafe { c.membership.join(self, &self.gate, || self.table.insert(c)) };
        joined.map_err(|e| match e {
            JoinError::Closed => TableError::Closed,
            JoinError::AlreadyMember => TableError::AlreadyInTable,
            JoinError::GateShut => TableError::Destroyed,
            JoinError::Refused(_) => TableError::DuplicateSock,
        })
    }

    /// Refuse every later add, then close every connection still in the
    /// table (putting their owner references; one already closed is left
    /// alone), take out those already on their way out (count 0), and free
    /// the table after a grace period. False, doing nothing, when the table
    /// is already being destroyed.
    ///
    /// # Safety
    /// `p` comes from [`ConnectionTable::create`]; the caller is outside any
    /// read-side section; calls on the table that overlap this one run
    /// inside read-side sections entered before it began, and none starts
    /// after it returned.
    pub unsafe fn destroy(func: &str, p: *mut ConnectionTable) -> bool {
        // SAFETY: per the contract.
        let t = unsafe { &*p };
        if !t.gate.shut() {
            return false;
        }
        // The gate is shut: the connections in the table now are all it will
        // ever hold. Each one found at count 0 is released by a put already
        // under way, which may not have left the table yet: it is taken out
        // here (under the pin, which keeps its memory valid). The others are
        // closed below, holding a reference.
        let mut held = Vec::new();
        {
            let guard = crossbeam_epoch::pin();
            let mut dying = Vec::new();
            t.table.for_each(&guard, |c| {
                if object::get(func, c) {
                    held.push(Ptr::of(c));
                } else {
                    dying.push(Ptr::of(c));
                }
            });
            for c in dying {
                // SAFETY: found in the table under `guard`, so allocated
                // until it is dropped.
                let conn = unsafe { c.get() };
                conn.membership.evict(t, |t| t.table.remove(conn));
            }
        }
        for c in held {
            // SAFETY: a reference was taken above.
            let conn = unsafe { c.get() };
            // A connection closed meanwhile by its owner left the table under
            // its membership's lock, which this close takes too: it returns
            // false only once the connection is out.
            conn.close(func);
            // SAFETY: the reference taken above.
            unsafe { object::put(func, conn) };
        }
        debug_assert!(t.table.is_empty(), "connections left in a destroyed table");
        unsafe fn free(p: *mut ()) {
            // SAFETY: retired once by `destroy`.
            let t = unsafe { Box::from_raw(p.cast::<ConnectionTable>()) };
            t.tag.mark_reclaimed();
            drop(t);
            census::unregister(Kind::RelayConnectionTable, p as *const ());
        }
        // SAFETY: the gate is shut and every connection the table held was
        // closed or evicted above (a removal that the walk missed because it
        // was under way runs pinned, and the grace period waits for it), so
        // no connection leads to the table any more; readers still inside a
        // read-side section are waited for by the grace period.
        unsafe { reclaim::retire(p.cast(), free) };
        true
    }
}
