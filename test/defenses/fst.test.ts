import * as tf from '@tensorflow/tfjs';
import { fst, withFreshHead } from '../../src/defenses/fst';
import { RunResult } from '../../src/experiment/runner';
import { evaluate } from '../../src/metrics';
import { disposeModel, featureDim } from '../../src/models/model';
import * as W from '../../src/models/weights';
import { Rng } from '../../src/rng';
import { defenseData, useSyntheticRuns } from './syntheticBackdoor';

const runs: Record<string, RunResult> = useSyntheticRuns();

const norm = (t: tf.Tensor) => tf.tidy(() => tf.norm(t).dataSync()[0]);

describe('FST (feature shift tuning)', () => {
  test.each(['badnets', 'blended'])('on a synthetic %s model: ASR drops by >= 50 points, accuracy within 10', async (attack) => {
    const run = runs[attack];
    expect(run.evaluation.asr).toBeGreaterThan(0.8);
    const before = W.clone(run.trained.model.params);
    const r = await fst.purify(run.trained.model, defenseData(run), { ...fst.defaults, seed: 0 });
    const e = evaluate(r.model, run.data.test, run.poison.backdoorTest, 0);
    expect(e.asr!).toBeLessThan(run.evaluation.asr - 0.5);
    expect(e.cleanAccuracy).toBeGreaterThan(run.evaluation.cleanAccuracy - 0.1);
    expect(W.distance(run.trained.model.params, before)).toBe(0);
    W.dispose(before);
    disposeModel(r.model);
  });

  test('the new head is a U(±1/√fan_in) draw; the tuned head keeps the original Frobenius norm', async () => {
    const run = runs.badnets;
    const model = run.trained.model;
    const fresh = withFreshHead(model, Rng.derive(0, 'x'));
    const bound = 1 / Math.sqrt(featureDim(model.spec));
    const largest = (k: string) => Math.max(...Array.from(fresh.params[k].dataSync(), Math.abs));
    expect(largest('head/w')).toBeLessThanOrEqual(bound);
    expect(largest('head/w')).toBeGreaterThan(0.9 * bound); // hundreds of draws fill the range
    expect(largest('head/b')).toBeLessThanOrEqual(bound);
    expect(fresh.params['stage0/conv/w']).toBe(model.params['stage0/conv/w']);
    fresh.params['head/w'].dispose();
    fresh.params['head/b'].dispose();

    const r = await fst.purify(model, defenseData(run), { ...fst.defaults, epochs: 2, seed: 0 });
    expect(norm(r.model.params['head/w'])).toBeCloseTo(norm(model.params['head/w']), 3);
    disposeModel(r.model);
  });

  test('α pushes the head away from the original one', async () => {
    const run = runs.badnets;
    const cos = async (alpha: number) => {
      const r = await fst.purify(run.trained.model, defenseData(run), { ...fst.defaults, epochs: 3, alpha, seed: 0 });
      disposeModel(r.model);
      return r.report.details!.headCosineToOriginal as number;
    };
    const without = await cos(0);
    const withAlpha = await cos(1);
    expect(withAlpha).toBeLessThan(without - 0.05);
  });

  test('config errors name the field', async () => {
    const run = runs.badnets;
    await expect(fst.purify(run.trained.model, defenseData(run), { ...fst.defaults, alpha: -1, seed: 0 }))
      .rejects.toThrow(/FST config: alpha must be >= 0 \(got -1\)/);
  });
});
