import type { Vcpu } from '../cpu/vcpu.js';
import { CpuMode } from '../cpu/vcpu.js';
import { Cr0 } from '../arch/control.js';
import { Vector } from '../arch/vectors.js';
import { Reg } from '../arch/registers.js';
import { type Handler, family } from './registry.js';
import { ea } from './operands.js';
import { compareToEflags, cond } from './flags.js';
import { FCW_DEFAULT, MXCSR_MASK, type FpuState, doubleToF80, f80Out, f80ToDouble } from './fpu-state.js';

/**
 * The x87 FPU (SDM Vol. 1 chapter 8) as far as a kernel and a C library use it: initialization and
 * the control and status words, loads and stores of every real and integer format, the basic
 * arithmetic and comparisons, constants, FXAM/FTST, FCMOVcc, the environment, and FXSAVE/FXRSTOR
 * (which also carry the SSE state). Values are doubles (see fpu-state.ts); the transcendental
 * instructions and FSAVE/FRSTOR are named in the opcode table and reported when executed.
 *
 * Every instruction but FWAIT raises #NM when CR0.EM or CR0.TS is set (FWAIT: when CR0.TS and
 * CR0.MP are); pending unmasked exceptions (#MF) and stack faults are not modeled: an empty
 * register reads as its last value, a push onto a full stack overwrites.
 */

/** Operations, by variant. ARITH variants carry an operand kind and the ModRM.reg operation. */
export const enum X87 {
  FNINIT = 1, FNCLEX, FNSTSW_AX, FNSTSW, FNSTCW, FLDCW, FNSTENV, FLDENV, FNOP,
  FLD_ST, FXCH, FCHS, FABS, FTST, FXAM, FSQRT, FRNDINT, FINCSTP, FDECSTP, FFREE,
  FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ,
  FLD_M32, FLD_M64, FLD_M80, FST_M32, FST_M64, FSTP_M32, FSTP_M64, FSTP_M80, FST_ST, FSTP_ST,
  FILD_M16, FILD_M32, FILD_M64, FIST_M16, FIST_M32, FISTP_M16, FISTP_M32, FISTP_M64,
  FISTTP_M16, FISTTP_M32, FISTTP_M64,
  FUCOM, FUCOMP, FUCOMPP, FCOMPP, FCOMI, FCOMIP, FUCOMI, FUCOMIP,
  /** FCMOVB/E/BE/U (DA) and FCMOVNB/NE/NBE/NU (DB), the condition in ModRM.reg. */
  FCMOV, FCMOVN,
  /** ARITH + kind * 8 + ModRM.reg: FADD FMUL FCOM FCOMP FSUB FSUBR FDIV FDIVR. */
  ARITH = 0x100,
}

/** Operand kinds of the arithmetic rows. */
export const enum ArithKind { M32 = 0, M64 = 1, M32INT = 2, M16INT = 3, ST0_STI = 4, STI_ST0 = 5, STI_ST0_POP = 6 }

const C0 = 1 << 8;
const C1 = 1 << 9;
const C2 = 1 << 10;
const C3 = 1 << 14;
const CC = C0 | C1 | C2 | C3;

/** #NM for x87 instructions: CR0.EM or CR0.TS. */
export function x87Ready(cpu: Vcpu): boolean {
  if ((cpu.cr0 & (Cr0.EM | Cr0.TS)) !== 0) { cpu.raise(Vector.NM); return false; }
  return true;
}

const bits = new DataView(new ArrayBuffer(8));

function readF32(cpu: Vcpu, lo: number, hi: number): number {
  bits.setInt32(0, cpu.mem.read32(lo, hi), true);
  return bits.getFloat32(0, true);
}

function readF64(cpu: Vcpu, lo: number, hi: number): number {
  bits.setInt32(0, cpu.mem.read64(lo, hi), true);
  bits.setInt32(4, cpu.mem.hi, true);
  return bits.getFloat64(0, true);
}

function readU16(cpu: Vcpu, lo: number, hi: number): number {
  return cpu.mem.read16(lo, hi);
}

