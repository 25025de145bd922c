import { type FormOperands, Operand } from '../exec/registry.js';

/**
 * Operand specifications parsed from the table text once per row, so the decoder does no string
 * work per instruction.
 */
export const enum Slot {
  /** Implicit: the handler knows it (CL, DX, string operands, the constant 1). */
  NONE = 0,
  /** The r/m slot: ModRM r/m, an opcode register, or a memory offset. */
  E = 1,
  /** The reg slot: ModRM reg (GPR, segment, control or debug register) or a fixed register. */
  G = 2,
  IMM = 3,
}

export const enum OpKind {
  MODRM_RM, MODRM_RM_MEM_ONLY, MODRM_RM_REG_ONLY, MODRM_REG, OPCODE_REG, FIXED_REG, IMM, REL, MOFFS, FAR_PTR, IMPLICIT,
}

/** Size codes: concrete byte counts, or the operand-size-dependent kinds. */
export const enum SizeCode { B = 1, W = 2, D = 4, Q = 8, V = 16, Z = 17, Y = 18, P = 19, NONE = 0 }

export interface OperandSpec {
  readonly kind: OpKind;
  readonly size: SizeCode;
  /** Fixed register number for FIXED_REG. */
  readonly reg: number;
  slot: Slot;
}

const SIZE_LETTERS: Record<string, SizeCode> = {
  b: SizeCode.B, w: SizeCode.W, d: SizeCode.D, q: SizeCode.Q, v: SizeCode.V, z: SizeCode.Z, y: SizeCode.Y,
  p: SizeCode.P, s: SizeCode.NONE, a: SizeCode.NONE, dq: SizeCode.NONE, '': SizeCode.NONE,
  // XMM operands: their width never follows the operand size (66 is a mandatory prefix there).
  x: SizeCode.NONE, ss: SizeCode.NONE, sd: SizeCode.NONE,
};

const FIXED: Record<string, [number, SizeCode]> = {
  // DX as an I/O port address does not set the operand size (OUT DX, eAX is a 32-bit OUT).
  AL: [0, SizeCode.B], CL: [1, SizeCode.B], DX: [2, SizeCode.NONE], AX: [0, SizeCode.W], eAX: [0, SizeCode.Z], rAX: [0, SizeCode.V],
};

/** Segment registers named as implicit operands ("push ES"). */
const SEGMENT_NAMES = new Set(['ES', 'CS', 'SS', 'DS', 'FS', 'GS']);

export function parseOperands(text: string): OperandSpec[] {
  if (text === '') return [];
  const specs: OperandSpec[] = text.split(',').map((tok): OperandSpec => {
    const fixed = FIXED[tok];
    if (fixed !== undefined) return { kind: OpKind.FIXED_REG, size: fixed[1], reg: fixed[0], slot: Slot.NONE };
    if (tok === '1' || SEGMENT_NAMES.has(tok)) return { kind: OpKind.IMPLICIT, size: SizeCode.NONE, reg: 0, slot: Slot.NONE };
    const letter = tok[0];
    const size = SIZE_LETTERS[tok.slice(1)];
    if (size === undefined) throw new Error(`unknown operand size in "${tok}"`);
    const mk = (kind: OpKind, slot: Slot): OperandSpec => ({ kind, size, reg: 0, slot });
    switch (letter) {
      case 'E': return mk(OpKind.MODRM_RM, Slot.E);
      case 'M': return mk(OpKind.MODRM_RM_MEM_ONLY, Slot.E);
      case 'R': return mk(OpKind.MODRM_RM_REG_ONLY, Slot.E);
      case 'G': case 'S': case 'C': case 'D': case 'V': return mk(OpKind.MODRM_REG, Slot.G);
      // W: XMM register or memory; U: XMM register (its rows sit under a mod selector).
      case 'W': case 'U': return mk(OpKind.MODRM_RM, Slot.E);
      // MMX: P a register in ModRM.reg, Q a register or memory in r/m, N a register in r/m.
      case 'P': return mk(OpKind.MODRM_REG, Slot.G);
      case 'Q': case 'N': return mk(OpKind.MODRM_RM, Slot.E);
      case 'Z': return mk(OpKind.OPCODE_REG, Slot.E);
      case 'I': return mk(OpKind.IMM, Slot.IMM);
      case 'J': return mk(OpKind.REL, Slot.IMM);
      case 'O': return mk(OpKind.MOFFS, Slot.E);
      case 'A': return mk(OpKind.FAR_PTR, Slot.IMM);
      case 'X': case 'Y': return mk(OpKind.IMPLICIT, Slot.NONE);
      default: throw new Error(`unknown operand "${tok}"`);
    }
  });
  // A fixed register takes the r/m slot if no other operand uses it, else the reg slot if free;
  // otherwise it stays implicit (the CL of "shld Ev,Gv,CL").
  let eFree = !specs.some((s) => s.slot === Slot.E);
  let gFree = !specs.some((s) => s.slot === Slot.G);
  for (const s of specs) {
    if (s.kind !== OpKind.FIXED_REG) continue;
    if (eFree) { s.slot = Slot.E; eFree = false; } else if (gFree) { s.slot = Slot.G; gFree = false; }
  }
  return specs;
}

/** The slot pattern of a row ("G,E", "E,I", "E,CL", ...). */
export function slotPattern(text: string, specs: readonly OperandSpec[]): string {
  if (text === '') return '';
  const toks = text.split(',');
  return specs.map((s, k) => {
    if (s.kind === OpKind.FIXED_REG && (toks[k] === 'CL' || toks[k] === 'DX') && s.slot === Slot.G) return toks[k];
    switch (s.slot) {
      case Slot.E: return 'E';
      case Slot.G: return 'G';
      case Slot.IMM: return 'I';
      default: return toks[k];
    }
  }).join(',');
}

/** Whether any operand needs a ModRM byte. */
export function needsModrm(specs: readonly OperandSpec[]): boolean {
  return specs.some((s) => s.kind === OpKind.MODRM_RM || s.kind === OpKind.MODRM_RM_MEM_ONLY ||
    s.kind === OpKind.MODRM_RM_REG_ONLY || s.kind === OpKind.MODRM_REG);
}

/** A row's operands as the families see them (exec/registry.ts Operand), from the parsed specs. */
export function formOperands(text: string, specs: readonly OperandSpec[]): FormOperands {
  const toks = text === '' ? [] : text.split(',');
  const kinds = specs.map((s, k): Operand => {
    if (toks[k] === '1') return Operand.ONE;
    if (s.kind === OpKind.FIXED_REG && toks[k] === 'CL') return Operand.CL;
    if (s.kind === OpKind.FIXED_REG && toks[k] === 'DX') return Operand.DX;
    switch (s.slot) {
      case Slot.E: return Operand.E;
      case Slot.G: return Operand.G;
      case Slot.IMM: return Operand.IMM;
      default: return Operand.IMPLICIT;
    }
  });
  const last = specs.length === 0 ? SizeCode.NONE : specs[specs.length - 1].size;
  return {
    count: specs.length,
    first: kinds[0] ?? Operand.NONE,
    second: kinds[1] ?? Operand.NONE,
    third: kinds[2] ?? Operand.NONE,
    lastSize: last === SizeCode.B || last === SizeCode.W || last === SizeCode.D || last === SizeCode.Q ? last : 0,
  };
}
