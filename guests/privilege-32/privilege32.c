/*
 * privilege-32: privilege transitions and segmentation in 32-bit protected
 * mode (-m32 library: 32-bit interrupt gates, 32-bit TSS, IRET to CPL3),
 * SDM Vol. 3 5.3-5.8, 6.12, Vol. 2 IRET, INT n/INTO, MOV Sreg:
 *   - IRET to CPL3 nulls FS/GS holding DPL0 data selectors;
 *   - an event from CPL3 switches to TSS.SS0:ESP0 and pushes SS, ESP,
 *     EFLAGS, CS, EIP (no 16-byte alignment outside IA-32e mode);
 *   - INT n/INTO/INT3 DPL checks with 8-byte gates (#GP(vector*8+2)),
 *     INTO traps in 32-bit mode, trap vs interrupt gates and IF;
 *   - segment limits: expand-up and expand-down data segments (#GP(0)),
 *     the stack segment (#SS(0)), a NULL data segment (#GP(0));
 *   - MOV SS with a NULL selector is #GP(0) outside 64-bit mode.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/fault-check.h"
#include "x86/io.h"
#include "x86/processor.h"

#define S_SMALL		(GDT_SPARE_SEL + 0x00)	/* data DPL0, limit 0xfff, byte granular */
#define S_DOWN		(GDT_SPARE_SEL + 0x08)	/* data DPL0, expand-down, limit 0xfff, B=1 */
#define S_SMALL3	(GDT_SPARE_SEL + 0x10)	/* data DPL3, limit 0xfff */

static u8 area[0x2000] __aligned(4096);
static u8 stack_a[4096] __aligned(16);
#define TOP(s)	((unsigned long)(s) + sizeof(s))

struct record {
	int count;
	unsigned long ip, cs, flags, sp, ss, flags_inside;
};
static struct record rec;

static void record(struct ex_regs *r)
{
	rec.count++;
	rec.ip = r->ip;
	rec.cs = r->cs;
	rec.flags = r->flags;
	rec.sp = r->sp;
	rec.ss = r->ss;
	rec.flags_inside = read_flags();
}

/* A raw gate target: remember ESP on entry (the CPU frame) and return. */
unsigned long raw_entry_esp;
extern char raw_handler[];
asm(".pushsection .text\n"
    "raw_handler:\n\t"
    "mov %esp, raw_entry_esp\n\t"
    "iret\n\t"
    ".popsection");

static volatile u16 user_fs, user_gs, user_cs, user_ss;
static volatile unsigned long user_esp, user_after;

static void user_regs_and_int(void *unused)
{
	asm volatile("mov %%fs, %0\n\t"
		     "mov %%gs, %1\n\t"
		     "mov %%cs, %2\n\t"
		     "mov %%ss, %3\n\t"
		     "movl $1f, %5\n\t"
		     "mov %%esp, %4\n\t"
		     "int $0x70\n"
		     "1:"
		     : "=m"(user_fs), "=m"(user_gs), "=m"(user_cs), "=m"(user_ss),
		       "=m"(user_esp), "=m"(user_after)
		     : : "memory");
}

static void test_user_entry(void)
{
	struct fault_info fi;
	unsigned long esp0 = get_tss_rsp0();

	asm volatile("mov %0, %%fs; mov %0, %%gs" : : "r"(KERNEL_DS));
	handle_exception(0x70, record);
	set_idt_dpl(0x70, 3);
	rec.count = 0;
	run_in_user(user_regs_and_int, NULL, &fi);
	report(fi.vector < 0 && user_cs == USER_CS32 && user_ss == USER_DS,
	       "IRET to CPL3: CS = USER_CS32, SS = USER_DS");
	report(user_fs == 0 && user_gs == 0, "IRET to CPL3 nulls FS and GS (DPL0 data selectors)");
	report(rec.count == 1 && rec.cs == USER_CS32 && rec.ss == USER_DS && rec.sp == user_esp &&
	       rec.ip == user_after, "int $0x70 from CPL3: frame holds SS, ESP, CS and the EIP after INT");

	set_idt_entry(0x70, raw_handler, 3);
	set_tss_rsp0(TOP(stack_a) - 4);
	run_in_user(user_regs_and_int, NULL, &fi);
	report(fi.vector < 0 && raw_entry_esp == TOP(stack_a) - 4 - 20,
	       "CPL3 -> CPL0: 5 dwords pushed at TSS.ESP0, no 16-byte alignment");
	asm volatile("mov %%esp, %0\n\tint $0x70" : "=m"(user_esp) : : "memory");
	report(raw_entry_esp == user_esp - 12, "int $0x70 at CPL0: 3 dwords pushed on the current stack");
	set_tss_rsp0(esp0);
	restore_idt_entry(0x70);
	handle_exception(0x70, NULL);
}

static void user_int72(void *p) { asm volatile("int $0x72"); }
static void user_int3(void *p) { asm volatile("int3"); }

static void user_into(void *of)
{
	asm volatile("pushf\n\t"
		     "andl $~0x800, (%%esp)\n\t"
		     "orl %1, (%%esp)\n\t"
		     "popf\n\t"
		     "movl $1f, %0\n\t"
		     "into\n"
		     "1:"
		     : "=m"(user_after) : "r"(of ? 0x800u : 0u) : "memory");
}

