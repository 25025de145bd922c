import type { Command } from './command.js';
import { RUN_COMMAND } from './run-command.js';
import { COMPARE_COMMAND } from './compare-command.js';
import { TEST_COMMAND } from './test-command.js';
import { QEMU_COMMAND } from './qemu-command.js';
import { REPLAY_COMMAND } from './replay-command.js';

/** Every mmulab subcommand, in the order help lists them. */
export const COMMANDS: readonly Command[] = [RUN_COMMAND as Command, COMPARE_COMMAND as Command, TEST_COMMAND as Command, QEMU_COMMAND as Command, REPLAY_COMMAND as Command];
