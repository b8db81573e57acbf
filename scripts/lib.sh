# shellcheck shell=bash
# Shared helpers for scripts/test.sh and scripts/demo.sh: dependency install
# from Debian's packages, copying the working tree to a scratch directory,
# building and installing the extension, and running commands as a user that
# may run initdb (root may not: as root we use the `postgres` OS user).
#
# Sourced, not executed.  Expects `set -euo pipefail` in the caller.
#
# Environment knobs:
#   PG_CONFIG           pg_config to build against
#                       (default /usr/lib/postgresql/15/bin/pg_config)
#   LOCKABLE_SKIP_APT=1 never call apt-get (dependencies are your business)

# shellcheck disable=SC2034  # used by the scripts that source this file
# Where the repository is: the directory above scripts/.
LK_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

LK_PG_BINDIR_DEFAULT=/usr/lib/postgresql/15/bin
PG_CONFIG=${PG_CONFIG:-$LK_PG_BINDIR_DEFAULT/pg_config}
export PG_CONFIG
# The binaries of the PostgreSQL that PG_CONFIG names first in PATH (initdb,
# pg_ctl, postgres are not in /usr/bin on Debian).
if [ -x "$PG_CONFIG" ]; then
	LK_PG_BINDIR=$("$PG_CONFIG" --bindir)
else
	LK_PG_BINDIR=$LK_PG_BINDIR_DEFAULT
fi
PATH="$LK_PG_BINDIR:$PATH"
export PATH

# Debian packages the build and the three test suites need.
#  - build-essential: gcc, make
#  - postgresql-server-dev-15: PGXS, server headers (pulls clang-14/llvm-14,
#    used for the JIT bitcode PGXS builds)
#  - libipc-run-perl: PostgreSQL::Test::Cluster (TAP tests) needs IPC::Run;
#    prove and Test::More come with perl itself
#  - libcurl4-openssl-dev, pkg-config: libraries the extension may link
#  - libpq-dev: the lockable-run command-line tool links libpq
#  - postgresql-15-cron, pgbouncer: servers the TAP tests start beside
#    PostgreSQL (pg_cron jobs, transaction pooling)
#  - python3, python3-psycopg, python3-pytest: the remote service's stand-in
#    (t/remote_standin.py) and the Python client's tests (python/tests)
LK_APT_PACKAGES=(
	build-essential
	postgresql-server-dev-15
	libipc-run-perl
	libcurl4-openssl-dev
	pkg-config
	libpq-dev
	python3
	python3-psycopg
	python3-pytest
	postgresql-15-cron
	pgbouncer
)

lk_say() { printf '==> %s\n' "$*"; }
lk_warn() { printf 'WARNING: %s\n' "$*" >&2; }
lk_die() {
	printf 'ERROR: %s\n' "$*" >&2
	exit 1
}

if [ "$(id -u)" -eq 0 ]; then
	LK_IS_ROOT=1
else
	LK_IS_ROOT=0
fi

# lk_sudo CMD...: run CMD with root privileges (directly when root, via sudo
# otherwise; a clear error when neither is possible).
lk_sudo() {
	if [ "$LK_IS_ROOT" -eq 1 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		lk_die "need root for: $* -- run as root, or install sudo and allow $(id -un) to use it"
	fi
}

# lk_pkg_installed PKG: true when dpkg says PKG is installed (not merely
# "config-files", which `dpkg -s` would still accept).
lk_pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' ok installed$'
}

# lk_install_deps: apt-get install whatever of LK_APT_PACKAGES is missing.
# Checks first, so re-runs are fast and need no network; `apt-get update` runs
# only when something is missing, and once.
lk_install_deps() {
	if [ "${LOCKABLE_SKIP_APT:-0}" = 1 ]; then
		lk_say "LOCKABLE_SKIP_APT=1: not checking Debian packages"
		return 0
	fi
	if ! command -v dpkg-query >/dev/null 2>&1; then
		lk_warn "dpkg-query not found (not Debian?): not installing packages; set LOCKABLE_SKIP_APT=1 to silence this"
		return 0
	fi
	local missing=() p
	for p in "${LK_APT_PACKAGES[@]}"; do
		lk_pkg_installed "$p" || missing+=("$p")
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		lk_say "Debian packages present: ${LK_APT_PACKAGES[*]}"
		return 0
	fi
	if [ "$LK_IS_ROOT" -ne 1 ] && ! command -v sudo >/dev/null 2>&1; then
		lk_die "missing Debian packages: ${missing[*]} -- install them as root (apt-get install ${missing[*]}), or install sudo"
	fi
	lk_say "installing missing Debian packages: ${missing[*]}"
	lk_sudo env DEBIAN_FRONTEND=noninteractive \
		apt-get -q -o DPkg::Lock::Timeout=300 update
	lk_sudo env DEBIAN_FRONTEND=noninteractive \
		apt-get -q -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"
}

