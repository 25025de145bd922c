import { Command, PCI_BAR0, PCI_COMMAND, PCI_INTERRUPT_LINE, PCI_INTERRUPT_PIN } from './pci-function.js';
import type { PciHost } from './pci-host.js';
import { ICH9_LPC_DEVFN, PIRQS, pirqRouteRegister } from './pci-q35.js';

/**
 * What SeaBIOS's PCI setup leaves in configuration space on q35 (coreboot/seabios
 * src/fw/pciinit.c at 0784d04c, pci_setup), done once when the machine is built, because
 * kvm-unit-tests reads BARs and interrupt lines and never assigns them:
 *
 * - PCI hole (mch_mem_addr_setup): MMCONFIG takes 0xB0000000-0xBFFFFFFF, so 32-bit memory BARs
 *   go in [0xC0000000, 0xFEC00000): below the IOAPIC (0xFEC00000), hence also below VT-d
 *   (0xFED90000), the local APIC (0xFEE00000), pc-testdev's iomem (0xFF000000) and the reset ROM.
 * - Memory BARs (pci_bios_init_root_regions_mem, pci_region_map_entries): the non-prefetchable
 *   region's total size is placed as high as it fits, aligned down to its largest BAR, ending at
 *   the hole's end (BUILD_PCIMEM_END); the BARs are then laid out from that base upwards in the
 *   order pci_region_create_entry keeps, largest alignment first, equal ones in bus order. A
 *   memory BAR smaller than 4 KiB takes 4 KiB (PCI_DEVICE_MEM_MIN).
 * - PIRQ routing (mch_isa_bridge_setup): PIRQA-H go to ISA IRQ pci_irqs[i & 3], with
 *   pci_irqs = {10, 10, 11, 11} (the ELCR's level bits for IRQ10/11 are in bios-state.ts).
 * - Each function (pci_bios_init_device): interrupt line = pci_irqs[(pin - 1 + slot) & 3] for
 *   slots 0-24 and pci_irqs[(pin - 1) & 3] for 25-31 (mch_pci_slot_get_irq), then the command
 *   register gets I/O Space, Memory Space and SERR# Enable; Bus Master is left to the driver.
 *
 * Not done: I/O BARs (no modeled device has one), 64-bit and prefetchable BARs, bridges, option
 * ROMs. A set of BARs that does not fit the hole is an error, as SeaBIOS's "PCI: out of 32bit
 * address space" is fatal to its PCI setup.
 */
export const Q35_PCI_HOLE_START = 0xc0000000;
export const Q35_PCI_HOLE_END = 0xfec00000;
const PCI_IRQS = [10, 10, 11, 11] as const;

/** SeaBIOS's interrupt line for pin `pin` (1-4) of a function in `slot` on q35. */
export function seabiosIntxLine(slot: number, pin: number): number {
  return slot <= 24 ? PCI_IRQS[(pin - 1 + slot) & 3] : PCI_IRQS[(pin - 1) & 3];
}

export function setupPciLikeSeaBios(host: PciHost, holeStart = Q35_PCI_HOLE_START, holeEnd = Q35_PCI_HOLE_END): void {
  const lpc = host.at(ICH9_LPC_DEVFN);
  if (lpc !== undefined) for (let p = 0; p < PIRQS; p++) lpc.write(pirqRouteRegister(p), 1, PCI_IRQS[p & 3]);

  const bars: Array<{ fn: ReturnType<PciHost['list']>[number]['fn']; index: number; size: number }> = [];
  for (const { fn } of host.list()) fn.bars.forEach((bar, index) => bars.push({ fn, index, size: Math.max(bar.size, 4096) }));
  if (bars.length > 0) {
    const sum = bars.reduce((s, b) => s + b.size, 0);
    const align = Math.max(...bars.map((b) => b.size));
    const base = Math.floor((holeEnd - sum) / align) * align;
    if (base < holeStart) throw new Error(`PCI: the memory BARs (${sum} bytes) do not fit the PCI hole 0x${holeStart.toString(16)}-0x${holeEnd.toString(16)}`);
    // Largest first; equal sizes keep bus order (SeaBIOS's list insertion is stable in bus order).
    bars.sort((a, b) => b.size - a.size);
    let at = base;
    for (const b of bars) {
      b.fn.write(PCI_BAR0 + 4 * b.index, 4, at);
      at += b.size;
    }
  }

  for (const { devfn, fn } of host.list()) {
    const pin = fn.read(PCI_INTERRUPT_PIN, 1);
    if (pin !== 0) fn.write(PCI_INTERRUPT_LINE, 1, seabiosIntxLine(devfn >> 3, pin));
    fn.write(PCI_COMMAND, 2, fn.command | Command.IO | Command.MEMORY | Command.SERR);
  }
}
