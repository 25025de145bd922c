import { Vm, type RunResult } from '../../emulator/machine/vm.js';
import { SegAttr } from '../../emulator/cpu/segment-state.js';
import { updateMode } from '../../emulator/cpu/segmentation.js';
import { pagingChanged } from '../../emulator/cpu/control-regs.js';
import { Cr0, Cr4, Efer } from '../../emulator/arch/control.js';
import { Seg } from '../../emulator/arch/registers.js';
import { Flag } from '../../emulator/arch/eflags.js';
import { StopReason } from '../../emulator/cpu/run.js';
import type { Rng } from './rng.js';
import type { CpuModel } from '../../emulator/cpu/cpu-model.js';
import { FreshState } from './fresh-state.js';

/**
 * A small machine for instruction fuzzing: 2 MiB of RAM laid out once per code size (16-bit real
 * mode, 32-bit flat protected mode, 64-bit long mode with a 2 MiB identity page). The low 64 KiB
 * (tables, stubs, code, data, stack) is restored before every case and the whole RAM every
 * FULL_RESTORE cases. Devices, timers, MSRs and the vCPU's clock go back to a new machine's state
 * before every case (fresh-state.ts): a case's result depends on its bytes and registers, unless
 * it reads what an earlier case wrote to RAM above 64 KiB. (Without that, a case that programmed
 * the PIT for periodic interrupts left them running, masked at the PIC, and a later STI; HLT
 * halted for good with a timer that never woke it: seed 1207 case 119378.)
 * Everything outside the structures is HLT (F4), so a stray jump ends the case at once instead
 * of decoding and running pages of zeros.
 *
 * Every vector's gate (IVT entry in real mode) leads to its own HLT stub, so an exception shows
 * as a halt at a known address. A case ends as one of the outcomes below; anything thrown by the
 * emulator is a host exception, a bug.
 */

export type CodeBits = 16 | 32 | 64;
export const CODE_BITS: readonly CodeBits[] = [16, 32, 64];

const MEM = 2 << 20;
const PML4 = 0x1000;
const GDT = 0x5000;
const IDT = 0x6000;
const STUBS = 0x7000;
export const CODE = 0x8000;
export const DATA = 0x9000;
const DATA_SIZE = 0x2000;
const STACK = 0xb000;
const LOW = 0x10000;
const FULL_RESTORE = 64;
/** Instructions a case may retire (a loop in random bytes is common). */
export const CASE_INSNS = 1000;

const SEL_CODE64 = 0x08;
const SEL_DATA = 0x10;
const SEL_CODE32 = 0x18;

/** How a case ended. `exception` carries the vector; `unsupported` the report's text. */
export interface CaseOutcome {
  readonly kind: 'exception' | 'halt' | 'unsupported' | 'triple-fault' | 'insn-limit' | 'exit' | 'kvm-error';
  readonly vector?: number;
  readonly detail?: string;
}

export class InsnHarness {
  readonly vm: Vm;
  private readonly image: Uint8Array;
  private cases = 0;
  private readonly data = new Uint8Array(DATA_SIZE);
  private readonly dataView = new DataView(this.data.buffer);
  private readonly fresh: FreshState;

  /** `model`: the CPU (default: the default model; the fuzzer also uses `--cpu max`'s). */
  constructor(readonly bits: CodeBits, model?: CpuModel) {
    this.vm = new Vm({ memBytes: MEM, serialOut: () => {}, model });
    this.image = buildImage(bits);
    this.fresh = new FreshState(this.vm);
  }

