/**
 * The architectural feature guests (guests/paging, rsvd, la57, global, pcid, smep-smap-pku,
 * cr-rules, privilege and the -m32 guests paging-32, pae-32, cr-rules-32, privilege-32), run as a
 * user runs them: `node dist/emulator/cli/main.js run IMAGE --cpu ...` in mmulab's bare mode, and
 * under QEMU 7.2 TCG with the matching -cpu.
 *
 * The guests check the SDM, not an emulator: in mmulab every case must PASS (status 1). Under QEMU
 * every case must PASS too, except the lines listed in QEMU_DIFFERENCES below, which must FAIL there:
 * each entry says what QEMU 7.2 does and what the SDM says instead. Where QEMU does not survive a
 * case (it loops or leaves long mode), the row says after which line it stops and with what status;
 * the guests put such cases last so that everything before them is still compared.
 *
 * The same rows also run in the virtualized modes with KVM's invariant checker on (`--mmu shadow |
 * legacy-tdp | tdp --audit`): the verdicts must equal bare's, except the lines in
 * KVM_SHADOW_DIFFERENCES, where KVM's shadow MMU itself gives the guest another result.
 *
 * Tests may assume `npm run build` and `npm run build:guests` have run (npm test does both first).
 * Without qemu-system-x86_64 the QEMU half is skipped with a notice.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { type ChildRun, TIMEOUT_STATUS, runChild } from '../helpers/spawn.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GUESTS = `${ROOT}build/guests/`;
const CLI = `${ROOT}dist/emulator/cli/main.js`;
const QEMU = 'qemu-system-x86_64';
/** QEMU exit status after a guest shutdown (triple fault) with -no-reboot and no debug exit. */
const QEMU_SHUTDOWN = 0;
/** Status of a run killed at its time limit, as timeout(1) reports it. */
const TIMEOUT = TIMEOUT_STATUS;
/** mmulab's status for a triple fault (emulator/cli/exit-status.ts). */
const MMULAB_TRIPLE_FAULT = 6;

type Verdict = 'PASS' | 'FAIL' | 'SKIP' | 'XFAIL' | 'XPASS';
interface Line { readonly verdict: Verdict; readonly name: string }

/**
 * What QEMU 7.2 TCG gets wrong, with the SDM's answer. `lines` are the guest lines (after
 * "VERDICT: ") that must FAIL under QEMU because of it: exact names, or patterns for families.
 */
interface Difference {
  readonly qemu: string;
  readonly sdm: string;
}

