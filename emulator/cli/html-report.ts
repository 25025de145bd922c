import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ModeRun } from './compare-report.js';
import { SERIES_COUNTERS, type SeriesPoint } from './html-report-series.js';
import { UsageError } from './errors.js';

/**
 * `mmulab compare --report FILE.html` and `mmulab replay --report FILE.html`: one self-contained page (no network: Chart.js, the charting
 * library, is inlined from its npm package; the data is inlined as JSON). It holds the comparison
 * table as `compare` prints it, bar charts of each mode's exits, MMU faults, roots allocated and
 * modeled cycles, and time series of MMU faults and roots over the run; for replays, each
 * replay's table and a chart per figure, one bar per setting (before and after). The page script draws
 * with animation off and then records what each chart holds in `data-rendered` on <body>, so a
 * headless browser's DOM dump shows the numbers the charts were drawn from.
 */

interface Dataset { readonly label: string; readonly data: readonly (number | null | { x: number; y: number })[] }
export interface ChartSpec { readonly id: string; readonly title: string; readonly type: 'bar' | 'line'; readonly labels?: readonly string[]; readonly datasets: readonly Dataset[]; readonly xTitle?: string; readonly xWhole?: boolean }

/** Chart.js's UMD build, as shipped in its npm package. */
function chartJs(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return readFileSync(join(dirname(main), 'chart.umd.min.js'), 'utf8');
}

/** The bar charts: one value per mode (null where the mode has no KVM). */
function bars(runs: readonly ModeRun[]): ChartSpec[] {
  const labels = runs.map((r) => r.mode);
  const kvm = (name: string): (number | null)[] => runs.map((r) => (r.kvm === undefined ? null : r.kvm[name] ?? 0));
  return [
    { id: 'exits', title: 'VM exits', type: 'bar', labels, datasets: [{ label: 'exits', data: kvm('exits') }] },
    { id: 'faults', title: 'MMU faults (pf_taken)', type: 'bar', labels, datasets: [{ label: 'pf_taken', data: kvm('pf_taken') }] },
    { id: 'roots', title: 'Roots allocated', type: 'bar', labels, datasets: [{ label: 'root_alloc', data: kvm('root_alloc') }] },
    { id: 'cycles', title: 'Modeled cycles', type: 'bar', labels, datasets: [{ label: 'modeled cycles', data: runs.map((r) => r.cycles) }] },
  ];
}

/** The time series of one counter, a line per virtualized mode (samples are keyed by the run's mode). */
export function series(runs: readonly ModeRun[], samples: ReadonlyMap<string, readonly SeriesPoint[]>, counter: (typeof SERIES_COUNTERS)[number], id: string, title: string): ChartSpec {
  const k = SERIES_COUNTERS.indexOf(counter);
  const datasets = runs.filter((r) => samples.has(r.mode)).map((r) => ({ label: r.mode, data: samples.get(r.mode)!.map((p) => ({ x: p.t, y: p.values[k] })) }));
  return { id, title, type: 'line', datasets, xTitle: 'modeled cycles (vCPU 0)' };
}

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Inline JSON must not close the script element. */
const inlineJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c');

/** The page script: draws every chart, then records what each holds. */
const PAGE_SCRIPT = `
const report = JSON.parse(document.getElementById('report-data').textContent);
const rendered = [];
for (const spec of report.charts) {
  const box = document.createElement('section');
  const canvas = document.createElement('canvas');
  canvas.id = 'chart-' + spec.id;
  canvas.width = 560; canvas.height = 300;
  box.appendChild(canvas);
  document.getElementById('charts-' + spec.section).appendChild(box);
  const scales = spec.type === 'line'
    ? { x: { type: 'linear', title: { display: true, text: spec.xTitle }, ticks: spec.xWhole ? { precision: 0 } : {} }, y: { beginAtZero: true } }
    : { y: { beginAtZero: true } };
  const chart = new Chart(canvas, {
    type: spec.type,
    data: { labels: spec.labels, datasets: spec.datasets.map((d) => ({ ...d })) },
    options: { animation: false, responsive: false, scales,
      plugins: { title: { display: true, text: spec.title }, legend: { display: spec.type === 'line' || spec.datasets.length > 1 } } },
  });
  rendered.push({ id: spec.id, labels: chart.data.labels ?? null, datasets: chart.data.datasets.map((d) => ({ label: d.label, data: d.data })) });
}
document.body.dataset.rendered = JSON.stringify(rendered);
`;

/** One part of a page: a heading, charts, and a table as the command prints it. */
export interface ReportSection {
  readonly heading: string;
  readonly charts: readonly ChartSpec[];
  readonly table: string;
}

/** A page of sections; chart ids are made unique by section (s0-exits, s1-...). */
export function reportHtml(title: string, sections: readonly ReportSection[]): string {
  const charts = sections.flatMap((sec, i) => sec.charts.map((c) => ({ ...c, id: sections.length > 1 ? `s${i}-${c.id}` : c.id, section: i })));
  const body = sections.map((sec, i) => `<h2>${escapeHtml(sec.heading)}</h2>
<div class="charts" id="charts-${i}"></div>
<pre>${escapeHtml(sec.table)}</pre>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; }
pre { font-size: 12px; background: #f6f6f6; padding: 1em; overflow-x: auto; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
<script type="application/json" id="report-data">${inlineJson({ charts })}</script>
<script>${chartJs().replace(/<\/script/gi, '<\\/script')}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** The page for one comparison. */
export function compareHtml(title: string, table: string, runs: readonly ModeRun[], samples: ReadonlyMap<string, readonly SeriesPoint[]>): string {
  const charts = [...bars(runs), series(runs, samples, 'pf_taken', 'faults-over-time', 'MMU faults over the run'),
    series(runs, samples, 'root_alloc', 'roots-over-time', 'Roots allocated over the run')];
  return reportHtml(title, [{ heading: 'Charts and table', charts, table }]);
}

/** Writes a page to `file`; one that cannot be written is a usage error (one line, status 2). */
export function writeReport(file: string, html: () => string): void {
  try {
    writeFileSync(file, html());
  } catch (err) {
    throw new UsageError(`--report ${file}: cannot write it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
