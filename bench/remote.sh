#!/usr/bin/env bash
# Remote-mode benchmarks: lockable's leases kept on a lockable.dev-compatible
# service, here the stand-in t/remote_standin.py on 127.0.0.1.
#
#   bench/remote.sh                 all sections (about 13 minutes)
#   REMOTE_QUICK=1 bench/remote.sh  one repetition, 5 s runs (about 6 minutes)
#
# Not part of scripts/test.sh.  Reuses bench/common.sh: lockable is built
# into a private copy of the PostgreSQL installation and runs on a scratch
# server of its own (initdb, 127.0.0.1 only), next to a stand-in that this
# script starts and stops.  Sections, in order:
#
#  capacity   the stand-in alone: wrk, heartbeats of one held name over
#             keep-alive connections, at 1, 8 and 32 connections; its CPU
#  rounds     for each lockable.remote_max_connections in REMOTE_MAX_CONNS
#             (server restarted each time): one session acquires REMOTE_N
#             remote leases in one statement (remote acquire throughput),
#             then lockable_stats.remote_heartbeats is sampled every 50 ms
#             through two natural heartbeat rounds and one "burst" round,
#             where all REMOTE_N heartbeats are due at once (the service
#             URL is emptied for one interval, so that the worker sends
#             nothing, then restored: what happens after an outage); then
#             all are force-released and the worker's release burst timed.
#             Worker and stand-in CPU, connections on both sides, errors
#             and losses are recorded.
#  rtt        a service further away: the stand-in answers every heartbeat
#             after REMOTE_RTT_MS; one round of REMOTE_RTT_N leases at each
#             REMOTE_RTT_CONNS (one request per connection at a time)
#  latency    pgbench acquire + release (bench/lockable_2stmt.sql, -r,
#             per-transaction log for p50/p99) in local mode and in remote
#             mode (PGOPTIONS='-c lockable.remote=on'), at REMOTE_CLIENTS
#  load       local acquire + release (lockable_2stmt.sql) at
#             REMOTE_CLIENTS with and without REMOTE_N remote leases being
#             heartbeated, ABBA order, REMOTE_LOAD_SECONDS per run
#
# Outputs go to BENCH_OUT: results.tsv (every figure), info.tsv (machine,
# versions, settings), summary.md (the tables), raw/ and the server log.
#
# Environment (defaults in brackets; quick mode's in braces):
#   REMOTE_N              remote leases heartbeated [10000]
#   REMOTE_MAX_CONNS      lockable.remote_max_connections values [1 8 32]
#   REMOTE_CLIENTS        pgbench client counts [1 8]
#   REMOTE_SECONDS        seconds per latency run [10] {5}
#   REMOTE_LOAD_SECONDS   seconds per run of the load section [20] {12}
#   REMOTE_REPS           repetitions of the latency runs [2] {1}
#   REMOTE_RTT_MS         answer delay of the rtt section, ms [20]
#   REMOTE_RTT_N          remote leases of the rtt section [2000]
#   REMOTE_RTT_CONNS      its lockable.remote_max_connections values [8 32]
#   REMOTE_SECTIONS       any of: capacity rounds rtt latency load [all]
#   BENCH_SOURCE          head [default], worktree or installed (bench/run.sh)
#   BENCH_OUT             [bench/out/remote-YYYYmmdd-HHMMSS]
#   BENCH_KEEP=1          keep the scratch directory
#   LOCKABLE_SKIP_APT=1   do not check/install Debian packages
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# what this script needs from Debian: the build (with libcurl), the
# server and pgbench, python3 for the stand-in, wrk for its capacity
LK_APT_PACKAGES=(
	build-essential
	postgresql-15
	postgresql-server-dev-15
	libcurl4-openssl-dev
	pkg-config
	python3
	curl
	wrk
)

