#!/bin/sh
# The protocol, robustness, exec and shim suites again with the helper
# pool cc-proxy runs with by default (--helper-pool 4): every VM of these
# suites is served by a helper that was exec'd, confined and idle before
# its RegisterVM. The other suites run without a pool (the harness's
# default, CC_PROXY_TEST_POOL=0) because they count the master's children
# or its pooled helpers exactly; check_pool covers the pool itself.
set -u
B=${CC_PROXY_BUILDDIR:?run through make check}
CC_PROXY_TEST_POOL=4
export CC_PROXY_TEST_POOL
failed=""
for suite in check_protocol check_robustness check_exec check_shim; do
	echo "== $suite, helpers from a pool of $CC_PROXY_TEST_POOL"
	"$B/tests/integration/$suite" || failed="$failed $suite"
done
[ -z "$failed" ] || { echo "FAIL with a helper pool:$failed"; exit 1; }
