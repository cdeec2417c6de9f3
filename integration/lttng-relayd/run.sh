#!/usr/bin/env bash
# LTTng relay daemon integration run: builds lttng-tools' lttng-relayd from
# Debian's ltt-control source (with integration/lttng-relayd/*.patch applied,
# if any) and runs live-tracing scenarios against relay daemons: first the
# package's /usr/bin/lttng-relayd, then the built one.
#
# Usage: integration/lttng-relayd/run.sh [options]
#
#   --relayd PATH     run the scenarios against PATH only (no build, no package
#                     relayd)
#   --skip-build      do not fetch or build the source; test the package's
#                     relayd and build/lttng-relayd/bin/lttng-relayd if present
#   --valgrind        also run scenario a with the relayd under test under
#                     valgrind --error-exitcode=99 (memory errors and definite
#                     leaks fail it)
#   --scenarios LIST  comma-separated subset of a,b,c,d,e (default: all)
#   --with-traceref   install libtraceref (scripts/install.sh) under
#                     build/traceref and link the built relayd with it through
#                     pkg-config (automatic when a *.patch file exists)
#   --port-base N     control port N, data port N+1, live port N+2
#                     (default 5342: lttng's defaults), all on 127.0.0.1
#   -h, --help        this text
#
# Runs as root (lttng-sessiond, the relayd and the traced application share
# the system's session daemon directory). Not root, or the packages cannot be
# installed: prints what was skipped and why, exits 77. A scenario that fails,
# or a build that fails, makes the exit status 1. Everything it makes is under
# integration/lttng-relayd/build/: the source (src/), the binary
# (lttng-relayd/bin/lttng-relayd), the logs (logs/<relayd>/<scenario>/) and
# the summary (logs/summary.txt).
#
# What it changes on the machine: packages (lttng-tools, liblttng-ust-dev,
# babeltrace2, the build dependencies of ltt-control, valgrind with
# --valgrind); /etc/apt/sources.list.d/lttng-relayd-integration-deb-src.*
# (deb-src twins of the Debian deb entries) when apt knows no ltt-control
# source; a stale lttng-sessiond or lttng-relayd gets SIGTERM (by pid, said
# so). LTTNG_HOME is build/lttng-home; as root the session daemon's
# directory is /var/run/lttng whatever LTTNG_HOME says.
#
# Scenarios (each with its own lttng-sessiond --daemonize and relayd, both
# stopped at its end; the relayd by SIGTERM, its exit status must be 0):
#   a  one live session, one viewer: every event, in order
#   b  two sessions at once, a viewer on each; one viewer leaves (SIGTERM)
#      mid-session and another attaches in its place (2.13 allows one viewer
#      per session): the viewer that stays gets every event of both phases,
#      the one that left all of phase 1, its successor all of phase 2
#   c  sessions destroyed while their viewers read: one right after a burst
#      (its viewer still catching up must still get every event), the other
#      while the application is still tracing (its viewer: every event
#      traced before, in order, no gap)
#   d  the relayd gets SIGTERM while a session and its viewer are live: it
#      must exit with status 0, the viewer must end, and it had every event
#   e  the session daemon and its consumer daemons are killed (SIGKILL) while
#      the application traces: the relayd's control and data connections go
#      without any close command, so it closes the session's streams on its
#      own; the viewer must end, with the events that reached the relayd, in
#      order, no gap; then the relayd must stop at SIGTERM with status 0
# A relayd linked with libtraceref (the patched one) runs with
# TRACEREF_LEAK_CHECK=1: an object still alive at exit makes its exit status
# 1, and any line of the library on its stderr (leak report, lock order
# violation, misuse) fails the scenario.
# Sessions are destroyed newest first (2.13.9's session daemon hangs
# destroying the older of two streaming sessions: NOTES.md), and every lttng
# command, viewer and daemon stop has a timeout that fails the scenario.
#
# Timing on this 2-core machine: the whole run with --valgrind, from an empty
# build/ (packages already installed), about 140 s: 90 s build, 50 s
# scenarios.
set -uo pipefail

