/**
 * LAR, LSL, VERR and VERW against the host CPU. The same code runs in this host process (CPL 3,
 * the host kernel's GDT, through test/native/segment-query.c) and in mmulab at CPL 3 in 64-bit
 * mode. It asks about every selector of the GDT's first 32 entries with each RPL, plus selectors
 * past any table, in 16-, 32- and 64-bit operand sizes, register and memory forms, with ZF preset
 * to 0 and to 1, and stores the destination (preset to a sentinel, which ZF=0 must leave alone)
 * and RFLAGS.
 *
 * The emulator needs the host's GDT, which user space cannot read: a first native run asks LAR
 * and LSL about each entry at RPL 3, and the entries that answer (Linux's user code and data and
 * its per-CPU-number segment) are written into mmulab's GDT with those access rights and limits.
 * The entries that do not answer to CPL 3 get ring-0 code and data descriptors and a TSS, as
 * Linux's GDT has; both CPUs must refuse them. Cases the host cannot show (system descriptors,
 * conforming code, CPL 0, real mode) are checked against the SDM's rules in the second block.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { SegAttr } from '../../emulator/cpu/segment-state.js';
import { setCpl, updateMode } from '../../emulator/cpu/segmentation.js';
import { pagingChanged } from '../../emulator/cpu/control-regs.js';
import { Cr0, Cr4, Efer } from '../../emulator/arch/control.js';
import { Seg } from '../../emulator/arch/registers.js';
import { Flag } from '../../emulator/arch/eflags.js';
import { REPO } from '../cli/cli.js';
import { collectOwnHarness } from './lib/diff.js';

const SOURCE = join(REPO, 'test/native/segment-query.c');
const BINARY = join(REPO, 'build/native/segment-query');

function nativeBinary(): string {
  if (!existsSync(BINARY) || statSync(BINARY).mtimeMs < statSync(SOURCE).mtimeMs) {
    mkdirSync(join(REPO, 'build/native'), { recursive: true });
    const tmp = `${BINARY}.${process.pid}.tmp`;
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', tmp, SOURCE], { stdio: 'pipe' });
    renameSync(tmp, BINARY);
  }
  return BINARY;
}

/** Runs `code` (it ends with RET) on the host; returns the `outBytes` it wrote at RDI. */
function runHost(code: number[], outBytes: number): Buffer {
  const r = spawnSync(nativeBinary(), [String(outBytes)], { input: Buffer.from([...code, 0xc3]) });
  if (r.status !== 0) throw new Error(`segment-query exited ${r.status}: ${r.stderr.toString()}`);
  return r.stdout;
}

// --- the code both CPUs run --------------------------------------------------------------------

const le = (v: bigint, n: number): number[] => Array.from({ length: n }, (_, k) => Number((v >> BigInt(8 * k)) & 0xffn));
const SENTINEL = 0x5a5a5a5aa5a5a5a5n;
/** CF PF AF ZF SF OF: the flags compared (the rest differ between a user process and the test VM). */
const ARITH = 0x8d5;

interface Query { readonly name: string; readonly bytes: number[]; readonly mem: boolean }
/** Each query with CX (or the word at [RDI+8], which holds CX) as the selector, RAX the destination. */
const QUERIES: readonly Query[] = [
  { name: 'lar ax, cx', bytes: [0x66, 0x0f, 0x02, 0xc1], mem: false },
  { name: 'lar eax, ecx', bytes: [0x0f, 0x02, 0xc1], mem: false },
  { name: 'lar rax, rcx', bytes: [0x48, 0x0f, 0x02, 0xc1], mem: false },
  { name: 'lar eax, [rdi+8]', bytes: [0x0f, 0x02, 0x47, 0x08], mem: true },
  { name: 'lsl ax, cx', bytes: [0x66, 0x0f, 0x03, 0xc1], mem: false },
  { name: 'lsl eax, ecx', bytes: [0x0f, 0x03, 0xc1], mem: false },
  { name: 'lsl rax, rcx', bytes: [0x48, 0x0f, 0x03, 0xc1], mem: false },
  { name: 'lsl rax, [rdi+8]', bytes: [0x48, 0x0f, 0x03, 0x47, 0x08], mem: true },
  { name: 'verr cx', bytes: [0x0f, 0x00, 0xe1], mem: false },
  { name: 'verw cx', bytes: [0x0f, 0x00, 0xe9], mem: false },
  { name: 'verr [rdi+8]', bytes: [0x0f, 0x00, 0x67, 0x08], mem: true },
  { name: 'verw [rdi+8]', bytes: [0x0f, 0x00, 0x6f, 0x08], mem: true },
];

