import type { Vcpu } from '../cpu/vcpu.js';
import { Cr0, Cr4 } from '../arch/control.js';
import { Vector } from '../arch/vectors.js';
import { type Form, type Handler, family, Operand } from './registry.js';
import { ea, readMem, readReg, writeReg } from './operands.js';
import { compareToEflags } from './flags.js';
import type { FpuState } from './fpu-state.js';
import { MOV } from './move.js';

/**
 * SSE and SSE2 (SDM Vol. 1 chapters 10 and 11): the 128-bit data movement, integer, logic, shuffle,
 * shift and floating-point instructions a kernel and a static C program use, on XMM0-15.
 *
 * Every handler first checks the SSE preconditions (CR0.EM = 0 and CR4.OSFXSR = 1 or #UD,
 * CR0.TS = 0 or #NM); CPUID gating happens at decode (the rows name their feature). A 128-bit
 * memory operand is read into a scratch register first, so a fault leaves the destination
 * unchanged; stores are probed whole before any byte is written. The aligned forms (MOVAPS,
 * MOVDQA, the packed arithmetic with a memory operand, ...) raise #GP(0) on an operand that is not
 * 16-byte aligned.
 *
 * Floating point uses the host's IEEE arithmetic, round to nearest (MXCSR.RC is stored but not
 * applied), single precision through Math.fround. NaN results follow SDM Vol. 1 table 4-7: a NaN
 * first source wins, else a NaN second source, quieted; an invalid operation without a NaN source
 * gives the default NaN (the negative "real indefinite"). MIN/MAX return the second source if
 * either is a NaN or both are zero. Conversions to integers give the "integer indefinite"
 * (0x80000000...) for NaN and out-of-range values. MXCSR exception flags are not set and SIMD
 * exceptions are never raised; DAZ and FTZ are not applied.
 */

// Scratch for a memory (or register) source operand: 16 bytes with typed views.
const S = new Uint8Array(16);
const S32 = new Int32Array(S.buffer);
const SF32 = new Float32Array(S.buffer);
const SF64 = new Float64Array(S.buffer);
const S16 = new Int16Array(S.buffer);
// A second scratch for results built from both operands (shuffles, packs, unpacks).
const T = new Uint8Array(16);
const T32 = new Int32Array(T.buffer);
const T16 = new Int16Array(T.buffer);

/** The SSE preconditions: #UD without CR4.OSFXSR or with CR0.EM, #NM with CR0.TS. */
export function sseReady(cpu: Vcpu): boolean {
  if ((cpu.cr0 & Cr0.EM) !== 0 || (cpu.cr4 & Cr4.OSFXSR) === 0) { cpu.raiseUd(); return false; }
  if ((cpu.cr0 & Cr0.TS) !== 0) { cpu.raise(Vector.NM); return false; }
  return true;
}

/**
 * The MMX preconditions (SDM Vol. 1 12.1, Vol. 3 Table 2-3): #UD with CR0.EM, #NM with CR0.TS;
 * CR4.OSFXSR does not matter. (A pending x87 exception would raise #MF: not modeled.)
 */
export function mmxReady(cpu: Vcpu): boolean {
  if ((cpu.cr0 & Cr0.EM) !== 0) { cpu.raiseUd(); return false; }
  if ((cpu.cr0 & Cr0.TS) !== 0) { cpu.raise(Vector.NM); return false; }
  return true;
}

/** Linear address of the memory operand, with the 16-byte alignment check when `aligned`. */
function address(cpu: Vcpu, i: number, aligned: boolean): number {
  const lo = ea(cpu, i);
  if (aligned && (lo & 15) !== 0) { cpu.raiseGp(0); return 0; }
  return lo;
}

/** Reads 16 bytes at (lo, hi) into S; false after a fault. */
function load128(cpu: Vcpu, lo: number, hi: number): boolean {
  const a = cpu.mem.read64(lo, hi);
  const ah = cpu.mem.hi;
  const lo2 = (lo + 8) | 0;
  const b = cpu.mem.read64(lo2, (lo >>> 0) > 0xfffffff7 ? (hi + 1) | 0 : hi);
  const bh = cpu.mem.hi;
  if (cpu.exc >= 0) return false;
  S32[0] = a; S32[1] = ah; S32[2] = b; S32[3] = bh;
  return true;
}

/**
 * Stores `dwords` (1, 2 or 4) 32-bit lanes of x from x[at] at the memory operand, with the 16-byte
 * alignment check when `aligned`: the one store of the SSE moves, as loadSource is their one load.
 * Sixteen bytes are written whole or not at all; a fault of the address stops before any write.
 */
function storeXmm(cpu: Vcpu, i: number, x: Int32Array, at: number, dwords: number, aligned: boolean): void {
  const lo = address(cpu, i, aligned);
  if (cpu.exc >= 0) return;
  const hi = cpu.eaHi;
  if (dwords === 1) {
    cpu.mem.write32(lo, hi, x[at]);
  } else if (dwords === 2) {
    cpu.mem.write64(lo, hi, x[at], x[at + 1]);
  } else {
    if (!cpu.mem.probeWrite(lo, hi, 16)) return;
    cpu.mem.write64(lo, hi, x[at], x[at + 1]);
    cpu.mem.write64((lo + 8) | 0, (lo >>> 0) > 0xfffffff7 ? (hi + 1) | 0 : hi, x[at + 2], x[at + 3]);
  }
}

/** Loads the W operand (register or `bytes` of memory, zero-extended) into S; false after a fault. */
function loadSource(cpu: Vcpu, i: number, mem: boolean, bytes: number, aligned: boolean): boolean {
  const f = cpu.fpu;
  if (!mem) {
    const r = cpu.dec.rm[i] * 4;
    S32[0] = f.xmm32[r]; S32[1] = f.xmm32[r + 1]; S32[2] = f.xmm32[r + 2]; S32[3] = f.xmm32[r + 3];
    return true;
  }
  const lo = address(cpu, i, aligned);
  if (cpu.exc >= 0) return false;
  const hi = cpu.eaHi;
  if (bytes === 16) return load128(cpu, lo, hi);
  S32[2] = 0; S32[3] = 0;
  if (bytes === 8) {
    S32[0] = cpu.mem.read64(lo, hi);
    S32[1] = cpu.mem.hi;
  } else {
    S32[0] = cpu.mem.read32(lo, hi);
    S32[1] = 0;
  }
  return cpu.exc < 0;
}

