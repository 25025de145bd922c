/**
 * `--dirty-log SCHEDULE`: what the VMM's migration thread does with dirty logging, and when, in
 * modeled cycles (one per nanosecond). A comma-separated list of key=value:
 *
 *   start=T        enable KVM_MEM_LOG_DIRTY_PAGES at cycle T (required)
 *   every=N        a collection pass every N cycles after start ...
 *   passes=K       ... K of them (default 1)
 *   at=T1/T2/...   or the passes at these cycles (after start, increasing), instead of every
 *   stop=T         disable logging at T (default: right after the last pass; "never" keeps it on)
 *   slot=S         the memslot (default 0, all of RAM)
 *   protect=0|1|2  bitmap passes: 0 GET re-protects; 1 manual protect, GET then CLEAR of what GET
 *                  returned (default); 2 manual protect with KVM_DIRTY_LOG_INITIALLY_SET
 *   ring=E         use per-vCPU dirty rings of E entries (KVM_CAP_DIRTY_LOG_RING) instead of the
 *                  bitmap: a pass harvests every ring and calls KVM_RESET_DIRTY_RINGS
 *   range=GPA+N    also count each pass's dirty pages within N pages from GPA
 *
 * Numbers are decimal or 0x hexadecimal; k, M and G multiply by 10^3, 10^6, 10^9 (cycles).
 */
import { PAGE_SIZE, type Gpa, gpa as asGpa } from '../../emulator/arch/address.js';

export interface DirtyLogSchedule {
  readonly start: number;
  /** Pass times, increasing, all after start. */
  readonly passes: readonly number[];
  /** When logging is turned off; undefined: never. */
  readonly stop: number | undefined;
  readonly slot: number;
  readonly protect: 0 | 1 | 2;
  /** Ring entries per vCPU; 0: the bitmap. */
  readonly ring: number;
  readonly range: { readonly gpa: Gpa; readonly pages: number } | undefined;
}

const KEYS = ['start', 'every', 'passes', 'at', 'stop', 'slot', 'protect', 'ring', 'range'] as const;
type Key = typeof KEYS[number];

/** A schedule from its text, or a message saying what is wrong with it. */
export function parseDirtyLogSchedule(text: string): DirtyLogSchedule | string {
  const given = new Map<Key, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (!(KEYS as readonly string[]).includes(key)) return `unknown key "${key}" (keys: ${KEYS.join(', ')})`;
    if (eq < 0) return `${key} needs a value (${key}=...)`;
    if (given.has(key as Key)) return `${key} given twice`;
    given.set(key as Key, part.slice(eq + 1).trim());
  }
  const num = (key: Key, value: string | undefined, fallback?: number): number | string => {
    if (value === undefined) return fallback ?? `${key}= is required`;
    const n = parseNumber(value);
    return n === undefined ? `${key}: not a number: "${value}"` : n;
  };
  const start = num('start', given.get('start'));
  if (typeof start === 'string') return start;
  let passes: number[];
  if (given.has('at')) {
    if (given.has('every') || given.has('passes')) return 'give at= or every= with passes=, not both';
    passes = [];
    for (const t of given.get('at')!.split('/')) {
      const n = num('at', t);
      if (typeof n === 'string') return n;
      if (n <= (passes.length > 0 ? passes[passes.length - 1] : start)) return 'at=: pass times must increase, after start';
      passes.push(n);
    }
  } else {
    const every = num('every', given.get('every'));
    const count = num('passes', given.get('passes'), 1);
    if (typeof every === 'string') return every;
    if (typeof count === 'string') return count;
    if (every <= 0) return 'every= must be at least 1';
    if (count < 1 || count > 10000) return 'passes= must be 1-10000';
    passes = Array.from({ length: count }, (_, i) => start + (i + 1) * every);
  }
  const last = passes[passes.length - 1];
  let stop: number | undefined = last;
  const stopText = given.get('stop');
  if (stopText === 'never') stop = undefined;
  else if (stopText !== undefined) {
    const n = num('stop', stopText);
    if (typeof n === 'string') return n;
    if (n < last) return 'stop= must not come before the last pass';
    stop = n;
  }
  const slot = num('slot', given.get('slot'), 0);
  const protect = num('protect', given.get('protect'), 1);
  const ring = num('ring', given.get('ring'), 0);
  if (typeof slot === 'string') return slot;
  if (typeof protect === 'string') return protect;
  if (typeof ring === 'string') return ring;
  if (protect > 2) return 'protect= must be 0, 1 or 2';
  if (ring > 0 && given.has('protect')) return 'protect= is for the bitmap; a ring is reset, not cleared';
  let range: DirtyLogSchedule['range'];
  const rangeText = given.get('range');
  if (rangeText !== undefined) {
    const [gpaText, pagesText] = rangeText.split('+');
    const gpa = pagesText === undefined ? undefined : parseNumber(gpaText);
    const pages = pagesText === undefined ? undefined : parseNumber(pagesText);
    if (gpa === undefined || pages === undefined || gpa % PAGE_SIZE !== 0 || pages < 1) return `range=: expected GPA+PAGES with a 4 KiB-aligned GPA, got "${rangeText}"`;
    range = { gpa: asGpa(gpa), pages };
  }
  return { start, passes, stop, slot, protect: (ring > 0 ? 0 : protect) as 0 | 1 | 2, ring, range };
}

const SUFFIX: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9 };

function parseNumber(text: string): number | undefined {
  const m = /^(0x[0-9a-fA-F]+|\d+)([kMG]?)$/.exec(text.trim());
  if (m === null) return undefined;
  const n = Number(m[1]) * (m[2] === '' ? 1 : SUFFIX[m[2]]);
  return Number.isSafeInteger(n) ? n : undefined;
}
