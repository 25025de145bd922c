import type { MmioDevice } from '../bus.js';
import type { DmaPort } from './dma.js';

/**
 * One PCI function's type 0 configuration header (PCI Local Bus 3.0, 6.1 and 6.2): 256 bytes of
 * configuration space, a write mask per byte (software writes only the bits the mask has; the
 * IDs, class code, revision, header type and interrupt pin are read-only), up to six 32-bit
 * memory BARs, the capability list with an MSI capability (6.8.1), and the INTx pin.
 *
 *   0x00 vendor / device ID     0x04 command / status    0x08 revision, class code (24 bits)
 *   0x0e header type            0x10-0x24 BARs           0x2c subsystem vendor / ID
 *   0x34 capabilities pointer   0x3c interrupt line (RW, for software) / interrupt pin (RO)
 *
 * A memory BAR of size 2^n holds its address in bits 31:n; the bits below read as 0 (bits 3:0
 * the type: 32-bit, not prefetchable), so writing all ones and reading back gives ~(size - 1),
 * the size probe of 6.2.5.1. The function decodes its BARs on the machine's bus only while the
 * command register's Memory Space bit is set, at the address each BAR holds now: a rewritten BAR
 * moves the registers with it (PciHost's window asks `barAt` on every access).
 *
 * Status is read-only here: it has only the Capabilities List bit, and no error a device could
 * record is modeled (so there is nothing to clear by writing ones).
 */
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_BAR0 = 0x10;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;

export const enum Command { IO = 0x1, MEMORY = 0x2, MASTER = 0x4, SERR = 0x100, INTX_DISABLE = 0x400 }
const STATUS_CAP_LIST = 0x10;
const PCI_CAP_ID_MSI = 0x05;

/** MSI control bits (6.8.1.3): enable, and the 64-bit address capable bit. */
const MSI_ENABLE = 0x1;
const MSI_64BIT = 0x80;

/** Writable command bits: I/O, memory, bus master, SERR#, interrupt disable (QEMU's pci.c w1 mask). */
const COMMAND_WRITABLE = Command.IO | Command.MEMORY | Command.MASTER | Command.SERR | Command.INTX_DISABLE;

export interface PciBar {
  /** A power of two, at least 16 bytes. */
  readonly size: number;
  /** The registers behind it; offsets are from the BAR's address. */
  readonly device: MmioDevice;
}

export interface PciFunctionSpec {
  readonly name: string;
  readonly vendor: number;
  readonly device: number;
  readonly revision: number;
  /** Base class, subclass and programming interface as one 24-bit number (edu: 0x00ff00). */
  readonly classCode: number;
  /** Bit 7: the device has more functions. */
  readonly headerType?: number;
  /** 1-4 for INTA#-INTD#; 0 (default): no interrupt pin. */
  readonly interruptPin?: number;
  readonly bars?: readonly PciBar[];
  /** An MSI capability with one vector and 64-bit addresses (as QEMU's msi_init(dev, 0, 1, true, false)). */
  readonly msi?: boolean;
}

export class PciFunction {
  readonly name: string;
  readonly config = new Uint8Array(256);
  private readonly writable = new Uint8Array(256);
  readonly bars: readonly PciBar[];
  /** Offset of the MSI capability, 0 without one. */
  readonly msiOffset: number;
  /** The function's DMA and MSI path, set by the machine (the direct port, or an IOMMU). */
  dma: DmaPort | undefined;
  /** Requester ID (bus << 8 | devfn), set when the function is placed on the bus. */
  requester = 0;
  /** The INTx wire's driver, set by the machine's interrupt routing. */
  intxSink: ((level: boolean) => void) | undefined;
  /** What the device drives on its pin; the wire carries it unless Interrupt Disable is set. */
  private intxLevel = false;
  private intxDriven = false;

  constructor(spec: PciFunctionSpec) {
    this.name = spec.name;
    const c = this.config;
    set16(c, 0x00, spec.vendor);
    set16(c, 0x02, spec.device);
    c[0x08] = spec.revision;
    c[0x09] = spec.classCode & 0xff;
    c[0x0a] = (spec.classCode >> 8) & 0xff;
    c[0x0b] = (spec.classCode >> 16) & 0xff;
    c[0x0e] = spec.headerType ?? 0;
    c[PCI_INTERRUPT_PIN] = spec.interruptPin ?? 0;
    set16(this.writable, PCI_COMMAND, COMMAND_WRITABLE);
    // The interrupt line is for software only (the firmware writes the routing it chose).
    if ((spec.interruptPin ?? 0) !== 0) this.writable[PCI_INTERRUPT_LINE] = 0xff;
    this.bars = spec.bars ?? [];
    this.bars.forEach((bar, i) => {
      if (bar.size < 16 || (bar.size & (bar.size - 1)) !== 0) throw new Error(`${spec.name}: BAR${i} size ${bar.size} is not a power of two from 16`);
      set32(this.writable, PCI_BAR0 + 4 * i, ~(bar.size - 1) & ~0xf);
    });
    this.msiOffset = spec.msi === true ? 0x40 : 0;
    if (this.msiOffset !== 0) this.addMsi(this.msiOffset);
  }

