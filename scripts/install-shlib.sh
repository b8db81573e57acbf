#!/usr/bin/env bash
# install-shlib.sh [install options] SOURCE DEST
#
# Install a shared library by writing a new file and renaming it over DEST.
# install(1) rewrites an existing DEST in place, and a running PostgreSQL
# that has the old library mapped crashes when its pages change under it;
# after a rename it keeps the old file until it restarts.
set -euo pipefail
dest=${!#}
tmp="$dest.tmp.$$"
install "${@:1:$#-1}" "$tmp"
mv -f "$tmp" "$dest"
