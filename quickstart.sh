#!/usr/bin/env bash
# quickstart.sh - install what the build needs, build, and either run the
# demo or the whole test suite. Works on a fresh Debian 12 machine as root,
# with no standard input (CI).
#
#   ./quickstart.sh run     build, then run cc-proxy against a simulated VM
#   ./quickstart.sh test    build, then `make check` (unit + integration + OS)
#   ./quickstart.sh deps    only install the Debian packages
#   ./quickstart.sh build   only build
set -euo pipefail

cd "$(dirname "$0")"
top=$(pwd)

# Build and test dependencies, as Debian package names.
PACKAGES=(
	build-essential autoconf automake pkg-config
	libevent-dev libjson-c-dev libseccomp-dev libcap-ng-dev libsystemd-dev check
	systemd procps util-linux mandoc man-db selinux-policy-dev
	debhelper lintian
)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

deps() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
		exit 1
	fi
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
}

build() {
	if [ ! -x configure ] || [ configure.ac -nt configure ]; then
		say "autogen"
		./autogen.sh
	fi
	if [ ! -f Makefile ] || [ configure -nt Makefile ]; then
		say "configure"
		./configure --enable-maintainer-mode ${CONFIGURE_FLAGS:-}
	fi
	say "make"
	make -j"$(nproc)"
}

run_demo() {
	exec "$top/scripts/demo.sh"
}

# Check writes its summary ("100%: Checks: N, Failures: F, Errors: E") into
# each test's log, which automake's harness keeps out of sight: show each
# suite's line, then the sum over all suites as the last line.
check_summary() {
	local log sums total=0 failures=0 errors=0 n f e
	say "Check suites"
	for log in $(find tests -name '*.log' ! -name test-suite.log | sort); do
		# A log may hold several suites (socket_activated.sh runs five).
		sums=$(sed -nE 's/^[0-9]+%: Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/p' "$log" |
			awk '{ n += $1; f += $2; e += $3 } END { if (NR) print n, f, e }')
		[ -n "$sums" ] || continue
		read -r n f e <<<"$sums"
		printf '%-40s %d%%: Checks: %d, Failures: %d, Errors: %d\n' "${log%.log}" \
			$(( (n - f - e) * 100 / n )) "$n" "$f" "$e"
		total=$((total + n)) failures=$((failures + f)) errors=$((errors + e))
	done
	[ "$total" -gt 0 ] || { echo "no Check suite ran" >&2; return 1; }
	echo "all Check suites:"
	echo "$(( (total - failures - errors) * 100 / total ))%: Checks: $total, Failures: $failures, Errors: $errors"
}

run_tests() {
	say "make check"
	if make -j"$(nproc)" check; then
		# The release tarball must build and pass the same suite out of
		# tree, here with AddressSanitizer and UBSan: any report from the
		# daemon, its helpers or a unit test fails it.
		say "make distcheck (sanitizer build of the release tarball)"
		make -j"$(nproc)" distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-sanitizers
		check_summary
	else
		# Show the logs of what failed, so CI output says why.
		for log in $(find . -name '*.log' -newer Makefile); do
			if grep -qE '^:test-result: (FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null; then
				echo "----- $log"
				tail -n 80 "$log"
			fi
		done
		exit 1
	fi
}

case "${1:-}" in
deps) deps ;;
build) deps; build ;;
run) deps; build; run_demo ;;
test) deps; build; run_tests ;;
*)
	echo "usage: $0 run|test|deps|build" >&2
	exit 2
	;;
esac
