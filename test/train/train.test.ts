import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initEngine } from '../../src/engine/backend';
import { makeSyntheticDataset } from '../../src/data/synthetic';
import { createModel, defaultSpec, disposeModel } from '../../src/models/model';
import * as W from '../../src/models/weights';
import { DivergenceError } from '../../src/train/gradients';
import { train, TrainOptions } from '../../src/train/train';
import { Experiment } from '../../src/experiment/runner';

const base: TrainOptions = {
  epochs: 2, batchSize: 32, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine',
  augment: { crop: 1, flip: true }, seed: 0, progress: 'silent',
};

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
});

describe('train', () => {
  const data = makeSyntheticDataset({ n: 256, seed: 1, height: 12 });
  const spec = defaultSpec('cnn', [12, 12, 1], data.numClasses, { widths: [4, 8] });

  test('is repeatable for a seed and leaves the input model untouched', async () => {
    const init = createModel(spec, 0);
    const before = W.clone(init.params);
    const a = await train(init, data, base);
    const b = await train(init, data, base);
    expect(W.distance(init.params, before)).toBe(0);
    expect(W.distance(a.model.params, b.model.params)).toBe(0);
    expect(W.distance(a.model.params, init.params)).toBeGreaterThan(0);
    [init, a.model, b.model].forEach(disposeModel);
  });

  test('the number of live tensors does not grow across epochs', async () => {
    const init = createModel(spec, 0);
    const counts: number[] = [];
    const r = await train(init, data, { ...base, epochs: 4, onEpoch: () => counts.push(tf.memory().numTensors) });
    expect(counts.length).toBe(4);
    expect(new Set(counts).size).toBe(1);
    disposeModel(init);
    disposeModel(r.model);
  });

  test('divergence stops with an error naming the epoch and step, and leaks nothing', async () => {
    const init = createModel(spec, 0);
    const before = tf.memory().numTensors;
    await expect(train(init, data, { ...base, lr: 1e9 })).rejects.toThrow(DivergenceError);
    await expect(train(init, data, { ...base, lr: 1e9 })).rejects.toThrow(/epoch \d+, step \d+/);
    expect(tf.memory().numTensors).toBe(before);
    disposeModel(init);
  });

  test('perturbBatch replaces every batch, its output is disposed, and an identity hook changes nothing', async () => {
    const init = createModel(spec, 0);
    const plain = await train(init, data, { ...base, epochs: 1 });
    let calls = 0;
    const tensors = tf.memory().numTensors;
    const hooked = await train(init, data, { ...base, epochs: 1, perturbBatch: (_m, x) => { calls++; return x.clone(); } });
    expect(calls).toBe(Math.ceil(data.n / base.batchSize));
    expect(W.distance(plain.model.params, hooked.model.params)).toBe(0);
    const own = Object.keys(hooked.model.params).length + Object.keys(hooked.model.state).length;
    expect(tf.memory().numTensors).toBe(tensors + own);
    // A hook that zeroes the images trains a different model.
    const zeroed = await train(init, data, { ...base, epochs: 1, perturbBatch: (_m, x) => tf.zerosLike(x) });
    expect(W.distance(plain.model.params, zeroed.model.params)).toBeGreaterThan(0);
    [init, plain.model, hooked.model, zeroed.model].forEach(disposeModel);
  });

  test('bad options are refused naming the field', async () => {
    const init = createModel(spec, 0);
    await expect(train(init, data, { ...base, epochs: 0 })).rejects.toThrow(/epochs/);
    await expect(train(init, data, { ...base, lr: -1 })).rejects.toThrow(/lr/);
    disposeModel(init);
  });
});

describe('pipeline on synthetic data (integration)', () => {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-runs-'));
  const cfg = (attack: 'badnets' | 'none') => ({
    dataset: 'synthetic' as const, runsDir,
    model: { arch: 'cnn' as const, widths: [8, 16] },
    attack: { name: attack, poisonRate: 0.1, target: 0 },
    train: { epochs: 5, batchSize: 32, lr: 0.05 },
  });
  afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  test('a backdoored model reaches ASR > 90%, a clean one stays below 20%; reruns load from the cache', async () => {
    const log = () => undefined;
    const bd = await new Experiment(cfg('badnets'), { log, progress: 'silent' }).run();
    const clean = await new Experiment(cfg('none'), { log, progress: 'silent' }).run();
    expect(bd.evaluation.cleanAccuracy).toBeGreaterThan(0.8);
    expect(bd.evaluation.asr).toBeGreaterThan(0.9);
    expect(clean.evaluation.cleanAccuracy).toBeGreaterThan(0.8);
    expect(clean.evaluation.asr).toBeLessThan(0.2);
    expect(bd.trained.cached).toBe(false);

    const again = await new Experiment(cfg('badnets'), { log, progress: 'silent' }).run();
    expect(again.trained.cached).toBe(true);
    expect(again.keys).toEqual(bd.keys);
    expect(again.evaluation.asr).toBe(bd.evaluation.asr);
    expect(W.distance(again.trained.model.params, bd.trained.model.params)).toBe(0);
  });

  test('a corrupt model artifact is detected and recomputed to the same weights', async () => {
    const log: string[] = [];
    const first = await new Experiment(cfg('badnets'), { log: (s) => log.push(s), progress: 'silent' }).run();
    const weights = path.join(runsDir, 'model', first.keys.model, 'weights.bin');
    const size = fs.statSync(weights).size;
    fs.truncateSync(weights, Math.floor(size / 2));
    const again = await new Experiment(cfg('badnets'), { log: (s) => log.push(s), progress: 'silent' }).run();
    expect(again.trained.cached).toBe(false);
    expect(log.join('\n')).toMatch(/corrupt|size|sha/i);
    expect(W.distance(again.trained.model.params, first.trained.model.params)).toBe(0);
  });
});
