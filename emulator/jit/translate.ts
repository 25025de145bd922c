import type { DecodedStore } from '../decode/store.js';
import type { CompiledBlock } from '../decode/block-compiler.js';
import { HANDLERS, HANDLER_FORMS, type Handler } from '../exec/registry.js';
import { cond, getCF } from '../exec/flags.js';
import type { InsnContext } from './context.js';
import { RegisterLocals } from './regs.js';
import { EMITTERS, KEEPS_FLAGS } from './emitters.js';
import { FLAG_OPEN, type FlagRecord, dropDeadRecords, flagRecordIn, overwrites } from './flags.js';

/**
 * The block translator: one decoded block becomes one JavaScript function, specialised at
 * translation time (see emitters.ts and memory.ts). Instructions without an emitter call their
 * interpreter handler with the exact interpreter state (fallback): registers stored back, RIP at
 * the next instruction.
 *
 * The function's contract is the call-threaded compiler's (decode/block-compiler.ts), so the run
 * loop treats both alike: it returns the position of the instruction after which cpu.stop was set
 * (a fault there means that instruction did not retire) or the block length, with every register
 * stored back and RIP set for the last instruction; after a stop in the middle the run loop
 * recomputes RIP from the record. Only a handler, a memory access off the TLB fast path (run by
 * the handler) or the end of the block can stop it, so only those places check cpu.stop.
 */
export function translateBlock(store: DecodedStore, first: number, count: number, bits: number): CompiledBlock {
  const loop = loopsToStart(store, first, count, bits);
  const regs = new RegisterLocals(loop);
  const handlers: Handler[] = [];
  const params: string[] = ['getCF', 'cond'];
  const body: string[] = [];
  const start = store.start[first];
  const ctx: { -readonly [K in keyof InsnContext]: InsnContext[K] } & { family: string; slows: number } = {
    d: store, i: 0, k: 0, next: 0, bits, form: undefined as unknown as InsnContext['form'], regs, last: false,
    flagsKnown: null as InsnContext['flagsKnown'],
    family: '',
    slows: 0,
    loop: false,
    slow(resync = ''): string {
      this.slows++;
      const call = `${regs.flush()}cpu.ripLo = (r + ${this.next}) | 0; h${this.k}(cpu, ${this.i}); ${RegisterLocals.RELOAD} ` +
        `if (cpu.stop !== 0) return ${this.k}; ${resync}`;
      if (!KEEPS_FLAGS.has(this.family) && resync === '') this.flagsKnown = null;
      return `{ ${call} }`;
    },
    guarded(pre: string, condition: string, inline: string, resync = ''): string {
      const slow = this.slow(resync);
      return `${pre} if (${condition}) { ${inline} } else ${slow}`;
    },
  };
  // Flag records a later record overwrote before anything could read the vCPU's flags: a handler
  // (fallback or slow path), an exit, cond(cpu) or getCF(cpu).
  const dead = new Set<number>();
  let pending: { k: number; rec: FlagRecord } | null = null;
  for (let k = 0; k < count; k++) {
    const i = first + k;
    const h = store.handler[i];
    const f = HANDLER_FORMS[h];
    params.push(`h${k}`);
    handlers.push(HANDLERS[h]);
    ctx.i = i;
    ctx.k = k;
    ctx.next = store.start[i] + store.len[i] - start;
    ctx.last = k === count - 1;
    ctx.family = f?.exec ?? '';
    if (f !== undefined) ctx.form = f.form;
    if (ctx.last) {
      // Handlers of block-ending instructions read RIP; a translated branch overwrites it.
      body.push(`cpu.ripLo = (r + ${ctx.next}) | 0;`);
    }
    const emit = f === undefined ? undefined : EMITTERS[f.exec];
    ctx.slows = 0;
    ctx.loop = loop && ctx.last;
    let code = emit === undefined ? undefined : emit(ctx);
    if (code === undefined) {
      ctx.family = '';
      code = ctx.slow();
      regs.clean();
    }
    if (ctx.slows > 0 || code.includes('cond(cpu') || code.includes('getCF(cpu')) pending = null;
    const rec = flagRecordIn(code);
    if (rec !== undefined) {
      if (pending !== null && overwrites(rec, pending.rec)) dead.add(pending.k);
      pending = { k, rec };
      code = code.replace(FLAG_OPEN, `/*F${k}<`);
    }
    body.push(code);
  }
  body.push(`${regs.flush()}return ${count};`);
  let text = dropDeadRecords(body.join('\n'), dead).split(RegisterLocals.RELOAD).join(`${regs.reloadAll()}tR = T.read; tW = T.write;`);
  if (loop) text = `for (;;) {\n${text.split(RegisterLocals.FLUSH_ALL).join(regs.flushDirty())}\n}`;
  const source = [
    'return function translated(cpu, budget) {',
    'const L = cpu.lo, H = cpu.hi, r = cpu.ripLo >>> 0, rh = cpu.ripHi;',
    'const T = cpu.paging.tlb, fh = T.fastHost, view = cpu.mem.view, bytes = cpu.mem.bytes;',
    'const SBL = cpu.seg.baseLo, SBH = cpu.seg.baseHi;',
    'let tR = T.read, tW = T.write;',
    'let al = 0, ah = 0, s = 0, hp = 0, v = 0, vh = 0, nl = 0, nh = 0, ci = 0;',
    'let fd = 0, fdh = 0, fs = 0, fsh = 0, fr = 0, frh = 0;',
    regs.declare(),
    text,
    '};',
  ].join('\n');
  if (process.env.MMULAB_JIT_DUMP === '1') process.stderr.write(`${source}\n`);
  const factory = new Function(...params, source) as (...args: unknown[]) => CompiledBlock;
  return factory(getCF, cond, ...handlers);
}

/**
 * Whether the block ends with a near relative JMP or Jcc in 64-bit code back to its own first
 * instruction. Such a block is translated as a loop: the taken branch starts the next iteration
 * inside the same call (registers stay in locals) while the run loop's budget allows a whole
 * iteration, counting each finished iteration in cpu.instructions as the run loop would.
 */
function loopsToStart(store: DecodedStore, first: number, count: number, bits: number): boolean {
  const last = first + count - 1;
  const f = HANDLER_FORMS[store.handler[last]];
  if (bits !== 64 || f === undefined || (f.exec !== 'jcc' && f.exec !== 'jmp-rel') || f.form.size !== 8) return false;
  return store.start[last] + store.len[last] - store.start[first] + store.imm[last] === 0;
}
