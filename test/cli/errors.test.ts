/**
 * Bad command lines and bad images: one line on stderr, never a stack trace, the documented
 * exit status (emulator/cli/exit-status.ts).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ExitStatus } from '../../emulator/cli/exit-status.js';
import { type CliResult, GUESTS, hasStackTrace, runCli } from './cli.js';
import { haltCode, tempDir, tinyElf32, writeImage } from './tiny-image.js';

const HELLO = join(GUESTS, 'hello.flat');
let dir: string;

beforeAll(() => {
  dir = tempDir();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function expectOneLineError(args: string[], status: ExitStatus, pattern: RegExp): CliResult {
  const r = runCli(args);
  expect(r.stderrLines, r.stderr).toHaveLength(1);
  expect(r.stderrLines[0]).toMatch(/^mmulab: /);
  expect(r.stderrLines[0]).toMatch(pattern);
  expect(hasStackTrace(r.stderr)).toBe(false);
  expect(r.stdout).toBe('');
  expect(r.status).toBe(status);
  return r;
}

describe('bad images exit with BAD_IMAGE in one line', () => {
  test('a missing file', () => {
    expectOneLineError(['run', join(dir, 'no-such.elf')], ExitStatus.BAD_IMAGE, /cannot read image .*no-such\.elf: no such file or directory/);
  });

  test('a directory', () => {
    const sub = join(dir, 'a-directory');
    mkdirSync(sub, { recursive: true });
    expectOneLineError(['run', sub], ExitStatus.BAD_IMAGE, /is a directory/);
  });

  test('a truncated ELF (program headers cut off)', () => {
    const cut = writeImage(dir, 'truncated.flat', readFileSync(HELLO).subarray(0, 100));
    expectOneLineError(['run', cut], ExitStatus.BAD_IMAGE, /truncated/);
  });

  test('a file that is not ELF', () => {
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'This is a text file, not a kernel image.\n'.repeat(4));
    expectOneLineError(['run', text], ExitStatus.BAD_IMAGE, /not an ELF file/);
  });

  test('an ELF without a multiboot header', () => {
    const img = writeImage(dir, 'no-multiboot.elf', tinyElf32(haltCode(), { multiboot: false }));
    expectOneLineError(['run', img], ExitStatus.BAD_IMAGE, /no multiboot header/);
  });

  test('a segment beyond RAM names the RAM size', () => {
    const img = writeImage(dir, 'high.elf', tinyElf32(haltCode(), { loadAddr: 0xa0000000 }));
    expectOneLineError(['run', img, '--mem', '2048'], ExitStatus.BAD_IMAGE, /does not fit in 2048 MiB of RAM/);
  });

  test('an unreadable --initrd', () => {
    expectOneLineError(['run', HELLO, '--initrd', join(dir, 'no-such.img')], ExitStatus.BAD_IMAGE, /cannot read initrd/);
  });

  test('with --json the error is one JSON line', () => {
    const r = runCli(['run', join(dir, 'no-such.elf'), '--json']);
    expect(r.stderrLines).toHaveLength(1);
    expect(JSON.parse(r.stderrLines[0])).toMatchObject({ error: 'bad-image', status: ExitStatus.BAD_IMAGE });
    expect(r.status).toBe(ExitStatus.BAD_IMAGE);
  });
});

describe('bad command lines exit with USAGE in one line with a hint to --help', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown option', ['run', HELLO, '--bogus'], /unknown option --bogus/],
    ['an unknown short option', ['run', HELLO, '-x'], /unknown option -x/],
    ['an unknown command', ['frobnicate', HELLO], /unknown command "frobnicate"/],
    ['no command', [], /no command given/],
    ['a missing IMAGE', ['run'], /missing/],
    ['an extra argument', ['run', HELLO, 'extra'], /unexpected argument "extra"/],
    ['a non-numeric --mem', ['run', HELLO, '--mem', 'lots'], /--mem: expected a whole number of MiB from 2 to 3072, got "lots"/],
    ['a --mem too small', ['run', HELLO, '--mem', '1'], /--mem: .*got "1"/],
    ['a fractional --mem', ['run', HELLO, '--mem', '1.5'], /--mem: .*got "1.5"/],
    ['a --mem without a value', ['run', HELLO, '--mem'], /--mem needs a value/],
    ['a --mem given twice', ['run', HELLO, '--mem', '64', '--mem', '32'], /--mem given more than once/],
    ['a zero --max-insns', ['run', HELLO, '--max-insns', '0'], /--max-insns: .*got "0"/],
    ['a negative --trace', ['run', HELLO, '--trace', '-3'], /--trace/],
    ['--trace-always without --trace', ['run', HELLO, '--trace-always'], /--trace-always needs --trace/],
  ];
  test.each(cases)('%s', (_name, args, pattern) => {
    const r = expectOneLineError(args, ExitStatus.USAGE, pattern);
    expect(r.stderrLines[0]).toMatch(/\(see mmulab --help\)$/);
  });
});

describe('help and version', () => {
  test('--help prints the usage on stdout and exits 0', () => {
    const r = runCli(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: mmulab <command>/);
    expect(r.stdout).toMatch(/mmulab run \[image\]/);
    expect(r.stderr).toBe('');
  });

  test('run --help lists the run options', () => {
    const r = runCli(['run', '--help']);
    expect(r.status).toBe(0);
    for (const o of ['--append', '--initrd', '--mem', '--max-insns', '--trace', '--trace-always', '--stats', '--json']) expect(r.stdout).toContain(o);
  });

  test('--version prints the package version', () => {
    const r = runCli(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('an internal error (a bug in mmulab)', () => {
  /**
   * A preloaded module that makes Vm.run throw, as a bug inside the emulator would. The built CLI
   * is one bundle (scripts/bundle-cli.mjs) with its own copy of vm.js, out of a preload's reach,
   * so the preload breaks performance.now, which Vm.run calls first.
   */
  function breakVm(): string[] {
    const preload = join(dir, 'break-vm.mjs');
    writeFileSync(preload, 'performance.now = function () { throw new TypeError("simulated emulator bug"); };\n');
    return ['--import', pathToFileURL(preload).href];
  }

  test('is one line and INTERNAL, without a stack trace', () => {
    const r = runCli(['run', HELLO], {}, breakVm());
    expect(r.stderrLines).toEqual(['mmulab: internal error: TypeError: simulated emulator bug']);
    expect(r.status).toBe(ExitStatus.INTERNAL);
  });

  test('prints the stack only with MMULAB_DEBUG=1', () => {
    const r = runCli(['run', HELLO], { MMULAB_DEBUG: '1' }, breakVm());
    expect(r.stderrLines[0]).toBe('mmulab: internal error: TypeError: simulated emulator bug');
    expect(hasStackTrace(r.stderr)).toBe(true);
    expect(r.status).toBe(ExitStatus.INTERNAL);
  });
});
