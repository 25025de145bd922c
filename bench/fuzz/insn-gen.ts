import type { Rng } from './rng.js';

/**
 * Instruction streams for the decoder and interpreter fuzzer: plain random bytes, instructions
 * built field by field (prefixes, REX, opcode map, ModRM, SIB, displacement, immediate, so the
 * rarer maps and operand forms are reached), streams of several of those, and mutations of them.
 */

export type StreamKind = 'random' | 'built' | 'stream' | 'mutated';
export const STREAM_KINDS: readonly StreamKind[] = ['random', 'built', 'stream', 'mutated'];

const LEGACY_PREFIXES = [0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];

/** One instruction assembled from random fields (it may be invalid: that is the point). */
export function builtInstruction(rng: Rng, bits: number): number[] {
  const out: number[] = [];
  for (let k = rng.below(4); k > 0; k--) out.push(rng.pick(LEGACY_PREFIXES));
  if (bits === 64 && rng.oneIn(2)) out.push(0x40 | rng.below(16));
  switch (rng.below(6)) {
    case 0: case 1: out.push(rng.byte()); break;
    case 2: case 3: out.push(0x0f, rng.byte()); break;
    case 4: out.push(0x0f, rng.oneIn(2) ? 0x38 : 0x3a, rng.byte()); break;
    default: {
      // VEX/EVEX, and the x87 escapes.
      const k = rng.below(4);
      if (k === 0) out.push(0xc5, rng.byte(), rng.byte());
      else if (k === 1) out.push(0xc4, rng.byte(), rng.byte(), rng.byte());
      else if (k === 2) out.push(0x62, rng.byte(), rng.byte(), rng.byte(), rng.byte());
      else out.push(0xd8 + rng.below(8));
      break;
    }
  }
  const modrm = rng.byte();
  out.push(modrm);
  if ((modrm & 0xc0) !== 0xc0 && (modrm & 7) === 4) out.push(rng.byte());
  const disp = rng.pick([0, 0, 1, 2, 4]);
  for (let k = 0; k < disp; k++) out.push(rng.byte());
  const imm = rng.pick([0, 0, 1, 2, 4, 8]);
  for (let k = 0; k < imm; k++) out.push(rng.byte());
  return out.slice(0, 15);
}

/** A stream of the given kind, 1 to 15 bytes for the single-instruction kinds, up to ~100 otherwise. */
export function instructionStream(rng: Rng, bits: number, kind: StreamKind): Uint8Array {
  switch (kind) {
    case 'random': {
      const n = 1 + rng.below(15);
      const out = new Uint8Array(n);
      for (let k = 0; k < n; k++) out[k] = rng.byte();
      return out;
    }
    case 'built': return Uint8Array.from(builtInstruction(rng, bits));
    case 'stream': {
      const out: number[] = [];
      for (let k = 2 + rng.below(7); k > 0; k--) out.push(...builtInstruction(rng, bits));
      return Uint8Array.from(out);
    }
    case 'mutated': {
      const out: number[] = [];
      for (let k = 1 + rng.below(4); k > 0; k--) out.push(...builtInstruction(rng, bits));
      for (let k = 1 + rng.below(3); k > 0; k--) {
        const at = rng.below(out.length + 1);
        switch (rng.below(4)) {
          case 0: if (at < out.length) out[at] ^= 1 << rng.below(8); break;
          case 1: if (at < out.length) out[at] = rng.byte(); break;
          case 2: out.splice(at, 0, rng.byte()); break;
          default: if (out.length > 1) out.splice(Math.min(at, out.length - 1), 1); break;
        }
      }
      return Uint8Array.from(out);
    }
  }
}
