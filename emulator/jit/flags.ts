import { LfOp } from '../exec/flags.js';

/**
 * Lazy flags in translated code. A flag-setting instruction computes into the locals fd, fs, fr
 * (and fdh, fsh, frh for 8 bytes) and records the same lazy state in the vCPU that the
 * interpreter's handler records (exec/flags.ts setLazy/setLazy64), so any handler, the run loop
 * or a fault sees identical flags. A condition later in the block whose producer is known is then
 * answered from the locals, by the same comparisons exec/flags.ts cond() makes.
 */

/**
 * Statements recording the lazy state: `aux` is the lfAux expression, or null to leave it. They
 * are bracketed by FLAG_OPEN ... FLAG_CLOSE markers (with the size and whether lfAux is written)
 * so the translator can drop a record that a later one overwrites before anything reads it.
 */
export function recordFlags(op: LfOp, size: number, aux: string | null): string {
  let s = aux === null ? '' : `cpu.lfAux = ${aux}; `;
  s += `cpu.lfOp = ${op}; cpu.lfSize = ${size}; cpu.lfDst = fd; cpu.lfSrc = fs; cpu.lfRes = fr;`;
  if (size === 8) s += ' cpu.lfDstHi = fdh; cpu.lfSrcHi = fsh; cpu.lfResHi = frh;';
  return `${FLAG_OPEN}${size}${aux === null ? '' : 'a'}*/ ${s} ${FLAG_CLOSE}`;
}

export const FLAG_OPEN = '/*F<';
export const FLAG_CLOSE = '/*>F*/';

/** What a flag record in generated code writes: its size and whether it writes lfAux. */
export interface FlagRecord { readonly size: number; readonly aux: boolean }

/** The record an instruction's code holds, if any. */
export function flagRecordIn(code: string): FlagRecord | undefined {
  const m = /\/\*F<(\d+)(a?)\*\//.exec(code);
  return m === null ? undefined : { size: Number(m[1]), aux: m[2] === 'a' };
}

/**
 * Whether record `later` overwrites every vCPU field `earlier` writes that can still matter:
 * the high halves are read only for size 8, lfAux only by ADC/SBB/INC/DEC/MUL records.
 */
export function overwrites(later: FlagRecord, earlier: FlagRecord): boolean {
  return (later.aux || !earlier.aux) && (later.size === 8 || earlier.size !== 8);
}

/** Removes the records whose instruction positions are in `dead` (markers tagged with positions). */
export function dropDeadRecords(code: string, dead: ReadonlySet<number>): string {
  return code.replace(/\/\*F(\d+)<\d+a?\*\/(.*?)\/\*>F\*\//gs, (_all, k: string, body: string) => (dead.has(Number(k)) ? '' : body));
}

/** Statements reloading the flag locals from the vCPU (after a handler produced them). */
export function resyncFlags(size: number): string {
  let s = 'fd = cpu.lfDst; fs = cpu.lfSrc; fr = cpu.lfRes;';
  if (size === 8) s += ' fdh = cpu.lfDstHi; fsh = cpu.lfSrcHi; frh = cpu.lfResHi;';
  return s;
}

const UNSIGNED: Record<number, string> = { 2: '<', 3: '>=', 6: '<=', 7: '>' };
const SIGNED: Record<number, string> = { 12: '<', 13: '>=', 14: '<=', 15: '>' };

/**
 * Expression for condition code cc from the flag locals of a known producer, or undefined when
 * cond() must decide.
 */
export function inlineCondition(known: { op: LfOp; size: number } | null, cc: number): string | undefined {
  if (known === null) return undefined;
  const { op, size } = known;
  // Every lazy operation takes ZF and SF from its result (exec/flags.ts getZF, getSF).
  if (cc === 4 || cc === 5 || cc === 8 || cc === 9) {
    const sh = 32 - 8 * size;
    const zero = size === 8 ? '(fr === 0 && frh === 0)' : `((fr << ${sh}) === 0)`;
    const negative = size === 8 ? '(frh < 0)' : `((fr << ${sh}) < 0)`;
    if (cc === 4) return zero;
    if (cc === 5) return `!${zero}`;
    if (cc === 8) return negative;
    return `!${negative}`;
  }
  if (op === LfOp.SUB && size !== 8) {
    const sh = 32 - 8 * size;
    const d = sh === 0 ? 'fd' : `(fd << ${sh})`;
    const s = sh === 0 ? 'fs' : `(fs << ${sh})`;
    if (cc === 4) return `${d} === ${s}`;
    if (cc === 5) return `${d} !== ${s}`;
    if (UNSIGNED[cc] !== undefined) return `(${d} >>> 0) ${UNSIGNED[cc]} (${s} >>> 0)`;
    if (SIGNED[cc] !== undefined) return `(${d} | 0) ${SIGNED[cc]} (${s} | 0)`;
    return undefined;
  }
  if (op === LfOp.SUB) {
    switch (cc) {
      case 2: return '((fdh >>> 0) < (fsh >>> 0) || (fdh === fsh && (fd >>> 0) < (fs >>> 0)))';
      case 3: return '((fdh >>> 0) > (fsh >>> 0) || (fdh === fsh && (fd >>> 0) >= (fs >>> 0)))';
      case 4: return '(fdh === fsh && fd === fs)';
      case 5: return '(fdh !== fsh || fd !== fs)';
      case 6: return '((fdh >>> 0) < (fsh >>> 0) || (fdh === fsh && (fd >>> 0) <= (fs >>> 0)))';
      case 7: return '((fdh >>> 0) > (fsh >>> 0) || (fdh === fsh && (fd >>> 0) > (fs >>> 0)))';
      case 12: return '(fdh < fsh || (fdh === fsh && (fd >>> 0) < (fs >>> 0)))';
      case 13: return '(fdh > fsh || (fdh === fsh && (fd >>> 0) >= (fs >>> 0)))';
      case 14: return '(fdh < fsh || (fdh === fsh && (fd >>> 0) <= (fs >>> 0)))';
      case 15: return '(fdh > fsh || (fdh === fsh && (fd >>> 0) > (fs >>> 0)))';
      default: return undefined;
    }
  }
  if (op === LfOp.LOGIC && size !== 8) {
    const sh = 32 - 8 * size;
    const r = sh === 0 ? '(fr | 0)' : `(fr << ${sh})`;
    switch (cc) {
      case 4: return `${r} === 0`;
      case 5: return `${r} !== 0`;
      case 8: case 12: return `${r} < 0`;
      case 9: case 13: return `${r} >= 0`;
      case 14: return `${r} <= 0`;
      case 15: return `${r} > 0`;
      default: return undefined;
    }
  }
  return undefined;
}
