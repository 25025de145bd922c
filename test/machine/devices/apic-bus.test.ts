/**
 * N local APICs on one APIC bus, each with a stand-in vCPU (what LocalApic reads of a Vcpu) and a
 * fake ApicCpuLink that records the INIT and STARTUP messages its CPU receives. The expected
 * results are the SDM's (chapter 11) and, where the SDM leaves a choice, KVM's (lapic.c,
 * irq_comm.c): those are named in each test.
 */
import { describe, expect, test } from 'vitest';
import { Clock } from '../../../emulator/machine/clock.js';
import { CpuModel, DEFAULT_FEATURES } from '../../../emulator/cpu/cpu-model.js';
import { MsrValue } from '../../../emulator/cpu/platform.js';
import { ApicBus } from '../../../emulator/machine/devices/apic-bus.js';
import { type ApicCpu, type ApicCpuLink, LocalApic } from '../../../emulator/machine/devices/local-apic.js';
import { IoApic } from '../../../emulator/machine/devices/ioapic.js';

const R = {
  ID: 0x20, TPR: 0x80, EOI: 0xb0, LDR: 0xd0, DFR: 0xe0, SPIV: 0xf0, ISR: 0x100, TMR: 0x180, IRR: 0x200,
  ESR: 0x280, ICR: 0x300, ICR2: 0x310, LVTT: 0x320, LVT0: 0x350, LVT1: 0x360, LVTERR: 0x370, TMICT: 0x380,
  TMCCT: 0x390, TDCR: 0x3e0,
} as const;
const MSR_APIC_BASE = 0x1b;
const X2 = (reg: number): number => 0x800 + reg / 16;
const EN = 0x800;
const EXTD = 0x400;

// ICR low fields (SDM Figure 11-12).
const ASSERT = 0x4000;
const LEVEL_TRIGGER = 0x8000;
const LOGICAL = 0x800;
const LOWEST = 0x100;
const NMI = 0x400;
const INIT = 0x500;
const STARTUP = 0x600;
const SELF = 0x40000;
const ALL_INCLUDING_SELF = 0x80000;
const ALL_EXCLUDING_SELF = 0xc0000;

class FakeCpu implements ApicCpu {
  readonly model = new CpuModel({ features: [...DEFAULT_FEATURES, 'x2apic'] });
  tscOffset = 0;
  stop = 0;
  cr8 = 0;
  apicEnabled = true;
  nmis = 0;
  raiseNmi(): void { this.nmis++; }
}

class FakeLink implements ApicCpuLink {
  readonly events: string[] = [];
  receiveInit(): void { this.events.push('INIT'); }
  receiveStartup(vector: number): void { this.events.push(`SIPI ${vector.toString(16)}`); }
}

/**
 * `n` CPUs with APIC IDs 0..n-1 on one bus; unless `asBooted`, every APIC is software-enabled
 * (SPIV 0x1FF) as an OS does on each CPU it brings up.
 */
class Smp {
  now = 0;
  readonly clock = new Clock(() => this.now);
  readonly bus = new ApicBus();
  readonly cpus: FakeCpu[] = [];
  readonly links: FakeLink[] = [];
  readonly apics: LocalApic[] = [];

  constructor(n: number, asBooted = false) {
    for (let i = 0; i < n; i++) {
      const cpu = new FakeCpu();
      const link = new FakeLink();
      this.cpus.push(cpu);
      this.links.push(link);
      this.apics.push(new LocalApic(cpu, this.clock, { id: i, bus: this.bus, link }));
      if (!asBooted) this.write(i, R.SPIV, 0x1ff);
    }
  }

  read(cpu: number, reg: number): number { return this.apics[cpu].mmioRead(reg, 4) >>> 0; }
  write(cpu: number, reg: number, v: number): void { this.apics[cpu].mmioWrite(reg, 4, v | 0); }

