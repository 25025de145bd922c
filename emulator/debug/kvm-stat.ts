import { KvmExit, EXIT_NAMES } from './trace-exit-reasons.js';
import { TRACE_EVENTS } from './trace-events.js';

/**
 * kvm_stat's view (tools/kvm/kvm_stat) of a run: KVM's binary/debugfs statistics under the names
 * of kvm_vm_stats_desc and kvm_vcpu_stats_desc (arch/x86/kvm/x86.c, with the generic
 * remote_tlb_flush ones), the `kvm` system's tracepoint counts, and kvm_exit broken down by
 * reason as kvm_stat's tracepoint provider filters it: `kvm_exit(HLT)`, with kvm_stat's own
 * reason names (VMX_EXIT_REASONS, SVM_EXIT_REASONS: upper case; reasons missing from its tables,
 * such as SVM's #PF intercept, get no child). Layouts: `kvm_stat --once` (batch: "%-42s%10d%10d",
 * name, value, change since the last sample, sorted by name) and the curses screen ("kvm
 * statistics - summary", "%-40s %10d%7.1f %8s", sorted by change then value, a Total line).
 */

/** KVM's statistics that mmulab counts, VM-wide first, then per vCPU (summed over vCPUs). */
export const KVM_STAT_NAMES: readonly string[] = [
  'mmu_shadow_zapped', 'mmu_pte_write', 'mmu_pde_zapped', 'mmu_flooded', 'mmu_recycled', 'mmu_cache_miss', 'mmu_unsync',
  'pages_4k', 'pages_2m', 'pages_1g', 'max_mmu_rmap_size', 'max_mmu_page_hash_collisions', 'remote_tlb_flush',
  'remote_tlb_flush_requests',
  'pf_taken', 'pf_fixed', 'pf_emulate', 'pf_spurious', 'pf_fast', 'pf_mmio_spte_created', 'pf_guest', 'tlb_flush', 'invlpg',
  'exits', 'io_exits', 'mmio_exits', 'halt_exits', 'irq_exits', 'insn_emulation', 'hypercalls', 'irq_injections',
];

/** kvm_stat's names of each KvmExit, [VMX, SVM]; null where its table has none. */
const KVM_STAT_EXIT: readonly (readonly [string | null, string | null])[] = [
  ['EXCEPTION_NMI', null],
  ['EXTERNAL_INTERRUPT', 'INTR'],
  ['EXTERNAL_INTERRUPT', 'INTR'],
  ['CPUID', 'CPUID'],
  ['HLT', 'HLT'],
  ['INVLPG', 'INVLPG'],
  ['INVPCID', null],
  ['VMCALL', 'VMMCALL'],
  ['CR_ACCESS', 'WRITE_CR0'],
  ['CR_ACCESS', 'WRITE_CR3'],
  ['CR_ACCESS', 'WRITE_CR4'],
  ['CR_ACCESS', 'READ_CR3'],
  ['IO_INSTRUCTION', 'IOIO'],
  ['MSR_READ', 'MSR'],
  ['MSR_WRITE', 'MSR'],
  ['EPT_VIOLATION', 'NPF'],
  ['EPT_MISCONFIG', 'NPF'],
  [null, null],
  ['EXCEPTION_NMI', null],
  ['RDPMC', 'RDPMC'],
];

/** One sample: every field kvm_stat would list, with its value. */
export type KvmStatSample = ReadonlyMap<string, number>;

/**
 * The fields of a sample: `stats` (counter name to value, mmulab's Stats summed over vCPUs),
 * tracepoint counts by TraceEvent and kvm_exit counts by KvmExit (a KvmTrace's counts and exits).
 */
export function kvmStatSample(stats: ReadonlyMap<string, number>, events: Float64Array, exits: Float64Array, vmx: boolean): KvmStatSample {
  const out = new Map<string, number>();
  for (const name of KVM_STAT_NAMES) {
    const v = stats.get(name);
    if (v !== undefined) out.set(name, v);
  }
  TRACE_EVENTS.forEach(([system, name], i) => { if (system === 'kvm') out.set(name, events[i]); });
  for (let r = 0; r < EXIT_NAMES.length; r++) {
    // An exit this table does not list yet keeps its VMX name (kvm_stat's VMX table is the SDM's).
    const row = KVM_STAT_EXIT[r as KvmExit] ?? [EXIT_NAMES[r][0], null];
    const name = row[vmx ? 0 : 1];
    if (name === null || exits[r] === 0) continue;
    const key = `kvm_exit(${name})`;
    out.set(key, (out.get(key) ?? 0) + exits[r]);
  }
  return out;
}

