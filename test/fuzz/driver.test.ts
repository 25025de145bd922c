import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { type ChunkResult, mergeChunk, newRunSummary, runChunk } from '../../bench/fuzz/chunks.js';

/**
 * The fuzz driver (bench/fuzz/main.ts): the summary of a run is the same whatever the number of
 * worker threads, a range run in two pieces gives the summary of the whole range, and bad
 * arguments stop with a message and status 2.
 */

const FUZZ = fileURLToPath(new URL('../../dist/bench/fuzz/main.js', import.meta.url));

function fuzz(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [FUZZ, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The summary without what depends on time: the first line and the rates. */
function verdicts(stdout: string): string[] {
  return stdout.split('\n').slice(1).map((line) => line.replace(/ in [\d.]+ s of thread time \([\d,]+\/s per thread\)/, ''));
}

describe('fuzz driver', () => {
  test('--jobs 2 gives the summary of --jobs 1 (all three fuzzers, chunks finishing out of order)', () => {
    // 200 instruction cases, 25 page-table cases and 25 images: three chunks for two threads.
    const args = ['--seed', '5', '--cases', '250', '--from', '1000'];
    const one = fuzz([...args, '--jobs', '1']);
    const two = fuzz([...args, '--jobs', '2']);
    expect(one.status).toBe(0);
    expect(two.status).toBe(0);
    expect(two.stdout.split('\n')[0]).toMatch(/^seed 5, from case 1000, 2 jobs: 250 cases in /);
    expect(verdicts(one.stdout)).toEqual(verdicts(two.stdout));
    expect(verdicts(one.stdout)[0]).toBe('cases done: insn 200/200 (cases 1000-1199), paging 25/25 (cases 1000-1024), images 25/25 (cases 1000-1024)');
  });

  test('two ranges merged give the summary of their union', () => {
    const whole = newRunSummary();
    const parts = newRunSummary();
    const strip = (r: ChunkResult): ChunkResult => ({ ...r, ms: 0 });
    for (const fuzzer of ['insn', 'paging', 'images'] as const) {
      mergeChunk(whole, strip(runChunk(9, { seq: 0, fuzzer, from: 200, to: 220 })));
      mergeChunk(parts, strip(runChunk(9, { seq: 0, fuzzer, from: 200, to: 210 })));
      mergeChunk(parts, strip(runChunk(9, { seq: 1, fuzzer, from: 210, to: 220 })));
    }
    expect(parts).toEqual(whole);
    expect(whole.paging.cases + whole.insn.cases + whole.images.cases).toBe(60);
  });

  test('bad arguments: a message, the usage and status 2, no stack trace', () => {
    for (const [args, message] of [
      [['--jobs', '0'], 'fuzz: --jobs takes 1 to 64'],
      [['--from', '-5'], 'fuzz: --from needs a number'],
      [['--cases', '1.5'], 'fuzz: --cases needs a whole number'],
      [['--only', 'disk'], 'fuzz: --only takes insn, paging or images'],
    ] as const) {
      const r = fuzz([...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n')[0], args.join(' ')).toMatch(new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      expect(r.stderr).toMatch(/^usage: npm run fuzz -- /m);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
