import type { Vcpu } from '../cpu/vcpu.js';
import { family } from './registry.js';
import { V, Val, toE, toG } from './operand-flow.js';
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

/** One-operand MUL (variant 0) and IMUL (variant 1): rDX:rAX = rAX * E. */
export const MUL1 = family('mul1', (form) => {
  const size = form.size;
  const signed = form.variant === 1;
  // E is read by the shared flow (a faulting load ends it there); nothing is written back to E.
  return toE(form, (cpu) => {
    const s = V[Val.A];
    const sHi = V[Val.AHI];
    if (size === 1) {
      const a = cpu.lo[Reg.RAX] & 0xff;
      const p = signed ? ((a << 24) >> 24) * ((s << 24) >> 24) : a * (s & 0xff);
      cpu.set16(Reg.RAX, p);
      recordMul(cpu, 1, p, signed ? p !== ((p << 24) >> 24) : (p & 0xff00) !== 0);
    } else if (size === 2) {
      const a = cpu.lo[Reg.RAX] & 0xffff;
      const p = signed ? ((a << 16) >> 16) * ((s << 16) >> 16) : a * (s & 0xffff);
      cpu.set16(Reg.RAX, p);
      cpu.set16(Reg.RDX, p >> 16);
      recordMul(cpu, 2, p, signed ? p !== ((p << 16) >> 16) : (p & 0xffff0000) !== 0);
    } else if (size === 4) {
      const a = cpu.lo[Reg.RAX];
      const lo = Math.imul(a, s);
      const hi = signed ? mulHighS32(a, s) : mulHighU32(a, s);
      cpu.set32(Reg.RAX, lo);
      cpu.set32(Reg.RDX, hi);
      recordMul(cpu, 4, lo, signed ? hi !== (lo >> 31) : hi !== 0);
    } else {
      mul64(cpu.lo[Reg.RAX], cpu.hi[Reg.RAX], s, sHi, signed);
      cpu.lo[Reg.RAX] = W[0]; cpu.hi[Reg.RAX] = W[1];
      cpu.lo[Reg.RDX] = W[2]; cpu.hi[Reg.RDX] = W[3];
      const overflow = signed ? !productFits64Signed() : (W[2] | W[3]) !== 0;
      recordMul(cpu, 8, cpu.lo[Reg.RAX], overflow);
    }
    return false;
  }, false);
});

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

/** DIV (variant 0) and IDIV (variant 1): #DE on a zero divisor or a quotient that does not fit. */
export const DIV = family('div', (form) => {
  const size = form.size;
  const signed = form.variant === 1;
  // As MUL1: E comes from the shared flow, the results go to rDX:rAX, never to E.
  return toE(form, (cpu) => {
    const s = V[Val.A];
    const sHi = V[Val.AHI];
    if (size === 8 ? s === 0 && sHi === 0 : (s & (size === 4 ? -1 : (1 << (8 * size)) - 1)) === 0) {
      cpu.raise(Vector.DE);
      return false;
    }
    if (size === 1 || size === 2) {
      const bits = 8 * size;
      const dividend = size === 1 ? cpu.lo[Reg.RAX] & 0xffff : ((cpu.lo[Reg.RDX] & 0xffff) << 16) | (cpu.lo[Reg.RAX] & 0xffff);
      let q: number, r: number;
      if (signed) {
        const n = size === 1 ? (dividend << 16) >> 16 : dividend | 0;
        const dv = signExtend(s, size);
        q = Math.trunc(n / dv);
        r = n - q * dv;
        const lim = 1 << (bits - 1);
        if (q >= lim || q < -lim) { cpu.raise(Vector.DE); return false; }
      } else {
        const n = dividend >>> 0;
        const dv = size === 1 ? s & 0xff : s & 0xffff;
        q = Math.floor(n / dv);
        r = n - q * dv;
        if (q >= 1 << bits) { cpu.raise(Vector.DE); return false; }
      }
      if (size === 1) cpu.set16(Reg.RAX, (q & 0xff) | ((r & 0xff) << 8));
      else { cpu.set16(Reg.RAX, q); cpu.set16(Reg.RDX, r); }
      return false;
    }
    if (size === 4 && !signed && cpu.lo[Reg.RDX] === 0) {
      const n = cpu.lo[Reg.RAX] >>> 0;
      const dv = s >>> 0;
      const q = Math.floor(n / dv);
      cpu.set32(Reg.RAX, q | 0);
      cpu.set32(Reg.RDX, (n - q * dv) | 0);
      return false;
    }
    // EDX:EAX / r/m32 or RDX:RAX / r/m64, as a 128-bit dividend (sign-extended for IDIV).
    let n0: number, n1: number, n2: number, n3: number, dLo: number, dHi: number;
    if (size === 4) {
      n0 = cpu.lo[Reg.RAX]; n1 = cpu.lo[Reg.RDX];
      n2 = n3 = signed ? n1 >> 31 : 0;
      dLo = s; dHi = signed ? s >> 31 : 0;
    } else {
      n0 = cpu.lo[Reg.RAX]; n1 = cpu.hi[Reg.RAX]; n2 = cpu.lo[Reg.RDX]; n3 = cpu.hi[Reg.RDX];
      dLo = s; dHi = sHi;
    }
    const ok = signed ? divS128(n0, n1, n2, n3, dLo, dHi, 8 * size) : divU128(n0, n1, n2, n3, dLo, dHi) && (size === 8 || W[1] === 0);
    if (!ok) { cpu.raise(Vector.DE); return false; }
    if (size === 4) {
      cpu.set32(Reg.RAX, W[0]);
      cpu.set32(Reg.RDX, W[2]);
    } else {
      cpu.lo[Reg.RAX] = W[0]; cpu.hi[Reg.RAX] = W[1];
      cpu.lo[Reg.RDX] = W[2]; cpu.hi[Reg.RDX] = W[3];
    }
    return false;
  }, false);
});
