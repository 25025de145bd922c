/**
 * `--translator off|on|force` and MMULAB_TRANSLATOR on the built CLI: a valid choice runs the
 * guest to the same output and instruction count as translation off; a bad value is a usage
 * error (one line, exit status 2, no stack trace).
 */
import { describe, expect, test } from 'vitest';
import { GUESTS, hasStackTrace, runCli } from '../cli/cli.js';
import { ExitStatus } from '../../emulator/cli/exit-status.js';

const HELLO = `${GUESTS}hello.flat`;

function instructions(stderr: string): string {
  const m = /([\d,]+) instructions/.exec(stderr);
  if (m === null) throw new Error(`no instruction count in: ${stderr}`);
  return m[1];
}

describe('--translator', () => {
  test('off, on and force give the same run', () => {
    const runs = ['off', 'on', 'force'].map((t) => runCli(['run', HELLO, '--stats', '--translator', t]));
    for (const r of runs) expect(r.status, r.stderr).toBe(1);
    expect(runs[1].stdout).toBe(runs[0].stdout);
    expect(runs[2].stdout).toBe(runs[0].stdout);
    expect(instructions(runs[2].stderr)).toBe(instructions(runs[0].stderr));
  });

  test('a bad --translator value is a usage error', () => {
    const r = runCli(['run', HELLO, '--translator', 'fast']);
    expect(r.status).toBe(ExitStatus.USAGE);
    expect(r.stderr).toMatch(/--translator: expected one of off, on, force, got "fast"/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  test('a bad MMULAB_TRANSLATOR is a usage error for test too', () => {
    const r = runCli(['test', 'smptest', '--mmu', 'bare'], { MMULAB_TRANSLATOR: 'yes' });
    expect(r.status).toBe(ExitStatus.USAGE);
    expect(r.stderr).toMatch(/MMULAB_TRANSLATOR: expected one of off, on, force, got "yes"/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });
});
