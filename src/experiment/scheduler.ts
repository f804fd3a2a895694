/**
 * Run a dependency graph of tasks with bounded concurrency. Ready tasks start longest-chain-first (the
 * chain's estimated cost to the end of the graph), which keeps both cores busy until the end. A failed
 * task skips its dependants and lets everything else finish; an abort stops new starts and lets the caller
 * cancel what is in flight (the cache keeps every finished task, so a rerun resumes).
 */
export interface GraphTask {
  id: string;
  deps: string[];
  /** Estimated seconds on one core. */
  cost: number;
}

export type TaskEvent<T extends GraphTask, R> =
  | { type: 'start'; task: T; slot: number }
  | { type: 'done'; task: T; slot: number; result: R; seconds: number }
  | { type: 'failed'; task: T; slot: number; error: Error; seconds: number }
  | { type: 'skipped'; task: T; because: string };

export interface GraphRun<R> {
  results: Map<string, R>;
  failed: Map<string, Error>;
  skipped: string[];
  /** Tasks never started because of the abort. */
  notStarted: string[];
  aborted: boolean;
}

export interface GraphOptions<T extends GraphTask, R> {
  concurrency: number;
  signal?: AbortSignal;
  onEvent?: (e: TaskEvent<T, R>) => void;
}

/** Cost of the longest chain from each task to the end of the graph, itself included. */
export function chainCosts(tasks: readonly GraphTask[]): Map<string, number> {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const dependants = new Map<string, string[]>(tasks.map((t) => [t.id, []]));
  for (const t of tasks) {
    for (const d of t.deps) {
      if (!byId.has(d)) throw new Error(`task "${t.id}" depends on unknown task "${d}"`);
      dependants.get(d)!.push(t.id);
    }
  }
  const memo = new Map<string, number>();
  const visiting = new Set<string>();
  const chain = (id: string): number => {
    const hit = memo.get(id);
    if (hit !== undefined) return hit;
    if (visiting.has(id)) throw new Error(`dependency cycle through task "${id}"`);
    visiting.add(id);
    const rest = Math.max(0, ...dependants.get(id)!.map(chain));
    visiting.delete(id);
    const v = byId.get(id)!.cost + rest;
    memo.set(id, v);
    return v;
  };
  for (const t of tasks) chain(t.id);
  return memo;
}

export async function runGraph<T extends GraphTask, R>(tasks: readonly T[], execute: (task: T, slot: number) => Promise<R>,
  opts: GraphOptions<T, R>): Promise<GraphRun<R>> {
  if (!(Number.isInteger(opts.concurrency) && opts.concurrency >= 1)) throw new Error(`concurrency must be a positive integer (got ${opts.concurrency})`);
  const ids = new Set<string>();
  for (const t of tasks) {
    if (ids.has(t.id)) throw new Error(`duplicate task id "${t.id}"`);
    ids.add(t.id);
  }
  const priority = chainCosts(tasks);
  const emit = opts.onEvent ?? (() => undefined);
  const results = new Map<string, R>();
  const failed = new Map<string, Error>();
  const skipped: string[] = [];
  const pending = new Map(tasks.map((t) => [t.id, t]));
  const freeSlots = Array.from({ length: opts.concurrency }, (_, i) => opts.concurrency - 1 - i);
  let running = 0;

  return new Promise<GraphRun<R>>((resolve) => {
    const finish = () => resolve({
      results, failed, skipped, notStarted: [...pending.keys()], aborted: opts.signal?.aborted ?? false,
    });
    const skipDependants = () => {
      let changed = true;
      while (changed) {
        changed = false;
        for (const t of pending.values()) {
          const bad = t.deps.find((d) => failed.has(d) || skipped.includes(d));
          if (bad !== undefined) {
            pending.delete(t.id);
            skipped.push(t.id);
            emit({ type: 'skipped', task: t, because: bad });
            changed = true;
          }
        }
      }
    };
    const pump = () => {
      skipDependants();
      if (!opts.signal?.aborted) {
        const ready = [...pending.values()].filter((t) => t.deps.every((d) => results.has(d)))
          .sort((a, b) => priority.get(b.id)! - priority.get(a.id)!);
        for (const t of ready) {
          if (freeSlots.length === 0) break;
          const slot = freeSlots.pop()!;
          pending.delete(t.id);
          running++;
          emit({ type: 'start', task: t, slot });
          const t0 = Date.now();
          execute(t, slot).then((r) => {
            results.set(t.id, r);
            emit({ type: 'done', task: t, slot, result: r, seconds: (Date.now() - t0) / 1000 });
          }, (e: unknown) => {
            const error = e instanceof Error ? e : new Error(String(e));
            failed.set(t.id, error);
            emit({ type: 'failed', task: t, slot, error, seconds: (Date.now() - t0) / 1000 });
          }).finally(() => {
            running--;
            freeSlots.push(slot);
            pump();
          });
        }
      }
      if (running === 0) finish();
    };
    opts.signal?.addEventListener('abort', () => { if (running === 0) finish(); });
    pump();
  });
}
