/*
 * Exceptions and interrupts: the IDT, handler installation and the two
 * fault-catching mechanisms tests use to say "this must fault with X".
 *
 * Dispatch order for a vector that arrives (lib/fault.c):
 *   1. exception vectors (< 32) whose RIP is in the exception table
 *      (ASM_TRY): record it in ex_last and resume at the fixup;
 *   2. a handler installed with handle_exception(): call it;
 *   3. exception vectors while catch_fault() / run_in_user() are active:
 *      record the fault and return from catch_fault() with it;
 *   4. otherwise print vector, error code, RIP, CR2 and exit(63).
 */
#ifndef X86_DESC_H
#define X86_DESC_H

#include <stdbool.h>
#include <stdint.h>
#include "x86/segments.h"

#define DE_VECTOR	0
#define DB_VECTOR	1
#define NMI_VECTOR	2
#define BP_VECTOR	3
#define OF_VECTOR	4
#define BR_VECTOR	5
#define UD_VECTOR	6
#define NM_VECTOR	7
#define DF_VECTOR	8
#define TS_VECTOR	10
#define NP_VECTOR	11
#define SS_VECTOR	12
#define GP_VECTOR	13
#define PF_VECTOR	14
#define MF_VECTOR	16
#define AC_VECTOR	17
#define MC_VECTOR	18
#define XM_VECTOR	19
#define VE_VECTOR	20
#define CP_VECTOR	21

/* Page-fault error code bits. */
#define PFERR_PRESENT	(1u << 0)
#define PFERR_WRITE	(1u << 1)
#define PFERR_USER	(1u << 2)
#define PFERR_RSVD	(1u << 3)
#define PFERR_FETCH	(1u << 4)
#define PFERR_PK	(1u << 5)

/*
 * The register frame the common entry stub builds, lowest address first.
 * Handlers may change any field (ip, sp, flags, cs, ss included); the
 * stub restores them and returns with iretq.
 */
struct ex_regs {
	unsigned long ax, cx, dx, bx, bp, si, di;
#ifdef __x86_64__
	unsigned long r8, r9, r10, r11, r12, r13, r14, r15;
#endif
	unsigned long vector;
	unsigned long error_code;	/* 0 for vectors without one */
	unsigned long ip, cs, flags, sp, ss;	/* the CPU's iret frame */
};

typedef void (*exception_handler)(struct ex_regs *regs);

/* Install a handler for any vector 0..255; returns the previous one (or 0). */
exception_handler handle_exception(uint8_t vector, exception_handler handler);

/*
 * Gate privilege: int n from CPL3 needs DPL 3. By default all gates are
 * DPL 0 except #BP and #OF (DPL 3, so int3/into work from user mode).
 */
void set_idt_dpl(uint8_t vector, int dpl);
/* Point a gate at raw code (no common stub), for tests that want that. */
void set_idt_entry(uint8_t vector, void *addr, int dpl);
/*
 * Gate details, for tests of event delivery. Type: GATE_TYPE_INTERRUPT
 * (clears IF) or GATE_TYPE_TRAP (keeps IF); the 32-bit build's gates
 * are 32-bit gates, the 64-bit build's 64-bit gates. set_idt_present(v,
 * false) clears P (delivery then raises #NP). set_idt_ist (64-bit only)
 * picks the IST stack (0 = none; 1 is the library's #DF stack).
 * restore_idt_entry(v) puts back the library's default gate for v.
 */
#define GATE_TYPE_INTERRUPT	0xe
#define GATE_TYPE_TRAP		0xf
void set_idt_type(uint8_t vector, int type);
/* The code-segment selector of a gate (KERNEL_CS by default). */
void set_idt_sel(uint8_t vector, uint16_t sel);
void set_idt_present(uint8_t vector, bool present);
void restore_idt_entry(uint8_t vector);
#ifdef __x86_64__
void set_idt_ist(uint8_t vector, int ist);
#define DF_IST		1	/* the IST stack the library gives #DF */
/* IST stack n (1-7) of the TSS; 1 is used by #DF. */
void set_tss_ist(int n, unsigned long sp);
unsigned long get_tss_ist(int n);
#endif
/*
 * The GDT (x86/segments.h). Only the spare slots from GDT_SPARE_SEL on
 * are for tests; gdt_code_data() builds an 8-byte code/data descriptor
 * from base, 20-bit limit, access byte (P DPL S type) and flags nibble
 * (G D/B L AVL).
 */
extern uint64_t gdt[GDT_ENTRIES];
static inline uint64_t gdt_code_data(uint32_t base, uint32_t limit,
				     unsigned access, unsigned flags)
{
	return (limit & 0xffffull) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)(access & 0xff) << 40 |
	       (uint64_t)((limit >> 16) & 0xf) << 48 |
	       (uint64_t)(flags & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}
/* The kernel stack the CPU switches to on an event from CPL3. */
void set_tss_rsp0(unsigned long rsp0);
unsigned long get_tss_rsp0(void);

/* What a caught exception looked like. vector < 0 means "no exception". */
struct fault_info {
	int vector;
	unsigned long error_code;
	unsigned long cr2;		/* only meaningful for #PF */
	unsigned long ip;		/* RIP in the frame (after int3/into) */
};

