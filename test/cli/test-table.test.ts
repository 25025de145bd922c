/**
 * The pieces of `mmulab test` and of compare's measurement rows, without running guests: the test
 * table's validation and selection, verdicts from exit statuses, the report's layout, and the
 * "NAME VALUE" lines vmexit prints.
 */
import { describe, expect, test } from 'vitest';
import { DEFAULT_TABLE, TableError, expectedIn, loadTable, parseTable, repoPath, selectEntries } from '../../emulator/cli/test-table.js';
import { type TestRun, verdictOf } from '../../emulator/cli/test-runner.js';
import { TestReport, summary, unexpectedDetails } from '../../emulator/cli/test-report.js';
import { guestValues, valueNames, withoutValues } from '../../emulator/cli/guest-values.js';
import { UsageError } from '../../emulator/cli/errors.js';
import { CURRENT } from '../../mmu/knobs.js';

const table = (tests: unknown): string => JSON.stringify({ tests });

describe('the test table', () => {
  test('an entry gets the defaults: CPU base, no arguments, PASS everywhere, 128 MiB, 1e8 instructions', () => {
    const t = parseTable(table([{ name: 'a', image: 'a.flat' }]), 't.json');
    expect(t.entries).toEqual([{
      name: 'a', image: 'a.flat', cpu: 'base', append: '', expect: 'pass', modes: {}, groups: [],
      upstream: undefined, why: undefined, memMiB: 128, maxInsns: 100_000_000, smp: 1, qemu: [], chipset: { machine: 'pc' },
    }]);
  });

  test('"qemu" names the machine and its devices as QEMU\'s options do', () => {
    const [e] = parseTable(table([{ name: 'x', image: 'x', qemu: '-M q35,kernel-irqchip=split  -device edu -device intel-iommu,intremap=on,eim=off' }]), 't.json').entries;
    expect(e.qemu).toEqual(['-M', 'q35,kernel-irqchip=split', '-device', 'edu', '-device', 'intel-iommu,intremap=on,eim=off']);
    expect(e.chipset).toEqual({ machine: 'q35', edu: true, iommu: { interruptRemapping: true, extendedInterruptMode: false } });
    expect(parseTable(table([{ name: 'x', image: 'x' }]), 't.json').entries[0].chipset).toEqual({ machine: 'pc' });
  });

  test('per-mode expectations override the entry\'s', () => {
    const [e] = parseTable(table([{ name: 'pku', image: 'pku.flat', modes: { shadow: 'skip' } }]), 't.json').entries;
    expect(expectedIn(e, 'bare')).toBe('pass');
    expect(expectedIn(e, 'shadow')).toBe('skip');
    expect(expectedIn(e, 'tdp')).toBe('pass');
  });

  test.each([
    ['{', /not JSON/],
    ['[]', /expected an object with a "tests" list/],
    [table([{ image: 'x' }]), /test 1: "name" must be a non-empty string/],
    [table([{ name: 'x' }]), /test "x": "image" must be a non-empty string/],
    [table([{ name: 'x', image: 'x', expect: 'PASS' }]), /"expect" must be one of pass, fail, skip, got "PASS"/],
    [table([{ name: 'x', image: 'x', modes: { ept: 'skip' } }]), /unknown mode "ept"/],
    [table([{ name: 'x', image: 'x', modes: { tdp: 'maybe' } }]), /"modes.tdp" must be one of/],
    [table([{ name: 'x', image: 'x', groups: 'vmexit' }]), /"groups" must be a list/],
    [table([{ name: 'x', image: 'x', mem: 0 }]), /"mem" must be a whole number from 2/],
    [table([{ name: 'x', image: 'x', timeout: 90 }]), /unknown field "timeout"/],
    [table([{ name: 'x', image: 'x', qemu: '-device edu' }]), /"qemu": -device edu: mmulab puts PCI devices only on the q35 machine/],
    [table([{ name: 'x', image: 'x', qemu: '-M q35 -smp 2' }]), /"qemu": option -smp: only -M\/-machine and -device/],
    [table([{ name: 'x', image: 'x', qemu: '-M' }]), /"qemu": option -M needs a value/],
    [table([{ name: 'x', image: 'x' }, { name: 'x', image: 'y' }]), /test "x" is listed twice/],
  ])('rejects a malformed table: %s', (text, message) => {
    expect(() => parseTable(text, 't.json')).toThrow(TableError);
    expect(() => parseTable(text, 't.json')).toThrow(message);
  });

  test('selection by name, group and pattern keeps table order; an unknown name is a usage error', () => {
    const t = parseTable(table([
      { name: 'vmexit_cpuid', image: 'v', groups: ['vmexit'] },
      { name: 'smap', image: 's' },
      { name: 'vmexit_vmcall', image: 'v', groups: ['vmexit'] },
      { name: 'pcid-enabled', image: 'p', groups: ['pcid'] },
    ]), 't.json');
    const names = (sel: string[]): string[] => selectEntries(t, sel).map((e) => e.name);
    expect(names([])).toEqual(['vmexit_cpuid', 'smap', 'vmexit_vmcall', 'pcid-enabled']);
    expect(names(['pcid', 'smap'])).toEqual(['smap', 'pcid-enabled']);
    expect(names(['vmexit'])).toEqual(['vmexit_cpuid', 'vmexit_vmcall']);
    expect(names(['*_v?call'])).toEqual(['vmexit_vmcall']);
    expect(() => selectEntries(t, ['access'])).toThrow(UsageError);
  });

  test('nodefault entries run only when named or selected by one of their groups', () => {
    const t = parseTable(table([
      { name: 'access', image: 'a', groups: ['access'] },
      { name: 'access-full', image: 'a', groups: ['access-full', 'nodefault'] },
      { name: 'smap', image: 's' },
    ]), 't.json');
    const names = (sel: string[]): string[] => selectEntries(t, sel).map((e) => e.name);
    expect(names([])).toEqual(['access', 'smap']);
    expect(names(['access*'])).toEqual(['access']);
    expect(names(['access'])).toEqual(['access']);
    expect(names(['access-full'])).toEqual(['access-full']);
    expect(names(['nodefault', 'smap'])).toEqual(['access-full', 'smap']);
  });

  test('the repository\'s table loads, and every upstream-derived entry names its image and section', () => {
    const t = loadTable(repoPath(DEFAULT_TABLE));
    expect(t.entries.length).toBeGreaterThanOrEqual(25);
    expect(selectEntries(t, []).map((e) => e.name)).not.toContain("access-full");
    for (const e of t.entries) expect(e.upstream !== undefined || e.why !== undefined, e.name).toBe(true);
    expect(expectedIn(t.entries.find((e) => e.name === 'pku')!, 'shadow')).toBe('skip');
    expect(expectedIn(t.entries.find((e) => e.name === 'vmexit_vmcall')!, 'bare')).toBe('skip');
  });
});

