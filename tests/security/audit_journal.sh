#!/usr/bin/env bash
# The audit trail reaches a real journal: a private systemd-journald (in a
# private mount namespace, so the host's journal is untouched) receives one
# record per lifecycle event, each with its MESSAGE_ID and fields.
CC_NEED_JOURNAL=1
. "$(dirname "$0")/lib.sh"

start_journald

start_vm vm1
start_vm vm2
start_proxy -v 1 --log-target journal
register vm1 1
token=$(grep -o '"[A-Za-z0-9_-]\{43\}="' "$T/register-vm1.out" | head -n 1 | tr -d '"')
[ -n "$token" ] || fail "no token in $(cat "$T/register-vm1.out")"
# exec allocates its own token (AttachVM), connects as its shim, and
# disconnects when the process is done.
ctl exec vm1 -- sh -c 'echo audited' >"$T/exec.out"
grep -q audited "$T/exec.out" || fail "exec output missing"
register vm2
ctl unregister vm2
kill "$VM_PID_vm2"   # the VM goes away: its helper stops
kill "$VM_PID_vm1"

have() { # have MESSAGE_ID FIELD=VALUE...: is there such a record?
	local id=$1
	shift
	"${J[@]}" "MESSAGE_ID=$id" "$@" 2>/dev/null | grep -q .
}

check() { # check NAME FIELD=VALUE...
	local name=$1 id
	shift
	id=$(id_of "$name")
	[ -n "$id" ] || fail "no $name in msgid.h"
	wait_until 10 have "$id" "$@" || {
		"${J[@]}" | grep -F "$id" >&2 || true
		fail "no journal record $name ($id) with $*"
	}
	ok "$name $id with $*"
}
check MSGID_VM_REGISTERED CC_CONTAINER_ID=vm1
check MSGID_HELPER_STARTED CC_CONTAINER_ID=vm1 CC_SECCOMP=1
check MSGID_SHIM_CONNECTED CC_CONTAINER_ID=vm1
check MSGID_SHIM_LOST CC_CONTAINER_ID=vm1
for name in MSGID_SHIM_CONNECTED MSGID_SHIM_LOST; do
	"${J[@]}" "MESSAGE_ID=$(id_of $name)" | grep -q '"CC_TOKEN_PREFIX":"[A-Za-z0-9_-]\{8\}"' ||
		fail "$name has no 8-character CC_TOKEN_PREFIX"
done
check MSGID_VM_UNREGISTERED CC_CONTAINER_ID=vm2
check MSGID_HELPER_STOPPED CC_CONTAINER_ID=vm1
check MSGID_HELPER_STOPPED CC_CONTAINER_ID=vm2

# helper started/stopped name the helper's pid; never a whole token.
"${J[@]}" "MESSAGE_ID=$(id_of MSGID_HELPER_STARTED)" | grep -q '"CC_HELPER_PID":"[0-9]\+"' ||
	fail "helper started has no CC_HELPER_PID"
"${J[@]}" "MESSAGE_ID=$(id_of MSGID_HELPER_STOPPED)" | grep -q '"CC_HELPER_PID":"[0-9]\+"' ||
	fail "helper stopped has no CC_HELPER_PID"
if "${J[@]}" | grep -qF "$token"; then fail "a whole token reached the journal"; fi
if "${J[@]}" | grep -q '[A-Za-z0-9_-]\{43\}='; then fail "something shaped like a token reached the journal"; fi
ok "helper pids recorded; no whole token in the journal"