function readI16(cpu: Vcpu, lo: number, hi: number): number {
  return (cpu.mem.read16(lo, hi) << 16) >> 16;
}

function readI32(cpu: Vcpu, lo: number, hi: number): number {
  return cpu.mem.read32(lo, hi) | 0;
}

function readI64(cpu: Vcpu, lo: number, hi: number): number {
  const l = cpu.mem.read64(lo, hi);
  return cpu.mem.hi * 4294967296 + (l >>> 0);
}

function push(f: FpuState, v: number): void {
  f.push(v);
}

/**
 * The x87 loads' one flow (FLD m32/m64, FILD m16/m32/m64, FLDCW): `read` the memory operand, and
 * `apply` the value only if the read did not fault.
 */
function loaded(read: (cpu: Vcpu, lo: number, hi: number) => number, apply: (f: FpuState, v: number) => void): X87Body {
  return (cpu, f, lo, hi) => {
    const v = read(cpu, lo, hi);
    if (cpu.exc < 0) apply(f, v);
  };
}

/**
 * The x87 stores' one flow (FST/FSTP m32/m64, FIST/FISTP/FISTTP): `write` ST(0) to memory, and
 * for the popping forms pop only if the write did not fault.
 */
function stored(write: (cpu: Vcpu, f: FpuState, lo: number, hi: number) => void, pop: boolean): X87Body {
  if (!pop) return write;
  return (cpu, f, lo, hi) => {
    write(cpu, f, lo, hi);
    if (cpu.exc < 0) f.pop();
  };
}

function writeF32(cpu: Vcpu, f: FpuState, lo: number, hi: number): void {
  bits.setFloat32(0, f.get(0), true);
  cpu.mem.write32(lo, hi, bits.getInt32(0, true));
}

function writeF64(cpu: Vcpu, f: FpuState, lo: number, hi: number): void {
  bits.setFloat64(0, f.get(0), true);
  cpu.mem.write64(lo, hi, bits.getInt32(0, true), bits.getInt32(4, true));
}

function next(lo: number, hi: number, n: number): [number, number] {
  return [(lo + n) | 0, (lo >>> 0) + n > 0xffffffff ? (hi + 1) | 0 : hi];
}

/** A double rounded to an integer by the control word's rounding control, or truncated. */
function roundByControl(f: FpuState, v: number, truncate: boolean): number {
  if (truncate) return Math.trunc(v);
  switch ((f.fcw >> 10) & 3) {
    case 0: { const r = Math.round(v); return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r; }
    case 1: return Math.floor(v);
    case 2: return Math.ceil(v);
    default: return Math.trunc(v);
  }
}

/** Stores ST(0) as an integer of `size` bytes (indefinite when out of range). */
function storeInt(cpu: Vcpu, lo: number, hi: number, size: number, truncate: boolean): void {
  const f = cpu.fpu;
  const r = roundByControl(f, f.get(0), truncate);
  const max = size === 2 ? 32768 : size === 4 ? 2147483648 : 9223372036854775808;
  const inRange = r >= -max && r < max;
  if (size === 2) cpu.mem.write16(lo, hi, inRange ? r & 0xffff : 0x8000);
  else if (size === 4) cpu.mem.write32(lo, hi, inRange ? r | 0 : 0x80000000 | 0);
  else if (!inRange) cpu.mem.write64(lo, hi, 0, 0x80000000 | 0);
  else {
    const h = Math.floor(r / 4294967296);
    cpu.mem.write64(lo, hi, (r - h * 4294967296) | 0, h | 0);
  }
}

function compare(f: FpuState, a: number, b: number): void {
  let cc: number;
  if (a !== a || b !== b) cc = C3 | C2 | C0;
  else if (a > b) cc = 0;
  else if (a < b) cc = C0;
  else cc = C3;
  f.fsw = (f.fsw & ~CC) | cc;
}

