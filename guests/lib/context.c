/*
 * The C side of x86/context.h, the same in both builds: resuming a saved
 * context through an exception frame, and the user-mode stack.
 */
#include "libcflat.h"
#include "x86/context.h"
#include "x86/segments.h"

static u8 user_stack[16384] __aligned(16);

void resume_context(struct ex_regs *regs, const struct saved_context *ctx,
		    unsigned long value)
{
	/* The callee-saved registers of the ABI: all save_context keeps. */
	regs->bx = ctx->bx;
	regs->bp = ctx->bp;
#ifdef __x86_64__
	regs->r12 = ctx->r12;
	regs->r13 = ctx->r13;
	regs->r14 = ctx->r14;
	regs->r15 = ctx->r15;
#else
	regs->si = ctx->si;
	regs->di = ctx->di;
#endif
	regs->sp = ctx->sp;
	regs->ip = ctx->ip;
	regs->flags = ctx->flags;
	regs->cs = ctx->cs;
	regs->ss = ctx->ss;
	regs->ax = value;
}

void restore_kernel_segments(void)
{
	/* IRET to CPL3 nulls the data segment registers that held DPL0 selectors: reload all. */
	asm volatile("mov %k0, %%ds; mov %k0, %%es; mov %k0, %%fs; mov %k0, %%gs"
		     : : "r"(KERNEL_DS));
}

unsigned long user_stack_top(void)
{
	return (unsigned long)(user_stack + sizeof(user_stack));
}
