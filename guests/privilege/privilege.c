/*
 * privilege: privilege transitions and event delivery in IA-32e mode (SDM
 * Vol. 3 chapters 5 and 6, Vol. 2 INT n/INTO/INT3/INT1, IRET, MOV Sreg,
 * SYSCALL, SYSRET, SWAPGS):
 *   - IRETQ to CPL3 and back through a DPL-3 gate; the stack switch to
 *     TSS.RSP0 and to an IST stack (aligned down to 16 bytes), the frame
 *     (SS, RSP, RFLAGS, CS, RIP), SS = NULL selector after a CPL change;
 *   - gate checks for software interrupts: INT n, INT3 and INTO need
 *     DPL >= CPL (#GP(vector*8+2)), INT1 and exceptions do not; gate type,
 *     not-present gate (#NP), IDT limit, target code segment checks; INTO
 *     is #UD in 64-bit mode and traps in compatibility mode;
 *   - interrupt gates clear IF, trap gates do not;
 *   - segment-register loads: null selectors, limits, TI, type, DPL/RPL,
 *     present, SS rules, the accessed bit; far JMP and IRET checks;
 *   - SYSCALL/SYSRET with STAR, LSTAR and FMASK, SWAPGS;
 *   - exception classes: contributory + contributory and page fault +
 *     page fault / contributory give #DF(0) on its IST stack; a
 *     contributory exception then a page fault is handled serially; a
 *     benign software interrupt then #NP is not a #DF; privilege checks
 *     come before memory-operand faults;
 *   - argument "triple-fault": a triple fault (shutdown) at the end.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/fault-check.h"
#include "x86/io.h"
#include "x86/processor.h"
#include "x86/safe.h"
#include "x86/vm.h"

#define MSR_FMASK	0xc0000084

#define S_DATA0		(GDT_SPARE_SEL + 0x00)	/* data, DPL0, RW */
#define S_DATA3		(GDT_SPARE_SEL + 0x08)	/* data, DPL3, RW */
#define S_NOTPRESENT	(GDT_SPARE_SEL + 0x10)	/* data, DPL0, RW, P=0 */
#define S_XONLY		(GDT_SPARE_SEL + 0x18)	/* code, execute-only, DPL0 */
#define S_CODE_R	(GDT_SPARE_SEL + 0x20)	/* code, readable, DPL0 (32-bit) */
#define S_DATA_RO	(GDT_SPARE_SEL + 0x28)	/* data, read-only, DPL0 */
#define S_DATA_NA	(GDT_SPARE_SEL + 0x30)	/* data, DPL0, RW, accessed bit clear */
#define S_CONFORMING	(GDT_SPARE_SEL + 0x38)	/* 64-bit code, conforming, readable, DPL0 */

#define UNMAPPED	0x0000123400000000ul	/* PML4 slot 0x24: nothing there */

static u8 stack_a[4096] __aligned(16), stack_b[4096] __aligned(16);
#define TOP(s)	((unsigned long)(s) + sizeof(s))

struct record {
	int count;
	unsigned long vector, error_code, ip, cs, flags, sp, ss;
	unsigned long frame_top;	/* address just above the CPU's frame */
	unsigned long flags_inside;	/* RFLAGS while the handler runs */
	u16 ss_inside;
};
static struct record rec;

static void record(struct ex_regs *r)
{
	rec.count++;
	rec.vector = r->vector;
	rec.error_code = r->error_code;
	rec.ip = r->ip;
	rec.cs = r->cs;
	rec.flags = r->flags;
	rec.sp = r->sp;
	rec.ss = r->ss;
	rec.frame_top = (unsigned long)r + sizeof(*r);
	rec.flags_inside = read_flags();
	rec.ss_inside = read_ss();
}

static void clear_rec(void)
{
	memset(&rec, 0, sizeof(rec));
}

/* --- CPL3 entry, RSP0, IST ---------------------------------------------- */

static volatile unsigned long user_rsp, user_after;
static volatile u16 user_cs, user_ss;

static void user_int70(void *unused)
{
	asm volatile("mov %%cs, %0\n\t"
		     "mov %%ss, %1\n\t"
		     "lea 1f(%%rip), %%rax\n\t"
		     "mov %%rax, %2\n\t"
		     "mov %%rsp, %3\n\t"
		     "int $0x70\n"
		     "1:"
		     : "=m"(user_cs), "=m"(user_ss), "=m"(user_after), "=m"(user_rsp)
		     : : "rax", "memory");
}

static void user_int71(void *unused)
{
	asm volatile("int $0x71" ::: "memory");
}

