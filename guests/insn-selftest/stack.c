/*
 * Stack instructions: PUSH/POP of registers, imm8 (sign-extended), imm32,
 * memory, 16-bit pushes/pops (66 prefix: RSP moves by 2), PUSHF/POPF in
 * 64- and 16-bit forms, ENTER with nesting levels 0, 1 and 3, and LEAVE.
 * Stack addresses are folded as offsets, never as absolute values.
 */
#include "selftest.h"

struct push_out {
	u64 delta, balance, w16, r2, r3, r4;
	u64 mem[3];
};

static void push_pop(u64 v, struct push_out *o)
{
	u64 mval = v ^ 0x0f0f0f0f0f0f0f0full, save, delta, r1 = v, r2, r3, r4;

	o->mem[0] = o->mem[1] = o->mem[2] = 0x7777777777777777ull;
	asm volatile("mov %%rsp, %[save]\n\t"
		     "push %[v]\n\t"			/* 50+r */
		     "pushq $-5\n\t"			/* 6A ib */
		     "pushq $0x12345678\n\t"		/* 68 id */
		     "pushq (%[m])\n\t"			/* FF /6 */
		     "pushw %w[v]\n\t"			/* 66 50+r */
		     "pushw $0x4321\n\t"		/* 66 68 iw */
		     "mov %[save], %[delta]\n\t"
		     "sub %%rsp, %[delta]\n\t"
		     "popw %w[r1]\n\t"			/* 66 58+r */
		     "popw 8(%[o])\n\t"			/* 66 8F /0 */
		     "popq 16(%[o])\n\t"		/* 8F /0 */
		     "pop %[r2]\n\t"
		     "pop %[r3]\n\t"
		     "pop %[r4]\n\t"
		     "sub %%rsp, %[save]"
		     : [save] "=&r"(save), [delta] "=&r"(delta), [r1] "+&r"(r1),
		       [r2] "=&r"(r2), [r3] "=&r"(r3), [r4] "=&r"(r4)
		     : [v] "r"(v), [m] "r"(&mval), [o] "r"(o->mem)
		     : "memory");
	o->delta = delta;
	o->balance = save;
	o->w16 = r1;
	o->r2 = r2;
	o->r3 = r3;
	o->r4 = r4;
}

/* POPF then PUSHF, 64-bit and 16-bit (66 9D / 66 9C) forms. */
static u64 popf_pushf(u64 fl)
{
	u64 out;

	asm volatile("push %[fl]\n\tpopfq\n\tpushfq\n\tpop %[out]"
		     : [out] "=r"(out) : [fl] "r"(fl) : "cc");
	return out;
}

static u64 popfw_pushfw(u64 fl)
{
	u64 out = 0x1111111111111111ull;

	asm volatile("pushw %w[fl]\n\tpopfw\n\tpushfw\n\tpopw %w[out]"
		     : [out] "+r"(out) : [fl] "r"(fl) : "cc");
	return out;
}

/*
 * ENTER/LEAVE run on a private stack with a fake frame chain, so that the
 * frame pointers ENTER copies for nesting levels > 1 are known values.
 */
#define FSTACK_WORDS 64
static u64 fstack[FSTACK_WORDS] __aligned(16);

struct enter_out {
	u64 rsp_in, rbp_in, rsp_out, rbp_out;
};

#define ENTER_TEST(name, size, level)					\
static void name(struct enter_out *o)					\
{									\
	u64 sr, sb, o1, o2, o3, o4;					\
	asm volatile("mov %%rsp, %[sr]\n\t"				\
		     "mov %%rbp, %[sb]\n\t"				\
		     "mov %[top], %%rsp\n\t"				\
		     "mov %[fbp], %%rbp\n\t"				\
		     "enter $" #size ", $" #level "\n\t"		\
		     "mov %%rsp, %[o1]\n\t"				\
		     "mov %%rbp, %[o2]\n\t"				\
		     "leave\n\t"					\
		     "mov %%rsp, %[o3]\n\t"				\
		     "mov %%rbp, %[o4]\n\t"				\
		     "mov %[sb], %%rbp\n\t"				\
		     "mov %[sr], %%rsp"					\
		     : [sr] "=&r"(sr), [sb] "=&r"(sb), [o1] "=&r"(o1),	\
		       [o2] "=&r"(o2), [o3] "=&r"(o3), [o4] "=&r"(o4)	\
		     : [top] "r"(&fstack[40]), [fbp] "r"(&fstack[56])	\
		     : "memory");					\
	o->rsp_in = o1;							\
	o->rbp_in = o2;							\
	o->rsp_out = o3;						\
	o->rbp_out = o4;						\
}