const QEMU_DIFFERENCES = {
  rsvdWithoutP: {
    qemu: 'reports reserved-bit page faults without the P bit: error code 0x8 (| W | U | I) instead of 0x9 (| ...)',
    sdm: 'Vol. 3 4.7: RSVD means a reserved bit was set in a paging-structure entry used for the translation; '
      + 'reserved bits are checked only in entries with P=1, so "bit 3 of the error code can be set only if bit 0 is also set"',
  },
  noGlobalPages: {
    qemu: 'flushes its whole TLB on every MOV to CR3 and INVLPG of any page, global translations included',
    sdm: 'Vol. 3 4.10.2.4/4.10.4.1: MOV to CR3 and INVLPG of another page do not invalidate global translations, '
      + 'so a cached global translation stays in use (retention is what CPUs do; the TLB may evict at any time)',
  },
  noPdpteRegisters: {
    qemu: 'does not model the PAE PDPTE registers: it reads the PDPT from memory on every walk and never checks '
      + 'PDPTEs at MOV to CR3/CR0/CR4',
    sdm: 'Vol. 3 4.4.1: the four PDPTEs are loaded into registers by MOV to CR3 (and MOV to CR0/CR4 changing '
      + 'PG, CD, NW, PAE, PGE, PSE or SMEP) and used from there; a present PDPTE with a reserved bit makes that '
      + 'MOV #GP(0) and the PDPTEs are not loaded',
  },
  smapImplicitHonoursAc: {
    qemu: 'lets EFLAGS.AC=1 allow an implicit supervisor access (descriptor-table read) to a user page at CPL0',
    sdm: 'Vol. 3 4.6: with CR4.SMAP=1, implicit supervisor-mode accesses to user-mode pages are not allowed, '
      + 'whatever EFLAGS.AC',
  },
  lenientCrMsrChecks: {
    qemu: 'omits #GP(0) checks: MOV CR0 bits 63:32, NW=1 with CD=0, PG=1 with PE=0 (and stores reserved bits '
      + '31:0); MOV CR8 bits 63:4; WRMSR EFER reserved bits and LME changes with paging on (ignored); '
      + 'PG=1 with LME=1 and PAE=0; non-canonical FS/GS/KERNEL_GS_BASE, LSTAR, SYSENTER_ESP/EIP; '
      + 'CR4.PCIDE without CPUID PCID, outside IA-32e mode, or with CR3[11:0] != 0',
    sdm: 'Vol. 2 MOV (control registers) and WRMSR exception lists; Vol. 3 2.5 ("attempting to set any reserved '
      + 'bits in CR0[31:0] is ignored"), 4.1.1, 4.10.1',
  },
  idtErrorCode: {
    qemu: 'pushes vector * 16 + 2 as the error code of a fault on an IDT entry in IA-32e mode',
    sdm: 'Vol. 3 6.13: the error code of an IDT-related fault is the vector in the selector-index field '
      + '(bits 15:3) plus the IDT bit (bit 1) and EXT: vector * 8 + 2 (+ 1)',
  },
  int1: {
    qemu: 'raises #UD for INT1 (F1) with an Intel vendor',
    sdm: 'Vol. 2 INT n/INTO/INT3/INT1: INT1 raises #DB (vector 1) without the gate DPL check, EIP after it',
  },
  nullSsRpl: {
    qemu: 'allows MOV SS with a NULL selector whose RPL differs from CPL in 64-bit mode',
    sdm: 'Vol. 2 MOV: a NULL selector may be loaded into SS in 64-bit mode only if CPL < 3 and RPL = CPL, '
      + 'else #GP(0)',
  },
  syscallFlags: {
    qemu: 'loses the arithmetic flags on SYSCALL: RFLAGS in the handler is 0x2 instead of R11 & ~FMASK',
    sdm: 'Vol. 2 SYSCALL: R11 := RFLAGS; RFLAGS := RFLAGS AND NOT(IA32_FMASK)',
  },
  sysretNonCanonical: {
    qemu: 'executes SYSRET with a non-canonical RCX and faults at CPL3 on the new RIP (also with vendor=GenuineIntel)',
    sdm: 'Vol. 2 SYSRET: #GP(0) if RCX is not canonical; on Intel the fault is taken at CPL0 on the SYSRET',
  },
  ssForStackReferences: {
    qemu: 'raises #GP(0) for a non-canonical address in a memory reference that uses SS (RBP base)',
    sdm: 'Vol. 3 6.15 (#SS) and 5.3.1: a non-canonical address in a reference using the SS segment raises #SS(0)',
  },
  wrmsrCanonicalLa57: {
    qemu: 'accepts non-canonical values in FS_BASE',
    sdm: 'Vol. 2 WRMSR: #GP(0) for a non-canonical address in IA32_FS_BASE, checked at the widest linear address '
      + 'the CPU supports (57 bits with LA57, whatever CR4.LA57; Vol. 3 4.1.1)',
  },
  noSegmentLimits: {
    qemu: 'TCG does not check data and stack segment limits or NULL data segments in 32-bit protected mode',
    sdm: 'Vol. 3 5.3: an access beyond the limit of an expand-up or inside that of an expand-down segment, '
      + 'or through a NULL selector, raises #GP(0) (#SS(0) for SS)',
  },
  reservedCrBitsLoop: {
    qemu: 'on a reserved CR3 or CR4 bit (including bits of absent features) calls its SVM #VMEXIT path although '
      + 'no SVM guest runs, and spins there forever; clearing CR4.PAE in 64-bit mode is accepted and the '
      + 'guest dies (shutdown)',
    sdm: 'Vol. 2 MOV (control registers): #GP(0) for reserved bits in CR3/CR4 and for clearing CR4.PAE in '
      + 'IA-32e mode',
  },
} as const satisfies Record<string, Difference>;

type DifferenceId = keyof typeof QEMU_DIFFERENCES;
type Known = Partial<Record<DifferenceId, readonly (string | RegExp)[]>>;

