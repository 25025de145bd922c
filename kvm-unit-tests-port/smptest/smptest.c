/*
 * Port of kvm-unit-tests' x86/smptest.c: each CPU, asked in turn with
 * on_cpu(), prints its number and checks that it is the CPU that was asked
 * (its APIC ID is the one of that CPU number); the test passes when every
 * CPU answered. Upstream's boot code starts the APs before main(); here
 * main() calls smp_init(). unittests.cfg runs it with -smp 2 (smptest) and
 * -smp 3 (smptest3); with one CPU it passes on the BSP alone.
 */
#include "libcflat.h"
#include "x86/smp.h"

static int answered;

static void ipi_test(void *data)
{
	int cpu = (int)(long)data;

	printf("ipi called, cpu %d\n", cpu);
	if ((uint32_t)smp_id() != smp_apic_id(cpu))
		printf("but wrong cpu: APIC ID %d, not %u\n", smp_id(), smp_apic_id(cpu));
	else
		answered++;
}

int main(void)
{
	int ncpus;

	smp_init();
	ncpus = cpu_count();
	printf("found %d cpus\n", ncpus);
	for (int i = 0; i < ncpus; i++)
		on_cpu(i, ipi_test, (void *)(long)i);
	report(answered == ncpus, "IPI to each CPU");
	return report_summary();
}
