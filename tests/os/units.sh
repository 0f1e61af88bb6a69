#!/usr/bin/env bash
# The generated systemd units: `systemd-analyze verify` accepts them with
# no message at all, and `systemd-analyze security` (offline) gives the
# service no higher exposure than the score recorded in systemd/README.md.
#
# verify checks that ExecStart= exists and that every man: page in
# Documentation= exists, so both are provided in a private root: the
# built master at the path the unit names, the man pages on MANPATH, and
# a copy of the host's unit directory for the targets the units depend on.
. "$(dirname "$0")/lib.sh"

need systemd-analyze systemd
need man man-db

svc=$B/systemd/cc-proxy.service
sock=$B/systemd/cc-proxy.socket
[ -f "$svc" ] && [ -f "$sock" ] || fail "units not generated in $B/systemd (make all)"

exec_start=$(unit_value "$svc" ExecStart)
master=$(unit_program "$svc")
case "$master" in /*) ;; *) fail "ExecStart= is not an absolute path: $exec_start" ;; esac
[ -x "$B/cc-proxy" ] || fail "$B/cc-proxy not built"

R=$T/root
sysdir=
for d in /usr/lib/systemd/system /lib/systemd/system; do
	if [ -f "$d/sysinit.target" ]; then sysdir=$d; break; fi
done
[ -n "$sysdir" ] || skip "no systemd unit directory with sysinit.target on this host"
mkdir -p "$R$sysdir" "$R/etc/systemd/system" "$R$(dirname "$master")" "$R/man/man8" "$R/man/man1"
cp -a "$sysdir/." "$R$sysdir/"
cp "$svc" "$sock" "$R/etc/systemd/system/"
cp "$B/cc-proxy" "$R$master"
# ExecReload= runs kill(1), which every installed system has.
mkdir -p "$R/bin"
cp "$(type -P kill)" "$R/bin/kill"
cp "$S/man/cc-proxy.8" "$S/man/cc-proxy-vmhelper.8" "$R/man/man8/"
cp "$S/man/cc-proxyctl.1" "$R/man/man1/"

U=$R/etc/systemd/system
if ! MANPATH=$R/man systemd-analyze verify --root="$R" "$U/cc-proxy.socket" "$U/cc-proxy.service" >"$T/verify" 2>&1; then
	cat "$T/verify" >&2
	fail "systemd-analyze verify failed"
fi
if [ -s "$T/verify" ]; then
	cat "$T/verify" >&2
	fail "systemd-analyze verify printed warnings"
fi
ok "systemd-analyze verify: no errors, no warnings"

systemd-analyze security --offline=yes --root="$R" "$U/cc-proxy.service" >"$T/security" 2>&1 ||
	{ cat "$T/security" >&2; fail "systemd-analyze security failed"; }
score=$(sed -n 's/.*Overall exposure level for cc-proxy.service: \([0-9.]*\).*/\1/p' "$T/security")
[ -n "$score" ] || { cat "$T/security" >&2; fail "no exposure level in systemd-analyze security output"; }
recorded=$(sed -n 's/.*exposure level:[ *]*\([0-9][0-9.]*\).*/\1/p' "$S/systemd/README.md" | head -n 1)
[ -n "$recorded" ] || fail "systemd/README.md records no exposure level"
awk -v s="$score" -v r="$recorded" 'BEGIN { exit !(s <= r) }' ||
	{ grep '✗' "$T/security" >&2 || true; fail "exposure $score is above the $recorded recorded in systemd/README.md"; }
ok "systemd-analyze security: exposure $score (README: $recorded)"
