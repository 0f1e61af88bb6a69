# lib.sh - shared by the security/audit shell tests: a private directory,
# the simulated VM, the proxy (socket-activated, so readiness is the
# "Listening on" line of systemd-socket-activate, not a sleep), bounded
# waits, and cleanup that leaves nothing behind.
#
# A test that sets CC_NEED_JOURNAL=1 before sourcing this file runs in a
# private mount namespace with its own systemd-journald (root only; it is
# skipped otherwise), so the host's journal is never touched.
set -euo pipefail

if [ "${CC_NEED_JOURNAL:-}" = 1 ] && [ -z "${CC_IN_NAMESPACE:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for a private mount namespace and journald"; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP: unshare(1) missing"; exit 77; }
	[ -x /lib/systemd/systemd-journald ] || { echo "SKIP: systemd-journald missing"; exit 77; }
	CC_IN_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$@"
fi

B=${CC_PROXY_BUILDDIR:?run through make check}
S=${CC_PROXY_SRCDIR:?run through make check}
T=$(mktemp -d /tmp/cc-proxy-test.XXXXXX)
chmod 0755 "$T"
PIDS=()
PROXY_PID=

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "${KEEP_LOGS:-}" ] || [ "${TEST_FAILED:-0}" = 1 ]; then
		for f in "$T"/*.log; do [ -f "$f" ] && { echo "----- $f"; tail -n 40 "$f"; }; done
	fi
	rm -rf "$T"
}
trap 'TEST_FAILED=$?; cleanup' EXIT

# wait_until SECONDS CMD...: run CMD until it succeeds, at most SECONDS.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.05
	done
}

# start_vm NAME [simvm options...]: a simulated VM with sockets in $T.
start_vm() {
	local name=$1
	shift
	local fifo=$T/$name.ready
	mkfifo "$fifo"
	"$B/cc-proxy-simvm" --ctl "$T/$name.ctl" --io "$T/$name.io" \
		--notify-fd 3 "$@" 3>"$fifo" 2>"$T/simvm-$name.log" &
	PIDS+=($!)
	local line=
	read -r -t 10 line <"$fifo" || fail "simulated VM $name did not start"
	[ "$line" = READY ] || fail "simulated VM $name said '$line'"
	eval "VM_PID_$name=${PIDS[-1]}"
}

# start_proxy [cc-proxy options...]: socket-activated on $T/proxy.sock.
start_proxy() {
	local fifo=$T/proxy.ready
	mkfifo "$fifo"
	systemd-socket-activate -l "$T/proxy.sock" \
		"$B/cc-proxy" --wait-timeout 5 "$@" 2>"$fifo" &
	PROXY_PID=$!
	PIDS+=($PROXY_PID)
	# systemd-socket-activate says "Listening on ..." once bound; from
	# then on connections queue until cc-proxy accepts them.
	exec 4<"$fifo"
	local line=
	read -r -t 10 line <&4 || fail "systemd-socket-activate did not start"
	case "$line" in *Listening*) ;; *) fail "unexpected: $line" ;; esac
	cat <&4 >"$T/proxy.log" &
	exec 4<&-
}

ctl() { "$B/cc-proxyctl" --socket "$T/proxy.sock" --timeout 10 "$@"; }

# copy_bins_for UID GID NAME...: for a test that runs the build's binaries
# as another user. The build tree may sit where only root can enter (a
# clone under `mktemp -d` or /root), so NAME... are copied into $T/bin,
# which the user can read and enter (removed with $T). The master finds
# its helper beside itself: copy them together. Sets UB to that directory;
# skips the test if the user still cannot run them there (/tmp noexec).
copy_bins_for() {
	local uid=$1 gid=$2 n
	shift 2
	UB=$T/bin
	mkdir -m 0755 "$UB"
	for n in "$@"; do
		[ -x "$B/$n" ] || fail "$B/$n is not built"
		install -m 0755 "$B/$n" "$UB/$n"
	done
	chmod 0755 "$T"
	setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$UB/$1" --help >/dev/null 2>&1 ||
		skip "uid $uid cannot run binaries from $UB (mount options of $(dirname "$T")?)"
}

register() { # register NAME [tokens]
	ctl register "$1" --ctl "$T/$1.ctl" --io "$T/$1.io" --tokens "${2:-0}" >"$T/register-$1.out"
}

helper_pid() { # the pid of NAME's helper: a child of our master, by its argv
	pgrep -P "$PROXY_PID" -f -- "cc-proxy-vmhelper[^ ]* .*--container-id $1( |\$)" | head -n 1
}

status_field() { # status_field PID Field
	awk -v f="$2:" '$1 == f { print $2; exit }' "/proc/$1/status"
}

# start_journald: journald's sockets and runtime journal on tmpfs, private
# to this namespace; J is the journalctl command that reads it.
start_journald() {
	local d
	for d in /run/systemd /run/log /var/log/journal; do
		mkdir -p "$d"
		mount -t tmpfs -o mode=0755 tmpfs "$d"
	done
	mkdir -p /run/systemd/journal /run/log/journal
	/lib/systemd/systemd-journald 2>"$T/journald.log" &
	PIDS+=($!)
	wait_until 10 test -S /run/systemd/journal/socket || fail "journald did not start"
	J=(journalctl --directory /run/log/journal --no-pager -o json)
}

# id_of NAME: the MESSAGE_ID msgid.h defines as NAME.
id_of() { awk -v n="$1" '$2 == n { gsub(/"/, "", $3); print $3 }' "$S/src/common/msgid.h"; }
