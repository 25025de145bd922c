import type { Machine } from '../../vmm/machine.js';

/**
 * What each vCPU of an SMP run did, for the per-vCPU rows of --stats, --json and compare: its
 * instructions and modeled time, and its own KVM counters (the VM's are their sum).
 */
export interface VcpuRow {
  readonly cpu: number;
  readonly instructions: number;
  readonly cycles: number;
  readonly haltedCycles: number;
  /** The vCPU's nonzero KVM counters (virtualized modes). */
  readonly kvm: Record<string, number> | undefined;
}

export function vcpuRows(vm: Machine): VcpuRow[] {
  return vm.vcpus.map((cpu, i) => ({
    cpu: i,
    instructions: cpu.instructions,
    cycles: cpu.tsc(),
    haltedCycles: cpu.haltedCycles,
    kvm: vm.kvm === undefined ? undefined : Object.fromEntries(vm.kvm.vcpus[i].stats.entries().filter(([, v]) => v !== 0)),
  }));
}

/** The counters a per-vCPU summary shows, with their labels in compare's table. */
export const VCPU_COUNTERS: ReadonlyArray<[string, string]> = [
  ['exits', 'VM exits'], ['pf_taken', 'MMU faults'], ['root_alloc', 'roots allocated'], ['root_reuse', 'roots reused'],
  ['root_freed', 'roots freed'], ['tlb_flush', 'TLB flushes'], ['remote_tlb_flush', 'remote TLB flushes sent'],
  ['kicks_sent', 'kicks sent'], ['irq_exits', 'kicks taken (irq_exits)'],
  ['mmu_lock_wait_read_cycles', 'mmu_lock cycles waited (read)'], ['mmu_lock_wait_write_cycles', 'mmu_lock cycles waited (write)'],
  ['tdp_fault_retries', 'TDP MMU faults retried'], ['pf_fast', 'fast page faults'], ['huge_pages_split', 'huge pages split'],
];

/** --stats lines, one per vCPU (none on a one-CPU machine, whose figures are the run's). */
export function vcpuStatsLines(rows: readonly VcpuRow[]): string[] {
  if (rows.length < 2) return [];
  return rows.map((r) => {
    const kvm = r.kvm === undefined ? '' : '; kvm: ' + VCPU_COUNTERS.filter(([k]) => (r.kvm![k] ?? 0) !== 0).map(([k]) => `${k}=${r.kvm![k]}`).join(' ');
    return `mmulab: cpu ${r.cpu}: ${r.instructions} instructions, ${Math.round(r.cycles)} modeled cycles (${Math.round(r.haltedCycles)} halted)${kvm}`;
  });
}
