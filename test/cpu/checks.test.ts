/**
 * The checks an instruction makes before it does anything (SDM Vol. 2 per instruction, Vol. 1
 * 19.5 for I/O, Vol. 3 20.2 for virtual-8086 mode), declared in the tables (exec/checks.ts Check:
 * a family's checks, a row's IO and VM86_IOPL flags) and added once when the handler is built.
 * Each flagged encoding is decoded and run on a vCPU at CPL 3 with IOPL 0 (and CR4.UMIP/TSD set,
 * CR4.PCE clear, or EFLAGS.VM set where that is the rule): #GP(0) with error code 0, and nothing
 * else changes (registers, RFLAGS, RIP, memory, no port access, no VM exit). Allowed cases run,
 * so a check is not simply always failing. Removing a flag from a table makes these fail.
 * The intercepts (a family's `exit`) come after the checks: a faulting RDMSR at CPL 3 reports no
 * exit, a running one exactly one with its detail register.
 */
import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';
import { decode, HANDLERS } from '../../emulator/decode/decoder.js';
import { Vector } from '../../emulator/arch/vectors.js';
import { Reg } from '../../emulator/arch/registers.js';
import { Cr4 } from '../../emulator/arch/control.js';
import { Flag } from '../../emulator/arch/eflags.js';
import { CpuMode } from '../../emulator/cpu/vcpu.js';
import { ExitReason } from '../../emulator/cpu/platform.js';

/** What a run touched outside the registers: port accesses and VM exits. */
interface Effects { io: string[]; exits: Array<[number, number]> }

function setup(): { vm: Machine; fx: Effects } {
  const vm = new Machine({ memBytes: 8 << 20, serialOut: () => {}, model: cpuModelFromSpec('max') });
  const fx: Effects = { io: [], exits: [] };
  const p = vm.cpu.platform as unknown as Record<string, unknown>;
  p.ioRead = (port: number, size: number): number => { fx.io.push(`in ${port}/${size}`); return 0x5a; };
  p.ioWrite = (port: number, size: number): void => { fx.io.push(`out ${port}/${size}`); };
  p.instructionExit = (_cpu: unknown, reason: number, detail: number): void => { fx.exits.push([reason, detail]); };
  return { vm, fx };
}

interface State { readonly mode: CpuMode; readonly cpl: number; readonly flags: number; readonly cr4?: number }

/** CPL 3, IOPL 0, IF set, in 64-bit mode. */
const USER64: State = { mode: CpuMode.LONG64, cpl: 3, flags: Flag.FIXED1 | Flag.IF };
/** Virtual-8086 mode with IOPL 0 (CPL 3). */
const V86: State = { mode: CpuMode.PROTECTED, cpl: 3, flags: Flag.FIXED1 | Flag.IF | Flag.VM };

/** Decodes `hex` into scratch record 1, sets the state and runs the handler; returns the vector raised or -1. */
function run(vm: Machine, hex: string, st: State): number {
  const cpu = vm.cpu;
  const bytes = Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex'));
  const bits = st.mode === CpuMode.LONG64 ? 64 : 32;
  expect(decode(cpu.dec, 1, bytes, bytes.length, { bits, model: cpu.model })).toBe(bytes.length);
  cpu.mode = st.mode;
  cpu.cpl = st.cpl;
  cpu.setFlags(st.flags);
  if (st.cr4 !== undefined) cpu.cr4 = st.cr4;
  cpu.tr.limit = 0; // no TSS I/O bitmap: every port is denied above IOPL
  cpu.exc = -1;
  HANDLERS[cpu.dec.handler[1]](cpu, 1);
  return cpu.exc;
}

function snapshot(vm: Machine): unknown {
  const cpu = vm.cpu;
  return {
    lo: Array.from(cpu.lo), hi: Array.from(cpu.hi), flags: cpu.getFlags(), rip: [cpu.ripLo, cpu.ripHi],
    halted: cpu.halted, mem: Buffer.from(vm.readPhysical(0, 0x4000)).toString('hex'),
  };
}

/** Expects #GP(0) and no effect at all. */
function expectGpNoEffect(hex: string, st: State): void {
  const { vm, fx } = setup();
  const cpu = vm.cpu;
  cpu.lo[Reg.RAX] = 0x1000; cpu.lo[Reg.RCX] = 5; cpu.lo[Reg.RDX] = 0x3f8; cpu.lo[Reg.RSI] = 0x2000; cpu.lo[Reg.RDI] = 0x3000;
  cpu.lo[Reg.RSP] = 0x3800;
  vm.writePhysical(0x37f0, Uint8Array.from({ length: 32 }, (_, k) => k + 1));
  cpu.cpl = st.cpl; cpu.mode = st.mode; cpu.setFlags(st.flags);
  const before = snapshot(vm);
  expect(run(vm, hex, st)).toBe(Vector.GP);
  expect(cpu.excCode).toBe(0);
  expect(snapshot(vm)).toEqual(before);
  expect(fx.io).toEqual([]);
  expect(fx.exits).toEqual([]);
}

