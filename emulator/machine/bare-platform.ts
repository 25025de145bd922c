import type { Platform, MsrValue } from '../cpu/platform.js';
import type { Vcpu } from '../cpu/vcpu.js';
import type { Bus } from './bus.js';

/**
 * The platform of `bare` mode: no hypervisor, so port I/O goes straight to the bus, VMCALL is
 * undefined (#UD, as on hardware outside VMX non-root operation), and interrupts come from the
 * interrupt controllers the machine has.
 */
export class BarePlatform implements Platform {
  private readonly bus: Bus;
  /** Interrupt sources, asked in order; the first with a deliverable vector wins. */
  readonly interruptSources: Array<(ack: boolean) => number> = [];
  tpr = 0;

  constructor(bus: Bus) {
    this.bus = bus;
  }

  ioRead(port: number, size: number): number {
    return this.bus.ioRead(port, size);
  }

  ioWrite(port: number, size: number, value: number): void {
    this.bus.ioWrite(port, size, value);
  }

  readMsr(_cpu: Vcpu, _index: number, _out: MsrValue): boolean {
    return false;
  }

  writeMsr(_cpu: Vcpu, _index: number, _lo: number, _hi: number): boolean {
    return false;
  }

  hypercall(): boolean {
    return false;
  }

  pendingInterrupt(_cpu: Vcpu, ack: boolean): number {
    for (const source of this.interruptSources) {
      const v = source(ack);
      if (v >= 0) return v;
    }
    return -1;
  }

  setTpr(_cpu: Vcpu, cr8: number): void {
    this.tpr = cr8;
  }
}
