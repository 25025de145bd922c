import { describe, expect, test } from 'vitest';
import { TestMachine } from './machine.js';

function initPics(m: TestMachine, masterBase = 0x20, slaveBase = 0x28): void {
  m.out(0x20, 0x11); m.out(0x21, masterBase); m.out(0x21, 0x04); m.out(0x21, 0x01);
  m.out(0xa0, 0x11); m.out(0xa1, slaveBase); m.out(0xa1, 0x02); m.out(0xa1, 0x01);
}

describe('8259 PIC pair', () => {
  test('starts fully masked (IMR 0xff on both) and raises nothing', () => {
    const m = new TestMachine();
    expect([m.in(0x21), m.in(0xa1)]).toEqual([0xff, 0xff]);
    for (let irq = 0; irq < 16; irq++) m.devices.setIsaIrq(irq, true);
    expect(m.devices.pic.intr).toBe(false);
    expect(m.pending()).toBe(-1); // nothing reaches the CPU either
  });

  test('kvm-unit-tests masking (OCW1 0xff without ICWs) reads back', () => {
    const m = new TestMachine();
    m.out(0x21, 0x00);
    m.out(0x21, 0xff);
    m.out(0xa1, 0xff);
    expect([m.in(0x21), m.in(0xa1)]).toEqual([0xff, 0xff]);
  });

  test('ICW1 clears IMR; once unmasked an edge raises INTR and INTA returns base + IRQ', () => {
    const m = new TestMachine();
    const levels: boolean[] = [];
    m.devices.pic.onOutput = (l) => levels.push(l);
    initPics(m);
    expect(m.in(0x21)).toBe(0);
    m.devices.setIsaIrq(1, true);
    expect(m.devices.pic.intr).toBe(true);
    expect(m.devices.pic.acknowledge()).toBe(0x21);
    expect(m.devices.pic.intr).toBe(false);
    expect(levels).toEqual([true, false]);
    m.out(0x20, 0x0b); // OCW3: read ISR
    expect(m.in(0x20)).toBe(0x02);
    m.out(0x20, 0x20); // non-specific EOI
    expect(m.in(0x20)).toBe(0);
  });

  test('IRR and ISR through OCW3; priority: IRQ0 before IRQ3; in-service blocks lower ones', () => {
    const m = new TestMachine();
    initPics(m);
    m.devices.setIsaIrq(3, true);
    m.devices.setIsaIrq(0, true);
    m.out(0x20, 0x0a); // read IRR
    expect(m.in(0x20)).toBe(0x09);
    expect(m.devices.pic.acknowledge()).toBe(0x20);
    expect(m.devices.pic.intr).toBe(false); // IRQ3 waits for IRQ0's EOI
    m.out(0x20, 0x60); // specific EOI for IRQ0
    expect(m.devices.pic.acknowledge()).toBe(0x23);
  });

  test('the slave cascades through master IRQ2', () => {
    const m = new TestMachine();
    initPics(m);
    m.devices.setIsaIrq(12, true);
    expect(m.devices.pic.intr).toBe(true);
    expect(m.devices.pic.acknowledge()).toBe(0x2c);
    m.out(0xa0, 0x0b);
    expect(m.in(0xa0)).toBe(0x10);
  });

  test('masked lines stay requested and are delivered when unmasked', () => {
    const m = new TestMachine();
    initPics(m);
    m.out(0x21, 0x10);
    m.devices.setIsaIrq(4, true);
    expect(m.devices.pic.intr).toBe(false);
    m.out(0x21, 0x00);
    expect(m.devices.pic.intr).toBe(true);
  });

  test('ELCR: IRQs 0-2, 8, 13 stay edge; a level line follows its input', () => {
    const m = new TestMachine();
    m.out(0x4d0, 0xff);
    m.out(0x4d1, 0xff);
    expect([m.in(0x4d0), m.in(0x4d1)]).toEqual([0xf8, 0xde]);
    expect(m.in(0x4d0, 4)).toBe(0xffffdef8); // vmexit's inl: 0x4d2-0x4d3 belong to nobody
    initPics(m);
    m.devices.setIsaIrq(5, true);
    expect(m.devices.pic.intr).toBe(true);
    m.devices.setIsaIrq(5, false);
    expect(m.devices.pic.intr).toBe(false);
  });

  test('poll mode returns 0x80 | IRQ and acknowledges it', () => {
    const m = new TestMachine();
    initPics(m);
    m.devices.setIsaIrq(6, true);
    m.out(0x20, 0x0c);
    expect(m.in(0x20)).toBe(0x86);
    m.out(0x20, 0x0b);
    expect(m.in(0x20)).toBe(0x40);
  });
});
