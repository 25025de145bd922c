/*
 * Linux twin of the guest runtime for insn-selftest: the same instruction
 * code, printf and report, but console output via write(2) and exit via
 * exit_group(2). Running it on the host gives the real CPU's checksums to
 * compare with QEMU's and mmulab's:
 *
 *   make -C guests native && build/guests/insn-selftest.native
 *
 * Only built with -DNATIVE; no libc, so the output is byte-identical to
 * the guest's.
 */
#include "libcflat.h"

#define SYS_write	1
#define SYS_exit_group	231

static char outbuf[4096];
static size_t outlen;

static long syscall3(long nr, long a, long b, long c)
{
	long ret;

	asm volatile("syscall"
		     : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c)
		     : "rcx", "r11", "memory");
	return ret;
}

static void flush(void)
{
	size_t done = 0;

	while (done < outlen) {
		long n = syscall3(SYS_write, 1, (long)(outbuf + done), outlen - done);

		if (n <= 0)
			break;
		done += n;
	}
	outlen = 0;
}

void putchar(int c)
{
	outbuf[outlen++] = (char)c;
	if (outlen == sizeof(outbuf) || c == '\n')
		flush();
}

int puts(const char *s)
{
	int n = 0;

	while (*s) {
		putchar(*s++);
		n++;
	}
	return n;
}

void exit(int code)
{
	flush();
	for (;;)
		syscall3(SYS_exit_group, code, 0, 0);
}

void abort(void)
{
	exit(127);
}
