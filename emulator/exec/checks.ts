import type { Vcpu } from '../cpu/vcpu.js';
import { CpuMode } from '../cpu/vcpu.js';
import { Cr4, Efer } from '../arch/control.js';
import { Flag } from '../arch/eflags.js';
import { Reg } from '../arch/registers.js';
import type { ExitReason } from '../cpu/platform.js';

/**
 * The checks an instruction makes before it does anything, declared in the tables (a family's
 * `checks`, a row's flags) and added once when a form's handler is built (exec/registry.ts
 * handlerId), in the order the SDM ranks them: #UD for a mode, then privilege (#GP(0)), then the
 * hypervisor's intercept (a VM exit comes after the faults based on privilege: SDM Vol. 3C,
 * "Relative Priority of Faults and VM Exits"). The handler itself then only does the operation.
 */
export const enum Check {
  NONE = 0,
  /**
   * #UD in real mode and in virtual-8086 mode, where these are not recognized (LLDT, LTR, SLDT,
   * STR, LAR, LSL, VERR, VERW: SDM Vol. 2, each one's real-address and virtual-8086 exceptions).
   */
  PROT = 1 << 0,
  /** #GP(0) above CPL 0 (real mode is CPL 0). */
  CPL0 = 1 << 1,
  /** #GP(0) above CPL 0 while CR4.UMIP is set (SGDT, SIDT, SLDT, STR, SMSW). */
  UMIP = 1 << 2,
  /** #GP(0) above CPL 0 while CR4.TSD is set (RDTSC, RDTSCP). */
  TSD = 1 << 3,
  /** #GP(0) above CPL 0 outside real mode while CR4.PCE is clear (RDPMC). */
  PCE = 1 << 4,
  /** #GP(0) in protected mode when CPL > IOPL (CLI, STI; in virtual-8086 mode CPL is 3). */
  IOPL = 1 << 5,
  /** #GP(0) in virtual-8086 mode when IOPL < 3 (PUSHF, POPF, IRET, INT n; no VME). */
  VM86_IOPL = 1 << 6,
  /**
   * I/O permission (SDM Vol. 1 19.5): in protected mode with CPL > IOPL, or in virtual-8086 mode,
   * every byte of the access must be allowed by the TSS I/O bitmap, else #GP(0) (IN, OUT, INS, OUTS).
   */
  IO = 1 << 7,
  /** #UD outside 64-bit mode (SWAPGS, SYSRET). */
  LONG64 = 1 << 8,
  /** #UD while EFER.SCE is clear (SYSRET). */
  SCE = 1 << 9,
  /** #UD while CR4.OSXSAVE is clear (XGETBV, XSETBV, XSAVE, XSAVEOPT, XRSTOR). */
  OSXSAVE = 1 << 10,
  /** #UD, not #GP, above CPL 0 (STAC, CLAC). */
  UD_CPL0 = 1 << 11,
  /** #UD while CR4.PKE is clear (RDPKRU, WRPKRU). */
  PKE = 1 << 12,
}

/** The checks that raise #UD; they come before every privilege check. */
const UD_CHECKS = Check.PROT | Check.LONG64 | Check.SCE | Check.OSXSAVE | Check.UD_CPL0 | Check.PKE;

/** Whether the instruction is recognized in the current mode under `checks` (the #UD ones). */
function recognized(cpu: Vcpu, checks: number): boolean {
  if ((checks & Check.PROT) !== 0 && (cpu.mode === CpuMode.REAL || (cpu.flags & Flag.VM) !== 0)) return false;
  if ((checks & Check.LONG64) !== 0 && cpu.mode !== CpuMode.LONG64) return false;
  if ((checks & Check.SCE) !== 0 && (cpu.efer & Efer.SCE) === 0) return false;
  if ((checks & Check.OSXSAVE) !== 0 && (cpu.cr4 & Cr4.OSXSAVE) === 0) return false;
  if ((checks & Check.PKE) !== 0 && (cpu.cr4 & Cr4.PKE) === 0) return false;
  return (checks & Check.UD_CPL0) === 0 || cpu.cpl === 0;
}

/** Where an I/O instruction's port number comes from. */
export const enum PortFrom { DX = 0, IMM8 = 1 }