usage() {
    sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=$HERE/build
LOGS=$BUILD/logs
SRC_PKG=ltt-control
CONFIGURE_ARGS=(--disable-man-pages --without-lttng-ust --disable-shared)
BUILT_RELAYD=$BUILD/lttng-relayd/bin/lttng-relayd
PKG_RELAYD=/usr/bin/lttng-relayd

only_relayd=
skip_build=0
use_valgrind=0
with_traceref=0
scenarios=a,b,c,d,e
port_base=5342

while (($#)); do
    case $1 in
        --relayd)
            (($# >= 2)) || { echo "run.sh: --relayd needs a path" >&2; exit 2; }
            only_relayd=$2; shift 2 ;;
        --relayd=*) only_relayd=${1#--relayd=}; shift ;;
        --skip-build) skip_build=1; shift ;;
        --valgrind) use_valgrind=1; shift ;;
        --with-traceref) with_traceref=1; shift ;;
        --scenarios)
            (($# >= 2)) || { echo "run.sh: --scenarios needs a list" >&2; exit 2; }
            scenarios=$2; shift 2 ;;
        --scenarios=*) scenarios=${1#--scenarios=}; shift ;;
        --port-base)
            (($# >= 2)) || { echo "run.sh: --port-base needs a number" >&2; exit 2; }
            port_base=$2; shift 2 ;;
        --port-base=*) port_base=${1#--port-base=}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
if ! [[ $port_base =~ ^[0-9]+$ ]] || ((port_base < 1024 || port_base > 65530)); then
    echo "run.sh: --port-base wants a number in 1024..65530" >&2
    exit 2
fi
for s in ${scenarios//,/ }; do
    case $s in a | b | c | d | e) ;; *) echo "run.sh: unknown scenario '$s' (a, b, c, d, e)" >&2; exit 2 ;; esac
done
if [ -n "$only_relayd" ]; then
    case $only_relayd in /*) ;; *) only_relayd=$PWD/$only_relayd ;; esac
    if [ ! -x "$only_relayd" ]; then
        echo "run.sh: --relayd $only_relayd: not an executable file" >&2
        exit 2
    fi
fi

CTRL_PORT=$port_base
DATA_PORT=$((port_base + 1))
LIVE_PORT=$((port_base + 2))
START_TIME=$SECONDS

say() { printf '%s\n' "run.sh: $*"; }
skip() {
    say "SKIP: $*"
    say "nothing was tested; exit status 77 (skipped)"
    exit 77
}
elapsed() { echo "$((SECONDS - $1)) s"; }

# ---------------------------------------------------------------- preconditions

if [ "$(id -u)" != 0 ]; then
    skip "not root: lttng-sessiond, lttng-relayd and the traced application must run as root here (the session daemon's directory is /var/run/lttng), and the packages are installed with apt-get. Skipped: package installation, the source build, every scenario."
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    skip "no apt-get/dpkg: this script needs a Debian system. Skipped: everything."
fi

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_update() {
    if ((apt_updated == 0)); then
        say "apt-get update"
        apt-get update -q >"$BUILD/apt-update.log" 2>&1 || {
            say "apt-get update failed (see $BUILD/apt-update.log)"
            return 1
        }
        apt_updated=1
    fi
}

missing_packages() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
    done
}

# apt-get install what is missing of "$@"; returns non-zero when it cannot.
install_packages() {
    local missing
    missing=$(missing_packages "$@")
    [ -z "$missing" ] && return 0
    say "installing:" $missing
    apt_update || return 1
    # No recommends: lttng-tools would bring lttng-modules-dkms' kernel build.
    apt-get install -y -q --no-install-recommends $missing >"$BUILD/apt-install.log" 2>&1 || {
        say "apt-get install failed (see $BUILD/apt-install.log)"
        tail -5 "$BUILD/apt-install.log"
        return 1
    }
}

mkdir -p "$BUILD" "$LOGS"
RUNTIME_PACKAGES=(lttng-tools liblttng-ust-dev babeltrace2 gcc libc6-dev procps)
((use_valgrind)) && RUNTIME_PACKAGES+=(valgrind)
install_packages "${RUNTIME_PACKAGES[@]}" ||
    skip "cannot install the packages ${RUNTIME_PACKAGES[*]} with apt-get. Skipped: the source build and every scenario."
for tool in lttng lttng-sessiond babeltrace2 gcc; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool not found after installing its package. Skipped: everything."
done
say "lttng-tools $(dpkg-query -W -f='${Version}' lttng-tools), liblttng-ust-dev $(dpkg-query -W -f='${Version}' liblttng-ust-dev), babeltrace2 $(dpkg-query -W -f='${Version}' babeltrace2)"

# ---------------------------------------------------------------- the source

# A deb-src entry for every Debian archive the machine has a deb entry for
# (deb822 .sources files, and one-line .list files and sources.list), unless
# apt already knows the source package.
DEB_SRC_FILE=/etc/apt/sources.list.d/lttng-relayd-integration-deb-src
ensure_deb_src() {
    if apt-cache showsrc "$SRC_PKG" 2>/dev/null | grep -q '^Package:'; then
        return 0
    fi
    local f sources_out list_out
    sources_out=$(
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            [ "$f" = "$DEB_SRC_FILE.sources" ] && continue
            # One stanza per record; keep enabled ones whose Types has deb
            # and whose URIs are a Debian archive; write them as deb-src.
            awk 'BEGIN { RS = ""; FS = "\n" }
                {
                    types = ""; uris = ""; enabled = "yes"; out = ""
                    for (i = 1; i <= NF; i++) {
                        line = $i
                        if (line ~ /^[ \t]*#/) continue
                        if (line ~ /^[ \t]/) { out = out "\n" line; continue }
                        key = tolower(line); sub(/:.*/, "", key)
                        val = line; sub(/^[^:]*:[ \t]*/, "", val)
                        if (key == "types") { types = val; continue }
                        if (key == "uris") uris = val
                        if (key == "enabled") enabled = tolower(val)
                        out = out (out == "" ? "" : "\n") line
                    }
                    if (enabled == "no") next
                    if (types !~ /(^|[ \t])deb([ \t]|$)/) next
                    if (uris !~ /debian/) next
                    print "Types: deb-src\n" out "\n"
                }' "$f"
        done
    )
    list_out=$(
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            [ "$f" = "$DEB_SRC_FILE.list" ] && continue
            awk '$1 == "deb" && /debian/ { $1 = "deb-src"; print }' "$f"
        done
    )
    if [ -z "$sources_out$list_out" ]; then
        say "no Debian 'deb' entry found in /etc/apt/sources.list{,.d/} to mirror as deb-src"
        return 1
    fi
    [ -n "$sources_out" ] && printf '%s\n' "$sources_out" >"$DEB_SRC_FILE.sources"
    [ -n "$list_out" ] && printf '%s\n' "$list_out" >"$DEB_SRC_FILE.list"
    say "added deb-src entries: $(ls "$DEB_SRC_FILE".* | tr '\n' ' ')"
    apt_updated=0
    apt_update || return 1
    apt-cache showsrc "$SRC_PKG" 2>/dev/null | grep -q '^Package:' || {
        say "apt still knows no source package $SRC_PKG"
        return 1
    }
}

