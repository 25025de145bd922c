import type { MmuMode } from '../../vmm/machine.js';
import type { KvmOptions } from './kvm-args.js';
import { UsageError } from './errors.js';
import type { TableEntry } from './test-table.js';
import type { TestRun } from './test-runner.js';
import type { WorkItem } from './test-jobs.js';

/**
 * `mmulab test --shard I/N`: one of N deterministic pieces of a table run, for a CI matrix or a
 * batch scheduler's array job. The plan (test-jobs.ts, access-matrix entries split in N parts) is
 * the same in every shard; shard I runs the items whose plan index is I-1 modulo N, so each shard
 * gets one part of every split entry. It prints a shard document (JSON) that `mmulab test
 * --merge` combines with the others into the run's table, summary and exit status.
 */

export const SHARD_FORMAT = 'mmulab-test-shard';
export const SHARD_VERSION = 1;

export interface Shard { readonly index: number; readonly count: number }

/** "I/N" with 1 <= I <= N. */
export function parseShard(value: unknown): Shard | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new UsageError('--shard given more than once');
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(String(value));
  const index = m === null ? NaN : Number(m[1]);
  const count = m === null ? NaN : Number(m[2]);
  if (!Number.isSafeInteger(count) || count < 1 || count > 10_000 || !Number.isSafeInteger(index) || index < 1 || index > count) {
    throw new UsageError(`--shard: expected I/N with 1 <= I <= N <= 10000, e.g. 2/8, got "${String(value)}"`);
  }
  return { index, count };
}

export function inShard(item: WorkItem, shard: Shard): boolean {
  return item.index % shard.count === shard.index - 1;
}

/** Everything that decides the plan and the verdicts; shards merge only when theirs are equal. */
export interface ShardSettings extends KvmOptions {
  readonly maxInsns: number | null;
}

export interface ShardDocument {
  readonly format: typeof SHARD_FORMAT;
  readonly version: number;
  readonly shard: number;
  readonly shards: number;
  /** The table as the header names it. */
  readonly table: string;
  readonly settings: ShardSettings;
  readonly modes: readonly MmuMode[];
  readonly entries: readonly TableEntry[];
  /** Items in the whole plan, over every shard. */
  readonly items: number;
  readonly runs: readonly { readonly index: number; readonly run: TestRun }[];
}

export function shardSettings(o: KvmOptions & { readonly maxInsns: number | undefined }): ShardSettings {
  return { vendor: o.vendor, preset: o.preset, knobs: o.knobs, audit: o.audit, auditEvery: o.auditEvery, backing: o.backing, maxInsns: o.maxInsns ?? null };
}

export function shardDocument(shard: Shard, table: string, settings: ShardSettings, modes: readonly MmuMode[],
  entries: readonly TableEntry[], items: number, runs: readonly { index: number; run: TestRun }[]): string {
  const doc: ShardDocument = { format: SHARD_FORMAT, version: SHARD_VERSION, shard: shard.index, shards: shard.count, table, settings, modes, entries, items, runs };
  return JSON.stringify(doc) + '\n';
}
