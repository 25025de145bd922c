import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ExitStatus } from './exit-status.js';
import { writeOut } from './output.js';
import type { TestOptions } from './test-options.js';
import { TestReport, summary, testJson, unexpectedDetails } from './test-report.js';
import type { TestRun } from './test-runner.js';
import { type TableEntry, type TestTable, selectEntries } from './test-table.js';
import { type UpstreamEntry, loadUnittestsCfg } from './upstream-cfg.js';
import { upstreamArgs } from './upstream-line.js';
import { runUpstreamEntry } from './upstream-run.js';

/**
 * `mmulab test --upstream DIR [NAME...]`: upstream kvm-unit-tests' own table (DIR/x86/unittests.cfg
 * of a tree built with `./configure --arch=x86_64 && make`), every x86_64 entry in each MMU mode
 * asked for, through `mmulab qemu` with the command line run_tests.sh would build, printed as
 * `mmulab test` prints the port's table. There is no expected verdict per mode here: PASS and SKIP
 * are as expected, FAIL (a timeout too) and ERROR are marked `!`, and the reasons for SKIPs follow
 * the table. Names select tests, groups or patterns as for `mmulab test` (nodefault entries only by
 * name or group, as upstream). --show-output prints every run's guest output, passing runs too;
 * --timeout replaces every entry's CPU limit (unittests.cfg's `timeout`, 90 s by default).
 */

/** The environment upstream's harness hands a guest as -initrd under ACCEL=tcg (scripts/arch-run.bash). */
const ENVIRONMENT = 'TARGET=qemu\nQEMU_ACCEL=tcg\nERRATA_FORCE=y\n';

/** An upstream entry in the port table's shape, for selection and the report. */
function asTableEntry(e: UpstreamEntry): TableEntry {
  return { name: e.name, image: e.file, cpu: 'base', append: e.testArgs, expect: 'pass', modes: {}, groups: e.groups, upstream: e.name, why: undefined, memMiB: 128, maxInsns: 0, smp: 1 };
}

/** Each SKIP's reason, once per test when every mode gives the same. */
function skipDetails(runs: readonly TestRun[]): string {
  const byTest = new Map<string, TestRun[]>();
  for (const r of runs) if (r.verdict === 'SKIP') byTest.set(r.test, [...(byTest.get(r.test) ?? []), r]);
  if (byTest.size === 0) return '';
  const lines = ['skipped:'];
  for (const [test, skips] of byTest) {
    const reasons = new Set(skips.map((r) => r.detail));
    if (reasons.size === 1) lines.push(`  ${test}: ${skips[0].detail}`);
    else for (const r of skips) lines.push(`  ${test} in ${r.mode}: ${r.detail}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * With --show-output, every run's guest output, passing ones too: upstream's vmexit entries PASS
 * and report their measurement ("toggle_cr0_wp 5329", cycles per iteration) only there.
 */
function guestOutputs(runs: readonly TestRun[]): string {
  const lines = ['output:'];
  for (const r of runs) {
    const text = r.output.split('\n').filter((l) => l.trim() !== '');
    if (text.length === 0) continue;
    lines.push(`  ${r.test} in ${r.mode}: ${r.verdict}`);
    for (const l of text) lines.push(`    | ${l}`);
  }
  return lines.length === 1 ? '' : lines.join('\n') + '\n';
}

export async function runUpstream(o: TestOptions & { readonly upstream: string }): Promise<number> {
  const dir = resolve(o.upstream);
  const cfgPath = join(dir, 'x86', 'unittests.cfg');
  const upstream = loadUnittestsCfg(cfgPath).filter((e) => e.arch === '' || e.arch === 'x86_64');
  const table: TestTable = { path: cfgPath, entries: upstream.map(asTableEntry) };
  const chosen = new Set(selectEntries(table, o.names).map((e) => e.name));
  const entries = upstream.filter((e) => chosen.has(e.name));
  const tmp = mkdtempSync(join(tmpdir(), 'mmulab-upstream-'));
  try {
    const envFile = join(tmp, 'env');
    writeFileSync(envFile, ENVIRONMENT);
    const settings = { ...o, testDir: join(dir, 'x86'), envFile };
    if (o.list) {
      const lines = entries.flatMap((e) => {
        try {
          return [`${e.name}: mmulab qemu ${upstreamArgs(e, settings.testDir, o.modes[0], o, '$KVM_UNIT_TESTS_ENV').join(' ')}`];
        } catch (err) {
          return [`${e.name}: ${(err as Error).message}`];
        }
      });
      writeOut(Buffer.from(lines.join('\n') + '\n'));
      return 0;
    }
    const report = new TestReport(entries.map(asTableEntry), o.modes);
    if (!o.json) writeOut(Buffer.from(report.header(cfgPath, o)));
    const runs: TestRun[] = [];
    for (const entry of entries) {
      const row = o.modes.map((mode) => runUpstreamEntry(entry, mode, settings));
      runs.push(...row);
      if (!o.json) writeOut(Buffer.from(report.row(entry.name, row)));
    }
    if (o.json) writeOut(Buffer.from(testJson(cfgPath, o, o.modes, runs)));
    else {
      // The whole output of every run is shown once, under output:, when asked for.
      const outputs = o.showOutput ? guestOutputs(runs) : '';
      writeOut(Buffer.from(skipDetails(runs) + outputs + unexpectedDetails(runs, false) + summary(runs)));
    }
    return runs.some((r) => r.unexpected) ? ExitStatus.TESTS_UNEXPECTED : 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
