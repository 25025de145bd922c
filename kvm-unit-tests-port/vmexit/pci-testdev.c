/*
 * pci-mem and pci-io: writes to QEMU's pci-testdev (1b36:0005), which
 * offers a list of numbered tests on each of its two BARs (BAR0 memory,
 * BAR1 I/O). Each BAR starts with a header: writing a test's number to
 * byte 0 selects it; then byte 1 is the access width (1, 2 or 4; anything
 * else ends the list), the word at 4 the offset in the BAR to write to, the
 * word at 8 the value to write, and from byte 16 the test's name. Each test
 * is one measurement, printed as "<test name>:pci-mem <cycles>".
 * mmulab has no such device, and neither has QEMU without
 * -device pci-testdev: both sub-tests are then skipped.
 */
#include "vmexit.h"
#include "x86/io.h"
#include "x86/pci.h"

#define PCI_TESTDEV_VENDOR	0x1b36
#define PCI_TESTDEV_DEVICE	0x0005
#define PCI_COMMAND		0x04
#define PCI_COMMAND_IO		0x1
#define PCI_COMMAND_MEMORY	0x2
#define PCI_BAR0		0x10
#define PCI_BAR1		0x14

#define HDR_TEST	0
#define HDR_WIDTH	1
#define HDR_OFFSET	4
#define HDR_DATA	8
#define HDR_NAME	16
#define NAME_MAX	32

static bool present;
static unsigned long mem_base;
static u16 io_base;

/* The access under test: set before each measurement. */
static volatile u8 *mem_target;
static u16 io_target;
static u32 value;

static void mem_write8(void) { *(volatile u8 *)mem_target = value; }
static void mem_write16(void) { *(volatile u16 *)mem_target = value; }
static void mem_write32(void) { *(volatile u32 *)mem_target = value; }
static void io_write8(void) { outb(value, io_target); }
static void io_write16(void) { outw(value, io_target); }
static void io_write32(void) { outl(value, io_target); }

void pci_testdev_init(void)
{
	for (unsigned bdf = 0; bdf < 256; bdf++) {
		u32 bar0, bar1;

		if (pci_config_readw(bdf, PCI_VENDOR_ID) != PCI_TESTDEV_VENDOR ||
		    pci_config_readw(bdf, PCI_DEVICE_ID) != PCI_TESTDEV_DEVICE)
			continue;
		bar0 = pci_config_readl(bdf, PCI_BAR0);
		bar1 = pci_config_readl(bdf, PCI_BAR1);
		if ((bar0 & 1) || !(bar1 & 1) || !(bar0 & ~0xfu) || !(bar1 & ~3u)) {
			report_info("pci-testdev at %#x: BARs %#x %#x not assigned as memory + I/O", bdf, bar0, bar1);
			return;
		}
		pci_config_writel(bdf, PCI_COMMAND,
				  pci_config_readl(bdf, PCI_COMMAND) | PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
		mem_base = bar0 & ~0xful;
		io_base = bar1 & ~3u;
		present = true;
		report_info("pci-testdev at %#x: memory BAR %#lx, I/O BAR %#x", bdf, mem_base, io_base);
		return;
	}
}

static u8 hdr_read8(bool mmio, unsigned off)
{
	return mmio ? *(volatile u8 *)(mem_base + off) : inb(io_base + off);
}

static u32 hdr_read32(bool mmio, unsigned off)
{
	return mmio ? *(volatile u32 *)(mem_base + off) : inl(io_base + off);
}

static void hdr_write8(bool mmio, unsigned off, u8 v)
{
	if (mmio)
		*(volatile u8 *)(mem_base + off) = v;
	else
		outb(v, io_base + off);
}

void pci_testdev_run(bool mmio, unsigned long goal, unsigned long fixed)
{
	static void (*const writers[2][3])(void) = {
		{ io_write8, io_write16, io_write32 },
		{ mem_write8, mem_write16, mem_write32 },
	};
	const char *kind = mmio ? "pci-mem" : "pci-io";

	if (!present) {
		report_skip("%s: no pci-testdev (%04x:%04x) on PCI bus 0", kind,
			    PCI_TESTDEV_VENDOR, PCI_TESTDEV_DEVICE);
		return;
	}
	for (unsigned test = 0;; test++) {
		char name[NAME_MAX + 1];
		unsigned width, offset, i;
		struct measurement m;

		hdr_write8(mmio, HDR_TEST, test);
		width = hdr_read8(mmio, HDR_WIDTH);
		if (width != 1 && width != 2 && width != 4)
			break;
		offset = hdr_read32(mmio, HDR_OFFSET);
		value = hdr_read32(mmio, HDR_DATA);
		for (i = 0; i < NAME_MAX; i++) {
			name[i] = hdr_read8(mmio, HDR_NAME + i);
			if (!name[i])
				break;
		}
		name[i] = 0;
		mem_target = (volatile u8 *)(mem_base + offset);
		io_target = io_base + offset;
		m = measure(writers[mmio][width == 1 ? 0 : width == 2 ? 1 : 2], goal, fixed);
		printf("%s:%s %lu\n", name, kind, m.cycles);
		report(true, "%s:%s: %lu iterations", name, kind, m.iterations);
	}
}
