import { describe, expect, test } from 'vitest';
import { Stop } from '../../../emulator/cpu/vcpu.js';
import { TestMachine } from './machine.js';

const APIC = 0xfee00000;
const R = {
  ID: 0x20, LVR: 0x30, TPR: 0x80, PPR: 0xa0, EOI: 0xb0, LDR: 0xd0, DFR: 0xe0, SPIV: 0xf0,
  ISR: 0x100, TMR: 0x180, IRR: 0x200, ESR: 0x280, ICR: 0x300, ICR2: 0x310,
  LVTT: 0x320, LVT0: 0x350, LVT1: 0x360, LVTERR: 0x370, TMICT: 0x380, TMCCT: 0x390, TDCR: 0x3e0,
} as const;
const MSR_APIC_BASE = 0x1b;
const MSR_TSC_DEADLINE = 0x6e0;
const X2 = (reg: number): number => 0x800 + reg / 16;

const SELF = 0x40000;
const ALL_BUT_SELF = 0xc0000;
const ALL_INCLUDING_SELF = 0x80000;
const MASKED = 1 << 16;
const PERIODIC = 1 << 17;
const TSC_DEADLINE = 2 << 17;

class Apic extends TestMachine {
  read(reg: number): number { return this.mmioRead(APIC + reg); }
  write(reg: number, v: number): void { this.mmioWrite(APIC + reg, v); }
  selfIpi(vector: number): void { this.write(R.ICR, SELF | 0x4000 | vector); }
  bit(reg: number, vector: number): boolean { return ((this.read(reg + (vector >> 5) * 16) >>> (vector & 31)) & 1) === 1; }
  /** Accepts the deliverable interrupt as the CPU would, returning its vector (-1 if none). */
  take(): number { return this.pending(true); }
}

describe('local APIC: state the guest starts in (what SeaBIOS leaves)', () => {
  test('APIC_BASE 0xfee00900, ID 0, version 0x50014, SPIV 0x1ff, LINT0 ExtINT, LINT1 NMI, the rest masked', () => {
    const a = new Apic();
    expect(a.rdmsr(MSR_APIC_BASE)).toBe(0xfee00900n);
    expect(a.read(R.ID)).toBe(0);
    expect(a.read(R.LVR)).toBe(0x50014);
    expect(a.read(R.SPIV)).toBe(0x1ff);
    expect(a.read(R.LVT0)).toBe(0x8700);
    expect(a.read(R.LVT1)).toBe(0x8400);
    expect(a.read(R.LVTT)).toBe(MASKED);
    expect(a.read(R.LVTERR)).toBe(MASKED);
    expect(a.read(R.DFR)).toBe(0xffffffff);
    // The CPU's interrupt controller answers with the local APIC's vectors (then the 8259's, through LINT0).
    a.selfIpi(0x40);
    expect(a.vm.platform.interruptController?.pendingVector(false)).toBe(0x40);
  });
});

