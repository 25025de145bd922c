/*
 * vmexit: the cost of one operation that makes a hypervisor step in, measured
 * with RDTSC, one sub-test per operation (the measurements of kvm-unit-tests'
 * x86/vmexit.c, rewritten on mmulab's guest library).
 *
 * Each sub-test is a function doing the operation once. The driver
 * (vmexit.c) runs it in a loop and prints "<name> <cycles per iteration>",
 * then a PASS line for the sub-test (its self-check, where it has one), or a
 * SKIP line when this machine cannot run it.
 */
#ifndef VMEXIT_H
#define VMEXIT_H

#include "libcflat.h"

struct subtest {
	const char *name;
	/* One iteration of the operation. */
	void (*run)(void);
	/*
	 * NULL, or: whether the machine can run it; on false, *why says why
	 * (the SKIP line).
	 */
	bool (*usable)(const char **why);
	/* NULL, or called once before the timed loop (e.g. program a timer). */
	void (*prepare)(void);
	/* NULL, or the self-check after the loop, given how often run() was called. */
	bool (*check)(unsigned long calls);
};

struct measurement {
	unsigned long cycles;		/* per iteration, in the last (timed) round */
	unsigned long iterations;	/* in the last round */
	unsigned long calls;		/* of the function, all rounds and the warm-up */
};

/* The sub-tests, in upstream's order (subtests.c, pci-testdev.c). */
extern const struct subtest subtests[];
extern const unsigned nr_subtests;

/* Set up what the sub-tests share: interrupts, APIC, NX, CR0.WP (subtests.c). */
void subtests_init(void);

/* The pci-testdev sub-tests (pci-testdev.c): one measurement per device test. */
void pci_testdev_init(void);
void pci_testdev_run(bool mmio, unsigned long goal, unsigned long fixed);

/* The measuring loop (vmexit.c). */
struct measurement measure(void (*fn)(void), unsigned long goal, unsigned long fixed);

#endif
