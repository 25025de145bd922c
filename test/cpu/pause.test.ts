import { describe, expect, test } from 'vitest';
import { Reg } from '../../emulator/arch/registers.js';
import { SKYLAKE_PAUSE_CYCLES } from '../../emulator/cpu/cpu-model.js';
import { runTiny, u32 } from './tiny-guest.js';

/**
 * PAUSE takes the modeled CPU's time (140 cycles on the Skylake the CPUID signature names), and
 * NOP does not: a spin-wait timed with RDTSC, like upstream xapic's 10^6-cycle waits, ends after
 * as many iterations as on that CPU. Each loop below runs its body 100 times between two RDTSCs;
 * the translator is not involved (the loops run 100 times, below its threshold), so the forced
 * run of this suite checks the translated path too.
 */
const timed = (body: string): number => {
  // rdtsc; mov ebx, eax; mov ecx, 100; L: body; loop L; rdtsc; sub eax, ebx
  const len = body.replace(/\s+/g, '').length / 2;
  const back = (0x100 - (len + 2)).toString(16).padStart(2, '0');
  return u32(runTiny(`0f 31  89 c3  b9 64 00 00 00  ${body}  e2 ${back}  0f 31  29 d8`), Reg.RAX);
};

describe('PAUSE costs the modeled CPU cycles', () => {
  test('100 PAUSEs advance the TSC by 100 x 140 more than 100 NOPs', () => {
    const pause = timed('f3 90');
    const nop = timed('90');
    expect(pause - nop).toBe(100 * (SKYLAKE_PAUSE_CYCLES - 1));
    expect(nop).toBeLessThan(1000);
  });

  test('other prefixes on 90 stay plain NOPs', () => {
    expect(timed('66 90')).toBe(timed('90'));
    expect(timed('f2 90')).toBe(timed('90'));
  });
});
