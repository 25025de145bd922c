/**
 * Runs test cases on the host CPU (test/helpers/native.ts) and in the emulator
 * (test/helpers/snippet.ts) and compares: all 16 GPRs, the compared RFLAGS bits, DATA, the
 * stack page, and the exception vector when one is raised. A failure lists the first few
 * differing cases with everything needed to reproduce them.
 *
 * Running: `npx vitest run test/exec` (needs gcc; the native harness is built on first use).
 * Environment: MMULAB_EXEC_SEED=<string> draws other random inputs (default: fixed seeds);
 * MMULAB_EXEC_STATS=<file> and MMULAB_EXEC_DUMP=<file> record case counts and encodings;
 * MMULAB_EXEC_COLLECT=<file> records the cases without running them (coverage.test.ts).
 */
import { appendFileSync } from 'node:fs';
import { expect } from 'vitest';
import { runNative } from '../../helpers/native.js';
import { DATA, STACK, runSnippet, type SnippetInput, type SnippetOutput } from '../../helpers/snippet.js';
import { bytesHex, regName } from './asm.js';
import { COMPARED, flagNames } from './flags.js';
import { hex } from './rng.js';

export interface TestCase extends SnippetInput {
  /** The instruction form, e.g. "add r/m32, r32 [mem]". */
  readonly form: string;
  /** Intel-syntax text of the snippet with its concrete operands. */
  readonly text: string;
  /** RFLAGS bits compared (default COMPARED); see flags.ts for what the SDM leaves undefined. */
  readonly flagsMask?: number;
  /** Per-register masks of the bits compared (undefined entries: all bits). */
  readonly regMask?: readonly (bigint | undefined)[];
  /** [offset, length] ranges of DATA whose contents are undefined after the case. */
  readonly dataIgnore?: readonly (readonly [number, number])[];
  /** Bits of single stack bytes that are not compared (e.g. IF in a pushed RFLAGS image). */
  readonly stackIgnore?: readonly { readonly off: number; readonly bits: number }[];
  /** Whether the host may raise an exception; otherwise a host exception is a test bug. */
  readonly mayFault?: boolean;
  /** Extra description of the inputs (memory operand values and the like). */
  readonly note?: string;
}

const VECTORS: Record<number, string> = {
  0: '#DE', 1: '#DB', 3: '#BP', 4: '#OF', 5: '#BR', 6: '#UD', 7: '#NM', 8: '#DF', 10: '#TS', 11: '#NP', 12: '#SS',
  13: '#GP', 14: '#PF', 16: '#MF', 17: '#AC', 18: '#MC', 19: '#XM',
};

function vecName(v: number | null): string {
  return v === null ? 'none' : `${VECTORS[v] ?? '#?'}(${v})`;
}

const MAX_SHOWN = 4;
/** Differing cases per test that are run on the host a second time (runDiff). */
const RERUNS = 8;

/** Runs `cases` on both sides; throws a descriptive error if any case differs, or if there are none. */
export function runDiff(testName: string, cases: readonly TestCase[]): void {
  // A test whose generator produced nothing compares nothing: a bug in the test, not a pass.
  if (cases.length === 0) throw new Error(`${testName}: no cases to compare (the form list or case generator is empty)`);
  const collect = process.env.MMULAB_EXEC_COLLECT;
  if (collect) collectCases(collect, testName, cases);
  const host = runNative(cases);
  recordStats(testName, cases, host);
  const failures: string[] = [];
  const failingForms = new Map<string, number>();
  let failed = 0;
  let reruns = 0;
  for (let k = 0; k < cases.length; k++) {
    const c = cases[k]!;
    let emu: SnippetOutput | string;
    try {
      emu = runSnippet(c);
    } catch (e) {
      emu = `emulator threw: ${(e as Error).message}`;
    }
    let problems = compare(c, host[k]!, emu);
    // The host side runs in a process the OS can interrupt between the snippet and the harness's
    // PUSHFQ, and its result is not always reproducible: RFLAGS.NT set by a POPFQ was once read
    // back clear under load. A differing case is run on the host again, and passes only if the
    // emulator equals that run exactly; an emulator bug still differs from every host run. (At
    // most RERUNS cases per test: beyond that the difference is systematic, not the host's.)
    if (problems.length > 0 && typeof emu !== 'string' && reruns++ < RERUNS && compare(c, runNative([c])[0]!, emu).length === 0) problems = [];
    if (problems.length === 0) continue;
    failed++;
    failingForms.set(c.form, (failingForms.get(c.form) ?? 0) + 1);
    if (failures.length < MAX_SHOWN) failures.push(describe(k, c, host[k]!, problems));
  }
  if (failed > 0) {
    const forms = [...failingForms].map(([f, n]) => `${f} (${n})`).join('; ');
    throw new Error(
      `${failed} of ${cases.length} cases differ between the host CPU and the emulator` +
      `${process.env.MMULAB_EXEC_SEED ? ` (MMULAB_EXEC_SEED=${process.env.MMULAB_EXEC_SEED})` : ''}\n` +
      `failing forms: ${forms}\n` +
      '(the emulator side reuses one VM, so a case may also depend on state left by the cases before it)\n' +
      failures.join('\n'),
    );
  }
}

/**
 * MMULAB_EXEC_COLLECT=file: the mode test/exec/coverage.test.ts runs these tests in to learn which
 * opcode rows they cover. Each case's test file, test name, code bytes and whether it may fault
 * are appended to the file, and nothing is compared: runDiff then throws, so a collecting run can
 * never pass for a differential one.
 */
