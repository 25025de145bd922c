/*
 * platform: boots the way kvm-unit-tests' startup code does (x86/cstart64.S,
 * lib/x86/setup.c, smp.c, io.c, acpi.c, fwcfg.c, pci.c) and checks every
 * platform answer it relies on, one report per step:
 *
 *   serial init sequence and register read-back; APIC reset and enable
 *   (IA32_APIC_BASE EN off and on, SPIV = 0x1ff) and the 8259 masks; page 0
 *   as RAM and the INIT then SIPI broadcast to all but self, each followed by
 *   the delivery-status poll; the CPU count from fw_cfg key 5 (must be 1) and
 *   the other fw_cfg items; the RSDP scan of 0xE0000-0xFFFFF, the RSDT and
 *   XSDT walks to the FACP, FACS, DSDT and MADT with their checksums; the PM
 *   timer read through FADT.pm_tmr_blk (it must advance); a PCI bus-0 scan of
 *   vendor IDs; port 0x80 and unassigned ports.
 *
 * Values that legitimately differ between machines (table addresses, PCI
 * devices QEMU has and mmulab does not, the RSDP revision) are INFO lines;
 * PASS/FAIL lines are the same on every correct PC.
 */
#include "libcflat.h"
#include "x86/acpi.h"
#include "x86/apic.h"
#include "x86/desc.h"
#include "x86/fwcfg.h"
#include "x86/io.h"
#include "x86/pci.h"
#include "x86/processor.h"

#define COM1 0x3f8

/* The sequence of kvm-unit-tests' lib/x86/io.c serial_init(), with read-back checks. */
static void test_serial_init(void)
{
	u8 lcr, dll, dlm;
	bool ok = true;

	lcr = inb(COM1 + 3);
	outb(lcr | 0x80, COM1 + 3);		/* DLAB */
	outb(0x01, COM1 + 0);			/* 115200 baud */
	outb(0x00, COM1 + 1);
	dll = inb(COM1 + 0);
	dlm = inb(COM1 + 1);
	ok &= dll == 0x01 && dlm == 0x00;
	lcr = inb(COM1 + 3);
	ok &= (lcr & 0x80) != 0;
	outb(lcr & ~0x80, COM1 + 3);
	outb(0x00, COM1 + 1);			/* IER: no interrupts */
	outb(0x03, COM1 + 3);			/* 8N1 */
	outb(0x00, COM1 + 2);			/* FCR: FIFOs off */
	outb(0x03, COM1 + 4);			/* MCR: DTR, RTS */
	ok &= inb(COM1 + 3) == 0x03;
	ok &= inb(COM1 + 1) == 0x00;
	ok &= (inb(COM1 + 4) & 0x1f) == 0x03;
	ok &= (inb(COM1 + 5) & 0x60) == 0x60;	/* THRE and TEMT */
	report(ok, "serial: init sequence, divisor/LCR/IER/MCR read back, LSR.THRE set");
}

/* cstart64's reset_apic(), enable_apic() and mask_pic_interrupts(). */
static void test_apic_boot(void)
{
	u64 base = rdmsr(MSR_IA32_APICBASE);
	u32 disabled_id, version;

	report((base & ~0xfffull) == APIC_DEFAULT_PHYS_BASE && (base & APIC_BSP) && (base & APIC_EN),
	       "APIC: IA32_APIC_BASE is 0xfee00000, enabled, BSP");
	report(cpuid(1).d & CPUID_1_EDX_APIC, "APIC: CPUID.1:EDX.APIC set");

	disable_apic();
	report(!(rdmsr(MSR_IA32_APICBASE) & (APIC_EN | APIC_EXTD)), "APIC: EN and EXTD cleared");
	/*
	 * SDM 11.4.3: with IA32_APIC_BASE[11] = 0 the processor is like one
	 * without an APIC: the page is not decoded (reads all ones) and
	 * CPUID.1:EDX.APIC reads 0. QEMU TCG keeps answering the page.
	 */
	disabled_id = *(volatile u32 *)(APIC_DEFAULT_PHYS_BASE + APIC_ID);
	report_info("APIC: while disabled, the ID register reads 0x%x and CPUID.1:EDX.APIC is %u",
		    disabled_id, (cpuid(1).d & CPUID_1_EDX_APIC) ? 1 : 0);

	/*
	 * SDM 11.4.3: on FSB-based processors software may set EN again
	 * without a reset; kvm-unit-tests' reset_apic() relies on it. QEMU TCG
	 * models the P6 3-wire bus instead ("cannot be enabled again").
	 */
	reset_apic();
	report_info("APIC: IA32_APIC_BASE after setting EN again: 0x%llx",
		    (unsigned long long)rdmsr(MSR_IA32_APICBASE));
	report(apic_read(APIC_SPIV) == 0x1ff, "APIC: SPIV reads 0x1ff after reset_apic");
	enable_apic();
	report(apic_id() == 0, "APIC: ID is 0 (the BSP, MADT's APIC ID)");
	version = apic_read(APIC_LVR);
	report((version & 0xff) >= 0x10 && (version & 0xff) <= 0x15 && ((version >> 16) & 0xff) >= 5,
	       "APIC: version 0x%x: integrated APIC, at least 6 LVT entries", version);

	mask_pic_interrupts();
	report(inb(0x21) == 0xff && inb(0xa1) == 0xff, "PIC: both masks read 0xff");
}

