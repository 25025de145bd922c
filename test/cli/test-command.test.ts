/**
 * `mmulab test` and compare's measurement rows, run as a user runs them (the built CLI on the
 * images of kvm-unit-tests-port/): the table with one verdict per test and mode, the summary, the
 * exit status (0 all as expected, 20 otherwise), --list, --json, and the errors; --upstream's
 * --timeout.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ExitStatus } from '../../emulator/cli/exit-status.js';
import { GUESTS, REPO, hasStackTrace, runCli } from './cli.js';
import { timeoutOption } from '../../emulator/cli/upstream-cfg.js';
import { UsageError } from '../../emulator/cli/errors.js';

const VMEXIT = join(REPO, 'build/kvm-unit-tests/vmexit.flat');
let dir: string;

beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'mmulab-test-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

function tableFile(name: string, tests: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ tests }));
  return path;
}

describe('mmulab test', () => {
  test('runs the selected tests in the modes asked for and prints a verdict per mode; all as expected is status 0', () => {
    // "la57-max" is one test; "la57" would be its group (la57 and la57-max).
    const r = runCli(['test', 'pku', 'la57-max', 'vmexit_vmcall', '--mmu', 'bare,shadow,tdp', '--audit']);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual([
      '3 tests x 3 modes from kvm-unit-tests-port/unittests.json (vendor vmx, preset current, backing 2m, checker on)',
      'test           bare    shadow  tdp',
      'vmexit_vmcall  SKIP    PASS    PASS',
      'pku            PASS    SKIP    PASS',
      'la57-max       PASS    PASS    PASS',
      'SUMMARY: 9 runs: 7 PASS, 0 FAIL, 2 SKIP, 0 ERROR; all as expected',
      expect.stringMatching(/^TIME: bare \d+\.\d\d s, shadow \d+\.\d\d s, tdp \d+\.\d\d s$/),
      '',
    ]);
    expect(r.status).toBe(0);
  });

  test('a verdict the table does not expect is marked, explained with the guest\'s FAIL lines, and gives status 20', () => {
    const table = tableFile('wrong.json', [
      { name: 'pku-everywhere', image: 'pku.flat', cpu: 'max' },
      { name: 'pcid-as-enabled', image: 'pcid.flat', cpu: 'base,+pcid,+invpcid', expect: 'fail' },
      { name: 'not-built', image: 'nothing.flat' },
    ]);
    const r = runCli(['test', '--table', table, '--mmu', 'shadow']);
    expect(r.stdout).toContain('pku-everywhere   SKIP!\n');
    expect(r.stdout).toContain('pcid-as-enabled  PASS!\n');
    expect(r.stdout).toContain('not-built        ERROR!\n');
    expect(r.stdout).toContain('  pku-everywhere in shadow: SKIP (exit status 77), expected PASS\n');
    expect(r.stdout).toMatch(/^ {2}not-built in shadow: ERROR \(cannot read image .*nothing\.flat: no such file or directory\), expected PASS$/m);
    expect(r.stdout).toContain('SUMMARY: 3 runs: 1 PASS, 0 FAIL, 1 SKIP, 1 ERROR; 3 unexpected\n');
    expect(r.status).toBe(ExitStatus.TESTS_UNEXPECTED);
  });

  test('a failing guest\'s FAIL lines are shown', () => {
    // The hello guest fails on request (its argument "fail").
    const table = tableFile('fail.json', [{ name: 'hello-fail', image: '../guests/hello.flat', append: 'fail' }]);
    const r = runCli(['test', '--table', table, '--mmu', 'bare']);
    expect(r.stdout).toContain('hello-fail  FAIL!\n');
    expect(r.stdout).toContain('    | FAIL: hello: deliberate failure\n');
    expect(r.status).toBe(ExitStatus.TESTS_UNEXPECTED);
  });

  test('--show-output shows all of an unexpected run\'s output; --max-insns ends a run as an ERROR', () => {
    const table = tableFile('show.json', [{ name: 'hello-fail', image: '../guests/hello.flat', append: 'fail' }]);
    const shown = runCli(['test', '--table', table, '--mmu', 'tdp', '--show-output']);
    expect(shown.stdout).toContain('    | Hello from mmulab guest\n');
    const limited = runCli(['test', 'la57-max', '--mmu', 'bare', '--max-insns', '1000']);
    expect(limited.stdout).toContain('la57-max  ERROR!\n');
    expect(limited.stdout).toMatch(/^ {2}la57-max in bare: ERROR \(insn-limit: .*\), expected PASS$/m);
    expect(limited.status).toBe(ExitStatus.TESTS_UNEXPECTED);
  });

  test('--list shows each test\'s command line and expected verdicts without running anything', () => {
    const r = runCli(['test', '--list', 'pku', '--mmu', 'bare,shadow']);
    expect(r.stdout).toBe([
      'pku: pku.flat --cpu max',
      '    expected: bare PASS, shadow SKIP; upstream: pku',
      '    KVM offers no protection keys with shadow paging (kvm_set_cpu_caps clears PKU without TDP)',
      '',
    ].join('\n'));
    expect(r.status).toBe(0);
  });

  test('--json gives one object with every run', () => {
    const r = runCli(['test', 'pcid', '--mmu', 'legacy-tdp', '--json', '--preset', 'kvm-6.3']);
    const j = JSON.parse(r.stdout) as { preset: string; runs: { test: string; mode: string; verdict: string; unexpected: boolean }[]; unexpected: number };
    expect(j.preset).toBe('kvm-6.3');
    expect(j.runs.map((x) => [x.test, x.mode, x.verdict, x.unexpected])).toEqual([
      ['pcid-enabled', 'legacy-tdp', 'PASS', false],
      ['pcid-disabled', 'legacy-tdp', 'PASS', false],
      ['pcid-asymmetric', 'legacy-tdp', 'PASS', false],
    ]);
    expect(j.unexpected).toBe(0);
    expect(r.status).toBe(0);
  });

  test.each([
    [['test', 'access-nope'], ExitStatus.USAGE, /^mmulab: no test or group "access-nope" in .*unittests\.json/],
    [['test', '--mmu', 'ept'], ExitStatus.USAGE, /^mmulab: --mmu: unknown mode "ept"/],
    [['test', '--preset', 'kvm-2.6'], ExitStatus.USAGE, /^mmulab: --preset: unknown preset "kvm-2.6"/],
    [['test', '--table', '/nonexistent/t.json'], ExitStatus.BAD_IMAGE, /^mmulab: cannot read test table \/nonexistent\/t\.json: no such file or directory$/],
  ])('%j is an error in one line', (args, status, message) => {
    const r = runCli(args);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(message);
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(r.status).toBe(status);
  });

  test('a malformed table names the entry and the field', () => {
    const table = tableFile('bad.json', [{ name: 'x', image: 'x.flat', cpu: 'max,+avx512' }]);
    const r = runCli(['test', '--table', table]);
    expect(r.stderrLines).toEqual([expect.stringMatching(/bad\.json: test "x": cpu: .*avx512/)]);
    expect(r.status).toBe(ExitStatus.BAD_IMAGE);
  });
});

describe('mmulab compare: the guest\'s "NAME VALUE" lines become rows', () => {
  test('vmexit\'s cycles per iteration, one row per sub-test; modes that only differ in them agree', () => {
    const r = runCli(['compare', VMEXIT, '--append', 'cpuid toggle_cr0_wp iterations=20', '--mmu', 'shadow,legacy-tdp,tdp', '--preset', 'kvm-6.4', '--vendor', 'svm']);
    expect(r.stdout).toMatch(/^output vs shadow\s+-\s+values differ\s+values differ$/m);
    expect(r.stdout).toMatch(/^guest-reported values\s*$/m);
    expect(r.stdout).toMatch(/^ {2}cpuid\s+2,1\d\d\s+2,1\d\d\s+2,1\d\d$/m);
    // SVM intercepts both CR0 writes in every mode: the exits replace them, so they pay no native
    // cost of their own (serializing-cost.ts); 5,849 / 5,249 / 5,249 if they did.
    expect(r.stdout).toMatch(/^ {2}toggle_cr0_wp\s+5,311\s+4,711\s+4,711$/m);
    expect(r.status).toBe(1); // the guests' common status: they agree, measurements aside
  });

  test('a sub-test one mode skips is a difference: bare has no hypercall', () => {
    const r = runCli(['compare', VMEXIT, '--append', 'vmcall iterations=20', '--mmu', 'bare,tdp', '--json']);
    const j = JSON.parse(r.stdout) as { modes: { mode: string; values: Record<string, number>; sameOutputExceptValues: boolean }[] };
    expect(j.modes.map((m) => [m.mode, m.values])).toEqual([['bare', {}], ['tdp', { vmcall: expect.any(Number) }]]);
    expect(j.modes[1].sameOutputExceptValues).toBe(false);
    expect(r.status).toBe(ExitStatus.MODES_DIFFER);
  });
});

describe('mmulab test --upstream --timeout', () => {
  /** An upstream-shaped tree with one entry that needs far more than a second of CPU: 2e9 instructions. */
  function longTree(): string {
    const tree = join(dir, 'kut');
    mkdirSync(join(tree, 'x86'), { recursive: true });
    copyFileSync(`${GUESTS}exitloop.flat`, join(tree, 'x86/exitloop.flat'));
    writeFileSync(join(tree, 'x86/unittests.cfg'), '[loop]\nfile = exitloop.flat\ntest_args = "cpuid 400000000"\ntimeout = 1s\n');
    return tree;
  }

  test('replaces the entry\'s timeout: the run ends after the given CPU seconds, not the cfg\'s', () => {
    const tree = longTree();
    const own = runCli(['test', '--upstream', tree, '--mmu', 'bare']);
    expect(own.stdout).toMatch(/^ {2}loop in bare: FAIL \(timeout: 1 s of CPU\), expected PASS$/m);
    const given = runCli(['test', '--upstream', tree, '--mmu', 'bare', '--timeout', '2']);
    expect(given.stdout).toMatch(/^ {2}loop in bare: FAIL \(timeout: 2 s of CPU\), expected PASS$/m);
    expect(given.status).toBe(ExitStatus.TESTS_UNEXPECTED);
  });

  test('takes upstream\'s syntax: seconds, or a number with s, m, h or d', () => {
    expect(timeoutOption(undefined)).toBeUndefined();
    expect(timeoutOption('90')).toBe(90_000);
    expect(timeoutOption(90)).toBe(90_000);
    expect(timeoutOption('1.5m')).toBe(90_000);
    expect(timeoutOption('2h')).toBe(7_200_000);
    expect(timeoutOption('1d')).toBe(86_400_000);
    for (const bad of ['0', '0.5', 'abc', '-5', '90x', '2d', '', '1e3']) expect(() => timeoutOption(bad), bad).toThrow(UsageError);
  });

  test.each([['0'], ['90x']])('--timeout %j is a usage error in one line', (value) => {
    const r = runCli(['test', '--upstream', join(dir, 'kut'), '--timeout', value]);
    expect(r.stderrLines).toEqual([expect.stringMatching(/^mmulab: --timeout: expected seconds of CPU from 1 to 86400/)]);
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(r.status).toBe(ExitStatus.USAGE);
  });

  test('without --upstream it is a usage error: the port\'s table limits instructions', () => {
    const r = runCli(['test', 'pku', '--timeout', '90']);
    expect(r.stderrLines).toEqual([expect.stringMatching(/^mmulab: --timeout applies to --upstream runs; the port's table limits instructions \(--max-insns\)/)]);
    expect(r.status).toBe(ExitStatus.USAGE);
  });
});
