import type { Vcpu } from '../cpu/vcpu.js';
import { family } from './registry.js';
import { ea, writeReg } from './operands.js';
import { intSource, intSourceHi, intSourceLo, mmxReady } from './sse.js';
import { doubleToF80, f80Out, f80ToDouble } from './fpu-state.js';

/**
 * The MMX data moves (SDM Vol. 1 ch. 9, Vol. 2 MOVD/MOVQ, EMMS): MM0-7 are the 64-bit
 * significands of the physical x87 registers R0-R7. Writing one sets that register's exponent
 * and sign to all ones; any MMX instruction but EMMS sets TOP to 0 and tags every register valid;
 * EMMS tags them all empty. The MMX arithmetic rows stay named and unimplemented (sse-table.ts).
 */

export const enum MmxMov {
  /** MOVD/MOVQ Pq,Ey: a GPR or memory (4 or 8 bytes, zero-extended) into MMn. */
  FROM_E = 0,
  /** MOVD/MOVQ Ey,Pq: the low 4 or 8 bytes of MMn into a GPR or memory. */
  TO_E = 1,
  /** MOVQ Pq,Qq. */
  LOAD = 2,
  /** MOVQ Qq,Pq. */
  STORE = 3,
}

let readHi = 0;

/** MMn's 64 bits: the low half returned, the high half in readHi. */
function readMm(cpu: Vcpu, n: number): number {
  const f = cpu.fpu;
  if ((f.raw80Valid & (1 << n)) !== 0) { readHi = f.raw80Hi[n]; return f.raw80Lo[n]; }
  doubleToF80(f.st[n]);
  readHi = f80Out.hi;
  return f80Out.lo;
}

function writeMm(cpu: Vcpu, n: number, lo: number, hi: number): void {
  const f = cpu.fpu;
  f.raw80Lo[n] = lo;
  f.raw80Hi[n] = hi;
  f.raw80Exp[n] = 0xffff;
  f.raw80Valid |= 1 << n;
  f.st[n] = f80ToDouble(lo, hi, 0xffff);
}

/** What every MMX instruction but EMMS does to the x87 state. */
function enterMmx(cpu: Vcpu): void {
  cpu.fpu.top = 0;
  cpu.fpu.tags = 0xff;
}

export const MMX_MOV = family('mmx-mov', (form) => {
  const op = form.variant as MmxMov;
  const size = form.size === 8 ? 8 : 4;
  const mem = form.mem;
  // The direction and the register file of the other operand are chosen here, once per form.
  if (op === MmxMov.FROM_E || op === MmxMov.LOAD) {
    const fromMm = op === MmxMov.LOAD;
    const width = fromMm ? 8 : size;
    return (cpu, i) => {
      if (!mmxReady(cpu)) return;
      const d = cpu.dec;
      const p = d.reg[i] & 7;
      let lo: number, hi: number;
      if (fromMm && !mem) {
        lo = readMm(cpu, d.rm[i] & 7); hi = readHi;
      } else {
        // Memory or a GPR: SSE's integer-operand load (a fault ends the instruction there).
        if (!intSource(cpu, i, mem, width)) return;
        lo = intSourceLo; hi = intSourceHi;
      }
      enterMmx(cpu);
      writeMm(cpu, p, lo, hi);
    };
  }
  const toMm = op === MmxMov.STORE;
  const width = toMm ? 8 : size;
  return (cpu, i) => {
    if (!mmxReady(cpu)) return;
    const d = cpu.dec;
    const lo = readMm(cpu, d.reg[i] & 7);
    const hi = readHi;
    if (mem) {
      const a = ea(cpu, i);
      // Kept (both): no store after a faulting address, and MMX mode (enterMmx) only once it landed.
      if (cpu.exc >= 0) return;
      if (width === 8) cpu.mem.write64(a, cpu.eaHi, lo, hi); else cpu.mem.write32(a, cpu.eaHi, lo);
      if (cpu.exc >= 0) return;
    } else if (toMm) {
      writeMm(cpu, d.rm[i] & 7, lo, hi);
    } else {
      writeReg(cpu, d.rm[i], width, lo, width === 8 ? hi : 0);
    }
    enterMmx(cpu);
  };
});

/** EMMS: every x87 register tagged empty. */
export const EMMS = family('emms', () => (cpu) => {
  if (!mmxReady(cpu)) return;
  cpu.fpu.tags = 0;
});
