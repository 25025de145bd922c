import { describe, expect, test } from 'vitest';
import { TestMachine } from './machine.js';

const APIC = 0xfee00000;
const LVTT = 0x320;
const TMICT = 0x380;
const TMCCT = 0x390;
const TDCR = 0x3e0;
const SPIV = 0xf0;
const EOI = 0xb0;
const MSR_TSC_DEADLINE = 0x6e0;
const MASKED = 1 << 16;
const PERIODIC = 1 << 17;
const TSC_DEADLINE = 2 << 17;
const V = 0xe0;

class Timer extends TestMachine {
  read(reg: number): number { return this.mmioRead(APIC + reg); }
  write(reg: number, v: number): void { this.mmioWrite(APIC + reg, v); }
  /** Whether the timer vector is requested; accepts and EOIs it so the next one can be seen. */
  fired(): boolean {
    if (this.pending(true) !== V) return false;
    this.write(EOI, 0);
    return true;
  }
}

describe('APIC timer: one-shot and periodic at a 1 GHz bus clock', () => {
  test('one-shot fires at exactly start + count * divisor cycles, once', () => {
    const t = new Timer();
    t.advance(12345);
    t.write(TDCR, 0x0); // divide by 2
    t.write(LVTT, V);
    const start = t.now();
    t.write(TMICT, 1000);
    expect(t.vm.clock.nextDeadline()).toBe(start + 2000);
    t.advanceTo(start + 1999);
    expect(t.fired()).toBe(false);
    expect(t.read(TMCCT)).toBe(1); // one tick every 2 cycles
    t.advanceTo(start + 2000);
    expect(t.fired()).toBe(true);
    expect(t.read(TMCCT)).toBe(0);
    t.advance(10_000);
    expect(t.fired()).toBe(false);
    expect(t.vm.clock.nextDeadline()).toBe(Infinity);
  });

  test('the current count drops by one every divisor cycles', () => {
    const t = new Timer();
    t.write(TDCR, 0x3); // divide by 16
    t.write(LVTT, V | MASKED);
    const start = t.now();
    t.write(TMICT, 100);
    expect(t.read(TMCCT)).toBe(100);
    t.advanceTo(start + 15);
    expect(t.read(TMCCT)).toBe(100);
    t.advanceTo(start + 16);
    expect(t.read(TMCCT)).toBe(99);
    t.advanceTo(start + 16 * 99 + 15);
    expect(t.read(TMCCT)).toBe(1);
    t.advanceTo(start + 1600);
    expect(t.read(TMCCT)).toBe(0);
  });

  test.each([
    [0x0, 2], [0x1, 4], [0x2, 8], [0x3, 16], [0x8, 32], [0x9, 64], [0xa, 128], [0xb, 1],
  ])('divide configuration 0x%s divides by %i', (tdcr, divisor) => {
    const t = new Timer();
    t.write(TDCR, tdcr);
    expect(t.read(TDCR)).toBe(tdcr);
    t.write(LVTT, V);
    const start = t.now();
    t.write(TMICT, 10);
    expect(t.vm.clock.nextDeadline()).toBe(start + 10 * divisor);
  });

  test('periodic: an interrupt every count * divisor cycles, phase kept, count reloads', () => {
    const t = new Timer();
    t.write(TDCR, 0xb);
    t.write(LVTT, V | PERIODIC);
    const start = t.now();
    t.write(TMICT, 500);
    for (let k = 1; k <= 4; k++) {
      t.advanceTo(start + 500 * k - 1);
      expect(t.fired(), `before period ${k}`).toBe(false);
      t.advanceTo(start + 500 * k);
      expect(t.fired(), `period ${k}`).toBe(true);
      expect(t.read(TMCCT)).toBe(500);
    }
    t.advanceTo(start + 2000 + 123);
    expect(t.read(TMCCT)).toBe(377);
  });

  test('periodic expiries that were missed coalesce into one interrupt, the phase stays', () => {
    const t = new Timer();
    t.write(TDCR, 0xb);
    t.write(LVTT, V | PERIODIC);
    const start = t.now();
    t.write(TMICT, 100);
    t.vm.cpu.extraCycles += 1050; // the run loop came back late
    t.vm.clock.fireDue();
    expect(t.fired()).toBe(true);
    expect(t.fired()).toBe(false);
    expect(t.vm.clock.nextDeadline()).toBe(start + 1100);
  });

  test('a masked timer counts (and periodic reloads) but schedules nothing and raises nothing', () => {
    const t = new Timer();
    t.write(TDCR, 0xb);
    t.write(LVTT, V | PERIODIC | MASKED);
    const start = t.now();
    t.write(TMICT, 100);
    expect(t.vm.clock.nextDeadline()).toBe(Infinity);
    t.advanceTo(start + 250);
    expect(t.read(TMCCT)).toBe(50);
    expect(t.fired()).toBe(false);
    t.write(LVTT, V | PERIODIC); // unmasking arms the next expiry in phase
    expect(t.vm.clock.nextDeadline()).toBe(start + 300);
  });

  test('software-disabling the APIC masks the timer and disarms its event', () => {
    const t = new Timer();
    t.write(TDCR, 0xb);
    t.write(LVTT, V);
    t.write(TMICT, 100);
    t.write(SPIV, 0xff);
    expect(t.vm.clock.nextDeadline()).toBe(Infinity);
    t.advance(200);
    expect(t.fired()).toBe(false);
  });

  test('writing 0 to the initial count stops the timer', () => {
    const t = new Timer();
    t.write(LVTT, V | PERIODIC);
    t.write(TMICT, 100);
    t.write(TMICT, 0);
    expect(t.vm.clock.nextDeadline()).toBe(Infinity);
    expect(t.read(TMCCT)).toBe(0);
  });

  test('a new divisor applies from the current count on', () => {
    const t = new Timer();
    t.write(TDCR, 0xb);
    t.write(LVTT, V);
    const start = t.now();
    t.write(TMICT, 1000);
    t.advanceTo(start + 400);
    t.write(TDCR, 0x1); // divide by 4: the 600 left take 2400 cycles
    expect(t.read(TMCCT)).toBe(600);
    expect(t.vm.clock.nextDeadline()).toBe(start + 400 + 2400);
  });

  test('one-shot switched to periodic while counting reloads at expiry; periodic to one-shot stops', () => {
    const t = new Timer();
    t.write(TDCR, 0xb);
    t.write(LVTT, V);
    const start = t.now();
    t.write(TMICT, 100);
    t.write(LVTT, V | PERIODIC);
    t.advanceTo(start + 100);
    expect(t.fired()).toBe(true);
    expect(t.vm.clock.nextDeadline()).toBe(start + 200);
    t.write(LVTT, V);
    t.advanceTo(start + 200);
    expect(t.fired()).toBe(true);
    t.advance(1000);
    expect(t.fired()).toBe(false);
  });
});

