/**
 * `mmulab replay cr0wp`: the bug cf9f4c0eb169 fixed (KVM's emulator judging a supervisor write by a
 * stale CR0.WP), before and after, and the shape checks failing when "before" has the fix.
 */
import { describe, expect, test } from 'vitest';
import { REPLAYS } from '../../emulator/cli/replays.js';
import { replayOne } from '../../emulator/cli/replay-command.js';

describe('mmulab replay cr0wp', () => {
  const r = REPLAYS.find((x) => x.name === 'cr0wp')!;

  test('before, the emulated writes fail in both TDP MMUs on VMX only; after, the guest passes everywhere', () => {
    const res = replayOne(r, undefined);
    expect(res.failedRun).toBeUndefined();
    expect(res.shapes.map((s) => s.holds)).toEqual([true, true, true]);
    expect(res.shapes[0].measured).toBe('tdp 3, legacy-tdp 3, shadow 1');
  }, 120_000);

  test('negative control: the shapes fail when "before" is kvm-6.4 with the refresh', () => {
    const res = replayOne({ ...r, settings: [r.settings[1], r.settings[1], r.settings[2]] }, undefined);
    expect(res.failedRun).toBeUndefined();
    expect(res.shapes.map((s) => s.holds)).toEqual([false, true, true]);
  }, 120_000);
});
