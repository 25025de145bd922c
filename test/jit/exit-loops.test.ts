/**
 * Loops of the instructions the translator runs inline or continues after since upstream
 * vmexit's calibration loops needed them (issue 17): CALL through a register (the region takes
 * the hinted target in, jit/region.ts), MOV from and to CR8 (a TPR write goes on when the run
 * loop would take no event, jit/events.ts), CBW/CWD and their wider forms, and CPUID in a called
 * function. Each loop runs with the translator off and forced (every block translated when
 * decoded, so the CALL's region is translated again once its target is known) and must end in
 * the same state of every vCPU after as many instructions and modeled cycles.
 */
import { describe, expect, test } from 'vitest';
import type { MmuMode } from '../../vmm/machine.js';
import type { TranslatorMode } from '../../emulator/jit/mode.js';
import { Flag } from '../../emulator/arch/eflags.js';
import { DeliveryMode } from '../../emulator/machine/devices/apic-bus.js';
import { CODE, type Outcome, expectSameRun, finish, machine } from './long-mode.js';

/** L: call r12; dec r8; jnz L; hlt. The called functions start at CODE + 0x100 (F) and CODE + 0x1100 (G, another page). */
const LOOP = [0x41, 0xff, 0xd4, 0x49, 0xff, 0xc8, 0x75, 0xf8, 0xf4];
const F = CODE + 0x100;
const G = CODE + 0x1100;
const N = 3000;
const POINTER = 0x300000;

const RAX_FROM_CR8 = [0x44, 0x0f, 0x20, 0xc0]; // mov rax, cr8
const CR8_FROM_RAX = [0x44, 0x0f, 0x22, 0xc0]; // mov cr8, rax
const RET = [0xc3];

const BODIES: Readonly<Record<string, number[]>> = {
  // rbx sums CR8 over the passes.
  'MOV from CR8': [...RAX_FROM_CR8, 0x48, 0x01, 0xc3, ...RET], // add rbx, rax
  // CR8 = r8 & 15, read back into rdx and summed.
  'MOV to CR8': [0x44, 0x89, 0xc0, 0x83, 0xe0, 0x0f, ...CR8_FROM_RAX, 0x44, 0x0f, 0x20, 0xc2, 0x48, 0x01, 0xd3, ...RET],
  // push rbx; mov eax, r8d; and eax, 1; cpuid; pop rbx; add rsi, rdx (leaf 0 or 1).
  'CPUID': [0x53, 0x44, 0x89, 0xc0, 0x83, 0xe0, 0x01, 0x0f, 0xa2, 0x5b, 0x48, 0x01, 0xd6, ...RET],
  // CQO of r8 rotated right by one (RAX's high half negative, its low half not, for odd r8),
  // then eax = r8d * 0x9e3779b1 and CDQE, CQO, CWDE, CDQ, CBW, CWD, with sums of rax and rdx.
  'CBW, CWD and their wider forms': [
    0x4c, 0x89, 0xc0, 0x48, 0xd1, 0xc8, 0x48, 0x99, 0x48, 0x01, 0xd3, // mov rax, r8; ror rax, 1; cqo; add rbx, rdx
    0x41, 0x69, 0xc0, 0xb1, 0x79, 0x37, 0x9e, // imul eax, r8d, 0x9e3779b1
    0x48, 0x98, 0x48, 0x99, 0x48, 0x01, 0xd3, 0x48, 0x01, 0xc6, // cdqe; cqo; add rbx, rdx; add rsi, rax
    0x98, 0x99, 0x48, 0x01, 0xd3, 0x48, 0x01, 0xc6, // cwde; cdq; add rbx, rdx; add rsi, rax
    0x66, 0x98, 0x66, 0x99, 0x48, 0x01, 0xd3, 0x48, 0x01, 0xc6, // cbw; cwd; add rbx, rdx; add rsi, rax
    ...RET,
  ],
};