interface Case { readonly query: Query; readonly sel: number; readonly zfBefore: boolean }

/** One case: 16 bytes at RDI (RAX, then RFLAGS), RDI += 16. */
function emit(c: Case): number[] {
  return [
    0x48, 0xb8, ...le(SENTINEL, 8), // mov rax, SENTINEL
    0xb9, ...le(BigInt(c.sel), 4), // mov ecx, sel
    ...(c.query.mem ? [0x66, 0x89, 0x4f, 0x08] : []), // mov [rdi+8], cx
    ...(c.zfBefore ? [0x31, 0xd2] : [0x83, 0xca, 0xff]), // xor edx, edx (ZF=1) | or edx, -1 (ZF=0)
    ...c.query.bytes,
    0x9c, 0x5a, // pushfq; pop rdx
    0x48, 0x89, 0x07, 0x48, 0x89, 0x57, 0x08, // mov [rdi], rax; mov [rdi+8], rdx
    0x48, 0x83, 0xc7, 0x10, // add rdi, 16
  ];
}

const program = (cases: readonly Case[]): number[] => cases.flatMap(emit);

// --- mmulab at CPL 3 ---------------------------------------------------------------------------

const CODE = 0x200000;
const DATA = 0x300000;
const GDT = 0x620000;
const PML4 = 0x700000;

/** Runs `code` in 64-bit mode at `cpl` with the given GDT; returns the `outBytes` at DATA (= RDI). */
function runMmulab(code: number[], outBytes: number, gdt: bigint[], cpl = 3, real = false): { out: Buffer; vector: number | null } {
  const vm = new Machine({ memBytes: 8 << 20, serialOut: () => {} });
  const cpu = vm.cpu;
  const w64 = (gpa: number, v: bigint): void => { vm.writePhysical(gpa, Uint8Array.from(le(v, 8))); };
  w64(PML4, BigInt(PML4 + 0x1000) | 7n);
  w64(PML4 + 0x1000, BigInt(PML4 + 0x2000) | 7n);
  for (let k = 0; k < 4; k++) w64(PML4 + 0x2000 + 8 * k, BigInt(k << 21) | 0x87n);
  gdt.forEach((d, k) => { w64(GDT + 8 * k, d); });
  // HLT at CPL 3 is #GP; with no IDT the run ends in a triple fault whose chain starts with 13.
  vm.writePhysical(CODE, Uint8Array.from([...code, 0xf4]));
  cpu.gdtr.baseLo = GDT; cpu.gdtr.baseHi = 0; cpu.gdtr.limit = gdt.length * 8 - 1;
  cpu.idtr.baseLo = 0; cpu.idtr.limit = 0;
  if (real) {
    cpu.cr0 = Cr0.ET;
    cpu.seg.set(Seg.CS, 0, 0, 0, 0xffff, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED);
  } else {
    cpu.cr0 = Cr0.PE | Cr0.ET | Cr0.PG | Cr0.WP | Cr0.NE;
    cpu.cr4 = Cr4.PAE;
    cpu.efer = Efer.LME | Efer.LMA;
    cpu.cr3Lo = PML4;
    const dpl = cpl << SegAttr.DPL_SHIFT;
    cpu.seg.set(Seg.CS, 0x30 | cpl, 0, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | SegAttr.L | SegAttr.G | dpl);
    for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) {
      cpu.seg.set(s, 0x28 | cpl, 0, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G | dpl);
    }
    setCpl(cpu, cpl);
  }
  updateMode(cpu);
  pagingChanged(cpu);
  vm.paging.flushAll();
  cpu.lo[7] = DATA; // RDI
  cpu.lo[4] = 0x400800; // RSP, for PUSHFQ
  cpu.setFlags(Flag.FIXED1);
  cpu.ripLo = real ? 0 : CODE;
  if (real) {
    cpu.seg.set(Seg.CS, CODE >> 4, CODE, 0, 0xffff, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED);
    updateMode(cpu);
  }
  const r = vm.run(1_000_000);
  const vector = r.outcome === 'triple-fault' ? Number(/exceptions (\d+)/.exec(r.detail ?? '')![1]) : null;
  return { out: Buffer.from(vm.readPhysical(DATA, outBytes)), vector };
}