QUICK=${REMOTE_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	RUN_SECONDS=${REMOTE_SECONDS:-5}
	LOAD_SECONDS=${REMOTE_LOAD_SECONDS:-12}
	REPS=${REMOTE_REPS:-1}
else
	RUN_SECONDS=${REMOTE_SECONDS:-10}
	LOAD_SECONDS=${REMOTE_LOAD_SECONDS:-20}
	REPS=${REMOTE_REPS:-2}
fi
N=${REMOTE_N:-10000}
MAX_CONNS=${REMOTE_MAX_CONNS:-1 8 32}
CLIENTS=${REMOTE_CLIENTS:-1 8}
SECTIONS=${REMOTE_SECTIONS:-capacity rounds rtt latency load}
RTT_MS=${REMOTE_RTT_MS:-20}
RTT_N=${REMOTE_RTT_N:-2000}
RTT_CONNS=${REMOTE_RTT_CONNS:-8 32}
SOURCE=${BENCH_SOURCE:-head}
OUT=${BENCH_OUT:-$BENCH_DIR/out/remote-$(date +%Y%m%d-%H%M%S)}
MAX_LEASES=$((2 * N + 10000))
TOKEN=bench-remote-token
INTERVAL_S=10 # lockable.remote_heartbeat_interval
LEASE_S=60    # lockable.remote_lease, and the stand-in's --lease

case $SOURCE in head | worktree | installed) ;; *) lk_die "BENCH_SOURCE must be head, worktree or installed" ;; esac
for s in $SECTIONS; do
	case $s in capacity | rounds | rtt | latency | load) ;; *) lk_die "unknown section '$s' in REMOTE_SECTIONS" ;; esac
done
has_section() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }

WORK=
PG_STARTED=0
STANDIN_PID=
on_exit() {
	local rc=$?
	set +e
	[ "$PG_STARTED" = 1 ] && pg_stop "$DATA"
	if [ -n "$STANDIN_PID" ]; then
		kill "$STANDIN_PID" 2>/dev/null
		wait "$STANDIN_PID" 2>/dev/null
	fi
	bench_finish "$rc" remote.sh
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ utilities

info() { printf '%s\t%s\n' "$1" "$2" >>"$OUT/info.tsv"; }
# result SECTION TEST PARAM REP METRIC VALUE
result() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT/results.tsv"; }
say() { printf '%s\n' "$*" | tee -a "$OUT/summary.txt"; }

now_s() { date +%s.%N; }
# cpu_s PID: CPU seconds (user + system, all threads) the process has used
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.1f", a / b }'; }
pct() { awk -v c="$1" -v t="$2" 'BEGIN { if (t == 0) print "n/a"; else printf "%.0f", 100 * c / t }'; }

threads_for() { if [ "$1" -lt "$NPROC" ]; then echo "$1"; else echo "$NPROC"; fi; }

# ------------------------------------------------------------ the stand-in

standin_start() {
	rm -f "$WORK/standin.port"
	/usr/bin/python3 "$REPO/t/remote_standin.py" --port 0 --token "$TOKEN" \
		--lease "$LEASE_S" --portfile "$WORK/standin.port" \
		>"$WORK/standin.out" 2>&1 &
	STANDIN_PID=$!
	for _ in $(seq 100); do
		[ -s "$WORK/standin.port" ] && break
		sleep 0.1
	done
	[ -s "$WORK/standin.port" ] || lk_die "the stand-in did not start ($WORK/standin.out)"
	SPORT=$(cat "$WORK/standin.port")
}

# sctl WHAT: a control request to the stand-in, its JSON answer
sctl() { curl -sS --max-time 30 "http://127.0.0.1:$SPORT/_control/$1"; }

# sstate: the stand-in's state without the locks, one line of key=value:
# locks, connections_total/open/max, requests, and op_true/false/error
sstate() {
	sctl state | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
out = ["locks=%d" % len(d["locks"])]
for k in ("connections_total", "connections_open", "connections_max", "requests", "unauthorized"):
    out.append("%s=%d" % (k, d[k]))
for op, c in d["counts"].items():
    for r, n in c.items():
        out.append("%s_%s=%d" % (op, r, n))
print(" ".join(out))'
}
# sget STATE KEY
sget() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# ------------------------------------------------------------ setup

mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd -P)
: >"$OUT/results.tsv"
: >"$OUT/info.tsv"
: >"$OUT/summary.txt"
lk_say "writing to $OUT"

lk_install_deps
lk_check_pg_config
BINDIR=$("$PG_CONFIG" --bindir)

