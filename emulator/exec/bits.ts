import { family, Operand } from './registry.js';
import { V, Val, toG } from './operand-flow.js';
import { loadArithFlags, updateFlags } from './flags.js';
import { addSegment, offsetOf, readMem, readReg, writeMem, writeReg } from './operands.js';
import { Flag } from '../arch/eflags.js';

/** Bit instructions: BT/BTS/BTR/BTC, BSF/BSR, TZCNT/LZCNT, POPCNT (SDM Vol. 2). */

export const enum BtOp { BT = 0, BTS = 1, BTR = 2, BTC = 3 }

/**
 * BTx E,G and BTx E,imm8. With a register bit offset and a memory operand, the offset is a signed
 * integer that may select a bit outside the operand: the address moves by whole operands. CF gets
 * the selected bit; ZF is unchanged; OF, SF, AF and PF are undefined (left unchanged).
 */
export const BT = family('bt', (form) => {
  const size = form.size;
  const bits = 8 * size;
  const op = form.variant as BtOp;
  const byImm = form.ops.second === Operand.IMM;
  return (cpu, i) => {
    const d = cpu.dec;
    let bitLo: number; // bit offset (low half), possibly negative
    let bitHi = 0;
    if (byImm) bitLo = d.imm[i] & (bits - 1);
    else {
      const g = d.reg[i];
      bitLo = readReg(cpu, g, size);
      if (size === 2) bitLo = (bitLo << 16) >> 16;
      if (size === 8) bitHi = cpu.hi[g];
    }
    if (!form.mem) {
      const r = d.rm[i];
      const n = bitLo & (bits - 1);
      const word = n < 32 ? readReg(cpu, r, size) : cpu.hi[r];
      const bit = (word >>> (n & 31)) & 1;
      if (op !== BtOp.BT) {
        const m = 1 << (n & 31);
        const nw = op === BtOp.BTS ? word | m : op === BtOp.BTR ? word & ~m : word ^ m;
        if (size === 8) { if (n < 32) cpu.lo[r] = nw; else cpu.hi[r] = nw; } else writeReg(cpu, r, size, nw, 0);
      }
      updateFlags(cpu, Flag.CF, bit);
      return;
    }
    // Memory: address the byte holding the bit (operand-sized access at the aligned operand).
    let offLo = offsetOf(cpu, i);
    let offHi = cpu.eaHi;
    if (!byImm) {
      // The operand moves by floor(bitOffset / bits) operands: (bitOffset >> 3) rounded down to the size.
      const bh = size === 8 ? bitHi : bitLo >> 31;
      const dispLo = ((bitLo >>> 3) | (bh << 29)) & ~(size - 1);
      const dispHi = bh >> 3;
      const s = (offLo >>> 0) + (dispLo >>> 0);
      offHi = (offHi + dispHi + (s > 0xffffffff ? 1 : 0)) | 0;
      offLo = s | 0;
      if (d.asize[i] === 4) offHi = 0;
      else if (d.asize[i] === 2) { offHi = 0; offLo &= 0xffff; }
    }
    const lo = addSegment(cpu, d.seg[i], offLo, offHi, size);
    const hi = cpu.eaHi;
    const n = bitLo & (bits - 1);
    const v = readMem(cpu, lo, hi, size);
    // Kept (and after the write): the address comes from the bit offset, not the E the flows load.
    if (cpu.exc >= 0) return;
    const word = n < 32 ? v : cpu.mem.hi;
    const vh = cpu.mem.hi;
    const bit = (word >>> (n & 31)) & 1;
    if (op !== BtOp.BT) {
      const m = 1 << (n & 31);
      const nw = op === BtOp.BTS ? word | m : op === BtOp.BTR ? word & ~m : word ^ m;
      if (size === 8) writeMem(cpu, lo, hi, 8, n < 32 ? nw : v, n < 32 ? vh : nw);
      else writeMem(cpu, lo, hi, size, nw, 0);
      if (cpu.exc >= 0) return;
    }
    updateFlags(cpu, Flag.CF, bit);
  };
});

export const enum ScanOp { BSF = 0, BSR = 1, TZCNT = 2, LZCNT = 3, POPCNT = 4 }

function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Index of the lowest set bit of a nonzero (lo, hi) value. */
function lowestBit(lo: number, hi: number): number {
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  return 63 - Math.clz32(hi & -hi);
}

/** Index of the highest set bit of a nonzero (lo, hi) value. */
function highestBit(lo: number, hi: number): number {
  if (hi !== 0) return 63 - Math.clz32(hi);
  return 31 - Math.clz32(lo);
}

/**
 * BSF, BSR, TZCNT, LZCNT, POPCNT G,E, as operations of the shared load and write-back
 * (operand-flow.ts toG: the source in V[Val.B], V[Val.BHI]). BSF/BSR with a zero source set ZF
 * and leave the destination unchanged (what Intel and AMD parts do; the SDM calls the
 * destination undefined). The operation is chosen when the form's handler is built, so a handler
 * never switches on it.
 */
export const SCAN = family('scan', (form) => {
  const bits = 8 * form.size;
  switch (form.variant as ScanOp) {
    case ScanOp.BSF: case ScanOp.BSR: {
      const forward = form.variant === ScanOp.BSF;
      return toG(form, (cpu) => {
        const v = V[Val.B], hi = V[Val.BHI];
        if (v === 0 && hi === 0) { updateFlags(cpu, Flag.ZF, Flag.ZF); return false; }
        V[Val.R] = forward ? lowestBit(v, hi) : highestBit(v, hi);
        V[Val.RHI] = 0;
        updateFlags(cpu, Flag.ZF, 0);
        return true;
      });
    }
    case ScanOp.TZCNT: case ScanOp.LZCNT: {
      const trailing = form.variant === ScanOp.TZCNT;
      return toG(form, (cpu) => {
        const v = V[Val.B], hi = V[Val.BHI];
        const zero = v === 0 && hi === 0;
        const n = zero ? bits : trailing ? lowestBit(v, hi) : bits - 1 - highestBit(v, hi);
        V[Val.R] = n;
        V[Val.RHI] = 0;
        updateFlags(cpu, Flag.CF | Flag.ZF, (zero ? Flag.CF : 0) | (n === 0 ? Flag.ZF : 0));
        return true;
      });
    }
    default:
      return toG(form, (cpu) => {
        const v = V[Val.B], hi = V[Val.BHI];
        V[Val.R] = popcount32(v) + popcount32(hi);
        V[Val.RHI] = 0;
        loadArithFlags(cpu, v === 0 && hi === 0 ? Flag.ZF : 0);
        return true;
      });
  }
});