interface Answer { readonly rax: bigint; readonly zf: boolean; readonly flags: number }
const answers = (out: Buffer, n: number): Answer[] => Array.from({ length: n }, (_, k) => {
  const flags = Number(out.readBigUInt64LE(16 * k + 8) & 0xffffn) & ARITH;
  return { rax: out.readBigUInt64LE(16 * k), zf: (flags & Flag.ZF) !== 0, flags };
});

const ENTRIES = 32;
const LAR32 = QUERIES[1]!;
const LSL32 = QUERIES[5]!;

/**
 * The host GDT as CPL 3 sees it: for each entry that LAR and LSL answer at RPL 3, a descriptor
 * with base 0 and those access rights and limit; the others get ring-0 descriptors (code, data, a
 * 64-bit TSS's two halves), which CPL 3 must not see either.
 */
function hostGdt(): { gdt: bigint[]; visible: number[] } {
  const probe: Case[] = [];
  for (let k = 0; k < ENTRIES; k++) probe.push({ query: LAR32, sel: k * 8 + 3, zfBefore: false }, { query: LSL32, sel: k * 8 + 3, zfBefore: false });
  const a = answers(runHost(program(probe), 16 * probe.length), probe.length);
  const ring0 = [0x00af9b000000ffffn, 0x00cf93000000ffffn, 0x00008b0000000067n, 0n];
  const gdt: bigint[] = [0n];
  const visible: number[] = [];
  for (let k = 1; k < ENTRIES; k++) {
    const lar = a[2 * k]!;
    const lsl = a[2 * k + 1]!;
    if (!lar.zf || !lsl.zf) { gdt.push(ring0[k % ring0.length]!); continue; }
    visible.push(k);
    const access = Number(lar.rax & 0xffffffffn);
    const limit = Number(lsl.rax & 0xffffffffn);
    const raw = (access & (1 << 23)) !== 0 ? limit >>> 12 : limit;
    gdt.push((BigInt((access & 0x00f0ff00) | (raw & 0xf0000)) << 32n) | BigInt(raw & 0xffff));
  }
  return { gdt, visible };
}

describe('LAR, LSL, VERR, VERW against the host CPU (CPL 3, the host GDT)', () => {
  it('gives the host\'s ZF, destination and flags for every GDT entry, RPL and operand size', () => {
    collectOwnHarness('LAR, LSL, VERR, VERW against the host CPU', QUERIES.map((q) => q.bytes));
    const { gdt, visible } = hostGdt();
    console.log(`host GDT entries visible at CPL 3: ${visible.join(', ')}`);
    // Linux's user code and data are visible to user space on every x86-64 host.
    expect(visible.length).toBeGreaterThanOrEqual(2);
    const sels = [...Array.from({ length: ENTRIES * 4 }, (_, s) => s), 0x0100, 0x0103, 0x07f8, 0xfffb, 0x000c, 0x002f];
    const cases: Case[] = [];
    for (const sel of sels) for (const query of QUERIES) for (const zfBefore of [false, true]) cases.push({ query, sel, zfBefore });
    const code = program(cases);
    const host = answers(runHost(code, 16 * cases.length), cases.length);
    const mm = runMmulab(code, 16 * cases.length, gdt);
    expect(mm.vector).toBe(13); // the final HLT at CPL 3, nothing before it
    const ours = answers(mm.out, cases.length);
    const show = (k: number, a: Answer): string => `${cases[k]!.query.name} sel=0x${cases[k]!.sel.toString(16)} zf-before=${cases[k]!.zfBefore}: rax=0x${a.rax.toString(16)} flags=0x${a.flags.toString(16)}`;
    expect(ours.map((a, k) => show(k, a))).toEqual(host.map((a, k) => show(k, a)));
    // The comparison is not vacuous: some cases set ZF, some clear it.
    expect(host.some((a) => a.zf) && host.some((a) => !a.zf)).toBe(true);
  });
});