static void test_gates(void)
{
	struct fault_info fi;

	run_in_user(user_int72, NULL, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, 0x72 * 8 + 2), &fi, "int $0x72 from CPL3, gate DPL0: #GP(0x392)");
	set_idt_dpl(BP_VECTOR, 0);
	run_in_user(user_int3, NULL, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, 3 * 8 + 2), &fi, "int3 from CPL3, gate DPL0: #GP(0x1a)");
	set_idt_dpl(BP_VECTOR, 3);

	handle_exception(OF_VECTOR, record);
	rec.count = 0;
	run_in_user(user_into, (void *)1, &fi);
	report(fi.vector < 0 && rec.count == 1 && rec.ip == user_after && rec.cs == USER_CS32,
	       "into with OF=1 at CPL3, gate DPL3: #OF, EIP after into");
	rec.count = 0;
	run_in_user(user_into, NULL, &fi);
	report(fi.vector < 0 && rec.count == 0, "into with OF=0: no trap");
	handle_exception(OF_VECTOR, NULL);

	set_idt_dpl(0x74, 3);
	set_idt_present(0x74, false);
	asm volatile(ASM_TRY("1f") "int $0x74\n\t1:" ::: "memory");
	report(exception_vector() == NP_VECTOR && exception_error_code() == 0x74 * 8 + 2,
	       "int $0x74 through a not-present gate: #NP(0x3a2)");
	restore_idt_entry(0x74);

	outb(0xff, 0x21);
	outb(0xff, 0xa1);
	handle_exception(0x73, record);
	handle_exception(0x77, record);
	set_idt_type(0x77, GATE_TYPE_TRAP);
	rec.count = 0;
	asm volatile("sti\n\tint $0x73\n\tcli" ::: "memory");
	report(rec.count == 1 && (rec.flags & X86_EFLAGS_IF) && !(rec.flags_inside & X86_EFLAGS_IF),
	       "32-bit interrupt gate clears IF");
	rec.count = 0;
	asm volatile("sti\n\tint $0x77\n\tcli" ::: "memory");
	report(rec.count == 1 && (rec.flags_inside & X86_EFLAGS_IF), "32-bit trap gate keeps IF");
	restore_idt_entry(0x77);
	handle_exception(0x73, NULL);
	handle_exception(0x77, NULL);
}

/* Read 4 bytes at DS:offset with DS = sel (restored after). */
static int try_read_seg(u16 sel, unsigned long offset)
{
	u32 v;

	/* ASM_TRY by hand: its store to ex_last must go through the flat DS. */
	asm volatile("movl $-1, ex_last\n\t"
		     "push %%ds\n\t"
		     "mov %2, %%ds\n\t"
		     ".pushsection .data.ex, \"aw\"\n\t"
		     ".balign 4\n\t"
		     ".long 2f, 1f\n\t"
		     ".popsection\n"
		     "2:\tmov (%1), %0\n"
		     "1:\tpop %%ds"
		     : "=&r"(v) : "r"(offset), "r"((u32)sel) : "memory");
	return exception_vector();
}

static void user_push_small_stack(void *unused)
{
	asm volatile("mov %0, %%ss\n\t"
		     "mov $0x10, %%esp\n\t"
		     "push %%eax\n\t"		/* ESP 0xc: inside the limit */
		     "mov $0, %%esp\n\t"
		     "push %%eax"		/* ESP wraps to 0xfffffffc: beyond it */
		     : : "r"((u32)(S_SMALL3 | 3)) : "memory");
}

static void test_segmentation(void)
{
	struct fault_info fi;
	int v;

	gdt[S_SMALL / 8] = gdt_code_data((unsigned long)area, 0xfff, 0x93, 0x4);
	gdt[S_DOWN / 8] = gdt_code_data((unsigned long)area, 0xfff, 0x97, 0x4);
	gdt[S_SMALL3 / 8] = gdt_code_data((unsigned long)area, 0xfff, 0xf3, 0x4);

	report(try_read_seg(S_SMALL, 0xffc) < 0, "expand-up limit 0xfff: 4-byte read at 0xffc");
	v = try_read_seg(S_SMALL, 0xffd);
	report(v == GP_VECTOR && exception_error_code() == 0,
	       "expand-up limit 0xfff: 4-byte read at 0xffd crosses the limit: #GP(0)");
	v = try_read_seg(S_SMALL, 0x1000);
	report(v == GP_VECTOR && exception_error_code() == 0, "expand-up: read at 0x1000: #GP(0)");
	v = try_read_seg(S_DOWN, 0x800);
	report(v == GP_VECTOR && exception_error_code() == 0,
	       "expand-down limit 0xfff: read at 0x800: #GP(0)");
	report(try_read_seg(S_DOWN, 0x1000) < 0, "expand-down limit 0xfff: read at 0x1000");
	v = try_read_seg(0, 0x1000);
	report(v == GP_VECTOR && exception_error_code() == 0, "read through a NULL DS: #GP(0)");
	asm volatile(ASM_TRY("1f") "mov %0, %%ss\n\t1:" : : "r"(0) : "memory");
	report(exception_vector() == GP_VECTOR && exception_error_code() == 0,
	       "MOV SS, NULL selector in protected mode: #GP(0)");

	run_in_user(user_push_small_stack, NULL, &fi);
	REPORT_FI(fault_is(&fi, SS_VECTOR, 0), &fi, "CPL3 push beyond the SS limit: #SS(0)");
	memset(&gdt[GDT_SPARE_SEL / 8], 0, GDT_SPARE_COUNT * 8);
}

int main(int argc, char **argv)
{
	report_prefix_push("privilege-32");
	test_user_entry();
	test_gates();
	test_segmentation();
	report_prefix_pop();
	return report_summary();
}
