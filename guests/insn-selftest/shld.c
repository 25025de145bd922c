/*
 * SHLD SHRD (16/32/64-bit, count in CL or imm8, register and memory
 * destination). The count is masked to 5 bits (6 for 64-bit); for 16-bit
 * operands a masked count above 16 leaves the result undefined, so only
 * counts below 16 are used there. Defined after a nonzero count: CF SF ZF
 * PF, and OF for count 1; AF undefined.
 */
#include "shift.h"

#define SHD_CL(name, insn, m)						\
static void name(u64 *dp, u64 c, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN insn " %%cl, %" m "[s], %" m "[d]" FLAGS_OUT \
		     : [d] "+r"(d), [fl] "+r"(fl)			\
		     : [s] "r"(0x0123456789abcdefull ^ d), "c"(c) : "cc"); \
	*dp = d;							\
	*fp = fl;							\
}

#define SHD_I(name, insn, m, imm)					\
static void name(u64 *dp, u64 c, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN insn " $" #imm ", %" m "[s], %" m "[d]" FLAGS_OUT \
		     : [d] "+r"(d), [fl] "+r"(fl)			\
		     : [s] "r"(0xfedcba9876543210ull - d) : "cc");	\
	*dp = d;							\
	*fp = fl;							\
}

#define SHD_MCL(name, insn, m, sfx)					\
static void name(u64 *dp, u64 c, u64 *fp)				\
{									\
	u64 fl = *fp;							\
	asm volatile(FLAGS_IN insn sfx " %%cl, %" m "[s], (%[p])" FLAGS_OUT \
		     : [fl] "+r"(fl)					\
		     : [s] "r"(~*dp), [p] "r"(dp), "c"(c)			\
		     : "cc", "memory");					\
	*fp = fl;							\
}

static u64 shd_rule(int bits, unsigned count)
{
	unsigned mc = masked_count(bits, count);
	u64 mask = F_CF | F_SF | F_ZF | F_PF;

	if (mc == 0)
		return F_ALL;
	if (bits == 16 && mc >= 16)
		return 0;	/* undefined result: skip */
	if (mc == 1)
		mask |= F_OF;
	return mask;
}

#define SHD_FAMILY(op)							\
	SHD_CL(op##_cl16, #op, "w")					\
	SHD_CL(op##_cl32, #op, "k")					\
	SHD_CL(op##_cl64, #op, "q")					\
	SHD_I(op##_i16, #op, "w", 7)					\
	SHD_I(op##_i32, #op, "k", 1)					\
	SHD_I(op##_i64, #op, "q", 44)					\
	SHD_MCL(op##_mcl32, #op, "k", "l")				\
	SHD_MCL(op##_mcl64, #op, "q", "q")				\
	static const struct shift_form op##_forms[] = {		\
		{ op##_cl16, 16, -1 }, { op##_cl32, 32, -1 },		\
		{ op##_cl64, 64, -1 },					\
		{ op##_i16, 16, 7 }, { op##_i32, 32, 1 },		\
		{ op##_i64, 64, 44 },					\
		{ op##_mcl32, 32, -1 }, { op##_mcl64, 64, -1 },		\
	};

SHD_FAMILY(shld)
SHD_FAMILY(shrd)

void test_shift_double(void)
{
	family_begin("shld");
	run_shift_forms(shld_forms, ARRAY_SIZE(shld_forms), shd_rule);
	run_shift_forms(shrd_forms, ARRAY_SIZE(shrd_forms), shd_rule);
	family_end();
}

void check_shift_double(void)
{
	u64 d = 0x11223344, fl = FL_CLEAR;
	bool ok;

	/* src = 0x0123456789abcdef ^ d: low 32 bits 0x98899eab */
	shld_cl32(&d, 8, &fl);
	ok = d == 0x22334498 && (fl & (F_CF | F_SF | F_ZF | F_PF)) == F_CF;
	report(ok, "shld r32, cl=8: 0x11223344:0x98.. -> 0x22334498, CF");

	d = 0xffff000000001234ull, fl = FL_CLEAR;
	/* src = 0xfedcba9876543210 - d = 0xfeddba9876541fdc */
	shrd_i16(&d, 7, &fl);
	ok = d == 0xffff00000000b824ull &&
	     (fl & (F_CF | F_SF | F_ZF | F_PF)) == (F_SF | F_PF);
	report(ok, "shrd r16, 7: 0x1234 -> 0xb824, upper bits kept, SF PF");
}
