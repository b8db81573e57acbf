# shellcheck shell=bash
# PostgreSQL versions other than the host's, each in a minimal Debian root.
#
# Debian 12 ships only PostgreSQL 15.  The newer majors come from Debian's
# own archive, in suites whose libc is newer than Debian 12's, so they are
# never installed into the host: each version gets a root made by
# debootstrap under $LOCKABLE_ROOT_CACHE (default /var/cache/lockable-test),
# one directory per version, holding the server, its -dev package, the build
# tools and everything the test suites start (pg_cron, PgBouncer, python3).
#
#   version  suite                       directory
#   17       trixie                      <cache>/pg17-trixie
#   18       forky                       <cache>/pg18-forky
#   19       sid, PostgreSQL from        <cache>/pg19-experimental
#            experimental
#
# A root is reused while its stamp file says it is complete and holds the
# packages this file lists; a root that is missing, half made or broken is
# made anew.  Commands run in it through lk_root_exec: a private mount
# namespace (so nothing stays mounted when they end, whatever happens) with
# /proc, /dev and a tmpfs on /dev/shm, then chroot.
#
# Sourced by lib.sh.  Everything here needs root: run as a user, it asks
# sudo (which must then work without a terminal for CI).

LK_ROOT_CACHE=${LOCKABLE_ROOT_CACHE:-/var/cache/lockable-test}
LK_DEBIAN_MIRROR=${LOCKABLE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The versions lockable supports; 15 is the host's.
LK_PG_VERSIONS=(15 17 18 19)
# Bump when the way a root is made changes, so old roots are made anew.
LK_ROOT_FORMAT=1

# lk_pg_suite VERSION: the Debian suite a root for VERSION is made from.
lk_pg_suite() {
	case $1 in
	17) echo trixie ;;
	18) echo forky ;;
	19) echo sid ;;
	*) return 1 ;;
	esac
}

# lk_pg_apt_release VERSION: the apt target release for PostgreSQL itself
# (-t), when it is not the root's own suite.
lk_pg_apt_release() {
	case $1 in
	19) echo experimental ;;
	*) echo "" ;;
	esac
}

# lk_root_dir VERSION
lk_root_dir() {
	local rel
	rel=$(lk_pg_apt_release "$1")
	echo "$LK_ROOT_CACHE/pg$1-${rel:-$(lk_pg_suite "$1")}"
}

# lk_root_packages VERSION: what a root for VERSION holds.  The same list as
# LK_APT_PACKAGES for the host, for that version.  Debian has no pg_cron
# for PostgreSQL 19 yet (experimental holds only the server): the pg_cron
# test skips itself there.
lk_root_packages() {
	local v=$1 cron=
	[ "$v" != 19 ] && cron="postgresql-$v-cron"
	echo "postgresql-$v postgresql-server-dev-$v $cron" \
		"build-essential pkgconf libcurl4-openssl-dev libpq-dev libipc-run-perl" \
		"pgbouncer python3 python3-psycopg python3-pytest ca-certificates procps"
}

# lk_root_stamp VERSION: what the stamp file of a complete root says.
lk_root_stamp() {
	echo "format=$LK_ROOT_FORMAT suite=$(lk_pg_suite "$1") release=$(lk_pg_apt_release "$1") packages=$(lk_root_packages "$1")"
}

# lk_root_exec ROOT CMD...: run CMD chrooted into ROOT, as root, with a
# clean environment, /proc, /dev and a private /dev/shm.  The mounts live in
# a mount namespace of their own and vanish with it.
lk_root_exec() {
	local root=$1
	shift
	# shellcheck disable=SC2016  # expanded by the inner shell
	lk_sudo unshare --mount --propagation private -- /bin/sh -ec '
		root=$1; shift
		mount -t proc proc "$root/proc"
		mount --rbind /dev "$root/dev"
		mount -t tmpfs -o mode=1777,size=2g tmpfs "$root/dev/shm"
		exec chroot "$root" /usr/bin/env -i \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
	' lk_root_exec "$root" "$@"
}