const IO: ReadonlyArray<readonly [string, string]> = [
  ['in al, 0x80', 'e4 80'], ['in eax, 0x80', 'e5 80'], ['in al, dx', 'ec'], ['in eax, dx', 'ed'], ['in ax, dx', '66 ed'],
  ['out 0x80, al', 'e6 80'], ['out 0x80, eax', 'e7 80'], ['out dx, al', 'ee'], ['out dx, eax', 'ef'],
  ['insb', '6c'], ['insd', '6d'], ['outsb', '6e'], ['outsd', '6f'], ['rep insb', 'f3 6c'], ['rep outsd', 'f3 6f'],
];
const IOPL: ReadonlyArray<readonly [string, string]> = [['cli', 'fa'], ['sti', 'fb']];
const UMIP: ReadonlyArray<readonly [string, string]> = [
  ['sgdt [rax]', '0f 01 00'], ['sidt [rax]', '0f 01 08'], ['sldt [rax]', '0f 00 00'], ['str [rax]', '0f 00 08'],
  ['smsw [rax]', '0f 01 20'], ['sldt eax', '0f 00 c0'], ['smsw eax', '0f 01 e0'],
];
const VM86: ReadonlyArray<readonly [string, string]> = [
  ['pushf', '9c'], ['popf', '9d'], ['iret', 'cf'], ['int 0x21', 'cd 21'], ['cli', 'fa'], ['sti', 'fb'], ['in al, dx', 'ec'], ['outsb', '6e'],
];

describe('IOPL and I/O permission (CPL 3, IOPL 0, no I/O bitmap)', () => {
  for (const [name, hex] of [...IO, ...IOPL]) {
    test(`${name}: #GP(0), no effect, no port access`, () => { expectGpNoEffect(hex, USER64); });
  }

  test('allowed: IOPL 3 lets CLI clear IF and IN read the port at CPL 3', () => {
    const { vm, fx } = setup();
    const iopl3: State = { ...USER64, flags: USER64.flags | Flag.IOPL };
    expect(run(vm, 'fa', iopl3)).toBe(-1);
    expect(vm.cpu.flags & Flag.IF).toBe(0);
    expect(run(vm, 'e4 80', iopl3)).toBe(-1);
    expect(vm.cpu.lo[Reg.RAX] & 0xff).toBe(0x5a);
    expect(fx.io).toEqual(['in 128/1']);
  });

  test('allowed: a TSS I/O bitmap with the port\'s bits clear lets OUT and OUTSB run at CPL 3, IOPL 0', () => {
    const { vm, fx } = setup();
    const cpu = vm.cpu;
    // A TSS at 0x5000 whose bitmap (offset 0x68) allows every port below 0x400 (zero bytes); the
    // processor reads two bytes of the bitmap, so the limit covers one byte past it.
    const tss = new Uint8Array(0x68 + 0x81);
    tss[0x66] = 0x68;
    tss[tss.length - 1] = 0xff;
    vm.writePhysical(0x5000, tss);
    cpu.lo[Reg.RDX] = 0x3f8; cpu.lo[Reg.RSI] = 0x2000; cpu.lo[Reg.RAX] = 0x41;
    const run2 = (hex: string): number => {
      const bytes = Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex'));
      decode(cpu.dec, 1, bytes, bytes.length, { bits: 64, model: cpu.model });
      cpu.mode = CpuMode.LONG64; cpu.cpl = 3; cpu.setFlags(USER64.flags); cpu.exc = -1;
      cpu.tr.baseLo = 0x5000; cpu.tr.baseHi = 0; cpu.tr.limit = tss.length - 1;
      HANDLERS[cpu.dec.handler[1]](cpu, 1);
      return cpu.exc;
    };
    expect(run2('ee')).toBe(-1);
    expect(run2('6e')).toBe(-1);
    expect(fx.io).toEqual(['out 1016/1', 'out 1016/1']);
    // A set bit for the port denies it: #GP(0) and no access.
    vm.writePhysical(0x5000 + 0x68 + (0x3f8 >> 3), Uint8Array.of(1));
    expect(run2('ee')).toBe(Vector.GP);
    expect(fx.io.length).toBe(2);
  });
});

