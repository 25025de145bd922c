/**
 * Chaining across pages (jit/region.ts): a translated region continues through a CALL into
 * another page, a JMP to a third and the RET back to the return site without returning to the
 * run loop. Each case runs the same machine with the translator off and forced on and compares
 * every vCPU's registers, RIP, flags and retired instructions, and the modeled cycles. The
 * second case has another vCPU rewrite the called function while the first loops: the chain
 * check (the page's code generation) must send the loop back to the run loop, which decodes
 * the new code, exactly where the interpreter runs it.
 */
import { describe, expect, test } from 'vitest';
import type { Machine } from '../../vmm/machine.js';
import type { TranslatorMode } from '../../emulator/jit/mode.js';
import { SegAttr } from '../../emulator/cpu/segment-state.js';
import { updateMode } from '../../emulator/cpu/segmentation.js';
import { pagingChanged } from '../../emulator/cpu/control-regs.js';
import { Cr0 } from '../../emulator/arch/control.js';
import { Seg } from '../../emulator/arch/registers.js';
import { CODE, type Outcome, expectSameRun, finish, machine, rel32 } from './long-mode.js';

/**
 * vCPU 0: call F once (so F and its RET are decoded first), then a loop of N iterations:
 *   L (page 0):  add rbx, 1; call F          R (page 0): dec r8; jnz L; hlt
 *   F (page 1):  add rax, rbx; jmp T         T (page 2): ret
 * Under force, L is translated after F, T and R exist: its region is L, F, R, T, chained.
 */
const F = CODE + 0x1000;
const T = CODE + 0x2000;
const LOOP: ReadonlyArray<[number, number[]]> = [
  [CODE, [
    0xe8, ...rel32(CODE + 5, F), // 0x00 call F
    0xeb, 0x09, // 0x05 jmp R (0x10)
    0x48, 0x83, 0xc3, 0x01, // 0x07 L: add rbx, 1
    0xe8, ...rel32(CODE + 0x10, F), // 0x0b call F
    0x49, 0xff, 0xc8, // 0x10 R: dec r8
    0x75, 0xf2, // 0x13 jnz L
    0xf4, // 0x15 hlt
  ]],
  [F, [0x48, 0x01, 0xd8, 0xe9, ...rel32(F + 8, T)]], // add rax, rbx; jmp T
  [T, [0xc3]], // ret
];
const N = 5000;

function loopMachine(mode: TranslatorMode, cpus: number, extra: ReadonlyArray<[number, number[]]> = [], loop = LOOP): Machine {
  const vm = machine(cpus, mode, [...loop, ...extra]);
  const c = vm.vcpus[0];
  c.ripLo = CODE;
  c.lo[4] = 0x400800; // RSP
  c.lo[8] = N + 1; // the first pass through R only decrements
  return vm;
}

describe('chained regions across pages agree with the interpreter', () => {
  test('CALL to another page, JMP to a third, RET to the return site', () => {
    const off = finish(loopMachine('off', 1), 10_000_000);
    const forced = finish(loopMachine('force', 1), 10_000_000);
    expect(forced.translated).toBeGreaterThan(0);
    expectSameRun(forced, off);
    // rbx counts the N loop passes; rax sums rbx over the first call (0) and each pass (1..N).
    const lo = forced.state.split('|')[0].split(',').map(Number);
    const rax = lo[0];
    const rbx = lo[3];
    expect(rbx).toBe(N);
    expect(rax).toBe((N * (N + 1)) / 2);
  });

  test('RET back into the region entry (the loop block after the call is translated last)', () => {
    // As LOOP with the first JMP going to L: R is decoded last, so its region is R, L, F, T and
    // the RET in T continues at R, the entry, which is the return site of L's CALL.
    const viaL = LOOP.map(([gpa, bytes]): [number, number[]] => (gpa !== CODE ? [gpa, bytes] : [gpa, [...bytes.slice(0, 5), 0xeb, 0x00, ...bytes.slice(7)]]));
    const run = (mode: TranslatorMode): Outcome => {
      const vm = loopMachine(mode, 1, [], viaL);
      vm.vcpus[0].lo[8] = N;
      return finish(vm, 10_000_000);
    };
    const off = run('off');
    const forced = run('force');
    expectSameRun(forced, off);
    expect(Number(off.state.split('|')[0].split(',')[3])).toBe(N);
  });

  test('another vCPU rewrites the called function while the loop runs chained through it', () => {
    // vCPU 1 spins, then turns F's ADD RAX, RBX (48 01 d8) into SUB RAX, RBX (48 29 d8) and halts.
    const WRITER = CODE + 0x3000;
    const writer: [number, number[]] = [WRITER, [
      0xb9, 0x10, 0x27, 0, 0, // mov ecx, 10000
      0xff, 0xc9, // l: dec ecx
      0x75, 0xfc, // jnz l
      0xc6, 0x04, 0x25, ...rel32(0, F + 1), 0x29, // mov byte [F + 1], 0x29
      0xf4, // hlt
    ]];
    const run = (mode: TranslatorMode): Outcome => {
      const vm = loopMachine(mode, 2, [writer]);
      const w = vm.vcpus[1];
      w.ripLo = WRITER;
      w.lo[4] = 0x400400;
      return finish(vm, 10_000_000);
    };
    const off = run('off');
    const forced = run('force');
    expectSameRun(forced, off);
    // The write landed mid-loop: some passes added RBX, later ones subtracted it.
    const rax = Number(off.state.split('|')[0].split(',')[0]);
    expect(rax).not.toBe((N * (N + 1)) / 2);
    expect(off.state.split('\n')[1].split('|')[2]).toBe(String(WRITER + 18));
  });

  test('a page fault in a chained block of another page: RIP at the faulting load', () => {
    // F loads [rsi + rbx*8]; RSI puts pass 3000's load at 0x800000, the first unmapped byte. No
    // IDT: the #PF escalates to a triple fault, which leaves RIP at the load (page 1).
    const faulting = LOOP.map(([gpa, bytes]): [number, number[]] => (gpa !== F ? [gpa, bytes]
      : [F, [0x48, 0x01, 0xd8, 0x48, 0x8b, 0x14, 0xde, 0xe9, ...rel32(F + 12, T)]])); // add rax, rbx; mov rdx, [rsi + rbx*8]; jmp T
    const run = (mode: TranslatorMode): Outcome => {
      const vm = loopMachine(mode, 1, [], faulting);
      vm.vcpus[0].lo[6] = 0x800000 - 3000 * 8;
      return finish(vm, 10_000_000, 'triple-fault');
    };
    const off = run('off');
    const forced = run('force');
    expectSameRun(forced, off);
    expect(off.state.split('|')[2]).toBe(String(F + 3));
  });
});

