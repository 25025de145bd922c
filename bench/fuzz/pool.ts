import { Worker } from 'node:worker_threads';
import type { Chunk, ChunkResult } from './chunks.js';

/**
 * Runs chunks on `jobs` worker threads (bench/fuzz/worker.ts), each given the next chunk as soon
 * as it finishes one, until `next` has none left; `onResult` sees each result as it arrives
 * (in any order: the caller merges by Chunk.seq). Rejects if a worker dies.
 */
export function runOnWorkers(seed: number, jobs: number, next: () => Chunk | undefined, onResult: (r: ChunkResult) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const workers: Worker[] = [];
    let busy = 0;
    let failed = false;
    const stop = (err?: Error): void => {
      for (const w of workers) void w.terminate();
      if (err !== undefined) reject(err); else resolve();
    };
    const feed = (w: Worker): void => {
      const c = next();
      if (c === undefined) {
        if (busy === 0) stop();
        return;
      }
      busy++;
      w.postMessage(c);
    };
    for (let j = 0; j < jobs; j++) {
      const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: { seed } });
      workers.push(w);
      w.on('message', (r: ChunkResult) => {
        busy--;
        onResult(r);
        if (!failed) feed(w);
      });
      w.on('error', (err) => {
        if (failed) return;
        failed = true;
        stop(new Error(`a worker thread failed: ${err.message}`));
      });
    }
    for (const w of workers) feed(w);
  });
}
