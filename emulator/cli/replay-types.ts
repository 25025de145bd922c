import type { MmuMode } from '../../vmm/machine.js';
import type { Backing } from '../../vmm/machine.js';
import type { Vendor } from '../../mmu/kvm/vendor.js';

/** What a replay is (replays.ts lists them): settings, figures, the thread's own figures, shapes. */

/** One configuration of the hypervisor a replay runs the guest under. */
export interface ReplaySetting {
  /** How the table names it, e.g. "before (kvm-5.17)". */
  readonly label: string;
  readonly preset: string;
  readonly knobs: readonly string[];
  readonly vendor: Vendor;
  /** The guest may end other than with a pass here (the bug's failure is the point). */
  readonly mayFail?: boolean;
  /** The guest's command line for this setting, when it differs from the replay's. */
  readonly append?: string;
}

/** What a replay reads from one run: the guest's own "NAME NUMBER" line, or a KVM counter. */
export type ReplaySource =
  | { readonly kind: 'guest-value'; readonly name: string }
  | { readonly kind: 'kvm'; readonly counter: string }
  | { readonly kind: 'cycles' }
  /** The process exit status mmulab gives (1: the guest passed; 16: KVM_RUN failed). */
  | { readonly kind: 'status' };

/** A row of the replay's table: one figure in one MMU mode, under every setting. */
export interface ReplayFigure {
  /** Key for the shape checks and the JSON, e.g. "tdp_cycles". */
  readonly key: string;
  readonly label: string;
  readonly mode: MmuMode;
  readonly source: ReplaySource;
  /** The thread's published figure for each setting (same order), as the thread wrote it. */
  readonly published?: readonly (string | undefined)[];
}

/** A relation the figures must satisfy: value(a, setting i) >= factor * value(b, setting j), etc. */
export interface ReplayShape {
  readonly describe: string;
  /** Returns the measured ratio or spread it judged, and whether the shape holds. */
  readonly check: (value: (key: string, setting: number) => number) => { readonly measured: string; readonly holds: boolean };
}

export interface Replay {
  readonly name: string;
  /** How the output names it; "lkml (NAME)" when absent (the seed threads). */
  readonly heading?: string;
  /** The thread: subject, author, date. */
  readonly thread: string;
  /** Its file under ../shared/reference/lkml/. */
  readonly source: string;
  /** The decision in one sentence. */
  readonly decision: string;
  readonly image: string;
  readonly append: string;
  readonly cpu: string;
  readonly backing: Backing;
  readonly smp: number;
  /** The host of lkml (e): AMD memory encryption enabled in SYSCFG (--host-sme). */
  readonly hostSme?: boolean;
  readonly settings: readonly ReplaySetting[];
  readonly figures: readonly ReplayFigure[];
  readonly shapes: readonly ReplayShape[];
  /** Why our figures differ from the thread's where they do. */
  readonly differs: string;
}
