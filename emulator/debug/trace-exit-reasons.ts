/**
 * The exits mmulab's KVM takes, and how KVM's kvm_exit tracepoint names them: VMX's basic exit
 * reasons (SDM Appendix C, printed through VMX_EXIT_REASONS) or SVM's exit codes (APM vol. 2
 * Appendix C, SVM_EXIT_REASONS). mmu/ passes one of these to KvmVcpu.exitBegin; the numbers are
 * mmulab's own, the names and codes the vendors'.
 */
export const enum KvmExit {
  /** A #PF intercepted under shadow paging (VMX: exception or NMI, vector 14). */
  PAGE_FAULT = 0,
  /** An interrupt for the guest noticed at an instruction boundary (injected on entry). */
  INTERRUPT,
  /** The IPI of a kick from another vCPU's KVM work (kvm_vcpu_kick). */
  KICK,
  CPUID,
  HLT,
  INVLPG,
  INVPCID,
  HYPERCALL,
  CR0_WRITE,
  CR3_WRITE,
  CR4_WRITE,
  CR3_READ,
  IO,
  MSR_READ,
  MSR_WRITE,
  EPT_VIOLATION,
  EPT_MISCONFIG,
  PML_FULL,
  /** A #UD intercepted (KVM intercepts #UD on VMX and SVM; handle_ud, the forced-emulation prefix). */
  UD_EXCEPTION,
  RDPMC,
}

/** One exit as each vendor reports it: [VMX name, VMX number, SVM name, SVM code]. */
type ExitName = readonly [string, number, string, number];

/** Indexed by KvmExit. SVM has no PML: its row is never used (PML needs EPT). */
export const EXIT_NAMES: readonly ExitName[] = [
  ['EXCEPTION_NMI', 0, 'PF excp', 0x4e],
  ['EXTERNAL_INTERRUPT', 1, 'interrupt', 0x60],
  ['EXTERNAL_INTERRUPT', 1, 'interrupt', 0x60],
  ['CPUID', 10, 'cpuid', 0x72],
  ['HLT', 12, 'hlt', 0x78],
  ['INVLPG', 14, 'invlpg', 0x79],
  ['INVPCID', 58, 'invpcid', 0xa2],
  ['VMCALL', 18, 'hypercall', 0x81],
  ['CR_ACCESS', 28, 'write_cr0', 0x10],
  ['CR_ACCESS', 28, 'write_cr3', 0x13],
  ['CR_ACCESS', 28, 'write_cr4', 0x14],
  ['CR_ACCESS', 28, 'read_cr3', 0x03],
  ['IO_INSTRUCTION', 30, 'io', 0x7b],
  ['MSR_READ', 31, 'msr', 0x7c],
  ['MSR_WRITE', 32, 'msr', 0x7c],
  ['EPT_VIOLATION', 48, 'npf', 0x400],
  ['EPT_MISCONFIG', 49, 'npf', 0x400],
  ['PML_FULL', 62, 'PML_FULL', 62],
  ['EXCEPTION_NMI', 0, 'UD excp', 0x46],
  ['RDPMC', 15, 'rdpmc', 0x6f],
];

/** The name kvm_exit prints for `exit` on `vendor` (svm-hv is SVM). */
export function exitName(exit: KvmExit, vmx: boolean): string {
  const row = EXIT_NAMES[exit];
  return vmx ? row[0] : row[2];
}
