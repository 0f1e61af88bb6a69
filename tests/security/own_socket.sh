#!/usr/bin/env bash
# Without socket activation the master makes its own socket: missing parent
# directories are created 0750, the socket is 0660, and a stale socket left
# by a killed proxy is replaced rather than refusing to start.
. "$(dirname "$0")/lib.sh"

sock=$T/run/cc-oci-runtime/proxy.sock
ready() { local out; out=$("$B/cc-proxyctl" --socket "$sock" --timeout 5 attach no-such-vm 2>&1) || true; grep -q "no-such-vm" <<<"$out"; }

start_own() {
	"$B/cc-proxy" --socket-path "$sock" -v 1 2>>"$T/proxy.log" &
	PROXY_PID=$!
	PIDS+=($PROXY_PID)
	wait_until 10 ready || fail "cc-proxy did not answer on $sock"
}

start_own
[ "$(stat -c %a "$T/run")" = 750 ] || fail "created $T/run with mode $(stat -c %a "$T/run")"
[ "$(stat -c %a "$T/run/cc-oci-runtime")" = 750 ] || fail "created parent with mode $(stat -c %a "$T/run/cc-oci-runtime")"
ok "parent directories created 0750"
[ -S "$sock" ] && [ "$(stat -c %a "$sock")" = 660 ] || fail "socket mode $(stat -c %a "$sock"), want 660"
ok "socket mode 0660"

# A proxy killed without cleanup leaves its socket file behind.
kill -KILL "$PROXY_PID"
wait "$PROXY_PID" 2>/dev/null || true
[ -S "$sock" ] || fail "the killed proxy's socket vanished; nothing stale to test"
start_own
grep -q "replacing the stale socket" "$T/proxy.log" || fail "no log line about the stale socket"
ok "stale socket replaced; the new proxy answers"

# A clean stop removes the socket it made.
kill -TERM "$PROXY_PID"
wait "$PROXY_PID" && rc=0 || rc=$?
[ "$rc" = 0 ] || fail "cc-proxy exited $rc on SIGTERM"
[ ! -e "$sock" ] || fail "socket left behind after a clean stop"
ok "SIGTERM: exit 0, socket removed"
