/*
 * Generators for two-operand integer instructions (dest op= src) in all
 * their encodings: reg,reg (00-3B /r), mem,reg and reg,mem, imm8 sign-
 * extended and imm16/32 (80/81/83 or F6/F7 for TEST), accumulator short
 * forms (04/05 ...), mem,imm, high-byte registers (AH..BH), and LOCK.
 *
 * Every generated function has the signature of op2_fn: *d is the 64-bit
 * register (or memory qword) holding the destination, s the source, and
 * *fl the RFLAGS value loaded before the instruction and read after it.
 * The operand-size modifier m is "b", "w", "k" or "q" (gcc's %b0 ...),
 * sfx the mnemonic suffix needed for memory operands.
 */
#ifndef OP2_H
#define OP2_H

#include "selftest.h"

typedef void (*op2_fn)(u64 *d, u64 s, u64 *fl);

#define FLAGS_IN  "push %[fl]\n\tpopf\n\t"
#define FLAGS_OUT "\n\tpushf\n\tpop %[fl]"

#define OP2_RR(name, insn, m)						\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN insn " %" m "[s], %" m "[d]" FLAGS_OUT	\
		     : [d] "+r"(d), [fl] "+r"(fl) : [s] "r"(s) : "cc");	\
	*dp = d;							\
	*fp = fl;							\
}

/* dest in memory: "insn reg, (mem)" */
#define OP2_MR(name, insn, m, sfx)					\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 fl = *fp;							\
	asm volatile(FLAGS_IN insn sfx " %" m "[s], (%[p])" FLAGS_OUT	\
		     : [fl] "+r"(fl) : [s] "r"(s), [p] "r"(dp)		\
		     : "cc", "memory");					\
	*fp = fl;							\
}

/* source in memory: "insn (mem), reg" */
#define OP2_RM(name, insn, m, sfx)					\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp, src = s;					\
	asm volatile(FLAGS_IN insn sfx " (%[p]), %" m "[d]" FLAGS_OUT	\
		     : [d] "+r"(d), [fl] "+r"(fl) : [p] "r"(&src)		\
		     : "cc", "memory");					\
	*dp = d;							\
	*fp = fl;							\
}

/* immediate source, any register: gas picks imm8 (83) when it fits */
#define OP2_RI(name, insn, m, imm)					\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN insn " $" #imm ", %" m "[d]" FLAGS_OUT	\
		     : [d] "+r"(d), [fl] "+r"(fl) : : "cc");		\
	*dp = d;							\
	*fp = fl;							\
}

/* accumulator short form (04/05, 0C/0D, ..., A8/A9) */
#define OP2_AI(name, insn, m, imm)					\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN insn " $" #imm ", %" m "[d]" FLAGS_OUT	\
		     : [d] "+a"(d), [fl] "+r"(fl) : : "cc");		\
	*dp = d;							\
	*fp = fl;							\
}

/* immediate to memory */
#define OP2_MI(name, insn, sfx, imm)					\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 fl = *fp;							\
	asm volatile(FLAGS_IN insn sfx " $" #imm ", (%[p])" FLAGS_OUT	\
		     : [fl] "+r"(fl) : [p] "r"(dp) : "cc", "memory");	\
	*fp = fl;							\
}

/* high-byte registers: "insn %bh, %ah" and "insn %bl, %ah" (no REX) */
#define OP2_HH(name, insn, ms)						\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN insn " %" ms "[s], %h[d]" FLAGS_OUT	\
		     : [d] "+Q"(d), [fl] "+r"(fl) : [s] "Q"(s) : "cc");	\
	*dp = d;							\
	*fp = fl;							\
}

/* The runners (alu.c): all sources x all destinations x both flag inputs. */
void run_op2(const op2_fn *fns, int n, u64 mask);
/* Immediate forms ignore s: all destinations x both flag inputs. */
void run_op2_imm(const op2_fn *fns, int n, u64 mask);

#endif
