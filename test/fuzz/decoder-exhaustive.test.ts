import { describe, expect, test } from 'vitest';
import { decode } from '../../emulator/decode/decoder.js';
import { DecodedStore } from '../../emulator/decode/store.js';
import { CpuModel, DEFAULT_FEATURES, FEATURES, type FeatureName } from '../../emulator/cpu/cpu-model.js';

/**
 * The decoder over the structure of its whole input space rather than at random: every opcode of
 * the four maps (one-byte, 0F, 0F 38, 0F 3A), with no prefix, 66, F2, F3, 67 and REX.W, a ModRM of
 * every mod and reg with r/m 0, 4 (SIB) and 5, in 16-, 32- and 64-bit code, with the default CPU
 * model and with every feature. Decoding picks (and builds, on first use) the handler of each
 * form; none of it may throw (issue 18: the MMX rows did), and every length is 1-15.
 */

const MODRMS: number[] = [];
for (let mod = 0; mod < 4; mod++) for (let reg = 0; reg < 8; reg++) for (const rm of [0, 4, 5]) MODRMS.push((mod << 6) | (reg << 3) | rm);
const PREFIXES: number[][] = [[], [0x66], [0xf2], [0xf3], [0x67]];
const MAPS: number[][] = [[], [0x0f], [0x0f, 0x38], [0x0f, 0x3a]];

describe('exhaustive decode of the opcode maps', () => {
  const models: Array<[string, CpuModel]> = [
    ['default model', new CpuModel({ features: DEFAULT_FEATURES })],
    ['every feature', new CpuModel({ features: Object.keys(FEATURES) as FeatureName[] })],
  ];
  test.each(models)('%s: no throw, lengths 1-15', (_, model) => {
    const store = new DecodedStore(16);
    const bytes = new Uint8Array(32);
    const failures: string[] = [];
    let decoded = 0;
    for (const bits of [16, 32, 64]) {
      const ctx = { bits, model };
      for (const prefix of PREFIXES) {
        for (const rex of bits === 64 ? [-1, 0x48, 0x41] : [-1]) {
          for (const esc of MAPS) {
            for (let opcode = 0; opcode < 256; opcode++) {
              for (const modrm of MODRMS) {
                let p = 0;
                for (const b of prefix) bytes[p++] = b;
                if (rex >= 0) bytes[p++] = rex;
                for (const b of esc) bytes[p++] = b;
                bytes[p++] = opcode;
                bytes[p++] = modrm;
                // SIB with base 5 (a disp32 under mod 0), then displacement and immediate bytes.
                bytes.fill(0x25, p, p + 1);
                bytes.fill(0x11, p + 1);
                let len: number;
                try {
                  len = decode(store, 0, bytes, bytes.length, ctx);
                } catch (err) {
                  failures.push(`${bits}-bit ${Buffer.from(bytes.subarray(0, p)).toString('hex')}: ${(err as Error).message}`);
                  continue;
                }
                decoded++;
                if (len < 1 || len > 15) failures.push(`${bits}-bit ${Buffer.from(bytes.subarray(0, p)).toString('hex')}: length ${len}`);
              }
            }
          }
        }
      }
    }
    expect(failures.slice(0, 20)).toEqual([]);
    expect(decoded).toBe(3 * PREFIXES.length * 4 * 256 * MODRMS.length + 2 * PREFIXES.length * 4 * 256 * MODRMS.length);
  });
});
