/**
 * Guest general registers held in JavaScript locals across a translated block.
 *
 * Every register the block names is loaded once at block entry (r3l/r3h for the halves of RBX), so
 * a local is valid on every path. Translated instructions read and write the locals only; a write
 * marks the half dirty. Before anything else can look at the registers (an interpreter handler
 * called as a fallback, a return to the run loop) the dirty halves are stored back; after a
 * handler ran, every local is reloaded, since the handler may have changed any register.
 */
export class RegisterLocals {
  /**
   * In a block that loops back to its own start inside the translated function, a write late in
   * one iteration is still unstored early in the next: every store-back then covers every
   * register the block writes (resolved once the block is known) and nothing is ever clean.
   */
  private readonly loop: boolean;
  private readonly used = new Set<number>();
  private readonly dirtyLo = new Set<number>();
  private readonly dirtyHi = new Set<number>();

  constructor(loop: boolean) {
    this.loop = loop;
  }

  /** Local holding the low half of register r (0-15). */
  lo(r: number): string {
    this.used.add(r);
    return `r${r}l`;
  }

  hi(r: number): string {
    this.used.add(r);
    return `r${r}h`;
  }

  /** Value of register r at `size` bytes, as the handlers' readReg returns it. */
  read(r: number, size: number): string {
    if (size === 1) return r < 16 ? `(${this.lo(r)} & 0xff)` : `((${this.lo(r - 16)} >>> 8) & 0xff)`;
    if (size === 2) return `(${this.lo(r)} & 0xffff)`;
    return this.lo(r);
  }

  /** Statements writing `v` (and `vh` for 8 bytes) to register r at `size`, as writeReg does. */
  write(r: number, size: number, v: string, vh = '0'): string {
    switch (size) {
      case 1: {
        if (r < 16) return `${this.setLo(r)} = (${this.lo(r)} & ~0xff) | ((${v}) & 0xff);`;
        const w = r - 16;
        return `${this.setLo(w)} = (${this.lo(w)} & ~0xff00) | (((${v}) & 0xff) << 8);`;
      }
      case 2: return `${this.setLo(r)} = (${this.lo(r)} & ~0xffff) | ((${v}) & 0xffff);`;
      case 4: return `${this.setLo(r)} = ${v}; ${this.setHi(r)} = 0;`;
      default: return `${this.setLo(r)} = ${v}; ${this.setHi(r)} = ${vh};`;
    }
  }

  setLo(r: number): string {
    this.dirtyLo.add(r);
    return this.lo(r);
  }

  setHi(r: number): string {
    this.dirtyHi.add(r);
    return this.hi(r);
  }

  /** Stores the dirty halves back into cpu.lo/cpu.hi (L and H in the generated code). */
  flush(): string {
    return this.loop ? RegisterLocals.FLUSH_ALL : this.flushDirty();
  }

  /** Placeholder for the store-back of every register the block writes (loops). */
  static readonly FLUSH_ALL = '/*FLUSH*/';

  flushDirty(): string {
    let s = '';
    for (const r of this.dirtyLo) s += `L[${r}] = r${r}l; `;
    for (const r of this.dirtyHi) s += `H[${r}] = r${r}h; `;
    return s;
  }

  /** After a flush and a handler call everything is clean again. */
  clean(): void {
    if (this.loop) return;
    this.dirtyLo.clear();
    this.dirtyHi.clear();
  }

  /** Placeholder for the reload of every used register; replaced once the whole block is known. */
  static readonly RELOAD = '/*RELOAD*/';

  reloadAll(): string {
    let s = '';
    for (const r of [...this.used].sort((a, b) => a - b)) s += `r${r}l = L[${r}]; r${r}h = H[${r}]; `;
    return s;
  }

  /** Declarations at block entry. */
  declare(): string {
    const regs = [...this.used].sort((a, b) => a - b);
    if (regs.length === 0) return '';
    return `let ${regs.map((r) => `r${r}l = L[${r}], r${r}h = H[${r}]`).join(', ')};`;
  }
}
