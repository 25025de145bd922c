import { existsSync } from 'node:fs';
import type { Argv } from 'yargs';
import type { Command } from './command.js';
import { InputError } from './errors.js';
import { writeErr, writeOut } from './output.js';
import { parseQemuArgs } from './qemu-args.js';
import { executeRun } from './run-command.js';

/**
 * `mmulab qemu ARGS...` and scripts/qemu-system-x86_64: a QEMU command line (qemu-args.ts) run
 * as `mmulab run` would run it. Help probes print QEMU-style answers on stdout; warnings (features
 * or devices mmulab lacks) go to stderr as lines containing "warning", which kvm-unit-tests'
 * harness tolerates beside a passing status.
 */

/** Runs a QEMU command line; resolves to the exit status (throws UsageError, InputError). */
export async function runQemu(args: readonly string[]): Promise<number> {
  const request = parseQemuArgs(args);
  if (request.kind === 'info') {
    writeOut(Buffer.from(request.text));
    return 0;
  }
  const kernel = request.options.image;
  // QEMU's wording, which upstream's run_tests.sh looks for when it probes with a missing kernel
  // (scripts/vmm.bash, qemu_parse_premature_failure): everything else on the line was accepted.
  if (!existsSync(kernel)) throw new InputError(`could not open kernel file '${kernel}': No such file or directory`);
  for (const w of request.warnings) writeErr(`mmulab: ${w}`);
  return executeRun(request.options);
}

/** The arguments after the word `qemu`, as given: QEMU's single-dash options are not yargs'. */
function rawArgs(): string[] {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('qemu');
  return at < 0 ? [] : argv.slice(at + 1);
}

export const QEMU_COMMAND: Command<{ readonly args: readonly string[] }> = {
  name: 'qemu',
  spec: 'qemu [args..]',
  usage: 'mmulab qemu [QEMU options]',
  describe: 'run a kernel from a qemu-system-x86_64 command line (as kvm-unit-tests\' x86/run builds it; mmulab qemu -h)',
  valueOptions: [],
  builder: (y: Argv) => y.strict(false).help(false).version(false).parserConfiguration({ 'unknown-options-as-args': true, 'short-option-groups': false }),
  options: () => ({ args: rawArgs() }),
  execute: (o) => runQemu(o.args),
};
