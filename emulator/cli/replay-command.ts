import type { Argv } from 'yargs';
import type { Command } from './command.js';
import { EXIT_STATUS_HELP } from './command.js';
import { flag, optionalString } from './values.js';
import { writeErr, writeOut } from './output.js';
import { buildNotice } from './image-build.js';
import type { MachineOptions } from './machine-args.js';
import { DEFAULT_MEM_MIB } from './machine-args.js';
import { createVm, readInputs } from './vm-factory.js';
import { exitStatusOf } from './report.js';
import { guestValues } from './guest-values.js';
import { ExitStatus } from './exit-status.js';
import { UsageError } from './errors.js';
import { parseCpuSpec } from '../cpu/cpu-spec.js';
import { DEFAULT_QUANTUM } from '../machine/vm.js';
import { resolveKnobs } from '../../mmu/knobs.js';
import type { MmuMode } from '../../vmm/machine.js';
import { REPLAYS, type Replay, type ReplayFigure } from './replays.js';
import { writeReport } from './html-report.js';
import { replayHtml } from './html-report-replay.js';

/**
 * `mmulab replay NAME|all`: reruns a KVM decision from the mailing-list threads (replays.ts) before
 * and after, prints the figures beside the thread's, and checks their shape. Exit status 0 when
 * every shape holds, REPLAY_SHAPE when one does not, or the guest's failure status when a run did
 * not pass.
 */
export interface ReplayOptions {
  readonly names: readonly string[];
  readonly json: boolean;
  /** --report FILE.html: the replays as one self-contained HTML page with a chart per figure. */
  readonly report?: string;
}

function builder(y: Argv): Argv {
  return y
    .usage('Usage: mmulab replay NAME|all [--json]\n\nReplay a KVM MMU decision from its mailing-list thread, before and after.')
    .positional('name', { type: 'string', describe: `which thread: ${REPLAYS.map((r) => r.name).join(', ')} or all` })
    .option('json', { type: 'boolean', describe: 'print the replays as one JSON object on stdout' })
    .option('report', { type: 'string', requiresArg: true, describe: 'also write the replays as one self-contained HTML page with a chart per figure (FILE.html)' })
    .epilogue(EXIT_STATUS_HELP);
}

function options(argv: Record<string, unknown>): ReplayOptions {
  const name = optionalString('name', argv.name);
  if (name === undefined) throw new UsageError(`replay: name a thread (${REPLAYS.map((r) => r.name).join(', ')}) or all`);
  if (name === 'all') return { names: REPLAYS.map((r) => r.name), json: flag(argv.json), report: optionalString('report', argv.report) };
  if (!REPLAYS.some((r) => r.name === name)) throw new UsageError(`replay: unknown thread "${name}" (known: ${REPLAYS.map((r) => r.name).join(', ')}, all)`);
  return { names: [name], json: flag(argv.json), report: optionalString('report', argv.report) };
}

interface RunFigures {
  readonly status: number;
  /** Why the run ended, when it did not end with the guest's own exit. */
  readonly detail: string | undefined;
  readonly output: string;
  read(figure: ReplayFigure): number;
}

function machineFor(r: Replay, s: Replay['settings'][number]): MachineOptions {
  return {
    image: r.image, append: s.append ?? r.append, initrd: undefined, memMiB: DEFAULT_MEM_MIB, cpu: parseCpuSpec(r.cpu),
    maxInsns: undefined, smp: r.smp, quantum: DEFAULT_QUANTUM,
    vendor: s.vendor, preset: s.preset, knobs: resolveKnobs(s.preset, s.knobs), audit: false, auditEvery: 1, backing: r.backing,
    ...(r.hostSme === true ? { hostSme: true } : {}),
  };
}

function runOnce(o: MachineOptions, mode: MmuMode, inputs: ReturnType<typeof readInputs>): RunFigures {
  const out: Uint8Array[] = [];
  const vm = createVm(o, mode, inputs, (b) => { out.push(b); });
  const result = vm.run(o.maxInsns);
  const output = Buffer.concat(out).toString('latin1');
  const values = guestValues(output);
  const stats = new Map(vm.kvm?.stats.entries() ?? []);
  const cycles = vm.cpu.tsc();
  const status = exitStatusOf(result);
  return {
    status,
    detail: result.outcome === 'exit' ? undefined : result.detail,
    output,
    read(f) {
      switch (f.source.kind) {
        case 'guest-value': return values.get(f.source.name) ?? NaN;
        case 'kvm': return stats.get(f.source.counter) ?? 0;
        case 'cycles': return cycles;
        case 'status': return status;
      }
    },
  };
}

/** The line of a failed guest's output that says why: an unhandled exception, a FAIL, or the last line. */
function failureLine(output: string): string {
  const lines = output.replace(/\r/g, '').trimEnd().split('\n');
  return lines.find((l) => /^(Unhandled exception|FAIL)/.test(l)) ?? lines[lines.length - 1];
}

interface ReplayResult {
  readonly replay: Replay;
  /** values[figure][setting] */
  readonly values: readonly (readonly number[])[];
  readonly shapes: readonly { describe: string; measured: string; holds: boolean }[];
  /** How runs allowed to fail ended (the bug's failure, in mmulab's words). */
  readonly endings: readonly string[];
  readonly failedRun?: string;
  readonly failedStatus?: number;
}

