/*
 * Exchanges and atomics: XCHG (register pairs, the 90+r accumulator
 * forms, 87 C0 = xchg eax,eax which zero-extends, memory), XADD (flags as
 * ADD), CMPXCHG (flags as CMP; equal and not-equal outcomes), CMPXCHG8B,
 * CMPXCHG16B (CPUID CX16; 16-byte aligned operand), with and without LOCK.
 *
 * For CMPXCHG with 32-bit operands only the low halves of RAX and of a
 * register destination are folded: which of them a 64-bit CPU writes (and
 * so zero-extends) in each outcome is where the SDM's pseudo-code and real
 * parts disagree (this AMD host leaves a register destination unwritten on
 * failure; the pseudo-code writes it back).
 */
#include "op2.h"

typedef void (*pair_fn)(u64 *x, u64 *y);

#define XCHG_RR(name, m)						\
static void name(u64 *x, u64 *y)					\
{									\
	asm volatile("xchg %" m "[a], %" m "[b]" : [a] "+r"(*x), [b] "+r"(*y)); \
}
#define XCHG_ACC(name, m)						\
static void name(u64 *x, u64 *y)					\
{									\
	asm volatile("xchg %" m "[b], %" m "[a]" : [a] "+a"(*x), [b] "+c"(*y)); \
}
#define XCHG_M(name, m)							\
static void name(u64 *x, u64 *y)					\
{									\
	asm volatile("xchg %" m "[a], (%[p])"				\
		     : [a] "+r"(*x) : [p] "r"(y) : "memory");		\
}

XCHG_RR(xchg8, "b")
XCHG_RR(xchg16, "w")
XCHG_RR(xchg32, "k")
XCHG_RR(xchg64, "q")
XCHG_ACC(xchg_acc16, "w")
XCHG_ACC(xchg_acc32, "k")
XCHG_ACC(xchg_acc64, "q")
XCHG_M(xchg_m8, "b")
XCHG_M(xchg_m16, "w")
XCHG_M(xchg_m32, "k")
XCHG_M(xchg_m64, "q")

static void xchg_hl(u64 *x, u64 *y)
{
	asm volatile("xchg %h[a], %b[b]" : [a] "+Q"(*x), [b] "+Q"(*y));
}

/* 87 C0: not the 90 NOP, so EAX is written and RAX zero-extended. */
static void xchg_eax_eax(u64 *x, u64 *y)
{
	asm volatile(".byte 0x87, 0xc0" : "+a"(*x));
}

/* 66 90: a NOP even though it reads like xchg ax,ax. */
static void xchg_ax_ax(u64 *x, u64 *y)
{
	asm volatile(".byte 0x66, 0x90" : "+a"(*x));
}

static const pair_fn xchg_fns[] = {
	xchg8, xchg16, xchg32, xchg64, xchg_acc16, xchg_acc32, xchg_acc64,
	xchg_m8, xchg_m16, xchg_m32, xchg_m64, xchg_hl, xchg_eax_eax, xchg_ax_ax,
};

/* XADD: d = d + s, s = old d. The op2 shape plus the source written back. */
#define XADD_RR(name, insn, m)						\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 d = *dp, fl = *fp;						\
	asm volatile(FLAGS_IN insn " %" m "[s], %" m "[d]" FLAGS_OUT	\
		     : [d] "+r"(d), [s] "+r"(s), [fl] "+r"(fl) : : "cc");	\
	*dp = d;							\
	*fp = fl;							\
	fold(s);							\
}
#define XADD_M(name, insn, m, sfx)					\
static void name(u64 *dp, u64 s, u64 *fp)				\
{									\
	u64 fl = *fp;							\
	asm volatile(FLAGS_IN insn sfx " %" m "[s], (%[p])" FLAGS_OUT	\
		     : [s] "+r"(s), [fl] "+r"(fl) : [p] "r"(dp)		\
		     : "cc", "memory");					\
	*fp = fl;							\
	fold(s);							\
}
XADD_RR(xadd8, "xadd", "b")
XADD_RR(xadd16, "xadd", "w")
XADD_RR(xadd32, "xadd", "k")
XADD_RR(xadd64, "xadd", "q")
XADD_M(xadd_m8, "xadd", "b", "b")
XADD_M(xadd_m32, "xadd", "k", "l")
XADD_M(lock_xadd_m16, "lock xadd", "w", "w")
XADD_M(lock_xadd_m64, "lock xadd", "q", "q")
static const op2_fn xadd_fns[] = {
	xadd8, xadd16, xadd32, xadd64, xadd_m8, xadd_m32, lock_xadd_m16, lock_xadd_m64,
};

