//! Connections and connection tables. A control connection owns its session
//! (through a reference); a live connection owns its viewer session. The
//! final put of a connection closes what it owns.

use super::object::{self, Head, RelayObject};
use super::session::Session;
use super::viewer::ViewerSession;
use crate::core::census;
use crate::core::kind::{Kind, Tag};
use crate::core::reclaim;
use crate::core::table::{Keyed, Table};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

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
    /// The table this connection is in, if any.
    table: AtomicPtr<ConnectionTable>,
    closed: AtomicBool,
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
    Closed,
}

impl Connection {
    pub fn create(sock: i32, ctype: i32) -> *mut Connection {
        object::create(Connection {
            head: Head::new(Kind::RelayConnection),
            sock,
            ctype,
            session: AtomicPtr::new(std::ptr::null_mut()),
            viewer_session: AtomicPtr::new(std::ptr::null_mut()),
            table: AtomicPtr::new(std::ptr::null_mut()),
            closed: AtomicBool::new(false),
        })
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
    /// already closed.
    pub fn close(&self, func: &str) -> bool {
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.leave_table();
        // SAFETY: the owner's reference, dropped once (guarded by `closed`).
        unsafe { object::put(func, self) };
        true
    }

    fn leave_table(&self) {
        // Pinned across the swap and the removal, so that a table being
        // destroyed concurrently is not freed under us.
        let _guard = crossbeam_epoch::pin();
        let t = self.table.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: a table is retired only after it cleared the `table` field
        // of every connection it held; the swap won the field, so the table
        // had not yet cleared it, and the pin keeps its memory valid.
        if let Some(t) = unsafe { t.as_ref() } {
            t.table.remove(self);
        }
    }
}

/// Leak report line of a live connection table.
unsafe fn describe_table(p: *const ()) -> String {
    // SAFETY: called on tracked (live) tables only.
    let t = unsafe { &*p.cast::<ConnectionTable>() };
    format!("at {:p}, {} connection(s)", p, t.table.len())
}

/// A connection table: connections by socket, one table per worker thread.
#[repr(C)]
pub struct ConnectionTable {
    tag: Tag,
    pub(crate) table: Table<Connection>,
    destroyed: AtomicBool,
}

impl ConnectionTable {
    pub fn create() -> *mut ConnectionTable {
        let p = Box::into_raw(Box::new(ConnectionTable {
            tag: Tag::new(Kind::RelayConnectionTable),
            table: Table::new(),
            destroyed: AtomicBool::new(false),
        }));
        census::register(Kind::RelayConnectionTable, p as *const (), describe_table);
        p
    }

    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// Add `c` (the caller holds a reference). One table per connection,
    /// one connection per socket.
    pub fn add(&self, c: &Connection) -> Result<(), TableError> {
        if c.closed.load(Ordering::Acquire) || self.destroyed.load(Ordering::Acquire) {
            return Err(TableError::Closed);
        }
        let me = self as *const ConnectionTable as *mut ConnectionTable;
        if c.table
            .compare_exchange(
                std::ptr::null_mut(),
                me,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return Err(TableError::AlreadyInTable);
        }
        if self.table.insert(c).is_err() {
            c.table.store(std::ptr::null_mut(), Ordering::Release);
            return Err(TableError::DuplicateSock);
        }
        Ok(())
    }

    /// Close every connection still in the table (putting their owner
    /// references), then free the table after a grace period.
    ///
    /// # Safety
    /// `p` comes from [`ConnectionTable::create`] and is not used after this
    /// call; the caller is outside any read-side section.
    pub unsafe fn destroy(func: &str, p: *mut ConnectionTable) {
        // SAFETY: per the contract.
        let t = unsafe { &*p };
        t.destroyed.store(true, Ordering::Release);
        for c in super::table_snapshot(func, &t.table) {
            // SAFETY: a reference was taken above.
            let conn = unsafe { c.get() };
            // Close the connections this table still holds; one whose field
            // was already cleared is leaving on its own.
            if conn.table.load(Ordering::Acquire) == p {
                conn.close(func);
            }
            // SAFETY: the reference taken above.
            unsafe { object::put(func, conn) };
        }
        unsafe fn free(p: *mut ()) {
            // SAFETY: retired once by `destroy`.
            let t = unsafe { Box::from_raw(p.cast::<ConnectionTable>()) };
            t.tag.mark_reclaimed();
            drop(t);
            census::unregister(Kind::RelayConnectionTable, p as *const ());
        }
        // SAFETY: no connection points at the table any more (each was closed
        // above, or cleared its field itself), and readers still inside a
        // read-side section are waited for by the grace period.
        unsafe { reclaim::retire(p.cast(), free) };
    }
}
