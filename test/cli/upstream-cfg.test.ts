/**
 * Upstream's unittests.cfg as `mmulab test --upstream` reads it (upstream-cfg.ts), the shell words
 * of its values and the command line an entry becomes (upstream-line.ts), on a small cfg written
 * here in upstream's format (no test may need a kvm-unit-tests tree).
 */
import { describe, expect, test } from 'vitest';
import { parseUnittestsCfg, timeoutMs } from '../../emulator/cli/upstream-cfg.js';
import { ShellWordsError, X86_RUN_OPTIONS, accelValue, shellWords, upstreamArgs } from '../../emulator/cli/upstream-line.js';
import { skipReason } from '../../emulator/cli/upstream-run.js';
import { parseQemuArgs } from '../../emulator/cli/qemu-args.js';
import { kvmOptions } from '../../emulator/cli/kvm-args.js';

const CFG = `##############################################################################
# unittest configuration
# file = <name>.flat            # x86 uses .flat files
##############################################################################

[smptest3]
file = smptest.flat
smp = 3

[vmexit_ipi]
file = vmexit.flat
smp = 2
test_args = 'ipi'
qemu_params = -machine pit=off
groups = vmexit

#[init]
#file = init.flat

[access-reduced-maxphyaddr]
file = access_test.flat
arch = x86_64
qemu_params = -cpu IvyBridge,phys-bits=36,host-phys-bits=off
check = /sys/module/kvm_intel/parameters/allow_smaller_maxphyaddr=Y

[svm]
file = svm.flat
test_args = "-pause_filter_test -svm_unsupported_instruction_intercept_test"
extra_params = -cpu max,+svm -m 4g
groups = svm nodefault
timeout = 2m
accel = kvm

[multi]
file = multi.flat
qemu_params = """-cpu max \\
  -m 256"""
unknown_key = ignored
[cmpxchg8b]
file = cmpxchg8b.flat
arch = i386
`;

describe('unittests.cfg', () => {
  const entries = parseUnittestsCfg(CFG);

  test('every entry with its fields as written; comments and unknown keys ignored', () => {
    expect(entries.map((e) => e.name)).toEqual(['smptest3', 'vmexit_ipi', 'access-reduced-maxphyaddr', 'svm', 'multi', 'cmpxchg8b']);
    expect(entries[0]).toMatchObject({ file: 'smptest.flat', smp: '3', testArgs: '', qemuParams: '', groups: [], arch: '', check: [], timeout: '' });
    expect(entries[1]).toMatchObject({ file: 'vmexit.flat', smp: '2', testArgs: '\'ipi\'', qemuParams: '-machine pit=off', groups: ['vmexit'] });
    expect(entries[2]).toMatchObject({ arch: 'x86_64', check: ['/sys/module/kvm_intel/parameters/allow_smaller_maxphyaddr=Y'], smp: '1' });
    expect(entries[3]).toMatchObject({ qemuParams: '-cpu max,+svm -m 4g', groups: ['svm', 'nodefault'], timeout: '2m', accel: 'kvm' });
    expect(shellWords(entries[4].qemuParams)).toEqual(['-cpu', 'max', '-m', '256']);
    expect(entries[5].arch).toBe('i386');
  });

  test('timeouts in upstream\'s units, 90 s by default', () => {
    expect(timeoutMs('')).toBe(90_000);
    expect(timeoutMs('30')).toBe(30_000);
    expect(timeoutMs('90s')).toBe(90_000);
    expect(timeoutMs(entries[3].timeout)).toBe(120_000);
  });

  test('shell words: quotes and escapes; expansions refused', () => {
    expect(shellWords('-append \'ipi\'')).toEqual(['-append', 'ipi']);
    expect(shellWords('-append "-a -b"  x\\ y')).toEqual(['-append', '-a -b', 'x y']);
    expect(shellWords('a \'\' b')).toEqual(['a', '', 'b']);
    expect(() => shellWords('"10000000 `date +%s`"')).toThrow(ShellWordsError);
    expect(() => shellWords('-smp $MAX_SMP')).toThrow(ShellWordsError);
    expect(() => shellWords('"open')).toThrow(ShellWordsError);
  });

  test('an entry\'s command line is run_tests.sh\'s, and the front end takes it', () => {
    const o = kvmOptions({ preset: 'kvm-6.3', knob: ['mmioGenBits=5'], backing: '4k' });
    const args = upstreamArgs(entries[1], '/kut/x86', 'shadow', o, '/tmp/env');
    expect(accelValue('shadow', o)).toBe('tcg,mmu=shadow,vendor=vmx,preset=kvm-6.3,backing=4k,knob=mmioGenBits=5');
    expect(args).toEqual([...X86_RUN_OPTIONS, '-machine', `accel=${accelValue('shadow', o)}`, '-kernel', '/kut/x86/vmexit.flat', '-smp', '2',
      '-append', 'ipi', '-machine', 'pit=off', '-initrd', '/tmp/env']);
    const r = parseQemuArgs(args);
    if (r.kind !== 'run') throw new Error('expected a run');
    expect(r.options).toMatchObject({ mmu: 'shadow', preset: 'kvm-6.3', backing: '4k', smp: 2, append: 'ipi', image: '/kut/x86/vmexit.flat', initrd: '/tmp/env' });
    expect(r.options.knobs).toEqual(o.knobs);
  });

  test('what upstream skips before starting QEMU', () => {
    expect(skipReason(entries[5], 'bare', '/nonexistent')).toBe('i386 only');
    expect(skipReason(entries[2], 'tdp', '/nonexistent')).toBe('/sys/module/kvm_intel/parameters/allow_smaller_maxphyaddr not equal to Y');
    // accel = kvm: not in bare (QEMU's tcg); in the virtualized modes the missing file decides
    expect(skipReason(entries[3], 'bare', '/nonexistent')).toBe('kvm only');
    expect(skipReason(entries[3], 'tdp', '/nonexistent')).toBe('test file \'/nonexistent/svm.flat\' not found');
  });
});
