#!/usr/bin/env bash
# The Debian package (debian/, `make deb`). Builds cc-proxy_*.deb from a
# copy of the release tree (make distdir, so it works from a git checkout,
# a tarball and make distcheck alike, and never writes into the build
# tree), then checks
#   - its contents (dpkg-deb -c): the programs in /usr/bin, the helper in
#     /usr/libexec, the units, sysusers.d and tmpfiles.d files, the journal
#     catalog and the man pages, and nothing built only for tests;
#   - the packaged paths: the units name /usr/bin/cc-proxy and the
#     packaged socket, the empty directory the service names is the one
#     tmpfiles.d creates, the master's compiled-in defaults are the
#     packaged paths;
#   - its maintainer scripts (dpkg-deb -e): postinst creates the user and
#     the directory, enables and starts the socket and never the service;
#     prerm stops the socket; purge removes what the package created; the
#     catalog is indexed by systemd's file trigger;
#   - lintian: no error, and every warning is one debian/README.source
#     explains.
# Building takes a minute or two: a complete autogen, configure and build,
# without the test suite and debug symbols (DEB_BUILD_OPTIONS=nocheck
# noautodbgsym). It takes longer on a loaded machine.
. "$(dirname "$0")/lib.sh"

# debian/rules runs `make check` unless told nocheck: that run must not
# build the package from inside its own build.
[ -z "${CC_PROXY_PACKAGE_BUILD:-}" ] || skip "running inside the package build itself"
[ "$(id -u)" -eq 0 ] || skip "not root (the package build is checked as root, like the other OS tests)"
need dpkg-buildpackage dpkg-dev
need dpkg-checkbuilddeps dpkg-dev
need dpkg-deb dpkg
need make make
dpkg-checkbuilddeps "$S/debian/control" >"$T/deps" 2>&1 ||
	skip "build dependencies missing: $(sed -n 's/.*Unmet build dependencies: //p' "$T/deps") (apt-get install them)"

# --- build ---------------------------------------------------------------
W=$T/work
start=$(date +%s)
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=2" \
	make -s -C "$B" deb DEB_WORKDIR="$W" >"$T/build.log" 2>&1 ||
	{ tail -n 60 "$T/build.log" >&2; fail "make deb failed"; }