describe('verdicts and the report', () => {
  test('exit statuses map like the upstream harness reads QEMU\'s: 1 PASS, 3 FAIL, 77 SKIP, the rest ERROR', () => {
    expect([1, 3, 77, 127, 6, 8, 0, undefined].map(verdictOf)).toEqual(['PASS', 'FAIL', 'SKIP', 'ERROR', 'ERROR', 'ERROR', 'ERROR', 'ERROR']);
  });

  const run = (over: Partial<TestRun>): TestRun => ({
    test: 'smap', mode: 'shadow', expected: 'pass', verdict: 'PASS', status: 1, detail: 'exit status 1', output: '',
    instructions: 1, wallMs: 1, violations: [], unexpected: false, ...over,
  });

  test('rows line up under the mode names; unexpected cells carry "!"', () => {
    const t = parseTable(table([{ name: 'smap', image: 's' }, { name: 'pcid-asymmetric', image: 'p' }]), 't.json');
    const r = new TestReport(t.entries, ['bare', 'legacy-tdp']);
    const header = r.header('t.json', { vendor: 'vmx', preset: 'current', knobs: CURRENT, audit: true, auditEvery: 1, backing: '2m' });
    expect(header).toBe('2 tests x 2 modes from t.json (vendor vmx, preset current, backing 2m, checker on)\n'
      + 'test             bare    legacy-tdp\n');
    expect(r.header('t.json', { vendor: 'svm', preset: 'kvm-6.3', knobs: CURRENT, audit: true, auditEvery: 100, backing: '4k' }).split('\n')[0])
      .toBe('2 tests x 2 modes from t.json (vendor svm, preset kvm-6.3, backing 4k, checker every 100 exits)');
    expect(r.row('smap', [run({ mode: 'bare' }), run({ mode: 'legacy-tdp', verdict: 'FAIL', unexpected: true })]))
      .toBe('smap             PASS    FAIL!\n');
  });

  test('unexpected runs are explained with the guest\'s FAIL lines and invariant violations; the summary counts', () => {
    const runs = [
      run({}),
      run({ mode: 'tdp', verdict: 'FAIL', status: 3, detail: 'exit status 3', unexpected: true, output: 'PASS: a\nFAIL: b\n' }),
      run({ mode: 'bare', verdict: 'SKIP', expected: 'skip', status: 77, detail: 'exit status 77', violations: ['spte 0x1: bad'], unexpected: true }),
    ];
    expect(unexpectedDetails(runs, false)).toBe([
      'unexpected:',
      '  smap in tdp: FAIL (exit status 3), expected PASS',
      '    | FAIL: b',
      '  smap in bare: SKIP (exit status 77), expected SKIP',
      '    invariant violation: spte 0x1: bad',
      '',
    ].join('\n'));
    expect(unexpectedDetails([runs[0]], false)).toBe('');
    expect(summary(runs)).toBe('SUMMARY: 3 runs: 1 PASS, 1 FAIL, 1 SKIP, 0 ERROR; 2 unexpected\nTIME: shadow 0.00 s, tdp 0.00 s, bare 0.00 s\n');
    expect(summary([runs[0]])).toBe('SUMMARY: 1 run: 1 PASS, 0 FAIL, 0 SKIP, 0 ERROR; all as expected\nTIME: shadow 0.00 s\n');
    expect(summary([])).toBe('SUMMARY: 0 runs: 0 PASS, 0 FAIL, 0 SKIP, 0 ERROR; all as expected\n');
  });

  test('the time line adds up each mode\'s runs, whole seconds from 10 s', () => {
    const runs = [run({ mode: 'bare', wallMs: 1500 }), run({ mode: 'tdp', wallMs: 9000 }), run({ mode: 'bare', wallMs: 2250 }), run({ mode: 'tdp', wallMs: 3000 })];
    expect(summary(runs).split('\n')[1]).toBe('TIME: bare 3.75 s, tdp 12 s');
  });
});

