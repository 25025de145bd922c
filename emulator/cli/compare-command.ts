import type { Argv } from 'yargs';
import type { Command } from './command.js';
import { EXIT_STATUS_HELP } from './command.js';
import { UsageError } from './errors.js';
import { flag, optionalString } from './values.js';
import { writeErr, writeOut } from './output.js';
import { MACHINE_VALUE_OPTIONS, type MachineOptions, machineBuilder, machineOptions } from './machine-args.js';
import { createVm, readInputs } from './vm-factory.js';
import { exitStatusOf } from './report.js';
import { type ModeRun, compareJson, compareTable } from './compare-report.js';
import { MMU_MODES, type MmuMode } from '../machine/vm.js';
import { ExitStatus } from './exit-status.js';

/**
 * `mmulab compare IMAGE`: the same guest, with the same options, in every MMU mode asked for
 * (default: all of them), and one table of what each did: outcome, output, instructions, modeled
 * cycles, wall time, and KVM's counters. The exit status is the guests' common status when every
 * mode agrees on it and on the output, else MODES_DIFFER.
 */
export interface CompareOptions extends MachineOptions {
  readonly modes: readonly MmuMode[];
  readonly json: boolean;
  readonly showOutput: boolean;
}

export const COMPARE_VALUE_OPTIONS = [...MACHINE_VALUE_OPTIONS, 'mmu'] as const;

function builder(y: Argv): Argv {
  return machineBuilder(y.usage('Usage: mmulab compare IMAGE [options]\n\nRun one guest in several MMU modes and print one table of what each did.'))
    .option('mmu', { type: 'string', requiresArg: true, describe: 'comma-separated MMU modes', default: MMU_MODES.join(',') })
    .option('json', { type: 'boolean', describe: 'print the comparison as one JSON object on stdout instead of a table' })
    .option('show-output', { type: 'boolean', describe: 'also print each mode\'s guest output' })
    .epilogue(EXIT_STATUS_HELP);
}

function options(argv: Record<string, unknown>): CompareOptions {
  const machine = machineOptions(argv);
  const list = (optionalString('mmu', argv.mmu) ?? MMU_MODES.join(',')).split(',').map((m) => m.trim()).filter((m) => m !== '');
  for (const m of list) {
    if (!(MMU_MODES as readonly string[]).includes(m)) throw new UsageError(`--mmu: unknown mode "${m}" (modes: ${MMU_MODES.join(', ')})`);
  }
  if (list.length === 0) throw new UsageError('--mmu: no mode given');
  return { ...machine, modes: [...new Set(list)] as MmuMode[], json: flag(argv.json), showOutput: flag(argv['show-output']) };
}

async function execute(o: CompareOptions): Promise<number> {
  const inputs = readInputs(o);
  const runs: ModeRun[] = [];
  for (const mode of o.modes) {
    const out: Uint8Array[] = [];
    const vm = createVm(o, mode, inputs, (b) => { out.push(b); });
    const result = vm.run(o.maxInsns);
    runs.push({
      mode,
      result,
      status: exitStatusOf(result),
      output: Buffer.concat(out).toString('latin1'),
      cycles: vm.cpu.tsc(),
      kvm: vm.kvm === undefined ? undefined : Object.fromEntries(vm.kvm.stats.entries()),
      violations: vm.kvm?.violations ?? [],
    });
  }
  if (o.json) writeOut(Buffer.from(compareJson(o, runs)));
  else {
    if (o.showOutput) for (const r of runs) writeOut(Buffer.from(`--- ${r.mode} guest output ---\n${r.output}`));
    writeOut(Buffer.from(compareTable(o, runs)));
  }
  const first = runs[0];
  const agree = runs.every((r) => r.status === first.status && r.output === first.output);
  if (!agree && !o.json) writeErr('mmulab: the modes disagree (status or guest output)');
  return agree ? first.status : ExitStatus.MODES_DIFFER;
}

export const COMPARE_COMMAND: Command<CompareOptions> = {
  name: 'compare',
  spec: 'compare [image]',
  usage: 'mmulab compare IMAGE [options]',
  describe: 'run a guest in several MMU modes and print one table of what each did',
  valueOptions: COMPARE_VALUE_OPTIONS,
  builder,
  options,
  execute,
  json: (o) => o.json,
};
