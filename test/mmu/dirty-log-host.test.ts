/**
 * Dirty logging driven from the host (`--dirty-log SCHEDULE`, mmu/kvm/dirty-log-migration.ts):
 * the VMM thread enables logging, collects between the guest's passes and disables, on its own
 * clock. The oracle is the guest-driven path (test/mmu/dirty-log.test.ts, where the guest checks
 * the log bit by bit): the dirty-log guest with host=G runs the same passes at fixed TSC times,
 * and a schedule collecting between them must count, per pass, the pages the guest-driven GET
 * counted. The dirty ring must collect the same pages as the bitmap; a GET that skipped the PML
 * drain (kvm_flush_pml_buffers) must miss the pages still in a running vCPU's buffer.
 */
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { GUESTS, hasStackTrace, runCli } from '../cli/cli.js';
import { Machine } from '../../vmm/machine.js';
import { resolveKnobs } from '../../mmu/knobs.js';
import { DirtyLogMigration, type MigrationStep } from '../../mmu/kvm/dirty-log-migration.js';
import { parseDirtyLogSchedule, type DirtyLogSchedule } from '../../mmu/kvm/dirty-log-schedule.js';
import { DirtyRing, ringSizeError } from '../../mmu/kvm/dirty-ring.js';

const IMAGE = `${GUESTS}dirty-log.flat`;
/** The guest's passes start every GAP cycles; the host collects half a gap after each. */
const GAP = 4_000_000;
const SCHEDULE = (passes: number, extra = ''): string => `start=3500k,every=${GAP / 1000}k,passes=${passes}${extra}`;

interface Run {
  status: number;
  out: string;
  values: Record<string, number>;
  kvm: Record<string, number>;
  steps: MigrationStep[];
  ringFullReaps: number;
  ringFullPages: number;
}

function run(mode: string, guestArgs: string, opts: readonly string[]): Run {
  const backing = opts.includes('--backing') ? [] : ['--backing', '4k'];
  const smp = opts.includes('--smp') ? [] : ['--smp', '2'];
  const r = runCli(['run', IMAGE, '--mmu', mode, ...smp, ...backing, '--json', '--append', guestArgs, ...opts]);
  const values: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/^([a-z0-9_]+) (\d+)$/gm)) values[m[1]] = Number(m[2]);
  const json = JSON.parse(r.stderr) as { kvm?: Record<string, number>; dirtyLog?: { steps: MigrationStep[]; ringFullReaps: number; ringFullPages: number } };
  return {
    status: r.status ?? -1, out: r.stdout, values, kvm: json.kvm ?? {},
    steps: json.dirtyLog?.steps ?? [], ringFullReaps: json.dirtyLog?.ringFullReaps ?? -1, ringFullPages: json.dirtyLog?.ringFullPages ?? -1,
  };
}

/** The regions the guest writes: from its INFO line (base) and 2 CPUs x `mib` MiB. */
function range(out: string, mib: number): string {
  const base = /from (0x[0-9a-f]+);/.exec(out);
  expect(base).not.toBeNull();
  return `,range=${base![1]}+${2 * mib * 256}`;
}

const passes = (r: Run): MigrationStep[] => r.steps.filter((s) => s.op === 'pass');

