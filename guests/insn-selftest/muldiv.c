/*
 * MUL, IMUL (one, two and three operands), DIV, IDIV, all sizes, register
 * and memory sources. After multiplies only CF and OF are defined; after
 * divides no flag is. Divide inputs are chosen in C so that the quotient
 * fits (no #DE here: exceptions.c tests that).
 */
#include "op2.h"

/* rax:rdx in/out, s the explicit operand, flags in/out. */
typedef void (*acc_fn)(u64 *a, u64 *d, u64 s, u64 *fl);

#define ACC_R(name, insn, m)						\
static void name(u64 *a, u64 *d, u64 s, u64 *fp)			\
{									\
	u64 fl = *fp;							\
	asm volatile(FLAGS_IN insn " %" m "[s]" FLAGS_OUT		\
		     : "+a"(*a), "+d"(*d), [fl] "+r"(fl) : [s] "r"(s) : "cc"); \
	*fp = fl;							\
}

#define ACC_M(name, insn, sfx)						\
static void name(u64 *a, u64 *d, u64 s, u64 *fp)			\
{									\
	u64 fl = *fp, src = s;						\
	asm volatile(FLAGS_IN insn sfx " (%[p])" FLAGS_OUT		\
		     : "+a"(*a), "+d"(*d), [fl] "+r"(fl) : [p] "r"(&src)	\
		     : "cc", "memory");					\
	*fp = fl;							\
}

