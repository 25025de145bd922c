/*
 * ACPI table discovery the way kvm-unit-tests' lib/x86/acpi.c does it: scan
 * the BIOS area 0xE0000-0xFFFFF on 16-byte boundaries for "RSD PTR ", then
 * walk the RSDT (32-bit pointers) or the XSDT (64-bit pointers, RSDP
 * revision 2 or later) comparing 4-byte signatures. Layouts follow the ACPI
 * specification; only the fields guests read are named. Portable (-m32).
 */
#ifndef X86_ACPI_H
#define X86_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#define ACPI_SIGNATURE(c1, c2, c3, c4) \
	((uint32_t)(c1) | ((uint32_t)(c2) << 8) | ((uint32_t)(c3) << 16) | ((uint32_t)(c4) << 24))

#define RSDT_SIGNATURE ACPI_SIGNATURE('R', 'S', 'D', 'T')
#define XSDT_SIGNATURE ACPI_SIGNATURE('X', 'S', 'D', 'T')
#define FACP_SIGNATURE ACPI_SIGNATURE('F', 'A', 'C', 'P')
#define FACS_SIGNATURE ACPI_SIGNATURE('F', 'A', 'C', 'S')
#define DSDT_SIGNATURE ACPI_SIGNATURE('D', 'S', 'D', 'T')
#define MADT_SIGNATURE ACPI_SIGNATURE('A', 'P', 'I', 'C')

struct rsdp_descriptor {
	char signature[8];		/* "RSD PTR " */
	uint8_t checksum;		/* over the first 20 bytes */
	char oem_id[6];
	uint8_t revision;		/* 0: ACPI 1.0; 2: ACPI 2.0+, fields below valid */
	uint32_t rsdt_physical_address;
	uint32_t length;
	uint64_t xsdt_physical_address;
	uint8_t extended_checksum;	/* over `length` bytes */
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_table_header {
	uint32_t signature;
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t asl_compiler_id;
	uint32_t asl_compiler_revision;
} __attribute__((packed));

/* FADT fields up to the ACPI 1.0 end (revision 1 is 116 bytes long). */
struct fadt_descriptor {
	struct acpi_table_header header;
	uint32_t firmware_ctrl;		/* FACS */
	uint32_t dsdt;
	uint8_t model;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;		/* offset 0x4c */
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved;
	uint32_t flags;			/* bit 8 TMR_VAL_EXT: 32-bit PM timer */
} __attribute__((packed));

#define FADT_F_TMR_VAL_EXT (1u << 8)

struct facs_descriptor {
	uint32_t signature;
	uint32_t length;
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
} __attribute__((packed));

/* MADT: header, local APIC address, flags, then variable-length entries. */
struct madt_descriptor {
	struct acpi_table_header header;
	uint32_t local_apic_address;
	uint32_t flags;			/* bit 0 PCAT_COMPAT */
	uint8_t entries[];
} __attribute__((packed));

#define MADT_LOCAL_APIC		0
#define MADT_IOAPIC		1
#define MADT_INT_SRC_OVERRIDE	2
#define MADT_LOCAL_APIC_NMI	4

/* Sum of `len` bytes: 0 for a valid checksum. */
uint8_t acpi_checksum(const void *p, unsigned len);
/* The RSDP found by the BIOS-area scan, or 0. */
struct rsdp_descriptor *acpi_find_rsdp(void);
/* The table with `sig` listed in the RSDT / XSDT, or 0. */
void *acpi_find_in_rsdt(uint32_t sig);
void *acpi_find_in_xsdt(uint32_t sig);
/* Upstream's find_acpi_table_addr: XSDT if RSDP revision >= 2, else RSDT; FACS via the FADT. */
void *find_acpi_table_addr(uint32_t sig);

#endif
