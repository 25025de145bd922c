import type { CodeWatcher } from '../hw/paging-unit.js';
import { type Tlb, TLB_MASK } from '../hw/tlb.js';
import { DecodedStore, FieldBuffer } from './store.js';
import { type DecodeContext, decode, decodeAt, endsBlock } from './decoder.js';
import { COMPILE_THRESHOLD, type CompiledBlock, compileBlock } from './block-compiler.js';
import { translateBlock } from '../jit/translate.js';
import { type BlockMap, REGION_MIN_RUNS } from '../jit/region.js';
import { type TranslatorMode, translatorModeFromEnv } from '../jit/mode.js';
import { JIT_STATS, noteInvalidation, noteTranslation } from '../jit/stats.js';

/**
 * Decoded basic blocks, keyed by host physical address: decode once, run many times.
 *
 * A page holding decoded code gets a slot, an array of 4096 block numbers indexed by page offset.
 * The TLB never grants fast writes to such a page, so every write to it goes through the slow path,
 * which calls invalidateCodePage: the page's blocks are forgotten and the running block stops after
 * the writing instruction (self-modifying and runtime-generated code work). Blocks end at control
 * transfers, system instructions and page ends. An instruction that crosses a page is never part of
 * a block; it is kept on its own (keepCrossing) with both pages watched, and the run loop checks the
 * second page's mapping every time it runs it.
 */
export const MAX_BLOCK = 256;
/** Returned by decodeBlock when the first instruction crosses the page end. */
export const CROSSES_PAGE = -1;
/** Page-crossing instructions kept decoded, direct-mapped by host address. */
const CROSS_ENTRIES = 64;

/** What the translator reads of the running vCPU to resolve a chained page (jit/region.ts). */
export interface FetchView {
  readonly ripLo: number;
  readonly ripHi: number;
  readonly paging: { readonly tlb: { readonly fetch: Float64Array; readonly fastHost: Int32Array } };
}

/** Host address of RIP + delta when the fetch TLB's fast path maps it now, else -1. */
function fetchTlbHost(view: FetchView, delta: number): number {
  const s = (view.ripLo >>> 0) + delta;
  if (s < 0 || s > 0xffffffff) return -1;
  const tlb = view.paging.tlb;
  const slot = (s >>> 12) & TLB_MASK;
  return tlb.fetch[slot] === (view.ripHi >>> 0) * 1048576 + Math.floor(s / 4096) ? tlb.fastHost[slot] + (s & 0xfff) : -1;
}

export class CodeCache implements CodeWatcher {
  readonly store: DecodedStore;
  private readonly pageSlot: Int32Array;
  private readonly slotPage: Int32Array;
  private readonly blockAt: Int32Array;
  private readonly freeSlots: number[] = [];
  readonly blockFirst: Int32Array;
  readonly blockCount: Int32Array;
  readonly blockBits: Uint8Array;
  /** Host address of each block's first byte. */
  readonly blockHost: Int32Array;
  /** Executions of each block so far, and its compiled form once hot. */
  readonly blockRuns: Int32Array;
  readonly blockFn: Array<CompiledBlock | undefined>;
  /** Whether hot blocks are compiled (off while tracing, which needs the interpreter). */
  compile = true;
  /** Interpreted runs after which a block is compiled (tests lower it to run every block call-threaded). */
  compileAfter = COMPILE_THRESHOLD;
  /**
   * How blocks are compiled (jit/mode.ts): call-threaded when hot ('off'), translated when hot
   * ('on'), or translated as soon as decoded ('force', so tests run every block translated).
   */
  translator: TranslatorMode = translatorModeFromEnv();
  private nextBlock = 1;
  private readonly arena: Uint8Array;
  /** Every vCPU's TLB: a page that becomes code loses its cached write permission in all of them. */
  private readonly tlbs: readonly Tlb[];
  /**
   * Code generation of each host page: changes whenever the page's decoded blocks are dropped or
   * replaced, so translated code chained into a block of another page can tell it is stale.
   */
  readonly pageGen: Int32Array;
  /**
   * The fetch TLB and RIP of the vCPU in the run loop (set by runSlice): the translator reads
   * the mapping of pages its regions chain into from it, without filling anything.
   */
  fetchView: FetchView | null = null;
  /**
   * Page-crossing instructions decoded once (the access test's ENDBR64 at page offset 0xffe ran
   * three times per case, decoded each time): first byte's host address (-1: empty), code size,
   * record, host page of the bytes on the next page, and both pages' generations when decoded.
   * Both pages are code pages, so a write to either bumps its generation and the entry is stale.
   */
  private readonly crossHost = new Int32Array(CROSS_ENTRIES).fill(-1);
  private readonly crossBits = new Uint8Array(CROSS_ENTRIES);
  private readonly crossRec = new Int32Array(CROSS_ENTRIES);
  private readonly crossNext = new Int32Array(CROSS_ENTRIES);
  private readonly crossGen = new Int32Array(CROSS_ENTRIES);
  private readonly crossNextGen = new Int32Array(CROSS_ENTRIES);
  /** Called when a page's decoded code is dropped (the run loop stops the current block). */
  onInvalidate: () => void = () => {};
  // Counters for reports.
  blocksDecoded = 0;
  /** Page-crossing instructions decoded into a kept record (keepCrossing). */
  crossingsKept = 0;
  pagesInvalidated = 0;
  fullFlushes = 0;
  blocksCompiled = 0;
  /** Blocks translated (emulator/jit), included in blocksCompiled under force. */
  blocksTranslated = 0;
  compileMs = 0;