  rdmsr(cpu: number, index: number): bigint | undefined {
    const out = new MsrValue();
    if (!this.apics[cpu].readMsr(this.cpus[cpu], index, out)) return undefined;
    return (BigInt(out.hi >>> 0) << 32n) | BigInt(out.lo >>> 0);
  }

  wrmsr(cpu: number, index: number, v: bigint): boolean {
    return this.apics[cpu].writeMsr(this.cpus[cpu], index, Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0);
  }

  /** xAPIC IPI from `cpu`: ICR2 then ICR, as a guest writes them. */
  ipi(cpu: number, lo: number, dest = 0): void {
    this.write(cpu, R.ICR2, dest << 24);
    this.write(cpu, R.ICR, lo);
  }

  /** x2APIC IPI: one 64-bit ICR write with a 32-bit destination. */
  ipi2(cpu: number, lo: number, dest: number): void {
    expect(this.wrmsr(cpu, X2(R.ICR), (BigInt(dest >>> 0) << 32n) | BigInt(lo))).toBe(true);
  }

  toX2apic(): void {
    for (let i = 0; i < this.apics.length; i++) expect(this.wrmsr(i, MSR_APIC_BASE, BigInt((0xfee00000 | EN | EXTD) >>> 0))).toBe(true);
  }

  bit(cpu: number, reg: number, vector: number): boolean {
    return ((this.read(cpu, reg + (vector >> 5) * 16) >>> (vector & 31)) & 1) === 1;
  }

  /** The CPUs whose IRR holds `vector` (read through the x2APIC MSRs when in x2APIC mode). */
  requested(vector: number): number[] {
    return this.apics.map((a, i) => i).filter((i) => {
      const word = this.apics[i].x2apicMode
        ? Number(this.rdmsr(i, X2(R.IRR + (vector >> 5) * 16)))
        : this.read(i, R.IRR + (vector >> 5) * 16);
      return ((word >>> (vector & 31)) & 1) === 1;
    });
  }

  /** ESR after the write that latches it (SDM 11.5.3). */
  esr(cpu: number): number {
    this.write(cpu, R.ESR, 0);
    return this.read(cpu, R.ESR);
  }

  /** Clears every request: each CPU accepts and retires what it holds. */
  drain(): void {
    for (const a of this.apics) while (a.pendingVector(true) >= 0) a.mmioWrite(R.EOI, 4, 0);
  }
}

