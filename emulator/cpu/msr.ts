import type { Vcpu } from './vcpu.js';
import { MsrValue } from './platform.js';
import { Msr } from '../arch/control.js';
import { Seg } from '../arch/registers.js';
import { isCanonical } from '../arch/u64.js';
import { writeEfer } from './control-regs.js';
import { isMceMsr, readMceMsr, writeMceMsr } from './msr-mce.js';
import { isAmdPmuMsr, readAmdPmuMsr, writeAmdPmuMsr } from './msr-amd-pmu.js';

/**
 * RDMSR/WRMSR for the MSRs the CPU itself holds (SDM Vol. 4). MSRs that belong to devices (the
 * local APIC, the TSC deadline timer) are passed to the platform. Anything else raises #GP(0),
 * as does a value that is not canonical or has reserved bits set.
 */

const out = new MsrValue();

/** MSRs kept as plain storage, with a predicate for which ones exist on this model. */
const STORED: ReadonlyArray<[number, (cpu: Vcpu) => boolean]> = [
  [Msr.STAR, () => true],
  [Msr.CSTAR, () => true],
  [Msr.FMASK, () => true],
  [Msr.SYSENTER_CS, () => true],
  [Msr.SYSENTER_ESP, () => true],
  [Msr.SYSENTER_EIP, () => true],
  [Msr.MISC_ENABLE, () => true],
  [Msr.FEATURE_CONTROL, () => true],
  // Microcode revision: Linux writes 0 and reads it back on Intel CPUs; no microcode, so 0.
  [Msr.BIOS_SIGN_ID, () => true],
  [Msr.SPEC_CTRL, (cpu) => cpu.model.has('spec-ctrl')],
  [Msr.TSC_AUX, (cpu) => cpu.model.has('rdtscp') || cpu.model.has('rdpid')],
];

/** STORED by index: RDMSR/WRMSR of such an MSR costs one lookup, not a scan of the list. */
const STORED_BY_INDEX = new Map(STORED);

function stored(cpu: Vcpu, index: number): boolean {
  const present = STORED_BY_INDEX.get(index);
  return present !== undefined && present(cpu);
}

/** IA32_MISC_ENABLE as firmware leaves it (and QEMU reports): fast string operations enabled. */
const MISC_ENABLE_RESET: [number, number] = [1, 0];

/** The PAT resets to WB, WT, UC-, UC repeated (SDM Vol. 3 13.12.4). */
const PAT_RESET: [number, number] = [0x00070406, 0x00070406];

/** An MSR never written reads as 0 (shared, never written through). */
const ZERO: readonly [number, number] = [0, 0];

/**
 * Stores an MSR value in place once it has an entry, so a WRMSR loop allocates nothing. Readers
 * (SWAPGS, SYSCALL, gdb) copy the two numbers out before anything can write the MSR again;
 * SWAPGS replaces KERNEL_GS_BASE's pair with a new one after reading the old.
 */
function storeMsr(cpu: Vcpu, index: number, lo: number, hi: number): void {
  const v = cpu.msrs.get(index);
  if (v !== undefined) { v[0] = lo; v[1] = hi; } else cpu.msrs.set(index, [lo, hi]);
}

/** Reads an MSR into (out.lo, out.hi); false means #GP. */
export function readMsr(cpu: Vcpu, index: number): MsrValue | undefined {
  index >>>= 0;
  switch (index) {
    case Msr.EFER: out.lo = cpu.efer; out.hi = 0; return out;
    case Msr.FS_BASE: out.lo = cpu.seg.baseLo[Seg.FS]; out.hi = cpu.seg.baseHi[Seg.FS]; return out;
    case Msr.GS_BASE: out.lo = cpu.seg.baseLo[Seg.GS]; out.hi = cpu.seg.baseHi[Seg.GS]; return out;
    case Msr.TSC: {
      const t = cpu.readTsc();
      out.lo = t | 0; out.hi = Math.floor(t / 4294967296) | 0;
      return out;
    }
    case Msr.TSC_ADJUST: {
      const v = cpu.tscAdjust;
      out.lo = v | 0; out.hi = Math.floor(v / 4294967296) | 0;
      return out;
    }
    case Msr.PAT: {
      const v = cpu.msrs.get(index) ?? PAT_RESET;
      out.lo = v[0]; out.hi = v[1];
      return out;
    }
    case Msr.PKRS:
      if (!cpu.model.has('pks')) return undefined;
      out.lo = cpu.pkrs; out.hi = 0;
      return out;
    case Msr.KERNEL_GS_BASE: case Msr.LSTAR: {
      const v = cpu.msrs.get(index) ?? ZERO;
      out.lo = v[0]; out.hi = v[1];
      return out;
    }
    default:
      if (stored(cpu, index)) {
        const v = cpu.msrs.get(index) ?? (index === Msr.MISC_ENABLE ? MISC_ENABLE_RESET : ZERO);
        out.lo = v[0]; out.hi = v[1];
        return out;
      }
      if (isMceMsr(index)) { readMceMsr(cpu, index, out); return out; }
      if (isAmdPmuMsr(cpu, index)) { readAmdPmuMsr(cpu, index, out); return out; }
      return cpu.platform.readMsr(cpu, index, out) ? out : undefined;
  }
}

