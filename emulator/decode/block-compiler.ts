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

/**
 * A translated region (emulator/jit/region.ts) may stop in a block other than the one the run
 * loop entered: it then returns the position in that block plus its length << REGION_SHIFT, with
 * cpu.blockFirst set to its first record, having counted the blocks before it itself.
 */
export const REGION_SHIFT = 9;
export const REGION_POSITION = (1 << REGION_SHIFT) - 1;

/**
 * Interpreted executions after which a block is compiled. Building the function is cheap (about
 * 10 us per instruction), but V8 then optimizes every new function on its own once it is warm,
 * inlining its handlers, at several milliseconds of CPU each (--trace-opt), while the
 * interpreter's loop is one function optimized once. Below tens of thousands of runs a block does
 * not earn that back. Process CPU of the whole boot in one run (translator on, bare): cloud kernel
 * 26.8 s at 2,000 (2,441 blocks compiled), 13-15 s at 100,000 (68); tiny kernel 3.3-3.7 s at
 * 2,000, 1.7 s at 100,000; sieve (hot loops) unchanged.
 */
export const COMPILE_THRESHOLD = 100000;

/**
 * Calls of a call-threaded block after which it is translated, when the translator is on
 * (decode/code-cache.ts). Translated code starts in V8's interpreter and is optimized per
 * function only after many calls, while call-threaded code calls handlers V8 has already
 * optimized: a block run a few thousand times is faster call-threaded. Cloud kernel, first 150 M
 * instructions, CPU time in one run: 20,000 gave 14.2 s, 60,000 12.7 s, call-threaded only 13.2 s.
 */
export const TRANSLATE_THRESHOLD = 60000;

/**
 * `onHot`, when given, is called once the function has been called `hotAfter` times (the code
 * cache then replaces it with translated code).
 */
export function compileBlock(store: DecodedStore, first: number, count: number, onHot?: () => void, hotAfter = TRANSLATE_THRESHOLD): CompiledBlock {
  const params: string[] = [];
  const handlers: Handler[] = [];
  const lines: string[] = ['const r = cpu.ripLo >>> 0;'];
  if (onHot !== undefined) {
    params.push('onHot');
    handlers.push(onHot as unknown as Handler);
    lines.unshift(`if (--calls === 0) onHot();`);
  }
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
  const factory = new Function(...params, `let calls = ${hotAfter};\nreturn function block_${first}(cpu) {\n${lines.join('\n')}\n};`);
  return factory(...handlers) as CompiledBlock;
}