/* CMPXCHG: accumulator a, destination d, source s. */
typedef void (*cx_fn)(u64 *a, u64 *d, u64 s, u64 *fl);

#define CX_R(name, m)							\
static void name(u64 *a, u64 *d, u64 s, u64 *fp)			\
{									\
	u64 fl = *fp;							\
	asm volatile(FLAGS_IN "cmpxchg %" m "[s], %" m "[d]" FLAGS_OUT	\
		     : "+a"(*a), [d] "+r"(*d), [fl] "+r"(fl) : [s] "r"(s)	\
		     : "cc");						\
	*fp = fl;							\
}
#define CX_M(name, insn, m, sfx)					\
static void name(u64 *a, u64 *d, u64 s, u64 *fp)			\
{									\
	u64 fl = *fp;							\
	asm volatile(FLAGS_IN insn sfx " %" m "[s], (%[p])" FLAGS_OUT	\
		     : "+a"(*a), [fl] "+r"(fl) : [s] "r"(s), [p] "r"(d)	\
		     : "cc", "memory");					\
	*fp = fl;							\
}
CX_R(cx8, "b")
CX_R(cx16, "w")
CX_R(cx32, "k")
CX_R(cx64, "q")
CX_M(cx_m8, "cmpxchg", "b", "b")
CX_M(cx_m16, "cmpxchg", "w", "w")
CX_M(cx_m32, "cmpxchg", "k", "l")
CX_M(cx_m64, "cmpxchg", "q", "q")
CX_M(lock_cx_m32, "lock cmpxchg", "k", "l")
CX_M(lock_cx_m64, "lock cmpxchg", "q", "q")

static const struct {
	cx_fn fn;
	int bits;
} cx_forms[] = {
	{ cx8, 8 }, { cx16, 16 }, { cx32, 32 }, { cx64, 64 },
	{ cx_m8, 8 }, { cx_m16, 16 }, { cx_m32, 32 }, { cx_m64, 64 },
	{ lock_cx_m32, 32 }, { lock_cx_m64, 64 },
};

static void run_cmpxchg(void)
{
	for (unsigned f = 0; f < ARRAY_SIZE(cx_forms); f++) {
		u64 keep = cx_forms[f].bits == 32 ? 0xffffffffull : ~0ull;

		for (int i = 0; i < nr_vals; i++)
			for (int j = 0; j < nr_vals; j++)
				for (int equal = 0; equal < 2; equal++) {
					u64 d = vals[i], s = vals[j], fl = flag_inputs[equal];
					/* Equal: accumulator = destination in the low bits. */
					u64 a = equal ? (vals[j] & ~zext(~0ull, cx_forms[f].bits)) |
							zext(d, cx_forms[f].bits)
						      : vals[nr_vals - 1 - i];

					cx_forms[f].fn(&a, &d, s, &fl);
					fold(a & keep);
					fold(d & keep);
					fold(fl & F_ALL);
				}
	}
}

/* CMPXCHG8B/16B on a 16-byte aligned cell. */
static u64 cell[2] __aligned(16);

static u64 cmpxchg8b(u64 *a, u64 *d, u64 b, u64 c, u64 fl)
{
	asm volatile(FLAGS_IN "cmpxchg8b (%[p])" FLAGS_OUT
		     : "+a"(*a), "+d"(*d), [fl] "+r"(fl)
		     : "b"(b), "c"(c), [p] "r"(cell) : "cc", "memory");
	return fl;
}

static u64 cmpxchg16b(u64 *a, u64 *d, u64 b, u64 c, u64 fl)
{
	asm volatile(FLAGS_IN "lock cmpxchg16b (%[p])" FLAGS_OUT
		     : "+a"(*a), "+d"(*d), [fl] "+r"(fl)
		     : "b"(b), "c"(c), [p] "r"(cell) : "cc", "memory");
	return fl;
}

