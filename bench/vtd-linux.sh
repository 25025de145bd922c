#!/usr/bin/env bash
# Debian's cloud kernel on q35 with the VT-d unit (issue 17, intel_iommu): boots it with the busybox
# initramfs under QEMU TCG and under mmulab (`mmulab qemu`, same command line) in the MMU modes
# given (default: bare tdp), and compares every DMAR / DMAR-IR / iommu / x2apic / IOAPIC line of
# the console (printk timestamps dropped) and whether each boot reaches the initramfs script's end.
# Too long for CI (about 25 s of CPU per mmulab mode); run by hand after `npm run build`:
#   bash bench/vtd-linux.sh [MODE...]
# VTD_APPEND adds kernel parameters to both runs (`VTD_APPEND=pci=lastbus=1`: see README, Linux).
# Exit status 0 when every mode's lines and outcome equal QEMU's, 1 otherwise, 2 when an input is
# missing. Consoles go to build/bench/vtd-linux-*.txt.
set -u
here=$(dirname "$(readlink -f "$0")")
root="$here/.."
kernel="$root/build/linux/cloud/vmlinux"
initrd="$root/build/linux/busybox/initramfs.cpio"
main="$root/dist/emulator/cli/qemu-main.js"
for f in "$kernel" "$initrd" "$main"; do
	if [ ! -f "$f" ]; then
		echo "vtd-linux: $f is missing (guests/linux/fetch-cloud-kernel.sh, build-busybox-initramfs.sh, npm run build)" >&2
		exit 2
	fi
done
if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "vtd-linux: qemu-system-x86_64 is not installed" >&2
	exit 2
fi
modes=("$@")
[ ${#modes[@]} -eq 0 ] && modes=(bare tdp)
out="$root/build/bench"
mkdir -p "$out"
append="console=ttyS0 earlyprintk=ttyS0 panic=-1 reboot=t tsc_early_khz=1000000 cryptomgr.notests intel_iommu=on${VTD_APPEND:+ $VTD_APPEND}"
machine=(-M q35,kernel-irqchip=split -device intel-iommu,intremap=on,eim=off -smp 2 -m 512
	-kernel "$kernel" -initrd "$initrd" -append "$append" -nodefaults -serial stdio -display none -no-reboot)
pattern='DMAR|iommu|x2apic|IOAPIC|remap'
end='mmulab-busybox: done'

# The lines compared: the VT-d and interrupt-controller ones, and the script's last line; not the
# ACPI table list's DMAR lines, whose address and OEM IDs are each firmware's own.
lines() { sed -e 's/^\[[ 0-9.]*\] //' "$1" | grep -aiE "$pattern|^$end" | grep -av '^ACPI: '; }

cpu() { awk '/^user|^sys/ { split($2, t, "m"); s += t[1] * 60 + t[2] } END { printf "%.1f", s }' "$1"; }

{ time timeout 300 qemu-system-x86_64 -accel tcg "${machine[@]}" > "$out/vtd-linux-qemu.txt" 2>&1; } 2> "$out/vtd-linux-qemu.time"
echo "QEMU TCG: $(lines "$out/vtd-linux-qemu.txt" | wc -l) lines, CPU $(cpu "$out/vtd-linux-qemu.time") s"
status=0
for mode in "${modes[@]}"; do
	{ time timeout 1800 node "$main" -accel "tcg,mmu=$mode" "${machine[@]}" > "$out/vtd-linux-$mode.txt" 2>&1; } 2> "$out/vtd-linux-$mode.time"
	if diff <(lines "$out/vtd-linux-qemu.txt") <(lines "$out/vtd-linux-$mode.txt") > "$out/vtd-linux-$mode.diff"; then
		echo "$mode: same lines and end as QEMU, CPU $(cpu "$out/vtd-linux-$mode.time") s"
	else
		echo "$mode: differs from QEMU (CPU $(cpu "$out/vtd-linux-$mode.time") s):"
		sed -e 's/^/  /' "$out/vtd-linux-$mode.diff"
		status=1
	fi
done
exit $status