describe('APIC bus: identity of each CPU', () => {
  test('APIC ID = CPU index (xAPIC bits 31:24, x2APIC whole); IA32_APIC_BASE has BSP on CPU 0 only', () => {
    const s = new Smp(20);
    for (let i = 0; i < 20; i++) {
      expect(s.read(i, R.ID), `cpu ${i}`).toBe(i << 24);
      expect(s.rdmsr(i, MSR_APIC_BASE)).toBe(i === 0 ? 0xfee00900n : 0xfee00800n);
    }
    s.toX2apic();
    for (let i = 0; i < 20; i++) expect(s.rdmsr(i, X2(R.ID))).toBe(BigInt(i));
  });

  test('the BSP starts as SeaBIOS leaves it, an AP in the power-up state (SeaBIOS programs the BSP only)', () => {
    const s = new Smp(2, true);
    expect([s.read(0, R.SPIV), s.read(0, R.LVT0), s.read(0, R.LVT1), s.read(0, R.LVTT)]).toEqual([0x1ff, 0x8700, 0x8400, 0x10000]);
    expect([s.read(1, R.SPIV), s.read(1, R.LVT0), s.read(1, R.LVT1), s.read(1, R.LVTT)]).toEqual([0xff, 0x10000, 0x10000, 0x10000]);
    expect([s.read(1, R.DFR), s.read(1, R.TPR)]).toEqual([0xffffffff, 0]);
    expect(s.apics[0].passesExtInt).toBe(true);
    expect(s.apics[1].passesExtInt).toBe(false); // the 8259 reaches the BSP only
  });

  test('x2APIC LDR is derived from the ID (cluster ID[19:4] in 31:16, bit ID[3:0]) and read-only', () => {
    const s = new Smp(20);
    s.toX2apic();
    expect(s.rdmsr(0, X2(R.LDR))).toBe(0x00000001n);
    expect(s.rdmsr(5, X2(R.LDR))).toBe(0x00000020n);
    expect(s.rdmsr(15, X2(R.LDR))).toBe(0x00008000n);
    expect(s.rdmsr(16, X2(R.LDR))).toBe(0x00010001n);
    expect(s.rdmsr(19, X2(R.LDR))).toBe(0x00010008n);
    expect(s.wrmsr(3, X2(R.LDR), 0n)).toBe(false);
  });

  test('a rewritten xAPIC ID is dropped for the initial one when the APIC enters x2APIC mode', () => {
    const s = new Smp(2);
    s.write(1, R.ID, 7 << 24);
    expect(s.read(1, R.ID)).toBe(7 << 24);
    s.ipi(0, ASSERT | 0x40, 7);
    expect(s.requested(0x40)).toEqual([1]);
    expect(s.wrmsr(1, MSR_APIC_BASE, BigInt((0xfee00000 | EN | EXTD) >>> 0))).toBe(true);
    expect(s.rdmsr(1, X2(R.ID))).toBe(1n);
  });

  test('each APIC answers MSRs for its own CPU only', () => {
    const s = new Smp(3);
    const out = new MsrValue();
    expect(s.apics[1].readMsr(s.cpus[2], MSR_APIC_BASE, out)).toBe(false);
    expect(s.apics[1].writeMsr(s.cpus[2], MSR_APIC_BASE, 0, 0)).toBe(false);
    expect(s.apics[1].readMsr(s.cpus[1], MSR_APIC_BASE, out)).toBe(true);
    expect(out.lo >>> 0).toBe(0xfee00800);
  });

  test('the bus refuses two APICs with one ID and IDs outside 0-254', () => {
    const s = new Smp(2);
    expect(() => new LocalApic(new FakeCpu(), s.clock, { id: 1, bus: s.bus })).toThrow(/already/);
    expect(() => new LocalApic(new FakeCpu(), s.clock, { id: 255 })).toThrow(/0-254/);
    expect(() => new LocalApic(new FakeCpu(), s.clock, { id: -1 })).toThrow(/0-254/);
  });
});

