import { describe, expect, test } from 'vitest';
import { Arena, ArenaExhausted } from '../../emulator/machine/arena.js';

describe('Arena', () => {
  test('hands out zeroed pages and reuses freed ones last-in first-out', () => {
    const a = new Arena(16 * 4096);
    a.reserveContiguous(4);
    const p1 = a.allocPage();
    const p2 = a.allocPage();
    expect([p1, p2]).toEqual([4, 5]);
    a.bytes[p1 * 4096 + 7] = 0xaa;
    a.freePage(p1);
    a.freePage(p2);
    expect(a.allocPage()).toBe(p2);
    const again = a.allocPage();
    expect(again).toBe(p1);
    expect(a.bytes[p1 * 4096 + 7]).toBe(0);
    expect(a.pagesInUse).toBe(6);
  });

  test('reports exhaustion as an error naming the request', () => {
    const a = new Arena(2 * 4096);
    a.reserveContiguous(2);
    expect(() => a.allocPage()).toThrow(ArenaExhausted);
  });
});
