import type { CompareOptions, Sweep } from './compare-run.js';
import { type SweepPoint, labelledRuns, runAt, sweepColumns, sweepFigures } from './compare-sweep.js';
import { type ChartSpec, reportHtml, series } from './html-report.js';
import type { SeriesPoint } from './html-report-series.js';

/**
 * `mmulab compare --report FILE.html` for a sweep (compare-sweep.ts). Over vCPU counts: a line
 * chart per figure, x the vCPU count, a line per mode (and preset), the curves of issue 13's
 * mmu_lock contention. Presets at one vCPU count: grouped bars (a bar per preset over each mode)
 * for exits, faults, roots and modeled cycles, and the time series, a line per mode and preset.
 */

function smpCharts(o: CompareOptions, sweep: Sweep, points: readonly SweepPoint[]): ChartSpec[] {
  const columns = sweepColumns(o, sweep);
  return sweepFigures(points).map((f): ChartSpec => ({
    id: f.key, title: `${f.label} by vCPU count`, type: 'line', xTitle: 'vCPUs', xWhole: true,
    datasets: columns.map((c) => ({
      label: c.label,
      data: sweep.smp.flatMap((smp) => {
        const r = runAt(points, smp, c);
        const v = r === undefined ? undefined : f.value(r);
        return v === undefined ? [] : [{ x: smp, y: v }];
      }),
    })).filter((d) => d.data.length > 0),
  }));
}

/** The bars of one figure: modes as labels, a dataset per preset (null where the mode has no KVM). */
function presetBars(o: CompareOptions, sweep: Sweep, points: readonly SweepPoint[]): ChartSpec[] {
  const smp = sweep.smp[0];
  const bar = (id: string, title: string, value: (r: NonNullable<ReturnType<typeof runAt>>) => number | null): ChartSpec => ({
    id, title, type: 'bar', labels: o.modes,
    datasets: sweep.presets.map((p) => ({ label: p.name, data: o.modes.map((mode) => value(runAt(points, smp, { label: '', mode, preset: p.name })!)) })),
  });
  const kvm = (name: string) => (r: NonNullable<ReturnType<typeof runAt>>): number | null => (r.kvm === undefined ? null : r.kvm[name] ?? 0);
  return [
    bar('exits', 'VM exits', kvm('exits')),
    bar('faults', 'MMU faults (pf_taken)', kvm('pf_taken')),
    bar('roots', 'Roots allocated', kvm('root_alloc')),
    bar('cycles', 'Modeled cycles', (r) => r.cycles),
  ];
}

export function sweepHtml(o: CompareOptions, sweep: Sweep, points: readonly SweepPoint[], text: string): string {
  const title = `mmulab compare ${o.image}`;
  if (sweep.smp.length > 1) return reportHtml(title, [{ heading: 'Figures by vCPU count', charts: smpCharts(o, sweep, points), table: text }]);
  const runs = labelledRuns(o, sweep, points);
  const samples = new Map<string, readonly SeriesPoint[]>();
  for (const c of sweepColumns(o, sweep)) {
    const s = points.find((p) => p.preset === c.preset)?.samples.get(c.mode);
    if (s !== undefined) samples.set(c.label, s);
  }
  const charts = [...presetBars(o, sweep, points), series(runs, samples, 'pf_taken', 'faults-over-time', 'MMU faults over the run'),
    series(runs, samples, 'root_alloc', 'roots-over-time', 'Roots allocated over the run')];
  return reportHtml(title, [{ heading: 'Presets side by side', charts, table: text }]);
}
