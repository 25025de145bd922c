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
const FXSAVE = 'the image holds x87/SSE state the host harness does not set (FIP/FDP, XMM8-15), so it cannot be compared whole';
const DEAD = 'made by arithGroup for DE /3 and replaced there by the fcompp row of DE /3 rm=1: no encoding reaches it';
// Rows the host could be compared on but no case covers yet: each is a gap to close with a case.
const TODO_X87 = 'no case yet: an x87 encoding the x87 cases of test/exec/sse.test.ts do not reach';
const TODO_SSE = 'no case yet: an SSE encoding test/exec/sse.test.ts does not reach';
const TODO_ALIAS = 'no case yet: an alias encoding (a redundant prefix or ModRM.reg) of a row that has cases';
const TODO_HINT = 'no case yet: a hint, fence or cache-control instruction with no register or memory effect, which a case would still check for its length and for not faulting';
const TODO_UD = 'no case yet: raises #UD on both sides, which a mayFault case would compare';

/**
 * Rows with semantics and no differential case, each with the reason. Keep it short: a row that
 * can be compared with the host should get a case instead (the TODO reasons).
 */
const UNCOVERED: Readonly<Record<string, string>> = {
  'D9 reg /0: fld': TODO_X87,
  'D9 reg /2 rm=0: fnop': TODO_X87,
  'D9 reg /4 rm=5: fxam': TODO_X87,
  'D9 reg /5 rm=1: fldl2t': TODO_X87,
  'D9 reg /5 rm=2: fldl2e': TODO_X87,
  'D9 reg /5 rm=4: fldlg2': TODO_X87,
  'D9 reg /5 rm=5: fldln2': TODO_X87,
  'D9 reg /6 rm=6: fdecstp': TODO_X87,
  'D9 reg /6 rm=7: fincstp': TODO_X87,
  'D9 reg /7 rm=4: frndint': TODO_X87,
  'D9 mem /0: fld': TODO_X87,
  'D9 mem /2: fst': TODO_X87,
  'D9 mem /4: fldenv': TODO_X87,
  'D9 mem /6: fnstenv': TODO_X87,
  'DA reg /1: fcmove': TODO_X87,
  'DA reg /2: fcmovbe': TODO_X87,
  'DA reg /3: fcmovu': TODO_X87,
  'DB reg /0: fcmovnb': TODO_X87,
  'DB reg /1: fcmovne': TODO_X87,
  'DB reg /2: fcmovnbe': TODO_X87,
  'DB reg /3: fcmovnu': TODO_X87,
  'DB reg /4 rm=0: fneni': TODO_X87,
  'DB reg /4 rm=1: fndisi': TODO_X87,
  'DB reg /4 rm=2: fnclex': TODO_X87,
  'DB reg /4 rm=4: fsetpm': TODO_X87,
  'DB mem /1: fisttp': TODO_X87,
  'DB mem /2: fist': TODO_X87,
  'DD reg /0: ffree': TODO_X87,
  'DD reg /2: fst': TODO_X87,
  'DD reg /3: fstp': TODO_X87,
  'DD reg /4: fucom': TODO_X87,
  'DD reg /5: fucomp': TODO_X87,
  'DD mem /2: fst': TODO_X87,
  'DD mem /7: fnstsw': TODO_X87,
  'DE reg /2: fcomp5': TODO_X87,
  '(decoder): fcompp': DEAD,
  'DF reg /5: fucomip': TODO_X87,
  'DF mem /0: fild': TODO_X87,
  'DF mem /1: fisttp': TODO_X87,
  'DF mem /2: fist': TODO_X87,
  'DF mem /5: fild': TODO_X87,
  'D8 mem /0: fadd': TODO_X87,
  'D8 mem /1: fmul': TODO_X87,
  'D8 mem /2: fcom': TODO_X87,
  'D8 mem /3: fcomp': TODO_X87,
  'D8 mem /4: fsub': TODO_X87,
  'D8 mem /5: fsubr': TODO_X87,
  'D8 mem /6: fdiv': TODO_X87,
  'D8 mem /7: fdivr': TODO_X87,
  'D8 reg /1: fmul': TODO_X87,
  'D8 reg /3: fcomp': TODO_X87,
  'D8 reg /4: fsub': TODO_X87,
  'D8 reg /5: fsubr': TODO_X87,
  'D8 reg /6: fdiv': TODO_X87,
  'D8 reg /7: fdivr': TODO_X87,
  'DA mem /0: fiadd': TODO_X87,
  'DA mem /1: fimul': TODO_X87,
  'DA mem /2: ficom': TODO_X87,
  'DA mem /3: ficomp': TODO_X87,
  'DA mem /4: fisub': TODO_X87,
  'DA mem /5: fisubr': TODO_X87,
  'DA mem /6: fidiv': TODO_X87,
  'DA mem /7: fidivr': TODO_X87,
  'DC mem /1: fmul': TODO_X87,
  'DC mem /2: fcom': TODO_X87,
  'DC mem /3: fcomp': TODO_X87,
  'DC mem /4: fsub': TODO_X87,
  'DC mem /5: fsubr': TODO_X87,
  'DC mem /7: fdivr': TODO_X87,
  'DC reg /0: fadd': TODO_X87,
  'DC reg /1: fmul': TODO_X87,
  'DC reg /2: fcom2': TODO_X87,
  'DC reg /3: fcomp3': TODO_X87,
  'DC reg /4: fsubr': TODO_X87,
  'DC reg /6: fdivr': TODO_X87,
  'DC reg /7: fdiv': TODO_X87,
  'DE mem /0: fiadd': TODO_X87,
  'DE mem /1: fimul': TODO_X87,
  'DE mem /2: ficom': TODO_X87,
  'DE mem /3: ficomp': TODO_X87,
  'DE mem /4: fisub': TODO_X87,
  'DE mem /5: fisubr': TODO_X87,
  'DE mem /6: fidiv': TODO_X87,
  'DE mem /7: fidivr': TODO_X87,
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
  '90 +F2: nop': TODO_ALIAS,
  '9A: call Ap': I64,
  '9B: fwait': TODO_X87,
  'C0 /6: sal Eb,Ib': TODO_ALIAS,
  'C1 /6: sal Ev,Ib': TODO_ALIAS,
  'CA: retf Iw': FAR,
  'CB: retf': FAR,
  'CC: int3': FAR,
  'CD: int Ib': FAR,
  'CE: into': I64,
  'CF: iret': FAR,
  'D0 /6: sal Eb,1': TODO_ALIAS,
  'D1 /6: sal Ev,1': TODO_ALIAS,
  'D2 /6: sal Eb,CL': TODO_ALIAS,
  'D3 /6: sal Ev,CL': TODO_ALIAS,
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
  'F6 /1: test Eb,Ib': TODO_ALIAS,
  'F7 /1: test Ev,Iz': TODO_ALIAS,
  'FA: cli': PRIV,
  'FB: sti': PRIV,
  'FF /3 mem: call Mp': FAR,
  'FF /5 mem: jmp Mp': FAR,
  '0F 10 +none: movups Vx,Wx': TODO_SSE,
  '0F 10 +66: movupd Vx,Wx': TODO_SSE,
  '0F 11 +66: movupd Wx,Vx': TODO_SSE,
  '0F 11 +F3: movss Wss,Vx': TODO_SSE,
  '0F 12 +66 mem: movlpd Vx,Mq': TODO_SSE,
  '0F 13 +none mem: movlps Mq,Vx': TODO_SSE,
  '0F 13 +66 mem: movlpd Mq,Vx': TODO_SSE,
  '0F 16 +66 mem: movhpd Vx,Mq': TODO_SSE,
  '0F 17 +none mem: movhps Mq,Vx': TODO_SSE,
  '0F 28 +66: movapd Vx,Wx': TODO_SSE,
  '0F 29 +none: movaps Wx,Vx': TODO_SSE,
  '0F 2B +none mem: movntps Mx,Vx': TODO_SSE,
  '0F 2B +66 mem: movntpd Mx,Vx': TODO_SSE,
  '0F 54 +66: andpd Vx,Wx': TODO_SSE,
  '0F 55 +none: andnps Vx,Wx': TODO_SSE,
  '0F 56 +66: orpd Vx,Wx': TODO_SSE,
  '0F 57 +none: xorps Vx,Wx': TODO_SSE,
  '0F AE +none /0 mem: fxsave M': FXSAVE,
  '0F AE +none /1 mem: fxrstor M': FXSAVE,
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
  '0F AE +none /5 reg: lfence': TODO_HINT,
  '0F AE +none /6 reg: mfence': TODO_HINT,
  '0F AE +none /7 mem: clflush Mb': TODO_HINT,
  '0F AE +none /7 reg: sfence': TODO_HINT,
  '0F AE +66 /6 mem: clwb Mb': TODO_HINT,
  '0F AE +66 /7 mem: clflushopt Mb': TODO_HINT,
  '0F C7 +66 /1 mem: cmpxchg8b My': TODO_ALIAS,
  '0F C7 +F3 /1 mem: cmpxchg8b My': TODO_ALIAS,
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
  '0F 0B: ud2': TODO_UD,
  '0F 0D: prefetchw Eb': TODO_HINT,
  '0F 18: prefetch Eb': TODO_HINT,
  '0F 19: nop Ev': TODO_HINT,
  '0F 1A: nop Ev': TODO_HINT,
  '0F 1B: nop Ev': TODO_HINT,
  '0F 1C: nop Ev': TODO_HINT,
  '0F 1D: nop Ev': TODO_HINT,
  '0F 1E +none: nop Ev': TODO_HINT,
  '0F 1E +66: nop Ev': TODO_HINT,
  '0F 1E +F2: nop Ev': TODO_HINT,
  '0F 1E +F3: endbr/rdssp Ev': TODO_HINT,
  '0F 20: mov Rd,Cd': PRIV,
  '0F 21: mov Rd,Dd': PRIV,
  '0F 22: mov Cd,Rd': PRIV,
  '0F 23: mov Dd,Rd': PRIV,
  '0F 30: wrmsr': PRIV,
  '0F 31: rdtsc': TIME,
  '0F 32: rdmsr': PRIV,
  '0F A0: push FS': SEG,
  '0F A1: pop FS': SEG,
  '0F A2: cpuid': HOST_ID,
  '0F A8: push GS': SEG,
  '0F A9: pop GS': SEG,
  '0F B9: ud1 Gv,Ev': TODO_UD,
  '0F BC +F2: bsf Gv,Ev': TODO_ALIAS,
  '0F BD +F2: bsr Gv,Ev': TODO_ALIAS,
  '0F FF: ud0 Gv,Ev': TODO_UD,
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
