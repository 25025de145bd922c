/**
 * Differential tests of the 16 conditions: SETcc (register incl. AH..BH and SPL..DIL, memory),
 * CMOVcc (16/32/64-bit, register and memory source; a 32-bit CMOV zero-extends even when the
 * condition is false), Jcc rel8/rel32 forwards and backwards, JRCXZ/JECXZ and
 * LOOP/LOOPE/LOOPNE (64- and 32-bit counters). Input flags enumerate all 64 combinations of
 * CF PF AF ZF SF OF.
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { RBX, RCX } from './lib/asm.js';
import { WIDE, regRm, rmOnly } from './lib/common.js';
import { AF, CC_NAMES, CF, DF, OF, PF, SF, ZF } from './lib/flags.js';
import type { Form, Gen } from './lib/forms.js';
import type { Rng } from './lib/rng.js';
import { checkForms } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

/** Input flags cycling through all 64 combinations of the status flags (DF random). */
function enumFlags(): (rng: Rng) => number {
  let k = 0;
  const bits = [CF, PF, AF, ZF, SF, OF];
  return (rng) => {
    let f = 2;
    for (let b = 0; b < 6; b++) if ((k >> b) & 1) f |= bits[b]!;
    k = (k + 1) & 63;
    return f | (rng.chance(0.2) ? DF : 0);
  };
}

describe('SETcc', () => {
  for (let cc = 0; cc < 16; cc++) {
    const name = `set${CC_NAMES[cc]}`;
    it(name, () => checkForms(name, rmOnly(name, 1, [0x0f, 0x90 + cc], 0, { flagsIn: enumFlags(), count: 128, memCount: 64 })));
  }
});

describe('CMOVcc', () => {
  for (let cc = 0; cc < 16; cc++) {
    const name = `cmov${CC_NAMES[cc]}`;
    it(name, () => checkForms(name, WIDE.flatMap((size) =>
      regRm(name, size, [0x0f, 0x40 + cc], { flagsIn: enumFlags(), same: 0.05, count: 128, memCount: 64 }))));
  }
});

// lea rcx,[rcx+1] / lea rdx,[rdx+1]: markers that do not touch the flags
const INC_RCX = [0x48, 0x8d, 0x49, 0x01];
const INC_RDX = [0x48, 0x8d, 0x52, 0x01];

function jccForms(cc: number): Form[] {
  const flagsIn = enumFlags();
  const f = (name: string, code: number[]): Form => ({
    name: `j${CC_NAMES[cc]} ${name}`, mnemonic: `j${CC_NAMES[cc]} ${name}`, slots: [], flagsIn, count: 128,
    bytes: () => new Uint8Array(code),
  });
  const rel32 = (d: number): number[] => [d & 0xff, (d >> 8) & 0xff, (d >> 16) & 0xff, (d >>> 24) & 0xff];
  return [
    // jcc over the marker
    f('rel8 forward', [0x70 + cc, 4, ...INC_RCX]),
    f('rel32 forward', [0x0f, 0x80 + cc, ...rel32(4), ...INC_RCX]),
    // jmp A; B: marker; jmp END; A: jcc B (backwards); END:
    f('rel8 backward', [0xeb, 0x06, ...INC_RDX, 0xeb, 0x02, 0x70 + cc, 0xf8]),
    f('rel32 backward', [0xeb, 0x06, ...INC_RDX, 0xeb, 0x06, 0x0f, 0x80 + cc, ...rel32(-12)]),
  ];
}

describe('Jcc', () => {
  for (let cc = 0; cc < 16; cc++) {
    const name = `j${CC_NAMES[cc]}`;
    it(name, () => checkForms(name, jccForms(cc)));
  }
});

/** Counter values: zero, zero in the low half only, small, random. */
const counter: Gen = (rng) => {
  const r = rng.int(10);
  if (r < 4) return 0n;
  if (r < 6) return rng.u64() << 32n & 0xffffffffffffffffn;
  if (r < 8) return BigInt(rng.int(4));
  return rng.u64();
};
/** Small loop counts (1..20), upper half garbage for the 32-bit forms. */
const loopCount = (upper: boolean): Gen => (rng) => BigInt(rng.range(1, 20)) | (upper && rng.chance(0.7) ? (rng.u64() << 32n) & 0xffffffffffffffffn : 0n);

describe('JRCXZ JECXZ LOOP LOOPE LOOPNE', () => {
  it('jrcxz/jecxz', () => checkForms('jrcxz', [
    { name: 'jrcxz rel8', mnemonic: 'jrcxz +4; lea rdx,[rdx+1]', slots: [{ t: 'reg', size: 8, fixed: RCX, hidden: true, gen: counter }],
      count: 100, bytes: () => new Uint8Array([0xe3, 4, ...INC_RDX]) },
    { name: 'jecxz rel8', mnemonic: 'jecxz +4; lea rdx,[rdx+1]', slots: [{ t: 'reg', size: 8, fixed: RCX, hidden: true, gen: counter }],
      count: 100, bytes: () => new Uint8Array([0x67, 0xe3, 4, ...INC_RDX]) },
  ]));
  it('loop', () => {
    const forms: Form[] = [];
    for (const a32 of [false, true]) {
      const p = a32 ? [0x67] : [];
      const rcx = { t: 'reg' as const, size: 8 as const, fixed: RCX, hidden: true, gen: loopCount(a32) };
      // L: lea rdx,[rdx+1]; loop L
      forms.push({ name: `loop rel8${a32 ? ' (ecx)' : ''}`, mnemonic: `L: lea rdx,[rdx+1]; ${a32 ? 'addr32 ' : ''}loop L`, slots: [rcx], count: 60,
        bytes: () => new Uint8Array([...INC_RDX, ...p, 0xe2, a32 ? 0xf9 : 0xfa]) });
      // L: lea rdx,[rdx+1]; shr rbx,1; loope/loopne L  (ZF from the shift; AF undefined after it)
      for (const [mn, opc] of [['loope', 0xe1], ['loopne', 0xe0]] as const) {
        const rbx: { t: 'reg'; size: 8; fixed: number; hidden: true; gen: Gen } = {
          t: 'reg', size: 8, fixed: RBX, hidden: true,
          gen: (rng) => (mn === 'loope' ? BigInt(rng.int(4)) : BigInt(rng.int(1 << rng.int(24)))),
        };
        forms.push({ name: `${mn} rel8${a32 ? ' (ecx)' : ''}`, mnemonic: `L: lea rdx,[rdx+1]; shr rbx,1; ${a32 ? 'addr32 ' : ''}${mn} L`,
          slots: [rcx, rbx], count: 60, undef: AF,
          bytes: () => new Uint8Array([...INC_RDX, 0x48, 0xd1, 0xeb, ...p, opc, a32 ? 0xf6 : 0xf7]) });
      }
    }
    checkForms('loop', forms);
  });
});