describe('APIC bus: fixed IPIs by destination (SDM 11.6.2)', () => {
  test('physical: the APIC ID names one CPU, 0xFF all of them, the sender included', () => {
    const s = new Smp(4);
    s.ipi(0, ASSERT | 0x41, 2);
    expect(s.requested(0x41)).toEqual([2]);
    s.ipi(3, ASSERT | 0x42, 0xff);
    expect(s.requested(0x42)).toEqual([0, 1, 2, 3]);
    s.ipi(1, ASSERT | 0x43, 9); // no such APIC
    expect(s.requested(0x43)).toEqual([]);
    expect(s.read(0, R.ICR) & 0x1000).toBe(0); // delivery status: idle at once
    expect(s.cpus[2].stop).not.toBe(0); // the target is asked to look for interrupts
  });

  test('shorthands: self, all including self, all excluding self (the destination field is ignored)', () => {
    const s = new Smp(4);
    s.ipi(2, SELF | ASSERT | 0x50, 1);
    expect(s.requested(0x50)).toEqual([2]);
    s.ipi(2, ALL_INCLUDING_SELF | ASSERT | 0x51, 1);
    expect(s.requested(0x51)).toEqual([0, 1, 2, 3]);
    s.ipi(2, ALL_EXCLUDING_SELF | ASSERT | 0x52, 2);
    expect(s.requested(0x52)).toEqual([0, 1, 3]);
  });

  test('logical, flat model: LDR[31:24] against the 8-bit mask', () => {
    const s = new Smp(4);
    for (let i = 0; i < 4; i++) s.write(i, R.LDR, (1 << i) << 24);
    s.ipi(0, LOGICAL | ASSERT | 0x60, 0b0110);
    expect(s.requested(0x60)).toEqual([1, 2]);
    s.ipi(0, LOGICAL | ASSERT | 0x61, 0xff); // logical broadcast
    expect(s.requested(0x61)).toEqual([0, 1, 2, 3]);
    s.ipi(0, LOGICAL | ASSERT | 0x62, 0x10);
    expect(s.requested(0x62)).toEqual([]);
  });

  test('logical, cluster model: same cluster (high nibble) and a common member bit (low nibble)', () => {
    const s = new Smp(4);
    // CPUs 0, 1 in cluster 0 (bits 0, 1); CPUs 2, 3 in cluster 1 (bits 0, 1).
    for (let i = 0; i < 4; i++) {
      s.write(i, R.DFR, 0x0fffffff);
      s.write(i, R.LDR, (((i >> 1) << 4) | (1 << (i & 1))) << 24);
    }
    s.ipi(0, LOGICAL | ASSERT | 0x70, 0x12);
    expect(s.requested(0x70)).toEqual([3]);
    s.ipi(0, LOGICAL | ASSERT | 0x71, 0x13);
    expect(s.requested(0x71)).toEqual([2, 3]);
    s.ipi(0, LOGICAL | ASSERT | 0x72, 0x03);
    expect(s.requested(0x72)).toEqual([0, 1]);
    s.ipi(0, LOGICAL | ASSERT | 0x73, 0xff);
    expect(s.requested(0x73)).toEqual([0, 1, 2, 3]);
  });

  test('a hardware-disabled APIC hears nothing, a software-disabled one no fixed interrupt', () => {
    const s = new Smp(4);
    expect(s.wrmsr(1, MSR_APIC_BASE, 0xfee00000n)).toBe(true); // EN clear
    s.write(2, R.SPIV, 0xff);
    s.ipi(0, ASSERT | 0x44, 0xff);
    s.ipi(0, ASSERT | NMI, 0xff);
    expect(s.cpus.map((c) => c.nmis)).toEqual([1, 0, 1, 1]); // NMI reaches a software-disabled APIC
    expect(s.wrmsr(1, MSR_APIC_BASE, 0xfee00800n)).toBe(true); // enabled again, with the state it kept
    expect(s.requested(0x44)).toEqual([0, 3]);
  });
});

