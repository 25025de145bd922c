import type { IoDevice } from '../bus.js';

/**
 * A 16550A UART (COM1 at 0x3f8), output only, with its interrupt. The transmitter empties at once
 * (a byte written to THR goes straight to `out`), so a guest polling LSR.THRE never waits, and
 * received data is never available. Register state is kept so a guest reading back
 * LCR/MCR/IER/divisor sees what it wrote, as kvm-unit-tests' serial init does.
 *
 * Interrupts: the only source is "transmitter holding register empty". It becomes pending when
 * IER.ETBEI is set while THR is empty and each time a written byte has left THR; reading IIR while
 * it is the reported source, or writing THR, clears it (16550 data sheet, table "Interrupt
 * Control Functions"). The IRQ line (ISA IRQ4 through `setIrq`) is the pending interrupt gated by
 * MCR.OUT2, as on PC serial cards. IIR's FIFO bits follow FCR bit 0, which is how drivers tell a
 * 16550A from a 16450. MCR's loopback bit feeds RTS/DTR/OUT1/OUT2 back into MSR's CTS/DSR/RI/DCD,
 * disconnects the IRQ line and keeps transmitted bytes off the output. Left out: receive,
 * line-status and modem-status interrupts, FIFO trigger levels, transmit timing.
 */
const IER_ETBEI = 0x02;
const IIR_NO_INT = 0x01;
const IIR_THRE = 0x02;
const IIR_FIFO = 0xc0;
const FCR_ENABLE = 0x01;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;

export class Serial16550 implements IoDevice {
  readonly name = 'serial';
  private lcr = 0;
  private mcr = 0;
  private ier = 0;
  private fcr = 0;
  private scratch = 0;
  private divisor = 12;
  /** A THR-empty interrupt is pending. */
  private thrPending = false;
  private irqLevel = false;
  private readonly out: (bytes: Uint8Array) => void;
  private readonly setIrq: (level: boolean) => void;
  private buffer = new Uint8Array(256);
  private used = 0;

  constructor(out: (bytes: Uint8Array) => void, setIrq: (level: boolean) => void = () => {}) {
    this.out = out;
    this.setIrq = setIrq;
  }

  private get dlab(): boolean {
    return (this.lcr & 0x80) !== 0;
  }

  private get loopback(): boolean {
    return (this.mcr & MCR_LOOP) !== 0;
  }

  private iir(): number {
    return ((this.fcr & FCR_ENABLE) !== 0 ? IIR_FIFO : 0) | (this.thrPending ? IIR_THRE : IIR_NO_INT);
  }

  /** MSR: DCD, DSR, CTS from the (absent) modem, or MCR's outputs in loopback. */
  private msr(): number {
    if (!this.loopback) return 0xb0;
    const m = this.mcr;
    return ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4);
  }

  private updateIrq(): void {
    const level = this.thrPending && (this.mcr & MCR_OUT2) !== 0 && !this.loopback;
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    this.setIrq(level);
  }

  ioRead(offset: number): number {
    switch (offset) {
      case 0: return this.dlab ? this.divisor & 0xff : 0; // RBR: nothing received
      case 1: return this.dlab ? this.divisor >> 8 : this.ier;
      case 2: {
        const v = this.iir();
        // Reading IIR acknowledges a THR-empty interrupt it reports.
        if (this.thrPending) { this.thrPending = false; this.updateIrq(); }
        return v;
      }
      case 3: return this.lcr;
      case 4: return this.mcr;
      case 5: return 0x60; // LSR: THRE and TEMT, transmitter always empty
      case 6: return this.msr();
      case 7: return this.scratch;
      default: return 0xff;
    }
  }

  ioWrite(offset: number, _size: number, value: number): void {
    value &= 0xff;
    switch (offset) {
      case 0:
        if (this.dlab) this.divisor = (this.divisor & 0xff00) | value;
        else this.transmit(value);
        break;
      case 1:
        if (this.dlab) {
          this.divisor = (this.divisor & 0xff) | (value << 8);
        } else {
          const enabling = (value & IER_ETBEI) !== 0 && (this.ier & IER_ETBEI) === 0;
          this.ier = value & 0x0f;
          // THR is always empty: enabling its interrupt makes it pending; disabling withdraws it.
          if (enabling) this.thrPending = true;
          else if ((this.ier & IER_ETBEI) === 0) this.thrPending = false;
          this.updateIrq();
        }
        break;
      case 2: this.fcr = value & 0xc9; break;
      case 3: this.lcr = value; break;
      case 4: this.mcr = value & 0x1f; this.updateIrq(); break;
      case 7: this.scratch = value; break;
      default: break; // read-only registers
    }
  }

  private transmit(byte: number): void {
    // Writing THR clears its interrupt; the byte leaves at once and THR is empty again, which is a
    // new interrupt: the line drops and rises, an edge for the PIC.
    this.thrPending = false;
    this.updateIrq();
    if (!this.loopback) {
      this.buffer[this.used++] = byte;
      if (byte === 0x0a || this.used === this.buffer.length) this.flush();
    }
    if ((this.ier & IER_ETBEI) !== 0) { this.thrPending = true; this.updateIrq(); }
  }

  flush(): void {
    if (this.used === 0) return;
    this.out(this.buffer.slice(0, this.used));
    this.used = 0;
  }
}
