/**
 * A PCI function's view of the system as a bus master: its memory reads and writes (DMA) and its
 * message-signalled interrupts (an MSI is a DWORD memory write to 0xFEEx_xxxx, PCI Local Bus 3.0
 * 6.8), each tagged with the function's requester ID. Without an IOMMU both go straight to
 * guest-physical memory and the APIC bus; with one (VT-d, Intel VT-d spec 3.x, chapters 3 and 5)
 * the address is translated and the interrupt remapped first, and either may fault.
 *
 * Devices hold a DmaPort and never reach memory or the APIC bus another way, so putting an IOMMU
 * in front of them is one wrapper around the direct port.
 */
export interface DmaPort {
  /**
   * Fills `bytes` from bus address `address` on behalf of `requester`. False when the access is
   * blocked (an IOMMU translation fault, recorded by the IOMMU); `bytes` is then left unchanged.
   */
  read(requester: number, address: number, bytes: Uint8Array): boolean;
  /** Writes `bytes` at bus address `address`; false when blocked, and then nothing is written. */
  write(requester: number, address: number, bytes: Uint8Array): boolean;
  /**
   * The MSI write of `data` (32 bits) to `address`: compatibility format (destination ID in
   * bits 19:12) or, behind an interrupt-remapping IOMMU, remappable format (bit 4 set, handle in
   * bits 19:5 and 2).
   */
  signalMsi(requester: number, address: number, data: number): void;
}

/** The 16-bit requester (source) ID of bus `bus`, device `device`, function `fn`. */
export function requesterId(bus: number, device: number, fn: number): number {
  return ((bus & 0xff) << 8) | ((device & 0x1f) << 3) | (fn & 7);
}