  /** The MSI capability (6.8.1): ID, next 0, control, 64-bit address, data; enable the only RW control bit. */
  private addMsi(at: number): void {
    const c = this.config;
    c[PCI_CAPABILITY_LIST] = at;
    set16(c, PCI_STATUS, STATUS_CAP_LIST);
    c[at] = PCI_CAP_ID_MSI;
    c[at + 1] = 0;
    set16(c, at + 2, MSI_64BIT);
    this.writable[at + 2] = MSI_ENABLE;
    set32(this.writable, at + 4, 0xfffffffc); // message address: DWORD aligned
    set32(this.writable, at + 8, 0xffffffff); // upper address
    set16(this.writable, at + 12, 0xffff); // message data
  }

  /** A device-specific byte: its reset value and which bits software may write. */
  defineByte(offset: number, value: number, writable: number): void {
    this.config[offset] = value;
    this.writable[offset] = writable;
  }

  /** A configuration read of `size` bytes at `offset` (within one DWORD). */
  read(offset: number, size: number): number {
    const c = this.config;
    if (size === 1) return c[offset];
    if (size === 2) return c[offset] | (c[offset + 1] << 8);
    return (c[offset] | (c[offset + 1] << 8) | (c[offset + 2] << 16) | (c[offset + 3] << 24)) >>> 0;
  }

  /** A configuration write: each byte keeps its read-only bits and takes the writable ones. */
  write(offset: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      const mask = this.writable[at];
      this.config[at] = (this.config[at] & ~mask) | ((value >>> (8 * i)) & mask);
    }
    this.updateIntx();
  }

  get command(): number {
    return this.config[PCI_COMMAND] | (this.config[PCI_COMMAND + 1] << 8);
  }

  /** BAR `i`'s address as the register holds it now. */
  barAddress(i: number): number {
    return this.read(PCI_BAR0 + 4 * i, 4) & ~0xf;
  }

  /** The BAR that decodes guest-physical `addr` now, if any (Memory Space enabled, address within it). */
  barAt(addr: number): number {
    if ((this.command & Command.MEMORY) === 0) return -1;
    for (let i = 0; i < this.bars.length; i++) {
      const base = this.barAddress(i) >>> 0;
      if (base !== 0 && addr >= base && addr < base + this.bars[i].size) return i;
    }
    return -1;
  }

  get busMaster(): boolean {
    return (this.command & Command.MASTER) !== 0;
  }

  get msiEnabled(): boolean {
    return this.msiOffset !== 0 && (this.config[this.msiOffset + 2] & MSI_ENABLE) !== 0;
  }

  /**
   * Sends the MSI (one vector: the data as programmed) through the DMA port. As in QEMU, where
   * the message is a memory write on the bus-master address space, nothing is sent while Bus
   * Master is clear.
   */
  signalMsi(): void {
    if (!this.msiEnabled || !this.busMaster || this.dma === undefined) return;
    const at = this.msiOffset;
    const high = this.read(at + 8, 4);
    const low = this.read(at + 4, 4);
    // Above 4 GiB is no interrupt address; such a message is passed on as given (its low half).
    this.dma.signalMsi(this.requester, high === 0 ? low : low + high * 0x100000000, this.read(at + 12, 2));
  }

  /** Drives the INTx pin (level-triggered, active while `level`); Interrupt Disable holds the wire low. */
  setIntx(level: boolean): void {
    this.intxLevel = level;
    this.updateIntx();
  }

  private updateIntx(): void {
    const wire = this.intxLevel && (this.command & Command.INTX_DISABLE) === 0;
    if (wire === this.intxDriven) return;
    this.intxDriven = wire;
    this.intxSink?.(wire);
  }

  /** Whether the wire is asserted now (Interrupt Status, bit 3 of the status register, is not modeled). */
  get intxAsserted(): boolean {
    return this.intxDriven;
  }
}

function set16(a: Uint8Array, at: number, v: number): void {
  a[at] = v & 0xff;
  a[at + 1] = (v >> 8) & 0xff;
}

function set32(a: Uint8Array, at: number, v: number): void {
  set16(a, at, v & 0xffff);
  set16(a, at + 2, (v >>> 16) & 0xffff);
}
