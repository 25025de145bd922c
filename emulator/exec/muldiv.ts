import type { Vcpu } from '../cpu/vcpu.js';
import { family } from './registry.js';
import { type Operation, V, Val, toE, toG } from './operand-flow.js';
import { LfOp, setLazy } from './flags.js';
import { signExtend } from './operands.js';
import { Reg } from '../arch/registers.js';
import { Vector } from '../arch/vectors.js';
import { W, divS128, divU128, mul64, mulHighS32, mulHighU32, productFits64Signed } from './wide-arith.js';

/**
 * MUL, IMUL (one-, two- and three-operand), DIV and IDIV (SDM Vol. 2). Products of 32-bit operands
 * are computed exactly with 16-bit partial products; 64-bit products and the quotients that do
 * not fit a double use 32-bit limbs (wide-arith.ts), never BigInt, which allocates per instruction.
 * After MUL/IMUL only CF and OF are defined; they record "the high half is significant".
 */

/** Records MUL/IMUL flags: CF = OF = `overflow`; SF/ZF/PF follow the low result. */
function recordMul(cpu: Vcpu, size: number, low: number, overflow: boolean): void {
  cpu.lfAux = overflow ? 1 : 0;
  setLazy(cpu, LfOp.MUL, size === 8 ? 4 : size, 0, 0, low);
}

/**
 * One-operand MUL (variant 0) and IMUL (variant 1): rDX:rAX = rAX * E. E is read by the shared
 * flow (a faulting load ends it there) into V[Val.A]/V[Val.AHI]; nothing is written back to E.
 * The operation for the form's size and signedness is chosen when its handler is built.
 */
export const MUL1 = family('mul1', (form) => toE(form, mulOperation(form.size, form.variant === 1), false));

function mulOperation(size: number, signed: boolean): Operation {
  switch (size) {
    case 1: return signed
      ? (cpu) => {
        const p = ((cpu.lo[Reg.RAX] << 24) >> 24) * ((V[Val.A] << 24) >> 24);
        cpu.set16(Reg.RAX, p);
        recordMul(cpu, 1, p, p !== ((p << 24) >> 24));
        return false;
      }
      : (cpu) => {
        const p = (cpu.lo[Reg.RAX] & 0xff) * (V[Val.A] & 0xff);
        cpu.set16(Reg.RAX, p);
        recordMul(cpu, 1, p, (p & 0xff00) !== 0);
        return false;
      };
    case 2: return signed
      ? (cpu) => {
        const p = ((cpu.lo[Reg.RAX] << 16) >> 16) * ((V[Val.A] << 16) >> 16);
        cpu.set16(Reg.RAX, p);
        cpu.set16(Reg.RDX, p >> 16);
        recordMul(cpu, 2, p, p !== ((p << 16) >> 16));
        return false;
      }
      : (cpu) => {
        const p = (cpu.lo[Reg.RAX] & 0xffff) * (V[Val.A] & 0xffff);
        cpu.set16(Reg.RAX, p);
        cpu.set16(Reg.RDX, p >> 16);
        recordMul(cpu, 2, p, (p & 0xffff0000) !== 0);
        return false;
      };
    case 4: {
      const high = signed ? mulHighS32 : mulHighU32;
      // CF = OF: the high half is not the low half's extension (its sign for IMUL, zero for MUL).
      const ext = signed ? -1 : 0;
      return (cpu) => {
        const a = cpu.lo[Reg.RAX];
        const s = V[Val.A];
        const lo = Math.imul(a, s);
        const hi = high(a, s);
        cpu.set32(Reg.RAX, lo);
        cpu.set32(Reg.RDX, hi);
        recordMul(cpu, 4, lo, hi !== ((lo >> 31) & ext));
        return false;
      };
    }
    default: return signed
      ? (cpu) => {
        mul64(cpu.lo[Reg.RAX], cpu.hi[Reg.RAX], V[Val.A], V[Val.AHI], true);
        storeWide(cpu);
        recordMul(cpu, 8, W[0], !productFits64Signed());
        return false;
      }
      : (cpu) => {
        mul64(cpu.lo[Reg.RAX], cpu.hi[Reg.RAX], V[Val.A], V[Val.AHI], false);
        storeWide(cpu);
        recordMul(cpu, 8, W[0], (W[2] | W[3]) !== 0);
        return false;
      };
  }
}

/** rDX:rAX = W (a 64-bit MUL's product, a 64-bit DIV's quotient and remainder). */
function storeWide(cpu: Vcpu): void {
  cpu.lo[Reg.RAX] = W[0]; cpu.hi[Reg.RAX] = W[1];
  cpu.lo[Reg.RDX] = W[2]; cpu.hi[Reg.RDX] = W[3];
}

/** IMUL G,E (pattern "Gv,Ev") and IMUL G,E,imm ("Gv,Ev,Iz"/"Gv,Ev,Ib"): truncated signed product. */
export const IMUL = family('imul', (form) => {
  const size = form.size;
  const withImm = form.ops.count === 3;
  // The G = G op E flow loads E into V[Val.B] and G into V[Val.A] and writes V[Val.R] to G.
  return toG(form, (cpu, i) => {
    const e = V[Val.B];
    const eHi = V[Val.BHI];
    const d = cpu.dec;
    const b = withImm ? d.imm[i] : V[Val.A];
    const bHi = withImm ? d.immHi[i] : V[Val.AHI];
    if (size === 8) {
      mul64(e, eHi, b, bHi, true);
      V[Val.R] = W[0]; V[Val.RHI] = W[1];
      recordMul(cpu, 8, W[0], !productFits64Signed());
      return true;
    }
    const x = signExtend(e, size);
    const y = signExtend(b, size);
    V[Val.RHI] = 0;
    if (size === 4) {
      const lo = Math.imul(x, y);
      V[Val.R] = lo;
      recordMul(cpu, 4, lo, mulHighS32(x, y) !== (lo >> 31));
      return true;
    }
    const p = x * y;
    V[Val.R] = p;
    recordMul(cpu, size, p, p !== signExtend(p, size));
    return true;
  });
});

