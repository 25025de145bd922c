import { GPR_NAMES } from '../arch/registers.js';

/**
 * Disassembly text through Capstone (capstone-wasm): for traces, stop reports and as the test
 * oracle of the decoder's instruction lengths. About 6 microseconds per call, so it is never on
 * the execution path. Intel syntax.
 *
 * capstone-wasm pitfalls handled here (see shared/reference/js-performance.md):
 * - addresses above 2^63 come back as negative numbers: normalised with BigInt.asUintN(64, ...);
 * - the input is copied onto the wasm stack and the results live in a fixed 16 MiB heap: a large
 *   call fails (past about 40,000 instructions) and leaves the instance broken, so the input is
 *   fed in chunks of CHUNK bytes;
 * - it throws instead of returning nothing when the first bytes are invalid: disassembleOne
 *   returns null, and disassemble() emits a one-byte `(bad)` entry and resynchronises.
 */

export type CodeBits = 16 | 32 | 64;

/**
 * The part of capstone-wasm used here. Its package.json "exports" hide its own index.d.ts from
 * NodeNext resolution, so the module is imported through a specifier TypeScript does not resolve
 * and typed by this interface.
 */
interface CapstoneInsn {
  readonly address: number | bigint;
  readonly size: number;
  readonly mnemonic: string;
  readonly opStr: string;
}
interface CapstoneInstance {
  disasm(data: Uint8Array, options?: { address?: number | bigint; count?: number }): CapstoneInsn[];
}
interface CapstoneModule {
  loadCapstone(): Promise<void>;
  Capstone: new (arch: number, mode: number) => CapstoneInstance;
  Const: { CS_ARCH_X86: number; CS_MODE_16: number; CS_MODE_32: number; CS_MODE_64: number };
}
const CAPSTONE_PACKAGE: string = 'capstone-wasm';

export interface DisasmInsn {
  /** Linear address of the first byte, as an unsigned 64-bit value. */
  readonly address: bigint;
  readonly size: number;
  readonly mnemonic: string;
  readonly opStr: string;
  /** False for a byte Capstone could not decode (mnemonic "(bad)", size 1). */
  readonly valid: boolean;
}

/** Bytes per Capstone call: far below the stack and heap limits (at most 4,096 instructions). */
const CHUNK = 4096;
/** Longest x86 instruction. */
const MAX_INSN = 15;

export interface Disassembler {
  /** Every instruction in `bytes`, in order, covering all bytes (undecodable ones as `(bad)`). */
  disassemble(bytes: Uint8Array, address: bigint, bits: CodeBits): DisasmInsn[];
  /** The first instruction of `bytes`, or null if Capstone cannot decode it. */
  disassembleOne(bytes: Uint8Array, address: bigint, bits: CodeBits): DisasmInsn | null;
}

let loading: Promise<Disassembler> | undefined;

/** Loads Capstone once (the first call awaits the wasm module; later calls share it). */
export function loadDisassembler(): Promise<Disassembler> {
  if (loading === undefined) {
    loading = (async () => {
      const cs = (await import(CAPSTONE_PACKAGE)) as CapstoneModule;
      await cs.loadCapstone();
      return new CapstoneDisassembler(cs);
    })();
    // A failed load may be retried by a later call.
    loading.catch(() => { loading = undefined; });
  }
  return loading;
}

export async function disassemble(bytes: Uint8Array, address: bigint, bits: CodeBits): Promise<DisasmInsn[]> {
  return (await loadDisassembler()).disassemble(bytes, address, bits);
}

export async function disassembleOne(bytes: Uint8Array, address: bigint, bits: CodeBits): Promise<DisasmInsn | null> {
  return (await loadDisassembler()).disassembleOne(bytes, address, bits);
}

class CapstoneDisassembler implements Disassembler {
  private readonly instances = new Map<CodeBits, CapstoneInstance>();

  constructor(private readonly cs: CapstoneModule) {}

  private instance(bits: CodeBits): CapstoneInstance {
    let cs = this.instances.get(bits);
    if (cs === undefined) {
      const { Capstone, Const } = this.cs;
      const mode = bits === 64 ? Const.CS_MODE_64 : bits === 32 ? Const.CS_MODE_32 : Const.CS_MODE_16;
      cs = new Capstone(Const.CS_ARCH_X86, mode);
      this.instances.set(bits, cs);
    }
    return cs;
  }

