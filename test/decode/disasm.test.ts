/** The Capstone wrapper: modes, chunking, address normalisation, invalid bytes, formatting. */
import { describe, expect, test } from 'vitest';
import {
  disassemble, disassembleOne, formatAddress, formatBytes, formatInsn, formatTraceLine, loadDisassembler, registerValues,
} from '../../emulator/decode/disasm.js';

describe('disassemble', () => {
  test('decodes in the mode asked for', async () => {
    const bytes = Uint8Array.from([0xb8, 0x01, 0x00, 0x00, 0x00]);
    expect((await disassembleOne(bytes, 0n, 32))).toMatchObject({ mnemonic: 'mov', opStr: 'eax, 1', size: 5 });
    expect((await disassembleOne(bytes, 0n, 16))).toMatchObject({ mnemonic: 'mov', opStr: 'ax, 1', size: 3 });
    expect((await disassembleOne(Uint8Array.from([0x48, 0x89, 0xe5]), 0n, 64))).toMatchObject({ mnemonic: 'mov', opStr: 'rbp, rsp', size: 3 });
  });

  test('loads Capstone once', async () => {
    expect(await loadDisassembler()).toBe(await loadDisassembler());
  });

  test('addresses above 2^63 come back unsigned', async () => {
    const insns = await disassemble(Uint8Array.from([0x90, 0xeb, 0xfd]), 0xffffffff80001000n, 64);
    expect(insns.map((i) => i.address)).toEqual([0xffffffff80001000n, 0xffffffff80001001n]);
    expect(insns[1].opStr).toBe('0xffffffff80001000');
  });

  test('100,000 instructions in one call (past the 16 MiB heap limit of a single Capstone call)', async () => {
    const n = 100_000;
    const insns = await disassemble(new Uint8Array(n).fill(0x90), 0x400000n, 64);
    expect(insns).toHaveLength(n);
    expect(insns.every((i, k) => i.mnemonic === 'nop' && i.address === 0x400000n + BigInt(k))).toBe(true);
    // The instance still works afterwards.
    expect((await disassembleOne(Uint8Array.from([0xc3]), 0n, 64))?.mnemonic).toBe('ret');
  });

  test('an instruction across a chunk boundary is decoded once, whole', async () => {
    const bytes = new Uint8Array(8192).fill(0x90);
    bytes.set([0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8], 4090); // movabs rax, imm64 across 4096
    const insns = await disassemble(bytes, 0n, 64);
    const mov = insns.filter((i) => i.mnemonic === 'movabs');
    expect(mov).toHaveLength(1);
    expect(mov[0]).toMatchObject({ address: 4090n, size: 10 });
    expect(insns.reduce((sum, i) => sum + i.size, 0)).toBe(bytes.length);
  });

  test('bytes Capstone cannot decode become one-byte (bad) entries and decoding resumes', async () => {
    const insns = await disassemble(Uint8Array.from([0x90, 0x06, 0x90]), 0x1000n, 64); // push es: invalid in 64-bit mode
    expect(insns.map((i) => [i.mnemonic, i.valid, i.address])).toEqual([['nop', true, 0x1000n], ['(bad)', false, 0x1001n], ['nop', true, 0x1002n]]);
  });

  test('a truncated instruction at the end is (bad)', async () => {
    const insns = await disassemble(Uint8Array.from([0x90, 0xb8, 0x01]), 0n, 32);
    expect(insns.map((i) => i.mnemonic)).toEqual(['nop', '(bad)', '(bad)']);
  });

  test('disassembleOne returns null for invalid bytes instead of throwing', async () => {
    expect(await disassembleOne(Uint8Array.from([0x06]), 0n, 64)).toBeNull();
    expect(await disassembleOne(new Uint8Array(0), 0n, 64)).toBeNull();
    expect(await disassembleOne(Uint8Array.from([0xd9, 0xee, 0x90]), 0x401234n, 32)).toMatchObject({ mnemonic: 'fldz', size: 2, address: 0x401234n });
  });
});

describe('formatting', () => {
  test('addresses, bytes and instruction text', async () => {
    expect(formatAddress(0x401234n)).toBe('0x00401234');
    expect(formatAddress(0xffffffff80001000n)).toBe('0xffffffff80001000');
    expect(formatAddress(-1n)).toBe('0xffffffffffffffff');
    expect(formatBytes(Uint8Array.from([0xd9, 0xee]))).toBe('d9 ee');
    expect(formatInsn(await disassembleOne(Uint8Array.from([0xc3]), 0n, 64))).toBe('ret');
    expect(formatInsn(null)).toBe('(bad)');
  });

  test('register values by code size', () => {
    const lo = new Int32Array(16).map((_, k) => k);
    const hi = new Int32Array(16);
    hi[0] = -1;
    const r64 = registerValues(64, lo, hi, 0x246);
    expect(r64).toHaveLength(17);
    expect(r64[0]).toEqual(['rax', 'ffffffff00000000']);
    expect(r64[15]).toEqual(['r15', '000000000000000f']);
    expect(r64[16]).toEqual(['rflags', '00000246']);
    const r32 = registerValues(32, lo, hi, 0x2);
    expect(r32.map(([n]) => n)).toEqual(['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'eflags']);
  });

  test('a trace line', async () => {
    const bytes = Uint8Array.from([0x48, 0x89, 0xe5]);
    const line = formatTraceLine(0x400100n, bytes, await disassembleOne(bytes, 0x400100n, 64), 'rsp=0000000000001000', { bytes: 10, insn: 14 });
    expect(line).toBe('0x00400100  48 89 e5    mov rbp, rsp    rsp=0000000000001000');
  });
});
