#!/usr/bin/env bash
# Profiling helpers for the benchmark suite (see BENCHMARKS.md, "Profiles").
#
#   bench/profile.sh callgrind [SCRIPT...]
#       Instructions the server backend executes per pgbench transaction,
#       counted by valgrind --tool=callgrind (repeatable, unlike timings on
#       a shared machine).  The whole server runs under callgrind; for each
#       bench/SCRIPT.sql (default: floor_2stmt advisory_2stmt lockable_2stmt
#       lockable_2stmt_concat advisory_1stmt lockable_1stmt) one pgbench
#       client runs N1 and then N2 transactions on two fresh connections,
#       and (backend instructions at N2 - at N1) / (N2 - N1) is the cost of
#       one transaction, connection start-up cancelled out.  Also the
#       functions whose self cost differs most from advisory_2stmt.
#   bench/profile.sh perf SCRIPT [CLIENTS]
#       perf record (cpu-clock samples, call graphs) on the server backends
#       while pgbench runs SCRIPT with CLIENTS (default 8) for
#       BENCH_SECONDS (default 10); report by shared object and by symbol.
#   bench/profile.sh sweep [N [TTL]]
#       Fill N live leases (default 1000000) with ttl TTL (default 1 hour),
#       then perf record the lockable worker for BENCH_SECONDS while it
#       sweeps; report by symbol, with lockable_stats.last_sweep_ms.  A
#       short TTL (e.g. "3 s") profiles the sweeps that expire them all.
#
# Output in BENCH_OUT (default bench/out/profile-YYYYmmdd-HHMMSS).  Builds
# the code as bench/run.sh does (BENCH_SOURCE=head|rev:REV|worktree|installed;
# rev:REV profiles an older commit, e.g. the one before a change, with
# this script).
# Environment: BENCH_SOURCE, BENCH_SECONDS, BENCH_CG_N1 (2000),
# BENCH_CG_N2 (12000), BENCH_OUT, BENCH_KEEP=1, LOCKABLE_SKIP_APT=1.
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MODE=${1:-}
[ -n "$MODE" ] && shift
case $MODE in callgrind | perf | sweep) ;; *)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 2
	;;
esac

SOURCE=${BENCH_SOURCE:-head}
SECS=${BENCH_SECONDS:-10}
OUT=${BENCH_OUT:-$BENCH_DIR/out/profile-$(date +%Y%m%d-%H%M%S)}
LK_APT_PACKAGES+=(valgrind linux-perf)

WORK=
DATA=
STARTED=0
cleanup() {
	local rc=$?
	set +e
	[ "$STARTED" = 1 ] && pg_stop "$DATA"
	if [ -n "$WORK" ]; then
		if [ "$rc" -ne 0 ] || [ "${BENCH_KEEP:-0}" = 1 ]; then echo "scratch directory kept: $WORK"; else rm -rf "$WORK"; fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd -P)
lk_install_deps
lk_check_pg_config
BINDIR=$("$PG_CONFIG" --bindir)
WORK=$(lk_mktemp_dir lockable-profile)
chmod 755 "$WORK"
bench_code "$WORK" "$SOURCE"
lk_say "code under test: $SRC_DESC"
echo "$SRC_DESC" >"$OUT/code.txt"
BENCH_PORT=$(free_port 54910)
DATA=$WORK/data
lk_prepare_for_server_user "$WORK"

pgbench_q() {
	"$BINDIR/pgbench" -n -M prepared -h 127.0.0.1 -p "$BENCH_PORT" -U postgres "$@" bench
}

setup_db() {
	BENCH_DB=postgres q "CREATE DATABASE bench"
	q "CREATE EXTENSION lockable"
	[ "$SOURCE" = installed ] || bench_check_libdir
	q "CREATE TABLE lease_logged (name text PRIMARY KEY, token bigint NOT NULL, expires_at timestamptz NOT NULL)"
	q "CREATE UNLOGGED TABLE lease_unlogged (name text PRIMARY KEY, token bigint NOT NULL, expires_at timestamptz NOT NULL)"
}

# Ir total of a callgrind output file
cg_total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }

