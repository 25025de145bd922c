import type { DecodedStore } from '../decode/store.js';
import { HANDLER_FORMS } from '../exec/registry.js';

/**
 * Regions: the blocks one translated function runs. A hot block is translated together with the
 * blocks it can continue into directly, found from its end: a near relative JMP's, Jcc's or
 * CALL's target, a Jcc's fall-through, the return site of a CALL in the region (reached by a
 * RET that pops it), the instruction after an exit-type instruction (CPUID, RDTSC, port I/O,
 * ...) whose handler leaves RIP at the next instruction, and the target an indirect CALL took when
 * translated code last saw it leave its region (its hint, below). Only decoded blocks of 64-bit
 * code that have run often themselves join, so a region covers the block's hot paths: a loop over
 * several blocks, or a call to another page and the return from it, runs inside one call.
 *
 * Every region block sits at a constant linear distance (its delta) from the entry block, since it
 * is reached by relative branches, fall-throughs and returns to such places. A block on the entry
 * block's page at its page distance runs under the mapping the run loop checked at entry (the
 * translated code checks it again after any handler ran, jit/translate.ts). Any other block is
 * chained: before continuing into it, the code checks that its linear address still maps through
 * the fetch TLB to the host page it was translated from, and that this page's code generation
 * (decode/code-cache.ts pageGen, bumped whenever the page's decoded blocks are dropped, by any
 * vCPU's write, a device's write or a flush) is unchanged. A write by the running vCPU to any
 * code page stops the function after the writing instruction; other vCPUs run only between the
 * run loop's calls, and their writes fail the generation check.
 */

/** Decoded blocks as the code cache holds them, seen from one entry block. */
export interface BlockMap {
  readonly blockFirst: Int32Array;
  readonly blockCount: Int32Array;
  readonly blockRuns: Int32Array;
  /** Host address of the entry block's first byte. */
  readonly entryHost: number;
  /** The block decoded at this host address for the entry block's code size, or 0. */
  blockAt(host: number): number;
  /**
   * Host address of the linear address `delta` bytes from the entry block's first byte, when the
   * running vCPU's fetch TLB maps it now; -1 otherwise (nothing is filled or faulted).
   */
  resolve(delta: number): number;
  /** Code generation of each host page (decode/code-cache.ts pageGen). */
  readonly generations: Int32Array;
  /** Runs a block needs to join another block's region (REGION_MIN_RUNS; 0 when every block is translated). */
  readonly minRuns: number;
}

export interface RegionBlock {
  /** First record and instruction count. */
  readonly first: number;
  readonly count: number;
  /** Linear distance of its first byte from the entry block's first byte. */
  readonly delta: number;
  /** Host address of its first byte. */
  readonly host: number;
  /** Whether continuing into it needs the chain check (another page, or the entry page seen at another address). */
  readonly chained: boolean;
  /** Its page's code generation when translated (chained blocks). */
  readonly gen: number;
  /** Whether it is the return site of a CALL in the region (a RET may continue there). */
  returnSite: boolean;
}

/**
 * Blocks in one region at most, and instructions in all of them. Small: every handler call in a
 * region stores back every register the region writes and reloads every one it uses, and V8
 * takes longer to optimize a bigger function. With 16 blocks and 256 instructions the cloud
 * kernel's first 150 M instructions took 15.0 s of CPU, with 4 and 64 14.2 s (off: 13.2 s). Eight
 * blocks hold a loop that calls a function through a pointer (the loop, the CALL, the function's
 * blocks and the return site): upstream vmexit's run_test around ple_round_robin takes six.
 */
export const MAX_REGION_BLOCKS = 8;
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

/** Families with an emitter whose instructions may branch (branchKind says which forms run inline). */
const BRANCHES: ReadonlySet<string> = new Set(['jcc', 'jmp-rel', 'call-rel', 'call-ind', 'ret']);

export type BranchKind = 'jcc' | 'jmp-rel' | 'call-rel' | 'call-ind' | 'ret';

/**
 * Whether a block's last record is a near relative JMP, Jcc or CALL, a near CALL through a
 * register, or a near RET, of 64-bit code and operand (translated inline).
 */
export function branchKind(store: DecodedStore, last: number, bits: number): BranchKind | null {
  const f = HANDLER_FORMS[store.handler[last]];
  if (bits !== 64 || f === undefined || f.form.size !== 8) return null;
  if (f.exec === 'call-ind') return f.form.mem ? null : 'call-ind';
  return f.exec === 'jcc' || f.exec === 'jmp-rel' || f.exec === 'call-rel' || f.exec === 'ret' ? f.exec : null;
}

