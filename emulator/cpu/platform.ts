/** Instructions a hypervisor may intercept (VM exits in the virtualized modes). */
export const enum ExitReason {
  CPUID = 0,
  HLT = 1,
  RDMSR = 2,
  WRMSR = 3,
  /** MOV from CR3 (intercepted by a hypervisor that shadows the guest's page tables). */
  CR3_READ = 4,
  /** RDPMC (KVM intercepts it on VMX and SVM alike). */
  RDPMC = 5,
}

/** Control registers whose writes a hypervisor follows (kvm_post_set_cr0/cr4, kvm_set_cr3, set_efer). */
export const enum ControlReg { CR0 = 0, CR3 = 3, CR4 = 4, EFER = 8 }

/** controlRegisterWritten flag: a MOV to CR3 with bit 63 set under CR4.PCIDE (no TLB flush). */
export const CR3_NOFLUSH = 1;

/** The INVPCID types (SDM Vol. 2). */
export const enum InvpcidType { ADDRESS = 0, CONTEXT = 1, ALL_INCL_GLOBAL = 2, ALL_NON_GLOBAL = 3 }

/** RDMSR's result from a platform-owned MSR, as (lo, hi). The Platform interface is in vcpu.ts. */
export class MsrValue {
  lo = 0;
  hi = 0;
}
