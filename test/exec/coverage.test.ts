/**
 * Every opcode row with semantics (a row of the decoder's tables that has an exec family) has at
 * least one host-CPU differential case in test/exec/*.test.ts, or is on UNCOVERED below with the
 * reason it has none. A new row without a case fails here, and so does an UNCOVERED entry that
 * has gained a case or names no row.
 *
 * How: the differential tests run in a child vitest with MMULAB_EXEC_COLLECT set, which makes
 * runDiff (lib/diff.ts) record every case's code bytes instead of running them; each case is
 * then decoded here, instruction by instruction from its first byte, with the decoder the
 * emulator runs (64-bit mode, the default CPU model, as test/helpers/snippet.ts), and the rows
 * it decodes to are covered. Rows are named by where they sit in the opcode maps.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { decode, TOO_LONG_ROW, UNDEFINED_ROW } from '../../emulator/decode/decoder.js';
import { DecodedStore } from '../../emulator/decode/store.js';
import { type Entry, type OpRow, ROWS } from '../../emulator/decode/table.js';
import { ONE_BYTE } from '../../emulator/decode/one-byte.js';
import { THREE_BYTE_38, THREE_BYTE_3A, TWO_BYTE } from '../../emulator/decode/two-byte.js';
import { CpuModel } from '../../emulator/cpu/cpu-model.js';
import { runDiff } from './lib/diff.js';

const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

/** Where each row sits in the maps: "0F 38 F0 +F2 mem: crc32 Gy,Eb"; the first place for shared rows. */
function rowPlaces(): Map<OpRow, string> {
  const places = new Map<OpRow, string>();
  const walk = (e: Entry | undefined, path: string): void => {
    if (e === undefined) return;
    switch (e.kind) {
      case 'row':
        if (!places.has(ROWS[e.id])) places.set(ROWS[e.id], path);
        return;
      case 'group': e.entries.forEach((x, k) => walk(x, `${path} /${k}`)); return;
      case 'rm': e.entries.forEach((x, k) => walk(x, `${path} rm=${k}`)); return;
      case 'mod': walk(e.mem, `${path} mem`); walk(e.reg, `${path} reg`); return;
      case 'prefix':
        walk(e.none, `${path} +none`); walk(e.p66, `${path} +66`); walk(e.pF3, `${path} +F3`); walk(e.pF2, `${path} +F2`);
        return;
    }
  };
  ONE_BYTE.forEach((e, k) => walk(e, hex2(k)));
  TWO_BYTE.forEach((e, k) => walk(e, `0F ${hex2(k)}`));
  THREE_BYTE_38.forEach((e, k) => walk(e, `0F 38 ${hex2(k)}`));
  THREE_BYTE_3A.forEach((e, k) => walk(e, `0F 3A ${hex2(k)}`));
  return places;
}

/** The name of a row in reports and in UNCOVERED. */
function rowName(row: OpRow, places: Map<OpRow, string>): string {
  const text = row.operands === '' ? row.mnemonic : `${row.mnemonic} ${row.operands}`;
  return `${places.get(row) ?? '(decoder)'}: ${text}`;
}

// Why a row has no differential case. The host side runs 64-bit code at CPL 3 under Linux; the
// emulator side runs the same bytes at CPL 0 in a VM of its own (test/helpers/snippet.ts).
const I64 = 'invalid in 64-bit mode, and the host harness runs 64-bit code';
const PRIV = 'privileged (CPL 0 or IOPL): the host faults at CPL 3 where the emulator, at CPL 0, executes it';
const SEG = 'reads or loads selectors or descriptor-table registers, and the host kernel\'s GDT/IDT/LDT/TR differ from the snippet VM\'s (UMIP also faults some at CPL 3)';
const FAR = 'a far transfer or an interrupt through descriptor tables, which differ between the host kernel and the snippet VM';
const TIME = 'reads the time-stamp counter: no two runs agree';
const HOST_ID = 'returns the host CPU\'s identity (CPUID leaves, TSC_AUX), which the emulator\'s CPU model does not copy';
const PKU = 'PKRU belongs to the host kernel (and PKU may be absent on the host)';
const HYPERCALL = 'a hypercall: #UD on the host outside a VM, an exit to the hypervisor in the emulator';
const SYSCALL = 'enters the host kernel';
const FXSAVE = 'the image holds the x87 instruction and operand pointers, which the emulator does not model (see the FNSTENV case in encodings.test.ts), and XMM registers the host harness does not set';
const XSTATE = 'XSAVE state: the host\'s XCR0 and in-use tracking (init optimization) decide what it reads and writes, and the snippet VM\'s default CPU model has no XSAVE; test/cpu/xsave.test.ts checks the SDM rules on tiny guests';
const PMC = 'reads a performance counter: the host kernel decides CR4.PCE and what counters count, so no two runs agree (test/cpu/rdpmc.test.ts checks the SDM rules)';
const DEAD = 'made by arithGroup for DE /3 and replaced there by the fcompp row of DE /3 rm=1: no encoding reaches it';

