/*
 * ACPI discovery (see x86/acpi.h). Table pointers are physical addresses;
 * guests run identity-mapped, so they are used as pointers directly.
 */
#include "libcflat.h"
#include "x86/acpi.h"

uint8_t acpi_checksum(const void *p, unsigned len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}

struct rsdp_descriptor *acpi_find_rsdp(void)
{
	unsigned long addr;

	for (addr = 0xe0000; addr < 0x100000; addr += 16) {
		struct rsdp_descriptor *rsdp = (void *)addr;

		if (!memcmp(rsdp->signature, "RSD PTR ", 8))
			return rsdp;
	}
	return 0;
}

static struct acpi_table_header *table_at(uint64_t phys)
{
	return (struct acpi_table_header *)(unsigned long)phys;
}

void *acpi_find_in_rsdt(uint32_t sig)
{
	struct rsdp_descriptor *rsdp = acpi_find_rsdp();
	struct acpi_table_header *rsdt;
	const uint32_t *entry;
	unsigned n;

	if (!rsdp || !rsdp->rsdt_physical_address)
		return 0;
	rsdt = table_at(rsdp->rsdt_physical_address);
	if (rsdt->signature != RSDT_SIGNATURE)
		return 0;
	if (sig == RSDT_SIGNATURE)
		return rsdt;
	entry = (const uint32_t *)(rsdt + 1);
	n = (rsdt->length - sizeof(*rsdt)) / 4;
	for (unsigned i = 0; i < n; i++) {
		struct acpi_table_header *t = table_at(entry[i]);

		if (entry[i] && t->signature == sig)
			return t;
	}
	return 0;
}

void *acpi_find_in_xsdt(uint32_t sig)
{
	struct rsdp_descriptor *rsdp = acpi_find_rsdp();
	struct acpi_table_header *xsdt;
	const uint8_t *entries;
	unsigned n;

	if (!rsdp || rsdp->revision < 2 || !rsdp->xsdt_physical_address)
		return 0;
	xsdt = table_at(rsdp->xsdt_physical_address);
	if (xsdt->signature != XSDT_SIGNATURE)
		return 0;
	if (sig == XSDT_SIGNATURE)
		return xsdt;
	/* 64-bit entries start at offset 36: only 4-byte aligned, so copy each. */
	entries = (const uint8_t *)(xsdt + 1);
	n = (xsdt->length - sizeof(*xsdt)) / 8;
	for (unsigned i = 0; i < n; i++) {
		uint64_t phys;

		memcpy(&phys, entries + 8 * i, 8);
		if (phys && table_at(phys)->signature == sig)
			return table_at(phys);
	}
	return 0;
}

void *find_acpi_table_addr(uint32_t sig)
{
	struct rsdp_descriptor *rsdp;

	if (sig == FACS_SIGNATURE) {
		struct fadt_descriptor *fadt = find_acpi_table_addr(FACP_SIGNATURE);

		return fadt ? (void *)(unsigned long)fadt->firmware_ctrl : 0;
	}
	rsdp = acpi_find_rsdp();
	if (!rsdp)
		return 0;
	if (rsdp->revision >= 2 && rsdp->xsdt_physical_address)
		return acpi_find_in_xsdt(sig);
	return acpi_find_in_rsdt(sig);
}