/*
 * (1) ASM_TRY: protect the single instruction that follows the macro in
 * an extended asm statement. If it raises an exception (vector < 32),
 * execution continues at 'fixup' (a label in the same asm, e.g. "1f") and
 * ex_last describes the fault; otherwise ex_last.vector stays -1.
 *
 *	asm volatile(ASM_TRY("1f") "mov (%[p]), %[v]\n\t" "1:"
 *		     : [v] "=r"(v) : [p] "r"(p) : "memory");
 *	if (ex_last.vector == PF_VECTOR) ...
 *
 * The table (section .data.ex) holds (instruction address, fixup) pairs.
 */
extern struct fault_info ex_last;

#ifdef __x86_64__
#define ASM_TRY(fixup)						\
	"movl $-1, ex_last(%%rip)\n\t"				\
	".pushsection .data.ex, \"aw\"\n\t"			\
	".balign 8\n\t"						\
	".quad 1111f, " fixup "\n\t"				\
	".popsection\n\t"					\
	"1111:\n\t"
#else
#define ASM_TRY(fixup)						\
	"movl $-1, ex_last\n\t"					\
	".pushsection .data.ex, \"aw\"\n\t"			\
	".balign 4\n\t"						\
	".long 1111f, " fixup "\n\t"				\
	".popsection\n\t"					\
	"1111:\n\t"
#endif

#ifdef __x86_64__
#define __ASM_STR(x)	#x
#define ASM_STR(x)	__ASM_STR(x)
/*
 * ASM_TRY_COMPAT(insn): in a 64-bit extended asm, run the one 32-bit
 * instruction insn in compatibility mode at CPL0: a far return to
 * KERNEL_CS32, insn protected like ASM_TRY, a far jump back to KERNEL_CS64.
 * A fault is delivered through the 64-bit IDT and resumes after insn,
 * still in compatibility mode; ex_last describes it. Clobbers RAX.
 */
#define ASM_TRY_COMPAT(insn)					\
	"lea 1120f(%%rip), %%rax\n\t"				\
	"pushq $" ASM_STR(KERNEL_CS32) "\n\t"			\
	"push %%rax\n\t"					\
	"lretq\n\t"						\
	".code32\n"						\
	"1120:\tmovl $-1, ex_last\n\t"				\
	".pushsection .data.ex, \"aw\"\n\t"			\
	".balign 8\n\t"						\
	".quad 1121f, 1122f\n\t"				\
	".popsection\n"						\
	"1121:\t" insn "\n"					\
	"1122:\tljmp $" ASM_STR(KERNEL_CS64) ", $1123f\n\t"	\
	".code64\n"						\
	"1123:\t"
#endif

/* Shorthand for the common check after ASM_TRY. */
static inline int exception_vector(void)
{
	return ex_last.vector;
}

static inline unsigned long exception_error_code(void)
{
	return ex_last.error_code;
}

/*
 * (2) catch_fault: run fn(arg) at the current privilege level. If it
 * raises an exception (vector < 32) that no installed handler takes,
 * the function is abandoned (like longjmp) and catch_fault returns true
 * with *info filled in; otherwise it returns false and info->vector = -1.
 * Calls nest. fn must not rely on cleanup after the faulting point.
 */
bool catch_fault(void (*fn)(void *), void *arg, struct fault_info *info);

/*
 * run_in_user: like catch_fault, but fn(arg) runs at CPL3 (USER_CS64,
 * USER_DS, a private user stack, IF=0, IOPL=0, so no port I/O or printf
 * inside). A normal return from fn comes back through int $USER_RET_VECTOR
 * (x86/segments.h).
 * Returns true if fn raised an exception (described in *info).
 * The paging structures must allow user access (the boot tables do).
 */
bool run_in_user(void (*fn)(void *), void *arg, struct fault_info *info);

/* Load descriptor-table registers (also used by the boot stub's C part). */
struct descriptor_table_ptr {
	uint16_t limit;
	unsigned long base;
} __attribute__((packed));

static inline void lidt(const struct descriptor_table_ptr *p)
{
	asm volatile("lidt %0" : : "m"(*p));
}

static inline void sidt(struct descriptor_table_ptr *p)
{
	asm volatile("sidt %0" : "=m"(*p));
}

static inline void lgdt(const struct descriptor_table_ptr *p)
{
	asm volatile("lgdt %0" : : "m"(*p));
}

static inline void sgdt(struct descriptor_table_ptr *p)
{
	asm volatile("sgdt %0" : "=m"(*p));
}

static inline void ltr(uint16_t sel)
{
	asm volatile("ltr %0" : : "rm"(sel));
}

static inline uint16_t str(void)
{
	uint16_t sel;
	asm volatile("str %0" : "=rm"(sel));
	return sel;
}

static inline uint16_t read_cs(void)
{
	uint16_t v;
	asm volatile("mov %%cs, %0" : "=rm"(v));
	return v;
}

static inline uint16_t read_ds(void)
{
	uint16_t v;
	asm volatile("mov %%ds, %0" : "=rm"(v));
	return v;
}

static inline uint16_t read_ss(void)
{
	uint16_t v;
	asm volatile("mov %%ss, %0" : "=rm"(v));
	return v;
}

/* Called once by the boot stub before main(). */
void setup_idt(void);
void setup_tss(void);

#endif
