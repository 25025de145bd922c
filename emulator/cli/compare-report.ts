import type { MachineOptions } from './machine-args.js';
import type { RunResult } from '../machine/vm.js';
import type { MmuMode } from '../../vmm/machine.js';
import { guestValues, valueNames } from './guest-values.js';
import { checkerSetting } from './kvm-args.js';
import { VCPU_COUNTERS, type VcpuRow } from './vcpu-report.js';

/** One mode's run, as `compare` collects it. */
export interface ModeRun {
  readonly mode: MmuMode;
  readonly result: RunResult;
  readonly status: number;
  readonly output: string;
  /** The output as the modes must agree on it (guest-values.ts comparableOutput). */
  readonly comparable: string;
  readonly cycles: number;
  readonly kvm: Record<string, number> | undefined;
  readonly violations: readonly string[];
  /** Per vCPU (an SMP run shows a block of rows for each). */
  readonly cpus: readonly VcpuRow[];
}

/** KVM counters shown in the table, grouped, in this order (rows that are zero everywhere are left out). */
const KVM_ROWS: ReadonlyArray<[string, string]> = [
  ['exits', 'VM exits'], ['io_exits', '  port I/O'], ['cpuid_exits', '  CPUID'], ['msr_exits', '  MSR'], ['cr_exits', '  CR access'],
  ['cr3_writes', '    of them MOV to CR3'], ['cr3_reads', '    of them MOV from CR3'], ['pf_exits', '  #PF'], ['invlpg_exits', '  INVLPG'], ['invpcid_exits', '  INVPCID'],
  ['halt_exits', '  HLT'], ['hypercalls', '  hypercall'], ['mmio_exits', '  MMIO'],
  ['userspace_exits', 'port and MMIO exits to the VMM'], ['irq_injections', 'interrupts injected'],
  ['pf_taken', 'MMU faults (pf_taken)'], ['pf_fixed', '  pf_fixed'], ['pf_spurious', '  pf_spurious'], ['pf_emulate', '  pf_emulate'],
  ['pf_fast', '  fast_page_fault (no mmu_lock)'], ['host_page_faults', '  host pages faulted in (get_user_pages)'], ['pf_guest', '  injected into the guest'], ['insn_emulation', 'writes to shadowed tables emulated'],
  ['pf_unprotect_retry', '  unprotected and retried'],
  ['pf_mmio_spte_created', '  pf_mmio_spte_created'], ['mmio_fast_hit', 'MMIO fast path hits'], ['mmio_gen_mismatch', 'MMIO generation mismatches'],
  ['mmio_gen_wrap_zaps', 'MMIO generation wrap zaps'], ['memslot_updates', 'memslot updates'],
  ['mmu_lock_read', 'mmu_lock taken for read'], ['mmu_lock_write', 'mmu_lock taken for write'], ['mmu_lock_contended', '  waits'],
  ['mmu_lock_wait_read_cycles', '  cycles waited (read)'], ['mmu_lock_wait_write_cycles', '  cycles waited (write)'],
  ['tdp_fault_retries', 'TDP MMU faults retried (lost cmpxchg)'], ['tdp_fault_retries_frozen', '  on a frozen SPTE'],
  ['tdp_pt_freed_unflushed', 'TDP page tables freed unflushed'],
  ['dirty_pages_logged', 'dirty pages logged'], ['pml_logged', '  by PML (no exit)'], ['pml_full_exits', '  PML-full exits'], ['pml_sync_kicks', '  vCPUs kicked to drain PML (GET, CLEAR, harvest)'],
  ['dirty_pages_reported', 'dirty pages reported (GET)'],
  ['dirty_ring_pushed', 'dirty ring entries pushed'], ['dirty_ring_full_exits', '  KVM_EXIT_DIRTY_RING_FULL'], ['dirty_ring_reset', '  entries reset'], ['dirty_log_wrprot', 'SPTEs write-protected for logging'],
  ['huge_pages_split', 'huge pages split'], ['huge_pages_zapped_for_logging', 'huge pages zapped for 4K faults'],
  ['huge_pages_recovered', 'huge pages recovered'], ['huge_page_recovery_flushes', '  remote flushes for it'],
  ['root_alloc', 'roots allocated'], ['root_reuse', 'roots reused'], ['root_freed', 'roots freed'], ['root_invalidated', 'roots invalidated'],
  ['roots_max', 'valid roots (max)'], ['fast_pgd_switch_hit', 'CR3 switches: cached root'], ['fast_pgd_switch_miss', 'CR3 switches: new root'],
  ['mmu_reset_context', 'kvm_mmu_reset_context'], ['kvm_init_mmu_only', 'kvm_init_mmu only'],
  ['mmu_cache_miss', 'shadow page cache misses'], ['sp_4byte_gpte', 'shadow pages for 4-byte gptes'], ['sp_quadrant', '  with quadrant > 0'],
  ['write_protect_gfn', 'guest tables write-protected'], ['unsync_marked', 'pages unsynced'], ['unsync_to_sync', 'pages synced'],
  ['sync_spte', '  SPTEs resynced'], ['mmu_pte_write', 'tracked writes (mmu_pte_write)'], ['mmu_flooded', '  pages flooded'],
  ['mmu_shadow_zapped', 'shadow pages zapped'], ['mmu_recycled', '  recycled'],
  ['sptes_installed_leaf', 'leaf SPTEs installed'], ['sptes_prefetched', '  prefetched'], ['sptes_installed_nonleaf', 'non-leaf SPTEs installed'],
  ['sptes_installed_mmio', 'MMIO SPTEs installed'], ['sptes_zapped', 'SPTEs zapped'], ['pages_4k', 'mapped 4K'], ['pages_2m', 'mapped 2M'],
  ['pages_1g', 'mapped 1G'], ['mmu_pages_allocated', 'MMU pages allocated'], ['mmu_pages_freed', 'MMU pages freed'],
  ['req_tlb_flush', 'flush requests: all'], ['req_tlb_flush_current', 'flush requests: current'], ['req_tlb_flush_guest', 'flush requests: guest'],
  ['req_mmu_sync', 'sync requests'], ['hw_flush_root', 'hardware flushes: root'], ['hw_flush_combined', 'hardware flushes: linear'],
  ['hw_flush_all', 'hardware flushes: all'], ['hw_flush_gva', 'hardware flushes: one address'],
  ['hv_flush_guest_mapping', 'Hyper-V root flushes'], ['stale_tlb_hits', 'stale TLB hits'], ['invariant_violations', 'invariant violations'],
];

