import type { Vcpu } from './vcpu.js';
import type { MsrValue } from './platform.js';

/**
 * The machine-check MSRs as KVM gives them to a guest whose VMM set up no MCE (KVM_X86_SETUP_MCE
 * is only used for a CPU model with MCE and MCA, which mmulab does not model): IA32_MCG_CAP reads
 * KVM_MAX_MCE_BANKS (32) banks and no MCG_CTL_P, so IA32_MCG_CTL does not exist; IA32_MCG_STATUS
 * is plain storage; each bank has CTL, STATUS, ADDR and MISC at 0x400 + 4 * bank. Bank values
 * are kept per vCPU in cpu.msrs (a never-written MSR reads 0).
 */

export const enum McMsr { MCG_CAP = 0x179, MCG_STATUS = 0x17a, MCG_CTL = 0x17b, MC0_CTL = 0x400 }

/** KVM_MAX_MCE_BANKS: what arch.mcg_cap holds until the VMM sets it. */
export const MCE_BANKS = 32;
const MC_END = McMsr.MC0_CTL + 4 * MCE_BANKS;

/** Whether `index` is one of the machine-check MSRs this file answers (MCG_CTL is not: #GP). */
export function isMceMsr(index: number): boolean {
  return index === McMsr.MCG_CAP || index === McMsr.MCG_STATUS || (index >= McMsr.MC0_CTL && index < MC_END);
}

export function readMceMsr(cpu: Vcpu, index: number, out: MsrValue): void {
  if (index === McMsr.MCG_CAP) { out.lo = MCE_BANKS; out.hi = 0; return; }
  const v = cpu.msrs.get(index);
  out.lo = v === undefined ? 0 : v[0];
  out.hi = v === undefined ? 0 : v[1];
}

/** Writes one of them; false means #GP. */
export function writeMceMsr(cpu: Vcpu, index: number, lo: number, hi: number): boolean {
  if (index === McMsr.MCG_CAP) return false; // read-only to the guest
  if (index >= McMsr.MC0_CTL) {
    const reg = (index - McMsr.MC0_CTL) & 3;
    // MCi_CTL: 0 or all ones; KVM also lets bits 10 and 0 be clear (an AMD erratum's GART bank).
    if (reg === 0 && (lo | hi) !== 0 && ((lo | (1 << 10) | 1) !== -1 || hi !== -1)) return false;
    // MCi_STATUS: only cleared by software (AMD's HWCR.McStatusWrEn is not modeled).
    if (reg === 1 && (lo | hi) !== 0) return false;
  }
  const v = cpu.msrs.get(index);
  if (v !== undefined) { v[0] = lo; v[1] = hi; } else cpu.msrs.set(index, [lo, hi]);
  return true;
}
