#!/usr/bin/env bash
# The master keeps exactly the capabilities cc-proxy(8) lists: CAP_KILL
# effective and permitted, and in its bounding set only what an exec'd
# helper needs for its demotion (it starts with the bounding set as its
# permitted set) plus CAP_KILL, which its own re-exec (SIGHUP) must get
# back. A helper still confines itself (helper_confined.sh).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "not root: the master has no capabilities to drop"
start_proxy -v 1
# Any round trip proves the master is up and past its start-up.
ctl attach nosuchvm >/dev/null 2>&1 || true
pid=$PROXY_PID
# CAP_KILL 5, CAP_SETGID 6, CAP_SETUID 7, CAP_SETPCAP 8, CAP_SYS_CHROOT 18
own=$(printf '%016x' $(( 1<<5 )))
bnd=$(printf '%016x' $(( (1<<5) | (1<<6) | (1<<7) | (1<<8) | (1<<18) )))
for set in CapPrm CapEff; do
	v=$(status_field "$pid" $set)
	[ "$v" = "$own" ] || fail "master $set is $v, want $own (CAP_KILL only)"
done
v=$(status_field "$pid" CapBnd)
[ "$v" = "$bnd" ] || fail "master CapBnd is $v, want $bnd"
[ "$(status_field "$pid" CapAmb)" = 0000000000000000 ] || fail "master has ambient capabilities"
[ "$(status_field "$pid" CapInh)" = 0000000000000000 ] || fail "master has inheritable capabilities"
ok "master: effective = permitted = $own (KILL), bounding = $bnd (KILL SETGID SETUID SETPCAP SYS_CHROOT)"

# The helper starts with the bounding set and gives it all up: register a
# VM and look at its helper.
start_vm vm1
register vm1
h=$(helper_pid vm1)
[ -n "$h" ] || fail "no helper for vm1"
for set in CapPrm CapEff CapBnd CapInh CapAmb; do
	v=$(status_field "$h" $set)
	[ "$v" = 0000000000000000 ] || fail "helper $set is $v"
done
[ "$(status_field "$h" Uid | cut -f1)" != 0 ] || fail "helper still runs as root"
ok "helper $h demoted itself: no capabilities, uid $(status_field "$h" Uid)"
page=$S/man/cc-proxy.8
if [ -f "$page" ]; then
	for c in CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_SYS_CHROOT; do
		grep -q "$c" "$page" || fail "cc-proxy(8) does not list $c"
	done
	ok "cc-proxy(8) lists each of them"
fi
