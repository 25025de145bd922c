import type { IoDevice } from '../bus.js';

/**
 * A 16550A UART (COM1 at 0x3f8), output only. The transmitter is always empty, so a guest polling
 * LSR.THRE never waits; received data is never available. Register state is kept so a guest reading
 * back LCR/MCR/IER/divisor sees what it wrote, as kvm-unit-tests' serial init does.
 */
export class Serial16550 implements IoDevice {
  readonly name = 'serial';
  private lcr = 0;
  private mcr = 0;
  private ier = 0;
  private scratch = 0;
  private divisor = 12;
  private readonly out: (bytes: Uint8Array) => void;
  private buffer = new Uint8Array(256);
  private used = 0;

  constructor(out: (bytes: Uint8Array) => void) {
    this.out = out;
  }

  private get dlab(): boolean {
    return (this.lcr & 0x80) !== 0;
  }

  ioRead(offset: number): number {
    switch (offset) {
      case 0: return this.dlab ? this.divisor & 0xff : 0; // RBR: nothing received
      case 1: return this.dlab ? this.divisor >> 8 : this.ier;
      case 2: return 0xc1; // IIR: FIFOs enabled, no interrupt pending
      case 3: return this.lcr;
      case 4: return this.mcr;
      case 5: return 0x60; // LSR: THRE and TEMT, transmitter always empty
      case 6: return 0xb0; // MSR: DCD, DSR, CTS
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
        if (this.dlab) this.divisor = (this.divisor & 0xff) | (value << 8);
        else this.ier = value & 0x0f;
        break;
      case 3: this.lcr = value; break;
      case 4: this.mcr = value & 0x1f; break;
      case 7: this.scratch = value; break;
      default: break; // FCR and read-only registers
    }
  }

  private transmit(byte: number): void {
    this.buffer[this.used++] = byte;
    if (byte === 0x0a || this.used === this.buffer.length) this.flush();
  }

  flush(): void {
    if (this.used === 0) return;
    this.out(this.buffer.slice(0, this.used));
    this.used = 0;
  }
}
