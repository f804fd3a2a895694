import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import { DefenseConfigError } from '../../src/defenses/config';
import { finetune } from '../../src/defenses/finetune';
import { ft } from '../../src/defenses/ft';
import { initEngine } from '../../src/engine/backend';
import { RunResult } from '../../src/experiment/runner';
import { evaluate } from '../../src/metrics';
import { disposeModel } from '../../src/models/model';
import * as W from '../../src/models/weights';
import { defenseData, syntheticExperiment, tempRunsDir } from './syntheticBackdoor';

const runsDir = tempRunsDir();
let run: RunResult;

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
  run = await syntheticExperiment(runsDir).run();
});
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

const norm = (t: tf.Tensor) => tf.tidy(() => tf.norm(t).dataSync()[0]);

describe('FT (vanilla fine-tuning)', () => {
  test('keeps clean accuracy within 10 points, leaves the input untouched and reports its data', async () => {
    const before = W.clone(run.trained.model.params);
    const r = await ft.purify(run.trained.model, defenseData(run), { ...ft.defaults, seed: 0 });
    const e = evaluate(r.model, run.data.test, run.poison.backdoorTest, 0);
    // FT is reported as it is: no ASR requirement (on this model it leaves the backdoor in place).
    expect(e.cleanAccuracy).toBeGreaterThan(run.evaluation.cleanAccuracy - 0.1);
    expect(e.asr).toBeGreaterThanOrEqual(0);
    expect(W.distance(run.trained.model.params, before)).toBe(0);
    expect(W.distance(r.model.params, before)).toBeGreaterThan(0);
    expect(r.report.dataUsed).toBe(`${run.data.splits.defense.length} clean images`);
    expect(r.report.samplesSeen).toBe(ft.defaults.epochs * run.data.splits.defense.length);
    expect(r.report.seconds).toBeGreaterThan(0);
    W.dispose(before);
    disposeModel(r.model);
  });

  test('is plain fine-tuning (no head-norm projection): exactly the shared loop without hooks', async () => {
    const config = { ...ft.defaults, epochs: 3, lr: 0.05 };
    const data = defenseData(run);
    const r = await ft.purify(run.trained.model, data, { ...config, seed: 0 });
    const plain = await finetune(run.trained.model, data.clean, { ...config, seed: 0, progress: 'silent' });
    expect(W.distance(r.model.params, plain.model.params)).toBe(0);
    const original = norm(run.trained.model.params['head/w']);
    expect(norm(r.model.params['head/w'])).not.toBeCloseTo(original, 6);
    disposeModel(r.model);
    disposeModel(plain.model);
  });

  test('config errors name the field', async () => {
    const data = defenseData(run);
    await expect(ft.purify(run.trained.model, data, { ...ft.defaults, lr: -1, seed: 0 })).rejects.toThrow(/FT config: lr must be > 0 \(got -1\)/);
    await expect(ft.purify(run.trained.model, data, { ...ft.defaults, epochs: 1.5, seed: 0 })).rejects.toThrow(/epochs must be an integer/);
    await expect(ft.purify(run.trained.model, data, { ...ft.defaults, alpha: 1, seed: 0 } as never)).rejects.toThrow(DefenseConfigError);
    await expect(ft.purify(run.trained.model, data, { ...ft.defaults, alpha: 1, seed: 0 } as never)).rejects.toThrow(/alpha is not a known field/);
  });
});