/** FXAM's class in C3, C2, C0 and the sign in C1 (SDM Vol. 2 FXAM). */
function examine(f: FpuState): void {
  const v = f.get(0);
  let cc: number;
  if (f.isEmpty(0)) cc = C3 | C0;
  else if (v !== v) cc = C0;
  else if (v === Infinity || v === -Infinity) cc = C2 | C0;
  else if (v === 0) cc = C3;
  else cc = C2; // normal (doubles below 2^-1022 are normal numbers in the 80-bit format too)
  const negative = v < 0 || (v === 0 && 1 / v < 0) || (v !== v && signOfNan(f));
  f.fsw = (f.fsw & ~CC) | cc | (negative ? C1 : 0);
}

function signOfNan(f: FpuState): boolean {
  bits.setFloat64(0, f.get(0), true);
  return bits.getInt32(4, true) < 0;
}

/** The full tag word (2 bits per physical register: valid, zero, special, empty). */
function fullTagWord(f: FpuState): number {
  let t = 0;
  for (let p = 7; p >= 0; p--) {
    let tag: number;
    if ((f.tags & (1 << p)) === 0) tag = 3;
    else if (f.st[p] === 0) tag = 1;
    else if (!Number.isFinite(f.st[p])) tag = 2;
    else tag = 0;
    t = (t << 2) | tag;
  }
  return t;
}

function arithmetic(op: number, a: number, b: number): number {
  switch (op) {
    case 0: return a + b;
    case 1: return a * b;
    case 4: return a - b;
    case 5: return b - a;
    case 6: return a / b;
    default: return b / a;
  }
}

const CONSTANTS: Record<number, number> = {
  [X87.FLD1]: 1, [X87.FLDL2T]: Math.log2(10), [X87.FLDL2E]: Math.LOG2E, [X87.FLDPI]: Math.PI,
  [X87.FLDLG2]: Math.log10(2), [X87.FLDLN2]: Math.LN2, [X87.FLDZ]: 0,
};

/**
 * The x87 operations other than the arithmetic rows. The operation is chosen when the form's
 * handler is built, so no handler switches on the variant; the shared part (the device-not-
 * available checks and the memory operand's address) is the wrapper x87Op.
 */
type X87Body = (cpu: Vcpu, f: FpuState, lo: number, hi: number, sti: number, i: number) => void;

export const X87_OP = family('x87', (form) => x87Op(form.mem, x87Body(form.variant)));

function x87Op(mem: boolean, body: X87Body): Handler {
  return (cpu, i) => {
    if (!x87Ready(cpu)) return;
    let lo = 0;
    let hi = 0;
    if (mem) {
      lo = ea(cpu, i);
      hi = cpu.eaHi;
      // The x87 family's one address check (probeWrite/probeRead bodies need a valid address).
      if (cpu.exc >= 0) return;
    }
    body(cpu, cpu.fpu, lo, hi, cpu.dec.rm[i] & 7, i);
  };
}

