import type { Vcpu } from '../cpu/vcpu.js';
import { nothingToService } from '../cpu/service-check.js';

/**
 * Whether translated code may go on after an instruction that set only Stop.EVENT: the run loop
 * would find nothing to do between blocks (emulator/cpu/run.ts nothingToService, the predicate
 * serviceEvents asks first), so cpu.stop is cleared as serviceEvents would clear it (for MOV to
 * CR8 in jit/translate.ts: a TPR write stops for an interrupt it may have unmasked, which is
 * rarely there).
 *
 * The translated code checks besides that nothing the run loop checks at a block boundary
 * changed (the fetch mapping, 64-bit code, TF/RF, DR7, the interrupt shadow; translate.ts
 * SAME_CONTEXT), so going on is what the run loop would do.
 */
export function quietEvent(cpu: Vcpu): boolean {
  if (!nothingToService(cpu)) return false;
  cpu.stop = 0;
  return true;
}
