/**
 * The kvm-unit-tests ports (kvm-unit-tests-port/: vmexit, pcid, smap, pku, pks, la57) through the test
 * table, in every MMU mode with KVM's invariant checker on, and under QEMU 7.2 TCG.
 *
 * In mmulab every run must give the verdict the table expects for its mode, break no invariant,
 * and print what the port is about (the cases it checks, vmexit's measurements and the exits they
 * cost). Under QEMU (the table's -cpu, `base` being QEMU's qemu64) the verdict lines must be
 * mmulab's bare-mode lines, except where QEMU_DIFFERENCES says what QEMU does instead and why.
 * Without QEMU the test that requires it fails, unless MMULAB_NO_QEMU=1 skips that half.
 */
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { DEFAULT_IMAGES, DEFAULT_TABLE, type TableEntry, loadTable, repoPath, selectEntries } from '../../emulator/cli/test-table.js';
import { type RunSettings, type TestRun, runEntry } from '../../emulator/cli/test-runner.js';
import { guestValues } from '../../emulator/cli/guest-values.js';
import { CURRENT } from '../../mmu/knobs.js';
import { MMU_MODES, type MmuMode } from '../../vmm/machine.js';
import { QEMU_BINARY, qemuAvailable, runInQemu } from '../helpers/qemu.js';

const TABLE = loadTable(repoPath(DEFAULT_TABLE));
const IMAGES = repoPath(DEFAULT_IMAGES);
const SETTINGS: RunSettings = { vendor: 'vmx', preset: 'current', knobs: CURRENT, audit: true, auditEvery: 1, backing: '2m', imagesDir: IMAGES, maxInsns: undefined };

const runs = new Map<string, TestRun>();
function run(name: string, mode: MmuMode): TestRun {
  const key = `${name} ${mode}`;
  let r = runs.get(key);
  if (r === undefined) {
    r = runEntry(entry(name), mode, SETTINGS);
    runs.set(key, r);
  }
  return r;
}

function entry(name: string): TableEntry {
  const e = TABLE.entries.find((x) => x.name === name);
  if (e === undefined) throw new Error(`no test ${name} in the table`);
  return e;
}

/** The verdict lines: what must be identical between correct machines. */
const verdicts = (out: string): string[] => out.split('\n').filter((l) => /^(PASS|FAIL|SKIP|XPASS|XFAIL|SUMMARY): /.test(l));
const lines = (out: string, prefix: string): string[] => out.split('\n').filter((l) => l.startsWith(prefix));

/**
 * What `mmulab test` runs by default, but the access entries: access.test.ts runs those, through the
 * CLI, with their case counts and against QEMU.
 */
const DEFAULT_ENTRIES = selectEntries(TABLE, []).filter((e) => !e.groups.includes('access'));

describe('every default table entry in every MMU mode gives the expected verdict, checker on', () => {
  test.each(DEFAULT_ENTRIES.flatMap((e) => MMU_MODES.map((m) => [e.name, m] as const)))('%s in %s', (name, mode) => {
    const r = run(name, mode);
    expect(r.violations).toEqual([]);
    expect({ verdict: r.verdict, detail: r.detail }, r.output).toEqual({ verdict: r.expected.toUpperCase(), detail: r.detail });
    expect(r.unexpected).toBe(false);
    expect(lines(r.output, 'FAIL: ')).toEqual([]);
  });
});

