import type { ControlReg, ExitReason, InvpcidType, MsrValue } from '../cpu/platform.js';
import type { Platform, Vcpu } from '../cpu/vcpu.js';
import type { Bus } from './bus.js';
import type { ApicBus } from './devices/apic-bus.js';

/** A device that owns some MSRs (the local APIC, ...). Each call returns false for MSRs it does not own. */
export interface MsrDevice {
  readMsr(cpu: Vcpu, index: number, out: MsrValue): boolean;
  writeMsr(cpu: Vcpu, index: number, lo: number, hi: number): boolean;
}

/** What the CPU asks of the interrupt controller it is wired to (the local APIC). */
export interface InterruptController {
  /** Highest-priority vector deliverable now, or -1; with `ack`, the CPU accepts it (IRR to ISR). */
  pendingVector(ack: boolean): number;
  /** MOV to CR8: the new task-priority class. */
  setTprFromCr8(cr8: number): void;
}

/**
 * The platform of `bare` mode: no hypervisor, so port I/O goes straight to the bus, VMCALL is
 * undefined (#UD, as on hardware outside VMX non-root operation), MSRs that belong to devices go
 * to those devices, and interrupts come from the interrupt controller the machine has.
 */
export class BarePlatform implements Platform {
  private readonly bus: Bus;
  readonly msrDevices: MsrDevice[] = [];
  interruptController: InterruptController | undefined;
  /** The APIC bus the machine's local APICs share (a hypervisor's PV IPI hypercall sends on it). */
  apicBus: ApicBus | undefined;

  constructor(bus: Bus) {
    this.bus = bus;
  }

  ioRead(port: number, size: number): number {
    return this.bus.ioRead(port, size);
  }

  ioWrite(port: number, size: number, value: number): void {
    this.bus.ioWrite(port, size, value);
  }

  readMsr(cpu: Vcpu, index: number, out: MsrValue): boolean {
    for (const d of this.msrDevices) if (d.readMsr(cpu, index, out)) return true;
    return false;
  }

  writeMsr(cpu: Vcpu, index: number, lo: number, hi: number): boolean {
    for (const d of this.msrDevices) if (d.writeMsr(cpu, index, lo, hi)) return true;
    return false;
  }

  hypercall(): boolean {
    return false;
  }

  pendingInterrupt(_cpu: Vcpu, ack: boolean): number {
    return this.interruptController === undefined ? -1 : this.interruptController.pendingVector(ack);
  }

  setTpr(_cpu: Vcpu, cr8: number): void {
    this.interruptController?.setTprFromCr8(cr8);
  }

  /** No hypervisor: nothing intercepts. */
  instructionExit(_cpu: Vcpu, _reason: ExitReason, _detail: number): void {}

  controlRegisterWritten(_cpu: Vcpu, _reg: ControlReg, _oldValue: number, _newValue: number): boolean {
    return false;
  }

  invlpg(_cpu: Vcpu, _lo: number, _hi: number): void {}

  invpcid(_cpu: Vcpu, _type: InvpcidType, _pcid: number, _lo: number, _hi: number): boolean {
    return false;
  }

  initReceived(_cpu: Vcpu): void {}

  startupReceived(_cpu: Vcpu): void {}

  forcedExit(_cpu: Vcpu): void {}
}
