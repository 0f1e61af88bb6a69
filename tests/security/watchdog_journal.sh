#!/usr/bin/env bash
# The watchdog and its audit record: a helper that serves its VM but
# never answers the master's ping (the test-only hostile helper, VM id
# evil-mute) is killed within two watchdog periods (--wait-timeout 1 is
# below the 2 s floor, so 2 s); the journal gets
# the "helper killed" record (MSGID_HELPER_KILLED) naming the VM, the
# helper's pid and the reason, and another VM keeps working.
CC_NEED_JOURNAL=1
. "$(dirname "$0")/lib.sh"

start_journald
start_vm good
start_vm evil
start_proxy -v 1 --log-target journal --wait-timeout 1 \
	--helper "$B/tests/integration/hostile-helper"
register good
ctl register evil-mute --ctl "$T/evil.ctl" --io "$T/evil.io" --tokens 0 >"$T/register-evil.out" ||
	fail "RegisterVM evil-mute: $(cat "$T/register-evil.out")"
victim=$(pgrep -P "$PROXY_PID" -f -- "--container-id evil-mute( |\$)" | head -n 1)
[ -n "$victim" ] || fail "no helper for evil-mute"

ID=$(id_of MSGID_HELPER_KILLED)
[ -n "$ID" ] || fail "MSGID_HELPER_KILLED missing from msgid.h"
killed() {
	"${J[@]}" "MESSAGE_ID=$ID" CC_CONTAINER_ID=evil-mute 2>/dev/null | grep -q 'no answer to a ping'
}
wait_until 15 killed || fail "no 'helper killed ... no answer to a ping' record for evil-mute"
rec=$("${J[@]}" "MESSAGE_ID=$ID" CC_CONTAINER_ID=evil-mute)
grep -q "\"CC_HELPER_PID\":\"$victim\"" <<<"$rec" || fail "the record does not name helper $victim: $rec"
grep -q '"CC_REASON":"unresponsive: no answer to a ping within 2 s"' <<<"$rec" ||
	fail "the record's reason: $rec"
ok "journal: helper killed, VM evil-mute, pid $victim, reason: no answer to a ping"
wait_until 10 sh -c "! kill -0 $victim 2>/dev/null" || fail "helper $victim still alive"
kill -0 "$PROXY_PID" || fail "the master died"

rc=0
ctl exec good -- sh -c 'echo still here; exit 3' >"$T/good.out" 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "good VM's process exit status $rc, want 3 ($(cat "$T/good.out"))"
grep -qx "still here" "$T/good.out" || fail "good VM's output: $(cat "$T/good.out")"
ok "the master serves the other VM: exit status 3, output intact"
