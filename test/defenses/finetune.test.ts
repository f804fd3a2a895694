import * as tf from '@tensorflow/tfjs';
import { makeSyntheticDataset } from '../../src/data/synthetic';
import { finetune, FinetuneOptions } from '../../src/defenses/finetune';
import { initEngine } from '../../src/engine/backend';
import { ParamRecord } from '../../src/models/layers';
import { createModel, defaultSpec, disposeModel, forward } from '../../src/models/model';
import * as W from '../../src/models/weights';
import { labelsTensor } from '../../src/data/batches';
import { batchTensor } from '../../src/train/augment';
import { crossEntropy } from '../../src/train/loss';
import { DivergenceError, disposeStats, lossAndGrads } from '../../src/train/gradients';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
});

const data = makeSyntheticDataset({ n: 96, seed: 3, height: 10 });
const spec = defaultSpec('cnn', [10, 10, 1], data.numClasses, { widths: [4, 8] });
const base: FinetuneOptions = { epochs: 2, batchSize: 32, lr: 0.05, seed: 0, progress: 'silent' };
/** One step over the whole set, plain gradient descent: θ1 = θ0 − lr·g, easy to check by hand. */
const oneStep: FinetuneOptions = { ...base, epochs: 1, batchSize: data.n, momentum: 0, schedule: 'constant' };

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe('finetune', () => {
  test('is repeatable for a seed, leaves the input model untouched and counts the samples it saw', async () => {
    const init = createModel(spec, 0);
    const before = W.clone(init.params);
    const a = await finetune(init, data, base);
    const b = await finetune(init, data, base);
    expect(W.distance(init.params, before)).toBe(0);
    expect(W.distance(a.model.params, b.model.params)).toBe(0);
    expect(W.distance(a.model.params, init.params)).toBeGreaterThan(0);
    expect(a.samplesSeen).toBe(2 * data.n);
    expect(a.history).toHaveLength(2);
    [init, a.model, b.model].forEach(disposeModel);
    W.dispose(before);
  });

  test('live tensors do not grow across epochs with every hook in use (SGD and Adam)', async () => {
    const init = createModel(spec, 0);
    for (const optimizer of ['sgd', 'adam'] as const) {
      const counts: number[] = [];
      const r = await finetune(init, data, {
        ...base, epochs: 4, optimizer, labelSmoothing: 0.1,
        hooks: {
          extraLoss: ({ model }) => tf.mul(tf.sum(tf.square(model.params['head/w'])), 1e-3) as tf.Scalar,
          perturbation: (params, grads) => tf.tidy(() => {
            const eps: ParamRecord = {};
            for (const k of Object.keys(grads)) eps[k] = tf.mul(grads[k], 0.01);
            return eps;
          }),
          project: (p) => ({ 'head/b': tf.zerosLike(p['head/b']) }),
          mapBatch: (x) => tf.mul(x, 0.9) as tf.Tensor4D,
          onEpoch: () => counts.push(tf.memory().numTensors),
        },
      });
      expect(counts).toHaveLength(4);
      expect(new Set(counts).size).toBe(1);
      disposeModel(r.model);
    }
    disposeModel(init);
  });

  test('extraLoss adds its gradient: a term c·Σb moves the head bias by exactly −lr·c more', async () => {
    const init = createModel(spec, 0);
    const c = 0.7;
    const plain = await finetune(init, data, oneStep);
    const extra = await finetune(init, data, {
      ...oneStep, hooks: { extraLoss: ({ model }) => tf.mul(tf.sum(model.params['head/b']), c) as tf.Scalar },
    });
    const shift = tf.sub(extra.model.params['head/b'], plain.model.params['head/b']);
    expect(Array.from(shift.dataSync())).toEqual(Array.from({ length: data.numClasses }, () => expect.closeTo(-oneStep.lr * c, 6)));
    expect(maxAbsDiff(extra.model.params['head/w'], plain.model.params['head/w'])).toBe(0);
    shift.dispose();
    [init, plain.model, extra.model].forEach(disposeModel);
  });

  test('perturbation: the gradient at θ + ε is applied at θ; running statistics come from the unperturbed pass', async () => {
    const init = createModel(spec, 0);
    // A fixed ε on the head weight only.
    const eps = tf.mul(tf.onesLike(init.params['head/w']), 0.05);
    const plain = await finetune(init, data, oneStep);
    const sam = await finetune(init, data, { ...oneStep, hooks: { perturbation: () => ({ 'head/w': eps.clone() }) } });

    // By hand: gradient of the same batch at the shifted point.
    const order = Int32Array.from({ length: data.n }, (_, i) => i);
    const x = batchTensor(data, order);
    const y = labelsTensor(data, order);
    const shifted = { ...init, params: { ...init.params, 'head/w': tf.add(init.params['head/w'], eps) } };
    const { grads, stats } = lossAndGrads(shifted, (m, st) => crossEntropy(forward(m, x, { training: true }, st), y));
    disposeStats(stats);
    for (const k of Object.keys(init.params)) {
      const expected = tf.sub(init.params[k], tf.mul(grads[k], oneStep.lr));
      expect(maxAbsDiff(sam.model.params[k], expected)).toBeLessThan(1e-5);
      expected.dispose();
    }
    for (const k of Object.keys(init.state)) expect(maxAbsDiff(sam.model.state[k], plain.model.state[k])).toBe(0);
    expect(W.distance(sam.model.params, plain.model.params)).toBeGreaterThan(0);
    W.dispose(grads);
    [x, y, eps, shifted.params['head/w']].forEach((t) => t.dispose());
    [init, plain.model, sam.model].forEach(disposeModel);
  });

  test('a zero perturbation gives exactly the single-pass result', async () => {
    const init = createModel(spec, 0);
    const plain = await finetune(init, data, base);
    const zero = await finetune(init, data, { ...base, hooks: { perturbation: () => ({}) } });
    expect(W.distance(zero.model.params, plain.model.params)).toBe(0);
    [init, plain.model, zero.model].forEach(disposeModel);
  });

  test('project runs after every step and its output is what the next step starts from', async () => {
    const init = createModel(spec, 0);
    let calls = 0;
    const r = await finetune(init, data, {
      ...base, hooks: { project: (p) => { calls++; return { 'head/b': tf.fill(p['head/b'].shape, 0.25) }; } },
    });
    expect(calls).toBe(2 * Math.ceil(data.n / base.batchSize));
    expect(Array.from(r.model.params['head/b'].dataSync())).toEqual(new Array(data.numClasses).fill(0.25));
    await expect(finetune(init, data, { ...base, hooks: { project: () => ({ 'no/such': tf.scalar(0) }) } }))
      .rejects.toThrow(/unknown parameter "no\/such"/);
    [init, r.model].forEach(disposeModel);
  });

  test('mapBatch sees every image once per epoch and replaces what is trained on', async () => {
    const init = createModel(spec, 0);
    const seen: number[] = [];
    const r = await finetune(init, data, {
      ...base, epochs: 1, hooks: { mapBatch: (x, _y, idx) => { seen.push(...idx); return tf.zerosLike(x); } },
    });
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: data.n }, (_, i) => i));
    // On all-zero images the first convolution gets no gradient at all (its input is zero).
    expect(maxAbsDiff(r.model.params['stage0/conv/w'], init.params['stage0/conv/w'])).toBe(0);
    expect(W.distance(r.model.params, init.params)).toBeGreaterThan(0);
    [init, r.model].forEach(disposeModel);
  });

  test('label smoothing and the optimizer change the result', async () => {
    const init = createModel(spec, 0);
    const plain = await finetune(init, data, base);
    const smooth = await finetune(init, data, { ...base, labelSmoothing: 0.2 });
    const adam = await finetune(init, data, { ...base, optimizer: 'adam', lr: 1e-3 });
    expect(W.distance(smooth.model.params, plain.model.params)).toBeGreaterThan(0);
    expect(W.distance(adam.model.params, plain.model.params)).toBeGreaterThan(0);
    [init, plain.model, smooth.model, adam.model].forEach(disposeModel);
  });

  test('divergence names the epoch and step and leaks nothing; bad options name the field', async () => {
    const init = createModel(spec, 0);
    const before = tf.memory().numTensors;
    // A NaN parameter makes the next loss non-finite on every engine. (lr = 1e9 overflows on the wasm engine
    // but not on the native one, whose batch norm accumulates its statistics in double precision: the loss
    // stays finite, if absurd, at 3.5e16.)
    const poison = (p: ParamRecord) => ({ 'head/b': tf.fill(p['head/b'].shape, NaN) });
    await expect(finetune(init, data, { ...base, hooks: { project: poison } })).rejects.toThrow(DivergenceError);
    await expect(finetune(init, data, { ...base, hooks: { project: poison, perturbation: () => ({}) } })).rejects.toThrow(/epoch \d+, step \d+/);
    expect(tf.memory().numTensors).toBe(before);
    await expect(finetune(init, data, { ...base, epochs: 0 })).rejects.toThrow(/epochs/);
    await expect(finetune(init, data, { ...base, labelSmoothing: 1 })).rejects.toThrow(/labelSmoothing/);
    await expect(finetune(init, data, { ...base, momentum: 1 })).rejects.toThrow(/momentum/);
    disposeModel(init);
  });
});