/** The last intSource: low half, and the high half of an 8-byte one (else 0). */
export let intSourceLo = 0;
export let intSourceHi = 0;

/**
 * Loads a 4- or 8-byte integer operand from a general register or memory (MOVD/MOVQ into XMM or
 * MM, CVTSI2SS/SD, MOVQ mm, m64) into intSourceLo/intSourceHi, as loadSource loads an XMM
 * operand; false after a fault.
 */
export function intSource(cpu: Vcpu, i: number, mem: boolean, size: number): boolean {
  if (mem) {
    const a = ea(cpu, i);
    if (cpu.exc >= 0) return false;
    intSourceLo = readMem(cpu, a, cpu.eaHi, size);
    intSourceHi = size === 8 ? cpu.mem.hi : 0;
    return cpu.exc < 0;
  }
  const r = cpu.dec.rm[i];
  intSourceLo = readReg(cpu, r, size);
  intSourceHi = size === 8 ? cpu.hi[r] : 0;
  return true;
}

// NaN handling at the bit level, so payloads survive (SDM Vol. 1 4.8.3.5 and table 4-7).

function isNan64(x: Int32Array, k: number): boolean {
  return (x[k + 1] & 0x7ff00000) === 0x7ff00000 && ((x[k + 1] & 0xfffff) | x[k]) !== 0;
}

function isNan32(x: Int32Array, k: number): boolean {
  return (x[k] & 0x7f800000) === 0x7f800000 && (x[k] & 0x7fffff) !== 0;
}

/**
 * Writes a double result to lane (f64 index) `dk` of the destination: the value, or for a NaN the
 * quieted first NaN source or the default NaN. `sk` is the source lane in S.
 */
function put64(d32: Int32Array, dF: Float64Array, dk: number, sk: number, v: number): void {
  if (v === v) { dF[dk] = v; return; }
  const a = dk * 2;
  const b = sk * 2;
  if (isNan64(d32, a)) { d32[a + 1] |= 0x80000; return; }
  if (isNan64(S32, b)) { d32[a] = S32[b]; d32[a + 1] = S32[b + 1] | 0x80000; return; }
  d32[a] = 0; d32[a + 1] = 0xfff80000 | 0;
}

function put32(d32: Int32Array, dF: Float32Array, dk: number, sk: number, v: number): void {
  if (v === v) { dF[dk] = v; return; }
  if (isNan32(d32, dk)) { d32[dk] |= 0x400000; return; }
  if (isNan32(S32, sk)) { d32[dk] = S32[sk] | 0x400000; return; }
  d32[dk] = 0xffc00000 | 0;
}

/** Round half to even, as the default MXCSR rounding does. */
function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---------------------------------------------------------------------------------------------
// Data movement.

/** Variants of MOV_X: what moves and how. */
export const enum MovX {
  /** MOVUPS/MOVUPD/MOVDQU Vx,Wx and MOVAPS/MOVAPD/MOVDQA (aligned). */
  LOAD = 0, LOAD_ALIGNED = 1,
  /** The store direction Wx,Vx. */
  STORE = 2, STORE_ALIGNED = 3,
  /** MOVSS Vx,Wss: from memory zero-extends, between registers merges the low dword. */
  MOVSS_LOAD = 4, MOVSS_STORE = 5, MOVSD_LOAD = 6, MOVSD_STORE = 7,
  /** MOVLPS/MOVLPD Vq,Mq (high kept), MOVHLPS Vx,Ux; MOVHPS/MOVHPD Vq,Mq, MOVLHPS Vx,Ux. */
  MOVLP_LOAD = 8, MOVHLPS = 9, MOVHP_LOAD = 10, MOVLHPS = 11,
  /** MOVLPS/MOVLPD Mq,Vq and MOVHPS/MOVHPD Mq,Vq. */
  MOVLP_STORE = 12, MOVHP_STORE = 13,
  /** MOVQ Vx,Wq (F3 0F 7E): zero-extends. MOVQ Wq,Vx (66 0F D6). */
  MOVQ_LOAD = 14, MOVQ_STORE = 15,
}

/** The move's handler is chosen when the form is built: no handler switches on the variant. */
export const MOV_X = family('sse-mov', (form) => sseMove(movBody(form.variant as MovX, form.mem)));

/** What a move does once SSE is usable: `x` is the XMM file as dwords, `reg` ModRM.reg's first dword. */
type MoveBody = (cpu: Vcpu, i: number, x: Int32Array, reg: number) => void;

/**
 * Wraps a move's body in the SSE availability check, shared by every move. The body is an
 * indirect call (all wrappers share one feedback vector), cheaper than the old per-execution
 * switch over sixteen variants.
 */
function sseMove(body: MoveBody): Handler {
  return (cpu, i) => {
    if (!sseReady(cpu)) return;
    body(cpu, i, cpu.fpu.xmm32, cpu.dec.reg[i] * 4);
  };
}