function x87Body(v: number): X87Body {
  if (v >= X87.ARITH) {
    const row = v - X87.ARITH;
    return (cpu, f, lo, hi, sti) => { arithRow(cpu, f, row, lo, hi, sti); };
  }
  switch (v) {
    case X87.FNINIT: return (cpu, f, lo, hi, sti, i) => { f.initX87(); };
    case X87.FNCLEX: return (cpu, f, lo, hi, sti, i) => {
      f.fsw &= 0x7f00; // clears exception flags, ES and B
    };
    case X87.FNSTSW_AX: return (cpu, f, lo, hi, sti, i) => { cpu.set16(Reg.RAX, f.statusWord()); };
    case X87.FNSTSW: return (cpu, f, lo, hi, sti, i) => { cpu.mem.write16(lo, hi, f.statusWord()); };
    case X87.FNSTCW: return (cpu, f, lo, hi, sti, i) => { cpu.mem.write16(lo, hi, f.fcw); };
    case X87.FLDCW: return loaded(readU16, (f, w) => { f.fcw = (w & 0x1f7f) | 0x40; });
    case X87.FNSTENV: return (cpu, f, lo, hi, sti, i) => {
      if (!cpu.mem.probeWrite(lo, hi, 28)) return;
      const words = [f.fcw | 0xffff0000, f.statusWord() | 0xffff0000, fullTagWord(f) | 0xffff0000, f.fipLo, f.fop & 0x7ff, f.fdpLo, 0];
      for (let k = 0; k < 7; k++) { const [a, b] = next(lo, hi, k * 4); cpu.mem.write32(a, b, words[k] | 0); }
      f.fcw |= 0x3f; // FNSTENV masks all exceptions
    };
    case X87.FLDENV: return (cpu, f, lo, hi, sti, i) => {
      if (!cpu.mem.probeRead(lo, hi, 28)) return;
      const w: number[] = [];
      for (let k = 0; k < 7; k++) { const [a, b] = next(lo, hi, k * 4); w.push(cpu.mem.read32(a, b)); }
      f.fcw = (w[0] & 0x1f7f) | 0x40;
      f.fsw = w[1] & 0xffff & ~0x3800;
      f.top = (w[1] >> 11) & 7;
      let tags = 0;
      for (let p = 0; p < 8; p++) if (((w[2] >> (2 * p)) & 3) !== 3) tags |= 1 << p;
      f.tags = tags;
      f.fipLo = w[3]; f.fop = w[4] & 0x7ff; f.fdpLo = w[5];
    };
    case X87.FNOP: return () => {};
    case X87.FLD_ST: return (cpu, f, lo, hi, sti, i) => { const val = f.get(sti); f.push(val); };
    case X87.FXCH: return (cpu, f, lo, hi, sti, i) => { const a = f.get(0); f.set(0, f.get(sti)); f.set(sti, a); };
    case X87.FCHS: return (cpu, f, lo, hi, sti, i) => { f.set(0, -f.get(0)); };
    case X87.FABS: return (cpu, f, lo, hi, sti, i) => { f.set(0, Math.abs(f.get(0))); };
    case X87.FTST: return (cpu, f, lo, hi, sti, i) => { compare(f, f.get(0), 0); };
    case X87.FXAM: return (cpu, f, lo, hi, sti, i) => { examine(f); };
    case X87.FSQRT: return (cpu, f, lo, hi, sti, i) => { f.set(0, Math.sqrt(f.get(0))); };
    case X87.FRNDINT: return (cpu, f, lo, hi, sti, i) => { f.set(0, roundByControl(f, f.get(0), false)); };
    case X87.FINCSTP: return (cpu, f, lo, hi, sti, i) => { f.top = (f.top + 1) & 7; };
    case X87.FDECSTP: return (cpu, f, lo, hi, sti, i) => { f.top = (f.top - 1) & 7; };
    case X87.FFREE: return (cpu, f, lo, hi, sti, i) => { f.tags &= ~(1 << f.phys(sti)); };
    case X87.FLD1: case X87.FLDL2T: case X87.FLDL2E: case X87.FLDPI: case X87.FLDLG2: case X87.FLDLN2: case X87.FLDZ: {
      const c = CONSTANTS[v];
      return (cpu, f) => { f.push(c); };
    }
    case X87.FLD_M32: return loaded(readF32, push);
    case X87.FLD_M64: return loaded(readF64, push);
    case X87.FLD_M80: return (cpu, f, lo, hi, sti, i) => {
      const mlo = cpu.mem.read64(lo, hi);
      const mhi = cpu.mem.hi;
      const [a, b] = next(lo, hi, 8);
      const se = cpu.mem.read16(a, b);
      // Kept: the 10-byte operand is two reads, both before the push.
      if (cpu.exc >= 0) return;
      f.push(f80ToDouble(mlo, mhi, se));
      const p = f.top;
      f.raw80Lo[p] = mlo; f.raw80Hi[p] = mhi; f.raw80Exp[p] = se;
      f.raw80Valid |= 1 << p;
    };
    case X87.FST_M32: return stored(writeF32, false);
    case X87.FSTP_M32: return stored(writeF32, true);
    case X87.FST_M64: return stored(writeF64, false);
    case X87.FSTP_M64: return stored(writeF64, true);
    case X87.FSTP_M80: return (cpu, f, lo, hi, sti, i) => {
      if (!cpu.mem.probeWrite(lo, hi, 10)) return;
      const p = f.top;
      if ((f.raw80Valid & (1 << p)) !== 0) { f80Out.lo = f.raw80Lo[p]; f80Out.hi = f.raw80Hi[p]; f80Out.se = f.raw80Exp[p]; } else doubleToF80(f.st[p]);
      cpu.mem.write64(lo, hi, f80Out.lo, f80Out.hi);
      const [a, b] = next(lo, hi, 8);
      cpu.mem.write16(a, b, f80Out.se);
      f.pop();
    };
    case X87.FST_ST: return (cpu, f, lo, hi, sti, i) => { f.set(sti, f.get(0)); copyRaw(f, 0, sti); };
    case X87.FSTP_ST: return (cpu, f, lo, hi, sti, i) => { f.set(sti, f.get(0)); copyRaw(f, 0, sti); f.pop(); };
    case X87.FILD_M16: return loaded(readI16, push);
    case X87.FILD_M32: return loaded(readI32, push);
    case X87.FILD_M64: return loaded(readI64, push);
    case X87.FIST_M16: case X87.FIST_M32:
    case X87.FISTP_M16: case X87.FISTP_M32: case X87.FISTP_M64: case X87.FISTTP_M16: case X87.FISTTP_M32: case X87.FISTTP_M64: {
      const size = v === X87.FIST_M16 || v === X87.FISTP_M16 || v === X87.FISTTP_M16 ? 2 : v === X87.FISTP_M64 || v === X87.FISTTP_M64 ? 8 : 4;
      const truncate = v >= X87.FISTTP_M16;
      return stored((cpu, f, lo, hi) => storeInt(cpu, lo, hi, size, truncate), v >= X87.FISTP_M16);
    }
    case X87.FUCOM: return (cpu, f, lo, hi, sti, i) => { compare(f, f.get(0), f.get(sti)); };
    case X87.FUCOMP: return (cpu, f, lo, hi, sti, i) => { compare(f, f.get(0), f.get(sti)); f.pop(); };
    case X87.FUCOMPP: case X87.FCOMPP: return (cpu, f, lo, hi, sti, i) => { compare(f, f.get(0), f.get(1)); f.pop(); f.pop(); };
    case X87.FCOMI: case X87.FUCOMI: return (cpu, f, lo, hi, sti, i) => { compareToEflags(cpu, f.get(0), f.get(sti)); f.fsw &= ~C1; };
    case X87.FCOMIP: case X87.FUCOMIP: return (cpu, f, lo, hi, sti, i) => { compareToEflags(cpu, f.get(0), f.get(sti)); f.fsw &= ~C1; f.pop(); };
    case X87.FCMOV: case X87.FCMOVN: {
      const negate = v === X87.FCMOVN;
      return (cpu, f, lo, hi, sti, i) => {
        // ModRM.reg 0-3: B, E, BE, U (PF), as Jcc condition numbers 2, 4, 6, 10.
        const cc = 2 + 2 * (cpu.dec.reg[i] & 3) + ((cpu.dec.reg[i] & 3) === 3 ? 2 : 0);
        if (cond(cpu, cc) !== negate) { f.set(0, f.get(sti)); copyRaw(f, sti, 0); }
      };
    }
    default: return (cpu, f, lo, hi, sti, i) => { cpu.unsupported(`x87 operation ${v}`); };
  }
}

