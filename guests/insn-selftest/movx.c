/*
 * Data movement without flags: MOVZX/MOVSX (every source/destination
 * width pair, register and memory source), MOVSXD, the accumulator
 * extensions CBW CWDE CDQE CWD CDQ CQO, and MOV's own corner cases:
 * partial-register writes (8/16-bit keep the rest, 32-bit zero-extends),
 * high-byte registers, imm32 sign-extended to 64, movabs imm64 and the
 * moffs (A0-A3) forms with a 64-bit absolute address.
 */
#include "selftest.h"

typedef u64 (*mov_fn)(u64 d, u64 s);

#define MOVX_R(name, insn, ms, md)					\
static u64 name(u64 d, u64 s)						\
{									\
	asm volatile(insn " %" ms "[s], %" md "[d]" : [d] "+r"(d) : [s] "r"(s)); \
	return d;							\
}

#define MOVX_M(name, insn, md)						\
static u64 name(u64 d, u64 s)						\
{									\
	asm volatile(insn " (%[p]), %" md "[d]"				\
		     : [d] "+r"(d) : [p] "r"(&s) : "memory");		\
	return d;							\
}

MOVX_R(movzbw, "movzbw", "b", "w")
MOVX_R(movzbl, "movzbl", "b", "k")
MOVX_R(movzbq, "movzbq", "b", "q")
MOVX_R(movzwl, "movzwl", "w", "k")
MOVX_R(movzwq, "movzwq", "w", "q")
MOVX_R(movsbw, "movsbw", "b", "w")
MOVX_R(movsbl, "movsbl", "b", "k")
MOVX_R(movsbq, "movsbq", "b", "q")
MOVX_R(movswl, "movswl", "w", "k")
MOVX_R(movswq, "movswq", "w", "q")
MOVX_R(movslq, "movslq", "k", "q")
MOVX_M(movzbw_m, "movzbw", "w")
MOVX_M(movzbq_m, "movzbq", "q")
MOVX_M(movzwl_m, "movzwl", "k")
MOVX_M(movsbl_m, "movsbl", "k")
MOVX_M(movswq_m, "movswq", "q")
MOVX_M(movslq_m, "movslq", "q")
/* Plain MOV: partial writes and sizes. */
MOVX_R(mov8, "mov", "b", "b")
MOVX_R(mov16, "mov", "w", "w")
MOVX_R(mov32, "mov", "k", "k")
MOVX_M(mov8_m, "movb", "b")
MOVX_M(mov16_m, "movw", "w")
MOVX_M(mov32_m, "movl", "k")

static u64 mov_high(u64 d, u64 s)
{
	asm volatile("mov %h[s], %h[d]" : [d] "+Q"(d) : [s] "Q"(s));
	return d;
}

static u64 mov_high_to_low(u64 d, u64 s)
{
	asm volatile("mov %h[s], %b[d]" : [d] "+Q"(d) : [s] "Q"(s));
	return d;
}

/* MOV to memory of every width into a qword: only the addressed bytes change. */
static u64 mov_store8(u64 d, u64 s)
{
	asm volatile("movb %b[s], (%[p])" : : [s] "r"(s), [p] "r"(&d) : "memory");
	return d;
}

static u64 mov_store16(u64 d, u64 s)
{
	asm volatile("movw %w[s], 2(%[p])" : : [s] "r"(s), [p] "r"(&d) : "memory");
	return d;
}

static u64 mov_store32(u64 d, u64 s)
{
	asm volatile("movl %k[s], 4(%[p])" : : [s] "r"(s), [p] "r"(&d) : "memory");
	return d;
}

static const mov_fn movx_fns[] = {
	movzbw, movzbl, movzbq, movzwl, movzwq,
	movsbw, movsbl, movsbq, movswl, movswq, movslq,
	movzbw_m, movzbq_m, movzwl_m, movsbl_m, movswq_m, movslq_m,
	mov8, mov16, mov32, mov8_m, mov16_m, mov32_m,
	mov_high, mov_high_to_low, mov_store8, mov_store16, mov_store32,
};

