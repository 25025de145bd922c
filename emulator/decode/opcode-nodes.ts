import { type Entry, ROWS } from './table.js';
import { ONE_BYTE } from './one-byte.js';
import { THREE_BYTE_38, THREE_BYTE_3A, TWO_BYTE } from './two-byte.js';

/**
 * The opcode maps flattened into numbers, once at load: the decoder's opcode stage walks typed
 * arrays instead of the table's selector objects, whose five shapes made every property read in
 * the old walk polymorphic (and each new shape met after optimisation a V8 deopt).
 *
 * A node reference is a row id (>= 0), NO_ENTRY (an undefined opcode, #UD) or a selector, encoded
 * as -2 - k for the selector at SEL[k * SEL_WIDTH]: its kind, nine child references and a mask.
 * - PREFIX (a mandatory prefix picks the meaning): children by prefix class, (F3 ? 2 : F2 ? 4 : 0)
 *   + (66 ? 1 : 0), with the fall-backs already applied (an F3 with no F3 meaning takes the 66 or
 *   the plain one); bit `class` of the mask says the class's F3/F2 was consumed as mandatory and
 *   is no REP prefix.
 * - GROUP, MOD, RM: the child at CHILD[kind * 256 + ModRM]: ModRM.reg for a group, memory (0) or
 *   register (1) form for MOD, ModRM.rm of a register form for RM, whose memory forms take child 8,
 *   which is always NO_ENTRY.
 * The walk is then a few typed-array reads with one branch per selector kind.
 */
export const NO_ENTRY = -1;
export const SEL_WIDTH = 11;
export const SEL_MASK = 10;
export const enum SelKind { PREFIX = 0, GROUP = 1, MOD = 2, RM = 3 }

/** Child slot by (selector kind, ModRM byte), for the kinds that look at ModRM. */
export const CHILD = new Uint8Array(4 * 256);
for (let m = 0; m < 256; m++) {
  const reg = (m & 0xc0) === 0xc0;
  CHILD[SelKind.GROUP * 256 + m] = (m >> 3) & 7;
  CHILD[SelKind.MOD * 256 + m] = reg ? 1 : 0;
  CHILD[SelKind.RM * 256 + m] = reg ? m & 7 : 8;
}

const sel: number[] = [];

function ref(e: Entry | undefined): number {
  if (e === undefined) return NO_ENTRY;
  if (e.kind === 'row') {
    // The maps hold the rows ROWS names (a guarded unimplemented row replaces its plain one there).
    if (ROWS[e.id] !== e) throw new Error(`opcode map row ${e.mnemonic} is not ROWS[${e.id}]`);
    return e.id;
  }
  const k = sel.length / SEL_WIDTH;
  for (let j = 0; j < SEL_WIDTH; j++) sel.push(NO_ENTRY);
  const at = k * SEL_WIDTH;
  switch (e.kind) {
    case 'prefix': {
      sel[at] = SelKind.PREFIX;
      const none = ref(e.none), p66 = ref(e.p66), pF3 = ref(e.pF3), pF2 = ref(e.pF2);
      let mask = 0;
      for (let cls = 0; cls < 6; cls++) {
        const rep = cls >> 1; // 0 none, 1 F3, 2 F2
        let child: number;
        if (rep === 1 && pF3 !== NO_ENTRY) { child = pF3; mask |= 1 << cls; }
        else if (rep === 2 && pF2 !== NO_ENTRY) { child = pF2; mask |= 1 << cls; }
        else if ((cls & 1) !== 0 && p66 !== NO_ENTRY) child = p66;
        else child = none;
        sel[at + 1 + cls] = child;
      }
      sel[at + SEL_MASK] = mask;
      break;
    }
    case 'group':
      sel[at] = SelKind.GROUP;
      for (let j = 0; j < 8; j++) sel[at + 1 + j] = ref(e.entries[j]);
      break;
    case 'mod':
      sel[at] = SelKind.MOD;
      sel[at + 1] = ref(e.mem); sel[at + 2] = ref(e.reg);
      break;
    case 'rm':
      sel[at] = SelKind.RM;
      for (let j = 0; j < 8; j++) sel[at + 1 + j] = ref(e.entries[j]);
      break;
  }
  return -2 - k;
}

/** Map number (1: one-byte, 2: 0F, 3: 0F 38, 4: 0F 3A) * 256 + opcode -> node reference. */
export const MAP_NODES = new Int32Array(5 * 256).fill(NO_ENTRY);
const MAPS = [undefined, ONE_BYTE, TWO_BYTE, THREE_BYTE_38, THREE_BYTE_3A];
for (let m = 1; m < MAPS.length; m++) {
  const table = MAPS[m]!;
  for (let op = 0; op < 256; op++) MAP_NODES[m * 256 + op] = ref(table[op]);
}
export const SEL: Int32Array = Int32Array.from(sel);
