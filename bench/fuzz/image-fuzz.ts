import { Machine } from '../../vmm/machine.js';
import { hasPvhNote } from '../../emulator/machine/pvh.js';
import { ImageError } from '../../emulator/machine/elf.js';
import { StopReason } from '../../emulator/cpu/run.js';
import { Rng } from './rng.js';

/**
 * Malformed kernel images through the loaders the CLI uses (a PVH note selects PVH, anything else
 * is multiboot, as in emulator/cli/vm-factory.ts): truncated files, flipped header bytes, absurd
 * sizes and offsets. Every case must end as an image error (ImageError: exit status 4) or as a
 * guest outcome; anything else thrown is a host exception.
 */

const MEM = 16 << 20;

function u16(v: DataView, at: number, x: number): void { v.setUint16(at, x, true); }
function u32(v: DataView, at: number, x: number): void { v.setUint32(at, x >>> 0, true); }

/** The guest code of every seed: write 0 to the debug-exit port (status 1). */
const EXIT_CODE = [0x31, 0xc0, 0xe6, 0xf4, 0xf4];

/** A multiboot v1 ELF32: one PT_LOAD with the whole file at 1 MiB, the header at 0x54, code at 0x60. */
export function multibootElf(): Uint8Array {
  const f = new Uint8Array(0x60 + EXIT_CODE.length);
  const v = new DataView(f.buffer);
  f.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  u16(v, 16, 2); u16(v, 18, 3); u32(v, 20, 1); u32(v, 24, 0x100060); u32(v, 28, 52);
  u16(v, 40, 52); u16(v, 42, 32); u16(v, 44, 1);
  u32(v, 52, 1); u32(v, 56, 0); u32(v, 60, 0x100000); u32(v, 64, 0x100000); u32(v, 68, f.length); u32(v, 72, f.length + 0x1000); u32(v, 76, 7);
  u32(v, 0x54, 0x1badb002); u32(v, 0x58, 0); u32(v, 0x5c, -(0x1badb002) | 0);
  f.set(EXIT_CODE, 0x60);
  return f;
}

/** A multiboot image with the a.out kludge (flags bit 16): load addresses in the header, no ELF. */
export function multibootKludge(): Uint8Array {
  const f = new Uint8Array(0x40 + EXIT_CODE.length);
  const v = new DataView(f.buffer);
  const flags = 1 << 16;
  u32(v, 0, 0x1badb002); u32(v, 4, flags); u32(v, 8, -(0x1badb002 + flags) | 0);
  u32(v, 12, 0x100000); u32(v, 16, 0x100000); u32(v, 20, 0x100000 + f.length); u32(v, 24, 0x100000 + f.length + 0x1000); u32(v, 28, 0x100040);
  f.set(EXIT_CODE, 0x40);
  return f;
}

/** An ELF64 vmlinux-like image with a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) and one PT_LOAD. */
export function pvhElf(): Uint8Array {
  const noteOff = 0xb0;
  const codeOff = 0xd0;
  const f = new Uint8Array(codeOff + EXIT_CODE.length);
  const v = new DataView(f.buffer);
  f.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  u16(v, 16, 2); u16(v, 18, 62); u32(v, 20, 1); u32(v, 24, 0x100000 + codeOff); u32(v, 32, 64);
  u16(v, 52, 64); u16(v, 54, 56); u16(v, 56, 2);
  // PT_LOAD: the whole file at 1 MiB.
  u32(v, 64, 1); u32(v, 68, 7); u32(v, 72, 0); u32(v, 80, 0x100000); u32(v, 88, 0x100000); u32(v, 96, f.length); u32(v, 104, f.length);
  // PT_NOTE.
  u32(v, 120, 4); u32(v, 128, noteOff); u32(v, 152, 20); u32(v, 160, 20);
  // Note: namesz 4 "Xen\0", descsz 4, type 18, the 32-bit entry.
  u32(v, noteOff, 4); u32(v, noteOff + 4, 4); u32(v, noteOff + 8, 18); f.set([0x58, 0x65, 0x6e, 0], noteOff + 12); u32(v, noteOff + 16, 0x100000 + codeOff);
  f.set(EXIT_CODE, codeOff);
  return f;
}

