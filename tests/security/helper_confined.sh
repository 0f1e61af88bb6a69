#!/usr/bin/env bash
# A live helper is confined: seccomp filter mode, no_new_privs, no
# capability in any set, and (as root) a non-root uid and an empty root.
. "$(dirname "$0")/lib.sh"

start_vm vm1
start_proxy -v 1
register vm1
pid=$(helper_pid vm1)
[ -n "$pid" ] || fail "no helper process names vm1 (ps: $(ps -eo pid,args | grep vmhelper))"
ok "helper of vm1 is pid $pid: $(tr '\0' ' ' </proc/$pid/cmdline)"

[ "$(status_field "$pid" Seccomp)" = 2 ] || fail "Seccomp is $(status_field "$pid" Seccomp), want 2"
ok "Seccomp: 2"
[ "$(status_field "$pid" NoNewPrivs)" = 1 ] || fail "NoNewPrivs is not 1"
ok "NoNewPrivs: 1"
for set in CapInh CapPrm CapEff CapBnd CapAmb; do
	v=$(status_field "$pid" $set)
	[ "$v" = 0000000000000000 ] || fail "$set is $v, want all zero"
done
ok "all capability sets are empty"
comm=$(cat /proc/$pid/comm)
case "$comm" in ccvm-vm1) ok "comm is $comm" ;; *) fail "comm is '$comm', want ccvm-vm1" ;; esac

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP (part): not root, so the uid change and the empty root are not checked"
	exit 0
fi
uid=$(status_field "$pid" Uid)
[ "$uid" != 0 ] || fail "helper runs as uid 0"
ok "helper uid is $uid"
host_root=$(stat -L -c %d:%i /)
helper_root=$(stat -L -c %d:%i /proc/$pid/root/)
[ "$host_root" != "$helper_root" ] || fail "helper's root is the host's root"
n=$(ls -A /proc/$pid/root/ | wc -l)
[ "$n" = 0 ] || fail "helper's root directory is not empty ($n entries)"
ok "helper's root is an empty directory, not the host's"
