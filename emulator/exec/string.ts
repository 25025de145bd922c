import type { Vcpu } from '../cpu/vcpu.js';
import { Stop } from '../cpu/vcpu.js';
import { family } from './registry.js';
import { LfOp, getZF, setLazy, setLazy64 } from './flags.js';
import { addSegment, readMem, writeMem, writeReg } from './operands.js';
import { portIn, portOut } from './io.js';
import { syncTime } from './checks.js';
import { Prefix } from '../decode/store.js';
import { Flag } from '../arch/eflags.js';
import { Reg, Seg } from '../arch/registers.js';

/**
 * String instructions MOVS, STOS, LODS, CMPS, SCAS, INS, OUTS with REP/REPE/REPNE (SDM Vol. 2).
 * rSI/rDI/rCX are used at the address size. The destination is always ES:rDI; the source segment
 * may be overridden. A REP instruction runs a bounded number of iterations per execution and, if
 * not finished, leaves RIP on itself so the run loop can take interrupts in between, as hardware
 * does (SDM Vol. 1 7.3.9.2: interrupted between iterations with rCX/rSI/rDI updated and RIP at
 * the instruction). A fault leaves the registers at the faulting iteration.
 */
export const enum StrOp { MOVS = 0, STOS = 1, LODS = 2, CMPS = 3, SCAS = 4, INS = 5, OUTS = 6 }

/**
 * A REP instruction yields to the run loop whenever its count reaches a multiple of REP_CHUNK
 * (and is not 0): the chunk boundaries depend only on rCX, never on where an earlier execution of
 * the same instruction stopped (a fault, or KVM's exits in the virtualized modes), so they are the
 * same in every MMU mode. 1024 is where KVM's emulator re-enters the guest during an emulated REP
 * (x86_emulate_insn: restart when `rCX & 0x3ff` is 0), so an emulated REP (shadow paging, writes
 * to a shadowed table) ends its emulation exactly where KVM's would.
 *
 * Counting: every execution that returns to the run loop counts as one instruction retired (the
 * run loop counts handler calls that do not fault), so a REP of n iterations retires about
 * n / 1024 + 1 instructions. That makes --max-insns and the scheduler's quanta bound the work of a
 * long REP; the sieve guest's 10^6-byte REP STOSB adds 977 per pass to about 13.5 M.
 */
const REP_CHUNK = 1024;

let linHi = 0;

/** Linear address of the string element at rSI/rDI. */
function strAddr(cpu: Vcpu, reg: number, asize: number, seg: number, size: number): number {
  const lo = asize === 2 ? cpu.lo[reg] & 0xffff : cpu.lo[reg];
  const hi = asize === 8 ? cpu.hi[reg] : 0;
  const la = addSegment(cpu, seg, lo, hi, size);
  linHi = cpu.eaHi;
  return la;
}

