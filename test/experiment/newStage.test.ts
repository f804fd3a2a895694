/**
 * A new pipeline stage as the README's "Extending it" says: a function that calls `store.getOrCompute(stage,
 * configSlice, [inputKeys], {compute, load})`. This one measures the backdoored model's head norm; the second
 * call loads it, and a change of its config or of its input model gives a new key.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initEngine } from '../../src/engine/backend';
import { loadJson, saveJson } from '../../src/io/json';
import { Experiment, RunResult } from '../../src/experiment/runner';
import { disposeModel } from '../../src/models/model';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-new-stage-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
beforeAll(() => initEngine({ backend: 'wasm', quiet: true }));

let computed = 0;

/** The stage: keyed by its own settings and the key of the model it reads. */
async function headNorm(exp: Experiment, run: RunResult, config: { power: number }) {
  return exp.store.getOrCompute('head-norm', { headNorm: config }, [run.keys.model], {
    log: () => undefined,
    compute: async (dir) => {
      computed++;
      const w = Array.from(run.trained.model.params['head/w'].dataSync());
      const value = { norm: Math.pow(w.reduce((s, x) => s + Math.abs(x) ** config.power, 0), 1 / config.power) };
      await saveJson(dir, 'norm.json', value);
      return value;
    },
    load: (dir) => loadJson<{ norm: number }>(dir, 'norm.json'),
  });
}

test('computed once, then loaded; its config and its input are in the key', async () => {
  const exp = (seed: number) => new Experiment({ dataset: 'synthetic', runsDir: root, seed, model: { widths: [4, 8] }, train: { epochs: 1 } },
    { log: () => undefined, progress: 'silent' });
  const run = await exp(0).run();
  const first = await headNorm(exp(0), run, { power: 2 });
  expect(first.cached).toBe(false);
  expect(first.value.norm).toBeGreaterThan(0);
  const again = await headNorm(exp(0), run, { power: 2 });
  expect(again).toMatchObject({ cached: true, key: first.key, value: first.value });
  expect(computed).toBe(1);
  expect(fs.existsSync(path.join(root, 'head-norm', first.key, 'norm.json'))).toBe(true);

  const l1 = await headNorm(exp(0), run, { power: 1 });
  expect(l1.key).not.toBe(first.key);
  const other = await exp(1).run();
  expect((await headNorm(exp(1), other, { power: 2 })).key).not.toBe(first.key);
  expect(computed).toBe(3);
  disposeModel(run.trained.model);
  disposeModel(other.trained.model);
});
