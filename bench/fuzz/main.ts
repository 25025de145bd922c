import { cpus } from 'node:os';
import { type Chunk, type ChunkResult, type FuzzerName, failureLines, mergeChunk, newRunSummary, runChunk } from './chunks.js';
import { runOnWorkers } from './pool.js';

/**
 * npm run fuzz -- [--seed S] [--cases N] [--from F] [--minutes M] [--jobs J] [--only insn|paging|images]
 *
 * The long fuzz run: N cases in all (default 100,000), shared between the three fuzzers in the
 * proportion of their speeds (instruction streams 8, page tables 1, images 1), each fuzzer's cases
 * numbered from F (default 0), stopping early after M minutes if given (no new chunk starts
 * after that). J worker threads (default 1: all in this thread) run chunks of cases; a case's
 * verdict depends only on the seed and its number, so the summary is the same for any J, and
 * runs over ranges (--from F --cases N) add up to one run over their union.
 *
 * Prints the counts, the outcomes and every failure (host exception, disagreement between MMU
 * modes, invariant violation) with its case number; exit status 1 if anything failed, 2 on a bad
 * argument. SIGTERM or SIGINT ends the run early, as --minutes does. While it runs, stderr gets
 * each failure as its chunk ends, a progress line at most every PROGRESS_MS with the cases done
 * so far as ranges (a run stopped there continues with --from at the range's end), and a line for
 * every chunk slower than SLOW_CHUNK_MS naming its case range.
 */

const USAGE = 'usage: npm run fuzz -- [--seed S] [--cases N] [--from F] [--minutes M] [--jobs J] [--only insn|paging|images]';

