#!/usr/bin/env bash
# The file-level call graph of the extension, read from the object files'
# symbol tables, and a check that calls only go one way (README "How it
# works", issue 12): no two object files may reference each other, nor
# may any longer cycle exist.
#
#   scripts/callgraph.sh [DIR]    DIR holds the .o files (default: src)
#
# An edge A -> B means: A has an undefined symbol that B defines (a call,
# or a use of B's variable).  Prints one line per object, "A -> B C", then
# "no cycles" and exits 0, or prints each cycle found and exits 1.  Exits 2
# when there is nothing to read (no objects, no nm).
set -euo pipefail

dir=${1:-src}
shopt -s nullglob
objs=("$dir"/*.o)
if [ ${#objs[@]} -eq 0 ]; then
	echo "callgraph.sh: no object files in $dir (build first)" >&2
	exit 2
fi
command -v nm >/dev/null || { echo "callgraph.sh: nm not found (binutils)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# defined symbols: "symbol object"; undefined ones: "object symbol"
for o in "${objs[@]}"; do
	b=$(basename "$o" .o)
	nm --defined-only -g "$o" | awk -v b="$b" 'NF >= 3 { print $3, b }' >>"$tmp/defs"
	nm --undefined-only -g "$o" | awk -v b="$b" '{ print b, $NF }' >>"$tmp/undefs"
done

# edges "from to", one per pair of files
awk 'NR == FNR { def[$1] = $2; next }
	 ($2 in def) && def[$2] != $1 { print $1, def[$2] }' \
	"$tmp/defs" "$tmp/undefs" | sort -u >"$tmp/edges"

for o in "${objs[@]}"; do
	b=$(basename "$o" .o)
	printf '%s ->%s\n' "$b" "$(awk -v b="$b" '$1 == b { printf " %s", $2 }' "$tmp/edges")"
done

# cycles: depth-first search over the edges
awk '
	{ adj[$1] = adj[$1] " " $2; nodes[$1] = 1; nodes[$2] = 1 }
	function visit(n, path,    i, k, m, succ) {
		state[n] = 1
		k = split(adj[n], succ, " ")
		for (i = 1; i <= k; i++) {
			m = succ[i]
			if (state[m] == 1) {
				print "cycle: " path " -> " m
				found = 1
			} else if (state[m] == 0)
				visit(m, path " -> " m)
		}
		state[n] = 2
	}
	END {
		for (n in nodes) if (state[n] == 0) visit(n, n)
		if (found) exit 1
		print "no cycles"
	}' "$tmp/edges"
