/**
 * The BIOS's handover state (emulator/machine/bios-state.ts) against SeaBIOS under QEMU TCG.
 *
 * A multiboot probe switches to real mode and prints, in hex on COM1: the PIC masks, the ELCR,
 * PIT channel 0's read-back status (without the OUT bit: QEMU's mode-2 OUT reads low between
 * pulses, the 8254 data sheet's reads high), the IVT entries of INT 08h and 1Ch, four BDA words
 * (COM1, EBDA segment, equipment, base memory), then waits in STI; HLT and prints how far the
 * BDA tick count moved and the master PIC's ISR afterwards: the 18.2 Hz tick woke it, the
 * handler counted it and sent the EOI. Through `mmulab qemu`'s options the line must equal
 * QEMU's; `mmulab run`'s machine (no BIOS) must not be touched: there the HLT is final.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { parseQemuArgs } from '../../emulator/cli/qemu-args.js';
import { createVm } from '../../emulator/cli/vm-factory.js';
import { Machine } from '../../vmm/machine.js';
import { buildElf32 } from '../helpers/elf32.js';
import { qemuAvailable, runInQemu } from '../helpers/qemu.js';

/*
 * Loaded at 0x20000 (the code at 0x2000C, after the multiboot header), assembled from:
 *   lgdt gdtr; ljmp 0x08:(pm16 - 0x20000)           32-bit entry: to 16-bit protected mode
 *   pm16: mov ax,0x10; mov ds/es/ss,ax; clear CR0.PE; ljmp 0x2000:rm
 *   rm:   ds = ss = 0, sp = 0x7000, es:di = the buffer
 *         in 0x21; in 0xa1; in 0x4d0; in 0x4d1; out 0x43,0xe2 / in 0x40 (AND 0x7f)   -> stosb each
 *         [0x20] and [0x70] (IVT 08h and 1Ch) -> stosd; [0x400] [0x40e] [0x410] [0x413] -> stosw
 *         bx = [0x46c]; sti; hlt; cli; al = [0x46c] - bx -> stosb
 *         OCW3 read ISR (out 0x20,0x0b / in 0x20) -> stosb
 *         print the buffer as hex digits on 0x3f8, a newline, out 0xf4,0 (exit), hlt
 *   gdt:  null, 16-bit code (base 0x20000, limit 0xffff, 0x9b), 16-bit data (base 0, 0x93)
 */
const PROBE = Buffer.from(
  '0f0115d4000200ea1a0000000800b810008ed88ec08ed00f20c024fe0f22c0ea3000002031c08ed88ed0bc0070b800208ec0bfda00e421aae4a1aaba' +
  'd004ecaa42ecaab0e2e643e440247faa66a1200066ab66a1700066aba10004aba10e04aba11004aba11304ab8b1e6c04fbf4faa16c0429d8aab00be6' +
  '20e420aa89f9beda0029f1baf803268a044688c4c0e804e80f0088e0e80a00e2edb00aee30c0e6f4f4240f04303c3976020407eec38d740000000000' +
  '00000000ffff0000029b0000ffff0000009300001700bc000200', 'hex');
const IMAGE = buildElf32({ code: PROBE, loadAddr: 0x20000 });

function runThroughQemuFrontEnd(path: string): { out: string; outcome: string } {
  const request = parseQemuArgs(['-nodefaults', '-accel', 'tcg', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-kernel', path]);
  if (request.kind !== 'run') throw new Error('parseQemuArgs did not return a run request');
  const chunks: Buffer[] = [];
  const vm = createVm(request.options, request.options.mmu, { image: IMAGE, initrd: undefined }, (b) => { chunks.push(Buffer.from(b)); });
  const r = vm.run(5_000_000);
  return { out: Buffer.concat(chunks).toString('latin1'), outcome: r.outcome };
}

const haveQemu = qemuAvailable();
if (!haveQemu) console.warn('NOTICE: qemu-system-x86_64 is not available: the BIOS state comparison with QEMU TCG is SKIPPED');

test('mmulab qemu: the timer tick wakes STI; HLT through the IVT and the handler counts it and sends the EOI', () => {
  const r = runThroughQemuFrontEnd('probe.elf');
  expect(r.outcome).toBe('exit');
  const line = r.out.trim();
  expect(line).toMatch(/^[0-9A-F]{46}$/);
  expect(line.slice(42, 44)).toBe('01'); // one tick
  expect(line.slice(44, 46)).toBe('00'); // ISR empty again
});

test('mmulab run (no BIOS): the same probe halts for good at the HLT, with the IVT empty', () => {
  const vm = new Machine({ memBytes: 128 << 20, serialOut: () => {} });
  vm.loadMultiboot(IMAGE, 'probe.elf', '');
  const r = vm.run(5_000_000);
  expect(r.outcome).toBe('halted');
  expect(Buffer.from(vm.readPhysical(0x20, 4)).toString('hex')).toBe('00000000');
});

test.skipIf(!haveQemu)('the probe prints the same line under QEMU TCG (SeaBIOS) and mmulab qemu', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmulab-bios-'));
  const path = join(dir, 'probe.elf');
  writeFileSync(path, IMAGE);
  const q = await runInQemu(path, [], { timeoutMs: 30_000 });
  expect(q.status, q.stderr).toBe(1);
  expect(runThroughQemuFrontEnd(path).out.trim()).toBe(q.stdout.trim());
}, 40_000);