function collectCases(path: string, testName: string, cases: readonly Pick<TestCase, 'code' | 'mayFault'>[]): never {
  const file = expect.getState().testPath ?? '?';
  appendFileSync(path, cases.map((c) => `${file}\t${testName}\t${bytesHex(c.code).replace(/ /g, '')}\t${c.mayFault ? 1 : 0}\n`).join(''));
  throw new Error(`MMULAB_EXEC_COLLECT: ${cases.length} cases of ${testName} recorded, not compared`);
}

/**
 * For a differential test with its own harness (not runDiff): in a collecting run, records the
 * instructions it compares against the host and throws as runDiff does; otherwise does nothing.
 */
export function collectOwnHarness(testName: string, codes: readonly number[][]): void {
  const collect = process.env.MMULAB_EXEC_COLLECT;
  if (collect) collectCases(collect, testName, codes.map((c) => ({ code: Uint8Array.from(c), mayFault: false })));
}

/**
 * MMULAB_EXEC_STATS=file appends "test, cases, host exceptions" lines; MMULAB_EXEC_DUMP=file
 * appends every case's form, code bytes and text (to check encodings with a disassembler).
 */
function recordStats(testName: string, cases: readonly TestCase[], host: readonly SnippetOutput[]): void {
  const path = process.env.MMULAB_EXEC_STATS;
  if (path) appendFileSync(path, `${testName}\t${cases.length}\t${host.filter((h) => h.exception !== null).length}\n`);
  const dump = process.env.MMULAB_EXEC_DUMP;
  if (dump) appendFileSync(dump, cases.map((c) => `${c.form}\t${bytesHex(c.code).replace(/ /g, '')}\t${c.text}\n`).join(''));
}

function compare(c: TestCase, h: SnippetOutput, e: SnippetOutput | string): string[] {
  const out: string[] = [];
  if (h.exception !== null && !c.mayFault) {
    out.push(`TEST BUG: the host raised ${vecName(h.exception)} on a case not expected to fault`);
    return out;
  }
  if (typeof e === 'string') {
    out.push(e);
    return out;
  }
  if (h.exception !== e.exception) {
    out.push(`exception: host=${vecName(h.exception)} emu=${vecName(e.exception)}`);
    return out;
  }
  if (h.exception !== null) return out; // same vector; state after a fault is not compared
  for (let r = 0; r < 16; r++) {
    const m = c.regMask?.[r] ?? 0xffffffffffffffffn;
    if ((h.regs[r]! & m) !== (e.regs[r]! & m)) {
      const masked = m === 0xffffffffffffffffn ? '' : ` (compared bits ${hex(m)})`;
      out.push(`${regName(r, 8)}: host=${hex(h.regs[r]!)} emu=${hex(e.regs[r]!)}${masked}`);
    }
  }
  const fm = c.flagsMask ?? COMPARED;
  const hf = Number(h.rflags & 0xffffffffn) & fm;
  const ef = Number(e.rflags & 0xffffffffn) & fm;
  if (hf !== ef) {
    out.push(`rflags: host=[${flagNames(hf)}] emu=[${flagNames(ef)}] differ in [${flagNames(hf ^ ef)}] ` +
      `(compared: ${flagNames(fm)})`);
  }
  diffArea(out, 'data', DATA, h.data, e.data, (off) => {
    for (const [s, n] of c.dataIgnore ?? []) if (off >= s && off < s + n) return 0;
    return 0xff;
  });
  diffArea(out, 'stack', STACK, h.stack, e.stack, (off) => {
    let m = 0xff;
    for (const ig of c.stackIgnore ?? []) if (ig.off === off) m &= ~ig.bits;
    return m;
  });
  return out;
}

function diffArea(out: string[], name: string, base: number, h: Uint8Array, e: Uint8Array,
  mask: (off: number) => number): void {
  if (Buffer.from(h.buffer, h.byteOffset, h.byteLength).equals(Buffer.from(e.buffer, e.byteOffset, e.byteLength))) return;
  const diffs: number[] = [];
  for (let i = 0; i < h.length; i++) if (((h[i]! ^ e[i]!) & mask(i)) !== 0) diffs.push(i);
  if (diffs.length === 0) return;
  const first = diffs[0]!;
  const last = diffs[diffs.length - 1]!;
  const s = Math.max(0, first - 0);
  const t = Math.min(h.length, Math.min(last + 1, s + 32));
  out.push(`${name} differs at ${diffs.length} byte(s) in ${hex(BigInt(base + first), 4)}..${hex(BigInt(base + last), 4)}; ` +
    `from ${hex(BigInt(base + s), 4)}: host=${bytesHex(h.subarray(s, t))} emu=${bytesHex(e.subarray(s, t))}`);
}

function describe(k: number, c: TestCase, h: SnippetOutput, problems: string[]): string {
  const regs: string[] = [];
  for (let r = 0; r < 16; r++) regs.push(`${regName(r, 8)}=${hex(c.regs[r] ?? 0n)}`);
  const lines = [
    `--- case ${k}: ${c.form}`,
    `  code : ${bytesHex(c.code)}    ${c.text}`,
    `  in   : ${regs.slice(0, 4).join(' ')}`,
    `         ${regs.slice(4, 8).join(' ')}`,
    `         ${regs.slice(8, 12).join(' ')}`,
    `         ${regs.slice(12, 16).join(' ')}`,
    `         rflags=${hex(c.rflags, 4)} [${flagNames(Number(c.rflags))}]`,
  ];
  if (c.note) lines.push(`         ${c.note}`);
  if (h.exception !== null) lines.push(`  host raised ${vecName(h.exception)}`);
  lines.push(...problems.map((p) => `  DIFF ${p}`));
  return lines.join('\n');
}
