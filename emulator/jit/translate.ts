import type { DecodedStore } from '../decode/store.js';
import { type CompiledBlock, REGION_SHIFT } from '../decode/block-compiler.js';
import { HANDLERS, HANDLER_FORMS, type Handler } from '../exec/registry.js';
import { cond, getCF } from '../exec/flags.js';
import { Flag } from '../arch/eflags.js';
import { Stop } from '../cpu/vcpu.js';
import { TLB_MASK } from '../hw/tlb.js';
import type { InsnContext } from './context.js';
import { RegisterLocals } from './regs.js';
import { EMITTERS, KEEPS_FLAGS } from './emitters.js';
import { quietEvent } from './events.js';
import { FLAG_CLOSE, FLAG_OPEN, type FlagRecord, dropDeadRecords, flagRecordIn, overwrites } from './flags.js';
import { type BlockMap, type RegionBlock, branchKind, collectRegion, indirectHints, regionExit, successors } from './region.js';

/**
 * The block translator: one decoded block, with the hot blocks of its page it continues into
 * (its region, jit/region.ts), becomes one JavaScript function, specialised at translation time
 * (see emitters.ts and memory.ts). Instructions without an emitter call their interpreter handler
 * with the exact interpreter state (fallback): registers stored back, RIP at the next instruction.
 *
 * The function's contract is the call-threaded compiler's (decode/block-compiler.ts), so the run
 * loop treats both alike: it returns the position of the instruction after which cpu.stop was set
 * (a fault there means that instruction did not retire) or the block length, with every register
 * stored back and RIP set for the last instruction; after a stop in the middle the run loop
 * recomputes RIP from the record. Only a handler, a memory access off the TLB fast path (run by
 * the handler) or the end of a block can stop it, so only those places check cpu.stop.
 *
 * Inside a region, the end of a block whose successor is in the region continues there while the
 * budget holds both blocks: the finished block is counted in cpu.instructions as the run loop
 * would count it, and cpu.blockFirst names the running block (handlers' syncTime reads it). A
 * return from a block other than the entry encodes that block's length above the position
 * (REGION_SHIFT, decode/block-compiler.ts), and the run loop finishes its accounting from there.
 */
export function translateBlock(store: DecodedStore, first: number, count: number, bits: number, blocks: BlockMap | null = null): CompiledBlock {
  const missed: { missed: boolean; unhinted?: boolean } = { missed: false };
  let fn = translateRegion(store, first, count, bits, blocks, missed);
  if (!missed.unhinted) return fn;
  // An indirect CALL of the region had no hint yet, so its target could not join. Once the CALL
  // has left the region (recording its hint), the region is translated again at its next entry,
  // when RIP is the entry block's first byte as the region's resolution needs (region.ts), a
  // few times at most, so that a CALL whose target keeps changing costs little.
  let again = RETRANSLATIONS;
  return (cpu, budget) => {
    if (missed.missed && again > 0) {
      again--;
      missed.missed = false;
      fn = translateRegion(store, first, count, bits, blocks, missed);
    }
    return fn(cpu, budget);
  };
}

/** Translations of a region again after an indirect CALL of it found its first target. */
const RETRANSLATIONS = 2;

/**
 * One region as one function. `missed.unhinted` tells whether an indirect CALL in it has no
 * hinted target; its generated code sets `missed.missed` when such a CALL leaves the region.
 */
