#!/usr/bin/env bash
# Started by an unprivileged user, the same binaries still work: the helper
# skips only what needs privilege (chroot, uid change) with one log line,
# and keeps no_new_privs and its seccomp filter.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "run as root: the test itself switches to an unprivileged user"
command -v setpriv >/dev/null || skip "setpriv(1) missing (util-linux)"
user=nobody
uid=$(id -u $user)
gid=$(id -g $user)
# An array, not a function: backgrounded, "${AS_USER[@]}" CMD & has the pid
# of CMD itself (setpriv execs it), which the checks below read /proc of.
AS_USER=(setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --)
as_user() { "${AS_USER[@]}" "$@"; }
# $B may be where $user cannot go: run copies from $T/bin ($UB).
copy_bins_for "$uid" "$gid" cc-proxy cc-proxy-vmhelper cc-proxyctl cc-proxy-simvm
chown "$uid:$gid" "$T"

fifo=$T/vm.ready
mkfifo "$fifo"
chown "$uid:$gid" "$fifo"
"${AS_USER[@]}" "$UB/cc-proxy-simvm" --ctl "$T/vm.ctl" --io "$T/vm.io" --notify-fd 3 3>"$fifo" 2>"$T/simvm.log" &
PIDS+=($!)
read -r -t 10 line <"$fifo" || fail "simulated VM did not start"

sock=$T/proxy.sock
"${AS_USER[@]}" "$UB/cc-proxy" --socket-path "$sock" --wait-timeout 5 -v 1 2>"$T/proxy.log" &
PROXY_PID=$!
PIDS+=($PROXY_PID)
ready() { local out; out=$(as_user "$UB/cc-proxyctl" --socket "$sock" --timeout 5 attach no-such-vm 2>&1) || true; grep -q "no-such-vm" <<<"$out"; }
wait_until 10 ready || fail "cc-proxy did not start as $user"
[ "$(status_field "$PROXY_PID" Uid)" = "$uid" ] || fail "master is not running as $user"
ok "master runs as $user"

as_user "$UB/cc-proxyctl" --socket "$sock" --timeout 10 register vm1 --ctl "$T/vm.ctl" --io "$T/vm.io" >/dev/null ||
	fail "register as $user failed"
pid=$(helper_pid vm1)
[ -n "$pid" ] || fail "no helper for vm1"
[ "$(status_field "$pid" Uid)" = "$uid" ] || fail "helper uid $(status_field "$pid" Uid)"
[ "$(status_field "$pid" Seccomp)" = 2 ] || fail "helper has no seccomp filter"
[ "$(status_field "$pid" NoNewPrivs)" = 1 ] || fail "helper has no no_new_privs"
[ "$(status_field "$pid" CapEff)" = 0000000000000000 ] || fail "helper holds capabilities"
grep -q "not running as root: chroot and uid change skipped" "$T/proxy.log" ||
	fail "the helper did not say which steps it skipped"
ok "helper $pid: seccomp and no_new_privs on, privileged steps skipped with one log line"

set +e
out=$(as_user "$UB/cc-proxyctl" --socket "$sock" --timeout 10 exec vm1 -- sh -c 'echo unprivileged; exit 9')
rc=$?
set -e
[ "$rc" = 9 ] && [ "$out" = unprivileged ] || fail "exec gave '$out', status $rc"
ok "a process runs through the unprivileged proxy and exits 9"