# lk_check_pg_config: PG_CONFIG must exist after the install step.
lk_check_pg_config() {
	[ -x "$PG_CONFIG" ] || lk_die "pg_config not found at $PG_CONFIG (set PG_CONFIG, or install postgresql-server-dev-15)"
	lk_say "building against $("$PG_CONFIG" --version) ($PG_CONFIG)"
}

# lk_mktemp_dir PREFIX: a fresh scratch directory.  As root it must be
# reachable by the postgres user, who runs the servers: when TMPDIR is not
# (e.g. somewhere under /root), fall back to /tmp.
lk_mktemp_dir() {
	local prefix=$1 d
	d=$(mktemp -d "${TMPDIR:-/tmp}/$prefix.XXXXXX")
	if [ "$LK_IS_ROOT" -eq 1 ] && ! runuser -u postgres -- test -x "$(dirname "$d")"; then
		rmdir "$d"
		d=$(mktemp -d "/tmp/$prefix.XXXXXX")
	fi
	printf '%s\n' "$d"
}

# lk_copy_tree SRC DST [lk_sudo]: copy the working tree (tracked or not,
# edits included) without .git and without build or test outputs; with
# lk_sudo, DST is written as root.
lk_copy_tree() {
	local src=$1 dst=$2 as=${3:-}
	$as mkdir -p "$dst"
	tar -C "$src" \
		--exclude=./.git \
		--exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=./results --exclude=./output_iso \
		--exclude='./tmp_check*' --exclude=./log \
		--exclude=./regression.diffs --exclude=./regression.out \
		--exclude=./bench/out \
		-cf - . | $as tar -C "$dst" --no-same-owner -xf -
}

# lk_build DIR: compile (warnings go to the output as usual).
lk_build() {
	local dir=$1
	lk_say "building in $dir"
	make -C "$dir" PG_CONFIG="$PG_CONFIG" -j"$(nproc 2>/dev/null || echo 2)"
}

# lk_install_needs_root: true when `make install` must run as root.
lk_install_needs_root() {
	[ "$LK_IS_ROOT" -eq 1 ] && return 1
	[ -w "$("$PG_CONFIG" --pkglibdir)" ] && [ -w "$("$PG_CONFIG" --sharedir)/extension" ] && return 1
	return 0
}

# lk_check_can_install: fail early (before building) when `make install`
# would need root and there is no way to get it.
lk_check_can_install() {
	if lk_install_needs_root && ! command -v sudo >/dev/null 2>&1; then
		lk_die "make install writes to $("$PG_CONFIG" --pkglibdir): run as root, or install sudo and allow $(id -un) to use it"
	fi
}

# lk_install DIR: `make install` into the PostgreSQL that PG_CONFIG names,
# as root (sudo when not root and the directories are not writable).
lk_install() {
	local dir=$1
	lk_say "installing into $("$PG_CONFIG" --pkglibdir) and $("$PG_CONFIG" --sharedir)/extension"
	if lk_install_needs_root; then
		lk_sudo make -C "$dir" PG_CONFIG="$PG_CONFIG" install
	else
		make -C "$dir" PG_CONFIG="$PG_CONFIG" install
	fi
}

# lk_prepare_for_server_user DIR: as root, hand DIR to postgres.
lk_prepare_for_server_user() {
	local dir=$1
	if [ "$LK_IS_ROOT" -eq 1 ]; then
		getent passwd postgres >/dev/null ||
			lk_die "no 'postgres' OS user (it comes with Debian's postgresql-common); cannot run initdb as root"
		chown -R postgres: "$dir"
		chmod 755 "$dir"
		runuser -u postgres -- test -w "$dir" ||
			lk_die "user postgres cannot reach $dir (check the permissions of its parents)"
	fi
}

# One locale for every server the scripts start (initdb takes it from the
# environment), so test results do not depend on the caller's LANG/LC_*.
if locale -a 2>/dev/null | grep -qix 'c\.utf-\{0,1\}8'; then
	LK_LOCALE=C.UTF-8
else
	LK_LOCALE=C
fi

# lk_as_server_user CMD...: run CMD as a user allowed to run initdb and
# postgres: postgres when we are root, ourselves otherwise; in LK_LOCALE.
lk_as_server_user() {
	if [ "$LK_IS_ROOT" -eq 1 ]; then
		runuser -u postgres -- env PATH="$PATH" HOME="$(getent passwd postgres | cut -d: -f6)" \
			TMPDIR=/tmp PG_CONFIG="$PG_CONFIG" LC_ALL="$LK_LOCALE" LANG="$LK_LOCALE" "$@"
	else
		env LC_ALL="$LK_LOCALE" LANG="$LK_LOCALE" "$@"
	fi
}

# shellcheck source=scripts/pgroot.sh
. "$LK_REPO_ROOT/scripts/pgroot.sh"
