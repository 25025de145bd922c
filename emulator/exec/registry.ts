import type { Vcpu } from '../cpu/vcpu.js';
import { Check, type Intercept, PortFrom, guarded } from './checks.js';

/**
 * Instruction handlers. A handler executes one decoded instruction: `i` is its record in the
 * DecodedStore. Handlers are built once per distinct form (operation x operand pattern x size x
 * register-or-memory) by the family that implements the operation, and numbered here; decoded
 * records hold the number, and the run loop calls HANDLERS[number].
 */
export type Handler = (cpu: Vcpu, i: number) => void;

/**
 * One operand of a form as a family sees it, resolved from the table text when the row is first
 * decoded (decode/operand-spec.ts formOperands), so no handler inspects the text.
 */
export const enum Operand {
  NONE = 0,
  /** The r/m slot: ModRM r/m (register or memory), an opcode register, a memory offset, or a fixed register placed there ("add AL,Ib"). */
  E = 1,
  /** The reg slot: ModRM reg, or a fixed register placed there. */
  G = 2,
  /** An immediate, relative offset or far pointer in the instruction. */
  IMM = 3,
  /** The constant 1 of the shift group ("shl Ev,1"). */
  ONE = 4,
  /** CL as a shift count. */
  CL = 5,
  /** DX as an I/O port. */
  DX = 6,
  /** Implicit: string operands, segment registers, a fixed register the handler knows. */
  IMPLICIT = 7,
}

/** A form's operands, typed. */
export interface FormOperands {
  readonly count: number;
  readonly first: Operand;
  readonly second: Operand;
  readonly third: Operand;
  /** Byte size the table fixes for the last operand (1, 2, 4, 8: "movzx Gv,Eb" has 1), else 0. */
  readonly lastSize: number;
}

/** What a family knows when it builds a handler for one form. */
export interface Form {
  readonly mnemonic: string;
  /**
   * Operand pattern as written in the opcode table, e.g. "Ev,Gv". Only the handler key (handlerId)
   * reads it: handlers and the translator's emitters read `ops`.
   */
  readonly operands: string;
  /**
   * The same pattern by operand slot: E (r/m or opcode register or moffs), G (reg), I (immediate),
   * other letters kept. "mov AL,Ob" is "G,E"; "add rAX,Iz" is "E,I". Part of the handler key only
   * (no handler or emitter reads it; test/jit/emitter-operands.test.ts checks `ops` against it).
   */
  readonly pattern: string;
  /** Operand size in bytes for the form (1, 2, 4 or 8). */
  readonly size: number;
  /** Address size in bytes (2, 4 or 8). */
  readonly asize: number;
  /** Whether the r/m operand is in memory. */
  readonly mem: boolean;
  readonly variant: number;
  /** The operands, typed. */
  readonly ops: FormOperands;
  /** Checks the row adds to its family's (Check bits: the I/O permission of INS/OUTS, INT n's VM86_IOPL). */
  readonly checks: number;
}

/** An operation family: builds handlers for the forms of the instructions that use it. */
export interface Exec {
  readonly name: string;
  make(form: Form): Handler;
  /**
   * Checks every instruction of the family makes before anything else (Check bits: CPL 0 only,
   * IOPL, I/O permission ...). They are added once when a form's handler is built, not written in
   * each handler. A function gives them per form, where the variants of one family differ
   * (XGETBV and XSETBV).
   */
  readonly checks?: number | ((form: Form) => number);
  /** The hypervisor intercept every instruction of the family reports after its checks. */
  readonly exit?: Intercept;
}

export const HANDLERS: Handler[] = [];
/** The family and form each handler was built for (the translator in emulator/jit reads them). */
export const HANDLER_FORMS: Array<{ readonly exec: string; readonly form: Form } | undefined> = [];
const ids = new Map<string, number>();

export function registerHandler(key: string, h: Handler): number {
  const known = ids.get(key);
  if (known !== undefined) return known;
  HANDLERS.push(h);
  ids.set(key, HANDLERS.length - 1);
  return HANDLERS.length - 1;
}

/** The handler number for a form, building the handler on first use. */
export function handlerId(exec: Exec, form: Form): number {
  const key = `${exec.name}|${form.mnemonic}|${form.operands}|${form.pattern}|${form.size}|${form.asize}|${form.mem ? 1 : 0}|${form.variant}|${form.checks}`;
  const known = ids.get(key);
  if (known !== undefined) return known;
  const declared = exec.checks ?? Check.NONE;
  const checks = (typeof declared === 'number' ? declared : declared(form)) | form.checks;
  const port = form.ops.first === Operand.IMM || form.ops.second === Operand.IMM ? PortFrom.IMM8 : PortFrom.DX;
  const id = registerHandler(key, guarded(exec.make(form), checks, exec.exit, Math.min(form.size, 4), port));
  HANDLER_FORMS[id] = { exec: exec.name, form };
  return id;
}

/** Helper for families whose handler depends only on a few form fields. */
export function family(name: string, make: (form: Form) => Handler): Exec {
  return { name, make };
}

/** A family of privileged instructions: #GP(0) above CPL 0 (real mode is always CPL 0). */
export function privilegedFamily(name: string, make: (form: Form) => Handler, exit?: Intercept): Exec {
  return { name, make, checks: Check.CPL0, exit };
}

/** A family whose every instruction makes `checks` first and then reports `exit`, if given. */
export function checkedFamily(name: string, checks: number | ((form: Form) => number), make: (form: Form) => Handler,
  exit?: Intercept): Exec {
  return { name, make, checks, exit };
}
