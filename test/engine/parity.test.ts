/**
 * Engine parity: the same seeded training run on the native and the wasm engine reaches the same C-Acc / ASR
 * (within 0.5 points), and an LMC path and QRA's generator training agree to float tolerance. Each engine
 * trains into its own runs directory: the engine is not part of the cache key, so a shared directory would
 * hand the second engine the first one's model. Skipped, with a note, where the addon is not built.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { initEngine, setEngine } from '../../src/engine/backend';
import { linearPath } from '../../src/analysis/lmc';
import { subset } from '../../src/data/dataset';
import { Experiment, RunResult } from '../../src/experiment/runner';
import { trainQra } from '../../src/reactivation/qra';
import { Model } from '../../src/models/spec';
import { cloneModel, disposeModel } from '../../src/models/model';
import { syntheticExperiment, tempRunsDir } from '../defenses/syntheticBackdoor';
import { nativeAvailable, testEngines } from './engines';

const maybe = nativeAvailable() ? describe : describe.skip;
testEngines();

maybe('native and wasm engines agree', () => {
  const dirs = { native: tempRunsDir(), wasm: tempRunsDir() };
  const runs = {} as Record<'native' | 'wasm', RunResult>;

  beforeAll(async () => {
    await initEngine({ backend: 'wasm', quiet: true });
    for (const engine of ['native', 'wasm'] as const) {
      setEngine(engine);
      runs[engine] = await syntheticExperiment(dirs[engine]).run();
    }
    setEngine('native');
  });
  afterAll(() => {
    setEngine('native');
    for (const d of Object.values(dirs)) fs.rmSync(d, { recursive: true, force: true });
  });

  test('a seeded training run reaches the same C-Acc and ASR (within 0.5 points)', () => {
    const n = runs.native;
    const w = runs.wasm;
    // Same data, same poisoning, same cache key: only the arithmetic differs.
    expect(n.keys).toEqual(w.keys);
    expect(n.trained.cached).toBe(false);
    expect(w.trained.cached).toBe(false);
    expect(Math.abs(n.evaluation.cleanAccuracy - w.evaluation.cleanAccuracy)).toBeLessThanOrEqual(0.005);
    expect(Math.abs(n.evaluation.asr - w.evaluation.asr)).toBeLessThanOrEqual(0.005);
    // The run learned something, so the comparison means something.
    expect(n.evaluation.cleanAccuracy).toBeGreaterThan(0.6);
    expect(n.evaluation.asr).toBeGreaterThan(0.6);
  });

  test('an LMC path gives the same metrics on both engines', () => {
    const { native: n, wasm: w } = runs;
    const path = (engine: 'native' | 'wasm') => {
      setEngine(engine);
      return linearPath(w.trained.model, n.trained.model, w.data.test, w.poison.backdoorTest!, 0, { ts: [0, 0.25, 0.5, 0.75, 1] });
    };
    const a = path('native');
    const b = path('wasm');
    setEngine('native');
    for (let i = 0; i < a.points.length; i++) {
      // One flipped prediction on the 400-image test set is 0.25 points; float rounding may flip at most one.
      expect(Math.abs(a.points[i].cleanAccuracy - b.points[i].cleanAccuracy)).toBeLessThanOrEqual(1 / w.data.test.n + 1e-12);
      expect(Math.abs(a.points[i].asr - b.points[i].asr)).toBeLessThanOrEqual(1 / w.poison.backdoorTest!.n + 1e-12);
      expect(a.points[i].cleanLoss).toBeCloseTo(b.points[i].cleanLoss, 3);
      expect(a.points[i].backdoorLoss).toBeCloseTo(b.points[i].backdoorLoss, 3);
    }
    expect(a.summary.distance).toBeCloseTo(b.summary.distance, 4);
  });

  test('QRA trains the same generator on both engines (float tolerance)', async () => {
    const w = runs.wasm;
    const data = subset(w.data.train, w.data.splits.defense.slice(0, 64), 'qra-parity');
    const models = (m: Model) => ({ purified: m, retuned: m, clean: m });
    const qra = async (engine: 'native' | 'wasm') => {
      setEngine(engine);
      const m = cloneModel(w.trained.model);
      const r = await trainQra({ data, cleanCount: 32 }, models(m), { epochs: 2, batchSize: 32, hidden: 16, layers: 1, seed: 3 });
      disposeModel(m);
      return r;
    };
    const a = await qra('native');
    const b = await qra('wasm');
    setEngine('native');
    expect(a.history.length).toBe(b.history.length);
    for (let i = 0; i < a.history.length; i++) expect(a.history[i].loss).toBeCloseTo(b.history[i].loss, 3);
    for (const k of Object.keys(a.generator)) {
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a.generator[k], b.generator[k]))).dataSync()[0]);
      expect(diff).toBeLessThan(1e-3);
    }
    tf.dispose([...Object.values(a.generator), ...Object.values(b.generator)]);
  });
});
