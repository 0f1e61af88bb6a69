#!/usr/bin/env bash
# `make install DESTDIR=...` puts every file where the documentation says:
# the programs in bindir, the helper in libexecdir, the units in the
# systemd unit directory, the catalog in catalogdir, the man pages in
# mandir; and the installed units name the installed programs and socket.
. "$(dirname "$0")/lib.sh"

need make make
D=$T/dest
# A fresh make: the parent's jobserver and flags do not reach through the
# test driver.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$B" install DESTDIR="$D" >"$T/install.log" 2>&1 ||
	{ tail -n 40 "$T/install.log" >&2; fail "make install DESTDIR=$D failed"; }
load_dirs

have() { # have PATH [-x]
	[ -f "$D$1" ] || fail "not installed: $1"
	if [ "${2:-}" = -x ]; then [ -x "$D$1" ] || fail "not executable: $1"; fi
	echo "  $1"
}
echo "installed:"
master=
for dir in "$bindir" "$sbindir"; do
	if [ -f "$D$dir/cc-proxy" ]; then master=$dir/cc-proxy; fi
done
[ -n "$master" ] || fail "cc-proxy installed neither in $bindir nor in $sbindir"
have "$master" -x
have "$bindir/cc-proxyctl" -x
have "$libexecdir/cc-proxy-vmhelper" -x
[ ! -e "$D$bindir/cc-proxy-vmhelper" ] || fail "the helper is installed in bindir too"
have "$mandir/man8/cc-proxy.8"
have "$mandir/man8/cc-proxy-vmhelper.8"
have "$mandir/man1/cc-proxyctl.1"
have "$catalogdir/cc-proxy.catalog"
cmp -s "$S/systemd/cc-proxy.catalog" "$D$catalogdir/cc-proxy.catalog" || fail "installed catalog differs"

if [ -z "$systemdsystemunitdir" ]; then
	skip "configured without a systemd unit directory: units not installed (files above are fine)"
fi
svc=$systemdsystemunitdir/cc-proxy.service
sock=$systemdsystemunitdir/cc-proxy.socket
have "$svc"
have "$sock"
have "$sysusersdir/cc-proxy.conf"
have "$tmpfilesdir/cc-proxy.conf"

# The units name the installed master and the configured socket.
exec_start=$(unit_value "$D$svc" ExecStart)
[ "$(unit_program "$D$svc")" = "$master" ] || fail "ExecStart=$exec_start does not run $master"
listen=$(unit_value "$D$sock" ListenStream)
want=${socket_path/#\/var\/run\//\/run\/}
[ "$listen" = "$want" ] || fail "ListenStream=$listen, configured socket is $socket_path"
if grep -q '@[a-z_]*@' "$D$svc" "$D$sock"; then fail "unsubstituted @variables@ in the units"; fi
# The empty directory the service names is the one systemd-tmpfiles creates.
empty=$(unit_value "$D$svc" ExecStart | sed -n 's/.*--empty-dir \([^ ]*\).*/\1/p')
[ -n "$empty" ] || fail "ExecStart= names no --empty-dir"
grep -Eq "^d[[:space:]]+$empty[[:space:]]+0555[[:space:]]+root[[:space:]]+root" "$D$tmpfilesdir/cc-proxy.conf" ||
	fail "$tmpfilesdir/cc-proxy.conf does not create $empty (0555 root root)"
ok "units run $master and listen on $listen"
ok "every file is at its documented path"

# The installed units, in the installed tree, pass systemd-analyze verify
# (which checks that ExecStart= and the man: pages exist there).
if ! command -v systemd-analyze >/dev/null 2>&1 || ! command -v man >/dev/null 2>&1; then
	echo "note: systemd-analyze or man missing: installed units not verified (tests/os/units.sh says why)"
	exit 0
fi
for d in /usr/lib/systemd/system /lib/systemd/system; do
	if [ -f "$d/sysinit.target" ]; then
		mkdir -p "$D$d"
		cp -an "$d/." "$D$d/"
		break
	fi
done
# The unit search path inside the root must hold them: the configured unit
# directory may be outside it (make distcheck uses a private prefix).
mkdir -p "$D/etc/systemd/system"
cp "$D$sock" "$D$svc" "$D/etc/systemd/system/"
# ExecReload= runs kill(1), which every installed system has.
mkdir -p "$D/bin"
[ -e "$D/bin/kill" ] || cp "$(type -P kill)" "$D/bin/kill"
E=$D/etc/systemd/system
MANPATH=$D$mandir systemd-analyze verify --root="$D" "$E/cc-proxy.socket" "$E/cc-proxy.service" >"$T/verify" 2>&1 ||
	{ cat "$T/verify" >&2; fail "systemd-analyze verify of the installed units failed"; }
[ ! -s "$T/verify" ] || { cat "$T/verify" >&2; fail "systemd-analyze verify warned about the installed units"; }
ok "systemd-analyze verify accepts the installed units in the installed tree"
