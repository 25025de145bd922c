import type { DecodedStore } from '../decode/store.js';
import { HANDLER_FORMS } from '../exec/registry.js';

/**
 * Regions: the blocks one translated function runs. A hot block is translated together with the
 * blocks it can continue into directly, found from its end: a near relative JMP's or Jcc's target,
 * a Jcc's fall-through, and the instruction after an exit-type instruction (CPUID, RDTSC, port
 * I/O, ...) whose handler leaves RIP at the next instruction. Only decoded blocks of the same page
 * and code size that have run often themselves join, so a region covers the block's hot paths:
 * a loop over several blocks (a spin-wait's compare, PAUSE and jump back) runs inside one call.
 *
 * One page keeps the region's invalidation exact: a write to the page forgets every block on it
 * (decode/code-cache.ts), and a write by the running vCPU stops the function after the writing
 * instruction; other vCPUs run only between the run loop's calls. The linear-to-host mapping of
 * the page is the one the run loop checked at entry; the translated code checks it again before
 * continuing after any handler ran (jit/translate.ts).
 */

/** Decoded blocks as the code cache holds them. */
export interface BlockMap {
  readonly blockFirst: Int32Array;
  readonly blockCount: Int32Array;
  readonly blockRuns: Int32Array;
  /** The block decoded at this offset of the entry block's page, for its code size, or 0. */
  blockAt(offset: number): number;
  /** Runs a block needs to join another block's region (REGION_MIN_RUNS; 0 when every block is translated). */
  readonly minRuns: number;
}

export interface RegionBlock {
  /** First record and instruction count. */
  readonly first: number;
  readonly count: number;
}

/**
 * Blocks in one region at most, and instructions in all of them. Small: every handler call in a
 * region stores back every register the region writes and reloads every one it uses, and V8
 * takes longer to optimize a bigger function. With 16 blocks and 256 instructions the cloud
 * kernel's first 150 M instructions took 15.0 s of CPU, with 4 and 64 14.2 s (off: 13.2 s).
 */
export const MAX_REGION_BLOCKS = 4;
export const MAX_REGION_INSNS = 64;
/** Runs a block needs to join another block's region. */
export const REGION_MIN_RUNS = 200;

/**
 * Exit-type and other block-ending families whose handler, when it does not stop the run loop
 * (cpu.stop), leaves RIP at the next instruction: their fall-through may continue in the region.
 */
const FALLS_THROUGH: ReadonlySet<string> = new Set([
  'cpuid', 'rdtsc', 'rdmsr', 'wrmsr', 'cli-sti', 'in', 'out', 'invlpg', 'mov-cr', 'pause', 'nop', 'xcr',
]);

/** Whether a block's last record is a near relative JMP or Jcc with a 64-bit operand (translated inline). */
export function branchKind(store: DecodedStore, last: number, bits: number): 'jcc' | 'jmp-rel' | null {
  const f = HANDLER_FORMS[store.handler[last]];
  if (bits !== 64 || f === undefined || f.form.size !== 8) return null;
  return f.exec === 'jcc' || f.exec === 'jmp-rel' ? f.exec : null;
}

/**
 * Page offsets where a block may continue, as the run loop would find them: a branch target and
 * a fall-through. `inline` says which families the translator emits inline (a block cut by its
 * size limit falls through too).
 */
export function successors(store: DecodedStore, first: number, count: number, bits: number, inline: (family: string) => boolean): number[] {
  const last = first + count - 1;
  const next = store.start[last] + store.len[last];
  const kind = branchKind(store, last, bits);
  if (kind !== null) {
    const target = next + store.imm[last];
    return kind === 'jcc' ? [target, next] : [target];
  }
  if (bits !== 64) return [];
  const family = HANDLER_FORMS[store.handler[last]]?.exec ?? '';
  return FALLS_THROUGH.has(family) || inline(family) ? [next] : [];
}

/** The entry block and the hot blocks reachable from it in the same page, entry first. */
export function collectRegion(store: DecodedStore, entry: RegionBlock, bits: number, blocks: BlockMap | null,
  inline: (family: string) => boolean): RegionBlock[] {
  const region: RegionBlock[] = [entry];
  if (blocks === null) return region;
  const seen = new Set<number>([store.start[entry.first]]);
  let insns = entry.count;
  for (let n = 0; n < region.length && region.length < MAX_REGION_BLOCKS; n++) {
    for (const off of successors(store, region[n].first, region[n].count, bits, inline)) {
      if (off < 0 || off >= 4096 || seen.has(off)) continue;
      seen.add(off);
      const b = blocks.blockAt(off);
      if (b === 0 || blocks.blockRuns[b] < blocks.minRuns) continue;
      const count = blocks.blockCount[b];
      if (insns + count > MAX_REGION_INSNS || region.length >= MAX_REGION_BLOCKS) continue;
      insns += count;
      region.push({ first: blocks.blockFirst[b], count });
    }
  }
  return region;
}
