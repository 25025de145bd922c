/*
 * ROL ROR RCL RCR by 1, CL and imm8, all sizes. Rotates touch only CF and
 * OF (SF ZF AF PF are preserved, hence folded); OF is defined only for a
 * masked count of 1, and a masked count of 0 changes nothing. For 8/16-bit
 * operands a masked count >= the operand size is reduced modulo size
 * (size + 1 for RCL/RCR); the CF/OF outcome of that corner differs between
 * descriptions, so there only the result and the preserved flags are folded.
 */
#include "shift.h"

static u64 rotate_rule(int bits, unsigned count)
{
	unsigned mc = masked_count(bits, count);
	u64 mask = F_SF | F_ZF | F_AF | F_PF;

	if (mc == 0)
		return F_ALL;
	if (mc >= (unsigned)bits)
		return mask;
	mask |= F_CF;
	if (mc == 1)
		mask |= F_OF;
	return mask;
}

#define ROTATE_FAMILY(op)						\
	SH_CL(op##_cl8, #op, "b")					\
	SH_CL(op##_cl16, #op, "w")					\
	SH_CL(op##_cl32, #op, "k")					\
	SH_CL(op##_cl64, #op, "q")					\
	SH_1(op##_1_8, #op, "b")					\
	SH_1(op##_1_16, #op, "w")					\
	SH_1(op##_1_32, #op, "k")					\
	SH_1(op##_1_64, #op, "q")					\
	SH_I(op##_i8, #op, "b", 5)					\
	SH_I(op##_i16, #op, "w", 12)					\
	SH_I(op##_i32, #op, "k", 4)					\
	SH_I(op##_i64, #op, "q", 60)					\
	SH_MCL(op##_mcl16, #op, "w")					\
	SH_MCL(op##_mcl64, #op, "q")					\
	static const struct shift_form op##_forms[] = {		\
		{ op##_cl8, 8, -1 }, { op##_cl16, 16, -1 },		\
		{ op##_cl32, 32, -1 }, { op##_cl64, 64, -1 },		\
		{ op##_1_8, 8, 1 }, { op##_1_16, 16, 1 },		\
		{ op##_1_32, 32, 1 }, { op##_1_64, 64, 1 },		\
		{ op##_i8, 8, 5 }, { op##_i16, 16, 12 },		\
		{ op##_i32, 32, 4 }, { op##_i64, 64, 60 },		\
		{ op##_mcl16, 16, -1 }, { op##_mcl64, 64, -1 },		\
	};

ROTATE_FAMILY(rol)
ROTATE_FAMILY(ror)
ROTATE_FAMILY(rcl)
ROTATE_FAMILY(rcr)

void test_rotate(void)
{
	family_begin("rotate");
	run_shift_forms(rol_forms, ARRAY_SIZE(rol_forms), rotate_rule);
	run_shift_forms(ror_forms, ARRAY_SIZE(ror_forms), rotate_rule);
	run_shift_forms(rcl_forms, ARRAY_SIZE(rcl_forms), rotate_rule);
	run_shift_forms(rcr_forms, ARRAY_SIZE(rcr_forms), rotate_rule);
	family_end();
}

static bool ka(op2_fn fn, u64 d, u64 count, u64 fin, u64 mask, u64 want, u64 want_fl)
{
	u64 fl = fin;

	fn(&d, count, &fl);
	if (d != want || (fl & mask) != want_fl) {
		printf("  got %016lx flags %03lx, want %016lx flags %03lx\n",
		       (unsigned long)d, (unsigned long)(fl & mask),
		       (unsigned long)want, (unsigned long)want_fl);
		return false;
	}
	return true;
}

void check_rotate(void)
{
	report(ka(rol_i32, 0x12345678, 4, FL_CLEAR, F_CF, 0x23456781, F_CF),
	       "rol r32, 4: 0x12345678 -> 0x23456781, CF = bit 0");
	report(ka(rcr_1_64, 2, 1, FL_SET, F_CF | F_OF, 0x8000000000000001ull, F_OF),
	       "rcr r64, 1 with CF=1: 2 -> 0x8000000000000001, CF=0 OF=1");
	report(ka(rcl_cl8, 0x80, 1, FL_CLEAR, F_ALL, 0x00, F_CF | F_OF),
	       "rcl r8, cl=1: 0x80 -> 0 with CF=1, OF=1, other flags kept");
	report(ka(ror_cl16, 0xabcd0001, 4, FL_CLEAR, F_CF | F_SF | F_ZF | F_PF,
		  0xabcd1000, 0),
	       "ror r16, cl=4: 0x0001 -> 0x1000, upper bits kept");
}