function copyRaw(f: FpuState, from: number, to: number): void {
  const a = f.phys(from);
  const b = f.phys(to);
  if ((f.raw80Valid & (1 << a)) === 0) return;
  f.raw80Lo[b] = f.raw80Lo[a]; f.raw80Hi[b] = f.raw80Hi[a]; f.raw80Exp[b] = f.raw80Exp[a];
  f.raw80Valid |= 1 << b;
}

function arithRow(cpu: Vcpu, f: FpuState, v: number, lo: number, hi: number, sti: number): void {
  const kind = v >> 3;
  let op = v & 7;
  let src: number;
  switch (kind) {
    case ArithKind.M32: src = readF32(cpu, lo, hi); break;
    case ArithKind.M64: src = readF64(cpu, lo, hi); break;
    case ArithKind.M32INT: src = cpu.mem.read32(lo, hi) | 0; break;
    case ArithKind.M16INT: src = (cpu.mem.read16(lo, hi) << 16) >> 16; break;
    default: src = f.get(sti); break;
  }
  // The arithmetic rows' one load check, as toE's for the integer ALU.
  if (cpu.exc >= 0) return;
  if (op === 2 || op === 3) { // FCOM, FCOMP; DE D0+i (FCOMP5) is the popping form's alias too
    compare(f, f.get(0), src);
    if (op === 3 || kind === ArithKind.STI_ST0_POP) f.pop();
    return;
  }
  if (kind >= ArithKind.STI_ST0) {
    // ST(i) = ST(i) op ST(0): the encodings of SUB/SUBR and DIV/DIVR are the other way round.
    if (op >= 4) op ^= 1;
    f.set(sti, arithmetic(op, f.get(sti), f.get(0)));
    if (kind === ArithKind.STI_ST0_POP) f.pop();
    return;
  }
  f.set(0, arithmetic(op, f.get(0), src));
}