describe('a host schedule collects what the guest-driven path collects', () => {
  const cases: Array<[string, string, string]> = [
    ['tdp', 'vmx', 'protect=1'],
    ['legacy-tdp', 'svm', 'protect=0'],
    ['tdp', 'svm', 'protect=2'],
  ];
  test.each(cases)('%s %s %s, stride 3', (mode, vendor, protect) => {
    const guest = run(mode, `mib=1 passes=2 stride=3 ${protect}`, ['--vendor', vendor]);
    expect(guest.status).toBe(1);
    expect(guest.out).not.toContain('FAIL');
    const host = run(mode, `mib=1 passes=2 stride=3 host=${GAP}`, ['--vendor', vendor, '--dirty-log', SCHEDULE(2, `,${protect}${range(guest.out, 1)}`)]);
    expect(host.status).toBe(1);
    expect(host.out).toMatch(/PASS: dirty-log: every pass started on time/);
    expect(host.steps.map((s) => s.op)).toEqual(['enable', 'pass', 'pass', 'disable']);
    const got = passes(host);
    for (const i of [1, 2]) {
      // GET's count over the regions (the guest passes GET exactly their range).
      expect(got[i - 1].dirtyInRange).toBe(guest.values[`dirty_pages${i}`]);
      // The passes met the same protection (PML or write protection): the guest's timings agree
      // (within the lock waits of the legacy MMU's faults, which depend on the interleaving).
      const ratio = host.values[`dirty_pass${i}_cycles`] / guest.values[`dirty_pass${i}_cycles`];
      expect(ratio).toBeGreaterThan(0.8);
      expect(ratio).toBeLessThan(1.25);
    }
    // Initially-all-set reports every page of the slot at the first GET; otherwise a few beyond the regions (stack, data).
    if (protect === 'protect=2') expect(got[0].dirty!).toBeGreaterThan(1000);
    else expect(got[0].dirty! - got[0].dirtyInRange!).toBeLessThan(16);
    expect(host.kvm.invariant_violations ?? 0).toBe(0);
    // Lock modes (kvm-concurrency.md 2.2, 5.13 on): enabling walks the slot (after the TDP MMU's
    // eager split) under the read lock in the TDP MMU and the write lock in the legacy MMU, and
    // initially-all-set defers it all to CLEAR; disabling recovers huge pages likewise; GET's
    // re-protection (protect=0) or CLEAR of what GET returned takes one write hold.
    const enable = host.steps[0], disable = host.steps[host.steps.length - 1];
    expect(enable.lockRead).toBe(mode === 'tdp' && protect !== 'protect=2' ? 2 : 0);
    expect(disable.lockRead).toBe(mode === 'tdp' ? 1 : 0);
    for (const p of got) {
      expect([p.lockRead, p.lockWrite]).toEqual([0, 1]);
      expect(Object.keys(p.cycles)).toEqual(protect === 'protect=0' ? ['get'] : ['get', 'clear']);
    }
  });

  test('one vCPU: the steps fire on time (no rounds: a slice runs to the deadline)', () => {
    const guest = run('tdp', 'mib=1 passes=2', ['--smp', '1', '--vendor', 'svm']);
    const host = run('tdp', `mib=1 passes=2 host=${GAP}`, ['--smp', '1', '--vendor', 'svm', '--dirty-log', SCHEDULE(2, range(guest.out, 0.5))]);
    expect(host.status).toBe(1);
    // Within a slice of the time (a fault costs thousands of cycles per instruction), long before
    // the next guest pass; with PAUSE in the guest's wait the enable came after pass 1.
    for (const s of host.steps) expect(s.fired - s.at).toBeLessThan(GAP / 8);
    // Logging was on for each pass: every write took a write-protection fault, as guest-driven.
    expect(host.values.dirty_pass1_cycles).toBe(guest.values.dirty_pass1_cycles);
    expect(passes(host).map((s) => s.dirtyInRange)).toEqual([256, 256]);
  });

  test('compare shows the host steps beside the guest\'s values for each mode', () => {
    const r = runCli(['compare', IMAGE, '--mmu', 'bare,tdp', '--smp', '2', '--backing', '4k', '--json', '--append', `mib=1 passes=1 host=${GAP}`, '--dirty-log', SCHEDULE(1)]);
    expect(r.status).toBe(1);
    const runs = (JSON.parse(r.stdout) as { modes: Array<{ mode: string; values: Record<string, number>; sameOutputExceptValues: boolean }> }).modes;
    const tdp = runs.find((x) => x.mode === 'tdp')!;
    expect(tdp.values.host_dirty_pages1).toBeGreaterThanOrEqual(512);
    expect(tdp.values.host_get_cycles1).toBeGreaterThan(0);
    // Bare mode has no KVM: it runs without the schedule.
    expect(runs.find((x) => x.mode === 'bare')!.values.host_dirty_pages1).toBeUndefined();
    // The host's lines do not make the modes disagree.
    expect(tdp.sameOutputExceptValues).toBe(true);
  });
});