/* bringup_aps(): page 0 gets the SIPI trampoline, then INIT and SIPI to all but self. */
static void test_ap_bringup(void)
{
	volatile u8 *page0 = (volatile u8 *)0;
	bool ok = true;
	u32 icr = 0;
	int spins;

	/* The identity map covers page 0; a null pointer is the point here. */
	asm volatile("" : "+r"(page0));
	for (int i = 0; i < 4096; i++)
		page0[i] = 0xcc;
	for (int i = 0; i < 4096; i += 512)
		ok &= page0[i] == 0xcc;
	report(ok, "SMP: physical page 0 is writable RAM (trampoline area)");

	apic_write(APIC_ESR, 0);
	apic_icr_write(APIC_DEST_ALLBUT | APIC_DEST_PHYSICAL | APIC_DM_INIT | APIC_INT_ASSERT, 0);
	for (spins = 0; spins < 1000 && ((icr = apic_read(APIC_ICR)) & APIC_ICR_BUSY); spins++)
		;
	report(!(icr & APIC_ICR_BUSY), "SMP: INIT to all but self accepted, delivery status reads 0");
	report((icr & 0xcffff) == 0xc4500, "SMP: ICR reads back 0x%x", icr);

	apic_icr_write(APIC_DEST_ALLBUT | APIC_DEST_PHYSICAL | APIC_DM_STARTUP, 0);
	for (spins = 0; spins < 1000 && ((icr = apic_read(APIC_ICR)) & APIC_ICR_BUSY); spins++)
		;
	report(!(icr & APIC_ICR_BUSY), "SMP: SIPI (vector 0) to all but self accepted, delivery status reads 0");
	apic_write(APIC_ESR, 0);
	report(apic_read(APIC_ESR) == 0, "SMP: no APIC error after INIT and SIPI");
}

static void test_fwcfg(void)
{
	char sig[5] = { 0 };
	u32 id;
	u64 ram;
	unsigned cpus, max_cpus;
	u8 past_end, unknown;

	fwcfg_select(FW_CFG_SIGNATURE);
	fwcfg_read_bytes(sig, 4);
	report(!strcmp(sig, "QEMU"), "fw_cfg: signature \"%s\"", sig);
	fwcfg_select(FW_CFG_SIGNATURE);
	fwcfg_read_bytes(sig, 2);
	fwcfg_select(FW_CFG_SIGNATURE);
	fwcfg_read_bytes(sig, 4);
	report(!strcmp(sig, "QEMU"), "fw_cfg: selecting again rewinds the item");

	id = (u32)fwcfg_get_u(FW_CFG_ID, 4);
	report(id & 1, "fw_cfg: ID advertises the traditional interface");
	report_info("fw_cfg: ID 0x%x", id);

	cpus = fwcfg_get_nb_cpus();
	report(cpus == 1, "fw_cfg: NB_CPUS = %u (the CPU count smp_init waits for)", cpus);
	max_cpus = (unsigned)fwcfg_get_u(FW_CFG_MAX_CPUS, 2);
	report(max_cpus >= cpus, "fw_cfg: MAX_CPUS %u >= NB_CPUS", max_cpus);

	ram = fwcfg_get_u(FW_CFG_RAM_SIZE, 8);
	report(ram == 128ull << 20, "fw_cfg: RAM_SIZE is 128 MiB (0x%llx)", (unsigned long long)ram);

	fwcfg_select(FW_CFG_NB_CPUS);
	fwcfg_read_bytes(sig, 2);
	past_end = inb(FW_CFG_PORT_DATA);
	report(past_end == 0, "fw_cfg: reading past the end of an item gives 0");
	unknown = (u8)fwcfg_get_u(0x3000, 1);
	report(unknown == 0, "fw_cfg: an item that does not exist reads 0");
}

static u32 pm_tmr_port;
static u32 fadt_flags;

