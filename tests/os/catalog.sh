#!/usr/bin/env bash
# The journal catalog has exactly one entry per MESSAGE_ID of msgid.h, each
# with Subject, Defined-By and Documentation, substitutes only fields that
# msgid.h defines, and journalctl accepts it: indexed in a private root
# (--update-catalog), every id is listed and can be shown.
. "$(dirname "$0")/lib.sh"

need journalctl systemd
cat=$S/systemd/cc-proxy.catalog
[ -f "$cat" ] || fail "$cat missing"

ids=$(msgids)
[ -n "$ids" ] || fail "no MESSAGE_IDs found in msgid.h"
n_ids=$(printf '%s\n' "$ids" | wc -l)
n_entries=$(grep -c '^-- [0-9a-f]\{32\}$' "$cat" || true)
[ "$n_entries" -eq "$n_ids" ] || fail "catalog has $n_entries entries, msgid.h $n_ids ids"

# Each entry's header.
while read -r name id; do
	entry=$(awk -v id="$id" '/^-- / { on = ($2 == id); next } on' "$cat")
	[ -n "$entry" ] || fail "$name ($id) has no catalog entry"
	for h in Subject Defined-By Documentation; do
		grep -q "^$h: ." <<<"$entry" || fail "$name ($id): no $h: header"
	done
done <<<"$ids"
ok "$n_ids entries, each with Subject, Defined-By, Documentation"

# @FIELD@ substitutions name fields that msgid.h documents.
fields=$(grep -v '^#' "$cat" | grep -o '@[A-Z_]*@' | tr -d @ | sort -u)
for f in $fields; do
	grep -q "\\b$f\\b" "$S/src/common/msgid.h" || fail "catalog substitutes @$f@, which msgid.h does not define"
done
ok "substituted fields are all defined in msgid.h: $(echo $fields)"

# journalctl indexes it in a private root and lists every id.
R=$T/root
mkdir -p "$R/usr/lib/systemd/catalog"
cp "$cat" "$R/usr/lib/systemd/catalog/"
journalctl --root="$R" --update-catalog 2>"$T/update.err" ||
	fail "journalctl --update-catalog failed: $(cat "$T/update.err")"
if [ -s "$T/update.err" ]; then fail "journalctl --update-catalog warned: $(cat "$T/update.err")"; fi
journalctl --root="$R" --list-catalog >"$T/list"
[ "$(wc -l <"$T/list")" -eq "$n_ids" ] || fail "--list-catalog shows $(wc -l <"$T/list") entries, want $n_ids"
while read -r name id; do
	grep -q "^$id cc-proxy: " "$T/list" || fail "$name ($id) not listed by journalctl --list-catalog"
	dump=$(journalctl --root="$R" --dump-catalog "$id")
	grep -q "^Subject: " <<<"$dump" ||
		fail "$name ($id): journalctl --dump-catalog shows no Subject"
done <<<"$ids"
ok "journalctl --list-catalog lists all $n_ids ids"
