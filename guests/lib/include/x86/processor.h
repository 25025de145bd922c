/*
 * Privileged and special CPU instructions as inline functions, plus the
 * architectural bit names they are used with. Register-width values are
 * 'unsigned long' so the header serves -m64 and -m32 alike.
 */
#ifndef X86_PROCESSOR_H
#define X86_PROCESSOR_H

#include <stdbool.h>
#include <stdint.h>

#define X86_CR0_PE	(1ul << 0)
#define X86_CR0_MP	(1ul << 1)
#define X86_CR0_EM	(1ul << 2)
#define X86_CR0_TS	(1ul << 3)
#define X86_CR0_ET	(1ul << 4)
#define X86_CR0_NE	(1ul << 5)
#define X86_CR0_WP	(1ul << 16)
#define X86_CR0_AM	(1ul << 18)
#define X86_CR0_NW	(1ul << 29)
#define X86_CR0_CD	(1ul << 30)
#define X86_CR0_PG	(1ul << 31)

#define X86_CR4_VME	(1ul << 0)
#define X86_CR4_PVI	(1ul << 1)
#define X86_CR4_TSD	(1ul << 2)
#define X86_CR4_DE	(1ul << 3)
#define X86_CR4_PSE	(1ul << 4)
#define X86_CR4_PAE	(1ul << 5)
#define X86_CR4_MCE	(1ul << 6)
#define X86_CR4_PGE	(1ul << 7)
#define X86_CR4_PCE	(1ul << 8)
#define X86_CR4_OSFXSR	(1ul << 9)
#define X86_CR4_LA57	(1ul << 12)
#define X86_CR4_FSGSBASE (1ul << 16)
#define X86_CR4_PCIDE	(1ul << 17)
#define X86_CR4_SMEP	(1ul << 20)
#define X86_CR4_SMAP	(1ul << 21)
#define X86_CR4_PKE	(1ul << 22)

#define X86_EFLAGS_CF	(1ul << 0)
#define X86_EFLAGS_FIXED (1ul << 1)	/* always reads as 1 */
#define X86_EFLAGS_PF	(1ul << 2)
#define X86_EFLAGS_AF	(1ul << 4)
#define X86_EFLAGS_ZF	(1ul << 6)
#define X86_EFLAGS_SF	(1ul << 7)
#define X86_EFLAGS_TF	(1ul << 8)
#define X86_EFLAGS_IF	(1ul << 9)
#define X86_EFLAGS_DF	(1ul << 10)
#define X86_EFLAGS_OF	(1ul << 11)
#define X86_EFLAGS_IOPL	(3ul << 12)
#define X86_EFLAGS_NT	(1ul << 14)
#define X86_EFLAGS_RF	(1ul << 16)
#define X86_EFLAGS_AC	(1ul << 18)
#define X86_EFLAGS_ID	(1ul << 21)
/* The six status flags the ALU writes. */
#define X86_EFLAGS_ARITH (X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | \
			  X86_EFLAGS_ZF | X86_EFLAGS_SF | X86_EFLAGS_OF)

#define MSR_IA32_APICBASE	0x0000001b
#define MSR_IA32_TSC		0x00000010
#define MSR_EFER		0xc0000080
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_FS_BASE		0xc0000100
#define MSR_GS_BASE		0xc0000101
#define MSR_KERNEL_GS_BASE	0xc0000102

#define EFER_SCE	(1ull << 0)
#define EFER_LME	(1ull << 8)
#define EFER_LMA	(1ull << 10)
#define EFER_NX		(1ull << 11)

static inline unsigned long read_cr0(void)
{
	unsigned long v;
	asm volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static inline void write_cr0(unsigned long v)
{
	asm volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}

static inline unsigned long read_cr2(void)
{
	unsigned long v;
	asm volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline void write_cr2(unsigned long v)
{
	asm volatile("mov %0, %%cr2" : : "r"(v) : "memory");
}

static inline unsigned long read_cr3(void)
{
	unsigned long v;
	asm volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

/* A CR3 write flushes the non-global TLB: "memory" orders table edits. */
static inline void write_cr3(unsigned long v)
{
	asm volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline unsigned long read_cr4(void)
{
	unsigned long v;
	asm volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static inline void write_cr4(unsigned long v)
{
	asm volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

#ifdef __x86_64__
/* CR8 (task priority) only exists in 64-bit mode. */
static inline unsigned long read_cr8(void)
{
	unsigned long v;
	asm volatile("mov %%cr8, %0" : "=r"(v));
	return v;
}

static inline void write_cr8(unsigned long v)
{
	asm volatile("mov %0, %%cr8" : : "r"(v) : "memory");
}
#endif

static inline uint64_t rdmsr(uint32_t index)
{
	uint32_t lo, hi;
	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index));
	return lo | ((uint64_t)hi << 32);
}

static inline void wrmsr(uint32_t index, uint64_t v)
{
	asm volatile("wrmsr"
		     : : "c"(index), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
		     : "memory");
}

struct cpuid {
	uint32_t a, b, c, d;
};

static inline struct cpuid cpuid_indexed(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid r;
	asm volatile("cpuid"
		     : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d)
		     : "0"(leaf), "2"(subleaf));
	return r;
}

static inline struct cpuid cpuid(uint32_t leaf)
{
	return cpuid_indexed(leaf, 0);
}

/*
 * cpuid of a leaf beyond the range's maximum returns the highest basic
 * leaf's data on Intel, so check the range first (like kvm-unit-tests).
 */
static inline struct cpuid cpuid_checked(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid zero = { 0, 0, 0, 0 };
	if (cpuid(leaf & 0x80000000u).a < leaf)
		return zero;
	return cpuid_indexed(leaf, subleaf);
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return lo | ((uint64_t)hi << 32);
}

static inline void invlpg(const volatile void *va)
{
	asm volatile("invlpg (%0)" : : "r"(va) : "memory");
}

/* SMAP's EFLAGS.AC: set (supervisor access to user pages allowed) and clear. */
static inline void stac(void)
{
	asm volatile("stac" : : : "memory", "cc");
}

static inline void clac(void)
{
	asm volatile("clac" : : : "memory", "cc");
}

static inline void cli(void)
{
	asm volatile("cli" : : : "memory");
}

static inline void sti(void)
{
	asm volatile("sti" : : : "memory");
}

static inline void hlt(void)
{
	asm volatile("hlt" : : : "memory");
}

/* sti; hlt back to back: the STI shadow makes the pair race-free. */
static inline void safe_halt(void)
{
	asm volatile("sti; hlt" : : : "memory");
}

static inline void pause(void)
{
	asm volatile("pause");
}

static inline unsigned long read_flags(void)
{
	unsigned long f;
	asm volatile("pushf; pop %0" : "=rm"(f));
	return f;
}

static inline void write_flags(unsigned long f)
{
	asm volatile("push %0; popf" : : "rm"(f) : "memory", "cc");
}

static inline bool irqs_enabled(void)
{
	return read_flags() & X86_EFLAGS_IF;
}

#endif
