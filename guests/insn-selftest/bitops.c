/*
 * BT BTS BTR BTC with register and immediate bit offsets, on registers
 * (offset taken modulo the operand size) and on memory (a register offset
 * is a signed bit index that may point far outside the addressed operand;
 * an immediate one is taken modulo the size). Only CF is defined (ZF is
 * "unaffected" on Intel but undefined on AMD).
 */
#include "op2.h"

OP2_RR(bt_r16, "bt", "w")
OP2_RR(bt_r32, "bt", "k")
OP2_RR(bt_r64, "bt", "q")
OP2_RR(bts_r16, "bts", "w")
OP2_RR(bts_r32, "bts", "k")
OP2_RR(bts_r64, "bts", "q")
OP2_RR(btr_r16, "btr", "w")
OP2_RR(btr_r32, "btr", "k")
OP2_RR(btr_r64, "btr", "q")
OP2_RR(btc_r16, "btc", "w")
OP2_RR(btc_r32, "btc", "k")
OP2_RR(btc_r64, "btc", "q")
OP2_RI(bt_i16, "bt", "w", 21)
OP2_RI(bts_i32, "bts", "k", 31)
OP2_RI(btr_i64, "btr", "q", 63)
OP2_RI(btc_i64, "btc", "q", 0x44)
OP2_RI(btc_i16, "btc", "w", 15)
OP2_RI(btr_i32, "btr", "k", 0)

static const op2_fn bt_reg[] = {
	bt_r16, bt_r32, bt_r64, bts_r16, bts_r32, bts_r64,
	btr_r16, btr_r32, btr_r64, btc_r16, btc_r32, btc_r64,
};
static const op2_fn bt_imm[] = { bt_i16, bts_i32, btr_i64, btc_i64, btc_i16, btr_i32 };

/* Memory forms operate on a 64-byte bit string; p points to its middle. */
static u8 bitstr[64] __aligned(16);

static void fill_bitstr(void)
{
	for (unsigned i = 0; i < sizeof(bitstr); i++)
		bitstr[i] = (u8)(i * 0x3b + 0x5c);
}

#define BT_MR(name, insn, m, sfx)					\
static void name(u64 *dp, u64 off, u64 *fp)				\
{									\
	u64 fl = *fp;							\
	asm volatile(FLAGS_IN insn sfx " %" m "[o], (%[p])" FLAGS_OUT	\
		     : [fl] "+r"(fl) : [o] "r"(off), [p] "r"(bitstr + 32)	\
		     : "cc", "memory");					\
	*fp = fl;							\
}

#define BT_MI(name, insn, sfx, imm)					\
static void name(u64 *dp, u64 off, u64 *fp)				\
{									\
	u64 fl = *fp;							\
	asm volatile(FLAGS_IN insn sfx " $" #imm ", (%[p])" FLAGS_OUT	\
		     : [fl] "+r"(fl) : [p] "r"(bitstr + 32)		\
		     : "cc", "memory");					\
	*fp = fl;							\
}

#define BT_MEM_FAMILY(op)						\
	BT_MR(op##_m16, #op, "w", "w")					\
	BT_MR(op##_m32, #op, "k", "l")					\
	BT_MR(op##_m64, #op, "q", "q")					\
	BT_MI(op##_mi16, #op, "w", 13)					\
	BT_MI(op##_mi32, #op, "l", 45)					\
	BT_MI(op##_mi64, #op, "q", 200)

BT_MEM_FAMILY(bt)
BT_MEM_FAMILY(bts)
BT_MEM_FAMILY(btr)
BT_MEM_FAMILY(btc)
BT_MR(lock_bts_m64, "lock bts", "q", "q")
BT_MR(lock_btr_m32, "lock btr", "k", "l")

struct bt_mem_form {
	op2_fn fn;
	int bits;		/* width of the offset register that counts */
};

#define MEM_FORMS(op)							\
	{ op##_m16, 16 }, { op##_m32, 32 }, { op##_m64, 64 },		\
	{ op##_mi16, 0 }, { op##_mi32, 0 }, { op##_mi64, 0 }

static const struct bt_mem_form bt_mem[] = {
	MEM_FORMS(bt), MEM_FORMS(bts), MEM_FORMS(btr), MEM_FORMS(btc),
	{ lock_bts_m64, 64 }, { lock_btr_m32, 32 },
};

/* Signed bit offsets that stay within bitstr (+-256 bits from the middle). */
static const s64 bit_offsets[] = {
	0, 1, 7, 8, 15, 16, 17, 31, 32, 63, 64, 100, 200, 255,
	-1, -2, -8, -16, -17, -33, -64, -65, -100, -200, -256,
};

static void run_bt_mem(void)
{
	for (unsigned f = 0; f < ARRAY_SIZE(bt_mem); f++) {
		const struct bt_mem_form *form = &bt_mem[f];
		unsigned n = form->bits ? ARRAY_SIZE(bit_offsets) : 1;

		for (unsigned i = 0; i < n; i++) {
			u64 off = bit_offsets[i], fl = FL_SET;

			/* Junk above the operand size must be ignored. */
			if (form->bits == 16)
				off = zext(off, 16) | 0xa5a5a5a55a5a0000ull;
			else if (form->bits == 32)
				off = zext(off, 32) | 0xa5a5a5a500000000ull;
			fill_bitstr();
			form->fn(NULL, off, &fl);
			fold(fl & F_CF);
			fold_buf(bitstr, sizeof(bitstr));
		}
	}
}

void test_bitops(void)
{
	family_begin("bt");
	run_op2(bt_reg, ARRAY_SIZE(bt_reg), F_CF);
	run_op2_imm(bt_imm, ARRAY_SIZE(bt_imm), F_CF);
	run_bt_mem();
	family_end();
}

void check_bitops(void)
{
	u64 d = 0x8000000000000001ull, fl = FL_CLEAR;
	bool ok;

	btc_r64(&d, 127, &fl);		/* offset 127 mod 64 = 63 */
	report(d == 1 && (fl & F_CF), "btc r64, reg: offset taken mod 64");

	fill_bitstr();
	fl = FL_CLEAR;
	bts_m32(NULL, (u64)-17, &fl);	/* bit 7 of the byte at p - 3 */
	ok = bitstr[32 - 3] == (u8)((29 * 0x3b + 0x5c) | 0x80);
	report(ok, "bts m32, reg: negative offset -17 sets bit 7 of byte p-3");

	fill_bitstr();
	fl = FL_CLEAR;
	btr_mi64(NULL, 0, &fl);		/* imm 200 mod 64 = 8: bit 0 of byte p+1 */
	ok = bitstr[33] == (u8)((33 * 0x3b + 0x5c) & ~1) &&
	     !!(fl & F_CF) == ((33 * 0x3b + 0x5c) & 1);
	report(ok, "btr m64, imm: offset taken mod 64");
}