interface QemuSide {
  /** QEMU -cpu option. */
  readonly cpu: string;
  /** Lines that must FAIL under QEMU, by difference. */
  readonly known?: Known;
  /** QEMU does not finish: the last verdict line it prints (null: none) and its exit status. */
  readonly stops?: { readonly after: string | null; readonly status: number; readonly because: DifferenceId };
  /** Expected QEMU status when it finishes (default: 3 if any line must FAIL, else 1). */
  readonly status?: number;
}

/**
 * Where mmulab's hardware model legitimately does less than a CPU may: these lines FAIL in bare
 * mode, and must (so the list stays true). The SDM permits a TLB to evict any entry at any time.
 */
const MMULAB_TLB_LIMITS: readonly string[] = [
  // The TLB is direct-mapped by linear page with one PCID per slot: the same page touched under
  // another PCID evicts the first PCID's translation.
  "pcid: back to PCID 1 with NOFLUSH: PCID 1's translation is kept (retention)",
];

/**
 * What KVM's shadow MMU (ept=0) gives the guest that differs from the hardware: each entry names
 * the KVM mechanism. The lines must FAIL under `--mmu shadow` and PASS in bare.
 */
const KVM_SHADOW_DIFFERENCES = {
  noGlobalSptes: {
    kvm: 'KVM does not mark shadow SPTEs global and turns every guest flush (MOV CR3, INVLPG, INVPCID) into a sync '
      + 'of its shadow pages (kvm_invalidate_pcid, kvm_mmu_invlpg; kvm_handle_invpcid: "KVM doesn\'t mark global '
      + 'entries in the shadow page tables"), so a translation the SDM merely allows to survive is rebuilt from '
      + 'the new tables: legal, since a TLB may evict at any time',
    lines: [
      'global: global translation survives MOV CR3 (retention)',
      'global: global translation used after MOV CR3 to tables that do not map TVA (retention)',
      'global: INVLPG of another page leaves the global translation (retention)',
      'global: global 2 MiB page survives MOV CR3 (retention)',
      'pcid: global translation is shared by all PCIDs (retention)',
      'pcid: INVPCID type 0 for another PCID keeps TVA (retention)',
      'pcid: INVPCID type 1 keeps global translations (retention)',
      'pcid: INVPCID type 0 keeps global translations (retention)',
      'pcid: INVPCID type 3 keeps global translations (retention)',
    ] as readonly (string | RegExp)[],
  },
  eferNxShared: {
    kvm: 'kvm_init_shadow_mmu forces role.efer_nx=1, so shadow pages built while EFER.NXE=1 are reused after the '
      + 'guest clears NXE; an XD bit already shadowed is not rechecked as reserved until its entry is rewritten',
    lines: ['4-level: PML4E.XD=1, EFER.NXE=0: XD is reserved, read #PF 0x9'] as readonly (string | RegExp)[],
  },
  pseOnlyInExtendedRole: {
    kvm: 'CR4.PSE is in the extended CPU role, not the page role (kvm_calc_cpu_role): shadow pages built with PSE=0, '
      + 'where a PDE with PS=1 points to a page table, are reused after PSE=1 until the PDE is rewritten',
    lines: ['32-bit paging: CR4.PSE=1: the same PDE maps a 4 MiB page (reads the PTE as data)'] as readonly (string | RegExp)[],
  },
};

interface Row {
  readonly guest: string;
  /** mmulab --cpu option. */
  readonly cpu: string;
  readonly args?: readonly string[];
  /** Number of PASS/FAIL/SKIP lines the guest prints. */
  readonly cases: number;
  /** Expected mmulab status (default 1: every case passed). */
  readonly status?: number;
  /** null: no QEMU comparison for this row, for the reason given. */
  readonly qemu: QemuSide | { readonly none: string };
}

const RSVD_LINES: readonly RegExp[] = [
  /P\|RSVD \(0x9\)$/, /#PF 0xf$/, /#PF 0xd \(RSVD reported\)$/, /#PF 0x19 /, /reserved bit wins \(0x9\)$/,
];

