import type { Argv } from 'yargs';
import type { Command } from './command.js';
import { EXIT_STATUS_HELP } from './command.js';
import { flag, optionalString } from './values.js';
import { mmuModeList } from './kvm-args.js';
import { writeErr, writeOut } from './output.js';
import { buildNotice } from './image-build.js';
import { MACHINE_VALUE_OPTIONS, machineBuilder, machineOptions } from './machine-args.js';
import { readInputs } from './vm-factory.js';
import { DIRTY_LOG_VALUE_OPTIONS, dirtyLogBuilder, dirtyLogOptions } from './dirty-log-args.js';
import { compareJson, compareTable, outputsAgree } from './compare-report.js';
import { MMU_MODES } from '../../vmm/machine.js';
import { PRESETS } from '../../mmu/knobs.js';
import { ExitStatus } from './exit-status.js';
import { UsageError } from './errors.js';
import { compareHtml, writeReport } from './html-report.js';
import { executeSweep, sweepOptions } from './compare-sweep.js';
import { sweepHtml } from './html-report-sweep.js';
import { type CompareOptions, runModes } from './compare-run.js';

export type { CompareOptions } from './compare-run.js';

/**
 * `mmulab compare IMAGE`: the same guest, with the same options, in every MMU mode asked for
 * (default: all of them), and one table of what each did: outcome, output, instructions, modeled
 * cycles, wall time, KVM's counters, and the guest's own measurements ("NAME VALUE" lines, such as
 * vmexit's cycles per iteration). The exit status is the guests' common status when every mode
 * agrees on it and on the output (measurements aside), else MODES_DIFFER.
 */

export const COMPARE_VALUE_OPTIONS = [...MACHINE_VALUE_OPTIONS, 'mmu', 'ignore-lines', 'report', ...DIRTY_LOG_VALUE_OPTIONS] as const;

function builder(y: Argv): Argv {
  return dirtyLogBuilder(machineBuilder(y.usage('Usage: mmulab compare IMAGE [options]\n\nRun one guest in several MMU modes and print one table of what each did.'))
    .option('mmu', { type: 'string', requiresArg: true, describe: 'comma-separated MMU modes', default: MMU_MODES.join(',') })
    .option('smp', { requiresArg: true, describe: 'vCPUs, or a list (1,2,4,8) to sweep: one table per figure, a row per vCPU count', default: 1 })
    .option('preset', { type: 'string', requiresArg: true, describe: `KVM behaviour to model (${Object.keys(PRESETS).join(', ')}), or a list (A,B) to compare presets side by side`, default: 'current' })
    .option('json', { type: 'boolean', describe: 'print the comparison as one JSON object on stdout instead of a table' })
    .option('show-output', { type: 'boolean', describe: 'also print each mode\'s guest output' })
    .option('report', { type: 'string', requiresArg: true, describe: 'also write the comparison as one self-contained HTML page with charts (FILE.html)' })
    .option('ignore-lines', {
      type: 'string', requiresArg: true,
      describe: 'a regular expression: output lines it matches may differ between modes (repeatable; e.g. timing lines)',
    })
    .epilogue(EXIT_STATUS_HELP));
}

function options(argv: Record<string, unknown>): CompareOptions {
  const sweep = sweepOptions(argv);
  // A sweep's lists are checked one value at a time; the machine takes the first of each.
  const machine = machineOptions(sweep === undefined ? argv : { ...argv, smp: sweep.smp[0], preset: sweep.presets[0].name });
  const raw = argv['ignore-lines'] === undefined ? [] : (Array.isArray(argv['ignore-lines']) ? argv['ignore-lines'] : [argv['ignore-lines']]);
  const ignore = raw.map((r) => {
    try {
      return new RegExp(String(r));
    } catch {
      throw new UsageError(`--ignore-lines: not a regular expression: ${String(r)}`);
    }
  });
  return { ...machine, ...dirtyLogOptions(argv), modes: mmuModeList(argv.mmu), ignore, json: flag(argv.json), showOutput: flag(argv['show-output']), report: optionalString('report', argv.report), ...(sweep === undefined ? {} : { sweep }) };
}


async function execute(o: CompareOptions): Promise<number> {
  if (o.sweep !== undefined) return executeSweep(o, o.sweep, sweepHtml);
  const inputs = readInputs(o, buildNotice(o.json));
  const { runs, samples } = runModes(o, inputs, o.report !== undefined);
  if (o.report !== undefined) writeReport(o.report, () => compareHtml(`mmulab compare ${o.image}`, compareTable(o, runs), runs, samples));
  if (o.json) writeOut(Buffer.from(compareJson(o, runs)));
  else {
    if (o.showOutput) for (const r of runs) writeOut(Buffer.from(`--- ${r.mode} guest output ---\n${r.output}`));
    writeOut(Buffer.from(compareTable(o, runs)));
  }
  const first = runs[0];
  const agree = runs.every((r) => r.status === first.status) && outputsAgree(runs);
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
