import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initEngine } from '../../src/engine/backend';
import { avgPool2, batchNorm, BatchStats, ParamRecord, updatedRunningStats } from '../../src/models/layers';
import { cloneModel, createModel, defaultSpec, disposeModel, features, forward, head, numParameters } from '../../src/models/model';
import { Sgd } from '../../src/train/sgd';
import { trainStep } from '../../src/train/train';
import { loadModelArtifact, saveModelArtifact } from '../../src/models/artifact';
import * as W from '../../src/models/weights';

const close = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
});

describe('layers', () => {
  test('fast batch-norm(+ReLU) gradient equals the autodiff gradient', () => {
    const x = tf.randomNormal([4, 5, 5, 3], 0.5, 2, 'float32', 1) as tf.Tensor4D;
    const params: ParamRecord = { 'bn/gamma': tf.tensor1d([1.5, -0.7, 0.3]), 'bn/beta': tf.tensor1d([0.1, 0.2, -0.3]) };
    const w = tf.randomNormal([4, 5, 5, 3], 0, 1, 'float32', 2);
    for (const relu of [false, true]) {
      const loss = (mode: 'custom' | 'autodiff') => (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(batchNorm({ 'bn/gamma': g, 'bn/beta': b }, {}, 'bn', xx as tf.Tensor4D,
          { training: true, batchNormGradient: mode }, undefined, relu), w));
      const args = [x, params['bn/gamma'], params['bn/beta']];
      const fast = tf.grads(loss('custom'))(args);
      const auto = tf.grads(loss('autodiff'))(args);
      expect(close(loss('custom')(x, params['bn/gamma'], params['bn/beta']), loss('autodiff')(x, params['bn/gamma'], params['bn/beta']))).toBeLessThan(1e-4);
      for (let i = 0; i < 3; i++) expect(close(fast[i], auto[i])).toBeLessThan(1e-3);
    }
  });

  test('batch statistics feed PyTorch-style running averages (unbiased variance)', () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2, 1]);
    const params = { 'bn/gamma': tf.ones([1]), 'bn/beta': tf.zeros([1]) };
    const state = { 'bn/mean': tf.zeros([1]), 'bn/variance': tf.ones([1]) };
    const stats: BatchStats = {};
    batchNorm(params, state, 'bn', x, { training: true }, stats);
    expect(stats.bn.count).toBe(8);
    const next = updatedRunningStats(state, stats);
    // mean 4.5, biased variance 5.25, unbiased 6
    expect(next['bn/mean'].dataSync()[0]).toBeCloseTo(0.45, 5);
    expect(next['bn/variance'].dataSync()[0]).toBeCloseTo(0.9 + 0.6, 4);
  });

  test('eval mode uses running statistics', () => {
    const x = tf.tensor4d([1, 3], [1, 1, 2, 1]);
    const params = { 'bn/gamma': tf.tensor1d([2]), 'bn/beta': tf.tensor1d([1]) };
    const state = { 'bn/mean': tf.tensor1d([1]), 'bn/variance': tf.tensor1d([4 - 1e-5]) };
    const y = batchNorm(params, state, 'bn', x, { training: false });
    expect(Array.from(y.dataSync())).toEqual([expect.closeTo(1, 4), expect.closeTo(3, 4)]);
  });

  test('fast 2x2 average-pool gradient equals tf.avgPool\'s', () => {
    const x = tf.randomNormal([2, 6, 4, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const w = tf.randomNormal([2, 3, 2, 3], 0, 1, 'float32', 4);
    const gFast = tf.grad((xx) => tf.sum(tf.mul(avgPool2(xx as tf.Tensor4D, { training: true }), w)))(x);
    const gRef = tf.grad((xx) => tf.sum(tf.mul(tf.avgPool(xx as tf.Tensor4D, 2, 2, 'valid'), w)))(x);
    expect(close(gFast, gRef)).toBeLessThan(1e-6);
  });
});

