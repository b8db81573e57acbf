#!/usr/bin/env bash
# The lockable benchmark suite: lockable against PostgreSQL advisory locks,
# a do-it-yourself lease table and Redis, under contention and at scale.
#
#   bench/run.sh                  full suite (about 22 minutes)
#   BENCH_QUICK=1 bench/run.sh    quick pass for development (about 5 minutes)
#   bench/run.sh --pg 18          the same on PostgreSQL 17, 18 or 19, in the
#                                 Debian root scripts/test.sh --pg uses; the
#                                 results are copied back to BENCH_OUT
#
# Not part of scripts/test.sh.  What it does, in order:
#  1. installs what is missing from Debian's packages (apt-get, as
#     scripts/lib.sh does), and in the full suite waits (up to
#     BENCH_LOAD_WAIT s) for the machine's 1-minute load to drop below
#     BENCH_MAX_LOAD;
#  2. builds lockable from the committed HEAD (or the working tree, see
#     BENCH_SOURCE) in a scratch directory and installs it into a private,
#     relocated copy of the PostgreSQL installation there: the system's
#     installation is neither used nor touched, so other people's
#     `make install` cannot change the code under test mid-run;
#  3. starts its own PostgreSQL (initdb in the scratch directory, as the
#     postgres OS user when run as root) and Redis, both on 127.0.0.1 only;
#  4. runs every configuration BENCH_REPS times, interleaved (rep 1 of
#     everything, then rep 2, ...), with pgbench -M prepared over TCP;
#  5. writes everything to BENCH_OUT: raw outputs, results.tsv (every
#     figure of every repetition), info.tsv (machine, versions, settings)
#     and results.md (the tables for BENCHMARKS.md, medians of the reps).
#
# The sections (BENCH_SECTIONS):
#   throughput     pairs on random names: lockable, advisory locks, the
#                  lease tables, Redis, at BENCH_CLIENTS
#   contention     every client on one hot name, try and wait
#   counting       one hot counting lease (slots => 8) at
#                  BENCH_COUNTING_CLIENTS, try and wait, and shared mode,
#                  with the plain hot-name pair beside them in the same
#                  rep (and the plain and counting pairs on random names):
#                  attempts/s, the share of acquires that got a slot
#                  (lockable_stats acquired / (acquired + refused)) and
#                  pairs/s (attempts/s x that share)
#   handoff        release -> next waiter holding the lease: one waiter,
#                  and a relay of clients (bench/handoff.c)
#   handoff_multi  one statement of the holder lets several queued
#                  waiters in at once (handoff -m multi): a counting lease
#                  whose holder releases its slots or force-releases the
#                  name, and a writer whose release lets queued shared
#                  readers in (advisory shared locks beside); the time
#                  until the first and until the last waiter holds it
#   scale          the pair with up to a million live leases, the sweep
#   shmem          shared memory per lease
#   baseline       only with BENCH_BASELINE (and then added by default):
#                  the pair scripts BENCH_BASELINE_TESTS against the code
#                  under test and against commit BENCH_BASELINE, built into
#                  a second private installation with a server of its own
#                  (both servers up, only one measured at a time), run
#                  alternately: BENCH_BASELINE_ROUNDS adjacent pairs of
#                  runs per client count per repetition, which of the two
#                  goes first alternating, and the ratio of each adjacent
#                  pair recorded; advisory_2stmt (no lockable call) shows
#                  how far two identical servers differ
# counting and handoff_multi need version 1.3 (slots, shared): they are
# skipped, with a warning, on code without them.
#
# Environment (defaults in brackets; quick mode's in braces):
#   BENCH_SECONDS      seconds per pgbench/redis run [10] {2}
#   BENCH_CLIENTS      client counts [1 8 32] {1 8}
#   BENCH_REPS         repetitions of every configuration, >= 2 [2]
#   BENCH_SECTIONS     any of the sections above [all of them; baseline
#                      only with BENCH_BASELINE]
#   BENCH_SOURCE       head: build `git archive HEAD` [default];
#                      rev:REV: build `git archive REV`;
#                      worktree: build the working tree, edits included;
#                      installed: use the system's installation as it is
#   BENCH_BASELINE     a commit to compare the code under test with
#                      (section baseline), e.g. the one before a change
#   BENCH_BASELINE_TESTS   [lockable_2stmt lockable_1stmt advisory_2stmt]
#   BENCH_BASELINE_CLIENTS [BENCH_CLIENTS]
#   BENCH_BASELINE_ROUNDS  adjacent pairs of runs per repetition [2]
#   BENCH_COUNTING_CLIENTS client counts of the counting section [8 32]
#   BENCH_HANDOFF_N    hand-off iterations per rep, single waiter [1000] {300}
#   BENCH_MULTI_N      iterations per rep and case, several waiters [300] {100}
#   BENCH_MULTI_CASES  the handoff_multi cases, HOW:SLOTS:WAITERS for force
#                      and release, shared:WAITERS
#                      [release:1:1 release:4:4 force:4:4 force:8:8 shared:4 shared:8]
#   BENCH_SCALE_SIZES  live leases for the scale runs [1000 100000 1000000]
#   BENCH_MAX_LEASES   lockable.max_leases of the server [1100000]
#   BENCH_MAX_LOAD     wait until the 1-minute load is below this [0.5] {off}
#   BENCH_LOAD_WAIT    give up waiting after this many seconds [1200]
#   BENCH_OUT          output directory [bench/out/YYYYmmdd-HHMMSS]
#   BENCH_KEEP=1       keep the scratch directory (data dir, logs)
#   LOCKABLE_SKIP_APT=1  do not check/install Debian packages
#   PG_CONFIG          [/usr/lib/postgresql/15/bin/pg_config]
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

