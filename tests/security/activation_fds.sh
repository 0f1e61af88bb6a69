#!/usr/bin/env bash
# The master started with more than one fd (a service manager handing back
# what its fd store kept, DESIGN.md "Restart and upgrade"): it takes the
# socket named "proxy" (FileDescriptorName=), else the first listening
# AF_UNIX stream socket, serves on it, and logs and closes every other fd.
. "$(dirname "$0")/lib.sh"
command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate missing"

# start_two FDNAMES FIRST SECOND: cc-proxy with two listening sockets.
start_two() {
	local fifo=$T/proxy.ready.$1
	mkfifo "$fifo"
	systemd-socket-activate -l "$2" -l "$3" ${1:+--fdname="$1"} \
		"$B/cc-proxy" -v 1 2>"$fifo" &
	PROXY_PID=$!
	PIDS+=($PROXY_PID)
	exec 4<"$fifo"
	local line=
	read -r -t 10 line <&4 || fail "systemd-socket-activate did not start"
	read -r -t 10 line <&4 || fail "systemd-socket-activate did not start"
	cat <&4 >"$T/proxy.log" &
	exec 4<&-
}
answers() { # answers SOCKET: an AttachVM of an unknown id gets its error
	local out
	out=$("$B/cc-proxyctl" --socket "$1" --timeout 10 attach no-such-vm 2>&1) || true
	grep -q "no-such-vm" <<<"$out"
}
stop() {
	kill -TERM "$PROXY_PID"
	wait "$PROXY_PID" && rc=0 || rc=$?
	[ "$rc" = 0 ] || fail "cc-proxy exited $rc on SIGTERM"
}

# Named: "proxy" is the second fd; the first, "stored-vm1", is closed.
start_two "stored-vm1:proxy" "$T/other.sock" "$T/proxy.sock"
answers "$T/proxy.sock" || fail "cc-proxy does not answer on the socket named proxy"
grep -q 'passed fd 3 (name stored-vm1) is not the listening socket and is not adopted: closed' \
	"$T/proxy.log" || fail "no record of the extra fd: $(cat "$T/proxy.log")"
# systemd-socket-activate exec'd cc-proxy: nobody else holds the other socket.
! answers "$T/other.sock" || fail "the fd not adopted still accepts connections"
stop
ok "two fds: the one named proxy serves, the other is logged and closed"

# Unnamed: the first listening AF_UNIX stream socket serves.
rm -f "$T/proxy.log"
start_two "" "$T/first.sock" "$T/second.sock"
answers "$T/first.sock" || fail "cc-proxy does not answer on the first socket"
grep -q 'passed fd 4 (name .*) is not the listening socket and is not adopted: closed' "$T/proxy.log" \
	|| fail "no record of the second fd: $(cat "$T/proxy.log")"
stop
ok "two unnamed fds: the first listening socket serves, the second is closed"
