import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { type Command, EXIT_STATUS_HELP } from './command.js';
import { UsageError, oneLine } from './errors.js';

/**
 * Command-line parsing with yargs: strict (unknown options, commands and extra arguments are
 * errors), and every parse failure becomes a UsageError with one line of text, which main.ts
 * prints with a hint to --help and exits with ExitStatus.USAGE. yargs only parses: the chosen
 * command runs after parsing, so an error inside a command is never mistaken for a usage error.
 */

export interface ParsedCommand {
  readonly command: Command;
  readonly options: unknown;
}


function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The command word: the first argument that is neither an option nor an option's value. Checked
 * before yargs runs, so an unknown command gets its own message rather than "Unknown argument".
 */
function commandWord(args: readonly string[], commands: readonly Command[]): string | undefined {
  const takesValue = new Set(commands.flatMap((c) => c.valueOptions.map((o) => `--${o}`)));
  for (let k = 0; k < args.length; k++) {
    const a = args[k];
    if (a === '--') return args[k + 1];
    if (a.startsWith('-')) {
      if (takesValue.has(a)) k++;
      continue;
    }
    return a;
  }
  return undefined;
}

/** yargs' messages, rephrased as one line naming the option or argument. */
function rephrase(message: string, args: readonly string[], command: Command | undefined): string {
  let m = /^Unknown arguments?: (.*)$/s.exec(message);
  if (m !== null) {
    const names = m[1].split(',').map((s) => s.trim());
    const isOption = (n: string): boolean => args.some((a) => a === `-${n}` || a === `--${n}` || a.startsWith(`--${n}=`));
    const first = names[0];
    return isOption(first) ? `unknown option ${first.length === 1 ? '-' : '--'}${first}` : `unexpected argument "${first}"`;
  }
  m = /^Not enough arguments following: (.*)$/s.exec(message);
  if (m !== null) return `option --${m[1].trim()} needs a value`;
  if (/^Not enough non-option arguments/.test(message) && command !== undefined) return `missing argument; usage: ${command.usage}`;
  return oneLine(message);
}

/**
 * Parses `args` (process.argv without node and the script). Returns the command to run, or null
 * when yargs has handled the request itself (--help, --version). Throws UsageError.
 */
export async function parseCommandLine(args: readonly string[], commands: readonly Command[]): Promise<ParsedCommand | null> {
  const names = commands.map((c) => c.name);
  const word = commandWord(args, commands);
  const wantsInfo = args.some((a) => a === '--help' || a === '-h' || a === '--version');
  if (word === undefined && !wantsInfo) throw new UsageError(`no command given (commands: ${names.join(', ')})`);
  const command = commands.find((c) => c.name === word);
  if (word !== undefined && command === undefined) throw new UsageError(`unknown command "${word}" (commands: ${names.join(', ')})`);

  let chosen: ParsedCommand | null = null;
  let y = yargs([...args])
    .scriptName('mmulab')
    .usage('Usage: mmulab <command> [options]\n\nAn x86-64 system emulator with a model of the KVM x86 MMU.')
    .strict()
    .demandCommand(1, 'no command given')
    .help()
    .alias('h', 'help')
    .version(version())
    .epilogue(EXIT_STATUS_HELP)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg: string | null, err: Error | undefined) => {
      throw new UsageError(rephrase(msg ?? err?.message ?? 'bad command line', args, command));
    });
  for (const c of commands) {
    y = y.command(c.spec, c.describe, (sub) => c.builder(sub), (argv) => {
      chosen = { command: c, options: c.options(argv as Record<string, unknown>) };
      // Leave yargs here: after a handler returns it renders and caches the whole help text,
      // about 0.1 s of a short run's start. Validation has already passed.
      throw CHOSEN;
    });
  }
  try {
    await y.parseAsync();
  } catch (err) {
    if (err !== CHOSEN) throw err;
  }
  return chosen;
}

/** Thrown by a command's handler to end the parse (see parseCommandLine). */
const CHOSEN = Symbol('command chosen');
