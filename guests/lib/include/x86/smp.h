/*
 * Several CPUs (in the style of kvm-unit-tests' lib/x86/smp.h). smp_init()
 * starts the application processors the way the MP specification says a
 * BSP does: INIT, INIT de-assert, then two STARTUP IPIs, all broadcast with
 * the "all excluding self" shorthand, pointing at a real-mode trampoline
 * copied below 1 MiB. Each AP climbs to the BSP's mode on the BSP's page
 * tables, GDT and IDT, takes its own stack, marks itself online in the
 * per-CPU table (indexed by APIC ID) and then sleeps (STI; HLT) until
 * on_cpu() or on_cpu_async() hands it a function.
 *
 * CPU numbers (the `cpu` arguments) are 0..cpu_count()-1 in increasing
 * APIC ID order, so the BSP is CPU 0 when it has the lowest ID (QEMU's and
 * mmulab's machines number CPUs 0..N-1).
 *
 * Limits: APs run without a TSS (no CPL3, no IST stacks), and they follow
 * the BSP's APIC mode (x2APIC or xAPIC) as it was at smp_init(); a test
 * that switches modes later does it on every CPU. Portable (-m64, -m32).
 */
#ifndef X86_SMP_H
#define X86_SMP_H

/* APIC IDs must be below this; it is also the largest CPU count. */
#define SMP_MAX_CPUS		64
/* Wakes an idle AP: the handler only acknowledges it. */
#define SMP_WAKE_VECTOR		0xfd
/* Where the real-mode trampoline is copied: the SIPI vector is address >> 12. */
#define SMP_TRAMPOLINE_ADDR	0x8000
/* Each AP's stack, carved from the memory right after the image (`end`). */
#define SMP_AP_STACK_SIZE	16384

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>
#include "x86/processor.h"	/* pause() */

struct spinlock {
	volatile int v;
};

static inline void spin_lock(struct spinlock *l)
{
	while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
		while (l->v)
			pause();
}

static inline void spin_unlock(struct spinlock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

/*
 * Counts the CPUs (fw_cfg FW_CFG_NB_CPUS, else the MADT's enabled local
 * APICs), starts the APs and waits until they are online. Returns the
 * number online; a CPU that never arrives is reported with printf and left
 * out of cpu_count(). Later calls only return the count.
 */
int smp_init(void);
/* CPUs online (1 before smp_init()). */
int cpu_count(void);
/*
 * This CPU's APIC ID: its initial APIC ID (CPUID.1:EBX[31:24]), valid in
 * any APIC mode or state; 64-bit, smp_init() sets GS base to a per-CPU tag
 * holding it, read without an exit (a GS reload falls back to CPUID).
 */
int smp_id(void);
/* The APIC ID of CPU `cpu`. */
uint32_t smp_apic_id(int cpu);
/* The CPU number of APIC ID `apic_id`, -1 if none is online with it. */
int smp_cpu_of(uint32_t apic_id);
/*
 * Runs fn(data) on CPU `cpu` with interrupts disabled and returns when it
 * has returned (runs it directly when `cpu` is this CPU). An AP runs it
 * from its idle loop, after the work queued before; the BSP, which has no
 * idle loop, runs it in the wake IPI's handler once it enables interrupts.
 */
void on_cpu(int cpu, void (*fn)(void *), void *data);
/* The same, but returns once the work is queued (one at a time per CPU). */
void on_cpu_async(int cpu, void (*fn)(void *), void *data);
/* fn(data) on every CPU, this one last; returns when all are done. */
void on_cpus(void (*fn)(void *), void *data);
/* 1 + the number of APs with work queued or running (upstream's meaning). */
int cpus_active(void);

#endif /* __ASSEMBLER__ */
#endif
