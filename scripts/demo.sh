#!/usr/bin/env bash
# demo.sh - the proxy's main job on its embedded default: cc-proxy on a
# private socket, a simulated VM (cc-proxy-simvm) behind it, a real command
# run through `cc-proxyctl exec`, then the proxy keeps serving until Ctrl-C.
set -euo pipefail

build=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/cc-proxy-demo.XXXXXX)
sock=$dir/proxy.sock
pids=()

cleanup() {
	trap - INT TERM EXIT
	echo
	echo "stopping..."
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$dir"
	echo "stopped cleanly."
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# The simulated VM tells us on a pipe when its sockets listen.
exec {ready}<> <(:)
"$build/cc-proxy-simvm" --ctl "$dir/ctl.sock" --io "$dir/io.sock" \
	--console "$dir/console.sock" --notify-fd "$ready" 2>"$dir/simvm.log" &
pids+=($!)
read -r -t 10 line <&"$ready" || { echo "simulated VM did not start:" >&2; cat "$dir/simvm.log" >&2; exit 1; }
exec {ready}<&-

"$build/cc-proxy" --socket-path "$sock" -v 1 2>"$dir/proxy.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { echo "cc-proxy did not start:" >&2; cat "$dir/proxy.log" >&2; exit 1; }

ctl() { "$build/cc-proxyctl" --socket "$sock" "$@"; }

echo "== registering the simulated VM 'demo'"
ctl register demo --ctl "$dir/ctl.sock" --io "$dir/io.sock"
echo
echo "== cc-proxyctl exec demo -- sh -c 'echo hello from the VM; uname -sr; exit 3'"
set +e
ctl exec demo -- sh -c 'echo hello from the VM; uname -sr; exit 3'
echo "(exit status $?)"
set -e
echo
cat <<MSG
cc-proxy is serving on $sock (log: $dir/proxy.log).
Try, in another terminal:
  "$build/cc-proxyctl" -s "$sock" hyper demo version
  "$build/cc-proxyctl" -s "$sock" exec demo -- ls /
  "$build/cc-proxyctl" -s "$sock" exec demo -t -- sh        (interactive, with a terminal)
  "$build/cc-proxyctl" -s "$sock" status                  (what the proxy is doing: VMs, bytes, limits)
  ps -o pid,comm,args --ppid ${pids[1]}          (one confined helper per VM)
Ctrl-C stops everything.
MSG
wait "${pids[1]}"
