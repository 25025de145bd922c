/**
 * `mmulab replay`: the lkml threads' decisions rerun before and after. The figures come from the
 * mechanism (presets and knobs), so the shape checks must hold on the real settings and must fail
 * when the "after" setting is the "before" one again.
 */
import { describe, expect, test } from 'vitest';
import { runCli } from './cli.js';
import { ExitStatus } from '../../emulator/cli/exit-status.js';
import { REPLAYS } from '../../emulator/cli/replays.js';
import { replayOne } from '../../emulator/cli/replay-command.js';

interface ReplayJson {
  replays: {
    name: string; holds: boolean; failedRun: string | null;
    settings: { label: string; figures: Record<string, number> }[];
    shapes: { describe: string; measured: string; holds: boolean }[];
  }[];
}

describe('mmulab replay', () => {
  test('lkml (a): tdp rebuilds a root per CR0.WP write before, and the three modes meet after', () => {
    const r = runCli(['replay', 'a', '--json'], {}, []);
    expect(r.status).toBe(0);
    const [a] = (JSON.parse(r.stdout) as ReplayJson).replays;
    expect(a.holds).toBe(true);
    const [before, after] = a.settings;
    // Two CR0 writes per iteration, 200 iterations: two roots each before, none after the first.
    expect(before.figures.tdp_roots).toBeGreaterThanOrEqual(400);
    expect(after.figures.tdp_roots).toBeLessThan(10);
    expect(before.figures.tdp_cycles).toBeGreaterThan(5 * before.figures.legacy_cycles);
    expect(a.shapes.every((s) => s.holds)).toBe(true);
  }, 120_000);

  test('lkml (b): walking shadow pages makes a slot creation cost grow with them; the generation bump is flat', () => {
    const r = runCli(['replay', 'b', '--json']);
    expect(r.status).toBe(0);
    const [b] = (JSON.parse(r.stdout) as ReplayJson).replays;
    const [before96, after96, before4, after4] = b.settings.map((s) => s.figures);
    // Each of the 16 creations walks every shadow page before: with 96 MiB touched at least the 44
    // more page tables of the 92 MiB more (one per 2 MiB, less the few the boot tables share); none after.
    expect(before96.shadow_walked - before4.shadow_walked).toBeGreaterThanOrEqual(16 * 40);
    expect(before96.shadow_walked).toBeGreaterThan(3 * before4.shadow_walked);
    expect(after96.shadow_walked + after4.shadow_walked).toBe(0);
    expect(before96.shadow_cycles).toBeGreaterThan(1.5 * before4.shadow_cycles);
    expect(after96.shadow_cycles).toBe(after4.shadow_cycles);
    expect(b.shapes.every((s) => s.holds)).toBe(true);
  }, 120_000);

  test('lkml (b): the shapes fail when "before" is the generation scheme again', () => {
    const b = REPLAYS.find((r) => r.name === 'b')!;
    const res = replayOne({ ...b, settings: [b.settings[1], b.settings[1], b.settings[3], b.settings[3]] }, undefined);
    expect(res.failedRun).toBeUndefined();
    expect(res.shapes.map((s) => s.holds)).toEqual([false, true, false]);
  }, 120_000);

  test('lkml (c): forced resets allocate a root each before, one root after', () => {
    const r = runCli(['replay', 'c', '--json']);
    expect(r.status).toBe(0);
    const [c] = (JSON.parse(r.stdout) as ReplayJson).replays;
    const [before, after] = c.settings;
    expect(before.figures.roots).toBeGreaterThan(1000);
    expect(after.figures.roots).toBe(1);
    expect(before.figures.cycles).toBeGreaterThan(2 * after.figures.cycles);
  }, 120_000);

  test('lkml (d): under Hyper-V without e5c972c1fada the guest walks a stale translation of its moved page table and faults', () => {
    const r = runCli(['replay', 'd']);
    expect(r.status).toBe(0);
    // The poisoned old page (0x6b bytes) read as the PTE: present with reserved address bits, error code P|RSVD.
    expect(r.stdout).toMatch(/^ {2}before \(kvm-6\.2, svm-hv\), tdp: status \d+: Unhandled exception 14 #PF at rip [0-9a-f]+, error code 9, cr2 200000000$/m);
    expect(r.stdout).toMatch(/^ {2}holds: after: the guest passes in both MMUs, with no stale hit and Hyper-V flushes of the root: 1, 1, 0 stale, [1-9]\d* flushes$/m);
  }, 120_000);

  test('lkml (d): the shapes fail when "before" has the fix', () => {
    const d = REPLAYS.find((r) => r.name === 'd')!;
    const res = replayOne({ ...d, settings: [d.settings[1], d.settings[1], d.settings[2]] }, undefined);
    expect(res.failedRun).toBeUndefined();
    expect(res.shapes.map((s) => s.holds)).toEqual([false, true, true]);
  }, 120_000);

  test('lkml (e): on the SME host, b14e28f37e9b fails KVM_RUN with the report\'s kind of SPTE; the fixed layout boots', () => {
    const r = runCli(['replay', 'e']);
    expect(r.status).toBe(0);
    // The MMIO SPTE of the dump: bits 43-51 (svm_adjust_mmio_mask on the reduced width), the generation's bit in 11, W/U/P.
    expect(r.stdout).toMatch(/^ {2}before \(b14e28f37e9b\), tdp: KVM_RUN failed: Invalid argument \(get_mmio_spte: detect reserved bits on spte, addr 0x10000000, dump hierarchy: .*spte 0xff8[0-9a-f]{7}8[0-9a-f]7 level 1\)$/m);
    expect(r.stdout).toMatch(/^ {2}holds: after: the guest passes \(status 1\): 1, 1$/m);
  }, 120_000);

  test('--host-sme is an AMD host with TDP', () => {
    expect(runCli(['run', 'build/guests/hello.flat', '--host-sme']).stderrLines[0]).toMatch(/^mmulab: --host-sme: SME is AMD's; it needs --vendor svm or svm-hv/);
    const shadow = runCli(['run', 'build/guests/hello.flat', '--host-sme', '--vendor', 'svm', '--mmu', 'shadow']);
    expect(shadow.status).toBe(ExitStatus.USAGE);
    expect(shadow.stderrLines[0]).toMatch(/^mmulab: --host-sme: the SME host is modeled with TDP/);
  });

  test('the shape checks fail when "after" is the "before" setting again', () => {
    const a = REPLAYS.find((r) => r.name === 'a')!;
    const res = replayOne({ ...a, settings: [a.settings[0], a.settings[0], a.settings[0]] }, undefined);
    expect(res.failedRun).toBeUndefined();
    expect(res.shapes.filter((s) => !s.holds).map((s) => s.describe)).toEqual([
      expect.stringMatching(/^after: the three modes within 20%/),
      expect.stringMatching(/^tdp before \/ after/),
      expect.stringMatching(/^as merged in 6.4/),
    ]);
  }, 120_000);

  test('negative control: lkml (a)\'s keep-roots proposal under shadow paging reuses a cached root without the flush a CR0.WP change needs', () => {
    // Paolo's proposal keeps roots across role changes. Under shadow paging the switch back to a
    // root cached for the other CR0.WP value comes without a TLB flush (issue 15's finding), so
    // the write with CR0.WP=1 to a read-only user page under SMAP goes through where it must fault.
    // Current KVM unloads the roots, and the guest passes.
    const args = ['run', 'build/guests/smep-smap-pku.flat', '--mmu', 'shadow', '--cpu', 'max'];
    const bad = runCli([...args, '--preset', 'lkml-a']);
    expect(bad.stdout).toMatch(/^FAIL: smep-smap-pku: SMAP, CR0\.WP=1, AC=1: write to a read-only user page #PF 0x3$/m);
    expect(bad.status).not.toBe(1);
    const good = runCli([...args, '--preset', 'current']);
    expect(good.stdout).not.toMatch(/^FAIL/m);
    expect(good.status).toBe(1);
  }, 120_000);

  test('unknown names and a missing name are usage errors', () => {
    for (const [args, message] of [
      [['replay', 'z'], /^mmulab: replay: unknown thread "z" \(known: a, b, c, d, e, cr0wp, all\)/],
      [['replay'], /^mmulab: replay: name a thread/],
    ] as const) {
      const r = runCli(args);
      expect(r.status).toBe(ExitStatus.USAGE);
      expect(r.stderrLines[0]).toMatch(message);
    }
  });
});
