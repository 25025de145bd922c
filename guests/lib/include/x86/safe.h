/*
 * Privileged instructions that may fault, each run under ASM_TRY: they
 * return the vector the instruction raised, or -1 if it completed, and
 * ex_last (x86/desc.h) describes the fault. Tests of the architectural
 * #GP/#UD rules call these instead of writing their own ASM_TRY wrappers;
 * is_gp()/is_gp0() check the result.
 */
#ifndef X86_SAFE_H
#define X86_SAFE_H

#include <stdbool.h>
#include <stdint.h>
#include "x86/desc.h"

int write_cr0_safe(unsigned long v);
int write_cr3_safe(unsigned long v);
int write_cr4_safe(unsigned long v);
#ifdef __x86_64__
int write_cr8_safe(unsigned long v);
#endif
int wrmsr_safe(uint32_t index, uint64_t v);
/* *v is 0 when RDMSR faults. */
int rdmsr_safe(uint32_t index, uint64_t *v);

/* The 128-bit INVPCID descriptor (SDM Vol. 2 INVPCID): PCID in 11:0, then the address. */
struct invpcid_desc {
	uint64_t pcid;
	uint64_t addr;
} __attribute__((aligned(16)));
/* INVPCID of `type` (0-3) with the descriptor { pcid, addr }. */
int invpcid_safe(unsigned long type, uint64_t pcid, uint64_t addr);

/*
 * A write of `bad` that must raise #GP(0) and leave the register at cur:
 * true if it did. A write that was accepted is undone (cur written back),
 * so a test that expects the #GP can go on however the CPU behaved.
 */
bool write_cr0_gp0(unsigned long cur, unsigned long bad);
bool write_cr4_gp0(unsigned long cur, unsigned long bad);

/* vector (from a *_safe call or ASM_TRY) is #GP with error code ec. */
static inline bool is_gp(int vector, unsigned long ec)
{
	return vector == GP_VECTOR && ex_last.error_code == ec;
}

static inline bool is_gp0(int vector)
{
	return is_gp(vector, 0);
}

#endif
