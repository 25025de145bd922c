import { describe, expect, test } from 'vitest';
import { CODE, DATA, hex, le32, runTiny } from './tiny-guest.js';

/**
 * Debug exceptions against the SDM (Vol. 3 ch. 18) on tiny guests with no IDT: the #DB escalates
 * to a triple fault, so the run ends with vector 1 and RIP where the #DB left it (the instruction
 * for a fault, the next one for a trap), and DR6 is read off the vCPU.
 */

const len = (code: string): number => hex(code).length;
/** pushf; or dword [esp], TF; popf: TF is set, and the instruction after the POPF is the first stepped. */
const SET_TF = `9c  81 0c 24 ${le32(0x100)}  9d`;
const NOP = '90';
const dr6 = (r: ReturnType<typeof runTiny>): number => r.vm.cpu.drLo[6];

describe('single-step (TF)', () => {
  test('the #DB is a trap after the first instruction that starts with TF=1, with DR6.BS', () => {
    const r = runTiny(`${SET_TF} ${NOP} ${NOP}`);
    expect(r.vector).toBe(1);
    expect(r.stopOffset).toBe(len(SET_TF) + 1);
    expect(dr6(r) & 0x4000).toBe(0x4000);
  });

  test('STI does not hold it', () => {
    const r = runTiny(`fa  ${SET_TF}  fb  ${NOP}`);
    expect(r.stopOffset).toBe(1 + len(SET_TF) + 1);
  });

  test('ICEBP (F1) is a #DB trap of its own, with no DR6 bit', () => {
    const r = runTiny(`${NOP} f1 ${NOP}`);
    expect(r.vector).toBe(1);
    expect(r.stopOffset).toBe(2);
    expect(dr6(r) & 0xe00f).toBe(0);
  });
});

describe('DR0-DR3 breakpoints', () => {
  /** mov eax, v; mov drN, eax */
  const setDr = (n: number, v: number): string => `b8 ${le32(v)}  0f 23 ${(0xc0 | (n << 3)).toString(16)}`;

  test('an execute breakpoint is a fault on the instruction, reported in DR6.Bn', () => {
    const prefix = `${setDr(0, 0)} ${setDr(7, 0)}`; // lengths only: the real values come below
    const target = CODE + len(prefix) + 1;
    const code = `${setDr(0, target)} ${setDr(7, 0x401)} ${NOP} ${NOP}`;
    expect(len(code) - 2).toBe(len(prefix));
    const r = runTiny(code);
    expect(r.vector).toBe(1);
    expect(r.stopOffset).toBe(len(prefix) + 1);
    expect(dr6(r) & 0xf).toBe(1);
  });

  test('a 4-byte write breakpoint traps after the writing instruction, in DR6.B1', () => {
    const setup = `${setDr(1, DATA)} ${setDr(7, 0x00d00404)}`;
    const store = `a3 ${le32(DATA)}`; // mov [DATA], eax
    const r = runTiny(`${setup} ${store} ${NOP} ${NOP}`);
    expect(r.vector).toBe(1);
    expect(r.stopOffset).toBe(len(setup) + len(store));
    expect(dr6(r) & 0xf).toBe(2);
  });

  test('a write breakpoint ignores reads; a read/write one takes them', () => {
    const load = `a1 ${le32(DATA)}`; // mov eax, [DATA]
    expect(runTiny(`${setDr(1, DATA)} ${setDr(7, 0x00d00404)} ${load}`).vector).toBe(null);
    expect(runTiny(`${setDr(1, DATA)} ${setDr(7, 0x00f00404)} ${load}`).vector).toBe(1);
  });

  test('DR7.GD makes the next MOV DR a #DB fault with DR6.BD, and clears GD', () => {
    const setGd = setDr(7, 0x2400);
    const r = runTiny(`${setGd} 0f 21 f0`); // mov eax, dr6
    expect(r.vector).toBe(1);
    expect(r.stopOffset).toBe(len(setGd));
    expect(dr6(r) & 0x2000).toBe(0x2000);
    expect(r.vm.cpu.drLo[7] & 0x2000).toBe(0);
  });
});
