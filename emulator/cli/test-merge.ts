import { readFileSync } from 'node:fs';
import { InputError, fileError } from './errors.js';
import { MMU_MODES } from '../../vmm/machine.js';
import type { TestRun } from './test-runner.js';
import { planItems } from './test-jobs.js';
import { SHARD_FORMAT, SHARD_VERSION, type ShardDocument } from './test-shard.js';

/**
 * `mmulab test --merge FILE...`: the shard documents of one run (every I of N exactly once, the
 * same table, modes and settings) put back into that run: the items of the plan in order, so the
 * caller prints the same rows, details, summary and exit status as an unsharded run.
 */

export class MergeError extends InputError {}

function readShard(path: string): ShardDocument {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw fileError('shard result', path, err);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new MergeError(`${path}: not JSON (expected the output of mmulab test --shard I/N)`);
  }
  const d = doc as Partial<ShardDocument> | null;
  if (typeof d !== 'object' || d === null || d.format !== SHARD_FORMAT) throw new MergeError(`${path}: not a shard result of mmulab test --shard`);
  if (d.version !== SHARD_VERSION) throw new MergeError(`${path}: shard format version ${String(d.version)}, this mmulab reads ${SHARD_VERSION}`);
  if (!Number.isSafeInteger(d.shard) || !Number.isSafeInteger(d.shards) || !Number.isSafeInteger(d.items) ||
    !Array.isArray(d.runs) || !Array.isArray(d.entries) || !Array.isArray(d.modes) || typeof d.table !== 'string' ||
    typeof d.settings !== 'object' || d.settings === null || !d.modes.every((m) => (MMU_MODES as readonly unknown[]).includes(m))) {
    throw new MergeError(`${path}: malformed shard result`);
  }
  return d as ShardDocument;
}

export interface Merged {
  readonly first: ShardDocument;
  /** Results by plan index. */
  readonly results: readonly TestRun[];
}

export function mergeShards(paths: readonly string[]): Merged {
  if (paths.length === 0) throw new MergeError('--merge: no shard results given');
  const docs = paths.map(readShard);
  const first = docs[0];
  const same = (d: ShardDocument): string => JSON.stringify([d.shards, d.table, d.settings, d.modes, d.entries, d.items]);
  const seen = new Map<number, string>();
  docs.forEach((d, k) => {
    if (same(d) !== same(first)) throw new MergeError(`${paths[k]}: not from the same run as ${paths[0]} (table, tests, modes, settings or shard count differ)`);
    const before = seen.get(d.shard);
    if (before !== undefined) throw new MergeError(`${paths[k]}: shard ${d.shard}/${d.shards} again (also ${before})`);
    seen.set(d.shard, paths[k]);
  });
  const missing = Array.from({ length: first.shards }, (_, i) => i + 1).filter((i) => !seen.has(i));
  if (missing.length > 0) throw new MergeError(`--merge: shard${missing.length === 1 ? '' : 's'} ${missing.map((i) => `${i}/${first.shards}`).join(', ')} missing`);
  const items = planItems(first.entries, first.modes, first.shards);
  if (items.length !== first.items) throw new MergeError(`--merge: the shards were planned by another mmulab (${first.items} items, this one plans ${items.length})`);
  const results = new Array<TestRun | undefined>(items.length);
  for (const d of docs) {
    for (const r of d.runs) {
      if (!Number.isSafeInteger(r.index) || r.index < 0 || r.index >= items.length || results[r.index] !== undefined) {
        throw new MergeError(`shard ${d.shard}/${d.shards}: bad or repeated item ${String(r.index)}`);
      }
      results[r.index] = r.run;
    }
  }
  const lost = results.findIndex((r) => r === undefined);
  if (lost >= 0) throw new MergeError(`--merge: item ${lost} of the plan is in no shard`);
  return { first, results: results as TestRun[] };
}