WORK=$(lk_mktemp_dir lockable-remote-bench)
chmod 755 "$WORK"
lk_say "scratch directory $WORK"
bench_code "$WORK" "$SOURCE"
lk_say "code under test: $SRC_DESC"

standin_start
lk_say "stand-in on 127.0.0.1:$SPORT (pid $STANDIN_PID, --lease $LEASE_S)"

info date "$(date -u '+%Y-%m-%d %H:%M UTC')"
info command "$([ "$QUICK" = 1 ] && printf 'REMOTE_QUICK=1 ')bench/remote.sh"
info settings "REMOTE_N=$N REMOTE_MAX_CONNS='$MAX_CONNS' REMOTE_CLIENTS='$CLIENTS' REMOTE_SECONDS=$RUN_SECONDS REMOTE_LOAD_SECONDS=$LOAD_SECONDS REMOTE_REPS=$REPS BENCH_SOURCE=$SOURCE REMOTE_SECTIONS='$SECTIONS'"
info code "$SRC_DESC"
info cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $NPROC cores (nproc)"
info memory "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
info kernel "$(uname -sr)"
info libcurl "$(curl --version | head -1)"
info python "$(/usr/bin/python3 --version 2>&1)"
info wrk "$(wrk -v 2>&1 | head -1)"
info standin "t/remote_standin.py --lease $LEASE_S on 127.0.0.1 (ThreadingHTTPServer, one thread per connection)"
info load_at_start "$(cut -d' ' -f1-3 /proc/loadavg)"

server_start() {
	pg_start "$DATA" "$PGLOG" "$@"
	PG_STARTED=1
	WORKER_PID=$(q "SELECT worker_pid FROM lockable_stats")
}
server_restart() {
	pg_stop "$DATA"
	PG_STARTED=0
	server_start "$@"
}

# setup_server: initdb and start the scratch server, pointed at the stand-in
setup_server() {
	BENCH_PORT=$(free_port 54910)
	DATA=$WORK/data
	PGLOG=$WORK/postgresql.log
	lk_prepare_for_server_user "$WORK"
	bench_initdb "$DATA" "$BENCH_PORT" "$MAX_LEASES" "$WORK"
	cat >>"$DATA/postgresql.conf" <<-EOF

	# ---- bench/remote.sh: the stand-in, lockable.dev's lease and interval
	lockable.remote_url = 'http://127.0.0.1:$SPORT/v1'
	lockable.remote_token = '$TOKEN'
	lockable.remote_lease = ${LEASE_S}s
	lockable.remote_heartbeat_interval = ${INTERVAL_S}s
	EOF

	pg_start "$DATA" "$PGLOG"
	PG_STARTED=1
	BENCH_DB=postgres q "CREATE DATABASE bench"
	q "CREATE EXTENSION lockable"
	[ "$SOURCE" = installed ] || bench_check_libdir
	"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$BENCH_PORT" -U postgres -d bench \
		-f "$BENCH_DIR/remote_poll.sql"
	WORKER_PID=$(q "SELECT worker_pid FROM lockable_stats")

	info postgresql "$(q 'SELECT version()')"
	info server_settings "$(q "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name LIKE 'lockable.%' AND name <> 'lockable.remote_token'")"
}

# worker_idle REP-LABEL: the worker's CPU share over 3 s with nothing to do
worker_idle() {
	local c0 c1 t0 t1
	c0=$(cpu_s "$WORKER_PID")
	t0=$(now_s)
	sleep 3
	c1=$(cpu_s "$WORKER_PID")
	t1=$(now_s)
	pct "$(fsub "$c1" "$c0")" "$(fsub "$t1" "$t0")"
}

# ------------------------------------------------------------ capacity

