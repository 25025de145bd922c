/*
 * The *_safe instructions of x86/safe.h: one ASM_TRY each, out of line so
 * every test shares one exception-table entry per instruction.
 */
#include "libcflat.h"
#include "x86/processor.h"
#include "x86/safe.h"

int write_cr0_safe(unsigned long v)
{
	asm volatile(ASM_TRY("1f") "mov %0, %%cr0\n\t1:" : : "r"(v) : "memory");
	return exception_vector();
}

int write_cr3_safe(unsigned long v)
{
	asm volatile(ASM_TRY("1f") "mov %0, %%cr3\n\t1:" : : "r"(v) : "memory");
	return exception_vector();
}

int write_cr4_safe(unsigned long v)
{
	asm volatile(ASM_TRY("1f") "mov %0, %%cr4\n\t1:" : : "r"(v) : "memory");
	return exception_vector();
}

#ifdef __x86_64__
int write_cr8_safe(unsigned long v)
{
	asm volatile(ASM_TRY("1f") "mov %0, %%cr8\n\t1:" : : "r"(v) : "memory");
	return exception_vector();
}
#endif

int wrmsr_safe(u32 index, u64 v)
{
	asm volatile(ASM_TRY("1f") "wrmsr\n\t1:"
		     : : "c"(index), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
	return exception_vector();
}

int rdmsr_safe(u32 index, u64 *v)
{
	/* Zero first: a faulting RDMSR leaves EDX:EAX as they were. */
	u32 lo = 0, hi = 0;

	asm volatile(ASM_TRY("1f") "rdmsr\n\t1:"
		     : "+a"(lo), "+d"(hi) : "c"(index) : "memory");
	*v = lo | ((u64)hi << 32);
	return exception_vector();
}

int invpcid_safe(unsigned long type, u64 pcid, u64 addr)
{
	struct invpcid_desc d = { .pcid = pcid, .addr = addr };

	asm volatile(ASM_TRY("1f") "invpcid %0, %1\n\t1:" : : "m"(d), "r"(type) : "memory");
	return exception_vector();
}

/* The common part of write_cr0_gp0 and write_cr4_gp0. */
static bool write_gp0(int (*write_safe)(unsigned long), unsigned long (*read)(void),
		      void (*write)(unsigned long), unsigned long cur, unsigned long bad)
{
	int v = write_safe(bad);
	bool ok = is_gp0(v) && read() == cur;

	if (v < 0)
		write(cur);
	return ok;
}

bool write_cr0_gp0(unsigned long cur, unsigned long bad)
{
	return write_gp0(write_cr0_safe, read_cr0, write_cr0, cur, bad);
}

bool write_cr4_gp0(unsigned long cur, unsigned long bad)
{
	return write_gp0(write_cr4_safe, read_cr4, write_cr4, cur, bad);
}