# The patches of this folder, applied in name order to the source tree in $1
# (the top of lttng-tools' source: patch -p1 paths like
# a/src/bin/lttng-relayd/main.c). No patch: nothing to do.
apply_patch() {
    local tree=$1 p found=0
    for p in "$HERE"/*.patch; do
        [ -f "$p" ] || continue
        found=1
        say "applying $(basename "$p")"
        patch -p1 -N -d "$tree" <"$p" >"$LOGS/patch-$(basename "$p").log" 2>&1 || {
            say "patch $(basename "$p") does not apply (see $LOGS/patch-$(basename "$p").log)"
            return 1
        }
    done
    ((found)) || say "no integration/lttng-relayd/*.patch: building the relayd unpatched"
    return 0
}

# What identifies the patches: their names and contents.
patches_signature() {
    local p
    for p in "$HERE"/*.patch; do
        [ -f "$p" ] && sha256sum "$p" | sed "s|$HERE/||"
    done | sha256sum | cut -d' ' -f1
}

# libtraceref under build/traceref (for the patched relayd), found through
# pkg-config. Sets RELAYD_MAKE_VARS to the make variables that link the
# relayd with it.
RELAYD_MAKE_VARS=()
traceref_linkage() {
    local tree=$1 prefix=$BUILD/traceref cppflags libs
    if ((with_traceref == 0)); then
        say "not linking libtraceref (no patch, no --with-traceref)"
        return 0
    fi
    say "installing libtraceref under $prefix (scripts/install.sh; cargo target $BUILD/traceref-target)"
    command -v cargo >/dev/null 2>&1 || { say "cargo not found: cannot build libtraceref"; return 1; }
    install_packages pkg-config || return 1
    CARGO_TARGET_DIR=$BUILD/traceref-target bash "$REPO/scripts/install.sh" --prefix "$prefix" \
        >"$LOGS/traceref-install.log" 2>&1 || {
        say "libtraceref install failed (see $LOGS/traceref-install.log)"
        return 1
    }
    export PKG_CONFIG_PATH=$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
    pkg-config --exists traceref || { say "pkg-config does not find traceref"; return 1; }
    # The configured values, with traceref's added (make's command line
    # replaces a variable: keep what configure put there).
    cppflags=$(sed -n 's/^CPPFLAGS = //p' "$tree/src/bin/lttng-relayd/Makefile")
    libs=$(sed -n 's/^LIBS = //p' "$tree/src/bin/lttng-relayd/Makefile")
    RELAYD_MAKE_VARS=("CPPFLAGS=$cppflags $(pkg-config --cflags traceref)"
        "LIBS=$libs $(pkg-config --libs traceref) -Wl,-rpath,$prefix/lib")
    say "linking the relayd with traceref $(pkg-config --modversion traceref): ${RELAYD_MAKE_VARS[*]}"
}

build_relayd() {
    local t0=$SECONDS dsc tree version upstream sig stamp fresh=0 cfg link_sig
    say "== build: $SRC_PKG source, lttng-relayd (logs: $LOGS/build-*.log)"
    install_packages dpkg-dev patch make ||
        skip "cannot install dpkg-dev, patch and make. Skipped: the build and every scenario."
    mkdir -p "$BUILD/src"
    dsc=$(ls "$BUILD/src/${SRC_PKG}"_*.dsc 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$dsc" ]; then
        ensure_deb_src || skip "no deb-src entry can be made for $SRC_PKG. Skipped: the build and every scenario."
        say "apt-get source $SRC_PKG"
        (cd "$BUILD/src" && apt-get source "$SRC_PKG") >"$LOGS/build-source.log" 2>&1 || {
            say "apt-get source $SRC_PKG failed (see $LOGS/build-source.log)"
            return 1
        }
        dsc=$(ls "$BUILD/src/${SRC_PKG}"_*.dsc 2>/dev/null | sort -V | tail -n 1)
        fresh=1
    fi
    version=$(sed -n 's/^Version: //p' "$dsc")
    upstream=${version#*:}
    upstream=${upstream%-*}
    tree=$BUILD/src/$SRC_PKG-$upstream
    say "source package $SRC_PKG $version (upstream $upstream), tree $tree"
    case $upstream in
        2.13.*) ;;
        *) say "WARNING: expected lttng-tools 2.13.x, found $upstream: the make targets below are 2.13's" ;;
    esac

    # The build dependencies (asciidoc, libpopt-dev, liburcu-dev, ...).
    ensure_deb_src || skip "no deb-src entry can be made for $SRC_PKG. Skipped: the build and every scenario."
    say "apt-get build-dep -y $SRC_PKG"
    apt-get build-dep -y -q "$SRC_PKG" >"$LOGS/build-dep.log" 2>&1 ||
        skip "apt-get build-dep $SRC_PKG failed (see $LOGS/build-dep.log). Skipped: the build; nothing was tested."

    # A tree with exactly the current patches: re-extracted when they change.
    sig=$(patches_signature)
    stamp=$BUILD/src/.patches-applied
    if [ ! -d "$tree" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$sig" ]; then
        if ((fresh == 0)) || [ ! -d "$tree" ]; then
            say "extracting a fresh tree from $(basename "$dsc")"
            rm -rf "$tree"
            (cd "$BUILD/src" && dpkg-source -x "$(basename "$dsc")" "$(basename "$tree")") \
                >"$LOGS/build-extract.log" 2>&1 || {
                say "dpkg-source -x failed (see $LOGS/build-extract.log)"
                return 1
            }
        fi
        rm -f "$stamp"
        apply_patch "$tree" || return 1
        echo "$sig" >"$stamp"
    fi
    compgen -G "$HERE/*.patch" >/dev/null && with_traceref=1

    cfg="${CONFIGURE_ARGS[*]}"
    if [ ! -f "$tree/config.status" ] || [ "$(cat "$BUILD/src/.configure-args" 2>/dev/null)" != "$cfg" ]; then
        say "./configure $cfg"
        rm -f "$BUILD/src/.configure-args"
        (cd "$tree" && ./configure "${CONFIGURE_ARGS[@]}") >"$LOGS/build-configure.log" 2>&1 || {
            say "configure failed (see $LOGS/build-configure.log)"
            tail -5 "$LOGS/build-configure.log"
            return 1
        }
        echo "$cfg" >"$BUILD/src/.configure-args"
    fi

    traceref_linkage "$tree" || return 1
    # Relink when the linkage changed.
    link_sig="${RELAYD_MAKE_VARS[*]:-}"
    if [ "$(cat "$BUILD/src/.relayd-link" 2>/dev/null)" != "$link_sig" ]; then
        rm -f "$tree/src/bin/lttng-relayd/lttng-relayd"
        echo "$link_sig" >"$BUILD/src/.relayd-link"
    fi

    local dir
    for dir in src/vendor src/common src/lib/lttng-ctl src/bin/lttng-relayd; do
        say "make -j2 -C $dir"
        local vars=()
        [ "$dir" = src/bin/lttng-relayd ] && vars=("${RELAYD_MAKE_VARS[@]}")
        make -j2 -C "$tree/$dir" "${vars[@]}" >"$LOGS/build-make-${dir//\//-}.log" 2>&1 || {
            say "make -C $dir failed (see $LOGS/build-make-${dir//\//-}.log)"
            grep -m 5 -E 'error|Error' "$LOGS/build-make-${dir//\//-}.log"
            return 1
        }
    done
    # --disable-shared: a real executable (no libtool wrapper), liblttng-ctl
    # and the common libraries linked in.
    if ! head -c 4 "$tree/src/bin/lttng-relayd/lttng-relayd" | grep -q 'ELF'; then
        say "src/bin/lttng-relayd/lttng-relayd is not an ELF executable (a libtool wrapper?)"
        return 1
    fi
    install -D -m 0755 "$tree/src/bin/lttng-relayd/lttng-relayd" "$BUILT_RELAYD"
    say "built $BUILT_RELAYD ($("$BUILT_RELAYD" --version 2>/dev/null)) in $(elapsed "$t0")"
}

# ---------------------------------------------------------------- daemons

HOSTNAME_=$(uname -n)
LTTNG_HOME=$BUILD/lttng-home
export LTTNG_HOME
SESSIOND_PIDFILE=/var/run/lttng/lttng-sessiond.pid
APP=$BUILD/tracef-app

# Every process this script started and has not seen end: killed at exit.
declare -A STARTED=()
cleanup() {
    local pid
    for pid in "${!STARTED[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            say "cleanup: killing ${STARTED[$pid]} (pid $pid)"
            kill -KILL "$pid" 2>/dev/null
        fi
    done
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

alive() { # pid: running (a zombie, ended but not yet waited for, is not)
    kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null)" != Z ]
}

wait_gone() { # pid timeout_seconds: 0 when the pid is gone in time
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.1
    done
    return 0
}

# Daemons of another run (or the package's init script) would take the
# session daemon's directory or the ports: end them, by pid.
stop_stale_daemons() {
    local name pid
    for name in lttng-sessiond lttng-relayd; do
        for pid in $(pgrep -x "$name"); do
            [ -n "${STARTED[$pid]:-}" ] && continue
            say "stale $name (pid $pid: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)): sending SIGTERM"
            kill -TERM "$pid" 2>/dev/null
            wait_gone "$pid" 10 || { kill -KILL "$pid" 2>/dev/null; wait_gone "$pid" 5; }
        done
    done
    # Its consumer daemons follow the session daemon.
    for pid in $(pgrep -x lttng-consumerd); do wait_gone "$pid" 10; done
}

port_listening() { # port
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p="$hex" '$4 == "0A" { split($2, a, ":"); if (toupper(a[2]) == p) f = 1 }
        END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

SESSIOND_PID=
start_sessiond() { # dir
    stop_stale_daemons
    rm -rf "$LTTNG_HOME"
    mkdir -p "$LTTNG_HOME"
    lttng-sessiond --daemonize --no-kernel >"$1/sessiond.log" 2>&1 || {
        REASON="lttng-sessiond --daemonize failed: $(tail -n 3 "$1/sessiond.log" | tr '\n' ' ')"
        return 1
    }
    SESSIOND_PID=$(cat "$SESSIOND_PIDFILE" 2>/dev/null)
    if [ -z "$SESSIOND_PID" ] || ! kill -0 "$SESSIOND_PID" 2>/dev/null; then
        REASON="lttng-sessiond did not stay up (no live pid in $SESSIOND_PIDFILE)"
        return 1
    fi
    STARTED[$SESSIOND_PID]=lttng-sessiond
}

stop_sessiond() {
    local pid=$SESSIOND_PID
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    wait_gone "$pid" 20 || { say "lttng-sessiond $pid ignores SIGTERM: SIGKILL"; kill -KILL "$pid"; wait_gone "$pid" 5; }
    unset "STARTED[$pid]"
    SESSIOND_PID=
    local c
    for c in $(pgrep -x lttng-consumerd); do wait_gone "$c" 10; done
}

# Whether the relayd at $1 is linked with libtraceref (the patched one).
links_traceref() {
    command -v readelf >/dev/null 2>&1 &&
        readelf -d "$1" 2>/dev/null | grep -q 'NEEDED.*libtraceref'
}

RELAYD_PID=
start_relayd() { # relayd dir valgrind(0|1)
    local relayd=$1 dir=$2 vg=$3 p deadline
    for p in $CTRL_PORT $DATA_PORT $LIVE_PORT; do
        if port_listening "$p"; then
            REASON="port $p is already in use"
            return 1
        fi
    done
    local cmd=("$relayd" -C "tcp://127.0.0.1:$CTRL_PORT" -D "tcp://127.0.0.1:$DATA_PORT"
        -L "tcp://127.0.0.1:$LIVE_PORT" -o "$dir/traces")
    if ((vg)); then
        cmd=(valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
            --errors-for-leak-kinds=definite --num-callers=30 --log-file="$dir/valgrind.log"
            "${cmd[@]}")
    fi
    # The patched relayd: the library lists any object still alive at exit
    # and then exits with status 1.
    if links_traceref "$relayd"; then
        cmd=(env TRACEREF_LEAK_CHECK=1 "${cmd[@]}")
    fi
    echo "${cmd[*]}" >"$dir/relayd.cmd"
    "${cmd[@]}" >"$dir/relayd.log" 2>&1 &
    RELAYD_PID=$!
    STARTED[$RELAYD_PID]=lttng-relayd
    deadline=$((SECONDS + (vg ? 60 : 15)))
    while ! { port_listening "$CTRL_PORT" && port_listening "$DATA_PORT" && port_listening "$LIVE_PORT"; }; do
        if ! alive "$RELAYD_PID"; then
            wait "$RELAYD_PID"
            REASON="the relayd exited (status $?) before listening: $(tail -n 3 "$dir/relayd.log" | tr '\n' ' ')"
            unset "STARTED[$RELAYD_PID]"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            REASON="the relayd does not listen on $CTRL_PORT/$DATA_PORT/$LIVE_PORT after $((vg ? 60 : 15)) s"
            return 1
        fi
        sleep 0.1
    done
}

# Waits for a child of this script to end; sets WAITED to its exit status,
# or "timeout" (then kills it).
wait_child() { # pid timeout
    local pid=$1 deadline=$((SECONDS + $2))
    while alive "$pid"; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            unset "STARTED[$pid]"
            WAITED=timeout
            return
        fi
        sleep 0.1
    done
    wait "$pid"
    WAITED=$?
    unset "STARTED[$pid]"
}

# SIGTERM to the relayd; sets RELAYD_STATUS to its exit status (or "timeout").
stop_relayd() { # timeout
    kill -TERM "$RELAYD_PID" 2>/dev/null
    wait_child "$RELAYD_PID" "$1"
    RELAYD_STATUS=$WAITED
}

# ---------------------------------------------------------------- lttng, viewers, the application

LTTNG_TIMEOUT=60 # seconds for one lttng command (destroy waits for the data)
lttng_cmd() { # dir args...: the lttng client, output to dir/lttng.log
    local dir=$1 rc
    shift
    echo "\$ lttng $*" >>"$dir/lttng.log"
    # --no-sessiond: never spawn a session daemon of its own when ours is
    # gone; timeout: a command that hangs fails the scenario instead.
    timeout "$LTTNG_TIMEOUT" lttng --no-sessiond "$@" >>"$dir/lttng.log" 2>&1
    rc=$?
    if ((rc == 124)); then
        echo "(timed out after $LTTNG_TIMEOUT s)" >>"$dir/lttng.log"
        LTTNG_TIMED_OUT="lttng $* did not complete within $LTTNG_TIMEOUT s"
    fi
    return $rc
}

# Destroys sessions, newest first, and records failures. Newest first: with
# lttng-tools 2.13.9's session daemon, destroying a streaming session while
# a session created after it still exists waits (lttng destroy prints dots)
# until that later session is destroyed, whatever the relayd (the session
# daemon polls "trace chunk exists" for the final rotation, and the consumer
# closes the older session's relay streams only when the newer one goes):
# see NOTES.md.
destroy_sessions() { # dir session... (newest first)
    local dir=$1 s
    shift
    for s in "$@"; do
        LTTNG_TIMED_OUT=
        lttng_cmd "$dir" destroy "$s" || fail "${LTTNG_TIMED_OUT:-lttng destroy $s failed: $(tail -n 1 "$dir/lttng.log")}"
    done
}

create_session() { # dir name
    lttng_cmd "$1" create "$2" --live=200000 --set-url="net://127.0.0.1:$CTRL_PORT:$DATA_PORT" &&
        lttng_cmd "$1" enable-event -u 'lttng_ust_tracef:*' -s "$2" &&
        lttng_cmd "$1" start "$2" || {
        echo "lttng create/enable-event/start $2 failed: $(tail -n 2 "$1/lttng.log" | tr '\n' ' ')"
        return 1
    }
}

declare -A VIEWER_PID=()
start_viewer() { # dir viewer-name session
    local dir=$1 v=$2 s=$3
    babeltrace2 --input-format=lttng-live "net://127.0.0.1:$LIVE_PORT/host/$HOSTNAME_/$s" \
        >"$dir/viewer-$v.out" 2>"$dir/viewer-$v.err" &
    VIEWER_PID[$v]=$!
    STARTED[$!]="babeltrace2 viewer $v"
}

# Waits for a viewer to end; sets STATUS to its exit status, or "timeout"
# (then kills it).
wait_viewer() { # viewer-name timeout
    wait_child "${VIEWER_PID[$1]}" "$2"
    STATUS=$WAITED
}

count_tag() { # file tag
    grep -c "msg = \"$2 seq=" "$1" 2>/dev/null
}

# Traces "sync" events until every viewer named has printed one: the viewers
# (babeltrace2 attaches at the live position, not at the start) are then
# attached and reading. Prints nothing on success, the reason otherwise.
sync_viewers() { # dir timeout viewer-names...
    local dir=$1 deadline=$((SECONDS + $2)) v all n=0
    shift 2
    while :; do
        "$APP" sync "$n" 1 >/dev/null 2>>"$dir/app.err"
        n=$((n + 1))
        sleep 0.3
        all=1
        for v in "$@"; do
            grep -q 'msg = "sync seq=' "$dir/viewer-$v.out" 2>/dev/null || all=0
        done
        ((all)) && return 0
        if ((SECONDS >= deadline)); then
            echo "viewers $* did not all show a sync event within $2 s"
            return 1
        fi
        for v in "$@"; do
            if ! alive "${VIEWER_PID[$v]}"; then
                echo "viewer $v exited before attaching: $(tail -n 2 "$dir/viewer-$v.err" | tr '\n' ' ')"
                return 1
            fi
        done
    done
}

wait_count() { # file tag count timeout: until the viewer printed count events of tag
    local deadline=$((SECONDS + $4))
    while (($(count_tag "$1" "$2") < $3)); do
        ((SECONDS >= deadline)) && return 1
        sleep 0.2
    done
}

# Checks a viewer's events of a tag: "full" wants first..first+count-1, each
# once, in order; "prefix" wants first..k (k >= first) in order, nothing
# missing before k. Prints the reason when it fails.
check_seq() { # file tag first count mode
    local file=$1 tag=$2 first=$3 count=$4 mode=$5 result
    result=$(grep -o "msg = \"$tag seq=[0-9]*\"" "$file" | sed 's/.*seq=\([0-9]*\)"/\1/' |
        awk -v first="$first" -v count="$count" -v mode="$mode" '
            { if (bad == "" && $1 != first + n) bad = "event #" n " has seq " $1 ", expected " first + n; n++ }
            END {
                if (bad != "") { print "out of order or missing: " bad " (" n " events)"; exit }
                if (mode == "full" && n != count) { print n " of " count " events"; exit }
                if (mode == "prefix" && n == 0) { print "no event"; exit }
                if (mode == "prefix" && n > count) { print n " events, more than the " count " traced"; exit }
            }')
    if grep -qi 'discarded' "$file" "${file%.out}.err" 2>/dev/null; then
        result="${result:+$result; }the tracer discarded events: $(grep -hi -m1 'discarded' "$file" "${file%.out}.err")"
    fi
    if [ -n "$result" ]; then
        echo "$tag: $result"
        return 1
    fi
}

# ---------------------------------------------------------------- scenarios

# Each scenario function runs in the scenario's directory context: $dir, and
# appends failure reasons with fail "...". It starts from a running sessiond
# and relayd; run_scenario stops both.
FAILS=()
fail() { FAILS+=("$*"); }
VWAIT=60 # seconds for a viewer to end after its session is destroyed

scenario_a() { # one live session, one viewer
    local n=2000 st r
    r=$(create_session "$dir" S) || { fail "$r"; return; }
    start_viewer "$dir" v S
    r=$(sync_viewers "$dir" 30 v) || { fail "$r"; return; }
    "$APP" a 0 "$n" 100 2000 >>"$dir/app.log" 2>>"$dir/app.err" || fail "tracef-app failed"
    wait_count "$dir/viewer-v.out" a "$n" 30 || true
    destroy_sessions "$dir" S
    wait_viewer v "$VWAIT"; st=$STATUS
    [ "$st" = 0 ] || fail "viewer v: exit status $st after the session was destroyed"
    r=$(check_seq "$dir/viewer-v.out" a 0 "$n" full) || fail "viewer v: $r"
    SUMMARY_EXTRA="viewer v: $(count_tag "$dir/viewer-v.out" a)/$n events"
}

# Starts viewer $2 on session $3 and waits until it reads (sync events);
# 2.13 refuses a second viewer on a session ("There is already a viewer
# attached"), so a viewer that follows one that left retries a few times
# while the relayd notices the departure.
start_synced_viewer() { # dir viewer session tries
    local dir=$1 v=$2 s=$3 tries=$4 i r
    for ((i = 1; i <= tries; i++)); do
        start_viewer "$dir" "$v" "$s"
        if r=$(sync_viewers "$dir" 30 "$v"); then
            return 0
        fi
        wait_viewer "$v" 5
        cp "$dir/viewer-$v.err" "$dir/viewer-$v.err.try$i" 2>/dev/null
        ((i < tries)) && sleep 1
    done
    echo "$r (after $tries tries)"
    return 1
}

scenario_b() { # two sessions at once, one viewer leaving mid-session
    local n1=1500 n2=1500 st r v
    r=$(create_session "$dir" A) || { fail "$r"; return; }
    r=$(create_session "$dir" B) || { fail "$r"; return; }
    start_viewer "$dir" va A
    start_viewer "$dir" vb B
    r=$(sync_viewers "$dir" 30 va vb) || { fail "$r"; return; }
    "$APP" p 0 "$n1" 100 2000 >>"$dir/app.log" 2>>"$dir/app.err" || fail "tracef-app (phase 1) failed"
    # vb leaves once it has read the whole first phase (mid-session, for
    # sure), abruptly: SIGTERM (a background job of a script ignores SIGINT).
    wait_count "$dir/viewer-vb.out" p "$n1" 30 || fail "viewer vb: $(count_tag "$dir/viewer-vb.out" p)/$n1 events of phase 1 after 30 s"
    kill -TERM "${VIEWER_PID[vb]}" 2>/dev/null
    wait_viewer vb 20; st=$STATUS
    [ "$st" = timeout ] && fail "viewer vb did not leave within 20 s of SIGTERM"
    # Another viewer takes its place: the relayd must have let go of the
    # first one's attachment.
    start_synced_viewer "$dir" vb2 B 5 >/dev/null || fail "viewer vb2 could not attach to B after vb left: $(tail -n 1 "$dir/viewer-vb2.err" 2>/dev/null)"
    "$APP" p "$n1" "$n2" 100 2000 >>"$dir/app.log" 2>>"$dir/app.err" || fail "tracef-app (phase 2) failed"
    wait_count "$dir/viewer-va.out" p $((n1 + n2)) 30 || true
    wait_count "$dir/viewer-vb2.out" p "$n2" 30 || true
    destroy_sessions "$dir" B A
    for v in va vb2; do
        [ -n "${VIEWER_PID[$v]:-}" ] || continue
        wait_viewer "$v" "$VWAIT"; st=$STATUS
        [ "$st" = 0 ] || fail "viewer $v: exit status $st after its session was destroyed"
    done
    r=$(check_seq "$dir/viewer-va.out" p 0 $((n1 + n2)) full) || fail "viewer va: $r"
    r=$(check_seq "$dir/viewer-vb2.out" p "$n1" "$n2" full) || fail "viewer vb2 (joined for phase 2): $r"
    r=$(check_seq "$dir/viewer-vb.out" p 0 "$n1" full) || fail "viewer vb (left after phase 1): $r"
    SUMMARY_EXTRA="va: $(count_tag "$dir/viewer-va.out" p)/$((n1 + n2)); vb left after $(count_tag "$dir/viewer-vb.out" p)/$n1 (exit status $st on SIGTERM); vb2 joined, $(count_tag "$dir/viewer-vb2.out" p)/$n2"
}

scenario_c() { # sessions destroyed while their viewers read
    local burst=20000 slow=30000 st r c2 c1 slow_pid v
    r=$(create_session "$dir" C1) || { fail "$r"; return; }
    r=$(create_session "$dir" C2) || { fail "$r"; return; }
    start_viewer "$dir" v1 C1
    start_viewer "$dir" v2 C2
    r=$(sync_viewers "$dir" 30 v1 v2) || { fail "$r"; return; }
    # A slow producer, still tracing when both sessions are destroyed
    # (10 events per ms at most: 3 s or more for all).
    "$APP" slow 0 "$slow" 10 1000 >>"$dir/app.log" 2>>"$dir/app.err" &
    slow_pid=$!
    STARTED[$slow_pid]=tracef-app
    # A burst: the viewers are still behind (live timer 200 ms) when C2 goes.
    "$APP" burst 0 "$burst" 1000 5000 >>"$dir/app.log" 2>>"$dir/app.err" || fail "tracef-app (burst) failed"
    c2=$(count_tag "$dir/viewer-v2.out" burst)
    destroy_sessions "$dir" C2
    # C1 goes while the slow producer still traces.
    c1=$(count_tag "$dir/viewer-v1.out" slow)
    alive "$slow_pid" || fail "the slow producer had finished before C1 was destroyed (no destroy while tracing)"
    destroy_sessions "$dir" C1
    wait "$slow_pid"
    unset "STARTED[$slow_pid]"
    for v in v1 v2; do
        wait_viewer "$v" "$VWAIT"; st=$STATUS
        [ "$st" = 0 ] || fail "viewer $v: exit status $st after its session was destroyed"
        r=$(check_seq "$dir/viewer-$v.out" burst 0 "$burst" full) || fail "viewer $v: $r"
        r=$(check_seq "$dir/viewer-$v.out" slow 0 "$slow" prefix) || fail "viewer $v: $r"
    done
    SUMMARY_EXTRA="burst: v2 had read $c2/$burst when C2 was destroyed, got $(count_tag "$dir/viewer-v2.out" burst); slow: v1 had $c1 when C1 was destroyed, got $(count_tag "$dir/viewer-v1.out" slow) (v2 $(count_tag "$dir/viewer-v2.out" slow)) of $slow, in order, no gap"
}

scenario_d() { # SIGTERM to the relayd while a session and its viewer are live
    local n=2000 st r
    SUMMARY_NOTE=
    r=$(create_session "$dir" D) || { fail "$r"; return; }
    start_viewer "$dir" v D
    r=$(sync_viewers "$dir" 30 v) || { fail "$r"; return; }
    "$APP" d 0 "$n" 100 2000 >>"$dir/app.log" 2>>"$dir/app.err" || fail "tracef-app failed"
    wait_count "$dir/viewer-v.out" d "$n" 30 || fail "viewer v: $(count_tag "$dir/viewer-v.out" d)/$n events after 30 s"
    stop_relayd "$RELAYD_TIMEOUT"
    RELAYD_STOPPED=1
    wait_viewer v 30; st=$STATUS
    [ "$st" = timeout ] && fail "viewer v still running 30 s after the relayd ended"
    r=$(check_seq "$dir/viewer-v.out" d 0 "$n" full) || fail "viewer v: $r"
    # Without its relayd, the session daemon's destroy reports a rotation
    # failure (2.13: "Rotation failure on consumer during the destruction"),
    # but the session must be gone.
    LTTNG_TIMED_OUT=
    if ! lttng_cmd "$dir" destroy D; then
        [ -n "$LTTNG_TIMED_OUT" ] && fail "$LTTNG_TIMED_OUT"
        SUMMARY_NOTE="; lttng destroy D without a relayd: $(tail -n 1 "$dir/lttng.log")"
    fi
    lttng_cmd "$dir" list
    if grep -q '^ *[0-9]*) D ' "$dir/lttng.log"; then
        fail "session D still listed after lttng destroy D"
    fi
    SUMMARY_EXTRA="viewer v: $(count_tag "$dir/viewer-v.out" d)/$n events, then exit status $st when the relayd ended${SUMMARY_NOTE:-}"
}

scenario_e() { # the session daemon and its consumers killed while tracing
    local n=30000 st r c pid cpid
    r=$(create_session "$dir" E) || { fail "$r"; return; }
    start_viewer "$dir" v E
    r=$(sync_viewers "$dir" 30 v) || { fail "$r"; return; }
    # The slow producer of scenario c, still tracing when the daemons die.
    "$APP" e 0 "$n" 10 1000 >>"$dir/app.log" 2>>"$dir/app.err" &
    pid=$!
    STARTED[$pid]=tracef-app
    wait_count "$dir/viewer-v.out" e 1000 30 || fail "viewer v: $(count_tag "$dir/viewer-v.out" e) events after 30 s"
    alive "$pid" || fail "the application had finished before the daemons were killed"
    c=$(count_tag "$dir/viewer-v.out" e)
    kill -KILL "$SESSIOND_PID" $(pgrep -x lttng-consumerd) 2>/dev/null
    wait_gone "$SESSIOND_PID" 10
    for cpid in $(pgrep -x lttng-consumerd); do wait_gone "$cpid" 10; done
    unset "STARTED[$SESSIOND_PID]"
    SESSIOND_PID=
    # The application carries on without a session daemon (its events go
    # nowhere); it is not waited for.
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "STARTED[$pid]"
    wait_viewer v "$VWAIT"; st=$STATUS
    [ "$st" = timeout ] && fail "viewer v still running $VWAIT s after the session daemon and its consumers were killed"
    r=$(check_seq "$dir/viewer-v.out" e 0 "$n" prefix) || fail "viewer v: $r"
    SUMMARY_EXTRA="viewer v had $c/$n events when the session daemon and its consumers were killed, got $(count_tag "$dir/viewer-v.out" e), in order, no gap, then exit status $st"
}

RESULTS=()
any_fail=0
run_scenario() { # label relayd scenario valgrind
    local label=$1 relayd=$2 sc=$3 vg=$4 t0=$SECONDS name r
    name=$sc
    ((vg)) && name=$sc-valgrind
    dir=$LOGS/$label/$name
    rm -rf "$dir"
    mkdir -p "$dir"
    FAILS=()
    SUMMARY_EXTRA=
    RELAYD_STATUS=
    RELAYD_STOPPED=0
    RELAYD_TIMEOUT=$((vg ? 120 : 20))
    VWAIT=$((vg ? 180 : 60))
    LTTNG_TIMEOUT=$((vg ? 180 : 60))
    VIEWER_PID=()
    say "-- [$label] scenario $name"
    REASON=
    if start_sessiond "$dir"; then
        if start_relayd "$relayd" "$dir" "$vg"; then
            "scenario_$sc"
            if ((RELAYD_STOPPED == 0)); then
                stop_relayd "$RELAYD_TIMEOUT"
            fi
            case $RELAYD_STATUS in
                0) ;;
                timeout) fail "relayd: still running $RELAYD_TIMEOUT s after SIGTERM (killed)" ;;
                99) fail "relayd: valgrind reported errors (exit status 99): $(grep -E 'ERROR SUMMARY|definitely lost' "$dir/valgrind.log" | sed 's/^==[0-9]*== //' | tr '\n' ' ')" ;;
                *) fail "relayd: exit status $RELAYD_STATUS after SIGTERM (expected 0)" ;;
            esac
            if links_traceref "$relayd"; then
                # Leak reports, misuse and lock-order warnings of the library.
                if grep -q '^traceref:' "$dir/relayd.log"; then
                    fail "libtraceref reported ($(grep -c '^traceref:' "$dir/relayd.log") lines): $(grep -m 3 '^traceref:' "$dir/relayd.log" | tr '\n' ' ')"
                else
                    SUMMARY_EXTRA="$SUMMARY_EXTRA; TRACEREF_LEAK_CHECK=1: nothing reported"
                fi
            fi
        else
            fail "$REASON"
        fi
    else
        fail "$REASON"
    fi
    # Viewers of a scenario that stopped early.
    local v
    for v in "${!VIEWER_PID[@]}"; do
        if kill -0 "${VIEWER_PID[$v]}" 2>/dev/null; then
            kill -KILL "${VIEWER_PID[$v]}" 2>/dev/null
            wait "${VIEWER_PID[$v]}" 2>/dev/null
            unset "STARTED[${VIEWER_PID[$v]}]"
        fi
    done
    if [ -n "$RELAYD_PID" ] && kill -0 "$RELAYD_PID" 2>/dev/null; then
        kill -KILL "$RELAYD_PID"
        wait "$RELAYD_PID" 2>/dev/null
        unset "STARTED[$RELAYD_PID]"
    fi
    RELAYD_PID=
    stop_sessiond
    local line
    if ((vg)) && [ -f "$dir/valgrind.log" ]; then
        SUMMARY_EXTRA="$SUMMARY_EXTRA; valgrind: $(grep -E 'ERROR SUMMARY' "$dir/valgrind.log" | sed 's/^==[0-9]*== //; s/ (suppressed.*//'), $(grep -E 'definitely lost' "$dir/valgrind.log" | sed 's/^==[0-9]*== *//')"
    fi
    if ((${#FAILS[@]} == 0)); then
        line="PASS  [$label] $name ($(elapsed "$t0"); relayd exit status $RELAYD_STATUS; $SUMMARY_EXTRA)"
    else
        any_fail=1
        line="FAIL  [$label] $name ($(elapsed "$t0")): $(printf '%s; ' "${FAILS[@]}")"
        line=${line%; }
    fi
    say "$line"
    RESULTS+=("$line")
    printf '%s\n' "$line" >"$dir/result.txt"
}

run_all() { # label relayd
    local label=$1 relayd=$2 sc
    say "== scenarios against $relayd ($("$relayd" --version 2>/dev/null | head -n 1))"
    for sc in ${scenarios//,/ }; do
        run_scenario "$label" "$relayd" "$sc" 0
    done
    if ((use_valgrind)); then
        run_scenario "$label" "$relayd" a 1
    fi
}

# ---------------------------------------------------------------- main

build_failed=0
tested=()
if [ -z "$only_relayd" ] && ((skip_build == 0)); then
    build_relayd || build_failed=1
fi

say "compiling the traced application (tracef-app.c, -llttng-ust -ldl)"
gcc -O2 -Wall -o "$APP" "$HERE/tracef-app.c" -llttng-ust -ldl >"$LOGS/tracef-app-build.log" 2>&1 || {
    say "cannot compile tracef-app.c (see $LOGS/tracef-app-build.log)"
    exit 1
}

rm -f "$LOGS/summary.txt"
if [ -n "$only_relayd" ]; then
    run_all given "$only_relayd"
    tested+=("$only_relayd")
else
    if [ -x "$PKG_RELAYD" ]; then
        run_all package "$PKG_RELAYD"
        tested+=("$PKG_RELAYD")
    else
        say "SKIP: no $PKG_RELAYD (package lttng-tools): the package's relayd was not tested"
        RESULTS+=("SKIP  [package] $PKG_RELAYD missing")
    fi
    if ((build_failed)); then
        RESULTS+=("FAIL  [built] the build failed: see $LOGS/build-*.log")
        any_fail=1
    elif [ -x "$BUILT_RELAYD" ]; then
        run_all built "$BUILT_RELAYD"
        tested+=("$BUILT_RELAYD")
    else
        say "SKIP: no built relayd at $BUILT_RELAYD (--skip-build): it was not tested"
        RESULTS+=("SKIP  [built] no $BUILT_RELAYD (--skip-build)")
    fi
fi

stop_stale_daemons
{
    echo "lttng-relayd integration run, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(elapsed "$START_TIME")"
    printf '%s\n' "${RESULTS[@]}"
} | tee "$LOGS/summary.txt" | sed 's/^/run.sh: /'
if ((${#tested[@]} == 0)); then
    say "no relayd was tested: exit status 77 (skipped)"
    exit 77
fi
if ((any_fail)); then
    say "some scenarios failed (logs: $LOGS)"
    exit 1
fi
say "every scenario passed ($(elapsed "$START_TIME"))"
exit 0
