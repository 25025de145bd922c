import type { Vcpu } from './vcpu.js';

/**
 * What a vCPU asks of the machine around it. In `bare` mode the VM answers directly; in the
 * virtualized modes the hypervisor layer stands in between and turns these into counted exits.
 */
export interface Platform {
  ioRead(port: number, size: number): number;
  ioWrite(port: number, size: number, value: number): void;
  /**
   * MSRs owned by the platform (local APIC, TSC deadline, ...). Returns true if handled, with the
   * value in msrValue; false makes RDMSR raise #GP.
   */
  readMsr(cpu: Vcpu, index: number, out: MsrValue): boolean;
  writeMsr(cpu: Vcpu, index: number, lo: number, hi: number): boolean;
  /** VMCALL/VMMCALL. Returns false when there is no hypervisor (the instruction then raises #UD). */
  hypercall(cpu: Vcpu): boolean;
  /** Highest-priority deliverable external interrupt vector, or -1. Acknowledges it when `ack`. */
  pendingInterrupt(cpu: Vcpu, ack: boolean): number;
  /** Writes to CR8 go to the local APIC's TPR. */
  setTpr(cpu: Vcpu, cr8: number): void;
}

export class MsrValue {
  lo = 0;
  hi = 0;
}
