/**
 * A frozen SPTE in a whole machine (issue 13): before 6.2 a TDP MMU write fault on a huge page
 * under dirty logging zapped it with tdp_mmu_zap_spte_atomic, which holds the huge SPTE frozen
 * (REMOVED_SPTE) across the remote TLB flush; another vCPU's fault on the same 2 MiB in that
 * window finds it frozen and returns RET_PF_RETRY. The dirty-log guest's stagger=C makes CPU 1
 * start each pass C TSC cycles after CPU 0, so with C inside the flush (about 1,800 cycles after
 * the freeze) CPU 1's first fault lands in the window. The rules themselves are unit-tested in
 * tdp-races.test.ts; this is the same race arising from a guest's own timing.
 */
import { describe, expect, test } from 'vitest';
import { runCli } from '../cli/cli.js';

interface Run {
  status: number;
  out: string;
  error?: string;
  kvm: Record<string, number>;
  cpus: Array<{ kvm?: Record<string, number> }>;
}

function run(mode: string, cpus: number, args: string, preset: string): Run {
  const r = runCli(['run', 'build/guests/dirty-log.flat', '--mmu', mode, '--smp', String(cpus), '--backing', '2m',
    '--vendor', 'svm', '--preset', preset, '--json', '--append', `mib=2 passes=2 overlap=1 ${args}`]);
  const json = JSON.parse(r.stderr.trim().split('\n').at(-1)!) as { message?: string; kvm?: Record<string, number>; cpus?: Run['cpus'] };
  return { status: r.status ?? -1, out: r.stdout, error: json.message, kvm: json.kvm ?? {}, cpus: json.cpus ?? [] };
}

/** The guest's checks: logging on and off, both passes' logs exact, every page's last byte. */
function expectGuestPassed(r: Run): void {
  expect(r.error).toBeUndefined();
  expect(r.out).not.toContain('FAIL');
  expect(r.out.match(/^PASS: /gm)).toHaveLength(7);
  expect(r.out).toContain('PASS: dirty-log: every page holds the byte its CPU wrote last (0 wrong)');
  expect(r.status).toBe(1);
}

describe('a vCPU faulting on a huge SPTE another vCPU holds frozen', () => {
  test('kvm-5.17 (zap on a huge write fault): CPU 1, 600 cycles behind, finds it frozen and retries; the same run twice is the same', () => {
    const r = run('tdp', 2, 'stagger=600', 'kvm-5.17');
    expectGuestPassed(r);
    expect(r.kvm.huge_pages_zapped_for_logging).toBeGreaterThan(0);
    expect(r.kvm.tdp_fault_retries_frozen).toBe(1);
    // The frozen retry is CPU 1's; CPU 0 ran first and zapped.
    expect(r.cpus.map((c) => c.kvm?.tdp_fault_retries_frozen ?? 0)).toEqual([0, 1]);
    expect(run('tdp', 2, 'stagger=600', 'kvm-5.17').kvm).toEqual(r.kvm);
  });

  test.each([['stagger=0'], ['stagger=3000']])('kvm-5.17 with %s: CPU 1 faults before the freeze or after the flush, nothing frozen', (stagger) => {
    const r = run('tdp', 2, stagger, 'kvm-5.17');
    expectGuestPassed(r);
    expect(r.kvm.tdp_fault_retries_frozen ?? 0).toBe(0);
  });

  test('current (split in place, c4b33d28ea51): nothing is ever frozen on a fault', () => {
    const r = run('tdp', 2, 'stagger=600', 'current');
    expectGuestPassed(r);
    expect(r.kvm.tdp_fault_retries_frozen ?? 0).toBe(0);
  });

  test('legacy-tdp: faults hold the write lock, so none retries', () => {
    const r = run('legacy-tdp', 2, 'stagger=600', 'kvm-5.17');
    expectGuestPassed(r);
    expect(r.kvm.tdp_fault_retries ?? 0).toBe(0);
  });

  // A mapping another vCPU installed later in modeled time is hidden from a vCPU until it faults
  // on it; the fast path (lockless, fast_page_fault) used to find the SPTE already fixed and return
  // at once without the mapping becoming visible, so the access faulted 64 times and the run
  // stopped with an internal error.
  test('four vCPUs writing the same 2 MiB pages under logging complete (no fault that recurs forever)', () => {
    for (const preset of ['current', 'kvm-5.17']) {
      const r = run('tdp', 4, '', preset);
      expectGuestPassed(r);
      expect(r.kvm.invariant_violations ?? 0).toBe(0);
    }
  });
});