static void test_acpi(void)
{
	struct rsdp_descriptor *rsdp = acpi_find_rsdp();
	struct acpi_table_header *rsdt, *xsdt;
	struct fadt_descriptor *fadt, *xfadt;
	struct facs_descriptor *facs;
	struct acpi_table_header *dsdt;
	struct madt_descriptor *madt;

	report(rsdp != 0, "ACPI: RSDP found by the scan of 0xE0000-0xFFFFF");
	if (!rsdp)
		return;
	report(((unsigned long)rsdp & 15) == 0 && (unsigned long)rsdp >= 0xe0000 && (unsigned long)rsdp < 0x100000,
	       "ACPI: RSDP on a 16-byte boundary in the BIOS area");
	report(acpi_checksum(rsdp, 20) == 0, "ACPI: RSDP checksum (first 20 bytes)");
	report(rsdp->revision < 2 || acpi_checksum(rsdp, rsdp->length) == 0,
	       "ACPI: RSDP extended checksum (revision >= 2)");
	report_info("ACPI: RSDP at 0x%lx, revision %u, RSDT 0x%x, XSDT 0x%llx", (unsigned long)rsdp,
		    rsdp->revision, rsdp->rsdt_physical_address,
		    (unsigned long long)(rsdp->revision >= 2 ? rsdp->xsdt_physical_address : 0));

	rsdt = acpi_find_in_rsdt(RSDT_SIGNATURE);
	report(rsdt && acpi_checksum(rsdt, rsdt->length) == 0, "ACPI: RSDT signature and checksum");
	fadt = acpi_find_in_rsdt(FACP_SIGNATURE);
	report(fadt && acpi_checksum(fadt, fadt->header.length) == 0, "ACPI: RSDT lists the FACP, checksum valid");

	/* With revision >= 2 the XSDT must exist and agree with the RSDT. */
	xsdt = acpi_find_in_xsdt(XSDT_SIGNATURE);
	xfadt = acpi_find_in_xsdt(FACP_SIGNATURE);
	report(rsdp->revision < 2 || (xsdt && acpi_checksum(xsdt, xsdt->length) == 0 && xfadt == fadt),
	       "ACPI: XSDT valid and leads to the same FACP (if RSDP revision >= 2)");
	report(find_acpi_table_addr(FACP_SIGNATURE) == fadt, "ACPI: find_acpi_table_addr(FACP) finds it");
	if (!fadt)
		return;
	report_info("ACPI: FACP revision %u, length %u", fadt->header.revision, fadt->header.length);

	facs = find_acpi_table_addr(FACS_SIGNATURE);
	report(facs && facs->signature == FACS_SIGNATURE && facs->length >= 64 && ((unsigned long)facs & 63) == 0,
	       "ACPI: FADT.FIRMWARE_CTRL points at a 64-byte aligned FACS");
	dsdt = (void *)(unsigned long)fadt->dsdt;
	report(dsdt && dsdt->signature == DSDT_SIGNATURE && acpi_checksum(dsdt, dsdt->length) == 0,
	       "ACPI: FADT.DSDT points at a DSDT with a valid checksum");

	pm_tmr_port = fadt->pm_tmr_blk;
	fadt_flags = fadt->header.length >= 116 ? fadt->flags : 0;
	report(pm_tmr_port == 0x608 && fadt->pm_tmr_len == 4, "ACPI: PM timer block 0x%x, length %u",
	       pm_tmr_port, fadt->pm_tmr_len);
	report(fadt->pm1a_evt_blk == 0x600 && fadt->pm1a_cnt_blk == 0x604 && fadt->pm1_evt_len == 4 &&
	       fadt->pm1_cnt_len == 2, "ACPI: PM1a event block 0x600 (4 bytes), control block 0x604 (2 bytes)");

	madt = find_acpi_table_addr(MADT_SIGNATURE);
	report(madt && acpi_checksum(madt, madt->header.length) == 0, "ACPI: MADT present, checksum valid");
	if (madt) {
		bool cpu0 = false, ioapic = false, irq0 = false;
		const u8 *e = madt->entries;
		const u8 *end = (const u8 *)madt + madt->header.length;

		report(madt->local_apic_address == APIC_DEFAULT_PHYS_BASE, "ACPI: MADT local APIC at 0x%x",
		       madt->local_apic_address);
		while (e + 2 <= end && e[1] >= 2) {
			u32 v;

			switch (e[0]) {
			case MADT_LOCAL_APIC:
				cpu0 |= e[3] == 0 && (e[4] & 1);
				break;
			case MADT_IOAPIC:
				memcpy(&v, e + 4, 4);
				ioapic |= v == IOAPIC_DEFAULT_PHYS_BASE && e[8] == 0 && e[9] == 0 &&
					  e[10] == 0 && e[11] == 0;
				break;
			case MADT_INT_SRC_OVERRIDE:
				memcpy(&v, e + 4, 4);
				irq0 |= e[2] == 0 && e[3] == 0 && v == 2;
				break;
			}
			e += e[1];
		}
		report(cpu0, "ACPI: MADT lists an enabled processor with APIC ID 0");
		report(ioapic, "ACPI: MADT lists the IOAPIC at 0xfec00000, GSI base 0");
		report(irq0, "ACPI: MADT overrides ISA IRQ0 to GSI 2");
	}
}

