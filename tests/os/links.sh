#!/usr/bin/env bash
# The helper links only what it uses: it is exec'd for every VM, and each
# shared object costs the dynamic loader time and memory at every spawn
# (issue 10). libsystemd (and, through it, libgcrypt, liblzma, libzstd,
# liblz4, libgpg-error) belongs to the master alone: the helper writes its
# journal records itself (src/common/log.c).
. "$(dirname "$0")/lib.sh"

need readelf binutils
helper=$B/cc-proxy-vmhelper
[ -x "$helper" ] || fail "$helper not built"
needed=$(readelf -d "$helper" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if [ -z "$needed" ]; then
	# A static PIE (configure's --enable-static-helper, the default when
	# every library has its archive): no loader, nothing needed, and
	# still position-independent, so ASLR places it anew at each exec.
	readelf -h "$helper" | grep -q 'Type:.*DYN' ||
		fail "$helper needs nothing but is not position-independent (no ASLR)"
	readelf -l "$helper" | grep -q INTERP &&
		fail "$helper has an interpreter but needs no shared object"
	readelf -l "$helper" | grep -q GNU_RELRO ||
		fail "$helper (static PIE) has no RELRO segment"
	ok "cc-proxy-vmhelper is a static PIE: no shared object, ASLR and RELRO kept"
	needed=
fi
for lib in $needed; do
	case "$lib" in
	libevent-*|libevent_core-*|libjson-c.*|libseccomp.*|libcap-ng.*|libc.*|ld-linux*) ;;
	# --enable-sanitizers: their runtimes
	libasan.*|libubsan.*) ;;
	*) fail "cc-proxy-vmhelper needs $lib, which it does not use" ;;
	esac
done
[ -z "$needed" ] || ok "cc-proxy-vmhelper needs only:" $needed
readelf -d "$B/cc-proxy" | grep -q 'NEEDED.*libsystemd' ||
	fail "cc-proxy does not link libsystemd (sd_notify, sd_journal_sendv)"
ok "cc-proxy links libsystemd"
