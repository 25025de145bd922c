/**
 * Dirty logging (mmu/dirty-log.ts, mmu/kvm/dirty-log-ioctls.ts), driven by the dirty-log guest
 * through the test device. The oracle is the guest itself: it knows which pages each pass wrote
 * (every stride-th page of each CPU's region) and compares KVM_GET_DIRTY_LOG's bitmap with that,
 * bit by bit, after every pass; between passes it clears the log (or GET re-protects), so every
 * pass after the first checks upstream's invariant: a write to a page whose bit was cleared is
 * logged again. The counters say which path did the work (fast page faults, PML, splits).
 */
import { describe, expect, test } from 'vitest';
import { GUESTS, runCli } from '../cli/cli.js';

interface Run {
  status: number;
  out: string;
  kvm: Record<string, number>;
  values: Record<string, number>;
}

function dirtyLog(mode: string, guestArgs: string, opts: readonly string[] = []): Run {
  const r = runCli(['run', `${GUESTS}dirty-log.flat`, '--mmu', mode, '--smp', '2', '--json', '--append', guestArgs, ...opts]);
  const values: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/^([a-z0-9_]+) (\d+)$/gm)) values[m[1]] = Number(m[2]);
  const json = JSON.parse(r.stderr) as { kvm?: Record<string, number> };
  return { status: r.status ?? -1, out: r.stdout, kvm: json.kvm ?? {}, values };
}

/** Pages a pass with `stride` writes: two CPUs, `mib` MiB each. */
function written(mib: number, stride: number): number {
  return 2 * Math.ceil((mib * 256) / stride);
}

describe('dirty logging: the log holds exactly the pages written, after every clear', () => {
  const cases: Array<[string, string, readonly string[]]> = [];
  for (const mode of ['shadow', 'legacy-tdp', 'tdp']) {
    for (const protect of [0, 1, 2]) cases.push([mode, `protect=${protect}`, []]);
  }
  // Write protection instead of PML (SVM), and 4 KiB host pages (no huge pages to split).
  cases.push(['legacy-tdp', 'protect=1', ['--vendor', 'svm']], ['tdp', 'protect=1', ['--vendor', 'svm']]);
  cases.push(['tdp', 'protect=1', ['--backing', '4k']], ['legacy-tdp', 'protect=0', ['--backing', '4k', '--vendor', 'svm']]);

  test.each(cases)('%s %s %j', (mode, protect, opts) => {
    const r = dirtyLog(mode, `mib=2 stride=3 passes=3 ${protect}`, opts);
    expect(r.out).not.toContain('FAIL');
    expect(r.status).toBe(1);
    const all = written(2, 1), some = written(2, 3);
    // Initially-all-set: the first log holds every page of the regions.
    expect(r.values.dirty_pages1).toBe(protect === 'protect=2' ? all : some);
    expect(r.values.dirty_pages2).toBe(some);
    expect(r.values.dirty_pages3).toBe(some);
    expect(r.out.match(/^PASS: dirty-log: pass \d: the log reports exactly/gm)).toHaveLength(3);
    expect(r.kvm.dirty_pages_reported).toBeGreaterThanOrEqual(r.values.dirty_pages1 + 2 * some);
    expect(r.kvm.invariant_violations ?? 0).toBe(0);
  });

  test('the checker finds nothing wrong along the way (tdp and legacy-tdp, audit after every exit)', () => {
    for (const mode of ['legacy-tdp', 'tdp']) {
      const r = dirtyLog(mode, 'mib=2 stride=5 passes=2', ['--audit', '--audit-every', '50']);
      expect(r.status).toBe(1);
      expect(r.kvm.invariant_violations ?? 0).toBe(0);
    }
  });

  test('bare mode has no hypervisor: the commands are refused and the guest skips its checks', () => {
    const r = dirtyLog('bare', 'mib=1');
    expect(r.status).toBe(1);
    expect(r.out).toContain('SKIP: dirty-log: no dirty logging here');
    expect(r.values.dirty_pages1).toBeUndefined();
  });
});