/** `kvm_stat --once`: every field by name, its value and its change since `previous`. */
export function kvmStatBatch(sample: KvmStatSample, previous: KvmStatSample | null): string[] {
  return [...sample.keys()].sort().map((k) => {
    const v = sample.get(k)!;
    const delta = v - (previous?.get(k) ?? 0);
    return `${k.padEnd(42)}${String(v).padStart(10)}${String(delta).padStart(10)}`;
  });
}

/**
 * kvm_stat's screen, drill-down on (kvm_exit's children shown): fields by change, then value,
 * down to the first that is zero and unchanged; %Total and Total over the fields without
 * children's parentheses; CurAvg/s is the change over `seconds`.
 */
export function kvmStatScreen(sample: KvmStatSample, previous: KvmStatSample | null, seconds: number): string[] {
  const rows = [...sample.entries()].map(([k, v]) => ({ k, v, d: v - (previous?.get(k) ?? 0) }));
  rows.sort((a, b) => b.d - a.d || b.v - a.v || (a.k < b.k ? -1 : 1));
  let total = 0;
  for (const r of rows) if (!r.k.includes('(')) total += r.v;
  const lines = ['kvm statistics - summary', ` ${'Event'.padEnd(40)} ${'Total'.padStart(10)}${'%Total'.padStart(7)} ${'CurAvg/s'.padStart(8)}`];
  let avg = 0;
  for (const r of rows) {
    if (r.v === 0 && r.d === 0) break;
    const cur = r.d !== 0 && seconds > 0 ? String(Math.round(r.d / seconds)) : '';
    if (cur !== '' && !r.k.includes('(')) avg += Number(cur);
    const share = total > 0 ? (r.v * 100 / total).toFixed(1) : '0.0';
    lines.push(` ${r.k.padEnd(40)} ${String(r.v).padStart(10)}${share.padStart(7)} ${cur.padStart(8)}`);
  }
  if (lines.length === 2) lines.push(' No matching events reported yet');
  else lines.push(` ${'Total'.padEnd(40)} ${String(total).padStart(10)}        ${(avg === 0 ? '' : String(avg)).padStart(8)}`);
  return lines;
}

/**
 * The fields of `kvm_stat -l` (logging mode) for a run on `vmx`: fixed for the whole log, as
 * kvm_stat fixes its keys when it starts: KVM's statistics, the `kvm` tracepoints, and kvm_exit's
 * children for every reason the vendor's table names, sorted by name.
 */
export function kvmStatLogKeys(stats: ReadonlyMap<string, number>, vmx: boolean): string[] {
  const keys = new Set(KVM_STAT_NAMES.filter((n) => stats.has(n)));
  TRACE_EVENTS.forEach(([system, name]) => { if (system === 'kvm') keys.add(name); });
  for (const row of KVM_STAT_EXIT) {
    const name = row[vmx ? 0 : 1];
    if (name !== null) keys.add(`kvm_exit(${name})`);
  }
  return [...keys].sort();
}

/** kvm_stat's StdFormat banner: each field's name followed by a space. */
export function kvmStatLogBanner(keys: readonly string[]): string {
  return keys.map((k) => `${k} `).join('');
}

/**
 * One record of `kvm_stat -l`: the time as "%Y-%m-%d %H:%M:%S", then " %9d" per field of its
 * change since `previous`. The time is modeled (`ns` since the run began, counted from the Unix
 * epoch), so the same run logs the same records.
 */
export function kvmStatLogLine(ns: number, keys: readonly string[], sample: KvmStatSample, previous: KvmStatSample | null): string {
  const stamp = new Date(Math.floor(ns / 1e6)).toISOString().slice(0, 19).replace('T', ' ');
  return stamp + keys.map((k) => ` ${String((sample.get(k) ?? 0) - (previous?.get(k) ?? 0)).padStart(9)}`).join('');
}