function usage(msg: string): never {
  process.stderr.write(`fuzz: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

interface Options {
  seed: number;
  cases: number;
  from: number;
  minutes: number;
  jobs: number;
  only: FuzzerName | undefined;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { seed: 1, cases: 100_000, from: 0, minutes: Number.POSITIVE_INFINITY, jobs: 1, only: undefined };
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    const v = argv[k + 1];
    const num = (): number => {
      if (v === undefined || !/^\d+(\.\d+)?$/.test(v)) usage(`${a} needs a number`);
      k++;
      return Number(v);
    };
    const int = (): number => {
      const n = num();
      if (!Number.isSafeInteger(n)) usage(`${a} needs a whole number`);
      return n;
    };
    if (a === '--seed') o.seed = num() >>> 0;
    else if (a === '--cases') o.cases = int();
    else if (a === '--from') o.from = int();
    else if (a === '--minutes') o.minutes = num();
    else if (a === '--jobs') {
      o.jobs = int();
      if (o.jobs < 1 || o.jobs > 64) usage(`--jobs takes 1 to 64 (this host has ${cpus().length} CPUs)`);
    } else if (a === '--only') {
      if (v !== 'insn' && v !== 'paging' && v !== 'images') usage('--only takes insn, paging or images');
      o.only = v; k++;
    } else usage(`unknown argument ${a}`);
  }
  return o;
}

const SHARE: Record<FuzzerName, number> = { insn: 8, paging: 1, images: 1 };
/** Cases per chunk (instruction cases are about 8 times cheaper than the others: 8 times as many). */
const CHUNK: Record<FuzzerName, number> = { insn: 2000, paging: 250, images: 250 };
const FUZZERS: readonly FuzzerName[] = ['insn', 'paging', 'images'];
const PROGRESS_MS = 60_000;
const SLOW_CHUNK_MS = 120_000;

/**
 * The run's chunks in order: round robin between the fuzzers, so a time limit leaves every fuzzer
 * with its share of the cases run. Boundaries depend only on the options.
 */
function* chunks(o: Options, target: Record<FuzzerName, number>): Generator<Chunk> {
  const next: Record<FuzzerName, number> = { insn: o.from, paging: o.from, images: o.from };
  let seq = 0;
  for (let more = true; more;) {
    more = false;
    for (const f of FUZZERS) {
      const end = o.from + target[f];
      if (next[f] >= end) continue;
      const to = Math.min(end, next[f] + CHUNK[f]);
      yield { seq: seq++, fuzzer: f, from: next[f], to };
      next[f] = to;
      more = true;
    }
  }
}

const fmt = (n: number): string => n.toLocaleString('en-US');

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const weights = o.only === undefined ? SHARE : { insn: 0, paging: 0, images: 0, [o.only]: 1 };
  const total = weights.insn + weights.paging + weights.images;
  const target = { insn: Math.round(o.cases * weights.insn / total), paging: Math.round(o.cases * weights.paging / total), images: 0 };
  target.images = o.cases - target.insn - target.paging;
  const sum = newRunSummary();
  const start = performance.now();
  const deadline = start + o.minutes * 60_000;
  // Results are merged in chunk order; `done` is where each fuzzer's merged cases end.
  const pending = new Map<number, ChunkResult>();
  let merged = 0;
  const done: Record<FuzzerName, number> = { insn: o.from, paging: o.from, images: o.from };
  let lastReport = start;
  const failures = (): number => sum.insn.failures.length + sum.paging.failures.length + sum.images.failures.length;
  const ranges = (): string => FUZZERS.filter((f) => target[f] > 0)
    .map((f) => `${f} ${fmt(done[f] - o.from)}/${fmt(target[f])} (cases ${o.from}-${done[f] - 1})`).join(', ');
  const onResult = (r: ChunkResult): void => {
    for (const line of failureLines(r)) process.stderr.write(`${line}\n`);
    if (r.ms > SLOW_CHUNK_MS) process.stderr.write(`fuzz: slow chunk: ${r.chunk.fuzzer} cases ${r.chunk.from}-${r.chunk.to - 1} took ${(r.ms / 1000).toFixed(1)} s\n`);
    pending.set(r.chunk.seq, r);
    for (let next = pending.get(merged); next !== undefined; next = pending.get(merged)) {
      pending.delete(merged);
      mergeChunk(sum, next);
      done[next.chunk.fuzzer] = next.chunk.to;
      merged++;
    }
    const now = performance.now();
    if (now - lastReport >= PROGRESS_MS) {
      lastReport = now;
      process.stderr.write(`fuzz: ${((now - start) / 1000).toFixed(0)} s: ${ranges()}, ${failures()} failures\n`);
    }
  };
  const plan = chunks(o, target);
  // SIGTERM or SIGINT: no new chunk starts; the ones running finish and the summary is printed.
  let stopping = false;
  const stop = (): void => {
    stopping = true;
    process.stderr.write('fuzz: stopping after the chunks running now\n');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const more = (): Chunk | undefined => {
    if (stopping || performance.now() >= deadline) return undefined;
    const n = plan.next();
    return n.done === true ? undefined : n.value;
  };
  if (o.jobs === 1) {
    for (let c = more(); c !== undefined; c = more()) {
      onResult(runChunk(o.seed, c));
      // Between chunks, let a signal's handler run.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } else {
    await runOnWorkers(o.seed, o.jobs, more, onResult);
  }
  const secs = (performance.now() - start) / 1000;
  const { insn, paging, images, ms } = sum;
  const out: string[] = [];
  const rate = (n: number, t: number): string => `${fmt(n)} cases in ${(t / 1000).toFixed(1)} s of thread time (${fmt(Math.round(n / (t / 1000 || 1)))}/s per thread)`;
  const cpu = process.cpuUsage();
  const all = insn.cases + paging.cases + images.cases;
  out.push(`seed ${o.seed}, from case ${o.from}, ${o.jobs} job${o.jobs === 1 ? '' : 's'}: ${fmt(all)} cases in ${secs.toFixed(1)} s (${fmt(Math.round(all / (secs || 1)))}/s; CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s)`);
  out.push(`cases done: ${ranges()}`);
  out.push(`instruction streams (16/32/64-bit): ${rate(insn.cases, ms.insn)}, ${insn.failures.length} failures`);
  out.push(`  outcomes: ${top(insn.outcomes, 12)}`);
  out.push(`  unimplemented, by name: ${top(insn.unsupported, 12)}`);
  out.push(`page tables (bare, shadow, legacy-tdp, tdp; checker on): ${rate(paging.cases, ms.paging)}, ${paging.failures.length} failures`);
  out.push(`  bare's outcomes: ${top(paging.outcomes, 12)}`);
  out.push(`  sequences: ${fmt(paging.sequences)}`);
  out.push(`images (multiboot ELF, a.out kludge, PVH): ${rate(images.cases, ms.images)}, ${images.failures.length} failures`);
  out.push(`  outcomes: ${top(images.outcomes, 12)}`);
  out.push(...failureLines({ chunk: { seq: 0, fuzzer: 'insn', from: 0, to: 0 }, ms: 0, insn: { ...insn, failures: insn.failures.slice(0, 20) },
    paging: { ...paging, failures: paging.failures.slice(0, 20) }, images: { ...images, failures: images.failures.slice(0, 20) } }));
  process.stdout.write(`${out.join('\n')}\n`);
  process.exit(failures() === 0 ? 0 : 1);
}

function top(m: Map<string, number>, n: number): string {
  const all = [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = all.slice(0, n).map(([k, v]) => `${k} ${fmt(v)}`);
  if (all.length > n) shown.push(`(${all.length - n} more)`);
  return shown.join(', ');
}

main().catch((err: unknown) => {
  process.stderr.write(`fuzz: the driver failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(3);
});
