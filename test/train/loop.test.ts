import * as tf from '@tensorflow/tfjs';
import { makeSyntheticDataset } from '../../src/data/synthetic';
import { initEngine } from '../../src/engine/backend';
import { createModel, defaultSpec, disposeModel, features, head } from '../../src/models/model';
import { Rng } from '../../src/rng';
import { Adam } from '../../src/train/adam';
import { DivergenceError } from '../../src/train/gradients';
import { runEpochs } from '../../src/train/loop';
import { crossEntropy } from '../../src/train/loss';
import { gradientStep } from '../../src/train/step';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
});

// 33 images in batches of 8: four full batches and a batch of one.
const data = makeSyntheticDataset({ n: 33, seed: 2, height: 8 });
const spec = defaultSpec('cnn', [8, 8, 1], data.numClasses, { widths: [4, 8] });
const base = { epochs: 3, batchSize: 8, lr: 1e-3, schedule: 'constant' as const, progress: 'silent' as const };

describe('runEpochs', () => {
  test('live tensors do not grow across epochs with a mapped batch and a two-pass custom loss', () => {
    const model = createModel(spec, 0);
    const opt = new Adam({ lr: 1e-3 });
    const counts: number[] = [];
    const r = runEpochs(model, data, new Rng(1), base, {
      mapBatch: (x) => tf.mul(x, 0.5) as tf.Tensor4D,
      step: gradientStep(opt, {
        loss: ({ model: m, x, xClean, y, stats }) => {
          const fClean = features(m, xClean, { training: true }, stats());
          const fMix = features(m, x, { training: true }, stats());
          return tf.add(crossEntropy(head(m.params, fMix), y), tf.mean(tf.square(tf.sub(fClean, fMix)))) as tf.Scalar;
        },
      }),
      onEpoch: () => counts.push(tf.memory().numTensors),
    });
    expect(counts).toHaveLength(3);
    expect(new Set(counts).size).toBe(1);
    // The batch of one is skipped; a custom loss counts no correct predictions.
    expect(r.samplesSeen).toBe(3 * 32);
    expect(Number.isNaN(r.history[0].trainAccuracy)).toBe(true);
    opt.dispose();
    disposeModel(model);
  });

  test('a fixed order, batches of one kept, and a schedule spanning calls reach the step as asked', () => {
    const model = createModel(spec, 0);
    const order = new Rng(3).permutation(data.n);
    const seen: { rows: number[]; lr: number }[] = [];
    const opts = { ...base, epochs: 2, lr: 1, schedule: 'cosine' as const, order, minBatch: 1, scheduleSpan: { done: 10, total: 20 } };
    const r = runEpochs(model, data, new Rng(4), opts, {
      step: (_m, batch, lr) => { seen.push({ rows: Array.from(batch.indices), lr }); return { loss: 1 }; },
    });
    expect(seen).toHaveLength(10);
    expect(seen[4].rows).toEqual([order[32]]);
    expect(seen[5].rows).toEqual(seen[0].rows);
    expect(seen[0].lr).toBeCloseTo(0.5, 12);
    expect(seen[9].lr).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 19 / 20)), 12);
    expect(r.history.map((h) => h.loss)).toEqual([1, 1]);
    disposeModel(model);
  });

  test('divergence names the epoch and batch and leaks nothing', () => {
    const model = createModel(spec, 0);
    const before = tf.memory().numTensors;
    let calls = 0;
    expect(() => runEpochs(model, data, new Rng(1), base, {
      mapBatch: (x) => x.clone(),
      step: () => { if (++calls === 6) throw new DivergenceError(-1, -1, NaN); return { loss: 0 }; },
    })).toThrow(/epoch 2, step 2/);
    expect(tf.memory().numTensors).toBe(before);
    disposeModel(model);
  });
});
