import { fuzzInstructions, newInsnSummary, type InsnSummary } from './insn-fuzz.js';
import { fuzzPaging, newPagingSummary, type PagingSummary } from './paging-fuzz.js';
import { fuzzImages, newImageMachine, newImageSummary, type ImageSummary } from './image-fuzz.js';

/**
 * The fuzz run's unit of work: a range of one fuzzer's cases. The driver cuts the run into chunks
 * whose boundaries depend only on the arguments (never on --jobs or timing), runs them in this
 * thread or in worker threads, and merges their summaries in chunk order. Every case starts from
 * a restored machine (fresh-state.ts, PagingHarness.run), and the image fuzzer's shared machine
 * is rebuilt at each chunk, so a chunk's result is the same whichever thread runs it after
 * whichever other chunk: the summary is the same for any number of jobs.
 */

export type FuzzerName = 'insn' | 'paging' | 'images';

export interface Chunk {
  /** Position in the run's chunk order (results are merged in this order). */
  readonly seq: number;
  readonly fuzzer: FuzzerName;
  readonly from: number;
  readonly to: number;
}

export interface ChunkResult {
  readonly chunk: Chunk;
  /** Wall time the chunk took in the thread that ran it. */
  readonly ms: number;
  readonly insn?: InsnSummary;
  readonly paging?: PagingSummary;
  readonly images?: ImageSummary;
}

/** Runs one chunk in this thread. */
export function runChunk(seed: number, chunk: Chunk): ChunkResult {
  const t0 = performance.now();
  if (chunk.fuzzer === 'insn') {
    const insn = newInsnSummary();
    fuzzInstructions(seed, chunk.from, chunk.to, insn);
    return { chunk, ms: performance.now() - t0, insn };
  }
  if (chunk.fuzzer === 'paging') {
    const paging = newPagingSummary();
    fuzzPaging(seed, chunk.from, chunk.to, paging);
    return { chunk, ms: performance.now() - t0, paging };
  }
  newImageMachine();
  const images = newImageSummary();
  fuzzImages(seed, chunk.from, chunk.to, images);
  return { chunk, ms: performance.now() - t0, images };
}

export interface RunSummary {
  readonly insn: InsnSummary;
  readonly paging: PagingSummary;
  readonly images: ImageSummary;
  readonly ms: Record<FuzzerName, number>;
}

export function newRunSummary(): RunSummary {
  return { insn: newInsnSummary(), paging: newPagingSummary(), images: newImageSummary(), ms: { insn: 0, paging: 0, images: 0 } };
}

function addCounts(to: Map<string, number>, from: ReadonlyMap<string, number>): void {
  for (const [k, v] of from) to.set(k, (to.get(k) ?? 0) + v);
}

/** Adds one chunk's result to the run's summary (call in chunk order for a deterministic list of failures). */
export function mergeChunk(sum: RunSummary, r: ChunkResult): void {
  sum.ms[r.chunk.fuzzer] += r.ms;
  if (r.insn !== undefined) {
    sum.insn.cases += r.insn.cases;
    addCounts(sum.insn.outcomes, r.insn.outcomes);
    addCounts(sum.insn.unsupported, r.insn.unsupported);
    sum.insn.failures.push(...r.insn.failures);
  }
  if (r.paging !== undefined) {
    sum.paging.cases += r.paging.cases;
    sum.paging.sequences += r.paging.sequences;
    addCounts(sum.paging.outcomes, r.paging.outcomes);
    sum.paging.failures.push(...r.paging.failures);
  }
  if (r.images !== undefined) {
    sum.images.cases += r.images.cases;
    addCounts(sum.images.outcomes, r.images.outcomes);
    sum.images.failures.push(...r.images.failures);
  }
}

/** The failures of one chunk as report lines (the driver prints them as soon as the chunk ends). */
export function failureLines(r: ChunkResult): string[] {
  const out: string[] = [];
  for (const f of r.insn?.failures ?? []) out.push(`FAIL insn case ${f.index} (${f.bits}-bit, ${f.kind}): ${f.code}\n  ${f.error.split('\n').slice(0, 4).join('\n  ')}`);
  for (const f of r.paging?.failures ?? []) out.push(`FAIL paging case ${f.index} (${f.mode}): ${f.what.split('\n').slice(0, 4).join('\n  ')}`);
  for (const f of r.images?.failures ?? []) out.push(`FAIL image case ${f.index} (${f.seed}): ${f.error.split('\n').slice(0, 4).join('\n  ')}`);
  return out;
}