function run(mode: TranslatorMode, body: number[], opts: { mmu?: MmuMode; at?: number; n?: number; alternate?: boolean; viaMemory?: boolean; irq?: number; outcome?: string } = {}): Outcome {
  const at = opts.at ?? F;
  const images: Array<[number, number[]]> = [[CODE, LOOP], [at, body]];
  // Alternating targets: G is F's body with one more instruction (inc rdi) first; the loop
  // starts with xor r12, r13, which swaps them (jnz goes back to it).
  if (opts.alternate === true) images.push([G, [0x48, 0xff, 0xc7, ...body]], [CODE, [0x4d, 0x31, 0xec, ...LOOP.slice(0, 7), 0xf5, 0xf4]]);
  // CALL through memory: call [r12] with the function's address at POINTER (its handler runs).
  if (opts.viaMemory === true) images.push([CODE, [0x41, 0xff, 0x14, 0x24, ...LOOP.slice(3, 7), 0xf7, 0xf4]], [POINTER, [at & 0xff, (at >>> 8) & 0xff, at >>> 16, 0, 0, 0, 0, 0]]);
  const vm = machine(1, mode, images, opts.mmu ?? 'bare');
  const c = vm.vcpus[0];
  c.ripLo = CODE;
  c.lo[4] = 0x400800; // RSP
  c.lo[8] = opts.n ?? N;
  c.lo[12] = opts.viaMemory === true ? POINTER : at;
  c.lo[13] = F ^ G;
  if (opts.irq !== undefined) {
    vm.devices.lapic.setTprFromCr8(15);
    c.cr8 = 15;
    vm.devices.lapic.acceptMessage(DeliveryMode.FIXED, opts.irq, false);
    c.setFlags(Flag.FIXED1 | Flag.IF);
  }
  return finish(vm, 10_000_000, opts.outcome ?? 'halted');
}

describe('loops calling an exit-type function through a register agree with the interpreter', () => {
  test.each(Object.entries(BODIES))('%s', (_title, body) => {
    const off = run('off', body);
    const forced = run('force', body);
    expect(forced.translated).toBeGreaterThan(0);
    expectSameRun(forced, off);
  });

  test('the called function on another page (a chained target)', () => {
    const body = BODIES['MOV to CR8'];
    expectSameRun(run('force', body, { at: G }), run('off', body, { at: G }));
  });

  test('a CALL through memory (run by its handler): the region does not go on at its return site', () => {
    const body = BODIES['MOV from CR8'];
    expectSameRun(run('force', body, { viaMemory: true }), run('off', body, { viaMemory: true }));
  });

  test('a CALL whose target alternates between two functions (the hint is wrong every other pass)', () => {
    const body = BODIES['MOV from CR8'];
    const off = run('off', body, { alternate: true });
    expectSameRun(run('force', body, { alternate: true }), off);
    // rdi counts the passes through G: every other one.
    expect(Number(off.state.split('|')[0].split(',')[7])).toBe(N / 2);
  });

  test.each(['tdp'] as const)('in %s mode (CPUID exits, CR8 does not)', (mmu) => {
    for (const body of [BODIES['MOV to CR8'], BODIES.CPUID]) expectSameRun(run('force', body, { mmu }), run('off', body, { mmu }));
  });

  test('an interrupt the TPR held back is taken right after the CR8 write that unmasks it', () => {
    // Vector 0x40 (class 4) waits in the local APIC's IRR under CR8 = 15, with IF set. The loop
    // writes CR8 = r8 & 15 for r8 = 3000, 2999, ...: the write of 3 (r8 = 2995) unmasks it, and
    // its delivery with no IDT is a triple fault, at the sixth pass in both runs.
    const body = BODIES['MOV to CR8'];
    const off = run('off', body, { irq: 0x40, outcome: 'triple-fault' });
    expectSameRun(run('force', body, { irq: 0x40, outcome: 'triple-fault' }), off);
    expect(Number(off.state.split('|')[0].split(',')[8])).toBe(2995);
  });

  test('translator on: the hot loop runs in regions translated after 160,000 runs', () => {
    const body = BODIES['MOV from CR8'];
    const n = 200_000;
    const on = run('on', body, { n });
    expect(on.translated).toBeGreaterThan(0);
    expectSameRun(on, run('off', body, { n }));
  }, 60_000);
});
