#!/usr/bin/env bash
# Runs every Go fuzz target in the workspace for a short time each.
# Usage: scripts/fuzz.sh [DURATION]   (default 10s per target)
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}
status=0
while IFS= read -r file; do
	dir=$(dirname "$file")
	for fn in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		echo "== $dir $fn ($dur)"
		go test "./$dir" -run '^$' -fuzz "^${fn}\$" -fuzztime "$dur" || status=1
	done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' ngproto mediad sipproxy kmod e2e 2>/dev/null | sort)
exit $status
