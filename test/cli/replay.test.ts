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
      [['replay', 'z'], /^mmulab: replay: unknown thread "z" \(known: a, c, all\)/],
      [['replay'], /^mmulab: replay: name a thread/],
    ] as const) {
      const r = runCli(args);
      expect(r.status).toBe(ExitStatus.USAGE);
      expect(r.stderrLines[0]).toMatch(message);
    }
  });
});
