/*
 * SHL SHR SAR (and SAL, the same opcode) by 1, CL and imm8, register and
 * memory, all sizes. Defined after a nonzero masked count: SF ZF PF; CF
 * when the count is below the operand size (for 8/16-bit operands larger
 * counts are possible and leave CF undefined); OF only for count 1. AF is
 * undefined. A zero masked count changes no flag.
 */
#include "shift.h"

const u8 shift_counts[] = {
	0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 0xff,
};
const int nr_shift_counts = ARRAY_SIZE(shift_counts);

void run_shift_forms(const struct shift_form *forms, int n, flag_rule rule)
{
	for (int f = 0; f < n; f++) {
		const struct shift_form *form = &forms[f];
		int nc = form->count < 0 ? nr_shift_counts : 1;

		for (int c = 0; c < nc; c++) {
			unsigned count = form->count < 0 ? shift_counts[c] : form->count;
			u64 mask = rule(form->bits, count);

			if (!mask)
				continue;
			for (int i = 0; i < nr_vals; i++)
				for (int k = 0; k < 2; k++) {
					u64 d = vals[i], fl = flag_inputs[k];

					form->fn(&d, count, &fl);
					fold(d);
					fold(fl & mask);
				}
		}
	}
}

static u64 shift_rule(int bits, unsigned count)
{
	unsigned mc = masked_count(bits, count);
	u64 mask = F_SF | F_ZF | F_PF;

	if (mc == 0)
		return F_ALL;
	if (mc < (unsigned)bits)
		mask |= F_CF;
	if (mc == 1)
		mask |= F_OF;
	return mask;
}

#define SHIFT_FAMILY(op)						\
	SH_CL(op##_cl8, #op, "b")					\
	SH_CL(op##_cl16, #op, "w")					\
	SH_CL(op##_cl32, #op, "k")					\
	SH_CL(op##_cl64, #op, "q")					\
	SH_1(op##_1_8, #op, "b")					\
	SH_1(op##_1_16, #op, "w")					\
	SH_1(op##_1_32, #op, "k")					\
	SH_1(op##_1_64, #op, "q")					\
	SH_I(op##_i8, #op, "b", 3)					\
	SH_I(op##_i16, #op, "w", 9)					\
	SH_I(op##_i32, #op, "k", 31)					\
	SH_I(op##_i64, #op, "q", 37)					\
	SH_I(op##_i64m, #op, "q", 0x41)					\
	SH_MCL(op##_mcl8, #op, "b")					\
	SH_MCL(op##_mcl32, #op, "l")					\
	SH_MCL(op##_mcl64, #op, "q")					\
	static const struct shift_form op##_forms[] = {		\
		{ op##_cl8, 8, -1 }, { op##_cl16, 16, -1 },		\
		{ op##_cl32, 32, -1 }, { op##_cl64, 64, -1 },		\
		{ op##_1_8, 8, 1 }, { op##_1_16, 16, 1 },		\
		{ op##_1_32, 32, 1 }, { op##_1_64, 64, 1 },		\
		{ op##_i8, 8, 3 }, { op##_i16, 16, 9 },			\
		{ op##_i32, 32, 31 }, { op##_i64, 64, 37 },		\
		{ op##_i64m, 64, 0x41 },				\
		{ op##_mcl8, 8, -1 }, { op##_mcl32, 32, -1 },		\
		{ op##_mcl64, 64, -1 },					\
	};

SHIFT_FAMILY(shl)
SHIFT_FAMILY(shr)
SHIFT_FAMILY(sar)
SH_CL(sal_cl32, "sal", "k")
static const struct shift_form sal_forms[] = { { sal_cl32, 32, -1 } };

void test_shift(void)
{
	family_begin("shift");
	run_shift_forms(shl_forms, ARRAY_SIZE(shl_forms), shift_rule);
	run_shift_forms(shr_forms, ARRAY_SIZE(shr_forms), shift_rule);
	run_shift_forms(sar_forms, ARRAY_SIZE(sar_forms), shift_rule);
	run_shift_forms(sal_forms, ARRAY_SIZE(sal_forms), shift_rule);
	family_end();
}

/* Known answers, including one from rotate.c and shld.c. */
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

void check_shift(void)
{
	report(ka(shl_1_8, 0x81, 1, FL_CLEAR, F_ALL & ~F_AF, 0x02, F_CF | F_OF),
	       "shl r8, 1: 0x81 -> 0x02, CF OF");
	report(ka(sar_cl16, 0x8000, 4, FL_CLEAR, F_CF | F_SF | F_ZF | F_PF,
		  0xf800, F_SF | F_PF),
	       "sar r16, cl=4: 0x8000 -> 0xf800");
	/* Count 0 leaves the flags, but the 32-bit register is still written. */
	report(ka(shr_cl32, 0xffffffff00000001ull, 32, FL_SET, F_ALL, 1, F_ALL),
	       "shr r32, cl=32: masked count 0 keeps flags, still zero-extends");
	report(ka(shl_i64m, 1, 0x41, FL_CLEAR, F_CF | F_SF | F_ZF | F_PF | F_OF, 2, 0),
	       "shl r64, 0x41: count masked to 1");
}