/** FWAIT: #NM only when CR0.TS and CR0.MP are both set; otherwise nothing (no pending #MF). */
export const FWAIT = family('fwait', () => (cpu) => {
  if ((cpu.cr0 & (Cr0.TS | Cr0.MP)) === (Cr0.TS | Cr0.MP)) cpu.raise(Vector.NM);
});

/**
 * FXSAVE (variant 0) and FXRSTOR (1) of the 512-byte area (SDM Vol. 2 FXSAVE, table 3-53): FCW,
 * FSW, abridged FTW, FOP, FIP/FDP (64-bit with REX.W, else 32-bit offsets with selectors), MXCSR
 * and MXCSR_MASK, ST0-7 in 16-byte slots, XMM0-15 (XMM0-7 outside 64-bit mode). The area must be
 * 16-byte aligned (#GP); FXRSTOR with reserved MXCSR bits set is #GP.
 */
export const FXSAVE = family('fxsave', (form) => {
  const restore = form.variant === 1;
  const wide = form.size === 8;
  return (cpu, i) => {
    if ((cpu.cr0 & (Cr0.EM | Cr0.TS)) !== 0) { cpu.raise(Vector.NM); return; }
    const lo = ea(cpu, i);
    const hi = cpu.eaHi;
    // Kept: a segment fault of the address comes before the alignment #GP.
    if (cpu.exc >= 0) return;
    if ((lo & 15) !== 0) { cpu.raiseGp(0); return; }
    if (restore) fxrstor(cpu, lo, hi, wide); else fxsave(cpu, lo, hi, wide);
  };
});

const area = new Uint8Array(512);
const areaView = new DataView(area.buffer);
/** The 512-byte legacy region that captureLegacyArea fills and applyLegacyArea reads. */
export { area as legacyArea, areaView as legacyAreaView };

/** How many XMM registers FXSAVE and FXRSTOR transfer: the REX-extended ones only in 64-bit mode. */
function xmmCount(cpu: Vcpu): number {
  return cpu.mode === CpuMode.LONG64 ? 16 : 8;
}

function fxsave(cpu: Vcpu, lo: number, hi: number, wide: boolean): void {
  if (!cpu.mem.probeWrite(lo, hi, 512)) return;
  captureLegacyArea(cpu, wide);
  for (let k = 0; k < 512; k += 8) {
    const [a, b] = next(lo, hi, k);
    cpu.mem.write64(a, b, areaView.getInt32(k, true), areaView.getInt32(k + 4, true));
  }
}

