/**
 * The decoder's instruction lengths against Capstone on every instruction of every built guest
 * (DESIGN.md section 8). Each guest's .text is: the multiboot header (data, 12 bytes from the
 * start of .text up to _start), 32-bit code from _start up to start64, and 64-bit code after it.
 * Capstone disassembles each code range in its mode; for each instruction it finds, mmulab's
 * decoder must give the same length and must not call it an undefined opcode.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { type CodeBits, formatBytes, loadDisassembler } from '../../emulator/decode/disasm.js';
import { UNDEFINED_ROW, decode } from '../../emulator/decode/decoder.js';
import { DecodedStore } from '../../emulator/decode/store.js';
import { ROWS } from '../../emulator/decode/table.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';
import { readElf64 } from './elf64.js';

const GUESTS = fileURLToPath(new URL('../../build/guests/', import.meta.url));
const images = readdirSync(GUESTS).filter((f) => f.endsWith('.elf')).sort();

interface Range { readonly start: bigint; readonly end: bigint; readonly bits: CodeBits }

/** The code ranges of a guest's .text and the bytes of .text. */
function codeRanges(path: string): { text: Uint8Array; base: bigint; ranges: Range[] } {
  const elf = readElf64(readFileSync(path));
  const text = elf.section('.text');
  const start = elf.symbols.get('_start');
  const start64 = elf.symbols.get('start64');
  if (start === undefined || start64 === undefined) throw new Error(`${path}: no _start/start64 symbols`);
  const end = text.addr + BigInt(text.size);
  const bytes = elf.bytes(text);
  // The multiboot header: magic 0x1badb002, flags, checksum.
  expect(start - text.addr).toBe(12n);
  expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true)).toBe(0x1badb002);
  return { text: bytes, base: text.addr, ranges: [{ start, end: start64, bits: 32 }, { start: start64, end, bits: 64 }] };
}

interface Mismatch { readonly address: bigint; readonly bits: CodeBits; readonly bytes: Uint8Array; readonly capstone: string; readonly ours: string }

/** Length of a ModRM byte and what follows it (SIB, displacement) with 32/64-bit addressing. */
function modrmLength(bytes: Uint8Array, at: number): number {
  const modrm = bytes[at];
  const mod = modrm >> 6;
  const rm = modrm & 7;
  if (mod === 3) return 1;
  let n = 1;
  if (rm === 4) {
    n++;
    if (mod === 0 && (bytes[at + 1] & 7) === 5) n += 4;
  } else if (mod === 0 && rm === 5) n += 4;
  if (mod === 1) n += 1;
  if (mod === 2) n += 4;
  return n;
}

/**
 * Encodings Capstone 5 decodes differently from the SDM, where the SDM is the authority. Returns
 * the SDM length, or undefined when `bytes` is not one of them.
 * - UD0 is "0F FF /r" (SDM Vol. 2B, UD: "UD0 r32, r/m32"), so it has a ModRM byte; Capstone
 *   decodes "0F FF" alone (the pre-2017 description). The exceptions guest runs "0f ff c0".
 */
function sdmLengthWhereCapstoneDiffers(bytes: Uint8Array): number | undefined {
  if (bytes.length >= 3 && bytes[0] === 0x0f && bytes[1] === 0xff) return 2 + modrmLength(bytes, 2);
  return undefined;
}

describe('decoder lengths agree with Capstone on every guest instruction', () => {
  test('the guests are built', () => {
    expect(images.length, `no .elf images in ${GUESTS}: run npm run build:guests`).toBeGreaterThanOrEqual(4);
  });

  let total = 0;
  test.each(images)('%s', async (image) => {
    const dis = await loadDisassembler();
    const store = new DecodedStore(1);
    // Every feature mmulab implements: guests run some images with --cpu max (STAC, INVPCID, ...).
    const model = cpuModelFromSpec('max');
    const { text, base, ranges } = codeRanges(GUESTS + image);
    const mismatches: Mismatch[] = [];
    /** Bytes Capstone cannot decode (the exceptions guest runs undefined opcodes on purpose). */
    const undecodable: string[] = [];
    const deviations: string[] = [];
    let compared = 0;
    const byBits = { 32: 0, 64: 0 } as Record<CodeBits, number>;
    const ourLength = (bytes: Uint8Array, bits: CodeBits): number => decode(store, 0, bytes, bytes.length, { bits, model });
    for (const r of ranges) {
      const to = Number(r.end - base);
      let off = Number(r.start - base);
      // Disassemble to the end of the range; where Capstone cannot be trusted to find the next
      // instruction boundary (a byte it cannot decode, a known deviation), step over the
      // instruction by mmulab's length and disassemble again from there.
      while (off < to) {
        let resync = -1;
        for (const insn of dis.disassemble(text.subarray(off, to), base + BigInt(off), r.bits)) {
          const at = Number(insn.address - base);
          const bytes = text.subarray(at, Math.min(at + 15, to));
          const len = ourLength(bytes, r.bits);
          if (!insn.valid) {
            undecodable.push(`0x${insn.address.toString(16)}: ${formatBytes(bytes.subarray(0, Math.max(1, len)))} (mmulab: ${ROWS[store.row[0]].mnemonic})`);
            resync = at + Math.max(1, len);
            break;
          }
          const sdm = sdmLengthWhereCapstoneDiffers(bytes);
          if (sdm !== undefined) {
            deviations.push(`0x${insn.address.toString(16)}: ${formatBytes(bytes.subarray(0, sdm))}`);
            if (len !== sdm) mismatches.push({ address: insn.address, bits: r.bits, bytes: bytes.subarray(0, sdm), capstone: `SDM length ${sdm}`, ours: `length ${len}` });
            resync = at + sdm;
            break;
          }
          compared++;
          byBits[r.bits]++;
          const capstone = `capstone "${insn.mnemonic}${insn.opStr === '' ? '' : ' ' + insn.opStr}" length ${insn.size}`;
          if (len !== insn.size) {
            mismatches.push({ address: insn.address, bits: r.bits, bytes: bytes.subarray(0, Math.max(insn.size, len)), capstone, ours: `length ${len}` });
          } else if (store.row[0] === UNDEFINED_ROW.id) {
            mismatches.push({ address: insn.address, bits: r.bits, bytes: bytes.subarray(0, len), capstone, ours: 'undefined opcode' });
          }
        }
        if (resync < 0) break;
        off = resync;
      }
    }
    total += compared;
    console.log(`${image}: ${compared} instructions compared with Capstone (${byBits[32]} 32-bit, ${byBits[64]} 64-bit; running total ${total})` +
      (undecodable.length > 0 ? `; not decodable by Capstone: ${undecodable.join(', ')}` : '') +
      (deviations.length > 0 ? `; checked against the SDM instead: ${deviations.join(', ')}` : ''));
    const report = mismatches.slice(0, 25).map((m) =>
      `${m.bits}-bit 0x${m.address.toString(16)}: ${formatBytes(m.bytes)}: ${m.capstone}, mmulab ${m.ours}`);
    expect(report, `${mismatches.length} mismatch(es) in ${image}`).toEqual([]);
    expect(compared).toBeGreaterThan(100);
  });
});
