/**
 * The port through which a hypervisor attaches to the machine. The hardware (emulator/) declares
 * what it needs from a hypervisor here and in cpu/platform.ts (the vCPU's view: exits) and
 * hw/tdp-hardware.ts, hw/shadow-hardware.ts (the paging hardware's: EPT violations, #PF
 * intercepts); KVM (mmu/kvm) implements them and the VMM (vmm/) plugs it in. The machine never
 * names KVM.
 */
export interface Hypervisor {
  /** KVM_RUN on vCPU `cpu`: before guest code runs, pending requests are served and an MMU root is loaded. */
  startVcpu(cpu: number): void;
  /** vCPU `cpu`'s registers were set from outside (a loader, KVM_SET_SREGS): reset its MMU context. */
  registersSet(cpu: number): void;
  /** A statistic by its KVM name (the test device shows them to guests); undefined if unknown. */
  counter(name: string): number | undefined;
}

/** The hypervisor refuses to run the guest any further (KVM_RUN returned an error). */
export class HypervisorError extends Error {}
