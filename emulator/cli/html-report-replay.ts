import { type ChartSpec, type ReportSection, reportHtml } from './html-report.js';

/** One replay as the report shows it: its settings (before, after, ...) and each figure's value under each. */
export interface ReplayReport {
  readonly heading: string;
  readonly settings: readonly string[];
  readonly figures: readonly { readonly key: string; readonly label: string; readonly values: readonly number[] }[];
  /** The replay's table as `mmulab replay` prints it. */
  readonly table: string;
}

/**
 * `mmulab replay --report FILE.html`: a section per replay, with a bar chart per figure (one bar
 * per setting, so the presets of a thread's before and after stand side by side) and its table.
 * A figure the run could not read (NaN) is drawn as no bar.
 */
export function replayHtml(replays: readonly ReplayReport[]): string {
  const sections: ReportSection[] = replays.map((r) => ({
    heading: r.heading,
    table: r.table,
    charts: r.figures.map((f): ChartSpec => ({
      id: f.key, title: f.label, type: 'bar', labels: r.settings,
      datasets: [{ label: f.label, data: f.values.map((v) => (Number.isFinite(v) ? v : null)) }],
    })),
  }));
  return reportHtml('mmulab replay', sections);
}
