import { readFileSync } from 'node:fs';
import { Vm } from '../machine/vm.js';
import { CpuModel } from '../cpu/cpu-model.js';
import { type Disassembler, loadDisassembler } from '../decode/disasm.js';
import type { Command } from './command.js';
import { UsageError, fileError } from './errors.js';
import { writeErr, writeOut } from './output.js';
import { RUN_VALUE_OPTIONS, type RunOptions, runBuilder, runOptions } from './run-args.js';
import { exitStatusOf, jsonReport, reasonLine, statsLine, stopInstruction } from './report.js';
import { formatTrace, traceEntries, traceJson } from './trace.js';

/**
 * `mmulab run IMAGE`: boot a multiboot image in the bare machine, guest serial output to stdout,
 * the report to stderr, and the guest's exit status (or mmulab's for an abnormal end).
 */

function readInput(what: string, path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw fileError(what, path, err);
  }
}

function createVm(o: RunOptions): Vm {
  try {
    const model = new CpuModel({ vendor: o.cpu.vendor, features: o.cpu.features, maxPhyAddr: o.cpu.maxPhyAddr });
    return new Vm({ memBytes: o.memMiB * 1024 * 1024, serialOut: writeOut, traceSize: o.trace, model });
  } catch (err) {
    // The host could not allocate guest RAM: the --mem value cannot be honoured here.
    if (err instanceof RangeError) throw new UsageError(`--mem ${o.memMiB}: cannot allocate ${o.memMiB} MiB of guest memory on this host`);
    throw err;
  }
}

/** Capstone, or null if it cannot be loaded (the report then goes without disassembly). */
async function disassembler(): Promise<Disassembler | null> {
  try {
    return await loadDisassembler();
  } catch {
    return null;
  }
}

export async function executeRun(o: RunOptions): Promise<number> {
  const image = readInput('image', o.image);
  const initrd = o.initrd === undefined ? undefined : readInput('initrd', o.initrd);
  const vm = createVm(o);
  vm.loadMultiboot(image, o.image, o.append, initrd);

  const result = vm.run(o.maxInsns);
  const status = exitStatusOf(result);
  const abnormal = result.outcome !== 'exit';
  const showTrace = vm.tracer !== null && (abnormal || o.traceAlways);
  const needDisassembly = showTrace || result.stopAddress !== undefined;
  const dis = needDisassembly ? await disassembler() : null;

  const stop = stopInstruction(result, dis);
  const rip = abnormal && stop === undefined ? vm.instructionAtRip().stopAddress : undefined;
  const trace = showTrace ? traceEntries(vm.tracer!.entries(), dis) : undefined;

  if (o.json) {
    writeErr(jsonReport(o.image, result, status, stop, rip, trace === undefined ? undefined : traceJson(trace)));
    return status;
  }
  const lines: string[] = [];
  if (trace !== undefined) lines.push(...formatTrace(trace));
  if (o.stats) lines.push(statsLine(result));
  const reason = reasonLine(result, stop, rip);
  if (reason !== undefined) lines.push(reason);
  if (lines.length > 0) writeErr(lines.join('\n'));
  return status;
}

export const RUN_COMMAND: Command<RunOptions> = {
  name: 'run',
  spec: 'run <image>',
  usage: 'mmulab run IMAGE [options]',
  describe: 'boot a multiboot image: guest serial output to stdout, report to stderr, exit with the guest\'s status',
  valueOptions: RUN_VALUE_OPTIONS,
  builder: runBuilder,
  options: runOptions,
  execute: executeRun,
  json: (o) => o.json,
};
