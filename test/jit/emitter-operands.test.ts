/**
 * The translator's emitters (emulator/jit/emitters.ts) choose their code from a form's typed
 * operands (Form.ops); they used to test the table text (Form.operands, Form.pattern). For every
 * form of every row an emitter family implements, each descriptor test must answer as the text
 * test it replaced, so the emitter chosen per form is unchanged. The text tests are written here
 * as the emitters had them, family by family.
 */
import { describe, expect, test } from 'vitest';
import '../../emulator/decode/decoder.js'; // loads the opcode tables into ROWS
import { ROWS } from '../../emulator/decode/table.js';
import { formOperands, parseOperands, slotPattern } from '../../emulator/decode/operand-spec.js';
import { type Form, HANDLER_FORMS, handlerId } from '../../emulator/exec/registry.js';
import { EMITTERS, clCount, countOne, immFirst, immSource, sourceBytes, threeOperands, toReg } from '../../emulator/jit/emitters.js';

type Pair = readonly [name: string, text: (f: Form) => unknown, typed: (f: Form) => unknown];

/** Per family: what its emitter asked of the text, and the descriptor test that replaces it. */
const ASKED: Readonly<Record<string, readonly Pair[]>> = {
  'alu': [
    ['immediate source', (f) => f.pattern.endsWith(',I'), immSource],
    ['G destination', (f) => f.pattern.startsWith('G'), toReg],
  ],
  'test': [['immediate source', (f) => f.operands.includes(',I'), immSource]],
  'mov': [
    ['immediate source', (f) => f.pattern.includes(',I'), immSource],
    ['G destination', (f) => f.pattern.startsWith('G'), toReg],
  ],
  'shift': [
    ['CL count', (f) => f.operands.endsWith(',CL'), clCount],
    ['count 1', (f) => f.operands.endsWith(',1'), countOne],
  ],
  'movx': [['source bytes', (f) => { const l = f.operands.slice(-1); return l === 'b' ? 1 : l === 'w' ? 2 : 4; }, sourceBytes]],
  'push': [['immediate', (f) => f.operands.startsWith('I'), immFirst]],
  'ret': [['RET imm16', (f) => f.operands === 'Iw', immFirst]],
  'imul': [['three operands', (f) => f.operands.split(',').length === 3, threeOperands]],
};

/**
 * Builds every form the decoder can make of the emitter families' rows (the form fields as
 * decoder.ts makeInfo/handlerFor set them, for each operand size and register or memory), so
 * HANDLER_FORMS holds them all, and returns those HANDLER_FORMS entries.
 */
function emitterForms(): Array<{ exec: string; form: Form }> {
  for (const row of ROWS) {
    if (row.exec === undefined || EMITTERS[row.exec.name] === undefined) continue;
    const specs = parseOperands(row.operands);
    for (const size of [1, 2, 4, 8]) {
      for (const mem of [false, true]) {
        handlerId(row.exec, {
          mnemonic: row.mnemonic, operands: row.operands, pattern: slotPattern(row.operands, specs), size, asize: 8, mem,
          variant: row.variant, ops: formOperands(row.operands, specs), checks: 0,
        });
      }
    }
  }
  return HANDLER_FORMS.filter((h): h is { exec: string; form: Form } => h !== undefined && EMITTERS[h.exec] !== undefined);
}

describe('emitters read Form.ops as they read the operand text', () => {
  const forms = emitterForms();

  test('every family whose emitter asked the text is listed, and has forms', () => {
    for (const family of Object.keys(ASKED)) {
      expect(EMITTERS[family], family).toBeDefined();
      expect(forms.filter((h) => h.exec === family).length, family).toBeGreaterThan(0);
    }
  });

  test('each descriptor test answers as the text test, form by form', () => {
    const differ: string[] = [];
    let compared = 0;
    for (const { exec, form } of forms) {
      for (const [name, text, typed] of ASKED[exec] ?? []) {
        compared++;
        if (text(form) !== typed(form)) differ.push(`${exec} ${form.mnemonic} ${form.operands} size ${form.size}: ${name} text ${String(text(form))}, typed ${String(typed(form))}`);
      }
    }
    expect(differ).toEqual([]);
    expect(compared).toBeGreaterThan(100);
  });

  test('both answers occur in each family (a constant test would pass the comparison alone)', () => {
    for (const [family, pairs] of Object.entries(ASKED)) {
      const mine = forms.filter((h) => h.exec === family);
      for (const [name, text] of pairs) {
        const answers = new Set(mine.map((h) => text(h.form)));
        expect(answers.size, `${family} ${name}`).toBeGreaterThan(1);
      }
    }
  });
});