describe('what the ports check', () => {
  test('smap: the 8 cases twice (without and with INVLPG) and the two CR0.WP=0 cases', () => {
    for (const mode of MMU_MODES) {
      const out = run('smap', mode).output;
      expect(lines(out, 'PASS: '), mode).toHaveLength(18);
      expect(out).toContain('testing without INVLPG\n');
      expect(out).toContain('PASS: write to user stack with AC=0\n');
      expect(out).toContain('PASS: read from user page with SMAP=1, AC=0, WP=0, PTE.U=1 && PTE.W=0\n');
    }
  });

  test('pku: 7 cases where KVM offers PKU; under shadow paging the guest sees no PKU and skips', () => {
    for (const mode of ['bare', 'legacy-tdp', 'tdp'] as const) {
      expect(lines(run('pku', mode).output, 'PASS: '), mode).toHaveLength(7);
      expect(run('pku', mode).output).toContain('PASS: write to user page when pkru is wd and wp == 1\n');
    }
    expect(verdicts(run('pku', 'shadow').output)).toEqual(['SKIP: PKU not supported (CPUID.7.0:ECX[3])', 'SUMMARY: 1 tests, 1 skipped']);
  });

  test('edu (-M q35 -device edu): 23 cases, the same output in every mode', () => {
    const bare = run('edu', 'bare').output;
    expect(lines(bare, 'PASS: ')).toHaveLength(23);
    expect(bare).toContain('edu at 00:01.0\n');
    expect(bare).toContain('interrupt line 10\n');
    for (const mode of MMU_MODES) expect(run('edu', mode).output, mode).toBe(bare);
  });

  test('vtd (-M q35 -device intel-iommu,intremap=on,eim=off -device edu): 39 cases, the same output in every mode', () => {
    const bare = run('vtd', 'bare').output;
    expect(lines(bare, 'PASS: ')).toHaveLength(39);
    expect(bare).toContain('VT-d version 0x10 cap 0xd2008c22260206 ecap 0xf00f4a\n');
    expect(bare).toContain('PASS: write to a read-only page: fault 0x5, write, page 0x1000\n');
    expect(bare).toContain('PASS: a second fault from the device collapses into its pending record\n');
    expect(bare).toContain('PASS: IR IOAPIC: the IRTE\'s vector\n');
    for (const mode of MMU_MODES) expect(run('vtd', mode).output, mode).toBe(bare);
  });

  test('pks: 10 cases on the hardware (bare); KVM offers PKS in no mode, so its guests skip', () => {
    const out = run('pks', 'bare').output;
    expect(lines(out, 'PASS: ')).toHaveLength(10);
    expect(out).toContain('PASS: write to supervisor page when pkrs is wd and wp == 1\n');
    expect(out).toContain('PASS: read from supervisor page when pkrs is ad: #PF with P and PK (0x21)\n');
    expect(out).toContain('PASS: write to supervisor page when pkrs is ad and CR4.PKS == 0\n');
    for (const mode of ['shadow', 'legacy-tdp', 'tdp'] as const) {
      expect(verdicts(run('pks', mode).output), mode).toEqual(['SKIP: PKS not supported (CPUID.7.0:ECX[31])', 'SUMMARY: 1 tests, 1 skipped']);
    }
  });

  test('pcid: each CPUID combination runs its halves of the test', () => {
    expect(lines(run('pcid-enabled', 'tdp').output, 'PASS: ')).toEqual(['PASS: Test on PCID when enabled', 'PASS: Test on INVPCID when enabled']);
    expect(lines(run('pcid-disabled', 'shadow').output, 'PASS: ')).toEqual(['PASS: Test on PCID when disabled', 'PASS: Test on INVPCID when disabled']);
    expect(lines(run('pcid-asymmetric', 'legacy-tdp').output, 'PASS: ')).toEqual(['PASS: Test on PCID when disabled', 'PASS: Test on INVPCID when enabled']);
  });

  test('la57 (32-bit): #GP without LA57, no fault with it', () => {
    expect(lines(run('la57', 'shadow').output, 'PASS: ')).toEqual(['PASS: #GP when CR4.LA57 unsupported']);
    expect(lines(run('la57-max', 'tdp').output, 'PASS: ')).toEqual(['PASS: No fault when CR4.LA57 supported', 'PASS: CR4.LA57 reads back as set']);
  });

  const SUBTESTS = ['cpuid', 'vmcall', 'mov_from_cr8', 'mov_to_cr8', 'inl_from_pmtimer', 'inl_from_qemu', 'inl_from_kernel',
    'outl_to_kernel', 'mov_dr', 'tscdeadline_immed', 'tscdeadline', 'self_ipi_sti_nop', 'self_ipi_sti_hlt', 'self_ipi_tpr',
    'self_ipi_tpr_sti_nop', 'self_ipi_tpr_sti_hlt', 'x2apic_self_ipi_sti_nop', 'x2apic_self_ipi_sti_hlt', 'x2apic_self_ipi_tpr',
    'x2apic_self_ipi_tpr_sti_nop', 'x2apic_self_ipi_tpr_sti_hlt', 'ipi', 'ipi_halt', 'ple_round_robin', 'wr_kernel_gs_base',
    'wr_ibrs_msr', 'wr_ibpb_msr', 'wr_tsc_adjust_msr', 'rd_tsc_adjust_msr', 'toggle_cr0_wp', 'toggle_cr4_pge', 'pci-mem', 'pci-io'];
  const SKIPPED = ['ipi', 'ipi_halt', 'wr_ibrs_msr', 'wr_ibpb_msr', 'pci-mem', 'pci-io'];

  test('vmexit: every upstream sub-test is measured ("<name> <cycles>") or skipped with a reason', () => {
    for (const mode of MMU_MODES) {
      const out = run('vmexit', mode).output;
      const measured = [...guestValues(out).keys()];
      const skipped = lines(out, 'SKIP: ').map((l) => l.slice(6, l.indexOf(':', 6)));
      const expectSkipped = mode === 'bare' ? ['vmcall', ...SKIPPED] : SKIPPED;
      expect(skipped.sort(), mode).toEqual([...expectSkipped].sort());
      expect(measured, mode).toEqual(SUBTESTS.filter((s) => !expectSkipped.includes(s)));
      for (const name of measured) expect(out, `${mode} ${name}`).toContain(`PASS: ${name}: 32 iterations\n`);
    }
  });

  test('vmexit: what exits costs an exit round trip in the virtualized modes; what KVM does not intercept costs nothing more', () => {
    for (const mode of ['shadow', 'legacy-tdp', 'tdp'] as const) {
      const v = guestValues(run('vmexit', mode).output);
      const bare = guestValues(run('vmexit', 'bare').output);
      for (const name of ['cpuid', 'vmcall', 'inl_from_pmtimer', 'inl_from_qemu', 'inl_from_kernel', 'outl_to_kernel', 'wr_tsc_adjust_msr', 'rd_tsc_adjust_msr']) {
        expect(v.get(name), `${mode} ${name}`).toBeGreaterThan(1800);
      }
      // The PM timer and an unassigned port are QEMU's: KVM_RUN returns to userspace on top of
      // the exit; the ELCR belongs to KVM's in-kernel PIC (upstream's inl_from_qemu against
      // inl_from_kernel).
      for (const name of ['inl_from_qemu', 'inl_from_pmtimer']) {
        expect(v.get(name)! - v.get('inl_from_kernel')!, `${mode} ${name}`).toBeGreaterThan(3000);
      }
      expect(Math.abs(v.get('outl_to_kernel')! - v.get('inl_from_kernel')!), mode).toBeLessThan(50);
      // TPR shadow, DR7 without MOV-DR exiting, passed-through MSRs, PAUSE without contention.
      for (const name of ['mov_from_cr8', 'mov_to_cr8', 'mov_dr', 'wr_kernel_gs_base', 'ple_round_robin']) {
        expect(v.get(name), `${mode} ${name}`).toBe(bare.get(name));
      }
      // The interrupt itself: the ICR write (an exit) and the injection.
      expect(v.get('self_ipi_sti_nop')!, mode).toBeGreaterThan(2 * 1800);
      expect(v.get('self_ipi_sti_hlt')!, mode).toBeGreaterThan(v.get('self_ipi_sti_nop')!);
    }
  });
});