static void test_user_entry(void)
{
	struct fault_info fi;
	unsigned long rsp0 = get_tss_rsp0();

	handle_exception(0x70, record);
	set_idt_dpl(0x70, 3);
	set_tss_rsp0(TOP(stack_a));
	clear_rec();
	run_in_user(user_int70, NULL, &fi);
	report(fi.vector < 0 && user_cs == USER_CS64 && user_ss == USER_DS,
	       "IRETQ to CPL3: CS = USER_CS64 (RPL 3), SS = USER_DS");
	report(rec.count == 1 && rec.cs == USER_CS64 && rec.ss == USER_DS &&
	       rec.sp == user_rsp && rec.ip == user_after,
	       "int $0x70 from CPL3: frame holds user SS, RSP, CS and the RIP after INT");
	report(rec.frame_top == TOP(stack_a), "the frame is on TSS.RSP0's stack");
	report(rec.ss_inside == 0, "SS is a NULL selector in the CPL0 handler");

	set_tss_rsp0(TOP(stack_a) - 8);
	clear_rec();
	run_in_user(user_int70, NULL, &fi);
	report(rec.count == 1 && rec.frame_top == TOP(stack_a) - 16,
	       "TSS.RSP0 not 16-byte aligned: RSP aligned down before the pushes");

	clear_rec();
	asm volatile("mov %%rsp, %0\n\tint $0x70" : "=m"(user_rsp) : : "memory");
	report(rec.count == 1 && rec.cs == KERNEL_CS64 && rec.sp == user_rsp &&
	       rec.frame_top == (user_rsp & ~15ul),
	       "int $0x70 at CPL0: no stack switch, RSP aligned to 16, frame holds the old RSP");
	set_tss_rsp0(rsp0);

	/* IST 2. */
	handle_exception(0x71, record);
	set_idt_ist(0x71, 2);
	set_tss_ist(2, TOP(stack_b));
	clear_rec();
	asm volatile("mov %%rsp, %0\n\tint $0x71" : "=m"(user_rsp) : : "memory");
	report(rec.count == 1 && rec.frame_top == TOP(stack_b) && rec.sp == user_rsp &&
	       rec.ss == KERNEL_DS, "IST 2 at CPL0: frame on the IST stack, old SS:RSP saved");
	set_tss_ist(2, TOP(stack_b) - 8);
	clear_rec();
	asm volatile("int $0x71" ::: "memory");
	report(rec.count == 1 && rec.frame_top == TOP(stack_b) - 16,
	       "IST stack not 16-byte aligned: aligned down");
	set_tss_ist(2, TOP(stack_b));
	set_idt_dpl(0x71, 3);
	set_tss_rsp0(TOP(stack_a));
	clear_rec();
	run_in_user(user_int71, NULL, &fi);
	report(rec.count == 1 && rec.frame_top == TOP(stack_b) && rec.cs == USER_CS64,
	       "IST 2 from CPL3: the IST stack, not RSP0");
	set_tss_rsp0(rsp0);
	restore_idt_entry(0x70);
	restore_idt_entry(0x71);
	handle_exception(0x70, NULL);
	handle_exception(0x71, NULL);
}

/* --- gate checks ---------------------------------------------------------- */

static void user_int72(void *p) { asm volatile("int $0x72"); }
static void user_int3(void *p) { asm volatile("int3"); }
static void user_int_3(void *p) { asm volatile(".byte 0xcd, 0x03"); }
static void user_ud2(void *p) { asm volatile("ud2"); }
static void user_int74(void *p) { asm volatile("int $0x74"); }
static void user_int75(void *p) { asm volatile("int $0x75"); }

static volatile unsigned long trap_after;

static void user_int3_at(void *p)
{
	asm volatile("lea 1f(%%rip), %%rax\n\tmov %%rax, %0\n\tint3\n1:"
		     : "=m"(trap_after) : : "rax", "memory");
}

static void user_int1_at(void *p)
{
	asm volatile("lea 1f(%%rip), %%rax\n\tmov %%rax, %0\n\t.byte 0xf1\n1:"
		     : "=m"(trap_after) : : "rax", "memory");
}

