/*
 * String instructions LODS STOS MOVS CMPS SCAS in all four sizes, single
 * and with REP / REPE / REPNE, forwards (DF=0) and backwards (DF=1), with
 * counts 0 (nothing happens, flags preserved), 1 and more. Folded: RSI and
 * RDI as offsets into the buffers, RCX, RAX, the status flags (CMPS/SCAS
 * set them like CMP; the others preserve them) and the destination buffer.
 */
#include "selftest.h"

#define BUF 256

static u8 src[BUF] __aligned(16), dst[BUF] __aligned(16);

struct str_state {
	u64 si, di, cx, ax, fl;
};

/* DF comes in with the flags; it is cleared again before returning to C. */
#define STR(name, insn)							\
static void name(struct str_state *s)					\
{									\
	asm volatile("push %[fl]\n\tpopf\n\t" insn "\n\tpushf\n\tpop %[fl]\n\tcld" \
		     : "+S"(s->si), "+D"(s->di), "+c"(s->cx), "+a"(s->ax),	\
		       [fl] "+r"(s->fl) : : "cc", "memory");		\
}

#define STR_SIZES(op, prefix, pname)					\
	STR(pname##op##b, prefix #op "b")				\
	STR(pname##op##w, prefix #op "w")				\
	STR(pname##op##l, prefix #op "l")				\
	STR(pname##op##q, prefix #op "q")

STR_SIZES(lods, "", )
STR_SIZES(lods, "rep ", rep_)
STR_SIZES(stos, "", )
STR_SIZES(stos, "rep ", rep_)
STR_SIZES(movs, "", )
STR_SIZES(movs, "rep ", rep_)
STR_SIZES(cmps, "", )
STR_SIZES(cmps, "repe ", repe_)
STR_SIZES(cmps, "repne ", repne_)
STR_SIZES(scas, "", )
STR_SIZES(scas, "repe ", repe_)
STR_SIZES(scas, "repne ", repne_)

#define FORMS(pname, op) pname##op##b, pname##op##w, pname##op##l, pname##op##q
static void (*const str_fns[])(struct str_state *) = {
	FORMS(, lods), FORMS(rep_, lods), FORMS(, stos), FORMS(rep_, stos),
	FORMS(, movs), FORMS(rep_, movs), FORMS(, cmps), FORMS(repe_, cmps),
	FORMS(repne_, cmps), FORMS(, scas), FORMS(repe_, scas), FORMS(repne_, scas),
};

/*
 * Buffer contents: "similar" makes dst equal to src except a few bytes (so
 * REPE runs a while), otherwise dst differs except a few bytes (so REPNE
 * does).
 */
static void fill(bool similar)
{
	for (int i = 0; i < BUF; i++) {
		src[i] = (u8)(i * 7 + 1);
		dst[i] = similar ? src[i] : (u8)~src[i];
	}
	for (int i = 5; i < BUF; i += 29)
		dst[i] = similar ? (u8)(src[i] + 1) : src[i];
}

static const u64 counts[] = { 0, 1, 5, 13 };

static void run_strings(void)
{
	for (unsigned f = 0; f < ARRAY_SIZE(str_fns); f++) {
		int size = 1 << (f % 4);

		for (int back = 0; back < 2; back++)
			for (int similar = 0; similar < 2; similar++)
				for (unsigned c = 0; c < ARRAY_SIZE(counts); c++) {
					int start = back ? 200 : 16;
					struct str_state s = {
						.si = (unsigned long)(src + start),
						.di = (unsigned long)(dst + start),
						.cx = counts[c],
						.fl = flag_inputs[c & 1] | (back ? F_DF : 0),
					};

					fill(similar);
					/* The element SCAS should find, a few steps away. */
					memcpy(&s.ax, dst + start + (back ? -3 : 3) * size, 8);
					s.ax ^= similar ? 0 : 0x5a5a5a5a5a5a5a5aull;
					str_fns[f](&s);
					fold(s.si - (unsigned long)src);
					fold(s.di - (unsigned long)dst);
					fold(s.cx);
					fold(s.ax);
					fold(s.fl & (F_ALL | F_DF));
					fold_buf(dst, BUF);
				}
	}
}

void test_string(void)
{
	family_begin("string");
	run_strings();
	family_end();
}

void check_string(void)
{
	struct str_state s;
	bool ok;

	fill(true);
	s = (struct str_state){ .si = (unsigned long)src, .di = (unsigned long)dst + 64,
				.cx = 3, .fl = FL_CLEAR };
	rep_movsq(&s);
	ok = !memcmp(dst + 64, src, 24) && s.cx == 0 &&
	     s.si == (unsigned long)src + 24 && s.di == (unsigned long)dst + 88;
	report(ok, "rep movsq forwards: 3 qwords, RCX = 0, pointers advanced");

	fill(true);
	s = (struct str_state){ .di = (unsigned long)dst + 99, .cx = 4, .ax = 0xee,
				.fl = FL_CLEAR | F_DF };
	rep_stosb(&s);
	ok = dst[96] == 0xee && dst[99] == 0xee && dst[95] == src[95] &&
	     s.di == (unsigned long)dst + 95;
	report(ok, "rep stosb backwards (DF=1): fills downwards");

	fill(true);		/* first difference at byte 5 */
	s = (struct str_state){ .si = (unsigned long)src, .di = (unsigned long)dst,
				.cx = 100, .fl = FL_CLEAR };
	repe_cmpsb(&s);
	report(s.cx == 94 && s.si == (unsigned long)src + 6 && !(s.fl & F_ZF),
	       "repe cmpsb stops after the first difference");

	fill(true);
	s = (struct str_state){ .di = (unsigned long)dst, .cx = 50,
				.ax = dst[10], .fl = FL_CLEAR };
	repne_scasb(&s);
	report(s.cx == 39 && s.di == (unsigned long)dst + 11 && (s.fl & F_ZF),
	       "repne scasb finds the byte");
}
