import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { basename, delimiter, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ImageNotBuiltError, oneLine } from './errors.js';
import { writeErr } from './output.js';

/**
 * Images this project builds itself. When `run`, `compare` or `test` is given one that is missing
 * (a checkout where `npm run build` ran but `npm run build:guests` did not), the make rule that
 * builds it is run, when the toolchain is there; otherwise the command fails with one line naming
 * the command that builds it (ImageNotBuiltError). The checkout is found from the image's own
 * path (CHECKOUT/build/guests/NAME.flat), so this works for any checkout of mmulab, and only for
 * one: a folder with mmulab's package.json and guests/Makefile.
 */

/** Built by make from a source folder NAME/ (holding C files, as the Makefile's `*\/*.c`): NAME.flat. */
interface MadeImages {
  readonly dir: string;
  readonly sources: string;
}

/** Built by a script that takes minutes or the network: named, not run. */
interface ScriptImages {
  readonly dir: string;
  readonly files: readonly string[];
  readonly script: string;
}

const IMAGE_FOLDERS: ReadonlyArray<MadeImages | ScriptImages> = [
  { dir: 'build/guests', sources: 'guests' },
  { dir: 'build/kvm-unit-tests', sources: 'kvm-unit-tests-port' },
  { dir: 'build/linux', files: ['vmlinux', 'initramfs.cpio'], script: 'guests/linux/build-kernel.sh' },
  { dir: 'build/linux/cloud', files: ['vmlinux'], script: 'guests/linux/fetch-cloud-kernel.sh' },
];

/** What the make rules need (guests/Makefile: CC, LD, OBJCOPY). */
const TOOLCHAIN = ['make', 'gcc', 'ld', 'objcopy'] as const;

/** A missing image of a checkout, and how it is built. */
type OurImage =
  | { readonly kind: 'make'; readonly path: string; readonly checkout: string; readonly makeDir: string; readonly target: string }
  | { readonly kind: 'script'; readonly path: string; readonly checkout: string; readonly script: string };

function isCheckout(dir: string): boolean {
  if (!existsSync(join(dir, 'guests', 'Makefile'))) return false;
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === 'mmulab';
  } catch {
    return false;
  }
}

function hasCSource(dir: string): boolean {
  try {
    return readdirSync(dir).some((f) => f.endsWith('.c'));
  } catch {
    return false;
  }
}

/** How `path` is built, when it is an image of a checkout of mmulab (else undefined). */
export function ourImage(path: string): OurImage | undefined {
  const abs = resolve(path);
  const folder = dirname(abs);
  const file = basename(abs);
  for (const f of IMAGE_FOLDERS) {
    const tail = sep + f.dir.split('/').join(sep);
    if (!folder.endsWith(tail)) continue;
    const checkout = folder.slice(0, -tail.length) || sep;
    if (!isCheckout(checkout)) continue;
    if ('script' in f) {
      if (f.files.includes(file)) return { kind: 'script', path, checkout, script: f.script };
      continue;
    }
    const name = /^(.+)\.flat$/.exec(file)?.[1];
    if (name === undefined || name === 'lib' || !hasCSource(join(checkout, f.sources, name))) continue;
    // make names targets by the physical path ($(CURDIR) is getcwd()'s): resolve symlinks.
    const real = realpathSync(checkout);
    return { kind: 'make', path, checkout, makeDir: join(real, f.sources), target: join(real, f.dir, file) };
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && isExecutable(join(d, tool)));
}

/** A path relative to the working directory when it lies below it. */
export function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** A file of the checkout as the user can type it from here. */
function inCheckout(checkout: string, file: string): string {
  return shortPath(join(checkout, file));
}

/** " in CHECKOUT" unless that is where we are. */
function where(checkout: string): string {
  return resolve(checkout) === resolve(process.cwd()) ? '' : ` in ${checkout}`;
}

function described(images: readonly OurImage[]): string {
  if (images.length === 1) return shortPath(images[0].path);
  const dirs = [...new Set(images.map((i) => shortPath(dirname(resolve(i.path)))))];
  return `${images.length} images in ${dirs.join(' and ')}`;
}

/**
 * The line of make's output that says what went wrong: the first compiler or linker error, else
 * the last line (make's own "*** [rule] Error 1" lines say only where).
 */
function firstError(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const line = lines.find((l) => /\berror\b|undefined reference|No rule to make target|cannot find|not found/i.test(l) && !/\*\*\* \[.*\] Error \d+$/.test(l))
    ?? lines[lines.length - 1] ?? 'no output';
  const text = oneLine(line);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/**
 * Builds the images among `paths` that are missing and are this project's (see the top of this
 * file), one make per source folder; `notice` gets one line per build. Missing images that are
 * not ours are left to the caller's read, which reports them as bad images.
 */
export function ensureImages(paths: readonly string[], notice?: (line: string) => void): void {
  const missing = paths.filter((p) => !existsSync(p)).map(ourImage).filter((i) => i !== undefined);
  if (missing.length === 0) return;
  const scripted = missing.find((i) => i.kind === 'script');
  if (scripted !== undefined) {
    throw new ImageNotBuiltError(`${shortPath(scripted.path)} is not built: run ${inCheckout(scripted.checkout, scripted.script)} to build it`);
  }
  const made = missing.filter((i) => i.kind === 'make');
  const checkout = made[0].checkout;
  const absent = TOOLCHAIN.filter((t) => !onPath(t));
  if (absent.length > 0) {
    throw new ImageNotBuiltError(`${described(made)} ${made.length === 1 ? 'is' : 'are'} not built, and ${absent.join(', ')} ${absent.length === 1 ? 'is' : 'are'} `
      + `not installed to build ${made.length === 1 ? 'it' : 'them'}: run ${inCheckout(checkout, 'scripts/setup-host.sh')}, then npm run build:guests${where(checkout)}`);
  }
  for (const makeDir of new Set(made.map((i) => i.makeDir))) {
    const group = made.filter((i) => i.makeDir === makeDir);
    const command = `make -C ${shortPath(makeDir)}`;
    const make = ['make', '-C', makeDir, ...group.map((i) => i.target)];
    // Commands started together on a fresh checkout (test files run in parallel) would run make
    // in the same folder at once and compile the same objects over each other: one at a time,
    // through flock (util-linux) where there is one.
    const lock = join(group[0].checkout, 'build', '.make-lock');
    const flock = onPath('flock');
    if (flock) mkdirSync(dirname(lock), { recursive: true });
    const argv = flock ? ['flock', lock, ...make] : make;
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
    if (r.error !== undefined || r.status !== 0) {
      const why = r.error !== undefined ? oneLine(r.error.message) : firstError(`${r.stdout}\n${r.stderr}`);
      throw new ImageNotBuiltError(`cannot build ${described(group)}: ${command} failed: ${why} `
        + `(${inCheckout(group[0].checkout, 'scripts/setup-host.sh')} installs the toolchain)`);
    }
    notice?.(`built ${described(group)} (${command})`);
  }
}

/**
 * Where a command reports that it built a missing image: a line on stderr, but none with --json
 * (run --json's stderr is one JSON object).
 */
export function buildNotice(json: boolean): ((line: string) => void) | undefined {
  return json ? undefined : (line) => writeErr(`mmulab: ${line}`);
}
