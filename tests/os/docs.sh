#!/usr/bin/env bash
# The tree is self-contained: its wire contract is docs/PROTOCOL.md, and no
# file (code, comments, tests, docs, packaging) sends the reader to the
# directory beside the repository where reference documents live on
# developer machines. README, DESIGN and every man page point at
# docs/PROTOCOL.md, and each macro or option named in its Limits table
# still exists, so the table cannot silently go stale after a rename.
. "$(dirname "$0")/lib.sh"

doc=$S/docs/PROTOCOL.md
[ -s "$doc" ] || fail "docs/PROTOCOL.md is missing or empty"

# The source files, NUL-separated: in a git checkout what git tracks plus
# new files it does not ignore; in an unpacked tarball (distcheck) every
# file, without the build tree when it is a separate directory.
list_sources() {
	local top b
	top=$(git -C "$S" rev-parse --show-toplevel 2>/dev/null || true)
	if [ -n "$top" ] && [ "$top" = "$(cd "$S" && pwd -P)" ]; then
		git -C "$S" ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do
				[ -f "$S/$f" ] && printf '%s\0' "$S/$f"
			done
		return 0
	fi
	b=$(cd "$B" && pwd -P)
	if [ "$b" = "$(cd "$S" && pwd -P)" ]; then
		find "$S" \( -name .git -o -name autom4te.cache \) -prune -o -type f -print0
	else
		find "$S" \( -name .git -o -name autom4te.cache -o -path "$b" \) -prune \
			-o -type f -print0
	fi
}

# The sibling directory by relative path, by its absolute path on the
# developer machines, and its two documents under any other spelling. The
# brackets keep this script from matching itself.
outside='[.][.]/shared|/wor[k]/shared|shared[/](PROTOCOL|STYLE)'
list_sources >"$T/files"
[ -s "$T/files" ] || fail "no source files found under $S"
xargs -0 grep -InE "$outside" <"$T/files" >"$T/hits" 2>/dev/null || true
if [ -s "$T/hits" ]; then
	sed "s|^$S/||" "$T/hits" >&2
	fail "the files above point outside the repository; cite docs/PROTOCOL.md or docs/DESIGN.md instead"
fi
ok "no file refers to a document outside the repository ($(tr -cd '\0' <"$T/files" | wc -c) files)"

for f in README.md docs/DESIGN.md man/cc-proxy.8 man/cc-proxy-vmhelper.8 man/cc-proxyctl.1; do
	grep -q 'docs/PROTOCOL\.md' "$S/$f" || fail "$f does not point at docs/PROTOCOL.md"
done
ok "README.md, docs/DESIGN.md and the man pages point at docs/PROTOCOL.md"

# The Limits table, between its heading and the next one: every name in
# backquotes in a row's first cell. One in capitals must be #defined under
# src/; an option (--name) must be documented in a man page.
sed -n '/^## Part 3\. Limits/,/^## /p' "$doc" >"$T/limits"
grep -q '^| `' "$T/limits" || fail "docs/PROTOCOL.md has no Limits table under '## Part 3. Limits'"
n=0
while IFS= read -r name; do
	case "$name" in
	--*)
		grep -qF -- "${name//-/\\-}" "$S"/man/*.[18] ||
			fail "Limits names option $name, which no man page documents"
		;;
	*)
		grep -rqE "^[[:space:]]*#[[:space:]]*define[[:space:]]+$name\b" "$S/src" ||
			fail "Limits names $name, which src/ does not define"
		;;
	esac
	n=$((n + 1))
done < <(awk -F'|' '/^\| / && $2 !~ /^ *-+ *$/ { print $2 }' "$T/limits" |
	 grep -oE '`([A-Z][A-Z0-9_]*|--[a-z][a-z-]*)`' | tr -d '`' | sort -u)
[ "$n" -gt 0 ] || fail "no macro or option found in the Limits table"
ok "each of the $n macros and options in the Limits table exists"
