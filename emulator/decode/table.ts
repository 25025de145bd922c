import type { Exec } from '../exec/registry.js';
import type { FeatureName } from '../cpu/cpu-model.js';
import type { Vcpu } from '../cpu/vcpu.js';

/**
 * The checks an instruction makes before anything else (device-not-available and friends: the
 * x87's CR0.EM/TS, SSE's CR4.OSFXSR, MMX's CR0.EM). A row mmulab does not implement runs them
 * before stopping the machine, so a guest sees the #UD or #NM it would see on hardware and only an
 * instruction that would really execute is reported. Returns false after raising the fault.
 */
export type Guard = (cpu: Vcpu) => boolean;

/**
 * The opcode tables' vocabulary. A row names an instruction as the SDM does ("add Ev,Gv": operand
 * letters of SDM Vol. 2 Appendix A), the family that executes it, a variant for that family, and
 * flags. A row without an exec is a valid instruction mmulab does not implement yet: executing it
 * ends the run with a report naming it. A hole in a map is an undefined opcode: #UD.
 *
 * Operand letters: E (ModRM r/m), G (ModRM reg), M (memory-only r/m), R (register-only r/m),
 * I (immediate), J (relative offset), O (moffs), Z (register in the opcode's low bits),
 * S (segment register in reg), C/D (control/debug register in reg), A (far pointer immediate),
 * X/Y (string source/destination, implicit), V (XMM register in reg), W (XMM register or memory
 * in r/m), U (XMM register in r/m, under a mod selector), P/Q/N (the same three for MMX
 * registers). Sizes: b w d q, v (operand size), z (16 or 32), y (32 or 64), p (far pointer),
 * s (descriptor-table pseudo-descriptor), x (128 bits), ss/sd (scalar single/double: they never
 * follow the operand size).
 * Fixed registers: AL, CL, DX, AX, eAX, rAX; "1" is the constant shift count.
 */
export const enum RowFlag {
  NONE = 0,
  /** LOCK is allowed (with a memory destination). */
  LOCK = 1 << 0,
  /** Operand size defaults to 64 bits in 64-bit mode (66 selects 16). */
  D64 = 1 << 1,
  /** Operand size is 64 bits in 64-bit mode whatever the prefixes (near branches, Intel behaviour). */
  F64 = 1 << 2,
  /** Invalid (#UD) in 64-bit mode. */
  I64 = 1 << 3,
  /** Valid only in 64-bit mode. */
  O64 = 1 << 4,
  /** A string instruction: F3/F2 are REP prefixes. */
  REP = 1 << 5,
  /** Ends a decoded block: a control transfer or a change to state that decoding depends on. */
  END = 1 << 6,
  /** A ModRM byte follows even though no operand names it. */
  MODRM = 1 << 7,
  /** Privileged or system instruction: also ends the block, so the run loop sees its effects at once. */
  SYS = 1 << 8,
  /** INS/OUTS: the I/O permission check (exec/checks.ts Check.IO), which their family (STRING) does not make for its other rows. */
  IO = 1 << 9,
  /** INT n: #GP(0) in virtual-8086 mode with IOPL < 3 (Check.VM86_IOPL), which INT3, INTO and INT1 do not make. */
  VM86_IOPL = 1 << 10,
}

export interface OpRow {
  readonly kind: 'row';
  readonly mnemonic: string;
  readonly operands: string;
  readonly exec: Exec | undefined;
  readonly variant: number;
  readonly flags: number;
  readonly feature: FeatureName | undefined;
  /** For a row without an exec: the checks to make before reporting it (see Guard). */
  readonly guard?: Guard;
  /** Row number, for reports and the decoded store. */
  id: number;
}

/** Entries selected by ModRM.reg. */
export interface Group {
  readonly kind: 'group';
  readonly entries: readonly (Entry | undefined)[];
}

/** Different meanings for a memory operand (mod != 3) and a register operand (mod == 3). */
export interface ModSelect {
  readonly kind: 'mod';
  readonly mem: Entry | undefined;
  readonly reg: Entry | undefined;
}

/** Register forms selected by ModRM.rm (0F 01 and friends). */
export interface RmSelect {
  readonly kind: 'rm';
  readonly entries: readonly (Entry | undefined)[];
}

/** Meanings selected by a mandatory prefix (none, 66, F3, F2). */
export interface PrefixSelect {
  readonly kind: 'prefix';
  readonly none: Entry | undefined;
  readonly p66: Entry | undefined;
  readonly pF3: Entry | undefined;
  readonly pF2: Entry | undefined;
}

export type Entry = OpRow | Group | ModSelect | RmSelect | PrefixSelect;

export const ROWS: OpRow[] = [];

/** A row: `text` is "mnemonic operands". */
export function op(text: string, exec?: Exec, variant = 0, flags = 0, feature?: FeatureName): OpRow {
  const space = text.indexOf(' ');
  const row: OpRow = {
    kind: 'row',
    mnemonic: space < 0 ? text : text.slice(0, space),
    operands: space < 0 ? '' : text.slice(space + 1),
    exec,
    variant,
    flags,
    feature,
    id: ROWS.length,
  };
  ROWS.push(row);
  return row;
}

/** A valid instruction mmulab does not implement, whose fault checks (`guard`) still apply. */
export function unimplemented(text: string, guard: Guard, flags = 0, feature?: FeatureName): OpRow {
  const row = op(text, undefined, 0, flags, feature);
  ROWS[row.id] = { ...row, guard };
  return ROWS[row.id];
}

/** A row that is not an instruction but a decode outcome ("undefined opcode"); no operands. */
export function outcome(name: string, flags = 0): OpRow {
  const row: OpRow = { kind: 'row', mnemonic: name, operands: '', exec: undefined, variant: 0, flags, feature: undefined, id: ROWS.length };
  ROWS.push(row);
  return row;
}

export function grp(entries: readonly (Entry | undefined)[]): Group {
  if (entries.length !== 8) throw new Error('a group has 8 entries');
  return { kind: 'group', entries };
}

export function mod(mem: Entry | undefined, reg: Entry | undefined): ModSelect {
  return { kind: 'mod', mem, reg };
}

export function rm(entries: readonly (Entry | undefined)[]): RmSelect {
  if (entries.length !== 8) throw new Error('an rm selector has 8 entries');
  return { kind: 'rm', entries };
}

export function pfx(sel: { none?: Entry; p66?: Entry; pF3?: Entry; pF2?: Entry }): PrefixSelect {
  return { kind: 'prefix', none: sel.none, p66: sel.p66, pF3: sel.pF3, pF2: sel.pF2 };
}

/** Builds a 256-entry map from [opcode, entry] pairs; unlisted opcodes are undefined (#UD). */
export function map(pairs: ReadonlyArray<readonly [number, Entry]>): (Entry | undefined)[] {
  const m: (Entry | undefined)[] = new Array(256).fill(undefined);
  for (const [opcode, entry] of pairs) {
    if (m[opcode] !== undefined) throw new Error(`opcode 0x${opcode.toString(16)} listed twice`);
    m[opcode] = entry;
  }
  return m;
}

/** `count` consecutive opcodes from `first` (eight for a register-in-opcode instruction: 50+r, B8+r, ...). */
export function range(first: number, make: (k: number) => Entry, count = 8): Array<[number, Entry]> {
  const out: Array<[number, Entry]> = [];
  for (let k = 0; k < count; k++) out.push([first + k, make(k)]);
  return out;
}

export const CONDITIONS = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'] as const;