const CR_RULES_LENIENT = [
  'cr-rules: CR0 bit 32 set: #GP(0)',
  'cr-rules: CR0 bit 63 set: #GP(0)',
  'cr-rules: CR0.NW=1 with CR0.CD=0: #GP(0)',
  'cr-rules: CR0.PG=1 with CR0.PE=0: #GP(0)',
  'cr-rules: CR0 reserved bits 6, 15, 17, 28 set: ignored (no #GP, not stored)',
  'cr-rules: CR8 bit 4 set: #GP(0)',
  'cr-rules: CR8 bit 63 set: #GP(0)',
  'cr-rules: EFER bit 1 (reserved): #GP(0)',
  'cr-rules: EFER bit 9 (reserved): #GP(0)',
  'cr-rules: EFER bit 32 (reserved): #GP(0)',
  'cr-rules: EFER bit 63 (reserved): #GP(0)',
  'cr-rules: clearing EFER.LME with paging on: #GP(0)',
  /^cr-rules: WRMSR \w+ = 0x0100000000000000 \(not canonical\): #GP\(0\)$/,
  'cr-rules: setting CR4.PCIDE with CR3[11:0] != 0: #GP(0)',
  'cr-rules: setting CR4.PCIDE with CR3[11:0] = 0: allowed iff CPUID.1:ECX.PCID',
];

const CR_RULES_32_LENIENT = [
  'cr-rules-32: CR0.NW=1 with CR0.CD=0: #GP(0)',
  'cr-rules-32: CR0.PG=1 with CR0.PE=0: #GP(0)',
  'cr-rules-32: CR0 reserved bits 6, 15, 17, 28: ignored (no #GP, not stored)',
  'cr-rules-32: CR0.PG=1 with EFER.LME=1 and CR4.PAE=0: #GP(0), IA-32e not entered',
  'cr-rules-32: setting EFER.LME with paging on: #GP(0)',
  'cr-rules-32: CR4.PCIDE outside IA-32e mode (paging on): #GP(0)',
  'cr-rules-32: CR4.PCIDE outside IA-32e mode (paging off): #GP(0)',
  'cr-rules-32: EFER bit 1 (reserved): #GP(0)',
  'cr-rules-32: EFER bit 63 (reserved): #GP(0)',
];

const PRIVILEGE_KNOWN: Known = {
  idtErrorCode: [
    'privilege: int $0x72 from CPL3, gate DPL0: #GP(0x392) (vector*8 + IDT bit)',
    'privilege: int3 from CPL3, gate DPL0: #GP(0x1a)',
    'privilege: into from CPL3 (compatibility mode), gate DPL0: #GP(0x22)',
    'privilege: int $0x74, gate DPL3 not present: #NP(0x3a2)',
    'privilege: int $0x74 from CPL3, gate DPL0 not present: #GP(0x3a2) (DPL checked before P)',
    'privilege: int $0x75 through a task-gate type in IA-32e mode: #GP(0x3aa)',
    'privilege: int $0x80 beyond the IDT limit: #GP(0x402)',
    'privilege: int3 with the #BP gate not present: #NP(0x1a), not #DF',
  ],
  int1: ['privilege: int1 (F1) from CPL3, gate DPL0: #DB delivered (no DPL check), RIP after'],
  nullSsRpl: ['privilege: MOV SS, NULL selector with RPL3 at CPL0: #GP(0)'],
  syscallFlags: ['privilege: SYSCALL: R11 = RFLAGS, RFLAGS &= ~FMASK'],
  sysretNonCanonical: ['privilege: SYSRET to a non-canonical RCX (Intel): #GP(0) at CPL0, on the SYSRET'],
};

