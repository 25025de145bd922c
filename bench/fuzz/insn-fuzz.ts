import { Rng } from './rng.js';
import { type StreamKind, STREAM_KINDS, instructionStream } from './insn-gen.js';
import { type CaseOutcome, type CodeBits, CODE_BITS, InsnHarness } from './insn-harness.js';
import { Cr0 } from '../../emulator/arch/control.js';
import { CpuModel, DEFAULT_FEATURES } from '../../emulator/cpu/cpu-model.js';
import { OPTIONAL_FEATURES } from '../../emulator/cpu/cpu-spec.js';

/**
 * The instruction fuzzer: cases round robin over the code sizes, stream kinds and two CPU models
 * (the default and `max`), each run on the InsnHarness of its size and model. Host exceptions are
 * collected (with what is needed to replay the case), never rethrown; an 'unsupported' outcome
 * must name the instruction.
 */

export interface InsnFailure {
  readonly index: number;
  readonly bits: CodeBits;
  readonly kind: StreamKind;
  readonly code: string;
  readonly error: string;
}

export interface InsnSummary {
  cases: number;
  /** Outcome counts: "exception 6", "unsupported", "halt", ... */
  readonly outcomes: Map<string, number>;
  /** Instruction names from the unsupported reports, with counts. */
  readonly unsupported: Map<string, number>;
  readonly failures: InsnFailure[];
}

export function newInsnSummary(): InsnSummary {
  return { cases: 0, outcomes: new Map(), unsupported: new Map(), failures: [] };
}

/** Harnesses by code size and CPU model (the default one, or `--cpu max`: PKU, PCID, SMAP...). */
const harnesses = new Map<string, InsnHarness>();
function harness(bits: CodeBits, max: boolean): InsnHarness {
  const key = `${bits}${max ? ' max' : ''}`;
  let h = harnesses.get(key);
  if (h === undefined) {
    h = newHarness(bits, max);
    harnesses.set(key, h);
  }
  return h;
}

/** A harness of its own (for running a case as on a new machine; the fuzzer reuses them). */
export function newHarness(bits: CodeBits, max: boolean): InsnHarness {
  return new InsnHarness(bits, max ? new CpuModel({ features: [...DEFAULT_FEATURES, ...OPTIONAL_FEATURES] }) : undefined);
}

/** The code size, stream kind, bytes and CR0 extras of case `index`; the same for a replay. */
export function caseInput(seed: number, index: number): { bits: CodeBits; max: boolean; kind: StreamKind; code: Uint8Array; cr0: number; rng: Rng } {
  const rng = Rng.forCase(seed, index);
  const bits = CODE_BITS[index % 3];
  const kind = STREAM_KINDS[Math.floor(index / 3) % STREAM_KINDS.length];
  const max = Math.floor(index / 12) % 2 === 1;
  const code = instructionStream(rng, bits, kind);
  // Now and then with CR0.EM or CR0.TS set: the x87/MMX/SSE fault rules before anything else.
  const cr0 = rng.oneIn(16) ? rng.pick([Cr0.EM, Cr0.TS, Cr0.EM | Cr0.TS]) : 0;
  return { bits, max, kind, code, cr0, rng };
}

export function runInsnCase(seed: number, index: number): CaseOutcome {
  const c = caseInput(seed, index);
  return harness(c.bits, c.max).run(c.code, c.rng, c.cr0);
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Runs cases [from, to) and adds them to `sum`. */
export function fuzzInstructions(seed: number, from: number, to: number, sum: InsnSummary): void {
  for (let index = from; index < to; index++) {
    sum.cases++;
    let outcome: CaseOutcome;
    try {
      outcome = runInsnCase(seed, index);
    } catch (err) {
      const c = caseInput(seed, index);
      sum.failures.push({ index, bits: c.bits, kind: c.kind, code: hex(c.code), error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) });
      // The harness may be left in any state: start that size afresh.
      harnesses.delete(`${c.bits}${c.max ? ' max' : ''}`);
      continue;
    }
    const key = outcome.kind === 'exception' ? `exception ${outcome.vector}` : outcome.kind;
    sum.outcomes.set(key, (sum.outcomes.get(key) ?? 0) + 1);
    if (outcome.kind === 'unsupported') {
      const m = /"([^"]+)"/.exec(outcome.detail ?? '');
      const name = m !== null ? m[1] : (outcome.detail ?? '');
      if (name === '') {
        const c = caseInput(seed, index);
        sum.failures.push({ index, bits: c.bits, kind: c.kind, code: hex(c.code), error: 'unsupported stop without a name' });
      }
      sum.unsupported.set(name, (sum.unsupported.get(name) ?? 0) + 1);
    }
    if (outcome.kind === 'kvm-error') {
      const c = caseInput(seed, index);
      sum.failures.push({ index, bits: c.bits, kind: c.kind, code: hex(c.code), error: `KVM_RUN failed in bare mode: ${outcome.detail}` });
    }
  }
}
