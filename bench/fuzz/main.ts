import { fuzzInstructions, newInsnSummary } from './insn-fuzz.js';
import { fuzzPaging, newPagingSummary } from './paging-fuzz.js';
import { fuzzImages, newImageSummary } from './image-fuzz.js';

/**
 * npm run fuzz -- [--seed S] [--cases N] [--minutes M] [--only insn|paging|images]
 *
 * The long fuzz run: N cases in all (default 100,000), shared between the three fuzzers in the
 * proportion of their speeds (instruction streams 8, page tables 1, images 1), stopping early
 * after M minutes if given. Prints the counts, the outcomes and every failure (host exception,
 * disagreement between MMU modes, invariant violation) with its case number; exit status 1 if
 * anything failed, 2 on a bad argument. While it runs, stderr gets a progress line at most every
 * PROGRESS_MS, and a line for every chunk slower than SLOW_CHUNK_MS naming its case range, so a
 * long run that stalls says where (replay the range with --seed and the fuzzer's own function).
 */

function usage(msg: string): never {
  process.stderr.write(`fuzz: ${msg}\nusage: npm run fuzz -- [--seed S] [--cases N] [--minutes M] [--only insn|paging|images]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): { seed: number; cases: number; minutes: number; only: string | undefined } {
  const o = { seed: 1, cases: 100_000, minutes: Number.POSITIVE_INFINITY, only: undefined as string | undefined };
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    const v = argv[k + 1];
    const num = (): number => {
      if (v === undefined || !/^\d+(\.\d+)?$/.test(v)) usage(`${a} needs a number`);
      k++;
      return Number(v);
    };
    if (a === '--seed') o.seed = num() >>> 0;
    else if (a === '--cases') o.cases = num();
    else if (a === '--minutes') o.minutes = num();
    else if (a === '--only') {
      if (v !== 'insn' && v !== 'paging' && v !== 'images') usage('--only takes insn, paging or images');
      o.only = v; k++;
    } else usage(`unknown argument ${a}`);
  }
  return o;
}

const SHARE = { insn: 8, paging: 1, images: 1 };
/** Cases per turn of each fuzzer (instruction cases are about 8 times cheaper than the others). */
const CHUNK = 250;
const PROGRESS_MS = 60_000;
const SLOW_CHUNK_MS = 20_000;

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  const weights = o.only === undefined ? SHARE : { insn: 0, paging: 0, images: 0, [o.only]: 1 };
  const total = weights.insn + weights.paging + weights.images;
  const target = { insn: Math.round(o.cases * weights.insn / total), paging: Math.round(o.cases * weights.paging / total), images: 0 };
  target.images = o.cases - target.insn - target.paging;
  const insn = newInsnSummary();
  const paging = newPagingSummary();
  const images = newImageSummary();
  const start = performance.now();
  const deadline = start + o.minutes * 60_000;
  const ms = { insn: 0, paging: 0, images: 0 };
  // Chunks round robin, so a time limit leaves every fuzzer with its share of the cases run.
  let progress = true;
  let lastReport = start;
  const failures = (): number => insn.failures.length + paging.failures.length + images.failures.length;
  while (progress && performance.now() < deadline) {
    progress = false;
    const steps: Array<['insn' | 'paging' | 'images', number, () => void]> = [
      ['insn', insn.cases, () => fuzzInstructions(o.seed, insn.cases, Math.min(target.insn, insn.cases + CHUNK * 8), insn)],
      ['paging', paging.cases, () => fuzzPaging(o.seed, paging.cases, Math.min(target.paging, paging.cases + CHUNK), paging)],
      ['images', images.cases, () => fuzzImages(o.seed, images.cases, Math.min(target.images, images.cases + CHUNK), images)],
    ];
    for (const [name, done, step] of steps) {
      if (done >= target[name] || performance.now() >= deadline) continue;
      const t0 = performance.now();
      step();
      const took = performance.now() - t0;
      ms[name] += took;
      progress = true;
      if (took > SLOW_CHUNK_MS) {
        const after = { insn: insn.cases, paging: paging.cases, images: images.cases }[name];
        process.stderr.write(`fuzz: slow chunk: ${name} cases ${done}-${after - 1} took ${(took / 1000).toFixed(1)} s\n`);
      }
    }
    const now = performance.now();
    if (now - lastReport >= PROGRESS_MS) {
      lastReport = now;
      process.stderr.write(`fuzz: ${((now - start) / 1000).toFixed(0)} s: insn ${insn.cases.toLocaleString('en-US')}/${target.insn.toLocaleString('en-US')}, `
        + `paging ${paging.cases.toLocaleString('en-US')}/${target.paging.toLocaleString('en-US')}, images ${images.cases.toLocaleString('en-US')}/${target.images.toLocaleString('en-US')}, `
        + `${failures()} failures\n`);
    }
  }
  const secs = (performance.now() - start) / 1000;
  const out: string[] = [];
  const rate = (n: number, t: number): string => `${n.toLocaleString('en-US')} cases in ${(t / 1000).toFixed(1)} s (${Math.round(n / (t / 1000 || 1)).toLocaleString('en-US')}/s)`;
  const cpu = process.cpuUsage();
  out.push(`seed ${o.seed}: ${(insn.cases + paging.cases + images.cases).toLocaleString('en-US')} cases in ${secs.toFixed(1)} s (CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s)`);
  out.push(`instruction streams (16/32/64-bit): ${rate(insn.cases, ms.insn)}, ${insn.failures.length} failures`);
  out.push(`  outcomes: ${top(insn.outcomes, 12)}`);
  out.push(`  unimplemented, by name: ${top(insn.unsupported, 12)}`);
  out.push(`page tables (bare, shadow, legacy-tdp, tdp; checker on): ${rate(paging.cases, ms.paging)}, ${paging.failures.length} failures`);
  out.push(`  bare's outcomes: ${top(paging.outcomes, 12)}`);
  out.push(`images (multiboot ELF, a.out kludge, PVH): ${rate(images.cases, ms.images)}, ${images.failures.length} failures`);
  out.push(`  outcomes: ${top(images.outcomes, 12)}`);
  for (const f of insn.failures.slice(0, 20)) out.push(`FAIL insn case ${f.index} (${f.bits}-bit, ${f.kind}): ${f.code}\n  ${f.error.split('\n').slice(0, 4).join('\n  ')}`);
  for (const f of paging.failures.slice(0, 20)) out.push(`FAIL paging case ${f.index} (${f.mode}): ${f.what.split('\n').slice(0, 4).join('\n  ')}`);
  for (const f of images.failures.slice(0, 20)) out.push(`FAIL image case ${f.index} (${f.seed}): ${f.error.split('\n').slice(0, 4).join('\n  ')}`);
  process.stdout.write(`${out.join('\n')}\n`);
  process.exit(insn.failures.length + paging.failures.length + images.failures.length === 0 ? 0 : 1);
}

function top(m: Map<string, number>, n: number): string {
  const all = [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = all.slice(0, n).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`);
  if (all.length > n) shown.push(`(${all.length - n} more)`);
  return shown.join(', ');
}

main();
