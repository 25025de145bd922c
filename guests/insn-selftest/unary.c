/*
 * INC DEC NEG NOT, register and memory (and LOCK) forms, all sizes.
 * INC/DEC leave CF alone (so it is folded: it must survive), NOT leaves
 * every flag alone; NEG defines all six.
 */
#include "op2.h"

#define UNARY_R(name, insn, m)						\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN insn " %" m "[d]" FLAGS_OUT		\
		     : [d] "+r"(d), [fl] "+r"(fl) : : "cc");		\
	*dp = d;							\
	*fp = fl;							\
}

#define UNARY_M(name, insn, sfx)					\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 fl = *fp;							\
	asm volatile(FLAGS_IN insn sfx " (%[p])" FLAGS_OUT		\
		     : [fl] "+r"(fl) : [p] "r"(dp) : "cc", "memory");	\
	*fp = fl;							\
}

#define UNARY_FAMILY(op)						\
	UNARY_R(op##_r8, #op, "b")					\
	UNARY_R(op##_r16, #op, "w")					\
	UNARY_R(op##_r32, #op, "k")					\
	UNARY_R(op##_r64, #op, "q")					\
	UNARY_M(op##_m8, #op, "b")					\
	UNARY_M(op##_m16, #op, "w")					\
	UNARY_M(op##_m32, #op, "l")					\
	UNARY_M(op##_m64, #op, "q")					\
	UNARY_M(op##_lock_m32, "lock " #op, "l")			\
	UNARY_M(op##_lock_m8, "lock " #op, "b")				\
	static const op2_fn op##_fns[] = {				\
		op##_r8, op##_r16, op##_r32, op##_r64,			\
		op##_m8, op##_m16, op##_m32, op##_m64,			\
		op##_lock_m32, op##_lock_m8,				\
	};

UNARY_FAMILY(inc)
UNARY_FAMILY(dec)
UNARY_FAMILY(neg)
UNARY_FAMILY(not)

/* High-byte register forms (AH..BH: "Q" registers, no REX). */
#define UNARY_H(name, insn)						\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN insn " %h[d]" FLAGS_OUT			\
		     : [d] "+Q"(d), [fl] "+r"(fl) : : "cc");		\
	*dp = d;							\
	*fp = fl;							\
}
UNARY_H(inc_h, "inc")
UNARY_H(neg_h, "neg")
static const op2_fn high_fns[] = { inc_h, neg_h };

void test_unary(void)
{
	family_begin("unary");
	run_op2_imm(inc_fns, ARRAY_SIZE(inc_fns), F_ALL);
	run_op2_imm(dec_fns, ARRAY_SIZE(dec_fns), F_ALL);
	run_op2_imm(neg_fns, ARRAY_SIZE(neg_fns), F_ALL);
	run_op2_imm(not_fns, ARRAY_SIZE(not_fns), F_ALL);
	run_op2_imm(high_fns, ARRAY_SIZE(high_fns), F_ALL);
	family_end();
}

static bool ka(op2_fn fn, u64 d, u64 fin, u64 want, u64 want_fl)
{
	u64 fl = fin;

	fn(&d, 0, &fl);
	if (d != want || (fl & F_ALL) != want_fl) {
		printf("  got %016lx flags %03lx, want %016lx flags %03lx\n",
		       (unsigned long)d, (unsigned long)(fl & F_ALL),
		       (unsigned long)want, (unsigned long)want_fl);
		return false;
	}
	return true;
}

void check_unary(void)
{
	report(ka(inc_r8, 0x12ff, FL_SET, 0x1200, F_CF | F_ZF | F_AF | F_PF),
	       "inc r8: 0xff -> 0, CF preserved, ZF AF PF");
	report(ka(dec_m16, 0x8000, FL_CLEAR, 0x7fff, F_OF | F_AF | F_PF),
	       "dec m16: 0x8000 -> 0x7fff, OF AF PF, CF preserved clear");
	report(ka(neg_r32, 0xffffffff80000000ull, FL_CLEAR, 0x80000000,
		  F_CF | F_OF | F_SF | F_PF),
	       "neg r32: 0x80000000 stays, CF OF SF PF, zero-extended");
	report(ka(not_r64, 0x0123456789abcdefull, FL_SET, 0xfedcba9876543210ull, F_ALL),
	       "not r64: all bits flipped, flags untouched");
}
