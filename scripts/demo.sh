#!/usr/bin/env bash
# Show lockable working on a local PostgreSQL (15, the host's, by default).
#
#   scripts/demo.sh          build + install lockable, start (or reuse) the
#                            demo server, run the demo
#   scripts/demo.sh stop     stop the demo server (pg_ctl stop -m fast)
#   scripts/demo.sh restart  stop it, then as with no argument (use this to
#                            load a freshly built lockable.so)
#   scripts/demo.sh status   is the demo server running?
#   scripts/demo.sh --pg 18 [stop|restart|status]
#                            the same on PostgreSQL 17, 18 or 19, in the
#                            Debian root that scripts/test.sh --pg uses
#                            (made on first use); the server runs there and
#                            its socket is reachable from the host
#
# The demo server has a directory of its own: $LOCKABLE_DEMO_DIR, by default
# ~/.lockable-demo, or /var/tmp/lockable-demo when run as root (the server
# then runs as the `postgres` OS user, since PostgreSQL refuses to run as
# root).  It listens only on a unix socket in that directory, port
# $LOCKABLE_DEMO_PORT (default 5499), with shared_preload_libraries =
# 'lockable' and trust authentication for local connections.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lk_parse_pg_args "$@"
set -- ${LK_ARGS[@]+"${LK_ARGS[@]}"}
case $LK_PG_SELECTED in
"" | 15) ;;
*" "*) lk_die "the demo runs on one PostgreSQL version at a time (--pg ${LK_PG_VERSIONS[*]})" ;;
*)
	# Run this script in the version's root; only the server's socket
	# directory is of interest from outside.
	root=$(lk_root_ensure "$LK_PG_SELECTED")
	inner=$(lk_root_copy_tree "$root")
	rc=0
	lk_root_exec "$root" PG_CONFIG="/usr/lib/postgresql/$LK_PG_SELECTED/bin/pg_config" \
		LOCKABLE_SKIP_APT=1 LOCKABLE_DEMO_PORT="${LOCKABLE_DEMO_PORT:-5499}" \
		LOCKABLE_DEMO_HOST_PREFIX="$root" LOCKABLE_DEMO_PG="$LK_PG_SELECTED" \
		bash "$inner/scripts/demo.sh" "$@" || rc=$?
	lk_sudo rm -rf "${root:?}${inner:?}"
	exit "$rc"
	;;
esac

if [ "$LK_IS_ROOT" -eq 1 ]; then
	DEMO_DIR=${LOCKABLE_DEMO_DIR:-/var/tmp/lockable-demo}
else
	DEMO_DIR=${LOCKABLE_DEMO_DIR:-$HOME/.lockable-demo}
fi
DEMO_PORT=${LOCKABLE_DEMO_PORT:-5499}
DATA="$DEMO_DIR/data"
SERVER_LOG="$DEMO_DIR/server.log"
PG_BINDIR=$LK_PG_BINDIR_DEFAULT
[ -x "$PG_CONFIG" ] && PG_BINDIR=$("$PG_CONFIG" --bindir)

# psql connects through the socket in DEMO_DIR as the postgres role; every
# psql started by the demo (also through psql's \!) inherits these.
export PGHOST="$DEMO_DIR" PGPORT="$DEMO_PORT" PGUSER=postgres PGDATABASE=postgres

pg_ctl_demo() {
	lk_as_server_user "$PG_BINDIR/pg_ctl" -D "$DATA" "$@"
}

server_running() {
	[ -f "$DATA/PG_VERSION" ] && pg_ctl_demo status >/dev/null 2>&1
}

stop_server() {
	if server_running; then
		pg_ctl_demo stop -m fast
	else
		echo "demo server in $DATA is not running"
	fi
}

