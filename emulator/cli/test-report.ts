import type { MmuMode } from '../../vmm/machine.js';
import { type KvmOptions, checkerSetting } from './kvm-args.js';
import type { TableEntry } from './test-table.js';
import type { TestRun, Verdict } from './test-runner.js';

/**
 * What `mmulab test` prints: a header, one row per test with a verdict per mode (printed as each
 * row completes, so a long table shows progress), the unexpected results with the guest's FAIL
 * lines, and a summary. An unexpected verdict is marked with "!"; so is an expected one whose run
 * broke one of KVM's invariants (--audit).
 */

const VERDICTS: readonly Verdict[] = ['PASS', 'FAIL', 'SKIP', 'ERROR'];
const CELL = 6; // "ERROR!"

export class TestReport {
  private readonly nameWidth: number;
  private readonly widths: number[];

  constructor(private readonly entries: readonly TableEntry[], private readonly modes: readonly MmuMode[]) {
    this.nameWidth = Math.max(4, ...entries.map((e) => e.name.length));
    this.widths = modes.map((m) => Math.max(CELL, m.length));
  }

  header(tablePath: string, o: KvmOptions): string {
    const settings = [`vendor ${o.vendor}`, `preset ${o.preset}`, `backing ${o.backing}`];
    const checker = checkerSetting(o);
    if (checker !== undefined) settings.push(checker);
    const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
    const title = `${count(this.entries.length, 'test')} x ${count(this.modes.length, 'mode')} from ${tablePath} (${settings.join(', ')})`;
    return `${title}\n${this.line('test', this.modes)}\n`;
  }

  row(test: string, runs: readonly TestRun[]): string {
    return `${this.line(test, runs.map((r) => r.verdict + (r.unexpected ? '!' : '')))}\n`;
  }

  private line(first: string, cells: readonly string[]): string {
    return [first.padEnd(this.nameWidth), ...cells.map((c, i) => c.padEnd(this.widths[i]))].join('  ').trimEnd();
  }
}

/** Each unexpected run: what it gave, what the table expects, and the guest's own FAIL lines. */
export function unexpectedDetails(runs: readonly TestRun[], showOutput: boolean): string {
  const bad = runs.filter((r) => r.unexpected);
  if (bad.length === 0) return '';
  const lines = ['unexpected:'];
  for (const r of bad) {
    lines.push(`  ${r.test} in ${r.mode}: ${r.verdict} (${r.detail}), expected ${r.expected.toUpperCase()}`);
    for (const v of r.violations.slice(0, 3)) lines.push(`    invariant violation: ${v}`);
    if (r.violations.length > 3) lines.push(`    ... ${r.violations.length - 3} more invariant violations`);
    const shown = showOutput ? r.output.split('\n').filter((l) => l !== '') : r.output.split('\n').filter((l) => l.startsWith('FAIL: '));
    for (const l of shown.slice(0, showOutput ? Number.POSITIVE_INFINITY : 10)) lines.push(`    | ${l}`);
  }
  return lines.join('\n') + '\n';
}

/** Wall time per mode, in the order the modes first appear: what a long table cost in each. */
function timePerMode(runs: readonly TestRun[]): string {
  const ms = new Map<MmuMode, number>();
  for (const r of runs) ms.set(r.mode, (ms.get(r.mode) ?? 0) + r.wallMs);
  const seconds = (t: number): string => (t < 10_000 ? (t / 1000).toFixed(2) : (t / 1000).toFixed(0));
  return [...ms].map(([mode, t]) => `${mode} ${seconds(t)} s`).join(', ');
}

export function summary(runs: readonly TestRun[]): string {
  const counts = VERDICTS.map((v) => `${runs.filter((r) => r.verdict === v).length} ${v}`).join(', ');
  const unexpected = runs.filter((r) => r.unexpected).length;
  const verdicts = `SUMMARY: ${runs.length} run${runs.length === 1 ? '' : 's'}: ${counts}; ${unexpected === 0 ? 'all as expected' : `${unexpected} unexpected`}`;
  return runs.length === 0 ? `${verdicts}\n` : `${verdicts}\nTIME: ${timePerMode(runs)}\n`;
}

export function testJson(tablePath: string, o: KvmOptions, modes: readonly MmuMode[], runs: readonly TestRun[]): string {
  return JSON.stringify({
    table: tablePath,
    vendor: o.vendor,
    preset: o.preset,
    knobs: o.knobs,
    backing: o.backing,
    audit: o.audit,
    auditEvery: o.auditEvery,
    modes,
    runs: runs.map((r) => ({
      test: r.test,
      mode: r.mode,
      expected: r.expected.toUpperCase(),
      verdict: r.verdict,
      unexpected: r.unexpected,
      status: r.status ?? null,
      detail: r.detail,
      instructions: r.instructions,
      wallMs: Math.round(r.wallMs),
      violations: r.violations,
    })),
    unexpected: runs.filter((r) => r.unexpected).length,
  }) + '\n';
}