# The stand-in alone, no server traffic: wrk heartbeats one held name.
section_capacity() {
	local c raw rps lat c0 c1 auth
	say "## capacity: the stand-in alone (wrk, heartbeat of one held name, 5 s)"
	sctl reset >/dev/null
	curl -sS -u "$TOKEN:" "http://127.0.0.1:$SPORT/v1/acquire/capacity" >/dev/null
	auth="Authorization: Basic $(printf '%s:' "$TOKEN" | base64)"
	for c in 1 8 32; do
		raw=$OUT/raw/capacity.c$c.txt
		c0=$(cpu_s "$STANDIN_PID")
		wrk -t 1 -c "$c" -d 5s -H "$auth" "http://127.0.0.1:$SPORT/v1/heartbeat/capacity" >"$raw" 2>&1
		c1=$(cpu_s "$STANDIN_PID")
		rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$raw")
		lat=$(awk '$1 == "Latency" { print $2 }' "$raw")
		grep -q 'Non-2xx' "$raw" && lk_die "wrk got errors from the stand-in: $raw"
		result capacity wrk "$c" 1 req_per_s "$rps"
		result capacity wrk "$c" 1 latency_avg "$lat"
		result capacity wrk "$c" 1 standin_cpu_pct "$(pct "$(fsub "$c1" "$c0")" 5)"
		say "  $c connections: $rps requests/s, latency avg $lat, stand-in CPU $(pct "$(fsub "$c1" "$c0")" 5)% of one core"
	done
	sctl reset >/dev/null
}

# ------------------------------------------------------------ rounds

