/*
 * Leaving the machine. isa-debug-exit (port 0xf4, 4 bytes) makes QEMU
 * exit with status (value << 1) | 1, so a status is always odd and 0
 * means "QEMU stopped some other way". If the port is absent we stop the
 * CPU with interrupts off; the loop covers an NMI waking it.
 */
#include "libcflat.h"
#include "x86/io.h"

#define DEBUG_EXIT_PORT 0xf4

void exit(int code)
{
	outl((u32)code, DEBUG_EXIT_PORT);
	for (;;)
		asm volatile("cli; hlt" : : : "memory");
}

/* Status 127 for the host, kvm-unit-tests' value for "aborted". */
void abort(void)
{
	exit(63);
}
