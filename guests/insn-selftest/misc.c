/*
 * The rest of what compiled code and hand-written stubs use: XLAT, LOOP
 * LOOPE LOOPNE JRCXZ (and JECXZ / LOOP with a 32-bit count via 0x67),
 * the multi-byte NOP forms gcc pads with (0F 1F /0 with prefixes), PAUSE,
 * ENDBR64, and the fences (no architectural effect; they must just run).
 */
#include "selftest.h"

static u8 xlat_table[256];

static void init_xlat(void)
{
	for (int i = 0; i < 256; i++)
		xlat_table[i] = (u8)(i * 13 + 7);
}

static u64 xlat(u64 rax)
{
	asm volatile("xlat" : "+a"(rax) : "b"(xlat_table) : "memory");
	return rax;
}

/* loop: counts RCX down to 0, so r counts iterations. */
static u64 loop_count(u64 n)
{
	u64 r = 0, c = n;

	asm volatile("jrcxz 2f\n"
		     "1:\tinc %[r]\n\t"
		     "loop 1b\n"
		     "2:"
		     : [r] "+r"(r), "+c"(c) : : "cc");
	return r << 32 | c;
}

/* loope continues while ZF=1: stops at the first nonzero element. */
static u64 loope_scan(const u8 *p, u64 n)
{
	u64 c = n;

	asm volatile("jrcxz 2f\n"
		     "1:\tcmpb $0, (%[p])\n\t"
		     "lea 1(%[p]), %[p]\n\t"
		     "loope 1b\n"
		     "2:"
		     : [p] "+r"(p), "+c"(c) : : "cc", "memory");
	return c;
}

static u64 loopne_scan(const u8 *p, u64 n)
{
	u64 c = n;

	asm volatile("jrcxz 2f\n"
		     "1:\tcmpb $0, (%[p])\n\t"
		     "lea 1(%[p]), %[p]\n\t"
		     "loopne 1b\n"
		     "2:"
		     : [p] "+r"(p), "+c"(c) : : "cc", "memory");
	return c;
}

/* With 0x67 the count is ECX: RCX's upper half is ignored by the test. */
static u64 jecxz_taken(u64 c)
{
	u64 r = 0;

	asm volatile("jecxz 1f\n\t"
		     "mov $1, %k[r]\n"
		     "1:"
		     : [r] "+r"(r) : "c"(c));
	return r;
}

static u64 nops(u64 v)
{
	asm volatile("nop\n\t"
		     ".byte 0x66, 0x90\n\t"				/* xchg ax,ax */
		     ".byte 0x0f, 0x1f, 0x00\n\t"			/* nopl (%rax) */
		     ".byte 0x0f, 0x1f, 0x40, 0x00\n\t"			/* nopl 0(%rax) */
		     ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t"		/* nopl 0(%rax,%rax) */
		     ".byte 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t"	/* nopw */
		     ".byte 0x0f, 0x1f, 0x80, 0, 0, 0, 0\n\t"		/* nopl disp32 */
		     ".byte 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0\n\t"
		     ".byte 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0\n\t" /* cs nopw */
		     ".byte 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0\n\t"
		     "pause\n\t"
		     "endbr64\n\t"
		     "lfence\n\t"
		     "sfence\n\t"
		     "mfence\n\t"
		     "add $1, %0"
		     : "+r"(v) : : "cc", "memory");
	return v;
}

static const u8 scan_data[16] = { 0, 0, 0, 5, 0, 7, 7, 7, 0, 0, 0, 0, 1, 1, 0, 0 };

void test_misc(void)
{
	family_begin("misc");
	init_xlat();
	for (int i = 0; i < nr_vals; i++) {
		fold(xlat(vals[i]));
		fold(loop_count(vals[i] & 0x3f));
		fold(jecxz_taken(vals[i]));
		fold(nops(vals[i]));
	}
	for (int i = 0; i < 16; i++) {
		fold(loope_scan(scan_data + i, 16 - i));
		fold(loopne_scan(scan_data + i, 16 - i));
	}
	family_end();
}

void check_misc(void)
{
	init_xlat();
	report(xlat(0xffffffffffff1203ull) == 0xffffffffffff122eull,
	       "xlat: AL = table[AL], rest of RAX kept");
	report(loop_count(5) == 5ull << 32 && loop_count(0) == 0,
	       "loop runs RCX times; jrcxz skips a zero count");
	report(loope_scan(scan_data, 16) == 12 && loopne_scan(scan_data + 3, 13) == 11,
	       "loope / loopne stop on ZF");
	report(jecxz_taken(0xffffffff00000000ull) == 0 && jecxz_taken(1) == 1,
	       "jecxz tests only ECX");
	report(nops(41) == 42, "multi-byte nops, pause, endbr64, fences");
}
