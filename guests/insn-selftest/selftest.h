/*
 * insn-selftest harness. Each family file runs its instructions through
 * inline asm on a fixed table of inputs and folds the architecturally
 * defined part of every outcome (result registers, memory, and the status
 * flags masked to those the SDM defines for that instruction and count)
 * into a checksum. The checksum must be the same on a real CPU, under
 * QEMU TCG and under mmulab: never fold an undefined flag or result.
 *
 * Flags are set before each instruction with push/popf from a known value
 * (FL_CLEAR or FL_SET), so flags an instruction leaves "unaffected" are
 * defined too and are folded where the SDM says they are preserved.
 * Inline asm may push/pop because the code is built with -mno-red-zone.
 */
#ifndef SELFTEST_H
#define SELFTEST_H

#include "libcflat.h"

#define F_CF	0x0001ul
#define F_PF	0x0004ul
#define F_AF	0x0010ul
#define F_ZF	0x0040ul
#define F_SF	0x0080ul
#define F_OF	0x0800ul
#define F_DF	0x0400ul
#define F_ALL	(F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
#define F_LOGIC	(F_ALL & ~F_AF)		/* AND/OR/XOR/TEST: AF undefined */

/* Input RFLAGS values: bit 1 always set; IF, DF, TF, AC clear. */
#define FL_CLEAR 0x2ul
#define FL_SET	 (0x2ul | F_ALL)
extern const u64 flag_inputs[2];

/* Interesting operands: sign/carry boundaries of every width, patterns. */
extern const u64 vals[];
extern const int nr_vals;

/* Checksum of the current family; family_end() prints it and folds it. */
void family_begin(const char *name);
void family_end(void);
void fold(u64 v);
void fold_buf(const void *p, size_t n);
u64 total_checksum(void);

/* Sizes in bits, index 0..3 <-> 8, 16, 32, 64. */
extern const int size_bits[4];

/* Width-restricted helpers for building expected values in C. */
static inline u64 zext(u64 v, int bits)
{
	return bits == 64 ? v : v & ((1ull << bits) - 1);
}

/* Merge a narrow result into a 64-bit register as the CPU does. */
static inline u64 merge(u64 old, u64 v, int bits)
{
	if (bits == 32)
		return zext(v, 32);	/* 32-bit writes zero-extend */
	if (bits == 64)
		return v;
	return (old & ~((1ull << bits) - 1)) | zext(v, bits);
}

/* Families (one file each), in the order main() runs them. */
void test_alu(void);
void test_unary(void);
void test_shift(void);
void test_rotate(void);
void test_shift_double(void);
void test_muldiv(void);
void test_bitops(void);
void test_bitscan(void);
void test_cond(void);
void test_flagops(void);
void test_movx(void);
void test_lea(void);
void test_xchg(void);
void test_string(void);
void test_stack(void);
void test_call(void);
void test_misc(void);

/* Known-answer checks (PASS/FAIL lines), same files. */
void check_alu(void);
void check_unary(void);
void check_shift(void);
void check_rotate(void);
void check_shift_double(void);
void check_muldiv(void);
void check_bitops(void);
void check_bitscan(void);
void check_cond(void);
void check_flagops(void);
void check_movx(void);
void check_lea(void);
void check_xchg(void);
void check_string(void);
void check_stack(void);
void check_call(void);
void check_misc(void);

/* CPUID feature probes (cpu.c). */
bool has_bmi1(void);
bool has_lzcnt(void);
bool has_popcnt(void);
bool has_cx16(void);
bool has_lahf_lm(void);

#endif
