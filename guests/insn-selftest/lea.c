/*
 * LEA across the ModRM/SIB address forms: base only, base + disp8/disp32,
 * SIB with scale 1/2/4/8, index without base, the bases that need special
 * encodings (RSP/R12 need a SIB, RBP/R13 need a displacement), REX
 * registers, RIP-relative, a 32-bit address size (0x67: the address wraps
 * at 4 GiB and is zero-extended), and 16/32-bit operand sizes (the
 * address is truncated). Addresses are plain arithmetic here: no memory
 * is touched, so any register values work.
 */
#include "selftest.h"

typedef u64 (*lea_fn)(u64 b, u64 i);

#define LEA(name, addr, md)						\
static u64 name(u64 b, u64 i)						\
{									\
	u64 d = 0xeeeeeeeeeeeeeeeeull;					\
	asm volatile("lea " addr ", %" md "[d]"				\
		     : [d] "+r"(d) : [b] "r"(b), [i] "r"(i));		\
	return d;							\
}

LEA(lea_base, "(%[b])", "q")
LEA(lea_disp8, "-0x80(%[b])", "q")
LEA(lea_disp32, "0x12345678(%[b])", "q")
LEA(lea_sib1, "(%[b],%[i])", "q")
LEA(lea_sib2, "0x7f(%[b],%[i],2)", "q")
LEA(lea_sib4, "-0x1000(%[b],%[i],4)", "q")
LEA(lea_sib8, "0x7fffffff(%[b],%[i],8)", "q")
LEA(lea_noBase, "-0x80000000(,%[i],8)", "q")
LEA(lea_noBase1, "0x11(,%[i],1)", "q")
LEA(lea_32op, "0x10(%[b],%[i],4)", "k")
LEA(lea_16op, "-3(%[b],%[i],2)", "w")
LEA(lea_addr32, "0x10(%k[b],%k[i],4)", "q")
LEA(lea_addr32_op32, "-0x20(%k[b],%k[i],8)", "k")
LEA(lea_addr32_op16, "0x7ffe(%k[b])", "w")
LEA(lea_addr32_nobase, "0x40(,%k[i],2)", "q")

/* Specific base registers, bound with register variables. */
#define LEA_REG(name, reg, addr)					\
static u64 name(u64 b, u64 i)						\
{									\
	register u64 rb asm(reg) = b;					\
	u64 d;								\
	asm volatile("lea " addr ", %[d]"				\
		     : [d] "=r"(d) : [b] "r"(rb), [i] "r"(i));		\
	return d;							\
}
LEA_REG(lea_r12, "r12", "(%[b])")			/* needs SIB */
LEA_REG(lea_r13, "r13", "(%[b])")			/* needs disp8 = 0 */
LEA_REG(lea_r13_sib, "r13", "(%[b],%[i],4)")		/* SIB base 101 + disp8 */
LEA_REG(lea_r12_idx, "r12", "8(%[i],%[b],2)")		/* R12 as index is fine */

/* RSP as base (always with SIB): relative to RSP itself. */
static u64 lea_rsp(u64 b, u64 i)
{
	u64 d;

	asm volatile("lea 0x18(%%rsp,%[i],4), %[d]\n\tsub %%rsp, %[d]"
		     : [d] "=&r"(d) : [i] "r"(i & 0xffff));
	return d;
}

/* RIP-relative: the difference from the absolute address must be 0. */
static u64 lea_rip(u64 b, u64 i)
{
	u64 d, abs;

	asm volatile("lea 1f(%%rip), %[d]\n\t"
		     "1: mov $1b, %k[abs]\n\t"
		     "sub %[abs], %[d]"
		     : [d] "=&r"(d), [abs] "=&r"(abs));
	return d + b;
}

static const lea_fn lea_fns[] = {
	lea_base, lea_disp8, lea_disp32, lea_sib1, lea_sib2, lea_sib4, lea_sib8,
	lea_noBase, lea_noBase1, lea_32op, lea_16op, lea_addr32,
	lea_addr32_op32, lea_addr32_op16, lea_addr32_nobase,
	lea_r12, lea_r13, lea_r13_sib, lea_r12_idx, lea_rsp, lea_rip,
};

void test_lea(void)
{
	family_begin("lea");
	for (unsigned f = 0; f < ARRAY_SIZE(lea_fns); f++)
		for (int i = 0; i < nr_vals; i++)
			for (int j = 0; j < nr_vals; j++)
				fold(lea_fns[f](vals[i], vals[j]));
	family_end();
}

void check_lea(void)
{
	report(lea_sib8(0x1000, 3) == 0x1000ull + 24 + 0x7fffffff, "lea disp32(b,i,8)");
	report(lea_noBase(1, 0) == 0xffffffff80000000ull,
	       "lea disp32(,i,8): disp32 sign-extended, no base");
	report(lea_addr32(0xfffffffffffffff0ull, 8) == 0x20,
	       "lea with 0x67: 32-bit address wraps and is zero-extended");
	report(lea_16op(0xabcd0000000000ffull, 0x10) == 0xeeeeeeeeeeee011cull,
	       "lea r16: truncated, upper 48 bits of the destination kept");
	report(lea_r13(0x123, 0) == 0x123 && lea_r12(0x456, 0) == 0x456,
	       "lea (%%r13) and (%%r12) special encodings");
	report(lea_rip(0, 0) == 0, "lea rip-relative");
	report(lea_rsp(0, 2) == 0x20, "lea with rsp base");
}
