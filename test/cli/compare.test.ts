import { describe, expect, test } from 'vitest';
import { existsSync } from 'node:fs';
import { runCli } from './cli.js';
import { comparableOutput } from '../../emulator/cli/guest-values.js';

/** `mmulab compare`: one table for every mode, and agreement checked on what must agree. */
describe('mmulab compare', () => {
  test.skipIf(!existsSync('build/guests/memtouch.flat'))('runs a guest in every mode; the modes agree, with status 1', () => {
    const r = runCli(['compare', 'build/guests/memtouch.flat', '--append', '1', '--json']);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout) as { modes: Array<{ mode: string; status: number; sameOutputAsFirst: boolean; kvm: Record<string, number> | null }> };
    expect(j.modes.map((m) => m.mode)).toEqual(['bare', 'shadow', 'legacy-tdp', 'tdp']);
    for (const m of j.modes) {
      expect(m.status, m.mode).toBe(1);
      expect(m.sameOutputAsFirst, m.mode).toBe(true);
    }
    expect(j.modes[0].kvm).toBeNull();
    expect(j.modes[1].kvm!.pf_taken).toBeGreaterThan(0);
  });

  test('printk timestamps and ignored lines are left out of the agreement check', () => {
    const bare = '[    0.100000] Linux version 6.1\ntsc: Detected 1000.000 MHz processor\ncpuid 14\nok\n';
    const virt = '[    2.500000] Linux version 6.1\ntsc: Detected 999.912 MHz processor\ncpuid 2164\nok\n';
    expect(comparableOutput(bare, [])).not.toBe(comparableOutput(virt, []));
    expect(comparableOutput(bare, [/^tsc: /])).toBe(comparableOutput(virt, [/^tsc: /]));
    expect(comparableOutput('FAIL: x\n', [/^tsc: /])).not.toBe(comparableOutput('PASS: x\n', [/^tsc: /]));
  });

  test('--ignore-lines takes a regular expression', () => {
    const r = runCli(['compare', 'build/guests/hello.flat', '--ignore-lines', '(']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--ignore-lines: not a regular expression/);
  });
});
