import type { MmioDevice } from '../bus.js';
import { PciFunction } from './pci-function.js';

/**
 * QEMU's educational PCI device "edu" (hw/misc/edu.c, docs/specs/edu.txt): 1234:11e8, revision
 * 0x10, class 0x00ff ("other"), INTA#, an MSI capability (one vector, 64-bit), and BAR0: 1 MiB of
 * 32-bit memory with these registers (4-byte accesses below 0x80, 4 or 8 bytes from 0x80; any
 * other access reads all ones and writes nothing):
 *
 *   0x00 RO  identification 0x010000ed (version 1.0, magic 0xed)
 *   0x04 RW  liveness: reads the bitwise NOT of the value last written
 *   0x08 RW  factorial: a write computes val! (32-bit product); with status bit 7 set, raises 0x1
 *   0x20 RW  status: bit 0 computing (RO), bit 7 raise an interrupt after a factorial
 *   0x24 RO  interrupt status          0x60 WO  raise: status |= value
 *   0x64 WO  acknowledge: status &= ~value
 *   0x80 / 0x88 / 0x90 RW  DMA source, destination, count (64-bit)
 *   0x98 RW  DMA command: bit 0 start (a write without it is ignored), bit 1 direction (0: RAM to
 *            the device's buffer, 1: buffer to RAM), bit 2 raise 0x100 when done
 *
 * The DMA buffer is 4 KiB at device address 0x40000; RAM addresses go through the function's
 * DmaPort, clamped to the device's 28-bit DMA mask as QEMU does. A transfer that does not fit in
 * the buffer moves nothing (QEMU logs it and then copies outside its buffer).
 *
 * Interrupts: while MSI is enabled each raise sends the message (even if bits were already set);
 * otherwise INTA# is asserted while the interrupt status is non-zero, level-triggered, as in
 * QEMU's edu_raise_irq / edu_lower_irq.
 *
 * Timing, the one choice that differs from QEMU: QEMU runs the factorial in a thread and the
 * DMA from a timer 100 ms of virtual time after the command. Here both complete during the
 * register write. That is deterministic (no host thread), a guest that polls the status or the
 * command's start bit (as kvm-unit-tests' edu_dma does) sees the same sequence of results, and a
 * 100 ms wait would cost a polling guest hundreds of millions of modeled cycles for nothing.
 *
 * mmulab's CPU splits an 8-byte MMIO access into two 4-byte ones (low half first), so a 4-byte
 * access to 0x84, 0x8c, 0x94 or 0x9c reaches bits 63:32 of that register; in QEMU, where the
 * 8-byte access arrives whole, a 4-byte access there reads all ones and writes nothing.
 */
export const EDU_VENDOR = 0x1234;
export const EDU_DEVICE = 0x11e8;
export const EDU_BAR_SIZE = 1 << 20;
export const EDU_DMA_START = 0x40000;
export const EDU_DMA_SIZE = 4096;
const EDU_IDENT = 0x010000ed;
const DMA_MASK = 2 ** 28 - 1;

const STATUS_COMPUTING = 0x01;
const STATUS_IRQFACT = 0x80;
const FACT_IRQ = 0x1;
const DMA_IRQ = 0x100;
const DMA_RUN = 0x1;
const DMA_TO_RAM = 0x2;
const DMA_IRQ_ON_DONE = 0x4;

/** DMA registers by offset from 0x80, 64 bits each as [low, high]. */
const enum Dma { SRC = 0, DST = 1, CNT = 2, CMD = 3 }

export class EduDevice implements MmioDevice {
  readonly name = 'edu';
  readonly fn: PciFunction;
  readonly buffer = new Uint8Array(EDU_DMA_SIZE);
  private liveness = 0;
  private fact = 0;
  private status = 0;
  private irqStatus = 0;
  private readonly dma = new Float64Array(4);

  constructor() {
    this.fn = new PciFunction({
      name: 'edu', vendor: EDU_VENDOR, device: EDU_DEVICE, revision: 0x10, classCode: 0x00ff00,
      interruptPin: 1, msi: true, bars: [{ size: EDU_BAR_SIZE, device: this }],
    });
  }

