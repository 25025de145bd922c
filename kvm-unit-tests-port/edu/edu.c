/*
 * edu: QEMU's educational PCI device (hw/misc/edu.c, docs/specs/edu.txt)
 * on a q35 machine (-M q35 -device edu), as kvm-unit-tests' lib/pci-edu.c
 * and x86/intel-iommu.c use it, without the IOMMU: find the device by
 * scanning bus 0, read its header as the firmware left it (BAR0 assigned
 * and memory decoding on, the interrupt line routed), size BAR0, check the
 * identification and liveness registers and the factorial, DMA a buffer
 * from RAM into the device and back, and take the device's interrupt
 * through MSI (raised by hand and at the end of a DMA) and through INTx
 * and the IOAPIC pin the interrupt line names, edge- and level-triggered,
 * with the command register's Interrupt Disable holding INTx back.
 * Addresses that depend on the firmware's layout (BAR0, the buffers) are
 * not printed, so the output is the same under QEMU and mmulab.
 */
#include "libcflat.h"
#include "x86/apic.h"
#include "x86/desc.h"
#include "x86/edu.h"
#include "x86/pci.h"
#include "x86/processor.h"


#define MSI_FLAGS_ENABLE	0x1
#define MSI_FLAGS_64BIT		0x80


#define VECTOR_MSI		0xee
#define VECTOR_INTX		0xed
#define WAIT_LOOPS		100000

static uint16_t bdf;
static volatile uint8_t *regs;
static uint8_t msi_cap;
static volatile unsigned irqs;
static volatile uint32_t seen_status;
static uint8_t ram_src[4096] __attribute__((aligned(4096)));
static uint8_t ram_dst[4096] __attribute__((aligned(4096)));

static uint32_t edu_read(unsigned reg)
{
	return *(volatile uint32_t *)(regs + reg);
}

static void edu_write(unsigned reg, uint32_t val)
{
	*(volatile uint32_t *)(regs + reg) = val;
}

/* The handler acknowledges what the device reports, as intel-iommu.c's edu_isr. */
static void edu_isr(struct ex_regs *r)
{
	(void)r;
	seen_status = edu_read(EDU_INTR_STATUS);
	edu_write(EDU_INTR_ACK, seen_status);
	irqs++;
	eoi();
}

static bool wait_irqs(unsigned n)
{
	for (long i = 0; i < WAIT_LOOPS && irqs < n; i++)
		pause();
	return irqs >= n;
}

static bool find_edu(void)
{
	int devfn = pci_find_device(EDU_VENDOR, EDU_DEVICE);

	if (devfn < 0)
		return false;
	bdf = devfn;
	return true;
}

static void check_header(void)
{
	uint32_t cls = pci_config_readl(bdf, PCI_CLASS_REVISION);
	uint8_t cap = pci_config_readb(bdf, PCI_CAPABILITY_LIST);
	uint32_t bar, size;

	report(cls == 0x00ff0010, "class 0x00ff, revision 0x10 (got %#x)", cls);
	report(pci_config_readb(bdf, PCI_HEADER_TYPE) == 0, "header type 0");
	report(pci_config_readb(bdf, PCI_INTERRUPT_PIN) == 1, "interrupt pin INTA#");
	report((pci_config_readw(bdf, 0x06) & PCI_STATUS_CAP_LIST) != 0, "status: capability list");
	while (cap != 0 && pci_config_readb(bdf, cap) != PCI_CAP_ID_MSI)
		cap = pci_config_readb(bdf, cap + 1);
	msi_cap = cap;
	report(msi_cap != 0 && (pci_config_readw(bdf, msi_cap + 2) & MSI_FLAGS_64BIT) != 0,
	       "MSI capability, 64-bit");
	report((pci_config_readw(bdf, PCI_COMMAND) & PCI_COMMAND_MEMORY) != 0,
	       "firmware enabled memory decoding");
	printf("interrupt line %u\n", pci_config_readb(bdf, PCI_INTERRUPT_LINE));

	bar = pci_config_readl(bdf, PCI_BAR0);
	pci_config_writel(bdf, PCI_BAR0, ~0u);
	size = ~(pci_config_readl(bdf, PCI_BAR0) & ~0xfu) + 1;
	pci_config_writel(bdf, PCI_BAR0, bar);
	report(size == 1u << 20 && (bar & 0xf) == 0, "BAR0: 1 MiB of 32-bit memory");
	report(pci_config_readl(bdf, PCI_BAR0) == bar, "BAR0 restored");
	regs = (volatile uint8_t *)(unsigned long)(bar & ~0xfu);

	/* kvm-unit-tests' pci_enable_defaults: bus master on. */
	pci_config_writew(bdf, PCI_COMMAND, pci_config_readw(bdf, PCI_COMMAND) | PCI_COMMAND_MASTER);
}