/**
 * Jcc and JMP in 16- and 32-bit code (inline in translated blocks): a loop in flat 32-bit
 * protected mode, the same loop in a 16-bit code segment with a base and a 64 KiB limit, and a
 * 32-bit branch beyond a CS limit (#GP, here a triple fault with no IDT), each forced against off.
 */
describe('narrow branches agree with the interpreter', () => {
  const LOOP32 = [
    0xb9, 0xe8, 0x03, 0, 0, // mov ecx, 1000
    0x01, 0xc8, // l: add eax, ecx
    0x83, 0xf9, 0x05, // cmp ecx, 5
    0x77, 0x02, // ja +2 (skip the inc)
    0xff, 0xc3, // inc ebx
    0x49, // dec ecx
    0x75, 0xf3, // jnz l
    0xeb, 0x01, // jmp +1
    0xcc, // int3 (jumped over)
    0xf4, // hlt
  ];
  // The same in 16-bit code: opcodes without an operand-size prefix work on 16-bit registers.
  const LOOP16 = [0xb9, 0xe8, 0x03, 0x01, 0xc8, 0x83, 0xf9, 0x05, 0x77, 0x02, 0xff, 0xc3, 0x49, 0x75, 0xf3, 0xeb, 0x01, 0xcc, 0xf4];
  const narrow = (mode: TranslatorMode, code: number[], bits: 16 | 32, limit: number, base: number): Machine => {
    const vm = machine(1, mode, [[base, code]]);
    const c = vm.vcpus[0];
    c.cr0 = Cr0.PE | Cr0.ET;
    c.efer = 0;
    const db = bits === 32 ? SegAttr.DB : 0;
    c.seg.set(Seg.CS, 0x08, base, 0, limit, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | db | (limit > 0xfffff ? SegAttr.G : 0));
    updateMode(c);
    pagingChanged(c);
    c.paging.flushAll();
    c.ripLo = 0;
    return vm;
  };
  const cases: ReadonlyArray<{ title: string; code: number[]; bits: 16 | 32; limit: number; outcome: string }> = [
    { title: 'a 32-bit loop in flat protected mode', code: LOOP32, bits: 32, limit: 0xffffffff, outcome: 'halted' },
    { title: 'a 16-bit loop in a segment with a base', code: LOOP16, bits: 16, limit: 0xffff, outcome: 'halted' },
    // jmp +0x1000 from offset 2: beyond the 0xfff limit, #GP at the JMP.
    { title: 'a 32-bit JMP beyond the CS limit faults', code: [0x90, 0x90, 0xe9, 0x00, 0x10, 0, 0], bits: 32, limit: 0xfff, outcome: 'triple-fault' },
  ];
  test.each(cases)('$title', ({ code, bits, limit, outcome }) => {
    const base = CODE;
    const off = finish(narrow('off', code, bits, limit, base), 1_000_000, outcome);
    const forced = finish(narrow('force', code, bits, limit, base), 1_000_000, outcome);
    expect(forced.translated).toBeGreaterThan(0);
    expectSameRun(forced, off);
  });
});