static void run_cmpxchg_wide(void)
{
	for (int i = 0; i < nr_vals; i++)
		for (int equal = 0; equal < 2; equal++) {
			u64 a, d, fl;

			cell[0] = vals[i];
			cell[1] = vals[nr_vals - 1 - i];
			a = equal ? cell[0] : ~cell[0];
			d = cell[0] >> 32;
			fl = cmpxchg8b(&a, &d, 0x1111222233334444ull, 0x5555666677778888ull,
				       flag_inputs[i & 1]);
			/* EDX:EAX are 32-bit halves: upper halves as for CMPXCHG r32. */
			fold(a & 0xffffffff);
			fold(d & 0xffffffff);
			fold(fl & F_ALL);
			fold(cell[0]);
			if (!has_cx16())
				continue;
			a = cell[0];
			d = equal ? cell[1] : cell[1] ^ 1;
			fl = cmpxchg16b(&a, &d, vals[(i + 3) % nr_vals], vals[(i + 5) % nr_vals],
					flag_inputs[i & 1]);
			fold(a);
			fold(d);
			fold(fl & F_ALL);
			fold(cell[0]);
			fold(cell[1]);
		}
}

void test_xchg(void)
{
	family_begin("xchg");
	for (unsigned f = 0; f < ARRAY_SIZE(xchg_fns); f++)
		for (int i = 0; i < nr_vals; i++)
			for (int j = 0; j < nr_vals; j++) {
				u64 x = vals[i], y = vals[j];

				xchg_fns[f](&x, &y);
				fold(x);
				fold(y);
			}
	run_op2(xadd_fns, ARRAY_SIZE(xadd_fns), F_ALL);
	run_cmpxchg();
	run_cmpxchg_wide();
	if (!has_cx16())
		printf("insn-selftest: cmpxchg16b not supported by this CPU, not run\n");
	family_end();
}

void check_xchg(void)
{
	u64 x, y, a, d, fl;

	x = 0xffffffff00000001ull, y = 0xeeeeeeee00000002ull;
	xchg32(&x, &y);
	report(x == 2 && y == 1, "xchg r32, r32: both zero-extended");
	x = 0xffffffff12345678ull;
	xchg_eax_eax(&x, NULL);
	report(x == 0x12345678, "xchg eax, eax (87 c0) zero-extends RAX");
	x = 0xffffffff12345678ull;
	xchg_ax_ax(&x, NULL);
	report(x == 0xffffffff12345678ull, "66 90 is a NOP");

	d = 5, fl = FL_CLEAR;
	xadd64(&d, 0xfffffffffffffffbull, &fl);
	report(d == 0 && (fl & F_ALL) == (F_CF | F_ZF | F_AF | F_PF),
	       "xadd r64: 5 + -5 = 0, CF ZF AF PF");

	a = 7, d = 7, fl = FL_CLEAR;
	cx64(&a, &d, 9, &fl);
	report(a == 7 && d == 9 && (fl & F_ZF), "cmpxchg equal: destination = source, ZF");
	a = 7, d = 8, fl = FL_SET;
	cx_m64(&a, &d, 9, &fl);
	report(a == 8 && d == 8 && !(fl & F_ZF) && (fl & F_CF),
	       "cmpxchg not equal: accumulator = destination, flags of 7 - 8");

	cell[0] = 0x0000000200000001ull;
	a = 1, d = 2;
	fl = cmpxchg8b(&a, &d, 0xbbbb, 0xcccc, FL_CLEAR);
	report((fl & F_ZF) && cell[0] == 0x0000cccc0000bbbbull, "cmpxchg8b equal");
	if (has_cx16()) {
		cell[0] = 1, cell[1] = 2;
		a = 1, d = 3;
		fl = cmpxchg16b(&a, &d, 4, 5, FL_SET);
		report(!(fl & F_ZF) && a == 1 && d == 2 && cell[1] == 2,
		       "cmpxchg16b not equal: RDX:RAX loaded");
	} else {
		report_skip("cmpxchg16b (no CX16)");
	}
}