function movBody(v: MovX, mem: boolean): MoveBody {
  switch (v) {
    case MovX.LOAD: case MovX.LOAD_ALIGNED: {
      const aligned = v === MovX.LOAD_ALIGNED;
      return (cpu, i, x, reg) => {
        if (!loadSource(cpu, i, mem, 16, aligned)) return;
        x[reg] = S32[0]; x[reg + 1] = S32[1]; x[reg + 2] = S32[2]; x[reg + 3] = S32[3];
      };
    }
    case MovX.STORE: case MovX.STORE_ALIGNED: {
      if (!mem) {
        return (cpu, i, x, reg) => {
          const rm = cpu.dec.rm[i] * 4;
          x[rm] = x[reg]; x[rm + 1] = x[reg + 1]; x[rm + 2] = x[reg + 2]; x[rm + 3] = x[reg + 3];
        };
      }
      const aligned = v === MovX.STORE_ALIGNED;
      return (cpu, i, x, reg) => storeXmm(cpu, i, x, reg, 4, aligned);
    }
    case MovX.MOVSS_LOAD: case MovX.MOVSD_LOAD: {
      const n = v === MovX.MOVSS_LOAD ? 1 : 2;
      return (cpu, i, x, reg) => {
        if (!loadSource(cpu, i, mem, n * 4, false)) return;
        x[reg] = S32[0];
        if (n === 2) x[reg + 1] = S32[1];
        if (mem) { // from memory the rest is zeroed
          if (n === 1) x[reg + 1] = 0;
          x[reg + 2] = 0; x[reg + 3] = 0;
        }
      };
    }
    case MovX.MOVSS_STORE: case MovX.MOVSD_STORE: {
      const n = v === MovX.MOVSS_STORE ? 1 : 2;
      if (!mem) {
        return (cpu, i, x, reg) => {
          const rm = cpu.dec.rm[i] * 4;
          x[rm] = x[reg];
          if (n === 2) x[rm + 1] = x[reg + 1];
        };
      }
      return (cpu, i, x, reg) => storeXmm(cpu, i, x, reg, n, false);
    }
    case MovX.MOVLP_LOAD: case MovX.MOVHP_LOAD: {
      const half = v === MovX.MOVLP_LOAD ? 0 : 2;
      return (cpu, i, x, reg) => {
        if (!loadSource(cpu, i, true, 8, false)) return;
        x[reg + half] = S32[0]; x[reg + half + 1] = S32[1];
      };
    }
    case MovX.MOVHLPS:
      return (cpu, i, x, reg) => {
        const rm = cpu.dec.rm[i] * 4;
        x[reg] = x[rm + 2]; x[reg + 1] = x[rm + 3];
      };
    case MovX.MOVLHPS:
      return (cpu, i, x, reg) => {
        const rm = cpu.dec.rm[i] * 4;
        x[reg + 2] = x[rm]; x[reg + 3] = x[rm + 1];
      };
    case MovX.MOVLP_STORE: case MovX.MOVHP_STORE: {
      const half = v === MovX.MOVLP_STORE ? 0 : 2;
      return (cpu, i, x, reg) => storeXmm(cpu, i, x, reg + half, 2, false);
    }
    case MovX.MOVQ_LOAD:
      return (cpu, i, x, reg) => {
        if (!loadSource(cpu, i, mem, 8, false)) return;
        x[reg] = S32[0]; x[reg + 1] = S32[1]; x[reg + 2] = 0; x[reg + 3] = 0;
      };
    case MovX.MOVQ_STORE:
      if (!mem) {
        return (cpu, i, x, reg) => {
          const rm = cpu.dec.rm[i] * 4;
          x[rm] = x[reg]; x[rm + 1] = x[reg + 1]; x[rm + 2] = 0; x[rm + 3] = 0;
        };
      }
      return (cpu, i, x, reg) => storeXmm(cpu, i, x, reg, 2, false);
    default:
      return () => {};
  }
}

/**
 * MOVD/MOVQ between XMM and a GPR or memory: variant 0 Vx,Ey (zero-extends), 1 Ey,Vx. The
 * direction and, for the store, register or memory are fixed per form.
 */
export const MOVD = family('sse-movd', (form) => {
  const size = form.size === 8 ? 8 : 4;
  const mem = form.mem;
  if (form.variant === 0) {
    return (cpu, i) => {
      if (!sseReady(cpu) || !intSource(cpu, i, mem, size)) return;
      const x = cpu.fpu.xmm32;
      const reg = cpu.dec.reg[i] * 4;
      x[reg] = intSourceLo; x[reg + 1] = size === 8 ? intSourceHi : 0; x[reg + 2] = 0; x[reg + 3] = 0;
    };
  }
  if (mem) {
    return (cpu, i) => {
      if (!sseReady(cpu)) return;
      storeXmm(cpu, i, cpu.fpu.xmm32, cpu.dec.reg[i] * 4, size / 4, false);
    };
  }
  return (cpu, i) => {
    if (!sseReady(cpu)) return;
    const x = cpu.fpu.xmm32;
    const reg = cpu.dec.reg[i] * 4;
    writeReg(cpu, cpu.dec.rm[i], size, x[reg], size === 8 ? x[reg + 1] : 0);
  };
});

/** PMOVMSKB Gd,Ux (variant 0), MOVMSKPS (1), MOVMSKPD (2): sign bits into a GPR; the mask chosen per form. */
const MASKS: readonly ((f: FpuState, rm: number) => number)[] = [
  (f, rm) => {
    const b = f.xmmBytes;
    let m = 0;
    for (let k = 15; k >= 0; k--) m = (m << 1) | (b[rm * 16 + k] >>> 7);
    return m;
  },
  (f, rm) => {
    let m = 0;
    for (let k = 3; k >= 0; k--) m = (m << 1) | (f.xmm32[rm * 4 + k] >>> 31);
    return m;
  },
  (f, rm) => ((f.xmm32[rm * 4 + 3] >>> 31) << 1) | (f.xmm32[rm * 4 + 1] >>> 31),
];

export const MOVMSK = family('sse-movmsk', (form) => {
  const mask = MASKS[form.variant];
  const size = form.size === 8 ? 8 : 4;
  return (cpu, i) => {
    if (!sseReady(cpu)) return;
    writeReg(cpu, cpu.dec.reg[i], size, mask(cpu.fpu, cpu.dec.rm[i]), 0);
  };
});

/** LDMXCSR (variant 0) and STMXCSR (1). Reserved bits in LDMXCSR are #GP(0). */
export const MXCSR_OP = family('sse-mxcsr', (form) => {
  if (form.variant === 1) {
    return (cpu, i) => {
      if (!sseReady(cpu)) return;
      S32[0] = cpu.fpu.mxcsr;
      storeXmm(cpu, i, S32, 0, 1, false);
    };
  }
  return (cpu, i) => {
    if (!sseReady(cpu) || !loadSource(cpu, i, true, 4, false)) return;
    const v = S32[0];
    if ((v & ~0xffff) !== 0) { cpu.raiseGp(0); return; }
    cpu.fpu.mxcsr = v;
  };
});

// ---------------------------------------------------------------------------------------------
// Two-operand operations Vx,Wx: the destination is also the first source, S the second.

type Op = (f: FpuState, d: number) => void;

function u8(x: number): number { return x < 0 ? 0 : x > 255 ? 255 : x; }
function s8(x: number): number { return x < -128 ? -128 : x > 127 ? 127 : x; }
function u16(x: number): number { return x < 0 ? 0 : x > 65535 ? 65535 : x; }
function s16(x: number): number { return x < -32768 ? -32768 : x > 32767 ? 32767 : x; }

function bytewise(fn: (a: number, b: number) => number): Op {
  return (f, d) => {
    const x = f.xmmBytes;
    for (let k = 0; k < 16; k++) x[d * 16 + k] = fn(x[d * 16 + k], S[k]);
  };
}