lk_parse_pg_args "$@"
[ "${#LK_ARGS[@]}" -eq 0 ] || lk_die "unknown argument '${LK_ARGS[0]}' (usage: bench/run.sh [--pg VERSION])"
case $LK_PG_SELECTED in
"" | 15) ;;
*" "*) lk_die "bench/run.sh runs on one PostgreSQL version at a time" ;;
*)
	# Run this script in the version's root, on the code BENCH_SOURCE names
	# (copied in, since the root has no git checkout), and copy the results
	# out.  Redis and its tools are added to the root on first use.
	v=$LK_PG_SELECTED
	root=$(lk_root_ensure "$v")
	lk_root_exec "$root" /bin/sh -c 'dpkg-query -W redis-server redis-tools >/dev/null 2>&1 ||
		{ apt-get -q update && apt-get -q install -y redis-server redis-tools; }' >/dev/null
	# root_archive REV: a private copy of commit REV in the root; prints its
	# path there
	root_archive() {
		local d c
		c=$(git -C "$REPO" rev-parse --verify --quiet "$1^{commit}") || lk_die "no commit '$1' in $REPO"
		d=$(lk_sudo mktemp -d "$root/var/tmp/lockable-bench-src.XXXXXX")
		git -C "$REPO" archive --format=tar "$c" | lk_sudo tar -C "$d" -xf -
		echo "${d#"$root"}"
	}
	src=${BENCH_SOURCE:-head}
	case $src in
	head | rev:*)
		rev=HEAD
		[ "$src" = head ] || rev=${src#rev:}
		inner=$(root_archive "$rev")
		desc="commit $(git -C "$REPO" rev-parse "$rev^{commit}") (git archive $rev)"
		;;
	worktree)
		inner=$(lk_root_copy_tree "$root")
		desc="working tree of commit $(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)"
		;;
	*) lk_die "with --pg, BENCH_SOURCE must be head, rev:REV or worktree" ;;
	esac
	# the script runs from the tree under test; the baseline is built from a
	# copy of its own
	base_inner=
	base_desc=
	if [ -n "${BENCH_BASELINE:-}" ]; then
		base_inner=$(root_archive "$BENCH_BASELINE")
		base_desc="commit $(git -C "$REPO" rev-parse "$BENCH_BASELINE^{commit}") (git archive $BENCH_BASELINE)"
	fi
	out=${BENCH_OUT:-$BENCH_DIR/out/$(date +%Y%m%d-%H%M%S)-pg$v}
	rc=0
	lk_root_exec "$root" PG_CONFIG="/usr/lib/postgresql/$v/bin/pg_config" LOCKABLE_SKIP_APT=1 \
		BENCH_SOURCE=worktree BENCH_OUT=/var/tmp/lockable-bench-out BENCH_SRC_DESC="$desc" \
		${BENCH_QUICK:+BENCH_QUICK=$BENCH_QUICK} ${BENCH_SECONDS:+BENCH_SECONDS=$BENCH_SECONDS} \
		${BENCH_CLIENTS:+BENCH_CLIENTS="$BENCH_CLIENTS"} ${BENCH_REPS:+BENCH_REPS=$BENCH_REPS} \
		${BENCH_SECTIONS:+BENCH_SECTIONS="$BENCH_SECTIONS"} \
		${BENCH_HANDOFF_N:+BENCH_HANDOFF_N=$BENCH_HANDOFF_N} \
		${BENCH_SCALE_SIZES:+BENCH_SCALE_SIZES="$BENCH_SCALE_SIZES"} \
		${BENCH_MAX_LEASES:+BENCH_MAX_LEASES=$BENCH_MAX_LEASES} \
		${BENCH_MAX_LOAD+BENCH_MAX_LOAD=$BENCH_MAX_LOAD} ${BENCH_KEEP:+BENCH_KEEP=$BENCH_KEEP} \
		${base_inner:+BENCH_BASELINE=dir:$base_inner BENCH_BASELINE_DESC="$base_desc"} \
		${BENCH_BASELINE_TESTS:+BENCH_BASELINE_TESTS="$BENCH_BASELINE_TESTS"} \
		${BENCH_BASELINE_CLIENTS:+BENCH_BASELINE_CLIENTS="$BENCH_BASELINE_CLIENTS"} \
		${BENCH_BASELINE_ROUNDS:+BENCH_BASELINE_ROUNDS=$BENCH_BASELINE_ROUNDS} \
		${BENCH_COUNTING_CLIENTS:+BENCH_COUNTING_CLIENTS="$BENCH_COUNTING_CLIENTS"} \
		${BENCH_MULTI_N:+BENCH_MULTI_N=$BENCH_MULTI_N} \
		${BENCH_MULTI_CASES:+BENCH_MULTI_CASES="$BENCH_MULTI_CASES"} \
		bash "$inner/bench/run.sh" || rc=$?
	mkdir -p "$out"
	lk_sudo cp -a "$root/var/tmp/lockable-bench-out/." "$out/" 2>/dev/null || true
	lk_sudo rm -rf "$root/var/tmp/lockable-bench-out" "${root:?}${inner:?}"
	[ -z "$base_inner" ] || lk_sudo rm -rf "${root:?}${base_inner:?}"
	[ "$LK_IS_ROOT" -eq 1 ] || lk_sudo chown -R "$(id -u):$(id -g)" "$out"
	lk_say "results of PostgreSQL $v copied to $out"
	exit "$rc"
	;;
esac

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	SECONDS_PER_RUN=${BENCH_SECONDS:-2}
	CLIENTS=${BENCH_CLIENTS:-1 8}
	HANDOFF_N=${BENCH_HANDOFF_N:-300}
	MULTI_N=${BENCH_MULTI_N:-100}
	MAX_LOAD=${BENCH_MAX_LOAD:-}
else
	SECONDS_PER_RUN=${BENCH_SECONDS:-10}
	CLIENTS=${BENCH_CLIENTS:-1 8 32}
	HANDOFF_N=${BENCH_HANDOFF_N:-1000}
	MULTI_N=${BENCH_MULTI_N:-300}
	MAX_LOAD=${BENCH_MAX_LOAD:-0.5}
