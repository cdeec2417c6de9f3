# C tests of the relay daemon object model (included from CMakeLists.txt).
traceref_add_c_test(relay_lifecycle unit/relay_lifecycle.c)
traceref_add_c_test(relay_hierarchy unit/relay_hierarchy.c)
traceref_add_c_test(relay_stress unit/relay_stress.c)
traceref_add_c_test(relay_bad_input unit/relay_bad_input.c)
traceref_add_c_test(relay_lock_order unit/relay_lock_order.c)
traceref_add_c_test(relay_borrow_close unit/relay_borrow_close.c)
# Indexes in the program's own structs (relay_index_get_by_id_or_init),
# borrowed by threads holding the stream's lock while other threads close
# the stream, abort or close the session, or put the control connection
# owning it: none freed before the holder's unlock, each freed once,
# candidates that lost never given to the free function.
traceref_add_c_test(relay_borrow_embedded unit/relay_borrow_embedded.c)
traceref_add_c_test(relay_walk_closed unit/relay_walk_closed.c)
# The walks over the containers (a session's traces and viewer streams, a
# trace's published streams, a viewer session's sessions, a table's
# connections) and the close of one session of a viewer session, with the
# objects in the program's own structs.
traceref_add_c_test(relay_walks unit/relay_walks.c)
# Connection-table membership against close and destroy: each race for a
# bounded time (TRACEREF_RACE_SECONDS per scenario, default 2).
traceref_add_c_test(relay_table_race unit/relay_table_race.c)
# Payload destructors never run inside the application's lookups, gets,
# puts or closes (the reclaim thread or the barrier runs them).
traceref_add_c_test(relay_reclaim_context unit/relay_reclaim_context.c)
# The seven kinds embedded in the daemon's own structs (relay_*_init): free
# functions run once each, C fields never overwritten, on one thread and on
# a control and a live thread.
traceref_add_c_test(relay_embedded unit/relay_embedded.c)
# The stream close hook: one call per stream that closes, whichever call
# closes it, under the stream's lock on the thread completing the close
# (owner's closes racing the session's teardown, pending closes completed by
# data, closes completed at another thread's unlock), none for a stream put
# without a close.
traceref_add_c_test(relay_close_hook unit/relay_close_hook.c)
# The reclaim thread's start and stop functions, set before it starts: every
# free function runs after the start one; the stop one runs at exit.
traceref_add_c_test(reclaim_thread_hooks unit/reclaim_thread_hooks.c)
