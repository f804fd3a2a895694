import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { lcCorners, pgd, trainRobustModel } from '../../src/attacks/lc';
import { applyTrigger } from '../../src/attacks/trigger';
import { toTensor } from '../../src/data/batches';
import { Dataset, imageSize } from '../../src/data/dataset';
import { makeSyntheticDataset } from '../../src/data/synthetic';
import { initEngine } from '../../src/engine/backend';
import { parseConfig } from '../../src/experiment/config';
import { Experiment } from '../../src/experiment/runner';
import { createModel, defaultSpec, disposeModel, forward } from '../../src/models/model';
import { crossEntropy } from '../../src/train/loss';

beforeAll(async () => { await initEngine({ quiet: true }); });

function constant(h: number, w: number, c: number, value: number): Dataset {
  return { name: 'const', images: new Uint8Array(h * w * c).fill(value), labels: new Int32Array(1), n: 1, height: h, width: w, channels: c, numClasses: 2, flipInvariant: false };
}

describe('LC corner trigger', () => {
  test('the four 3x3 corner patterns at ±255, clipped to 0/255, nothing else touched', () => {
    const t = applyTrigger(constant(8, 9, 1, 128), lcCorners());
    const img = (y: number, x: number) => t.images[y * 9 + x];
    const block = (y0: number, x0: number) => [0, 1, 2].map((dy) => [0, 1, 2].map((dx) => img(y0 + dy, x0 + dx)));
    expect(block(0, 0)).toEqual([[255, 0, 0], [0, 255, 0], [255, 0, 255]]);
    // Bottom-left rows 5..7 are BackdoorBench's rows −3, −2, −1.
    expect(block(5, 0)).toEqual([[255, 0, 0], [0, 255, 0], [255, 0, 255]]);
    expect(block(0, 6)).toEqual([[0, 0, 255], [0, 255, 0], [255, 0, 255]]);
    expect(block(5, 6)).toEqual([[0, 0, 255], [0, 255, 0], [255, 0, 255]]);
    let untouched = 0;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 9; x++) if (img(y, x) === 128) untouched++;
    expect(untouched).toBe(72 - 36);
  });

  test('every channel; a reduced amplitude adds ±255·a', () => {
    const t = applyTrigger(constant(6, 6, 3, 128), lcCorners(0.25));
    expect(Array.from(t.images.subarray(0, 6))).toEqual([192, 192, 192, 64, 64, 64]);
    expect(() => lcCorners(0)).toThrow(/amplitude/);
    expect(() => applyTrigger(constant(5, 5, 1, 0), lcCorners())).toThrow(/6x6/);
  });
});

