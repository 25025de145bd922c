import { MMU_MODES, type MmuMode } from '../../vmm/machine.js';
import { Rng } from './rng.js';
import { type PagingCase, type PagingResult, PagingHarness, type StepResult, randomCase, shadowMmioDirtyDeviation } from './paging-harness.js';
import { Cr4 } from '../../emulator/arch/control.js';

/**
 * The page-table fuzzer's driver: each case runs in bare mode (the architectural reference) and
 * in shadow, legacy-tdp and tdp; a result that differs from bare's, a host exception, or an
 * invariant violation is a failure. Cases with CR4.PKE leave shadow out: KVM offers no PKU
 * without TDP, so a shadow-paging guest cannot set PKE (the mode is skipped, not excused).
 */

export interface PagingFailure {
  readonly index: number;
  readonly mode: MmuMode;
  readonly what: string;
}

export interface PagingSummary {
  cases: number;
  /** Cases that were sequences (table writes between accesses). */
  sequences: number;
  /** Access counts by bare's outcome ("done", "exception 14 err 0x..."). */
  readonly outcomes: Map<string, number>;
  readonly failures: PagingFailure[];
}

export function newPagingSummary(): PagingSummary {
  return { cases: 0, sequences: 0, outcomes: new Map(), failures: [] };
}

const harnesses = new Map<MmuMode, PagingHarness>();
/** The machine of `mode` the fuzzer runs its cases on (made on first use, kept between cases). */
export function pagingHarness(mode: MmuMode): PagingHarness {
  let h = harnesses.get(mode);
  if (h === undefined) { h = new PagingHarness(mode); harnesses.set(mode, h); }
  return h;
}

export function pagingCase(seed: number, index: number, globalInSequences = false): PagingCase {
  return randomCase(Rng.forCase(seed ^ 0x5a17, index), 40, globalInSequences);
}

/** Runs one case in every mode that applies: results by mode, or the error a mode threw. */
export function runPagingCase(c: PagingCase): Map<MmuMode, PagingResult | Error> {
  const out = new Map<MmuMode, PagingResult | Error>();
  for (const mode of MMU_MODES) {
    if (mode === 'shadow' && (c.cr4 & Cr4.PKE) !== 0) continue;
    try {
      const h = pagingHarness(mode);
      const before = h.violations;
      const r = h.run(c);
      if (h.violations !== before) throw new Error(`KVM invariant violations: ${h.machine.kvm?.violations.slice(-3).join('; ')}`);
      out.set(mode, r);
    } catch (err) {
      harnesses.delete(mode);
      out.set(mode, err instanceof Error ? err : new Error(String(err)));
    }
  }
  return out;
}

export function describeStep(r: StepResult): string {
  return `${r.outcome}${r.vector >= 0 ? ` ${r.vector} err 0x${r.errorCode.toString(16)}` : ''} cr2 ${r.cr2} rax 0x${r.rax.toString(16)}`;
}

export function describeResult(r: PagingResult): string {
  return r.steps.map(describeStep).join('; ');
}

/**
 * Where `mode`'s result differs from bare's, or undefined when they agree. A byte that differs
 * only by the shadow MMU's documented KVM deviation (shadowMmioDirtyDeviation) is accepted.
 */
export function difference(c: PagingCase, mode: MmuMode, bare: PagingResult, b: PagingResult): string | undefined {
  if (describeResult(bare) !== describeResult(b)) return `${describeResult(bare)} / ${describeResult(b)}`;
  const am = bare.memory;
  const bm = b.memory;
  if (Buffer.compare(am, bm) === 0) return undefined;
  for (let k = 0; k < am.length; k++) {
    if (am[k] === bm[k] || (mode === 'shadow' && shadowMmioDirtyDeviation(c, bare, bm, k))) continue;
    return `memory differs first at offset 0x${k.toString(16)} of the compared pages (0x${am[k].toString(16)} / 0x${bm[k].toString(16)})`;
  }
  return undefined;
}

export function fuzzPaging(seed: number, from: number, to: number, sum: PagingSummary, globalInSequences = false): void {
  for (let index = from; index < to; index++) {
    sum.cases++;
    const c = pagingCase(seed, index, globalInSequences);
    const results = runPagingCase(c);
    const bare = results.get('bare');
    if (bare instanceof Error || bare === undefined) {
      sum.failures.push({ index, mode: 'bare', what: bare?.stack ?? 'no result' });
      continue;
    }
    for (const st of bare.steps) {
      const key = st.vector >= 0 ? `exception ${st.vector} err 0x${st.errorCode.toString(16)}` : st.outcome;
      sum.outcomes.set(key, (sum.outcomes.get(key) ?? 0) + 1);
    }
    if (bare.steps.length > 1) sum.sequences++;
    for (const [mode, r] of results) {
      if (mode === 'bare') continue;
      if (r instanceof Error) sum.failures.push({ index, mode, what: r.stack ?? r.message });
      else {
        const d = difference(c, mode, bare, r);
        if (d !== undefined) sum.failures.push({ index, mode, what: `bare / ${mode}: ${d}` });
      }
    }
  }
}
