import type { MachineOptions } from './machine-args.js';
import { createVm, type readInputs } from './vm-factory.js';
import { type DirtyLogOptions, attachDirtyLog } from './dirty-log-args.js';
import { exitStatusOf } from './report.js';
import type { ModeRun } from './compare-report.js';
import type { MmuMode } from '../../vmm/machine.js';
import type { Knobs } from '../../mmu/knobs.js';
import { comparableOutput } from './guest-values.js';
import { vcpuRows } from './vcpu-report.js';
import { type SeriesPoint, sampleSeries } from './html-report-series.js';

/**
 * What `mmulab compare` runs: its options, and one machine configuration run in every mode asked
 * for. Shared by compare-command.ts and the sweeps (compare-sweep.ts), which import it and not
 * each other.
 */

/** --smp and --preset given as lists: the points a sweep runs (compare-sweep.ts). */
export interface Sweep {
  readonly smp: readonly number[];
  readonly presets: readonly { readonly name: string; readonly knobs: Knobs }[];
}

export interface CompareOptions extends MachineOptions, DirtyLogOptions {
  readonly modes: readonly MmuMode[];
  /** Output lines left out when checking that the modes agree (--ignore-lines). */
  readonly ignore: readonly RegExp[];
  readonly json: boolean;
  readonly showOutput: boolean;
  /** --report FILE.html: the comparison as one self-contained HTML page with charts. */
  readonly report?: string;
  /** --smp or --preset given as a list (compare-sweep.ts); undefined for one of each. */
  readonly sweep?: Sweep;
}

/** Every mode's run of one machine configuration, and the report's time series when sampling. */
export function runModes(o: CompareOptions, inputs: ReturnType<typeof readInputs>, sampling: boolean): { runs: ModeRun[]; samples: Map<string, SeriesPoint[]> } {
  const runs: ModeRun[] = [];
  const samples = new Map<string, SeriesPoint[]>();
  for (const mode of o.modes) {
    const out: Uint8Array[] = [];
    const vm = createVm(o, mode, inputs, (b) => { out.push(b); });
    const sampler = sampling ? sampleSeries(vm) : null;
    // The host schedule's steps join the guest's own "NAME VALUE" lines in the table.
    const migration = attachDirtyLog(vm, o, true);
    const result = vm.run(o.maxInsns);
    if (sampler !== null) samples.set(mode, sampler.finish());
    const guestOutput = Buffer.concat(out).toString('latin1');
    const output = guestOutput + (migration === null ? '' : migration.valueLines().map((l) => `${l}\n`).join(''));
    runs.push({
      mode,
      result,
      status: exitStatusOf(result),
      output,
      // Whether the modes agree is a question about the guest: the host's lines exist only with KVM.
      comparable: comparableOutput(guestOutput, o.ignore),
      cycles: vm.cpu.tsc(),
      kvm: vm.kvm === undefined ? undefined : Object.fromEntries(vm.kvm.stats.entries()),
      violations: vm.kvm?.violations ?? [],
      cpus: vcpuRows(vm),
    });
  }
  return { runs, samples };
}
