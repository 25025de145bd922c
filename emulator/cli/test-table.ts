import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, UsageError, fileError } from './errors.js';
import { MMU_MODES, type MmuMode } from '../../vmm/machine.js';
import type { PcChipset } from '../machine/pc.js';
import { chipsetFromQemuWords } from './qemu-machine.js';

/**
 * The test table of `mmulab test` (kvm-unit-tests-port/unittests.json), the counterpart of
 * kvm-unit-tests' x86/unittests.cfg: which image to run, with which CPU model and command line,
 * and which verdict each MMU mode must give. Loading validates every field, so a typo in the
 * table is an error naming the entry and the field, not a silently different run.
 */

/** What a run may be expected to end in: the guest's verdict through its exit status. */
export type Expected = 'pass' | 'fail' | 'skip';
export const EXPECTED: readonly Expected[] = ['pass', 'fail', 'skip'];

export interface TableEntry {
  readonly name: string;
  /** Image file, relative to the images folder (build/kvm-unit-tests/). */
  readonly image: string;
  /** CPU model in QEMU -cpu syntax (default base, QEMU's qemu64). */
  readonly cpu: string;
  /** The guest's command line (QEMU -append). */
  readonly append: string;
  /** Verdict in every mode not listed in `modes`. */
  readonly expect: Expected;
  readonly modes: Readonly<Partial<Record<MmuMode, Expected>>>;
  readonly groups: readonly string[];
  /** The unittests.cfg section this entry follows, if any. */
  readonly upstream: string | undefined;
  /** Why the entry is the way it is (skips, per-mode differences). */
  readonly why: string | undefined;
  /** Guest RAM (default 128 MiB, QEMU's default). */
  readonly memMiB: number;
  /** Instruction limit of one run (the harness's timeout). */
  readonly maxInsns: number;
  /** vCPUs (upstream's `smp = N`; default 1). */
  readonly smp: number;
  /** QEMU machine and device options (upstream's qemu_params for them, e.g. `-M q35 -device edu`), as words. */
  readonly qemu?: readonly string[];
  /** The chipset those options give (default the `pc` machine). */
  readonly chipset?: PcChipset;
}

export interface TestTable {
  readonly path: string;
  readonly entries: readonly TableEntry[];
}

/** A malformed table: reported as a bad input file. */
export class TableError extends InputError {}

/**
 * The instruction limit of a run unless the entry sets one, the harness's timeout: the largest
 * entry of the default table needs about 0.4 million, so a run reaching this is stuck.
 */
export const DEFAULT_MAX_INSNS = 100_000_000;

const FIELDS = new Set(['name', 'image', 'cpu', 'append', 'expect', 'modes', 'groups', 'upstream', 'why', 'mem', 'maxInsns', 'smp', 'qemu']);

export function expectedIn(entry: TableEntry, mode: MmuMode): Expected {
  return entry.modes[mode] ?? entry.expect;
}

function str(where: string, field: string, v: unknown, fallback?: string): string {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string' || (fallback === undefined && v === '')) throw new TableError(`${where}: "${field}" must be a${fallback === undefined ? ' non-empty' : ''} string`);
  return v;
}

function expected(where: string, field: string, v: unknown): Expected {
  if (!(EXPECTED as readonly unknown[]).includes(v)) throw new TableError(`${where}: "${field}" must be one of ${EXPECTED.join(', ')}, got ${JSON.stringify(v)}`);
  return v as Expected;
}