  constructor(arena: Uint8Array, tlbs: readonly Tlb[], opts: { slots?: number; blocks?: number; records?: number } = {}) {
    const slots = opts.slots ?? 1024;
    const blocks = opts.blocks ?? 65536;
    this.arena = arena;
    this.tlbs = tlbs;
    this.store = new DecodedStore(opts.records ?? 262144);
    this.pageSlot = new Int32Array(arena.length / 4096).fill(-1);
    this.pageGen = new Int32Array(arena.length / 4096);
    this.slotPage = new Int32Array(slots).fill(-1);
    this.blockAt = new Int32Array(slots * 4096);
    for (let s = slots - 1; s >= 0; s--) this.freeSlots.push(s);
    const perBlock = new FieldBuffer(blocks, 17);
    this.blockFirst = perBlock.next(Int32Array);
    this.blockCount = perBlock.next(Int32Array);
    this.blockHost = perBlock.next(Int32Array);
    this.blockRuns = perBlock.next(Int32Array);
    this.blockBits = perBlock.next(Uint8Array);
    perBlock.done();
    this.blockFn = new Array<CompiledBlock | undefined>(blocks).fill(undefined);
  }

  /** Counts an execution of block b and compiles it when it becomes hot. */
  countRun(b: number): void {
    if (++this.blockRuns[b] === this.compileAfter && this.compile) this.compileNow(b);
  }

  private compileNow(b: number): void {
    const t0 = performance.now();
    // Translator on: call-threaded first, translated once that has run TRANSLATE_THRESHOLD times.
    this.blockFn[b] = this.translator === 'force' ? this.translated(b)
      : compileBlock(this.store, this.blockFirst[b], this.blockCount[b], this.translator === 'on' ? () => this.translateNow(b) : undefined);
    this.compileMs += performance.now() - t0;
    this.blocksCompiled++;
  }

  private translateNow(b: number): void {
    const t0 = performance.now();
    this.blockFn[b] = this.translated(b);
    this.compileMs += performance.now() - t0;
    if (JIT_STATS) noteTranslation(this.blockHost[b], this.blockBits[b]);
  }

  private translated(b: number): CompiledBlock {
    this.blocksTranslated++;
    return translateBlock(this.store, this.blockFirst[b], this.blockCount[b], this.blockBits[b], this.blocksBeside(b));
  }

  /** The decoded blocks of b's code size, for the translator's regions (jit/region.ts). */
  private blocksBeside(b: number): BlockMap {
    const bits = this.blockBits[b];
    const view = this.fetchView;
    return {
      blockFirst: this.blockFirst,
      blockCount: this.blockCount,
      blockRuns: this.blockRuns,
      entryHost: this.blockHost[b],
      blockAt: (host) => this.lookup(host, bits),
      // Translation happens when block b is entered, so RIP is its first byte.
      resolve: (delta) => (view === null ? -1 : fetchTlbHost(view, delta)),
      generations: this.pageGen,
      minRuns: this.translator === 'force' ? 0 : REGION_MIN_RUNS,
    };
  }

  isCodePage(page: number): boolean {
    return this.pageSlot[page] >= 0;
  }

  invalidateCodePage(page: number): void {
    const slot = this.pageSlot[page];
    if (slot < 0) return;
    this.blockAt.fill(0, slot * 4096, (slot + 1) * 4096);
    this.pageGen[page]++;
    this.pageSlot[page] = -1;
    this.slotPage[slot] = -1;
    this.freeSlots.push(slot);
    this.pagesInvalidated++;
    if (JIT_STATS) noteInvalidation(page);
    this.onInvalidate();
  }

  /** Forgets everything (the store, blocks or slots ran out). */
  flushAll(): void {
    for (let s = 0; s < this.slotPage.length; s++) {
      const page = this.slotPage[s];
      if (page >= 0) {
        this.pageGen[page]++;
        this.pageSlot[page] = -1;
        this.slotPage[s] = -1;
      }
    }
    this.blockAt.fill(0);
    this.crossHost.fill(-1);
    this.freeSlots.length = 0;
    for (let s = this.slotPage.length - 1; s >= 0; s--) this.freeSlots.push(s);
    this.store.clear();
    this.blockFn.fill(undefined, 0, this.nextBlock);
    this.blockRuns.fill(0, 0, this.nextBlock);
    this.nextBlock = 1;
    this.fullFlushes++;
    this.onInvalidate();
  }

