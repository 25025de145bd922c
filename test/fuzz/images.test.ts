import { describe, expect, test } from 'vitest';
import { SEEDS, fuzzImages, newImageSummary, runImage } from '../../bench/fuzz/image-fuzz.js';
import { runCli } from '../cli/cli.js';
import { imageCase } from '../../bench/fuzz/image-fuzz.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Malformed multiboot ELF, a.out-kludge and PVH images (truncated, flipped header bytes, absurd
 * sizes): every case is an image error or a guest outcome, never a host exception; a sample goes
 * through the CLI itself, which must exit 4 or with a guest status, without a stack trace.
 */

describe('image fuzzing', () => {
  test('the seeds themselves: the ELF and PVH images run to their exit, the a.out kludge is refused', () => {
    expect(SEEDS.map(([name, make]) => `${name} ${runImage(make())}`)).toEqual([
      'multiboot-elf exit', 'multiboot-aout image-error', 'pvh exit',
    ]);
  });

  test('1500 mutated images, seed 1: image errors or guest outcomes only', () => {
    const sum = newImageSummary();
    fuzzImages(1, 0, 1500, sum);
    expect(sum.failures.map((f) => `${f.index} ${f.seed}: ${f.error.split('\n')[0]}`)).toEqual([]);
    expect([...sum.outcomes.keys()].some((k) => k.endsWith('image-error'))).toBe(true);
    expect([...sum.outcomes.keys()].some((k) => k.endsWith(' exit'))).toBe(true);
  });

  test('6 mutated images through mmulab run: status 4 or a guest status, one line, no stack', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmulab-fuzz-'));
    for (let index = 0; index < 6; index++) {
      const c = imageCase(2, index);
      const path = join(dir, `case${index}.img`);
      writeFileSync(path, c.image);
      const r = runCli(['run', path, '--max-insns', '20000', '--mem', '16']);
      expect([1, 3, 4, 6, 8, 10, 12], `case ${index} (${c.name}): ${r.stderr}`).toContain(r.status);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      if (r.status === 4) expect(r.stderrLines.length).toBe(1);
    }
  });
});