fi
REPS=${BENCH_REPS:-2}
BASELINE=${BENCH_BASELINE:-}
SECTIONS=${BENCH_SECTIONS:-throughput contention counting handoff handoff_multi scale shmem${BASELINE:+ baseline}}
SOURCE=${BENCH_SOURCE:-head}
BASELINE_TESTS=${BENCH_BASELINE_TESTS:-lockable_2stmt lockable_1stmt advisory_2stmt}
BASELINE_CLIENTS=${BENCH_BASELINE_CLIENTS:-$CLIENTS}
BASELINE_ROUNDS=${BENCH_BASELINE_ROUNDS:-2}
COUNTING_CLIENTS=${BENCH_COUNTING_CLIENTS:-8 32}
MULTI_CASES=${BENCH_MULTI_CASES:-release:1:1 release:4:4 force:4:4 force:8:8 shared:4 shared:8}
SCALE_SIZES=${BENCH_SCALE_SIZES:-1000 100000 1000000}
MAX_LEASES=${BENCH_MAX_LEASES:-1100000}
LOAD_WAIT=${BENCH_LOAD_WAIT:-1200}
OUT=${BENCH_OUT:-$BENCH_DIR/out/$(date +%Y%m%d-%H%M%S)}

[ "$REPS" -ge 2 ] 2>/dev/null || lk_die "BENCH_REPS must be a number >= 2 (every figure is a median of at least two runs)"
case $SOURCE in head | rev:* | worktree | installed) ;; *) lk_die "BENCH_SOURCE must be head, rev:REV, worktree or installed" ;; esac
for s in $SECTIONS; do
	case $s in
	throughput | contention | counting | handoff | handoff_multi | scale | shmem) ;;
	baseline) [ -n "$BASELINE" ] || lk_die "section baseline needs BENCH_BASELINE (the commit to compare with)" ;;
	*) lk_die "unknown section '$s' in BENCH_SECTIONS" ;;
	esac
done
[ "$BASELINE_ROUNDS" -ge 1 ] 2>/dev/null || lk_die "BENCH_BASELINE_ROUNDS must be a number >= 1"
for c in $COUNTING_CLIENTS; do
	[ "$c" -ge 2 ] 2>/dev/null || lk_die "BENCH_COUNTING_CLIENTS: $c (a hot name needs at least 2 clients)"
done
for m in $MULTI_CASES; do
	case $m in
	force:[0-9]*:[0-9]* | release:[0-9]*:[0-9]* | shared:[0-9]*) ;;
	*) lk_die "BENCH_MULTI_CASES: '$m' is neither HOW:SLOTS:WAITERS (force, release) nor shared:WAITERS" ;;
	esac
done
for s in $SCALE_SIZES; do
	[ "$s" -lt "$MAX_LEASES" ] 2>/dev/null || lk_die "scale size $s must be below BENCH_MAX_LEASES ($MAX_LEASES)"
done

# shellcheck disable=SC2086 # word-split the list of sizes
SCALE_UP=$(printf '%s\n' $SCALE_SIZES | sort -n | tr '\n' ' ')
# shellcheck disable=SC2086
SCALE_DOWN=$(printf '%s\n' $SCALE_SIZES | sort -rn | tr '\n' ' ')
SCALE_LARGEST=${SCALE_DOWN%% *}

has_section() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }


WORK=
PG_STARTED=0
BASE_STARTED=0
REDIS_PID=
REDIS_PORT=
on_exit() {
	local rc=$?
	set +e
	if [ -n "$REDIS_PID" ]; then
		redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill "$REDIS_PID" 2>/dev/null
		wait "$REDIS_PID" 2>/dev/null
	fi
	[ "$PG_STARTED" = 1 ] && server_stop
	[ "$BASE_STARTED" = 1 ] && pg_stop "$BASE_DATA"
	bench_finish "$rc" run.sh
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ utilities

load1() { cut -d' ' -f1 /proc/loadavg; }

info() { printf '%s\t%s\n' "$1" "$2" >>"$OUT/info.tsv"; }

# result SECTION TEST CLIENTS REP METRIC VALUE
result() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT/results.tsv"
}

threads_for() { if [ "$1" -lt "$NPROC" ]; then echo "$1"; else echo "$NPROC"; fi; }

# ------------------------------------------------------------ setup

mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd -P)
: >"$OUT/results.tsv"
: >"$OUT/info.tsv"
lk_say "writing to $OUT"

lk_install_deps
lk_check_pg_config
BINDIR=$("$PG_CONFIG" --bindir)

waited=0
if [ -n "$MAX_LOAD" ]; then
	while awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l >= m) }'; do
		if [ "$waited" -ge "$LOAD_WAIT" ]; then
			lk_warn "1-minute load still $(load1) after ${waited}s (wanted < $MAX_LOAD): running anyway (recorded in info.tsv)"
			break
		fi
		lk_say "1-minute load $(load1) >= $MAX_LOAD: waiting (${waited}s of ${LOAD_WAIT}s)"
		sleep 30
		waited=$((waited + 30))
	done
fi

WORK=$(lk_mktemp_dir lockable-bench)
chmod 755 "$WORK"
lk_say "scratch directory $WORK"

bench_code "$WORK" "$SOURCE"
lk_say "code under test: $SRC_DESC"
if [ -n "$BASELINE" ]; then
	# the baseline's build, in a directory of its own: bench_code sets the
	# globals for it, which are kept aside before the code under test's
	# are put back
	main_bin=$POSTGRES_BIN main_lib=$BENCH_PKGLIBDIR main_desc=$SRC_DESC
	BASE_WORK=$WORK/base
	mkdir -p "$BASE_WORK"
	case $BASELINE in dir:*) ;; *) BASELINE=rev:$BASELINE ;; esac
	BENCH_SRC_DESC=${BENCH_BASELINE_DESC:-} bench_code "$BASE_WORK" "$BASELINE"
	BASE_POSTGRES_BIN=$POSTGRES_BIN BASE_PKGLIBDIR=$BENCH_PKGLIBDIR BASE_DESC=$SRC_DESC
	POSTGRES_BIN=$main_bin BENCH_PKGLIBDIR=$main_lib SRC_DESC=$main_desc
	lk_say "baseline: $BASE_DESC"
fi

gcc -O2 -Wall -I"$("$PG_CONFIG" --includedir)" -o "$WORK/handoff" "$BENCH_DIR/handoff.c" \
	-L"$("$PG_CONFIG" --libdir)" -lpq

# ------------------------------------------------------------ PostgreSQL