/* Compatibility mode at CPL3: far return to USER_CS32, INTO with OF as asked, back. */
static void user_into_compat(void *of)
{
	asm volatile("pushq $0x23\n\t"
		     "lea 1f(%%rip), %%rax\n\t"
		     "push %%rax\n\t"
		     "lretq\n\t"
		     ".code32\n"
		     "1:\tpushfl\n\t"
		     "andl $~0x800, (%%esp)\n\t"
		     "orl %%ebx, (%%esp)\n\t"
		     "popfl\n\t"
		     "lea 2f, %%eax\n\t"
		     "mov %%eax, trap_after\n\t"
		     "into\n"
		     "2:\tljmp $0x33, $3f\n\t"
		     ".code64\n"
		     "3:"
		     : : "b"(of ? 0x800u : 0u) : "rax", "memory");
}

static void test_gates(void)
{
	struct fault_info fi;

	run_in_user(user_int72, NULL, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, 0x72 * 8 + 2), &fi,
		  "int $0x72 from CPL3, gate DPL0: #GP(0x392) (vector*8 + IDT bit)");
	set_idt_dpl(BP_VECTOR, 0);
	run_in_user(user_int3, NULL, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, 3 * 8 + 2), &fi, "int3 from CPL3, gate DPL0: #GP(0x1a)");
	set_idt_dpl(BP_VECTOR, 3);

	handle_exception(BP_VECTOR, record);
	clear_rec();
	run_in_user(user_int3_at, NULL, &fi);
	report(fi.vector < 0 && rec.count == 1 && rec.ip == trap_after && rec.cs == USER_CS64,
	       "int3 from CPL3, gate DPL3: #BP, RIP after the int3");
	clear_rec();
	run_in_user(user_int_3, NULL, &fi);
	report(fi.vector < 0 && rec.count == 1 && rec.vector == BP_VECTOR,
	       "int $3 (CD 03) from CPL3, gate DPL3: #BP");
	handle_exception(BP_VECTOR, NULL);

	handle_exception(DB_VECTOR, record);
	clear_rec();
	run_in_user(user_int1_at, NULL, &fi);
	if (!report(fi.vector < 0 && rec.count == 1 && rec.ip == trap_after && rec.cs == USER_CS64,
		    "int1 (F1) from CPL3, gate DPL0: #DB delivered (no DPL check), RIP after"))
		report_fault(&fi);
	handle_exception(DB_VECTOR, NULL);

	run_in_user(user_ud2, NULL, &fi);
	REPORT_FI(fault_is(&fi, UD_VECTOR, 0), &fi, "ud2 at CPL3, gate DPL0: #UD delivered (no DPL check)");

	asm volatile(ASM_TRY("1f") ".byte 0xce\n\t1:" ::: "memory");
	report(exception_vector() == UD_VECTOR, "into in 64-bit mode: #UD");

	handle_exception(OF_VECTOR, record);
	clear_rec();
	run_in_user(user_into_compat, (void *)1, &fi);
	report(fi.vector < 0 && rec.count == 1 && rec.ip == trap_after && rec.cs == USER_CS32,
	       "into with OF=1 in compatibility mode at CPL3, gate DPL3: #OF, EIP after into");
	clear_rec();
	run_in_user(user_into_compat, NULL, &fi);
	report(fi.vector < 0 && rec.count == 0, "into with OF=0: no trap");
	handle_exception(OF_VECTOR, NULL);
	set_idt_dpl(OF_VECTOR, 0);
	run_in_user(user_into_compat, (void *)1, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, 4 * 8 + 2), &fi,
		  "into from CPL3 (compatibility mode), gate DPL0: #GP(0x22)");
	set_idt_dpl(OF_VECTOR, 3);

	set_idt_dpl(0x74, 3);
	set_idt_present(0x74, false);
	run_in_user(user_int74, NULL, &fi);
	REPORT_FI(fault_is(&fi, NP_VECTOR, 0x74 * 8 + 2), &fi,
		  "int $0x74, gate DPL3 not present: #NP(0x3a2)");
	set_idt_dpl(0x74, 0);
	run_in_user(user_int74, NULL, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, 0x74 * 8 + 2), &fi,
		  "int $0x74 from CPL3, gate DPL0 not present: #GP(0x3a2) (DPL checked before P)");
	restore_idt_entry(0x74);

	set_idt_dpl(0x75, 3);
	set_idt_type(0x75, 0x5);
	run_in_user(user_int75, NULL, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, 0x75 * 8 + 2), &fi,
		  "int $0x75 through a task-gate type in IA-32e mode: #GP(0x3aa)");
	restore_idt_entry(0x75);

	set_idt_sel(0x76, KERNEL_DS);
	asm volatile(ASM_TRY("1f") "int $0x76\n\t1:" ::: "memory");
	report(is_gp(exception_vector(), KERNEL_DS), "gate to a data segment: #GP(selector 0x10)");
	set_idt_sel(0x76, KERNEL_CS32);
	asm volatile(ASM_TRY("1f") "int $0x76\n\t1:" ::: "memory");
	report(is_gp(exception_vector(), KERNEL_CS32),
	       "gate to a 32-bit code segment in IA-32e mode: #GP(selector 0x18)");
	gdt[S_NOTPRESENT / 8] = gdt_code_data(0, 0xfffff, 0x1b, 0xa);	/* 64-bit code, P=0 */
	set_idt_sel(0x76, S_NOTPRESENT);
	asm volatile(ASM_TRY("1f") "int $0x76\n\t1:" ::: "memory");
	report(exception_vector() == NP_VECTOR && exception_error_code() == S_NOTPRESENT,
	       "gate to a code segment with P=0: #NP(selector)");
	restore_idt_entry(0x76);

	{
		struct descriptor_table_ptr idtr, small;

		sidt(&idtr);
		small.base = idtr.base;
		small.limit = 0x80 * 16 - 1;
		lidt(&small);
		asm volatile(ASM_TRY("1f") "int $0x80\n\t1:" ::: "memory");
		lidt(&idtr);
		report(is_gp(exception_vector(), 0x80 * 8 + 2), "int $0x80 beyond the IDT limit: #GP(0x402)");
	}
}

