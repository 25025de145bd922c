#!/usr/bin/env bash
# Installs the Debian packages mmulab's build, guests, tests and benchmarks use, and only those
# that are missing: on a machine that has them all it does no apt work and prints nothing.
#
#   scripts/setup-host.sh            the toolchain and QEMU (npm test, npm run demo)
#   scripts/setup-host.sh linux      also what guests/linux/build-kernel.sh needs (.ci/run)
#   scripts/setup-host.sh bench      also what npm run bench needs (Debian's cloud kernel)
#
# Runs apt-get as root, or through sudo. Exit status: 0 when everything is installed (or this is
# not a Debian machine: a one-line notice, the build then names what it lacks), 3 when packages
# are missing and neither root nor sudo is available (one line gives the apt-get command to run),
# 2 for an unknown group, else apt-get's own status.
set -euo pipefail

# Every package with the reason it is needed. gcc only recommends libc6-dev, and apt-get runs
# with --no-install-recommends (QEMU's recommends are a GUI and firmware we do not use).
base=(
	gcc             # guests, the host-CPU test harness (test/native), the /init of the Linux guest
	gcc-multilib    # the -m32 guests link against 32-bit libgcc (__udivmoddi4); it brings
	                # lib32gcc-12-dev and libc6-dev-i386 on Debian 12, named by version there
	libc6-dev       # the host-CPU harness and the static /init link against glibc
	binutils        # ld and objcopy for the guest images
	make            # npm run build:guests
	qemu-system-x86 # qemu-system-x86_64: the reference for the guest comparisons and bench
	gdb             # test/debug/gdb.test.ts drives mmulab's gdb stub (--gdb) with the real gdb
	chromium        # test/debug/html-report.test.ts loads compare --report's page headless
)
linux=(
	linux-source    # the tiny Linux guest's source (/usr/src/linux-source-*.tar.xz)
	xz-utils        # to unpack it
	flex bison bc perl  # the kernel build's host tools
	libelf-dev      # objtool
)
bench=(
	lz4             # guests/linux/fetch-cloud-kernel.sh decompresses the cloud kernel's payload
)

say() { echo "setup-host: $*" >&2; }

wanted=("${base[@]}")
for group in "$@"; do
	case "$group" in
	linux) wanted+=("${linux[@]}") ;;
	bench) wanted+=("${bench[@]}") ;;
	*) say "unknown group \"$group\" (groups: linux, bench)"; exit 2 ;;
	esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
	say "not a Debian machine (no dpkg-query): install the equivalents of ${wanted[*]} by hand"
	exit 0
fi

# One dpkg-query for all: it prints the packages it knows; the second letter of the status is
# "i" when the package is installed and configured (whether wanted "i" or held "h").
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${wanted[@]}" 2>/dev/null | awk 'substr($2, 2, 1) == "i" { print $1 }' || true)
missing=()
for pkg in "${wanted[@]}"; do
	grep -qxF -- "$pkg" <<<"$installed" || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

install="apt-get install -y --no-install-recommends ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		say "missing ${missing[*]}: run as root: apt-get update && $install"
		exit 3
	fi
	sudo=(sudo)
fi

say "installing ${missing[*]}"
# apt's and debconf's chatter is kept and shown only if a step fails. Other users of the
# machine may hold apt's lock: wait for it rather than fail.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600)
for step in update install; do
	args=()
	[ "$step" = install ] && args=(-y --no-install-recommends "${missing[@]}")
	status=0
	"${apt[@]}" "$step" "${args[@]}" >"$log" 2>&1 || status=$?
	if [ "$status" -ne 0 ]; then
		cat "$log" >&2
		say "apt-get $step failed (status $status)"
		exit "$status"
	fi
done
