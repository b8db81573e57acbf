#!/usr/bin/env bash
# Build lockable and run its test suites; the one test command (README, CI).
#
#   scripts/test.sh              on the host's PostgreSQL (15 on Debian 12)
#   scripts/test.sh --pg 18      on PostgreSQL 18, in a Debian root of its own
#   scripts/test.sh --pg all     on every supported version (15 17 18 19)
#   scripts/test.sh --pg "15 18" on those versions
#
# With --pg, each version other than the host's 15 runs in a minimal Debian
# root made (once, then reused) by debootstrap under /var/cache/lockable-test
# (scripts/pgroot.sh): this same script runs chrooted there.  Each version
# prints its own summary; a last summary totals them, and the closing line
# `N passed, N failed` counts every version.
#
# Installs what is missing from Debian's packages, copies this working tree
# into a fresh temporary directory, builds and installs the extension there
# (make install needs root: sudo when you are not root), then runs the three
# suites of `make installcheck` one at a time, so that one failing still lets
# the others run:
#   regress    pg_regress on REGRESS       (sql/, expected/)
#   isolation  pg_isolation_regress        (specs/, expected/)
#   tap        prove t/*.pl                (PostgreSQL::Test::Cluster)
# and, first, one check of the build itself, counted as one test:
#   callgraph  scripts/callgraph.sh: calls between the src/ object files
#              go one way (no cycle in the file call graph)
# Each suite starts its own temporary server, which initdb refuses to do as
# root: as root the suites run as the `postgres` OS user.
#
# Prints each test's result, the diffs and server logs of failures, and ends
# with the line `N passed, N failed`.  Exit status 1 when anything failed or
# nothing passed.  The temporary directory is removed on success and kept
# (path printed) on failure.
#
# Environment:
#   LOCKABLE_SUITES     suites to run (default "callgraph regress isolation tap python")
#   PG_CONFIG           default /usr/lib/postgresql/15/bin/pg_config
#   LOCKABLE_SKIP_APT=1 do not check/install Debian packages
#   LOCKABLE_KEEP=1     keep the temporary directory even on success
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUITES=${LOCKABLE_SUITES:-callgraph regress isolation tap python}
for s in $SUITES; do
	case $s in
	callgraph | regress | isolation | tap | python) ;;
	*) lk_die "unknown suite '$s' in LOCKABLE_SUITES (known: callgraph regress isolation tap python)" ;;
	esac
done

lk_parse_pg_args "$@"
[ "${#LK_ARGS[@]}" -eq 0 ] || lk_die "unknown argument '${LK_ARGS[0]}' (usage: scripts/test.sh [--pg VERSION|all])"

# run_versions: the --pg driver.  Runs this script once per version (on the
# host for 15, chrooted into that version's root for the others) and totals
# their closing lines.
run_versions() {
	local v root inner log p f line total_p=0 total_f=0 t0 secs
	local lines=()
	for v in $LK_PG_SELECTED; do
		echo
		echo "#################### PostgreSQL $v ####################"
		t0=$(date +%s)
		log=$(mktemp "${TMPDIR:-/tmp}/lockable-test-pg$v.XXXXXX")
		if [ "$v" = 15 ]; then
			env PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config \
				bash "$LK_REPO_ROOT/scripts/test.sh" </dev/null 2>&1 | tee "$log" || true
		elif root=$(lk_root_ensure "$v"); then
			inner=$(lk_root_copy_tree "$root")
			lk_root_exec "$root" \
				PG_CONFIG="/usr/lib/postgresql/$v/bin/pg_config" LOCKABLE_SKIP_APT=1 \
				LOCKABLE_SUITES="$SUITES" LOCKABLE_KEEP="${LOCKABLE_KEEP:-0}" \
				bash "$inner/scripts/test.sh" </dev/null 2>&1 |
				sed "s|work directory kept\(.*\): /|work directory kept\1: $root/|" |
				tee "$log" || true
			lk_sudo rm -rf "${root:?}${inner:?}"
		else
			echo "could not make the Debian root for PostgreSQL $v"
		fi
		secs=$(($(date +%s) - t0))
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
		if [ -n "$line" ]; then
			read -r p _ f _ <<<"$line"
		else
			p=0
			f=1
			line="did not finish: counted as 1 failure"
		fi
		rm -f "$log"
		total_p=$((total_p + p))
		total_f=$((total_f + f))
		lines+=("PostgreSQL $v: $line ($secs s)")
	done
	echo
	echo "==================== all versions ===================="
	printf '%s\n' "${lines[@]}"
	SUMMARY_DONE=1
	echo "$total_p passed, $total_f failed"
	[ "$total_f" -eq 0 ] && [ "$total_p" -gt 0 ]
}

PASSED=0
FAILED=0
SUMMARY_DONE=0
WORK=
RESULTS=()

