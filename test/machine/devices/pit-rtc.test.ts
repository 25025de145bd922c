import { describe, expect, test } from 'vitest';
import { TestMachine } from './machine.js';
import { PIT_HZ, cyclesForTicks, pitTicks } from '../../../emulator/machine/devices/pit.js';
import { START_DATE } from '../../../emulator/machine/devices/rtc.js';

/** Reads channel `k` with a counter-latch command, LSB then MSB. */
function latch(m: TestMachine, k: number): number {
  m.out(0x43, k << 6);
  const lo = m.in(0x40 + k);
  return lo | (m.in(0x40 + k) << 8);
}

describe('8254 PIT', () => {
  test('ticks are exact at 1.193182 MHz of modeled time', () => {
    expect(pitTicks(1_000_000_000)).toBe(PIT_HZ);
    expect(pitTicks(cyclesForTicks(12345))).toBe(12345);
    expect(pitTicks(cyclesForTicks(12345) - 1)).toBe(12344);
  });

  test('mode 0 on channel 2 counts down from the written count; port 0x61 gates it and shows OUT2', () => {
    const m = new TestMachine();
    m.out(0x61, 0x01); // gate 2 on, speaker off
    m.out(0x43, 0xb0); // channel 2, LSB/MSB, mode 0
    m.out(0x42, 0x00);
    m.out(0x42, 0x10); // 0x1000
    expect(m.in(0x61) & 0x20).toBe(0);
    m.advance(cyclesForTicks(0x100));
    expect(latch(m, 2)).toBe(0x0f00);
    m.out(0x61, 0x00); // gate off: counting pauses
    m.advance(cyclesForTicks(0x500));
    expect(latch(m, 2)).toBe(0x0f00);
    m.out(0x61, 0x01);
    m.advance(cyclesForTicks(0xf00));
    expect(m.in(0x61) & 0x20).toBe(0x20); // terminal count reached: OUT2 high
    expect(latch(m, 2)).toBe(0);
  });

  test('reads without a latch alternate LSB and MSB of the running count (what quick_pit_calibrate does)', () => {
    const m = new TestMachine();
    m.out(0x61, 0x01);
    m.out(0x43, 0xb0);
    m.out(0x42, 0xff);
    m.out(0x42, 0xff);
    m.advance(cyclesForTicks(300));
    const lsb = m.in(0x42);
    const msb = m.in(0x42);
    expect((msb << 8) | lsb).toBe(0xffff - 300);
  });

  test('channel 0 in mode 2 raises IRQ0 every period through the PIC (the Linux tick)', () => {
    const m = new TestMachine({ without: ['apic'] });
    // PICs as Linux programs them: vector base 0x30, IRQ0 unmasked.
    m.out(0x20, 0x11); m.out(0x21, 0x30); m.out(0x21, 0x04); m.out(0x21, 0x01); m.out(0x21, 0xfe);
    m.out(0x43, 0x34); // channel 0, LSB/MSB, mode 2
    m.out(0x40, 0xa9); m.out(0x40, 0x04); // LATCH for HZ=1000: 1193
    expect(m.pending()).toBe(-1);
    m.advance(cyclesForTicks(1193));
    expect(m.pending(true)).toBe(0x30);
    m.out(0x20, 0x20); // EOI
    expect(m.pending()).toBe(-1);
    m.advance(cyclesForTicks(1193 * 2) - cyclesForTicks(1193));
    expect(m.pending(true)).toBe(0x30);
    expect(m.devices.pit.countOf(0)).toBe(1193);
  });

  test('read-back latches status: OUT, null count, access and mode', () => {
    const m = new TestMachine();
    m.out(0x43, 0x36); // channel 0, LSB/MSB, mode 3
    m.out(0x43, 0xe2); // read-back: status only, channel 0
    expect(m.in(0x40)).toBe(0x40 | 0x30 | 0x06 | 0x80);
  });
});

