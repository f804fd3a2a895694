import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend';
import {
  backdoorExistence, backdoorSimilarity, batchActivations, becLayers, becOf, becReference, convActivations, linearCka, nonTargetIndices,
  selectNeurons, triggerActivatedChange,
} from '../../src/analysis/bec';
import { badnets } from '../../src/attacks/badnets';
import { backdoorTestSet } from '../../src/attacks/poison';
import { Dataset, subset } from '../../src/data/dataset';
import { makeSyntheticDataset } from '../../src/data/synthetic';
import { createModel, defaultSpec, disposeModel } from '../../src/models/model';
import { Model } from '../../src/models/spec';
import { Rng } from '../../src/rng';

beforeAll(() => initEngine({ backend: 'wasm', quiet: true }));

const t2 = (rows: number[][]) => tf.tensor2d(rows);
const gaussian = (rng: Rng, n: number, d: number) => tf.tensor2d(Array.from({ length: n * d }, () => rng.normal()), [n, d]);

describe('linear CKA', () => {
  test('a hand-computed value: for one feature each it is the squared correlation', () => {
    // x = 1, 2, 3 and y = 1, 3, 2: centred −1, 0, 1 and −1, 1, 0; Σxy = 1, Σx² = Σy² = 2; CKA = 1² / (2 · 2) = 0.25.
    const [x, y] = [t2([[1], [2], [3]]), t2([[1], [3], [2]])];
    expect(linearCka(x, y)).toBeCloseTo(0.25, 6);
    tf.dispose([x, y]);
  });

  test('identical representations → 1; an orthogonal transform or a rescaling → 1; independent noise → ≈ 0', () => {
    const rng = new Rng(7);
    const x = gaussian(rng, 400, 12);
    const [q] = tf.linalg.qr(gaussian(rng, 12, 12));
    const rotated = tf.matMul(x, q);
    const scaled = tf.add(tf.mul(x, 3.5), 2);
    expect(linearCka(x, x)).toBeCloseTo(1, 5);
    expect(linearCka(x, rotated as tf.Tensor2D)).toBeCloseTo(1, 4);
    expect(linearCka(x, scaled as tf.Tensor2D)).toBeCloseTo(1, 4);
    // Biased linear CKA of independent data is about d/n, not 0: keep n ≫ d (here d / n = 0.002).
    const big = gaussian(rng, 4000, 8);
    const noise = gaussian(rng, 4000, 8);
    expect(linearCka(big, noise)).toBeLessThan(0.01);
    tf.dispose([x, q, rotated, scaled, big, noise]);
  });

  test('the sample-space form (more features than inputs) gives the feature-space value', () => {
    const rng = new Rng(3);
    const x = gaussian(rng, 6, 20);
    const y = tf.add(x, tf.mul(gaussian(rng, 6, 20), 0.5)) as tf.Tensor2D;
    // Same data with the roles of rows and features checked against a direct feature-space computation.
    const xc = tf.sub(x, tf.mean(x, 0, true)).arraySync() as number[][];
    const yc = tf.sub(y, tf.mean(y, 0, true)).arraySync() as number[][];
    const cross = (a: number[][], b: number[][]) => {
      let s = 0;
      for (let i = 0; i < a[0].length; i++) for (let j = 0; j < b[0].length; j++) {
        let v = 0;
        for (let k = 0; k < a.length; k++) v += a[k][i] * b[k][j];
        s += v * v;
      }
      return s;
    };
    const expected = cross(xc, yc) / Math.sqrt(cross(xc, xc) * cross(yc, yc));
    expect(linearCka(x, y)).toBeCloseTo(expected, 5);
    tf.dispose([x, y]);
  });
});

