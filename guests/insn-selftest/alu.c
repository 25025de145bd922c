/*
 * ADD ADC SUB SBB AND OR XOR CMP TEST in every size and encoding.
 * Defined flags: all six for the arithmetic ones; for the logical ones
 * OF=CF=0, SF ZF PF from the result, AF undefined.
 */
#include "op2.h"

#define OP2_FAMILY(op)							\
	OP2_RR(op##_rr8, #op, "b")					\
	OP2_RR(op##_rr16, #op, "w")					\
	OP2_RR(op##_rr32, #op, "k")					\
	OP2_RR(op##_rr64, #op, "q")					\
	OP2_MR(op##_mr8, #op, "b", "b")					\
	OP2_MR(op##_mr16, #op, "w", "w")				\
	OP2_MR(op##_mr32, #op, "k", "l")				\
	OP2_MR(op##_mr64, #op, "q", "q")				\
	OP2_RM(op##_rm8, #op, "b", "b")					\
	OP2_RM(op##_rm16, #op, "w", "w")				\
	OP2_RM(op##_rm32, #op, "k", "l")				\
	OP2_RM(op##_rm64, #op, "q", "q")				\
	OP2_HH(op##_hh, #op, "h")					\
	OP2_HH(op##_bh, #op, "b")					\
	OP2_RI(op##_ri8, #op, "b", -3)					\
	OP2_RI(op##_ri16s, #op, "w", -3)				\
	OP2_RI(op##_ri32s, #op, "k", 0x7f)				\
	OP2_RI(op##_ri64s, #op, "q", -0x80)				\
	OP2_RI(op##_ri16, #op, "w", 0x1234)				\
	OP2_RI(op##_ri32, #op, "k", 0x87654321)				\
	OP2_RI(op##_ri64, #op, "q", -0x789abcdf)			\
	OP2_AI(op##_ai8, #op, "b", 0x9c)				\
	OP2_AI(op##_ai16, #op, "w", 0x8765)				\
	OP2_AI(op##_ai32, #op, "k", 0x80000001)				\
	OP2_AI(op##_ai64, #op, "q", 0x12345679)				\
	OP2_MI(op##_mi8, #op, "b", 0x5a)				\
	OP2_MI(op##_mi16, #op, "w", -2)					\
	OP2_MI(op##_mi32, #op, "l", 0x7fffffff)				\
	OP2_MI(op##_mi64, #op, "q", -0x80000000)			\
	static const op2_fn op##_reg[] = {				\
		op##_rr8, op##_rr16, op##_rr32, op##_rr64,		\
		op##_mr8, op##_mr16, op##_mr32, op##_mr64,		\
		op##_rm8, op##_rm16, op##_rm32, op##_rm64,		\
		op##_hh, op##_bh,					\
	};								\
	static const op2_fn op##_imm[] = {				\
		op##_ri8, op##_ri16s, op##_ri32s, op##_ri64s,		\
		op##_ri16, op##_ri32, op##_ri64,			\
		op##_ai8, op##_ai16, op##_ai32, op##_ai64,		\
		op##_mi8, op##_mi16, op##_mi32, op##_mi64,		\
	};

OP2_FAMILY(add)
OP2_FAMILY(adc)
OP2_FAMILY(sub)
OP2_FAMILY(sbb)
OP2_FAMILY(and)
OP2_FAMILY(or)
OP2_FAMILY(xor)
OP2_FAMILY(cmp)
OP2_FAMILY(test)

/* LOCK-prefixed read-modify-write forms (memory destination only). */
OP2_MR(lock_add64, "lock add", "q", "q")
OP2_MR(lock_adc32, "lock adc", "k", "l")
OP2_MR(lock_sub16, "lock sub", "w", "w")
OP2_MR(lock_sbb8, "lock sbb", "b", "b")
OP2_MR(lock_and32, "lock and", "k", "l")
OP2_MR(lock_or64, "lock or", "q", "q")
OP2_MR(lock_xor8, "lock xor", "b", "b")
OP2_MI(lock_addi16, "lock add", "w", 0x1111)
static const op2_fn lock_arith[] = {
	lock_add64, lock_adc32, lock_sub16, lock_sbb8, lock_addi16,
};
static const op2_fn lock_logic[] = { lock_and32, lock_or64, lock_xor8 };

void run_op2(const op2_fn *fns, int n, u64 mask)
{
	for (int f = 0; f < n; f++)
		for (int i = 0; i < nr_vals; i++)
			for (int j = 0; j < nr_vals; j++)
				for (int k = 0; k < 2; k++) {
					u64 d = vals[i], fl = flag_inputs[k];

					fns[f](&d, vals[j], &fl);
					fold(d);
					fold(fl & mask);
				}
}

void run_op2_imm(const op2_fn *fns, int n, u64 mask)
{
	for (int f = 0; f < n; f++)
		for (int i = 0; i < nr_vals; i++)
			for (int k = 0; k < 2; k++) {
				u64 d = vals[i], fl = flag_inputs[k];

				fns[f](&d, 0, &fl);
				fold(d);
				fold(fl & mask);
			}
}

#define RUN(op, mask)							\
	do {								\
		run_op2(op##_reg, ARRAY_SIZE(op##_reg), mask);		\
		run_op2_imm(op##_imm, ARRAY_SIZE(op##_imm), mask);	\
	} while (0)

void test_alu(void)
{
	family_begin("alu");
	RUN(add, F_ALL);
	RUN(adc, F_ALL);
	RUN(sub, F_ALL);
	RUN(sbb, F_ALL);
	RUN(cmp, F_ALL);
	RUN(and, F_LOGIC);
	RUN(or, F_LOGIC);
	RUN(xor, F_LOGIC);
	RUN(test, F_LOGIC);
	run_op2(lock_arith, ARRAY_SIZE(lock_arith), F_ALL);
	run_op2(lock_logic, ARRAY_SIZE(lock_logic), F_LOGIC);
	family_end();
}

/* One known answer: d op= s from flags fin; compare value and masked flags. */
static bool ka(op2_fn fn, u64 d, u64 s, u64 fin, u64 mask, u64 want, u64 want_fl)
{
	u64 fl = fin;

	fn(&d, s, &fl);
	if (d != want || (fl & mask) != want_fl) {
		printf("  got %016lx flags %03lx, want %016lx flags %03lx\n",
		       (unsigned long)d, (unsigned long)(fl & mask),
		       (unsigned long)want, (unsigned long)want_fl);
		return false;
	}
	return true;
}

void check_alu(void)
{
	report(ka(add_rr8, 0x7f, 1, FL_CLEAR, F_ALL, 0x80, F_OF | F_SF | F_AF),
	       "add r8: 0x7f + 1 = 0x80, OF SF AF");
	report(ka(sub_rr32, 0xdeadbeef00000000ull, 1, FL_CLEAR, F_ALL,
		  0xffffffff, F_CF | F_SF | F_AF | F_PF),
	       "sub r32: 0 - 1 = 0xffffffff zero-extended, CF SF AF PF");
	report(ka(adc_rr64, ~0ull, 0, FL_SET, F_ALL, 0, F_CF | F_ZF | F_AF | F_PF),
	       "adc r64: ~0 + 0 + CF = 0, CF ZF AF PF");
	report(ka(sbb_ai16, 0x1111222233338765ull, 0, FL_SET, F_ALL,
		  0x111122223333ffffull, F_CF | F_SF | F_AF | F_PF),
	       "sbb ax, imm16: 0x8765 - 0x8765 - CF = 0xffff, upper bits kept");
	report(ka(and_rr16, 0xdeadbeefcafebabeull, 0x0ff0, FL_SET, F_LOGIC,
		  0xdeadbeefcafe0ab0ull, 0),
	       "and r16: keeps bits 63:16, clears OF CF");
	report(ka(xor_hh, 0x1234, 0x1200, FL_CLEAR, F_LOGIC, 0x0034, F_ZF | F_PF),
	       "xor ah, bh: 0x12 ^ 0x12 = 0, ZF PF");
	report(ka(cmp_ri64, 5, 0, FL_CLEAR, F_ALL, 5, F_CF | F_PF),
	       "cmp r64, -0x789abcdf: unsigned below, CF");
	report(ka(or_mi64, 0, 0, FL_CLEAR, F_LOGIC, 0xffffffff80000000ull, F_SF | F_PF),
	       "or m64, imm32: sign-extended immediate");
}