start_server() {
	mkdir -p "$DEMO_DIR"
	if [ "$LK_IS_ROOT" -eq 1 ]; then
		getent passwd postgres >/dev/null || lk_die "no 'postgres' OS user to run the server as"
		chown postgres: "$DEMO_DIR"
		chmod 755 "$DEMO_DIR"
		runuser -u postgres -- test -w "$DEMO_DIR" ||
			lk_die "user postgres cannot write $DEMO_DIR; set LOCKABLE_DEMO_DIR to a directory it can reach"
	fi
	if [ ! -f "$DATA/PG_VERSION" ]; then
		lk_say "creating the demo cluster in $DATA"
		lk_as_server_user "$PG_BINDIR/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >"$DEMO_DIR/initdb.log" 2>&1 || {
			cat "$DEMO_DIR/initdb.log"
			lk_die "initdb failed"
		}
		lk_as_server_user tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# --- lockable demo (scripts/demo.sh) ---
listen_addresses = ''
port = $DEMO_PORT
unix_socket_directories = '$DEMO_DIR'
shared_preload_libraries = 'lockable'
EOF
	fi
	if server_running; then
		lk_say "demo server already running (data $DATA): reusing it"
		echo "    (it keeps the lockable.so it started with: 'scripts/demo.sh restart' loads a new build)"
		return 0
	fi
	lk_say "starting the demo server (log: $SERVER_LOG)"
	if ! pg_ctl_demo -l "$SERVER_LOG" -w -t 60 -o "-p $DEMO_PORT" start; then
		echo "----- last lines of $SERVER_LOG -----"
		tail -n 40 "$SERVER_LOG" || true
		lk_die "the demo server did not start"
	fi
}

build_and_install() {
	lk_install_deps
	lk_check_pg_config
	lk_check_can_install
	local work
	work=$(lk_mktemp_dir lockable-demo-build)
	lk_copy_tree "$LK_REPO_ROOT" "$work/lockable"
	if ! lk_build "$work/lockable" || ! lk_install "$work/lockable"; then
		lk_die "build or install failed (sources in $work/lockable)"
	fi
	rm -rf "$work"
}