/** Rows of cells as text columns: the first left-aligned, the others right-aligned. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

export const n = (v: number): string => Math.round(v).toLocaleString('en');

/** "same", "values differ" (only the measurements' numbers do), or "DIFFERS". */
function sameOutput(r: ModeRun, first: ModeRun): string {
  if (r.output === first.output) return 'same';
  return r.comparable === first.comparable ? 'values differ' : 'DIFFERS';
}

/** Whether the modes agree on the output, measurements, timestamps and ignored lines aside. */
export function outputsAgree(runs: readonly ModeRun[]): boolean {
  return runs.every((r) => r.comparable === runs[0].comparable);
}

/** The guest's own measurements ("NAME VALUE" lines, e.g. vmexit's cycles per iteration), one row each. */
function valueRows(runs: readonly ModeRun[]): string[][] {
  const values = runs.map((r) => guestValues(r.output));
  const names = valueNames(values);
  if (names.length === 0) return [];
  const rows: string[][] = [['guest-reported values', ...runs.map(() => '')]];
  for (const name of names) rows.push([`  ${name}`, ...values.map((v) => (v.has(name) ? n(v.get(name)!) : '-'))]);
  return rows;
}

/** With more than one vCPU: each vCPU's instructions, modeled cycles and its own KVM counters. */
function vcpuBlocks(runs: readonly ModeRun[]): string[][] {
  const count = Math.max(...runs.map((r) => r.cpus.length));
  if (count < 2) return [];
  const rows: string[][] = [];
  for (let c = 0; c < count; c++) {
    const at = runs.map((r) => r.cpus[c]);
    rows.push([`CPU ${c}: instructions`, ...at.map((v) => (v === undefined ? '-' : n(v.instructions)))]);
    rows.push(['  modeled cycles', ...at.map((v) => (v === undefined ? '-' : n(v.cycles)))]);
    for (const [key, label] of VCPU_COUNTERS) {
      const values = at.map((v) => v?.kvm?.[key]);
      if (values.every((v) => v === undefined || v === 0)) continue;
      rows.push([`  ${label}`, ...values.map((v) => (v === undefined ? '-' : n(v)))]);
    }
  }
  return rows;
}

