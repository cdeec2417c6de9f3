/*
 * traceref/relayd-compat.h: the LTTng relay daemon's own function names for
 * this library's relay model.
 *
 * Relay daemon code that included session.h, ctf-trace.h, stream.h, index.h,
 * viewer-stream.h, viewer-session.h and connection.h includes this header
 * instead and keeps its calls: session_get_by_id(id) becomes
 * relay_session_get_by_id(id), stream_put(s) relay_stream_put(s), and so on.
 * The structure names are already the originals' (struct relay_session,
 * struct ctf_trace, struct relay_stream, struct relay_index,
 * struct relay_viewer_stream, struct relay_viewer_session,
 * struct relay_connection), and so are the relay_index_* functions and the
 * connection types RELAY_DATA, RELAY_CONTROL, RELAY_VIEWER_COMMAND and
 * RELAY_VIEWER_NOTIFICATION (the enumerators of the originals' `enum
 * connection_type`, which this header declares in place of traceref.h's
 * macros of the same names and values).
 *
 * KEEPING THE DAEMON'S OWN STRUCTS: define TRACEREF_RELAYD_EMBEDDED before
 * including this header. The daemon's headers then declare its structs as
 * before, each with the library's part as its FIRST member:
 *
 *     struct relay_stream {
 *         struct relay_stream_base base;   (the library's: count, lock, links)
 *         uint64_t stream_handle;          (the daemon's fields, as before)
 *         int stream_fd;
 *         uint64_t tracefile_size_current;
 *         ...
 *     };
 *     TRACEREF_ASSERT_FIRST(struct relay_stream, base);
 *
 * and main.c and live.c keep their field accesses (stream->stream_fd,
 * session->session_name, vstream->last_sent_index, ...). What goes from the
 * structs is their lifetime machinery: the urcu_ref, the rcu_head, the
 * lttng_ht_node of the global tables, the closed/published flags and
 * reflock, and the lock of sessions, traces and streams (the library's,
 * taken with relay_session_lock() and the like, checked for order). Fields
 * that mirror library state are set from it once, after the init:
 * session->id = relay_session_get_id(session).
 *
 * The creators stay the daemon's own functions, with their names and
 * parameters: session_create() allocates its struct, fills in its fields,
 * then calls relay_session_init(session, free_fn, ...), which publishes the
 * session (lookups find it from then on; the init touches only the
 * library's part); likewise
 * stream_create() with relay_stream_init(), viewer_stream_create() with
 * relay_viewer_stream_init(), viewer_session_create() with
 * relay_viewer_session_init(), connection_create() with
 * relay_connection_init(); ctf_trace_get_by_path_or_create() and
 * relay_index_get_by_id_or_create() allocate a candidate struct and call
 * relay_ctf_trace_get_by_path_or_init() and relay_index_get_by_id_or_init(),
 * freeing the candidate themselves when an existing object comes back. So
 * in this mode the header defines no macro for those seven names. Every
 * other name maps as below and, the library's part being first, returns the
 * daemon's own struct pointers: session_get_by_id() a struct relay_session *
 * whose fields the daemon reads. The free functions (relay_session_free_func
 * and the like) free the daemon's struct after the grace period, where the
 * originals' call_rcu() callbacks did. c-tests/compat/compat_embedded.c is a
 * small daemon written this way.
 *
 * Every name is a function-like macro with the original's parameters (those
 * of the 2015 design: the six-argument session_create, the two-argument
 * viewer_stream_create and viewer_session_attach): it expands only where it
 * is called, so a variable or member of the same name is left alone. To take
 * a function's address, use the relay_ name.
 *
 * THE SAME AS THE ORIGINALS (2015 design, with its later fixes)
 *   - Creation returns the owner's reference (count 1). X_get() takes a
 *     reference only while the count is not zero and says whether it did;
 *     X_get_by_id() returns NULL for an absent object and for one whose count
 *     already reached zero; X_put(NULL) does nothing.
 *   - At zero an object leaves its tables, puts its references on its
 *     containers and is freed after a grace period; traceref_reclaim_barrier()
 *     waits for those frees (the originals' rcu_barrier()).
 *   - session_close() marks the session closed, tries to close every stream
 *     of its traces (a stream still waiting for announced data closes when it
 *     arrives, or when the session is aborted: see try_stream_close below)
 *     and puts the owner's reference.
 *   - ctf_trace_get_by_path_or_create() returns a reference the caller puts;
 *     a new trace holds its session. stream_create() takes a trace reference;
 *     viewer_stream_create() a stream reference; viewer_session_attach() a
 *     session reference, and returns 0, or -1 when the session is already
 *     attached (later versions returned an enum lttng_viewer_attach_return_code
 *     instead).
 *   - relay_index_get_by_id_or_create() takes no reference for the caller:
 *     a new index has count 1, its self reference, and holds a stream
 *     reference; asked again for the same net_seq_num before it is flushed,
 *     it returns the same index. The pointer stays valid while the caller
 *     holds the stream's lock, whatever the calls it makes meanwhile: under
 *     that lock only relay_index_try_flush() of the index or
 *     relay_index_close_all() drop the self reference; a stream close that
 *     a call under the lock completes (try_stream_close(),
 *     relay_stream_set_received_seq_num(), session_abort(), ...) leaves
 *     that to relay_stream_unlock(). A caller that keeps the index past the
 *     lock takes relay_index_get() and later relay_index_put(); it must not
 *     put the pointer relay_index_get_by_id_or_create() returned (that would
 *     drop the self reference).
 *   - relay_index_try_flush() returns 0 when it flushed now (putting the
 *     self reference: the index is then freed after a grace period unless
 *     someone holds a reference from relay_index_get()), a positive value
 *     (1) when no flush was done (not ready yet, or already flushed), and
 *     -1 for NULL.
 *
 * WHERE THIS LIBRARY DIFFERS
 *   Lifetimes only
 *   - Only the objects' lives are kept: no file is created, written or
 *     closed. stream_create() makes no directory or trace file, and
 *     relay_index_try_flush() writes nothing. The originals' other functions
 *     (relay_index_set_file, relay_index_set_data, relay_index_close_partial_fd,
 *     relay_index_find_last, ctf_trace_close, stream_write, viewer_stream_rotate,
 *     the print_* functions, ...) have no counterpart.
 *   - Without TRACEREF_RELAYD_EMBEDDED, the structures are opaque: fields are
 *     read and set through functions (with it, the daemon's own fields stay
 *     and the library's state is read through these same functions).
 *     session->id: relay_session_get_id(); session->aborted:
 *     relay_session_is_aborted(); trace->session: relay_ctf_trace_get_session();
 *     stream->stream_handle: relay_stream_get_handle(); stream->trace:
 *     relay_stream_get_trace(); stream->closed, ->published, ->is_metadata:
 *     relay_stream_is_closed(), _is_published(), _is_metadata();
 *     stream->last_net_seq_num: relay_stream_get_/set_last_net_seq_num();
 *     the data received so far (stream->prev_seq):
 *     relay_stream_set_received_seq_num(); vstream->stream:
 *     relay_viewer_stream_get_stream(); conn->sock->fd:
 *     relay_connection_get_sock(); conn->type: relay_connection_get_type();
 *     conn->session: relay_connection_get_session(), set with
 *     connection_set_session(), which takes a session reference of the
 *     connection's (the 2015 code assigned the field and took none);
 *     conn->viewer_session:
 *     relay_connection_get_viewer_session(), set with
 *     relay_connection_set_viewer_session(), after which the connection owns
 *     (and at its end closes and destroys) the viewer session.
 *   - Locks: the originals had no lock functions; callers wrote
 *     pthread_mutex_lock(&session->lock) (likewise &trace->lock,
 *     &stream->lock) and pthread_mutex_unlock(). Here they are
 *     relay_session_lock()/relay_session_unlock(), relay_ctf_trace_lock()/
 *     _unlock() and relay_stream_lock()/_unlock(), which return 0, 1 when
 *     taken out of the session, trace, stream order (reported), or -1 (not
 *     taken) when this thread already holds the lock. The stream's lock also
 *     stands for its indexes' and viewer streams' (indexes have no lock of
 *     their own). There is no reflock, and the other functions take no
 *     caller-visible lock, except that session_close() must not be called
 *     with the session's lock held. RCU read-side sections are
 *     traceref_read_lock()/traceref_read_unlock(), and lookups do not need
 *     one.
 *
 *   Closing, and the owners' references
 *   - Every close refuses a second call and returns -1 without putting
 *     anything: session_close(), stream_close(), try_stream_close(),
 *     viewer_session_close(), relay_viewer_stream_close(),
 *     relay_connection_close(). Return types that differ from the
 *     originals: stream_close(), try_stream_close(), stream_publish(),
 *     viewer_session_close() and connection_ht_add() return int (the
 *     originals: void); relay_index_close_all() returns int (void);
 *     viewer_session_is_attached() returns bool (int 1 or 0). Calls that
 *     ignore the result compile and behave as before.
 *   - try_stream_close() returns 0 when the stream closed now, 1 when the
 *     close is pending (data up to last_net_seq_num has not all arrived), -1
 *     for NULL or a closed stream. A pending close completes by itself, and
 *     puts the owner's reference then, when
 *     relay_stream_set_received_seq_num() reaches last_net_seq_num or the
 *     session is aborted (session_abort()); the originals' data side called
 *     try_stream_close() again. With no last_net_seq_num announced the
 *     stream closes at once (the originals waited for the highest index
 *     already received).
 *   - The originals' try_stream_close() released the stream's files and
 *     trace chunk when the close completed. Here closes also complete inside
 *     other calls (the last data of a pending close, a session's close or
 *     abort, a connection's final put): a daemon releases such resources in
 *     the function it gives relay_stream_set_close_hook(), which runs once
 *     per closed stream, under its lock, on the thread that completes the
 *     close.
 *   - stream_close() closes at once: the stream leaves the stream table and
 *     its lists, its indexes drop their self references, the owner's
 *     reference is put (these two at relay_stream_unlock() when the caller
 *     holds the stream's lock).
 *   - stream_publish() returns -1 for a closed or an already published
 *     stream. It needs no session lock (the originals' did).
 *   - Drop an owner's reference only with its close: a stream's with
 *     stream_close() or try_stream_close(), a viewer stream's with
 *     relay_viewer_stream_close() or by viewer_session_close(), a
 *     connection's with relay_connection_close() (the originals used
 *     viewer_stream_put() and connection_put() for these two). A close that
 *     comes later (a session, viewer session or connection table closing
 *     what it still finds) would put that reference a second time.
 *
 *   Streams and indexes
 *   - stream_create() copies path_name and channel_name: the caller keeps
 *     and frees its strings (the originals took them over and freed them,
 *     even on failure). It returns NULL for a handle already in use or a
 *     closed session.
 *   - The index functions take references and return values as the
 *     originals did (see above). What differs is when an index is ready to
 *     flush: once the stream's data up to its net_seq_num has arrived
 *     (relay_stream_set_received_seq_num()), not when both its control and
 *     data parts were set.
 *
 *   Viewers
 *   - viewer_stream_create(stream, seek) takes the seek as a number (an
 *     enum lttng_viewer_seek converts) and stores it. It returns NULL when
 *     the handle already has a viewer stream.
 *   - viewer_session_detach() is public here (the originals' was static).
 *     viewer_session_close() closes the viewer streams of every attached
 *     session (putting their owner references) and detaches the sessions;
 *     after it, attaching to that viewer session is refused.
 *   - viewer_session_destroy() closes the viewer session first if needed and
 *     frees it after a grace period (the originals freed it at once). Do
 *     not destroy a viewer session given to a connection: the connection
 *     does.
 *
 *   Connections
 *   - connection_create(sock, type) takes the socket's file descriptor, not
 *     a struct lttcomm_sock *, and never closes it (the originals' connection
 *     destroyed its socket at its end). It returns NULL for a negative
 *     descriptor or an unknown type.
 *   - A connection table is a struct relay_connection_table *, made with
 *     relay_connection_table_create() and freed with
 *     relay_connection_table_destroy() (which closes the connections still
 *     in it), where the originals used a struct lttng_ht *.
 *     connection_ht_add() returns 0, or -1 for a connection already in a
 *     table or closed, or a socket already in the table.
 *   - As in the originals, the final put of a control connection closes its
 *     session (then puts the connection's session reference), and that of a
 *     live connection closes and destroys its viewer session.
 *
 *   Misuse
 *   - A put on a count of zero, a second close or a pointer of the wrong
 *     kind prints one line on stderr and changes nothing (the originals
 *     asserted, or freed twice).
 */