static void test_if(void)
{
	/* No interrupt sources: the 8259s masked (the BIOS left IRQ0 on in QEMU). */
	outb(0xff, 0x21);
	outb(0xff, 0xa1);
	handle_exception(0x73, record);
	handle_exception(0x77, record);
	set_idt_type(0x77, GATE_TYPE_TRAP);
	clear_rec();
	asm volatile("sti\n\tint $0x73\n\tcli" ::: "memory");
	report(rec.count == 1 && (rec.flags & X86_EFLAGS_IF) && !(rec.flags_inside & X86_EFLAGS_IF),
	       "interrupt gate: IF saved as 1 in the frame, clear in the handler");
	clear_rec();
	asm volatile("sti\n\tint $0x77\n\tcli" ::: "memory");
	report(rec.count == 1 && (rec.flags & X86_EFLAGS_IF) && (rec.flags_inside & X86_EFLAGS_IF),
	       "trap gate: IF stays set in the handler");
	restore_idt_entry(0x77);
	handle_exception(0x73, NULL);
	handle_exception(0x77, NULL);
}

/* --- segment loads ---------------------------------------------------------- */

static int try_ds(u16 sel)
{
	asm volatile(ASM_TRY("1f") "mov %0, %%ds\n\t1:" : : "r"(sel) : "memory");
	return exception_vector();
}

static int try_ss(u16 sel)
{
	int v;

	asm volatile(ASM_TRY("1f") "mov %0, %%ss\n\t1:" : : "r"(sel) : "memory");
	v = exception_vector();
	asm volatile("mov %0, %%ss" : : "r"((u16)KERNEL_DS));
	return v;
}

static void user_load_ds(void *sel)
{
	asm volatile("mov %0, %%ds" : : "r"((u16)(unsigned long)sel) : "memory");
}

static void user_load_ss(void *sel)
{
	asm volatile("mov %0, %%ss" : : "r"((u16)(unsigned long)sel) : "memory");
}

static void user_iret_to_cpl0(void *unused)
{
	asm volatile("mov %%rsp, %%rax\n\t"
		     "pushq $0x10\n\t"
		     "push %%rax\n\t"
		     "pushfq\n\t"
		     "pushq $0x08\n\t"
		     "lea 1f(%%rip), %%rax\n\t"
		     "push %%rax\n\t"
		     "iretq\n"
		     "1:"
		     : : : "rax", "memory");
}

static void setup_spare_descriptors(void)
{
	gdt[S_DATA0 / 8] = gdt_code_data(0, 0xfffff, 0x93, 0xc);
	gdt[S_DATA3 / 8] = gdt_code_data(0, 0xfffff, 0xf3, 0xc);
	gdt[S_NOTPRESENT / 8] = gdt_code_data(0, 0xfffff, 0x13, 0xc);
	gdt[S_XONLY / 8] = gdt_code_data(0, 0xfffff, 0x99, 0xc);
	gdt[S_CODE_R / 8] = gdt_code_data(0, 0xfffff, 0x9b, 0xc);
	gdt[S_DATA_RO / 8] = gdt_code_data(0, 0xfffff, 0x91, 0xc);
	gdt[S_DATA_NA / 8] = gdt_code_data(0, 0xfffff, 0x92, 0xc);
	gdt[S_CONFORMING / 8] = gdt_code_data(0, 0xfffff, 0x9f, 0xa);
}

