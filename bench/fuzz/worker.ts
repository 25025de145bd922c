import { parentPort, workerData } from 'node:worker_threads';
import { type Chunk, runChunk } from './chunks.js';

/**
 * A fuzz worker thread (--jobs N): it keeps its own machines for the whole run and answers each
 * chunk the driver sends with the chunk's summary (structured clone carries the Maps).
 */
const seed = (workerData as { seed: number }).seed;
const port = parentPort;
if (port === null) throw new Error('bench/fuzz/worker.js runs only as a worker thread of the fuzz driver');
port.on('message', (chunk: Chunk) => {
  port.postMessage(runChunk(seed, chunk));
});
