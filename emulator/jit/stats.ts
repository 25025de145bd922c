import type { DecodedStore } from '../decode/store.js';

/** What the report reads of the code cache (code-cache.ts imports this file, so not its type). */
interface BlockTable {
  readonly blockCount: ArrayLike<number>;
  readonly blockFirst: ArrayLike<number>;
  readonly blockHost: ArrayLike<number>;
  readonly store: DecodedStore;
}
import { HANDLER_FORMS } from '../exec/registry.js';

/**
 * Debug counters of the run loop's blocks and the translator, printed to stderr at exit when
 * MMULAB_JIT_STATS=1: how many block entries ran compiled or translated code, where translated
 * code stopped early (by the family of the instruction that set cpu.stop), translations and
 * page invalidations, and the most entered blocks with their families. Every call sits behind
 * `JIT_STATS`, a constant, so the counters cost one predictable branch when off.
 */
export const JIT_STATS = process.env.MMULAB_JIT_STATS === '1';

const stats = {
  entries: 0,
  interpreted: 0,
  compiledCalls: 0,
  compiledInsns: 0,
  compiledEarly: 0,
  translations: 0,
  retranslations: 0,
  invalidations: 0,
  stopsBy: new Map<string, number>(),
  invalidatedPages: new Map<number, number>(),
  translatedAt: new Map<number, number>(),
  perBlock: new Map<number, number>(),
  code: null as BlockTable | null,
};

/** A pass of the run loop over block b; `interpreted` instructions retired by the interpreter. */
export function noteEntry(code: BlockTable, b: number, interpreted: number): void {
  stats.entries++;
  stats.interpreted += interpreted;
  stats.perBlock.set(b, (stats.perBlock.get(b) ?? 0) + 1);
  stats.code = code;
}

/** A call of compiled code that retired `retired` instructions and stopped at record i (< end: early). */
export function noteCompiled(d: DecodedStore, i: number, end: number, retired: number): void {
  stats.compiledCalls++;
  stats.compiledInsns += retired;
  if (i < end) {
    stats.compiledEarly++;
    const f = HANDLER_FORMS[d.handler[i]]?.exec ?? `handler ${d.handler[i]}`;
    stats.stopsBy.set(f, (stats.stopsBy.get(f) ?? 0) + 1);
  }
}

/** A translation of the block at host address `host` for code size `bits`. */
export function noteTranslation(host: number, bits: number): void {
  stats.translations++;
  const key = host * 4 + bits / 16;
  const n = stats.translatedAt.get(key) ?? 0;
  if (n > 0) stats.retranslations++;
  stats.translatedAt.set(key, n + 1);
}

export function noteInvalidation(page: number): void {
  stats.invalidations++;
  stats.invalidatedPages.set(page, (stats.invalidatedPages.get(page) ?? 0) + 1);
}

function top<K>(m: Map<K, number>, n: number): Array<[K, number]> {
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
}

if (JIT_STATS) {
  process.on('exit', () => {
    const s = stats;
    const lines = [
      `entries ${s.entries}, interpreted instructions ${s.interpreted}`,
      `compiled calls ${s.compiledCalls} (${s.compiledInsns} instructions, ${s.compiledEarly} stopped early)`,
      `translations ${s.translations} (again after an invalidation: ${s.retranslations}), page invalidations ${s.invalidations}`,
      `early stops by family: ${top(s.stopsBy, 12).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      `most invalidated pages: ${top(s.invalidatedPages, 8).map(([k, v]) => `0x${k.toString(16)} ${v}`).join(', ')}`,
    ];
    const c = s.code;
    if (c !== null) {
      for (const [b, n] of top(s.perBlock, 20)) {
        const families: string[] = [];
        for (let k = 0; k < c.blockCount[b]; k++) families.push(HANDLER_FORMS[c.store.handler[c.blockFirst[b] + k]]?.exec ?? '?');
        lines.push(`block at host 0x${c.blockHost[b].toString(16)}: ${n} entries, ${families.join(' ')}`);
      }
    }
    process.stderr.write(lines.map((l) => `jit-stats: ${l}\n`).join(''));
  });
}