describe('LAR, LSL, VERR, VERW by the SDM, where the host cannot show them', () => {
  // Index: 1 ring-0 64-bit code, 2 ring-0 data, 3 conforming readable code DPL 0, 4 execute-only
  // code DPL 3, 5 read-only data DPL 3 with byte limit 0x12345, 6-7 a 64-bit available TSS DPL 3,
  // 8-9 an LDT DPL 3, 10-11 a 64-bit call gate DPL 3, 12 a 16-bit TSS (type 1) DPL 3, 13 a task
  // gate DPL 3, 14 a not-present data segment DPL 3 (LAR/LSL/VERR/VERW do not check P).
  const GDT_SDM: bigint[] = [
    0n, 0x00af9b000000ffffn, 0x00cf93000000ffffn, 0x00cf9f000000ffffn, 0x00cff9000000ffffn, 0x0041f10000002345n,
    0x0000e90000000067n, 0n, 0x0000e20000000fffn, 0n, 0x0000ec0000080000n, 0n, 0x0000e1000000002bn, 0x0000e50000000000n,
    0x00cf73000000ffffn,
  ];
  const ask = (query: Query, sel: number, cpl: number): Answer => {
    const { out, vector } = runMmulab(emit({ query, sel, zfBefore: true }), 16, GDT_SDM, cpl);
    expect(vector, `${query.name} 0x${sel.toString(16)} at CPL ${cpl}: only the final HLT faults`).toBe(cpl === 0 ? null : 13);
    return answers(out, 1)[0]!;
  };
  const [, LAR, , , , LSL, , , VERR, VERW] = QUERIES as [Query, Query, Query, Query, Query, Query, Query, Query, Query, Query];

  it('conforming code answers at any privilege; ring-0 code and data only at CPL 0 with RPL 0', () => {
    expect(ask(LAR, 0x1b, 3)).toMatchObject({ zf: true, rax: 0x00cf9f00n });
    expect(ask(VERR, 0x1b, 3).zf).toBe(true);
    expect(ask(VERR, 0x08, 3).zf).toBe(false);
    expect(ask(VERR, 0x08, 0).zf).toBe(true);
    expect(ask(VERR, 0x0b, 0).zf).toBe(false); // RPL 3 > DPL 0
    expect(ask(VERW, 0x10, 0).zf).toBe(true);
    expect(ask(VERW, 0x12, 0).zf).toBe(false);
    expect(ask(VERW, 0x08, 0).zf).toBe(false); // code is never writable
  });

  it('execute-only code fails VERR; read-only data fails VERW; P is not checked', () => {
    expect(ask(VERR, 0x23, 3).zf).toBe(false);
    expect(ask(LAR, 0x23, 3).zf).toBe(true);
    expect(ask(VERR, 0x2b, 3).zf).toBe(true);
    expect(ask(VERW, 0x2b, 3).zf).toBe(false);
    expect(ask(LSL, 0x2b, 3)).toMatchObject({ zf: true, rax: 0x12345n });
    expect(ask(VERW, 0x73, 3).zf).toBe(true);
    expect(ask(LAR, 0x73, 3)).toMatchObject({ zf: true, rax: 0x00cf7300n });
    expect(ask(LAR, 0x2b, 3)).toMatchObject({ zf: true, rax: 0x0041f100n }); // limit 19:16 included
  });

  it('in IA-32e mode LAR takes the TSS, LDT and call gate, LSL the TSS and LDT; 16-bit TSS and task gate are invalid', () => {
    expect(ask(LAR, 0x33, 3)).toMatchObject({ zf: true, rax: 0x0000e900n });
    expect(ask(LSL, 0x33, 3)).toMatchObject({ zf: true, rax: 0x67n });
    expect(ask(LAR, 0x43, 3)).toMatchObject({ zf: true, rax: 0x0000e200n });
    expect(ask(LSL, 0x43, 3)).toMatchObject({ zf: true, rax: 0xfffn });
    expect(ask(LAR, 0x53, 3)).toMatchObject({ zf: true, rax: 0x0000ec00n });
    expect(ask(LSL, 0x53, 3).zf).toBe(false);
    expect(ask(LAR, 0x63, 3).zf).toBe(false);
    expect(ask(LAR, 0x6b, 3).zf).toBe(false);
    expect(ask(VERR, 0x33, 3).zf).toBe(false); // system segments are never readable or writable
  });

  it('is #UD in real mode', () => {
    expect(runMmulab([0x0f, 0x00, 0xe9], 16, GDT_SDM, 0, true).vector).toBe(6); // verw cx
  });
});