/* Accumulator extensions: in RAX (and RDX), out RAX and RDX folded. */
#define EXT(name, insn)							\
static void name(u64 *a, u64 *d)					\
{									\
	asm volatile(insn : "+a"(*a), "+d"(*d));			\
}
EXT(cbw, "cbtw")
EXT(cwde, "cwtl")
EXT(cdqe, "cltq")
EXT(cwd, "cwtd")
EXT(cdq, "cltd")
EXT(cqo, "cqto")

static void (*const ext_fns[])(u64 *, u64 *) = { cbw, cwde, cdqe, cwd, cdq, cqo };

/* Immediate moves: each writes a different width of a register. */
static void mov_imms(u64 d)
{
	u64 r8 = d, r16 = d, r32 = d, r64s = d, r64 = d;

	asm volatile("movb $0x9a, %b0" : "+r"(r8));
	asm volatile("movw $0x8001, %w0" : "+r"(r16));
	asm volatile("movl $0x80000001, %k0" : "+r"(r32));
	asm volatile("movq $-0x7ffffffe, %q0" : "+r"(r64s));	/* C7 /0, sign-extended */
	asm volatile("movabs $0x8765432112345678, %q0" : "+r"(r64));	/* B8+r io */
	fold(r8);
	fold(r16);
	fold(r32);
	fold(r64s);
	fold(r64);
}

/* moffs forms: the address is a 64-bit absolute immediate. */
static u64 moffs_cell = 0x0f1e2d3c4b5a6978ull;

static void mov_moffs(u64 v)
{
	u64 a = v;

	/* The "m" operands only tell gcc the asm touches the cell. */
	asm volatile("movabs moffs_cell, %%al" : "+a"(a) : "m"(moffs_cell));
	fold(a);
	asm volatile("movabs moffs_cell, %%ax" : "+a"(a) : "m"(moffs_cell));
	fold(a);
	a = v;
	asm volatile("movabs moffs_cell, %%eax" : "+a"(a) : "m"(moffs_cell));
	fold(a);
	asm volatile("movabs moffs_cell, %%rax" : "+a"(a) : "m"(moffs_cell));
	fold(a);
	a = v;
	asm volatile("movabs %%eax, moffs_cell" : "+m"(moffs_cell) : "a"(a));
	fold(moffs_cell);
	asm volatile("movabs %%al, moffs_cell" : "+m"(moffs_cell) : "a"(~a));
	fold(moffs_cell);
}

void test_movx(void)
{
	family_begin("movx");
	for (unsigned f = 0; f < ARRAY_SIZE(movx_fns); f++)
		for (int i = 0; i < nr_vals; i++)
			for (int j = 0; j < nr_vals; j++)
				fold(movx_fns[f](vals[i], vals[j]));
	for (unsigned f = 0; f < ARRAY_SIZE(ext_fns); f++)
		for (int i = 0; i < nr_vals; i++) {
			u64 a = vals[i], d = vals[nr_vals - 1 - i];

			ext_fns[f](&a, &d);
			fold(a);
			fold(d);
		}
	for (int i = 0; i < nr_vals; i++) {
		mov_imms(vals[i]);
		mov_moffs(vals[i]);
	}
	family_end();
}

void check_movx(void)
{
	u64 a, d;

	report(movsbq(0, 0x80) == 0xffffffffffffff80ull, "movsbq: 0x80 -> -128");
	report(movzwl(~0ull, 0xabcd8765) == 0x8765, "movzwl: zero-extends to 64");
	report(movsbw(0x1111111111111111ull, 0xff) == 0x111111111111ffffull,
	       "movsbw: writes only 16 bits");
	report(movslq_m(0, 0x80000000) == 0xffffffff80000000ull, "movslq (mem)");
	report(mov_high(0x1111, 0xabcd) == 0xab11, "mov ah, bh");
	report(mov32(~0ull, 0x123456789ull) == 0x23456789, "mov r32 zero-extends");
	a = 0xffffffff00008000ull, d = 0x1234;
	cwd(&a, &d);
	report(a == 0xffffffff00008000ull && d == 0xffff, "cwd: DX = 0xffff, rest kept");
	a = 0x8000000000000000ull, d = 0;
	cqo(&a, &d);
	report(d == ~0ull, "cqo: RDX = all ones for negative RAX");
	a = 0x12345678ffffff80ull, d = 0;
	cdqe(&a, &d);
	report(a == 0xffffffffffffff80ull, "cdqe: sign-extends EAX");
}
