/*
 * /init of mmulab's tiny Linux guest: a static program that proves user
 * space runs (SYSCALL, SSE/x87 through printf of a double, the interrupt
 * driven UART path of /dev/console), prints the marker line the boot tests
 * look for, and powers the machine off through the isa-debug-exit port at
 * 0xf4 (mmulab and QEMU with -device isa-debug-exit then exit with status
 * (0 << 1) | 1 = 1).
 *
 * Built with -DMMULAB_PRINT_CPUS (the SMP kernel's initramfs) it also
 * mounts sysfs and prints the kernel's online CPU list as a count, so the
 * boot test sees how many CPUs the kernel brought up; the tiny kernel's
 * console stays as it was.
 */
#include <stdio.h>
#include <sys/mount.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <termios.h>
#include <unistd.h>

#define DEBUG_EXIT_PORT 0xf4

#ifdef MMULAB_PRINT_CPUS
/* Counts the CPUs in a sysfs cpulist such as "0-3" or "0,2-3"; -1 when it
 * cannot be read. */
static int online_cpus(void)
{
	FILE *f;
	int count = 0, lo, hi;
	char sep;

	mount("sysfs", "/sys", "sysfs", 0, NULL);
	f = fopen("/sys/devices/system/cpu/online", "r");
	if (!f)
		return -1;
	while (fscanf(f, "%d", &lo) == 1) {
		hi = lo;
		if (fscanf(f, "%c", &sep) == 1 && sep == '-') {
			if (fscanf(f, "%d", &hi) != 1)
				break;
			if (fscanf(f, "%c", &sep) != 1)
				sep = '\n';
		}
		count += hi - lo + 1;
		if (sep != ',')
			break;
	}
	fclose(f);
	return count;
}
#endif

int main(void)
{
	volatile double third = 1.0 / 3.0;

	printf("mmulab-init: user space reached, pid %d, 1/3 = %.6f\n",
	       (int)getpid(), third);
#ifdef MMULAB_PRINT_CPUS
	printf("mmulab-init: cpus %d\n", online_cpus());
#endif
	printf("mmulab-init: marker\n");
	fflush(stdout);
	/* The TTY queues output and the UART drains it on THRE interrupts:
	 * wait until it has all left before the machine goes away. */
	tcdrain(STDOUT_FILENO);

	if (ioperm(DEBUG_EXIT_PORT, 1, 1) == 0)
		outb(0, DEBUG_EXIT_PORT);
	/* No debug-exit device: halt the way the kernel knows. */
	reboot(RB_POWER_OFF);
	return 1;
}
