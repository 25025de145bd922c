import type { DecodedStore } from '../decode/store.js';
import type { Form } from '../exec/registry.js';
import type { LfOp } from '../exec/flags.js';
import type { RegisterLocals } from './regs.js';

/**
 * What the block translator hands an instruction emitter, and what the emitter may ask of it.
 * The generated function has these locals (see translate.ts): r/rh = RIP at block entry, L/H =
 * cpu.lo/cpu.hi, al/ah = linear address, s = scratch sum, hp = host address, v/vh = a value,
 * fd/fs/fr (+h) = the last flag-setting operation's operands and result, ci = carry in,
 * nl/nh = a new stack pointer, T/tR/tW/fh = the TLB and its fast tags, view/bytes = the arena,
 * SBL/SBH = segment bases, I = the indirect-CALL hints (region.ts), M = the region's request to be
 * translated again (translate.ts).
 */
export interface InsnContext {
  readonly d: DecodedStore;
  /** Record of the instruction. */
  readonly i: number;
  /** Position of the instruction in the block. */
  readonly k: number;
  /** Offset of the next instruction from the region entry's first byte (its RIP is r + next). */
  readonly next: number;
  /** Code size of the block (16, 32, 64). */
  readonly bits: number;
  readonly form: Form;
  readonly regs: RegisterLocals;
  /** Whether this is the block's last instruction. */
  readonly last: boolean;
  /**
   * Code that runs the instruction's interpreter handler with the exact interpreter state:
   * registers stored back, RIP at the next instruction; after it the locals are reloaded and a
   * stop (fault, code write, event) returns to the run loop. `resync` runs after a successful call.
   */
  slow(resync?: string): string;
  /**
   * `pre` then the inline `body` when `cond` holds, else slow(). Registers the body writes stay
   * dirty after the join (storing an unchanged value back is harmless).
   */
  guarded(pre: string, cond: string, body: string, resync?: string): string;
  /** Statements that store the dirty registers and return to the run loop from this block. */
  exit(): string;
  /** Statements that store the dirty registers and return to the run loop stopped after this instruction. */
  stopped(): string;
  /**
   * Statements bringing the vCPU's instruction count and running block up to date, for inline
   * code that calls into the platform (which may read cpu.cycles()); a region keeps them in locals.
   */
  sync(): string;
  /** Condition: nothing the run loop checks at a block boundary changed (translate.ts SAME_CONTEXT). */
  readonly sameContext: string;
  /**
   * Statements ending the block at `offset` from the entry block's first byte (a branch target or
   * the fall-through; `next` counts from there too): they continue in another block of the
   * translated region when it holds that offset and the budget allows, else set RIP and return
   * to the run loop. `inRange`: the caller checked that r + offset does not carry into RIP's
   * high half (else the code checks, and runs the handler when it does).
   */
  jump(offset: number, inRange?: boolean): string;
  /** Deltas of the region's CALL return sites, where an inline RET may continue (jit/region.ts). */
  readonly returnSites: readonly number[];
  /**
   * For a CALL through a register at the end of its block: the deltas of region blocks it may
   * continue into (its hinted target), the key of its hint (region.ts IndirectHints, the local
   * `I` in the generated code) and its block's delta from the entry.
   */
  readonly indirect: { readonly targets: readonly number[]; readonly hintKey: number; readonly blockDelta: number };
  /** Which operation the flag locals describe, when the block knows (for inline conditions). */
  flagsKnown: { op: LfOp; size: number } | null;
}

/** Emits an instruction inline; undefined when this form is not handled (the handler runs). */
export type Emitter = (c: InsnContext) => string | undefined;
