/**
 * The port-I/O and MMIO bus. A device registers ranges and is handed only the offset into its own
 * range (the Firecracker convention). Overlapping ranges are rejected at registration, so a port or
 * address always has exactly one owner. Unassigned ports read as all ones and ignore writes, as on a
 * PC; unassigned MMIO reads as all ones too.
 */

export interface IoDevice {
  readonly name: string;
  /** `offset` is relative to the registered base; `size` is 1, 2 or 4. */
  ioRead(offset: number, size: number): number;
  ioWrite(offset: number, size: number, value: number): void;
}

export interface MmioDevice {
  readonly name: string;
  /** `offset` is relative to the registered base; `size` is 1, 2, 4 or 8 (8 as two 4-byte halves). */
  mmioRead(offset: number, size: number): number;
  mmioWrite(offset: number, size: number, value: number): void;
}

/**
 * A device whose MMIO window moves at run time (the local APIC's page follows IA32_APIC_BASE): the
 * bus asks it about addresses no registered range covers.
 */
export interface MovableMmio extends MmioDevice {
  /** Whether `addr` is in the device's window now; `mmioRead`/`mmioWrite` then get the address itself. */
  claims(addr: number): boolean;
}

interface MmioRange {
  readonly base: number;
  readonly size: number;
  readonly device: MmioDevice;
}

const ALL_ONES = [0, 0xff, 0xffff, 0, 0xffffffff] as const;

export class Bus {
  private readonly portOwner: Array<IoDevice | undefined> = new Array(0x10000).fill(undefined);
  private readonly portBase = new Int32Array(0x10000);
  private readonly mmio: MmioRange[] = [];
  /** Asked about addresses outside every range (see MovableMmio). */
  movable: MovableMmio | undefined;
  /** Counters the report shows: how often the guest talked to devices. */
  portAccesses = 0;
  mmioAccesses = 0;

  registerPorts(base: number, count: number, device: IoDevice): void {
    if (base < 0 || count <= 0 || base + count > 0x10000) throw new Error(`bad port range for ${device.name}`);
    for (let p = base; p < base + count; p++) {
      const owner = this.portOwner[p];
      if (owner !== undefined) {
        throw new Error(`port 0x${p.toString(16)} of ${device.name} already belongs to ${owner.name}`);
      }
    }
    for (let p = base; p < base + count; p++) {
      this.portOwner[p] = device;
      this.portBase[p] = base;
    }
  }

  registerMmio(base: number, size: number, device: MmioDevice): void {
    for (const r of this.mmio) {
      if (base < r.base + r.size && r.base < base + size) {
        throw new Error(`MMIO range of ${device.name} overlaps ${r.device.name}`);
      }
    }
    this.mmio.push({ base, size, device });
    this.mmio.sort((a, b) => a.base - b.base);
  }

  ioRead(port: number, size: number): number {
    this.portAccesses++;
    const dev = this.portOwner[port];
    if (dev === undefined) return ALL_ONES[size];
    return dev.ioRead(port - this.portBase[port], size);
  }

  ioWrite(port: number, size: number, value: number): void {
    this.portAccesses++;
    const dev = this.portOwner[port];
    if (dev !== undefined) dev.ioWrite(port - this.portBase[port], size, value);
  }

  /** The MMIO range covering a guest-physical address, if any. */
  findMmio(addr: number): MmioRange | undefined {
    for (const r of this.mmio) if (addr >= r.base && addr < r.base + r.size) return r;
    return undefined;
  }

  mmioRead(addr: number, size: number): number {
    this.mmioAccesses++;
    const r = this.findMmio(addr);
    if (r !== undefined) return r.device.mmioRead(addr - r.base, size);
    if (this.movable !== undefined && this.movable.claims(addr)) return this.movable.mmioRead(addr, size);
    return size >= 4 ? -1 : ALL_ONES[size];
  }

  mmioWrite(addr: number, size: number, value: number): void {
    this.mmioAccesses++;
    const r = this.findMmio(addr);
    if (r !== undefined) r.device.mmioWrite(addr - r.base, size, value);
    else if (this.movable !== undefined && this.movable.claims(addr)) this.movable.mmioWrite(addr, size, value);
  }
}
