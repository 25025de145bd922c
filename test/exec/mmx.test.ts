/**
 * Differential tests of the MMX data moves (MOVD/MOVQ to, from and between MMX registers, EMMS)
 * against the host CPU. Each snippet moves values through MM registers into general registers and
 * DATA, so the harness's register and memory comparison checks them; FNSTSW shows that an MMX
 * instruction sets TOP to 0 (after an FLD moved it to 7). Every snippet ends with EMMS.
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { DATA, DATA_SIZE } from '../helpers/snippet.js';
import type { TestCase } from './lib/diff.js';
import { COMPARED } from './lib/flags.js';
import { randomFlags, randomRegs } from './lib/forms.js';
import type { Rng } from './lib/rng.js';
import { checkCases } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
/** ModRM/SIB for [disp32] with `reg` in ModRM.reg. */
const abs = (reg: number, off: number): number[] => [(reg << 3) | 4, 0x25, ...le32(DATA + off)];
const EMMS = [0x0f, 0x77];

const FORMS: ReadonlyArray<readonly [string, number[]]> = [
  ['movq mm0, rax; movq rbx, mm0', [0x48, 0x0f, 0x6e, 0xc0, 0x48, 0x0f, 0x7e, 0xc3]],
  ['movd mm1, eax; movd ecx, mm1; movq rdx, mm1', [0x0f, 0x6e, 0xc8, 0x0f, 0x7e, 0xc9, 0x48, 0x0f, 0x7e, 0xca]],
  ['movq mm2, [DATA]; movq [DATA+8], mm2', [0x0f, 0x6f, ...abs(2, 0), 0x0f, 0x7f, ...abs(2, 8)]],
  ['movq mm2, [DATA]; movq mm3, mm2; movq mm4, mm3 (0F 7F); movq [DATA+16], mm4',
    [0x0f, 0x6f, ...abs(2, 0), 0x0f, 0x6f, 0xda, 0x0f, 0x7f, 0xdc, 0x0f, 0x7f, ...abs(4, 16)]],
  ['movd mm5, [DATA+4]; movd [DATA+24], mm5; movq rsi, mm5', [0x0f, 0x6e, ...abs(5, 4), 0x0f, 0x7e, ...abs(5, 24), 0x48, 0x0f, 0x7e, 0xee]],
  ['fld1; movq mm7, rax; fnstsw ax (TOP back to 0); movq rbx, mm7', [0xd9, 0xe8, 0x48, 0x0f, 0x6e, 0xf8, 0xdf, 0xe0, 0x48, 0x0f, 0x7e, 0xfb]],
];

function cases(rng: Rng): TestCase[] {
  const out: TestCase[] = [];
  for (const [text, bytes] of FORMS) {
    for (let n = 0; n < 8; n++) {
      const data = new Uint8Array(DATA_SIZE);
      for (let k = 0; k < 32; k++) data[k] = rng.int(256);
      out.push({ form: text, text, code: Uint8Array.from([...bytes, ...EMMS]), regs: randomRegs(rng), data, rflags: BigInt(randomFlags(rng)), flagsMask: COMPARED });
    }
  }
  return out;
}

describe('MMX moves', () => {
  it('MOVD/MOVQ through MM registers, EMMS', () => checkCases('mmx-mov', cases));
});
