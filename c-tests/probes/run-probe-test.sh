#!/usr/bin/env bash
# The static probes fire, with the right arguments, as many times as the
# workload says: bpftrace attaches to the USDT probes of provider traceref in
# a running probe_workload (bpftrace -p), the workload then does its known
# gets and puts on one Babeltrace object and one relay session (plus one
# refused get, one misuse and one lock order violation), and the counts
# bpftrace saw, filtered on the objects' addresses, must be exactly those.
#
#   run-probe-test.sh WORKLOAD LIBRARY
#
# WORKLOAD is the probe_workload program (probe_workload.c), LIBRARY the
# libtraceref.so it loads. Exit status: 0 passed, 1 failed, 77 skipped: not
# root, no bpftrace, no tracefs (mounted here when missing), or bpftrace
# cannot run a BPF program or attach a plain uprobe (the kernel refuses);
# the reason is printed on a "SKIP:" line. Probes missing from LIBRARY, or
# that bpftrace cannot attach to where a plain uprobe attaches, fail it.
set -uo pipefail

if [ $# -ne 2 ]; then
    echo "usage: run-probe-test.sh WORKLOAD LIBRARY" >&2
    exit 2
fi
workload=$1
lib=$2

skip() {
    echo "SKIP: $*"
    exit 77
}
fail() {
    echo "FAIL: $*"
    exit 1
}

[ -x "$workload" ] || fail "no workload program $workload"
[ -f "$lib" ] || fail "no library $lib"
[ "$(id -u)" -eq 0 ] || skip "not root: attaching to USDT probes needs root (CAP_BPF, CAP_PERFMON)"
command -v bpftrace >/dev/null 2>&1 || skip "bpftrace not installed (Debian: apt-get install bpftrace)"

# The uprobes are detached through tracefs's uprobe_events (bcc, under
# bpftrace, falls back to it): without it every detach fails.
have_tracefs() {
    [ -e /sys/kernel/tracing/uprobe_events ] || [ -e /sys/kernel/debug/tracing/uprobe_events ]
}
if ! have_tracefs && [ -d /sys/kernel/tracing ]; then
    if mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
        echo "mounted tracefs on /sys/kernel/tracing"
    fi
fi
have_tracefs || skip "no tracefs (no uprobe_events in /sys/kernel/tracing or /sys/kernel/debug/tracing, and mount -t tracefs failed)"

if ! out=$(timeout 60 bpftrace -e 'BEGIN { exit(); }' 2>&1); then
    skip "bpftrace cannot run a BPF program here: $(tail -n 3 <<<"$out")"
fi
# Whether the kernel attaches uprobes at all (on the workload's main): past
# this, a failure to attach to the library's probes is the library's.
if ! out=$(timeout 60 bpftrace -e "uprobe:$workload:main {} BEGIN { exit(); }" 2>&1); then
    skip "the kernel refuses uprobes: $(tail -n 3 <<<"$out")"
fi

# The notes must be there (tests/probes.rs checks them in detail).
listed=$(bpftrace -l "usdt:$lib:traceref:*" 2>&1)
for p in get put release get_refused free misuse lock_order; do
    grep -q ":traceref:$p\$" <<<"$listed" ||
        fail "bpftrace -l does not list usdt:$lib:traceref:$p; it listed: $listed"
done

dir=$(mktemp -d)
wpid=
bpid=
cleanup() {
    touch "$dir/go" "$dir/stop" 2>/dev/null
    if [ -n "$bpid" ] && kill -0 "$bpid" 2>/dev/null; then
        kill -INT "$bpid" 2>/dev/null
        wait "$bpid" 2>/dev/null
    fi
    if [ -n "$wpid" ] && kill -0 "$wpid" 2>/dev/null; then
        kill "$wpid" 2>/dev/null
        wait "$wpid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

# Wait (at most $2 tenths of a second) for a line matching $1 in file $3,
# while process $4 lives.
wait_line() {
    local pattern=$1 tenths=$2 file=$3 pid=$4 i
    for ((i = 0; i < tenths; i++)); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { grep -q "$pattern" "$file" 2>/dev/null; return; }
        sleep 0.1
    done
    return 1
}

"$workload" "$dir" >"$dir/workload.out" 2>"$dir/workload.err" &
wpid=$!
wait_line '^ready ' 100 "$dir/workload.out" "$wpid" ||
    fail "the workload did not start: $(cat "$dir/workload.out" "$dir/workload.err")"
ready=$(grep '^ready ' "$dir/workload.out")
field() {
    sed -n "s/.* $1=\([0-9][0-9]*\).*/\1/p" <<<"$ready"
}
trace=$(field trace)
session=$(field session)
session_id=$(field session_id)
outer=$(field mutex_outer)
inner=$(field mutex_inner)
n=$(field trace_gets)
k=$(field session_gets)
echo "workload: $ready"

# arg0 address, arg1 kind name, arg2 id, arg3 count after (see
# src/core/probes.rs); misuse: function, message; lock_order: the lock
# taken, the lock held (each inside its struct traceref_mutex, 32 bytes).
cat >"$dir/probes.bt" <<EOF
BEGIN { printf("attached\n"); }
usdt:$lib:traceref:get {
    if (arg0 == \$1) {
        @trace_get++; @trace_get_last = arg3;
        if (str(arg1) != "trace" || arg2 != 0) { @bad_args++; }
    } else if (arg0 == \$2) {
        @session_get++; @session_get_last = arg3;
        if (str(arg1) != "session" || arg2 != \$3) { @bad_args++; }
    }
}
usdt:$lib:traceref:put {
    if (arg0 == \$1) {
        @trace_put++; @trace_put_last = arg3;
        if (str(arg1) != "trace" || arg2 != 0) { @bad_args++; }
    } else if (arg0 == \$2) {
        @session_put++; @session_put_last = arg3;
        if (str(arg1) != "session" || arg2 != \$3) { @bad_args++; }
    }
}
usdt:$lib:traceref:release {
    if (arg0 == \$1) {
        @trace_release++;
        if (str(arg1) != "trace" || arg2 != 0) { @bad_args++; }
    } else if (arg0 == \$2) {
        @session_release++;
        if (str(arg1) != "session" || arg2 != \$3) { @bad_args++; }
    }
}
usdt:$lib:traceref:get_refused {
    if (arg0 == \$2) {
        @session_refused++;
        if (str(arg1) != "session" || arg2 != \$3) { @bad_args++; }
    }
}
usdt:$lib:traceref:free {
    if (arg0 == \$1) {
        @trace_free++;
        if (str(arg1) != "trace") { @bad_args++; }
    } else if (arg0 == \$2) {
        @session_free++;
        if (str(arg1) != "session") { @bad_args++; }
    }
}
usdt:$lib:traceref:misuse /str(arg0) == "bt_put"/ { @misuse_bt_put++; }
usdt:$lib:traceref:lock_order {
    @lock_order++;
    if ((uint64)arg0 < (uint64)\$4 || (uint64)arg0 >= (uint64)\$4 + 32 ||
        (uint64)arg1 < (uint64)\$5 || (uint64)arg1 >= (uint64)\$5 + 32) { @bad_args++; }
}
END {
    printf("RESULT trace_get=%d trace_get_last=%d trace_put=%d trace_put_last=%d trace_release=%d trace_free=%d",
           @trace_get, @trace_get_last, @trace_put, @trace_put_last, @trace_release, @trace_free);
    printf(" session_get=%d session_get_last=%d session_put=%d session_put_last=%d session_refused=%d session_release=%d session_free=%d",
           @session_get, @session_get_last, @session_put, @session_put_last, @session_refused, @session_release, @session_free);
    printf(" misuse_bt_put=%d lock_order=%d bad_args=%d\n", @misuse_bt_put, @lock_order, @bad_args);
    clear(@trace_get); clear(@trace_get_last); clear(@trace_put); clear(@trace_put_last);
    clear(@trace_release); clear(@trace_free); clear(@session_get); clear(@session_get_last);
    clear(@session_put); clear(@session_put_last); clear(@session_refused);
    clear(@session_release); clear(@session_free); clear(@misuse_bt_put); clear(@lock_order);
    clear(@bad_args);
}
EOF

bpftrace -p "$wpid" "$dir/probes.bt" "$trace" "$session" "$session_id" "$outer" "$inner" \
    >"$dir/bpftrace.out" 2>"$dir/bpftrace.err" &
bpid=$!
if ! wait_line '^attached' 1200 "$dir/bpftrace.out" "$bpid"; then
    fail "bpftrace could not attach to the library's probes: $(tail -n 5 "$dir/bpftrace.err" "$dir/bpftrace.out")"
fi
echo "bpftrace: $(head -n 1 "$dir/bpftrace.out")"

start=$SECONDS
touch "$dir/go"
wait_line '^done' 600 "$dir/workload.out" "$wpid" ||
    fail "the workload did not finish: $(cat "$dir/workload.out" "$dir/workload.err")"
# bpftrace prints the END line on SIGINT, after detaching every probe
# location (a few hundred: slow on some kernels).
kill -INT "$bpid"
wait "$bpid"
brc=$?
bpid=
echo "bpftrace exited with $brc after $((SECONDS - start)) s"
touch "$dir/stop"
wait "$wpid"
wrc=$?
wpid=
[ "$wrc" -eq 0 ] || fail "the workload exited with $wrc: $(cat "$dir/workload.err")"

result=$(grep '^RESULT ' "$dir/bpftrace.out") ||
    fail "no RESULT line from bpftrace (exit $brc): $(cat "$dir/bpftrace.out" "$dir/bpftrace.err")"
echo "seen: ${result#RESULT }"

expected="trace_get=$n trace_get_last=$((n + 1)) trace_put=$((n + 1)) trace_put_last=0"
expected+=" trace_release=1 trace_free=1"
expected+=" session_get=$k session_get_last=$((k + 1)) session_put=$((k + 1)) session_put_last=0"
expected+=" session_refused=1 session_release=1 session_free=1"
expected+=" misuse_bt_put=1 lock_order=1 bad_args=0"
passed=0
failed=0
for want in $expected; do
    name=${want%%=*}
    got=$(sed -n "s/.* $name=\(-\{0,1\}[0-9]*\).*/\1/p" <<<" ${result#RESULT }")
    if [ "$name=$got" = "$want" ]; then
        passed=$((passed + 1))
    else
        echo "MISMATCH: $name: seen ${got:-nothing}, expected ${want#*=}"
        failed=$((failed + 1))
    fi
done
echo "$passed of $((passed + failed)) counts as expected"
[ "$failed" -eq 0 ] || fail "the probes did not fire as the workload says; bpftrace's errors: $(cat "$dir/bpftrace.err")"
echo "PASS: every probe fired as often as the workload says, with its arguments"