#ifndef TRACEREF_RELAYD_COMPAT_H
#define TRACEREF_RELAYD_COMPAT_H

/* Relative to this file: include/ in the source tree, <prefix>/include
 * once installed. */
#include "../traceref.h"

/* The originals' connection type, with their enumerators: traceref.h's
 * macros of the same names and values give way to them, so that a switch
 * over an enum connection_type names its own values (-Wswitch). They are
 * int constants as the macros were, except in #if expressions. */
#undef RELAY_CONNECTION_UNKNOWN
#undef RELAY_DATA
#undef RELAY_CONTROL
#undef RELAY_VIEWER_COMMAND
#undef RELAY_VIEWER_NOTIFICATION
enum connection_type {
	RELAY_CONNECTION_UNKNOWN = 0,
	RELAY_DATA = 1,
	RELAY_CONTROL = 2,
	RELAY_VIEWER_COMMAND = 3,
	RELAY_VIEWER_NOTIFICATION = 4
};

/* Sessions (session.h). */
#ifndef TRACEREF_RELAYD_EMBEDDED
#define session_create(session_name, hostname, live_timer, snapshot, major, minor) \
	relay_session_create(session_name, hostname, live_timer, snapshot, major, minor)
#endif
#define session_get_by_id(id) relay_session_get_by_id(id)
#define session_get(session) relay_session_get(session)
#define session_put(session) relay_session_put(session)
#define session_close(session) relay_session_close(session)
#define session_abort(session) relay_session_abort(session)