  /** The block starting at a host address for the given code size, or 0. */
  lookup(host: number, bits: number): number {
    const slot = this.pageSlot[host >>> 12];
    if (slot < 0) return 0;
    const b = this.blockAt[slot * 4096 + (host & 0xfff)];
    return b !== 0 && this.blockBits[b] === bits ? b : 0;
  }

  /** Decodes the block at `host`; returns its number, or CROSSES_PAGE. */
  decodeBlock(host: number, ctx: DecodeContext): number {
    const store = this.store;
    if (this.nextBlock >= this.blockFirst.length || store.used + MAX_BLOCK > store.capacity) this.flushAll();
    const page = host >>> 12;
    const slot = this.claimPage(page);
    const first = store.used;
    let n = first;
    let off = host & 0xfff;
    const pageBase = page * 4096;
    while (n - first < MAX_BLOCK && off < 4096) {
      // Decoded in place: no copy, no view per instruction.
      const len = decodeAt(store, n, this.arena, pageBase + off, Math.min(15, 4096 - off), ctx);
      if (len < 0) break; // crosses the page end: decoded on its own, uncached
      store.start[n] = off;
      off += len;
      n++;
      if (endsBlock(store, n - 1)) break;
    }
    if (n === first) return CROSSES_PAGE;
    store.used = n;
    const b = this.nextBlock++;
    this.blockFirst[b] = first;
    this.blockCount[b] = n - first;
    this.blockBits[b] = ctx.bits;
    this.blockHost[b] = host;
    // A block of the other code size decoded here before is replaced: code chained into it is stale.
    if (this.blockAt[slot * 4096 + (host & 0xfff)] !== 0) this.pageGen[page]++;
    this.blockAt[slot * 4096 + (host & 0xfff)] = b;
    this.blocksDecoded++;
    if (this.translator === 'force' && this.compile) this.compileNow(b);
    return b;
  }

  /** The slot of a host page, giving it one (a code page from now on) if it has none. */
  private claimPage(page: number): number {
    let slot = this.pageSlot[page];
    if (slot < 0) {
      if (this.freeSlots.length === 0) this.flushAll();
      slot = this.freeSlots.pop()!;
      this.pageSlot[page] = slot;
      this.slotPage[slot] = page;
      // From now on writes to this page must take the slow path.
      for (const tlb of this.tlbs) tlb.revokeWrites(page * 4096);
    }
    return slot;
  }

  /**
   * The entry of a kept page-crossing instruction at `host` for this code size whose first page
   * is unchanged since it was decoded, or -1. Its bytes on the next page are checked by
   * crossingRecord once the caller has fetched that page.
   */
  crossingAt(host: number, bits: number): number {
    const x = (host ^ (host >>> 6)) & (CROSS_ENTRIES - 1);
    return this.crossHost[x] === host && this.crossBits[x] === bits && this.crossGen[x] === this.pageGen[host >>> 12] ? x : -1;
  }

  /** The record of entry x if the next page's bytes it was decoded from are at `nextHost` and unchanged, else -1. */
  crossingRecord(x: number, nextHost: number): number {
    const page = nextHost >>> 12;
    return this.crossNext[x] === page && this.crossNextGen[x] === this.pageGen[page] ? this.crossRec[x] : -1;
  }

  /**
   * Keeps a page-crossing instruction: decodes `bytes` (gathered by the caller from the first page
   * at `host` and the next page at `nextHost`) into a record of its own and watches both pages.
   */
  keepCrossing(host: number, nextHost: number, bytes: Uint8Array, startOffset: number, ctx: DecodeContext): void {
    if (this.store.used + MAX_BLOCK > this.store.capacity || this.freeSlots.length < 2) this.flushAll();
    const page = host >>> 12;
    const next = nextHost >>> 12;
    this.claimPage(page);
    this.claimPage(next);
    const r = this.store.used;
    if (decode(this.store, r, bytes, 15, ctx) < 0) return;
    this.store.start[r] = startOffset;
    this.store.used = r + 1;
    const x = (host ^ (host >>> 6)) & (CROSS_ENTRIES - 1);
    this.crossHost[x] = host;
    this.crossBits[x] = ctx.bits;
    this.crossRec[x] = r;
    this.crossNext[x] = next;
    this.crossGen[x] = this.pageGen[page];
    this.crossNextGen[x] = this.pageGen[next];
    this.crossingsKept++;
  }

  /**
   * Decodes an instruction that crosses into the next page, from bytes gathered by the caller,
   * into scratch record 0. Returns its length.
   */
  decodeScratch(bytes: Uint8Array, avail: number, startOffset: number, ctx: DecodeContext): number {
    const len = decode(this.store, 0, bytes, avail, ctx);
    this.store.start[0] = startOffset;
    return len;
  }
}
