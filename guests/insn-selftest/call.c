/*
 * Control transfer: CALL rel32, CALL via register and memory, RET, RET
 * imm16 (pops extra bytes), JMP via register and memory, the NOTRACK (3E)
 * prefix that -fcf-protection puts on switch-table jumps, and calls of C
 * functions through pointers (what gcc emits for function tables).
 * Folded: return values, stack balance, return address minus the address
 * of the following instruction (must be 0).
 */
#include "selftest.h"

static u64 call_direct(u64 v)
{
	u64 r = v;

	asm volatile("call 1f\n\t"
		     "jmp 2f\n"
		     "1:\tadd $3, %[r]\n\t"
		     "ret\n"
		     "2:"
		     : [r] "+r"(r) : : "cc", "memory");
	return r;
}

/* The pushed return address must be the address after the call. */
static u64 call_retaddr(u64 v)
{
	u64 ra, want;

	asm volatile("call 1f\n"
		     "3:\tjmp 2f\n"
		     "1:\tmov (%%rsp), %[ra]\n\t"
		     "ret\n"
		     "2:\tlea 3b(%%rip), %[want]"
		     : [ra] "=&r"(ra), [want] "=&r"(want) : : "memory");
	return ra - want + v;
}

static u64 call_reg(u64 v)
{
	u64 r = v, t;

	asm volatile("lea 1f(%%rip), %[t]\n\t"
		     "call *%[t]\n\t"
		     "jmp 2f\n"
		     "1:\txor $0x55, %[r]\n\t"
		     "ret\n"
		     "2:"
		     : [r] "+r"(r), [t] "=&r"(t) : : "cc", "memory");
	return r;
}

static u64 call_mem(u64 v)
{
	u64 r = v, slot;

	asm volatile("lea 1f(%%rip), %%rax\n\t"
		     "mov %%rax, (%[p])\n\t"
		     "call *(%[p])\n\t"
		     "jmp 2f\n"
		     "1:\tnot %[r]\n\t"
		     "ret\n"
		     "2:"
		     : [r] "+r"(r) : [p] "r"(&slot) : "rax", "memory");
	return r;
}

/* ret $16 removes the two words pushed before the call. */
static u64 ret_imm(u64 v)
{
	u64 before, after, r = v;

	asm volatile("mov %%rsp, %[b]\n\t"
		     "pushq $0xaaaa\n\t"
		     "pushq $0xbbbb\n\t"
		     "call 1f\n\t"
		     "jmp 2f\n"
		     "1:\tadd 8(%%rsp), %[r]\n\t"	/* 0xbbbb */
		     "ret $16\n"
		     "2:\tmov %%rsp, %[a]"
		     : [b] "=&r"(before), [a] "=&r"(after), [r] "+r"(r)
		     : : "cc", "memory");
	return r + (before - after);
}

static u64 jmp_reg(u64 v)
{
	u64 r = v, t;

	asm volatile("lea 1f(%%rip), %[t]\n\t"
		     "jmp *%[t]\n\t"
		     "mov $0, %[r]\n"
		     "1:\tadd $7, %[r]"
		     : [r] "+r"(r), [t] "=&r"(t) : : "cc");
	return r;
}

static u64 jmp_notrack(u64 v)
{
	u64 r = v, t;

	asm volatile("lea 1f(%%rip), %[t]\n\t"
		     "notrack jmp *%[t]\n\t"
		     "mov $0, %[r]\n"
		     "1:\tadd $9, %[r]"
		     : [r] "+r"(r), [t] "=&r"(t) : : "cc");
	return r;
}

static u64 jmp_mem(u64 v)
{
	u64 r = v, slot;

	asm volatile("lea 1f(%%rip), %%rax\n\t"
		     "mov %%rax, (%[p])\n\t"
		     "jmp *(%[p])\n\t"
		     "mov $0, %[r]\n"
		     "1:\tadd $11, %[r]"
		     : [r] "+r"(r) : [p] "r"(&slot) : "rax", "cc", "memory");
	return r;
}

/* A C-level indirect call with a switch inside (jump table, notrack jmp). */
static u64 __attribute__((noinline)) switchy(u64 v)
{
	switch (v % 9) {
	case 0: return v * 3;
	case 1: return v ^ 0x1234;
	case 2: return v >> 3;
	case 3: return v + 0x77;
	case 4: return ~v;
	case 5: return v << 5;
	case 6: return v - 1;
	case 7: return v | 0x8000;
	default: return v & 0xff00ff;
	}
}

static u64 (*volatile indirect)(u64) = switchy;

static u64 call_c(u64 v)
{
	return indirect(v);
}

static u64 (*const call_fns[])(u64) = {
	call_direct, call_retaddr, call_reg, call_mem, ret_imm,
	jmp_reg, jmp_notrack, jmp_mem, call_c,
};

void test_call(void)
{
	family_begin("call");
	for (unsigned f = 0; f < ARRAY_SIZE(call_fns); f++)
		for (int i = 0; i < nr_vals; i++)
			fold(call_fns[f](vals[i]));
	family_end();
}

void check_call(void)
{
	report(call_direct(1) == 4 && call_reg(0) == 0x55 && call_mem(0) == ~0ull,
	       "call rel32, call *reg, call *mem");
	report(call_retaddr(0) == 0, "call pushes the address of the next instruction");
	report(ret_imm(0) == 0xbbbb, "ret $16 pops 16 extra bytes");
	report(jmp_reg(1) == 8 && jmp_notrack(1) == 10 && jmp_mem(1) == 12,
	       "jmp *reg, notrack jmp *reg, jmp *mem");
}
