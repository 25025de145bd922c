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

#define PCI_BDF(bus, dev, fn)	((uint16_t)(((bus) << 8) | ((dev) << 3) | (fn)))

uint32_t pci_config_readl(uint16_t bdf, uint8_t reg);
uint16_t pci_config_readw(uint16_t bdf, uint8_t reg);
uint8_t pci_config_readb(uint16_t bdf, uint8_t reg);
void pci_config_writel(uint16_t bdf, uint8_t reg, uint32_t val);

#endif
