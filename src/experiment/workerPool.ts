/**
 * A fixed set of worker threads, one task each at a time. Workers keep their TF.js engine and loaded
 * datasets between tasks; a worker that dies (or is stopped) rejects its task and is replaced on demand.
 *
 * Protocol: the pool posts { id, payload }; the worker answers { id, type: 'log', line } any number of
 * times, then { id, type: 'done', result } or { id, type: 'error', message, stack }.
 */
import { Worker } from 'worker_threads';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export type WorkerMessage =
  | { id: number; type: 'log'; line: string }
  | { id: number; type: 'done'; result: unknown }
  | { id: number; type: 'error'; message: string; stack?: string };

export class WorkerPool {
  private readonly workers: (Worker | undefined)[];
  private readonly pending = new Map<number, Pending>();
  private readonly owner = new Map<number, number>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly script: string, readonly size: number, private readonly workerData: unknown = undefined,
    private readonly onLog: (slot: number, line: string) => void = () => undefined) {
    if (!(Number.isInteger(size) && size >= 1)) throw new Error(`WorkerPool: size must be a positive integer (got ${size})`);
    this.workers = Array.from({ length: size }, () => undefined);
  }

  private spawn(slot: number): Worker {
    const w = new Worker(this.script, { workerData: this.workerData });
    w.on('message', (m: WorkerMessage) => {
      if (m.type === 'log') {
        this.onLog(slot, m.line);
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      this.owner.delete(m.id);
      if (m.type === 'done') p.resolve(m.result);
      else p.reject(Object.assign(new Error(m.message), { stack: m.stack ?? m.message }));
    });
    const fail = (why: string) => {
      if (this.workers[slot] === w) this.workers[slot] = undefined;
      for (const [id, s] of [...this.owner]) {
        if (s !== slot) continue;
        const p = this.pending.get(id);
        this.pending.delete(id);
        this.owner.delete(id);
        p?.reject(new Error(why));
      }
    };
    w.on('error', (e) => fail(`worker ${slot} crashed: ${e.message}`));
    w.on('exit', (code) => fail(this.closed ? `worker ${slot} stopped` : `worker ${slot} exited with code ${code}`));
    this.workers[slot] = w;
    return w;
  }

  /** Run one task on the worker in `slot` (the caller keeps at most one task per slot). */
  run<R>(slot: number, payload: unknown): Promise<R> {
    if (this.closed) return Promise.reject(new Error('WorkerPool: closed'));
    if (!(slot >= 0 && slot < this.size)) return Promise.reject(new Error(`WorkerPool: no slot ${slot}`));
    const w = this.workers[slot] ?? this.spawn(slot);
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.owner.set(id, slot);
      w.postMessage({ id, payload });
    });
  }

  /** Stop every worker now; tasks in flight reject. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w?.terminate()));
  }
}
