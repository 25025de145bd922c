/**
 * Whether hot blocks are translated to specialised JavaScript (emulator/jit) or compiled to
 * call-threaded code (emulator/decode/block-compiler.ts):
 * - off: call-threaded code for blocks run COMPILE_THRESHOLD times (the interpreter's handlers);
 * - on: translated code for those blocks instead;
 * - force: every block is translated when it is first decoded, so tests run all code translated.
 * Chosen by `--translator` on run/compare/test, or the MMULAB_TRANSLATOR environment variable
 * (which worker threads and child processes inherit).
 */
export type TranslatorMode = 'off' | 'on' | 'force';

export const TRANSLATOR_MODES: readonly TranslatorMode[] = ['off', 'on', 'force'];

export const TRANSLATOR_ENV = 'MMULAB_TRANSLATOR';

/** The mode named by a string, or undefined if it names none. */
export function parseTranslatorMode(s: string): TranslatorMode | undefined {
  return (TRANSLATOR_MODES as readonly string[]).includes(s) ? (s as TranslatorMode) : undefined;
}

/** The mode from the environment; unset or empty is 'on'. An invalid value is reported by the CLI. */
export function translatorModeFromEnv(): TranslatorMode {
  const v = process.env[TRANSLATOR_ENV];
  if (v === undefined || v === '') return 'on';
  return parseTranslatorMode(v) ?? 'on';
}
