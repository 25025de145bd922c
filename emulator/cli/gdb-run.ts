import type { Machine, RunResult } from '../../vmm/machine.js';
import { gdbMonitor } from '../../vmm/gdb-monitor.js';
import type { GdbListen } from '../debug/gdb-address.js';
import { GdbError, type GdbRunEnd, runWithGdb } from '../debug/gdb-server.js';
import { UsageError } from './errors.js';
import { writeErr } from './output.js';
import { exitStatusOf, kvmStatsLines } from './report.js';
import type { RunOptions } from './run-args.js';

/**
 * `mmulab run --gdb`: the run under the gdb server (emulator/debug/gdb-server.ts), with the
 * `monitor` commands of vmm/gdb-monitor.ts. The target description is x86-64 when the CPU model
 * has long mode and i386 without it (`--cpu base,-lm`), as qemu-system-x86_64 and
 * qemu-system-i386 differ: gdb cannot change the register layout in the middle of a session.
 */
export async function runUnderGdb(vm: Machine, o: RunOptions, listen: GdbListen): Promise<GdbRunEnd> {
  let end: GdbRunEnd;
  try {
    end = await runWithGdb(vm, {
      listen,
      waitForGdb: o.gdbWait === true,
      maxInsns: o.maxInsns ?? Number.POSITIVE_INFINITY,
      arch: vm.cpu.model.has('lm') ? 'x86-64' : 'i386',
      monitor: gdbMonitor(vm, kvmStatsLines),
      exitStatus: (r: RunResult) => exitStatusOf(r),
      log: (line) => { if (!o.json) writeErr(line); },
    });
  } catch (err) {
    if (err instanceof GdbError) throw new UsageError(err.message);
    throw err;
  }
  if (end === 'killed' && !o.json) writeErr('mmulab: gdb: the debugger killed the machine');
  return end;
}