/** A PAT value is valid when every entry is a defined memory type (0, 1, 4, 5, 6, 7). */
function validPat(lo: number, hi: number): boolean {
  for (const word of [lo, hi]) {
    for (let k = 0; k < 4; k++) {
      const t = (word >>> (8 * k)) & 0xff;
      if (t === 2 || t === 3 || t > 7) return false;
    }
  }
  return true;
}

/** Linear-address width for the canonical checks of address-holding MSRs: the CPU's, not the paging mode's. */
function vaBits(cpu: Vcpu): number {
  return cpu.model.maxLinearBits;
}

/** Writes an MSR; false means #GP (the caller raises it). */
export function writeMsr(cpu: Vcpu, index: number, lo: number, hi: number): boolean {
  index >>>= 0;
  switch (index) {
    case Msr.EFER: return writeEfer(cpu, lo, hi);
    case Msr.FS_BASE: case Msr.GS_BASE: {
      if (!isCanonical(lo, hi, vaBits(cpu))) return false;
      const seg = index === Msr.FS_BASE ? Seg.FS : Seg.GS;
      cpu.seg.baseLo[seg] = lo;
      cpu.seg.baseHi[seg] = hi;
      return true;
    }
    case Msr.KERNEL_GS_BASE: case Msr.LSTAR: case Msr.CSTAR: case Msr.SYSENTER_ESP: case Msr.SYSENTER_EIP:
      if (!isCanonical(lo, hi, vaBits(cpu))) return false;
      storeMsr(cpu, index, lo, hi);
      return true;
    case Msr.TSC: {
      // Writing the TSC sets an offset so the counter continues from the written value.
      const want = (hi >>> 0) * 4294967296 + (lo >>> 0);
      const delta = want - cpu.tsc();
      cpu.tscOffset += delta;
      cpu.tscAdjust += delta;
      return true;
    }
    case Msr.TSC_ADJUST: {
      const want = (hi | 0) * 4294967296 + (lo >>> 0);
      cpu.tscOffset += want - cpu.tscAdjust;
      cpu.tscAdjust = want;
      return true;
    }
    case Msr.PAT:
      if (!validPat(lo, hi)) return false;
      storeMsr(cpu, index, lo, hi);
      return true;
    case Msr.PRED_CMD:
      return cpu.model.has('spec-ctrl') && hi === 0 && (lo & ~1) === 0;
    case Msr.SPEC_CTRL:
      if (!cpu.model.has('spec-ctrl') || hi !== 0 || (lo & ~7) !== 0) return false;
      storeMsr(cpu, index, lo, hi);
      return true;
    case Msr.PKRS:
      // Bits 63:32 are reserved (SDM Vol. 4, IA32_PKRS). The new rights apply to the next access
      // without a TLB flush, as WRPKRU's do: keyed supervisor pages are checked on every access.
      if (!cpu.model.has('pks') || hi !== 0) return false;
      cpu.pkrs = lo;
      cpu.paging.setKeyRights(cpu.pkru, lo);
      return true;
    case Msr.TSC_AUX:
      if (!stored(cpu, index) || hi !== 0) return false;
      storeMsr(cpu, index, lo, 0);
      return true;
    default:
      if (stored(cpu, index)) {
        storeMsr(cpu, index, lo, hi);
        return true;
      }
      if (isMceMsr(index)) return writeMceMsr(cpu, index, lo, hi);
      if (isAmdPmuMsr(cpu, index)) return writeAmdPmuMsr(cpu, index, lo, hi);
      return cpu.platform.writeMsr(cpu, index, lo, hi);
  }
}
