/* PCI configuration mechanism #1 (see x86/pci.h). */
#include "libcflat.h"
#include "x86/io.h"
#include "x86/pci.h"

static void select_register(uint16_t bdf, uint8_t reg)
{
	outl(0x80000000u | ((uint32_t)bdf << 8) | (reg & 0xfc), PCI_CONF1_ADDRESS);
}

uint32_t pci_config_readl(uint16_t bdf, uint8_t reg)
{
	select_register(bdf, reg);
	return inl(PCI_CONF1_DATA);
}

uint16_t pci_config_readw(uint16_t bdf, uint8_t reg)
{
	select_register(bdf, reg);
	return inw(PCI_CONF1_DATA + (reg & 2));
}

uint8_t pci_config_readb(uint16_t bdf, uint8_t reg)
{
	select_register(bdf, reg);
	return inb(PCI_CONF1_DATA + (reg & 3));
}

void pci_config_writel(uint16_t bdf, uint8_t reg, uint32_t val)
{
	select_register(bdf, reg);
	outl(val, PCI_CONF1_DATA);
}

void pci_config_writew(uint16_t bdf, uint8_t reg, uint16_t val)
{
	uint32_t dw = pci_config_readl(bdf, reg & ~3);
	unsigned shift = (reg & 2) * 8;

	pci_config_writel(bdf, reg & ~3, (dw & ~(0xffffu << shift)) | ((uint32_t)val << shift));
}

int pci_find_device(uint16_t vendor, uint16_t device)
{
	for (unsigned devfn = 0; devfn < 256; devfn++) {
		if (pci_config_readw(devfn, PCI_VENDOR_ID) == vendor &&
		    pci_config_readw(devfn, PCI_DEVICE_ID) == device)
			return devfn;
	}
	return -1;
}