/* Ctf-traces (ctf-trace.h). */
#ifndef TRACEREF_RELAYD_EMBEDDED
#define ctf_trace_get_by_path_or_create(session, path_name) \
	relay_ctf_trace_get_by_path_or_create(session, path_name)
#endif
#define ctf_trace_get(trace) relay_ctf_trace_get(trace)
#define ctf_trace_put(trace) relay_ctf_trace_put(trace)
#define ctf_trace_get_viewer_metadata_stream(trace) \
	relay_ctf_trace_get_viewer_metadata_stream(trace)

/* Streams (stream.h). */
#ifndef TRACEREF_RELAYD_EMBEDDED
#define stream_create(trace, stream_handle, path_name, channel_name, tracefile_size, \
		      tracefile_count)                                                    \
	relay_stream_create(trace, stream_handle, path_name, channel_name, tracefile_size, \
			    tracefile_count)
#endif
#define stream_get_by_id(stream_id) relay_stream_get_by_id(stream_id)
#define stream_get(stream) relay_stream_get(stream)
#define stream_put(stream) relay_stream_put(stream)
#define stream_publish(stream) relay_stream_publish(stream)
#define stream_close(stream) relay_stream_close(stream)
#define try_stream_close(stream) relay_stream_try_close(stream)

/* Indexes (index.h): relay_index_get_by_id_or_create, relay_index_get,
 * relay_index_put, relay_index_try_flush and relay_index_close_all already
 * have the originals' names. With TRACEREF_RELAYD_EMBEDDED the daemon
 * defines a relay_index_get_by_id_or_create() of its own around
 * relay_index_get_by_id_or_init(): the library's function of that name makes
 * library-allocated indexes; as a macro it would hide the daemon's. */