  get interruptStatus(): number {
    return this.irqStatus;
  }

  mmioRead(offset: number, size: number): number {
    if (size !== 4) return size === 2 ? 0xffff : size === 1 ? 0xff : -1;
    if (offset >= 0x80 && offset < 0xa0) {
      const v = this.dma[(offset - 0x80) >> 3];
      return ((offset & 4) === 0 ? v % 0x100000000 : Math.floor(v / 0x100000000)) | 0;
    }
    switch (offset) {
      case 0x00: return EDU_IDENT;
      case 0x04: return this.liveness | 0;
      case 0x08: return this.fact | 0;
      case 0x20: return this.status;
      case 0x24: return this.irqStatus | 0;
      default: return -1;
    }
  }

  mmioWrite(offset: number, size: number, value: number): void {
    if (size !== 4) return;
    if (offset >= 0x80 && offset < 0xa0) {
      this.dmaWrite((offset - 0x80) >> 3, (offset & 4) !== 0, value >>> 0);
      return;
    }
    switch (offset) {
      case 0x04: this.liveness = ~value >>> 0; break;
      case 0x08: this.factorial(value >>> 0); break;
      case 0x20: this.status = (this.status & ~STATUS_IRQFACT) | (value & STATUS_IRQFACT); break;
      case 0x60: this.raise(value >>> 0); break;
      case 0x64: this.lower(value >>> 0); break;
      default: break;
    }
  }

  /** n! in 32 bits, computed at once (the status never shows "computing"). From 34! on it is 0 mod 2^32. */
  private factorial(n: number): void {
    if ((this.status & STATUS_COMPUTING) !== 0) return;
    let product = 1;
    for (let k = Math.min(n, 34); k > 1; k--) product = Math.imul(product, k) >>> 0;
    this.fact = n >= 34 ? 0 : product;
    if ((this.status & STATUS_IRQFACT) !== 0) this.raise(FACT_IRQ);
  }

  private dmaWrite(reg: Dma, high: boolean, value: number): void {
    // A 4-byte write of the low half sets the register to that value (QEMU's zero-extended write).
    const old = this.dma[reg];
    this.dma[reg] = high ? (old % 0x100000000) + value * 0x100000000 : value;
    if (reg === Dma.CMD && !high) {
      if ((value & DMA_RUN) === 0) {
        this.dma[reg] = old; // QEMU ignores a command without the start bit
        return;
      }
      this.runDma();
    }
  }

  private runDma(): void {
    const cmd = this.dma[Dma.CMD];
    const count = this.dma[Dma.CNT];
    const toRam = (cmd & DMA_TO_RAM) !== 0;
    const bufAddr = this.dma[toRam ? Dma.SRC : Dma.DST];
    const ramAddr = this.dma[toRam ? Dma.DST : Dma.SRC] % (DMA_MASK + 1);
    const port = this.fn.dma;
    if (bufAddr >= EDU_DMA_START && bufAddr + count <= EDU_DMA_START + EDU_DMA_SIZE && count > 0 && port !== undefined && this.fn.busMaster) {
      const at = bufAddr - EDU_DMA_START;
      const window = this.buffer.subarray(at, at + count);
      if (toRam) port.write(this.fn.requester, ramAddr, window);
      else port.read(this.fn.requester, ramAddr, window);
    }
    this.dma[Dma.CMD] = cmd - DMA_RUN;
    if ((cmd & DMA_IRQ_ON_DONE) !== 0) this.raise(DMA_IRQ);
  }

  private raise(bits: number): void {
    this.irqStatus = (this.irqStatus | bits) >>> 0;
    if (this.irqStatus === 0) return;
    if (this.fn.msiEnabled) this.fn.signalMsi();
    else this.fn.setIntx(true);
  }

  private lower(bits: number): void {
    this.irqStatus = (this.irqStatus & ~bits) >>> 0;
    if (this.irqStatus === 0 && !this.fn.msiEnabled) this.fn.setIntx(false);
  }
}