describe('local APIC: priorities (SDM 11.8.3)', () => {
  test('an accepted vector moves from IRR to ISR; EOI retires it', () => {
    const a = new Apic();
    a.selfIpi(0x40);
    expect(a.bit(R.IRR, 0x40)).toBe(true);
    expect(a.pending()).toBe(0x40);
    expect(a.take()).toBe(0x40);
    expect(a.bit(R.IRR, 0x40)).toBe(false);
    expect(a.bit(R.ISR, 0x40)).toBe(true);
    expect(a.read(R.PPR)).toBe(0x40);
    a.write(R.EOI, 0);
    expect(a.bit(R.ISR, 0x40)).toBe(false);
    expect(a.read(R.PPR)).toBe(0);
  });

  test('deliverable only when the vector class is above the PPR class', () => {
    const a = new Apic();
    a.write(R.TPR, 0x50);
    a.selfIpi(0x5f);
    expect(a.pending()).toBe(-1); // same class as TPR
    a.write(R.TPR, 0x4f);
    expect(a.read(R.PPR)).toBe(0x4f);
    expect(a.pending()).toBe(0x5f);
  });

  test('PPR is TPR when its class is at least the in-service class, else that class (low bits 0)', () => {
    const a = new Apic();
    a.selfIpi(0x80);
    a.take();
    a.write(R.TPR, 0x37);
    expect(a.read(R.PPR)).toBe(0x80);
    a.write(R.TPR, 0x8f);
    expect(a.read(R.PPR)).toBe(0x8f);
    a.write(R.TPR, 0x90);
    expect(a.read(R.PPR)).toBe(0x90);
  });

  test('higher vectors first; nested service; EOI clears the highest ISR bit only', () => {
    const a = new Apic();
    a.selfIpi(0x30);
    a.selfIpi(0x90);
    a.selfIpi(0x31);
    expect(a.take()).toBe(0x90);
    expect(a.pending()).toBe(-1); // 0x30 and 0x31 are below PPR 0x90
    a.write(R.EOI, 0);
    expect(a.take()).toBe(0x31);
    a.selfIpi(0x60);
    expect(a.take()).toBe(0x60); // nests over 0x31
    expect(a.bit(R.ISR, 0x31) && a.bit(R.ISR, 0x60)).toBe(true);
    a.write(R.EOI, 0);
    expect(a.bit(R.ISR, 0x60)).toBe(false);
    expect(a.bit(R.ISR, 0x31)).toBe(true);
    expect(a.pending()).toBe(-1); // 0x30: same class as 0x31 in service
    a.write(R.EOI, 0);
    expect(a.take()).toBe(0x30);
  });

  test('a vector requested twice before acceptance is one request (IRR is one bit)', () => {
    const a = new Apic();
    a.selfIpi(0x40);
    a.selfIpi(0x40);
    expect(a.take()).toBe(0x40);
    expect(a.pending()).toBe(-1);
  });
});

describe('local APIC: TPR and CR8 (SDM 11.8.6.1)', () => {
  test('MOV to CR8 writes TPR[7:4] and clears TPR[3:0]', () => {
    const a = new Apic();
    a.write(R.TPR, 0x5f);
    a.devices.lapic.setTprFromCr8(3);
    expect(a.read(R.TPR)).toBe(0x30);
  });

  test('a TPR write updates the CR8 mirror and asks the CPU to look for interrupts', () => {
    const a = new Apic();
    a.vm.cpu.stop = 0;
    a.write(R.TPR, 0xa7);
    expect(a.vm.cpu.cr8).toBe(0xa);
    expect(a.vm.cpu.stop & Stop.EVENT).not.toBe(0);
  });

  test('an interrupt held back by CR8 becomes deliverable when CR8 drops', () => {
    const a = new Apic();
    a.devices.lapic.setTprFromCr8(0xb);
    a.selfIpi(0xb0);
    expect(a.pending()).toBe(-1);
    a.devices.lapic.setTprFromCr8(0xa);
    expect(a.pending()).toBe(0xb0);
  });
});