/** Word lanes as unsigned (fn gets 0..65535) or signed (-32768..32767) values. */
function wordwise(signed: boolean, fn: (a: number, b: number) => number): Op {
  return (f, d) => {
    const v = f.xmmView;
    for (let k = 0; k < 8; k++) {
      const o = d * 16 + k * 2;
      const a = signed ? v.getInt16(o, true) : v.getUint16(o, true);
      const b = signed ? S16[k] : S16[k] & 0xffff;
      v.setUint16(o, fn(a, b) & 0xffff, true);
    }
  };
}

function dwordwise(fn: (a: number, b: number) => number): Op {
  return (f, d) => {
    const x = f.xmm32;
    for (let k = 0; k < 4; k++) x[d * 4 + k] = fn(x[d * 4 + k], S32[k]) | 0;
  };
}

/** Quadword lanes as 32-bit halves: fn writes the result into x at `o`, `o + 1`. */
function qwordwise(fn: (x: Int32Array, o: number, sl: number, sh: number) => void): Op {
  return (f, d) => {
    fn(f.xmm32, d * 4, S32[0], S32[1]);
    fn(f.xmm32, d * 4 + 2, S32[2], S32[3]);
  };
}

function addq(x: Int32Array, o: number, sl: number, sh: number): void {
  const lo = (x[o] >>> 0) + (sl >>> 0);
  x[o] = lo | 0;
  x[o + 1] = (x[o + 1] + sh + (lo > 0xffffffff ? 1 : 0)) | 0;
}

function subq(x: Int32Array, o: number, sl: number, sh: number): void {
  const lo = (x[o] >>> 0) - (sl >>> 0);
  x[o] = lo | 0;
  x[o + 1] = (x[o + 1] - sh - (lo < 0 ? 1 : 0)) | 0;
}

/** PMULUDQ: low dwords of each quadword, unsigned, full 64-bit product. */
function muludq(x: Int32Array, o: number, sl: number): void {
  const a = x[o] >>> 0;
  const b = sl >>> 0;
  const aLo = a & 0xffff, aHi = a >>> 16, bLo = b & 0xffff, bHi = b >>> 16;
  const ll = aLo * bLo;
  const mid = aHi * bLo + aLo * bHi; // < 2^33
  const lo = ll + (mid % 65536) * 65536;
  const hi = aHi * bHi + Math.floor(mid / 65536) + Math.floor(lo / 4294967296);
  x[o] = lo | 0;
  x[o + 1] = hi | 0;
}

/** Packed and scalar floating point: `fn` gets two lanes and returns the result. */
function packedF64(fn: (a: number, b: number) => number, scalar: boolean): Op {
  return (f, d) => {
    const n = scalar ? 1 : 2;
    for (let k = 0; k < n; k++) put64(f.xmm32, f.xmmF64, d * 2 + k, k, fn(f.xmmF64[d * 2 + k], SF64[k]));
  };
}

function packedF32(fn: (a: number, b: number) => number, scalar: boolean): Op {
  return (f, d) => {
    const n = scalar ? 1 : 4;
    for (let k = 0; k < n; k++) put32(f.xmm32, f.xmmF32, d * 4 + k, k, Math.fround(fn(f.xmmF32[d * 4 + k], SF32[k])));
  };
}

/** MINxx/MAXxx: the second source when either is a NaN or both are zero (bit copy). */
function minMax64(max: boolean, scalar: boolean): Op {
  return (f, d) => {
    const n = scalar ? 1 : 2;
    for (let k = 0; k < n; k++) {
      const a = f.xmmF64[d * 2 + k];
      const b = SF64[k];
      const takeA = max ? a > b : a < b; // false for NaNs and equal values (including +-0)
      if (!takeA) { f.xmm32[(d * 2 + k) * 2] = S32[k * 2]; f.xmm32[(d * 2 + k) * 2 + 1] = S32[k * 2 + 1]; }
    }
  };
}

function minMax32(max: boolean, scalar: boolean): Op {
  return (f, d) => {
    const n = scalar ? 1 : 4;
    for (let k = 0; k < n; k++) {
      const a = f.xmmF32[d * 4 + k];
      const b = SF32[k];
      const takeA = max ? a > b : a < b;
      if (!takeA) f.xmm32[d * 4 + k] = S32[k];
    }
  };
}

/** CMPPS/CMPPD/CMPSS/CMPSD predicate (imm8 bits 2:0): EQ LT LE UNORD NEQ NLT NLE ORD. */
function cmpPredicate(p: number, a: number, b: number): boolean {
  const unordered = a !== a || b !== b;
  switch (p & 7) {
    case 0: return a === b;
    case 1: return a < b;
    case 2: return a <= b;
    case 3: return unordered;
    case 4: return a !== b || unordered;
    case 5: return !(a < b);
    case 6: return !(a <= b);
    default: return !unordered;
  }
}

/** Unpack low (hi = false) or high halves, interleaving elements of `size` bytes. */
function unpack(size: number, high: boolean): Op {
  return (f, d) => {
    const x = f.xmmBytes;
    const base = high ? 8 : 0;
    const n = 8 / size;
    for (let k = 0; k < n; k++) {
      for (let b = 0; b < size; b++) {
        T[2 * k * size + b] = x[d * 16 + base + k * size + b];
        T[(2 * k + 1) * size + b] = S[base + k * size + b];
      }
    }
    x.set(T, d * 16);
  };
}

/** PACKSSWB / PACKUSWB (words to bytes) and PACKSSDW (dwords to words), saturating. */
function packWords(unsigned: boolean): Op {
  return (f, d) => {
    const v = f.xmmView;
    for (let k = 0; k < 8; k++) {
      const a = v.getInt16(d * 16 + k * 2, true);
      T[k] = unsigned ? u8(a) : s8(a) & 0xff;
      T[k + 8] = unsigned ? u8(S16[k]) : s8(S16[k]) & 0xff;
    }
    f.xmmBytes.set(T, d * 16);
  };
}

function packDwords(f: FpuState, d: number): void {
  for (let k = 0; k < 4; k++) {
    T16[k] = s16(f.xmm32[d * 4 + k]);
    T16[k + 4] = s16(S32[k]);
  }
  f.xmmBytes.set(T, d * 16);
}

