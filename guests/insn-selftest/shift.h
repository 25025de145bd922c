/*
 * Shift and rotate generators. Counts come from CL, an imm8, or the
 * implicit 1 (D0/D1 encodings); every generated function is an op2_fn
 * whose s argument is the count (ignored by imm and by-1 forms, but the
 * runner still needs it to know which flags are defined).
 */
#ifndef SHIFT_H
#define SHIFT_H

#include "op2.h"

#define SH_CL(name, insn, m)						\
static void name(u64 *dp, u64 c, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN insn " %%cl, %" m "[d]" FLAGS_OUT		\
		     : [d] "+r"(d), [fl] "+r"(fl) : "c"(c) : "cc");	\
	*dp = d;							\
	*fp = fl;							\
}

#define SH_1(name, insn, m)						\
static void name(u64 *dp, u64 c, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN insn " %" m "[d]" FLAGS_OUT		\
		     : [d] "+r"(d), [fl] "+r"(fl) : : "cc");		\
	*dp = d;							\
	*fp = fl;							\
}

#define SH_I(name, insn, m, imm)					\
static void name(u64 *dp, u64 c, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN insn " $" #imm ", %" m "[d]" FLAGS_OUT	\
		     : [d] "+r"(d), [fl] "+r"(fl) : : "cc");		\
	*dp = d;							\
	*fp = fl;							\
}

/* memory destination, count in CL */
#define SH_MCL(name, insn, sfx)						\
static void name(u64 *dp, u64 c, u64 *fp)				\
{									\
	u64 fl = *fp;							\
	asm volatile(FLAGS_IN insn sfx " %%cl, (%[p])" FLAGS_OUT	\
		     : [fl] "+r"(fl) : [p] "r"(dp), "c"(c)		\
		     : "cc", "memory");					\
	*fp = fl;							\
}

/* A form and what the runner needs to know about it. */
struct shift_form {
	op2_fn fn;
	int bits;
	int count;		/* fixed count, or -1: count from CL */
};

/* Which flags are defined after the operation, given size and count. */
typedef u64 (*flag_rule)(int bits, unsigned count);

/* Counts the CL forms are run with (masking to 5/6 bits included). */
extern const u8 shift_counts[];
extern const int nr_shift_counts;

/*
 * Fold result and defined flags for every value, count and flag input.
 * A rule returning 0 marks the case as having an undefined result: it is
 * skipped entirely.
 */
void run_shift_forms(const struct shift_form *forms, int n, flag_rule rule);

static inline unsigned masked_count(int bits, unsigned count)
{
	return count & (bits == 64 ? 63 : 31);
}

#endif