# Always end with the count line, even when something unexpected aborts us.
# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
	local rc=$?
	if [ "$SUMMARY_DONE" -eq 0 ]; then
		echo "test.sh stopped early (exit status $rc)${WORK:+; work directory kept: $WORK}"
		[ "$rc" -ne 0 ] && FAILED=$((FAILED + 1))
		echo "$PASSED passed, $FAILED failed"
		exit 1
	fi
}
trap on_exit EXIT

finish() {
	local rc=0
	echo
	echo "==================== summary ===================="
	local r
	for r in "${RESULTS[@]}"; do echo "$r"; done
	if [ "$FAILED" -gt 0 ] || [ "$PASSED" -eq 0 ]; then
		rc=1
		[ "$PASSED" -eq 0 ] && [ "$FAILED" -eq 0 ] && echo "no test ran"
		echo "work directory kept for inspection: $WORK"
	elif [ "${LOCKABLE_KEEP:-0}" = 1 ]; then
		echo "work directory kept (LOCKABLE_KEEP=1): $WORK"
	else
		rm -rf "$WORK"
	fi
	SUMMARY_DONE=1
	echo "$PASSED passed, $FAILED failed"
	exit "$rc"
}

# show_file_tail FILE LINES: print the end of a log file, labelled.
show_file_tail() {
	local f=$1 n=$2
	[ -f "$f" ] || return 0
	echo "----- ${f#"$BUILD"/} (last $n lines) -----"
	tail -n "$n" "$f"
}