describe('APIC bus: lowest priority (KVM vector hashing: the (vector mod n)-th candidate in APIC-ID order)', () => {
  test('one CPU of the named set takes it, chosen by the vector', () => {
    const s = new Smp(4);
    for (let i = 0; i < 4; i++) s.write(i, R.LDR, (1 << i) << 24);
    const chosen: number[] = [];
    for (const v of [0x40, 0x41, 0x42, 0x43, 0x44]) {
      s.ipi(0, LOGICAL | LOWEST | ASSERT | v, 0x0f);
      const got = s.requested(v);
      expect(got.length, `vector ${v}`).toBe(1);
      chosen.push(got[0]);
    }
    expect(chosen).toEqual([0, 1, 2, 3, 0]);
    s.ipi(0, LOGICAL | LOWEST | ASSERT | 0x45, 0b1010); // candidates 1 and 3: 0x45 % 2 = 1
    expect(s.requested(0x45)).toEqual([3]);
  });

  test('software-disabled APICs are not candidates; with none left nobody gets it', () => {
    const s = new Smp(4);
    for (let i = 0; i < 4; i++) s.write(i, R.LDR, (1 << i) << 24);
    s.write(1, R.SPIV, 0xff);
    s.ipi(0, LOGICAL | LOWEST | ASSERT | 0x41, 0x0f); // candidates 0, 2, 3: 0x41 % 3 = 2
    expect(s.requested(0x41)).toEqual([3]);
    s.ipi(0, LOGICAL | LOWEST | ASSERT | 0x42, 0x02);
    expect(s.requested(0x42)).toEqual([]);
  });

  test('the choice does not depend on TPR or what is in service', () => {
    const a = new Smp(4);
    const b = new Smp(4);
    for (const s of [a, b]) for (let i = 0; i < 4; i++) s.write(i, R.LDR, (1 << i) << 24);
    b.write(1, R.TPR, 0xf0);
    b.ipi(1, SELF | ASSERT | 0xe0);
    b.apics[1].pendingVector(true);
    a.ipi(0, LOGICAL | LOWEST | ASSERT | 0x41, 0x0f);
    b.ipi(0, LOGICAL | LOWEST | ASSERT | 0x41, 0x0f);
    expect(a.requested(0x41)).toEqual([1]);
    expect(b.requested(0x41)).toEqual([1]);
  });

  test('physical lowest priority to 0xFF is a fixed broadcast (KVM); shorthands pick one', () => {
    const s = new Smp(4);
    s.ipi(0, LOWEST | ASSERT | 0x46, 0xff);
    expect(s.requested(0x46)).toEqual([0, 1, 2, 3]);
    s.ipi(0, ALL_EXCLUDING_SELF | LOWEST | ASSERT | 0x47); // candidates 1, 2, 3: 0x47 % 3 = 2
    expect(s.requested(0x47)).toEqual([3]);
  });
});

