// The last step of `npm run build`, after tsc: dist/emulator/cli/main.js and everything it
// imports (about 230 modules of ours, and yargs with its dependencies) become one script,
// dist/emulator/cli/main.bundle.cjs, so `mmulab` starts without resolving and loading each module:
// ~0.2 s less CPU per start. main.js is then replaced by scripts/cli-loader.js, which runs the
// bundle through V8's code cache (~0.03 s less again). Every other file of dist/ stays as tsc
// wrote it: workers, benches and tests load those. The bundle is in main.js's own directory and
// sees main.js's URL as import.meta.url, so the CLI's import.meta.url paths (package.json,
// test-jobs-worker.js, qemu-main.js, the repository root) resolve as before. capstone-wasm and
// chart.js are found at run time (a dynamic import by name, require.resolve) and stay outside.
// tsc alone rewrites main.js unbundled, which runs the same code, only slower to start.
// string-width's costly module-level objects are built on first use instead (lazy-init.mjs).
import { createHash } from 'node:crypto';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { build } from 'esbuild';
import { deferCostlyInit } from './lazy-init.mjs';

/** Rewrites every copy of string-width as it is bundled; warns if one no longer has the declarations. */
const deferStringWidth = {
  name: 'defer-string-width',
  setup(b) {
    b.onLoad({ filter: /[\\/]string-width[\\/]index\.js$/ }, async (args) => {
      const { source, count } = deferCostlyInit(await readFile(args.path, 'utf8'));
      const warnings = count > 0 ? [] : [{ text: `${args.path}: no module-level Intl.Segmenter or Unicode-property pattern to defer` }];
      return { contents: source, loader: 'js', warnings };
    });
  },
};

// A dynamic import() in a script loaded from V8's code cache loses its referrer and fails (Node
// 20), so the bundle's import(x) calls the loader's importModule(x), an import() of main.js itself.
const DYNAMIC_IMPORT = /(?<![\w.$])import\(/g;
const OWN = resolve('dist') + sep;
const importThroughLoader = {
  name: 'import-through-loader',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(OWN)) return undefined;
      const source = await readFile(args.path, 'utf8');
      return { contents: source.replace(DYNAMIC_IMPORT, 'importModule('), loader: 'js' };
    });
  },
};

const dir = 'dist/emulator/cli';
const main = `${dir}/main.js`;
const bundle = `${dir}/main.bundle.cjs`;
await build({
  entryPoints: [main],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['capstone-wasm', 'chart.js'],
  // cli-loader.js passes main.js's URL: paths the CLI finds from its own location stay as they were.
  define: { 'import.meta.url': 'mainUrl' },
  sourcemap: true,
  logLevel: 'warning',
  plugins: [deferStringWidth, importThroughLoader],
});
const left = (await readFile(bundle, 'utf8')).match(DYNAMIC_IMPORT);
if (left !== null) throw new Error(`${bundle} still has ${left.length} dynamic import(s), which fail from the code cache`);
const hash = createHash('sha256').update(await readFile(bundle)).digest('hex').slice(0, 16);
for (const name of await readdir(dir)) if (/^main\.bundle\.[0-9a-f]+\.cache/.test(name)) await rm(`${dir}/${name}`, { force: true });
const loader = (await readFile(new URL('./cli-loader.js', import.meta.url), 'utf8')).replace('@HASH@', hash);
await writeFile(main, loader, { mode: 0o755 });
await rm(`${main}.map`, { force: true });
