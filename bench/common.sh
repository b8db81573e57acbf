# shellcheck shell=bash
# Helpers shared by bench/run.sh and bench/profile.sh: build lockable into a
# private PostgreSQL installation, create and start a scratch server, run
# SQL against it.  Sourced, not executed; expects `set -euo pipefail`.
#
# Uses scripts/lib.sh (Debian package install, running as the postgres OS
# user when root, scratch directories).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(dirname "$BENCH_DIR")

# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"

# What the suite needs from Debian (lk_install_deps installs what is
# missing):
#  - postgresql-15: server, initdb, pgbench; postgresql-server-dev-15: PGXS
#  - libpq-dev: the hand-off latency program (bench/handoff.c)
#  - redis-server, redis-tools: the Redis comparison (redis-benchmark)
# bench/profile.sh adds valgrind and linux-perf.
LK_APT_PACKAGES=(
	build-essential
	postgresql-15
	postgresql-server-dev-15
	libpq-dev
	redis-server
	redis-tools
)

# shellcheck disable=SC2034 # used by the scripts that source this file
NPROC=$(nproc 2>/dev/null || echo 2)

# free_port START: the first TCP port from START on that nobody listens on
free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}

# bench_code WORK SOURCE: make the code under test runnable.  SOURCE is
# head (git archive HEAD), rev:REV (git archive of commit REV), dir:PATH (a
# tree already extracted there, as run.sh --pg copies a revision into a
# Debian root), worktree (the working tree, edits included) or installed
# (the system's installation as it is).  Sets POSTGRES_BIN (the postgres
# executable to start), BENCH_PKGLIBDIR and SRC_DESC (what is being
# measured).  Called once per WORK directory, it can build two revisions
# side by side (run.sh's BENCH_BASELINE).
#
# For all but installed, lockable is built in WORK/src and installed into a
# private, relocated copy of the PostgreSQL installation, WORK/inst:
# PostgreSQL finds $libdir and its share directory relative to the postgres
# executable, so a copy of the executable in WORK/inst/<bindir> loads
# WORK/inst/<pkglibdir>/lockable.so and WORK/inst/<sharedir>/extension/
# lockable*, with symbolic links to everything else.  The system's
# installation is never touched, and other people's `make install` cannot
# change the code under test mid-run.
bench_code() {
	local work=$1 source=$2 bindir pkglibdir sharedir pair from to f commit dirty
	bindir=$("$PG_CONFIG" --bindir)
	pkglibdir=$("$PG_CONFIG" --pkglibdir)
	sharedir=$("$PG_CONFIG" --sharedir)
	commit=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
	POSTGRES_BIN=$bindir/postgres
	BENCH_PKGLIBDIR=$pkglibdir
	if [ "$source" = installed ]; then
		SRC_DESC="the system's installation ($pkglibdir/lockable.so, md5 $(md5sum "$pkglibdir/lockable.so" | cut -d' ' -f1))"
		return 0
	fi
	mkdir -p "$work/src"
	case $source in
	head | rev:*)
		local rev=HEAD
		[ "$source" = head ] || rev=${source#rev:}
		commit=$(git -C "$REPO" rev-parse --verify --quiet "$rev^{commit}") ||
			lk_die "no commit '$rev' in $REPO"
		git -C "$REPO" archive --format=tar "$commit" | tar -C "$work/src" -xf -
		SRC_DESC="commit $commit (git archive $rev)"
		;;
	dir:*)
		cp -a "${source#dir:}/." "$work/src/"
		SRC_DESC="the tree in ${source#dir:}"
		;;
	worktree)
		lk_copy_tree "$REPO" "$work/src"
		dirty=$({ git -C "$REPO" status --porcelain -- src sql lockable--1.0.sql lockable.control Makefile 2>/dev/null || true; } | wc -l)
		SRC_DESC="working tree at $commit ($dirty changed files in src/, sql/, the install script, control file or Makefile)"
		;;
	*) lk_die "unknown code source '$source'" ;;
	esac
	# run.sh --pg: what the host copied into the version's root
	if [ -n "${BENCH_SRC_DESC:-}" ]; then
		SRC_DESC="$BENCH_SRC_DESC, in a Debian root"
	fi
	if ! lk_build "$work/src" >"$work/build.log" 2>&1; then
		cat "$work/build.log"
		lk_die "build failed"
	fi
	make -C "$work/src" PG_CONFIG="$PG_CONFIG" install DESTDIR="$work/inst" >>"$work/build.log" 2>&1 ||
		{
			cat "$work/build.log"
			lk_die "make install DESTDIR=$work/inst failed"
		}
	mkdir -p "$work/inst$bindir"
	cp "$bindir/postgres" "$work/inst$bindir/postgres"
	for pair in "$pkglibdir:$work/inst$pkglibdir" "$sharedir:$work/inst$sharedir" \
		"$sharedir/extension:$work/inst$sharedir/extension"; do
		from=${pair%%:*}
		to=${pair#*:}
		mkdir -p "$to"
		for f in "$from"/*; do
			[ -e "$to/${f##*/}" ] || [ -L "$to/${f##*/}" ] || ln -s "$f" "$to/"
		done
	done
	POSTGRES_BIN=$work/inst$bindir/postgres
	BENCH_PKGLIBDIR=$work/inst$pkglibdir
	SRC_DESC="$SRC_DESC, lockable.so md5 $(md5sum "$BENCH_PKGLIBDIR/lockable.so" | cut -d' ' -f1)"
}