# round_watch LABEL TARGET TIMEOUT: sample remote_heartbeats (or another
# counter) until TARGET; prints "duration_s per_s wcpu_s scpu_s" where
# duration is from the last reading before the counter moved to the first
# at TARGET.
round_watch() {
	local label=$1 col=$2 target=$3 timeout=$4 f w0 w1 s0 s1 line
	f=$OUT/raw/$label.samples.txt
	w0=$(cpu_s "$WORKER_PID")
	s0=$(cpu_s "$STANDIN_PID")
	q "SELECT t, v FROM remote_bench_samples('$col', $target, $timeout)" | tr '|' ' ' >"$f"
	w1=$(cpu_s "$WORKER_PID")
	s1=$(cpu_s "$STANDIN_PID")
	line=$(awk -v target="$target" '
		NR == 1 { base = $2 }
		$2 == base { start = $1 }
		$2 >= target && !done { end = $1; done = 1 }
		END {
			if (!done) { print "incomplete"; exit }
			d = end - start
			printf "%.2f %.0f", d, (target - base) / d
		}' "$f")
	echo "$line $(fsub "$w1" "$w0") $(fsub "$s1" "$s0")"
}

stats_line() {
	q "SELECT remote_leases, remote_acquired, remote_errors, remote_heartbeats, remote_heartbeat_errors, remote_lost, remote_released, remote_release_errors, remote_connections FROM lockable_stats" | tr '|' ' '
}

section_rounds() {
	local m t0 t1 w0 w1 s0 s1 got acq_s r ss dur rate wc sc idle wpid
	say "## rounds: $N remote leases, heartbeat interval ${INTERVAL_S}s, remote lease ${LEASE_S}s"
	for m in $MAX_CONNS; do
		server_restart "-c lockable.remote_max_connections=$m"
		sctl reset >/dev/null
		idle=$(worker_idle)
		result rounds "max_conns_$m" "$m" 1 worker_idle_cpu_pct_no_remote_leases "$idle"

		# one session, one statement: remote acquire throughput
		w0=$(cpu_s "$WORKER_PID")
		s0=$(cpu_s "$STANDIN_PID")
		t0=$(now_s)
		got=$(q "SET lockable.remote = on; SELECT count(lockable_acquire('hb$m:' || i, '1 hour')) FROM generate_series(1, $N) i")
		t1=$(now_s)
		w1=$(cpu_s "$WORKER_PID")
		s1=$(cpu_s "$STANDIN_PID")
		[ "$got" = "$N" ] || lk_die "acquired $got of $N remote leases"
		acq_s=$(fsub "$t1" "$t0")
		result rounds "max_conns_$m" "$m" 1 acquire_s "$acq_s"
		result rounds "max_conns_$m" "$m" 1 acquire_per_s "$(fdiv "$N" "$acq_s")"
		result rounds "max_conns_$m" "$m" 1 acquire_worker_cpu_s "$(fsub "$w1" "$w0")"
		result rounds "max_conns_$m" "$m" 1 acquire_standin_cpu_s "$(fsub "$s1" "$s0")"
		say "  max_connections=$m: worker CPU with no remote lease: $idle%;" \
			"acquire of $N: ${acq_s}s = $(fdiv "$N" "$acq_s")/s (worker CPU $(fsub "$w1" "$w0") s, stand-in $(fsub "$s1" "$s0") s)"

		# two natural rounds, then the burst
		for r in 1 2 burst; do
			if [ "$r" = burst ]; then
				# the service URL emptied for one interval: nothing is sent, every
				# lease falls due; restored, all N are due at once
				q "ALTER SYSTEM SET lockable.remote_url = ''" >/dev/null
				q "SELECT pg_reload_conf()" >/dev/null
				sleep $((INTERVAL_S + 2))
				# the sampler first, so that it sees the count before the round
				round_watch "rounds.m$m.r$r" remote_heartbeats $((3 * N)) 60 >"$WORK/watch.out" &
				wpid=$!
				sleep 0.5
				q "ALTER SYSTEM RESET lockable.remote_url" >/dev/null
				q "SELECT pg_reload_conf()" >/dev/null
				wait "$wpid"
				read -r dur rate wc sc <"$WORK/watch.out"
			else
				read -r dur rate wc sc <<<"$(round_watch "rounds.m$m.r$r" remote_heartbeats $((r * N)) 60)"
			fi
			[ "$dur" = incomplete ] && lk_die "heartbeat round $r with max_connections=$m did not complete in 60 s"
			result rounds "max_conns_$m" "$m" 1 "round_${r}_s" "$dur"
			result rounds "max_conns_$m" "$m" 1 "round_${r}_per_s" "$rate"
			result rounds "max_conns_$m" "$m" 1 "round_${r}_worker_cpu_s" "$wc"
			result rounds "max_conns_$m" "$m" 1 "round_${r}_standin_cpu_s" "$sc"
			say "    round $r: $N heartbeats in ${dur}s = $rate/s; CPU worker $wc s, stand-in $sc s (whole watch, idle part included)"
		done
		ss=$(sstate)
		echo "$ss" >"$OUT/raw/rounds.m$m.standin.txt"
		read -r -a stv <<<"$(stats_line)"
		result rounds "max_conns_$m" "$m" 1 standin_connections_max "$(sget "$ss" connections_max)"
		result rounds "max_conns_$m" "$m" 1 standin_connections_total "$(sget "$ss" connections_total)"
		result rounds "max_conns_$m" "$m" 1 standin_heartbeat_true "$(sget "$ss" heartbeat_true)"
		result rounds "max_conns_$m" "$m" 1 standin_heartbeat_false "$(sget "$ss" heartbeat_false)"
		result rounds "max_conns_$m" "$m" 1 remote_heartbeat_errors "${stv[4]}"
		result rounds "max_conns_$m" "$m" 1 remote_lost "${stv[5]}"
		result rounds "max_conns_$m" "$m" 1 remote_connections "${stv[8]}"
		say "    stand-in: connections_max $(sget "$ss" connections_max), connections_total $(sget "$ss" connections_total)" \
			"(both include the acquiring session's and this script's control requests), heartbeats true $(sget "$ss" heartbeat_true) false $(sget "$ss" heartbeat_false);" \
			"server: remote_connections ${stv[8]}, heartbeat errors ${stv[4]}, lost ${stv[5]}"

		# all released at once: the worker's release burst
		t0=$(now_s)
		q "SELECT count(*) FILTER (WHERE lockable_force_release('hb$m:' || i)) FROM generate_series(1, $N) i" >/dev/null
		read -r dur rate wc sc <<<"$(round_watch "rounds.m$m.release" remote_released "$N" 60)"
		result rounds "max_conns_$m" "$m" 1 release_burst_s "$dur"
		result rounds "max_conns_$m" "$m" 1 release_burst_per_s "$rate"
		read -r -a stv <<<"$(stats_line)"
		ss=$(sstate)
		result rounds "max_conns_$m" "$m" 1 remote_leases_left "${stv[0]}"
		result rounds "max_conns_$m" "$m" 1 standin_locks_left "$(sget "$ss" locks)"
		say "    force-release of all $N: the worker's releases took ${dur}s = $rate/s; left: ${stv[0]} remote leases, $(sget "$ss" locks) locks on the stand-in"
	done
}

# ------------------------------------------------------------ pgbench

# pgbench_run NAME SCRIPT CLIENTS SECONDS [PGOPTIONS]: one run with -r and a
# per-transaction log; prints "tps avg p50 p99 max min_1s_tps acq_ms rel_ms
# stalls" (latencies in ms; min_1s_tps the slowest whole second; acq_ms and
# rel_ms pgbench's per-statement averages; stalls the transactions that took
# over 500 ms).
pgbench_run() {
	local name=$1 script=$2 c=$3 secs=$4 opts=${5:-} j raw logp
	j=$(threads_for "$c")
	raw=$OUT/raw/$name.txt
	logp=$WORK/pgblog/$name
	mkdir -p "$WORK/pgblog"
	rm -f "$logp".*
	echo "# load $(cut -d' ' -f1-3 /proc/loadavg) at start; PGOPTIONS='$opts'" >"$raw"
	(cd "$WORK/pgblog" && PGOPTIONS="$opts" "$BINDIR/pgbench" -n -M prepared -c "$c" -j "$j" -T "$secs" \
		-h 127.0.0.1 -p "$BENCH_PORT" -U postgres -r \
		--log --log-prefix="$logp" -f "$BENCH_DIR/$script" bench) >>"$raw" 2>&1 || {
		tail -20 "$raw" >&2
		lk_die "pgbench $name failed (log: $PGLOG)"
	}
	grep -q 'aborted' "$raw" && {
		tail -20 "$raw" >&2
		lk_die "pgbench $name: clients aborted"
	}
	local tps acq rel
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$raw")
	acq=$(awk '/lockable_acquire/ && $1 ~ /^[0-9.]+$/ { print $1; exit }' "$raw")
	rel=$(awk '/lockable_release/ && $1 ~ /^[0-9.]+$/ { print $1; exit }' "$raw")
	# log lines: client_id tx_no latency_us script_no epoch_s epoch_us
	local lat mins stalls
	lat=$(cat "$logp".* | awk '{ print $3 }' | sort -n | awk '
		{ v[NR] = $1; s += $1 }
		END { printf "%.3f %.3f %.3f %.3f", s / NR / 1000, v[int(NR * 0.5) + 1] / 1000,
			v[int(NR * 0.99) + 1] / 1000, v[NR] / 1000 }')
	# the slowest whole second (the first and last are partial)
	mins=$(cat "$logp".* | awk '{ n[$5]++; if (f == "" || $5 < f) f = $5; if ($5 > l) l = $5 }
		END { m = -1; for (t = f + 1; t < l; t++) if (m < 0 || n[t] + 0 < m) m = n[t] + 0
			if (m < 0) print "n/a"; else print m }')
	# transactions slower than 500 ms (the worker's 1 s naptime shows here)
	stalls=$(cat "$logp".* | awk '$3 > 500000 { n++ } END { print n + 0 }')
	printf '%.0f %s %s %s %s %s\n' "$tps" "$lat" "$mins" "${acq:-n/a}" "${rel:-n/a}" "$stalls"
}

# ------------------------------------------------------------ latency

SENTINEL_TOKEN=
# One remote lease held all along, so that the runs compare the same
# worker state (before 7a05179 the worker spun with no remote lease).
sentinel_take() {
	SENTINEL_TOKEN=$(q "SET lockable.remote = on; SELECT lockable_acquire('bench-sentinel', '1 hour')")
	[ -n "$SENTINEL_TOKEN" ] || lk_die "could not take the sentinel remote lease"
}
sentinel_drop() {
	q "SELECT lockable_release('bench-sentinel', $SENTINEL_TOKEN)" >/dev/null
	SENTINEL_TOKEN=
}

section_latency() {
	local rep c mode opts r tps avg p50 p99 max mins acq rel stalls s0 s1 kv
	say "## latency: acquire + release (lockable_2stmt.sql), ${RUN_SECONDS}s runs, local vs remote"
	server_restart
	sctl reset >/dev/null
	sentinel_take
	for rep in $(seq "$REPS"); do
		for c in $CLIENTS; do
			for mode in local remote; do
				opts=
				[ "$mode" = remote ] && opts='-c lockable.remote=on'
				s0=$(stats_line)
				r=$(pgbench_run "latency.$mode.c$c.r$rep" lockable_2stmt.sql "$c" "$RUN_SECONDS" "$opts")
				s1=$(stats_line)
				read -r tps avg p50 p99 max mins acq rel stalls <<<"$r"
				for kv in tps:$tps lat_avg_ms:$avg lat_p50_ms:$p50 lat_p99_ms:$p99 lat_max_ms:$max \
					acquire_stmt_ms:$acq release_stmt_ms:$rel over_500ms:$stalls; do
					result latency "$mode" "$c" "$rep" "${kv%%:*}" "${kv#*:}"
				done
				echo "before: $s0" >"$OUT/raw/latency.$mode.c$c.r$rep.stats.txt"
				echo "after:  $s1" >>"$OUT/raw/latency.$mode.c$c.r$rep.stats.txt"
				printf '  %-6s c=%s rep %s: %7s pairs/s  avg %s ms  p50 %s  p99 %s  max %s  (acquire %s ms, release %s ms per statement; %s over 500 ms)\n' \
					"$mode" "$c" "$rep" "$tps" "$avg" "$p50" "$p99" "$max" "$acq" "$rel" "$stalls" | tee -a "$OUT/summary.txt"
			done
		done
	done
	sentinel_drop
	say "  server counters at the end: $(stats_line) (leases acquired errors heartbeats hb_errors lost released release_errors connections); stand-in: $(sstate)"
}

# ------------------------------------------------------------ load

section_load() {
	local phase c r tps avg p50 p99 max mins acq rel stalls w0 w1 s0 s1 h0 h1 t0 t1 got kv
	say "## load: local acquire + release (lockable_2stmt.sql), ${LOAD_SECONDS}s runs, with and without $N remote leases heartbeated"
	server_restart
	sctl reset >/dev/null
	# phase order: none (no remote lease at all), base (one remote lease,
	# the sentinel), remote, remote, base
	for phase in none base1 remote1 remote2 base2; do
		case $phase in
		none) sleep 2 ;; # no remote lease (before 7a05179 the worker spun here)
		base1) sentinel_take ;;
		remote1)
			got=$(q "SET lockable.remote = on; SELECT count(lockable_acquire('load:' || i, '1 hour')) FROM generate_series(1, $N) i")
			[ "$got" = "$N" ] || lk_die "acquired $got of $N remote leases"
			;;
		base2)
			q "SELECT count(*) FILTER (WHERE lockable_force_release('load:' || i)) FROM generate_series(1, $N) i" >/dev/null
			round_watch load.release remote_released "$N" 60 >/dev/null
			;;
		esac
		for c in $CLIENTS; do
			w0=$(cpu_s "$WORKER_PID")
			s0=$(cpu_s "$STANDIN_PID")
			h0=$(q "SELECT remote_heartbeats FROM lockable_stats")
			t0=$(now_s)
			r=$(pgbench_run "load.$phase.c$c" lockable_2stmt.sql "$c" "$LOAD_SECONDS")
			t1=$(now_s)
			h1=$(q "SELECT remote_heartbeats FROM lockable_stats")
			w1=$(cpu_s "$WORKER_PID")
			s1=$(cpu_s "$STANDIN_PID")
			read -r tps avg p50 p99 max mins acq rel stalls <<<"$r"
			for kv in tps:$tps lat_avg_ms:$avg lat_p50_ms:$p50 lat_p99_ms:$p99 lat_max_ms:$max \
				slowest_second_tps:$mins over_500ms:$stalls heartbeats:$((h1 - h0)) \
				worker_cpu_pct:$(pct "$(fsub "$w1" "$w0")" "$(fsub "$t1" "$t0")") \
				standin_cpu_pct:$(pct "$(fsub "$s1" "$s0")" "$(fsub "$t1" "$t0")"); do
				result load "$phase" "$c" 1 "${kv%%:*}" "${kv#*:}"
			done
			printf '  %-8s c=%s: %7s pairs/s  avg %s ms  p99 %s  max %s  slowest second %s  %s over 500 ms | heartbeats %s, worker CPU %s%%, stand-in CPU %s%%\n' \
				"$phase" "$c" "$tps" "$avg" "$p99" "$max" "$mins" "$stalls" "$((h1 - h0))" \
				"$(pct "$(fsub "$w1" "$w0")" "$(fsub "$t1" "$t0")")" "$(pct "$(fsub "$s1" "$s0")" "$(fsub "$t1" "$t0")")" |
				tee -a "$OUT/summary.txt"
		done
	done
	sentinel_drop
	read -r -a stv <<<"$(stats_line)"
	say "  remote heartbeat errors ${stv[4]}, lost ${stv[5]}"
}