#define ACC_FAMILY(op)							\
	ACC_R(op##_r8, #op, "b")					\
	ACC_R(op##_r16, #op, "w")					\
	ACC_R(op##_r32, #op, "k")					\
	ACC_R(op##_r64, #op, "q")					\
	ACC_M(op##_m8, #op, "b")					\
	ACC_M(op##_m16, #op, "w")					\
	ACC_M(op##_m32, #op, "l")					\
	ACC_M(op##_m64, #op, "q")					\
	static const acc_fn op##_fns[2][4] = {				\
		{ op##_r8, op##_r16, op##_r32, op##_r64 },		\
		{ op##_m8, op##_m16, op##_m32, op##_m64 },		\
	};

ACC_FAMILY(mul)
ACC_FAMILY(imul)
ACC_FAMILY(div)
ACC_FAMILY(idiv)

/* Two- and three-operand IMUL (0F AF, 6B ib, 69 iz). */
OP2_RR(imul2_r16, "imul", "w")
OP2_RR(imul2_r32, "imul", "k")
OP2_RR(imul2_r64, "imul", "q")
OP2_RM(imul2_m32, "imul", "k", "l")
OP2_RM(imul2_m64, "imul", "q", "q")

#define IMUL3(name, m, imm)						\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN "imul $" #imm ", %" m "[s], %" m "[d]" FLAGS_OUT \
		     : [d] "+r"(d), [fl] "+r"(fl) : [s] "r"(s) : "cc");	\
	*dp = d;							\
	*fp = fl;							\
}
IMUL3(imul3_i8_16, "w", -7)
IMUL3(imul3_i8_32, "k", 0x7f)
IMUL3(imul3_i8_64, "q", -128)
IMUL3(imul3_i32_16, "w", 0x1234)
IMUL3(imul3_i32_32, "k", -0x12345678)
IMUL3(imul3_i32_64, "q", 0x7fffffff)

static const op2_fn imul_multi[] = {
	imul2_r16, imul2_r32, imul2_r64, imul2_m32, imul2_m64,
	imul3_i8_16, imul3_i8_32, imul3_i8_64,
	imul3_i32_16, imul3_i32_32, imul3_i32_64,
};

static void run_mul(const acc_fn fns[2][4])
{
	for (int form = 0; form < 2; form++)
		for (int sz = 0; sz < 4; sz++)
			for (int i = 0; i < nr_vals; i++)
				for (int j = 0; j < nr_vals; j++) {
					u64 a = vals[i], d = vals[nr_vals - 1 - j];
					u64 fl = flag_inputs[(i + j) & 1];

					fns[form][sz](&a, &d, vals[j], &fl);
					fold(a);
					fold(d);
					fold(fl & (F_CF | F_OF));
				}
}

/* Reduce the high half of the dividend so that the quotient fits. */
static void fit_unsigned(int bits, u64 *a, u64 *d, u64 s)
{
	u64 div = zext(s, bits);

	if (bits == 8) {
		u64 ah = (*a >> 8) & 0xff;
		*a = (*a & ~0xff00ull) | (ah % div) << 8;
	} else {
		*d = (*d & ~zext(~0ull, bits)) | (zext(*d, bits) % div);
	}
}

static s64 sext(u64 v, int bits)
{
	return bits == 64 ? (s64)v : (s64)(v << (64 - bits)) >> (64 - bits);
}

/*
 * Signed: for 8/16/32-bit the dividend fits in an s64, so the quotient is
 * checked in C. For 64-bit the dividend is the sign extension of RAX (as
 * after CQO), which always fits except INT64_MIN / -1.
 */
static bool fit_signed(int bits, u64 *a, u64 *d, u64 s)
{
	s64 div = sext(s, bits), dividend, q, lim = 1ll << (bits - 1);

	if (div == 0)
		return false;
	if (bits == 64) {
		*d = (s64)*a < 0 ? ~0ull : 0;
		return !(*a == 0x8000000000000000ull && div == -1);
	}
	if (bits == 8)
		dividend = sext(*a, 16);
	else
		dividend = sext(zext(*d, bits) << bits | zext(*a, bits), 2 * bits);
	if (dividend == INT64_MIN && div == -1)
		return false;
	q = dividend / div;
	return q >= -lim && q < lim;
}

static void run_div(const acc_fn fns[2][4], bool is_signed)
{
	for (int form = 0; form < 2; form++)
		for (int sz = 0; sz < 4; sz++)
			for (int i = 0; i < nr_vals; i++)
				for (int j = 0; j < nr_vals; j++) {
					int bits = size_bits[sz];
					u64 a = vals[i], d = vals[(i * 7 + j) % nr_vals];
					u64 s = vals[j], fl = FL_CLEAR;

					if (!zext(s, bits))
						continue;
					if (is_signed) {
						if (!fit_signed(bits, &a, &d, s))
							continue;
					} else {
						fit_unsigned(bits, &a, &d, s);
					}
					fns[form][sz](&a, &d, s, &fl);
					fold(a);
					fold(d);
				}
}

/*
 * 64-bit IDIV with a full 128-bit dividend: RDX:RAX = q * s + r built by
 * a 128-bit multiply (inline mul, no library call), |r| < |s| with the
 * sign of the product, so the quotient is exactly q.
 */
static void run_idiv128(void)
{
	static const s64 qs[] = { 3, -3, 0x7fffffff, -0x12345678, 1ll << 40, -(1ll << 62) };
	static const s64 ss[] = { 7, -7, 0x10001, -0x7fffffffffffll, 1ll << 20 };

	for (unsigned i = 0; i < ARRAY_SIZE(qs); i++)
		for (unsigned j = 0; j < ARRAY_SIZE(ss); j++) {
			__int128 prod = (__int128)qs[i] * ss[j];
			s64 r = (ss[j] > 0 ? ss[j] : -ss[j]) / 2;
			__int128 dividend = prod + (prod < 0 ? -r : r);
			u64 a = (u64)dividend, d = (u64)(dividend >> 64), fl = FL_CLEAR;

			idiv_r64(&a, &d, ss[j], &fl);
			fold(a);
			fold(d);
		}
}

void test_muldiv(void)
{
	family_begin("muldiv");
	run_mul(mul_fns);
	run_mul(imul_fns);
	run_op2(imul_multi, ARRAY_SIZE(imul_multi), F_CF | F_OF);
	run_div(div_fns, false);
	run_div(idiv_fns, true);
	run_idiv128();
	family_end();
}

void check_muldiv(void)
{
	u64 a, d, fl;

	a = ~0ull, d = 0, fl = FL_CLEAR;
	mul_r64(&a, &d, 2, &fl);
	report(a == ~1ull && d == 1 && (fl & (F_CF | F_OF)) == (F_CF | F_OF),
	       "mul r64: ~0 * 2 = 1:fffffffffffffffe, CF OF");

	a = 0x1234567800000080ull, d = 0xaaaa, fl = FL_CLEAR;
	imul_r8(&a, &d, 0xfe, &fl);
	report(a == 0x1234567800000100ull && d == 0xaaaa &&
	       (fl & (F_CF | F_OF)) == (F_CF | F_OF),
	       "imul r8: -128 * -2 = 256 (AX = 0x0100, DX untouched), CF OF");

	d = 0x1111, fl = FL_CLEAR;
	imul3_i32_32(&d, 3, &fl);
	report(d == (u32)(3 * -0x12345678) && (fl & (F_CF | F_OF)) == 0,
	       "imul r32, r32, imm32: 3 * -0x12345678, zero-extended");

	a = 0, d = 1, fl = FL_CLEAR;
	div_r32(&a, &d, 0x10, &fl);
	report(a == 0x10000000 && d == 0, "div r32: 0x100000000 / 0x10");

	a = 0xff9c, d = 0;
	idiv_r8(&a, &d, 7, &fl);
	report((a & 0xffff) == 0xfef2, "idiv r8: -100 / 7 = -14 rem -2 (AX = 0xfef2)");
}
