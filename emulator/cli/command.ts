import type { Argv } from 'yargs';

/**
 * A subcommand of mmulab. The parser (args.ts) registers each one with yargs, validates its
 * arguments into typed options, and main.ts runs it (commands.ts lists them: run, compare, test).
 */
export interface Command<Options = unknown> {
  /** The word on the command line. */
  readonly name: string;
  /** yargs command string: name and positionals, e.g. "run <image>". */
  readonly spec: string;
  /** Usage shown when a positional is missing, e.g. "mmulab run IMAGE [options]". */
  readonly usage: string;
  readonly describe: string;
  /** Options that take a value (so the command-line pre-scan can skip their values). */
  readonly valueOptions: readonly string[];
  /** Declares positionals and options on the command's yargs instance. */
  builder(y: Argv): Argv;
  /** Turns parsed arguments into options; throws UsageError on a bad value. */
  options(argv: Record<string, unknown>): Options;
  /** Runs the command; resolves to the process exit status. */
  execute(options: Options): Promise<number>;
  /** Whether failures after parsing are reported as JSON (for --json). */
  json?(options: Options): boolean;
}

/** The exit statuses (exit-status.ts) as help text, shown under every command's help. */
export const EXIT_STATUS_HELP = [
  'Exit status: the guest\'s own for an exit through the debug port 0xf4 ((value << 1) | 1: 1 pass,',
  '3 fail, 77 skip), else 2 usage error, 4 bad image, 6 triple fault, 8 --max-insns reached,',
  '10 unimplemented instruction, 12 halted for good, 14 internal error, 16 KVM_RUN failed,',
  '18 compare: the MMU modes disagree, 20 test: a result the test table does not expect,',
  '22 an image of this project is not built and could not be built here,',
  '24 replay: the figures do not have the shape the thread describes.',
].join(' ');