# self cost by function: "cost<TAB>function"
cg_self() {
	callgrind_annotate --inclusive=no --auto=no --threshold=100 "$1" 2>/dev/null |
		awk '$1 ~ /^[0-9,]+$/ && /:.* \[/ && !/PROGRAM TOTALS/ {
			c = $1; gsub(",", "", c); f = $0; sub(/^ *[0-9,]+ +(\([^)]*\) +)?/, "", f); sub(/ \[.*$/, "", f); sub(/^.*\/src\/src\//, "src/", f); print c "\t" f }'
}

mode_callgrind() {
	local n1=${BENCH_CG_N1:-2000} n2=${BENCH_CG_N2:-12000} s t before f x best bt
	local scripts=("$@")
	[ "${#scripts[@]}" -gt 0 ] || scripts=(floor_2stmt advisory_2stmt lockable_2stmt lockable_2stmt_concat advisory_1stmt lockable_1stmt)
	bench_initdb "$DATA" "$BENCH_PORT" 10000 "$WORK"
	mkdir -p "$WORK/cg"
	lk_prepare_for_server_user "$WORK"
	lk_as_server_user valgrind --tool=callgrind --callgrind-out-file="$WORK/cg/cg.%p" \
		"$POSTGRES_BIN" -D "$DATA" >"$WORK/valgrind.log" 2>&1 &
	STARTED=1
	for _ in $(seq 120); do
		"$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$BENCH_PORT" && break
		sleep 1
	done
	setup_db
	: >"$OUT/callgrind.tsv"
	for s in "${scripts[@]}"; do
		for t in "$n1" "$n2"; do
			before=$(ls "$WORK/cg")
			pgbench_q -c 1 -t "$t" -f "$BENCH_DIR/$s.sql" >"$OUT/callgrind.$s.$t.pgbench.txt" 2>&1
			sleep 2 # the backend writes its profile as it exits
			best=
			bt=0
			for f in $(comm -13 <(echo "$before") <(ls "$WORK/cg")); do
				x=$(cg_total "$WORK/cg/$f")
				if [ -n "$x" ] && [ "$x" -gt "$bt" ]; then
					bt=$x
					best=$f
				fi
			done
			[ -n "$best" ] || lk_die "no callgrind output for $s -t $t"
			cp "$WORK/cg/$best" "$OUT/callgrind.$s.$t.out"
		done
		printf '%s\t%s\n' "$s" "$(awk -v a="$(cg_total "$OUT/callgrind.$s.$n1.out")" -v b="$(cg_total "$OUT/callgrind.$s.$n2.out")" \
			-v n=$((n2 - n1)) 'BEGIN { printf "%.0f", (b - a) / n }')" >>"$OUT/callgrind.tsv"
		cg_self "$OUT/callgrind.$s.$n1.out" >"$WORK/self.$s.$n1"
		cg_self "$OUT/callgrind.$s.$n2.out" >"$WORK/self.$s.$n2"
		lk_say "$s: $(tail -1 "$OUT/callgrind.tsv" | cut -f2) instructions per transaction"
	done

	{
		echo "Backend instructions per pgbench transaction (callgrind, $((n2 - n1)) transactions: $n2 minus $n1, one client)"
		echo
		echo '| script | instructions per transaction | ratio to advisory_2stmt |'
		echo '|---|---:|---:|'
		awk -F'\t' 'NR == FNR { if ($1 == "advisory_2stmt") ref = $2; next }
			{ printf "| %s | %d | %s |\n", $1, $2, ref ? sprintf("%.3f", $2 / ref) : "" }' \
			"$OUT/callgrind.tsv" "$OUT/callgrind.tsv"
		# per function, per transaction: (N2 - N1) / (N2 - N1 transactions)
		for s in "${scripts[@]}"; do
			[ "$s" = advisory_2stmt ] && continue
			[ -f "$WORK/self.advisory_2stmt.$n1" ] || continue
			echo
			echo "Functions whose self cost per transaction differs most, $s minus advisory_2stmt:"
			echo
			echo '| function | advisory_2stmt | '"$s"' | difference |'
			echo '|---|---:|---:|---:|'
			awk -F'\t' -v n=$((n2 - n1)) '
				FILENAME ~ /advisory_2stmt\.'"$n1"'$/ { a1[$2] = $1; next }
				FILENAME ~ /advisory_2stmt\.'"$n2"'$/ { a2[$2] = $1; seen[$2] = 1; next }
				FNR == 1 { file++ }
				file == 1 { b1[$2] = $1; next }
				{ b2[$2] = $1; seen[$2] = 1 }
				END {
					for (f in seen) {
						a = (a2[f] - a1[f]) / n; b = (b2[f] - b1[f]) / n
						if (a - b > 30 || b - a > 30) printf "%s\t%.0f\t%.0f\t%+.0f\n", f, a, b, b - a
					}
				}' "$WORK/self.advisory_2stmt.$n1" "$WORK/self.advisory_2stmt.$n2" \
				"$WORK/self.$s.$n1" "$WORK/self.$s.$n2" |
				sort -t$'\t' -k4,4gr | awk -F'\t' '{ printf "| `%s` | %s | %s | %s |\n", $1, $2, $3, $4 }' | awk 'NR <= 25'
		done
	} >"$OUT/callgrind.md"
	cat "$OUT/callgrind.md"
}

# perf_top DATA N REPORT-OPTIONS...: the first N lines of a flat perf report
perf_top() {
	local data=$1 n=$2
	shift 2
	perf report -i "$data" --no-children -g none --stdio "$@" >"$WORK/report.txt" 2>/dev/null || true
	grep -v -e '^#' -e '^$' "$WORK/report.txt" | head -"$n" || true
}

mode_perf() {
	local script=${1:-lockable_2stmt} c=${2:-8} pids
	bench_initdb "$DATA" "$BENCH_PORT" 1100000 "$WORK"
	pg_start "$DATA" "$WORK/postgresql.log"
	STARTED=1
	setup_db
	pgbench_q -c "$c" -j "$(( c < NPROC ? c : NPROC ))" -T $((SECS + 3)) -f "$BENCH_DIR/$script.sql" >"$OUT/perf.$script.pgbench.txt" 2>&1 &
	local pgb=$!
	sleep 2
	pids=$(q "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = 'pgbench'")
	[ -n "$pids" ] || lk_die "no pgbench backends"
	perf record -F 2999 -g -o "$WORK/perf.data" -p "$pids" -- sleep "$SECS" >/dev/null 2>&1
	wait "$pgb"
	{
		echo "perf record -F 2999 -g on the $c backends of pgbench -c $c -f $script.sql ($SECS s); $(grep '^tps' "$OUT/perf.$script.pgbench.txt")"
		echo
		echo "By shared object:"
		perf_top "$WORK/perf.data" 15 --sort dso
		echo
		echo "By symbol (self):"
		perf_top "$WORK/perf.data" 50 --sort dso,sym
	} >"$OUT/perf.$script.txt"
	cat "$OUT/perf.$script.txt"
}

mode_sweep() {
	local n=${1:-1000000} ttl=${2:-1 hour} worker
	bench_initdb "$DATA" "$BENCH_PORT" $((n + n / 10 + 1000)) "$WORK"
	pg_start "$DATA" "$WORK/postgresql.log"
	STARTED=1
	setup_db
	worker=$(q "SELECT worker_pid FROM lockable_stats")
	q "SELECT count(lockable_acquire('fill:' || g, ttl => '$ttl')) FROM generate_series(1, $n) g" >/dev/null
	perf record -F 2999 -g -o "$WORK/perf.data" -p "$worker" -- sleep "$SECS" >/dev/null 2>&1
	{
		echo "perf record -F 2999 -g on the lockable worker, $n leases with ttl $ttl, $SECS s; leases left $(q "SELECT leases FROM lockable_stats"), last_sweep_ms = $(q "SELECT last_sweep_ms FROM lockable_stats" 2>/dev/null || echo n/a)"
		echo
		perf_top "$WORK/perf.data" 30 --sort dso,sym
	} >"$OUT/perf.sweep.txt"
	cat "$OUT/perf.sweep.txt"
}

"mode_$MODE" "$@"
lk_say "output in $OUT"
