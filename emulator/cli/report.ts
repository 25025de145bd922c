import type { RunResult } from '../machine/vm.js';
import { CpuModel } from '../cpu/cpu-model.js';
import { decode } from '../decode/decoder.js';
import { DecodedStore } from '../decode/store.js';
import { type CodeBits, type Disassembler, formatAddress, formatBytes, formatInsn } from '../decode/disasm.js';
import { statusForOutcome } from './exit-status.js';
import type { VcpuRow } from './vcpu-report.js';

/**
 * The end-of-run report: the exit status, the one-line reason for an abnormal end, --stats, and
 * the --json object. Guest output never goes through here (it is on stdout already).
 */

/** The instruction a run stopped at (unsupported operation, triple fault). */
export interface StopInsn {
  readonly address: bigint;
  readonly bits: CodeBits;
  /** The instruction's bytes (all bytes read at RIP when its length is unknown). */
  readonly bytes: Uint8Array;
  /** Capstone's "mnemonic operands", or null when Capstone cannot decode it or is unavailable. */
  readonly text: string | null;
}

let scratch: { store: DecodedStore; model: CpuModel } | undefined;

/** The instruction's length by mmulab's own decoder (-1 if the bytes run out first). */
function decodedLength(bytes: Uint8Array, bits: CodeBits): number {
  scratch ??= { store: new DecodedStore(1), model: new CpuModel() };
  return decode(scratch.store, 0, bytes, bytes.length, { bits, model: scratch.model });
}

export function stopInstruction(result: RunResult, dis: Disassembler | null): StopInsn | undefined {
  if (result.stopAddress === undefined) return undefined;
  const bits = (result.stopBits === 16 || result.stopBits === 32 ? result.stopBits : 64) as CodeBits;
  const all = result.stopBytes ?? new Uint8Array(0);
  const insn = dis === null || all.length === 0 ? null : dis.disassembleOne(all, result.stopAddress, bits);
  let len = insn !== null && insn.valid ? insn.size : all.length === 0 ? 0 : decodedLength(all, bits);
  if (len <= 0 || len > all.length) len = all.length;
  return { address: result.stopAddress, bits, bytes: all.slice(0, len), text: insn === null ? null : formatInsn(insn) };
}

/** The process exit status: the guest's own for a debug-port exit, else mmulab's for the outcome. */
export function exitStatusOf(result: RunResult): number {
  if (result.outcome === 'exit') return (result.exitStatus ?? 1) & 0xff;
  return statusForOutcome(result.outcome);
}

/** "at 0x401234: d9 ee (fldz)" */
function where(stop: StopInsn): string {
  if (stop.bytes.length === 0) return `at ${formatAddress(stop.address)} (no instruction bytes readable there)`;
  return `at ${formatAddress(stop.address)}: ${formatBytes(stop.bytes)} (${stop.text ?? 'not decodable'})`;
}

/** The one-line reason for an abnormal end (undefined after a debug-port exit). */
export function reasonLine(result: RunResult, stop: StopInsn | undefined, rip: bigint | undefined): string | undefined {
  const at = rip === undefined ? '' : ` at ${formatAddress(rip)}`;
  switch (result.outcome) {
    case 'exit': return undefined;
    case 'unsupported': return `mmulab: unimplemented: ${result.detail}${stop === undefined ? '' : ' ' + where(stop)}`;
    case 'triple-fault': return `mmulab: ${result.detail}${stop === undefined ? at : ' ' + where(stop)}`;
    case 'insn-limit': return `mmulab: stopped: ${result.detail}${at}`;
    case 'halted': return `mmulab: guest halted: ${result.detail}${rip === undefined ? '' : ` (rip ${formatAddress(rip)})`}`;
    case 'kvm-error': return `mmulab: ${result.detail}`;
  }
}

function mips(result: RunResult): number {
  return result.wallMs > 0 ? result.instructions / result.wallMs / 1000 : 0;
}

export function statsLine(result: RunResult, mmu = 'bare', tsc?: number): string {
  const cycles = tsc === undefined ? '' : `, ${Math.round(tsc)} modeled cycles`;
  return `mmulab: ${mmu}: ${result.instructions} instructions in ${result.wallMs.toFixed(1)} ms (${mips(result).toFixed(1)} MIPS)${cycles}`;
}

/** KVM's nonzero statistics, four to a line, and the checker's findings. */
export function kvmStatsLines(stats: ReadonlyArray<[string, number]>, violations: readonly string[]): string[] {
  const lines: string[] = [];
  for (let k = 0; k < stats.length; k += 4) {
    lines.push('mmulab: kvm: ' + stats.slice(k, k + 4).map(([n, v]) => `${n}=${v}`).join(' '));
  }
  for (const v of violations) lines.push(`mmulab: invariant violation: ${v}`);
  return lines;
}

/** The --json report: one object, one line. */
export function jsonReport(image: string, result: RunResult, status: number, stop: StopInsn | undefined, rip: bigint | undefined,
  trace: object[] | undefined, mmu = 'bare', kvmStats?: ReadonlyArray<[string, number]>, cpus?: readonly VcpuRow[]): string {
  const report: Record<string, unknown> = {
    image,
    mmu,
    outcome: result.outcome,
    status,
    guestStatus: result.exitStatus ?? null,
    instructions: result.instructions,
    wallMs: Math.round(result.wallMs * 1000) / 1000,
    mips: Math.round(mips(result) * 1000) / 1000,
    detail: result.outcome === 'exit' ? null : result.detail,
    rip: rip === undefined ? null : formatAddress(rip),
    stop: stop === undefined ? null : {
      address: formatAddress(stop.address),
      bits: stop.bits,
      bytes: formatBytes(stop.bytes),
      disassembly: stop.text,
    },
  };
  if (trace !== undefined) report.trace = trace;
  if (kvmStats !== undefined) report.kvm = Object.fromEntries(kvmStats);
  if (cpus !== undefined && cpus.length > 1) report.cpus = cpus;
  return JSON.stringify(report);
}
