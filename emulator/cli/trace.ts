import type { TraceEntry } from '../cpu/tracer.js';
import {
  type CodeBits, type DisasmInsn, type Disassembler,
  formatAddress, formatBytes, formatInsn, formatTraceLine, registerValues,
} from '../decode/disasm.js';

/**
 * The --trace report: the last N instructions executed, disassembled, with the registers before
 * each one. In text, the first line shows every register and later lines only those that changed
 * since the line above (all again when the code size changes), so a line shows what the
 * instruction above it did.
 */

export interface TracedInsn {
  readonly address: bigint;
  readonly bits: CodeBits;
  readonly bytes: Uint8Array;
  readonly insn: DisasmInsn | null;
  /** Registers before the instruction: name and hex value. */
  readonly registers: Array<[string, string]>;
}

export function traceEntries(entries: readonly TraceEntry[], dis: Disassembler | null): TracedInsn[] {
  return entries.map((e) => {
    const address = (BigInt(e.ripHi >>> 0) << 32n) | BigInt(e.ripLo >>> 0);
    const bits = (e.bits === 16 || e.bits === 32 ? e.bits : 64) as CodeBits;
    return {
      address,
      bits,
      bytes: e.bytes,
      insn: dis === null ? null : dis.disassembleOne(e.bytes, address, bits),
      registers: registerValues(bits, e.regsLo, e.regsHi, e.rflags),
    };
  });
}

/** Header and one line per instruction, oldest first. */
export function formatTrace(trace: readonly TracedInsn[]): string[] {
  const n = trace.length;
  const lines = [`mmulab: trace of the last ${n} instruction${n === 1 ? '' : 's'}, oldest first ` +
    '(registers before each; after the first line only those that changed):'];
  const widths = {
    bytes: Math.max(0, ...trace.map((t) => formatBytes(t.bytes).length)),
    insn: Math.max(0, ...trace.map((t) => formatInsn(t.insn).length)),
  };
  let previous: TracedInsn | undefined;
  for (const t of trace) {
    const shown = previous === undefined || previous.bits !== t.bits
      ? t.registers
      : t.registers.filter(([, value], k) => previous!.registers[k][1] !== value);
    const regs = shown.map(([name, value]) => `${name}=${value}`).join(' ');
    lines.push('  ' + formatTraceLine(t.address, t.bytes, t.insn, regs, widths));
    previous = t;
  }
  return lines;
}

/** The trace as plain JSON data (addresses and values as hex strings). */
export function traceJson(trace: readonly TracedInsn[]): object[] {
  return trace.map((t) => ({
    address: formatAddress(t.address),
    bits: t.bits,
    bytes: formatBytes(t.bytes),
    disassembly: formatInsn(t.insn),
    registers: Object.fromEntries(t.registers.map(([name, value]) => [name, '0x' + value])),
  }));
}
