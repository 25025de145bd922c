#!/bin/sh
# /init of the busybox initramfs (guests/linux/build-busybox-initramfs.sh): Debian's busybox-static
# as the only user-space program. It forks, pipes, execs and touches memory, printing one line per
# step whose text depends only on what the kernel did (no times, no PIDs but init's own), so the
# console can be compared with QEMU TCG's. It ends with a reboot, which reboot=t makes a triple
# fault: QEMU (with -no-reboot) and mmulab stop there. Debian's cloud kernel runs it as /init; the
# tiny kernel, which has no script binfmt, as `rdinit=/bin/sh -- /init` (busybox's shell is init).
echo "mmulab-busybox: init started, pid $$"
mount -t proc proc /proc || echo "mmulab-busybox: mount /proc failed"
mount -t tmpfs tmp /tmp || echo "mmulab-busybox: mount /tmp failed"

# fork: 8 background subshells, each writing its number to a file of its own.
i=0
while [ "$i" -lt 8 ]; do
	(echo "child $i" > "/tmp/child.$i") &
	i=$((i + 1))
done
wait
echo "mmulab-busybox: fork: $(cat /tmp/child.* | wc -l) children wrote their files"

# pipe and exec: every stage is a new process image (exec with a path always calls execve,
# where busybox's shell could otherwise run an applet in-process).
sum=$(seq 1 3000 | (exec /bin/busybox tr 0 o) | (exec /bin/busybox md5sum))
echo "mmulab-busybox: pipe+exec: ${sum%% *}"
echo "mmulab-busybox: exec: $(/bin/busybox sh -c 'echo nested shell, parent $PPID' | sed 's/[0-9]*$/N/')"

# memory: dd allocates a 256 KiB buffer and fills it; 1 MiB goes to tmpfs (page cache) and back.
dd if=/dev/zero of=/tmp/big bs=256K count=4 2>/dev/null
echo "mmulab-busybox: memory: $(stat -c %s /tmp/big) bytes, md5 $(md5sum < /tmp/big | cut -d' ' -f1)"
rm /tmp/big
# A shell loop growing a string touches the shell's own heap.
s=x
while [ "${#s}" -lt 65536 ]; do s="$s$s"; done
echo "mmulab-busybox: heap string of ${#s} bytes"

echo "mmulab-busybox: done"
# The cloud kernel has no /dev/port (CONFIG_DEVPORT), so the shell cannot reach the debug-exit
# port; a forced reboot ends the run instead.
reboot -f
