#!/bin/sh
# The protocol, robustness, exec, shim and status suites again, with cc-proxy
# started the way systemd starts it: `systemd-socket-activate -l PATH
# cc-proxy ...` binds the socket and execs cc-proxy on the first
# connection (LISTEN_FDS=1).
# The harness reads CC_PROXY_IT_ACTIVATION (tests/integration/harness.h).
set -u
B=${CC_PROXY_BUILDDIR:?run through make check}
if ! [ -x /usr/bin/systemd-socket-activate ]; then
	echo "SKIP: /usr/bin/systemd-socket-activate missing (Debian package systemd)"
	exit 77
fi
CC_PROXY_IT_ACTIVATION=socket
export CC_PROXY_IT_ACTIVATION
rc=0
for t in check_protocol check_robustness check_exec check_shim check_status; do
	echo "== $t (socket-activated)"
	"$B/tests/integration/$t" || rc=1
done
exit $rc
