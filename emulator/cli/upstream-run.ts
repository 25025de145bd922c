import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { oneLine } from './errors.js';
import type { KvmOptions } from './kvm-args.js';
import { type TestRun, verdictOf } from './test-runner.js';
import { type UpstreamEntry, timeoutMs } from './upstream-cfg.js';
import { ShellWordsError, upstreamArgs } from './upstream-line.js';
import { ExitStatus } from './exit-status.js';
import type { MmuMode } from '../../vmm/machine.js';

/**
 * One upstream unittests.cfg entry in one MMU mode: the command line run_tests.sh would build,
 * run by `mmulab qemu` in a child process under the entry's timeout, and its verdict read as
 * upstream's harness reads QEMU's status. The timeout counts the child's CPU seconds (RLIMIT_CPU,
 * through the shell's `ulimit -t`), not wall-clock time as upstream's timeout(1) does: on a machine
 * shared with other work a wall-clock limit fails tests that only waited for a core, and the
 * same run must give the same verdict. mmulab never sleeps, so a CPU limit bounds every run
 * (a wall-clock backstop of WALL_BACKSTOP times the limit catches the impossible). What upstream skips before starting QEMU (another arch,
 * a `check` file that does not hold, a missing image) and what mmulab refuses to run (exit status
 * 2 or 4: upstream's "premature failure") are SKIPs with the reason.
 */

/** How many times the CPU limit a run may take in wall-clock time before it is killed. */
const WALL_BACKSTOP = 50;

/** The front end's executable, next to this module (dist/emulator/cli/). */
const QEMU_MAIN = fileURLToPath(new URL('./qemu-main.js', import.meta.url));

export interface UpstreamSettings extends KvmOptions {
  /** The tree's test folder (DIR/x86). */
  readonly testDir: string;
  /** The environment file given as -initrd (upstream's KVM_UNIT_TESTS_ENV). */
  readonly envFile: string;
  /** Overrides the entries' timeouts (ms). */
  readonly timeoutMs: number | undefined;
}

/** Why upstream's run_tests.sh would not start this entry, if it would not. */
export function skipReason(entry: UpstreamEntry, mode: MmuMode, testDir: string): string | undefined {
  if (entry.arch !== '' && entry.arch !== 'x86_64') return `${entry.arch} only`;
  // `accel = kvm`: the virtualized modes are mmulab's KVM; bare is QEMU's tcg.
  if (entry.accel !== '' && !(entry.accel === 'kvm' && mode !== 'bare') && !(entry.accel === 'tcg' && mode === 'bare')) return `${entry.accel} only`;
  for (const c of entry.check) {
    const eq = c.indexOf('=');
    const [path, value] = eq < 0 ? [c, ''] : [c.slice(0, eq), c.slice(eq + 1)];
    let held = false;
    try { held = readFileSync(path, 'utf8').trim() === value; } catch { held = false; }
    if (!held) return `${path} not equal to ${value}`;
  }
  if (entry.disabledIf !== '') return `disabled_if is not evaluated: ${entry.disabledIf}`;
  if (!existsSync(join(testDir, entry.file))) return `test file '${join(testDir, entry.file)}' not found`;
  return undefined;
}

function lastLine(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !/^mmulab: warning: /.test(l));
  return oneLine(lines[lines.length - 1] ?? '');
}

export function runUpstreamEntry(entry: UpstreamEntry, mode: MmuMode, s: UpstreamSettings): TestRun {
  const base = { test: entry.name, mode, expected: 'pass' as const, instructions: 0, violations: [] as string[] };
  const skip = (detail: string): TestRun => ({ ...base, verdict: 'SKIP', status: undefined, detail, output: '', wallMs: 0, unexpected: false });
  const reason = skipReason(entry, mode, s.testDir);
  if (reason !== undefined) return skip(reason);
  let args: string[];
  try {
    args = upstreamArgs(entry, s.testDir, mode, s, s.envFile);
  } catch (err) {
    if (err instanceof ShellWordsError) return { ...skip(err.message), verdict: 'ERROR', unexpected: true };
    throw err;
  }
  const limit = s.timeoutMs ?? timeoutMs(entry.timeout);
  const started = Date.now();
  const cpuSeconds = Math.max(1, Math.ceil(limit / 1000));
  const r = spawnSync('/bin/sh', ['-c', 'ulimit -S -t "$1" && shift && exec "$@"', 'sh', String(cpuSeconds), process.execPath, QEMU_MAIN, ...args],
    { encoding: 'latin1', timeout: limit * WALL_BACKSTOP, killSignal: 'SIGKILL', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  const wallMs = Date.now() - started;
  const output = r.stdout ?? '';
  const ran = { ...base, output, wallMs };
  const timedOut = r.signal === 'SIGXCPU' || (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT');
  if (timedOut) return { ...ran, verdict: 'FAIL', status: undefined, detail: `timeout: ${cpuSeconds} s of CPU`, unexpected: true };
  if (r.status === null) return { ...ran, verdict: 'ERROR', status: undefined, detail: `killed by ${r.signal ?? 'a signal'}`, unexpected: true };
  if (r.status === ExitStatus.USAGE || r.status === ExitStatus.BAD_IMAGE) {
    return { ...ran, verdict: 'SKIP', status: r.status, detail: lastLine(r.stderr ?? ''), unexpected: false };
  }
  const verdict = verdictOf(r.status);
  // A guest's SKIP says why in its last lines (e.g. "SKIP: ... not supported"): keep that line.
  const guestSkip = verdict === 'SKIP' ? output.split('\n').filter((l) => /^SKIP: /.test(l)).pop() : undefined;
  const detail = verdict === 'ERROR' ? `exit status ${r.status}: ${lastLine(r.stderr ?? '')}`
    : guestSkip !== undefined ? oneLine(guestSkip) : `exit status ${r.status}`;
  return { ...ran, verdict, status: r.status, detail, unexpected: verdict === 'FAIL' || verdict === 'ERROR' };
}