describe('CR4.UMIP, CR4.TSD and CR4.PCE at CPL 3', () => {
  for (const [name, hex] of UMIP) {
    test(`${name} with CR4.UMIP: #GP(0), no effect`, () => { expectGpNoEffect(hex, { ...USER64, cr4: Cr4.PAE | Cr4.UMIP }); });
  }
  test('sgdt [rax] without CR4.UMIP stores the GDTR at CPL 3', () => {
    const { vm } = setup();
    vm.cpu.lo[Reg.RAX] = 0x1000;
    vm.cpu.gdtr.limit = 0x1234;
    expect(run(vm, '0f 01 00', { ...USER64, cr4: Cr4.PAE })).toBe(-1);
    expect(Array.from(vm.readPhysical(0x1000, 2))).toEqual([0x34, 0x12]);
  });
  for (const [name, hex] of [['rdtsc', '0f 31'], ['rdtscp', '0f 01 f9']] as const) {
    test(`${name} with CR4.TSD: #GP(0), no effect`, () => { expectGpNoEffect(hex, { ...USER64, cr4: Cr4.PAE | Cr4.TSD }); });
  }
  test('rdpmc with CR4.PCE clear: #GP(0), no effect', () => { expectGpNoEffect('0f 33', { ...USER64, cr4: Cr4.PAE }); });
  test('rdtsc without CR4.TSD runs at CPL 3', () => {
    const { vm } = setup();
    expect(run(vm, '0f 31', { ...USER64, cr4: Cr4.PAE })).toBe(-1);
  });
});

describe('virtual-8086 mode with IOPL 0', () => {
  for (const [name, hex] of VM86) {
    test(`${name}: #GP(0), no effect`, () => { expectGpNoEffect(hex, V86); });
  }
  test('INT3 is not IOPL-sensitive: it raises #BP', () => {
    const { vm } = setup();
    expect(run(vm, 'cc', V86)).toBe(Vector.BP);
  });
});

describe('real-mode #UD before privilege', () => {
  for (const [name, hex] of [['lldt ax', '0f 00 d0'], ['ltr ax', '0f 00 d8'], ['sldt ax', '0f 00 c0'], ['str ax', '0f 00 c8']] as const) {
    test(`${name}: #UD in real mode, #GP(0) or none at CPL 3`, () => {
      const { vm } = setup();
      expect(run(vm, hex, { mode: CpuMode.REAL, cpl: 0, flags: Flag.FIXED1 })).toBe(Vector.UD);
      const store = name.startsWith('s');
      if (!store) expectGpNoEffect(hex, USER64);
      else expect(run(vm, hex, { ...USER64, cr4: Cr4.PAE })).toBe(-1);
    });
  }
});