static void test_segment_loads(void)
{
	struct fault_info fi;
	struct descriptor_table_ptr gdtr;

	setup_spare_descriptors();
	sgdt(&gdtr);
	report(try_ds(S_DATA0) < 0 && read_ds() == S_DATA0, "MOV DS, DPL0 data at CPL0");
	report(is_gp(try_ds(S_DATA0 | 3), S_DATA0), "MOV DS, RPL3 > DPL0: #GP(selector)");
	report(try_ds(S_DATA3) < 0, "MOV DS, DPL3 data at CPL0");
	report(try_ds(S_NOTPRESENT) == NP_VECTOR &&
	       exception_error_code() == S_NOTPRESENT, "MOV DS, not-present data: #NP(selector)");
	report(is_gp(try_ds(S_XONLY), S_XONLY), "MOV DS, execute-only code: #GP(selector)");
	report(try_ds(S_CODE_R) < 0, "MOV DS, readable code segment");
	report(is_gp(try_ds(TSS_SEL), TSS_SEL), "MOV DS, TSS (system) selector: #GP(selector)");
	report(is_gp(try_ds((gdtr.limit + 1) & ~7), (gdtr.limit + 1) & ~7),
	       "MOV DS, selector beyond the GDT limit: #GP(selector)");
	asm volatile("lldt %w0" : : "r"(0));	/* LDTR invalid from here on */
	report(is_gp(try_ds(0x0c), 0x0c), "MOV DS, TI=1 after LLDT with a NULL selector: #GP(selector incl. TI)");
	report(try_ds(0) < 0 && read_ds() == 0, "MOV DS, NULL selector at CPL0");
	gdt[S_DATA_NA / 8] &= ~(1ull << 40);
	report(try_ds(S_DATA_NA) < 0 && (gdt[S_DATA_NA / 8] & (1ull << 40)),
	       "MOV DS sets the accessed bit in the descriptor");
	/* Type checked before P: a not-present execute-only code segment. */
	gdt[S_NOTPRESENT / 8] = gdt_code_data(0, 0xfffff, 0x19, 0xc);
	report(is_gp(try_ds(S_NOTPRESENT), S_NOTPRESENT),
	       "MOV DS, not-present execute-only code: #GP (type before present)");
	gdt[S_NOTPRESENT / 8] = gdt_code_data(0, 0xfffff, 0x13, 0xc);
	asm volatile("mov %0, %%ds" : : "r"((u16)KERNEL_DS));

	report(is_gp(try_ss(S_DATA_RO), S_DATA_RO), "MOV SS, read-only data: #GP(selector)");
	report(try_ss(S_NOTPRESENT) == SS_VECTOR && exception_error_code() == S_NOTPRESENT,
	       "MOV SS, not-present writable data: #SS(selector)");
	report(is_gp(try_ss(S_DATA3), S_DATA3), "MOV SS, DPL3 data at CPL0: #GP(selector)");
	report(is_gp(try_ss(S_DATA0 | 3), S_DATA0), "MOV SS, RPL3 != CPL0: #GP(selector)");
	report(is_gp(try_ss(S_CODE_R), S_CODE_R), "MOV SS, code segment: #GP(selector)");
	report(try_ss(0) < 0, "MOV SS, NULL selector with RPL=CPL=0 in 64-bit mode: allowed");
	report(is_gp(try_ss(3), 0), "MOV SS, NULL selector with RPL3 at CPL0: #GP(0)");
	report(try_ss(S_DATA0) < 0, "MOV SS, DPL0 writable data at CPL0");

	asm volatile(ASM_TRY("1f") ".byte 0x8e, 0xc8\n\t1:" : : "a"(KERNEL_CS64) : "memory");
	report(exception_vector() == UD_VECTOR, "MOV CS, r16: #UD");

	run_in_user(user_load_ds, (void *)(unsigned long)S_DATA0, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, S_DATA0), &fi, "CPL3 MOV DS, DPL0 data: #GP(selector)");
	run_in_user(user_load_ds, (void *)(unsigned long)(S_DATA3 | 3), &fi);
	report(fi.vector < 0, "CPL3 MOV DS, DPL3 data");
	run_in_user(user_load_ds, (void *)(unsigned long)(S_CONFORMING | 3), &fi);
	report(fi.vector < 0, "CPL3 MOV DS, DPL0 conforming readable code: allowed");
	run_in_user(user_load_ds, (void *)0, &fi);
	report(fi.vector < 0, "CPL3 MOV DS, NULL selector: allowed");
	run_in_user(user_load_ss, (void *)3, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, 0), &fi, "CPL3 MOV SS, NULL selector: #GP(0)");
	run_in_user(user_iret_to_cpl0, NULL, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, KERNEL_CS64), &fi,
		  "IRETQ at CPL3 to a CPL0 code segment: #GP(selector 0x08)");

	{
		struct { u32 offset; u16 sel; } __attribute__((packed)) target = { 0, S_DATA0 };

		asm volatile(ASM_TRY("1f") "ljmpl *(%0)\n\t1:" : : "r"(&target) : "memory");
		report(is_gp(exception_vector(), S_DATA0), "far JMP to a data segment: #GP(selector)");
		target.sel = S_NOTPRESENT;
		gdt[S_NOTPRESENT / 8] = gdt_code_data(0, 0xfffff, 0x1b, 0xa);
		asm volatile(ASM_TRY("1f") "ljmpl *(%0)\n\t1:" : : "r"(&target) : "memory");
		report(exception_vector() == NP_VECTOR && exception_error_code() == S_NOTPRESENT,
		       "far JMP to a not-present code segment: #NP(selector)");
	}
	memset(&gdt[GDT_SPARE_SEL / 8], 0, GDT_SPARE_COUNT * 8);
}