  /** Runs `code` (followed by HLT) with registers from `rng`; `fpuFlags` optionally sets CR0.EM/TS. */
  run(code: Uint8Array, rng: Rng, cr0Extra = 0): CaseOutcome {
    const vm = this.vm;
    const cpu = vm.cpu;
    this.fresh.restore();
    // Restore RAM, then drop whatever was decoded or cached from the previous case's memory.
    const full = this.cases++ % FULL_RESTORE === 0;
    vm.guestMemory.write(0, full ? this.image : this.image.subarray(0, LOW));
    vm.guestMemory.write(CODE, code);
    for (let k = 0; k < DATA_SIZE; k += 4) this.dataView.setUint32(k, rng.u32());
    vm.guestMemory.write(DATA, this.data);
    for (let page = 0; page < (full ? MEM : LOW) / 4096; page++) vm.code.invalidateCodePage(page);
    this.enterMode(cr0Extra);
    vm.paging.flushAll();

    for (let r = 0; r < 16; r++) {
      const k = rng.below(4);
      const lo = k === 0 ? rng.u32() : k === 1 ? rng.below(256) : DATA + rng.below(DATA_SIZE);
      cpu.lo[r] = lo | 0;
      cpu.hi[r] = k === 0 && this.bits === 64 ? rng.u32() | 0 : 0;
    }
    cpu.lo[4] = STACK + 0x800; // RSP: exception frames must have room
    cpu.hi[4] = 0;
    // RCX below 64 Ki, for throughput: a REP string instruction yields every 1024 iterations and
    // each yield counts as an instruction (exec/string.ts), so a case's limit bounds a REP to about
    // a million iterations; the streams still load large counts into ECX themselves.
    cpu.lo[1] &= 0xffff;
    cpu.hi[1] = 0;
    const arith = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF | Flag.DF;
    cpu.setFlags((rng.u32() & arith) | Flag.FIXED1 | (rng.oneIn(16) ? Flag.TF : 0));
    cpu.ripLo = CODE;
    cpu.ripHi = 0;
    cpu.halted = false;
    cpu.stop = 0;
    cpu.exc = -1;
    cpu.interruptShadow = false;
    cpu.unsupportedReason = undefined;
    vm.state.stopReason = StopReason.NONE;
    vm.state.detail = '';
    vm.state.tripleFaultVectors = [];
    const result = vm.run(cpu.instructions + CASE_INSNS);
    return this.classify(result);
  }

  private classify(r: RunResult): CaseOutcome {
    const cpu = this.vm.cpu;
    switch (r.outcome) {
      case 'halted': {
        const linear = ((cpu.seg.baseLo[Seg.CS] + cpu.ripLo) >>> 0) - 1;
        if (cpu.ripHi === 0 && linear >= STUBS && linear < STUBS + 256 * 16 && (linear - STUBS) % 16 === 0) {
          return { kind: 'exception', vector: (linear - STUBS) / 16 };
        }
        return { kind: 'halt' };
      }
      case 'unsupported': return { kind: 'unsupported', detail: r.detail };
      default: return { kind: r.outcome, detail: r.detail };
    }
  }

