#!/usr/bin/env bash
# The man pages render without a single warning (man-db with groff
# warnings, and mandoc's linter when installed), and they document what the
# programs really accept: every long option that --help prints, every
# MESSAGE_ID of msgid.h, and each capability the master keeps.
. "$(dirname "$0")/lib.sh"

need man man-db
PAGES="man/cc-proxy.8 man/cc-proxy-vmhelper.8 man/cc-proxyctl.1"

for p in $PAGES; do
	[ -f "$S/$p" ] || fail "$p missing"
	MANWIDTH=80 man --warnings -l "$S/$p" >"$T/out" 2>"$T/err" || fail "man -l $p failed: $(cat "$T/err")"
	[ ! -s "$T/err" ] || fail "man --warnings -l $p: $(cat "$T/err")"
	[ -s "$T/out" ] || fail "man -l $p rendered nothing"
done
ok "man --warnings -l renders each page without warnings"
if command -v mandoc >/dev/null 2>&1; then
	for p in $PAGES; do
		mandoc -T lint -W style "$S/$p" >"$T/lint" 2>&1 || fail "mandoc -T lint $p: $(cat "$T/lint")"
	done
	ok "mandoc -T lint -W style is clean"
else
	echo "note: mandoc not installed (Debian package mandoc): lint skipped"
fi

# Every long option a program prints in --help appears in its page.
check_options() { # check_options PROGRAM PAGE
	local prog=$B/$1 page=$S/$2 opt
	if [ ! -x "$prog" ]; then
		fail "$prog not built"
	fi
	"$prog" --help >"$T/help" 2>&1 || true
	for opt in $(grep -o -- '--[a-z][a-z-]*' "$T/help" | sort -u); do
		# man pages write - as \- (a real minus sign).
		grep -qF -- "${opt//-/\\-}" "$page" || fail "$2 does not document $opt (from $1 --help)"
	done
	ok "$2 documents every option of $1 --help"
}
check_options cc-proxy man/cc-proxy.8
check_options cc-proxy-vmhelper man/cc-proxy-vmhelper.8
check_options cc-proxyctl man/cc-proxyctl.1

while read -r name id; do
	grep -q "$id" "$S/man/cc-proxy.8" || fail "cc-proxy(8) does not list $name ($id)"
done < <(msgids)
ok "cc-proxy(8) lists every MESSAGE_ID"
for c in CAP_SETUID CAP_SETGID CAP_SYS_CHROOT CAP_SETPCAP CAP_KILL; do
	grep -q "$c" "$S/man/cc-proxy.8" || fail "cc-proxy(8) does not explain $c"
done
ok "cc-proxy(8) explains the master's capabilities"
