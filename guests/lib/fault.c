/*
 * Exception dispatch (portable part). The arch entry stubs build a
 * struct ex_regs and call do_handle_exception(); whatever the handler
 * leaves in the frame is what iret resumes. See x86/desc.h for the order
 * in which the mechanisms are tried.
 */
#include "libcflat.h"
#include "x86/context.h"
#include "x86/desc.h"
#include "x86/processor.h"
#include "x86/vm.h"

#define NR_VECTORS 256
#define NR_EXCEPTIONS 32

struct fault_info ex_last = { .vector = -1 };
unsigned long user_alias_offset;

static exception_handler handlers[NR_VECTORS];

exception_handler handle_exception(u8 vector, exception_handler handler)
{
	exception_handler old = handlers[vector];

	handlers[vector] = handler;
	return old;
}

/* ASM_TRY records, collected by the linker script into .data.ex. */
struct ex_table_entry {
	unsigned long ip, fixup;
};
extern struct ex_table_entry __ex_table_start[], __ex_table_end[];

static void record(struct fault_info *info, const struct ex_regs *regs)
{
	info->vector = (int)regs->vector;
	info->error_code = regs->error_code;
	info->cr2 = regs->vector == PF_VECTOR ? read_cr2() : 0;
	info->ip = regs->ip;
}

static bool try_ex_table(struct ex_regs *regs)
{
	for (struct ex_table_entry *e = __ex_table_start; e < __ex_table_end; e++) {
		if (e->ip == regs->ip) {
			record(&ex_last, regs);
			regs->ip = e->fixup;
			return true;
		}
	}
	return false;
}

/*
 * Active catch_fault()/run_in_user() calls, innermost first. Each one lives
 * in the stack frame of the call that pushed it.
 */
struct catcher {
	struct saved_context ctx;
	struct fault_info *info;
	struct catcher *outer;
};
static struct catcher *catchers;

/* Values save_context() returns when resumed. */
#define RESUMED_BY_FAULT	1
#define RESUMED_BY_RETURN	2

static const char *const exception_names[NR_EXCEPTIONS] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	"#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "15",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "22", "23",
	"24", "25", "26", "27", "#HV", "#VC", "#SX", "31",
};

static void __noreturn unhandled(const struct ex_regs *regs)
{
	const char *name = regs->vector < NR_EXCEPTIONS ?
		exception_names[regs->vector] : "interrupt";

	printf("Unhandled exception %lu %s at rip %lx, error code %lx, cr2 %lx\n",
	       regs->vector, name, regs->ip, regs->error_code, read_cr2());
	printf("cs %lx rflags %lx rsp %lx ss %lx\n",
	       regs->cs, regs->flags, regs->sp, regs->ss);
	printf("rax %016lx rbx %016lx rcx %016lx rdx %016lx\n",
	       regs->ax, regs->bx, regs->cx, regs->dx);
	printf("rsi %016lx rdi %016lx rbp %016lx\n", regs->si, regs->di, regs->bp);
#ifdef __x86_64__
	printf("r8  %016lx r9  %016lx r10 %016lx r11 %016lx\n",
	       regs->r8, regs->r9, regs->r10, regs->r11);
	printf("r12 %016lx r13 %016lx r14 %016lx r15 %016lx\n",
	       regs->r12, regs->r13, regs->r14, regs->r15);
#endif
	exit(63);
}

/* Called by the arch entry stub with interrupts off and DF clear. */
void do_handle_exception(struct ex_regs *regs)
{
	unsigned long vector = regs->vector;

	if (vector < NR_EXCEPTIONS && try_ex_table(regs))
		return;
	if (handlers[vector]) {
		handlers[vector](regs);
		return;
	}
	if (vector < NR_EXCEPTIONS && catchers) {
		record(catchers->info, regs);
		resume_context(regs, &catchers->ctx, RESUMED_BY_FAULT);
		return;
	}
	unhandled(regs);
}

bool catch_fault(void (*fn)(void *), void *arg, struct fault_info *info)
{
	struct catcher c = { .info = info, .outer = catchers };

	info->vector = -1;
	if (save_context(&c.ctx) == 0) {
		catchers = &c;
		fn(arg);
	}
	catchers = c.outer;
	return info->vector >= 0;
}

/* int $USER_RET_VECTOR from the user trampoline: fn returned normally. */
static void user_return(struct ex_regs *regs)
{
	if (!catchers)
		unhandled(regs);
	resume_context(regs, &catchers->ctx, RESUMED_BY_RETURN);
}

bool run_in_user(void (*fn)(void *), void *arg, struct fault_info *info)
{
	struct catcher c = { .info = info, .outer = catchers };

	handle_exception(USER_RET_VECTOR, user_return);
	set_idt_dpl(USER_RET_VECTOR, 3);
	info->vector = -1;
	if (save_context(&c.ctx) == 0) {
		catchers = &c;
		enter_user((void (*)(void *))((unsigned long)fn + user_alias_offset),
			   arg, user_stack_top() + user_alias_offset);
	}
	catchers = c.outer;
	restore_kernel_segments();
	return info->vector >= 0;
}