/* --- SYSCALL, SYSRET, SWAPGS ---------------------------------------------------- */

u64 sc_rcx, sc_r11, sc_rsp, sc_flags, sc_gs0;
u16 sc_cs, sc_ss;
static u64 kernel_gs_area[2] = { 0x2222222222222222ull, 0 };
static u64 user_gs_area[2] = { 0x1111111111111111ull, 0 };

extern char syscall_entry[];
asm(".pushsection .text\n"
    "syscall_entry:\n\t"
    "mov %rcx, sc_rcx(%rip)\n\t"
    "mov %r11, sc_r11(%rip)\n\t"
    "mov %rsp, sc_rsp(%rip)\n\t"
    "pushfq\n\t"
    "popq sc_flags(%rip)\n\t"
    "mov %cs, sc_cs(%rip)\n\t"
    "mov %ss, sc_ss(%rip)\n\t"
    "swapgs\n\t"
    "mov %gs:0, %rax\n\t"
    "mov %rax, sc_gs0(%rip)\n\t"
    "swapgs\n\t"
    "sysretq\n\t"
    ".popsection");

static volatile u64 u_rsp, u_after, u_flags_after;
static volatile u16 u_cs_after, u_ss_after;

static void user_syscall(void *unused)
{
	asm volatile("pushfq\n\t"
		     "orq $0x40400, (%%rsp)\n\t"	/* AC | DF */
		     "popfq\n\t"
		     "mov %%rsp, %0\n\t"
		     "lea 1f(%%rip), %%rax\n\t"
		     "mov %%rax, %1\n\t"
		     "syscall\n"
		     "1:\tpushfq\n\t"
		     "popq %2\n\t"
		     "cld\n\t"
		     "pushfq\n\t"
		     "andq $~0x40000, (%%rsp)\n\t"
		     "popfq\n\t"
		     "mov %%cs, %3\n\t"
		     "mov %%ss, %4"
		     : "=m"(u_rsp), "=m"(u_after), "=m"(u_flags_after), "=m"(u_cs_after), "=m"(u_ss_after)
		     : : "rax", "rcx", "r11", "memory");
}

static void user_swapgs(void *p) { asm volatile("swapgs"); }
static void user_syscall_only(void *p) { asm volatile("syscall" ::: "rcx", "r11", "memory"); }

static void user_sysret(void *p)
{
	asm volatile("sysretq" ::: "memory");
}

static volatile unsigned long sysret_ip;

static void sysret_noncanonical(void *unused)
{
	asm volatile("lea 1f(%%rip), %%rax\n\t"
		     "mov %%rax, %0\n\t"
		     "mov %1, %%rcx\n\t"
		     "mov $2, %%r11\n"
		     "1:\tsysretq"
		     : "=m"(sysret_ip) : "r"(0x0000800000000000ul) : "rax", "rcx", "r11", "memory");
}

static int try_swapgs_compat(void)
{
	asm volatile(ASM_TRY_COMPAT(".byte 0x0f, 0x01, 0xf8")	/* swapgs */
		     : : : "rax", "memory");
	return exception_vector();
}