describe('huge page recovery when the host disables logging', () => {
  test('before 6.13 (kvm-6.9: zap) every zapped huge page is flushed on its own; 6.13 batches one flush (35ef80eb29ab)', () => {
    const r = (preset: string): Run => run('tdp', `mib=2 passes=1 host=${GAP}`, ['--backing', '2m', '--preset', preset, '--dirty-log', SCHEDULE(1)]);
    const zap = r('kvm-6.9');
    const batched = r('current');
    expect(zap.status).toBe(1);
    expect(batched.status).toBe(1);
    // The regions' 2 MiB pages, split at enable and recovered at disable, in both.
    expect(zap.kvm.huge_pages_recovered).toBeGreaterThanOrEqual(2);
    expect(batched.kvm.huge_pages_recovered).toBe(zap.kvm.huge_pages_recovered);
    expect(zap.kvm.huge_page_recovery_flushes).toBe(zap.kvm.huge_pages_recovered);
    expect(batched.kvm.huge_page_recovery_flushes).toBe(1);
    expect(zap.kvm.remote_tlb_flush - batched.kvm.remote_tlb_flush).toBe(zap.kvm.huge_pages_recovered - 1);
    // Each flush kicks the vCPUs still in the guest; the VMM thread's disable pays for them.
    const disable = (x: Run): number => x.steps[x.steps.length - 1].cycles.disable;
    expect(disable(zap)).toBeGreaterThan(disable(batched));
  });
});

describe('the dirty ring', () => {
  test('harvests the same pages as the bitmap, with KVM_EXIT_DIRTY_RING_FULL when a pass overflows the soft limit', () => {
    // 512 pages per vCPU per pass against a soft limit of 1024 - 64 - 512 (PML) = 448 entries.
    // --host-prefault: with 2 MiB per vCPU, populate's host page fault-ins (cost.ts hostPageFault)
    // would end it after 4 M cycles, past pass 1's slot (the guest then reports a late pass).
    const bitmap = run('tdp', `mib=2 passes=2 host=${GAP}`, ['--host-prefault', '--dirty-log', SCHEDULE(2, ',range=0x600000+1024')]);
    const ring = run('tdp', `mib=2 passes=2 host=${GAP}`, ['--host-prefault', '--dirty-log', SCHEDULE(2, ',range=0x600000+1024,ring=1024')]);
    expect(bitmap.status).toBe(1);
    expect(ring.status).toBe(1);
    expect(passes(ring).map((s) => s.dirtyInRange)).toEqual(passes(bitmap).map((s) => s.dirtyInRange));
    expect(passes(ring).map((s) => s.dirtyInRange)).toEqual([1024, 1024]);
    expect(ring.kvm.dirty_ring_full_exits).toBeGreaterThan(0);
    expect(ring.ringFullReaps).toBe(ring.kvm.dirty_ring_full_exits);
    expect(ring.ringFullPages).toBeGreaterThan(0);
    // Every pushed entry was harvested and reset; every reset page re-protected under the write lock.
    expect(ring.kvm.dirty_ring_reset).toBe(ring.kvm.dirty_ring_pushed);
    expect(Object.keys(passes(ring)[0].cycles)).toEqual(['harvest', 'reset']);
    expect(bitmap.kvm.dirty_ring_pushed ?? 0).toBe(0);
  });

  test('reset merges entries as kvm_dirty_ring_reset does, and the soft limit leaves the reserved entries', () => {
    const ring = new DirtyRing(1024, true);
    expect(ring.softLimit).toBe(1024 - 64 - 512);
    for (const off of [5, 3, 70, 71, 200, 2]) ring.push(0, off);
    ring.push(1, 2);
    const seen: number[] = [];
    expect(ring.harvest((_s, off) => seen.push(off))).toBe(7);
    const masks: string[] = [];
    expect(ring.reset((slot, base, bits) => masks.push(`${slot}:${base}:${[...bits].sort((a, b) => a - b).join('.')}`))).toBe(7);
    // 3 joins 5 by moving the base down; 70 is 67 above it; 200 and 2 are too far; slot 1 is another slot.
    expect(masks).toEqual(['0:3:0.2', '0:70:0.1', '0:200:0', '0:2:0', '1:2:0']);
    expect(ring.used).toBe(0);
    expect(ringSizeError(1000, false)).toBe('a power of two');
    expect(ringSizeError(512, true)).toMatch(/at least 576/);
    expect(ringSizeError(1024, true)).toBeUndefined();
  });
});

