/**
 * `--smp N` from the command line: the smp guest passes in every MMU mode, the JSON report has a
 * row per vCPU whose KVM counters add up to the VM's, --stats prints the per-vCPU lines, and the
 * same SMP run twice gives the same report (wall time aside).
 */
import { describe, expect, test } from 'vitest';
import { GUESTS, runCli } from './cli.js';

const SMP = `${GUESTS}smp.flat`;

function report(args: readonly string[]): Record<string, unknown> {
  const r = runCli(['run', SMP, '--json', ...args]);
  expect(r.status).toBe(1);
  expect(r.stdout).not.toMatch(/FAIL/);
  const json = JSON.parse(r.stderr) as Record<string, unknown>;
  delete json.wallMs;
  delete json.mips;
  return json;
}

describe('mmulab run --smp', () => {
  test.each(['bare', 'shadow', 'legacy-tdp', 'tdp'])('the smp guest with 2 CPUs passes under --mmu %s with the checker on', (mode) => {
    const r = runCli(['run', SMP, '--smp', '2', '--mmu', mode, ...(mode === 'bare' ? [] : ['--audit'])]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/SUMMARY: \d+ tests/);
    expect(r.stdout).not.toMatch(/FAIL/);
  });

  test('--json has a row per vCPU, and their KVM counters add up to the VM\'s', () => {
    const json = report(['--smp', '3', '--mmu', 'tdp']);
    const cpus = json.cpus as { cpu: number; instructions: number; kvm: Record<string, number> }[];
    expect(cpus.map((c) => c.cpu)).toEqual([0, 1, 2]);
    expect(cpus.reduce((n, c) => n + c.instructions, 0)).toBe(json.instructions);
    const kvm = json.kvm as Record<string, number>;
    expect(cpus.reduce((n, c) => n + (c.kvm.exits ?? 0), 0)).toBe(kvm.exits);
    expect(cpus.every((c) => (c.kvm.exits ?? 0) > 0)).toBe(true);
  });

  test('--stats prints a line per vCPU', () => {
    const r = runCli(['run', SMP, '--smp', '2', '--mmu', 'shadow', '--stats']);
    expect(r.stderrLines.filter((l) => /^mmulab: cpu \d: \d+ instructions, \d+ modeled cycles \(\d+ halted\); kvm: exits=\d+/.test(l))).toHaveLength(2);
  });

  test('the same SMP run twice gives the same JSON report, in every mode', () => {
    for (const mode of ['bare', 'shadow', 'tdp']) {
      expect(report(['--smp', '4', '--mmu', mode])).toEqual(report(['--smp', '4', '--mmu', mode]));
    }
  });
});
