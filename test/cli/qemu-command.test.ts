/**
 * `mmulab qemu` and scripts/qemu-system-x86_64 end to end: our port's kvm-unit-tests images
 * (build/kvm-unit-tests/) booted from the command line upstream's x86/run builds, with the verdict
 * and the guest's PASS/FAIL lines checked against QEMU TCG given the very same arguments; the
 * probes run_tests.sh makes (a missing kernel, the device list), and a refusal.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ExitStatus } from '../../emulator/cli/exit-status.js';
import { REPO, hasStackTrace, runCli } from './cli.js';
import { QEMU_BINARY, qemuAvailable } from '../helpers/qemu.js';

const IMAGES = join(REPO, 'build/kvm-unit-tests');
const SCRIPT = join(REPO, 'scripts/qemu-system-x86_64');

/** x86/run's line (arch-run.bash), before -kernel. */
const X86_RUN = ['--no-reboot', '-nodefaults', '-global', 'kvm-pit.lost_tick_policy=discard', '-device', 'pc-testdev',
  '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-display', 'none', '-serial', 'stdio'];

/** The verdict lines a kvm-unit-tests guest prints. */
const verdictLines = (out: string): string[] => out.split('\n').map((l) => l.trimEnd()).filter((l) => /^(PASS|FAIL|SKIP|SUMMARY): /.test(l));

function qemu(args: readonly string[]): { status: number | null; stdout: string } {
  const r = spawnSync(QEMU_BINARY, args, { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout };
}

describe('mmulab qemu on upstream-style command lines', () => {
  const cases: { name: string; args: string[] }[] = [
    { name: 'smptest with -smp 2', args: ['-kernel', join(IMAGES, 'smptest.flat'), '-smp', '2'] },
    { name: 'pku with -cpu max', args: ['-kernel', join(IMAGES, 'pku.flat'), '-smp', '1', '-cpu', 'max'] },
    { name: 'vmexit cpuid with -append and -m', args: ['-kernel', join(IMAGES, 'vmexit.flat'), '-smp', '1', '-append', 'cpuid iterations=64', '-m', '256'] },
  ];

  test.each(cases)('$name: the same verdict and PASS/FAIL lines as QEMU TCG, in bare (tcg) and tdp', ({ args }) => {
    expect(qemuAvailable()).toBe(true);
    const reference = qemu([...X86_RUN, '-machine', 'accel=tcg', ...args]);
    expect(reference.status).toBe(1);
    const expected = verdictLines(reference.stdout);
    expect(expected.length).toBeGreaterThan(0);
    for (const accel of ['accel=tcg', 'accel=tcg,mmu=tdp']) {
      const r = runCli(['qemu', ...X86_RUN, '-machine', accel, ...args]);
      expect(r.status).toBe(reference.status);
      expect(verdictLines(r.stdout)).toEqual(expected);
      // only warnings on stderr, which run_tests.sh accepts beside status 1
      for (const line of r.stderrLines) expect(line).toMatch(/^mmulab: warning: /);
    }
  });

  test('the script answers run_tests.sh\'s probes and runs a test', () => {
    const help = spawnSync(SCRIPT, ['-h'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout.split('\n')[0]).toMatch(/^QEMU emulator version \d+\.\d+\.\d+/);
    const devices = spawnSync(SCRIPT, ['-device', '?'], { encoding: 'utf8' });
    expect(devices.stdout).toContain('"pc-testdev"');
    // the premature-failure probe: a missing kernel, in QEMU's words, after every option was accepted
    const probe = spawnSync(SCRIPT, [...X86_RUN, '-machine', 'accel=tcg', '-kernel', '_NO_FILE_4Uhere_', '-smp', '2'], { encoding: 'utf8' });
    expect(probe.status).toBe(ExitStatus.BAD_IMAGE);
    expect(probe.stderr).toBe('mmulab: could not open kernel file \'_NO_FILE_4Uhere_\': No such file or directory\n');
    const run = spawnSync(SCRIPT, [...X86_RUN, '-machine', 'accel=kvm', '-kernel', join(IMAGES, 'smptest.flat'), '-smp', '3'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/^SUMMARY: /m);
  });

  test('through mmulab\'s own parser, -h, -version and help words reach the front end (not yargs)', () => {
    expect(runCli(['qemu', '-h']).stdout.split('\n')[0]).toMatch(/^QEMU emulator version /);
    expect(runCli(['qemu', '-version']).stdout).toMatch(/^QEMU emulator version /);
    expect(runCli(['qemu', '-M', 'pc', '-cpu', 'help']).stdout).toMatch(/^Available CPUs:\nx86 max\n/);
    expect(runCli(['qemu', '-device', 'help']).stdout).toContain('name "pc-testdev", bus ISA');
  });

  test('a refusal is one line and status 2, through both entries', () => {
    const args = [...X86_RUN, '-kernel', join(IMAGES, 'smptest.flat'), '-cpu', 'max,+vmx'];
    const viaCli = runCli(['qemu', ...args]);
    expect(viaCli.status).toBe(ExitStatus.USAGE);
    expect(viaCli.stderrLines).toEqual(['mmulab: -cpu: CPU feature "vmx" is not implemented by mmulab (see mmulab --help)']);
    const viaScript = spawnSync(SCRIPT, args, { encoding: 'utf8' });
    expect(viaScript.status).toBe(ExitStatus.USAGE);
    expect(viaScript.stderr).toBe('mmulab: -cpu: CPU feature "vmx" is not implemented by mmulab (see mmulab qemu -h)\n');
    expect(hasStackTrace(viaScript.stderr + viaCli.stderr)).toBe(false);
    // An option the front end does not know: the pointer to the help is said once.
    const unknown = spawnSync(SCRIPT, [...args.slice(0, -2), '-overcommit', 'cpu-pm=on'], { encoding: 'utf8' });
    expect(unknown.status).toBe(ExitStatus.USAGE);
    expect(unknown.stderr).toBe('mmulab: option -overcommit is not supported by mmulab (see mmulab qemu -h)\n');
  });
});
