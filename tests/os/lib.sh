# lib.sh - shared by the operating-system integration tests (tests/os):
# where the trees are, a private temporary directory, and the three
# outcomes. A test that lacks a tool it needs exits 77 (automake: SKIP)
# and says which tool; it never passes without checking.
set -euo pipefail

B=${CC_PROXY_BUILDDIR:?run through make check (CC_PROXY_BUILDDIR)}
S=${CC_PROXY_SRCDIR:?run through make check (CC_PROXY_SRCDIR)}
T=$(mktemp -d "${TMPDIR:-/tmp}/cc-proxy-os.XXXXXX")
trap 'rm -rf "$T"' EXIT

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
need() { # need TOOL [PACKAGE]: skip unless TOOL is on PATH
	command -v "$1" >/dev/null 2>&1 || skip "$1 not found (Debian package ${2:-$1})"
}

# The MESSAGE_IDs of src/common/msgid.h, one "NAME ID" per line.
msgids() {
	sed -n 's/^#define[[:space:]]\{1,\}\(MSGID_[A-Z_]*\)[[:space:]]\{1,\}"\([0-9a-f]\{32\}\)".*/\1 \2/p' \
		"$S/src/common/msgid.h"
}

# The installation directories, fully expanded (mk/os.am os-print-dirs).
# Sets bindir, libexecdir, mandir, catalogdir, ... in the caller.
load_dirs() {
	local line
	while IFS= read -r line; do
		case "$line" in
		*=*) printf -v "${line%%=*}" '%s' "${line#*=}" ;;
		esac
	done < <(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$B" os-print-dirs)
}

# unit_value FILE KEY: the value of the first KEY= line of a unit file.
unit_value() {
	sed -n "s/^$2=//p" "$1" | head -n 1
}

# unit_program FILE: the program ExecStart= of FILE runs: its first word,
# with the \x20 that stands for a space in the path (mk/os.am) undone.
unit_program() {
	local v
	v=$(unit_value "$1" ExecStart)
	v=${v%% *}
	printf '%s\n' "${v//\\x20/ }"
}
