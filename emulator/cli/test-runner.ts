import { join } from 'node:path';
import { createVm, readInputs } from './vm-factory.js';
import { exitStatusOf } from './report.js';
import { cpuSpec } from './machine-args.js';
import type { KvmOptions } from './kvm-args.js';
import { oneLine } from './errors.js';
import { type Expected, type TableEntry, expectedIn } from './test-table.js';
import type { MmuMode } from '../../vmm/machine.js';
import { DEFAULT_QUANTUM } from '../machine/vm.js';

/**
 * One table entry in one MMU mode: build the machine the entry describes, run the guest, and turn
 * its exit status into a verdict, the way kvm-unit-tests' harness reads QEMU's status (1 PASS,
 * 3 FAIL, 77 SKIP; anything else, e.g. 127 for an abort or mmulab's own statuses for a triple
 * fault or the instruction limit, is an ERROR). A run is as expected when its verdict is the one
 * the table gives for the mode and, with the checker on, KVM's invariants held throughout.
 */

export type Verdict = 'PASS' | 'FAIL' | 'SKIP' | 'ERROR';

export interface TestRun {
  readonly test: string;
  readonly mode: MmuMode;
  readonly expected: Expected;
  readonly verdict: Verdict;
  /** The process status `mmulab run` would give (undefined when the run could not start). */
  readonly status: number | undefined;
  /** One line on what happened beyond the verdict: the outcome of an abnormal end, a load error. */
  readonly detail: string;
  readonly output: string;
  readonly instructions: number;
  readonly wallMs: number;
  /** KVM's invariant violations (with --audit). */
  readonly violations: readonly string[];
  readonly unexpected: boolean;
}

/** Options every run of a table shares. */
export interface RunSettings extends KvmOptions {
  readonly imagesDir: string;
  /** Overrides each entry's instruction limit. */
  readonly maxInsns: number | undefined;
}

export function verdictOf(status: number | undefined): Verdict {
  switch (status) {
    case 1: return 'PASS';
    case 3: return 'FAIL';
    case 77: return 'SKIP';
    default: return 'ERROR';
  }
}

export function runEntry(entry: TableEntry, mode: MmuMode, s: RunSettings): TestRun {
  const expected = expectedIn(entry, mode);
  const chunks: Uint8Array[] = [];
  const base = { test: entry.name, mode, expected };
  const started = Date.now();
  try {
    const o = {
      ...s,
      image: join(s.imagesDir, entry.image),
      append: entry.append,
      initrd: undefined,
      memMiB: entry.memMiB,
      cpu: cpuSpec(entry.cpu),
      maxInsns: s.maxInsns ?? entry.maxInsns,
      smp: entry.smp,
      quantum: DEFAULT_QUANTUM,
      chipset: entry.chipset,
    };
    const vm = createVm(o, mode, readInputs(o), (b) => { chunks.push(Uint8Array.from(b)); });
    const result = vm.run(o.maxInsns);
    const status = exitStatusOf(result);
    const verdict = verdictOf(status);
    const violations = vm.kvm?.violations ?? [];
    return {
      ...base,
      verdict,
      status,
      detail: result.outcome === 'exit' ? `exit status ${status}` : `${result.outcome}: ${oneLine(result.detail)}`,
      output: Buffer.concat(chunks).toString('latin1'),
      instructions: result.instructions,
      wallMs: result.wallMs,
      violations: [...violations],
      unexpected: verdict !== expected.toUpperCase() || violations.length > 0,
    };
  } catch (err) {
    // A missing image, a bad CPU model in the table, or a bug: this run is an error, the table goes on.
    return {
      ...base,
      verdict: 'ERROR',
      status: undefined,
      detail: oneLine(err instanceof Error ? err.message : String(err)),
      output: Buffer.concat(chunks).toString('latin1'),
      instructions: 0,
      wallMs: Date.now() - started,
      violations: [],
      unexpected: true,
    };
  }
}