# show_diagnostics SUITE: why did SUITE fail?  pg_regress keeps its
# temporary server's logs in OUTPUTDIR/log (./log for regress, output_iso/log
# for isolation); the TAP tests keep theirs in tmp_check/log.
show_diagnostics() {
	local suite=$1 f name shown=0
	echo "---------- diagnostics for $suite ----------"
	case $suite in
	regress | isolation)
		local out=$BUILD
		[ "$suite" = isolation ] && out=$BUILD/output_iso
		if [ -s "$out/regression.diffs" ]; then
			echo "----- ${out#"$BUILD"}/regression.diffs (first 400 lines) -----" | sed 's|- /|- |'
			head -n 400 "$out/regression.diffs"
		fi
		if [ -f "$out/log/postmaster.log" ]; then
			show_file_tail "$out/log/postmaster.log" 60
		else
			show_file_tail "$out/log/initdb.log" 40
		fi
		;;
	tap)
		# the logs of the failed test files, else all of them
		while read -r name; do
			name=$(basename "$name" .pl)
			for f in "$BUILD/tmp_check/log/regress_log_$name" "$BUILD/tmp_check/log/${name}"_*.log; do
				[ -f "$f" ] && shown=1
				show_file_tail "$f" 100
			done
		done <"$WORK/tap.failed"
		if [ "$shown" -eq 0 ]; then
			for f in "$BUILD"/tmp_check/log/*; do show_file_tail "$f" 100; done
		fi
		;;
	esac
	echo "---------- end of diagnostics for $suite ----------"
}

# Count pg_regress / pg_isolation_regress results in a log.
# PG15: "test NAME ... ok  12 ms" / "test NAME ... FAILED  12 ms" (and
# "     NAME ... ok" inside parallel groups).  PG16+: "ok 1 - NAME  12 ms" /
# "not ok 1 - NAME" ("+" instead of "-" inside parallel groups).
count_regress() {
	awk '
		/^(test +| +)?[^ ]+ +\.\.\. +ok( |$)/     { p++ }
		/^(test +| +)?[^ ]+ +\.\.\. +FAILED( |$)/ { f++ }
		/^ok +[0-9]+ +[-+] /                       { p++ }
		/^not ok +[0-9]+ +[-+] /                   { f++ }
		END { print p + 0, f + 0 }' "$1"
}

# Count TAP test files in prove's (non-verbose) output: one line per file,
# "t/001_x.pl .. ok", "t/001_x.pl .. skipped: why", or the file name followed
# by "Dubious..." / "Failed n/m subtests" lines.  Anything but ok/skipped is a
# failure (so is a file that never got a verdict).
count_tap() {
	awk '
		/^t\/[^ ]+ \.+( |$)/ {
			f = $1
			if (!(f in st)) { st[f] = "?"; order[++n] = f }
			if ($0 ~ /^t\/[^ ]+ \.+ ok( |$)/) st[f] = "ok"
			else if ($0 ~ /^t\/[^ ]+ \.+ skipped/) st[f] = "skip"
		}
		END {
			for (i = 1; i <= n; i++) {
				if (st[order[i]] == "ok") p++
				else if (st[order[i]] == "skip") s++
				else { fl++; print order[i] > failed }
			}
			print p + 0, fl + 0, s + 0
		}' failed="$2" "$1"
}

run_suite() {
	local suite=$1 log="$WORK/$1.log" rc=0 p=0 f=0 s=0
	local overrides=()
	case $suite in
	regress) overrides=(ISOLATION= TAP_TESTS=) ;;
	isolation) overrides=(REGRESS= TAP_TESTS=) ;;
	tap) overrides=(REGRESS= ISOLATION=) ;;
	esac
	echo
	echo "==================== suite: $suite ===================="
	if [ "$suite" = callgraph ]; then
		run_callgraph_check
		return 0
	fi
	if [ "$suite" = python ]; then
		run_python_suite
		return 0
	fi
	if [ "$suite" = tap ] && ! compgen -G "$BUILD/t/*.pl" >/dev/null; then
		echo "no t/*.pl files: nothing to run"
		RESULTS+=("$suite: no tests")
		return 0
	fi
	# pipefail: rc is make's status (tee does not fail)
	lk_as_server_user make -C "$BUILD" --no-print-directory PG_CONFIG="$PG_CONFIG" \
		installcheck "${overrides[@]}" </dev/null 2>&1 | tee "$log" || rc=$?
	if [ "$suite" = tap ]; then
		: >"$WORK/tap.failed"
		read -r p f s < <(count_tap "$log" "$WORK/tap.failed")
		sed 's/^/failed TAP test file: /' "$WORK/tap.failed"
	else
		read -r p f < <(count_regress "$log")
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# make failed but no test said FAILED: the suite itself did not run
		# (server did not start, missing file, ...).
		echo "suite $suite failed to run (make exit status $rc)"
		f=1
	elif [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "suite $suite: make succeeded but no test result was recognised in its output"
	fi
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	if [ "$s" -gt 0 ]; then
		RESULTS+=("$suite: $p passed, $f failed, $s skipped")
	else
		RESULTS+=("$suite: $p passed, $f failed")
	fi
	if [ "$f" -gt 0 ]; then
		show_diagnostics "$suite"
	fi
}

if [ -n "$LK_PG_SELECTED" ]; then
	SUMMARY_DONE=0
	trap 'rc=$?; [ "$SUMMARY_DONE" -eq 1 ] || echo "0 passed, 1 failed"; exit $rc' EXIT
	run_versions
	exit $?
fi

# run_callgraph_check: the file call graph of the objects just built, read
# with nm; one test, failed by a cycle.
run_callgraph_check() {
	if "$BUILD/scripts/callgraph.sh" "$BUILD/src"; then
		PASSED=$((PASSED + 1))
		RESULTS+=("callgraph: 1 passed, 0 failed")
	else
		FAILED=$((FAILED + 1))
		RESULTS+=("callgraph: 0 passed, 1 failed")
	fi
}

# run_python_suite: pytest on python/tests (the lockable_pg client), with
# Debian's /usr/bin/python3 (the first python3 in PATH may be another
# interpreter, without Debian's python3-psycopg).  The tests start their own
# server from PG_CONFIG's bindir.  pytest's last line reads e.g.
# "==== 3 failed, 20 passed, 1 skipped in 9.1s ====".
run_python_suite() {
	local log="$WORK/python.log" rc=0 p=0 f=0 s=0 last
	if ! compgen -G "$BUILD/python/tests/test_*.py" >/dev/null; then
		echo "no python/tests/test_*.py files: nothing to run"
		RESULTS+=("python: no tests")
		return 0
	fi
	(cd "$BUILD/python" && lk_as_server_user env PYTHONDONTWRITEBYTECODE=1 \
		/usr/bin/python3 -m pytest -p no:cacheprovider -v -rs tests </dev/null) 2>&1 |
		tee "$log" || rc=$?
	last=$(grep -E '^=+ .*( in [0-9.]+s).* =+$' "$log" | tail -n 1 || true)
	p=$({ grep -oE '[0-9]+ passed' <<<"$last" || true; } | awk '{ n += $1 } END { print n + 0 }')
	f=$({ grep -oE '[0-9]+ (failed|errors?)' <<<"$last" || true; } | awk '{ n += $1 } END { print n + 0 }')
	s=$({ grep -oE '[0-9]+ skipped' <<<"$last" || true; } | awk '{ n += $1 } END { print n + 0 }')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "suite python failed to run (pytest exit status $rc)"
		f=1
	fi
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	if [ "$s" -gt 0 ]; then
		RESULTS+=("python: $p passed, $f failed, $s skipped")
	else
		RESULTS+=("python: $p passed, $f failed")
	fi
}

# 1. dependencies
lk_install_deps
lk_check_pg_config
lk_check_can_install

# 2. copy, build, install
WORK=$(lk_mktemp_dir lockable-test)
BUILD="$WORK/lockable"
lk_say "copying $LK_REPO_ROOT to $BUILD"
lk_copy_tree "$LK_REPO_ROOT" "$BUILD"

build_ok=1
if ! lk_build "$BUILD"; then
	echo "BUILD FAILED"
	build_ok=0
elif ! lk_install "$BUILD"; then
	echo "INSTALL FAILED"
	build_ok=0
fi
if [ "$build_ok" -eq 0 ]; then
	# Nothing can run: each requested suite counts as one failure.
	for s in $SUITES; do
		FAILED=$((FAILED + 1))
		RESULTS+=("$s: not run (build/install failed)")
	done
	finish
fi

# 3. the suites, one by one
lk_prepare_for_server_user "$WORK"
for s in $SUITES; do
	run_suite "$s"
done
finish
