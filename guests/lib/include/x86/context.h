/*
 * Library-internal: a saved kernel context (setjmp-like) and the arch hooks
 * that fault.c uses to resume it from an exception frame. Resuming goes
 * through the frame (iret) instead of a longjmp so that it also works when
 * the fault came from another privilege level or stack.
 */
#ifndef X86_CONTEXT_H
#define X86_CONTEXT_H

#include "x86/desc.h"

struct saved_context {
#ifdef __x86_64__
	unsigned long bx, bp, r12, r13, r14, r15;
#else
	unsigned long bx, bp, si, di;
#endif
	unsigned long sp;	/* stack pointer after save_context returns */
	unsigned long ip;	/* its return address */
	unsigned long flags;
	unsigned long cs, ss;
};

/* Returns 0 when called; returns 'value' again when resumed. */
unsigned long save_context(struct saved_context *ctx) __attribute__((returns_twice));

/* Make the iret in the exception exit path land in save_context's caller. */
void resume_context(struct ex_regs *regs, const struct saved_context *ctx,
		    unsigned long value);

/* iret to CPL3 at a trampoline that calls fn(arg) then int $USER_RET_VECTOR. */
void __attribute__((noreturn)) enter_user(void (*fn)(void *), void *arg,
					  unsigned long user_sp);
/* Undo what entering user mode did to the data segment registers. */
void restore_kernel_segments(void);
unsigned long user_stack_top(void);

#endif
