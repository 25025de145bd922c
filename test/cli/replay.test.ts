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

  test('lkml (c): forced resets allocate a root each before, one root after', () => {
    const r = runCli(['replay', 'c', '--json']);
    expect(r.status).toBe(0);
    const [c] = (JSON.parse(r.stdout) as ReplayJson).replays;
    const [before, after] = c.settings;
    expect(before.figures.roots).toBeGreaterThan(1000);
    expect(after.figures.roots).toBe(1);
    expect(before.figures.cycles).toBeGreaterThan(2 * after.figures.cycles);
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

  test('threads not replayable yet, unknown names and a missing name are usage errors', () => {
    for (const [args, message] of [
      [['replay', 'd'], /^mmulab: replay d: not replayable yet: a guest-visible failure/],
      [['replay', 'z'], /^mmulab: replay: unknown thread "z" \(known: a, c, e, all\)/],
      [['replay'], /^mmulab: replay: name a thread/],
    ] as const) {
      const r = runCli(args);
      expect(r.status).toBe(ExitStatus.USAGE);
      expect(r.stderrLines[0]).toMatch(message);
    }
  });
});