describe('backdoor neurons', () => {
  test('selectNeurons: the top share by TAC, largest first, ties by index, at least one', () => {
    expect(selectNeurons([0.1, 0.9, 0.5, 0.9, 0.2, 0, 0, 0, 0, 0], 0.3)).toEqual([1, 3, 2]);
    expect(selectNeurons([0.3, 0.2, 0.1], 0.1)).toEqual([0]); // int(3 · 0.1) = 0 in the reference; one here
    expect(selectNeurons(Array.from({ length: 64 }, (_, i) => i), 0.1)).toEqual([63, 62, 61, 60, 59, 58]);
  });

  test('TAC by hand: a 4×4 patch on blank images, passed through stage 0, seen by four fixed stage-1 filters', () => {
    const spec = defaultSpec('cnn', [16, 16, 1], 4, { widths: [4, 4] });
    expect(becLayers(spec).map((l) => l.name)).toEqual(['stage1/conv']); // stage 0 reads the raw image: the stem
    const model = createModel(spec, 0);
    const set = (name: string, values: Float32Array, shape: [number, number, number, number]) => {
      model.params[name].dispose();
      model.params[name] = tf.tensor4d(values, shape);
    };
    // Stage 0 passes the image through on channel 0 (centre tap 1; batch norm at its initial identity, up to ε).
    const w0 = new Float32Array(9 * 4);
    w0[4 * 4] = 1;
    set('stage0/conv/w', w0, [3, 3, 1, 4]);
    // Stage 1, reading channel 0: zero, 0.2 everywhere, 1 everywhere, −0.5 at the centre.
    const w1 = new Float32Array(9 * 4 * 4);
    for (let k = 0; k < 9; k++) { w1[k * 16 + 1] = 0.2; w1[k * 16 + 2] = 1; }
    w1[4 * 16 + 3] = -0.5;
    set('stage1/conv/w', w1, [3, 3, 4, 4]);
    const n = 3;
    const blank: Dataset = { name: 'blank', images: new Uint8Array(n * 256), labels: new Int32Array([1, 2, 3]), n,
      height: 16, width: 16, channels: 1, numClasses: 4, flipInvariant: false };
    const patched = { ...blank, name: 'patched', images: blank.images.slice() };
    for (let i = 0; i < n; i++) for (let r = 6; r < 10; r++) for (let c = 6; c < 10; c++) patched.images[i * 256 + r * 16 + c] = 255;
    const tac = triggerActivatedChange(model, blank, patched, 2);
    // After 2×2 pooling the patch is a 2×2 block of ones; convolved with a 3×3 box it is (1 2 2 1)⊗(1 2 2 1), norm 10.
    // So ‖Δa_c‖ = 0, 0.2·10, 10, 0.5·‖block‖ = 1. Blank images give 0; patched ones √(2² + 10² + 1²), so the mean
    // norm is half of that. (Batch norm's 1/√(1 + ε) scales numerator and denominator alike.)
    const meanNorm = Math.sqrt(2 ** 2 + 10 ** 2 + 1) / 2;
    expect(Array.from(tac[0])).toEqual([0, 2, 10, 1].map((x) => expect.closeTo(x / meanNorm, 4)));
    expect(selectNeurons(tac[0], 0.5)).toEqual([2, 1]);
    expect(() => triggerActivatedChange(model, blank, subset(patched, [0, 1]))).toThrow(/pairs/);
    disposeModel(model);
  });
});