BENCH_PORT=$(free_port 54710)
DATA=$WORK/data
PGLOG=$WORK/postgresql.log
lk_prepare_for_server_user "$WORK"
bench_initdb "$DATA" "$BENCH_PORT" "$MAX_LEASES" "$WORK"

server_start() {
	pg_start "$DATA" "$PGLOG" "$@"
	PG_STARTED=1
}
server_stop() {
	pg_stop "$DATA"
	PG_STARTED=0
}

server_start
BENCH_DB=postgres q "CREATE DATABASE bench"
q "CREATE EXTENSION lockable"
[ "$SOURCE" = installed ] || bench_check_libdir
if [ -n "$BASELINE" ]; then
	# the baseline's server: same settings, its own data directory and port
	BASE_PORT=$(free_port $((BENCH_PORT + 1)))
	BASE_DATA=$BASE_WORK/data
	BASE_LOG=$BASE_WORK/postgresql.log
	lk_prepare_for_server_user "$BASE_WORK"
	bench_initdb "$BASE_DATA" "$BASE_PORT" "$MAX_LEASES" "$BASE_WORK"
	POSTGRES_BIN=$BASE_POSTGRES_BIN pg_start "$BASE_DATA" "$BASE_LOG"
	BASE_STARTED=1
	BENCH_PORT=$BASE_PORT BENCH_DB=postgres q "CREATE DATABASE bench"
	BENCH_PORT=$BASE_PORT q "CREATE EXTENSION lockable"
	BENCH_PORT=$BASE_PORT BENCH_PKGLIBDIR=$BASE_PKGLIBDIR bench_check_libdir
fi
q "CREATE TABLE lease_logged (name text PRIMARY KEY, token bigint NOT NULL, expires_at timestamptz NOT NULL)"
q "CREATE UNLOGGED TABLE lease_unlogged (name text PRIMARY KEY, token bigint NOT NULL, expires_at timestamptz NOT NULL)"
HAS_SWEEP_MS=$(q "SELECT count(*) FROM pg_attribute WHERE attrelid = 'lockable_stats'::regclass AND attname = 'last_sweep_ms'")
# counting and shared leases (version 1.3)
HAS_SLOTS=$(q "SELECT count(*) FROM pg_proc WHERE proname = 'lockable_acquire' AND 'slots' = ANY (proargnames)")

# ------------------------------------------------------------ Redis

start_redis() {
	REDIS_PORT=$(free_port 56710)
	mkdir -p "$WORK/redis"
	[ "$LK_IS_ROOT" -eq 1 ] && chown postgres: "$WORK/redis"
	# no persistence: the lease lives in memory only, as lockable's do
	lk_as_server_user redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
		--save '' --appendonly no --dir "$WORK/redis" \
		--logfile "$WORK/redis/redis.log" --daemonize no &
	REDIS_PID=$!
	for _ in $(seq 100); do
		[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	lk_die "redis-server did not start (see $WORK/redis/redis.log)"
}
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# ------------------------------------------------------------ machine

info date "$(date -u '+%Y-%m-%d %H:%M UTC')"
info command "$( [ "$QUICK" = 1 ] && printf 'BENCH_QUICK=1 ')bench/run.sh"
info settings "BENCH_SECONDS=$SECONDS_PER_RUN BENCH_CLIENTS='$CLIENTS' BENCH_REPS=$REPS BENCH_HANDOFF_N=$HANDOFF_N BENCH_SCALE_SIZES='$SCALE_SIZES' BENCH_MAX_LEASES=$MAX_LEASES BENCH_SOURCE=$SOURCE BENCH_SECTIONS='$SECTIONS'"
info code "$SRC_DESC"
if [ -n "$BASELINE" ]; then
	info baseline "$BASE_DESC"
	info baseline_settings "BENCH_BASELINE_TESTS='$BASELINE_TESTS' BENCH_BASELINE_CLIENTS='$BASELINE_CLIENTS' BENCH_BASELINE_ROUNDS=$BASELINE_ROUNDS"
fi
has_section counting && info counting_settings "BENCH_COUNTING_CLIENTS='$COUNTING_CLIENTS'"
has_section handoff_multi && info handoff_multi_settings "BENCH_MULTI_N=$MULTI_N BENCH_MULTI_CASES='$MULTI_CASES'"
info cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $NPROC cores (nproc)"
info memory "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
info kernel "$(uname -sr)"
info os "$(. /etc/os-release && echo "$PRETTY_NAME")"
info postgresql "$(q 'SELECT version()')"
info pgbench "$("$BINDIR/pgbench" --version)"
info redis "$(redis-server --version | sed 's/ sha=.*//')"
info disk "data directory on $(df -P "$WORK" | awk 'NR == 2 { print $1 }') ($(findmnt -no FSTYPE -T "$WORK" 2>/dev/null || echo '?'))"
info server_settings "$(q "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'wal_level', 'max_connections', 'lockable.max_leases', 'lockable.worker_naptime', 'lockable.default_ttl', 'huge_pages', 'autovacuum', 'max_wal_size', 'full_page_writes')")"
info load_at_start "$(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "$MAX_LOAD" ] && info load_wait "waited ${waited:-0}s for the 1-minute load to drop below $MAX_LOAD"

# ------------------------------------------------------------ pgbench

# pgbench_run NAME SCRIPT CLIENTS REP [SECONDS]: one pgbench run; prints
# "tps lat_avg_ms lat_max_ms" and keeps the raw output.
pgbench_run() {
	local name=$1 script=$2 c=$3 rep=$4 secs=${5:-$SECONDS_PER_RUN}
	local j raw logp tps lat max
	j=$(threads_for "$c")
	raw=$OUT/raw/$name.c$c.r$rep.txt
	logp=$WORK/pgblog/$name.c$c.r$rep
	mkdir -p "$OUT/raw" "$WORK/pgblog"
	rm -f "$logp".*
	echo "# load $(cut -d' ' -f1-3 /proc/loadavg) at start" >"$raw"
	(cd "$WORK/pgblog" && "$BINDIR/pgbench" -n -M prepared -c "$c" -j "$j" -T "$secs" \
		-h 127.0.0.1 -p "$BENCH_PORT" -U postgres \
		--log --aggregate-interval=1 --log-prefix="$logp" \
		-f "$BENCH_DIR/$script" bench) >>"$raw" 2>&1 || {
		tail -20 "$raw" >&2
		lk_die "pgbench $script -c $c failed (log: $PGLOG)"
	}
	grep -q 'aborted' "$raw" && {
		tail -20 "$raw" >&2
		lk_die "pgbench $script -c $c: clients aborted"
	}
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$raw")
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$raw")
	# aggregate log lines: start n sum sum2 min max (microseconds)
	max=$(cat "$logp".* 2>/dev/null | awk '$6 > m { m = $6 } END { printf "%.3f", m / 1000 }')
	[ -n "$tps" ] || lk_die "no tps in $raw"
	echo "$tps $lat $max"
}