describe('CMOS RTC', () => {
  const read = (m: TestMachine, reg: number): number => { m.out(0x70, reg); return m.in(0x71); };

  test('the clock starts at a fixed date, in BCD and 24-hour mode, and advances with modeled time', () => {
    const m = new TestMachine();
    const d = new Date(START_DATE * 1000);
    const bcd = (v: number): number => ((Math.floor(v / 10) << 4) | (v % 10));
    expect(read(m, 9)).toBe(bcd(d.getUTCFullYear() % 100));
    expect(read(m, 0x32)).toBe(bcd(Math.floor(d.getUTCFullYear() / 100)));
    expect(read(m, 8)).toBe(bcd(d.getUTCMonth() + 1));
    expect(read(m, 0)).toBe(0);
    m.advance(61_000_000_000);
    expect(read(m, 0)).toBe(0x01);
    expect(read(m, 2)).toBe(0x01);
    expect(read(m, 0x0d)).toBe(0x80); // valid RAM and time
  });

  test('UIP is set only in the last 244 us before each update; writes with SET move the date', () => {
    const m = new TestMachine();
    expect(read(m, 0x0a) & 0x80).toBe(0);
    m.advance(1_000_000_000 - 100_000);
    expect(read(m, 0x0a) & 0x80).toBe(0x80);
    m.out(0x70, 0x0b); m.out(0x71, 0x86); // SET, binary, 24h
    m.out(0x70, 0x04); m.out(0x71, 13);
    m.out(0x70, 0x0b); m.out(0x71, 0x06);
    expect(read(m, 4)).toBe(13);
  });

  test('update-ended interrupts raise IRQ8 and flag register C, which reading clears', () => {
    const m = new TestMachine({ without: ['apic'] });
    m.out(0x20, 0x11); m.out(0x21, 0x30); m.out(0x21, 0x04); m.out(0x21, 0x01); m.out(0x21, 0xfb);
    m.out(0xa0, 0x11); m.out(0xa1, 0x38); m.out(0xa1, 0x02); m.out(0xa1, 0x01); m.out(0xa1, 0xfe);
    m.out(0x70, 0x0b); m.out(0x71, 0x12); // UIE, 24h
    m.advance(1_000_000_000);
    expect(m.pending(true)).toBe(0x38);
    expect(read(m, 0x0c) & 0x90).toBe(0x90);
    expect(read(m, 0x0c)).toBe(0);
  });
});

describe('16550 interrupts and the PIC path to a CPU without a local APIC', () => {
  test('enabling THRE interrupts with OUT2 raises IRQ4; reading IIR acknowledges it', () => {
    const m = new TestMachine({ without: ['apic'] });
    m.out(0x20, 0x11); m.out(0x21, 0x30); m.out(0x21, 0x04); m.out(0x21, 0x01); m.out(0x21, 0xef);
    m.out(0x3fc, 0x08); // MCR.OUT2
    m.out(0x3f9, 0x02); // IER.ETBEI
    expect(m.in(0x3fa) & 0x0f).toBe(0x02); // IIR: THR empty
    expect(m.pending(true)).toBe(0x34);
    expect(m.in(0x3fa) & 0x0f).toBe(0x01); // acknowledged: no interrupt
    m.out(0x20, 0x20);
    m.out(0x3f8, 0x41); // a byte leaves at once: THR empty again, a new edge
    expect(m.pending(true)).toBe(0x34);
  });

  test('FCR bit 0 shows in IIR bits 7:6 (how Linux tells a 16550A)', () => {
    const m = new TestMachine();
    expect(m.in(0x3fa) & 0xc0).toBe(0);
    m.out(0x3fa, 0x01);
    expect(m.in(0x3fa) & 0xc0).toBe(0xc0);
  });

  test('with a local APIC, the 8259 reaches the CPU only through LINT0 in ExtINT mode', () => {
    const m = new TestMachine();
    m.out(0x20, 0x11); m.out(0x21, 0x30); m.out(0x21, 0x04); m.out(0x21, 0x01); m.out(0x21, 0xef);
    m.out(0x3fc, 0x08);
    m.out(0x3f9, 0x02);
    expect(m.pending()).toBeGreaterThanOrEqual(0); // LINT0 is ExtINT at start (what SeaBIOS leaves)
    m.mmioWrite(0xfee00350, 0x10700); // mask LINT0
    expect(m.pending()).toBe(-1);
  });
});
