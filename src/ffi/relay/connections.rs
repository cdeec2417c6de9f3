//! C functions of the relay connections.

use super::*;

/// Create a connection table (one per worker thread). NULL only if memory
/// runs out. Needs nothing; any thread. Destroy it with
/// relay_connection_table_destroy(): until it is destroyed and its grace
/// period ended, traceref_live_objects() counts it and TRACEREF_LEAK_CHECK=1
/// reports it.
#[no_mangle]
pub extern "C" fn relay_connection_table_create() -> *mut relay_connection_table {
    ffi_guard!("relay_connection_table_create", ptr::null_mut(), {
        ConnectionTable::create().cast()
    })
}

/// Destroy `table`. First it stops taking connections: from then on
/// relay_connection_table_add() on it is refused. Then every connection
/// still in it is closed as by relay_connection_close() (its owner's
/// reference put; a later relay_connection_close() of it returns -1), except
/// one whose last reference is being put at that moment, which is only taken
/// out; and the table is freed after a grace period. Returns 0, or -1
/// (nothing done) for NULL, when called inside a read-side section, or when
/// `table` is already being destroyed.
///
/// Under races: a relay_connection_table_add() that overlaps this call
/// either completes first (the connection is then closed here) or is
/// refused; a relay_connection_close() of a connection in `table` that
/// overlaps it closes the connection or finds it closed by this call (-1),
/// one of the two, never both; relay_connection_get_by_sock() finds a
/// connection or nothing. A call on `table` that may overlap this one must be
/// made inside a read-side section (traceref_read_lock()) entered before
/// this call began: that keeps the table's memory valid until it returns.
/// The caller gives up `table`: it must not be used once this call
/// returned. Any thread.
#[no_mangle]
pub extern "C" fn relay_connection_table_destroy(table: *mut relay_connection_table) -> c_int {
    ffi_guard!("relay_connection_table_destroy", -1, {
        const F: &str = "relay_connection_table_destroy";
        let _t = table_arg!(F, table, -1);
        if reclaim::in_read_section() {
            misuse!(F, "called inside a read-side section; table not destroyed");
            return -1;
        }
        // SAFETY: a live table from `create`; the caller gives it up, and
        // makes the calls that may overlap this one from read-side sections
        // entered before it (the documented contract).
        if unsafe { ConnectionTable::destroy(F, table.cast()) } {
            0
        } else {
            misuse!(F, "table {:p} is already being destroyed", table);
            -1
        }
    })
}

