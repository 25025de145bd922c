import type { Vcpu } from '../cpu/vcpu.js';
import { HANDLERS, type Handler } from '../exec/registry.js';
import { Base, type DecodedStore } from './store.js';

/**
 * Compiles a hot decoded block into one JavaScript function that calls the block's handlers
 * directly, in order (call-threaded code). Each call site then always calls the same handler, so
 * V8 inlines it, and the interpreter's per-instruction dispatch disappears. Semantics are the
 * interpreter's exactly: the same handlers run on the same records.
 *
 * The function returns the position in the block at which it stopped (cpu.stop set by the
 * instruction there) or the block length if it ran to the end; the run loop's accounting is the
 * same as for interpreted blocks. RIP is stored only where something reads it: before an
 * instruction with a RIP-relative operand and before the last instruction (branches, traps,
 * REP strings); after a stop in the middle of a block the run loop recomputes RIP from the record.
 * `budget` is how many instructions the run loop may still run; only translated loops
 * (emulator/jit) use it, to run several iterations in one call.
 */
export type CompiledBlock = (cpu: Vcpu, budget: number) => number;

/** Executions after which a block is compiled. Compiling costs about 10 us per instruction. */
export const COMPILE_THRESHOLD = 2000;

export function compileBlock(store: DecodedStore, first: number, count: number): CompiledBlock {
  const params: string[] = [];
  const handlers: Handler[] = [];
  const lines: string[] = ['const r = cpu.ripLo >>> 0;'];
  const start = store.start[first];
  for (let k = 0; k < count; k++) {
    const i = first + k;
    const next = store.start[i] + store.len[i] - start;
    const needsRip = k === count - 1 || store.base[i] === Base.RIP;
    params.push(`h${k}`);
    handlers.push(HANDLERS[store.handler[i]]);
    if (needsRip) lines.push(`cpu.ripLo = (r + ${next}) | 0;`);
    lines.push(`h${k}(cpu, ${i});`);
    lines.push(`if (cpu.stop !== 0) return ${k};`);
  }
  lines.push(`return ${count};`);
  const factory = new Function(...params, `return function block_${first}(cpu) {\n${lines.join('\n')}\n};`);
  return factory(...handlers) as CompiledBlock;
}
