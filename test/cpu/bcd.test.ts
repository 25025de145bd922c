import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { Reg } from '../../emulator/arch/registers.js';
import { Machine } from '../../vmm/machine.js';
import { buildElf32 } from '../helpers/elf32.js';
import { QEMU_BINARY, qemuArgs, qemuAvailable } from '../helpers/qemu.js';
import { DATA, le32, runTiny, u32 } from './tiny-guest.js';

/**
 * DAA, DAS, AAA, AAS, AAM, AAD and SALC (emulator/exec/bcd.ts) and LDS/LES/LSS/LFS/LGS
 * (emulator/exec/far-pointer.ts), which kvm-unit-tests' realmode.flat runs.
 *
 * The four adjustments run over every AL (AH = AL ^ 0x5A) with CF and AF in all four
 * combinations; the guest prints AX and EFLAGS AND 0xD5 (SF ZF AF PF CF) of each in hex. QEMU TCG
 * is the oracle for the whole table (the host CPU cannot run them: they are #UD in 64-bit mode).
 * Where the SDM leaves SF, ZF and PF undefined (AAA, AAS) both keep the old values.
 */

/*
 * Loaded at 0x200000, code at 0x20000C; assembled from:
 *   mov esp, 0x1ff000; mov dx, 0x3f8
 *   for op in das, daa, aaa, aas: mov ebp, op; call run
 *   out 0xf4, 0 (exit); hlt
 *   run:  for edi in 0, 1, 0x10, 0x11 (EFLAGS in): for ecx in 0..255:
 *           eax = ecx; ah = cl ^ 0x5a; push edi; popfd; call ebp; pushfd; pop ebx
 *           print ax as 4 hex digits, then (ebx & 0xd5) as 2
 *         a newline after each 256
 *   op:   das; ret / daa; ret / aaa; ret / aas; ret
 */
const TABLE_GUEST = buildElf32({ code: Buffer.from('bc00f01f0066baf803bd8b002000e823000000bd8d002000e819000000bd8f002000e80f000000bd91002000e805000000b000e6f4f431ff31c989c888cc80f45a579dffd59c5be83b00000089d825d5000000e8380000004181f90001000072d9b00aee83c701f7c702000000740a83ff12740abf1000000083ff1272bac32fc327c337c33fc35088e0e8010000005850c0e804e80100000058240f04303c3976020407eec3', 'hex') });

function mmulabTable(): string {
  const chunks: Buffer[] = [];
  const vm = new Machine({ memBytes: 8 << 20, serialOut: (b) => { chunks.push(Buffer.from(b)); } });
  vm.loadMultiboot(TABLE_GUEST, 'bcd', '');
  const r = vm.run(10_000_000);
  expect(r.outcome).toBe('exit');
  return Buffer.concat(chunks).toString('latin1');
}

test('DAS and AAA follow the SDM on a few inputs', () => {
  const lines = mmulabTable().split('\n');
  expect(lines).toHaveLength(17);
  const at = (line: number, al: number): string => lines[line].slice(al * 6, al * 6 + 6);
  // DAS, AL = 0x03 with AF (line 2: EFLAGS in 0x10): 0x03 - 6 borrows: AL = 0xFD, CF = AF = SF = 1.
  expect(at(2, 0x03)).toBe('59FD91');
  // DAS, AL = 0x9A, no flags: 0x9A - 6 - 0x60 = 0x34, CF and AF set.
  expect(at(0, 0x9a)).toBe('C03411');
  // AAA, AL = 0xFA (line 8): AX + 0x106 carries into AH twice: AH = 0xA0 + 2, AL = 0.
  expect(at(8, 0xfa).slice(0, 4)).toBe('A200');
});

const haveQemu = qemuAvailable();
if (!haveQemu) console.warn('NOTICE: qemu-system-x86_64 is not available: the DAA/DAS/AAA/AAS table comparison with QEMU TCG is SKIPPED');

test.skipIf(!haveQemu)('DAA, DAS, AAA and AAS: every AL with CF and AF as QEMU TCG computes them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmulab-bcd-'));
  const path = join(dir, 'bcd.elf');
  writeFileSync(path, TABLE_GUEST);
  // 24 KiB of output: QEMU drops serial bytes written to a pipe it finds full, so it writes to a file.
  const out = join(dir, 'serial.txt');
  const args = qemuArgs(path).map((a) => (a === 'stdio' ? `file:${out}` : a));
  const q = spawnSync(QEMU_BINARY, args, { timeout: 30_000, encoding: 'latin1' });
  expect(q.status, q.stderr).toBe(1);
  expect(mmulabTable()).toBe(readFileSync(out, 'latin1'));
}, 40_000);

test('AAM divides AL by its immediate, AAD multiplies AH into AL; AAM 0 is #DE', () => {
  expect(u32(runTiny('b8 3f 77 00 00  d4 0a'), Reg.RAX)).toBe(0x0603); // 63 = 6 * 10 + 3
  expect(u32(runTiny('b8 3f 77 00 00  d4 10'), Reg.RAX)).toBe(0x030f); // base 16
  expect(u32(runTiny('b8 07 06 00 00  d5 0a'), Reg.RAX)).toBe(0x0043); // 6 * 10 + 7 = 67
  expect(runTiny('b8 3f 77 00 00  d4 00').vector).toBe(0);
});

test('SALC sets AL from CF and changes no flag', () => {
  expect(u32(runTiny('b8 78 56 34 12  f9 d6'), Reg.RAX)).toBe(0x123456ff);
  expect(u32(runTiny('b8 78 56 34 12  f8 d6'), Reg.RAX)).toBe(0x12345600);
});

test('LDS/LFS load the offset and the selector after it; LSS with a null selector is #GP and loads nothing; a register operand is #UD', () => {
  const pointer = Buffer.from(`${le32(0x12345678)}0000`, 'hex');
  const lds = runTiny(`c5 05 ${le32(DATA)}`, 'max', pointer);
  expect(u32(lds, Reg.RAX)).toBe(0x12345678);
  expect(lds.vm.cpu.seg.selector[3 /* DS */]).toBe(0);
  const lfs16 = runTiny(`b8 ff ff ff ff  66 0f b4 05 ${le32(DATA)}`, 'max', Buffer.from('3412000000', 'hex'));
  expect(u32(lfs16, Reg.RAX)).toBe(0xffff1234); // a 16-bit offset; the selector is the word after it
  const lss = runTiny(`b8 aa aa aa aa  0f b2 05 ${le32(DATA)}`, 'max', pointer);
  expect(lss.vector).toBe(13);
  expect(u32(lss, Reg.RAX)).toBe(0xaaaaaaaa);
  expect(runTiny('0f b5 c0').vector).toBe(6);
});
