import * as tf from '@tensorflow/tfjs';
import { initEngine, setEngine } from '../../src/engine/backend';
import { InferenceInput, InferenceModel } from '../../src/models/inference';
import { createModel, defaultSpec, disposeModel, forward } from '../../src/models/model';
import { ModelSpec } from '../../src/models/spec';

import { nativeAvailable } from '../engine/engines';

// The fused kernels belong to the wasm engine (on the native engine the plain forward pass is faster).
beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
  setEngine('wasm');
});
afterAll(() => { if (nativeAvailable()) setEngine('native'); });

/** A model whose batch norm does something: running statistics and affine parameters away from 1 and 0. */
function trainedLooking(spec: ModelSpec, seed: number) {
  const m = createModel(spec, seed);
  let s = seed;
  for (const rec of [m.params, m.state]) {
    for (const k of Object.keys(rec)) {
      if (!k.includes('/bn/')) continue;
      const old = rec[k];
      rec[k] = tf.tidy(() => tf.add(old, tf.randomUniform(old.shape, 0.05, 0.6, 'float32', s++)));
      old.dispose();
    }
  }
  return m;
}

function compare(spec: ModelSpec, n: number): { fused: number; maxDiff: number; samePredictions: boolean } {
  const model = trainedLooking(spec, 1);
  const x = tf.randomUniform([n, ...spec.inputShape], 0, 1, 'float32', 2) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const inference = new InferenceModel(model);
  const input = new InferenceInput(x.dataSync() as Float32Array, n, spec.inputShape);
  const logits = inference.logits(input);
  input.dispose();
  const plain = tf.tidy(() => forward(model, x));
  const maxDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(logits, plain))).dataSync()[0]);
  const samePredictions = tf.tidy(() => tf.all(tf.equal(tf.argMax(logits, 1), tf.argMax(plain, 1))).dataSync()[0] === 1);
  tf.dispose([logits, plain]);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(x);
  disposeModel(model);
  return { fused: inference.fusedStageCount, maxDiff, samePredictions };
}

test('the default cnn runs every stage fused and matches the TF.js forward pass to float rounding', () => {
  const r = compare(defaultSpec('cnn', [28, 28, 1], 10), 40);
  expect(r.fused).toBe(3);
  expect(r.maxDiff).toBeLessThan(1e-4);
  expect(r.samePredictions).toBe(true);
});

test('CIFAR-shaped cnn inputs (3 channels) are fused too', () => {
  const r = compare(defaultSpec('cnn', [32, 32, 3], 10, { widths: [8, 16] }), 6);
  expect(r.fused).toBe(2);
  expect(r.maxDiff).toBeLessThan(1e-4);
});

test('what the kernels cannot run falls back to forward, exactly', () => {
  // Odd sides before a pooling stage: stage 0 is not fusable, so nothing is.
  expect(compare(defaultSpec('cnn', [7, 7, 1], 10, { widths: [8, 16] }), 3)).toEqual({ fused: 0, maxDiff: 0, samePredictions: true });
  expect(compare(defaultSpec('preact-resnet', [8, 8, 1], 10, { widths: [4, 8], depth: [1, 1] }), 3).fused).toBe(0);
});

test('other backends use forward', async () => {
  await tf.setBackend('cpu');
  try {
    const m = createModel(defaultSpec('cnn', [8, 8, 1], 10, { widths: [4, 8] }), 0);
    expect(new InferenceModel(m).fusedStageCount).toBe(0);
    disposeModel(m);
  } finally {
    await tf.setBackend('wasm');
  }
});

test('an input that is not n images of the model shape is refused', () => {
  expect(() => new InferenceInput(new Float32Array(10), 1, [28, 28, 1])).toThrow(/10 values is not 1 images/);
});

test('batches that take turns in the shared kernel buffer each get their own logits', () => {
  const spec = defaultSpec('cnn', [28, 28, 1], 10);
  const model = trainedLooking(spec, 3);
  const inference = new InferenceModel(model);
  const batches = [4, 5].map((seed) => new InferenceInput(tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', seed).dataSync() as Float32Array, 3, spec.inputShape));
  const read = (i: number) => { const l = inference.logits(batches[i]); const v = Array.from(l.dataSync()); l.dispose(); return v; };
  const first = [read(0), read(1)];
  expect(first[0]).not.toEqual(first[1]);
  expect(read(0)).toEqual(first[0]);
  expect(read(1)).toEqual(first[1]);
  batches.forEach((b) => b.dispose());
  disposeModel(model);
});

(nativeAvailable() ? test : test.skip)('on the native engine inference is the plain forward pass, exactly', () => {
  setEngine('native');
  try {
    expect(compare(defaultSpec('cnn', [28, 28, 1], 10), 12)).toEqual({ fused: 0, maxDiff: 0, samePredictions: true });
  } finally {
    setEngine('wasm');
  }
});