/// Create a connection on socket `sock` of `type` (RELAY_DATA,
/// RELAY_CONTROL, RELAY_VIEWER_COMMAND, ...): count 1, the owner's
/// reference, dropped by relay_connection_close() (or by the table's
/// destruction once added to one). NULL for a negative socket or a type
/// outside RELAY_CONNECTION_UNKNOWN..RELAY_VIEWER_NOTIFICATION. Needs
/// nothing; any thread.
#[no_mangle]
pub extern "C" fn relay_connection_create(sock: c_int, r#type: c_int) -> *mut relay_connection {
    ffi_guard!("relay_connection_create", ptr::null_mut(), {
        const F: &str = "relay_connection_create";
        if !connection_args_ok(F, sock, r#type) {
            return ptr::null_mut();
        }
        // SAFETY: the library allocates.
        match unsafe { Connection::create(Place::Boxed, sock, r#type) } {
            Ok(c) => c.cast(),
            Err(PlaceError::Live) => ptr::null_mut(),
        }
    })
}

/// relay_connection_create() in C code's own struct: `conn` points to a
/// `struct relay_connection` of the caller's whose first member is a
/// `struct relay_connection_base`; the library initialises that member (the
/// caller's fields untouched) and calls `free_fn(conn)` once the
/// connection's grace period is over. The connection is then the same as
/// one relay_connection_create() made, and relay_connection_get_by_sock()
/// returns `conn`. Returns 0, or -1 with nothing done (`free_fn` not
/// called) where relay_connection_create() returns NULL, and for NULL or
/// misaligned `conn`, NULL `free_fn` or a `conn` already live. The caller
/// must own the memory of `conn`; any thread.
#[no_mangle]
pub extern "C" fn relay_connection_init(
    conn: *mut relay_connection,
    free_fn: relay_connection_free_func,
    sock: c_int,
    r#type: c_int,
) -> c_int {
    ffi_guard!("relay_connection_init", -1, {
        const F: &str = "relay_connection_init";
        if !connection_args_ok(F, sock, r#type) {
            return -1;
        }
        let Some(place) = caller_place(F, conn, free_fn) else {
            return -1;
        };
        // SAFETY: the caller's struct starts with a relay_connection_base,
        // sized and aligned for the library's part, and is the library's
        // until `free_fn` (contract).
        match unsafe { Connection::create(place, sock, r#type) } {
            Ok(_) => 0,
            Err(PlaceError::Live) => {
                refused_live(F, conn.cast(), "connection");
                -1
            }
        }
    })
}

/// Whether a socket and connection type are valid (reported if not).
fn connection_args_ok(func: &str, sock: c_int, ty: c_int) -> bool {
    if sock < 0 || !(RELAY_CONNECTION_UNKNOWN..=RELAY_VIEWER_NOTIFICATION).contains(&ty) {
        misuse!(func, "invalid socket {} or type {}", sock, ty);
        return false;
    }
    true
}

/// Add `conn` to `table`, where relay_connection_get_by_sock() finds it
/// until it is closed or released. Returns 0, or -1 (nothing changes, one
/// warning line) for NULL, a connection already in a table or closed, a
/// socket already in `table`, or a table being destroyed. The caller must
/// hold a reference on `conn`.
///
/// Under races, the add is ordered with relay_connection_close() of `conn`
/// and with relay_connection_table_destroy() of `table`: if it comes first,
/// the close takes `conn` out of `table` again (and the destruction closes
/// it); if it comes second, it is refused. Either way, once the close
/// returned, no lookup finds `conn`. An add that may overlap the
/// destruction of `table` must be made inside a read-side section entered
/// before the destruction began (see relay_connection_table_destroy()).
#[no_mangle]
pub extern "C" fn relay_connection_table_add(
    table: *mut relay_connection_table,
    conn: *mut relay_connection,
) -> c_int {
    ffi_guard!("relay_connection_table_add", -1, {
        const F: &str = "relay_connection_table_add";
        let t = table_arg!(F, table, -1);
        let c = arg!(F, conn, Connection, -1);
        match t.add(c) {
            Ok(()) => 0,
            Err(e) => {
                let why = match e {
                    TableError::AlreadyInTable => "already in a table",
                    TableError::DuplicateSock => "socket already in this table",
                    TableError::Closed => "connection closed",
                    TableError::Destroyed => "table being destroyed",
                };
                misuse!(F, "connection {} not added: {}", c.sock, why);
                -1
            }
        }
    })
}

/// Look a connection up by socket in `table` and take a reference (put it
/// when done). NULL when absent (never added, refused, closed or released),
/// when its count reached 0, or for NULL. A lookup that overlaps a close,
/// an add or the table's destruction finds the connection or nothing; one
/// that may overlap the destruction must be made inside a read-side section
/// entered before it began (see relay_connection_table_destroy()). Takes no
/// lock and needs no reference on a connection; any thread.
#[no_mangle]
pub extern "C" fn relay_connection_get_by_sock(
    table: *mut relay_connection_table,
    sock: c_int,
) -> *mut relay_connection {
    ffi_guard!("relay_connection_get_by_sock", ptr::null_mut(), {
        const F: &str = "relay_connection_get_by_sock";
        let t = table_arg!(F, table, ptr::null_mut());
        if sock < 0 {
            return ptr::null_mut();
        }
        model::get_by_id(F, &t.table, sock as u32 as u64).cast()
    })
}

/// Take a reference on `conn` unless its count is 0; true when taken. At
/// count 0: false and one warning line, as for relay_session_get(). The
/// caller must hold a reference on `conn` (or keep it allocated, as for
/// relay_session_get()).
#[no_mangle]
pub extern "C" fn relay_connection_get(conn: *mut relay_connection) -> bool {
    ffi_guard!("relay_connection_get", false, {
        get_of::<Connection>("relay_connection_get", conn.cast())
    })
}

/// Drop a reference on `conn`. The final put removes it from its table,
/// closes and destroys its viewer session (live connections), closes its
/// session (putting the session's owner reference; as for
/// relay_session_close(), a stream whose lock this thread holds completes
/// its close at relay_stream_unlock()) and puts the connection's own session
/// reference. NULL does nothing. The caller gives up the reference it drops;
/// any thread.
#[no_mangle]
pub extern "C" fn relay_connection_put(conn: *mut relay_connection) {
    ffi_guard!("relay_connection_put", (), {
        put_of::<Connection>("relay_connection_put", conn.cast())
    })
}

/// Close `conn`: it leaves its table and its owner's reference is put.
/// Returns 0, or -1 (one warning line) for NULL or when already closed,
/// including by relay_connection_table_destroy(). Ordered with
/// relay_connection_table_add() of `conn`: an add that came first is undone
/// here, one that comes after is refused, so that once this call returned
/// no lookup finds `conn`. Safe to call while its table is being destroyed:
/// `conn` is closed once, by one of the two. The caller gives up the owner's
/// reference (the one relay_connection_create() returned): it must not use
/// `conn` afterwards unless it holds a reference of its own, and when that
/// reference was the last one, the connection's final put is made here (see
/// relay_connection_put()). Any thread.
#[no_mangle]
pub extern "C" fn relay_connection_close(conn: *mut relay_connection) -> c_int {
    ffi_guard!("relay_connection_close", -1, {
        const F: &str = "relay_connection_close";
        let c = arg!(F, conn, Connection, -1);
        if c.close(F) {
            0
        } else {
            misuse!(F, "connection {} is already closed", c.sock);
            -1
        }
    })
}

/// Make `session` the session of `conn`: the connection takes a reference
/// on it, and its final put closes the session, which puts the session's
/// owner reference (the one relay_session_create() returned): from then on
/// that reference is the connection's, and the caller must not put it.
/// Returns 0, or -1 (nothing changes) for NULL, a connection that already
/// has a session, or a session whose count is 0. The caller must hold a
/// reference on both.
#[no_mangle]
pub extern "C" fn relay_connection_set_session(
    conn: *mut relay_connection,
    session: *mut relay_session,
) -> c_int {
    ffi_guard!("relay_connection_set_session", -1, {
        const F: &str = "relay_connection_set_session";
        let c = arg!(F, conn, Connection, -1);
        let s = arg!(F, session, Session, -1);
        if c.set_session(F, s) {
            0
        } else {
            misuse!(
                F,
                "connection {} already has a session (or session {} is gone)",
                c.sock,
                s.id()
            );
            -1
        }
    })
}

/// Give `vs` to `conn`: the connection owns it from now on, and its final
/// put closes and destroys it (the caller must not destroy it). Returns 0,
/// or -1 (nothing changes) for NULL, a connection that already has one, or
/// a viewer session owned by another connection (or already given to this
/// one). The caller must hold a reference on `conn` and own `vs`; it must
/// not be destroying `vs` (see relay_viewer_session_destroy()).
#[no_mangle]
pub extern "C" fn relay_connection_set_viewer_session(
    conn: *mut relay_connection,
    vs: *mut relay_viewer_session,
) -> c_int {
    ffi_guard!("relay_connection_set_viewer_session", -1, {
        const F: &str = "relay_connection_set_viewer_session";
        let c = arg!(F, conn, Connection, -1);
        let v = vs_arg!(F, vs, -1);
        if c.set_viewer_session(v) {
            0
        } else {
            misuse!(
                F,
                "connection {} already has a viewer session, or it is owned elsewhere",
                c.sock
            );
            -1
        }
    })
}

/// The session of `conn`, WITHOUT a new reference (a borrowed pointer,
/// valid while `conn` is held), or NULL. The caller must hold a reference on
/// `conn`.
#[no_mangle]
pub extern "C" fn relay_connection_get_session(conn: *mut relay_connection) -> *mut relay_session {
    ffi_guard!("relay_connection_get_session", ptr::null_mut(), {
        arg!(
            "relay_connection_get_session",
            conn,
            Connection,
            ptr::null_mut()
        )
        .session_ptr()
        .cast()
    })
}

/// The viewer session of `conn` (owned by it; a borrowed pointer, valid
/// while `conn` is held), or NULL. The caller must hold a reference on
/// `conn`.
#[no_mangle]
pub extern "C" fn relay_connection_get_viewer_session(
    conn: *mut relay_connection,
) -> *mut relay_viewer_session {
    ffi_guard!("relay_connection_get_viewer_session", ptr::null_mut(), {
        arg!(
            "relay_connection_get_viewer_session",
            conn,
            Connection,
            ptr::null_mut()
        )
        .viewer_session_ptr()
        .cast()
    })
}

/// The socket of `conn`, or -1 for NULL. The caller must hold a reference
/// on `conn`.
#[no_mangle]
pub extern "C" fn relay_connection_get_sock(conn: *mut relay_connection) -> c_int {
    ffi_guard!("relay_connection_get_sock", -1, {
        arg!("relay_connection_get_sock", conn, Connection, -1).sock
    })
}

/// The type of `conn`, or -1 for NULL. The caller must hold a reference on
/// `conn`.
#[no_mangle]
pub extern "C" fn relay_connection_get_type(conn: *mut relay_connection) -> c_int {
    ffi_guard!("relay_connection_get_type", -1, {
        arg!("relay_connection_get_type", conn, Connection, -1).ctype
    })
}

/// The reference count of `conn`; -1 for NULL. The caller must hold a
/// reference on `conn` (or keep it allocated, as for relay_session_get()).
#[no_mangle]
pub extern "C" fn relay_connection_get_ref_count(conn: *mut relay_connection) -> c_long {
    ffi_guard!("relay_connection_get_ref_count", -1, {
        count_of::<Connection>("relay_connection_get_ref_count", conn.cast())
    })
}

/// Call `visit` on every connection of `table` whose get succeeds and that
/// is still in the table (not closed) when its turn comes, with a reference
/// valid during the call (put by the library afterwards). The walk goes
/// over the connections the table held when it started (one added meanwhile
/// is not visited, nor one whose count was already 0) and checks each right
/// before its visit: a connection closed before its turn, by an earlier
/// visit, by another thread or by the table's destruction, is skipped (one
/// closed during its own visit stays valid until the call returns). Stops
/// when `visit` returns non-zero. Returns the number visited, or -1 when an
/// argument is NULL. The walk reads `table` only when it starts, before the
/// first visit: the caller must hold `table` (not destroyed) until then, and
/// a walk that may overlap the table's destruction must be made inside a
/// read-side section entered before the destruction began (see
/// relay_connection_table_destroy()). No library lock is held during the
/// calls, so `visit` may call any function of this library (on `table` too,
/// even relay_connection_table_destroy() when the walk was made outside a
/// read-side section). Needs no reference on a connection; any thread.
#[no_mangle]
pub extern "C" fn relay_connection_table_for_each(
    table: *mut relay_connection_table,
    visit: relay_connection_visit_func,
    data: *mut c_void,
) -> c_int {
    ffi_guard!("relay_connection_table_for_each", -1, {
        const F: &str = "relay_connection_table_for_each";
        let t = table_arg!(F, table, -1);
        let visit = fn_arg!(F, visit, -1);
        visit_all(
            F,
            model::table_snapshot(F, &t.table),
            Connection::is_closed,
            |p| {
                // SAFETY: the visitor is a C function given by the caller.
                unsafe { visit(p.0 as *mut relay_connection, data) }
            },
        )
    })
}