describe('BEC', () => {
  const spec = defaultSpec('cnn', [16, 16, 1], 4, { widths: [8, 16, 16] });
  let data: Dataset;
  let cleanPairs: Dataset;
  let triggered: Dataset;
  let models: Model[];
  beforeAll(() => {
    data = makeSyntheticDataset({ n: 230, seed: 1, height: 16 });
    triggered = backdoorTestSet(data, badnets(), 0);
    cleanPairs = subset(data, nonTargetIndices(data, 0));
    models = [0, 1, 2].map((s) => createModel(spec, s));
  });
  afterAll(() => models.forEach(disposeModel));

  test('the batched layer CKA equals linear CKA on the whole set of selected activations', () => {
    const selected = [[1, 5], [0, 3, 9]];
    const { perModel } = backdoorSimilarity(models[0], [models[1]], triggered, selected, { batchSize: 37 });
    const all = tf.tidy(() => {
      const x = tf.tensor4d(Float32Array.from(triggered.images, (v) => v / 255), [triggered.n, 16, 16, 1]);
      const [a, b] = [models[0], models[1]].map((m) => convActivations(m, x));
      return selected.map((ch, l) => {
        const pick = (t: tf.Tensor4D) => tf.gather(t, ch, 3).reshape([triggered.n, -1]) as tf.Tensor2D;
        return [pick(a[l]), pick(b[l])];
      });
    });
    selected.forEach((_, l) => expect(perModel[0].layers[l].cka).toBeCloseTo(linearCka(all[l][0], all[l][1]), 4));
    expect(perModel[0].similarity).toBeCloseTo((perModel[0].layers[0].cka + perModel[0].layers[1].cka) / 2, 10);
    tf.dispose(all.flat());
  });

  test('the backdoored model is 1, the clean model 0, another model in between; no tensor leaks', () => {
    const [bd, clean, other] = models;
    const before = tf.memory().numTensors;
    const ref = becReference(bd, clean, cleanPairs, triggered, { topFraction: 0.25, batchSize: 50 });
    expect(ref.layers.map((l) => l.selected.length)).toEqual([4, 4]);
    expect(ref.layers.map((l) => l.tac.length)).toEqual([16, 16]);
    const self = becOf(bd, bd, triggered, ref, { topFraction: 0.25, batchSize: 50 });
    const cleanBec = becOf(bd, clean, triggered, ref, { topFraction: 0.25, batchSize: 50 });
    const otherBec = becOf(bd, other, triggered, ref, { topFraction: 0.25, batchSize: 50 });
    expect(tf.memory().numTensors).toBe(before);
    expect(self.similarity).toBeCloseTo(1, 5);
    expect(self.bec).toBeCloseTo(1, 5);
    expect(cleanBec.similarity).toBe(ref.clean.similarity);
    expect(cleanBec.bec).toBe(0);
    expect(Number.isFinite(otherBec.bec)).toBe(true);
    expect(otherBec.similarity).toBeLessThan(1);
    expect(backdoorExistence(0.8, 0.6)).toBeCloseTo(0.5, 10);
  });

  test('the fused stem (wasm) gives the TF.js taps to float rounding', () => {
    const images = Float32Array.from(triggered.images.subarray(0, 20 * 256), (v) => v / 255);
    const gap = tf.tidy(() => {
      const fused = batchActivations([models[0]], images, 20)[0];
      const plain = convActivations(models[0], tf.tensor4d(images, [20, 16, 16, 1]));
      return fused.map((f, l) => tf.max(tf.abs(tf.sub(f, plain[l]))).dataSync()[0] / tf.max(tf.abs(plain[l])).dataSync()[0]);
    });
    for (const g of gap) expect(g).toBeLessThan(1e-5);
  });

  test('preact-resnet: the block convolutions, not the stem or the shortcuts', () => {
    const rs = defaultSpec('preact-resnet', [16, 16, 1], 4, { widths: [4, 8], depth: [1, 1] });
    expect(becLayers(rs).map((l) => l.name)).toEqual(['stage0/block0/conv1', 'stage0/block0/conv2', 'stage1/block0/conv1', 'stage1/block0/conv2']);
    const m = createModel(rs, 0);
    const acts = tf.tidy(() => convActivations(m, tf.zeros([2, 16, 16, 1]) as tf.Tensor4D).map((a) => a.shape));
    expect(acts).toEqual([[2, 16, 16, 4], [2, 16, 16, 4], [2, 8, 8, 8], [2, 8, 8, 8]]);
    // The cnn's taps are its later stages' convolutions, before batch norm.
    expect(becLayers(spec).map((l) => l.name)).toEqual(['stage1/conv', 'stage2/conv']);
    expect(tf.tidy(() => convActivations(models[0], tf.zeros([2, 16, 16, 1]) as tf.Tensor4D).map((a) => a.shape))).toEqual([[2, 8, 8, 16], [2, 4, 4, 16]]);
    disposeModel(m);
  });
});
