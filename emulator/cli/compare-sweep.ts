import { buildNotice } from './image-build.js';
import { type CompareOptions, type Sweep, runModes } from './compare-run.js';
import { type ModeRun, compareTable, modeJson, n, outputsAgree, table } from './compare-report.js';
import { readInputs } from './vm-factory.js';
import { kvmOptions } from './kvm-args.js';
import { smp as smpValue } from './machine-args.js';
import { optionalString } from './values.js';
import { UsageError } from './errors.js';
import { writeErr, writeOut } from './output.js';
import { ExitStatus } from './exit-status.js';
import { guestValues, valueNames } from './guest-values.js';
import { writeReport } from './html-report.js';
import type { SeriesPoint } from './html-report-series.js';
import type { MmuMode } from '../../vmm/machine.js';

/**
 * `mmulab compare --smp 1,2,4,8` and `--preset A,B`: the comparison repeated at each vCPU count
 * and under each preset (the same --knob overrides on each). A vCPU-count sweep prints one table
 * per figure (modeled cycles, faults, mmu_lock waits, roots, the guest's own measurements), a row
 * per vCPU count and a column per mode (and preset): the curves of KVM's mmu_lock contention
 * against vCPUs. A preset list at one vCPU count prints compare's own table with a column per
 * mode and preset. One value of each is no sweep: compare prints what it always printed.
 */


/** A comma-separated list of distinct values, or undefined when the option holds one value. */
function list(name: string, value: unknown): string[] | undefined {
  const text = optionalString(name, value);
  if (text === undefined || !text.includes(',')) return undefined;
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`--${name}: an empty item in the list "${text}"`);
  if (new Set(items).size !== items.length) throw new UsageError(`--${name}: a value given twice in "${text}"`);
  return items;
}

/** The sweep `--smp` and `--preset` ask for; undefined when each is one value. */
export function sweepOptions(argv: Record<string, unknown>): Sweep | undefined {
  const smps = list('smp', argv.smp === undefined ? undefined : String(argv.smp));
  const presets = list('preset', argv.preset);
  if (smps === undefined && presets === undefined) return undefined;
  const smp = smps === undefined ? [smpValue(argv.smp)] : smps.map((s) => smpValue(s));
  const names = presets ?? [optionalString('preset', argv.preset) ?? 'current'];
  return { smp, presets: names.map((name) => ({ name, knobs: kvmOptions({ ...argv, preset: name }).knobs })) };
}

/** One machine configuration of the sweep and its modes' runs. */
export interface SweepPoint {
  readonly smp: number;
  readonly preset: string;
  readonly runs: readonly ModeRun[];
  readonly samples: ReadonlyMap<string, readonly SeriesPoint[]>;
}

/** A column of the sweep's tables: a mode, under a preset when several are compared. */
export interface SweepColumn { readonly label: string; readonly mode: string; readonly preset: string }

export function sweepColumns(o: CompareOptions, sweep: Sweep): SweepColumn[] {
  const several = sweep.presets.length > 1;
  return o.modes.flatMap((mode) => sweep.presets.map((p) => ({ label: several ? `${mode}/${p.name}` : mode, mode, preset: p.name })));
}

/** A figure of the vCPU-count tables: what it reads from a run (undefined: the run has no such number). */
export interface SweepFigure { readonly key: string; readonly label: string; readonly value: (r: ModeRun) => number | undefined }

const kvmFigure = (key: string, label: string): SweepFigure => ({ key, label, value: (r) => (r.kvm === undefined ? undefined : r.kvm[key] ?? 0) });

const FIGURES: readonly SweepFigure[] = [
  { key: 'modeledCycles', label: 'modeled cycles', value: (r) => r.cycles },
  kvmFigure('exits', 'VM exits'),
  kvmFigure('pf_taken', 'MMU faults (pf_taken)'),
  kvmFigure('host_page_faults', 'host pages faulted in (get_user_pages)'),
  kvmFigure('mmu_lock_contended', 'mmu_lock waits'),
  kvmFigure('mmu_lock_wait_write_cycles', 'mmu_lock cycles waited (write)'),
  kvmFigure('mmu_lock_wait_read_cycles', 'mmu_lock cycles waited (read)'),
  kvmFigure('root_alloc', 'roots allocated'),
];

/** The figures with a number in some run: the fixed ones, then the guest's measurements in its order. */
export function sweepFigures(points: readonly SweepPoint[]): SweepFigure[] {
  const all = points.flatMap((p) => p.runs);
  const fixed = FIGURES.filter((f) => all.some((r) => f.value(r) !== undefined));
  const names = valueNames(all.map((r) => guestValues(r.output)));
  return [...fixed, ...names.map((name) => ({ key: name, label: name, value: (r: ModeRun) => guestValues(r.output).get(name) }))];
}