describe('APIC bus: NMI, INIT and STARTUP', () => {
  test('NMI to one CPU by physical destination, and to all excluding self', () => {
    const s = new Smp(4);
    s.ipi(0, ASSERT | NMI, 3);
    expect(s.cpus.map((c) => c.nmis)).toEqual([0, 0, 0, 1]);
    s.ipi(3, ALL_EXCLUDING_SELF | ASSERT | NMI);
    expect(s.cpus.map((c) => c.nmis)).toEqual([1, 1, 1, 1]);
  });

  test('the bring-up sequence: INIT assert, INIT de-assert (dropped), STARTUP with its vector', () => {
    const s = new Smp(4);
    s.ipi(0, ALL_EXCLUDING_SELF | ASSERT | INIT); // 0x000c4500, kvm-unit-tests' bringup_aps
    expect(s.links.map((l) => l.events)).toEqual([[], ['INIT'], ['INIT'], ['INIT']]);
    s.ipi(0, ALL_EXCLUDING_SELF | LEVEL_TRIGGER | INIT); // 0x000c8500: level de-assert
    expect(s.links.map((l) => l.events)).toEqual([[], ['INIT'], ['INIT'], ['INIT']]);
    s.ipi(0, ALL_EXCLUDING_SELF | STARTUP | 0x9a);
    s.ipi(0, STARTUP | 0x00, 2); // vector 0 is legal for STARTUP (kvm-unit-tests uses it)
    expect(s.links.map((l) => l.events)).toEqual([[], ['INIT', 'SIPI 9a'], ['INIT', 'SIPI 9a', 'SIPI 0'], ['INIT', 'SIPI 9a']]);
    expect(s.esr(0)).toBe(0);
  });

  test("Linux's sequence to one AP: INIT level assert, INIT level de-assert, STARTUP twice", () => {
    const s = new Smp(2);
    s.ipi(0, LEVEL_TRIGGER | ASSERT | INIT, 1);
    s.ipi(0, LEVEL_TRIGGER | INIT, 1);
    s.ipi(0, STARTUP | 0x9f, 1);
    s.ipi(0, STARTUP | 0x9f, 1);
    expect(s.links[1].events).toEqual(['INIT', 'SIPI 9f', 'SIPI 9f']);
    expect(s.links[0].events).toEqual([]);
  });

  test('INIT puts the APIC in its power-up state except the APIC ID and IA32_APIC_BASE (SDM 11.4.7.3)', () => {
    const s = new Smp(2);
    s.write(1, R.ID, 5 << 24);
    s.write(1, R.TPR, 0x20);
    s.write(1, R.LDR, 0x08000000);
    s.write(1, R.DFR, 0x0fffffff);
    s.write(1, R.LVTT, 0x30);
    s.write(1, R.TDCR, 0xb);
    s.write(1, R.TMICT, 1000);
    s.ipi(0, ASSERT | 0x60, 5);
    s.ipi(0, ASSERT | 0x70, 5);
    s.apics[1].pendingVector(true);
    s.write(1, R.ICR, 0x4000 | 0x10); // illegal vector: an ESR bit waiting to be latched
    s.ipi(0, ASSERT | INIT, 5);
    expect(s.links[1].events).toEqual(['INIT']);
    expect(s.read(1, R.ID)).toBe(5 << 24);
    expect(s.rdmsr(1, MSR_APIC_BASE)).toBe(0xfee00800n);
    expect(s.read(1, R.TPR)).toBe(0);
    expect(s.cpus[1].cr8).toBe(0);
    expect(s.read(1, R.LDR)).toBe(0);
    expect(s.read(1, R.DFR)).toBe(0xffffffff);
    expect(s.read(1, R.SPIV)).toBe(0xff);
    for (const reg of [R.LVTT, R.LVT0, R.LVT1, R.LVTERR]) expect(s.read(1, reg)).toBe(0x10000);
    expect([s.read(1, R.TMICT), s.read(1, R.TMCCT), s.read(1, R.TDCR)]).toEqual([0, 0, 0]);
    for (let w = 0; w < 8; w++) {
      expect([s.read(1, R.IRR + 16 * w), s.read(1, R.ISR + 16 * w), s.read(1, R.TMR + 16 * w)]).toEqual([0, 0, 0]);
    }
    expect(s.read(1, R.ICR)).toBe(0);
    expect(s.esr(1)).toBe(0);
    // Software-disabled after INIT: no fixed interrupts, but a STARTUP gets through.
    s.ipi(0, ASSERT | 0x80, 5);
    expect(s.requested(0x80)).toEqual([]);
    s.ipi(0, STARTUP | 0x10, 5);
    expect(s.links[1].events).toEqual(['INIT', 'SIPI 10']);
  });

  test('INIT stops the timer: no expiry after it', () => {
    const s = new Smp(2);
    s.write(1, R.LVTT, 0x30);
    s.write(1, R.TMICT, 100);
    expect(s.clock.nextDeadline()).toBeLessThan(Infinity);
    s.ipi(0, ASSERT | INIT, 1);
    expect(s.clock.nextDeadline()).toBe(Infinity);
    s.now = 10_000;
    s.clock.fireDue();
    expect(s.requested(0x30)).toEqual([]);
  });

  test('an APIC in x2APIC mode stays in it through INIT, with its ID and derived LDR', () => {
    const s = new Smp(2);
    s.toX2apic();
    s.ipi2(0, ASSERT | INIT, 1);
    expect(s.links[1].events).toEqual(['INIT']);
    expect(s.rdmsr(1, MSR_APIC_BASE)).toBe(0xfee00c00n);
    expect(s.rdmsr(1, X2(R.ID))).toBe(1n);
    expect(s.rdmsr(1, X2(R.LDR))).toBe(2n);
    expect(s.rdmsr(1, X2(R.SPIV))).toBe(0xffn);
  });

  test('SMI and ExtINT messages are dropped', () => {
    const s = new Smp(2);
    s.ipi(0, ALL_INCLUDING_SELF | ASSERT | 0x200 | 0x40);
    s.ipi(0, ALL_INCLUDING_SELF | ASSERT | 0x700 | 0x41);
    expect([...s.requested(0x40), ...s.requested(0x41)]).toEqual([]);
    expect(s.links.map((l) => l.events)).toEqual([[], []]);
    expect(s.cpus.map((c) => c.nmis)).toEqual([0, 0]);
  });
});

