import type { Vcpu } from '../cpu/vcpu.js';

/**
 * Instruction handlers. A handler executes one decoded instruction: `i` is its record in the
 * DecodedStore. Handlers are built once per distinct form (operation x operand pattern x size x
 * register-or-memory) by the family that implements the operation, and numbered here; decoded
 * records hold the number, and the run loop calls HANDLERS[number].
 */
export type Handler = (cpu: Vcpu, i: number) => void;

/** What a family knows when it builds a handler for one form. */
export interface Form {
  readonly mnemonic: string;
  /** Operand pattern as written in the opcode table, e.g. "Ev,Gv". */
  readonly operands: string;
  /**
   * The same pattern by operand slot: E (r/m or opcode register or moffs), G (reg), I (immediate),
   * other letters kept. "mov AL,Ob" is "G,E"; "add rAX,Iz" is "E,I".
   */
  readonly pattern: string;
  /** Operand size in bytes for the form (1, 2, 4 or 8). */
  readonly size: number;
  /** Address size in bytes (2, 4 or 8). */
  readonly asize: number;
  /** Whether the r/m operand is in memory. */
  readonly mem: boolean;
  readonly variant: number;
}

/** An operation family: builds handlers for the forms of the instructions that use it. */
export interface Exec {
  readonly name: string;
  make(form: Form): Handler;
  /**
   * Every instruction of the family is #GP(0) above CPL 0 before it does anything else. The
   * check is added once when a form's handler is built (cpl0Only), not written in each handler.
   */
  readonly cpl0?: boolean;
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
  const key = `${exec.name}|${form.mnemonic}|${form.operands}|${form.pattern}|${form.size}|${form.asize}|${form.mem ? 1 : 0}|${form.variant}`;
  const known = ids.get(key);
  if (known !== undefined) return known;
  const made = exec.make(form);
  const id = registerHandler(key, exec.cpl0 === true ? cpl0Only(made) : made);
  HANDLER_FORMS[id] = { exec: exec.name, form };
  return id;
}

/** Helper for families whose handler depends only on a few form fields. */
export function family(name: string, make: (form: Form) => Handler): Exec {
  return { name, make };
}

/** A family of privileged instructions: #GP(0) above CPL 0 (real mode is always CPL 0). */
export function privilegedFamily(name: string, make: (form: Form) => Handler): Exec {
  return { name, make, cpl0: true };
}

function cpl0Only(h: Handler): Handler {
  return (cpu, i) => {
    if (cpu.cpl !== 0) { cpu.raiseGp(0); return; }
    h(cpu, i);
  };
}