static u32 pm_read(void)
{
	return inl(pm_tmr_port) & 0xffffff;
}

/* vmexit's inl_from_pmtimer: a 32-bit IN from FADT.pm_tmr_blk. */
static void test_pm_timer(void)
{
	u32 t0, t1, t2;
	int spins = 0;

	if (!pm_tmr_port) {
		report_skip("PM timer: no FADT");
		return;
	}
	t0 = pm_read();
	do {
		t1 = pm_read();
	} while (t1 == t0 && ++spins < 1000000);
	report(t1 != t0, "PM timer: advances");
	report_info("PM timer: 0x%x then 0x%x", t0, t1);
	t2 = pm_read();
	report(((t2 - t0) & 0xffffff) >= ((t1 - t0) & 0xffffff) && ((t2 - t0) & 0xffffff) < 0x800000,
	       "PM timer: monotonic modulo 2^24");
	report((fadt_flags & FADT_F_TMR_VAL_EXT) || (inl(pm_tmr_port) >> 24) == 0,
	       "PM timer: bits 31:24 read 0 when FADT.TMR_VAL_EXT is clear");
}

/* A bus-0 scan like pci_find_dev(): 16-bit vendor-ID reads of every function. */
static void test_pci_scan(void)
{
	unsigned present = 0, plausible = 0;
	u32 addr;

	outl(0x80000000u, PCI_CONF1_ADDRESS);
	addr = inl(PCI_CONF1_ADDRESS);
	report(addr == 0x80000000u, "PCI: CONFIG_ADDRESS reads back what was written (0x%x)", addr);

	for (unsigned dev = 0; dev < 32; dev++) {
		unsigned fns = 1;

		for (unsigned fn = 0; fn < fns; fn++) {
			u16 bdf = PCI_BDF(0, dev, fn);
			u16 vendor = pci_config_readw(bdf, PCI_VENDOR_ID);

			if (vendor == PCI_VENDOR_NONE)
				continue;
			present++;
			plausible += vendor != 0;
			if (fn == 0 && (pci_config_readb(bdf, PCI_HEADER_TYPE) & PCI_HEADER_MULTIFUNCTION))
				fns = 8;
		}
	}
	report_info("PCI: bus 0 has %u functions", present);
	report(plausible == present, "PCI: bus 0 scan reads 0xffff or a real vendor ID everywhere");
	report(pci_config_readw(PCI_BDF(255, 31, 7), PCI_VENDOR_ID) == PCI_VENDOR_NONE &&
	       pci_config_readl(PCI_BDF(255, 31, 7), PCI_VENDOR_ID) == 0xffffffffu,
	       "PCI: an absent function reads vendor 0xffff (all ones)");
}

static void test_ports(void)
{
	u8 elcr0 = inb(0x4d0), elcr1 = inb(0x4d1);

	outb(0xff, 0x4d0);
	outb(0xff, 0x4d1);
	report(inb(0x4d0) == 0xf8 && inb(0x4d1) == 0xde,
	       "ELCR: IRQs 0-2, 8 and 13 stay edge-triggered (reads 0xf8, 0xde)");
	outb(elcr0, 0x4d0);
	outb(elcr1, 0x4d1);

	outb(0x42, 0x80);
	report(true, "port 0x80: POST code write accepted");
	report(inl(0x1234) == 0xffffffffu && inw(0x1234) == 0xffff && inb(0x1234) == 0xff,
	       "unassigned port 0x1234 reads all ones at every width, without a fault");
	outl(0x12345678, 0x1234);
	report(true, "unassigned port 0x1234 ignores writes");
}

int main(void)
{
	report_info("cpuid.1: ecx 0x%x edx 0x%x", cpuid(1).c, cpuid(1).d);
	test_serial_init();
	test_apic_boot();
	test_ap_bringup();
	test_fwcfg();
	test_acpi();
	test_pm_timer();
	test_pci_scan();
	test_ports();
	return report_summary();
}
