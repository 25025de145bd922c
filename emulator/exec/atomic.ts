import type { Vcpu } from '../cpu/vcpu.js';
import { family } from './registry.js';
import { LfOp, setLazy, setLazy64, updateFlags } from './flags.js';
import { ea, readReg, writeReg } from './operands.js';
import { V, Val, lockedRmw } from './operand-flow.js';
import { Flag } from '../arch/eflags.js';
import { Reg } from '../arch/registers.js';

/**
 * XADD, CMPXCHG, CMPXCHG8B and CMPXCHG16B (SDM Vol. 2). One vCPU runs at a time, so LOCK
 * semantics hold trivially; what matters is that a memory destination is written in full or not
 * at all, and that a failed CMPXCHG still writes its destination back, as the locked cycle does.
 * XADD and CMPXCHG supply only their operation to operand-flow.ts lockedRmw, which loads,
 * writes back and undoes.
 */

/** XADD E,G: E = E + G, G = old E; flags as ADD. */
export const XADD = family('xadd', (form) => {
  const size = form.size;
  const add = (cpu: Vcpu): boolean => {
    const a = V[Val.A], ah = V[Val.AHI], b = V[Val.B], bh = V[Val.BHI];
    const s = (a >>> 0) + (b >>> 0);
    const res = s | 0;
    const rh = size === 8 ? (ah + bh + (s > 0xffffffff ? 1 : 0)) | 0 : 0;
    V[Val.R] = res;
    V[Val.RHI] = rh;
    if (size === 8) setLazy64(cpu, LfOp.ADD, a, ah, b, bh, res, rh);
    else setLazy(cpu, LfOp.ADD, size, a, b, res);
    return true;
  };
  return lockedRmw(form, add, (cpu, i) => writeReg(cpu, cpu.dec.reg[i], size, V[Val.A], V[Val.AHI]), false);
});

/** CMPXCHG E,G: compare the accumulator with E; equal: E = G, else accumulator = E. Flags as CMP. */
export const CMPXCHG = family('cmpxchg', (form) => {
  const size = form.size;
  const mask = size === 1 ? 0xff : size === 2 ? 0xffff : -1;
  // V[Val.C] carries the comparison to the register step.
  const compare = (cpu: Vcpu): boolean => {
    const dv = V[Val.A], dh = V[Val.AHI];
    const acc = readReg(cpu, Reg.RAX, size);
    const acch = size === 8 ? cpu.hi[Reg.RAX] : 0;
    const equal = (acc & mask) === (dv & mask) && acch === dh;
    V[Val.C] = equal ? 1 : 0;
    V[Val.R] = equal ? V[Val.B] : dv;
    V[Val.RHI] = equal ? V[Val.BHI] : dh;
    const res = (acc - dv) | 0;
    if (size === 8) {
      const rh = (acch - dh - ((acc >>> 0) < (dv >>> 0) ? 1 : 0)) | 0;
      setLazy64(cpu, LfOp.SUB, acc, acch, dv, dh, res, rh);
    } else {
      setLazy(cpu, LfOp.SUB, size, acc, dv, res);
    }
    return equal;
  };
  return lockedRmw(form, compare, (cpu) => {
    if (V[Val.C] === 0) writeReg(cpu, Reg.RAX, size, V[Val.A], V[Val.AHI]);
  }, true);
});

/**
 * CMPXCHG8B m64 and, with REX.W (operand size 8), CMPXCHG16B m128: compare rDX:rAX with memory;
 * equal: store rCX:rBX; else load memory into rDX:rAX. Only ZF changes. CMPXCHG16B needs a
 * 16-byte-aligned operand (#GP(0) otherwise).
 */
export const CMPXCHG8B = family('cmpxchg8b', (form) => {
  const wide = form.size === 8;
  return (cpu, i) => {
    const lo = ea(cpu, i);
    const hi = cpu.eaHi;
    if (wide && (lo & 15) !== 0) { cpu.raiseGp(0); return; }
    const bytes = wide ? 16 : 8;
    if (!cpu.mem.probeWrite(lo, hi, bytes)) return;
    const lo2 = (lo + 8) | 0;
    const hi2 = (lo >>> 0) + 8 > 0xffffffff ? (hi + 1) | 0 : hi;
    const m0 = cpu.mem.read64(lo, hi); const m0h = cpu.mem.hi;
    let m1 = 0, m1h = 0;
    if (wide) { m1 = cpu.mem.read64(lo2, hi2); m1h = cpu.mem.hi; }
    // Kept (here and below): 8 or 16 bytes in two halves, then rDX:rAX only after memory's write landed.
    if (cpu.exc >= 0) return;
    let equal: boolean;
    if (wide) {
      equal = m0 === cpu.lo[Reg.RAX] && m0h === cpu.hi[Reg.RAX] && m1 === cpu.lo[Reg.RDX] && m1h === cpu.hi[Reg.RDX];
    } else {
      equal = m0 === cpu.lo[Reg.RAX] && m0h === cpu.lo[Reg.RDX];
    }
    if (equal) {
      if (wide) {
        cpu.mem.write64(lo, hi, cpu.lo[Reg.RBX], cpu.hi[Reg.RBX]);
        cpu.mem.write64(lo2, hi2, cpu.lo[Reg.RCX], cpu.hi[Reg.RCX]);
      } else {
        cpu.mem.write64(lo, hi, cpu.lo[Reg.RBX], cpu.lo[Reg.RCX]);
      }
    } else {
      cpu.mem.write64(lo, hi, m0, m0h);
      if (wide) cpu.mem.write64(lo2, hi2, m1, m1h);
      if (cpu.exc >= 0) return;
      if (wide) {
        cpu.lo[Reg.RAX] = m0; cpu.hi[Reg.RAX] = m0h; cpu.lo[Reg.RDX] = m1; cpu.hi[Reg.RDX] = m1h;
      } else {
        cpu.set32(Reg.RAX, m0); cpu.set32(Reg.RDX, m0h);
      }
    }
    if (cpu.exc >= 0) return;
    updateFlags(cpu, Flag.ZF, equal ? Flag.ZF : 0);
  };
});
