import type { KvmOptions } from './kvm-args.js';
import type { MmuMode } from '../../vmm/machine.js';
import type { Shard } from './test-shard.js';

/**
 * `mmulab test [NAME...]`: the ported kvm-unit-tests, each entry of the test table in each MMU
 * mode asked for, one verdict per run and a summary; exit status 0 when every run gave the
 * verdict the table expects for its mode (and, with --audit, broke none of KVM's invariants),
 * else TESTS_UNEXPECTED.
 */
export interface TestOptions extends KvmOptions {
  readonly names: readonly string[];
  /** A kvm-unit-tests tree whose x86/unittests.cfg runs instead of the port's table (upstream-command.ts). */
  readonly upstream: string | undefined;
  readonly modes: readonly MmuMode[];
  readonly table: string;
  readonly images: string;
  readonly maxInsns: number | undefined;
  /** --upstream only: each entry's CPU limit (ms), overriding unittests.cfg's `timeout`. */
  readonly timeoutMs: number | undefined;
  readonly list: boolean;
  readonly json: boolean;
  readonly showOutput: boolean;
  /** Worker threads running table entries (and access-matrix parts) at once. */
  readonly jobs: number;
  readonly shard: Shard | undefined;
  /** Shard results to combine instead of running anything. */
  readonly merge: readonly string[];
}
