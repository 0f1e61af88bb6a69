#!/usr/bin/env bash
# A helper that makes a forbidden syscall dies by SIGSYS; the master stays
# up, frees that VM, writes "helper stopped ... seccomp violation" to the
# journal, and another VM's process keeps running to its own exit status.
# The violation is triggered through the test-hooks build of the helper
# (cc-proxy-vmhelper-testhooks, -DCC_PROXY_TEST_HOOKS, never installed).
CC_NEED_JOURNAL=1
. "$(dirname "$0")/lib.sh"

start_journald

start_vm vm1
start_vm vm2
start_proxy -v 1 --log-target journal --helper "$B/cc-proxy-vmhelper-testhooks"
register vm1 1
register vm2
token=$(grep -o '"[A-Za-z0-9_-]\{43\}="' "$T/register-vm1.out" | head -n 1 | tr -d '"')
[ -n "$token" ] || fail "no token for vm1"
victim=$(helper_pid vm1)
[ -n "$victim" ] || fail "no helper for vm1"

# A process in vm2 that is waiting for stdin while vm1's helper dies.
mkfifo "$T/vm2.stdin"
ctl exec vm2 -- sh -c 'read x; echo "got $x"; exit 5' <"$T/vm2.stdin" >"$T/vm2.out" 2>&1 &
exec_pid=$!
exec 5>"$T/vm2.stdin"

"$B/tests/security/rawshim" "$T/proxy.sock" "$token" "cc-proxy-test: forbidden syscall" ||
	fail "the shim connection of the violating helper did not end"
wait_until 10 sh -c "! kill -0 $victim 2>/dev/null" || fail "helper $victim still alive"
ok "helper $victim is gone"
kill -0 "$PROXY_PID" || fail "the master died"
ok "master $PROXY_PID alive"

if ctl attach vm1 >"$T/attach.out" 2>&1; then fail "vm1 still registered"; fi
ok "vm1 freed: $(head -n 1 "$T/attach.out")"

echo hello >&5
exec 5>&-
wait "$exec_pid" && rc=0 || rc=$?
[ "$rc" = 5 ] || fail "vm2's process exit status $rc, want 5 ($(cat "$T/vm2.out"))"
grep -qx "got hello" "$T/vm2.out" || fail "vm2's output: $(cat "$T/vm2.out")"
ok "vm2's process kept running and exited with 5"

ID=$(id_of MSGID_HELPER_STOPPED)
stopped() {
	"${J[@]}" "MESSAGE_ID=$ID" CC_CONTAINER_ID=vm1 2>/dev/null | grep -q 'seccomp violation'
}
wait_until 10 stopped || fail "no 'helper stopped ... seccomp violation' record for vm1"
"${J[@]}" "MESSAGE_ID=$ID" CC_CONTAINER_ID=vm1 |
	grep -q "\"CC_HELPER_PID\":\"$victim\"" || fail "the record does not name helper $victim"
ok "journal: helper stopped, seccomp violation, container vm1, pid $victim"