# lk_root_ok VERSION: true when the root for VERSION is complete and works.
# As root.
lk_root_ok() {
	local v=$1 root p st
	root=$(lk_root_dir "$v")
	[ -f "$root/.lockable-root" ] || return 1
	[ "$(cat "$root/.lockable-root")" = "$(lk_root_stamp "$v")" ] || return 1
	[ -x "$root/usr/lib/postgresql/$v/bin/pg_config" ] || return 1
	for p in $(lk_root_packages "$v"); do
		# shellcheck disable=SC2016  # a dpkg-query format, not a shell expansion
		st=$(chroot "$root" dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) || return 1
		[ "${st:0:2}" = ii ] || return 1
	done
	chroot "$root" "/usr/lib/postgresql/$v/bin/pg_config" --version >/dev/null 2>&1
}

# lk_root_make VERSION: make the root for VERSION anew (into a temporary
# directory, renamed into place only once complete).  As root, under
# set -e.
lk_root_make() {
	local v=$1 root suite rel new t0 log
	root=$(lk_root_dir "$v")
	suite=$(lk_pg_suite "$v")
	rel=$(lk_pg_apt_release "$v")
	new="$root.new"
	# shellcheck disable=SC2015
	[ -n "$v" ] && [ -n "$suite" ] && [ "$new" != / ] || lk_die "lk_root_make: bad version '$v'"
	t0=$(date +%s)
	lk_say "making a Debian $suite root for PostgreSQL $v in $root"
	if ! [ -x /usr/sbin/debootstrap ]; then
		env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update
		env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 \
			install -y --no-install-recommends debootstrap debian-archive-keyring
	fi
	rm -rf --one-file-system "$new" "$root"
	mkdir -p "$new"
	# Debian 12's debootstrap knows no script for forky: sid's serves every
	# suite after trixie.  Past Valid-Until dates (sid, forky on some
	# mirrors) do not stop debootstrap, only apt (configured below).  The
	# mounts debootstrap makes stay in a namespace of their own.
	log="$LK_ROOT_CACHE/pg$v.debootstrap.log"
	if ! unshare --mount --propagation private -- /usr/sbin/debootstrap --variant=minbase \
		"$suite" "$new" "$LK_DEBIAN_MIRROR" /usr/share/debootstrap/scripts/sid >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		lk_die "debootstrap of $suite failed (log: $log)"
	fi
	# apt: no recommends, tolerate stale Release files, retry downloads.
	printf '%s\n' 'APT::Install-Recommends "false";' 'Acquire::Check-Valid-Until "false";' \
		'Acquire::Retries "3";' 'DPkg::Lock::Timeout "300";' >"$new/etc/apt/apt.conf.d/90lockable"
	{
		echo "deb $LK_DEBIAN_MIRROR $suite main"
		if [ -n "$rel" ]; then echo "deb $LK_DEBIAN_MIRROR $rel main"; fi
	} >"$new/etc/apt/sources.list"
	# no daemons started by package scripts, and no "main" cluster
	printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
	chmod 755 "$new/usr/sbin/policy-rc.d"
	mkdir -p "$new/etc/postgresql-common/createcluster.d"
	echo "create_main_cluster = false" >"$new/etc/postgresql-common/createcluster.d/lockable.conf"
	cp /etc/resolv.conf "$new/etc/resolv.conf" 2>/dev/null || true
	# PostgreSQL's packages last, from the apt target release when there is
	# one: "-t experimental" for everything would pull in experimental's
	# perl, python and libc, which conflict with the rest of sid.
	local pkgs pgpkgs other p
	pkgs=$(lk_root_packages "$v")
	pgpkgs=
	other=
	for p in $pkgs; do
		case $p in
		postgresql-*) pgpkgs="$pgpkgs $p" ;;
		*) other="$other $p" ;;
		esac
	done
	log="$LK_ROOT_CACHE/pg$v.apt.log"
	# shellcheck disable=SC2086,SC2016  # split on purpose; expanded inside
	if ! lk_root_exec "$new" /bin/sh -ec '
		rel=$1 other=$2 pgpkgs=$3
		apt-get -q update
		apt-get -q install -y $other
		apt-get -q install -y ${rel:+-t "$rel"} $pgpkgs
		apt-get clean
	' sh "$rel" "$other" "$pgpkgs" >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		lk_die "installing PostgreSQL $v into the $suite root failed (log: $log)"
	fi
	lk_root_stamp "$v" >"$new/.lockable-root"
	mv -T "$new" "$root"
	lk_say "root for PostgreSQL $v ready in $(($(date +%s) - t0)) s: $(chroot "$root" "/usr/lib/postgresql/$v/bin/pg_config" --version)"
}

