import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Assembles AT&T source (`.code16`/`.code32` as the code needs) with the guest toolchain's `as`
 * into a flat binary linked at `base`, for the SMP machine tests that load code directly.
 */
export function assemble(source: string, base: number): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'mmulab-smp-'));
  writeFileSync(join(dir, 'x.S'), source);
  execFileSync('as', ['--32', '-o', join(dir, 'x.o'), join(dir, 'x.S')]);
  execFileSync('ld', ['-m', 'elf_i386', `-Ttext=0x${base.toString(16)}`, '--oformat', 'binary', '-o', join(dir, 'x.bin'), join(dir, 'x.o')]);
  return readFileSync(join(dir, 'x.bin'));
}