/** Two-operand operations, by variant (the rows in decode/two-byte.ts name them). */
export const enum SseOp {
  PADDB, PADDW, PADDD, PADDQ, PSUBB, PSUBW, PSUBD, PSUBQ,
  PADDUSB, PADDUSW, PSUBUSB, PSUBUSW, PADDSB, PADDSW, PSUBSB, PSUBSW,
  PCMPEQB, PCMPEQW, PCMPEQD, PCMPGTB, PCMPGTW, PCMPGTD,
  PMINUB, PMAXUB, PMINSW, PMAXSW, PAVGB, PAVGW, PMULLW, PMULHW, PMULHUW, PMULUDQ, PMADDWD, PSADBW,
  PAND, PANDN, POR, PXOR,
  PUNPCKLBW, PUNPCKLWD, PUNPCKLDQ, PUNPCKLQDQ, PUNPCKHBW, PUNPCKHWD, PUNPCKHDQ, PUNPCKHQDQ,
  PACKSSWB, PACKUSWB, PACKSSDW,
  ADDPS, ADDPD, ADDSS, ADDSD, SUBPS, SUBPD, SUBSS, SUBSD, MULPS, MULPD, MULSS, MULSD,
  DIVPS, DIVPD, DIVSS, DIVSD, MINPS, MINPD, MINSS, MINSD, MAXPS, MAXPD, MAXSS, MAXSD,
  SQRTPS, SQRTPD, SQRTSS, SQRTSD,
  UNPCKLPS, UNPCKHPS, UNPCKLPD, UNPCKHPD,
  COUNT,
}

const OPS: Op[] = [];
OPS[SseOp.PADDB] = bytewise((a, b) => a + b);
OPS[SseOp.PADDW] = wordwise(false, (a, b) => a + b);
OPS[SseOp.PADDD] = dwordwise((a, b) => a + b);
OPS[SseOp.PADDQ] = qwordwise(addq);
OPS[SseOp.PSUBB] = bytewise((a, b) => a - b);
OPS[SseOp.PSUBW] = wordwise(false, (a, b) => a - b);
OPS[SseOp.PSUBD] = dwordwise((a, b) => a - b);
OPS[SseOp.PSUBQ] = qwordwise(subq);
OPS[SseOp.PADDUSB] = bytewise((a, b) => u8(a + b));
OPS[SseOp.PADDUSW] = wordwise(false, (a, b) => u16(a + b));
OPS[SseOp.PSUBUSB] = bytewise((a, b) => u8(a - b));
OPS[SseOp.PSUBUSW] = wordwise(false, (a, b) => u16(a - b));
OPS[SseOp.PADDSB] = bytewise((a, b) => s8(((a << 24) >> 24) + ((b << 24) >> 24)));
OPS[SseOp.PADDSW] = wordwise(true, (a, b) => s16(a + b));
OPS[SseOp.PSUBSB] = bytewise((a, b) => s8(((a << 24) >> 24) - ((b << 24) >> 24)));
OPS[SseOp.PSUBSW] = wordwise(true, (a, b) => s16(a - b));
OPS[SseOp.PCMPEQB] = bytewise((a, b) => (a === b ? 0xff : 0));
OPS[SseOp.PCMPEQW] = wordwise(false, (a, b) => (a === b ? 0xffff : 0));
OPS[SseOp.PCMPEQD] = dwordwise((a, b) => (a === b ? -1 : 0));
OPS[SseOp.PCMPGTB] = bytewise((a, b) => (((a << 24) >> 24) > ((b << 24) >> 24) ? 0xff : 0));
OPS[SseOp.PCMPGTW] = wordwise(true, (a, b) => (a > b ? 0xffff : 0));
OPS[SseOp.PCMPGTD] = dwordwise((a, b) => (a > b ? -1 : 0));
OPS[SseOp.PMINUB] = bytewise((a, b) => Math.min(a, b));
OPS[SseOp.PMAXUB] = bytewise((a, b) => Math.max(a, b));
OPS[SseOp.PMINSW] = wordwise(true, (a, b) => Math.min(a, b));
OPS[SseOp.PMAXSW] = wordwise(true, (a, b) => Math.max(a, b));
OPS[SseOp.PAVGB] = bytewise((a, b) => (a + b + 1) >> 1);
OPS[SseOp.PAVGW] = wordwise(false, (a, b) => (a + b + 1) >> 1);
OPS[SseOp.PMULLW] = wordwise(true, (a, b) => Math.imul(a, b));
OPS[SseOp.PMULHW] = wordwise(true, (a, b) => (a * b) >> 16);
OPS[SseOp.PMULHUW] = wordwise(false, (a, b) => Math.floor((a * b) / 65536));
OPS[SseOp.PMULUDQ] = (f, d) => { muludq(f.xmm32, d * 4, S32[0]); muludq(f.xmm32, d * 4 + 2, S32[2]); };
OPS[SseOp.PMADDWD] = (f, d) => {
  const v = f.xmmView;
  for (let k = 0; k < 4; k++) {
    const o = d * 16 + k * 4;
    f.xmm32[d * 4 + k] = (v.getInt16(o, true) * S16[2 * k] + v.getInt16(o + 2, true) * S16[2 * k + 1]) | 0;
  }
};
OPS[SseOp.PSADBW] = (f, d) => {
  const x = f.xmmBytes;
  for (let h = 0; h < 2; h++) {
    let sum = 0;
    for (let k = 0; k < 8; k++) sum += Math.abs(x[d * 16 + h * 8 + k] - S[h * 8 + k]);
    f.xmm32[d * 4 + h * 2] = sum;
    f.xmm32[d * 4 + h * 2 + 1] = 0;
  }
};
OPS[SseOp.PAND] = dwordwise((a, b) => a & b);
OPS[SseOp.PANDN] = dwordwise((a, b) => ~a & b);
OPS[SseOp.POR] = dwordwise((a, b) => a | b);
OPS[SseOp.PXOR] = dwordwise((a, b) => a ^ b);
OPS[SseOp.PUNPCKLBW] = unpack(1, false);
OPS[SseOp.PUNPCKLWD] = unpack(2, false);
OPS[SseOp.PUNPCKLDQ] = unpack(4, false);
OPS[SseOp.PUNPCKLQDQ] = unpack(8, false);
OPS[SseOp.PUNPCKHBW] = unpack(1, true);
OPS[SseOp.PUNPCKHWD] = unpack(2, true);
OPS[SseOp.PUNPCKHDQ] = unpack(4, true);
OPS[SseOp.PUNPCKHQDQ] = unpack(8, true);
OPS[SseOp.PACKSSWB] = packWords(false);
OPS[SseOp.PACKUSWB] = packWords(true);
OPS[SseOp.PACKSSDW] = packDwords;
const add = (a: number, b: number): number => a + b;
const sub = (a: number, b: number): number => a - b;
const mul = (a: number, b: number): number => a * b;
const div = (a: number, b: number): number => a / b;
const sqrt = (_a: number, b: number): number => Math.sqrt(b);
OPS[SseOp.ADDPS] = packedF32(add, false);
OPS[SseOp.ADDPD] = packedF64(add, false);
OPS[SseOp.ADDSS] = packedF32(add, true);
OPS[SseOp.ADDSD] = packedF64(add, true);
OPS[SseOp.SUBPS] = packedF32(sub, false);
OPS[SseOp.SUBPD] = packedF64(sub, false);
OPS[SseOp.SUBSS] = packedF32(sub, true);
OPS[SseOp.SUBSD] = packedF64(sub, true);
OPS[SseOp.MULPS] = packedF32(mul, false);
OPS[SseOp.MULPD] = packedF64(mul, false);
OPS[SseOp.MULSS] = packedF32(mul, true);
OPS[SseOp.MULSD] = packedF64(mul, true);
OPS[SseOp.DIVPS] = packedF32(div, false);
OPS[SseOp.DIVPD] = packedF64(div, false);
OPS[SseOp.DIVSS] = packedF32(div, true);
OPS[SseOp.DIVSD] = packedF64(div, true);
OPS[SseOp.MINPS] = minMax32(false, false);
OPS[SseOp.MINPD] = minMax64(false, false);
OPS[SseOp.MINSS] = minMax32(false, true);
OPS[SseOp.MINSD] = minMax64(false, true);
OPS[SseOp.MAXPS] = minMax32(true, false);
OPS[SseOp.MAXPD] = minMax64(true, false);
OPS[SseOp.MAXSS] = minMax32(true, true);
OPS[SseOp.MAXSD] = minMax64(true, true);
// SQRT: one source; a NaN result takes the source's NaN (the destination is not a source).
OPS[SseOp.SQRTPS] = (f, d) => { for (let k = 0; k < 4; k++) putUnary32(f, d * 4 + k, k, Math.fround(sqrt(0, SF32[k]))); };
OPS[SseOp.SQRTPD] = (f, d) => { for (let k = 0; k < 2; k++) putUnary64(f, d * 2 + k, k, sqrt(0, SF64[k])); };
OPS[SseOp.SQRTSS] = (f, d) => putUnary32(f, d * 4, 0, Math.fround(sqrt(0, SF32[0])));
OPS[SseOp.SQRTSD] = (f, d) => putUnary64(f, d * 2, 0, sqrt(0, SF64[0]));
OPS[SseOp.UNPCKLPS] = unpack(4, false);
OPS[SseOp.UNPCKHPS] = unpack(4, true);
OPS[SseOp.UNPCKLPD] = unpack(8, false);
OPS[SseOp.UNPCKHPD] = unpack(8, true);