describe('local APIC: IPIs through the ICR', () => {
  test('self IPI sets IRR and flags the CPU; the delivery-status bit always reads 0', () => {
    const a = new Apic();
    a.vm.cpu.stop = 0;
    a.write(R.ICR, SELF | 0x4000 | 0xb0);
    expect(a.vm.cpu.stop & Stop.EVENT).not.toBe(0);
    expect(a.bit(R.IRR, 0xb0)).toBe(true);
    expect(a.read(R.ICR)).toBe(SELF | 0x4000 | 0xb0);
  });

  test('fixed IPI to own APIC ID, to broadcast, to all including self arrive; all excluding self does not', () => {
    for (const [icr, dest, arrives] of [
      [0x4000 | 0x41, 0, true], [0x4000 | 0x41, 1, false], [0x4000 | 0x41, 0xff, true],
      [ALL_INCLUDING_SELF | 0x4000 | 0x41, 5, true], [ALL_BUT_SELF | 0x4000 | 0x41, 0, false],
      [0x800 | 0x4000 | 0x41, 0x01, false], // logical, LDR is 0
    ] as const) {
      const a = new Apic();
      a.write(R.ICR2, dest << 24);
      a.write(R.ICR, icr);
      expect(a.bit(R.IRR, 0x41), `icr ${icr.toString(16)} dest ${dest}`).toBe(arrives);
    }
  });

  test('logical destinations: flat model against LDR, cluster model by DFR', () => {
    const a = new Apic();
    a.write(R.LDR, 0x04000000);
    a.write(R.ICR2, 0x06 << 24);
    a.write(R.ICR, 0x800 | 0x4000 | 0x42);
    expect(a.bit(R.IRR, 0x42)).toBe(true);
    a.write(R.DFR, 0x0fffffff); // cluster: cluster 0, member bit 2
    a.write(R.ICR2, 0x14 << 24);
    a.write(R.ICR, 0x800 | 0x4000 | 0x43);
    expect(a.bit(R.IRR, 0x43)).toBe(false);
    a.write(R.ICR2, 0x04 << 24);
    a.write(R.ICR, 0x800 | 0x4000 | 0x43);
    expect(a.bit(R.IRR, 0x43)).toBe(true);
  });

  test('INIT and SIPI broadcasts (kvm-unit-tests bring-up) are accepted and ignored', () => {
    const a = new Apic();
    a.write(R.ICR, 0x000c4500);
    a.write(R.ICR, 0x000c0600);
    a.write(R.ICR, SELF | 0x500); // INIT to self: not modeled, ignored
    expect(a.read(R.ICR) & 0x1000).toBe(0);
    expect(a.pending()).toBe(-1);
    expect(a.vm.cpu.nmiPending).toBe(false);
    a.write(R.ESR, 0);
    expect(a.read(R.ESR)).toBe(0);
  });

  test('NMI delivery mode raises the vCPU NMI', () => {
    const a = new Apic();
    a.write(R.ICR, ALL_INCLUDING_SELF | 0x4000 | 0x400);
    expect(a.vm.cpu.nmiPending).toBe(true);
  });

  test('an illegal vector (0-15) is not delivered; ESR latches "send illegal vector" on the next write', () => {
    const a = new Apic();
    a.selfIpi(5);
    expect(a.pending()).toBe(-1);
    expect(a.read(R.ESR)).toBe(0);
    a.write(R.ESR, 0);
    expect(a.read(R.ESR)).toBe(0x20);
    a.write(R.ESR, 0);
    expect(a.read(R.ESR)).toBe(0);
  });

  test('an unmasked LVT error entry raises its vector on an error; a reserved register sets bit 7', () => {
    const a = new Apic();
    a.write(R.LVTERR, 0xfe);
    a.read(0x40);
    expect(a.bit(R.IRR, 0xfe)).toBe(true);
    a.write(R.ESR, 0);
    expect(a.read(R.ESR)).toBe(0x80);
  });
});