/**
 * Rows with semantics and no differential case, each with the reason. Keep it short: a row that
 * can be compared with the host gets a case instead (encodings.test.ts holds the odd ones).
 */
const UNCOVERED: Readonly<Record<string, string>> = {
  '(decoder): fcompp': DEAD,
  '06: push ES': I64,
  '07: pop ES': I64,
  '0E: push CS': I64,
  '16: push SS': I64,
  '17: pop SS': I64,
  '1E: push DS': I64,
  '1F: pop DS': I64,
  '40: inc Zv': I64,
  '41: inc Zv': I64,
  '42: inc Zv': I64,
  '43: inc Zv': I64,
  '44: inc Zv': I64,
  '45: inc Zv': I64,
  '46: inc Zv': I64,
  '47: inc Zv': I64,
  '48: dec Zv': I64,
  '49: dec Zv': I64,
  '4A: dec Zv': I64,
  '4B: dec Zv': I64,
  '4C: dec Zv': I64,
  '4D: dec Zv': I64,
  '4E: dec Zv': I64,
  '4F: dec Zv': I64,
  '60: pusha': I64,
  '61: popa': I64,
  '27: daa': I64,
  '2F: das': I64,
  '37: aaa': I64,
  '3F: aas': I64,
  'C4: les Gz,Mp': I64,
  'C5: lds Gz,Mp': I64,
  'D4: aam Ib': I64,
  'D5: aad Ib': I64,
  'D6: salc': I64,
  '0F B2: lss Gv,Mp': SEG,
  '0F B4: lfs Gv,Mp': SEG,
  '0F B5: lgs Gv,Mp': SEG,
  '6C: insb Yb,DX': PRIV,
  '6D: ins Yz,DX': PRIV,
  '6E: outsb DX,Xb': PRIV,
  '6F: outs DX,Xz': PRIV,
  '82 /1: or Eb,Ib': I64,
  '82 /2: adc Eb,Ib': I64,
  '82 /3: sbb Eb,Ib': I64,
  '82 /4: and Eb,Ib': I64,
  '82 /5: sub Eb,Ib': I64,
  '82 /6: xor Eb,Ib': I64,
  '8C: mov Ev,Sw': SEG,
  '8E: mov Sw,Ew': SEG,
  '9A: call Ap': I64,
  'CA: retf Iw': FAR,
  'CB: retf': FAR,
  'CC: int3': FAR,
  'CD: int Ib': FAR,
  'CE: into': I64,
  'CF: iret': FAR,
  'E4: in AL,Ib': PRIV,
  'E5: in eAX,Ib': PRIV,
  'E6: out Ib,AL': PRIV,
  'E7: out Ib,eAX': PRIV,
  'EA: jmp Ap': I64,
  'EC: in AL,DX': PRIV,
  'ED: in eAX,DX': PRIV,
  'EE: out DX,AL': PRIV,
  'EF: out DX,eAX': PRIV,
  'F1: int1': FAR,
  'FA: cli': PRIV,
  'FB: sti': PRIV,
  'FF /3 mem: call Mp': FAR,
  'FF /5 mem: jmp Mp': FAR,
  '0F AE +none /0 mem: fxsave M': FXSAVE,
  '0F AE +none /1 mem: fxrstor M': FXSAVE,
  '0F AE +none /4 mem: xsave M': XSTATE,
  '0F AE +none /5 mem: xrstor M': XSTATE,
  '0F AE +none /6 mem: xsaveopt M': XSTATE,
  '0F 01 /2 reg rm=0: xgetbv': XSTATE,
  '0F 01 /2 reg rm=1: xsetbv': PRIV,
  '0F 01 /0 mem: sgdt Ms': SEG,
  '0F 01 /0 reg rm=1: vmcall': HYPERCALL,
  '0F 01 /1 mem: sidt Ms': SEG,
  '0F 01 /1 reg rm=2: clac': PRIV,
  '0F 01 /1 reg rm=3: stac': PRIV,
  '0F 01 /2 mem: lgdt Ms': PRIV,
  '0F 01 /3 mem: lidt Ms': PRIV,
  '0F 01 /3 reg rm=1: vmmcall': HYPERCALL,
  '0F 01 /4: smsw Ev': SEG,
  '0F 01 /5 reg rm=6: rdpkru': PKU,
  '0F 01 /5 reg rm=7: wrpkru': PKU,
  '0F 01 /6: lmsw Ew': PRIV,
  '0F 01 /7 mem: invlpg M': PRIV,
  '0F 01 /7 reg rm=0: swapgs': PRIV,
  '0F 01 /7 reg rm=1: rdtscp': TIME,
  '0F C7 +F3 /7 reg: rdpid Rq': HOST_ID,
  '0F 00 /0: sldt Ev': SEG,
  '0F 00 /1: str Ev': SEG,
  '0F 00 /2: lldt Ew': PRIV,
  '0F 00 /3: ltr Ew': PRIV,
  '0F 05: syscall': SYSCALL,
  '0F 06: clts': PRIV,
  '0F 07: sysret': PRIV,
  '0F 08: invd': PRIV,
  '0F 09: wbinvd': PRIV,
  '0F 20: mov Rd,Cd': PRIV,
  '0F 21: mov Rd,Dd': PRIV,
  '0F 22: mov Cd,Rd': PRIV,
  '0F 23: mov Dd,Rd': PRIV,
  '0F 30: wrmsr': PRIV,
  '0F 31: rdtsc': TIME,
  '0F 32: rdmsr': PRIV,
  '0F 33: rdpmc': PMC,
  '0F A0: push FS': SEG,
  '0F A1: pop FS': SEG,
  '0F A2: cpuid': HOST_ID,
  '0F A8: push GS': SEG,
  '0F A9: pop GS': SEG,
  '0F 38 82 +66: invpcid Gy,Mdq': PRIV,
};

