/*
 * vmexit driver: picks the sub-tests named on the command line (all of them
 * without names), times each and prints "<name> <cycles per iteration>".
 *
 * Arguments (QEMU's -append, mmulab's --append), in any order:
 *   NAME ...        run only these sub-tests (upstream's names)
 *   goal=CYCLES     the timing goal: the iteration count starts at 64 and
 *                   doubles until one round takes at least CYCLES TSC ticks
 *                   (upstream uses 2^30; the default here is 2^20, because
 *                   mmulab's bare mode counts one tick per instruction)
 *   iterations=N    instead: one round of exactly N iterations, after one
 *                   untimed call that warms the sub-test's pages up
 *
 * Upstream returns 0 whatever happened; here every sub-test that ran is one
 * PASS (or FAIL, when its self-check fails) and every one the machine cannot
 * run is one SKIP, so the exit status says pass (1), fail (3) or, when
 * nothing could run, skip (77).
 */
#include "vmexit.h"
#include "x86/processor.h"

#define DEFAULT_GOAL (1ul << 20)

struct measurement measure(void (*fn)(void), unsigned long goal, unsigned long fixed)
{
	struct measurement m = { 0, fixed ? fixed : 32, 0 };
	unsigned long elapsed;

	if (fixed) {
		fn();
		m.calls++;
	}
	do {
		u64 t0;

		if (!fixed)
			m.iterations *= 2;
		t0 = rdtsc();
		for (unsigned long i = 0; i < m.iterations; i++)
			fn();
		elapsed = rdtsc() - t0;
		m.calls += m.iterations;
	} while (!fixed && elapsed < goal);
	m.cycles = elapsed / m.iterations;
	return m;
}

static bool wanted(const char *name, char **names, int count)
{
	if (count == 0)
		return true;
	for (int i = 0; i < count; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

static void run_subtest(const struct subtest *t, unsigned long goal, unsigned long fixed)
{
	const char *why = "";
	struct measurement m;

	if (t->usable && !t->usable(&why)) {
		report_skip("%s: %s", t->name, why);
		return;
	}
	if (t->prepare)
		t->prepare();
	m = measure(t->run, goal, fixed);
	printf("%s %lu\n", t->name, m.cycles);
	report(t->check ? t->check(m.calls) : true, "%s: %lu iterations", t->name, m.iterations);
}

int main(int argc, char **argv)
{
	unsigned long goal = DEFAULT_GOAL, fixed = 0;
	char *names[64];
	int count = 0;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "goal=", 5) == 0)
			goal = atol(argv[i] + 5);
		else if (strncmp(argv[i], "iterations=", 11) == 0)
			fixed = atol(argv[i] + 11);
		else if (count < (int)ARRAY_SIZE(names))
			names[count++] = argv[i];
	}

	subtests_init();
	for (unsigned i = 0; i < nr_subtests; i++)
		if (wanted(subtests[i].name, names, count))
			run_subtest(&subtests[i], goal, fixed);
	/* pci-testdev's sub-tests come from the device, one per test it offers. */
	pci_testdev_init();
	if (wanted("pci-mem", names, count))
		pci_testdev_run(true, goal, fixed);
	if (wanted("pci-io", names, count))
		pci_testdev_run(false, goal, fixed);

	for (int i = 0; i < count; i++) {
		bool known = strcmp(names[i], "pci-mem") == 0 || strcmp(names[i], "pci-io") == 0;

		for (unsigned j = 0; j < nr_subtests && !known; j++)
			known = strcmp(names[i], subtests[j].name) == 0;
		if (!known)
			report(false, "unknown sub-test \"%s\"", names[i]);
	}
	return report_summary();
}
