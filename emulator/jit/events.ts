import { Stop, type Vcpu } from '../cpu/vcpu.js';
import { Flag } from '../arch/eflags.js';

/**
 * Whether the run loop, handed a vCPU whose only stop is Stop.EVENT, would find nothing to do
 * between blocks and go on with the next instruction: the same conditions, in the same order, as
 * emulator/cpu/run.ts serviceEvents returning SERVICE_CONTINUE having changed nothing but
 * cpu.stop (no emulated instruction ending, no INIT, SIPI wait or forced exit, no pending
 * exception, NMI or deliverable interrupt, not halted). The interrupt is only looked at, not
 * acknowledged (`ack` false has no effect on any platform). When it holds, cpu.stop is cleared
 * and translated code may go on after the instruction (jit/translate.ts, for MOV to CR8: a TPR
 * write stops for an interrupt it may have unmasked, which is rarely there).
 *
 * The translated code checks besides that nothing the run loop checks at a block boundary
 * changed (the fetch mapping, 64-bit code, TF/RF, DR7, the interrupt shadow; translate.ts
 * SAME_CONTEXT), so going on is what the run loop would do.
 */
export function quietEvent(cpu: Vcpu): boolean {
  if (cpu.stop !== Stop.EVENT || cpu.insnEmulated || cpu.initPending || cpu.waitForSipi || cpu.forcedExitPending || cpu.exc >= 0) return false;
  if (cpu.nmiPending && !cpu.nmiBlocked) return false;
  if ((cpu.flags & Flag.IF) !== 0 && cpu.platform.pendingInterrupt(cpu, false) >= 0) return false;
  if (cpu.halted) return false;
  cpu.stop = 0;
  return true;
}
