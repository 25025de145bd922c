/** Command-line parsing and error classification, in process (no spawning). */
import { describe, expect, test } from 'vitest';
import { parseCommandLine } from '../../emulator/cli/args.js';
import type { Command } from '../../emulator/cli/command.js';
import { InputError, UsageError, classify, fileError, oneLine } from '../../emulator/cli/errors.js';
import { ExitStatus } from '../../emulator/cli/exit-status.js';
import { COMMANDS } from '../../emulator/cli/commands.js';
import type { RunOptions } from '../../emulator/cli/run-args.js';
import { ImageError } from '../../emulator/machine/elf.js';



async function runOptions(...args: string[]): Promise<RunOptions> {
  const parsed = await parseCommandLine(args, COMMANDS);
  expect(parsed?.command.name).toBe('run');
  return parsed!.options as RunOptions;
}

async function usageError(...args: string[]): Promise<string> {
  try {
    await parseCommandLine(args, COMMANDS);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`no usage error for ${args.join(' ')}`);
}

import { parseCpuSpec } from '../../emulator/cpu/cpu-spec.js';
import { resolveKnobs } from '../../mmu/knobs.js';

describe('mmulab run options', () => {
  test('defaults', async () => {
    expect(await runOptions('run', 'k.elf')).toEqual({
      image: 'k.elf', append: '', initrd: undefined, memMiB: 128, maxInsns: undefined, smp: 1, quantum: 1000,
      trace: 0, traceAlways: false, stats: false, json: false, cpu: parseCpuSpec('base'),
      mmu: 'bare', vendor: 'vmx', preset: 'current', knobs: resolveKnobs('current'), audit: false, auditEvery: 1, backing: '2m',
      gdb: undefined, gdbWait: false, kvmStat: false,
    });
  });

  test('every option', async () => {
    expect(await runOptions('run', '--mem', '64', 'k.elf', '--append', 'a b  c', '--initrd', 'm.bin', '--max-insns', '1000000',
      '--trace', '20', '--trace-always', '--stats', '--json', '--cpu', 'max,-pku', '--phys-bits', '36', '--mmu', 'tdp',
      '--vendor', 'svm', '--preset', 'kvm-6.3', '--knob', 'mmioGenBits=3', '--knob', 'roleChangePolicy=current', '--audit', '--backing', '4k',
      '--smp', 'cpus=4', '--quantum', '500')).toEqual({
      image: 'k.elf', append: 'a b  c', initrd: 'm.bin', memMiB: 64, maxInsns: 1_000_000, smp: 4, quantum: 500,
      trace: 20, traceAlways: true, stats: true, json: true, cpu: parseCpuSpec('max,-pku', 36),
      mmu: 'tdp', vendor: 'svm', preset: 'kvm-6.3', knobs: resolveKnobs('kvm-6.3', ['mmioGenBits=3', 'roleChangePolicy=current']), audit: true, auditEvery: 1, backing: '4k',
      gdb: undefined, gdbWait: false, kvmStat: false,
    });
  });

  test('--smp takes N or cpus=N from 1 to 64', async () => {
    expect((await runOptions('run', 'k.elf', '--smp', '64')).smp).toBe(64);
    expect(await usageError('run', 'k.elf', '--smp', '65')).toBe('--smp: expected a whole number from 1 to 64, got "65"');
    expect(await usageError('run', 'k.elf', '--smp', '2,sockets=2')).toBe('--smp: expected N or cpus=N (1-64), got "2,sockets=2"');
  });

  test('--audit-every N turns the checker on for every Nth exit', async () => {
    expect(await runOptions('run', 'k.elf', '--audit-every', '1000')).toMatchObject({ audit: true, auditEvery: 1000 });
    expect(await usageError('run', 'k.elf', '--audit-every', '0')).toBe('--audit-every: expected a whole number from 1 to 1000000000, got "0"');
  });

  test('--append takes a value that looks like an option with =', async () => {
    expect((await runOptions('run', 'k.elf', '--append=-v')).append).toBe('-v');
    expect((await runOptions('run', 'k.elf', '--append', '42')).append).toBe('42');
  });

  test('options may come before the command word', async () => {
    expect((await runOptions('--mem', '32', 'run', 'k.elf')).memMiB).toBe(32);
  });

  test('bad values name the option and the value', async () => {
    expect(await usageError('run', 'k.elf', '--mem', '3073')).toBe('--mem: expected a whole number of MiB from 2 to 3072, got "3073"');
    expect(await usageError('run', 'k.elf', '--mem', '')).toMatch(/^--mem: .*got ""$/);
    expect(await usageError('run', 'k.elf', '--trace', '100001')).toMatch(/^--trace: .*got "100001"$/);
    expect(await usageError('run', 'k.elf', '--max-insns', 'many')).toMatch(/^--max-insns: .*got "many"$/);
    expect(await usageError('run', 'k.elf', '--append', 'a', '--append', 'b')).toBe('--append given more than once');
    expect(await usageError('run', 'k.elf', '--append')).toBe('option --append needs a value');
  });

  test('unknown options, commands and extra arguments', async () => {
    expect(await usageError('run', 'k.elf', '--frobnicate', 'tdp')).toMatch(/^unknown option --frobnicate$/);
    expect(await usageError('frob', 'k.elf')).toBe('unknown command "frob" (commands: run, compare, test, qemu, replay)');
    expect(await usageError('run', 'k.elf', '--mmu', 'ept')).toBe('--mmu: expected one of bare, shadow, legacy-tdp, tdp, got "ept"');
    expect(await usageError('run', 'k.elf', '--vendor', 'arm')).toBe('--vendor: expected vmx, svm or svm-hv, got "arm"');
    expect(await usageError('run', 'k.elf', '--preset', 'kvm-2.6')).toMatch(/^--preset: unknown preset "kvm-2.6"/);
    expect(await usageError('run', 'k.elf', '--knob', 'mmioGenBits=40')).toMatch(/^--knob: knob mmioGenBits is a whole number/);
    expect(await usageError('run', 'k.elf', '--knob', 'nosuch=1')).toMatch(/^--knob: unknown knob "nosuch"/);
    expect(await usageError('compare', 'k.elf', '--mmu', 'bare,ept')).toMatch(/^--mmu: unknown mode "ept"/);
    expect(await usageError('run', 'k.elf', 'k2.elf')).toBe('unexpected argument "k2.elf"');
    expect(await usageError('run', 'k.elf', '--', 'k2.elf')).toBe('unexpected argument "k2.elf"');
    expect(await usageError('run')).toBe('missing IMAGE (or --kernel FILE)');
    expect(await usageError('run', 'k.elf', '--kernel', 'v')).toBe('give the kernel either as IMAGE or with --kernel, not both');
    expect(await usageError()).toBe('no command given (commands: run, compare, test, qemu, replay)');
  });
});

