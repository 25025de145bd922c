/**
 * `run`, `compare` and `test` on an image of a checkout that is not built (npm run build ran,
 * npm run build:guests did not): with the toolchain the image is built by the project's make,
 * without it (PATH without make and gcc) the command fails with one line naming the command that
 * builds it and status 22; a make that fails is one line with the compiler's error. The checkout
 * is a temporary copy of the repository's layout (package.json, guests/, kvm-unit-tests-port/),
 * so the real build/ is never touched.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ExitStatus } from '../../emulator/cli/exit-status.js';
import { REPO, hasStackTrace, runCli } from './cli.js';

let checkout: string;
let noTools: string;
/** A PATH with no compiler, linker or make (node itself is started by its full path). */
let bare: Record<string, string>;

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'mmulab-images-'));
  checkout = join(dir, 'checkout');
  for (const part of ['package.json', 'guests', 'kvm-unit-tests-port']) cpSync(join(REPO, part), join(checkout, part), { recursive: true });
  noTools = join(dir, 'empty-path');
  mkdirSync(noTools);
  bare = { PATH: noTools };
});
afterAll(() => { rmSync(join(checkout, '..'), { recursive: true, force: true }); });

const image = (dir: string, name: string): string => join(checkout, 'build', dir, name);
const table = (): string => join(checkout, 'kvm-unit-tests-port', 'unittests.json');
const testArgs = (...names: string[]): string[] => ['test', ...names, '--table', table(), '--images', join(checkout, 'build', 'kvm-unit-tests'), '--mmu', 'bare,tdp'];

describe('a missing image without the toolchain', () => {
  const setup = (): string => `run ${join(checkout, 'scripts/setup-host.sh')}, then npm run build:guests in ${checkout}`;

  test('run: one line naming the commands that build it, status 22, nothing built', () => {
    const hello = image('guests', 'hello.flat');
    const r = runCli(['run', hello], bare);
    expect(r.stderrLines).toEqual([`mmulab: ${hello} is not built, and make, gcc, ld, objcopy are not installed to build it: ${setup()}`]);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(ExitStatus.IMAGE_NOT_BUILT);
    expect(existsSync(join(checkout, 'build'))).toBe(false);
  });

  test('compare: the same line and status', () => {
    const sieve = image('guests', 'sieve.flat');
    const r = runCli(['compare', sieve, '--append', '1'], bare);
    expect(r.stderrLines).toEqual([`mmulab: ${sieve} is not built, and make, gcc, ld, objcopy are not installed to build it: ${setup()}`]);
    expect(r.status).toBe(ExitStatus.IMAGE_NOT_BUILT);
  });

  test('test: one line for all the missing images instead of an error per run', () => {
    const r = runCli(testArgs('vmexit_cpuid', 'pcid-enabled', 'pcid-disabled'), bare);
    expect(r.stderrLines).toEqual([`mmulab: 2 images in ${join(checkout, 'build/kvm-unit-tests')} are not built, and make, gcc, ld, objcopy are not installed to build them: ${setup()}`]);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(ExitStatus.IMAGE_NOT_BUILT);
  });

  test('--json reports it as one JSON object', () => {
    const r = runCli(['run', image('guests', 'hello.flat'), '--json'], bare);
    expect(r.stderrLines).toHaveLength(1);
    expect(JSON.parse(r.stderr)).toMatchObject({ error: 'not-built', status: ExitStatus.IMAGE_NOT_BUILT });
    expect(r.status).toBe(ExitStatus.IMAGE_NOT_BUILT);
  });
});

describe('a missing image with the toolchain', () => {
  test('run builds it with make once, then boots it', () => {
    const hello = image('guests', 'hello.flat');
    const first = runCli(['run', hello]);
    expect(first.stderrLines).toEqual([`mmulab: built ${hello} (make -C ${join(checkout, 'guests')})`]);
    expect(first.stdout).toContain('Hello from mmulab guest\n');
    expect(first.stdout).toContain('PASS: hello: argv[0] present\n');
    expect(first.status).toBe(1);
    expect(existsSync(hello)).toBe(true);
    const again = runCli(['run', hello]);
    expect(again.stderr).toBe('');
    expect(again.stdout).toBe(first.stdout);
    expect(again.status).toBe(1);
  });

  test('compare builds a -m32 guest (32-bit libgcc) and runs it in each mode', () => {
    const paging32 = image('guests', 'paging-32.flat');
    const r = runCli(['compare', paging32, '--mmu', 'bare,tdp']);
    expect(r.stderrLines).toEqual([`mmulab: built ${paging32} (make -C ${join(checkout, 'guests')})`]);
    expect(r.stdout).toMatch(/^exit status +1 +1$/m);
    expect(r.stdout).toMatch(/^output vs bare +- +same$/m);
    expect(r.status).toBe(1);
  });

  test('test builds the missing images of the tests asked for, in one make, and runs them', () => {
    const r = runCli(testArgs('vmexit_cpuid', 'pcid-enabled'));
    expect(r.stderrLines).toEqual([`mmulab: built 2 images in ${join(checkout, 'build/kvm-unit-tests')} (make -C ${join(checkout, 'kvm-unit-tests-port')})`]);
    expect(r.stdout).toContain('vmexit_cpuid  PASS    PASS\n');
    expect(r.stdout).toContain('pcid-enabled  PASS    PASS\n');
    expect(r.status).toBe(0);
  });

  test('a make that fails is one line with the compiler\'s error, status 22', () => {
    mkdirSync(join(checkout, 'guests', 'broken'));
    writeFileSync(join(checkout, 'guests', 'broken', 'broken.c'), '#error deliberately broken\n');
    const broken = image('guests', 'broken.flat');
    const r = runCli(['run', broken]);
    expect(r.stderrLines).toEqual([
      `mmulab: cannot build ${broken}: make -C ${join(checkout, 'guests')} failed: broken/broken.c:1:2: error: #error deliberately broken `
        + `(${join(checkout, 'scripts/setup-host.sh')} installs the toolchain)`,
    ]);
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(r.status).toBe(ExitStatus.IMAGE_NOT_BUILT);
  });
});

describe('images that are not built by make', () => {
  test('a file with no source folder is a bad image (status 4), not a build', () => {
    const nothing = image('guests', 'nothing.flat');
    const r = runCli(['run', nothing]);
    expect(r.stderrLines).toEqual([`mmulab: cannot read image ${nothing}: no such file or directory`]);
    expect(r.status).toBe(ExitStatus.BAD_IMAGE);
  });

  test('the Linux guest is named with the script that builds it, not built', () => {
    const vmlinux = image('linux', 'vmlinux');
    const r = runCli(['run', '--kernel', vmlinux]);
    expect(r.stderrLines).toEqual([`mmulab: ${vmlinux} is not built: run ${join(checkout, 'guests/linux/build-kernel.sh')} to build it`]);
    expect(r.status).toBe(ExitStatus.IMAGE_NOT_BUILT);
  });

  test('outside a checkout of mmulab a missing image is a bad image', () => {
    const elsewhere = join(checkout, '..', 'build', 'guests', 'hello.flat');
    const r = runCli(['run', elsewhere]);
    expect(r.stderrLines).toEqual([`mmulab: cannot read image ${elsewhere}: no such file or directory`]);
    expect(r.status).toBe(ExitStatus.BAD_IMAGE);
  });
});
