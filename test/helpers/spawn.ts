import { spawn } from 'node:child_process';

/** Exit status reported for a child killed at its time limit (timeout(1)'s). */
export const TIMEOUT_STATUS = 124;

export interface ChildRun { readonly out: string; readonly err: string; readonly status: number }

/**
 * Runs a command without blocking the test worker (so test.concurrent runs overlap), collecting
 * stdout and stderr as latin1; killed with SIGKILL after timeoutMs (status TIMEOUT_STATUS).
 */
export function runChild(cmd: string, argv: readonly string[], timeoutMs: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        out: Buffer.concat(out).toString('latin1'),
        err: Buffer.concat(err).toString('latin1'),
        status: timedOut ? TIMEOUT_STATUS : code ?? 128,
      });
    });
  });
}
