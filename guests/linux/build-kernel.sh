#!/usr/bin/env bash
# Builds mmulab's tiny Linux guest into build/linux/ (or its SMP variant into build/linux-smp/):
#   vmlinux          uncompressed kernel ELF with the PVH entry note (tinyconfig + tiny.config
#                    [+ smp.config])
#   initramfs.cpio   uncompressed cpio: /dev/console and a static /init (initramfs/init.c; the
#                    SMP variant's also prints "mmulab-init: cpus N")
#
#   guests/linux/build-kernel.sh [smp]            build what is missing or stale
#   guests/linux/build-kernel.sh [smp] --force    rebuild the kernel even if cached
#
# Debian's linux-source package provides the source (scripts/setup-host.sh
# linux installs it when missing, with the kernel build's host tools). The kernel is rebuilt
# only when build/linux/vmlinux is missing or its stamp (source tarball,
# config fragment, this script) changed; the initramfs is cheap and follows
# init.c. Uses every core (make -j$(nproc)); about 6 minutes on 2 cores.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
variant=tiny
[ "${1:-}" = "smp" ] && { variant=smp; shift; }
force=0
[ "${1:-}" = "--force" ] && force=1
# One output folder and one list of config fragments per variant: each has its own source
# tree, since the kernel's in-tree build keeps one .config.
case "$variant" in
	tiny) out=$root/build/linux; fragments=("$here/tiny.config"); initflags=(); extradirs="" ;;
	smp) out=$root/build/linux-smp; fragments=("$here/tiny.config" "$here/smp.config"); initflags=(-DMMULAB_PRINT_CPUS); extradirs="dir /sys 0755 0 0" ;;
esac

log() { echo "linux: $*" >&2; }

# The kernel build's host tools, the static libc for /init and the source itself: the one
# list of host packages is scripts/setup-host.sh's (its "linux" group).
bash "$root/scripts/setup-host.sh" linux

tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n1)
[ -n "$tarball" ] || { log "no /usr/src/linux-source-*.tar.xz after installing linux-source"; exit 1; }
srcname=$(basename "$tarball" .tar.xz)
src=$out/src/$srcname
mkdir -p "$out"

stamp=$( { echo "$srcname $(stat -c %s "$tarball")"; cat "${fragments[@]}" "$0"; } | sha256sum | cut -d' ' -f1)
if [ "$force" -eq 0 ] && [ -f "$out/vmlinux" ] && [ "$(cat "$out/vmlinux.stamp" 2>/dev/null)" = "$stamp" ]; then
	log "vmlinux is up to date ($srcname)"
else
	if [ ! -f "$src/Makefile" ]; then
		log "unpacking $tarball"
		rm -rf "$out/src"
		mkdir -p "$out/src"
		tar -C "$out/src" -xf "$tarball"
	fi
	log "configuring (tinyconfig + ${fragments[*]##*/})"
	make -C "$src" -s tinyconfig >/dev/null
	"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "${fragments[@]}" >/dev/null
	make -C "$src" -s olddefconfig >/dev/null
	# Kconfig drops a symbol whose dependencies are not met without a word.
	bad=0
	while IFS= read -r line; do
		case "$line" in CONFIG_*) ;; *) continue ;; esac
		if ! grep -qx -- "$line" "$src/.config"; then
			log "config fragment line not in the final .config: $line"
			bad=1
		fi
	done < <(cat "${fragments[@]}")
	[ "$bad" -eq 0 ] || exit 1
	log "building vmlinux with make -j$(nproc) (a few minutes)"
	start=$(date +%s)
	make -C "$src" -s -j"$(nproc)" vmlinux
	log "vmlinux built in $(( $(date +%s) - start )) s"
	cp "$src/vmlinux" "$out/vmlinux.tmp"
	mv "$out/vmlinux.tmp" "$out/vmlinux"
	cp "$src/.config" "$out/config"
	echo "$stamp" > "$out/vmlinux.stamp"
fi

# The initramfs: a static /init and the console node the kernel opens for it.
if [ ! -f "$out/initramfs.cpio" ] || [ "$here/initramfs/init.c" -nt "$out/initramfs.cpio" ] || [ "$0" -nt "$out/initramfs.cpio" ]; then
	log "building initramfs.cpio"
	gcc -static -O2 -Wall -Werror "${initflags[@]}" -o "$out/init" "$here/initramfs/init.c"
	gcc -O2 -o "$out/gen_init_cpio" "$src/usr/gen_init_cpio.c"
	cat > "$out/initramfs.list" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
file /init $out/init 0755 0 0
$extradirs
LIST
	"$out/gen_init_cpio" "$out/initramfs.list" > "$out/initramfs.cpio.tmp"
	mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
fi
log "ready: $out/vmlinux $out/initramfs.cpio"
