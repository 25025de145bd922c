#!/usr/bin/env node
import { hideBin } from 'yargs/helpers';
import { parseCommandLine } from './args.js';
import { classify, debugStack } from './errors.js';
import { ExitStatus } from './exit-status.js';
import { guardOutputStreams, writeErr } from './output.js';
import { COMMANDS } from './commands.js';

/**
 * The `mmulab` command. Everything that can go wrong ends in one line on stderr and a documented
 * exit status (exit-status.ts); a stack trace is printed only for an internal error and only
 * when MMULAB_DEBUG=1.
 */

function fail(err: unknown, json: boolean): number {
  const f = classify(err);
  if (json) writeErr(JSON.stringify({ error: f.kind, status: f.status, message: f.message }));
  else writeErr(`mmulab: ${f.message}`);
  const stack = f.status === ExitStatus.INTERNAL ? debugStack(err) : undefined;
  if (stack !== undefined) writeErr(stack);
  return f.status;
}

async function main(args: readonly string[]): Promise<number> {
  guardOutputStreams();
  let json = false;
  try {
    const parsed = await parseCommandLine(args, COMMANDS);
    if (parsed === null) return 0; // --help or --version
    json = parsed.command.json?.(parsed.options) ?? false;
    return await parsed.command.execute(parsed.options);
  } catch (err) {
    return fail(err, json);
  }
}

process.on('uncaughtException', (err) => {
  process.exitCode = fail(err, false);
  process.exit();
});
process.on('unhandledRejection', (err) => {
  process.exitCode = fail(err, false);
  process.exit();
});

main(hideBin(process.argv)).then((status) => { process.exitCode = status; }, (err: unknown) => { process.exitCode = fail(err, false); });
