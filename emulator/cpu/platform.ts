import type { Vcpu } from './vcpu.js';

/** Instructions a hypervisor may intercept (VM exits in the virtualized modes). */
export const enum ExitReason {
  CPUID = 0,
  HLT = 1,
  RDMSR = 2,
  WRMSR = 3,
  /** MOV from CR3 (intercepted by a hypervisor that shadows the guest's page tables). */
  CR3_READ = 4,
}

/** Control registers whose writes a hypervisor follows (kvm_post_set_cr0/cr4, kvm_set_cr3, set_efer). */
export const enum ControlReg { CR0 = 0, CR3 = 3, CR4 = 4, EFER = 8 }

/** controlRegisterWritten flag: a MOV to CR3 with bit 63 set under CR4.PCIDE (no TLB flush). */
export const CR3_NOFLUSH = 1;

/** The INVPCID types (SDM Vol. 2). */
export const enum InvpcidType { ADDRESS = 0, CONTEXT = 1, ALL_INCL_GLOBAL = 2, ALL_NON_GLOBAL = 3 }

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
  /** The vCPU executed an instruction a hypervisor may intercept; `detail` is e.g. the MSR index. */
  instructionExit(cpu: Vcpu, reason: ExitReason, detail: number): void;
  /**
   * A control register or EFER took a new value, after the architectural checks (low 32 bits;
   * CR3 as its low half, the whole value is in the vCPU; `flags` may carry CR3_NOFLUSH).
   */
  controlRegisterWritten(cpu: Vcpu, reg: ControlReg, oldValue: number, newValue: number, flags?: number): void;
  /** INVLPG of a linear address, after the hardware's own effect (none when intercepted). */
  invlpg(cpu: Vcpu, lo: number, hi: number): void;
  /** INVPCID with a valid descriptor, after the hardware's own effect (none when intercepted). */
  invpcid(cpu: Vcpu, type: InvpcidType, pcid: number, lo: number, hi: number): void;
}

export class MsrValue {
  lo = 0;
  hi = 0;
}