describe.each(['cnn', 'preact-resnet', 'resnet18'] as const)('%s', (arch) => {
  const spec = arch === 'cnn' ? defaultSpec(arch, [12, 12, 1], 4, { widths: [4, 8] })
    : arch === 'resnet18' ? defaultSpec(arch, [8, 8, 3], 5, { width: 1 / 16 })
      : defaultSpec(arch, [8, 8, 3], 5, { widths: [4, 8], depth: [1, 2] });

  test('forward = head(features), with the documented shapes', () => {
    const m = createModel(spec, 0);
    const x = tf.randomUniform([3, ...spec.inputShape], 0, 1, 'float32', 5) as tf.Tensor4D;
    const logits = forward(m, x);
    expect(logits.shape).toEqual([3, spec.numClasses]);
    expect(close(logits, head(m.params, features(m, x)))).toBe(0);
    expect(m.params['head/w'].shape[1]).toBe(spec.numClasses);
    disposeModel(m);
  });

  test('same seed → same weights; different seed → different weights', () => {
    const a = createModel(spec, 1);
    const b = createModel(spec, 1);
    const c = createModel(spec, 2);
    expect(W.distance(a.params, b.params)).toBe(0);
    expect(W.distance(a.params, c.params)).toBeGreaterThan(0);
    [a, b, c].forEach(disposeModel);
  });

  test('save/load round trip is exact; a wrong architecture is refused', async () => {
    const m = createModel(spec, 3);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-model-'));
    await saveModelArtifact(dir, m);
    const back = await loadModelArtifact(dir, spec);
    expect(W.distance(m.params, back.params)).toBe(0);
    expect(W.distance(m.state, back.state)).toBe(0);
    const x = tf.randomUniform([2, ...spec.inputShape], 0, 1, 'float32', 6) as tf.Tensor4D;
    expect(close(forward(m, x), forward(back, x))).toBe(0);
    const other = { ...spec, widths: spec.widths.map((w) => w * 2) };
    await expect(loadModelArtifact(dir, other)).rejects.toThrow(/shape|spec/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('resnet18', () => {
  test('width 1 on 32×32×3 is the paper\'s CIFAR ResNet-18: 11,173,962 parameters', () => {
    const spec = defaultSpec('resnet18', [32, 32, 3], 10);
    expect(spec.widths).toEqual([64, 128, 256, 512]);
    expect(spec.depth).toEqual([2, 2, 2, 2]);
    const m = createModel(spec, 0);
    expect(numParameters(m)).toBe(11173962);
    // Stem, 8 blocks × 2, 3 shortcuts: 20 batch norms with running statistics.
    expect(Object.keys(m.state).length).toBe(2 * 20);
    disposeModel(m);
  });

  test('the width multiplier scales every stage; 28×28×1 and 32×32×3 inputs give [n, widths[3]] features', () => {
    expect(defaultSpec('resnet18', [28, 28, 1], 10, { width: 0.25 }).widths).toEqual([16, 32, 64, 128]);
    for (const input of [[28, 28, 1], [32, 32, 3]] as [number, number, number][]) {
      const m = createModel(defaultSpec('resnet18', input, 10, { width: 0.125 }), 1);
      const x = tf.randomUniform([2, ...input], 0, 1, 'float32', 3) as tf.Tensor4D;
      expect(features(m, x).shape).toEqual([2, 64]);
      expect(forward(m, x, { training: true }).shape).toEqual([2, 10]);
      disposeModel(m);
    }
  });

  test('training steps lower the loss on a fixed batch', () => {
    const spec = defaultSpec('resnet18', [16, 16, 3], 4, { width: 0.125 });
    const m = createModel(spec, 2);
    const x = tf.randomUniform([16, 16, 16, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const y = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 4), 'int32');
    const opt = new Sgd({ lr: 0.05, momentum: 0.9, weightDecay: 0 });
    const losses = Array.from({ length: 8 }, () => trainStep(m, opt, x, y, 0.05).loss);
    expect(losses[7]).toBeLessThan(losses[0] * 0.8);
    opt.dispose();
    disposeModel(m);
  });
});

describe('weight arithmetic', () => {
  const a = { w: tf.tensor1d([1, 2, 3]), b: tf.tensor2d([[0, 4]]) };
  const b = { w: tf.tensor1d([3, 2, -1]), b: tf.tensor2d([[2, 0]]) };

  test('lerp is exact at hand-made points and endpoints', () => {
    const mid = W.lerp(a, b, 0.5);
    expect(Array.from(mid.w.dataSync())).toEqual([2, 2, 1]);
    expect(Array.from(mid.b.dataSync())).toEqual([1, 2]);
    expect(W.distance(W.lerp(a, b, 0), a)).toBe(0);
    expect(W.distance(W.lerp(a, b, 1), b)).toBe(0);
  });

  test('norms, distances, add/sub/scale/axpy', () => {
    expect(W.globalNorm(a)).toBeCloseTo(Math.sqrt(1 + 4 + 9 + 16), 5);
    expect(W.distance(a, b)).toBeCloseTo(Math.sqrt(4 + 0 + 16 + 4 + 16), 5);
    expect(Array.from(W.add(a, b).w.dataSync())).toEqual([4, 4, 2]);
    expect(Array.from(W.sub(a, b).w.dataSync())).toEqual([-2, 0, 4]);
    expect(Array.from(W.scale(a, 2).b.dataSync())).toEqual([0, 8]);
    expect(Array.from(W.axpy(a, -1, b).w.dataSync())).toEqual([-2, 0, 4]);
  });

  test('mismatched records are refused with the offending name', () => {
    expect(() => W.add(a, { w: a.w })).toThrow(/"b"/);
    expect(() => W.lerp(a, { w: a.w, b: tf.zeros([2, 1]) }, 0.3)).toThrow(/"b" has shape/);
  });

  test('cloneModel is independent of the original', () => {
    const spec = defaultSpec('cnn', [8, 8, 1], 3, { widths: [2, 4] });
    const m = createModel(spec, 0);
    const c = cloneModel(m);
    disposeModel(m);
    expect(W.globalNorm(c.params)).toBeGreaterThan(0);
    disposeModel(c);
  });
});

describe('eval-mode batch norm is differentiable', () => {
  test('gradients w.r.t. input, gamma and beta equal the autodiff ones', () => {
    const x = tf.randomNormal([3, 4, 4, 2], 0, 1, 'float32', 11) as tf.Tensor4D;
    const state = { 'bn/mean': tf.tensor1d([0.2, -0.1]), 'bn/variance': tf.tensor1d([1.5, 0.7]) };
    const w = tf.randomNormal([3, 4, 4, 2], 0, 1, 'float32', 12);
    for (const relu of [false, true]) {
      const loss = (mode: 'custom' | 'autodiff') => (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(batchNorm({ 'bn/gamma': g, 'bn/beta': b }, state, 'bn', xx as tf.Tensor4D,
          { training: false, batchNormGradient: mode }, undefined, relu), w));
      const args = [x, tf.tensor1d([1.2, -0.5]), tf.tensor1d([0.1, 0.3])];
      const fast = tf.grads(loss('custom'))(args);
      const auto = tf.grads(loss('autodiff'))(args);
      for (let i = 0; i < 3; i++) expect(close(fast[i], auto[i])).toBeLessThan(1e-4);
    }
  });
});