function translateRegion(store: DecodedStore, first: number, count: number, bits: number, blocks: BlockMap | null,
  missed: { missed: boolean; unhinted?: boolean }): CompiledBlock {
  const hints = blocks === null ? null : indirectHints(blocks.generations);
  const inline = (f: string): boolean => EMITTERS[f] !== undefined;
  const region = collectRegion(store, { first, count }, bits, blocks, inline, hints);
  // Region blocks by delta, and whether any block continues inside the region.
  const at = new Map<number, number>();
  region.forEach((b, n) => at.set(b.delta, n));
  const deltaOf = (b: number, offset: number): number => region[b].delta + offset - store.start[region[b].first];
  const edges = region.map((b, n) => successors(store, b.first, b.count, bits, inline, hints, b.host)
    .map((s) => deltaOf(n, s.offset)).filter((d) => at.has(d)));
  const looping = edges.some((e) => e.length > 0);
  const returnSites = region.filter((b) => b.returnSite).map((b) => b.delta);
  const regs = new RegisterLocals(looping);
  const handlers: Handler[] = [];
  const params: string[] = ['getCF', 'cond', 'X', 'G', 'I', 'M', 'Q'];
  missed.unhinted = false;
  const cases: string[] = [];
  // Flag records a later record overwrote before anything could read the vCPU's flags: a handler
  // (fallback or slow path), an exit, cond(cpu) or getCF(cpu). Keyed by position in the region.
  const dead = new Set<number>();
  // By position: the dead record a handler path stores before its handler runs (PENDING_FLAGS).
  const storedFirst = new Map<number, string>();
  let g = 0;
  // For a block ending in a CALL through a register: the region blocks the CALL may continue
  // into (its hinted target, not the return site) and where its hint is kept (region.ts).
  const indirectCall = (blk: RegionBlock, succ: readonly number[], blkStart: number): InsnContext['indirect'] => {
    const last = blk.first + blk.count - 1;
    const back = blk.delta + store.start[last] + store.len[last] - blkStart;
    const targets = succ.filter((e) => e !== back);
    if (targets.length === 0 && blocks !== null) missed.unhinted = true;
    return { targets, hintKey: blk.host + store.start[last] - blkStart, blockDelta: blk.delta };
  };
  region.forEach((blk, n) => {
    const body: string[] = [];
    const ret = (k: number): string => String(n === 0 ? k : k + (blk.count << REGION_SHIFT));
    // Before a handler call, a call into the platform or a return: the vCPU's instruction count,
    // running block and (for the run loop) its delta as the run loop would have them (see SYNC).
    const sync = looping ? `cpu.instructions += ic; ic = 0; cpu.blockFirst = ${blk.first}; ${n === 0 ? '' : `X.delta = ${blk.delta}; `}` : '';
    const exit = (): string => `${regs.flush()}${sync}return ${ret(blk.count)};`;
    const blkStart = store.start[blk.first];
    let slows = 0;
    // Continuing into region block t from the end of this one: both fit the budget, after a
    // handler ran nothing the run loop checks at a block boundary changed (it would stop
    // otherwise), and a chained block is still what the run loop would find there (region.ts).
    const jumpTo = (delta: number): string => {
      const t = at.get(delta);
      if (t === undefined) return '';
      const to = region[t];
      const guard = (slows === 0 ? '' : ` && (hr === 0 || ${SAME_CONTEXT})`) + (to.chained ? ` && ${chainCheck(delta, to.host, to.gen)}` : '');
      return `if (budget >= ${blk.count + to.count}${guard}) { budget -= ${blk.count}; ic += ${blk.count}; ` +
        `if (hr !== 0) { hr = 0; cpu.inBlock = 0; } blk = ${t}; continue; } `;
    };
    const ctx: { -readonly [K in keyof InsnContext]: InsnContext[K] } & { family: string; slows: number; g: number; deferrable: boolean } = {
      d: store, i: 0, k: 0, next: 0, bits, form: undefined as unknown as InsnContext['form'], regs, last: false, returnSites,
      flagsKnown: null as InsnContext['flagsKnown'],
      indirect: indirectCall(blk, edges[n], blkStart),
      family: '',
      slows: 0,
      g: 0,
      slow(resync = ''): string {
        this.slows++;
        slows++;
        // A handler whose only stop is Stop.EVENT (a TPR write by MOV to CR8, an EOI or
        // TSC-deadline write by WRMSR, an APIC register written through MMIO) asks the run loop to
        // look for an event: the code goes on when the run loop would find none (events.ts).
        const quiet = ` && !(cpu.stop === ${Stop.EVENT} && ${SAME_CONTEXT} && Q(cpu))`;
        // A pending flag record this instruction may leave dead is stored first (PENDING_FLAGS).
        const call = `${PENDING_FLAGS}${this.g}*/${regs.flush()}${sync}cpu.ripLo = (r + ${this.next}) | 0; h${this.g}(cpu, ${this.i}); ` +
          `${looping ? 'hr = 1; ' : ''}${RegisterLocals.RELOAD} if (cpu.stop !== 0${quiet}) return ${ret(this.k)}; ${resync}`;
        if (!KEEPS_FLAGS.has(this.family) && resync === '') this.flagsKnown = null;
        return `{ ${call} }`;
      },
      guarded(pre: string, condition: string, inline: string, resync = ''): string {
        // The only way to the handler, after code that leaves the flag locals alone: an earlier
        // record this instruction's own record overwrites can be stored on this path only.
        if (this.slows === 0 && !FLAG_LOCAL_WRITE.test(pre) && !FLAG_LOCAL_WRITE.test(condition)) this.deferrable = true;
        const slow = this.slow(resync);
        return `${pre} if (${condition}) { ${inline} } else ${slow}`;
      },
      deferrable: false,
      exit,
      stopped(): string {
        return `${regs.flush()}${sync}return ${ret(this.k)};`;
      },
      sync: (): string => sync,
      sameContext: SAME_CONTEXT,
      jump(offset: number, inRange = false): string {
        const inRegion = jumpTo(offset);
        if (inRegion !== '' || inRange) return `${inRegion}cpu.ripLo = (r + ${offset}) | 0; ${exit()}`;
        return `s = r + ${offset}; if (s >= 0 && s <= 4294967295) cpu.ripLo = s | 0; else ${this.slow()} ${exit()}`;
      },
    };
    // The last flag record not yet known to be read, with the instructions since whose only
    // handler path would have to store it first if it turns out dead.
    let pending: { g: number; rec: FlagRecord; body: string; paths: number[] } | null = null;
    let branched = false;
    for (let k = 0; k < blk.count; k++, g++) {
      const i = blk.first + k;
      const h = store.handler[i];
      const f = HANDLER_FORMS[h];
      params.push(`h${g}`);
      handlers.push(HANDLERS[h]);
      ctx.i = i;
      ctx.k = k;
      ctx.g = g;
      ctx.next = blk.delta + store.start[i] + store.len[i] - blkStart;
      ctx.last = k === blk.count - 1;
      ctx.family = f?.exec ?? '';
      if (f !== undefined) ctx.form = f.form;
      const emit = f === undefined ? undefined : EMITTERS[f.exec];
      ctx.slows = 0;
      ctx.deferrable = false;
      branched = ctx.last && branchKind(store, i, bits) !== null;
      if (ctx.last && !branched) {
        // The run loop takes RIP from the vCPU after a block's last instruction, and handlers of
        // block-ending instructions read it. A translated branch sets it on each of its paths
        // (jump(), its exits, the handler path's own store).
        body.push(`cpu.ripLo = (r + ${ctx.next}) | 0;`);
      }
      let code = emit === undefined ? undefined : emit(ctx);
      if (code === undefined) {
        branched = false;
        ctx.family = '';
        code = ctx.slow();
        regs.clean();
      }
      const rec = flagRecordIn(code);
      const deferred = ctx.slows === 1 && ctx.deferrable;
      // Kept pending only while nothing can read the vCPU's flags: no handler but a deferred one,
      // no cond() or getCF(), no return on the inline path (each handler path has one return),
      // and no write to the flag locals outside a record.
      if ((ctx.slows > 0 && !deferred) || code.includes('cond(cpu') || code.includes('getCF(cpu') ||
        code.split('return ').length - 1 > ctx.slows || (rec === undefined && FLAG_LOCAL_WRITE.test(code))) pending = null;
      else if (deferred && pending !== null) pending.paths.push(g);
      if (rec !== undefined) {
        if (pending !== null && overwrites(rec, pending.rec)) {
          dead.add(pending.g);
          for (const p of pending.paths) storedFirst.set(p, pending.body);
        }
        pending = { g, rec, body: recordBody(code), paths: [] };
        code = code.replace(FLAG_OPEN, `/*F${g}<`);
      }
      body.push(code);
    }
    // A translated branch ends in its own exits; otherwise the fall-through continues or returns.
    if (!branched) {
      const last = blk.first + blk.count - 1;
      const fall = blk.delta + store.start[last] + store.len[last] - blkStart;
      const inRegion = edges[n].includes(fall) ? jumpTo(fall) : '';
      body.push(`${inRegion}${exit()}`);
    }
    ctx.flagsKnown = null;
    cases.push(region.length === 1 ? body.join('\n') : `case ${n}: {\n${body.join('\n')}\n}`);
  });
  let text = cases.join('\n');
  if (region.length > 1) text = `switch (blk) {\n${text}\n}`;
  text = text.replace(/\/\*PF(\d+)\*\//g, (_all, p: string) => storedFirst.get(Number(p)) ?? '');
  text = dropDeadRecords(text, dead).split(RegisterLocals.RELOAD).join(`${regs.reloadAll()}tR = T.read; tW = T.write;`);
  if (looping) text = `for (;;) {\n${text.split(RegisterLocals.FLUSH_ALL).join(regs.flushDirty())}\n}`;
  const source = [
    'return function translated(cpu, budget) {',
    'const L = cpu.lo, H = cpu.hi, r = cpu.ripLo >>> 0, rh = cpu.ripHi;',
    'const T = cpu.paging.tlb, fh = T.fastHost, view = cpu.mem.view, bytes = cpu.mem.bytes;',
    'const SBL = cpu.seg.baseLo, SBH = cpu.seg.baseHi;',
    `const fslot = (r >>> 12) & ${TLB_MASK}, ftag = (rh >>> 0) * 1048576 + (r >>> 12);`,
    'let tR = T.read, tW = T.write, blk = 0, ic = 0, hr = 0;',
    'let al = 0, ah = 0, s = 0, hp = 0, v = 0, vh = 0, nl = 0, nh = 0, ci = 0;',
    'let fd = 0, fdh = 0, fs = 0, fsh = 0, fr = 0, frh = 0;',
    regs.declare(),
    text,
    '};',
  ].join('\n');
  if (process.env.MMULAB_JIT_DUMP === '1') process.stderr.write(`${source}\n`);
  const factory = new Function(...params, source) as (...args: unknown[]) => CompiledBlock;
  return factory(getCF, cond, regionExit, blocks?.generations ?? NO_GENERATIONS, hints ?? NO_HINTS, missed, quietEvent, ...handlers);
}

/**
 * The chain check before continuing into a block `delta` bytes from the entry that is not on the
 * entry's page at its page distance: its linear address stays below the run loop's limit for a
 * block start (so the high half of RIP is unchanged), the fetch TLB still maps its page to the
 * host page it was translated from, and that page's decoded code was not dropped since.
 */
function chainCheck(delta: number, host: number, gen: number): string {
  const page = host >>> 12;
  return `(s = r + ${delta}) >= 0 && s < 0xffffe000 && T.fetch[(s >>> 12) & ${TLB_MASK}] === (rh >>> 0) * 1048576 + (s >>> 12) && ` +
    `fh[(s >>> 12) & ${TLB_MASK}] === ${page * 4096} && G[${page}] === ${gen}`;
}

/**
 * Marks the start of a handler path (followed by the instruction's position and `*\/`): the place
 * where a flag record dropped as dead on the inline path is stored, when this path is the only
 * way the instruction can reach a handler and the code before it leaves the flag locals as the
 * record left them (the compare of upstream vmexit's loop counter with memory overwrites the
 * increment's record on its TLB-hit path; a miss runs the handler, which must see the increment's flags).
 */
const PENDING_FLAGS = '/*PF';
/** An assignment to a flag local (fd, fs, fr, their high halves, ci). */
const FLAG_LOCAL_WRITE = /\b(?:fd|fs|fr|fdh|fsh|frh|ci)\s*(?:[-+*/%&|^]|<<|>>>?)?=(?!=)|\b(?:fd|fs|fr|fdh|fsh|frh|ci)\s*(?:\+\+|--)/;

/** The statements of the flag record in an instruction's code (between its markers). */
function recordBody(code: string): string {
  const start = code.indexOf('*/', code.indexOf(FLAG_OPEN)) + 2;
  return code.slice(start, code.indexOf(FLAG_CLOSE, start));
}

const NO_GENERATIONS = new Int32Array(0);
/** Hints recorded by code translated with no block map (tests) go nowhere anyone reads. */
const NO_HINTS = new Map<number, number>();

/**
 * What the run loop checks at a block boundary besides cpu.stop, for the translated code to check
 * after a handler ran: the page still maps where it did (its fetch tag in the TLB), 64-bit code,
 * no single-step, resume flag or breakpoint, and no interrupt shadow.
 */
const SAME_CONTEXT = `T.fetch[fslot] === ftag && cpu.codeBits === 64 && (cpu.flags & ${Flag.TF | Flag.RF}) === 0 && ` +
  '(cpu.drLo[7] & 0xff) === 0 && !cpu.interruptShadow';
