import type { Argv } from 'yargs';
import { join, resolve } from 'node:path';
import type { Command } from './command.js';
import { EXIT_STATUS_HELP } from './command.js';
import type { TestOptions } from './test-options.js';
import { flag, optionalString, wholeNumber } from './values.js';
import { writeOut } from './output.js';
import { ExitStatus } from './exit-status.js';
import { KVM_VALUE_OPTIONS, kvmBuilder, kvmOptions, mmuModeList } from './kvm-args.js';
import { cpuSpec, maxInsns } from './machine-args.js';
import { DEFAULT_IMAGES, DEFAULT_TABLE, TableError, type TableEntry, expectedIn, loadTable, repoPath, selectEntries } from './test-table.js';
import { type TestRun, runEntry } from './test-runner.js';
import { TestReport, summary, testJson, unexpectedDetails } from './test-report.js';
import { UsageError } from './errors.js';
import { buildNotice, ensureImages, shortPath } from './image-build.js';
import type { MmuMode } from '../../vmm/machine.js';
import { runUpstream } from './upstream-command.js';
import { timeoutOption } from './upstream-cfg.js';
import { RowCollector, type WorkItem, planItems, runInWorkers, runItem } from './test-jobs.js';
import { type Shard, inShard, parseShard, shardDocument, shardSettings } from './test-shard.js';
import { mergeShards } from './test-merge.js';
import { applyTranslatorOption, translatorBuilder } from './translator-args.js';
import { availableParallelism } from 'node:os';

export type { TestOptions } from './test-options.js';

const VALUE_OPTIONS = ['mmu', 'table', 'images', 'max-insns', 'timeout', 'jobs', 'shard', 'merge', 'translator', ...KVM_VALUE_OPTIONS] as const;

function builder(y: Argv): Argv {
  const usage = 'Usage: mmulab test [NAME...] [options]\n\nRun the ported kvm-unit-tests (a test, group or pattern such as vmexit_*; all by default) in\nevery MMU mode and check each verdict against the test table.';
  return translatorBuilder(kvmBuilder(y.usage(usage)
    .positional('names', { type: 'string', array: true, describe: 'tests, groups or patterns (* and ?) to run' })
    .option('mmu', { type: 'string', requiresArg: true, describe: 'comma-separated MMU modes', default: 'bare,shadow,legacy-tdp,tdp' })
    .option('table', { type: 'string', requiresArg: true, describe: 'the test table (JSON)', default: DEFAULT_TABLE })
    .option('images', { type: 'string', requiresArg: true, describe: 'folder of the images the table names', default: DEFAULT_IMAGES }))
    .option('max-insns', { requiresArg: true, describe: 'instruction limit of each run', defaultDescription: 'the table\'s, 1e8' })
    .option('upstream', { type: 'string', requiresArg: true, describe: 'run upstream kvm-unit-tests\' DIR/x86/unittests.cfg (a tree built with ./configure --arch=x86_64 && make) through mmulab qemu instead' })
    .option('timeout', { type: 'string', requiresArg: true, describe: 'with --upstream: CPU limit of every run (90, 90s, 10m, 2h), in place of each entry\'s timeout', defaultDescription: 'the entry\'s, 90 s' })
    .option('list', { type: 'boolean', describe: 'list the selected tests and their expected verdicts instead of running them' })
    .option('show-output', { type: 'boolean', describe: 'show the whole guest output of unexpected runs (default: their FAIL lines); with --upstream, of every run' })
    .option('json', { type: 'boolean', describe: 'print the results as one JSON object on stdout instead of the table' })
    .option('jobs', { requiresArg: true, describe: 'run tests (and parts of the access matrix) in N worker threads; output as with 1', default: 1 })
    .option('shard', { type: 'string', requiresArg: true, describe: 'run shard I of N (I/N) and print its results as JSON for --merge' })
    .option('merge', { type: 'string', array: true, requiresArg: true, describe: 'combine the JSON of every --shard I/N of one run into its table, summary and exit status' })
    ).epilogue(`${EXIT_STATUS_HELP} mmulab test exits with 0 when every run gives the expected verdict, else 20.`);
}

/** A path option: as given when set, else the repository's default. */
function pathOption(name: string, value: unknown, fallback: string): string {
  const given = optionalString(name, value);
  return given === undefined || given === fallback ? repoPath(fallback) : resolve(given);
}

function options(argv: Record<string, unknown>): TestOptions {
  const names = ((argv.names as unknown[] | undefined) ?? []).map(String).filter((n) => n !== '');
  const merge = ((argv.merge as unknown[] | undefined) ?? []).map(String);
  if (merge.length > 0 && (names.length > 0 || argv.shard !== undefined || flag(argv.list))) {
    throw new UsageError('--merge takes shard results only: no test names, --shard or --list with it');
  }
  applyTranslatorOption(argv);
  const upstream = optionalString('upstream', argv.upstream);
  // The port's table bounds a run by instructions (--max-insns), not CPU time.
  if (argv.timeout !== undefined && upstream === undefined) throw new UsageError('--timeout applies to --upstream runs; the port\'s table limits instructions (--max-insns)');
  return {
    ...kvmOptions(argv),
    upstream,
    names,
    modes: mmuModeList(argv.mmu),
    table: pathOption('table', argv.table, DEFAULT_TABLE),
    images: pathOption('images', argv.images, DEFAULT_IMAGES),
    maxInsns: maxInsns(argv['max-insns']),
    timeoutMs: timeoutOption(argv.timeout),
    list: flag(argv.list),
    json: flag(argv.json),
    showOutput: flag(argv['show-output']),
    jobs: wholeNumber('jobs', argv.jobs ?? 1, 1, Math.max(64, availableParallelism())),
    shard: parseShard(argv.shard),
    merge,
  };
}

