/*
 * The 16 condition codes through SETcc (register and memory), CMOVcc
 * (16/32/64-bit, register and memory source) and Jcc (rel8 and rel32),
 * on all 32 combinations of CF PF ZF SF OF. No flag is changed by these.
 * A 32-bit CMOVcc writes (zero-extends) its destination even when the
 * condition is false; the 16-bit one leaves it alone.
 */
#include "selftest.h"

struct cond_fns {
	const char *name;
	u64 (*set_r)(u64 fl);
	u64 (*set_m)(u64 fl);
	u64 (*cmov16)(u64 fl, u64 d, u64 s);
	u64 (*cmov32)(u64 fl, u64 d, u64 s);
	u64 (*cmov64)(u64 fl, u64 d, u64 s);
	u64 (*cmov64_m)(u64 fl, u64 d, u64 s);
	u64 (*jcc8)(u64 fl);
	u64 (*jcc32)(u64 fl);
};

#define SET_IN "push %[fl]\n\tpopf\n\t"

#define COND(cc)							\
static u64 set_r_##cc(u64 fl)						\
{									\
	u64 r = 0x123456789abcde55ull;					\
	asm volatile(SET_IN "set" #cc " %b[r]"				\
		     : [r] "+r"(r) : [fl] "r"(fl) : "cc");		\
	return r;							\
}									\
static u64 set_m_##cc(u64 fl)						\
{									\
	u8 m[3] = { 0xaa, 0xaa, 0xaa };					\
	asm volatile(SET_IN "set" #cc " 1(%[p])"				\
		     : : [fl] "r"(fl), [p] "r"(m) : "cc", "memory");	\
	return m[0] | m[1] << 8 | m[2] << 16;				\
}									\
static u64 cmov16_##cc(u64 fl, u64 d, u64 s)				\
{									\
	asm volatile(SET_IN "cmov" #cc " %w[s], %w[d]"			\
		     : [d] "+r"(d) : [s] "r"(s), [fl] "r"(fl) : "cc");	\
	return d;							\
}									\
static u64 cmov32_##cc(u64 fl, u64 d, u64 s)				\
{									\
	asm volatile(SET_IN "cmov" #cc " %k[s], %k[d]"			\
		     : [d] "+r"(d) : [s] "r"(s), [fl] "r"(fl) : "cc");	\
	return d;							\
}									\
static u64 cmov64_##cc(u64 fl, u64 d, u64 s)				\
{									\
	asm volatile(SET_IN "cmov" #cc " %q[s], %q[d]"			\
		     : [d] "+r"(d) : [s] "r"(s), [fl] "r"(fl) : "cc");	\
	return d;							\
}									\
static u64 cmov64_m_##cc(u64 fl, u64 d, u64 s)				\
{									\
	asm volatile(SET_IN "cmov" #cc "q (%[p]), %q[d]"			\
		     : [d] "+r"(d) : [p] "r"(&s), [fl] "r"(fl)		\
		     : "cc", "memory");					\
	return d;							\
}									\
static u64 jcc8_##cc(u64 fl)						\
{									\
	u64 r;								\
	asm volatile(SET_IN "j" #cc " 1f\n\t"				\
		     "mov $0x10, %k[r]\n\t"				\
		     "jmp 2f\n"						\
		     "1:\tmov $0x11, %k[r]\n"				\
		     "2:"						\
		     : [r] "=r"(r) : [fl] "r"(fl) : "cc");		\
	return r;							\
}									\
static u64 jcc32_##cc(u64 fl)						\
{									\
	u64 r;								\
	asm volatile(SET_IN "%{disp32%} j" #cc " 1f\n\t"			\
		     "mov $0x20, %k[r]\n\t"				\
		     "jmp 2f\n"						\
		     "1:\tmov $0x21, %k[r]\n"				\
		     "2:"						\
		     : [r] "=r"(r) : [fl] "r"(fl) : "cc");		\
	return r;							\
}

#define ENTRY(cc) { #cc, set_r_##cc, set_m_##cc, cmov16_##cc, cmov32_##cc, \
		    cmov64_##cc, cmov64_m_##cc, jcc8_##cc, jcc32_##cc }

