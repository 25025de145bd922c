/*
 * PCI configuration space through mechanism #1 (ports 0xCF8/0xCFC), as
 * kvm-unit-tests' lib/x86/asm/pci.h does it. A function is named by its
 * bus/device/function triple packed as bdf = bus << 8 | dev << 3 | fn.
 * Portable (-m32).
 */
#ifndef X86_PCI_H
#define X86_PCI_H

#include <stdint.h>

#define PCI_CONF1_ADDRESS	0xcf8
#define PCI_CONF1_DATA		0xcfc

#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_HEADER_TYPE		0x0e
#define PCI_HEADER_MULTIFUNCTION 0x80
#define PCI_VENDOR_NONE		0xffff
#define PCI_COMMAND		0x04
#define PCI_COMMAND_MEMORY	0x2
#define PCI_COMMAND_MASTER	0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_CAP_LIST	0x10
#define PCI_CLASS_REVISION	0x08
#define PCI_BAR0		0x10
#define PCI_CAPABILITY_LIST	0x34
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d
#define PCI_CAP_ID_MSI		0x05

#define PCI_BDF(bus, dev, fn)	((uint16_t)(((bus) << 8) | ((dev) << 3) | (fn)))

uint32_t pci_config_readl(uint16_t bdf, uint8_t reg);
uint16_t pci_config_readw(uint16_t bdf, uint8_t reg);
uint8_t pci_config_readb(uint16_t bdf, uint8_t reg);
void pci_config_writel(uint16_t bdf, uint8_t reg, uint32_t val);
/* A 16-bit write through the DWORD accessor: read, merge, write. */
void pci_config_writew(uint16_t bdf, uint8_t reg, uint16_t val);
/* The first function on bus 0 with this vendor and device ID, or -1. */
int pci_find_device(uint16_t vendor, uint16_t device);

#endif