  /** Capstone's instructions from the start of `bytes`; [] when the first one is invalid. */
  private raw(bytes: Uint8Array, address: bigint, bits: CodeBits, count: number): DisasmInsn[] {
    if (bytes.length === 0) return [];
    let insns: CapstoneInsn[];
    try {
      insns = this.instance(bits).disasm(bytes, { address: BigInt.asUintN(64, address), count });
    } catch {
      return [];
    }
    return insns.map((i) => ({
      address: BigInt.asUintN(64, BigInt(i.address)),
      size: i.size,
      mnemonic: i.mnemonic,
      opStr: i.opStr,
      valid: true,
    }));
  }

  disassembleOne(bytes: Uint8Array, address: bigint, bits: CodeBits): DisasmInsn | null {
    return this.raw(bytes.subarray(0, MAX_INSN), address, bits, 1)[0] ?? null;
  }

  disassemble(bytes: Uint8Array, address: bigint, bits: CodeBits): DisasmInsn[] {
    const out: DisasmInsn[] = [];
    let off = 0;
    while (off < bytes.length) {
      const end = Math.min(off + CHUNK, bytes.length);
      const last = end === bytes.length;
      const insns = this.raw(bytes.subarray(off, end), address + BigInt(off), bits, 0);
      let used = 0;
      for (const insn of insns) {
        // Away from the real end, an instruction ending near the chunk's edge may have been cut
        // by it: take it again at the start of the next chunk.
        if (!last && off + used + insn.size > end - MAX_INSN) break;
        out.push(insn);
        used += insn.size;
      }
      if (used === 0 && (last || insns.length === 0)) {
        // Capstone cannot decode the byte at `off`: record it and resynchronise after it.
        out.push({ address: BigInt.asUintN(64, address + BigInt(off)), size: 1, mnemonic: '(bad)', opStr: '', valid: false });
        used = 1;
      } else if (used === 0) {
        // Only a cut instruction at the edge of a short remainder: never happens with CHUNK >> 15,
        // but do not loop forever.
        out.push(insns[0]);
        used = insns[0].size;
      }
      off += used;
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting for traces and reports.

/** `0x` and the address in hex: 8 digits when it fits in 32 bits, else 16. */
export function formatAddress(address: bigint): string {
  const a = BigInt.asUintN(64, address);
  return '0x' + a.toString(16).padStart(a > 0xffffffffn ? 16 : 8, '0');
}

/** Bytes as space-separated lowercase hex pairs: "d9 ee". */
export function formatBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** "mnemonic opStr", or "(bad)" for bytes Capstone cannot decode. */
export function formatInsn(insn: DisasmInsn | null): string {
  if (insn === null || !insn.valid) return '(bad)';
  return insn.opStr === '' ? insn.mnemonic : `${insn.mnemonic} ${insn.opStr}`;
}

const GPR32_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

/**
 * Register values as name/value pairs in hex: RAX..R15 and RFLAGS for 64-bit code, EAX..EDI and
 * EFLAGS otherwise (16-bit code may use the 32-bit registers too).
 */
export function registerValues(bits: number, regsLo: Int32Array, regsHi: Int32Array, rflags: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (bits === 64) {
    for (let r = 0; r < 16; r++) {
      out.push([GPR_NAMES[r], (regsHi[r] >>> 0).toString(16).padStart(8, '0') + (regsLo[r] >>> 0).toString(16).padStart(8, '0')]);
    }
    out.push(['rflags', (rflags >>> 0).toString(16).padStart(8, '0')]);
  } else {
    for (let r = 0; r < 8; r++) out.push([GPR32_NAMES[r], (regsLo[r] >>> 0).toString(16).padStart(8, '0')]);
    out.push(['eflags', (rflags >>> 0).toString(16).padStart(8, '0')]);
  }
  return out;
}

/** One trace line: address, bytes, disassembly, then the given "name=value" register text. */
export function formatTraceLine(address: bigint, bytes: Uint8Array, insn: DisasmInsn | null, registers: string, widths = { bytes: 29, insn: 36 }): string {
  const line = `${formatAddress(address)}  ${formatBytes(bytes).padEnd(widths.bytes)}  ${formatInsn(insn).padEnd(widths.insn)}`;
  return registers === '' ? line.trimEnd() : `${line}  ${registers}`;
}