interface Collected {
  readonly file: string;
  readonly test: string;
  readonly code: Uint8Array;
  readonly mayFault: boolean;
}

const DIR = 'test/exec';
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.test.ts') && f !== 'coverage.test.ts').sort();
let collected: Collected[] = [];
let childOutput = '';

beforeAll(() => {
  const tmp = mkdtempSync(join(tmpdir(), 'mmulab-coverage-'));
  const out = join(tmp, 'cases.tsv');
  try {
    const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...FILES.map((f) => join(DIR, f))], {
      env: { ...process.env, MMULAB_EXEC_COLLECT: out }, encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20,
    });
    childOutput = `${r.error?.message ?? ''}\n${(r.stdout ?? '').slice(-3000)}\n${(r.stderr ?? '').slice(-3000)}`;
    let text = '';
    try { text = readFileSync(out, 'utf8'); } catch { /* nothing collected: the test below says so */ }
    collected = text.split('\n').filter((l) => l !== '').map((l) => {
      const [file, test, code, mayFault] = l.split('\t');
      return { file, test, code: Uint8Array.from(Buffer.from(code, 'hex')), mayFault: mayFault === '1' };
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}, 660_000);

/**
 * The rows each case decodes to, from its first byte to its end or to an instruction that faults
 * at decode (undefined, too long: the case checks that fault, and nothing after it runs). The
 * snippet runner appends HLT to the code, so an instruction may end in it (a prefix test).
 */
function coveredRows(cases: readonly Collected[]): { rows: Set<number>; undecodable: string[] } {
  const store = new DecodedStore(64);
  const ctx = { bits: 64, model: new CpuModel() };
  const rows = new Set<number>();
  const undecodable: string[] = [];
  for (const c of cases) {
    const code = Uint8Array.from([...c.code, 0xf4]);
    for (let p = 0; p < c.code.length;) {
      const len = decode(store, 1, code.subarray(p), code.length - p, ctx);
      const row = store.row[1];
      if (len < 0) { undecodable.push(`${c.test}: ${Buffer.from(c.code).toString('hex')} at ${p}`); break; }
      if (row === UNDEFINED_ROW.id || row === TOO_LONG_ROW.id) break;
      rows.add(row);
      p += len;
    }
  }
  return { rows, undecodable };
}

describe('every opcode row with semantics has a differential case', () => {
  test('the differential tests were collected from every file', () => {
    const files = new Set(collected.map((c) => c.file.split('/').pop()));
    expect([...files].sort(), `the collecting run of the differential tests:\n${childOutput}`).toEqual(FILES);
  });

  test('every row is covered or on UNCOVERED with a reason; UNCOVERED lists only uncovered rows', () => {
    const places = rowPlaces();
    const { rows, undecodable } = coveredRows(collected);
    expect(undecodable, 'cases whose code does not decode to its end').toEqual([]);
    const semantic = ROWS.filter((r) => r.exec !== undefined);
    const names = new Map(semantic.map((r) => [rowName(r, places), r]));
    expect(names.size, 'two rows with the same name').toBe(semantic.length);
    const uncovered = semantic.filter((r) => !rows.has(r.id)).map((r) => rowName(r, places));
    expect(uncovered.filter((n) => UNCOVERED[n] === undefined), 'rows with no differential case: add cases, or list them in UNCOVERED with the reason').toEqual([]);
    const stale = Object.keys(UNCOVERED).filter((n) => !names.has(n) || rows.has(names.get(n)!.id));
    expect(stale, 'UNCOVERED entries that name no row or whose row now has a case').toEqual([]);
  });
});

test('runDiff refuses an empty case list', () => {
  expect(() => runDiff('nothing', [])).toThrow(/no cases to compare/);
});
