import type { Vcpu } from './vcpu.js';
import { Stop } from './vcpu.js';
import { Flag } from '../arch/eflags.js';

/**
 * Whether serviceEvents, handed a vCPU whose only stop is Stop.EVENT (a TPR write, STI, a device
 * that may have raised an interrupt), has nothing to do but clear it: no emulated instruction
 * ending, no INIT, SIPI wait or forced exit, no pending exception, deliverable NMI or interrupt,
 * and not halted. The interrupt is only looked at: `ack` false changes nothing on any platform
 * and finds a vector exactly when `ack` true would. serviceEvents asks this first; translated code
 * asks the same to go on after such a stop without returning here (jit/events.ts). It is its own
 * module so that the translator reaches it without importing the run loop (run.ts imports the
 * code cache, which imports the translator).
 */
export function nothingToService(cpu: Vcpu): boolean {
  if (cpu.stop !== Stop.EVENT || cpu.insnEmulated || cpu.initPending || cpu.waitForSipi || cpu.forcedExitPending || cpu.exc >= 0) return false;
  if (cpu.nmiPending && !cpu.nmiBlocked) return false;
  if ((cpu.flags & Flag.IF) !== 0 && cpu.platform.pendingInterrupt(cpu, false) >= 0) return false;
  return !cpu.halted;
}