# lockable's counters, "acquired refused waited"
lockable_counters() { q "SELECT acquired || ' ' || refused || ' ' || waited FROM lockable_stats"; }

prepare_lease_table() {
	q "TRUNCATE $1"
	q "VACUUM ANALYZE $1"
	q "CHECKPOINT"
}

# ------------------------------------------------------------ redis-benchmark

declare -A REDIS_N=()
# redis_run NAME CLIENTS REP KEYSPACE CMD...: prints "rps avg_latency_ms"
redis_run() {
	local name=$1 c=$2 rep=$3 keyspace=$4
	shift 4
	local j raw n rps lat
	j=$(threads_for "$c")
	raw=$OUT/raw/$name.c$c.r$rep.txt
	n=${REDIS_N[$name.$c]:-}
	if [ -z "$n" ]; then
		# calibrate: size the run to last about SECONDS_PER_RUN seconds
		rps=$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$c" --threads "$j" -n 20000 \
			-r "$keyspace" --csv "$@" | awk -F'","' 'NR == 2 { print $2 }')
		n=$(awk -v r="$rps" -v s="$SECONDS_PER_RUN" 'BEGIN { printf "%d", r * s }')
		[ "$n" -ge 1000 ] || n=1000
		REDIS_N[$name.$c]=$n
		rcli flushall >/dev/null
	fi
	echo "# load $(cut -d' ' -f1-3 /proc/loadavg) at start; -n $n" >"$raw"
	redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$c" --threads "$j" -n "$n" \
		-r "$keyspace" --csv "$@" >>"$raw" 2>&1 || lk_die "redis-benchmark $name failed"
	rps=$(awk -F'","' 'NR == 3 { print $2 }' "$raw")
	lat=$(awk -F'","' 'NR == 3 { print $3 }' "$raw")
	[ -n "$rps" ] || lk_die "no rps in $raw"
	echo "$rps $lat"
}

# ------------------------------------------------------------ sections

# The peers, all at the same client counts, in one interleaved sequence.
TP_TESTS="floor floor_2stmt advisory_2stmt advisory_1stmt lockable_2stmt lockable_1stmt lockable_2stmt_concat lockable_heartbeat lease_logged lease_unlogged"

section_throughput() {
	local rep=$1 c t r tps lat max
	for c in $CLIENTS; do
		for t in $TP_TESTS; do
			case $t in lease_*) prepare_lease_table "$t" ;; esac
			r=$(pgbench_run "$t" "$t.sql" "$c" "$rep")
			read -r tps lat max <<<"$r"
			result throughput "$t" "$c" "$rep" tps "$tps"
			result throughput "$t" "$c" "$rep" lat_ms "$lat"
			result throughput "$t" "$c" "$rep" lat_max_ms "$max"
			printf '  %-20s c=%-3s rep %s: %10.0f tps  %7.3f ms\n' "$t" "$c" "$rep" "$tps" "$lat"
		done
		# Redis: SET NX PX and DEL are measured as separate runs (a
		# redis-benchmark run repeats one command); a client doing both
		# in turn gets 1 / (1/set + 1/del) pairs per second.  EVAL does
		# both on one key in one round trip.
		local set del ev
		rcli flushall >/dev/null
		set=$(redis_run redis_set "$c" "$rep" 1000000000 SET 'lk:__rand_int__' tok NX PX 60000)
		del=$(redis_run redis_del "$c" "$rep" 1000000000 DEL 'lk:__rand_int__')
		ev=$(redis_run redis_eval "$c" "$rep" 1000000 EVALSHA "$REDIS_SHA" 1 'lk:__rand_int__' tok)
		rcli flushall >/dev/null
		result throughput redis_set "$c" "$rep" tps "${set% *}"
		result throughput redis_set "$c" "$rep" lat_ms "${set#* }"
		result throughput redis_del "$c" "$rep" tps "${del% *}"
		result throughput redis_del "$c" "$rep" lat_ms "${del#* }"
		result throughput redis_2cmd "$c" "$rep" tps \
			"$(awk -v a="${set% *}" -v b="${del% *}" 'BEGIN { printf "%.1f", 1 / (1 / a + 1 / b) }')"
		result throughput redis_2cmd "$c" "$rep" lat_ms \
			"$(awk -v a="${set#* }" -v b="${del#* }" 'BEGIN { printf "%.3f", a + b }')"
		result throughput redis_eval "$c" "$rep" tps "${ev% *}"
		result throughput redis_eval "$c" "$rep" lat_ms "${ev#* }"
		printf '  %-20s c=%-3s rep %s: %10.0f / %.0f / %.0f rps (SET NX PX / DEL / EVALSHA)\n' \
			redis "$c" "$rep" "${set% *}" "${del% *}" "${ev% *}"
	done
}

section_contention() {
	local rep=$1 c t r tps lat max before after
	for c in $CLIENTS; do
		[ "$c" -ge 2 ] || continue
		for t in hot_advisory_try hot_lockable_try hot_advisory_wait hot_lockable_wait; do
			before=$(lockable_counters)
			r=$(pgbench_run "$t" "$t.sql" "$c" "$rep")
			after=$(lockable_counters)
			read -r tps lat max <<<"$r"
			result contention "$t" "$c" "$rep" tps "$tps"
			result contention "$t" "$c" "$rep" lat_ms "$lat"
			result contention "$t" "$c" "$rep" lat_max_ms "$max"
			case $t in
			hot_lockable_*)
				result contention "$t" "$c" "$rep" grants_per_s \
					"$(awk -v b="${before%% *}" -v a="${after%% *}" -v s="$SECONDS_PER_RUN" 'BEGIN { printf "%.1f", (a - b) / s }')"
				;;
			esac
			printf '  %-20s c=%-3s rep %s: %10.0f tps  %7.3f ms\n' "$t" "$c" "$rep" "$tps" "$lat"
		done
	done
}

