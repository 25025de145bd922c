/** Spawning the built CLI (`node dist/emulator/cli/main.js`) the way a user runs it. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/emulator/cli/main.js', import.meta.url));
export const GUESTS = fileURLToPath(new URL('../../build/guests/', import.meta.url));

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stderr split into lines, without the empty string after the last newline. */
  readonly stderrLines: string[];
}

export function runCli(args: readonly string[], env: Record<string, string> = {}, nodeArgs: readonly string[] = []): CliResult {
  const r = spawnSync(process.execPath, [...nodeArgs, CLI, ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, MMULAB_DEBUG: '', ...env },
  });
  if (r.error !== undefined) throw r.error;
  const lines = r.stderr.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, stderrLines: lines };
}

/** No line of a stack trace ("    at f (file:1:2)") anywhere in the output. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at /m.test(text);
}