describe('#UD before privilege: the mode, EFER.SCE, CR4.OSXSAVE and CPL rules each instruction declares', () => {
  /** Expects #UD and nothing changed. */
  const expectUd = (hex: string, st: State, setUp?: (vm: Machine) => void): void => {
    const { vm, fx } = setup();
    setUp?.(vm);
    vm.cpu.cpl = st.cpl; vm.cpu.mode = st.mode; vm.cpu.setFlags(st.flags);
    const before = snapshot(vm);
    expect(run(vm, hex, st)).toBe(Vector.UD);
    expect(snapshot(vm)).toEqual(before);
    expect(fx.exits).toEqual([]);
  };
  // SDM Vol. 2: each is "not recognized in virtual-8086 mode" (#UD), not a privilege #GP(0).
  const PROT: ReadonlyArray<readonly [string, string]> = [
    ['lldt ax', '0f 00 d0'], ['ltr ax', '0f 00 d8'], ['sldt ax', '0f 00 c0'], ['str ax', '0f 00 c8'],
    ['lar eax, ax', '0f 02 c0'], ['lsl eax, ax', '0f 03 c0'], ['verr ax', '0f 00 e0'], ['verw ax', '0f 00 e8'],
  ];
  for (const [name, hex] of PROT) test(`${name}: #UD in virtual-8086 mode`, () => { expectUd(hex, V86); });
  const PROT32: State = { mode: CpuMode.PROTECTED, cpl: 3, flags: Flag.FIXED1 | Flag.IF };
  test('swapgs: #UD outside 64-bit mode even at CPL 3, #GP(0) at CPL 3 in 64-bit mode', () => {
    expectUd('0f 01 f8', PROT32);
    expectGpNoEffect('0f 01 f8', USER64);
  });
  test('sysret: #UD with EFER.SCE clear or outside 64-bit mode, #GP(0) at CPL 3 with SCE', () => {
    expectUd('0f 07', USER64);
    expectUd('0f 07', { ...PROT32, cpl: 0 }, (vm) => { vm.cpu.efer = 1; });
    const { vm } = setup();
    vm.cpu.efer = 1;
    expect(run(vm, '0f 07', USER64)).toBe(Vector.GP);
  });
  test('xgetbv, xsetbv, xsave: #UD with CR4.OSXSAVE clear, at CPL 0 too; xsetbv at CPL 3 is #GP(0) only with it', () => {
    const k0: State = { mode: CpuMode.LONG64, cpl: 0, flags: Flag.FIXED1, cr4: Cr4.PAE };
    expectUd('0f 01 d0', k0);
    expectUd('0f 01 d1', { ...USER64, cr4: Cr4.PAE });
    expectUd('0f ae 20', k0);
    const { vm } = setup();
    const cpu = vm.cpu;
    const xcr0 = cpu.xcr0;
    // A valid XCR0 (x87 | SSE) in EDX:EAX and ECX = 0, so only the privilege check can fault.
    cpu.lo[Reg.RCX] = 0; cpu.lo[Reg.RAX] = 3; cpu.lo[Reg.RDX] = 0;
    expect(run(vm, '0f 01 d1', { ...USER64, cr4: Cr4.PAE | Cr4.OSXSAVE })).toBe(Vector.GP);
    expect(cpu.xcr0).toBe(xcr0);
    expect(run(vm, '0f 01 d1', { ...USER64, cpl: 0, cr4: Cr4.PAE | Cr4.OSXSAVE })).toBe(-1);
    expect(cpu.xcr0).toBe(3);
    expect(run(vm, '0f 01 d0', { ...USER64, cr4: Cr4.PAE | Cr4.OSXSAVE })).toBe(-1); // XGETBV is unprivileged
  });
  test('rdpkru, wrpkru: #UD with CR4.PKE clear, before the #GP(0) of a nonzero ECX', () => {
    expectUd('0f 01 ee', { ...USER64, cr4: Cr4.PAE }, (vm) => { vm.cpu.lo[Reg.RCX] = 1; });
    expectUd('0f 01 ef', { ...USER64, cr4: Cr4.PAE }, (vm) => { vm.cpu.lo[Reg.RCX] = 1; });
    expectGpNoEffect('0f 01 ef', { ...USER64, cr4: Cr4.PAE | Cr4.PKE }); // ECX = 5 in expectGpNoEffect
  });
  test('stac, clac: #UD above CPL 0; at CPL 0 they set and clear AC', () => {
    expectUd('0f 01 cb', USER64);
    expectUd('0f 01 ca', USER64);
    const { vm } = setup();
    const k0: State = { mode: CpuMode.LONG64, cpl: 0, flags: Flag.FIXED1 };
    expect(run(vm, '0f 01 cb', k0)).toBe(-1);
    expect(vm.cpu.flags & Flag.AC).toBe(Flag.AC);
    expect(run(vm, '0f 01 ca', { ...k0, flags: Flag.FIXED1 | Flag.AC })).toBe(-1);
    expect(vm.cpu.flags & Flag.AC).toBe(0);
  });
});

describe('intercepts come after the checks', () => {
  test('RDMSR, WRMSR, HLT, RDPMC at CPL 3: #GP(0) and no exit', () => {
    for (const hex of ['0f 32', '0f 30', 'f4', '0f 33']) expectGpNoEffect(hex, { ...USER64, cr4: Cr4.PAE });
  });
  test('at CPL 0 each reports its exit once, with its detail register', () => {
    const { vm, fx } = setup();
    const k0: State = { mode: CpuMode.LONG64, cpl: 0, flags: Flag.FIXED1 };
    const cpu = vm.cpu;
    cpu.lo[Reg.RCX] = 0x10; // IA32_TIME_STAMP_COUNTER
    expect(run(vm, '0f 32', k0)).toBe(-1);
    cpu.lo[Reg.RCX] = 0x10; cpu.lo[Reg.RAX] = 0; cpu.lo[Reg.RDX] = 0;
    expect(run(vm, '0f 30', k0)).toBe(-1);
    cpu.lo[Reg.RAX] = 1;
    expect(run(vm, '0f a2', USER64)).toBe(-1); // CPUID is unprivileged
    cpu.lo[Reg.RCX] = 7;
    run(vm, '0f 33', k0); // RDPMC: #GP after the exit (no counter 7 on Intel)
    expect(run(vm, 'f4', k0)).toBe(-1);
    expect(cpu.halted).toBe(true);
    expect(fx.exits).toEqual([[ExitReason.RDMSR, 0x10], [ExitReason.WRMSR, 0x10], [ExitReason.CPUID, 1], [ExitReason.RDPMC, 7], [ExitReason.HLT, 0]]);
  });
});
