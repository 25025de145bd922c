/**
 * `mmulab compare --report FILE.html` and `mmulab replay --report` (emulator/cli/html-report*.ts):
 * one self-contained page,
 * loaded in Debian's headless Chromium (scripts/setup-host.sh installs it). The oracles: the JSON
 * report of the same comparison (the numbers each chart must hold, read back from the DOM the
 * page leaves after drawing), Chromium's console (no message at all, checked to catch one on a
 * page that logs), and the page's own markup (nothing loaded from anywhere: no src, no link).
 * The report must not change the runs: the JSON with and without it is the same.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { GUESTS, hasStackTrace, runCli } from '../cli/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Headless Chromium on a file: the DOM after the scripts ran, and its log (console messages show as CONSOLE lines). */
function chromium(file: string, extra: readonly string[] = []): { dom: string; log: string } {
  const r = spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--enable-logging=stderr', '--v=0',
    '--virtual-time-budget=5000', ...extra, '--dump-dom', `file://${file}`], { encoding: 'utf8', timeout: 120_000 });
  if (r.error !== undefined) throw r.error;
  return { dom: r.stdout, log: r.stderr };
}

const consoleLines = (log: string): string[] => log.split('\n').filter((l) => /CONSOLE|Uncaught/.test(l));

interface Rendered { readonly id: string; readonly labels: string[] | null; readonly datasets: { label: string; data: (number | null | { x: number; y: number })[] }[] }

function rendered(dom: string): Rendered[] {
  const m = /data-rendered="([^"]*)"/.exec(dom);
  if (m === null) throw new Error('the page left no data-rendered: its script did not finish');
  const text = m[1].replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return JSON.parse(text) as Rendered[];
}

interface ModeJson { mode: string; modeledCycles: number; kvm: Record<string, number> | null; wallMs?: number }

describe('mmulab compare --report', () => {
  test('the cr0wp guest in every mode: a self-contained page whose charts hold the JSON report\'s numbers', () => {
    const file = join(dir, 'cr0wp.html');
    const args = ['compare', `${GUESTS}cr0wp.flat`, '--json'];
    const withReport = runCli([...args, '--report', file]);
    const without = runCli(args);
    const modes = (JSON.parse(withReport.stdout) as { modes: ModeJson[] }).modes;
    const plainModes = (JSON.parse(without.stdout) as { modes: ModeJson[] }).modes;
    for (const m of [...modes, ...plainModes]) delete m.wallMs;
    expect(modes).toEqual(plainModes);
    expect(withReport.status).toBe(without.status);

    const html = readFileSync(file, 'utf8');
    // Self-contained: nothing to fetch. Chart.js is inlined.
    expect(html).not.toMatch(/<script[^>]*\ssrc=|<link\b|<img\b|<iframe\b/i);
    expect(html).toMatch(/Chart\.js v4\.\d+\.\d+/);

    const page = chromium(file);
    expect(consoleLines(page.log)).toEqual([]);
    const charts = new Map(rendered(page.dom).map((c) => [c.id, c]));
    const names = modes.map((m) => m.mode);
    const bar = (id: string, value: (m: ModeJson) => number | null): void => {
      const c = charts.get(id)!;
      expect(c.labels).toEqual(names);
      expect(c.datasets[0].data).toEqual(modes.map(value));
    };
    bar('exits', (m) => (m.kvm === null ? null : m.kvm.exits ?? 0));
    bar('faults', (m) => (m.kvm === null ? null : m.kvm.pf_taken ?? 0));
    bar('roots', (m) => (m.kvm === null ? null : m.kvm.root_alloc ?? 0));
    bar('cycles', (m) => m.modeledCycles);
    // The time series: one line per virtualized mode, rising to the run's totals at its end.
    for (const [id, counter] of [['faults-over-time', 'pf_taken'], ['roots-over-time', 'root_alloc']] as const) {
      const c = charts.get(id)!;
      const virtualized = modes.filter((m) => m.kvm !== null);
      expect(c.datasets.map((d) => d.label)).toEqual(virtualized.map((m) => m.mode));
      for (const [i, m] of virtualized.entries()) {
        const points = c.datasets[i].data as { x: number; y: number }[];
        expect(points.length).toBeGreaterThan(1);
        for (let k = 1; k < points.length; k++) {
          expect(points[k].x).toBeGreaterThanOrEqual(points[k - 1].x);
          expect(points[k].y).toBeGreaterThanOrEqual(points[k - 1].y);
        }
        expect(points[points.length - 1]).toEqual({ x: m.modeledCycles, y: m.kvm![counter] ?? 0 });
      }
    }

    // A screenshot: the page draws (a blank page of this size compresses to a few KiB).
    const shot = join(dir, 'cr0wp.png');
    spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--window-size=1300,1500',
      '--virtual-time-budget=5000', `--screenshot=${shot}`, `file://${file}`], { timeout: 120_000 });
    expect(statSync(shot).size).toBeGreaterThan(40_000);
  });

  test('mmulab replay e --report: a chart per figure, one bar per setting, holding the JSON report\'s figures', () => {
    const file = join(dir, 'replay-e.html');
    const r = runCli(['replay', 'e', '--json', '--report', file]);
    const replay = (JSON.parse(r.stdout) as { replays: { settings: { label: string; figures: Record<string, number | null> }[] }[] }).replays[0];
    const html = readFileSync(file, 'utf8');
    expect(html).not.toMatch(/<script[^>]*\ssrc=|<link\b|<img\b|<iframe\b/i);
    const page = chromium(file);
    expect(consoleLines(page.log)).toEqual([]);
    const charts = rendered(page.dom);
    const keys = Object.keys(replay.settings[0].figures);
    expect(charts.map((c) => c.id)).toEqual(keys);
    for (const c of charts) {
      expect(c.labels).toEqual(replay.settings.map((st) => st.label));
      expect(c.datasets[0].data).toEqual(replay.settings.map((st) => st.figures[c.id]));
    }
  });

  test('the console check catches a page that logs an error', () => {
    const file = join(dir, 'logs.html');
    writeFileSync(file, '<!DOCTYPE html><html><body><script>console.error("broken chart"); undefinedFunction();</script></body></html>');
    const lines = consoleLines(chromium(file).log);
    expect(lines.some((l) => l.includes('broken chart'))).toBe(true);
    expect(lines.some((l) => l.includes('Uncaught ReferenceError'))).toBe(true);
  });

  test('a report that cannot be written: one line, status 2', () => {
    const r = runCli(['compare', `${GUESTS}hello.flat`, '--mmu', 'tdp', '--report', '/nonexistent/dir/r.html']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^mmulab: --report \/nonexistent\/dir\/r\.html: cannot write it \(ENOENT\)/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });
});
