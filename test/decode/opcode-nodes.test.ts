/**
 * The decoder's opcode stage walks the flattened maps (emulator/decode/opcode-nodes.ts). This
 * checks that it picks the same row as a walk of the table's own selector objects (the rules the
 * decoder followed before the flattening: a mandatory F3/F2 first, then 66, else the plain
 * meaning; ModRM.reg for a group; mod for a mod selector; ModRM.rm of a register form for an rm
 * selector) for every opcode of every map, every mandatory-prefix combination and every ModRM
 * byte, and that a consumed F3/F2 is no REP prefix.
 */
import { describe, expect, test } from 'vitest';
import { decode, UNDEFINED_ROW } from '../../emulator/decode/decoder.js';
import { DecodedStore, Prefix } from '../../emulator/decode/store.js';
import { type Entry, ROWS, RowFlag } from '../../emulator/decode/table.js';
import { ONE_BYTE } from '../../emulator/decode/one-byte.js';
import { THREE_BYTE_38, THREE_BYTE_3A, TWO_BYTE } from '../../emulator/decode/two-byte.js';
import { CpuModel } from '../../emulator/cpu/cpu-model.js';

/** The selector walk over the table objects; `rep` is 0, 0xf3 or 0xf2. */
function reference(e: Entry | undefined, rep: number, opsize: boolean, modrm: number): { id: number; repUsed: boolean } {
  let repUsed = false;
  while (e !== undefined && e.kind !== 'row') {
    if (e.kind === 'prefix') {
      if (!repUsed && rep === 0xf3 && e.pF3 !== undefined) { e = e.pF3; repUsed = true; }
      else if (!repUsed && rep === 0xf2 && e.pF2 !== undefined) { e = e.pF2; repUsed = true; }
      else if (opsize && e.p66 !== undefined) e = e.p66;
      else e = e.none;
    } else if (e.kind === 'group') e = e.entries[(modrm >> 3) & 7];
    else if (e.kind === 'mod') e = (modrm & 0xc0) === 0xc0 ? e.reg : e.mem;
    else e = (modrm & 0xc0) === 0xc0 ? e.entries[modrm & 7] : undefined;
  }
  return { id: e === undefined ? UNDEFINED_ROW.id : e.id, repUsed };
}

const MAPS: ReadonlyArray<readonly [string, readonly number[], readonly (Entry | undefined)[]]> = [
  ['one-byte', [], ONE_BYTE], ['0F', [0x0f], TWO_BYTE], ['0F 38', [0x0f, 0x38], THREE_BYTE_38], ['0F 3A', [0x0f, 0x3a], THREE_BYTE_3A],
];

const NOT_OPCODES = [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3, 0xc4, 0xc5, 0x62, 0x0f];

describe('flattened opcode maps', () => {
  const store = new DecodedStore(64);
  const model = new CpuModel();
  for (const [name, escape, table] of MAPS) {
    test(`${name}: every opcode, mandatory prefix and ModRM byte selects the table's row`, () => {
      const bad: string[] = [];
      let compared = 0;
      const bytes = new Uint8Array(15);
      for (let opcode = 0; opcode < 256; opcode++) {
        // Prefixes, REX, VEX/EVEX and the map escapes are not rows of the one-byte map in 64-bit mode.
        if (escape.length === 0 && (NOT_OPCODES.includes(opcode) || (opcode & 0xf0) === 0x40)) continue;
        if (escape.length === 1 && (opcode === 0x38 || opcode === 0x3a)) continue;
        const entry = table[opcode];
        const selectors = entry !== undefined && entry.kind !== 'row';
        for (const rep of [0, 0xf3, 0xf2]) {
          for (const opsize of [false, true]) {
            for (let modrm = 0; modrm < (selectors ? 256 : 1); modrm++) {
              const want = reference(entry, rep, opsize, modrm);
              const row = ROWS[want.id];
              // A feature the default model lacks turns the row into another one; not this test's subject.
              if (row.feature !== undefined && !model.has(row.feature)) continue;
              bytes.fill(0);
              let p = 0;
              if (opsize) bytes[p++] = 0x66;
              if (rep !== 0) bytes[p++] = rep;
              for (const b of escape) bytes[p++] = b;
              bytes[p++] = opcode;
              bytes[p] = modrm;
              decode(store, 1, bytes, 15, { bits: 64, model });
              compared++;
              const got = store.row[1];
              const repBit = (store.prefix[1] & (Prefix.REP | Prefix.REPNE)) !== 0;
              const wantRep = rep !== 0 && !want.repUsed && (row.flags & RowFlag.REP) !== 0;
              if (got !== want.id || repBit !== wantRep) {
                bad.push(`${Array.from(bytes.subarray(0, p + 1), (b) => b.toString(16).padStart(2, '0')).join(' ')}: ` +
                  `row ${ROWS[got].mnemonic} ${ROWS[got].operands} rep ${repBit}, want ${row.mnemonic} ${row.operands} rep ${wantRep}`);
              }
            }
          }
        }
      }
      expect(bad.slice(0, 5)).toEqual([]);
      expect(compared).toBeGreaterThan(1000);
    });
  }
});
