/**
 * The KVM tracepoints mmulab emits, by system as ftrace groups them (`kvm` is
 * arch/x86/kvm/trace.h and include/trace/events/kvm.h, `kvmmmu` is arch/x86/kvm/mmu/mmutrace.h),
 * and the selection `--trace-events` makes, spelled as trace-cmd's `-e`: `all`, a system
 * (`kvmmmu`), `system:event` (`kvm:kvm_exit`), `system:*`, or an event name alone (`kvm_exit`),
 * comma-separated or repeated.
 */
export const enum TraceEvent {
  KVM_ENTRY = 0,
  KVM_EXIT,
  KVM_PAGE_FAULT,
  KVM_PIO,
  KVM_CR,
  KVM_MSR,
  KVM_HYPERCALL,
  KVM_INJ_VIRQ,
  KVM_MMIO,
  KVM_MMU_GET_PAGE,
  KVM_MMU_PREPARE_ZAP_PAGE,
  KVM_MMU_SYNC_PAGE,
  KVM_MMU_UNSYNC_PAGE,
  KVM_MMU_SET_SPTE,
  MARK_MMIO_SPTE,
  KVM_MMU_SPTE_REQUESTED,
  KVM_TDP_MMU_SPTE_CHANGED,
  KVM_MMU_SPLIT_HUGE_PAGE,
  FAST_PAGE_FAULT,
  HANDLE_MMIO_PAGE_FAULT,
  KVM_MMU_ZAP_ALL_FAST,
  KVM_MMU_PAGETABLE_WALK,
  KVM_MMU_PAGING_ELEMENT,
  KVM_MMU_WALKER_ERROR,
}

/** [system, name], indexed by TraceEvent. */
export const TRACE_EVENTS: readonly (readonly [string, string])[] = [
  ['kvm', 'kvm_entry'],
  ['kvm', 'kvm_exit'],
  ['kvm', 'kvm_page_fault'],
  ['kvm', 'kvm_pio'],
  ['kvm', 'kvm_cr'],
  ['kvm', 'kvm_msr'],
  ['kvm', 'kvm_hypercall'],
  ['kvm', 'kvm_inj_virq'],
  ['kvm', 'kvm_mmio'],
  ['kvmmmu', 'kvm_mmu_get_page'],
  ['kvmmmu', 'kvm_mmu_prepare_zap_page'],
  ['kvmmmu', 'kvm_mmu_sync_page'],
  ['kvmmmu', 'kvm_mmu_unsync_page'],
  ['kvmmmu', 'kvm_mmu_set_spte'],
  ['kvmmmu', 'mark_mmio_spte'],
  ['kvmmmu', 'kvm_mmu_spte_requested'],
  ['kvmmmu', 'kvm_tdp_mmu_spte_changed'],
  ['kvmmmu', 'kvm_mmu_split_huge_page'],
  ['kvmmmu', 'fast_page_fault'],
  ['kvmmmu', 'handle_mmio_page_fault'],
  ['kvmmmu', 'kvm_mmu_zap_all_fast'],
  ['kvmmmu', 'kvm_mmu_pagetable_walk'],
  ['kvmmmu', 'kvm_mmu_paging_element'],
  ['kvmmmu', 'kvm_mmu_walker_error'],
];

export const TRACE_SYSTEMS: readonly string[] = ['kvm', 'kvmmmu'];

/** Which events are on: one byte per TraceEvent, so the check at an event costs one load. */
export type EventSelection = Uint8Array;

/** Parses `--trace-events` values; a string is the message for a bad one. */
export function parseEventSelection(specs: readonly string[]): EventSelection | string {
  const on = new Uint8Array(TRACE_EVENTS.length);
  const words = specs.flatMap((s) => s.split(',')).map((w) => w.trim()).filter((w) => w !== '');
  if (words.length === 0) return 'expected all, a system (kvm, kvmmmu), system:event or an event name';
  for (const w of words) {
    const hits = matching(w);
    if (hits.length === 0) return `no event matches "${w}" (systems: ${TRACE_SYSTEMS.join(', ')}; events: ${TRACE_EVENTS.map((e) => e[1]).join(', ')})`;
    for (const i of hits) on[i] = 1;
  }
  return on;
}

function matching(word: string): number[] {
  const all = TRACE_EVENTS.map((_, i) => i);
  if (word === 'all') return all;
  const colon = word.indexOf(':');
  if (colon < 0) return all.filter((i) => TRACE_EVENTS[i][0] === word || TRACE_EVENTS[i][1] === word);
  const system = word.slice(0, colon);
  const event = word.slice(colon + 1);
  return all.filter((i) => TRACE_EVENTS[i][0] === system && (event === '*' || TRACE_EVENTS[i][1] === event));
}

/** Parses `--trace-cpus` (a comma-separated list of vCPU numbers and ranges a-b); a string is the message. */
export function parseCpuSelection(spec: string, cpus: number): Uint8Array | string {
  const on = new Uint8Array(cpus);
  for (const part of spec.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) return `expected vCPU numbers and ranges such as 0,2-3, got "${part}"`;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to >= cpus) return `vCPU ${to} is not in 0-${cpus - 1}`;
    for (let c = from; c <= to; c++) on[c] = 1;
  }
  return on;
}
