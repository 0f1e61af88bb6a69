#!/usr/bin/env bash
# Replay the kept fuzzing corpora through every harness (mk/fuzz.am): for
# each tests/fuzz/fuzz_<name>.c of the source tree, its replay program
# (built by `make check` with the normal compiler and flags) runs its
# seeds in tests/fuzz/seeds/fuzz_<name>/ and every reproducer in
# tests/fuzz/crashes/. A harness without a replay program fails: add it to
# mk/fuzz.am.
set -u
S=${CC_PROXY_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${CC_PROXY_BUILDDIR:-.}
status=0
n=0
for src in "$S"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	bin=$B/tests/fuzz/replay_$name
	if [ ! -x "$bin" ]; then
		echo "FAIL: $name has no replay program ($bin): add it to mk/fuzz.am"
		status=1
		continue
	fi
	args=()
	[ -d "$S/tests/fuzz/seeds/$name" ] && args+=("$S/tests/fuzz/seeds/$name")
	[ -d "$S/tests/fuzz/crashes" ] && args+=("$S/tests/fuzz/crashes")
	if [ ${#args[@]} -eq 0 ]; then
		echo "FAIL: $name has no seeds (tests/fuzz/seeds/$name/)"
		status=1
		continue
	fi
	if "$bin" "${args[@]}"; then
		echo "ok: $name"
		n=$((n + 1))
	else
		echo "FAIL: $name: a kept input breaks it (exit $?)"
		status=1
	fi
done
[ "$n" -gt 0 ] || { echo "FAIL: no harness replayed"; status=1; }
exit $status