describe('error classification', () => {
  test('usage errors get the --help hint', () => {
    expect(classify(new UsageError('unknown option --x'))).toEqual({ status: ExitStatus.USAGE, kind: 'usage', message: 'unknown option --x (see mmulab --help)' });
  });

  test('image errors and file-system errors are BAD_IMAGE', () => {
    expect(classify(new ImageError('k.elf: not an ELF file'))).toMatchObject({ status: ExitStatus.BAD_IMAGE, message: 'k.elf: not an ELF file' });
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open 'k.elf'"), { code: 'ENOENT' });
    const e = fileError('image', 'k.elf', enoent);
    expect(e).toBeInstanceOf(InputError);
    expect(classify(e)).toMatchObject({ status: ExitStatus.BAD_IMAGE, message: 'cannot read image k.elf: no such file or directory' });
    const eio = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    expect(fileError('image', 'k.elf', eio).message).toBe('cannot read image k.elf: i/o error');
  });

  test('anything else is an internal error in one line', () => {
    expect(classify(new TypeError('x is not a function\n  more'))).toEqual({
      status: ExitStatus.INTERNAL, kind: 'internal', message: 'internal error: TypeError: x is not a function; more',
    });
    expect(classify('a string')).toMatchObject({ status: ExitStatus.INTERNAL, message: 'internal error: a string' });
  });

  test('oneLine', () => {
    expect(oneLine('Missing dependent arguments:\n trace-always -> trace\n')).toBe('Missing dependent arguments: trace-always -> trace');
  });
});
