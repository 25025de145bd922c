import { beforeAll, describe, expect, test } from 'vitest';
import { ROWS } from '../../emulator/decode/table.js';
import '../../emulator/decode/decoder.js';
import { parseOperands } from '../../emulator/decode/operand-spec.js';
import { type Disassembler, loadDisassembler } from '../../emulator/decode/disasm.js';
import { Cr0 } from '../../emulator/arch/control.js';
import { Vector } from '../../emulator/arch/vectors.js';
import { InsnHarness } from '../../bench/fuzz/insn-harness.js';
import { Rng } from '../../bench/fuzz/rng.js';

/**
 * MMX beyond the data moves and EMMS is not implemented: every other MMX opcode stops the run naming the instruction (the name
 * checked against Capstone's), after the fault rules that come first on hardware: #UD with
 * CR0.EM, #NM with CR0.TS (SDM Vol. 3 Table 2-3). Before, the operand text "(mmx)" of these rows
 * made the decoder throw a host exception (issue 18).
 */

/** Every unprefixed MMX opcode of the 0F map (SDM Vol. 2 Table A-3) with an imm8 where it takes one. */
const MMX_0F: Array<[number, boolean]> = [
  ...[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6e, 0x6f, 0x74, 0x75, 0x76, 0x7e, 0x7f,
    0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4,
    0xe5, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
    0xfb, 0xfc, 0xfd, 0xfe].map((o): [number, boolean] => [o, false]),
  [0x70, true], [0xc4, true], [0xc5, true],
];

/** Register forms (ModRM C1: mm0, mm1) of every MMX instruction, including SSSE3's 0F 38 / 0F 3A ones. */
function mmxEncodings(): Uint8Array[] {
  const out = MMX_0F.map(([o, imm]) => Uint8Array.from(imm ? [0x0f, o, 0xc1, 0x01] : [0x0f, o, 0xc1]));
  // Shifts by imm8: 0F 71 and 0F 72 /2 /4 /6, 0F 73 /2 /6 (no PSRAQ).
  for (const [o, reg] of [[0x71, 2], [0x71, 4], [0x71, 6], [0x72, 2], [0x72, 4], [0x72, 6], [0x73, 2], [0x73, 6]]) {
    out.push(Uint8Array.from([0x0f, o, 0xc0 | (reg << 3) | 1, 3]));
  }
  for (const o of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x1c, 0x1d, 0x1e]) out.push(Uint8Array.from([0x0f, 0x38, o, 0xc1]));
  out.push(Uint8Array.from([0x0f, 0x3a, 0x0f, 0xc1, 2]));
  out.push(Uint8Array.from([0x0f, 0x77]));
  return out;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('MMX instructions are reported by name', () => {
  let cs: Disassembler;
  const h = new InsnHarness(64);
  beforeAll(async () => { cs = await loadDisassembler(); });

  test('every opcode-table row parses (a row that does not would throw in the decoder)', () => {
    const bad = ROWS.filter((r) => { try { parseOperands(r.operands); return false; } catch { return true; } });
    expect(bad.map((r) => `${r.mnemonic} ${r.operands}`)).toEqual([]);
  });

  // The data moves (MOVD/MOVQ 0F 6E/6F/7E/7F) and EMMS are implemented (emulator/exec/mmx.ts;
  // differential cases in test/exec/mmx.test.ts): they keep the fault rules and run.
  const implemented = (b: Uint8Array): boolean => b[0] === 0x0f && [0x6e, 0x6f, 0x7e, 0x7f, 0x77].includes(b[1]);

  test.each(mmxEncodings().filter(implemented).map((b) => [hex(b), b] as const))('%s: runs; #UD with CR0.EM, #NM with CR0.TS', (_, bytes) => {
    expect(h.run(bytes, new Rng(1)).kind).not.toBe('unsupported');
    expect(h.run(bytes, new Rng(1), Cr0.EM)).toEqual({ kind: 'exception', vector: Vector.UD });
    expect(h.run(bytes, new Rng(1), Cr0.TS)).toEqual({ kind: 'exception', vector: Vector.NM });
  });

  test.each(mmxEncodings().filter((b) => !implemented(b)).map((b) => [hex(b), b] as const))('%s: named stop, #UD with CR0.EM, #NM with CR0.TS', (_, bytes) => {
    const insn = cs.disassembleOne(bytes, 0n, 64);
    expect(insn?.valid, 'capstone decodes it').toBe(true);
    const out = h.run(bytes, new Rng(1));
    expect(out.kind).toBe('unsupported');
    // Capstone's mnemonic is one of the names the report gives ("movd/movq" lists both).
    const named = /"([^ "]+)/.exec(out.detail ?? '')?.[1] ?? '';
    expect(named.split('/')).toContain(insn?.mnemonic);
    expect(h.run(bytes, new Rng(1), Cr0.EM)).toEqual({ kind: 'exception', vector: Vector.UD });
    expect(h.run(bytes, new Rng(1), Cr0.TS)).toEqual({ kind: 'exception', vector: Vector.NM });
    expect(h.run(bytes, new Rng(1), Cr0.EM | Cr0.TS)).toEqual({ kind: 'exception', vector: Vector.UD });
  });

  test('a memory operand is decoded with the instruction (its length is right)', () => {
    // paddb mm0, [rax+disp32] followed by ud2: the stop must be at the paddb, not beyond.
    const out = h.run(Uint8Array.from([0x0f, 0xfc, 0x80, 0x10, 0x20, 0x30, 0x40]), new Rng(2));
    expect(out.kind).toBe('unsupported');
    expect(h.vm.cpu.ripLo >>> 0).toBe(0x8000);
  });

  test('x87 rows not implemented raise #NM with CR0.TS before the report', () => {
    const fsin = Uint8Array.from([0xd9, 0xfe]);
    expect(h.run(fsin, new Rng(1)).kind).toBe('unsupported');
    expect(h.run(fsin, new Rng(1), Cr0.TS)).toEqual({ kind: 'exception', vector: Vector.NM });
  });
});
