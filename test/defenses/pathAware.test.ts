import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend';
import { pathAwareStep, pathPerturbedParams } from '../../src/defenses/pathAware';
import { Model } from '../../src/models/spec';
import * as W from '../../src/models/weights';
import { Sgd } from '../../src/train/sgd';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
});

// A hand-made "model": the loss is Σ_k c_k·θ_k² / 2 on two tensors, so ∇L(θ) = c ⊙ θ is known exactly.
const c = { a: tf.tensor1d([1, 2]), b: tf.tensor2d([[3], [0.5]]) };
const lossFn = (m: Model) => tf.tidy(() => tf.add(
  tf.sum(tf.mul(c.a, tf.square(m.params.a))), tf.sum(tf.mul(c.b, tf.square(m.params.b)))).mul(0.5) as tf.Scalar);
const modelOf = (a: number[], b: number[][]): Model => ({
  spec: { arch: 'cnn', inputShape: [1, 1, 1], numClasses: 2, widths: [1] },
  params: { a: tf.tensor1d(a), b: tf.tensor2d(b) }, state: {},
});

test('the perturbed point lies exactly ρ along the path to the backdoored weights', () => {
  const theta = { a: tf.tensor1d([0, 0]), b: tf.tensor2d([[0], [0]]) };
  const bd = { a: tf.tensor1d([3, 0]), b: tf.tensor2d([[4], [0]]) }; // ‖θ_bd − θ‖ = 5
  const { params, distance } = pathPerturbedParams(theta, bd, 0.5);
  expect(distance).toBeCloseTo(5, 6);
  expect(Array.from(params.a.dataSync())).toEqual([expect.closeTo(0.3, 6), 0]);
  expect(Array.from(params.b.dataSync())).toEqual([expect.closeTo(0.4, 6), 0]);
  expect(W.distance(params, theta)).toBeCloseTo(0.5, 6);
  expect(W.distance(params, bd)).toBeCloseTo(4.5, 6);
});

test('the update equals the gradient at the perturbed point, applied at θ', () => {
  const m = modelOf([1, 1], [[1], [1]]);
  const bd = { a: tf.tensor1d([1, 4]), b: tf.tensor2d([[5], [1]]) }; // θ_bd − θ = (0, 3, 4, 0), norm 5
  const rho = 1;
  // Perturbed point: θ + (0, 0.6, 0.8, 0); gradient there: c ⊙ θ' = (1, 2·1.6, 3·1.8, 0.5·1).
  const opt = new Sgd({ lr: 0.1, momentum: 0, weightDecay: 0 });
  const r = pathAwareStep(m, bd, rho, opt, lossFn);
  const expectedGrad = [1, 3.2, 5.4, 0.5];
  const after = [...m.params.a.dataSync(), ...m.params.b.dataSync()];
  [1, 1, 1, 1].forEach((v, i) => expect(after[i]).toBeCloseTo(v - 0.1 * expectedGrad[i], 5));
  expect(r.distance).toBeCloseTo(5, 5);
  expect(r.loss).toBeCloseTo(0.5 * (1 + 2 * 1.6 ** 2 + 3 * 1.8 ** 2 + 0.5), 4);
});

test('ρ = 0 is the plain update, and θ = θ_bd (first step) is too', () => {
  const plain = modelOf([1, -2], [[0.5], [2]]);
  const viaRho0 = modelOf([1, -2], [[0.5], [2]]);
  const atBd = modelOf([1, -2], [[0.5], [2]]);
  const bd = { a: tf.tensor1d([9, 9]), b: tf.tensor2d([[9], [9]]) };
  const step = (m: Model, rho: number, target: Record<string, tf.Tensor>) =>
    pathAwareStep(m, target, rho, new Sgd({ lr: 0.1, momentum: 0, weightDecay: 0 }), lossFn);
  // Plain: θ − lr·c⊙θ
  const expected = [1 - 0.1 * 1, -2 - 0.1 * 2 * -2, 0.5 - 0.1 * 3 * 0.5, 2 - 0.1 * 0.5 * 2];
  step(viaRho0, 0, bd);
  step(atBd, 0.5, W.clone(atBd.params));
  for (const m of [viaRho0, atBd]) {
    const got = [...m.params.a.dataSync(), ...m.params.b.dataSync()];
    expected.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
  }
  expect(() => step(plain, -1, bd)).toThrow(/rho/);
});