COND(o) COND(no) COND(b) COND(ae) COND(e) COND(ne) COND(be) COND(a)
COND(s) COND(ns) COND(p) COND(np) COND(l) COND(ge) COND(le) COND(g)

/* In encoding order: condition code n is entry n (0x70 + n, 0x0f 0x90 + n). */
static const struct cond_fns conds[16] = {
	ENTRY(o), ENTRY(no), ENTRY(b), ENTRY(ae), ENTRY(e), ENTRY(ne),
	ENTRY(be), ENTRY(a), ENTRY(s), ENTRY(ns), ENTRY(p), ENTRY(np),
	ENTRY(l), ENTRY(ge), ENTRY(le), ENTRY(g),
};

/* Flag pattern p (0..31) -> RFLAGS with CF PF ZF SF OF from its bits. */
static u64 pattern(int p)
{
	return FL_CLEAR | (p & 1 ? F_CF : 0) | (p & 2 ? F_PF : 0) |
	       (p & 4 ? F_ZF : 0) | (p & 8 ? F_SF : 0) | (p & 16 ? F_OF : 0);
}

/* The SDM's definition of condition code n, for the known-answer check. */
static bool cond_holds(int n, u64 fl)
{
	bool cf = fl & F_CF, pf = fl & F_PF, zf = fl & F_ZF;
	bool sf = fl & F_SF, of = fl & F_OF, r;

	switch (n >> 1) {
	case 0: r = of; break;
	case 1: r = cf; break;
	case 2: r = zf; break;
	case 3: r = cf || zf; break;
	case 4: r = sf; break;
	case 5: r = pf; break;
	case 6: r = sf != of; break;
	default: r = zf || sf != of; break;
	}
	return n & 1 ? !r : r;
}

static const u64 cmov_d = 0xdddddddddddddddd, cmov_s = 0x5555555555555555;

void test_cond(void)
{
	family_begin("cond");
	for (int n = 0; n < 16; n++)
		for (int p = 0; p < 32; p++) {
			const struct cond_fns *c = &conds[n];
			u64 fl = pattern(p);

			fold(c->set_r(fl));
			fold(c->set_m(fl));
			fold(c->cmov16(fl, cmov_d, cmov_s));
			fold(c->cmov32(fl, cmov_d, cmov_s));
			fold(c->cmov64(fl, cmov_d, cmov_s));
			fold(c->cmov64_m(fl, cmov_d, cmov_s));
			fold(c->jcc8(fl));
			fold(c->jcc32(fl));
		}
	family_end();
}

/* Every condition on every pattern against cond_holds(): exact checks. */
void check_cond(void)
{
	int bad_set = 0, bad_cmov = 0, bad_jcc = 0;

	for (int n = 0; n < 16; n++)
		for (int p = 0; p < 32; p++) {
			const struct cond_fns *c = &conds[n];
			u64 fl = pattern(p);
			bool t = cond_holds(n, fl);

			if (c->set_r(fl) != (0x123456789abcde00ull | t) ||
			    c->set_m(fl) != (0xaa00aaull | (u64)t << 8))
				bad_set++;
			if (c->cmov16(fl, cmov_d, cmov_s) !=
			    (t ? 0xdddddddddddd5555ull : cmov_d) ||
			    c->cmov32(fl, cmov_d, cmov_s) !=
			    (t ? 0x55555555ull : 0xddddddddull) ||
			    c->cmov64(fl, cmov_d, cmov_s) != (t ? cmov_s : cmov_d) ||
			    c->cmov64_m(fl, cmov_d, cmov_s) != (t ? cmov_s : cmov_d))
				bad_cmov++;
			if (c->jcc8(fl) != (0x10u | t) || c->jcc32(fl) != (0x20u | t))
				bad_jcc++;
		}
	report(!bad_set, "setcc: 16 conditions x 32 flag patterns (%d wrong)", bad_set);
	report(!bad_cmov, "cmovcc: 16 conditions x 32 flag patterns, 32-bit always "
	       "zero-extends (%d wrong)", bad_cmov);
	report(!bad_jcc, "jcc rel8/rel32: 16 conditions x 32 flag patterns (%d wrong)",
	       bad_jcc);
}
