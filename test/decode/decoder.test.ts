import { describe, expect, test } from 'vitest';
import { decode, UNDEFINED_ROW, TOO_LONG_ROW } from '../../emulator/decode/decoder.js';
import { Base, DecodedStore, Prefix } from '../../emulator/decode/store.js';
import { ROWS } from '../../emulator/decode/table.js';
import { CpuModel, DEFAULT_FEATURES } from '../../emulator/cpu/cpu-model.js';
import { Seg } from '../../emulator/arch/registers.js';

const store = new DecodedStore(64);
const model = new CpuModel();

function dec(hex: string, bits = 64, m: CpuModel = model): { len: number; name: string; n: number } {
  const bytes = Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex'));
  const len = decode(store, 1, bytes, bytes.length, { bits, model: m });
  const row = ROWS[store.row[1]];
  return { len, name: `${row.mnemonic}${row.operands ? ' ' + row.operands : ''}`, n: 1 };
}

describe('decoder', () => {
  test('REX.W selects 64-bit operands and REX.B/R extend register numbers', () => {
    const r = dec('4d 01 c8'); // add r8, r9
    expect(r.len).toBe(3);
    expect(r.name).toBe('add Ev,Gv');
    expect(store.size[1]).toBe(8);
    expect(store.rm[1]).toBe(8);
    expect(store.reg[1]).toBe(9);
  });

  test('66 selects 16-bit operands, and REX.W wins over it', () => {
    dec('66 01 c8');
    expect(store.size[1]).toBe(2);
    dec('66 48 01 c8');
    expect(store.size[1]).toBe(8);
  });

  test('a REX prefix followed by another prefix is ignored', () => {
    const r = dec('48 66 01 c8');
    expect(r.len).toBe(4);
    expect(store.size[1]).toBe(2);
    expect(store.prefix[1] & Prefix.REX).toBe(0);
  });

  test('byte registers 4-7 are AH..BH without REX and SPL..DIL with it', () => {
    dec('88 e0'); // mov al, ah
    expect([store.rm[1], store.reg[1]]).toEqual([0, 16]);
    dec('40 88 e0'); // mov al, spl
    expect([store.rm[1], store.reg[1]]).toEqual([0, 4]);
  });

  test('RIP-relative addressing in 64-bit mode, absolute disp32 in 32-bit mode', () => {
    dec('8b 05 78 56 34 12');
    expect([store.base[1], store.disp[1]]).toEqual([Base.RIP, 0x12345678]);
    dec('8b 05 78 56 34 12', 32);
    expect([store.base[1], store.disp[1]]).toEqual([Base.NONE, 0x12345678]);
  });

  test('SIB with no base and a scaled index, and RSP/RBP bases default to SS', () => {
    const r = dec('8b 04 8d 10 00 00 00'); // mov eax, [rcx*4+0x10]
    expect(r.len).toBe(7);
    expect([store.base[1], store.index[1], store.scale[1], store.disp[1]]).toEqual([Base.NONE, 1, 2, 0x10]);
    dec('8b 44 24 08'); // mov eax, [rsp+8]
    expect([store.base[1], store.index[1], store.seg[1]]).toEqual([4, -1, Seg.SS]);
    dec('64 8b 45 f8'); // mov eax, fs:[rbp-8]
    expect([store.base[1], store.disp[1], store.seg[1]]).toEqual([5, -8, Seg.FS]);
  });

  test('16-bit addressing forms', () => {
    const r = dec('8b 42 02', 16); // mov ax, [bp+si+2]
    expect(r.len).toBe(3);
    expect([store.base[1], store.index[1], store.seg[1], store.asize[1]]).toEqual([5, 6, Seg.SS, 2]);
    dec('67 8b 06 34 12', 32); // 67 in 32-bit code: [disp16]
    expect([store.base[1], store.disp[1], store.asize[1]]).toEqual([Base.NONE, 0x1234, 2]);
  });

  test('immediates: imm64 for MOV r64, sign-extended imm8/imm32 elsewhere', () => {
    const r = dec('48 b8 88 77 66 55 44 33 22 11');
    expect(r.len).toBe(10);
    expect([store.imm[1] >>> 0, store.immHi[1] >>> 0]).toEqual([0x55667788, 0x11223344]);
    dec('48 83 c0 ff');
    expect([store.imm[1], store.immHi[1]]).toEqual([-1, -1]);
    dec('48 05 00 00 00 80');
    expect([store.imm[1] >>> 0, store.immHi[1]]).toEqual([0x80000000, -1]);
  });

  test('moffs64 and ENTER imm16, imm8', () => {
    expect(dec('48 a1 08 07 06 05 04 03 02 01').len).toBe(10);
    expect([store.base[1], store.disp[1], store.imm2[1]]).toEqual([Base.ABS64, 0x05060708, 0x01020304]);
    expect(dec('c8 10 00 03').len).toBe(4);
    expect([store.imm[1], store.imm2[1]]).toEqual([0x10, 3]);
  });

  test('groups are selected by ModRM.reg', () => {
    expect(dec('f7 d8').name).toBe('neg Ev');
    expect(dec('d3 e0').name).toBe('shl Ev,CL');
    expect(dec('0f ba e8 05').name).toBe('bts Ev,Ib');
  });

  test('mandatory prefixes select POPCNT, TZCNT, LZCNT and ENDBR64', () => {
    expect(dec('f3 0f b8 c1').name).toBe('popcnt Gv,Ev');
    expect(dec('f3 0f bc c1').name).toBe('tzcnt Gv,Ev');
    expect(dec('0f bc c1').name).toBe('bsf Gv,Ev');
    expect(dec('f3 0f 1e fa').name).toBe('endbr/rdssp Ev');
    expect(store.prefix[1] & Prefix.REP).toBe(0);
  });

  test('without BMI1 the F3 prefix of TZCNT is ignored and it runs as BSF, as on such CPUs', () => {
    const noBmi = new CpuModel({ features: DEFAULT_FEATURES.filter((f) => f !== 'bmi1') });
    expect(dec('f3 0f bc c1', 64, noBmi).name).toBe('bsf Gv,Ev');
  });

  test('string instructions keep REP/REPNE; LOCK is only valid on a memory destination', () => {
    dec('f3 48 a5');
    expect(store.prefix[1] & Prefix.REP).toBe(Prefix.REP);
    dec('f2 ae');
    expect(store.prefix[1] & Prefix.REPNE).toBe(Prefix.REPNE);
    const lockedMem = dec('f0 01 08');
    const lockedReg = dec('f0 01 c8');
    expect(lockedMem.len).toBe(3);
    expect(lockedReg.len).toBe(3);
    dec('f0 01 08');
    const okHandler = store.handler[1];
    dec('f0 01 c8');
    expect(store.handler[1]).not.toBe(okHandler);
  });

  test('undefined opcodes and opcodes invalid in 64-bit mode decode to #UD records', () => {
    expect(dec('0f 04').name).toBe(UNDEFINED_ROW.mnemonic);
    dec('06'); // push es: valid in 32-bit code only
    const udHandler = store.handler[1];
    expect(dec('06', 32).name).toBe('push ES');
    expect(store.handler[1]).not.toBe(udHandler);
    dec('0f 04');
    expect(store.handler[1]).toBe(udHandler);
  });

  test('an instruction longer than 15 bytes decodes to a #GP record', () => {
    expect(dec('66'.repeat(14) + '01 c8').name).toBe(TOO_LONG_ROW.mnemonic);
  });

  test('more bytes than available is reported, not guessed', () => {
    const bytes = Uint8Array.from([0x48, 0xb8, 1, 2, 3]);
    expect(decode(store, 1, bytes, bytes.length, { bits: 64, model })).toBe(-1);
  });

  test('port I/O takes its operand size from the accumulator, not from DX', () => {
    dec('ef'); // out dx, eax
    expect(store.size[1]).toBe(4);
    dec('66 ef'); // out dx, ax
    expect(store.size[1]).toBe(2);
    dec('ee'); // out dx, al
    expect(store.size[1]).toBe(1);
    dec('ed'); // in eax, dx
    expect(store.size[1]).toBe(4);
    dec('6d'); // insd
    expect(store.size[1]).toBe(4);
  });

  test('MOV to a control register ignores ModRM.mod (always a register)', () => {
    const r = dec('0f 22 18'); // mov cr3, rax with mod=00
    expect(r.len).toBe(3);
    expect(store.rm[1]).toBe(0);
    expect(store.reg[1]).toBe(3);
  });
});
