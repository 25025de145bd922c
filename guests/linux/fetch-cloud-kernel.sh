#!/usr/bin/env bash
# Fetches Debian's cloud kernel (the package linux-image-cloud-amd64 depends on) and extracts its
# uncompressed vmlinux, which has the PVH entry note, into build/linux/cloud/vmlinux (for
# `npm run bench`). Cached: nothing is downloaded when the file is there.
#
#   guests/linux/fetch-cloud-kernel.sh
#
# The bzImage's payload is LZ4-compressed (legacy frame); like the kernel's
# scripts/extract-vmlinux, the script finds the compression magic, decompresses from there and
# keeps the result if it is an ELF file.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$here/../.." && pwd)/build/linux/cloud
log() { echo "cloud-kernel: $*" >&2; }

if [ -f "$out/vmlinux" ]; then
	log "up to date: $out/vmlinux"
	exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
command -v lz4 >/dev/null 2>&1 || {
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends lz4 >/dev/null
}

# The metapackage names the versioned image package it depends on.
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
	$sudo apt-get update -qq
	pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$pkg" ] || { log "cannot resolve linux-image-cloud-amd64"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "downloading $pkg"
(cd "$work" && apt-get download -q "$pkg" >/dev/null)
dpkg -x "$work"/*.deb "$work/root"
vmlinuz=$(ls "$work"/root/boot/vmlinuz-* | head -n1)

# LZ4 legacy frame magic 02 21 4C 18; try each occurrence until one decompresses to an ELF.
for at in $(LC_ALL=C grep -obUaP '\x02\x21\x4c\x18' "$vmlinuz" | cut -d: -f1); do
	tail -c +"$((at + 1))" "$vmlinuz" | lz4 -dc > "$work/vmlinux" 2>/dev/null || true
	if [ "$(head -c 4 "$work/vmlinux" | od -An -tx1 | tr -d ' ')" = "7f454c46" ]; then
		mkdir -p "$out"
		mv "$work/vmlinux" "$out/vmlinux"
		echo "$pkg" > "$out/package"
		log "extracted $out/vmlinux from $pkg (payload at offset $at)"
		exit 0
	fi
done
log "no LZ4 payload that decompresses to an ELF file in $vmlinuz"
exit 1