/**
 * DIV (variant 0) and IDIV (variant 1): #DE on a zero divisor or a quotient that does not fit. As
 * MUL1, E comes from the shared flow and the results go to rDX:rAX, never to E; the operation for
 * the form's size and signedness is chosen when its handler is built.
 */
export const DIV = family('div', (form) => toE(form, divOperation(form.size, form.variant === 1), false));

function divOperation(size: number, signed: boolean): Operation {
  if (size === 1 || size === 2) return signed ? smallIdiv(size) : smallDiv(size);
  if (size === 4) {
    return signed
      ? (cpu) => {
        const s = V[Val.A];
        if (s === 0) { cpu.raise(Vector.DE); return false; }
        // EDX:EAX sign-extended to a 128-bit dividend.
        const n1 = cpu.lo[Reg.RDX];
        if (!divS128(cpu.lo[Reg.RAX], n1, n1 >> 31, n1 >> 31, s, s >> 31, 32)) { cpu.raise(Vector.DE); return false; }
        cpu.set32(Reg.RAX, W[0]);
        cpu.set32(Reg.RDX, W[2]);
        return false;
      }
      : (cpu) => {
        const s = V[Val.A];
        if (s === 0) { cpu.raise(Vector.DE); return false; }
        if (cpu.lo[Reg.RDX] === 0) {
          const n = cpu.lo[Reg.RAX] >>> 0;
          const dv = s >>> 0;
          const q = Math.floor(n / dv);
          cpu.set32(Reg.RAX, q | 0);
          cpu.set32(Reg.RDX, (n - q * dv) | 0);
          return false;
        }
        if (!divU128(cpu.lo[Reg.RAX], cpu.lo[Reg.RDX], 0, 0, s, 0) || W[1] !== 0) { cpu.raise(Vector.DE); return false; }
        cpu.set32(Reg.RAX, W[0]);
        cpu.set32(Reg.RDX, W[2]);
        return false;
      };
  }
  // RDX:RAX / r/m64 as a 128-bit dividend.
  return signed
    ? (cpu) => {
      const s = V[Val.A];
      const sHi = V[Val.AHI];
      if (s === 0 && sHi === 0) { cpu.raise(Vector.DE); return false; }
      if (!divS128(cpu.lo[Reg.RAX], cpu.hi[Reg.RAX], cpu.lo[Reg.RDX], cpu.hi[Reg.RDX], s, sHi, 64)) { cpu.raise(Vector.DE); return false; }
      storeWide(cpu);
      return false;
    }
    : (cpu) => {
      const s = V[Val.A];
      const sHi = V[Val.AHI];
      if (s === 0 && sHi === 0) { cpu.raise(Vector.DE); return false; }
      if (!divU128(cpu.lo[Reg.RAX], cpu.hi[Reg.RAX], cpu.lo[Reg.RDX], cpu.hi[Reg.RDX], s, sHi)) { cpu.raise(Vector.DE); return false; }
      storeWide(cpu);
      return false;
    };
}

/** The 8- or 16-bit dividend: AX, or DX:AX. */
function smallDividend(cpu: Vcpu, size: number): number {
  return size === 1 ? cpu.lo[Reg.RAX] & 0xffff : ((cpu.lo[Reg.RDX] & 0xffff) << 16) | (cpu.lo[Reg.RAX] & 0xffff);
}

/** Writes an 8- or 16-bit quotient and remainder: AL and AH, or AX and DX. */
function storeSmall(cpu: Vcpu, size: number, q: number, r: number): void {
  if (size === 1) cpu.set16(Reg.RAX, (q & 0xff) | ((r & 0xff) << 8));
  else { cpu.set16(Reg.RAX, q); cpu.set16(Reg.RDX, r); }
}

function smallDiv(size: number): Operation {
  const mask = size === 1 ? 0xff : 0xffff;
  const limit = size === 1 ? 0x100 : 0x10000;
  return (cpu) => {
    const dv = V[Val.A] & mask;
    if (dv === 0) { cpu.raise(Vector.DE); return false; }
    const n = smallDividend(cpu, size) >>> 0;
    const q = Math.floor(n / dv);
    if (q >= limit) { cpu.raise(Vector.DE); return false; }
    storeSmall(cpu, size, q, n - q * dv);
    return false;
  };
}

function smallIdiv(size: number): Operation {
  const lim = size === 1 ? 0x80 : 0x8000;
  return (cpu) => {
    const dv = signExtend(V[Val.A], size);
    if (dv === 0) { cpu.raise(Vector.DE); return false; }
    const dividend = smallDividend(cpu, size);
    const n = size === 1 ? (dividend << 16) >> 16 : dividend | 0;
    const q = Math.trunc(n / dv);
    if (q >= lim || q < -lim) { cpu.raise(Vector.DE); return false; }
    storeSmall(cpu, size, q, n - q * dv);
    return false;
  };
}