/** A CPU model the table gives must parse; checked before anything runs. */
function checkCpuModels(entries: readonly TableEntry[], table: string): void {
  for (const e of entries) {
    try {
      cpuSpec(e.cpu);
    } catch (err) {
      if (err instanceof UsageError) throw new TableError(`${table}: test "${e.name}": ${err.message.replace(/^--cpu: /, 'cpu: ')}`);
      throw err;
    }
  }
}

function listing(entries: readonly TableEntry[], modes: readonly MmuMode[]): string {
  const lines: string[] = [];
  for (const e of entries) {
    const expect = modes.map((m) => `${m} ${expectedIn(e, m).toUpperCase()}`).join(', ');
    lines.push(`${e.name}: ${e.image} --cpu ${e.cpu}${e.append ? ` --append "${e.append}"` : ''}`);
    lines.push(`    expected: ${expect}${e.upstream ? `; upstream: ${e.upstream}` : ''}`);
    if (e.why) lines.push(`    ${e.why}`);
  }
  return lines.join('\n') + '\n';
}

async function execute(o: TestOptions): Promise<number> {
  if (o.merge.length > 0) return executeMerge(o);
  const table = loadTable(o.table);
  const entries = selectEntries(table, o.names);
  checkCpuModels(entries, o.table);
  if (o.list) {
    writeOut(Buffer.from(listing(entries, o.modes)));
    return 0;
  }
  // Missing images of this checkout are built (or named, with the command that builds them) once
  // here, rather than reported by every run.
  ensureImages([...new Set(entries.map((e) => join(o.images, e.image)))], buildNotice(o.json || o.shard !== undefined));
  const settings = { ...o, imagesDir: o.images };
  if (o.shard !== undefined) return executeShard(o, o.shard, entries);
  const report = new TestReport(entries, o.modes);
  if (!o.json) writeOut(Buffer.from(report.header(shortPath(o.table), o)));
  const runs: TestRun[] = [];
  const emit = (entry: number, row: TestRun[]): void => {
    runs.push(...row);
    if (!o.json) writeOut(Buffer.from(report.row(entries[entry].name, row)));
  };
  if (o.jobs > 1) {
    // Access-matrix entries run in as many parts as there are workers; rows print in table order.
    const items = planItems(entries, o.modes, o.jobs);
    const rows = new RowCollector(items, entries.length, emit);
    await runInWorkers(items, entries, o.modes, settings, o.jobs, (item, run) => { rows.add(item, run); });
  } else {
    entries.forEach((entry, k) => emit(k, o.modes.map((mode) => runEntry(entry, mode, settings))));
  }
  return finish(o, o.table, o.modes, runs);
}

/** The end of a run, sharded or not: JSON, or the unexpected runs and the summary; the exit status. */
function finish(o: TestOptions, tablePath: string, modes: readonly MmuMode[], runs: readonly TestRun[]): number {
  if (o.json) writeOut(Buffer.from(testJson(tablePath, o, modes, runs)));
  else writeOut(Buffer.from(unexpectedDetails(runs, o.showOutput) + summary(runs)));
  return runs.some((r) => r.unexpected) ? ExitStatus.TESTS_UNEXPECTED : 0;
}

/** --shard I/N: this shard's items (access-matrix entries in N parts), printed as a shard document. */
async function executeShard(o: TestOptions, shard: Shard, entries: readonly TableEntry[]): Promise<number> {
  const settings = { ...o, imagesDir: o.images };
  const plan = planItems(entries, o.modes, shard.count);
  const mine = plan.filter((it) => inShard(it, shard));
  const runs: { index: number; run: TestRun }[] = [];
  const keep = (item: WorkItem, run: TestRun): void => { runs.push({ index: item.index, run }); };
  if (o.jobs > 1) await runInWorkers(mine, entries, o.modes, settings, o.jobs, keep);
  else for (const item of mine) keep(item, runItem(item, entries, o.modes, settings));
  runs.sort((a, b) => a.index - b.index);
  writeOut(Buffer.from(shardDocument(shard, o.table, shardSettings(o), o.modes, entries, plan.length, runs)));
  // A shard's own status: whether any of its runs (or parts) was unexpected; --merge decides the run's.
  return runs.some((r) => r.run.unexpected) ? ExitStatus.TESTS_UNEXPECTED : 0;
}

/** --merge FILE...: the shards' results printed as the unsharded run would print them. */
function executeMerge(o: TestOptions): number {
  const { first, results } = mergeShards(o.merge);
  const s = first.settings;
  const shown: TestOptions = { ...o, ...s, maxInsns: s.maxInsns ?? undefined, modes: first.modes };
  const report = new TestReport(first.entries, first.modes);
  if (!o.json) writeOut(Buffer.from(report.header(shortPath(first.table), shown)));
  const runs: TestRun[] = [];
  const items = planItems(first.entries, first.modes, first.shards);
  const rows = new RowCollector(items, first.entries.length, (entry, row) => {
    runs.push(...row);
    if (!o.json) writeOut(Buffer.from(report.row(first.entries[entry].name, row)));
  });
  items.forEach((it) => rows.add(it, results[it.index]));
  return finish(shown, first.table, first.modes, runs);
}

export const TEST_COMMAND: Command<TestOptions> = {
  name: 'test',
  spec: 'test [names..]',
  usage: 'mmulab test [NAME...] [options]',
  describe: 'run the ported kvm-unit-tests in every MMU mode and check each verdict against the test table',
  valueOptions: [...VALUE_OPTIONS, 'upstream'],
  builder,
  options,
  execute: (o) => (o.upstream !== undefined ? runUpstream({ ...o, upstream: o.upstream }) : execute(o)),
  json: (o) => o.json,
};
