/**
 * `mmulab test --upstream DIR` end to end on a tree laid out like kvm-unit-tests (DIR/x86/
 * unittests.cfg and DIR/x86/*.flat), built here from our port's images: the table, the SKIP
 * reasons (upstream's own skips and what mmulab refuses), the exit status, --list.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ExitStatus } from '../../emulator/cli/exit-status.js';
import { REPO, runCli } from './cli.js';

let dir: string;

const CFG = `[smptest]
file = smptest.flat
smp = 2

[pku]
file = pku.flat
arch = x86_64
qemu_params = -cpu max

[wants-vmx]
file = smptest.flat
qemu_params = -cpu max,+vmx

[gone]
file = gone.flat

[only32]
file = smptest.flat
arch = i386

[manual]
file = smptest.flat
groups = nodefault
`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmulab-upstream-test-'));
  mkdirSync(join(dir, 'x86'));
  for (const f of ['smptest.flat', 'pku.flat']) copyFileSync(join(REPO, 'build/kvm-unit-tests', f), join(dir, 'x86', f));
  writeFileSync(join(dir, 'x86/unittests.cfg'), CFG);
});
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

describe('mmulab test --upstream', () => {
  test('each x86_64 entry in each mode, with the reasons for SKIPs; nodefault and i386 entries left out', () => {
    const r = runCli(['test', '--upstream', dir, '--mmu', 'bare,shadow']);
    expect(r.stderr).toBe('');
    const cfg = join(dir, 'x86/unittests.cfg');
    expect(r.stdout.split('\n')).toEqual([
      `4 tests x 2 modes from ${cfg} (vendor vmx, preset current, backing 2m)`,
      'test       bare    shadow',
      'smptest    PASS    PASS',
      // KVM hides PKU from a guest without TDP (shadow): the guest's own SKIP
      'pku        PASS    SKIP',
      'wants-vmx  SKIP    SKIP',
      'gone       SKIP    SKIP',
      'skipped:',
      expect.stringMatching(/^ {2}pku: SKIP: /),
      '  wants-vmx: mmulab: -cpu: CPU feature "vmx" is not implemented by mmulab (see mmulab qemu -h)',
      `  gone: test file '${join(dir, 'x86/gone.flat')}' not found`,
      'SUMMARY: 8 runs: 3 PASS, 0 FAIL, 5 SKIP, 0 ERROR; all as expected',
      expect.stringMatching(/^TIME: /),
      '',
    ]);
    expect(r.status).toBe(0);
  });

  test('a nodefault entry runs when named; --list prints the command lines', () => {
    const r = runCli(['test', '--upstream', dir, '--mmu', 'tdp', 'manual']);
    expect(r.stdout).toMatch(/^manual {2}PASS$/m);
    const list = runCli(['test', '--upstream', dir, '--mmu', 'tdp', '--list', 'smptest']);
    expect(list.stdout).toBe(`smptest: mmulab qemu --no-reboot -nodefaults -global kvm-pit.lost_tick_policy=discard -device pc-testdev -device isa-debug-exit,iobase=0xf4,iosize=0x4 -display none -serial stdio -machine accel=tcg,mmu=tdp,vendor=vmx,preset=current,backing=2m -kernel ${join(dir, 'x86/smptest.flat')} -smp 2 -initrd $KVM_UNIT_TESTS_ENV\n`);
  });

  test('--show-output prints a passing run\'s guest output after the table, once per test and mode', () => {
    const r = runCli(['test', '--upstream', dir, '--mmu', 'bare,tdp', '--show-output', 'smptest']);
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    const at = lines.indexOf('output:');
    expect(at).toBeGreaterThan(lines.indexOf('smptest  PASS    PASS'));
    const bare = lines.indexOf('  smptest in bare: PASS');
    const tdp = lines.indexOf('  smptest in tdp: PASS');
    expect(bare).toBe(at + 1);
    expect(tdp).toBeGreaterThan(bare + 1);
    // Between the headings, the bare run's own lines, the guest's summary among them.
    const guest = lines.slice(bare + 1, tdp);
    expect(guest.every((l) => l.startsWith('    | '))).toBe(true);
    expect(guest.some((l) => /SUMMARY/.test(l))).toBe(true);
    // Without the option the table has no output block (the first case checks the whole text).
    expect(runCli(['test', '--upstream', dir, '--mmu', 'bare', 'smptest']).stdout).not.toMatch(/^output:$/m);
  });

  test('the timeout counts CPU seconds; a run that reaches it is a FAIL and the status 20', () => {
    const spin = join(dir, 'spin');
    mkdirSync(join(spin, 'x86'), { recursive: true });
    copyFileSync(join(REPO, 'build/kvm-unit-tests/vmexit.flat'), join(spin, 'x86/vmexit.flat'));
    writeFileSync(join(spin, 'x86/unittests.cfg'), '[spin]\nfile = vmexit.flat\ntest_args = \'cpuid iterations=2000000000\'\ntimeout = 1s\n');
    const r = runCli(['test', '--upstream', spin, '--mmu', 'tdp']);
    expect(r.stdout).toMatch(/^spin {2}FAIL!$/m);
    expect(r.stdout).toContain('  spin in tdp: FAIL (timeout: 1 s of CPU), expected PASS\n');
    expect(r.status).toBe(ExitStatus.TESTS_UNEXPECTED);
  });

  test('a missing tree is a bad input (status 4), a name that selects nothing a usage error', () => {
    const missing = runCli(['test', '--upstream', join(dir, 'nope')]);
    expect(missing.status).toBe(ExitStatus.BAD_IMAGE);
    expect(missing.stderrLines).toEqual([`mmulab: cannot read unittests.cfg ${join(dir, 'nope/x86/unittests.cfg')}: no such file or directory`]);
    const none = runCli(['test', '--upstream', dir, 'nosuchtest']);
    expect(none.status).toBe(ExitStatus.USAGE);
  });
});