run_demo() {
	local tmp
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/lockable-demo-run.XXXXXX")
	# the waiter's output, for the psql \! commands below
	export LOCKABLE_WAITER_OUT="$tmp/waiter.out" LOCKABLE_WAITER_DONE="$tmp/waiter.done"

	psql -X -q -v ON_ERROR_STOP=1 -c 'SET client_min_messages = warning' \
		-c 'CREATE EXTENSION IF NOT EXISTS lockable;' \
		-c 'ALTER EXTENSION lockable UPDATE;'
	# Leases left over from an earlier run (they outlive their session until
	# their ttl ends) would make step 1 report "busy": end them quietly.
	psql -X -q -o /dev/null -c "SELECT lockable_release(name, token) FROM lockable_leases
		WHERE name IN ('nightly-report', 'short-lived', 'exports');" 2>/dev/null || true

	echo
	lk_say "running the demo (psql echoes each statement it sends)"
	echo
	psql -X -e -v ON_ERROR_STOP=1 -P null='(null)' <<'SQL'
\echo
\echo '-- 1. Acquire a lease for 5 seconds; the result is its fencing token.'
SELECT lockable_acquire('nightly-report', ttl => '5 seconds') AS token \gset
\echo 'token =' :token

\echo
\echo '-- 2. Another session asks for the same name: NULL, it is busy.'
\! psql -X -e -P null='(null)' -c "SELECT lockable_acquire('nightly-report') AS token;"

\echo '-- 3. The holder renews its lease (true: still ours).'
SELECT lockable_heartbeat('nightly-report', :token);

\echo '-- 4. What is held right now.'
SELECT name, token, owner, pid, expires_at, ttl, keepalive, renewals FROM lockable_leases;

\echo '-- 5. Expiry: a 1 second lease nobody renews ends by itself.'
SELECT lockable_acquire('short-lived', ttl => '1 second') AS old_token \gset
\echo 'old_token =' :old_token
SELECT pg_sleep(1.2);
SELECT lockable_acquire('short-lived') AS new_token \gset
\echo 'new_token =' :new_token
SELECT :new_token > :old_token AS new_token_is_bigger;
\echo 'The old holder is fenced off: its heartbeat fails.'
SELECT lockable_heartbeat('short-lived', :old_token) AS old_token_still_valid;
SELECT lockable_release('short-lived', :new_token);

\echo
\echo '-- 6. A waiter: another session waits up to 30 seconds for nightly-report.'
SELECT lockable_heartbeat('nightly-report', :token) AS still_ours;
\! (PGAPPNAME=lockable-demo-waiter psql -X -e -P null='(null)' -c "SELECT lockable_acquire('nightly-report', wait => '30 seconds') AS waiter_token;" >"$LOCKABLE_WAITER_OUT" 2>&1; echo $? >"$LOCKABLE_WAITER_DONE") &
\! i=0; while [ $i -lt 100 ] && [ "$(psql -X -At -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lockable-demo-waiter' AND state = 'active'")" != 1 ]; do sleep 0.1; i=$((i+1)); done; sleep 0.3
\echo '(the waiter is now queued behind the holder)'
\echo 'The holder releases; the lease goes straight to the waiter:'
SELECT lockable_release('nightly-report', :token);
\! i=0; while [ $i -lt 300 ] && [ ! -s "$LOCKABLE_WAITER_DONE" ]; do sleep 0.1; i=$((i+1)); done
\echo 'The waiter session printed:'
\! sed 's/^/    | /' "$LOCKABLE_WAITER_OUT"
SELECT name, token, pid, expires_at FROM lockable_leases;

\echo
\echo '-- 7. A counting lease: at most 2 holders of exports at once, each with its own token.'
SELECT lockable_acquire('exports', ttl => '10 seconds', slots => 2) AS first \gset
SELECT lockable_acquire('exports', ttl => '10 seconds', slots => 2) AS second \gset
SELECT :second > :first AS tokens_increase;
\echo 'A third holder does not fit: NULL.'
SELECT lockable_acquire('exports', ttl => '10 seconds', slots => 2) AS third;
SELECT name, token, slots, shared FROM lockable_leases WHERE name = 'exports' ORDER BY token;
\echo 'One holder releases: a slot is free again.'
SELECT lockable_release('exports', :first);
SELECT lockable_acquire('exports', ttl => '10 seconds', slots => 2) AS third \gset
SELECT lockable_force_release('exports') AS all_holders_ended;

\echo '-- 8. Statistics.'
\set QUIET on
\x auto
\set QUIET off
SELECT * FROM lockable_stats;
SQL
	rm -rf "$tmp"
}

cmd=${1:-run}
case $cmd in
stop)
	stop_server
	exit 0
	;;
status)
	if server_running; then
		echo "demo server running: data $DATA, socket $DEMO_DIR, port $DEMO_PORT"
	else
		echo "demo server not running (data $DATA)"
		exit 3
	fi
	exit 0
	;;
restart)
	stop_server
	;;
run) ;;
-h | --help | help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
*)
	lk_die "unknown command '$cmd' (use: run, stop, restart, status)"
	;;
esac

build_and_install
start_server
run_demo

# In a version's root (--pg), the paths as seen from the host.
HOST_DEMO_DIR=${LOCKABLE_DEMO_HOST_PREFIX:-}$DEMO_DIR
PG_OPT=${LOCKABLE_DEMO_PG:+ --pg $LOCKABLE_DEMO_PG}
echo
echo "The demo server ($("$PG_BINDIR/postgres" --version)) keeps running.  Connect to it with:"
echo "    psql -h $HOST_DEMO_DIR -p $DEMO_PORT -U postgres postgres"
echo "Stop it with:"
echo "    scripts/demo.sh$PG_OPT stop"
