#!/usr/bin/env bash
# The master keeps exactly the capabilities cc-proxy(8) lists, in its
# effective, permitted and bounding sets.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "not root: the master has no capabilities to drop"
start_proxy -v 1
# Any round trip proves the master is up and past its start-up.
ctl attach nosuchvm >/dev/null 2>&1 || true
pid=$PROXY_PID
# CAP_KILL 5, CAP_SETGID 6, CAP_SETUID 7, CAP_SETPCAP 8, CAP_SYS_CHROOT 18
want=$(printf '%016x' $(( (1<<5) | (1<<6) | (1<<7) | (1<<8) | (1<<18) )))
for set in CapPrm CapEff CapBnd; do
	v=$(status_field "$pid" $set)
	[ "$v" = "$want" ] || fail "master $set is $v, want $want"
done
[ "$(status_field "$pid" CapAmb)" = 0000000000000000 ] || fail "master has ambient capabilities"
ok "master capabilities are exactly $want (KILL SETGID SETUID SETPCAP SYS_CHROOT)"
page=$S/man/cc-proxy.8
if [ -f "$page" ]; then
	for c in CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_SYS_CHROOT; do
		grep -q "$c" "$page" || fail "cc-proxy(8) does not list $c"
	done
	ok "cc-proxy(8) lists each of them"
fi