/**
 * What QEMU 7.2 TCG does differently with these images, per table entry: the status it ends
 * with, and the verdict lines it prints instead of mmulab's (undefined: the same as mmulab).
 */
interface QemuDifference {
  readonly why: string;
  readonly status: number;
  /** Lines that differ: mmulab's line -> QEMU's line ('' when QEMU does not print it). */
  readonly lines: Readonly<Record<string, string>>;
  /** QEMU does not finish: run with this time limit and expect it to be killed. */
  readonly hangsMs?: number;
}

const NO_X2APIC = 'QEMU 7.2 TCG offers neither x2APIC nor the TSC-deadline timer (it drops +x2apic and +tsc-deadline with a warning), so those sub-tests are skipped';
const NO_PCID = 'QEMU 7.2 TCG offers neither PCID nor INVPCID (it drops +pcid and +invpcid with a warning), and it lets the guest set CR4.PCIDE anyway, where the SDM (and mmulab) raise #GP for a reserved CR4 bit';

const skipLine = (name: string, why: string): string => `SKIP: ${name}: ${why}`;
const x2apicSkips = (names: readonly string[]): Record<string, string> => Object.fromEntries(names.flatMap((n) => [[`PASS: ${n}: 32 iterations`, skipLine(n, n.startsWith('x2apic')
  ? 'the local APIC is not in x2APIC mode (CPUID.1:ECX[21] clear)' : 'no TSC-deadline timer (CPUID.1:ECX[24])')]]));