# ------------------------------------------------------------ rtt

# A service further away: every heartbeat answered after RTT_MS (the
# stand-in's "slow" fault), so each connection carries one request at a
# time for that long.  RTT_N leases, one natural round.
section_rtt() {
	local m got dur rate wc sc ss
	say "## rtt: $RTT_N remote leases, every heartbeat answered after ${RTT_MS} ms"
	for m in $RTT_CONNS; do
		server_restart "-c lockable.remote_max_connections=$m"
		sctl reset >/dev/null
		got=$(q "SET lockable.remote = on; SELECT count(lockable_acquire('rtt$m:' || i, '1 hour')) FROM generate_series(1, $RTT_N) i")
		[ "$got" = "$RTT_N" ] || lk_die "acquired $got of $RTT_N remote leases"
		sctl "fault?op=heartbeat&kind=slow&seconds=$(awk -v ms="$RTT_MS" 'BEGIN { print ms / 1000 }')" >/dev/null
		read -r dur rate wc sc <<<"$(round_watch "rtt.m$m" remote_heartbeats "$RTT_N" 60)"
		sctl "fault?op=heartbeat&kind=none" >/dev/null
		[ "$dur" = incomplete ] && lk_die "the slow round with max_connections=$m did not complete in 60 s"
		ss=$(sstate)
		result rtt "max_conns_$m" "$m" 1 round_s "$dur"
		result rtt "max_conns_$m" "$m" 1 round_per_s "$rate"
		result rtt "max_conns_$m" "$m" 1 bound_per_s "$(awk -v m="$m" -v ms="$RTT_MS" 'BEGIN { printf "%.0f", m * 1000 / ms }')"
		result rtt "max_conns_$m" "$m" 1 standin_connections_max "$(sget "$ss" connections_max)"
		say "  max_connections=$m: $RTT_N heartbeats in ${dur}s = $rate/s (connections x 1/RTT = $(awk -v m="$m" -v ms="$RTT_MS" 'BEGIN { printf "%.0f", m * 1000 / ms }')/s); stand-in connections_max $(sget "$ss" connections_max), heartbeat errors $(q "SELECT remote_heartbeat_errors FROM lockable_stats"), lost $(q "SELECT remote_lost FROM lockable_stats")"
		q "SELECT count(*) FILTER (WHERE lockable_force_release('rtt$m:' || i)) FROM generate_series(1, $RTT_N) i" >/dev/null
		round_watch "rtt.m$m.release" remote_released "$RTT_N" 60 >/dev/null
	done
}

# ------------------------------------------------------------ run

# the stand-in's capacity first, with no server running: nothing else on
# the machine's two cores
if has_section capacity; then
	lk_say "section capacity"
	section_capacity
fi
setup_server
for s in rounds rtt latency load; do
	has_section "$s" || continue
	lk_say "section $s"
	say "(load average at the start of section $s: $(cut -d' ' -f1-3 /proc/loadavg))"
	"section_$s"
done

info load_at_end "$(cut -d' ' -f1-3 /proc/loadavg)"
cp "$PGLOG" "$OUT/postgresql.log" 2>/dev/null || true
grep -E 'PANIC|FATAL|ERROR|WARNING|lockable:' "$PGLOG" >"$OUT/server_messages.txt" || true
say "## server log: $(wc -l <"$OUT/server_messages.txt") lines of PANIC/FATAL/ERROR/WARNING or lockable: messages (server_messages.txt)"
head -20 "$OUT/server_messages.txt" | tee -a "$OUT/summary.txt"
lk_say "done: $OUT/summary.txt"