#ifdef TRACEREF_RELAYD_EMBEDDED
#define relay_index_get_by_id_or_create traceref_relayd_index_get_by_id_or_create
#endif

/* Viewer streams (viewer-stream.h). */
#ifndef TRACEREF_RELAYD_EMBEDDED
#define viewer_stream_create(stream, seek_t) relay_viewer_stream_create(stream, seek_t)
#endif
#define viewer_stream_get_by_id(id) relay_viewer_stream_get_by_id(id)
#define viewer_stream_get(vstream) relay_viewer_stream_get(vstream)
#define viewer_stream_put(vstream) relay_viewer_stream_put(vstream)

/* Viewer sessions (viewer-session.h). */
#ifndef TRACEREF_RELAYD_EMBEDDED
#define viewer_session_create() relay_viewer_session_create()
#endif
#define viewer_session_attach(vsession, session) relay_viewer_session_attach(vsession, session)
#define viewer_session_detach(vsession, session) relay_viewer_session_detach(vsession, session)
#define viewer_session_is_attached(vsession, session) \
	relay_viewer_session_is_attached(vsession, session)
#define viewer_session_close(vsession) relay_viewer_session_close(vsession)
#define viewer_session_destroy(vsession) relay_viewer_session_destroy(vsession)

/* Connections (connection.h). */
#ifndef TRACEREF_RELAYD_EMBEDDED
#define connection_create(sock, type) relay_connection_create(sock, type)
#endif
#define connection_get_by_sock(relay_connections_ht, sock) \
	relay_connection_get_by_sock(relay_connections_ht, sock)
#define connection_get(connection) relay_connection_get(connection)
#define connection_put(connection) relay_connection_put(connection)
#define connection_ht_add(relay_connections_ht, conn) \
	relay_connection_table_add(relay_connections_ht, conn)
#define connection_set_session(conn, session) relay_connection_set_session(conn, session)

#endif /* TRACEREF_RELAYD_COMPAT_H */
