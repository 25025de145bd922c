/*
 * Local APIC and I/O APIC accessors (see x86/apic.h). The accessor set is
 * chosen by the APIC mode: MMIO at 0xfee00000 in xAPIC mode, MSRs
 * 0x800-0x8ff after enable_x2apic(), where the ICR is one 64-bit MSR.
 */
#include "libcflat.h"
#include "x86/apic.h"
#include "x86/io.h"
#include "x86/processor.h"

static volatile uint32_t *const xapic = (volatile uint32_t *)APIC_DEFAULT_PHYS_BASE;
static volatile uint32_t *const ioapic = (volatile uint32_t *)IOAPIC_DEFAULT_PHYS_BASE;
static bool x2apic;

bool apic_x2apic_mode(void)
{
	return x2apic;
}

uint32_t apic_read(unsigned reg)
{
	if (x2apic)
		return (uint32_t)rdmsr(APIC_BASE_MSR + reg / 16);
	return xapic[reg / 4];
}

void apic_write(unsigned reg, uint32_t val)
{
	if (x2apic)
		wrmsr(APIC_BASE_MSR + reg / 16, val);
	else
		xapic[reg / 4] = val;
}

void apic_icr_write(uint32_t val, uint32_t dest)
{
	if (x2apic) {
		wrmsr(APIC_BASE_MSR + APIC_ICR / 16, ((uint64_t)dest << 32) | val);
		return;
	}
	while (xapic[APIC_ICR / 4] & APIC_ICR_BUSY)
		;
	xapic[APIC_ICR2 / 4] = dest << 24;
	xapic[APIC_ICR / 4] = val;
}

uint32_t apic_id(void)
{
	return x2apic ? apic_read(APIC_ID) : apic_read(APIC_ID) >> 24;
}

bool apic_read_bit(unsigned reg, int n)
{
	return (apic_read(reg + (unsigned)(n / 32) * 16) >> (n % 32)) & 1;
}

void eoi(void)
{
	apic_write(APIC_EOI, 0);
}

uint8_t apic_get_tpr(void)
{
#ifdef __x86_64__
	return (uint8_t)read_cr8();
#else
	return (uint8_t)(apic_read(APIC_TASKPRI) >> 4);
#endif
}

void apic_set_tpr(uint8_t tpr)
{
#ifdef __x86_64__
	write_cr8(tpr);
#else
	apic_write(APIC_TASKPRI, (uint32_t)tpr << 4);
#endif
}

void disable_apic(void)
{
	wrmsr(MSR_IA32_APICBASE, rdmsr(MSR_IA32_APICBASE) & ~(uint64_t)(APIC_EN | APIC_EXTD));
	x2apic = false;
}

void reset_apic(void)
{
	disable_apic();
	wrmsr(MSR_IA32_APICBASE, rdmsr(MSR_IA32_APICBASE) | APIC_EN);
	xapic[APIC_SPIV / 4] = 0x1ff;
}

void enable_apic(void)
{
	apic_write(APIC_SPIV, 0x1ff);
}

bool enable_x2apic(void)
{
	if (!(cpuid(1).c & CPUID_1_ECX_X2APIC))
		return false;
	wrmsr(MSR_IA32_APICBASE, rdmsr(MSR_IA32_APICBASE) | APIC_EXTD);
	x2apic = true;
	return true;
}

void mask_pic_interrupts(void)
{
	outb(0xff, 0x21);
	outb(0xff, 0xa1);
}

uint32_t ioapic_read_reg(unsigned reg)
{
	ioapic[0] = reg;
	return ioapic[4];
}

void ioapic_write_reg(unsigned reg, uint32_t value)
{
	ioapic[0] = reg;
	ioapic[4] = value;
}