/** A hypervisor intercept the instruction reports once its checks pass (KVM's exit reasons). */
export interface Intercept {
  readonly reason: ExitReason;
  /** The register whose low half is the exit's detail (the MSR index, the CPUID leaf), or -1 for none. */
  readonly detail: number;
}

/** Makes cpu.cycles() exact inside a block: instructions retired before record i count. */
export function syncTime(cpu: Vcpu, i: number): void {
  cpu.inBlock = i - cpu.blockFirst;
}

/**
 * Whether the TSS I/O bitmap allows `size` bytes at `port` for the current privilege. The bitmap
 * offset is the word at TSS offset 0x66; the bits of port..port+size-1 must all be clear.
 */
export function ioPermitted(cpu: Vcpu, port: number, size: number): boolean {
  if (cpu.mode === CpuMode.REAL) return true;
  const iopl = (cpu.flags & Flag.IOPL) >>> 12;
  if (cpu.cpl <= iopl && (cpu.flags & Flag.VM) === 0) return true;
  const tr = cpu.tr;
  if (tr.limit < 0x67) return false;
  const base = cpu.mem.readImplicit32((tr.baseLo + 0x64) | 0, tr.baseHi) >>> 16;
  const byte = base + (port >>> 3);
  if (byte + 1 > tr.limit) return false;
  const bits = cpu.mem.readImplicit32((tr.baseLo + byte) | 0, tr.baseHi) & 0xffff;
  if (cpu.exc >= 0) return false;
  const mask = ((1 << size) - 1) << (port & 7);
  return (bits & mask) === 0;
}

/** The port of record i for an I/O form. */
function portOf(cpu: Vcpu, i: number, from: PortFrom): number {
  return from === PortFrom.DX ? cpu.lo[Reg.RDX] & 0xffff : cpu.dec.imm[i] & 0xff;
}

/**
 * Whether record i passes `checks`; if not, the fault is raised. `ioSize` and `port` describe the
 * access of an IO form.
 */
function passes(cpu: Vcpu, i: number, checks: number, ioSize: number, port: PortFrom): boolean {
  const real = cpu.mode === CpuMode.REAL;
  if ((checks & UD_CHECKS) !== 0 && !recognized(cpu, checks)) { cpu.raiseUd(); return false; }
  if (cpu.cpl !== 0) {
    if ((checks & Check.CPL0) !== 0 ||
      ((checks & Check.UMIP) !== 0 && (cpu.cr4 & Cr4.UMIP) !== 0) ||
      ((checks & Check.TSD) !== 0 && (cpu.cr4 & Cr4.TSD) !== 0) ||
      ((checks & Check.PCE) !== 0 && !real && (cpu.cr4 & Cr4.PCE) === 0)) {
      cpu.raiseGp(0);
      return false;
    }
  }
  if ((checks & Check.IOPL) !== 0 && !real && cpu.cpl > ((cpu.flags & Flag.IOPL) >>> 12)) { cpu.raiseGp(0); return false; }
  if ((checks & Check.VM86_IOPL) !== 0 && (cpu.flags & Flag.VM) !== 0 && (cpu.flags & Flag.IOPL) !== Flag.IOPL) {
    cpu.raiseGp(0);
    return false;
  }
  if ((checks & Check.IO) !== 0 && !ioPermitted(cpu, portOf(cpu, i, port), ioSize)) {
    // Reading the bitmap may itself have faulted; that fault wins.
    if (cpu.exc < 0) cpu.raiseGp(0);
    return false;
  }
  return true;
}

/**
 * A form's handler behind its checks and intercept; the handler unchanged when it has none, so
 * ordinary instructions pay nothing.
 */
export function guarded(h: (cpu: Vcpu, i: number) => void, checks: number, exit: Intercept | undefined,
  ioSize: number, port: PortFrom): (cpu: Vcpu, i: number) => void {
  if (exit === undefined) {
    if (checks === Check.NONE) return h;
    return (cpu, i) => { if (passes(cpu, i, checks, ioSize, port)) h(cpu, i); };
  }
  const reason = exit.reason;
  const detail = exit.detail;
  return (cpu, i) => {
    if (checks !== Check.NONE && !passes(cpu, i, checks, ioSize, port)) return;
    syncTime(cpu, i);
    cpu.platform.instructionExit(cpu, reason, detail >= 0 ? cpu.lo[detail] : 0);
    h(cpu, i);
  };
}
