import type { DmaPort } from './dma.js';
import type { InterruptMessage } from './apic-bus.js';

/**
 * The DmaPort of a machine without an IOMMU: bus addresses are guest-physical addresses, and an
 * MSI is decoded from its compatibility format and delivered on the APIC bus.
 *
 * Memory goes through the VM's readPhysical / writePhysical, so a DMA write over decoded guest
 * code invalidates it as a CPU store would. A range that is not all RAM is not transferred (a
 * read leaves `bytes` as it was): no device here does DMA to MMIO, and QEMU's unassigned memory
 * would return nothing useful either. The port still answers true: without an IOMMU nothing
 * blocks the access.
 */
export interface PhysicalMemory {
  readonly memBytes: number;
  readPhysical(gpa: number, length: number): Uint8Array;
  writePhysical(gpa: number, bytes: Uint8Array): void;
}

/** The interrupt address range (SDM Vol. 3 11.11.1): 0xFEEx_xxxx. */
const MSI_ADDRESS_MASK = 0xfff00000;
const MSI_ADDRESS_BASE = 0xfee00000;
/** Address bit 4: the remappable format an interrupt-remapping IOMMU reads (VT-d 5.1.2.2). */
const MSI_REMAPPABLE = 0x10;

/**
 * A compatibility-format MSI (SDM Vol. 3 11.11.1 and 11.11.2) as the message the APIC bus carries:
 * destination ID in address bits 19:12, destination mode bit 2 (1 logical), vector in data bits
 * 7:0, delivery mode 10:8, trigger mode bit 15 (1 level). Null when the address is not in the
 * interrupt range or is in the remappable format, which only an IOMMU can interpret.
 * The redirection hint (bit 3) selects lowest-priority among the named CPUs only together with
 * that delivery mode here, which is what the bus does with the mode alone.
 */
export function decodeMsi(address: number, data: number): InterruptMessage | null {
  if (address > 0xffffffff || ((address & MSI_ADDRESS_MASK) >>> 0) !== MSI_ADDRESS_BASE || (address & MSI_REMAPPABLE) !== 0) return null;
  return {
    vector: data & 0xff,
    deliveryMode: (data >> 8) & 7,
    logical: (address & 0x4) !== 0,
    destination: (address >>> 12) & 0xff,
    levelTriggered: (data & 0x8000) !== 0,
  };
}

export class DirectDma implements DmaPort {
  constructor(private readonly memory: PhysicalMemory, private readonly deliver: (msg: InterruptMessage) => void) {}

  private inRam(address: number, length: number): boolean {
    return address >= 0 && address + length <= this.memory.memBytes;
  }

  read(_requester: number, address: number, bytes: Uint8Array): boolean {
    if (this.inRam(address, bytes.length)) bytes.set(this.memory.readPhysical(address, bytes.length));
    return true;
  }

  write(_requester: number, address: number, bytes: Uint8Array): boolean {
    if (this.inRam(address, bytes.length)) this.memory.writePhysical(address, bytes);
    return true;
  }

  /**
   * An MSI is a DWORD write: to the interrupt range it is an interrupt message; anywhere else it
   * is the memory write it is (a misprogrammed address lands in RAM, as on hardware). A
   * remappable-format message without an IOMMU is dropped.
   */
  signalMsi(requester: number, address: number, data: number): void {
    if (((address & MSI_ADDRESS_MASK) >>> 0) === MSI_ADDRESS_BASE && address <= 0xffffffff) {
      const msg = decodeMsi(address, data);
      if (msg !== null) this.deliver(msg);
      return;
    }
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, data >>> 0, true);
    this.write(requester, address, bytes);
  }
}
