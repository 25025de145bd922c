import { Worker } from 'node:worker_threads';
import type { MmuMode } from '../../vmm/machine.js';
import type { TableEntry } from './test-table.js';
import { type RunSettings, type TestRun, type Verdict, runEntry } from './test-runner.js';

/**
 * The work of `mmulab test` as a list of items, so it can be run by several worker threads
 * (--jobs) or several processes (--shard), and put back together in the table's order.
 *
 * An item is one table entry in one MMU mode, or one part of it: the access-matrix guests take a
 * stride and an offset (kvm-unit-tests-port/access/access.c), so an entry running them is split
 * into parts that each run every P-th of its cases, the special cases in part 0 only. The parts'
 * verdicts combine into the entry's (combineParts); the cases are independent, so the combined
 * verdict is the one the whole entry gives.
 */

export interface WorkItem {
  /** Position in the plan: the order a serial run would take. */
  readonly index: number;
  /** Position of the entry in the selected entries, and of the mode in the modes asked for. */
  readonly entry: number;
  readonly mode: number;
  readonly part: number;
  readonly parts: number;
  /** The guest command line of this part (the entry's own when it is not split). */
  readonly append: string;
}

/**
 * Which entries run the access matrix and may be split: by image, as the port builds them. A
 * command line naming one case, or only counting, is left whole.
 */
const SPLITTABLE_IMAGES = /^access(-32)?\.flat$/;
const WHOLE_ONLY = /(^|\s)(case=|count(\s|$))/;

function numberArg(append: string, name: string): number | undefined {
  const m = new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(append);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** How many parts an entry runs in when `parts` are wanted: 1 unless it runs the access matrix. */
export function partsOf(entry: TableEntry, parts: number): number {
  if (parts <= 1 || !SPLITTABLE_IMAGES.test(entry.image) || WHOLE_ONLY.test(entry.append)) return 1;
  // stride and offset must be plain numbers for the split to be exact; anything else runs whole.
  for (const name of ['stride', 'offset']) {
    if (new RegExp(`(^|\\s)${name}=`).test(entry.append) && numberArg(entry.append, name) === undefined) return 1;
  }
  return parts;
}

/**
 * Part `part` of `parts` of an access-matrix command line: cases c with c = offset (mod stride)
 * become parts[part] = the cases with c = offset + part * stride (mod stride * parts).
 */
export function partAppend(append: string, part: number, parts: number): string {
  if (parts === 1) return append;
  const stride = numberArg(append, 'stride') ?? 1;
  const offset = numberArg(append, 'offset') ?? 0;
  const rest = append.split(/\s+/).filter((a) => a !== '' && !/^(stride|offset)=/.test(a));
  rest.push(`stride=${stride * parts}`, `offset=${(offset % stride) + part * stride}`);
  if (part > 0 && !rest.includes('nospecial')) rest.push('nospecial');
  return rest.join(' ');
}

/** Every item of a run of `entries` in `modes`, access-matrix entries in `parts` parts. */
export function planItems(entries: readonly TableEntry[], modes: readonly MmuMode[], parts: number): WorkItem[] {
  const items: WorkItem[] = [];
  entries.forEach((e, entry) => {
    const n = partsOf(e, parts);
    modes.forEach((_m, mode) => {
      for (let part = 0; part < n; part++) {
        items.push({ index: items.length, entry, mode, part, parts: n, append: partAppend(e.append, part, n) });
      }
    });
  });
  return items;
}

export function runItem(item: WorkItem, entries: readonly TableEntry[], modes: readonly MmuMode[], s: RunSettings): TestRun {
  const e = entries[item.entry];
  return runEntry(item.parts === 1 ? e : { ...e, append: item.append }, modes[item.mode], s);
}

/** Verdict of a split entry: an error or failure in any part decides; PASS needs one PASS. */
const PART_ORDER: readonly Verdict[] = ['ERROR', 'FAIL', 'PASS', 'SKIP'];

/** One entry-in-a-mode run from the runs of its parts (in part order). */
export function combineParts(parts: readonly TestRun[]): TestRun {
  if (parts.length === 1) return parts[0];
  const decider = PART_ORDER.map((v) => parts.find((r) => r.verdict === v)).find((r) => r !== undefined)!;
  const violations = parts.flatMap((r) => r.violations);
  return {
    ...decider,
    detail: `${decider.detail} (part ${parts.indexOf(decider) + 1} of ${parts.length})`,
    output: parts.map((r) => r.output).join(''),
    instructions: parts.reduce((a, r) => a + r.instructions, 0),
    wallMs: parts.reduce((a, r) => a + r.wallMs, 0),
    violations,
    unexpected: decider.verdict !== decider.expected.toUpperCase() || violations.length > 0,
  };
}

/**
 * Groups finished items into rows: for each entry in order, its runs per mode (parts combined).
 * `done(k)` says whether item k has finished; rows are handed to `emit` in the table's order as
 * soon as every item of them is done.
 */
export class RowCollector {
  private next = 0;
  private readonly results: (TestRun | undefined)[];
  private readonly byEntry: WorkItem[][];

  constructor(items: readonly WorkItem[], entryCount: number, private readonly emit: (entry: number, row: TestRun[]) => void) {
    this.results = new Array<TestRun | undefined>(items.length);
    this.byEntry = Array.from({ length: entryCount }, () => []);
    for (const it of items) this.byEntry[it.entry].push(it);
  }

  add(item: WorkItem, run: TestRun): void {
    this.results[item.index] = run;
    while (this.next < this.byEntry.length && this.byEntry[this.next].every((it) => this.results[it.index] !== undefined)) {
      const its = this.byEntry[this.next];
      const modes = [...new Set(its.map((it) => it.mode))];
      this.emit(this.next, modes.map((m) => combineParts(its.filter((it) => it.mode === m).map((it) => this.results[it.index]!))));
      this.next++;
    }
  }
}

/** What the main thread sends a worker, and what comes back. */
export interface JobRequest {
  readonly item: WorkItem;
  readonly entries: readonly TableEntry[];
  readonly modes: readonly MmuMode[];
  readonly settings: RunSettings;
}
export interface JobResult { readonly index: number; readonly run: TestRun }

/**
 * Runs the items on `jobs` worker threads, one machine at a time each. Items go out in plan
 * order, so the first rows can print early; `onRun` sees each result as it arrives.
 */
export async function runInWorkers(items: readonly WorkItem[], entries: readonly TableEntry[], modes: readonly MmuMode[],
  settings: RunSettings, jobs: number, onRun: (item: WorkItem, run: TestRun) => void): Promise<void> {
  let next = 0;
  // A result names its item by plan index; under --shard the items are only part of the plan.
  const byIndex = new Map(items.map((it) => [it.index, it]));
  const url = new URL('./test-jobs-worker.js', import.meta.url);
  const one = (): Promise<void> => new Promise((resolve, reject) => {
    const w = new Worker(url);
    const send = (): void => {
      if (next >= items.length) { void w.terminate().then(() => resolve()); return; }
      const item = items[next++];
      w.postMessage({ item, entries, modes, settings } satisfies JobRequest);
    };
    w.on('message', (m: JobResult) => { onRun(byIndex.get(m.index)!, m.run); send(); });
    w.on('error', reject);
    send();
  });
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, one));
}