static void check_registers(void)
{
	static const uint32_t values[] = { 0, 1, 0x12345678, 0xffffffff };
	bool alive = true;

	report(edu_read(EDU_ID) == 0x010000ed, "identification 0x010000ed");
	for (unsigned i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		edu_write(EDU_ALIVE, values[i]);
		alive &= edu_read(EDU_ALIVE) == ~values[i];
	}
	report(alive, "liveness: reads back the complement");
	edu_write(EDU_FACTORIAL, 10);
	while (edu_read(EDU_STATUS) & 1)
		pause();
	report(edu_read(EDU_FACTORIAL) == 3628800, "factorial of 10");
}

static void check_dma(void)
{
	bool same = true, outside = true;

	for (unsigned i = 0; i < sizeof(ram_src); i++) {
		ram_src[i] = (uint8_t)(i * 7 + 3);
		ram_dst[i] = 0x5a;
	}
	/* RAM -> device buffer offset 256, then buffer -> RAM at ram_dst + 16. */
	edu_dma(regs, (unsigned long)ram_src, EDU_DMA_BUF + 256, 1024, 0);
	edu_dma(regs, EDU_DMA_BUF + 256, (unsigned long)ram_dst + 16, 1024, EDU_CMD_TO_RAM);
	for (unsigned i = 0; i < 1024; i++)
		same &= ram_dst[16 + i] == ram_src[i];
	for (unsigned i = 0; i < 16; i++)
		outside &= ram_dst[i] == 0x5a && ram_dst[16 + 1024 + i] == 0x5a;
	report(same, "DMA to the device and back: 1024 bytes");
	report(outside, "DMA wrote nothing outside its range");
	report(edu_read(EDU_DMA_SRC) == EDU_DMA_BUF + 256 && edu_read(EDU_DMA_COUNT) == 1024,
	       "DMA registers read back");
}

static void msi_enable(bool on)
{
	uint16_t flags = pci_config_readw(bdf, msi_cap + 2);

	pci_config_writew(bdf, msi_cap + 2, on ? flags | MSI_FLAGS_ENABLE : flags & ~MSI_FLAGS_ENABLE);
}

static void check_msi(void)
{
	pci_config_writel(bdf, msi_cap + 4, 0xfee00000u | (apic_id() << 12));
	pci_config_writel(bdf, msi_cap + 8, 0);
	pci_config_writel(bdf, msi_cap + 12, VECTOR_MSI);
	msi_enable(true);
	handle_exception(VECTOR_MSI, edu_isr);

	irqs = 0;
	edu_write(EDU_INTR_RAISE, 0x1);
	report(wait_irqs(1) && seen_status == 0x1, "MSI: raise 0x1 interrupts, the handler sees 0x1");
	report(edu_read(EDU_INTR_STATUS) == 0, "MSI: acknowledged");

	irqs = 0;
	ram_src[0] = 0xa5;
	edu_dma(regs, (unsigned long)ram_src, EDU_DMA_BUF, 4, EDU_CMD_IRQ);
	report(wait_irqs(1) && seen_status == EDU_DMA_IRQ, "MSI: DMA done interrupt, status 0x100");
	msi_enable(false);
}

static void ioapic_route(unsigned pin, bool level, bool masked)
{
	ioapic_write_reg(0x11 + 2 * pin, apic_id() << 24);
	ioapic_write_reg(0x10 + 2 * pin, VECTOR_INTX | (level ? 1u << 15 : 0) | (masked ? 1u << 16 : 0));
}

static void check_intx(void)
{
	unsigned line = pci_config_readb(bdf, PCI_INTERRUPT_LINE);
	uint16_t cmd = pci_config_readw(bdf, PCI_COMMAND);

	handle_exception(VECTOR_INTX, edu_isr);

	ioapic_route(line, false, false);
	irqs = 0;
	edu_write(EDU_INTR_RAISE, 0x2);
	report(wait_irqs(1) && seen_status == 0x2, "INTx, edge: one interrupt on the interrupt line's IOAPIC pin");

	ioapic_route(line, true, false);
	irqs = 0;
	edu_write(EDU_INTR_RAISE, 0x4);
	report(wait_irqs(1) && seen_status == 0x4, "INTx, level: interrupt while the status is set");
	report(!wait_irqs(2), "INTx, level: acknowledged before EOI, no second interrupt");
	report((ioapic_read_reg(0x10 + 2 * line) & (1u << 14)) == 0, "INTx, level: remote IRR clear after EOI");

	pci_config_writew(bdf, PCI_COMMAND, cmd | PCI_COMMAND_INTX_DISABLE);
	irqs = 0;
	edu_write(EDU_INTR_RAISE, 0x8);
	report(!wait_irqs(1), "INTx disabled in the command register: no interrupt");
	pci_config_writew(bdf, PCI_COMMAND, cmd);
	report(wait_irqs(1) && seen_status == 0x8, "INTx enabled again: the pending status interrupts");
	ioapic_route(line, false, true);
}

int main(void)
{
	mask_pic_interrupts();
	enable_apic();
	if (!find_edu()) {
		report_skip("no edu device (run with -M q35 -device edu)");
		return report_summary();
	}
	printf("edu at 00:%02x.%x\n", bdf >> 3, bdf & 7);
	check_header();
	check_registers();
	check_dma();
	sti();
	if (msi_cap != 0)
		check_msi();
	check_intx();
	return report_summary();
}