function whole(where: string, field: string, v: unknown, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new TableError(`${where}: "${field}" must be a whole number from ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function entryOf(raw: unknown, index: number): TableEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TableError(`test ${index + 1}: not an object`);
  const r = raw as Record<string, unknown>;
  const name = str(`test ${index + 1}`, 'name', r.name);
  const where = `test "${name}"`;
  for (const key of Object.keys(r)) if (!FIELDS.has(key)) throw new TableError(`${where}: unknown field "${key}" (fields: ${[...FIELDS].join(', ')})`);
  const modes: Partial<Record<MmuMode, Expected>> = {};
  if (r.modes !== undefined) {
    if (typeof r.modes !== 'object' || r.modes === null || Array.isArray(r.modes)) throw new TableError(`${where}: "modes" must be an object`);
    for (const [mode, v] of Object.entries(r.modes)) {
      if (!(MMU_MODES as readonly string[]).includes(mode)) throw new TableError(`${where}: unknown mode "${mode}" in "modes" (modes: ${MMU_MODES.join(', ')})`);
      modes[mode as MmuMode] = expected(where, `modes.${mode}`, v);
    }
  }
  const qemu = str(where, 'qemu', r.qemu, '').split(' ').filter((w) => w !== '');
  const groups = r.groups ?? [];
  if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string' || g === '')) throw new TableError(`${where}: "groups" must be a list of names`);
  return {
    name,
    image: str(where, 'image', r.image),
    cpu: str(where, 'cpu', r.cpu, 'base'),
    append: str(where, 'append', r.append, ''),
    expect: r.expect === undefined ? 'pass' : expected(where, 'expect', r.expect),
    modes,
    groups: groups as string[],
    upstream: r.upstream === undefined ? undefined : str(where, 'upstream', r.upstream),
    why: r.why === undefined ? undefined : str(where, 'why', r.why),
    memMiB: whole(where, 'mem', r.mem, 128, 2),
    maxInsns: whole(where, 'maxInsns', r.maxInsns, DEFAULT_MAX_INSNS, 1),
    smp: whole(where, 'smp', r.smp, 1, 1),
    qemu,
    chipset: chipsetOf(where, qemu),
  };
}

function chipsetOf(where: string, words: readonly string[]): PcChipset {
  try {
    return chipsetFromQemuWords(words);
  } catch (err) {
    if (err instanceof UsageError) throw new TableError(`${where}: "qemu": ${err.message}`);
    throw err;
  }
}

/** Parses and validates a table's JSON text; `path` names it in errors. */
export function parseTable(text: string, path: string): TestTable {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TableError(`${path}: not JSON: ${(err as Error).message}`);
  }
  const tests = (json as { tests?: unknown } | null)?.tests;
  if (!Array.isArray(tests)) throw new TableError(`${path}: expected an object with a "tests" list`);
  const entries = tests.map(entryOf);
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.name)) throw new TableError(`${path}: test "${e.name}" is listed twice`);
    seen.add(e.name);
  }
  return { path, entries };
}

export function loadTable(path: string): TestTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw fileError('test table', path, err);
  }
  try {
    return parseTable(text, path);
  } catch (err) {
    if (err instanceof TableError) throw new TableError(err.message.startsWith(path) ? err.message : `${path}: ${err.message}`);
    throw err;
  }
}

/** Whether `name` (a test name, a group, or a pattern with * and ?) selects `entry`. */
function selects(name: string, entry: TableEntry): boolean {
  if (name === entry.name || entry.groups.includes(name)) return true;
  if (!/[*?]/.test(name)) return false;
  const re = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(entry.name);
}

/**
 * Entries in this group (upstream's unittests.cfg has the same group) run only when asked for by
 * name or by one of their groups: the long ones, such as the whole access matrix.
 */
export const NODEFAULT = 'nodefault';

const explicitOnly = (entry: TableEntry): boolean => entry.groups.includes(NODEFAULT);

/** Whether `name` selects `entry`, keeping nodefault entries to their names and groups. */
function picks(name: string, entry: TableEntry): boolean {
  if (explicitOnly(entry)) return name === entry.name || entry.groups.includes(name);
  return selects(name, entry);
}

/**
 * The entries the names select, in table order (without names, all but the nodefault ones);
 * UsageError for a name that selects none.
 */
export function selectEntries(table: TestTable, names: readonly string[]): TableEntry[] {
  if (names.length === 0) return table.entries.filter((e) => !explicitOnly(e));
  for (const name of names) {
    if (!table.entries.some((e) => picks(name, e))) {
      throw new UsageError(`no test or group "${name}" in ${table.path} (tests: ${table.entries.map((e) => e.name).join(', ')})`);
    }
  }
  return table.entries.filter((e) => names.some((n) => picks(n, e)));
}

/**
 * The repository file `relative` (e.g. kvm-unit-tests-port/unittests.json), found from this
 * module upwards, so the default table and images are found from dist/ and from the sources.
 */
export function repoPath(relative: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'kvm-unit-tests-port'))) return join(dir, relative);
    const up = dirname(dir);
    if (up === dir) return join(process.cwd(), relative);
    dir = up;
  }
}

export const DEFAULT_TABLE = 'kvm-unit-tests-port/unittests.json';
export const DEFAULT_IMAGES = 'build/kvm-unit-tests';