describe('APIC bus: x2APIC (SDM 11.12)', () => {
  test('one 64-bit ICR write: physical 32-bit ID, 0xFFFFFFFF broadcast, 0xFF is just ID 255', () => {
    const s = new Smp(4);
    s.toX2apic();
    s.ipi2(0, ASSERT | 0x41, 2);
    expect(s.requested(0x41)).toEqual([2]);
    s.ipi2(1, ASSERT | 0x42, 0xffffffff);
    expect(s.requested(0x42)).toEqual([0, 1, 2, 3]);
    s.ipi2(1, ASSERT | 0x43, 0xff);
    expect(s.requested(0x43)).toEqual([]);
    s.ipi2(1, ASSERT | 0x44, 0x102); // the high bits count: not CPU 2
    expect(s.requested(0x44)).toEqual([]);
    expect(s.rdmsr(1, X2(R.ICR))).toBe((0x102n << 32n) | BigInt(ASSERT | 0x44));
  });

  test('logical: cluster ID in bits 31:16 and a 16-bit member mask', () => {
    const s = new Smp(20);
    s.toX2apic();
    s.ipi2(0, LOGICAL | ASSERT | 0x50, 0x0000000a);
    expect(s.requested(0x50)).toEqual([1, 3]);
    s.ipi2(0, LOGICAL | ASSERT | 0x51, 0x00010009);
    expect(s.requested(0x51)).toEqual([16, 19]);
    s.ipi2(0, LOGICAL | ASSERT | 0x52, 0x00020001); // cluster 2 is empty
    expect(s.requested(0x52)).toEqual([]);
    s.ipi2(5, LOGICAL | LOWEST | ASSERT | 0x53, 0x0001000f); // candidates 16-19: 0x53 % 4 = 3
    expect(s.requested(0x53)).toEqual([19]);
  });

  test('SELF IPI register and INIT/SIPI through the 64-bit ICR', () => {
    const s = new Smp(3);
    s.toX2apic();
    expect(s.wrmsr(2, 0x83f, 0x61n)).toBe(true);
    expect(s.requested(0x61)).toEqual([2]);
    s.ipi2(0, ALL_EXCLUDING_SELF | ASSERT | INIT, 0);
    s.ipi2(0, ALL_EXCLUDING_SELF | STARTUP | 0x08, 0);
    expect(s.links.map((l) => l.events)).toEqual([[], ['INIT', 'SIPI 8'], ['INIT', 'SIPI 8']]);
  });
});

describe('APIC bus: illegal vectors (SDM 11.5.3)', () => {
  test('fixed or lowest priority with a vector below 16: the sender sets "send illegal vector", nobody receives', () => {
    const s = new Smp(3);
    s.ipi(0, ASSERT | 0x0f, 1);
    s.ipi(0, ALL_EXCLUDING_SELF | LOWEST | ASSERT | 0x03);
    expect(s.esr(0)).toBe(0x20);
    expect([s.esr(1), s.esr(2)]).toEqual([0, 0]);
    expect(s.requested(0x0f)).toEqual([]);
  });

  test('from the IOAPIC, the receiver sets "receive illegal vector" and raises the error LVT', () => {
    const s = new Smp(3);
    const io = new IoApic(s.bus);
    s.write(1, R.LVTERR, 0xe3);
    ioRoute(io, 4, 0x05, 1);
    io.setIrq(4, true);
    expect(s.esr(1)).toBe(0x40);
    expect(s.requested(0xe3)).toEqual([1]);
    expect([s.esr(0), s.esr(2)]).toEqual([0, 0]);
  });
});

