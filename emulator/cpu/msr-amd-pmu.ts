import type { Vcpu } from './vcpu.js';
import type { MsrValue } from './platform.js';

/**
 * AMD's legacy performance counters (K7: PerfEvtSel0-3 at 0xC0010000, PerfCtr0-3 at 0xC0010004),
 * which every AMD CPU has whatever CPUID says, and which KVM's AMD PMU always offers. They are
 * storage: no event is counted, so a counter reads back what was written (to its 48 bits). An
 * event select with KVM's reserved bits (63:36, 21, 19) set is #GP.
 */

const EVNTSEL0 = 0xc0010000;
const PERFCTR0 = 0xc0010004;
const COUNTERS = 4;
/** KVM's amd_pmu reserved_bits 0xfffffff000280000, as (lo, hi) masks. */
const RESERVED_LO = 0x00280000;
const RESERVED_HI = 0xfffffff0 | 0;
/** Counter width: 48 bits. */
const COUNTER_HI_MASK = 0xffff;

/** Whether `index` is a legacy AMD counter MSR on this vCPU's model. */
export function isAmdPmuMsr(cpu: Vcpu, index: number): boolean {
  return cpu.model.vendor === 'AuthenticAMD' && index >= EVNTSEL0 && index < PERFCTR0 + COUNTERS;
}

export function readAmdPmuMsr(cpu: Vcpu, index: number, out: MsrValue): void {
  const v = cpu.msrs.get(index);
  out.lo = v === undefined ? 0 : v[0];
  out.hi = v === undefined ? 0 : v[1];
}

/** Writes one of them; false means #GP. */
export function writeAmdPmuMsr(cpu: Vcpu, index: number, lo: number, hi: number): boolean {
  if (index < PERFCTR0) {
    if ((lo & RESERVED_LO) !== 0 || (hi & RESERVED_HI) !== 0) return false;
  } else {
    hi &= COUNTER_HI_MASK;
  }
  const v = cpu.msrs.get(index);
  if (v !== undefined) { v[0] = lo; v[1] = hi; } else cpu.msrs.set(index, [lo, hi]);
  return true;
}

/**
 * RDPMC's counter read on AMD: ECX 0-3 select PerfCtr0-3 (AMD64 APM vol. 3, RDPMC; ECX 4-5 need
 * PerfCtrExtCore, which no model here offers). False when ECX names no counter (#GP).
 */
export function readAmdCounter(cpu: Vcpu, ecx: number, out: MsrValue): boolean {
  if (cpu.model.vendor !== 'AuthenticAMD' || ecx >>> 0 >= COUNTERS) return false;
  readAmdPmuMsr(cpu, PERFCTR0 + ecx, out);
  return true;
}