/**
 * Targets indirect CALLs took when translated code saw them leave their region: by host address
 * of the CALL, the target's linear distance from the first byte of the CALL's block. A region
 * translated later takes the block there in (a loop calling a function through a pointer then
 * runs inside one call); the translated CALL compares the real target with it every time, so a
 * stale hint costs speed only. Kept per code cache (keyed by its page-generation array), so
 * machines in one process do not share hints.
 */
export type IndirectHints = Map<number, number>;
const hintsByCache = new WeakMap<Int32Array, IndirectHints>();

export function indirectHints(generations: Int32Array): IndirectHints {
  let h = hintsByCache.get(generations);
  if (h === undefined) {
    h = new Map();
    hintsByCache.set(generations, h);
  }
  return h;
}

/** A place a block may continue: its offset from the block's page start (may lie outside the page). */
export interface Successor {
  readonly offset: number;
  /** Reached by a RET popping the address a CALL of the region pushed. */
  readonly returnSite: boolean;
}

/**
 * Where a block may continue, as the run loop would find it: a branch target, a fall-through, a
 * CALL's return site, an indirect CALL's hinted target (`hints`, by the host address of the
 * block's first byte, `host`). `inline` says which families the translator emits inline (a block
 * cut by its size limit or the page end falls through too).
 */
export function successors(store: DecodedStore, first: number, count: number, bits: number, inline: (family: string) => boolean,
  hints: IndirectHints | null = null, host = 0): Successor[] {
  const last = first + count - 1;
  const next = store.start[last] + store.len[last];
  const kind = branchKind(store, last, bits);
  if (kind !== null) {
    if (kind === 'ret') return [];
    if (kind === 'call-ind') {
      const back = { offset: next, returnSite: true };
      const rel = hints?.get(host + store.start[last] - store.start[first]);
      return rel === undefined ? [back] : [{ offset: store.start[first] + rel, returnSite: false }, back];
    }
    const target = { offset: next + store.imm[last], returnSite: false };
    if (kind === 'jcc') return [target, { offset: next, returnSite: false }];
    if (kind === 'call-rel') return [target, { offset: next, returnSite: true }];
    return [target];
  }
  if (bits !== 64) return [];
  const family = HANDLER_FORMS[store.handler[last]]?.exec ?? '';
  // A branch of a form not translated inline (CALL through memory, a 16-bit RET) runs its handler,
  // which leaves RIP at its target: nothing is known to follow it.
  if (BRANCHES.has(family)) return [];
  return FALLS_THROUGH.has(family) || inline(family) ? [{ offset: next, returnSite: false }] : [];
}

/** The entry block and the hot blocks reachable from it, entry first. */
export function collectRegion(store: DecodedStore, entry: { first: number; count: number }, bits: number, blocks: BlockMap | null,
  inline: (family: string) => boolean, hints: IndirectHints | null = null): RegionBlock[] {
  const host0 = blocks === null ? 0 : blocks.entryHost;
  const region: RegionBlock[] = [{ ...entry, delta: 0, host: host0, chained: false, gen: 0, returnSite: false }];
  if (blocks === null) return region;
  const seen = new Set<number>([0]);
  let insns = entry.count;
  for (let n = 0; n < region.length && region.length < MAX_REGION_BLOCKS; n++) {
    const from = region[n];
    const fromStart = store.start[from.first];
    for (const s of successors(store, from.first, from.count, bits, inline, hints, from.host)) {
      const delta = from.delta + s.offset - fromStart;
      if (seen.has(delta)) {
        // Already in the region (say the entry, when the loop's CALL returns to its start).
        const known = region.find((b) => b.delta === delta);
        if (known !== undefined && s.returnSite) known.returnSite = true;
        continue;
      }
      seen.add(delta);
      const host = s.offset >= 0 && s.offset < 4096 ? (from.host - fromStart) + s.offset : blocks.resolve(delta);
      if (host < 0) continue;
      const b = blocks.blockAt(host);
      if (b === 0 || blocks.blockRuns[b] < blocks.minRuns) continue;
      const count = blocks.blockCount[b];
      if (insns + count > MAX_REGION_INSNS || region.length >= MAX_REGION_BLOCKS) continue;
      insns += count;
      // At its page distance on the entry page: the entry's mapping covers it.
      const samePage = host >>> 12 === host0 >>> 12 && delta === (host & 0xfff) - (host0 & 0xfff);
      region.push({
        first: blocks.blockFirst[b], count, delta, host, chained: !samePage, gen: samePage ? 0 : blocks.generations[host >>> 12], returnSite: s.returnSite,
      });
    }
  }
  return region;
}

/**
 * Where a region function that stopped in a chained block tells the run loop that block's delta
 * (run loop: its linear start is the entry's plus delta). Set at every continue into another block.
 */
export const regionExit = { delta: 0 };
