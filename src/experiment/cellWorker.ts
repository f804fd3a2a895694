/**
 * Worker-thread entry of `reproduce`: one TF.js engine per thread, then study cells on request
 * (protocol in workerPool.ts). Log lines go back to the main thread, which writes the run's log.
 */
import { parentPort, workerData } from 'worker_threads';
import { initEngine } from '../engine/backend';
import { runCell } from './cellRun';
import { Cell, StudyConfig } from './study';

if (!parentPort) throw new Error('cellWorker.js must run in a worker thread');
const port = parentPort;
const wd = workerData as { backend?: string; engine?: string; threads?: number } | undefined;
const ready = initEngine({ backend: wd?.backend, engine: wd?.engine, threads: wd?.threads, quiet: true });

port.on('message', async (m: { id: number; payload: { study: StudyConfig; cell: Cell } }) => {
  try {
    await ready;
    const result = await runCell(m.payload.study, m.payload.cell, {
      log: (line) => port.postMessage({ id: m.id, type: 'log', line }),
    });
    port.postMessage({ id: m.id, type: 'done', result });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    port.postMessage({ id: m.id, type: 'error', message: err.message, stack: err.stack });
  }
});