describe('local APIC: software and hardware disable', () => {
  test('SPIV bit 8 clear: LVT masks set and stuck, fixed interrupts not accepted', () => {
    const a = new Apic();
    a.write(R.LVTT, 0x20);
    a.write(R.SPIV, 0xff);
    expect(a.read(R.LVTT)).toBe(MASKED | 0x20);
    a.write(R.LVTT, 0x20);
    expect(a.read(R.LVTT)).toBe(MASKED | 0x20);
    a.selfIpi(0x50);
    expect(a.bit(R.IRR, 0x50)).toBe(false);
    a.write(R.SPIV, 0x1ff);
    expect(a.read(R.LVTT)).toBe(MASKED | 0x20);
    a.write(R.LVTT, 0x20);
    expect(a.read(R.LVTT)).toBe(0x20);
  });

  test('EN clear: the page reads all ones, nothing is delivered; setting EN again brings it back', () => {
    const a = new Apic();
    a.selfIpi(0x50);
    expect(a.wrmsr(MSR_APIC_BASE, 0xfee00100n)).toBe(true);
    expect(a.read(R.ID)).toBe(0xffffffff);
    expect(a.pending()).toBe(-1);
    a.devices.lapic.setTprFromCr8(2); // CR8 keeps working
    expect(a.wrmsr(MSR_APIC_BASE, 0xfee00900n)).toBe(true);
    expect(a.read(R.LVR)).toBe(0x50014);
    expect(a.read(R.TPR)).toBe(0x20);
    expect(a.pending()).toBe(0x50);
  });

  test('a new base in IA32_APIC_BASE moves the page (apic.c test_apicbase, KVM base_address); the old one reads all ones', () => {
    const a = new Apic();
    expect(a.wrmsr(MSR_APIC_BASE, 0xfee00000n)).toBe(true); // disable, then re-enable elsewhere
    expect(a.wrmsr(MSR_APIC_BASE, 0xfed40900n)).toBe(true);
    expect(a.mmioRead(0xfed40000 + R.LVR)).toBe(0x50014);
    expect(a.read(R.LVR)).toBe(0xffffffff);
    a.mmioWrite(0xfed40000 + R.TPR, 0x30);
    expect(a.mmioRead(0xfed40000 + R.TPR)).toBe(0x30);
    expect(a.mmioRead(0xfed41000 + R.LVR)).toBe(0xffffffff); // the next page is not the APIC's
    expect(a.wrmsr(MSR_APIC_BASE, 0xfee00900n)).toBe(true);
    expect(a.read(R.TPR)).toBe(0x30);
    expect(a.mmioRead(0xfed40000 + R.LVR)).toBe(0xffffffff);
  });

  test('without the apic CPUID feature there is no APIC: no IA32_APIC_BASE, no page, no interrupts', () => {
    const a = new Apic({ without: ['apic'] });
    expect(a.rdmsr(MSR_APIC_BASE)).toBeUndefined();
    expect(a.wrmsr(MSR_APIC_BASE, 0xfee00900n)).toBe(false);
    expect(a.read(R.LVR)).toBe(0xffffffff);
    a.selfIpi(0x50);
    expect(a.pending()).toBe(-1);
  });
});