static void test_syscall(void)
{
	struct fault_info fi;
	u64 efer = rdmsr(MSR_EFER);
	const u64 fmask = X86_EFLAGS_DF | X86_EFLAGS_AC | X86_EFLAGS_TF;

	if (!(cpuid_checked(0x80000001, 0).d & (1u << 11))) {
		report_skip("SYSCALL: CPUID.80000001H:EDX.SYSCALL = 0");
		return;
	}
	/* SWAPGS at CPL0. */
	wrmsr(MSR_GS_BASE, (unsigned long)user_gs_area);
	wrmsr(MSR_KERNEL_GS_BASE, (unsigned long)kernel_gs_area);
	{
		u64 v;

		asm volatile("swapgs\n\tmov %%gs:0, %0\n\tswapgs" : "=r"(v) : : "memory");
		report(v == kernel_gs_area[0] && rdmsr(MSR_GS_BASE) == (unsigned long)user_gs_area,
		       "SWAPGS exchanges GS.base and KERNEL_GS_BASE (and back)");
		asm volatile("swapgs" ::: "memory");
		report(rdmsr(MSR_GS_BASE) == (unsigned long)kernel_gs_area &&
		       rdmsr(MSR_KERNEL_GS_BASE) == (unsigned long)user_gs_area,
		       "after one SWAPGS: RDMSR shows the exchanged values");
		asm volatile("swapgs" ::: "memory");
	}
	run_in_user(user_swapgs, NULL, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, 0), &fi, "SWAPGS at CPL3: #GP(0)");
	report(try_swapgs_compat() == UD_VECTOR, "SWAPGS in compatibility mode: #UD");

	wrmsr(MSR_EFER, efer & ~EFER_SCE);
	run_in_user(user_syscall_only, NULL, &fi);
	REPORT_FI(fault_is(&fi, UD_VECTOR, 0), &fi, "SYSCALL with EFER.SCE=0: #UD");
	asm volatile(ASM_TRY("1f") "sysretq\n\t1:" ::: "memory");
	report(exception_vector() == UD_VECTOR, "SYSRET with EFER.SCE=0: #UD");
	wrmsr(MSR_EFER, efer | EFER_SCE);

	wrmsr(MSR_STAR, ((u64)USER_CS32 << 48) | ((u64)KERNEL_CS64 << 32));
	wrmsr(MSR_LSTAR, (unsigned long)syscall_entry);
	wrmsr(MSR_FMASK, fmask);
	sc_cs = sc_ss = 0;
	run_in_user(user_syscall, NULL, &fi);
	report(fi.vector < 0 && sc_cs == KERNEL_CS64 && sc_ss == KERNEL_DS,
	       "SYSCALL: CS = STAR[47:32], SS = STAR[47:32] + 8");
	report(sc_rcx == u_after && sc_rsp == u_rsp, "SYSCALL: RCX = next RIP, RSP unchanged");
	if (!report((sc_r11 & (X86_EFLAGS_AC | X86_EFLAGS_DF)) == (X86_EFLAGS_AC | X86_EFLAGS_DF) &&
		    sc_flags == (sc_r11 & ~fmask), "SYSCALL: R11 = RFLAGS, RFLAGS &= ~FMASK"))
		report_info("  R11 %#lx, RFLAGS in the handler %#lx", (unsigned long)sc_r11,
			    (unsigned long)sc_flags);
	report(sc_gs0 == kernel_gs_area[0], "SWAPGS in the SYSCALL handler reaches the kernel GS area");
	report(u_cs_after == (USER_CS32 + 16) && u_ss_after == (USER_CS32 + 8) &&
	       u_flags_after == sc_r11, "SYSRET: CS = STAR[63:48] + 16, SS = + 8, RFLAGS = R11");

	run_in_user(user_sysret, NULL, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, 0), &fi, "SYSRET at CPL3: #GP(0)");
	if (cpuid(0).b == 0x756e6547) {	/* "Genu": Intel behaviour */
		catch_fault(sysret_noncanonical, NULL, &fi);
		REPORT_FI(fault_is(&fi, GP_VECTOR, 0) && fi.ip == sysret_ip, &fi,
			  "SYSRET to a non-canonical RCX (Intel): #GP(0) at CPL0, on the SYSRET");
	} else {
		report_skip("SYSRET to a non-canonical RCX: #GP at CPL0 is Intel behaviour");
	}
	wrmsr(MSR_EFER, efer);
	wrmsr(MSR_GS_BASE, 0);
}

/* --- exception classes, #DF, priorities ---------------------------------------- */

static void read_unmapped(void *p)
{
	(void)*(volatile u8 *)UNMAPPED;
}