function putUnary64(f: FpuState, dk: number, sk: number, v: number): void {
  if (v === v) { f.xmmF64[dk] = v; return; }
  if (isNan64(S32, sk * 2)) { f.xmm32[dk * 2] = S32[sk * 2]; f.xmm32[dk * 2 + 1] = S32[sk * 2 + 1] | 0x80000; return; }
  f.xmm32[dk * 2] = 0; f.xmm32[dk * 2 + 1] = 0xfff80000 | 0;
}

function putUnary32(f: FpuState, dk: number, sk: number, v: number): void {
  if (v === v) { f.xmmF32[dk] = v; return; }
  f.xmm32[dk] = isNan32(S32, sk) ? S32[sk] | 0x400000 : 0xffc00000 | 0;
}

/** Operand bytes a scalar op reads from memory (the rest of S is zero). */
function sourceBytes(op: SseOp): number {
  switch (op) {
    case SseOp.ADDSS: case SseOp.SUBSS: case SseOp.MULSS: case SseOp.DIVSS: case SseOp.MINSS:
    case SseOp.MAXSS: case SseOp.SQRTSS: return 4;
    case SseOp.ADDSD: case SseOp.SUBSD: case SseOp.MULSD: case SseOp.DIVSD: case SseOp.MINSD:
    case SseOp.MAXSD: case SseOp.SQRTSD: return 8;
    default: return 16;
  }
}

/** Two-operand Vx,Wx operations; the variant is an SseOp. Full-width memory operands must be aligned. */
export const SSE_BINARY = family('sse-binary', (form) => {
  const op = OPS[form.variant];
  const bytes = sourceBytes(form.variant as SseOp);
  const mem = form.mem;
  return (cpu, i) => {
    if (!sseReady(cpu)) return;
    if (!loadSource(cpu, i, mem, bytes, bytes === 16)) return;
    op(cpu.fpu, cpu.dec.reg[i]);
  };
});

/** Logic on packed floats (ANDPS ANDNPS ORPS XORPS and the PD forms): the same as PAND and friends. */
export const SSE_LOGIC_FP = SSE_BINARY;

/** Compares n float lanes of register d with S under predicate p, each lane all ones or zero. */
type LaneCompare = (f: FpuState, d: number, p: number) => void;

const cmp32 = (n: number): LaneCompare => (f, d, p) => {
  for (let k = 0; k < n; k++) f.xmm32[d * 4 + k] = cmpPredicate(p, f.xmmF32[d * 4 + k], SF32[k]) ? -1 : 0;
};

const cmp64 = (n: number): LaneCompare => (f, d, p) => {
  for (let k = 0; k < n; k++) {
    const r = cmpPredicate(p, f.xmmF64[d * 2 + k], SF64[k]) ? -1 : 0;
    f.xmm32[d * 4 + k * 2] = r;
    f.xmm32[d * 4 + k * 2 + 1] = r;
  }
};

/** By variant: CMPPS, CMPPD, CMPSS, CMPSD, with the bytes each reads from memory. */
const COMPARES: readonly LaneCompare[] = [cmp32(4), cmp64(2), cmp32(1), cmp64(1)];
const COMPARE_BYTES: readonly number[] = [16, 16, 4, 8];

/** CMPPS (0) CMPPD (1) CMPSS (2) CMPSD (3) Vx,Wx,Ib; the lane comparison is chosen per form. */
export const SSE_CMP = family('sse-cmp', (form) => {
  const compare = COMPARES[form.variant] ?? COMPARES[3];
  const bytes = COMPARE_BYTES[form.variant] ?? 8;
  const aligned = bytes === 16;
  const mem = form.mem;
  return (cpu, i) => {
    if (!sseReady(cpu)) return;
    if (!loadSource(cpu, i, mem, bytes, aligned)) return;
    compare(cpu.fpu, cpu.dec.reg[i], cpu.dec.imm[i]);
  };
});