/**
 * The x87 and SSE state in FXSAVE's 512-byte layout, into `legacyArea` (XSAVE's legacy region
 * has the same layout). `wide`: 64-bit FIP/FDP (REX.W forms).
 */
export function captureLegacyArea(cpu: Vcpu, wide: boolean): void {
  const f = cpu.fpu;
  area.fill(0);
  areaView.setUint16(0, f.fcw, true);
  areaView.setUint16(2, f.statusWord(), true);
  area[4] = f.tags;
  areaView.setUint16(6, f.fop, true);
  areaView.setInt32(8, f.fipLo, true);
  areaView.setInt32(12, wide ? f.fipHi : 0, true);
  areaView.setInt32(16, f.fdpLo, true);
  areaView.setInt32(20, wide ? f.fdpHi : 0, true);
  areaView.setUint32(24, f.mxcsr, true);
  areaView.setUint32(28, MXCSR_MASK, true);
  for (let k = 0; k < 8; k++) {
    const p = f.phys(k);
    if ((f.raw80Valid & (1 << p)) !== 0) { f80Out.lo = f.raw80Lo[p]; f80Out.hi = f.raw80Hi[p]; f80Out.se = f.raw80Exp[p]; } else doubleToF80(f.st[p]);
    areaView.setInt32(32 + k * 16, f80Out.lo, true);
    areaView.setInt32(36 + k * 16, f80Out.hi, true);
    areaView.setUint16(40 + k * 16, f80Out.se, true);
  }
  const n = xmmCount(cpu);
  area.set(f.xmmBytes.subarray(0, n * 16), 160);
}

function fxrstor(cpu: Vcpu, lo: number, hi: number, wide: boolean): void {
  if (!cpu.mem.probeRead(lo, hi, 512)) return;
  for (let k = 0; k < 512; k += 8) {
    const [a, b] = next(lo, hi, k);
    areaView.setInt32(k, cpu.mem.read64(a, b), true);
    areaView.setInt32(k + 4, cpu.mem.hi, true);
  }
  // Kept: all 512 bytes are read and MXCSR checked before any state changes.
  if (cpu.exc >= 0) return;
  if ((areaView.getUint32(24, true) & ~MXCSR_MASK) !== 0) { cpu.raiseGp(0); return; }
  applyLegacyArea(cpu, wide);
}

/** Loads the x87 and SSE state from `legacyArea` (MXCSR already checked for reserved bits). */
export function applyLegacyArea(cpu: Vcpu, wide: boolean): void {
  const f = cpu.fpu;
  f.fcw = (areaView.getUint16(0, true) & 0x1f7f) | 0x40;
  const fsw = areaView.getUint16(2, true);
  f.fsw = fsw & ~0x3800;
  f.top = (fsw >> 11) & 7;
  f.tags = area[4];
  f.fop = areaView.getUint16(6, true) & 0x7ff;
  f.fipLo = areaView.getInt32(8, true);
  f.fipHi = wide ? areaView.getInt32(12, true) : 0;
  f.fdpLo = areaView.getInt32(16, true);
  f.fdpHi = wide ? areaView.getInt32(20, true) : 0;
  f.mxcsr = areaView.getUint32(24, true);
  f.raw80Valid = 0;
  for (let k = 0; k < 8; k++) {
    const p = f.phys(k);
    const mlo = areaView.getInt32(32 + k * 16, true);
    const mhi = areaView.getInt32(36 + k * 16, true);
    const se = areaView.getUint16(40 + k * 16, true);
    f.st[p] = f80ToDouble(mlo, mhi, se);
    f.raw80Lo[p] = mlo; f.raw80Hi[p] = mhi; f.raw80Exp[p] = se;
    f.raw80Valid |= 1 << p;
  }
  const n = xmmCount(cpu);
  f.xmmBytes.set(area.subarray(160, 160 + n * 16), 0);
}

/** The reset value of the x87 control word, for tests. */
export { FCW_DEFAULT };