export const SEEDS: ReadonlyArray<[string, () => Uint8Array]> = [['multiboot-elf', multibootElf], ['multiboot-aout', multibootKludge], ['pvh', pvhElf]];

const ABSURD = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0, MEM, MEM - 4, 0x100000, 0x1000];

/** A mutation of a seed image: truncation, byte flips, absurd 16/32-bit fields, junk appended. */
export function mutateImage(rng: Rng, seed: Uint8Array): Uint8Array {
  let f: Uint8Array = Uint8Array.from(seed);
  for (let n = 1 + rng.below(4); n > 0; n--) {
    const header = Math.min(f.length, 0x100);
    switch (rng.below(5)) {
      case 0: f = f.subarray(0, rng.below(f.length + 1)); break;
      case 1: if (header > 0) f[rng.below(header)] ^= 1 << rng.below(8); break;
      case 2: if (header > 0) f[rng.below(header)] = rng.byte(); break;
      case 3: {
        if (f.length < 4) break;
        const at = rng.below(Math.min(f.length, 0x100) - 3);
        const v = new DataView(f.buffer, f.byteOffset, f.length);
        if (rng.oneIn(2)) v.setUint32(at, rng.pick(ABSURD) >>> 0, true);
        else v.setUint16(at, rng.pick([0, 0xffff, 0x8000, 1, 64, 56]), true);
        break;
      }
      default: {
        const junk = new Uint8Array(rng.below(64));
        for (let k = 0; k < junk.length; k++) junk[k] = rng.byte();
        const g = new Uint8Array(f.length + junk.length);
        g.set(f); g.set(junk, f.length);
        f = g;
      }
    }
  }
  return f;
}

export interface ImageSummary {
  cases: number;
  readonly outcomes: Map<string, number>;
  readonly failures: Array<{ index: number; seed: string; image: string; error: string }>;
}

export function newImageSummary(): ImageSummary {
  return { cases: 0, outcomes: new Map(), failures: [] };
}

let machine: Machine | undefined;

/**
 * Drops the machine the image cases share, so the next case builds a new one. The fuzz driver
 * calls it at the start of every chunk: a chunk's outcomes then depend on its own cases only, not
 * on which worker ran it or what that worker ran before (--jobs).
 */
export function newImageMachine(): void {
  machine = undefined;
}

/** Loads and runs one image as the CLI would: 'image-error', or the run's outcome. Throws on a host exception. */
export function runImage(image: Uint8Array): string {
  const m = machine ?? (machine = new Machine({ memBytes: MEM, serialOut: () => {} }));
  // Registers as on a fresh machine (the loaders set only what the protocols define): a mutated
  // image's code then starts with ECX = 0 rather than the last case's, so a REP in it ends soon.
  m.cpu.lo.fill(0);
  m.cpu.hi.fill(0);
  try {
    if (hasPvhNote(image)) m.loadPvh(image, 'fuzz', '');
    else m.loadMultiboot(image, 'fuzz', '');
  } catch (err) {
    if (err instanceof ImageError) return 'image-error';
    throw err;
  }
  m.cpu.halted = false;
  m.cpu.unsupportedReason = undefined;
  m.state.stopReason = StopReason.NONE;
  m.state.tripleFaultVectors = [];
  return m.run(m.cpu.instructions + 20000).outcome;
}

export function imageCase(seed: number, index: number): { name: string; image: Uint8Array } {
  const rng = Rng.forCase(seed ^ 0x1a6e, index);
  const [name, make] = SEEDS[index % SEEDS.length];
  return { name, image: mutateImage(rng, make()) };
}

export function fuzzImages(seed: number, from: number, to: number, sum: ImageSummary): void {
  for (let index = from; index < to; index++) {
    sum.cases++;
    const c = imageCase(seed, index);
    let key: string;
    try {
      key = runImage(c.image);
    } catch (err) {
      machine = undefined;
      sum.failures.push({ index, seed: c.name, image: Buffer.from(c.image.subarray(0, 256)).toString('hex'), error: err instanceof Error ? err.stack ?? err.message : String(err) });
      continue;
    }
    sum.outcomes.set(`${c.name} ${key}`, (sum.outcomes.get(`${c.name} ${key}`) ?? 0) + 1);
  }
}