/** UCOMISS (0) UCOMISD (1) COMISS (2) COMISD (3): ZF PF CF from the comparison, OF SF AF cleared. */
export const SSE_COMI = family('sse-comi', (form) => {
  const double = (form.variant & 1) !== 0;
  return (cpu, i) => {
    if (!sseReady(cpu)) return;
    if (!loadSource(cpu, i, form.mem, double ? 8 : 4, false)) return;
    const f = cpu.fpu;
    const d = cpu.dec.reg[i];
    compareToEflags(cpu, double ? f.xmmF64[d * 2] : f.xmmF32[d * 4], double ? SF64[0] : SF32[0]);
  };
});

/** PSHUFD (0), PSHUFHW (1), PSHUFLW (2) Vx,Wx,Ib; SHUFPS (3), SHUFPD (4) Vx,Wx,Ib. */
/** Each shuffle fills T from S (the source) and x at d (the destination's old value) under imm. */
type Shuffle = (x: Int32Array, d: number, imm: number) => void;

const pshufw = (base: number): Shuffle => (_x, _d, imm) => {
  T32[0] = S32[0]; T32[1] = S32[1]; T32[2] = S32[2]; T32[3] = S32[3];
  for (let k = 0; k < 4; k++) T16[base + k] = S16[base + ((imm >> (2 * k)) & 3)];
};

/** By variant: PSHUFD, PSHUFHW, PSHUFLW, SHUFPS, SHUFPD. */
const SHUFFLES: readonly Shuffle[] = [
  (_x, _d, imm) => { for (let k = 0; k < 4; k++) T32[k] = S32[(imm >> (2 * k)) & 3]; },
  pshufw(4),
  pshufw(0),
  (x, d, imm) => {
    T32[0] = x[d * 4 + (imm & 3)];
    T32[1] = x[d * 4 + ((imm >> 2) & 3)];
    T32[2] = S32[(imm >> 4) & 3];
    T32[3] = S32[(imm >> 6) & 3];
  },
  (x, d, imm) => {
    const lo = imm & 1;
    const hi = (imm >> 1) & 1;
    T32[0] = x[d * 4 + lo * 2]; T32[1] = x[d * 4 + lo * 2 + 1];
    T32[2] = S32[hi * 2]; T32[3] = S32[hi * 2 + 1];
  },
];

export const SSE_SHUF = family('sse-shuf', (form) => {
  const shuffle = SHUFFLES[form.variant] ?? SHUFFLES[4];
  return (cpu, i) => {
    if (!sseReady(cpu)) return;
    if (!loadSource(cpu, i, form.mem, 16, true)) return;
    const x = cpu.fpu.xmm32;
    const d = cpu.dec.reg[i];
    shuffle(x, d, cpu.dec.imm[i]);
    x[d * 4] = T32[0]; x[d * 4 + 1] = T32[1]; x[d * 4 + 2] = T32[2]; x[d * 4 + 3] = T32[3];
  };
});

/**
 * Shifts. Variant: element size (2, 4, 8) * 4 + kind (0 logical right, 1 arithmetic right,
 * 2 left); the count is the low quadword of Wx (PSRLW Vx,Wx ...) or an imm8 (group 12-14 forms,
 * rows "Ux,Ib"). PSRLDQ/PSLLDQ shift the whole register by bytes: size 16, kinds 0 and 2.
 */
export const SSE_SHIFT = family('sse-shift', (form) => {
  const size = form.variant >> 2;
  const kind = form.variant & 3;
  const immediate = form.ops.second === Operand.IMM;
  return (cpu, i) => {
    if (!sseReady(cpu)) return;
    let count: number;
    let d: number;
    if (immediate) {
      count = cpu.dec.imm[i] & 0xff;
      d = cpu.dec.rm[i];
    } else {
      if (!loadSource(cpu, i, form.mem, 16, true)) return;
      count = S32[1] !== 0 || (S32[0] >>> 0) > 255 ? 256 : S32[0];
      d = cpu.dec.reg[i];
    }
    shiftLanes(cpu.fpu, d, size, kind, count);
  };
});