const ROWS: readonly Row[] = [
  {
    guest: 'paging', cpu: 'max', cases: 79,
    qemu: {
      cpu: 'max',
      known: { rsvdWithoutP: [/XD is reserved, read #PF 0x9$/, /combinations with XD set \(reserved: P\|RSVD\)$/] },
    },
  },
  { guest: 'rsvd', cpu: 'max', cases: 49, qemu: { cpu: 'max', known: { rsvdWithoutP: RSVD_LINES } } },
  // MAXPHYADDR 36: bits 39:36 become reserved; the same image and case names.
  {
    guest: 'rsvd', cpu: 'max,phys-bits=36', cases: 49,
    qemu: { cpu: 'max,phys-bits=36', known: { rsvdWithoutP: RSVD_LINES } },
  },
  {
    guest: 'la57', cpu: 'max', cases: 21,
    qemu: {
      cpu: 'max',
      known: {
        ssForStackReferences: [
          'la57: 4-level: (%rbp) reference, not canonical: #SS(0)',
          'la57: 5-level: (%rbp) reference, not canonical at 57 bits: #SS(0)',
        ],
        wrmsrCanonicalLa57: [
          'la57: 5-level: WRMSR FS_BASE = 0x0100000000000000 (not canonical): #GP(0)',
        ],
        rsvdWithoutP: ['la57: 5-level: PML5E bit 7 (PS) is reserved: #PF 0x9'],
      },
    },
  },
  {
    guest: 'paging-32', cpu: 'max', cases: 31,
    qemu: { cpu: 'max', known: { rsvdWithoutP: ['32-bit paging: 4 MiB page with bit 21 set: reserved, #PF 0x9'] } },
  },
  {
    guest: 'pae-32', cpu: 'max', cases: 46,
    qemu: {
      cpu: 'max',
      known: {
        rsvdWithoutP: [/^PAE: .*(reserved|MAXPHYADDR).*#PF 0x9$/],
        noPdpteRegisters: [
          /^PAE: PDPTE 1 (edited|cleared) in memory/,
          /^PAE: MOV CR3 with PDPTE 1 .* set: #GP\(0\)/,
          'PAE: MOV CR0 setting PG with a reserved PDPTE bit: #GP(0), paging stays off',
          'PAE: MOV CR0 setting CD (PAE paging on) loads PDPTEs: #GP(0)',
          // QEMU walks the bad PDPTE in memory, so these accesses fault.
          'PAE: MOV CR0 toggling WP does not load PDPTEs: no #GP, old translation',
          'PAE: MOV CR4 setting PGE loads PDPTEs: #GP(0), CR4 kept',
          'PAE: MOV CR4 toggling PSE loads PDPTEs: #GP(0), CR4 kept',
          'PAE: MOV CR4 setting SMEP loads PDPTEs: #GP(0), CR4 kept',
          'PAE: MOV CR4 setting SMAP does not load PDPTEs: no #GP',
          'PAE: MOV CR4 setting TSD does not load PDPTEs: no #GP',
          'PAE: MOV CR3 still #GPs with the reserved bit',
        ],
      },
    },
  },
  { guest: 'global', cpu: 'max', cases: 14, qemu: { cpu: 'max', known: { noGlobalPages: [/\(retention\)$/] } } },
  { guest: 'pcid', cpu: 'max', cases: 34, qemu: { none: 'QEMU 7.2 TCG has neither PCID nor INVPCID (-cpu max lacks both)' } },
  // The same image where PCID/INVPCID are absent, which is what QEMU can run.
  {
    guest: 'pcid', cpu: 'max,-pcid,-invpcid', cases: 2,
    qemu: { cpu: 'max', known: { lenientCrMsrChecks: ['pcid: CR4.PCIDE without CPUID.1:ECX.PCID: #GP(0)'] } },
  },
  {
    guest: 'pcid', cpu: 'base', cases: 2,
    qemu: { cpu: 'qemu64', known: { lenientCrMsrChecks: ['pcid: CR4.PCIDE without CPUID.1:ECX.PCID: #GP(0)'] } },
  },
  {
    guest: 'smep-smap-pku', cpu: 'max', cases: 54,
    qemu: {
      cpu: 'max',
      known: { smapImplicitHonoursAc: ['smep-smap-pku: SMAP: descriptor read from a user page (MOV DS, AC=1) #PF 0x1: AC does not apply'] },
    },
  },
  {
    guest: 'smep-smap-pku', cpu: 'base', cases: 12,
    qemu: { cpu: 'qemu64', stops: { after: null, status: TIMEOUT, because: 'reservedCrBitsLoop' } },
  },
  {
    guest: 'cr-rules', cpu: 'max', cases: 77,
    qemu: {
      cpu: 'max',
      known: { lenientCrMsrChecks: CR_RULES_LENIENT },
      stops: { after: 'cr-rules: changing CR4.LA57 in IA-32e mode: #GP(0)', status: QEMU_SHUTDOWN, because: 'reservedCrBitsLoop' },
    },
  },
  {
    guest: 'cr-rules', cpu: 'base', cases: 77,
    qemu: {
      cpu: 'qemu64',
      known: { lenientCrMsrChecks: CR_RULES_LENIENT },
      stops: { after: 'cr-rules: setting CR4.PCIDE with CR3[11:0] = 0: allowed iff CPUID.1:ECX.PCID', status: TIMEOUT, because: 'reservedCrBitsLoop' },
    },
  },
  {
    guest: 'cr-rules-32', cpu: 'max', cases: 40,
    qemu: {
      cpu: 'max',
      known: { lenientCrMsrChecks: CR_RULES_32_LENIENT },
      stops: { after: 'cr-rules-32: CR4.LA57 outside IA-32e mode: settable iff CPUID reports LA57', status: TIMEOUT, because: 'reservedCrBitsLoop' },
    },
  },
  {
    guest: 'cr-rules-32', cpu: 'base', cases: 40,
    qemu: {
      cpu: 'qemu64',
      known: { lenientCrMsrChecks: CR_RULES_32_LENIENT },
      // LA57 is absent in qemu64, so the LA57 line is already a reserved CR4 bit.
      stops: { after: 'cr-rules-32: MOV from CR0 at CPL3: #GP(0)', status: TIMEOUT, because: 'reservedCrBitsLoop' },
    },
  },
  // QEMU's -cpu max is AuthenticAMD; the guests follow the (Intel) SDM, so QEMU is asked for Intel.
  { guest: 'privilege', cpu: 'max', cases: 78, qemu: { cpu: 'max,vendor=GenuineIntel', known: PRIVILEGE_KNOWN } },
  {
    guest: 'privilege', cpu: 'max', args: ['triple-fault'], cases: 78, status: MMULAB_TRIPLE_FAULT,
    qemu: { cpu: 'max,vendor=GenuineIntel', known: PRIVILEGE_KNOWN, status: QEMU_SHUTDOWN },
  },
  {
    guest: 'privilege-32', cpu: 'max', cases: 20,
    qemu: {
      cpu: 'max',
      known: {
        noSegmentLimits: [
          'privilege-32: expand-up limit 0xfff: 4-byte read at 0xffd crosses the limit: #GP(0)',
          'privilege-32: expand-up: read at 0x1000: #GP(0)',
          'privilege-32: expand-down limit 0xfff: read at 0x800: #GP(0)',
          'privilege-32: read through a NULL DS: #GP(0)',
          'privilege-32: CPL3 push beyond the SS limit: #SS(0)',
        ],
      },
    },
  },
];


const image = (r: Row): string => `${GUESTS}${r.guest}.flat`;
const label = (r: Row): string => `${r.guest} --cpu ${r.cpu}${r.args?.length ? ` ${r.args.join(' ')}` : ''}`;

/** Verdict lines of a guest's output, in order. */
function lines(out: string): Line[] {
  const re = /^(PASS|FAIL|SKIP|XFAIL|XPASS): (.*)$/gm;
  return [...out.matchAll(re)].map((m) => ({ verdict: m[1] as Verdict, name: m[2] }));
}

const mmulabRuns = new Map<string, Promise<ChildRun>>();
function runMmulab(r: Row, mmu = 'bare'): Promise<ChildRun> {
  const key = `${label(r)} ${mmu}`;
  let p = mmulabRuns.get(key);
  if (p === undefined) {
    const argv = [CLI, 'run', image(r), '--cpu', r.cpu];
    if (mmu !== 'bare') argv.push('--mmu', mmu, '--audit');
    if (r.args?.length) argv.push('--append', r.args.join(' '));
    p = runChild(process.execPath, argv, 120_000);
    mmulabRuns.set(key, p);
  }
  return p;
}

function runQemu(r: Row, q: QemuSide): Promise<ChildRun> {
  const argv = [
    '-nodefaults', '-no-reboot', '-display', 'none', '-accel', 'tcg', '-cpu', q.cpu, '-m', '128',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-serial', 'stdio', '-kernel', image(r),
  ];
  if (r.args?.length) argv.push('-append', r.args.join(' '));
  // A run that is expected to hang needs only a short limit.
  return runChild(QEMU, argv, q.stops?.status === TIMEOUT ? 15_000 : 90_000);
}

function matches(name: string, p: string | RegExp): boolean {
  return typeof p === 'string' ? name === p : p.test(name);
}

/** The difference that makes `name` FAIL under QEMU, if any. */
function knownDifference(q: QemuSide, name: string): DifferenceId | undefined {
  for (const [id, patterns] of Object.entries(q.known ?? {}) as [DifferenceId, readonly (string | RegExp)[]][]) {
    if (patterns.some((p) => matches(name, p))) return id;
  }
  return undefined;
}

describe('feature guests pass in mmulab (bare)', () => {
  test.concurrent.each(ROWS.map((r) => ({ ...r, label: label(r) })))('$label', async (r) => {
    const m = await runMmulab(r);
    const got = lines(m.out);
    const failed = got.filter((l) => l.verdict === 'FAIL' || l.verdict === 'XPASS').map((l) => l.name);
    const limited = failed.filter((n) => MMULAB_TLB_LIMITS.includes(n));
    const context = `${m.out}\n${m.err}`;
    expect(failed.filter((n) => !limited.includes(n)), context).toEqual([]);
    expect(got.length, context).toBe(r.cases);
    if (r.status === MMULAB_TRIPLE_FAULT) {
      expect(m.out).toMatch(/^INFO: triple fault next/m);
    } else if (limited.length === 0) {
      expect(m.out, context).toMatch(/^SUMMARY: \d+ tests(, \d+ skipped)?$/m);
    }
    expect(m.status, context).toBe(r.status ?? (limited.length > 0 ? 3 : 1));
  });

  test('the recorded TLB limits still show', async () => {
    const pcid = ROWS.find((r) => r.guest === 'pcid' && r.cpu === 'max')!;
    const got = lines((await runMmulab(pcid)).out);
    for (const name of MMULAB_TLB_LIMITS) expect(got.find((l) => l.name === name)?.verdict, name).toBe('FAIL');
  });
});

/**
 * KVM offers PKS to no guest (kvm_set_cpu_caps has no PKS; vmm/machine.ts hides it), so where bare
 * mode's `max` CPU has it and skips setting CR4.PKS ("not set here"), a KVM guest checks instead
 * that setting the reserved bit is #GP, and that must pass.
 */
function asKvmGuestSees(l: Line): Line {
  const m = /^(cr-rules(?:-32)?: CR4\.PKS \(bit 24\) settable iff CPUID reports it): not set here$/.exec(l.name);
  return m !== null && l.verdict === 'SKIP' ? { verdict: 'PASS', name: m[1] } : l;
}

/** The KVM difference that makes `name` FAIL under shadow paging, if any. */
function kvmShadowDifference(name: string): string | undefined {
  for (const [id, d] of Object.entries(KVM_SHADOW_DIFFERENCES)) {
    if (d.lines.some((p) => matches(name, p))) return id;
  }
  return undefined;
}

describe.each(['shadow', 'legacy-tdp', 'tdp'])('feature guests under --mmu %s --audit: bare\'s verdicts, checker clean', (mmu) => {
  test.concurrent.each(ROWS.map((r) => ({ ...r, label: label(r) })))('$label', async (r) => {
    const [bare, virt] = await Promise.all([runMmulab(r), runMmulab(r, mmu)]);
    const want = lines(bare.out).map(asKvmGuestSees);
    const got = lines(virt.out);
    const context = `${virt.out}\n${virt.err}`;
    expect(virt.err, context).not.toMatch(/invariant violation/);
    // PKU does not exist under shadow paging (KVM clears it without TDP): fewer cases may run.
    const noPku = mmu === 'shadow' && r.guest === 'smep-smap-pku';
    if (!noPku) expect(got.map((l) => l.name), context).toEqual(want.map((l) => l.name));
    const byName = new Map(want.map((l) => [l.name, l.verdict]));
    const unexpected: string[] = [];
    let kvmFails = 0;
    for (const { name, verdict } of got) {
      const diff = mmu === 'shadow' ? kvmShadowDifference(name) : undefined;
      // Without PKU the guest runs its "no PKU" cases instead, which must pass.
      const expected = diff !== undefined ? 'FAIL' : noPku && !byName.has(name) ? 'PASS' : byName.get(name);
      if (diff !== undefined && byName.get(name) === 'PASS') kvmFails++;
      if (verdict !== expected) unexpected.push(`${verdict} (expected ${expected}${diff ? `: ${diff}` : ''}): ${name}`);
    }
    expect(unexpected, context).toEqual([]);
    if (kvmFails === 0 && !noPku) expect(virt.status, context).toBe(bare.status);
  });
});

const haveQemu = spawnSync(QEMU, ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
if (!haveQemu) console.warn(`NOTICE: ${QEMU} is not available: the QEMU TCG half of the feature guests is SKIPPED`);

const QEMU_ROWS = ROWS.filter((r): r is Row & { qemu: QemuSide } => 'cpu' in r.qemu);
const NOT_IN_QEMU = ROWS.filter((r) => 'none' in r.qemu);

describe('feature guests under QEMU 7.2 TCG: same cases, PASS except the recorded SDM differences', () => {
  const qemuTest = haveQemu ? test.concurrent : test.skip;
  qemuTest.each(QEMU_ROWS.map((r) => ({ ...r, label: `${label(r)} | qemu -cpu ${r.qemu.cpu}` })))('$label', async (r) => {
    const q = r.qemu;
    const [qr, m] = await Promise.all([runQemu(r, q), runMmulab(r)]);
    const ours = lines(m.out);
    const theirs = lines(qr.out);
    const context = qr.out;

    // How far QEMU gets: all cases, or up to the documented line where it stops.
    let expectedCount = r.cases;
    if (q.stops !== undefined) {
      expectedCount = q.stops.after === null ? 0 : theirs.findIndex((l) => l.name === q.stops!.after) + 1;
      expect(expectedCount, `QEMU no longer stops after "${q.stops.after}" (${q.stops.because})\n${context}`)
        .toBeGreaterThan(q.stops.after === null ? -1 : 0);
    }
    expect(theirs.length, context).toBe(expectedCount);

    const unexpected: string[] = [];
    for (let i = 0; i < theirs.length; i++) {
      const { verdict, name } = theirs[i];
      if (i < ours.length) expect(name, `case ${i + 1} differs between mmulab and QEMU`).toBe(ours[i].name);
      const diff = knownDifference(q, name);
      const want: Verdict = diff !== undefined ? 'FAIL' : i < ours.length && ours[i].verdict === 'SKIP' ? 'SKIP' : 'PASS';
      if (verdict !== want) unexpected.push(`${verdict} (expected ${want}${diff ? `: ${diff}` : ''}): ${name}`);
    }
    expect(unexpected, context).toEqual([]);

    // Every recorded difference must still show (or the list is stale).
    for (const [id, patterns] of Object.entries(q.known ?? {}) as [DifferenceId, readonly (string | RegExp)[]][]) {
      for (const p of patterns) {
        expect(theirs.some((l) => matches(l.name, p)), `${id}: no QEMU line matches ${String(p)}`).toBe(true);
      }
    }

    const anyKnownFail = theirs.some((l) => l.verdict === 'FAIL');
    const wantStatus = q.stops?.status ?? q.status ?? (anyKnownFail ? 3 : 1);
    expect(qr.status, context).toBe(wantStatus);
  });

  test.each(NOT_IN_QEMU.map((r) => ({ label: label(r), why: (r.qemu as { none: string }).none })))('$label: not run under QEMU', ({ why }) => {
    console.log(`NOTICE: no QEMU comparison: ${why}`);
    expect(why.length).toBeGreaterThan(0);
  });
});

describe('every recorded QEMU difference is used and explained', () => {
  test('each difference names QEMU behaviour and the SDM rule', () => {
    const used = new Set<string>();
    for (const r of QEMU_ROWS) {
      for (const id of Object.keys(r.qemu.known ?? {})) used.add(id);
      if (r.qemu.stops) used.add(r.qemu.stops.because);
    }
    for (const [id, d] of Object.entries(QEMU_DIFFERENCES)) {
      expect(used.has(id), `${id} is not used by any row`).toBe(true);
      expect(d.sdm).toMatch(/Vol\. \d/);
    }
  });
});