ENTER_TEST(enter_0, 16, 0)
ENTER_TEST(enter_1, 32, 1)
ENTER_TEST(enter_3, 24, 3)
ENTER_TEST(enter_0_0, 0, 0)

static void (*const enter_fns[])(struct enter_out *) = {
	enter_0, enter_1, enter_3, enter_0_0,
};

/* Stack addresses become offsets from fstack; other words stay as they are. */
static u64 rel(u64 w)
{
	u64 base = (unsigned long)fstack;

	if (w >= base && w < base + sizeof(fstack))
		return (w - base) | 0x8000000000000000ull;
	return w;
}

static void fill_fstack(void)
{
	for (int i = 0; i < FSTACK_WORDS; i++)
		fstack[i] = 0x0101010101010101ull * i;
}

void test_stack(void)
{
	family_begin("stack");
	for (int i = 0; i < nr_vals; i++) {
		struct push_out o;

		push_pop(vals[i], &o);
		fold(o.delta);
		fold(o.balance);
		fold(o.w16);
		fold(o.r2);
		fold(o.r3);
		fold(o.r4);
		fold(o.mem[1]);
		fold(o.mem[2]);
	}
	for (int p = 0; p < 64; p++) {
		u64 fl = FL_CLEAR | (p & 1 ? F_CF : 0) | (p & 2 ? F_PF : 0) |
			 (p & 4 ? F_AF : 0) | (p & 8 ? F_ZF : 0) |
			 (p & 16 ? F_SF : 0) | (p & 32 ? F_OF : 0);

		fold(popf_pushf(fl) & F_ALL);
		fold(popfw_pushfw(fl) & (0xffffffffffff0000ull | F_ALL));
	}
	for (unsigned f = 0; f < ARRAY_SIZE(enter_fns); f++) {
		struct enter_out o;

		fill_fstack();
		enter_fns[f](&o);
		fold(rel(o.rsp_in));
		fold(rel(o.rbp_in));
		fold(rel(o.rsp_out));
		fold(rel(o.rbp_out));
		for (int i = 0; i < FSTACK_WORDS; i++)
			fold(rel(fstack[i]));
	}
	family_end();
}

void check_stack(void)
{
	struct push_out o;
	struct enter_out e;
	u64 base = (unsigned long)fstack;
	bool ok;

	push_pop(0xaaaaaaaabbbbcccc, &o);
	ok = o.delta == 36 && o.balance == 0 && o.w16 == 0xaaaaaaaabbbb4321ull &&
	     o.mem[1] == 0x777777777777ccccull &&
	     o.mem[2] == (0xaaaaaaaabbbbccccull ^ 0x0f0f0f0f0f0f0f0full) &&
	     o.r2 == 0x12345678 && o.r3 == (u64)-5 && o.r4 == 0xaaaaaaaabbbbccccull;
	report(ok, "push/pop: reg, imm8, imm32, mem, 16-bit forms");

	fill_fstack();
	enter_3(&e);
	/*
	 * enter $24, $3 at RSP = &fstack[40], RBP = &fstack[56]: push RBP
	 * (slot 39), copy [RBP-8] and [RBP-16] (slots 55, 54) into 38, 37,
	 * push the frame pointer (slot 36, = &fstack[39]), RSP -= 24.
	 */
	ok = fstack[39] == base + 56 * 8 && fstack[38] == fstack[55] &&
	     fstack[37] == fstack[54] && fstack[36] == base + 39 * 8 &&
	     e.rbp_in == base + 39 * 8 && e.rsp_in == base + 33 * 8 &&
	     e.rsp_out == base + 40 * 8 && e.rbp_out == base + 56 * 8;
	report(ok, "enter $24, $3 / leave: frame chain copied, RSP/RBP restored");
}
