import { describe, expect, test } from 'vitest';
import { TestMachine } from './machine.js';

const IOAPIC = 0xfec00000;
const APIC = 0xfee00000;
const EOI = 0xb0;
const LEVEL = 1 << 15;
const MASKED = 1 << 16;
const REMOTE_IRR = 1 << 14;
const ACTIVE_LOW = 1 << 13;

class Io extends TestMachine {
  reg(index: number): number {
    this.mmioWrite(IOAPIC, index);
    return this.mmioRead(IOAPIC + 0x10);
  }
  setReg(index: number, v: number): void {
    this.mmioWrite(IOAPIC, index);
    this.mmioWrite(IOAPIC + 0x10, v);
  }
  route(pin: number, low: number, dest = 0): void {
    this.setReg(0x11 + 2 * pin, dest << 24);
    this.setReg(0x10 + 2 * pin, low);
  }
  eoi(): void { this.mmioWrite(APIC + EOI, 0); }
}

describe('IOAPIC registers', () => {
  test('version 0x170011 (24 pins), ID in bits 27:24 (arbitration ID follows), IOREGSEL reads back', () => {
    const io = new Io();
    expect(io.reg(0x01)).toBe(0x00170011);
    io.setReg(0x00, 0x0f000000 | 0xffffff);
    expect(io.reg(0x00)).toBe(0x0f000000);
    expect(io.reg(0x02)).toBe(0x0f000000);
    io.setReg(0x01, 0);
    expect(io.reg(0x01)).toBe(0x00170011);
    io.mmioWrite(IOAPIC, 0x2a);
    expect(io.mmioRead(IOAPIC)).toBe(0x2a);
    expect(io.reg(0x40)).toBe(0); // past the table
  });

  test('every redirection entry starts masked; writable bits read back, delivery status and remote IRR do not', () => {
    const io = new Io();
    for (let pin = 0; pin < 24; pin++) expect(io.reg(0x10 + 2 * pin), `pin ${pin}`).toBe(MASKED);
    io.setReg(0x10, 0xffffffff);
    expect(io.reg(0x10)).toBe(0x1afff);
    io.setReg(0x11, 0xffffffff);
    expect(io.reg(0x11)).toBe(0xff000000);
  });
});

describe('IOAPIC delivery to the local APIC', () => {
  test('ISA IRQ0 arrives on pin 2 (the MADT override) as the programmed vector, edge-triggered', () => {
    const io = new Io();
    io.route(2, 0x30);
    io.devices.setIsaIrq(0, true);
    expect(io.pending(true)).toBe(0x30);
    io.eoi();
    io.devices.setIsaIrq(0, true); // no new edge
    expect(io.pending()).toBe(-1);
    io.devices.setIsaIrq(0, false);
    io.devices.setIsaIrq(0, true);
    expect(io.pending()).toBe(0x30);
  });

  test('masked pins and other destinations deliver nothing; broadcast and logical destinations do', () => {
    const io = new Io();
    io.route(3, 0x31 | MASKED);
    io.devices.ioapic.setIrq(3, true);
    io.route(4, 0x32, 1); // physical APIC ID 1: nobody
    io.devices.ioapic.setIrq(4, true);
    expect(io.pending()).toBe(-1);
    io.route(5, 0x33, 0xff);
    io.devices.ioapic.setIrq(5, true);
    expect(io.pending(true)).toBe(0x33);
    io.eoi();
    io.mmioWrite(APIC + 0xd0, 0x01000000); // LDR: logical ID bit 0
    io.route(6, 0x34 | 0x800, 0x01);
    io.devices.ioapic.setIrq(6, true);
    expect(io.pending(true)).toBe(0x34);
  });

  test('NMI delivery mode raises the vCPU NMI', () => {
    const io = new Io();
    io.route(7, 0x400);
    io.devices.ioapic.setIrq(7, true);
    expect(io.vm.cpu.nmiPending).toBe(true);
  });

  test('level-triggered: remote IRR while in service, resent at EOI while the line stays asserted', () => {
    const io = new Io();
    io.route(9, 0x40 | LEVEL);
    io.devices.ioapic.setIrq(9, true);
    expect(io.reg(0x10 + 18) & REMOTE_IRR).toBe(REMOTE_IRR);
    expect(io.pending(true)).toBe(0x40);
    expect((io.mmioRead(APIC + 0x180 + 0x20) >>> 0) & 1).toBe(1); // TMR bit 0x40
    io.eoi();
    expect(io.reg(0x10 + 18) & REMOTE_IRR).toBe(REMOTE_IRR); // resent: still asserted
    expect(io.pending(true)).toBe(0x40);
    io.devices.ioapic.setIrq(9, false);
    io.eoi();
    expect(io.reg(0x10 + 18) & REMOTE_IRR).toBe(0);
    expect(io.pending()).toBe(-1);
  });

  test('active-low polarity inverts the line; unmasking an asserted level line delivers it', () => {
    const io = new Io();
    io.route(10, 0x50 | LEVEL | MASKED | ACTIVE_LOW);
    io.devices.ioapic.setIrq(10, false); // asserted (active low)
    expect(io.pending()).toBe(-1);
    io.route(10, 0x50 | LEVEL | ACTIVE_LOW);
    expect(io.pending()).toBe(0x50);
  });
});
