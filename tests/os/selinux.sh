#!/usr/bin/env bash
# The SELinux policy module: its sources are a confined policy (no
# unconfined domain, no allow rule on "*"), they declare the two domains,
# their entry points and the transition between them, and `make -C
# selinux` builds cc-proxy.pp with the reference policy's Makefile.
# When the Debian base policy is installed (selinux-policy-default), the
# module is also linked against it and the transitions are checked in
# the resulting policy.
. "$(dirname "$0")/lib.sh"

P=$S/selinux
for f in cc-proxy.te cc-proxy.if cc-proxy.fc Makefile README.md; do
	[ -f "$P/$f" ] || fail "selinux/$f missing"
done

# Source checks (no tool needed).
src=$(grep -hv '^[[:space:]]*#' "$P/cc-proxy.te" "$P/cc-proxy.if" "$P/cc-proxy.fc" | grep -v '^##')
if grep -qi 'unconfined' <<<"$src"; then fail "the policy names an unconfined domain"; fi
if grep -qE '^[[:space:]]*(allow|auditallow)[^;]*\*' <<<"$src"; then
	fail "the policy has an allow rule with '*'"
fi
if grep -qE '(allow|type_transition)[^;]*~' <<<"$src"; then fail "the policy has a complemented (~) rule"; fi
for t in cc_proxy_t cc_proxy_exec_t cc_proxy_helper_t cc_proxy_helper_exec_t; do
	grep -q "^type $t;" "$P/cc-proxy.te" || fail "type $t not declared"
done
grep -q 'init_daemon_domain(cc_proxy_t, cc_proxy_exec_t)' "$P/cc-proxy.te" || fail "no init transition to cc_proxy_t"
grep -q 'domtrans_pattern(cc_proxy_t, cc_proxy_helper_exec_t, cc_proxy_helper_t)' "$P/cc-proxy.te" ||
	fail "no transition master -> helper"
grep -q 'cc_proxy_exec_t' "$P/cc-proxy.fc" && grep -q 'cc_proxy_helper_exec_t' "$P/cc-proxy.fc" &&
	grep -q 'cc_proxy_runtime_t' "$P/cc-proxy.fc" || fail "file contexts miss a binary or the socket"
ok "sources: two domains, their transitions, no unconfined domain, no '*' rule"

# Build, in a copy (the source tree may be read-only, as in distcheck).
[ -f /usr/share/selinux/devel/Makefile ] ||
	skip "/usr/share/selinux/devel/Makefile not found (Debian package selinux-policy-dev); sources checked only"
need checkmodule checkpolicy
cp -r "$P" "$T/selinux"
rm -rf "$T/selinux/tmp" "$T/selinux"/*.pp
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$T/selinux" >"$T/build.log" 2>&1 || { cat "$T/build.log" >&2; fail "make -C selinux failed"; }
[ -s "$T/selinux/cc-proxy.pp" ] || fail "make -C selinux produced no cc-proxy.pp"
ok "make -C selinux built cc-proxy.pp ($(wc -c <"$T/selinux/cc-proxy.pp") bytes)"

# Link against the distribution's base policy, when it is installed.
base=${CC_PROXY_SELINUX_BASE:-}	# or point this at a base.pp[.bz2]
for f in /usr/share/selinux/default/base.pp /usr/share/selinux/default/base.pp.bz2; do
	if [ -z "$base" ] && [ -f "$f" ]; then base=$f; fi
done
if [ -z "$base" ] || ! command -v semodule_link >/dev/null || ! command -v sesearch >/dev/null; then
	echo "note: base policy (selinux-policy-default), semodule_link or sesearch (setools) missing: link check skipped"
	exit 0
fi
case "$base" in
*.bz2) bunzip2 -c "$base" >"$T/base.pp" ;;
*) cp "$base" "$T/base.pp" ;;
esac
semodule_link -o "$T/linked.pp" "$T/base.pp" "$T/selinux/cc-proxy.pp" >"$T/link.log" 2>&1 ||
	{ cat "$T/link.log" >&2; fail "cc-proxy.pp does not link with the base policy"; }
semodule_expand "$T/linked.pp" "$T/policy.bin" >"$T/expand.log" 2>&1 ||
	{ cat "$T/expand.log" >&2; fail "the linked policy does not expand"; }
q() { sesearch "$@" "$T/policy.bin"; }
q -T -s init_t -t cc_proxy_exec_t -c process | grep -q 'cc_proxy_t' || fail "init_t does not enter cc_proxy_t"
q -T -s cc_proxy_t -t cc_proxy_helper_exec_t -c process | grep -q 'cc_proxy_helper_t' ||
	fail "cc_proxy_t does not enter cc_proxy_helper_t"
q -A -s cc_proxy_t -t cc_proxy_helper_t -c process2 -p nnp_transition | grep -q . ||
	fail "no nnp_transition for the helper (the service runs with NoNewPrivileges=yes)"
# The helper opens no file but its own program: no write to any file type.
if q -A -s cc_proxy_helper_t -c file -p write | grep -v ' cc_proxy_helper_t:file ' | grep -q .; then
	q -A -s cc_proxy_helper_t -c file -p write >&2
	fail "the helper domain may write files"
fi
if q -A -s cc_proxy_helper_t -c unix_stream_socket -p connectto | grep -q .; then
	fail "the helper domain may connect to sockets"
fi
ok "linked with $base: init -> cc_proxy_t -> cc_proxy_helper_t; the helper writes no file, connects nowhere"