  private enterMode(cr0Extra: number): void {
    const cpu = this.vm.cpu;
    const data32 = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G;
    cpu.cr2Lo = 0; cpu.cr2Hi = 0;
    cpu.cr8 = 0;
    // What a case may have changed that the mode setup below does not set.
    cpu.cpl = 0;
    cpu.drLo.fill(0); cpu.drHi.fill(0);
    cpu.drLo[6] = 0xffff0ff0 | 0; cpu.drLo[7] = 0x400;
    cpu.nmiPending = false;
    cpu.nmiBlocked = false;
    cpu.fpu.initX87();
    cpu.fpu.xmmBytes.fill(0);
    cpu.fpu.mxcsr = 0x1f80;
    cpu.pkru = 0;
    cpu.ldtr.selector = 0; cpu.ldtr.baseLo = 0; cpu.ldtr.baseHi = 0; cpu.ldtr.limit = 0; cpu.ldtr.attr = 0;
    cpu.tr.selector = 0; cpu.tr.baseLo = 0; cpu.tr.baseHi = 0; cpu.tr.limit = 0xffff; cpu.tr.attr = 0x8b;
    cpu.gdtr.baseLo = GDT; cpu.gdtr.baseHi = 0; cpu.gdtr.limit = 8 * 4 - 1;
    switch (this.bits) {
      case 64:
        cpu.cr0 = Cr0.PE | Cr0.ET | Cr0.PG | Cr0.WP | Cr0.MP | Cr0.NE | cr0Extra;
        cpu.cr4 = Cr4.PAE | Cr4.OSFXSR | Cr4.OSXMMEXCPT;
        cpu.efer = Efer.LME | Efer.LMA | Efer.NXE | Efer.SCE;
        cpu.cr3Lo = PML4; cpu.cr3Hi = 0;
        cpu.idtr.baseLo = IDT; cpu.idtr.baseHi = 0; cpu.idtr.limit = 256 * 16 - 1;
        cpu.seg.set(Seg.CS, SEL_CODE64, 0, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | SegAttr.L | SegAttr.G);
        for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) cpu.seg.set(s, SEL_DATA, 0, 0, 0xffffffff, data32);
        break;
      case 32:
        cpu.cr0 = Cr0.PE | Cr0.ET | Cr0.MP | Cr0.NE | cr0Extra;
        cpu.cr4 = Cr4.OSFXSR | Cr4.OSXMMEXCPT;
        cpu.efer = 0;
        cpu.cr3Lo = 0; cpu.cr3Hi = 0;
        cpu.idtr.baseLo = IDT; cpu.idtr.baseHi = 0; cpu.idtr.limit = 256 * 8 - 1;
        cpu.seg.set(Seg.CS, SEL_CODE32, 0, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G);
        for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) cpu.seg.set(s, SEL_DATA, 0, 0, 0xffffffff, data32);
        break;
      case 16:
        cpu.cr0 = Cr0.ET | Cr0.NE | cr0Extra;
        cpu.cr4 = Cr4.OSFXSR;
        cpu.efer = 0;
        cpu.cr3Lo = 0; cpu.cr3Hi = 0;
        cpu.idtr.baseLo = 0; cpu.idtr.baseHi = 0; cpu.idtr.limit = 0x3ff;
        cpu.seg.set(Seg.CS, 0, 0, 0, 0xffff, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED);
        for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) cpu.seg.set(s, 0, 0, 0, 0xffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED);
        break;
    }
    updateMode(cpu);
    pagingChanged(cpu);
  }
}

/** RAM contents for one code size: tables, GDT, IDT or IVT, HLT stubs; code pages filled with HLT. */
function buildImage(bits: CodeBits): Uint8Array {
  const img = new Uint8Array(MEM).fill(0xf4);
  img.fill(0, 0, CODE);
  const v = new DataView(img.buffer);
  const w64 = (at: number, lo: number, hi: number): void => { v.setUint32(at, lo >>> 0, true); v.setUint32(at + 4, hi >>> 0, true); };
  // 4-level tables mapping 0-2 MiB with one 2 MiB page (64-bit mode only uses them).
  w64(PML4, (PML4 + 0x1000) | 7, 0);
  w64(PML4 + 0x1000, (PML4 + 0x2000) | 7, 0);
  w64(PML4 + 0x2000, 0x87, 0);
  // GDT: null, 64-bit code, flat data, 32-bit code.
  w64(GDT + 8, 0x0000ffff, 0x00af9b00);
  w64(GDT + 16, 0x0000ffff, 0x00cf9300);
  w64(GDT + 24, 0x0000ffff, 0x00cf9b00);
  for (let vec = 0; vec < 256; vec++) {
    const stub = STUBS + 16 * vec;
    img[stub] = 0xf4;
    if (bits === 64) {
      w64(IDT + 16 * vec, (SEL_CODE64 << 16) | (stub & 0xffff), (stub & 0xffff0000) | 0x8e00);
    } else if (bits === 32) {
      w64(IDT + 8 * vec, (SEL_CODE32 << 16) | (stub & 0xffff), (stub & 0xffff0000) | 0x8e00);
    } else {
      // Real-mode IVT: offset 16 * vec in segment STUBS >> 4.
      v.setUint16(4 * vec, 16 * vec, true);
      v.setUint16(4 * vec + 2, STUBS >> 4, true);
    }
  }
  return img;
}
