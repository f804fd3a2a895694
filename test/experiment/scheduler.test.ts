import * as path from 'path';
import { chainCosts, GraphTask, runGraph, TaskEvent } from '../../src/experiment/scheduler';
import { WorkerPool } from '../../src/experiment/workerPool';

const task = (id: string, deps: string[] = [], cost = 1): GraphTask => ({ id, deps, cost });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runGraph', () => {
  test('runs every task after its dependencies, never more than `concurrency` at once', async () => {
    const tasks = [task('a'), task('b', ['a']), task('c', ['a']), task('d', ['b', 'c']), task('e')];
    const finished: string[] = [];
    let running = 0;
    let peak = 0;
    const run = await runGraph(tasks, async (t) => {
      for (const d of t.deps) expect(finished).toContain(d);
      running++;
      peak = Math.max(peak, running);
      await sleep(5);
      running--;
      finished.push(t.id);
      return t.id.toUpperCase();
    }, { concurrency: 2 });
    expect(peak).toBe(2);
    expect([...run.results.entries()].sort()).toEqual([['a', 'A'], ['b', 'B'], ['c', 'C'], ['d', 'D'], ['e', 'E']]);
    expect(run.failed.size + run.skipped.length + run.notStarted.length).toBe(0);
  });

  test('starts the longest chain first', async () => {
    // "long" heads a 10 + 10 chain; "short" costs 5: with one slot the chain's head must go first.
    const tasks = [task('short', [], 5), task('long', [], 10), task('tail', ['long'], 10)];
    const order: string[] = [];
    await runGraph(tasks, async (t) => { order.push(t.id); }, { concurrency: 1 });
    expect(order).toEqual(['long', 'tail', 'short']);
    expect(chainCosts(tasks).get('long')).toBe(20);
  });

  test('a failure skips its dependants and the rest still runs', async () => {
    const tasks = [task('a'), task('b', ['a']), task('c', ['b']), task('x')];
    const events: TaskEvent<GraphTask, string>[] = [];
    const run = await runGraph(tasks, async (t) => {
      if (t.id === 'a') throw new Error('boom');
      return t.id;
    }, { concurrency: 2, onEvent: (e) => events.push(e) });
    expect(run.failed.get('a')?.message).toBe('boom');
    expect(run.skipped.sort()).toEqual(['b', 'c']);
    expect([...run.results.keys()]).toEqual(['x']);
    expect(events.filter((e) => e.type === 'skipped').map((e) => e.type === 'skipped' && e.because)).toContain('a');
  });

  test('an abort starts nothing new and reports what was left', async () => {
    const controller = new AbortController();
    const tasks = [task('a'), task('b', ['a']), task('c', ['b'])];
    const run = await runGraph(tasks, async (t) => {
      if (t.id === 'a') controller.abort();
      return t.id;
    }, { concurrency: 1, signal: controller.signal });
    expect(run.aborted).toBe(true);
    expect([...run.results.keys()]).toEqual(['a']);
    expect(run.notStarted).toEqual(['b', 'c']);
  });

  test('rejects unknown dependencies, cycles, duplicates and a bad concurrency', async () => {
    await expect(runGraph([task('a', ['zz'])], async () => 0, { concurrency: 1 })).rejects.toThrow(/depends on unknown task "zz"/);
    await expect(runGraph([task('a', ['b']), task('b', ['a'])], async () => 0, { concurrency: 1 })).rejects.toThrow(/cycle/);
    await expect(runGraph([task('a'), task('a')], async () => 0, { concurrency: 1 })).rejects.toThrow(/duplicate task id "a"/);
    await expect(runGraph([task('a')], async () => 0, { concurrency: 0 })).rejects.toThrow(/concurrency must be a positive integer/);
  });
});

describe('WorkerPool', () => {
  const script = path.join(__dirname, '..', 'fixtures', 'echoWorker.js');

  test('runs tasks on separate threads, forwards log lines and errors', async () => {
    const logs: string[] = [];
    const pool = new WorkerPool(script, 2, undefined, (slot, line) => logs.push(`${slot}:${line}`));
    try {
      const [a, b] = await Promise.all([
        pool.run<{ value: number; threadId: number }>(0, { value: 1, wait: 20 }),
        pool.run<{ value: number; threadId: number }>(1, { value: 2, wait: 20 }),
      ]);
      expect([a.value, b.value]).toEqual([1, 2]);
      expect(a.threadId).not.toBe(b.threadId);
      expect(logs.sort()).toEqual(['0:got {"value":1,"wait":20}', '1:got {"value":2,"wait":20}']);
      await expect(pool.run(0, { fail: 'bad cell' })).rejects.toThrow('bad cell');
    } finally {
      await pool.close();
    }
  });

  test('a worker that dies rejects its task and is replaced for the next one', async () => {
    const pool = new WorkerPool(script, 1);
    try {
      await expect(pool.run(0, { exit: true })).rejects.toThrow(/worker 0 exited with code 3/);
      await expect(pool.run<{ value: number }>(0, { value: 7 })).resolves.toMatchObject({ value: 7 });
    } finally {
      await pool.close();
    }
  });

  test('close() stops work in flight', async () => {
    const pool = new WorkerPool(script, 1);
    const pending = pool.run(0, { value: 1, wait: 10_000 });
    await sleep(50);
    await pool.close();
    await expect(pending).rejects.toThrow(/worker 0 stopped/);
    await expect(pool.run(0, {})).rejects.toThrow(/closed/);
  });
});
