import { describe, expect, test } from 'vitest';
import { PM_TIMER_HZ, pmTimerTicks } from '../../../emulator/machine/devices/acpi-pm.js';
import { TestMachine } from './machine.js';

const TMR = 0x608;

describe('ACPI PM timer', () => {
  test('ticks are floor(cycles * 3579545 / 10^9), exactly, even far beyond 2^53 / 3579545 cycles', () => {
    expect(pmTimerTicks(0)).toBe(0);
    expect(pmTimerTicks(279)).toBe(0);
    expect(pmTimerTicks(280)).toBe(1); // 280 * 3.579545e-3 = 1.0023
    expect(pmTimerTicks(1e9)).toBe(PM_TIMER_HZ);
    for (const c of [123456789012345, 987654321098765, 2 ** 52 + 12345]) {
      expect(BigInt(pmTimerTicks(c))).toBe((BigInt(c) * 3579545n) / 1000000000n);
    }
  });

  test('a 32-bit read at 0x608 follows modeled time at 3.579545 MHz', () => {
    const m = new TestMachine();
    const t0 = m.in(TMR, 4);
    m.advance(1_000_000_000);
    const t1 = m.in(TMR, 4);
    expect((t1 - t0) & 0xffffff).toBe(PM_TIMER_HZ & 0xffffff);
    m.advance(10_000_000); // 10 ms
    expect((m.in(TMR, 4) - t1) & 0xffffff).toBeGreaterThanOrEqual(35795);
    expect((m.in(TMR, 4) - t1) & 0xffffff).toBeLessThanOrEqual(35796);
  });

  test('the counter is 24 bits: it wraps and bits 31:24 read 0; byte reads see its bytes', () => {
    const m = new TestMachine();
    m.advanceTo(Math.ceil((0xfffffe * 1e9) / PM_TIMER_HZ));
    expect(m.in(TMR, 4)).toBe(0xfffffe);
    m.advance(600);
    expect(m.in(TMR, 4)).toBeLessThan(0x10);
    m.advanceTo(Math.ceil((0x123456 + 2 * 0x1000000) * 1e9 / PM_TIMER_HZ));
    expect(m.in(TMR, 4)).toBe(0x123456);
    expect([m.in(TMR), m.in(TMR + 1), m.in(TMR + 2), m.in(TMR + 3)]).toEqual([0x56, 0x34, 0x12, 0]);
  });

  test('TMR_STS sets when bit 23 toggles and clears on writing 1', () => {
    const m = new TestMachine();
    expect(m.in(0x600, 2) & 1).toBe(0);
    m.advanceTo(Math.ceil((0x800000 * 1e9) / PM_TIMER_HZ));
    expect(m.in(0x600, 2) & 1).toBe(1);
    m.out(0x600, 1, 2);
    expect(m.in(0x600, 2) & 1).toBe(0);
    m.advance(1e9);
    expect(m.in(0x600, 2) & 1).toBe(0);
  });

  test('PM1 enable and control accept writes; SCI_EN stays set; SLP_EN and GBL_RLS read 0', () => {
    const m = new TestMachine();
    expect(m.in(0x604, 2)).toBe(1);
    m.out(0x602, 0xffff, 2);
    expect(m.in(0x602, 2)).toBe(0x0721);
    m.out(0x604, 0x2000 | (5 << 10) | 0x4 | 0x2, 2);
    expect(m.in(0x604, 2)).toBe((5 << 10) | 0x2 | 0x1);
    expect(m.in(0x600, 4)).toBe(0x0721 << 16);
    expect(m.in(0x606, 2)).toBe(0xffff); // no register there
    m.advance(1_000_000);
    const before = m.in(TMR, 4);
    m.out(TMR, 0, 4); // read-only
    expect(m.in(TMR, 4)).toBe(before);
  });
});
