/**
 * `mmulab test --jobs N`, `--shard I/N` and `--merge`: worker threads and shards give the table,
 * details, summary and exit status of a serial run (the TIME line, a sum of wall times, aside),
 * and the parts an access-matrix entry is split into run exactly its cases (the guest's own case
 * counts add up to the whole entry's).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ExitStatus } from '../../emulator/cli/exit-status.js';
import { partAppend, partsOf } from '../../emulator/cli/test-jobs.js';
import type { TableEntry } from '../../emulator/cli/test-table.js';
import { type CliResult, hasStackTrace, runCli } from './cli.js';

let dir: string;
let table: string;

// Quick entries: one split access-matrix entry, a vmexit subtest, and one whose table verdict is
// wrong on purpose (it passes, the table says fail), so the unexpected path and status 20 are
// part of what must agree.
const TESTS = [
  { name: 'quick-cpuid', image: 'vmexit.flat', append: 'cpuid iterations=50' },
  { name: 'quick-access', image: 'access.flat', cpu: 'max', append: 'stride=40009 levels=4' },
  { name: 'wrong-expectation', image: 'vmexit.flat', append: 'mov_to_cr8 iterations=50', expect: 'fail' },
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-jobs-'));
  table = join(dir, 'table.json');
  writeFileSync(table, JSON.stringify({ tests: TESTS }));
});
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

const base = (): string[] => ['test', '--table', table, '--mmu', 'bare,tdp'];
const timeless = (r: CliResult): string => r.stdout.replace(/^TIME: .*$/m, 'TIME');

describe('mmulab test scale-out', () => {
  let serial: CliResult;
  beforeAll(() => { serial = runCli(base()); });

  test('the serial run is the reference: three rows, one unexpected, status 20', () => {
    expect(serial.stderr).toBe('');
    expect(serial.stdout).toMatch(/^quick-access\s+PASS\s+PASS$/m);
    expect(serial.stdout).toMatch(/^wrong-expectation\s+PASS!\s+PASS!$/m);
    expect(serial.status).toBe(ExitStatus.TESTS_UNEXPECTED);
  });

  test('--jobs 2 prints what --jobs 1 prints, with the same exit status', () => {
    const r = runCli([...base(), '--jobs', '2']);
    expect(r.stderr).toBe('');
    expect(timeless(r)).toBe(timeless(serial));
    expect(r.status).toBe(serial.status);
  });

  test('three shards merged give the unsharded table, summary and status; so does --json', () => {
    const files = [1, 2, 3].map((i) => {
      const r = runCli([...base(), '--shard', `${i}/3`]);
      expect(r.stderr).toBe('');
      const f = join(dir, `shard${i}.json`);
      writeFileSync(f, r.stdout);
      return f;
    });
    // Every run of the plan is in exactly one shard: the access entry in 3 parts per mode.
    const merged = runCli(['test', '--merge', ...files.reverse()]);
    expect(merged.stderr).toBe('');
    expect(timeless(merged)).toBe(timeless(serial));
    expect(merged.status).toBe(serial.status);
    const verdicts = (r: CliResult): unknown => (JSON.parse(r.stdout) as { runs: { test: string; mode: string; verdict: string; unexpected: boolean }[] })
      .runs.map((x) => [x.test, x.mode, x.verdict, x.unexpected]);
    const mergedJson = runCli(['test', '--merge', ...files, '--json']);
    expect(verdicts(mergedJson)).toEqual(verdicts(runCli([...base(), '--json'])));
  });

  test('a shard run on 2 workers gives the runs of the same shard on one', () => {
    const runsOf = (r: CliResult): unknown => (JSON.parse(r.stdout) as { runs: { test: string; mode: string; verdict: string }[] })
      .runs.map((x) => [x.test, x.mode, x.verdict]);
    const serialShard = runCli([...base(), '--shard', '2/3']);
    const workers = runCli([...base(), '--shard', '2/3', '--jobs', '2']);
    expect(workers.stderr).toBe('');
    expect(workers.status).toBe(serialShard.status);
    expect(runsOf(workers)).toEqual(runsOf(serialShard));
  });

  test('--merge refuses a missing or repeated shard and a file that is not a shard result', () => {
    const files = [1, 2].map((i) => join(dir, `shard${i}.json`));
    for (const args of [[files[0], files[1]], [files[0], files[0]], [table]]) {
      const r = runCli(['test', '--merge', ...args]);
      expect(r.status).toBe(ExitStatus.BAD_IMAGE);
      expect(r.stderrLines.length).toBe(1);
      expect(hasStackTrace(r.stderr)).toBe(false);
    }
    const bad = runCli([...base(), '--shard', '4/3']);
    expect(bad.status).toBe(ExitStatus.USAGE);
    expect(bad.stderr).toMatch(/--shard: expected I\/N/);
  });
});

describe('access-matrix parts', () => {
  const entry = (image: string, append: string): TableEntry => ({
    name: 'x', image, cpu: 'max', append, expect: 'pass', modes: {}, groups: [], upstream: undefined, why: undefined,
    memMiB: 128, maxInsns: 1e8, smp: 1,
  });

  test('only access-matrix entries that do not pick one case are split', () => {
    expect(partsOf(entry('access.flat', 'stride=1009'), 3)).toBe(3);
    expect(partsOf(entry('access-32.flat', ''), 2)).toBe(2);
    expect(partsOf(entry('access.flat', 'case=0x12'), 3)).toBe(1);
    expect(partsOf(entry('access.flat', 'stride=abc'), 3)).toBe(1);
    expect(partsOf(entry('vmexit.flat', 'cpuid'), 3)).toBe(1);
  });

  test('the parts run the whole entry\'s cases: the guest\'s case counts add up', () => {
    const cases = (append: string): number[] => {
      const r = runCli(['run', 'build/kvm-unit-tests/access.flat', '--cpu', 'max', '--append', append]);
      expect(r.status).toBe(1);
      return [...r.stdout.matchAll(/^(\d+) cases, 0 failures; (\d+) expected a reserved-bit fault$/gm)].map((m) => Number(m[1]) * 1e6 + Number(m[2]));
    };
    const whole = cases('stride=30011 offset=7 levels=4');
    expect(whole.length).toBe(1);
    const parts = [0, 1, 2].map((p) => partAppend('stride=30011 offset=7 levels=4', p, 3));
    expect(parts[1]).toBe('levels=4 stride=90033 offset=30018 nospecial');
    const sum = parts.map(cases).reduce((a, c) => a + c[0], 0);
    expect(sum).toBe(whole[0]);
  });
});
