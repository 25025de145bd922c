#!/bin/sh
# Run a guest image under QEMU the way kvm-unit-tests' harness does
# (x86/run), but headless and with TCG, so results do not depend on KVM:
#
#   guests/run-qemu.sh build/guests/hello.flat [ARGS...]
#
# Serial output goes to stdout. The exit status is QEMU's: (code << 1) | 1
# for a guest exit(code) through isa-debug-exit (1 = PASS, 3 = FAIL,
# 77 = all SKIP, 127 = abort/unhandled exception), 0 if QEMU stopped any
# other way (e.g. a triple fault with -no-reboot).
# test/helpers/qemu.ts must keep the same options.
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 IMAGE [ARGS...]" >&2
	exit 2
fi
image=$1
shift

# -append only when there are arguments, as the harness does.
if [ $# -gt 0 ]; then
	set -- -append "$*"
fi

exec qemu-system-x86_64 -nodefaults -no-reboot -display none -accel tcg \
	-cpu max -m 128 -device isa-debug-exit,iobase=0xf4,iosize=0x4 \
	-serial stdio -kernel "$image" "$@"
