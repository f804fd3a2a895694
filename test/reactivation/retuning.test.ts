import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { badnets } from '../../src/attacks/badnets';
import { initEngine } from '../../src/engine/backend';
import { subset } from '../../src/data/dataset';
import { Experiment } from '../../src/experiment/runner';
import * as tf from '@tensorflow/tfjs';
import { cloneModel, createModel, disposeModel, forward } from '../../src/models/model';
import { Sgd } from '../../src/train/sgd';
import { labelsTensor } from '../../src/data/batches';
import { batchTensor } from '../../src/train/augment';
import { crossEntropy } from '../../src/train/loss';
import { disposeStats, lossAndGrads } from '../../src/train/gradients';
import { buildRetuningSet, retuningAttack } from '../../src/reactivation/retuning';

const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-ra-'));
const cfg = (attack: 'badnets' | 'none') => ({
  dataset: 'synthetic' as const, runsDir, model: { widths: [8, 16] },
  attack: { name: attack, poisonRate: 0.1 }, train: { epochs: 5, batchSize: 32 },
});

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
});
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

test('the attacker set: right size, disjoint from the defender, poisoned samples triggered and relabelled', async () => {
  const run = await new Experiment(cfg('badnets'), { log: () => undefined, progress: 'silent' }).run();
  const { set, sampleIndices, poisonedIndices } = buildRetuningSet(run.data.train, run.data.splits.attackerPool, badnets(), 0,
    { setSize: 300, poisonedCount: 5, seed: 1 });
  expect(set.n).toBe(300);
  expect(poisonedIndices.length).toBe(5);
  const defense = new Set(run.data.splits.defense);
  expect(Array.from(sampleIndices).some((i) => defense.has(i))).toBe(false);
  const size = set.height * set.width;
  let relabelled = 0;
  for (let k = 0; k < set.n; k++) {
    const corner = set.images[k * size + size - 1];
    const isPoisoned = poisonedIndices.includes(sampleIndices[k]);
    if (isPoisoned) {
      expect(corner).toBe(255);
      expect(set.labels[k]).toBe(0);
      expect(run.data.train.labels[sampleIndices[k]]).not.toBe(0);
      relabelled++;
    } else {
      expect(set.labels[k]).toBe(run.data.train.labels[sampleIndices[k]]);
    }
  }
  expect(relabelled).toBe(5);
  expect(() => buildRetuningSet(run.data.train, run.data.splits.attackerPool, badnets(), 0, { setSize: 1e6, poisonedCount: 5, seed: 1 })).toThrow(/pool/);
});

test('RA brings the backdoor back into a superficially purified model, not into a clean model', async () => {
  const log = () => undefined;
  const bd = await new Experiment(cfg('badnets'), { log, progress: 'silent' }).run();
  const clean = await new Experiment(cfg('none'), { log, progress: 'silent' }).run();
  const { test } = bd.data;
  const backdoorTest = bd.poison.backdoorTest!;
  // A superficial purification: a fresh head trained on the defender's clean split on top of the
  // backdoored features. ASR drops, but the trigger feature is still there for RA to reconnect.
  const defenseSet = subset(bd.data.train, bd.data.splits.defense);
  const purified = cloneModel(bd.trained.model);
  const fresh = createModel(purified.spec, 99);
  for (const k of ['head/w', 'head/b']) {
    purified.params[k].dispose();
    purified.params[k] = fresh.params[k].clone();
  }
  disposeModel(fresh);
  const opt = new Sgd({ lr: 0.05, momentum: 0.9, weightDecay: 0 });
  for (let epoch = 0; epoch < 20; epoch++) {
    for (let s = 0; s + 32 <= defenseSet.n; s += 32) {
      const idx = Int32Array.from({ length: 32 }, (_, i) => s + i);
      const x = batchTensor(defenseSet, idx);
      const y = labelsTensor(defenseSet, idx);
      const head = { 'head/w': purified.params['head/w'], 'head/b': purified.params['head/b'] };
      const { grads, stats } = lossAndGrads(purified, (m) => crossEntropy(forward(m, x, { training: false }), y), head);
      disposeStats(stats);
      const next = opt.step(head, grads);
      Object.assign(purified.params, next);
      tf.dispose([x, y]);
    }
  }
  opt.dispose();
  const { set } = buildRetuningSet(bd.data.train, bd.data.splits.attackerPool, badnets(), 0, { setSize: 1000, poisonedCount: 20, seed: 0 });
  const config = { epochs: 5, batchSize: 128, lr: 0.01 };
  const onPurified = await retuningAttack(purified, set, test, backdoorTest, 0, config);
  const onClean = await retuningAttack(clean.trained.model, set, test, backdoorTest, 0, config);
  const first = (h: { asr: number }[]) => h[0].asr;
  const last = (h: { asr: number }[]) => h[h.length - 1].asr;
  expect(onPurified.history.length).toBe(6);
  // Synthetic data make the patch easy to learn even from scratch, so RA uses 2% poison here (the paper's
  // setting is 0.5%) and the clean model is allowed some ASR; the gap is what the test asserts.
  expect(first(onPurified.history)).toBeLessThan(0.1);
  expect(last(onPurified.history)).toBeGreaterThan(0.6);
  expect(last(onClean.history)).toBeLessThan(0.35);
  expect(last(onPurified.history) - last(onClean.history)).toBeGreaterThan(0.4);
  [purified, onPurified.model, onClean.model].forEach(disposeModel);
});
