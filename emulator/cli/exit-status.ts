import type { RunOutcome } from '../machine/vm.js';

/**
 * Process exit statuses. A guest's own status is odd: the debug-exit port turns value v into
 * (v << 1) | 1, as QEMU's isa-debug-exit does, so kvm-unit-tests scripts read 1 as PASS, 3 as
 * FAIL, 77 as SKIP. mmulab's own statuses are even, so they never collide with a guest's.
 */
export const enum ExitStatus {
  /** Command-line error: unknown option, bad value. */
  USAGE = 2,
  /** The image is missing, unreadable, not ELF, truncated, not multiboot, or does not fit. */
  BAD_IMAGE = 4,
  /** The guest triple-faulted (QEMU with --no-reboot would exit 0 here). */
  TRIPLE_FAULT = 6,
  /** --max-insns was reached before the guest exited. */
  INSN_LIMIT = 8,
  /** The guest executed a valid instruction or operation mmulab does not implement. */
  UNIMPLEMENTED = 10,
  /** The guest halted with nothing that could wake it. */
  HALTED = 12,
  /** mmulab itself failed (a bug): reported in one line, never as a stack trace. */
  INTERNAL = 14,
  /** The modeled KVM refused to continue (KVM_RUN failed), as KVM does on some MMU bugs (lkml (e)). */
  KVM_ERROR = 16,
  /** `mmulab compare`: the MMU modes disagree on the guest's status or output. */
  MODES_DIFFER = 18,
  /** `mmulab test`: a run gave another verdict than the test table expects (or broke an invariant). */
  TESTS_UNEXPECTED = 20,
  /** One of the project's images is missing and could not be built here (no toolchain, or make failed). */
  IMAGE_NOT_BUILT = 22,
  /** `mmulab replay`: a replay's figures do not have the shape its thread describes. */
  REPLAY_SHAPE = 24,
}

/** The exit status for a run that did not end through the debug-exit port. */
export function statusForOutcome(outcome: Exclude<RunOutcome, 'exit'>): ExitStatus {
  switch (outcome) {
    case 'triple-fault': return ExitStatus.TRIPLE_FAULT;
    case 'insn-limit': return ExitStatus.INSN_LIMIT;
    case 'unsupported': return ExitStatus.UNIMPLEMENTED;
    case 'kvm-error': return ExitStatus.KVM_ERROR;
    default: return ExitStatus.HALTED;
  }
}
