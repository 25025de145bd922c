/**
 * Run a guest image under QEMU (TCG), the reference the conformance suites
 * and the benchmark compare mmulab against. The options are the ones
 * guests/run-qemu.sh uses (kvm-unit-tests' harness, headless, TCG, -cpu max,
 * 128 MiB); keep the two in step.
 *
 * Exit status convention (isa-debug-exit): a guest exit(code) makes QEMU
 * exit with (code << 1) | 1, so 1 = PASS, 3 = FAIL, 77 = all SKIP,
 * 127 = abort/unhandled exception, 0 = QEMU stopped without debug-exit
 * (e.g. triple fault with -no-reboot). A run that exceeds its time limit is
 * killed and reported as status 124, like `timeout(1)` in the upstream
 * harness; a QEMU killed by a signal reports 128 + the signal number.
 */
import { spawn, spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';

export const QEMU_BINARY = 'qemu-system-x86_64';

/** Status reported when the run hit its time limit (as `timeout` does). */
export const QEMU_TIMEOUT_STATUS = 124;

const DEFAULT_TIMEOUT_MS = 90_000;

export interface QemuRunOptions {
  /** Kill QEMU after this many milliseconds (default 90 s, upstream's default). */
  timeoutMs?: number;
  /** The -cpu model (default max). */
  cpu?: string;
  /** Further QEMU options (e.g. -device pci-testdev). */
  extraArgs?: readonly string[];
}

export interface QemuRunResult {
  /** Everything the guest wrote to the serial port. */
  stdout: string;
  /** QEMU's exit status (see the convention above). */
  status: number;
  /** Wall-clock duration of the QEMU process, start to exit. */
  wallMs: number;
  /** QEMU's own diagnostics, for failure messages. */
  stderr: string;
}

/** The QEMU command line (without the binary) for an image and its arguments. */
export function qemuArgs(image: string, args: readonly string[] = [], cpu = 'max', extraArgs: readonly string[] = []): string[] {
  const argv = [
    '-nodefaults',
    '-no-reboot',
    '-display', 'none',
    '-accel', 'tcg',
    '-cpu', cpu,
    '-m', '128',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4',
    '-serial', 'stdio',
    '-kernel', image,
  ];
  // The guest sees "<image> <args...>" as its multiboot command line.
  if (args.length > 0) argv.push('-append', args.join(' '));
  argv.push(...extraArgs);
  return argv;
}

let availability: boolean | undefined;

/** Whether qemu-system-x86_64 can be started (checked once, then cached). */
export function qemuAvailable(): boolean {
  if (availability === undefined) {
    const probe = spawnSync(QEMU_BINARY, ['--version'], { stdio: 'ignore', timeout: 10_000 });
    availability = probe.error === undefined && probe.status === 0;
  }
  return availability;
}

function signalStatus(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/**
 * Boot `image` (a .flat multiboot image) under QEMU with `args` as its
 * command-line arguments and collect its serial output and exit status.
 * Rejects only if QEMU cannot be started at all.
 */
export function runInQemu(
  image: string,
  args: readonly string[] = [],
  opts: QemuRunOptions = {},
): Promise<QemuRunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(QEMU_BINARY, qemuArgs(image, args, opts.cpu, opts.extraArgs), {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;

    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));

    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);

    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });

    // 'close' (not 'exit'): fires after stdout/stderr are fully drained.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let status: number;
      if (timedOut) status = QEMU_TIMEOUT_STATUS;
      else if (code !== null) status = code;
      else status = signal ? signalStatus(signal) : 128;
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        status,
        wallMs: performance.now() - started,
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}