/** Programs redirection entry `pin`: high half (destination) first, then the low half. */
function ioRoute(io: IoApic, pin: number, low: number, dest: number): void {
  io.mmioWrite(0, 4, 0x11 + 2 * pin);
  io.mmioWrite(0x10, 4, dest << 24);
  io.mmioWrite(0, 4, 0x10 + 2 * pin);
  io.mmioWrite(0x10, 4, low);
}

function ioLow(io: IoApic, pin: number): number {
  io.mmioWrite(0, 4, 0x10 + 2 * pin);
  return io.mmioRead(0x10, 4) >>> 0;
}

describe('IOAPIC on the APIC bus', () => {
  test('a pin routed to CPU 2 physical reaches CPU 2 only', () => {
    const s = new Smp(4);
    const io = new IoApic(s.bus);
    ioRoute(io, 3, 0x33, 2);
    io.setIrq(3, true);
    expect(s.requested(0x33)).toEqual([2]);
  });

  test('logical destinations: a set of CPUs, and lowest priority picks one of them', () => {
    const s = new Smp(4);
    const io = new IoApic(s.bus);
    for (let i = 0; i < 4; i++) s.write(i, R.LDR, (1 << i) << 24);
    ioRoute(io, 5, LOGICAL | 0x35, 0b1101);
    io.setIrq(5, true);
    expect(s.requested(0x35)).toEqual([0, 2, 3]);
    ioRoute(io, 6, LOGICAL | LOWEST | 0x36, 0b1101); // candidates 0, 2, 3: 0x36 % 3 = 0
    io.setIrq(6, true);
    expect(s.requested(0x36)).toEqual([0]);
  });

  test('NMI through a redirection entry raises the named CPU\'s NMI', () => {
    const s = new Smp(3);
    const io = new IoApic(s.bus);
    ioRoute(io, 7, NMI, 1);
    io.setIrq(7, true);
    expect(s.cpus.map((c) => c.nmis)).toEqual([0, 1, 0]);
  });

  test("level-triggered: the EOI of the CPU that accepted it clears remote IRR; another CPU's EOI does not", () => {
    const s = new Smp(4);
    const io = new IoApic(s.bus);
    ioRoute(io, 9, LEVEL_TRIGGER | 0x59, 2);
    io.setIrq(9, true);
    expect(ioLow(io, 9) & 0x4000).not.toBe(0);
    expect(s.apics[2].pendingVector(true)).toBe(0x59);
    expect(s.bit(2, R.TMR, 0x59)).toBe(true);
    s.write(1, R.EOI, 0); // nothing in service there
    expect(ioLow(io, 9) & 0x4000).not.toBe(0);
    s.write(2, R.EOI, 0); // line still asserted: resent to CPU 2
    expect(ioLow(io, 9) & 0x4000).not.toBe(0);
    expect(s.requested(0x59)).toEqual([2]);
    expect(s.apics[2].pendingVector(true)).toBe(0x59);
    io.setIrq(9, false);
    s.write(2, R.EOI, 0);
    expect(ioLow(io, 9) & 0x4000).toBe(0);
    expect(s.requested(0x59)).toEqual([]);
  });

  test('x2APIC-mode CPUs: an 8-bit ID names the CPU with that x2APIC ID, and 0xFF still broadcasts (KVM)', () => {
    const s = new Smp(3);
    const io = new IoApic(s.bus);
    s.toX2apic();
    ioRoute(io, 10, 0x3a, 1);
    io.setIrq(10, true);
    expect(s.requested(0x3a)).toEqual([1]);
    ioRoute(io, 11, 0x3b, 0xff);
    io.setIrq(11, true);
    expect(s.requested(0x3b)).toEqual([0, 1, 2]);
    ioRoute(io, 12, LOGICAL | 0x3c, 0x06); // cluster 0, bits 1 and 2
    io.setIrq(12, true);
    expect(s.requested(0x3c)).toEqual([1, 2]);
  });
});
