import { describe, expect, test } from 'vitest';
import { Reg } from '../../emulator/arch/registers.js';
import { CODE, hex, le32, runTiny, u32, wrmsr } from './tiny-guest.js';

/**
 * SYSCALL outside 64-bit mode (SDM Vol. 2 SYSCALL; AMD APM Vol. 3 SYSCALL): Intel raises #UD;
 * AMD runs it in legacy protected mode too, with ECX = the return EIP, CS from STAR[47:32] and
 * EIP = STAR[31:0]. The single-step trap looks at TF after the instruction.
 */

const EFER = 0xc0000080;
const STAR = 0xc0000081;

/** EFER.SCE, STAR = (selector 8, target), then SYSCALL; the target is the instruction right after it. */
function guest(before = ''): { code: string; after: number } {
  const head = (target: number): string => `${wrmsr(EFER, 1, 0)}  ${wrmsr(STAR, target, 8)}  ${before}`;
  const after = CODE + hex(head(0)).length + 2;
  return { code: `${head(after)}  0f 05`, after };
}

describe('SYSCALL in legacy protected mode', () => {
  test('is #UD on Intel', () => {
    expect(runTiny(guest().code, 'max').vector).toBe(6);
  });

  test('on AMD, ECX gets the return EIP and EIP = STAR[31:0]', () => {
    const g = guest();
    const r = runTiny(g.code, 'max,vendor=AuthenticAMD');
    expect(r.vector).toBe(null);
    expect(u32(r, Reg.RCX)).toBe(g.after);
  });

  test('on AMD with TF=1 (kept: legacy mode has no FMASK), a single-step #DB follows it', () => {
    const g = guest(`9c  81 0c 24 ${le32(0x100)}  9d`); // POPF sets TF: SYSCALL is the first instruction stepped
    const r = runTiny(g.code, 'max,vendor=AuthenticAMD');
    expect(r.vector).toBe(1);
    expect(r.stopOffset).toBe(g.after - CODE);
    expect(r.vm.cpu.drLo[6] & 0x4000).toBe(0x4000);
  });
});