describe('which path logs the writes', () => {
  test('without PML every logged write after the first pass is a fast page fault, with no mmu_lock', () => {
    const r = dirtyLog('tdp', 'mib=2 passes=3', ['--vendor', 'svm']);
    expect(r.status).toBe(1);
    // Passes 2 and 3 write 1024 write-protected 4 KiB pages each; pass 1 too once split.
    expect(r.kvm.pf_fast).toBeGreaterThanOrEqual(2 * written(2, 1));
    expect(r.kvm.pml_logged ?? 0).toBe(0);
  });

  test('with PML (VMX) the CPU logs them without exits; a PML-full exit every 512', () => {
    const r = dirtyLog('tdp', 'mib=2 passes=3', ['--vendor', 'vmx']);
    expect(r.status).toBe(1);
    expect(r.kvm.pml_logged).toBeGreaterThanOrEqual(3 * written(2, 1));
    expect(r.kvm.pml_full_exits).toBeGreaterThanOrEqual(Math.floor(r.kvm.pml_logged / 512) - 2);
    expect(r.kvm.pf_fast ?? 0).toBeLessThan(16);
    const svm = dirtyLog('tdp', 'mib=2 passes=3', ['--vendor', 'svm']);
    expect(r.values.dirty_pass2_cycles * 10).toBeLessThan(svm.values.dirty_pass2_cycles);
  });

  test('eager splitting (TDP MMU, 2 MiB pages) splits at enable and shortens the first dirty pass', () => {
    for (const onFault of ['zap', 'split']) {
      const knobs = (eager: boolean): string[] => ['--backing', '2m', '--knob', `eagerPageSplit=${eager}`, '--knob', `tdpHugeWriteFault=${onFault}`];
      const eager = dirtyLog('tdp', 'mib=4 passes=2', knobs(true));
      const lazy = dirtyLog('tdp', 'mib=4 passes=2', knobs(false));
      expect(eager.status).toBe(1);
      expect(lazy.status).toBe(1);
      // The regions' 2 MiB pages (2 CPUs x 2), split at enable; lazily only by a fault, if at all.
      expect(eager.kvm.huge_pages_split).toBeGreaterThanOrEqual(4);
      if (onFault === 'zap') expect(lazy.kvm.huge_pages_split ?? 0).toBe(0);
      else expect(lazy.kvm.huge_pages_split).toBeGreaterThanOrEqual(4);
      expect(eager.values.dirty_pass1_cycles * 5).toBeLessThan(lazy.values.dirty_pass1_cycles);
      expect(eager.values.enable_cycles).toBeGreaterThan(lazy.values.enable_cycles);
      // Later passes find 4 KiB pages either way.
      expect(eager.values.dirty_pass2_cycles).toBe(lazy.values.dirty_pass2_cycles);
    }
  });

  test('the legacy MMU never splits eagerly: the knob changes nothing there', () => {
    const on = dirtyLog('legacy-tdp', 'mib=4', ['--knob', 'eagerPageSplit=true']);
    const off = dirtyLog('legacy-tdp', 'mib=4', ['--knob', 'eagerPageSplit=false']);
    expect(on.values).toEqual(off.values);
    expect(on.kvm.huge_pages_split ?? 0).toBe(0);
    expect(on.kvm.huge_pages_zapped_for_logging).toBeGreaterThanOrEqual(4);
  });

  test('disabling logging recovers the huge pages (2 MiB backing), none with 4 KiB backing', () => {
    for (const mode of ['legacy-tdp', 'tdp']) {
      expect(dirtyLog(mode, 'mib=4', ['--backing', '2m']).kvm.huge_pages_recovered).toBeGreaterThanOrEqual(4);
      const small = dirtyLog(mode, 'mib=4', ['--backing', '4k', '--vendor', 'vmx']);
      expect(small.kvm.huge_pages_recovered ?? 0).toBe(0);
      // With PML the 4 KiB SPTEs left D-clear are writable once logging stops: no fault, no PML
      // entry, so the rewrite costs less than a logged pass.
      expect(small.values.rewrite_cycles).toBeLessThan(small.values.dirty_pass2_cycles);
      // Two logged passes of 2048 pages and a few of the guest's own (stack, data); the rewrite's none.
      expect(small.kvm.pml_logged).toBeGreaterThanOrEqual(2 * written(4, 1));
      expect(small.kvm.pml_logged).toBeLessThan(2 * written(4, 1) + 64);
    }
  });
});
