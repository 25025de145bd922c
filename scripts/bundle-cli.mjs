// The last step of `npm run build`, after tsc: dist/emulator/cli/main.js and everything it
// imports (about 230 modules of ours, and yargs with its dependencies) become one file in its
// place, so `mmulab` starts without resolving and loading each module: ~0.2 s less CPU per start.
// Every other file of dist/ stays as tsc wrote it: workers, benches and tests load those. The
// bundle is in main.js's own directory, so the CLI's import.meta.url paths (package.json,
// test-jobs-worker.js, qemu-main.js, the repository root) resolve as before. capstone-wasm and
// chart.js are found at run time (a dynamic import by name, require.resolve) and stay outside.
// tsc alone rewrites main.js unbundled, which runs the same code, only slower to start.
import { build } from 'esbuild';

const main = 'dist/emulator/cli/main.js';
await build({
  entryPoints: [main],
  outfile: main,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['capstone-wasm', 'chart.js'],
  sourcemap: true,
  logLevel: 'warning',
});
