/*
 * /init of mmulab's tiny Linux guest: a static program that proves user
 * space runs (SYSCALL, SSE/x87 through printf of a double, the interrupt
 * driven UART path of /dev/console), prints the marker line the boot tests
 * look for, and powers the machine off through the isa-debug-exit port at
 * 0xf4 (mmulab and QEMU with -device isa-debug-exit then exit with status
 * (0 << 1) | 1 = 1).
 */
#include <stdio.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <termios.h>
#include <unistd.h>

#define DEBUG_EXIT_PORT 0xf4

int main(void)
{
	volatile double third = 1.0 / 3.0;

	printf("mmulab-init: user space reached, pid %d, 1/3 = %.6f\n",
	       (int)getpid(), third);
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