describe('guest measurements ("NAME VALUE" lines)', () => {
  const out = 'cpuid 2164\nPASS: cpuid: 100 iterations\nINFO: PM timer port is 0x608\nmmio-no-eventfd:pci-mem 202\r\ncpuid 2170\n';

  test('are the two-word lines ending in a number; a repeated name keeps its last value', () => {
    expect([...guestValues(out)]).toEqual([['mmio-no-eventfd:pci-mem', 202], ['cpuid', 2170]]);
    expect(guestValues('SUMMARY: 3 tests\nchecksum 12ab\n2164 cpuid\n').size).toBe(0);
  });

  test('lose their numbers for the agreement check, nothing else does', () => {
    expect(withoutValues(out)).toBe('cpuid #\nPASS: cpuid: 100 iterations\nINFO: PM timer port is 0x608\nmmio-no-eventfd:pci-mem #\ncpuid #\n');
  });

  test('names from several modes merge in printing order', () => {
    const bare = new Map([['cpuid', 1], ['toggle_cr0_wp', 1]]);
    const tdp = new Map([['cpuid', 1], ['vmcall', 1], ['toggle_cr0_wp', 1], ['toggle_cr4_pge', 1]]);
    expect(valueNames([bare, tdp])).toEqual(['cpuid', 'vmcall', 'toggle_cr0_wp', 'toggle_cr4_pge']);
  });
});