/** Adds delta to rSI/rDI/rCX at the address size. */
function stepReg(cpu: Vcpu, reg: number, asize: number, delta: number): void {
  if (asize === 8) {
    const s = (cpu.lo[reg] >>> 0) + delta;
    cpu.hi[reg] = (cpu.hi[reg] + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
    cpu.lo[reg] = s | 0;
  } else if (asize === 4) {
    cpu.set32(reg, (cpu.lo[reg] + delta) | 0);
  } else {
    cpu.set16(reg, cpu.lo[reg] + delta);
  }
}

function countOf(cpu: Vcpu, asize: number): number {
  if (asize === 8) return (cpu.hi[Reg.RCX] >>> 0) * 4294967296 + (cpu.lo[Reg.RCX] >>> 0);
  return asize === 4 ? cpu.lo[Reg.RCX] >>> 0 : cpu.lo[Reg.RCX] & 0xffff;
}

/** Moves RIP back to the start of the current instruction so it runs again. */
function repeatInstruction(cpu: Vcpu, i: number): void {
  const len = cpu.dec.len[i];
  const s = (cpu.ripLo >>> 0) - len;
  if (s < 0) cpu.ripHi = (cpu.ripHi - 1) | 0;
  cpu.ripLo = s | 0;
  cpu.stop |= Stop.EVENT;
}

export const STRING = family('string', (form) => {
  const size = form.size;
  const asize = form.asize;
  const op = form.variant as StrOp;
  const run = repeated(size, asize, op);
  return (cpu, i) => {
    cpu.stringInsn = true;
    run(cpu, i);
    cpu.stringInsn = false;
  };
});

/** The body of one string instruction (with or without REP). */
function repeated(size: number, asize: number, op: StrOp): (cpu: Vcpu, i: number) => void {
  return (cpu, i) => {
    const d = cpu.dec;
    const prefix = d.prefix[i];
    const rep = (prefix & (Prefix.REP | Prefix.REPNE)) !== 0;
    const repne = (prefix & Prefix.REPNE) !== 0;
    const srcSeg = d.seg[i];
    const delta = (cpu.flags & Flag.DF) !== 0 ? -size : size;
    const count = rep ? countOf(cpu, asize) : 1;
    if (count === 0) return;
    // This execution's iterations: up to the next multiple of REP_CHUNK below the count.
    const toBoundary = (cpu.lo[Reg.RCX] & (REP_CHUNK - 1)) || REP_CHUNK;
    const more = rep && count > toBoundary;
    let left = more ? toBoundary : count;
    if (op === StrOp.INS || op === StrOp.OUTS) syncTime(cpu, i);
    if (rep && (op === StrOp.MOVS || op === StrOp.STOS) && delta > 0) left = bulk(cpu, op, size, asize, srcSeg, left);
    if (cpu.exc >= 0) return;
    while (left > 0) {
      if (!once(cpu, op, size, asize, srcSeg, delta)) return;
      if (!rep) return;
      stepReg(cpu, Reg.RCX, asize, -1);
      left--;
      if (op === StrOp.CMPS || op === StrOp.SCAS) {
        const zf = getZF(cpu);
        if (repne ? zf !== 0 : zf === 0) return;
      }
    }
    if (more) repeatInstruction(cpu, i);
  };
}

/** One iteration; returns false if it faulted (registers unchanged for this iteration). */
function once(cpu: Vcpu, op: StrOp, size: number, asize: number, srcSeg: number, delta: number): boolean {
  switch (op) {
    case StrOp.MOVS: {
      const v = readMem(cpu, strAddr(cpu, Reg.RSI, asize, srcSeg, size), linHi, size);
      if (cpu.exc >= 0) return false;
      const vh = cpu.mem.hi;
      writeMem(cpu, strAddr(cpu, Reg.RDI, asize, Seg.ES, size), linHi, size, v, vh);
      if (cpu.exc >= 0) return false;
      stepReg(cpu, Reg.RSI, asize, delta);
      stepReg(cpu, Reg.RDI, asize, delta);
      return true;
    }
    case StrOp.STOS:
      writeMem(cpu, strAddr(cpu, Reg.RDI, asize, Seg.ES, size), linHi, size, cpu.lo[Reg.RAX], cpu.hi[Reg.RAX]);
      if (cpu.exc >= 0) return false;
      stepReg(cpu, Reg.RDI, asize, delta);
      return true;
    case StrOp.LODS: {
      const v = readMem(cpu, strAddr(cpu, Reg.RSI, asize, srcSeg, size), linHi, size);
      if (cpu.exc >= 0) return false;
      writeReg(cpu, Reg.RAX, size, v, cpu.mem.hi);
      stepReg(cpu, Reg.RSI, asize, delta);
      return true;
    }
    case StrOp.CMPS: case StrOp.SCAS: {
      let a: number, ah = 0;
      if (op === StrOp.CMPS) {
        a = readMem(cpu, strAddr(cpu, Reg.RSI, asize, srcSeg, size), linHi, size);
        ah = cpu.mem.hi;
      } else {
        a = cpu.lo[Reg.RAX];
        ah = cpu.hi[Reg.RAX];
      }
      const b = readMem(cpu, strAddr(cpu, Reg.RDI, asize, Seg.ES, size), linHi, size);
      const bh = cpu.mem.hi;
      if (cpu.exc >= 0) return false;
      if (op === StrOp.CMPS) stepReg(cpu, Reg.RSI, asize, delta);
      stepReg(cpu, Reg.RDI, asize, delta);
      const r = (a - b) | 0;
      if (size === 8) setLazy64(cpu, LfOp.SUB, a, ah, b, bh, r, (ah - bh - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0);
      else setLazy(cpu, LfOp.SUB, size, a, b, r);
      return true;
    }
    case StrOp.INS: {
      const port = cpu.lo[Reg.RDX] & 0xffff;
      const la = strAddr(cpu, Reg.RDI, asize, Seg.ES, size);
      const lh = linHi;
      if (!cpu.mem.probeWrite(la, lh, size)) return false;
      writeMem(cpu, la, lh, size, portIn(cpu, port, size), 0);
      stepReg(cpu, Reg.RDI, asize, delta);
      return true;
    }
    default: { // OUTS
      const port = cpu.lo[Reg.RDX] & 0xffff;
      const v = readMem(cpu, strAddr(cpu, Reg.RSI, asize, srcSeg, size), linHi, size);
      if (cpu.exc >= 0) return false;
      portOut(cpu, port, size, v);
      stepReg(cpu, Reg.RSI, asize, delta);
      return true;
    }
  }
}

/**
 * Forward REP MOVS/STOS over plain RAM, a page at a time: the arena is copied or filled directly.
 * Stops (returning the elements left) at anything the element loop must handle: a fault, MMIO,
 * overlap that a forward element copy would replicate, an element straddling a page.
 */
function bulk(cpu: Vcpu, op: StrOp, size: number, asize: number, srcSeg: number, left: number): number {
  const mem = cpu.mem;
  while (left > 0) {
    const dst = strAddr(cpu, Reg.RDI, asize, Seg.ES, size);
    const dstHi = linHi;
    const dstRoom = Math.floor((0x1000 - (dst & 0xfff)) / size);
    let n = Math.min(left, dstRoom);
    if (asize !== 8) n = Math.min(n, Math.floor(((asize === 4 ? 0x100000000 : 0x10000) - (asize === 4 ? cpu.lo[Reg.RDI] >>> 0 : cpu.lo[Reg.RDI] & 0xffff)) / size));
    if (n === 0) return left;
    const dh = mem.hostForWrite(dst, dstHi);
    if (dh < 0) return left;
    if (op === StrOp.STOS) {
      const a = cpu.lo[Reg.RAX];
      const ah = cpu.hi[Reg.RAX];
      const view = mem.view;
      switch (size) {
        case 1: mem.bytes.fill(a & 0xff, dh, dh + n); break;
        case 2: for (let k = 0; k < n; k++) view.setUint16(dh + 2 * k, a, true); break;
        case 4: for (let k = 0; k < n; k++) view.setInt32(dh + 4 * k, a, true); break;
        default: for (let k = 0; k < n; k++) { view.setInt32(dh + 8 * k, a, true); view.setInt32(dh + 8 * k + 4, ah, true); } break;
      }
    } else {
      const src = strAddr(cpu, Reg.RSI, asize, srcSeg, size);
      const srcHi = linHi;
      const srcRoom = Math.floor((0x1000 - (src & 0xfff)) / size);
      n = Math.min(n, srcRoom);
      if (asize !== 8) n = Math.min(n, Math.floor(((asize === 4 ? 0x100000000 : 0x10000) - (asize === 4 ? cpu.lo[Reg.RSI] >>> 0 : cpu.lo[Reg.RSI] & 0xffff)) / size));
      if (n === 0) return left;
      const sh = mem.hostForRead(src, srcHi);
      if (sh < 0) return left;
      const bytes = n * size;
      if (dh > sh && dh < sh + bytes) return left; // forward copy would replicate; the element loop does it exactly
      mem.bytes.copyWithin(dh, sh, sh + bytes);
      stepReg(cpu, Reg.RSI, asize, bytes);
    }
    stepReg(cpu, Reg.RDI, asize, n * size);
    stepReg(cpu, Reg.RCX, asize, -n);
    left -= n;
  }
  return 0;
}

