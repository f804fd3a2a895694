import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend';
import { makeSyntheticDataset } from '../../src/data/synthetic';
import { createModel, defaultSpec, disposeModel, forward } from '../../src/models/model';
import { createGenerator, klBatchMean, nesGradient, perturb, perturbation, qraLoss, trainQra } from '../../src/reactivation/qra';
import { Rng } from '../../src/rng';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
});

test('‖δ‖∞ ≤ ε always and perturbed images stay in [0, 1]', () => {
  const eps = 16 / 255;
  const gen = createGenerator(64, { hidden: 32, layers: 2, seed: 3 });
  // Blow the weights up so tanh saturates: the bound must still hold.
  for (const k of Object.keys(gen)) { const t = gen[k]; gen[k] = tf.mul(t, 50); t.dispose(); }
  const x = tf.concat([tf.zeros([4, 8, 8, 1]), tf.ones([4, 8, 8, 1]), tf.randomUniform([8, 8, 8, 1], 0, 1, 'float32', 2)]) as tf.Tensor4D;
  const d = perturbation(gen, x, eps);
  expect(tf.max(tf.abs(d)).dataSync()[0]).toBeLessThanOrEqual(eps + 1e-7);
  const xt = perturb(gen, x, eps);
  expect(tf.min(xt).dataSync()[0]).toBeGreaterThanOrEqual(0);
  expect(tf.max(xt).dataSync()[0]).toBeLessThanOrEqual(1);
  expect(tf.max(tf.abs(tf.sub(xt, x))).dataSync()[0]).toBeLessThanOrEqual(eps + 1e-6);
});

test('the loss terms match a hand computation', () => {
  // KL(p‖q) batchmean for p = softmax([0, ln 3]) = [1/4, 3/4], q = softmax([0, 0]) = [1/2, 1/2].
  const kl = klBatchMean(tf.tensor2d([[0, Math.log(3)]]), tf.tensor2d([[0, 0]])).dataSync()[0];
  expect(kl).toBeCloseTo(0.25 * Math.log(0.5) + 0.75 * Math.log(1.5), 5);
  // Full objective on tiny models, against the formula assembled from its parts.
  const spec = defaultSpec('cnn', [8, 8, 1], 3, { widths: [2, 4] });
  const models = { purified: createModel(spec, 1), retuned: createModel(spec, 2), clean: createModel(spec, 3) };
  const gen = createGenerator(64, { hidden: 16, layers: 1, seed: 4 });
  const x = tf.randomUniform([5, 8, 8, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
  const y = tf.tensor1d([0, 1, 2, 1, 0], 'int32');
  const eps = 0.1;
  const alpha = 0.2;
  const xt = perturb(gen, x, eps);
  const p = tf.softmax(forward(models.retuned, x)).arraySync() as number[][];
  const q = tf.softmax(forward(models.purified, xt)).arraySync() as number[][];
  const r = tf.softmax(forward(models.clean, xt)).arraySync() as number[][];
  let klHand = 0;
  let ceHand = 0;
  const labels = [0, 1, 2, 1, 0];
  for (let i = 0; i < 5; i++) {
    for (let k = 0; k < 3; k++) klHand += p[i][k] * Math.log(p[i][k] / q[i][k]);
    ceHand -= Math.log(r[i][labels[i]]);
  }
  const expected = alpha * klHand / 5 + ceHand / 5;
  expect(qraLoss(gen, x, y, models, { epsilon: eps, alpha }).dataSync()[0]).toBeCloseTo(expected, 4);
  Object.values(models).forEach(disposeModel);
});

test('the query-only (NES) estimate approaches the true gradient as the query budget grows', () => {
  // f_i(x) = Σ_j sin(x_ij)·c_j, a smooth per-sample function with a known gradient cos(x)·c.
  const x = tf.randomUniform([4, 6], -1, 1, 'float32', 7);
  const c = tf.tensor1d([1, -2, 0.5, 3, -1, 2]);
  const f = (z: tf.Tensor) => tf.sum(tf.mul(tf.sin(z), c), 1) as tf.Tensor1D;
  const truth = tf.mul(tf.cos(x), c);
  const cosine = (g: tf.Tensor) => tf.tidy(() => tf.sum(tf.mul(g, truth)).dataSync()[0] / (tf.norm(g).dataSync()[0] * tf.norm(truth).dataSync()[0]));
  const err = (k: number) => {
    const g = nesGradient(f, x, k, 1e-2, new Rng(11));
    return { cos: cosine(g), rel: tf.tidy(() => tf.norm(tf.sub(g, truth)).dataSync()[0] / tf.norm(truth).dataSync()[0]) };
  };
  const small = err(4);
  const large = err(400);
  expect(large.rel).toBeLessThan(small.rel);
  expect(large.rel).toBeLessThan(0.25);
  expect(large.cos).toBeGreaterThan(0.95);
});

test('training runs white-box and query-only, counts queries, and lowers its loss', async () => {
  const d = makeSyntheticDataset({ n: 64, seed: 2, height: 8, numClasses: 3 });
  const spec = defaultSpec('cnn', [8, 8, 1], 3, { widths: [2, 4] });
  const models = { purified: createModel(spec, 1), retuned: createModel(spec, 2), clean: createModel(spec, 3) };
  const before = tf.memory().numTensors;
  const white = await trainQra({ data: d, cleanCount: 32 }, models, { hidden: 32, layers: 1, epochs: 4, batchSize: 32, lr: 0.05 });
  expect(white.history[3].loss).toBeLessThan(white.history[0].loss);
  expect(white.queries).toBe(4 * 64);
  const q = await trainQra({ data: d, cleanCount: 32 }, models, { hidden: 32, layers: 1, epochs: 2, batchSize: 32, queryOnly: true, nesSamples: 3 });
  expect(q.queries).toBe(2 * (64 * 2 * 3 + 64));
  for (const g of [white.generator, q.generator]) Object.values(g).forEach((t) => t.dispose());
  expect(tf.memory().numTensors).toBe(before);
  Object.values(models).forEach(disposeModel);
});