static void gp_on_bad_stack(void *bad_rsp)
{
	asm volatile("mov %0, %%rsp\n\t"
		     "mov (%1), %%rax"
		     : : "r"(bad_rsp), "r"(0x8000000000000000ul) : "rax", "memory");
}

static void user_lidt_unmapped(void *p)
{
	asm volatile("lidt (%0)" : : "r"(UNMAPPED) : "memory");
}

static void test_double_faults(void)
{
	struct fault_info fi;
	unsigned long rsp0 = get_tss_rsp0();
	u64 v;

	/* Contributory + contributory: #GP whose gate is not present -> #NP -> #DF. */
	set_idt_present(GP_VECTOR, false);
	asm volatile(ASM_TRY("1f") "mov (%1), %0\n\t1:" : "=r"(v) : "r"(0x8000000000000000ul) : "memory");
	set_idt_present(GP_VECTOR, true);
	report(exception_vector() == DF_VECTOR && exception_error_code() == 0,
	       "#GP with its gate not present (-> #NP): #DF(0)");

	/* Page fault + contributory: #PF whose gate targets a data segment (-> #GP). */
	set_idt_sel(PF_VECTOR, KERNEL_DS);
	catch_fault(read_unmapped, NULL, &fi);
	restore_idt_entry(PF_VECTOR);
	REPORT_FI(fault_is(&fi, DF_VECTOR, 0), &fi, "#PF whose gate targets a data segment (-> #GP): #DF(0)");

	/* Page fault + page fault: CPL3 #PF while TSS.RSP0 points at an unmapped page. */
	set_tss_rsp0(UNMAPPED + 0x1000);
	run_in_user(read_unmapped, NULL, &fi);
	set_tss_rsp0(rsp0);
	REPORT_FI(fault_is(&fi, DF_VECTOR, 0) && fi.cr2 == 0, &fi,
		  "#PF from CPL3 with TSS.RSP0 unmapped (-> #PF): #DF(0)");
	report(read_cr2() == UNMAPPED + 0x1000 - 8,
	       "... and CR2 holds the address of the failed push (RSP0 - 8)");

	/* Contributory then page fault: handled serially, the #PF is delivered. */
	set_idt_ist(PF_VECTOR, 3);
	set_tss_ist(3, TOP(stack_b));
	catch_fault(gp_on_bad_stack, (void *)(UNMAPPED + 0x2000), &fi);
	restore_idt_entry(PF_VECTOR);
	REPORT_FI(fault_is(&fi, PF_VECTOR, PFERR_WRITE) && fi.cr2 == UNMAPPED + 0x2000 - 8, &fi,
		  "#GP whose frame push faults: #PF (0x2, CR2 = push address), not #DF");

	/* Benign: INT3 with the #BP gate not present -> #NP, no #DF. */
	set_idt_present(BP_VECTOR, false);
	asm volatile(ASM_TRY("1f") "int3\n\t1:" ::: "memory");
	set_idt_present(BP_VECTOR, true);
	report(exception_vector() == NP_VECTOR && exception_error_code() == 3 * 8 + 2,
	       "int3 with the #BP gate not present: #NP(0x1a), not #DF");

	/* Privilege before memory: LIDT at CPL3 on an unmapped operand. */
	run_in_user(user_lidt_unmapped, NULL, &fi);
	REPORT_FI(fault_is(&fi, GP_VECTOR, 0), &fi, "LIDT at CPL3 with an unmapped operand: #GP(0), not #PF");
	asm volatile(ASM_TRY("1f") "mov (%1), %0\n\t1:" : "=r"(v) : "r"(0x8000123400000000ul) : "memory");
	report(is_gp(exception_vector(), 0), "non-canonical address in an unmapped region: #GP(0), not #PF");
}

static void triple_fault(void)
{
	struct descriptor_table_ptr none = { 0, 0 };

	report_info("triple fault next: IDT limit 0, then ud2");
	lidt(&none);
	asm volatile("ud2");
	report(false, "still running after a triple fault");
}

int main(int argc, char **argv)
{
	struct cpuid v = cpuid(0);
	char vendor[13];

	memcpy(vendor, &v.b, 4);
	memcpy(vendor + 4, &v.d, 4);
	memcpy(vendor + 8, &v.c, 4);
	vendor[12] = 0;
	report_info("vendor %s", vendor);
	report_prefix_push("privilege");
	test_user_entry();
	test_gates();
	test_if();
	test_segment_loads();
	test_syscall();
	test_double_faults();
	report_prefix_pop();
	if (argc > 1 && !strcmp(argv[1], "triple-fault"))
		triple_fault();
	return report_summary();
}
