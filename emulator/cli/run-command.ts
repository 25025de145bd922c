import { vcpuRows, vcpuStatsLines } from './vcpu-report.js';
import { createVm, readInputs } from './vm-factory.js';
import { type Disassembler, loadDisassembler } from '../decode/disasm.js';
import type { Command } from './command.js';
import { writeErr, writeOut } from './output.js';
import { buildNotice } from './image-build.js';
import { RUN_VALUE_OPTIONS, type RunOptions, runBuilder, runOptions } from './run-args.js';
import { exitStatusOf, jsonReport, kvmStatsLines, reasonLine, statsLine, stopInstruction } from './report.js';
import { formatTrace, traceEntries, traceJson } from './trace.js';
import { runUnderGdb } from './gdb-run.js';
import { attachTrace } from './trace-run.js';
import { attachDirtyLog } from './dirty-log-args.js';

/**
 * `mmulab run IMAGE`: boot a multiboot image in the bare machine, guest serial output to stdout,
 * the report to stderr, and the guest's exit status (or mmulab's for an abnormal end).
 */

/** Capstone, or null if it cannot be loaded (the report then goes without disassembly). */
async function disassembler(): Promise<Disassembler | null> {
  try {
    return await loadDisassembler();
  } catch {
    return null;
  }
}

export async function executeRun(o: RunOptions): Promise<number> {
  const vm = createVm(o, o.mmu, readInputs(o, buildNotice(o.json)), writeOut, o.trace);
  const tracing = attachTrace(vm, o);
  const migration = attachDirtyLog(vm, o);

  let result;
  if (o.gdb === undefined) result = vm.run(o.maxInsns);
  else {
    const end = await runUnderGdb(vm, o, o.gdb);
    if (end === 'killed') { tracing?.finish(false); return 0; }
    result = end;
  }
  const status = exitStatusOf(result);
  const kvmStatLines = tracing?.finish(process.stderr.isTTY === true) ?? [];
  const abnormal = result.outcome !== 'exit';
  const showTrace = vm.tracer !== null && (abnormal || o.traceAlways);
  const needDisassembly = showTrace || result.stopAddress !== undefined;
  const dis = needDisassembly ? await disassembler() : null;

  const stop = stopInstruction(result, dis);
  const rip = abnormal && stop === undefined ? vm.instructionAtRip().stopAddress : undefined;
  const trace = showTrace ? traceEntries(vm.tracer!.entries(), dis) : undefined;

  const kvmStats = vm.kvm === undefined ? undefined : vm.kvm.stats.entries().filter(([, v]) => v !== 0);
  const cpus = vcpuRows(vm);
  if (o.json) {
    const json = jsonReport(o.image, result, status, stop, rip, trace === undefined ? undefined : traceJson(trace), o.mmu, kvmStats, cpus);
    writeErr(migration === null ? json : JSON.stringify({ ...JSON.parse(json) as object, dirtyLog: migration.toJson() }));
    return status;
  }
  const lines: string[] = [];
  if (trace !== undefined) lines.push(...formatTrace(trace));
  if (o.stats) lines.push(statsLine(result, o.mmu, vm.cpu.tsc()));
  if (o.stats && kvmStats !== undefined) lines.push(...kvmStatsLines(kvmStats, vm.kvm!.violations));
  if (o.stats) lines.push(...vcpuStatsLines(cpus));
  if (o.stats && migration !== null) lines.push('dirty log, host schedule:', ...migration.valueLines().map((l) => `  ${l}`));
  lines.push(...kvmStatLines);
  const reason = reasonLine(result, stop, rip);
  if (reason !== undefined) lines.push(reason);
  if (lines.length > 0) writeErr(lines.join('\n'));
  return status;
}

export const RUN_COMMAND: Command<RunOptions> = {
  name: 'run',
  spec: 'run [image]',
  usage: 'mmulab run IMAGE [options]',
  describe: 'boot a multiboot image: guest serial output to stdout, report to stderr, exit with the guest\'s status',
  valueOptions: RUN_VALUE_OPTIONS,
  builder: runBuilder,
  options: runOptions,
  execute: executeRun,
  json: (o) => o.json,
};
