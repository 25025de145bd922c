import { describe, expect, test } from 'vitest';
import { runSnippet, STACK } from '../helpers/snippet.js';
import { COMPILE_THRESHOLD } from '../../emulator/decode/block-compiler.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const regs = (): bigint[] => { const r = new Array<bigint>(16).fill(0n); r[4] = BigInt(STACK + 0x800); return r; };

describe('decoded-code cache', () => {
  test('a store into the next instruction of the running block takes effect', () => {
    const out = runSnippet({
      code: hex(`
        c6 05 01 00 00 00 02   # mov byte [rip+1], 2 : patches the immediate below
        b8 01 00 00 00         # mov eax, 1 (becomes mov eax, 2)
      `.replace(/#.*$/gm, '')),
      regs: regs(),
      rflags: 2n,
    });
    expect(out.regs[0]).toBe(2n);
  });

  test('a store into a block that has already been compiled takes effect', () => {
    // A loop whose first block runs more than COMPILE_THRESHOLD times, patching its own
    // "mov eax, 1" into "mov eax, 2" two iterations before the end.
    const iterations = COMPILE_THRESHOLD + 1000;
    const code = hex(`
      b9 ${Buffer.from(new Uint32Array([iterations]).buffer).toString('hex')}  # mov ecx, N
      b8 01 00 00 00            # L: mov eax, 1
      83 f9 02                  # cmp ecx, 2
      75 07                     # jne skip
      c6 05 f0 ff ff ff 02      # mov byte [L+1], 2
      ff c9                     # skip: dec ecx
      75 eb                     # jnz L
    `.replace(/#.*$/gm, ''));
    const out = runSnippet({ code, regs: regs(), rflags: 2n, maxInsns: iterations * 6 });
    expect(out.regs[1]).toBe(0n);
    expect(out.regs[0]).toBe(2n);
  });
});