const QEMU_DIFFERENCES: Readonly<Record<string, QemuDifference>> = {
  vmexit: {
    why: NO_X2APIC,
    status: 1,
    lines: {
      ...x2apicSkips(['tscdeadline_immed', 'tscdeadline', 'x2apic_self_ipi_sti_nop', 'x2apic_self_ipi_sti_hlt', 'x2apic_self_ipi_tpr',
        'x2apic_self_ipi_tpr_sti_nop', 'x2apic_self_ipi_tpr_sti_hlt']),
      'SUMMARY: 33 tests, 7 skipped': 'SUMMARY: 33 tests, 14 skipped',
    },
  },
  vmexit_tscdeadline: {
    why: NO_X2APIC,
    status: 77,
    lines: { 'PASS: tscdeadline: 100 iterations': skipLine('tscdeadline', 'no TSC-deadline timer (CPUID.1:ECX[24])'), 'SUMMARY: 1 tests': 'SUMMARY: 1 tests, 1 skipped' },
  },
  vmexit_tscdeadline_immed: {
    why: NO_X2APIC,
    status: 77,
    lines: { 'PASS: tscdeadline_immed: 100 iterations': skipLine('tscdeadline_immed', 'no TSC-deadline timer (CPUID.1:ECX[24])'), 'SUMMARY: 1 tests': 'SUMMARY: 1 tests, 1 skipped' },
  },
  'pcid-enabled': {
    why: NO_PCID,
    status: 3,
    lines: {
      'PASS: Test on PCID when enabled': 'FAIL: Test on PCID when disabled',
      'PASS: Test on INVPCID when enabled': 'PASS: Test on INVPCID when disabled',
      'SUMMARY: 2 tests': 'SUMMARY: 2 tests, 1 unexpected failures',
    },
  },
  'pcid-disabled': {
    why: NO_PCID,
    status: 3,
    lines: { 'PASS: Test on PCID when disabled': 'FAIL: Test on PCID when disabled', 'SUMMARY: 2 tests': 'SUMMARY: 2 tests, 1 unexpected failures' },
  },
  'pcid-asymmetric': {
    why: NO_PCID,
    status: 3,
    lines: {
      'PASS: Test on PCID when disabled': 'FAIL: Test on PCID when disabled',
      'PASS: Test on INVPCID when enabled': 'PASS: Test on INVPCID when disabled',
      'SUMMARY: 2 tests': 'SUMMARY: 2 tests, 1 unexpected failures',
    },
  },
  la57: {
    why: 'QEMU 7.2 TCG, asked to set CR4.LA57 on a CPU without LA57, loops in its SVM #VMEXIT path instead of raising #GP '
      + '(the same as for any reserved CR4 bit, see guests/README.md) and never returns to the guest',
    status: 124,
    lines: { 'PASS: #GP when CR4.LA57 unsupported': '', 'SUMMARY: 1 tests': '' },
    hangsMs: 2000,
  },
};

/**
 * CI installs QEMU (.ci/run), so a machine without it would silently lose every QEMU comparison in
 * the suite: that is a failure, unless MMULAB_NO_QEMU=1 says the comparisons are to be skipped.
 */
const NO_QEMU = process.env.MMULAB_NO_QEMU === '1';
if (NO_QEMU) console.warn(`NOTICE: MMULAB_NO_QEMU=1: the comparisons with QEMU TCG (${QEMU_BINARY}) are SKIPPED`);

/** QEMU's -cpu for a table entry: mmulab's `base` is QEMU's qemu64. */
const qemuCpu = (cpu: string): string => cpu.replace(/^base\b/, 'qemu64');

describe.skipIf(NO_QEMU || !qemuAvailable())('the same images under QEMU TCG', () => {
  test.each(DEFAULT_ENTRIES.map((e) => e.name))('%s', async (name) => {
    const e = entry(name);
    const diff = QEMU_DIFFERENCES[name];
    const q = await runInQemu(join(IMAGES, e.image), e.append === '' ? [] : e.append.split(' '), { cpu: qemuCpu(e.cpu), timeoutMs: diff?.hangsMs ?? 60_000, extraArgs: [...(e.smp > 1 ? ['-smp', String(e.smp)] : []), ...(e.qemu ?? [])] });
    const mine = verdicts(run(name, 'bare').output);
    const expected = mine.map((l) => (diff?.lines[l] ?? l)).filter((l) => l !== '');
    expect(verdicts(q.stdout), `${diff?.why ?? 'no known difference'}\n${q.stdout}\n${q.stderr}`).toEqual(expected);
    expect(q.status).toBe(diff?.status ?? run(name, 'bare').status);
  });
});

test.skipIf(NO_QEMU)(`${QEMU_BINARY} is installed for the QEMU TCG comparisons (MMULAB_NO_QEMU=1 skips them)`, () => {
  expect(qemuAvailable(), `${QEMU_BINARY} cannot be started: install QEMU (.ci/run does), or set MMULAB_NO_QEMU=1 to skip the QEMU comparisons`).toBe(true);
});
