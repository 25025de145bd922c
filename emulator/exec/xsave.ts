import type { Vcpu } from '../cpu/vcpu.js';
import { checkedFamily } from './registry.js';
import { Check } from './checks.js';
import { ea } from './operands.js';
import { Reg } from '../arch/registers.js';
import { Cr0 } from '../arch/control.js';
import { Vector } from '../arch/vectors.js';
import { XCR0_SUPPORTED } from '../cpu/cpu-model.js';
import { MXCSR_MASK } from './fpu-state.js';
import { applyLegacyArea, captureLegacyArea, legacyAreaView } from './x87.js';
import { CpuMode } from '../cpu/vcpu.js';

/**
 * XGETBV/XSETBV and the standard-form XSAVE/XSAVEOPT/XRSTOR (SDM Vol. 1 ch. 13, Vol. 2) for the
 * components mmulab models: x87 (XCR0 bit 0) and SSE (bit 1). The rows carry the `xsave` feature,
 * so without it they decode to #UD; with it, CR4.OSXSAVE=0 is #UD (Check.OSXSAVE, before XSETBV's CPL check).
 */

/** XGETBV (variant 0) / XSETBV (variant 1). ECX[63:32] is ignored; only XCR0 exists (XGETBV(1) is not enumerated). */
export const XCR = checkedFamily('xcr', (form) => (form.variant === 1 ? Check.OSXSAVE | Check.CPL0 : Check.OSXSAVE), (form) => {
  const write = form.variant === 1;
  return (cpu) => {
    if (cpu.lo[Reg.RCX] !== 0) { cpu.raiseGp(0); return; }
    if (!write) {
      cpu.set32(Reg.RAX, cpu.xcr0);
      cpu.set32(Reg.RDX, 0);
      return;
    }
    const lo = cpu.lo[Reg.RAX];
    // x87 can never be disabled; unsupported bits (all of EDX here) are reserved.
    if (cpu.lo[Reg.RDX] !== 0 || (lo & ~XCR0_SUPPORTED) !== 0 || (lo & 1) === 0) { cpu.raiseGp(0); return; }
    cpu.xcr0 = lo;
  };
});

const enum Header { XSTATE_BV = 512, XCOMP_BV = 520, RESERVED = 528, END = 576 }

/** XSAVE/XSAVEOPT (variant 0) and XRSTOR (variant 1); REX.W (64-bit FIP/FDP) as form.size 8. */
export const XSAVE = checkedFamily('xsave', Check.OSXSAVE, (form) => {
  const restore = form.variant === 1;
  const wide = form.size === 8;
  return (cpu, i) => {
    if ((cpu.cr0 & Cr0.TS) !== 0) { cpu.raise(Vector.NM); return; }
    const lo = ea(cpu, i);
    const hi = cpu.eaHi;
    if ((lo & 63) !== 0) { cpu.raiseGp(0); return; }
    // The requested-feature bitmap: EDX:EAX & XCR0 (EDX selects nothing the model supports).
    const rfbm = cpu.lo[Reg.RAX] & cpu.xcr0;
    if (restore) xrstor(cpu, lo, hi, wide, rfbm); else xsave(cpu, lo, hi, wide, rfbm);
  };
});

/** Whether a legacy-region byte belongs to x87 state (0-23, 32-159); the rest up to the end of the XMM registers is SSE's. */
function isX87(offset: number): boolean {
  return offset < 24 || (offset >= 32 && offset < 160);
}

/** The end of the XMM registers in the legacy region: XMM8-15 only in 64-bit mode. */
function xmmEnd(cpu: Vcpu): number {
  return cpu.mode === CpuMode.LONG64 ? 416 : 288;
}

function xsave(cpu: Vcpu, lo: number, hi: number, wide: boolean, rfbm: number): void {
  if (!cpu.mem.probeWrite(lo, hi, Header.END)) return;
  const bvLo = cpu.mem.read32((lo + Header.XSTATE_BV) | 0, hi);
  // Kept: XSTATE_BV is read (to merge into it) before any byte of the area is written.
  if (cpu.exc >= 0) return;
  captureLegacyArea(cpu, wide);
  const end = xmmEnd(cpu);
  for (let k = 0; k < end; k += 8) {
    if ((rfbm & (isX87(k) ? 1 : 2)) === 0) continue;
    cpu.mem.write64((lo + k) | 0, hi, legacyAreaView.getInt32(k, true), legacyAreaView.getInt32(k + 4, true));
  }
  // XSTATE_BV: the requested components are recorded as in use (the model tracks no init
  // optimization), the others keep their bits. No other header byte is written.
  cpu.mem.write32((lo + Header.XSTATE_BV) | 0, hi, bvLo | rfbm);
}

function xrstor(cpu: Vcpu, lo: number, hi: number, wide: boolean, rfbm: number): void {
  if (!cpu.mem.probeRead(lo, hi, Header.END)) return;
  const bvLo = cpu.mem.read32((lo + Header.XSTATE_BV) | 0, hi);
  const bvHi = cpu.mem.read32((lo + Header.XSTATE_BV + 4) | 0, hi);
  let reserved = 0;
  for (let k = Header.XCOMP_BV; k < Header.RESERVED + 8; k += 4) reserved |= cpu.mem.read32((lo + k) | 0, hi);
  // Kept (and the two below): XRSTOR reads the header, MXCSR and the area before changing any state.
  if (cpu.exc >= 0) return;
  // Standard form without XSAVEC: XSTATE_BV may name only XCR0's components, and header bytes
  // 8-23 (XCOMP_BV and the next quadword) must be zero.
  if ((bvLo & ~cpu.xcr0) !== 0 || bvHi !== 0 || reserved !== 0) { cpu.raiseGp(0); return; }
  const mxcsr = cpu.mem.read32((lo + 24) | 0, hi);
  if (cpu.exc >= 0) return;
  if ((rfbm & 2) !== 0 && (mxcsr & ~MXCSR_MASK) !== 0) { cpu.raiseGp(0); return; }
  // Start from the current state so that components outside RFBM stay as they are.
  captureLegacyArea(cpu, wide);
  const end = xmmEnd(cpu);
  for (let k = 0; k < end; k += 4) {
    const component = isX87(k) ? 1 : 2;
    if ((rfbm & component) === 0 || k === 28) continue;
    // MXCSR comes from memory whenever SSE is requested, in use or not (SDM Vol. 1 13.8.1).
    const fromMemory = k === 24 || (bvLo & component) !== 0;
    legacyAreaView.setInt32(k, fromMemory ? cpu.mem.read32((lo + k) | 0, hi) : initValue(k), true);
  }
  if (cpu.exc >= 0) return;
  applyLegacyArea(cpu, wide);
}

/** The initial configuration of a legacy-region dword (SDM Vol. 1 13.6): FCW 0x37F, everything else 0. */
function initValue(offset: number): number {
  return offset === 0 ? 0x037f : 0;
}
