import type { Argv } from 'yargs';
import { join, resolve } from 'node:path';
import type { Command } from './command.js';
import { EXIT_STATUS_HELP } from './command.js';
import { flag, optionalString } from './values.js';
import { writeOut } from './output.js';
import { ExitStatus } from './exit-status.js';
import { KVM_VALUE_OPTIONS, type KvmOptions, kvmBuilder, kvmOptions, mmuModeList } from './kvm-args.js';
import { cpuSpec, maxInsns } from './machine-args.js';
import { DEFAULT_IMAGES, DEFAULT_TABLE, TableError, type TableEntry, expectedIn, loadTable, repoPath, selectEntries } from './test-table.js';
import { type TestRun, runEntry } from './test-runner.js';
import { TestReport, summary, testJson, unexpectedDetails } from './test-report.js';
import { UsageError } from './errors.js';
import { buildNotice, ensureImages, shortPath } from './image-build.js';
import type { MmuMode } from '../../vmm/machine.js';
import { runUpstream } from './upstream-command.js';

/**
 * `mmulab test [NAME...]`: the ported kvm-unit-tests, each entry of the test table in each MMU
 * mode asked for, one verdict per run and a summary; exit status 0 when every run gave the
 * verdict the table expects for its mode (and, with --audit, broke none of KVM's invariants),
 * else TESTS_UNEXPECTED.
 */
export interface TestOptions extends KvmOptions {
  readonly names: readonly string[];
  /** A kvm-unit-tests tree whose x86/unittests.cfg runs instead of the port's table (upstream-command.ts). */
  readonly upstream: string | undefined;
  readonly modes: readonly MmuMode[];
  readonly table: string;
  readonly images: string;
  readonly maxInsns: number | undefined;
  readonly list: boolean;
  readonly json: boolean;
  readonly showOutput: boolean;
}

const VALUE_OPTIONS = ['mmu', 'table', 'images', 'max-insns', ...KVM_VALUE_OPTIONS] as const;

function builder(y: Argv): Argv {
  const usage = 'Usage: mmulab test [NAME...] [options]\n\nRun the ported kvm-unit-tests (a test, group or pattern such as vmexit_*; all by default) in\nevery MMU mode and check each verdict against the test table.';
  return kvmBuilder(y.usage(usage)
    .positional('names', { type: 'string', array: true, describe: 'tests, groups or patterns (* and ?) to run' })
    .option('mmu', { type: 'string', requiresArg: true, describe: 'comma-separated MMU modes', default: 'bare,shadow,legacy-tdp,tdp' })
    .option('table', { type: 'string', requiresArg: true, describe: 'the test table (JSON)', default: DEFAULT_TABLE })
    .option('images', { type: 'string', requiresArg: true, describe: 'folder of the images the table names', default: DEFAULT_IMAGES }))
    .option('max-insns', { requiresArg: true, describe: 'instruction limit of each run', defaultDescription: 'the table\'s, 1e8' })
    .option('upstream', { type: 'string', requiresArg: true, describe: 'run upstream kvm-unit-tests\' DIR/x86/unittests.cfg (a tree built with ./configure --arch=x86_64 && make) through mmulab qemu instead' })
    .option('list', { type: 'boolean', describe: 'list the selected tests and their expected verdicts instead of running them' })
    .option('show-output', { type: 'boolean', describe: 'show the whole guest output of unexpected runs (default: their FAIL lines)' })
    .option('json', { type: 'boolean', describe: 'print the results as one JSON object on stdout instead of the table' })
    .epilogue(`${EXIT_STATUS_HELP} mmulab test exits with 0 when every run gives the expected verdict, else 20.`);
}

/** A path option: as given when set, else the repository's default. */
function pathOption(name: string, value: unknown, fallback: string): string {
  const given = optionalString(name, value);
  return given === undefined || given === fallback ? repoPath(fallback) : resolve(given);
}

function options(argv: Record<string, unknown>): TestOptions {
  const names = ((argv.names as unknown[] | undefined) ?? []).map(String).filter((n) => n !== '');
  return {
    ...kvmOptions(argv),
    upstream: optionalString('upstream', argv.upstream),
    names,
    modes: mmuModeList(argv.mmu),
    table: pathOption('table', argv.table, DEFAULT_TABLE),
    images: pathOption('images', argv.images, DEFAULT_IMAGES),
    maxInsns: maxInsns(argv['max-insns']),
    list: flag(argv.list),
    json: flag(argv.json),
    showOutput: flag(argv['show-output']),
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
  const table = loadTable(o.table);
  const entries = selectEntries(table, o.names);
  checkCpuModels(entries, o.table);
  if (o.list) {
    writeOut(Buffer.from(listing(entries, o.modes)));
    return 0;
  }
  // Missing images of this checkout are built (or named, with the command that builds them) once
  // here, rather than reported by every run.
  ensureImages([...new Set(entries.map((e) => join(o.images, e.image)))], buildNotice(o.json));
  const report = new TestReport(entries, o.modes);
  if (!o.json) writeOut(Buffer.from(report.header(shortPath(o.table), o)));
  const runs: TestRun[] = [];
  for (const entry of entries) {
    const row = o.modes.map((mode) => runEntry(entry, mode, { ...o, imagesDir: o.images }));
    runs.push(...row);
    if (!o.json) writeOut(Buffer.from(report.row(entry.name, row)));
  }
  if (o.json) writeOut(Buffer.from(testJson(o.table, o, o.modes, runs)));
  else writeOut(Buffer.from(unexpectedDetails(runs, o.showOutput) + summary(runs)));
  return runs.some((r) => r.unexpected) ? ExitStatus.TESTS_UNEXPECTED : 0;
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