export function replayOne(r: Replay, notice: ((line: string) => void) | undefined): ReplayResult {
  const modes = [...new Set(r.figures.map((f) => f.mode))];
  const values: number[][] = r.figures.map(() => []);
  const endings: string[] = [];
  for (const [si, s] of r.settings.entries()) {
    const o = machineFor(r, s);
    const inputs = readInputs(o, notice);
    for (const mode of modes) {
      const run = runOnce(o, mode, inputs);
      if (run.status !== 1 && s.mayFail !== true) {
        return { replay: r, values, shapes: [], endings, failedRun: `${s.label} in ${mode}`, failedStatus: run.status };
      }
      if (run.detail !== undefined) endings.push(`${s.label}, ${mode}: ${run.detail}`);
      // A guest that failed by itself: its first unhandled exception or failed check says how.
      else if (run.status !== 1) endings.push(`${s.label}, ${mode}: status ${run.status}: ${failureLine(run.output)}`);
      for (const [fi, f] of r.figures.entries()) if (f.mode === mode) values[fi][si] = run.read(f);
    }
  }
  const value = (key: string, setting: number): number => {
    const fi = r.figures.findIndex((f) => f.key === key);
    if (fi < 0) throw new Error(`replay ${r.name}: no figure ${key}`);
    return values[fi][setting];
  };
  return { replay: r, values, endings, shapes: r.shapes.map((sh) => ({ describe: sh.describe, ...sh.check(value) })) };
}

const num = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');

function table(res: ReplayResult): string {
  const r = res.replay;
  const lines = [
    `${r.heading ?? `lkml (${r.name})`}: ${r.thread}`,
    `  ${r.decision}`,
    `  guest: ${r.image}${r.append === '' || r.settings.some((s) => s.append !== undefined) ? '' : ` --append "${r.append}"`} --cpu ${r.cpu} --backing ${r.backing}${r.smp > 1 ? ` --smp ${r.smp}` : ''}${r.hostSme === true ? ' --host-sme' : ''}`,
    ...r.settings.map((s) => `  ${s.label}: --preset ${s.preset}${s.knobs.map((k) => ` --knob ${k}`).join('')} --vendor ${s.vendor}${s.append === undefined ? '' : ` --append "${s.append}"`}`),
  ];
  if (res.failedRun !== undefined) return [...lines, `  FAILED: the guest did not pass under ${res.failedRun} (status ${res.failedStatus})`, ''].join('\n');
  const published = r.settings.slice(0, 2).map((s) => `thread ${s.label.split(/[ ,]/)[0]}`);
  const head = ['', ...r.settings.map((s) => s.label), ...published];
  const rows = r.figures.map((f, fi) => [f.label, ...r.settings.map((_, si) => num(res.values[fi][si])), ...published.map((_, pi) => f.published?.[pi] ?? '')]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const fmtRow = (row: string[]): string => `  ${row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')}`.trimEnd();
  lines.push(fmtRow(head), ...rows.map(fmtRow), ...res.endings.map((e) => `  ${e}`));
  for (const sh of res.shapes) lines.push(`  ${sh.holds ? 'holds' : 'DOES NOT HOLD'}: ${sh.describe}: ${sh.measured}`);
  lines.push(`  why the figures differ from the thread's: ${r.differs}`, '');
  return lines.join('\n');
}

function json(results: readonly ReplayResult[]): string {
  return `${JSON.stringify({
    replays: results.map((res) => ({
      name: res.replay.name,
      thread: res.replay.thread,
      image: res.replay.image,
      append: res.replay.append,
      settings: res.replay.settings.map((s, si) => ({
        ...s,
        figures: Object.fromEntries(res.replay.figures.map((f, fi) => [f.key, res.values[fi]?.[si] ?? null])),
      })),
      published: Object.fromEntries(res.replay.figures.filter((f) => f.published).map((f) => [f.key, f.published])),
      shapes: res.shapes,
      endings: res.endings,
      failedRun: res.failedRun ?? null,
      holds: res.failedRun === undefined && res.shapes.every((s) => s.holds),
    })),
  })}\n`;
}

async function execute(o: ReplayOptions): Promise<number> {
  const results = REPLAYS.filter((r) => o.names.includes(r.name)).map((r) => replayOne(r, buildNotice(o.json)));
  if (o.report !== undefined) writeReport(o.report, () => replayHtml(results.map((res) => ({ heading: `${res.replay.heading ?? `lkml (${res.replay.name})`}: ${res.replay.thread}`, settings: res.replay.settings.map((s) => s.label), figures: res.replay.figures.map((f, fi) => ({ key: f.key, label: f.label, values: res.values[fi] ?? [] })), table: table(res) }))));
  if (o.json) writeOut(Buffer.from(json(results)));
  else writeOut(Buffer.from(results.map(table).join('\n')));
  const failed = results.find((res) => res.failedRun !== undefined);
  if (failed !== undefined) return failed.failedStatus ?? ExitStatus.REPLAY_SHAPE;
  const broken = results.filter((res) => res.shapes.some((s) => !s.holds));
  if (broken.length > 0) {
    if (!o.json) writeErr(`mmulab: replay ${broken.map((b) => b.replay.name).join(', ')}: the shape does not hold`);
    return ExitStatus.REPLAY_SHAPE;
  }
  return 0;
}

export const REPLAY_COMMAND: Command<ReplayOptions> = {
  name: 'replay',
  spec: 'replay [name]',
  usage: 'mmulab replay NAME|all [--json]',
  describe: 'replay a KVM MMU decision from its mailing-list thread, before and after',
  valueOptions: ['report'],
  builder,
  options,
  execute,
  json: (o) => o.json,
};