describe('local APIC: IA32_APIC_BASE and x2APIC mode (SDM 11.4.4, 11.12)', () => {
  const XAPIC = 0xfee00900n;
  const X2APIC = 0xfee00d00n;
  const DISABLED = 0xfee00100n;

  test('reserved bits fault: 0-7, 9, EXTD without x2APIC support, address bits at or above MAXPHYADDR', () => {
    const a = new Apic();
    expect(a.wrmsr(MSR_APIC_BASE, XAPIC | 1n)).toBe(false);
    expect(a.wrmsr(MSR_APIC_BASE, XAPIC | 0x200n)).toBe(false);
    expect(a.wrmsr(MSR_APIC_BASE, X2APIC)).toBe(false);
    expect(a.wrmsr(MSR_APIC_BASE, XAPIC | (1n << 40n))).toBe(false); // MAXPHYADDR 40
    expect(a.wrmsr(MSR_APIC_BASE, XAPIC | (1n << 39n))).toBe(true);
  });

  test('the BSP flag is read-only', () => {
    const a = new Apic();
    expect(a.wrmsr(MSR_APIC_BASE, 0xfee00800n)).toBe(true);
    expect(a.rdmsr(MSR_APIC_BASE)).toBe(XAPIC);
  });

  test('legal transitions: xAPIC -> x2APIC -> disabled -> xAPIC; illegal ones fault', () => {
    const a = new Apic({ features: ['x2apic'] });
    expect(a.wrmsr(MSR_APIC_BASE, 0xfee00500n)).toBe(false); // EN=0 with EXTD=1
    expect(a.wrmsr(MSR_APIC_BASE, X2APIC)).toBe(true);
    expect(a.wrmsr(MSR_APIC_BASE, XAPIC)).toBe(false); // x2APIC -> xAPIC
    expect(a.wrmsr(MSR_APIC_BASE, DISABLED)).toBe(true);
    expect(a.wrmsr(MSR_APIC_BASE, X2APIC)).toBe(false); // disabled -> x2APIC
    expect(a.wrmsr(MSR_APIC_BASE, XAPIC)).toBe(true);
    expect(a.rdmsr(MSR_APIC_BASE)).toBe(XAPIC);
  });

  test('x2APIC MSRs fault unless the APIC is in x2APIC mode', () => {
    const a = new Apic({ features: ['x2apic'] });
    expect(a.rdmsr(X2(R.ID))).toBeUndefined();
    expect(a.wrmsr(X2(R.TPR), 0n)).toBe(false);
    a.wrmsr(MSR_APIC_BASE, X2APIC);
    expect(a.rdmsr(X2(R.ID))).toBe(0n);
    expect(a.rdmsr(X2(R.LVR))).toBe(0x50014n);
  });

  test('in x2APIC mode: 32-bit ID, derived LDR, no DFR/ICR2, the page is gone', () => {
    const a = new Apic({ features: ['x2apic'] });
    a.wrmsr(MSR_APIC_BASE, X2APIC);
    expect(a.rdmsr(X2(R.LDR))).toBe(1n);
    expect(a.rdmsr(X2(R.DFR))).toBeUndefined();
    expect(a.rdmsr(0x831)).toBeUndefined();
    expect(a.rdmsr(0x809)).toBeUndefined(); // APR
    expect(a.rdmsr(0x8ff)).toBeUndefined();
    expect(a.read(R.LVR)).toBe(0xffffffff);
  });

  test('x2APIC writes: read-only registers, reserved bits and non-zero EOI/ESR fault', () => {
    const a = new Apic({ features: ['x2apic'] });
    a.wrmsr(MSR_APIC_BASE, X2APIC);
    expect(a.wrmsr(X2(R.ID), 0n)).toBe(false);
    expect(a.wrmsr(X2(R.LVR), 0n)).toBe(false);
    expect(a.wrmsr(X2(R.LDR), 0n)).toBe(false);
    expect(a.wrmsr(X2(R.PPR), 0n)).toBe(false);
    expect(a.wrmsr(X2(R.IRR), 0n)).toBe(false);
    expect(a.wrmsr(X2(R.TPR), 0x100n)).toBe(false);
    expect(a.wrmsr(X2(R.TPR), 1n << 32n)).toBe(false);
    expect(a.wrmsr(X2(R.EOI), 1n)).toBe(false);
    expect(a.wrmsr(X2(R.ESR), 1n)).toBe(false);
    expect(a.wrmsr(X2(R.TDCR), 0x4n)).toBe(false);
    expect(a.wrmsr(X2(R.LVTT), 0x80000n)).toBe(false);
    expect(a.wrmsr(X2(R.ICR), 1n << 13n)).toBe(false);
    expect(a.wrmsr(X2(R.TPR), 0x20n)).toBe(true);
    expect(a.vm.cpu.cr8).toBe(2);
    expect(a.rdmsr(X2(R.EOI))).toBeUndefined();
    expect(a.rdmsr(0x83f)).toBeUndefined(); // SELF IPI: write-only
  });

  test('x2APIC SELF IPI and the 64-bit ICR with a 32-bit destination', () => {
    const a = new Apic({ features: ['x2apic'] });
    a.wrmsr(MSR_APIC_BASE, X2APIC);
    expect(a.wrmsr(0x83f, 0x100n)).toBe(false);
    expect(a.wrmsr(0x83f, 0x61n)).toBe(true);
    expect(a.take()).toBe(0x61);
    a.wrmsr(X2(R.EOI), 0n);
    expect(a.wrmsr(X2(R.ICR), (0n << 32n) | 0x4062n)).toBe(true);
    expect(a.wrmsr(X2(R.ICR), (0x100n << 32n) | 0x4063n)).toBe(true); // another CPU's ID
    expect(a.wrmsr(X2(R.ICR), (0xffffffffn << 32n) | 0x4064n)).toBe(true); // broadcast
    expect(a.rdmsr(X2(R.ICR))).toBe((0xffffffffn << 32n) | 0x4064n);
    expect([a.take(), a.pending()]).toEqual([0x64, -1]);
    a.wrmsr(X2(R.EOI), 0n);
    expect(a.take()).toBe(0x62);
  });
});
