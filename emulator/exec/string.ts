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
  // The element is chosen here, once per form, not switched on at every iteration.
  const once = ELEMENTS[op];
  const compares = op === StrOp.CMPS || op === StrOp.SCAS;
  const io = op === StrOp.INS || op === StrOp.OUTS;
  const bulkable = op === StrOp.MOVS || op === StrOp.STOS;
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
    if (io) syncTime(cpu, i);
    if (rep && bulkable && delta > 0) left = bulk(cpu, op, size, asize, srcSeg, left);
    // Kept: the bulk copy can fault partway, with the registers stepped to the faulting element.
    if (cpu.exc >= 0) return;
    while (left > 0) {
      if (!once(cpu, size, asize, srcSeg, delta)) return;
      if (!rep) return;
      stepReg(cpu, Reg.RCX, asize, -1);
      left--;
      if (compares) {
        const zf = getZF(cpu);
        if (repne ? zf !== 0 : zf === 0) return;
      }
    }
    if (more) repeatInstruction(cpu, i);
  };
}

/**
 * One iteration of one string operation; false if it faulted (registers unchanged for this
 * iteration). Each operation says only what moves where; the element at seg:rSI is read by
 * loadSource, the one at ES:rDI read by loadDestination or written by storeDestination, which
 * hold the fault check, and the pointers step only after the iteration's accesses succeeded.
 */
type Element = (cpu: Vcpu, size: number, asize: number, srcSeg: number, delta: number) => boolean;

/** The element last loaded (low half, high half of an 8-byte one). */
let elemLo = 0, elemHi = 0;

function loadSource(cpu: Vcpu, size: number, asize: number, srcSeg: number): boolean {
  elemLo = readMem(cpu, strAddr(cpu, Reg.RSI, asize, srcSeg, size), linHi, size);
  elemHi = cpu.mem.hi;
  if (cpu.exc >= 0) return false;
  return true;
}

function loadDestination(cpu: Vcpu, size: number, asize: number): boolean {
  elemLo = readMem(cpu, strAddr(cpu, Reg.RDI, asize, Seg.ES, size), linHi, size);
  elemHi = cpu.mem.hi;
  if (cpu.exc >= 0) return false;
  return true;
}

function storeDestination(cpu: Vcpu, size: number, asize: number, lo: number, hi: number): boolean {
  writeMem(cpu, strAddr(cpu, Reg.RDI, asize, Seg.ES, size), linHi, size, lo, hi);
  if (cpu.exc >= 0) return false;
  return true;
}

/** CMPS and SCAS: flags of a - b, as CMP. */
function compareFlags(cpu: Vcpu, size: number, a: number, ah: number, b: number, bh: number): void {
  const r = (a - b) | 0;
  if (size === 8) setLazy64(cpu, LfOp.SUB, a, ah, b, bh, r, (ah - bh - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0);
  else setLazy(cpu, LfOp.SUB, size, a, b, r);
}

const movs: Element = (cpu, size, asize, srcSeg, delta) => {
  if (!loadSource(cpu, size, asize, srcSeg) || !storeDestination(cpu, size, asize, elemLo, elemHi)) return false;
  stepReg(cpu, Reg.RSI, asize, delta);
  stepReg(cpu, Reg.RDI, asize, delta);
  return true;
};

const stos: Element = (cpu, size, asize, _srcSeg, delta) => {
  if (!storeDestination(cpu, size, asize, cpu.lo[Reg.RAX], cpu.hi[Reg.RAX])) return false;
  stepReg(cpu, Reg.RDI, asize, delta);
  return true;
};

const lods: Element = (cpu, size, asize, srcSeg, delta) => {
  if (!loadSource(cpu, size, asize, srcSeg)) return false;
  writeReg(cpu, Reg.RAX, size, elemLo, elemHi);
  stepReg(cpu, Reg.RSI, asize, delta);
  return true;
};

const cmps: Element = (cpu, size, asize, srcSeg, delta) => {
  // Both reads happen before the fault check, as the element loop always did (a source fault
  // is taken first, the destination's read then does nothing).
  const a = readMem(cpu, strAddr(cpu, Reg.RSI, asize, srcSeg, size), linHi, size);
  const ah = cpu.mem.hi;
  if (!loadDestination(cpu, size, asize)) return false;
  stepReg(cpu, Reg.RSI, asize, delta);
  stepReg(cpu, Reg.RDI, asize, delta);
  compareFlags(cpu, size, a, ah, elemLo, elemHi);
  return true;
};

const scas: Element = (cpu, size, asize, _srcSeg, delta) => {
  if (!loadDestination(cpu, size, asize)) return false;
  stepReg(cpu, Reg.RDI, asize, delta);
  compareFlags(cpu, size, cpu.lo[Reg.RAX], cpu.hi[Reg.RAX], elemLo, elemHi);
  return true;
};

const ins: Element = (cpu, size, asize, _srcSeg, delta) => {
  const port = cpu.lo[Reg.RDX] & 0xffff;
  const la = strAddr(cpu, Reg.RDI, asize, Seg.ES, size);
  const lh = linHi;
  // The port is read only once the destination is known to be writable (a read has effects).
  if (!cpu.mem.probeWrite(la, lh, size)) return false;
  writeMem(cpu, la, lh, size, portIn(cpu, port, size), 0);
  stepReg(cpu, Reg.RDI, asize, delta);
  return true;
};

const outs: Element = (cpu, size, asize, srcSeg, delta) => {
  if (!loadSource(cpu, size, asize, srcSeg)) return false;
  portOut(cpu, cpu.lo[Reg.RDX] & 0xffff, size, elemLo);
  stepReg(cpu, Reg.RSI, asize, delta);
  return true;
};

/** By StrOp. */
const ELEMENTS: readonly Element[] = [movs, stos, lods, cmps, scas, ins, outs];

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

