/*
 * BSF BSR (nonzero sources only: the destination is undefined for 0; only
 * ZF is defined), TZCNT LZCNT (CF = source was 0, ZF = result is 0, other
 * flags undefined; each guarded by its CPUID bit because without it the
 * F3 prefix is ignored and they run as BSF/BSR), POPCNT (all six flags
 * defined: ZF from the source, the rest cleared), BSWAP (32/64-bit; the
 * 16-bit form is undefined).
 */
#include "op2.h"

#define SCAN_FAMILY(op)							\
	OP2_RR(op##_r16, #op, "w")					\
	OP2_RR(op##_r32, #op, "k")					\
	OP2_RR(op##_r64, #op, "q")					\
	OP2_RM(op##_m16, #op, "w", "w")					\
	OP2_RM(op##_m32, #op, "k", "l")					\
	OP2_RM(op##_m64, #op, "q", "q")					\
	static const op2_fn op##_fns[] = {				\
		op##_r16, op##_r32, op##_r64,				\
		op##_m16, op##_m32, op##_m64,				\
	};								\
	static const int op##_bits[] = { 16, 32, 64, 16, 32, 64 };

SCAN_FAMILY(bsf)
SCAN_FAMILY(bsr)
SCAN_FAMILY(tzcnt)
SCAN_FAMILY(lzcnt)
SCAN_FAMILY(popcnt)

/*
 * Sources of every width; for BSF/BSR those with a zero low part for the
 * operand size are skipped.
 */
static void run_scan(const op2_fn *fns, const int *bits, int n, u64 mask,
		     bool nonzero_only)
{
	for (int f = 0; f < n; f++)
		for (int i = 0; i < nr_vals; i++)
			for (int j = 0; j < nr_vals; j++) {
				u64 d = vals[i], fl = flag_inputs[j & 1];

				if (nonzero_only && !zext(vals[j], bits[f]))
					continue;
				fns[f](&d, vals[j], &fl);
				fold(d);
				fold(fl & mask);
			}
}

static void bswap32(u64 *dp, u64 s, u64 *fp)
{
	u64 d = *dp;

	asm volatile("bswap %k0" : "+r"(d));
	*dp = d;
}

static void bswap64(u64 *dp, u64 s, u64 *fp)
{
	u64 d = *dp;

	asm volatile("bswap %q0" : "+r"(d));
	*dp = d;
}

static void skipped(const char *what)
{
	printf("insn-selftest: %s not supported by this CPU, not run\n", what);
	fold(0x5c1bbed);
}

void test_bitscan(void)
{
	static const op2_fn bswaps[] = { bswap32, bswap64 };

	family_begin("bitscan");
	run_scan(bsf_fns, bsf_bits, ARRAY_SIZE(bsf_fns), F_ZF, true);
	run_scan(bsr_fns, bsr_bits, ARRAY_SIZE(bsr_fns), F_ZF, true);
	if (has_bmi1())
		run_scan(tzcnt_fns, tzcnt_bits, ARRAY_SIZE(tzcnt_fns), F_CF | F_ZF, false);
	else
		skipped("tzcnt (BMI1)");
	if (has_lzcnt())
		run_scan(lzcnt_fns, lzcnt_bits, ARRAY_SIZE(lzcnt_fns), F_CF | F_ZF, false);
	else
		skipped("lzcnt (ABM)");
	if (has_popcnt())
		run_scan(popcnt_fns, popcnt_bits, ARRAY_SIZE(popcnt_fns), F_ALL, false);
	else
		skipped("popcnt");
	run_op2_imm(bswaps, ARRAY_SIZE(bswaps), 0);
	family_end();
}

void check_bitscan(void)
{
	u64 d, fl;

	d = ~0ull, fl = FL_SET;
	bsf_r16(&d, 0x8000ull << 16 | 0x0080, &fl);
	report(d == 0xffffffffffff0007ull && !(fl & F_ZF),
	       "bsf r16: lowest set bit 7, upper bits of the destination kept");
	d = 0, fl = FL_CLEAR;
	bsr_r64(&d, 0x0000100000000001ull, &fl);
	report(d == 44, "bsr r64: highest set bit 44");
	if (has_bmi1()) {
		d = 5, fl = FL_CLEAR;
		tzcnt_r32(&d, 0, &fl);
		report(d == 32 && (fl & F_CF) && !(fl & F_ZF),
		       "tzcnt r32 of 0: 32, CF=1 ZF=0");
	} else {
		report_skip("tzcnt r32 of 0 (no BMI1)");
	}
	if (has_lzcnt()) {
		d = 5, fl = FL_CLEAR;
		lzcnt_r64(&d, 1, &fl);
		report(d == 63 && !(fl & (F_CF | F_ZF)), "lzcnt r64 of 1: 63");
	} else {
		report_skip("lzcnt r64 of 1 (no LZCNT)");
	}
	if (has_popcnt()) {
		d = 0, fl = FL_SET;
		popcnt_r16(&d, 0xffff00ff, &fl);
		report(d == 8 && (fl & F_ALL) == 0, "popcnt r16: 8, all flags cleared");
	} else {
		report_skip("popcnt (no POPCNT)");
	}
	d = 0xaaaaaaaa11223344ull;
	bswap32(&d, 0, NULL);
	report(d == 0x44332211, "bswap r32: byte-reversed and zero-extended");
}