function shiftLanes(f: FpuState, d: number, size: number, kind: number, count: number): void {
  const x = f.xmm32;
  if (size === 16) {
    const n = Math.min(count, 16);
    const b = f.xmmBytes;
    for (let k = 0; k < 16; k++) T[k] = b[d * 16 + k];
    for (let k = 0; k < 16; k++) {
      const from = kind === 0 ? k + n : k - n;
      b[d * 16 + k] = from >= 0 && from < 16 ? T[from] : 0;
    }
    return;
  }
  const bits = size * 8;
  if (size === 2) {
    const v = f.xmmView;
    for (let k = 0; k < 8; k++) {
      const o = d * 16 + k * 2;
      const a = v.getUint16(o, true);
      let r: number;
      if (kind === 1) r = count >= bits ? ((a << 16) >> 31) : ((a << 16) >> 16) >> count;
      else if (count >= bits) r = 0;
      else r = kind === 0 ? a >>> count : a << count;
      v.setUint16(o, r & 0xffff, true);
    }
    return;
  }
  if (size === 4) {
    for (let k = 0; k < 4; k++) {
      const a = x[d * 4 + k];
      if (kind === 1) x[d * 4 + k] = a >> Math.min(count, 31);
      else if (count >= 32) x[d * 4 + k] = 0;
      else x[d * 4 + k] = kind === 0 ? a >>> count : a << count;
    }
    return;
  }
  for (let k = 0; k < 2; k++) {
    const o = d * 4 + k * 2;
    const lo = x[o];
    const hi = x[o + 1];
    if (count >= 64) { x[o] = 0; x[o + 1] = 0; continue; }
    if (count === 0) continue;
    if (kind === 0) {
      if (count >= 32) { x[o] = hi >>> (count - 32); x[o + 1] = 0; } else { x[o] = (lo >>> count) | (hi << (32 - count)); x[o + 1] = hi >>> count; }
    } else if (count >= 32) {
      x[o + 1] = lo << (count - 32); x[o] = 0;
    } else {
      x[o + 1] = (hi << count) | (lo >>> (32 - count)); x[o] = lo << count;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Conversions.

export const enum Cvt {
  /** CVTSI2SS/CVTSI2SD Vx,Ey. */
  SI2SS = 0, SI2SD = 1,
  /** CVT(T)SS2SI / CVT(T)SD2SI Gy,Wss/Wsd. */
  SS2SI = 2, TSS2SI = 3, SD2SI = 4, TSD2SI = 5,
  /** CVTSS2SD, CVTSD2SS, CVTPS2PD, CVTPD2PS. */
  SS2SD = 6, SD2SS = 7, PS2PD = 8, PD2PS = 9,
  /** CVTDQ2PS, CVTPS2DQ, CVTTPS2DQ, CVTDQ2PD, CVTPD2DQ, CVTTPD2DQ. */
  DQ2PS = 10, PS2DQ = 11, TPS2DQ = 12, DQ2PD = 13, PD2DQ = 14, TPD2DQ = 15,
}

/** A float to a 32-bit integer, rounding (to nearest even) or truncating; indefinite if out of range. */
function toInt32(v: number, truncate: boolean): number {
  const r = truncate ? Math.trunc(v) : roundEven(v);
  return r >= -2147483648 && r <= 2147483647 ? r | 0 : 0x80000000 | 0;
}

type CvtBody = (cpu: Vcpu, i: number, f: FpuState, d: number) => void;

/** The conversion of variant v, chosen when the form's handler is built (not switched on per execution). */
function cvtBody(v: Cvt, mem: boolean, size: number): CvtBody {
  switch (v) {
    case Cvt.SI2SS: case Cvt.SI2SD: return (cpu, i, f, d) => {
      if (!intSource(cpu, i, mem, size)) return;
      const lo = intSourceLo;
      const n = size === 8 ? intSourceHi * 4294967296 + (lo >>> 0) : lo | 0;
      if (v === Cvt.SI2SS) f.xmmF32[d * 4] = Math.fround(n); else f.xmmF64[d * 2] = n;
    };
    case Cvt.SS2SI: case Cvt.TSS2SI: case Cvt.SD2SI: case Cvt.TSD2SI: return (cpu, i, f, d) => {
      const double = v === Cvt.SD2SI || v === Cvt.TSD2SI;
      if (!loadSource(cpu, i, mem, double ? 8 : 4, false)) return;
      const x = double ? SF64[0] : SF32[0];
      const trunc = v === Cvt.TSS2SI || v === Cvt.TSD2SI;
      if (size === 4) { writeReg(cpu, d, 4, toInt32(x, trunc), 0); return; }
      const r = trunc ? Math.trunc(x) : roundEven(x);
      if (!(r >= -9223372036854775808 && r < 9223372036854775808)) { writeReg(cpu, d, 8, 0, 0x80000000 | 0); return; }
      const hi = Math.floor(r / 4294967296);
      writeReg(cpu, d, 8, (r - hi * 4294967296) | 0, hi | 0);
    };
    case Cvt.SS2SD: return (cpu, i, f, d) => {
      if (!loadSource(cpu, i, mem, 4, false)) return;
      if (isNan32(S32, 0)) { // the payload moves up, quieted
        f.xmm32[d * 4 + 1] = ((S32[0] & 0x80000000) | 0x7ff80000 | ((S32[0] & 0x7fffff) >>> 3)) | 0;
        f.xmm32[d * 4] = (S32[0] & 7) << 29;
      } else {
        f.xmmF64[d * 2] = SF32[0];
      }
    };
    case Cvt.SD2SS: return (cpu, i, f, d) => {
      if (!loadSource(cpu, i, mem, 8, false)) return;
      if (isNan64(S32, 0)) f.xmm32[d * 4] = ((S32[1] & 0x80000000) | 0x7fc00000 | ((S32[1] & 0xfffff) << 3) | (S32[0] >>> 29)) | 0;
      else f.xmmF32[d * 4] = Math.fround(SF64[0]);
    };
    case Cvt.PS2PD: return (cpu, i, f, d) => {
      if (!loadSource(cpu, i, mem, 8, false)) return;
      const a = SF32[0];
      const b = SF32[1];
      f.xmmF64[d * 2] = a; f.xmmF64[d * 2 + 1] = b;
    };
    case Cvt.PD2PS: return (cpu, i, f, d) => {
      if (!loadSource(cpu, i, mem, 16, true)) return;
      f.xmmF32[d * 4] = Math.fround(SF64[0]); f.xmmF32[d * 4 + 1] = Math.fround(SF64[1]);
      f.xmm32[d * 4 + 2] = 0; f.xmm32[d * 4 + 3] = 0;
    };
    case Cvt.DQ2PS: return (cpu, i, f, d) => {
      if (!loadSource(cpu, i, mem, 16, true)) return;
      for (let k = 0; k < 4; k++) f.xmmF32[d * 4 + k] = Math.fround(S32[k]);
    };
    case Cvt.PS2DQ: case Cvt.TPS2DQ: return (cpu, i, f, d) => {
      if (!loadSource(cpu, i, mem, 16, true)) return;
      for (let k = 0; k < 4; k++) f.xmm32[d * 4 + k] = toInt32(SF32[k], v === Cvt.TPS2DQ);
    };
    case Cvt.DQ2PD: return (cpu, i, f, d) => {
      if (!loadSource(cpu, i, mem, 8, false)) return;
      const a = S32[0];
      const b = S32[1];
      f.xmmF64[d * 2] = a; f.xmmF64[d * 2 + 1] = b;
    };
    default: return (cpu, i, f, d) => { // PD2DQ, TPD2DQ
      if (!loadSource(cpu, i, mem, 16, true)) return;
      const a = toInt32(SF64[0], v === Cvt.TPD2DQ);
      const b = toInt32(SF64[1], v === Cvt.TPD2DQ);
      f.xmm32[d * 4] = a; f.xmm32[d * 4 + 1] = b; f.xmm32[d * 4 + 2] = 0; f.xmm32[d * 4 + 3] = 0;
    };
  }
}

export const SSE_CVT = family('sse-cvt', (form) => {
  const body = cvtBody(form.variant as Cvt, form.mem, form.size === 8 ? 8 : 4);
  return (cpu, i) => {
    if (!sseReady(cpu)) return;
    body(cpu, i, cpu.fpu, cpu.dec.reg[i]);
  };
});

/** MOVNTI My,Gy: a plain store (no cache model), MOV Ey,Gy's memory form. */
export const MOVNTI = family('movnti', (form: Form) => MOV.make(form.size === 8 ? form : { ...form, size: 4 }));