describe('PGD', () => {
  test('stays in the ε-ball and [0, 1], raises the loss; zero steps is the identity', () => {
    const d = makeSyntheticDataset({ n: 64, seed: 1, height: 12 });
    const model = createModel(defaultSpec('cnn', [12, 12, 1], 4, { widths: [4, 8] }), 0);
    const idx = Array.from({ length: 64 }, (_, i) => i);
    const x = toTensor(d, idx);
    const y = tf.tensor1d(d.labels, 'int32');
    const eps = 8 / 255;
    const adv = pgd(model, x, y, { epsilon: eps, stepSize: 2 / 255, steps: 10, training: false });
    const diff = tf.max(tf.abs(tf.sub(adv, x))).dataSync()[0];
    expect(diff).toBeLessThanOrEqual(eps + 1e-6);
    expect(diff).toBeGreaterThan(eps / 2);
    expect(tf.min(adv).dataSync()[0]).toBeGreaterThanOrEqual(0);
    expect(tf.max(adv).dataSync()[0]).toBeLessThanOrEqual(1);
    const loss = (t: tf.Tensor4D) => tf.tidy(() => crossEntropy(forward(model, t, { training: false }), y).dataSync()[0]);
    expect(loss(adv)).toBeGreaterThan(loss(x));
    const same = pgd(model, x, y, { epsilon: eps, stepSize: 2 / 255, steps: 0, training: false });
    expect(Array.from(same.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([x, y, adv, same]);
    disposeModel(model);
  });

  test('adversarial training runs and reports its adversarial accuracy', async () => {
    const d = makeSyntheticDataset({ n: 128, seed: 2, height: 12 });
    const out = await trainRobustModel(d, { widths: [4, 8], epochs: 1, attackSteps: 1, batchSize: 32, lr: 0.05, epsilon: 8 / 255, seed: 0, progress: 'silent' });
    expect(out.history).toHaveLength(1);
    expect(out.history[0].adversarialAccuracy).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(out.history[0].loss)).toBe(true);
    disposeModel(out.model);
  });
});

describe('LC through the experiment', () => {
  let runsDir: string;
  beforeAll(() => { runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-lc-')); });
  afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  test('config: LC defaults (rate 0.1 = every target image of a balanced 10-class set, ε 8/255, 100 steps)', () => {
    const c = parseConfig({ attack: { name: 'lc' } });
    expect(c.attack.poisonRate).toBe(0.1);
    expect(c.attack.lc).toMatchObject({ epsilon: 8 / 255, stepSize: 1.5 / 255, steps: 100, amplitude: 1 });
    expect(parseConfig({ attack: { name: 'badnets' } }).attack.poisonRate).toBe(0.05);
  });

  test('run(): target-class images only, PGD-perturbed within ε outside the corners, corners 0/255, labels kept; cached', async () => {
    const cfg = {
      dataset: 'synthetic' as const, runsDir,
      model: { arch: 'cnn' as const, widths: [8, 16] },
      attack: { name: 'lc' as const, poisonRate: 0.1, target: 3, lc: { steps: 5, robust: { widths: [4, 8], epochs: 1, attackSteps: 1 } } },
      train: { epochs: 1, batchSize: 64 },
    };
    const exp = new Experiment(cfg, { log: () => undefined, progress: 'silent' });
    const r = await exp.run();
    const train = r.data.train;
    const p = r.poison;
    expect(p.poisonedIndices.length).toBe(Math.round(0.1 * train.n));
    expect(Array.from(p.train.labels)).toEqual(Array.from(train.labels));
    const size = imageSize(train);
    const w = train.width;
    const h = train.height;
    const corner = (k: number) => {
      const y = Math.floor(k / w);
      const x = k % w;
      return (y < 3 || y >= h - 3) && (x < 3 || x >= w - 3);
    };
    const poisoned = new Set(p.poisonedIndices);
    let perturbed = 0;
    for (let i = 0; i < train.n; i++) {
      const a = train.images.subarray(i * size, (i + 1) * size);
      const b = p.train.images.subarray(i * size, (i + 1) * size);
      if (!poisoned.has(i)) {
        expect(b.every((v, k) => v === a[k])).toBe(true);
        continue;
      }
      expect(train.labels[i]).toBe(3);
      for (let k = 0; k < size; k++) {
        if (corner(k)) expect([0, 255]).toContain(b[k]);
        else expect(Math.abs(b[k] - a[k])).toBeLessThanOrEqual(8);
      }
      if (b.some((v, k) => !corner(k) && v !== a[k])) perturbed++;
    }
    expect(perturbed).toBeGreaterThan(0.9 * poisoned.size);
    expect(p.trigger.name).toBe('lc-corners-a1');
    expect(fs.readdirSync(path.join(runsDir, 'lc-robust'))).toHaveLength(1);
    const again = await new Experiment(cfg, { log: () => undefined, progress: 'silent' }).run();
    expect(again.trained.cached).toBe(true);
    expect(again.keys).toEqual(r.keys);
    expect(Buffer.compare(Buffer.from(again.poison.train.images), Buffer.from(p.train.images))).toBe(0);
  });
});