export function compareTable(o: MachineOptions, runs: readonly ModeRun[]): string {
  const first = runs[0];
  const rows: string[][] = [['', ...runs.map((r) => r.mode)]];
  rows.push(['outcome', ...runs.map((r) => r.result.outcome)]);
  rows.push(['exit status', ...runs.map((r) => String(r.status))]);
  rows.push([`output vs ${first.mode}`, ...runs.map((r) => (r === first ? '-' : sameOutput(r, first)))]);
  rows.push(['instructions', ...runs.map((r) => n(r.result.instructions))]);
  rows.push(['modeled cycles', ...runs.map((r) => n(r.cycles))]);
  rows.push(['cycles / instruction', ...runs.map((r) => (r.cycles / Math.max(1, r.result.instructions)).toFixed(2))]);
  rows.push(['wall ms', ...runs.map((r) => r.result.wallMs.toFixed(0))]);
  rows.push(['MIPS', ...runs.map((r) => (r.result.instructions / Math.max(0.001, r.result.wallMs) / 1000).toFixed(1))]);
  for (const [key, label] of KVM_ROWS) {
    const values = runs.map((r) => r.kvm?.[key]);
    if (values.every((v) => v === undefined || v === 0)) continue;
    rows.push([label, ...values.map((v) => (v === undefined ? '-' : n(v)))]);
  }
  rows.push(...vcpuBlocks(runs));
  rows.push(...valueRows(runs));
  const checker = checkerSetting(o);
  const header = `${o.image}${o.append ? ' ' + o.append : ''}  (vendor ${o.vendor}, preset ${o.preset}${checker === undefined ? '' : `, ${checker}`})`;
  const notes = runs.flatMap((r) => r.violations.slice(0, 5).map((v) => `${r.mode}: invariant violation: ${v}`));
  return [header, table(rows), ...notes].join('\n') + '\n';
}

export function compareJson(o: MachineOptions, runs: readonly ModeRun[]): string {
  return JSON.stringify({
    image: o.image,
    append: o.append,
    vendor: o.vendor,
    preset: o.preset,
    knobs: o.knobs,
    modes: runs.map((r) => modeJson(r, runs[0])),
  }) + '\n';
}

/** One mode's run in the JSON report; `first` is the run its output is compared with. */
export function modeJson(r: ModeRun, first: ModeRun): Record<string, unknown> {
  return {
    mode: r.mode,
    outcome: r.result.outcome,
    status: r.status,
    detail: r.result.outcome === 'exit' ? null : r.result.detail,
    sameOutputAsFirst: r.output === first.output,
    sameOutputExceptValues: r.comparable === first.comparable,
    values: Object.fromEntries(guestValues(r.output)),
    instructions: r.result.instructions,
    modeledCycles: r.cycles,
    wallMs: Math.round(r.result.wallMs),
    kvm: r.kvm ?? null,
    violations: r.violations,
    cpus: r.cpus.length > 1 ? r.cpus : undefined,
  };
}