# lk_root_ensure_here VERSION: lk_root_ensure's work, as root, under
# set -e.  One maker at a time per version (flock); leftovers of earlier
# runs (sources copied in, kept test directories) older than 12 hours are
# removed.
lk_root_ensure_here() {
	local v=$1 root
	root=$(lk_root_dir "$v")
	mkdir -p "$LK_ROOT_CACHE"
	exec 9>>"$LK_ROOT_CACHE/.lock-pg$v"
	flock 9
	if lk_root_ok "$v"; then
		lk_say "reusing the root for PostgreSQL $v in $root"
		find "$root/var/tmp" "$root/tmp" -mindepth 1 -maxdepth 1 -name 'lockable-*' \
			-mmin +720 -exec rm -rf --one-file-system {} + 2>/dev/null || true
	else
		lk_root_make "$v"
		lk_root_ok "$v" || lk_die "the root for PostgreSQL $v in $root is not usable after making it"
	fi
}

# lk_root_ensure VERSION: make sure the root for VERSION exists and works;
# print its directory.  Runs as root (sudo otherwise) in a shell of its own
# with set -e, since a caller's $(...) or if would switch set -e off.
lk_root_ensure() {
	local v=$1
	lk_pg_suite "$v" >/dev/null || lk_die "no Debian root is known for PostgreSQL $v (known: ${LK_PG_VERSIONS[*]:1})"
	# shellcheck disable=SC2016  # expanded by the inner shell
	lk_sudo env LOCKABLE_ROOT_CACHE="$LK_ROOT_CACHE" LOCKABLE_DEBIAN_MIRROR="$LK_DEBIAN_MIRROR" \
		bash -c 'set -euo pipefail; . "$1"; lk_root_ensure_here "$2"' \
		lk_root_ensure "$LK_REPO_ROOT/scripts/lib.sh" "$v" >&2 || return 1
	lk_root_dir "$v"
}

# lk_root_copy_tree ROOT: copy the working tree into ROOT; print the path
# inside ROOT.
lk_root_copy_tree() {
	local root=$1 inner
	# shellcheck disable=SC2015
	inner=$(lk_sudo mktemp -d "$root/var/tmp/lockable-src.XXXXXX") && [ -n "$inner" ] ||
		lk_die "cannot make a directory in $root/var/tmp"
	lk_copy_tree "$LK_REPO_ROOT" "$inner" lk_sudo
	echo "${inner#"$root"}"
}

# lk_parse_pg_args: split "--pg V" / "--pg=V" out of the arguments.  Sets
# LK_PG_SELECTED (empty: the host's PostgreSQL) and LK_ARGS (the rest).
lk_parse_pg_args() {
	LK_PG_SELECTED=
	LK_ARGS=()
	while [ $# -gt 0 ]; do
		case $1 in
		--pg)
			[ $# -ge 2 ] || lk_die "--pg needs a version (${LK_PG_VERSIONS[*]} or all)"
			LK_PG_SELECTED=$2
			shift 2
			;;
		--pg=*)
			LK_PG_SELECTED=${1#--pg=}
			shift
			;;
		*)
			LK_ARGS+=("$1")
			shift
			;;
		esac
	done
	if [ "$LK_PG_SELECTED" = all ]; then
		LK_PG_SELECTED="${LK_PG_VERSIONS[*]}"
	fi
	local v ok k
	for v in $LK_PG_SELECTED; do
		ok=0
		for k in "${LK_PG_VERSIONS[@]}"; do [ "$v" = "$k" ] && ok=1; done
		[ "$ok" -eq 1 ] || lk_die "unsupported PostgreSQL version '$v' (supported: ${LK_PG_VERSIONS[*]}, or all)"
	done
}
