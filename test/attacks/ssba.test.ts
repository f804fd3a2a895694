import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ssbaTrigger } from '../../src/attacks/ssba';
import { createSsbaCodec, ssbaBitAccuracy, ssbaResidual, ssbaSecret, trainSsbaCodec } from '../../src/attacks/ssbaCodec';
import { applyTrigger } from '../../src/attacks/trigger';
import { imageSize, subset } from '../../src/data/dataset';
import { makeSyntheticDataset } from '../../src/data/synthetic';
import { initEngine } from '../../src/engine/backend';
import { parseConfig } from '../../src/experiment/config';
import { Experiment } from '../../src/experiment/runner';

beforeAll(async () => { await initEngine({ quiet: true }); });

const spec = { height: 16, width: 16, channels: 1, bits: 8, amplitude: 0.1 };

describe('SSBA encoder', () => {
  test('the residual is bounded by the amplitude, image-dependent, and the trigger rounds to uint8 within it', () => {
    const codec = createSsbaCodec(spec, 0);
    const d = makeSyntheticDataset({ n: 6, seed: 1, height: 16 });
    const t = applyTrigger(d, ssbaTrigger(codec, 0));
    const size = imageSize(d);
    let maxDiff = 0;
    for (let i = 0; i < d.images.length; i++) maxDiff = Math.max(maxDiff, Math.abs(t.images[i] - d.images[i]));
    expect(maxDiff).toBeLessThanOrEqual(Math.ceil(0.1 * 255));
    expect(maxDiff).toBeGreaterThan(0);
    const residual = (i: number) => Array.from(t.images.subarray(i * size, (i + 1) * size), (v, k) => v - d.images[i * size + k]);
    expect(residual(0)).not.toEqual(residual(1));
    // A constant image still gets a (non-constant) residual: the trigger is not a fixed pattern either way.
    const x = tf.zeros([2, 16, 16, 1]) as tf.Tensor4D;
    const s = tf.tensor2d([...ssbaSecret(8, 0), ...ssbaSecret(8, 1)], [2, 8]);
    const r = ssbaResidual(codec, x, s);
    expect(tf.max(tf.abs(r)).dataSync()[0]).toBeLessThanOrEqual(0.1 + 1e-7);
    tf.dispose([x, s, r]);
    Object.values(codec.params).forEach((p) => p.dispose());
  });

  test('single and batched stamping agree; the secret is fixed by its seed', () => {
    const codec = createSsbaCodec(spec, 0);
    const d = makeSyntheticDataset({ n: 3, seed: 2, height: 16 });
    const trig = ssbaTrigger(codec, 4);
    const batched = applyTrigger(d, trig);
    const single = applyTrigger(d, { name: trig.name, stamp: trig.stamp });
    expect(Array.from(batched.images)).toEqual(Array.from(single.images));
    expect(Array.from(ssbaSecret(16, 3))).toEqual(Array.from(ssbaSecret(16, 3)));
    expect(Array.from(ssbaSecret(16, 3))).not.toEqual(Array.from(ssbaSecret(16, 4)));
    expect(() => applyTrigger(makeSyntheticDataset({ n: 1, seed: 0, height: 12 }), trig)).toThrow(/trained on 16x16x1/);
  });

  test('training hides the secret: the decoder reads it from encoded images, not from clean ones', () => {
    const d = makeSyntheticDataset({ n: 400, seed: 3, height: 16 });
    const { codec, report } = trainSsbaCodec(d, { bits: 8, amplitude: 0.1, steps: 250, batchSize: 32, lr: 2e-3, residualWeight: 4, seed: 0, progress: 'silent' });
    expect(report.bitAccuracy).toBeGreaterThan(0.9);
    expect(report.meanAbsResidual).toBeLessThan(0.1);
    const test = subset(d, Int32Array.from({ length: 100 }, (_, i) => i));
    const encoded = applyTrigger(test, ssbaTrigger(codec, 7));
    expect(ssbaBitAccuracy(codec, encoded, 7)).toBeGreaterThan(0.9);
    expect(ssbaBitAccuracy(codec, test, 7)).toBeLessThan(0.8);
  });
});

describe('SSBA through the experiment', () => {
  let runsDir: string;
  beforeAll(() => { runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-ssba-')); });
  afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  test('config defaults only for ssba', () => {
    expect(parseConfig({ attack: { name: 'ssba' } }).attack.ssba).toMatchObject({ bits: 16, amplitude: 0.1, steps: 600 });
    expect(parseConfig({ attack: { name: 'ssba' } }).attack.poisonRate).toBe(0.05);
  });

  test('run(): encoded images relabelled to the target at round(rate·N) indices, the rest untouched; cached', async () => {
    const cfg = {
      dataset: 'synthetic' as const, runsDir,
      model: { arch: 'cnn' as const, widths: [8, 16] },
      attack: { name: 'ssba' as const, poisonRate: 0.1, target: 0, ssba: { bits: 8, steps: 60 } },
      train: { epochs: 1, batchSize: 64 },
    };
    const r = await new Experiment(cfg, { log: () => undefined, progress: 'silent' }).run();
    const train = r.data.train;
    expect(r.poison.poisonedIndices.length).toBe(Math.round(0.1 * train.n));
    const size = imageSize(train);
    const poisoned = new Set(r.poison.poisonedIndices);
    let changed = 0;
    for (let i = 0; i < train.n; i++) {
      const diff = r.poison.train.images.subarray(i * size, (i + 1) * size).some((v, k) => v !== train.images[i * size + k]);
      if (poisoned.has(i)) {
        expect(r.poison.train.labels[i]).toBe(0);
        if (diff) changed++;
      } else {
        expect(diff).toBe(false);
        expect(r.poison.train.labels[i]).toBe(train.labels[i]);
      }
    }
    expect(changed).toBe(poisoned.size);
    expect(r.poison.trigger.name).toBe('ssba-b8-a0.1-secret0');
    expect(r.poison.backdoorTest!.n).toBe(Array.from(r.data.test.labels).filter((y) => y !== 0).length);
    expect(fs.readdirSync(path.join(runsDir, 'ssba-encoder'))).toHaveLength(1);
    const again = await new Experiment(cfg, { log: () => undefined, progress: 'silent' }).run();
    expect(again.trained.cached).toBe(true);
    expect(again.keys).toEqual(r.keys);
    expect(Buffer.compare(Buffer.from(again.poison.backdoorTest!.images), Buffer.from(r.poison.backdoorTest!.images))).toBe(0);
  });
});
