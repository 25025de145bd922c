/*
 * Instructions that move flags around: LAHF/SAHF (in 64-bit mode only
 * with CPUID.80000001H:ECX.LAHF-SAHF), CLC STC CMC, CLD STD (DF read back
 * with pushf), PUSHF/POPF round trips of the status flags.
 */
#include "selftest.h"

static u64 lahf(u64 fl, u64 rax)
{
	asm volatile("push %[fl]\n\tpopf\n\tlahf"
		     : "+a"(rax) : [fl] "r"(fl) : "cc");
	return rax;
}

static u64 sahf(u64 fl, u64 ah)
{
	asm volatile("push %[fl]\n\tpopf\n\tsahf\n\tpushf\n\tpop %[fl]"
		     : [fl] "+r"(fl) : "a"(ah << 8) : "cc");
	return fl;
}

#define FLAG_INSN(name, insn)						\
static u64 name(u64 fl)							\
{									\
	asm volatile("push %[fl]\n\tpopf\n\t" insn "\n\tpushf\n\tpop %[fl]" \
		     : [fl] "+r"(fl) : : "cc");				\
	return fl;							\
}
FLAG_INSN(clc, "clc")
FLAG_INSN(stc, "stc")
FLAG_INSN(cmc, "cmc")
/* DF must be clear again before C code runs: read it, then cld. */
static u64 std_read(void)
{
	u64 fl;

	asm volatile("std\n\tpushf\n\tpop %0\n\tcld" : "=r"(fl) : : "cc");
	return fl;
}

static u64 cld_read(void)
{
	u64 fl;

	asm volatile("std\n\tcld\n\tpushf\n\tpop %0" : "=r"(fl) : : "cc");
	return fl;
}

/* Flag pattern over all six status flags, p in 0..63. */
static u64 pattern6(int p)
{
	static const u64 bits[6] = { F_CF, F_PF, F_AF, F_ZF, F_SF, F_OF };
	u64 fl = FL_CLEAR;

	for (int i = 0; i < 6; i++)
		if (p & (1 << i))
			fl |= bits[i];
	return fl;
}

void test_flagops(void)
{
	family_begin("flagops");
	for (int p = 0; p < 64; p++) {
		u64 fl = pattern6(p);

		fold(clc(fl) & F_ALL);
		fold(stc(fl) & F_ALL);
		fold(cmc(fl) & F_ALL);
		if (has_lahf_lm())
			fold(lahf(fl, 0xfedcba9876543210ull));
	}
	if (has_lahf_lm()) {
		for (int ah = 0; ah < 256; ah++) {
			fold(sahf(FL_CLEAR, ah) & F_ALL);
			fold(sahf(FL_SET, ah) & F_ALL);
		}
	} else {
		printf("insn-selftest: lahf/sahf not supported by this CPU, not run\n");
	}
	fold(std_read() & F_DF);
	fold(cld_read() & F_DF);
	family_end();
}

void check_flagops(void)
{
	u64 fl;

	if (has_lahf_lm()) {
		report(lahf(FL_SET, 0x1111111111111111ull) == 0x111111111111d711ull,
		       "lahf: AH = SF ZF 0 AF 0 PF 1 CF, rest of RAX kept");
		fl = sahf(FL_SET, 0);
		report((fl & F_ALL) == F_OF, "sahf: clears CF PF AF ZF SF, OF kept");
	} else {
		report_skip("lahf/sahf (no LAHF-SAHF in 64-bit mode)");
	}
	report((cmc(FL_SET) & F_ALL) == (F_ALL & ~F_CF) &&
	       (stc(FL_CLEAR) & F_ALL) == F_CF && (clc(FL_SET) & F_CF) == 0,
	       "cmc/stc/clc change only CF");
	report((std_read() & F_DF) && !(cld_read() & F_DF), "std sets DF, cld clears it");
}
