import type { IoDevice, MmioDevice } from '../bus.js';

/**
 * QEMU's ISA `pc-testdev` (hw/misc/pc-testdev.c), the device kvm-unit-tests' x86 run script always
 * adds, so that a test can drive the machine from inside:
 *
 *   ports 0x0e0-0x0e3  a 32-bit latch: a write of n bytes at offset k replaces bytes k..k+n-1, a read
 *                      returns them (emulator.c and realmode.c check IN/OUT and REP INS/OUTS on it)
 *         0x0e4-0x0e7  "flush page": a 4-byte write names a guest-physical page that QEMU mprotects
 *                      and unprotects on the host, so KVM's MMU notifier zaps that page's SPTEs and
 *                      the next access faults it in again (eventinj.c uses it on its IDT and stack).
 *                      mmulab's guest memory has no host-side protection to change, so the write is
 *                      accepted and does nothing; a guest sees no difference, as under QEMU.
 *         0x0e8-0x0eb  the same latch, accessed one byte at a time (QEMU splits wider accesses)
 *         0x2000-0x2017  IRQ lines: a 1-byte write to 0x2000 + n sets ISA IRQ line n to (value != 0);
 *                      the line stays there until written again, so a test makes edges and levels
 *                      (ioapic.c). Lines 0-15 go to both 8259s and the IOAPIC as any ISA IRQ; QEMU
 *                      refuses 16-23 (an ISA device has 16 lines), so mmulab ignores them. Wider
 *                      writes are invalid for QEMU's region (1-byte accesses only) and dropped, so
 *                      realmode.c's `outl` to 0x200b raises nothing.
 *   MMIO  0xff000000-0xff00ffff  64 KiB of device memory that reads back what was written
 *                      (emulator.c's MMIO operands: string instructions, MOVs that must exit).
 * Reads of the flush and IRQ ports return 0, as QEMU's read handlers do.
 */
export const PC_TESTDEV_PORT = 0xe0;
export const PC_TESTDEV_PORTS = 12;
export const PC_TESTDEV_IRQ_PORT = 0x2000;
export const PC_TESTDEV_IRQ_LINES = 24;
export const PC_TESTDEV_IOMEM_BASE = 0xff000000;
export const PC_TESTDEV_IOMEM_SIZE = 0x10000;

/** ISA lines a pc-testdev can drive (isa_get_irq's range). */
const ISA_IRQ_LINES = 16;
const FLUSH_OFFSET = 4;
const BYTE_LATCH_OFFSET = 8;

const SIZE_MASK = [0, 0xff, 0xffff, 0xffffff, 0xffffffff] as const;

export class PcTestdev {
  /** The 0xe0 ports (data latch, flush, byte-wise latch). */
  readonly ports: IoDevice;
  /** The IRQ-line ports at 0x2000. */
  readonly irqPorts: IoDevice;
  /** The 64 KiB iomem window. */
  readonly iomem: MmioDevice;
  private latch = 0;
  private readonly mem = new Uint8Array(PC_TESTDEV_IOMEM_SIZE);
  private readonly memView = new DataView(this.mem.buffer);

  /** `setIrq(line, level)` drives ISA IRQ `line` (0-15). */
  constructor(setIrq: (line: number, level: boolean) => void) {
    this.ports = {
      name: 'pc-testdev',
      ioRead: (offset, size) => this.portRead(offset, size),
      ioWrite: (offset, size, value) => this.portWrite(offset, size, value),
    };
    this.irqPorts = {
      name: 'pc-testdev-irq',
      ioRead: () => 0,
      ioWrite: (offset, size, value) => {
        if (size === 1 && offset < ISA_IRQ_LINES) setIrq(offset, (value & 0xff) !== 0);
      },
    };
    this.iomem = {
      name: 'pc-testdev-iomem',
      mmioRead: (offset, size) => this.memRead(offset, size),
      mmioWrite: (offset, size, value) => this.memWrite(offset, size, value),
    };
  }

  /** Bytes [k, k+n) of the latch, k = offset mod 4, clipped at the latch's end. */
  private latchRead(k: number, size: number): number {
    return ((this.latch >>> (8 * k)) & SIZE_MASK[Math.min(size, 4 - k)]) >>> 0;
  }

  private latchWrite(k: number, size: number, value: number): void {
    const mask = (SIZE_MASK[Math.min(size, 4 - k)] << (8 * k)) >>> 0;
    this.latch = ((this.latch & ~mask) | ((value << (8 * k)) & mask)) >>> 0;
  }

  private portRead(offset: number, size: number): number {
    if (offset < FLUSH_OFFSET) return this.latchRead(offset, size);
    if (offset < BYTE_LATCH_OFFSET) return 0;
    // One byte at a time, each from the latch byte its port names (QEMU's impl.max_access_size 1).
    let v = 0;
    for (let i = 0; i < size && offset + i < PC_TESTDEV_PORTS; i++) v |= this.latchRead((offset + i) & 3, 1) << (8 * i);
    return v >>> 0;
  }

  private portWrite(offset: number, size: number, value: number): void {
    if (offset < FLUSH_OFFSET) this.latchWrite(offset, size, value);
    else if (offset >= BYTE_LATCH_OFFSET) {
      for (let i = 0; i < size && offset + i < PC_TESTDEV_PORTS; i++) this.latchWrite((offset + i) & 3, 1, value >>> (8 * i));
    }
    // The flush port: see the header.
  }

  private memRead(offset: number, size: number): number {
    if (offset + size > PC_TESTDEV_IOMEM_SIZE) return SIZE_MASK[Math.min(size, 4)];
    switch (size) {
      case 1: return this.mem[offset];
      case 2: return this.memView.getUint16(offset, true);
      default: return this.memView.getInt32(offset, true);
    }
  }

  private memWrite(offset: number, size: number, value: number): void {
    if (offset + size > PC_TESTDEV_IOMEM_SIZE) return;
    switch (size) {
      case 1: this.mem[offset] = value; break;
      case 2: this.memView.setUint16(offset, value & 0xffff, true); break;
      default: this.memView.setInt32(offset, value | 0, true);
    }
  }
}