debs=("$W"/cc-proxy_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "make deb made ${#debs[@]} cc-proxy_*.deb in $W: ${debs[*]}"
deb=${debs[0]}
ok "built $(basename "$deb") in $(( $(date +%s) - start ))s"

# The package's upstream version is the release's.
version=$(dpkg-deb -f "$deb" Version)
release=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$B/config.h")
[ "${version%-*}" = "$release" ] || fail "package version $version, but the release is $release (debian/changelog)"

# --- contents ------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{ print substr($1, 1, 1) substr($1, 4, 1), $6 }' | sed 's| \./| /|' >"$T/list"
has() { # has PATH [x]: PATH is a regular file in the package (executable)
	grep -qxF -- "-${2:--} $1" "$T/list" || fail "not in the package${2:+ as an executable}: $1"
}
has /usr/bin/cc-proxy x
has /usr/bin/cc-proxyctl x
has /usr/libexec/cc-proxy-vmhelper x
unitdir=
for d in /lib/systemd/system /usr/lib/systemd/system; do
	if grep -qxF -- "-- $d/cc-proxy.socket" "$T/list"; then unitdir=$d; fi
done
[ -n "$unitdir" ] || fail "cc-proxy.socket is in no systemd unit directory"
has "$unitdir/cc-proxy.socket"
has "$unitdir/cc-proxy.service"
has /usr/lib/sysusers.d/cc-proxy.conf
has /usr/lib/tmpfiles.d/cc-proxy.conf
has /usr/lib/systemd/catalog/cc-proxy.catalog
has /usr/share/man/man8/cc-proxy.8.gz
has /usr/share/man/man8/cc-proxy-vmhelper.8.gz
has /usr/share/man/man1/cc-proxyctl.1.gz
has /usr/share/doc/cc-proxy/copyright
# Only the two programs in /usr/bin, nothing for tests, nothing below /run
# or /var (created at run time), nothing in /usr/local.
extra=$(awk '{ print $2 }' "$T/list" | grep -E '^/usr/bin/.' | grep -vxE '/usr/bin/cc-proxy(ctl)?' || true)
[ -z "$extra" ] || fail "unexpected programs in /usr/bin: $extra"
bad=$(awk '{ print $2 }' "$T/list" | grep -E 'simvm|testhooks|^/run|^/var|^/usr/local|^/etc' || true)
[ -z "$bad" ] || fail "the package holds what it must not: $bad"
ok "contents: programs, helper in /usr/libexec, units in $unitdir, sysusers.d, tmpfiles.d, catalog, man pages"

# --- the packaged paths --------------------------------------------------
R=$T/root
dpkg-deb -x "$deb" "$R"
svc=$R$unitdir/cc-proxy.service
sock=$R$unitdir/cc-proxy.socket
exec_start=$(unit_value "$svc" ExecStart)
[ "${exec_start%% *}" = /usr/bin/cc-proxy ] || fail "ExecStart=$exec_start does not run /usr/bin/cc-proxy"
listen=$(unit_value "$sock" ListenStream)
[ "$listen" = /run/cc-oci-runtime/proxy.sock ] || fail "ListenStream=$listen, not /run/cc-oci-runtime/proxy.sock"
empty=$(unit_value "$svc" ExecStart | sed -n 's/.*--empty-dir \([^ ]*\).*/\1/p')
[ -n "$empty" ] || fail "ExecStart= names no --empty-dir"
grep -Eq "^d[[:space:]]+$empty[[:space:]]+0555[[:space:]]+root[[:space:]]+root" "$R/usr/lib/tmpfiles.d/cc-proxy.conf" ||
	fail "tmpfiles.d/cc-proxy.conf does not create $empty (0555 root root)"
grep -Eq '^u[[:space:]]+cc-proxy[[:space:]]' "$R/usr/lib/sysusers.d/cc-proxy.conf" ||
	fail "sysusers.d/cc-proxy.conf does not create the cc-proxy user"
cmp -s "$S/systemd/cc-proxy.catalog" "$R/usr/lib/systemd/catalog/cc-proxy.catalog" || fail "packaged catalog differs"
# The compiled-in defaults (--help lists them) are the packaged paths, so
# the master started by hand finds its socket and helper.
"$R/usr/bin/cc-proxy" --help >"$T/help" 2>&1 || fail "the packaged cc-proxy --help failed: $(cat "$T/help")"
grep -q /run/cc-oci-runtime/proxy.sock "$T/help" || fail "cc-proxy's default socket is not /run/cc-oci-runtime/proxy.sock: $(cat "$T/help")"
grep -aq /usr/libexec/cc-proxy-vmhelper "$R/usr/bin/cc-proxy" || fail "cc-proxy does not look for its helper in /usr/libexec"
ok "units run /usr/bin/cc-proxy on $listen with --empty-dir $empty (tmpfiles.d); defaults are the packaged paths"

# --- maintainer scripts --------------------------------------------------
C=$T/control
dpkg-deb -e "$deb" "$C"
script() { # script NAME REGEX WHAT: NAME holds a line matching REGEX
	[ -f "$C/$1" ] && grep -Eq -- "$2" "$C/$1" || fail "$1 does not $3"
}
script postinst "^[[:space:]]*systemd-sysusers .*cc-proxy\.conf" "create the helper user (systemd-sysusers)"
script postinst "^[[:space:]]*systemd-tmpfiles .*--create cc-proxy\.conf" "create the empty directory (systemd-tmpfiles)"
script postinst "deb-systemd-helper enable 'cc-proxy\.socket'" "enable cc-proxy.socket"
script postinst "deb-systemd-invoke (start|\\\$_dh_action) 'cc-proxy\.socket'" "start cc-proxy.socket"
script prerm "deb-systemd-invoke stop 'cc-proxy\.socket'" "stop cc-proxy.socket on removal"
script postrm "deb-systemd-helper purge .*'cc-proxy\.socket'" "forget the socket's enablement on purge"
script postrm "userdel cc-proxy" "remove the helper user on purge"
script postrm "rmdir .*$empty" "remove $empty on purge"
# The service is never enabled or started by the package: it is enabled
# only inside debhelper's "was it enabled before" block (debian-installed),
# and the only action on it is a try-restart after an upgrade.
awk '/^# Automatically added by/ { blk = "" } { blk = blk $0 "\n" }
	/^# End automatically added section/ {
		if (blk ~ /enable .cc-proxy\.service./ && blk !~ /debian-installed .cc-proxy\.service./) print blk
	}' "$C/postinst" >"$T/enables"
[ ! -s "$T/enables" ] || { cat "$T/enables" >&2; fail "postinst enables cc-proxy.service"; }
if grep -E "deb-systemd-invoke .*cc-proxy\.service" "$C/postinst" | grep -qv "try-restart"; then
	fail "postinst starts cc-proxy.service: $(grep -E 'deb-systemd-invoke .*cc-proxy\.service' "$C/postinst")"
fi
ok "postinst: systemd-sysusers, systemd-tmpfiles, socket enabled and started, service neither; purge cleans up"

# The catalog is indexed by systemd's file trigger on its directory (the
# systemd package runs journalctl --update-catalog when a package adds or
# removes a file there), so no script of ours does it.
if [ -f /var/lib/dpkg/info/systemd.triggers ]; then
	grep -Eq '^interest(-noawait)?[[:space:]]+/usr/lib/systemd/catalog$' /var/lib/dpkg/info/systemd.triggers ||
		fail "systemd has no trigger on /usr/lib/systemd/catalog: the package must run journalctl --update-catalog itself"
	ok "catalog in /usr/lib/systemd/catalog: systemd's trigger runs journalctl --update-catalog on install and removal"
else
	echo "note: systemd is not installed here: its catalog trigger not checked"
fi

# --- lintian -------------------------------------------------------------
if ! command -v lintian >/dev/null 2>&1; then
	echo "note: lintian not found (Debian package lintian): package not linted"
	exit 0
fi
lintian --fail-on error "$deb" >"$T/lintian" 2>&1 || { cat "$T/lintian" >&2; fail "lintian reports errors"; }
sed -n 's/^W: [^:]*: \([^ ]*\).*/\1/p' "$T/lintian" | sort -u >"$T/warnings"
while read -r tag; do
	grep -q -- "$tag" "$S/debian/README.source" ||
		{ cat "$T/lintian" >&2; fail "lintian warning $tag is not explained in debian/README.source"; }
done <"$T/warnings"
ok "lintian: no errors; warnings, each explained in debian/README.source: $(tr '\n' ' ' <"$T/warnings")"