describe('APIC timer: TSC-deadline mode (IA32_TSC_DEADLINE)', () => {
  test('the MSR exists only when CPUID advertises tsc-deadline, and then only mode bit 18 is writable', () => {
    const t = new Timer();
    expect(t.rdmsr(MSR_TSC_DEADLINE)).toBeUndefined();
    expect(t.wrmsr(MSR_TSC_DEADLINE, 1n)).toBe(false);
    t.write(LVTT, V | TSC_DEADLINE);
    expect(t.read(LVTT)).toBe(V);
    const d = new Timer({ features: ['tsc-deadline'] });
    d.write(LVTT, V | TSC_DEADLINE);
    expect(d.read(LVTT)).toBe(V | TSC_DEADLINE);
  });

  test('fires when the guest TSC reaches the deadline (TSC offset included), then the MSR reads 0', () => {
    const t = new Timer({ features: ['tsc-deadline'] });
    t.vm.cpu.tscOffset = 5000;
    t.write(LVTT, V | TSC_DEADLINE);
    const deadline = t.vm.cpu.tsc() + 10_000;
    expect(t.wrmsr(MSR_TSC_DEADLINE, BigInt(deadline))).toBe(true);
    expect(t.rdmsr(MSR_TSC_DEADLINE)).toBe(BigInt(deadline));
    t.advanceTo(deadline - 5000 - 1);
    expect(t.fired()).toBe(false);
    t.advanceTo(deadline - 5000);
    expect(t.vm.cpu.tsc()).toBe(deadline);
    expect(t.fired()).toBe(true);
    expect(t.rdmsr(MSR_TSC_DEADLINE)).toBe(0n);
  });

  test('a deadline in the past fires at once; 0 disarms; the count registers read 0 and ignore writes', () => {
    const t = new Timer({ features: ['tsc-deadline'] });
    t.advance(1000);
    t.write(LVTT, V | TSC_DEADLINE);
    t.write(TMICT, 50);
    expect(t.read(TMICT)).toBe(0);
    expect(t.read(TMCCT)).toBe(0);
    t.wrmsr(MSR_TSC_DEADLINE, 1n);
    expect(t.fired()).toBe(true);
    t.wrmsr(MSR_TSC_DEADLINE, BigInt(t.vm.cpu.tsc() + 100));
    t.wrmsr(MSR_TSC_DEADLINE, 0n);
    expect(t.vm.clock.nextDeadline()).toBe(Infinity);
    t.advance(1000);
    expect(t.fired()).toBe(false);
  });

  test('leaving or entering TSC-deadline mode disarms; in other modes the MSR reads 0 and ignores writes', () => {
    const t = new Timer({ features: ['tsc-deadline'] });
    t.write(LVTT, V | TSC_DEADLINE);
    t.wrmsr(MSR_TSC_DEADLINE, BigInt(t.vm.cpu.tsc() + 100));
    t.write(LVTT, V);
    expect(t.vm.clock.nextDeadline()).toBe(Infinity);
    expect(t.rdmsr(MSR_TSC_DEADLINE)).toBe(0n);
    t.wrmsr(MSR_TSC_DEADLINE, BigInt(t.vm.cpu.tsc() + 100));
    expect(t.vm.clock.nextDeadline()).toBe(Infinity);
    t.write(TMICT, 100);
    t.write(LVTT, V | TSC_DEADLINE); // a running one-shot count is disarmed too
    expect(t.vm.clock.nextDeadline()).toBe(Infinity);
    t.advance(1000);
    expect(t.fired()).toBe(false);
  });
});
