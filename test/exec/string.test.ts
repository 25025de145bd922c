/**
 * Differential tests of the string instructions MOVS STOS LODS CMPS SCAS in all four sizes,
 * without a prefix and with REP / REPE / REPNE, forwards and backwards (DF=1), with 64-bit and
 * (0x67) 32-bit addressing (RSI/RDI/RCX then carry garbage in their upper halves), counts 0..40
 * and sometimes up to 2 KiB worth of elements, areas anywhere in DATA (across its page boundary
 * too), overlapping MOVS, and CMPS/SCAS inputs that match for a random number of elements.
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { DATA, DATA_SIZE } from '../helpers/snippet.js';
import { RAX, RCX, RDI, RSI, encode } from './lib/asm.js';
import { SIZES } from './lib/common.js';
import type { TestCase } from './lib/diff.js';
import { COMPARED, DF } from './lib/flags.js';
import { randomFlags, randomRegs, readLE, writeLE } from './lib/forms.js';
import { MASK, hex, type Rng, type Size } from './lib/rng.js';
import { checkCases } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

const STRINGS = [
  { mn: 'movs', opc: 0xa4, reps: ['', 'rep'] },
  { mn: 'cmps', opc: 0xa6, reps: ['', 'repe', 'repne'] },
  { mn: 'stos', opc: 0xaa, reps: ['', 'rep'] },
  { mn: 'lods', opc: 0xac, reps: ['', 'rep'] },
  { mn: 'scas', opc: 0xae, reps: ['', 'repe', 'repne'] },
] as const;

const SUFFIX: Record<Size, string> = { 1: 'b', 2: 'w', 4: 'd', 8: 'q' };

function stringCase(rng: Rng, s: (typeof STRINGS)[number], size: Size): TestCase {
  const rep = rng.pick(s.reps);
  const down = rng.chance(0.4);
  const a32 = rng.chance(0.25);
  const regs = randomRegs(rng);
  const data = new Uint8Array(DATA_SIZE);
  const count = rep === '' ? 1 : rng.chance(0.1) ? 0 : rng.chance(0.8) ? rng.range(1, 40) : rng.range(41, Math.floor(0x900 / size));
  const span = Math.max(count, 1) * size;
  // areas anywhere in DATA (so also across its page boundary); MOVS sometimes overlaps them
  const lo = 0x40;
  const hi = DATA_SIZE - 0x40;
  const place = (): number => (down ? rng.range(lo + span, hi - size) : rng.range(lo, hi - span));
  const srcOff = place();
  let dstOff = place();
  if (s.mn === 'movs' && rng.chance(0.25)) {
    const o = srcOff + size * rng.range(-3, 3) + (rng.chance(0.3) ? rng.range(1, size) : 0);
    if (down ? o >= lo + span && o <= hi - size : o >= lo && o <= hi - span) dstOff = o;
  }
  data.set(rng.bytes(DATA_SIZE));
  // element k of an area, in execution order
  const elem = (base: number, k: number): number => (down ? base - k * size : base + k * size);
  const acc = rng.value(size);
  if (s.mn === 'cmps' || s.mn === 'scas') {
    // make the first `same` elements compare equal, then maybe differ
    const same = rng.int(count + 2);
    for (let k = 0; k < Math.min(same, Math.max(count, 1)); k++) {
      if (s.mn === 'cmps') data.set(data.slice(elem(srcOff, k), elem(srcOff, k) + size), elem(dstOff, k));
      else writeLE(data, elem(dstOff, k), acc, size);
    }
    // for REPNE, plant the value (or an equal element) at a random position instead
    if (rep === 'repne' && count > 0) {
      for (let k = 0; k < count; k++) {
        if (readLE(data, elem(dstOff, k), size) === (s.mn === 'cmps' ? readLE(data, elem(srcOff, k), size) : acc)) {
          writeLE(data, elem(dstOff, k), readLE(data, elem(dstOff, k), size) ^ 1n, size);
        }
      }
      if (rng.chance(0.7)) {
        const k = rng.int(count);
        if (s.mn === 'cmps') data.set(data.slice(elem(srcOff, k), elem(srcOff, k) + size), elem(dstOff, k));
        else writeLE(data, elem(dstOff, k), acc, size);
      }
    }
  }
  const addr = (off: number): bigint => {
    const a = BigInt(DATA + off);
    return a32 ? (rng.u64() & ~MASK[4]) | a : a;
  };
  regs[RSI] = addr(srcOff);
  regs[RDI] = addr(dstOff);
  regs[RAX] = rng.withUpper(acc, size);
  regs[RCX] = rep === '' ? regs[RCX]! : a32 ? (rng.u64() & ~MASK[4]) | BigInt(count) : BigInt(count);
  const flags = (randomFlags(rng) & ~DF) | (down ? DF : 0);
  const prefixes = [...(rep === '' ? [] : [rep === 'repne' ? 0xf2 : 0xf3]), ...(a32 ? [0x67] : [])];
  const code = encode({ prefixes, opsize: size, opcode: [s.opc + (size === 1 ? 0 : 1)] });
  return {
    form: `${rep ? `${rep} ` : ''}${s.mn}${SUFFIX[size]}${a32 ? ' (addr32)' : ''}${down ? ' DF=1' : ''}`,
    text: `${rep ? `${rep} ` : ''}${a32 ? 'addr32 ' : ''}${s.mn}${SUFFIX[size]}`,
    code, regs, rflags: BigInt(flags), data, flagsMask: COMPARED,
    note: `count ${count}, source at ${hex(BigInt(DATA + srcOff), 4)}, destination at ${hex(BigInt(DATA + dstOff), 4)}`,
  };
}

describe('string instructions', () => {
  for (const s of STRINGS) {
    for (const size of SIZES) {
      const name = `${s.mn}${SUFFIX[size]}`;
      it(name, () => checkCases(name, (rng) => Array.from({ length: 200 }, () => stringCase(rng, s, size))));
    }
  }
});
