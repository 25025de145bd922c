import { parentPort } from 'node:worker_threads';
import { type JobRequest, type JobResult, runItem } from './test-jobs.js';

/** A worker thread of `mmulab test --jobs N`: runs one item per message and posts its result. */
parentPort?.on('message', (m: JobRequest) => {
  const run = runItem(m.item, m.entries, m.modes, m.settings);
  parentPort?.postMessage({ index: m.item.index, run } satisfies JobResult);
});