describe('PML: buffers drained before GET', () => {
  function hostMachine(skipSync: boolean): { m: Machine; migration: DirtyLogMigration } {
    const m = new Machine({ cpus: 2, mmu: 'tdp', vendor: 'vmx', backing: '4k', knobs: resolveKnobs('current'), serialOut: () => {} });
    m.loadMultiboot(readFileSync(IMAGE), 'dirty-log.flat', `mib=1 passes=2 host=${GAP}`);
    const schedule = parseDirtyLogSchedule(SCHEDULE(2, ',range=0x600000+512')) as DirtyLogSchedule;
    const migration = new DirtyLogMigration(m.kvm!, schedule, m.clock);
    m.kvm!.dirtyLog.skipSync = skipSync;
    return { m, migration };
  }

  test('kicking every vCPU first, GET finds the pages still in a running vCPU\'s buffer; skipping it loses them', () => {
    const synced = hostMachine(false);
    expect(synced.m.run().exitStatus).toBe(1);
    expect(passes({ steps: synced.migration.steps } as Run).map((s) => s.dirtyInRange)).toEqual([512, 512]);
    // CPU 0 spins in the guest after its pass (no exit): its 256 entries wait in its buffer.
    expect(synced.m.kvm!.stats.pml_sync_kicks).toBeGreaterThanOrEqual(2);

    const unsynced = hostMachine(true);
    expect(unsynced.m.run().exitStatus).toBe(1);
    const counts = passes({ steps: unsynced.migration.steps } as Run).map((s) => s.dirtyInRange!);
    // Only the vCPU that halted (an exit, which drained its buffer) is seen; CPU 0's pages are
    // drained after logging stops and dropped.
    expect(counts[0]).toBe(256);
    expect(counts[0] + counts[1]).toBeLessThan(1024);
    expect(unsynced.m.kvm!.stats.pml_sync_kicks).toBe(0);
  });
});

describe('schedules', () => {
  test('the syntax: every/passes or at, stop, suffixes, ranges', () => {
    expect(parseDirtyLogSchedule('start=1M,every=500k,passes=3')).toEqual({
      start: 1e6, passes: [1.5e6, 2e6, 2.5e6], stop: 2.5e6, slot: 0, protect: 1, ring: 0, range: undefined,
    });
    expect(parseDirtyLogSchedule('start=0x1000,at=5k/9k,stop=never,ring=4096,range=0x600000+512')).toEqual({
      start: 4096, passes: [5000, 9000], stop: undefined, slot: 0, protect: 0, ring: 4096, range: { gpa: 0x600000, pages: 512 },
    });
    for (const [text, message] of [
      ['every=1M', /start= is required/],
      ['start=1M,every=1M,at=2M', /not both/],
      ['start=1M,at=3M/2M', /must increase/],
      ['start=1M,every=1M,stop=1500k', /stop= must not come before/],
      ['start=1M,every=1M,ring=1024,protect=1', /protect= is for the bitmap/],
      ['start=1M,every=1M,range=0x600001+5', /4 KiB-aligned/],
      ['start=1M,every=1M,start=2M', /given twice/],
    ] as const) expect(parseDirtyLogSchedule(text)).toMatch(message);
  });

  test.each([
    ['start=1M,every=1M,bogus=1', /--dirty-log: unknown key "bogus"/],
    ['start=1M,every=1M,ring=1000', /--dirty-log: ring=1000: ring size 1000: a power of two/],
    ['start=1M,every=1M,slot=9', /--dirty-log: slot 9: no such memslot/],
  ])('a usage error, no stack trace: %s', (schedule, message) => {
    const r = runCli(['run', IMAGE, '--mmu', 'tdp', '--max-insns', '1', '--dirty-log', schedule]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  test('bare mode has no dirty logging to drive', () => {
    const r = runCli(['run', IMAGE, '--max-insns', '1', '--dirty-log', 'start=1M,every=1M']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/needs a virtualized --mmu/);
  });
});