# The counting lease beside the plain hot name, in the same repetition:
# try (no wait) and wait, and shared mode (readers only).  The pairs on
# random names, plain and counting, separate what the counting path costs
# from what one hot name (one partition lock, one entry) costs.
COUNTING_TESTS="lockable_2stmt counting_2stmt hot_lockable_try hot_counting_try hot_shared_try hot_lockable_wait hot_counting_wait"

section_counting() {
	local rep=$1 c t r tps lat max before after acq ref wt share
	for c in $COUNTING_CLIENTS; do
		for t in $COUNTING_TESTS; do
			before=$(lockable_counters)
			r=$(pgbench_run "counting_$t" "$t.sql" "$c" "$rep")
			after=$(lockable_counters)
			read -r tps lat max <<<"$r"
			# counters: "acquired refused waited", after minus before
			read -r acq ref wt < <(awk -v a="$after" -v b="$before" 'BEGIN {
				split(a, x, " "); split(b, y, " "); print x[1] - y[1], x[2] - y[2], x[3] - y[3] }')
			share=$(awk -v a="$acq" -v r="$ref" 'BEGIN { printf "%.4f", (a + r > 0 ? a / (a + r) : 0) }')
			result counting "$t" "$c" "$rep" tps "$tps"
			result counting "$t" "$c" "$rep" lat_ms "$lat"
			result counting "$t" "$c" "$rep" lat_max_ms "$max"
			result counting "$t" "$c" "$rep" granted_share "$share"
			result counting "$t" "$c" "$rep" pairs_per_s "$(awk -v t="$tps" -v s="$share" 'BEGIN { printf "%.1f", t * s }')"
			result counting "$t" "$c" "$rep" waited_share \
				"$(awk -v a="$acq" -v w="$wt" 'BEGIN { printf "%.4f", (a > 0 ? w / a : 0) }')"
			printf '  %-20s c=%-3s rep %s: %10.0f attempts/s  %5.1f%% got a slot  %7.3f ms\n' \
				"$t" "$c" "$rep" "$tps" "$(awk -v s="$share" 'BEGIN { print s * 100 }')" "$lat"
		done
	done
}

# handoff_result TEST CLIENTS REP LINE [SECTION]: record the key=value
# pairs of a handoff line as metrics.
handoff_result() {
	local t=$1 c=$2 rep=$3 line=$4 sec=${5:-handoff} kv
	# shellcheck disable=SC2086 # split the line into its key=value words
	for kv in $line; do
		case ${kv%%=*} in kind | mode | clients | release) continue ;; esac
		result "$sec" "$t" "$c" "$rep" "${kv%%=*}" "${kv#*=}"
	done
}

section_handoff() {
	local rep=$1 k line c conn="host=127.0.0.1 port=$BENCH_PORT user=postgres dbname=bench"
	mkdir -p "$OUT/raw"
	for k in advisory lockable; do
		line=$("$WORK/handoff" -d "$conn" -k "$k" -m single -n "$HANDOFF_N" -o "$OUT/raw/handoff_single_$k.r$rep.tsv")
		echo "$line" >"$OUT/raw/handoff_single_$k.r$rep.txt"
		handoff_result "single_$k" 2 "$rep" "$line"
		echo "  handoff single $k rep $rep: $line" | cut -c1-160
	done
	for c in $CLIENTS; do
		[ "$c" -ge 2 ] || continue
		for k in advisory lockable; do
			line=$("$WORK/handoff" -d "$conn" -k "$k" -m relay -c "$c" -T "$SECONDS_PER_RUN" -o "$OUT/raw/handoff_relay_$k.c$c.r$rep.tsv")
			echo "$line" >"$OUT/raw/handoff_relay_$k.c$c.r$rep.txt"
			handoff_result "relay_$k" "$c" "$rep" "$line"
			echo "  handoff relay c=$c $k rep $rep: $line" | cut -c1-160
		done
	done
}

