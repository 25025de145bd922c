#!/usr/bin/env bash
# Builds build/linux/busybox/initramfs.cpio: Debian's busybox-static as the only program, with
# guests/linux/busybox-init.sh as /init (a shell script that forks, pipes, execs and touches
# memory). With Debian's cloud kernel (guests/linux/fetch-cloud-kernel.sh) it is issue 17's
# "distro Linux with a userspace" guest (test/guests/linux-busybox.test.ts, npm run bench).
#
#   guests/linux/build-busybox-initramfs.sh
#
# The package is fetched like the cloud kernel: `apt-get download` of the version apt names,
# which apt checks against the signed archive's SHA256; the .deb is kept in build/linux/busybox
# and the version in build/linux/busybox/package. Nothing is downloaded when the .deb is there,
# and the archive is rebuilt only when this script, the /init or the cpio writer changed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$here/../.." && pwd)/build/linux/busybox
log() { echo "busybox-initramfs: $*" >&2; }
mkdir -p "$out"

deb=$(ls "$out"/busybox-static_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
	command -v apt-get >/dev/null 2>&1 || { log "needs apt-get (a Debian host) to fetch busybox-static"; exit 1; }
	ver=$(apt-cache policy busybox-static 2>/dev/null | awk '/Candidate:/ {print $2}')
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		sudo=""
		[ "$(id -u)" -ne 0 ] && sudo="sudo"
		$sudo apt-get update -qq
		ver=$(apt-cache policy busybox-static | awk '/Candidate:/ {print $2}')
	fi
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || { log "apt knows no busybox-static"; exit 1; }
	log "downloading busybox-static $ver"
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	# apt-get download verifies the file against the SHA256 in the signed Packages index.
	(cd "$work" && apt-get download -q "busybox-static=$ver" >/dev/null 2>&1) || { log "apt-get download busybox-static=$ver failed"; exit 1; }
	mv "$work"/busybox-static_*.deb "$out/"
	echo "busybox-static $ver" > "$out/package"
	deb=$(ls "$out"/busybox-static_*.deb | head -n1)
fi

cpio="$out/initramfs.cpio"
if [ -f "$cpio" ] && [ "$cpio" -nt "$deb" ] && [ "$cpio" -nt "$0" ] \
	&& [ "$cpio" -nt "$here/busybox-init.sh" ] && [ "$cpio" -nt "$here/cpio-newc.mjs" ]; then
	log "up to date: $cpio"
	exit 0
fi
rm -rf "$out/root"
dpkg-deb -x "$deb" "$out/root"
[ -x "$out/root/bin/busybox" ] || { log "$deb has no bin/busybox"; exit 1; }

# /dev/console must be in the archive: the kernel opens it for init's stdin, stdout and stderr
# before /init runs. /dev/null and /dev/zero are
# what the script redirects from and to. The applets /init runs are links to busybox.
{
	for d in bin dev proc sys tmp; do echo "dir $d 0755"; done
	echo "char dev/console 0600 5 1"
	echo "char dev/null 0666 1 3"
	echo "char dev/zero 0666 1 5"
	echo "file bin/busybox 0755 $out/root/bin/busybox"
	for a in sh echo cat wc seq tr md5sum sed dd rm cut stat mount reboot; do echo "link bin/$a busybox"; done
	echo "file init 0755 $here/busybox-init.sh"
} > "$out/initramfs.list"
node "$here/cpio-newc.mjs" "$cpio.tmp" < "$out/initramfs.list"
mv "$cpio.tmp" "$cpio"
log "ready: $cpio ($(cat "$out/package"))"