/** The run of a column at a vCPU count. */
export function runAt(points: readonly SweepPoint[], smp: number, c: SweepColumn): ModeRun | undefined {
  return points.find((p) => p.smp === smp && p.preset === c.preset)?.runs.find((r) => r.mode === c.mode);
}

/** One table per figure: a row per vCPU count, a column per mode (and preset). */
export function smpTables(o: CompareOptions, sweep: Sweep, points: readonly SweepPoint[]): string {
  const columns = sweepColumns(o, sweep);
  const header = `${o.image}${o.append ? ' ' + o.append : ''}  (vendor ${o.vendor}, preset ${sweep.presets.map((p) => p.name).join(',')}, vCPUs ${sweep.smp.join(',')})`;
  const blocks = sweepFigures(points).map((f) => {
    const rows = [[f.label, ...columns.map((c) => c.label)]];
    for (const smp of sweep.smp) {
      rows.push([`${smp} vCPU${smp === 1 ? '' : 's'}`, ...columns.map((c) => {
        const r = runAt(points, smp, c);
        const v = r === undefined ? undefined : f.value(r);
        return v === undefined ? '-' : n(v);
      })]);
    }
    return table(rows);
  });
  const statuses = points.flatMap((p) => p.runs.map((r) => `${p.smp} vCPU ${p.preset} ${r.mode}: ${r.result.outcome}, status ${r.status}`));
  const notes = points.flatMap((p) => p.runs.flatMap((r) => r.violations.slice(0, 5).map((v) => `${p.smp} vCPU ${p.preset} ${r.mode}: invariant violation: ${v}`)));
  return [header, ...blocks, statuses.join('\n'), ...notes].join('\n\n') + '\n';
}

/** Presets side by side at one vCPU count: compare's table, a column per mode and preset. */
function presetTable(o: CompareOptions, sweep: Sweep, points: readonly SweepPoint[]): string {
  return compareTable({ ...o, preset: sweep.presets.map((p) => p.name).join(',') }, labelledRuns(o, sweep, points));
}

/** At one vCPU count: each column's run, named by the column (mode/preset) rather than its mode. */
export function labelledRuns(o: CompareOptions, sweep: Sweep, points: readonly SweepPoint[]): ModeRun[] {
  return sweepColumns(o, sweep).map((c) => ({ ...runAt(points, sweep.smp[0], c)!, mode: c.label as MmuMode }));
}

export function sweepJson(o: CompareOptions, sweep: Sweep, points: readonly SweepPoint[]): string {
  return JSON.stringify({
    image: o.image,
    append: o.append,
    vendor: o.vendor,
    smp: sweep.smp,
    presets: sweep.presets.map((p) => p.name),
    points: points.map((p) => ({
      smp: p.smp,
      preset: p.preset,
      knobs: sweep.presets.find((s) => s.name === p.preset)!.knobs,
      modes: p.runs.map((r) => modeJson(r, p.runs[0])),
    })),
  }) + '\n';
}

/** Runs every point (`sweepHtml` draws the report: html-report-sweep.ts, which imports this file); the status is the guests' common one when each point's modes agree, else MODES_DIFFER. */
export async function executeSweep(o: CompareOptions, sweep: Sweep, sweepHtml: (o: CompareOptions, sweep: Sweep, points: readonly SweepPoint[], text: string) => string): Promise<number> {
  const inputs = readInputs(o, buildNotice(o.json));
  const points: SweepPoint[] = [];
  for (const preset of sweep.presets) {
    for (const smp of sweep.smp) {
      const { runs, samples } = runModes({ ...o, smp, preset: preset.name, knobs: preset.knobs }, inputs, o.report !== undefined && sweep.smp.length === 1);
      points.push({ smp, preset: preset.name, runs, samples });
    }
  }
  if (o.report !== undefined) writeReport(o.report, () => sweepHtml(o, sweep, points, sweep.smp.length > 1 ? smpTables(o, sweep, points) : presetTable(o, sweep, points)));
  if (o.json) writeOut(Buffer.from(sweepJson(o, sweep, points)));
  else {
    if (o.showOutput) for (const p of points) for (const r of p.runs) writeOut(Buffer.from(`--- ${p.smp} vCPU ${p.preset} ${r.mode} guest output ---\n${r.output}`));
    writeOut(Buffer.from(sweep.smp.length > 1 ? smpTables(o, sweep, points) : presetTable(o, sweep, points)));
  }
  const first = points[0].runs[0];
  const agree = points.every((p) => p.runs.every((r) => r.status === first.status) && outputsAgree(p.runs));
  if (!agree && !o.json) writeErr('mmulab: the modes disagree (status or guest output) at some vCPU count or preset');
  return agree ? first.status : ExitStatus.MODES_DIFFER;
}