# bench_initdb DATA PORT MAX_LEASES SOCKDIR: a new cluster for the benchmark.
# Everything not set here is initdb's default: fsync, synchronous_commit
# and full_page_writes on, shared_buffers 128MB, autovacuum on.
bench_initdb() {
	local data=$1 port=$2 max_leases=$3 sockdir=$4
	lk_as_server_user "$("$PG_CONFIG" --bindir)/initdb" -D "$data" -A trust -U postgres --no-sync \
		>"$data.initdb.log" 2>&1 || {
		cat "$data.initdb.log"
		lk_die "initdb failed"
	}
	cat >>"$data/postgresql.conf" <<EOF

# ---- bench/: everything else is initdb's default (fsync = on,
# synchronous_commit = on, full_page_writes = on, shared_buffers = 128MB,
# autovacuum = on, lockable.worker_naptime = 1s, ...)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
max_connections = 100
shared_preload_libraries = 'lockable'
lockable.max_leases = $max_leases
EOF
}

# pg_start DATA LOG [POSTGRES OPTIONS]: start the server with POSTGRES_BIN
pg_start() {
	local data=$1 log=$2
	shift 2
	lk_as_server_user "$("$PG_CONFIG" --bindir)/pg_ctl" -D "$data" -p "$POSTGRES_BIN" -l "$log" \
		-w -t 300 -o "$*" start >/dev/null
}

pg_stop() {
	lk_as_server_user "$("$PG_CONFIG" --bindir)/pg_ctl" -D "$1" -m fast -w -t 300 stop >/dev/null
}

# q SQL: one query in database bench of the server on BENCH_PORT, unaligned
q() {
	"$("$PG_CONFIG" --bindir)/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$BENCH_PORT" \
		-U postgres -d "${BENCH_DB:-bench}" -c "$1"
}

# bench_check_libdir: the server must run the private installation
bench_check_libdir() {
	local got
	got=$(q "SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")
	[ "$got" = "$BENCH_PKGLIBDIR" ] ||
		lk_die "the server uses \$libdir $got, not $BENCH_PKGLIBDIR"
}

# bench_finish RC SCRIPT: from an EXIT trap, after the servers are stopped:
# keep the server log with the outputs, keep the scratch directory $WORK on
# failure or with BENCH_KEEP=1 (remove it otherwise), and exit with RC.
bench_finish() {
	local rc=$1 script=$2
	[ -n "$WORK" ] && [ -f "$WORK/postgresql.log" ] && cp "$WORK/postgresql.log" "$OUT/postgresql.log"
	if [ -n "$WORK" ]; then
		if [ "$rc" -ne 0 ] || [ "${BENCH_KEEP:-0}" = 1 ]; then
			echo "scratch directory kept: $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	[ "$rc" -ne 0 ] && echo "bench/$script failed (exit status $rc); outputs so far in $OUT" >&2
	exit "$rc"
}