# Several waiters let in by one statement of the holder (handoff -m multi),
# per case of BENCH_MULTI_CASES; shared cases also with advisory locks.
section_handoff_multi() {
	local rep=$1 m how slots w k t line conn="host=127.0.0.1 port=$BENCH_PORT user=postgres dbname=bench"
	for m in $MULTI_CASES; do
		how=${m%%:*}
		if [ "$how" = shared ]; then
			slots=1
			w=${m#*:}
		else
			slots=${m#*:}
			w=${slots#*:}
			slots=${slots%%:*}
		fi
		for k in lockable advisory; do
			[ "$k" = lockable ] || [ "$how" = shared ] || continue
			t=${how}_${k}_s${slots}_w$w
			[ "$how" = shared ] && t=${how}_${k}_w$w
			line=$("$WORK/handoff" -d "$conn" -k "$k" -m multi -r "$how" -s "$slots" -w "$w" -n "$MULTI_N" \
				-o "$OUT/raw/handoff_multi_$t.r$rep.tsv")
			echo "$line" >"$OUT/raw/handoff_multi_$t.r$rep.txt"
			handoff_result "$t" "$((w + 1))" "$rep" "$line" handoff_multi
			echo "  handoff multi $t rep $rep: $line" | cut -c1-200
		done
	done
}

# The code under test against BENCH_BASELINE: adjacent runs of the same
# script on the two servers, which one goes first alternating from one
# pair to the next (and from one repetition to the next), so that a drift
# of the machine's speed favours neither.
section_baseline() {
	local rep=$1 c t k side order port r tps lat max hv bv
	for c in $BASELINE_CLIENTS; do
		for t in $BASELINE_TESTS; do
			for k in $(seq "$BASELINE_ROUNDS"); do
				order="base head"
				[ $(((rep + k) % 2)) = 0 ] && order="head base"
				for side in $order; do
					port=$BENCH_PORT
					[ "$side" = base ] && port=$BASE_PORT
					r=$(BENCH_PORT=$port pgbench_run "baseline_${t}_$side" "$t.sql" "$c" "$rep.$k")
					read -r tps lat max <<<"$r"
					result baseline "$t@$side" "$c" "$rep.$k" tps "$tps"
					result baseline "$t@$side" "$c" "$rep.$k" lat_ms "$lat"
					result baseline "$t@$side" "$c" "$rep.$k" lat_max_ms "$max"
					[ "$side" = head ] && hv=$tps || bv=$tps
				done
				result baseline "$t" "$c" "$rep.$k" ratio "$(awk -v h="$hv" -v b="$bv" 'BEGIN { printf "%.4f", h / b }')"
				printf '  %-20s c=%-3s rep %s.%s: %10.0f head, %10.0f baseline (%s first): %.3fx\n' \
					"$t" "$c" "$rep" "$k" "$hv" "$bv" "${order%% *}" "$(awk -v h="$hv" -v b="$bv" 'BEGIN { print h / b }')"
			done
		done
	done
}

# sweep_ms: the worker's last sweep, or nothing if this build cannot say
sweep_ms() {
	[ "$HAS_SWEEP_MS" = 1 ] && q "SELECT round(last_sweep_ms::numeric, 3) FROM lockable_stats"
	return 0
}

FILLED=0
fill_to() {
	local n=$1 got
	if [ "$n" -gt "$FILLED" ]; then
		got=$(q "SELECT count(lockable_acquire('fill:' || g, ttl => '1 hour')) FROM generate_series($((FILLED + 1)), $n) g")
		[ "$got" -eq $((n - FILLED)) ] || lk_die "filling leases $((FILLED + 1))..$n: got $got"
	elif [ "$n" -lt "$FILLED" ]; then
		q "SELECT count(*) FILTER (WHERE lockable_force_release('fill:' || g)) FROM generate_series($((n + 1)), $FILLED) g" >/dev/null
	fi
	FILLED=$n
}

# scale_run TEST LIVE REP: the acquire + release pgbench at 8 clients with
# the leases already in place, sampling the worker's sweep time meanwhile.
scale_run() {
	local test=$1 live=$2 rep=$3 c=8 r tps lat max samples s sampler
	samples=$OUT/raw/scale_sweep.$test.r$rep.txt
	: >"$samples"
	# the worker's last sweep, once a second during the run
	(while sleep 1; do sweep_ms >>"$samples" 2>/dev/null || break; done) &
	sampler=$!
	r=$(pgbench_run "scale_$test" lockable_2stmt.sql "$c" "$rep")
	kill "$sampler" 2>/dev/null
	wait "$sampler" 2>/dev/null || true
	read -r tps lat max <<<"$r"
	result scale "$test" "$c" "$rep" live_leases "$live"
	result scale "$test" "$c" "$rep" tps "$tps"
	result scale "$test" "$c" "$rep" lat_ms "$lat"
	result scale "$test" "$c" "$rep" lat_max_ms "$max"
	s=
	if [ "$HAS_SWEEP_MS" = 1 ] && [ -s "$samples" ]; then
		s=$(sort -n "$samples" | awk '{ v[NR] = $1 } END { printf "%s %s", v[int((NR + 1) / 2)], v[NR] }')
		result scale "$test" "$c" "$rep" sweep_ms_load_median "${s% *}"
		result scale "$test" "$c" "$rep" sweep_ms_load_max "${s#* }"
		s="${s% *} (median under load)"
	fi
	printf '  scale %-18s %8s live leases c=%s rep %s: %10.0f tps  %7.3f ms (max %s ms)  sweep %s ms\n' \
		"$test" "$live" "$c" "$rep" "$tps" "$lat" "$max" "${s:-n/a}"
}

# sweep_idle TEST REP: three sweeps with nothing else running
sweep_idle() {
	local test=$1 rep=$2 samples=$OUT/raw/scale_sweep.$1.r$2.idle.txt
	[ "$HAS_SWEEP_MS" = 1 ] || return 0
	: >"$samples"
	for _ in 1 2 3; do
		sleep 1.2
		sweep_ms >>"$samples"
	done
	result scale "$test" 8 "$rep" sweep_ms_idle "$(sort -n "$samples" | awk '{ v[NR] = $1 } END { printf "%s", v[2] }')"
}

# sweep_cases REP N: the sweep's worst cases at N leases (the table is
# empty before and after).
#  - expiry: N leases given the same short ttl, so they fall due together;
#    the largest sweep while they go, sampled every 50 ms
#  - keepalive: N keepalive leases held by one session, which every sweep
#    visits (median and max of five sweeps), then the sweep that ends them
#    all when the session closes
sweep_cases() {
	local rep=$1 n=$2 max left holder s
	[ "$HAS_SWEEP_MS" = 1 ] || return 0
	q "SELECT count(lockable_acquire('exp:' || g, ttl => '3 s')) FROM generate_series(1, $n) g" >/dev/null
	max=$(q "SELECT max(s) FROM (SELECT (lockable_stats()).last_sweep_ms AS s, pg_sleep(0.05) FROM generate_series(1, 120) g) x")
	left=$(q "SELECT leases FROM lockable_stats")
	result scale "expiry_n$n" 8 "$rep" sweep_ms_max "$max"
	result scale "expiry_n$n" 8 "$rep" leases_left "$left"
	printf '  sweep: %s leases expiring together: largest sweep %s ms (%s left after 6 s)\n' "$n" "$max" "$left"
	[ "$left" = 0 ] || fill_to 0

	# one session holds them, and keeps its connection open for 12 s
	q "SELECT count(lockable_acquire('ka:' || g, ttl => '1 hour', keepalive => true)) FROM generate_series(1, $n) g; SELECT pg_sleep(12)" >/dev/null &
	holder=$!
	for _ in $(seq 100); do
		[ "$(q "SELECT leases FROM lockable_stats")" -ge "$n" ] && break
		sleep 0.2
	done
	sleep 1.2
	s=$(q "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY s) || ' ' || max(s) FROM (SELECT (lockable_stats()).last_sweep_ms AS s, pg_sleep(1.1) FROM generate_series(1, 5) g) x")
	result scale "keepalive_n$n" 8 "$rep" sweep_ms_median "${s% *}"
	result scale "keepalive_n$n" 8 "$rep" sweep_ms_max "${s#* }"
	wait "$holder" || lk_die "the keepalive holder session failed"
	max=$(q "SELECT max(s) FROM (SELECT (lockable_stats()).last_sweep_ms AS s, pg_sleep(0.05) FROM generate_series(1, 60) g) x")
	left=$(q "SELECT leases FROM lockable_stats")
	result scale "keepalive_n$n" 8 "$rep" end_sweep_ms "$max"
	result scale "keepalive_n$n" 8 "$rep" leases_left "$left"
	printf '  sweep: %s keepalive leases: sweep %s ms (median, max); ending them all: %s ms (%s left)\n' "$n" "$s" "$max" "$left"
	[ "$left" = 0 ] || q "SELECT count(lockable_force_release('ka:' || g)) FROM generate_series(1, $n) g" >/dev/null
}
# inserver_pairs: acquire + release of 200,000 fresh names inside one
# statement, three times; prints microseconds per pair (the median).  No
# client, no network: what the table size does to the hot path itself.
inserver_pairs() {
	local v=
	for _ in 1 2 3; do
		v="$v$(q "WITH t0 AS MATERIALIZED (SELECT clock_timestamp() AS t),
			w AS MATERIALIZED (SELECT count(*) AS n FROM t0, generate_series(1, 200000) g
				WHERE lockable_release('m:' || g, lockable_acquire('m:' || g)))
			SELECT round((extract(epoch FROM clock_timestamp() - (SELECT t FROM t0)) * 1e6 / 200000)::numeric, 3) FROM w")
"
	done
	sort -n <<<"$v" | grep . | sed -n 2p
}

section_scale() {
	local rep=$1 n live sizes us
	# odd repetitions go up through the sizes, even ones come down, so that
	# a drift in the machine's speed does not favour one size
	sizes=$SCALE_UP
	[ $((rep % 2)) = 0 ] && sizes=$SCALE_DOWN
	for n in $sizes; do
		fill_to "$n"
		live=$(q "SELECT leases FROM lockable_stats")
		sleep 2 # let the worker sweep the new size at least once
		sweep_idle "n$n" "$rep"
		us=$(inserver_pairs)
		result scale "n$n" 8 "$rep" inserver_us_per_pair "$us"
		scale_run "n$n" "$live" "$rep"
		if [ "$n" = "$SCALE_LARGEST" ]; then
			# Diagnostic: the largest size with the worker not sweeping
			# during the run (naptime 1 h), to separate the sweep's effect
			# from the cost of looking names up in a large table.
			q "ALTER SYSTEM SET lockable.worker_naptime = '1h'"
			q "SELECT pg_reload_conf()" >/dev/null
			sleep 2 # the worker sweeps once more as it reloads, then sleeps
			scale_run "n${n}_nosweep" "$live" "$rep"
			q "ALTER SYSTEM RESET lockable.worker_naptime"
			q "SELECT pg_reload_conf()" >/dev/null
		fi
	done
	fill_to 0
	sweep_cases "$rep" "$SCALE_LARGEST"
}

# Shared memory per lease: the server's allocations with lockable.max_leases
# at two sizes (the hash table is preallocated in full at start).
section_shmem() {
	local n total lk
	server_stop
	for n in 1000 100000 "$MAX_LEASES"; do
		server_start "-c lockable.max_leases=$n"
		total=$(q "SELECT sum(allocated_size) FROM pg_shmem_allocations WHERE name IS NOT NULL")
		lk=$(q "SELECT coalesce(sum(allocated_size), 0) FROM pg_shmem_allocations WHERE name LIKE 'lockable%'")
		result shmem "max_leases_$n" 0 1 total_bytes "$total"
		result shmem "max_leases_$n" 0 1 named_lockable_bytes "$lk"
		result shmem "max_leases_$n" 0 1 shared_memory_size "$(q "SHOW shared_memory_size")"
		q "SELECT name, allocated_size FROM pg_shmem_allocations WHERE name IS NOT NULL ORDER BY allocated_size DESC LIMIT 12" \
			>"$OUT/raw/shmem.max_leases_$n.txt"
		server_stop
		printf '  shmem with max_leases=%-8s %12s bytes allocated\n' "$n" "$total"
	done
	server_start
}

# ------------------------------------------------------------ run

if has_section throughput; then
	start_redis
	REDIS_SHA=$(rcli script load "local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', 60000) if ok then return redis.call('DEL', KEYS[1]) end return 0")
fi

if [ "$HAS_SLOTS" = 0 ]; then
	for s in counting handoff_multi; do
		has_section "$s" || continue
		lk_warn "section $s skipped: the code under test has no counting leases (lockable_acquire has no slots)"
		info skipped "$s (no slots in lockable_acquire)"
	done
	SECTIONS=$(tr ' ' '\n' <<<"$SECTIONS" | grep -vx -e counting -e handoff_multi | tr '\n' ' ')
fi

for rep in $(seq "$REPS"); do
	for s in throughput contention counting handoff handoff_multi baseline scale; do
		has_section "$s" || continue
		lk_say "$s, repetition $rep of $REPS"
		"section_$s" "$rep"
	done
done
if has_section shmem; then
	lk_say "shared memory per lease"
	section_shmem
fi

info load_at_end "$(cut -d' ' -f1-3 /proc/loadavg)"
cp "$PGLOG" "$OUT/postgresql.log" 2>/dev/null || true
grep -E 'PANIC|FATAL|ERROR' "$PGLOG" >"$OUT/server_errors.txt" || true
if [ -n "$BASELINE" ]; then
	cp "$BASE_LOG" "$OUT/postgresql.baseline.log" 2>/dev/null || true
	grep -E 'PANIC|FATAL|ERROR' "$BASE_LOG" >"$OUT/server_errors.baseline.txt" || true
fi

perl "$BENCH_DIR/report.pl" "$OUT" >"$OUT/results.md"
lk_say "results: $OUT/results.md"
cat "$OUT/results.md"
