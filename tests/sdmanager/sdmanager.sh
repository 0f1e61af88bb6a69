#!/usr/bin/env bash
# sdmanager (the service manager's side of sd_notify/sd_listen_fds, a test
# double) with fakesvc: the fds a service stores with FDSTORE=1 come back
# in LISTEN_FDS with their names when it is restarted, after the listening
# socket; FDSTOREREMOVE=1 removes one, a stored fd showing POLLHUP is
# dropped; READY=1, WATCHDOG=1 and STATUS= are recorded.
set -euo pipefail
B=${CC_PROXY_BUILDDIR:?run through make check}
T=$(mktemp -d /tmp/cc-proxy-sdm.XXXXXX)
trap 'rc=$?; [ $rc = 0 ] || { for f in "$T"/record "$T"/svc.out "$T"/proxy/record "$T"/proxy/log; do echo "--- $f"; cat "$f" 2>/dev/null; done; }; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

timeout 20 "$B/tests/sdmanager/sdmanager" --dir "$T" --listen "$T/proxy.sock" --restarts 1 \
	-- "$B/tests/sdmanager/fakesvc" >"$T/svc.out" || fail "sdmanager failed or hung"

want() { grep -qx -- "$1" "$2" || fail "no line '$1' in $2"; }
want "START 0 LISTEN_FDS=1 LISTEN_FDNAMES=proxy" "$T/record"
want "STORE keep" "$T/record"
want "STORE hup" "$T/record"
want "REMOVE gone" "$T/record"
want "NOTIFY READY=1" "$T/record"
want "NOTIFY STATUS=first run" "$T/record"
want "NOTIFY WATCHDOG=1" "$T/record"
want "EXIT 3" "$T/record"
want "HUP hup" "$T/record"
want "START 1 LISTEN_FDS=2 LISTEN_FDNAMES=proxy:keep" "$T/record"
want "EXIT 0" "$T/record"
want "DONE" "$T/record"
echo "ok: records"
want "fds=1 listening=1" "$T/svc.out"
want "fds=2 listening=1" "$T/svc.out"
want "fd 3 name proxy" "$T/svc.out"
want "fd 4 name keep" "$T/svc.out"
want "keep holds hello" "$T/svc.out"
if grep -q "name hup\|name gone" "$T/svc.out"; then fail "a dropped or removed fd was handed back"; fi
echo "ok: the store comes back after the socket, with its names"

# cc-proxy under sdmanager: READY=1 once it listens on the socket it is
# handed (named proxy), STOPPING=1 and exit 0 on SIGTERM.
mkdir "$T/proxy"
"$B/tests/sdmanager/sdmanager" --dir "$T/proxy" --listen "$T/proxy/proxy.sock" \
	-- "$B/cc-proxy" -v 1 2>"$T/proxy/log" &
sdm=$!
deadline=$((SECONDS + 10))
until grep -qx "NOTIFY READY=1" "$T/proxy/record" 2>/dev/null; do
	[ $SECONDS -lt $deadline ] || { kill $sdm; fail "cc-proxy sent no READY=1: $(cat "$T/proxy/log")"; }
	sleep 0.05
done
kill -TERM $sdm
timeout 10 tail --pid=$sdm -f /dev/null || fail "sdmanager did not stop"
wait $sdm || fail "sdmanager exited $?"
want "START 0 LISTEN_FDS=1 LISTEN_FDNAMES=proxy" "$T/proxy/record"
want "NOTIFY STOPPING=1" "$T/proxy/record"
want "EXIT 0" "$T/proxy/record"
want "STOP" "$T/proxy/record"
echo "ok: cc-proxy started by sdmanager: READY=1, then STOPPING=1"
