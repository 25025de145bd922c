/*
 * smap: supervisor-mode access prevention, the cases of kvm-unit-tests'
 * x86/smap.c. The first 8 MiB (this image, its stacks and tables) become
 * supervisor-only, 4 KiB pages; the next 8 MiB map the same memory again
 * as user pages, so every kernel variable has a user alias 8 MiB higher.
 * With CR4.SMAP=1, a supervisor data access to the alias faults unless
 * EFLAGS.AC=1; the #PF handler counts the fault, records the variable's
 * value at that moment, sets AC in the interrupted context and retries, so
 * each case checks "faulted or not" and "what did the retried access see".
 *
 * Cases (each run twice: without and with INVLPG of the variable and its
 * alias before it, so stale and fresh TLB entries are both exercised):
 *   write to a supervisor page (AC=0): no fault;
 *   read and write the user alias with AC=1: no fault;
 *   read and write the user alias with AC=0: one fault each;
 *   push to a stack on the user alias with AC=1 / AC=0: none / one fault
 *     (the #PF frame goes to an IST stack, since the faulting stack is the
 *     user alias itself);
 *   execute code on the user alias with AC=0: SMAP does not apply to fetches.
 * And with CR0.WP=0, a read-only user alias: writable by the supervisor
 * while SMAP=0; read with SMAP=1 and AC=0 faults.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/processor.h"
#include "x86/vm.h"

#define CPUID_7_EBX_SMAP	(1u << 20)
#define USER_BASE		(8ul << 20)
#define PF_IST			2

#define ALIAS(p)	((__typeof__(p))((unsigned long)(p) + USER_BASE))

static volatile int pf_count;
static volatile int seen;	/* `var` as the handler found it */
static volatile int var;
static u8 pf_stack[4096] __aligned(16);

static void pf_handler(struct ex_regs *regs)
{
	pf_count++;
	seen = var;
	regs->flags |= X86_EFLAGS_AC;	/* retry as if STAC had run */
}

static void flush_tlb(void)
{
	write_cr3(read_cr3());
}

/* Supervisor-only 0-8 MiB, its user alias at 8-16 MiB, 4 KiB pages. */
static void map_user_alias(void)
{
	for (unsigned long va = 0; va < USER_BASE; va += PAGE_SIZE) {
		*get_pte_4k((void *)va) &= ~PT_USER_MASK;
		*get_pte_4k((void *)(va + USER_BASE)) -= USER_BASE;
	}
	flush_tlb();
}

static void begin(bool with_invlpg)
{
	pf_count = 0;
	if (with_invlpg) {
		invlpg(&var);
		invlpg(ALIAS(&var));
	}
}

static void stack_push(int value)
{
	/* Move RSP to the stack's user alias, push there, come back and pop. */
	asm volatile("or %[base], %%rsp\n\t"
		     "push %q[v]\n\t"
		     "decl %[var]\n\t"
		     "and %[mask], %%rsp\n\t"
		     "pop %%rax\n\t"
		     "movl %%eax, %[var]"
		     : [var] "+m"(var)
		     : [base] "i"(USER_BASE), [mask] "i"(~USER_BASE), [v] "r"((long)value)
		     : "rax", "memory", "cc");
}

static void fetch_from_alias(void)
{
	asm volatile("jmp 1f + %c0\n\t"
		     "1: jmp 2f - %c0\n\t"
		     "2:" : : "i"(USER_BASE) : "memory");
}

static void run_cases(bool with_invlpg)
{
	printf("testing %s INVLPG\n", with_invlpg ? "with" : "without");

	begin(with_invlpg);
	clac();
	var = 42;
	report(pf_count == 0 && var == 42, "write to supervisor page");

	begin(with_invlpg);
	stac();
	(void)*ALIAS(&var);
	report(pf_count == 0, "read from user page with AC=1");

	begin(with_invlpg);
	clac();
	(void)*ALIAS(&var);
	report(pf_count == 1 && seen == 42, "read from user page with AC=0");

	begin(with_invlpg);
	stac();
	seen = 0;
	*ALIAS(&var) = 43;
	report(pf_count == 0 && var == 43, "write to user page with AC=1");

	begin(with_invlpg);
	clac();
	*ALIAS(&var) = 44;
	report(pf_count == 1 && var == 44 && seen == 43, "write to user page with AC=0");

	begin(with_invlpg);
	stac();
	var = -1;
	stack_push(44);
	report(pf_count == 0 && var == 44, "write to user stack with AC=1");

	begin(with_invlpg);
	clac();
	var = -1;
	stack_push(45);
	report(pf_count == 1 && var == 45 && seen == -1, "write to user stack with AC=0");

	begin(with_invlpg);
	clac();
	fetch_from_alias();
	report(pf_count == 0, "executing on user page with AC=0");
}

static void smap_with_wp_clear(void)
{
	pteval_t *pte = get_pte_4k(ALIAS(&var));

	var = 0x99;
	*pte &= ~PT_WRITABLE_MASK;
	write_cr4(read_cr4() & ~X86_CR4_SMAP);
	write_cr0(read_cr0() & ~X86_CR0_WP);
	clac();
	flush_tlb();

	begin(false);
	*ALIAS(&var) = 0x99;
	report(pf_count == 0, "write from user page with SMAP=0, AC=0, WP=0, PTE.U=1 && PTE.W=0");

	write_cr4(read_cr4() | X86_CR4_SMAP);
	flush_tlb();
	begin(false);
	(void)*ALIAS(&var);
	report(pf_count == 1 && seen == 0x99, "read from user page with SMAP=1, AC=0, WP=0, PTE.U=1 && PTE.W=0");

	*pte |= PT_WRITABLE_MASK;
	write_cr0(read_cr0() | X86_CR0_WP);
	flush_tlb();
}

int main(void)
{
	if (!(cpuid_checked(7, 0).b & CPUID_7_EBX_SMAP)) {
		report_skip("SMAP not supported (CPUID.7.0:EBX[20])");
		return report_summary();
	}

	set_tss_ist(PF_IST, (unsigned long)(pf_stack + sizeof(pf_stack)));
	set_idt_ist(PF_VECTOR, PF_IST);
	handle_exception(PF_VECTOR, pf_handler);
	map_user_alias();

	clac();
	write_cr4(read_cr4() | X86_CR4_SMAP);
	flush_tlb();
	run_cases(false);
	run_cases(true);
	smap_with_wp_clear();
	return report_summary();
}
