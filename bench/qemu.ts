import { spawnSync } from 'node:child_process';

/** QEMU TCG as the speed anchor: the same image, booted the way guests/run-qemu.sh boots it. */
export function qemuPresent(): boolean {
  return spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface QemuTiming {
  readonly wallMs: number;
  readonly status: number;
  readonly stdout: string;
}

/** `cpu` is QEMU's -cpu model; mmulab's `--cpu` spelling (max,-pku) is QEMU's too. */
export function timeQemu(image: string, args: readonly string[], cpu = 'max'): QemuTiming {
  const argv = ['-nodefaults', '-no-reboot', '-display', 'none', '-accel', 'tcg', '-cpu', cpu, '-m', '128',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-serial', 'stdio', '-kernel', image];
  if (args.length > 0) argv.push('-append', args.join(' '));
  const t0 = performance.now();
  const r = spawnSync('qemu-system-x86_64', argv, { encoding: 'utf8', timeout: 600_000 });
  return { wallMs: performance.now() - t0, status: r.status ?? -1, stdout: r.stdout };
}
