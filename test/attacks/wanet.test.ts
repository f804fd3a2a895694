import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { bicubicUpsample, gridSample } from '../../src/attacks/gridSample';
import { applyTrigger } from '../../src/attacks/trigger';
import { poisonWanet, wanet, wanetGrid, warpInPlace } from '../../src/attacks/wanet';
import { Dataset, imageSize } from '../../src/data/dataset';
import { initEngine } from '../../src/engine/backend';
import { Experiment } from '../../src/experiment/runner';

beforeAll(async () => { await initEngine({ quiet: true }); });

function sample(img: number[], h: number, w: number, grid: number[]): number[] {
  const t = gridSample(tf.tensor4d(img, [1, h, w, 1]), tf.tensor4d(grid, [1, grid.length / 2, 1, 2]));
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
}

/** Plain-JS bilinear grid_sample (align_corners=True, zeros padding) for one channel. */
function reference(img: number[], h: number, w: number, gx: number, gy: number): number {
  const px = ((gx + 1) / 2) * (w - 1);
  const py = ((gy + 1) / 2) * (h - 1);
  const x0 = Math.floor(px);
  const y0 = Math.floor(py);
  let v = 0;
  for (const [x, y] of [[x0, y0], [x0 + 1, y0], [x0, y0 + 1], [x0 + 1, y0 + 1]]) {
    if (x < 0 || x >= w || y < 0 || y >= h) continue;
    v += img[y * w + x] * (1 - Math.abs(px - x)) * (1 - Math.abs(py - y));
  }
  return v;
}

function identityGrid(h: number, w: number): Float32Array {
  const g = new Float32Array(h * w * 2);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      g[2 * (i * w + j)] = -1 + (2 * j) / (w - 1);
      g[2 * (i * w + j) + 1] = -1 + (2 * i) / (h - 1);
    }
  }
  return g;
}

describe('bilinear grid sampling (TF.js ops)', () => {
  test('hand-computed values on a 2x2 image, zero padding outside', () => {
    const img = [0, 10, 20, 30];
    const out = sample(img, 2, 2, [0, 0, -1, 1, 0.5, -1, 1, 1, -1, -1, 2, -1]);
    // centre = mean; (−1, 1) = bottom-left; (0.5, −1) = 0.25·0 + 0.75·10; corners; x = 2 is half a pixel
    // beyond the last column: half of 10 plus half of nothing.
    expect(out.map((v) => Math.round(v * 1e4) / 1e4)).toEqual([15, 20, 7.5, 30, 0, 5]);
  });

  test('matches a plain-JS bilinear interpolation at arbitrary points', () => {
    const h = 3;
    const w = 4;
    const img = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8];
    const pts = [-0.3, 0.7, 0.9, -0.95, 0.12, 0.33, -1, 0.5, 0.999, 0.999];
    const out = sample(img, h, w, pts);
    for (let k = 0; k < pts.length / 2; k++) expect(out[k]).toBeCloseTo(reference(img, h, w, pts[2 * k], pts[2 * k + 1]), 4);
  });

  test('identity grid = identity, on several channels and images', () => {
    const n = 3;
    const h = 5;
    const w = 7;
    const c = 2;
    const images = Uint8Array.from({ length: n * h * w * c }, (_, i) => (i * 37) % 256);
    const copy = images.slice();
    warpInPlace(images, n, h, w, c, identityGrid(h, w));
    expect(Array.from(images)).toEqual(Array.from(copy));
  });

  test('one grid per image warps each image with its own grid', () => {
    const img = Uint8Array.from([0, 100, 200, 50, 150, 250, 10, 20, 30]);
    const two = new Uint8Array(18);
    two.set(img, 0);
    two.set(img, 9);
    const shifted = identityGrid(3, 3).map((v, i) => (i % 2 === 0 ? Math.min(1, v + 1) : v)); // one column right
    const grids = new Float32Array(36);
    grids.set(identityGrid(3, 3), 0);
    grids.set(shifted, 18);
    warpInPlace(two, 2, 3, 3, 1, grids);
    expect(Array.from(two.subarray(0, 9))).toEqual(Array.from(img));
    expect(Array.from(two.subarray(9))).toEqual([100, 200, 200, 150, 250, 250, 20, 30, 30]);
  });
});

describe('bicubic upsampling (align_corners=True)', () => {
  test('constant stays constant, corners are kept, linear fields stay linear', () => {
    const c = bicubicUpsample(new Float64Array(16).fill(2.5), 4, 4, 9, 9);
    c.forEach((v) => expect(v).toBeCloseTo(2.5, 12));
    const field = Float64Array.from([0, 1, 2, 3]);
    const up = bicubicUpsample(field, 2, 2, 3, 3);
    expect(Array.from(up).map((v) => Math.round(v * 1e9) / 1e9)).toEqual([0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3]);
    const r = bicubicUpsample(Float64Array.from({ length: 16 }, (_, i) => Math.sin(i)), 4, 4, 28, 28);
    expect(r[0]).toBeCloseTo(Math.sin(0), 12);
    expect(r[27]).toBeCloseTo(Math.sin(3), 12);
    expect(r[28 * 28 - 1]).toBeCloseTo(Math.sin(15), 12);
  });

  test('the cubic-convolution kernel (A = −0.75) between samples', () => {
    // 1-D [0, 0, 1, 0] at t = 0.5 between the 2nd and 3rd sample: weights (−0.09375, 0.59375, 0.59375, −0.09375).
    const up = bicubicUpsample(Float64Array.from([0, 0, 1, 0]), 1, 4, 1, 7);
    expect(up[3]).toBeCloseTo(0.59375, 12);
    expect(up[5]).toBeCloseTo(0.59375, 12);
    expect(up[1]).toBeCloseTo(-0.09375, 12);
  });
});

describe('WaNet warp and poisoning', () => {
  test('the grid is seeded, inside [−1, 1], and a small smooth displacement of the identity', () => {
    const g = wanetGrid(28, 28, { seed: 1 });
    expect(Array.from(g)).toEqual(Array.from(wanetGrid(28, 28, { seed: 1 })));
    expect(Array.from(g)).not.toEqual(Array.from(wanetGrid(28, 28, { seed: 2 })));
    const id = identityGrid(28, 28);
    let maxShift = 0;
    let meanShift = 0;
    g.forEach((v, i) => {
      expect(Math.abs(v)).toBeLessThanOrEqual(1);
      maxShift = Math.max(maxShift, Math.abs(v - id[i]));
      meanShift += Math.abs(v - id[i]) / g.length;
    });
    // s·field/H with |field| around 1 on average: about 0.5/28 in grid units, i.e. a quarter pixel.
    expect(meanShift).toBeGreaterThan(0.005);
    expect(maxShift).toBeLessThan(0.2);
    // Stronger s and a larger grid_rescale move pixels further.
    const strong = wanetGrid(28, 28, { seed: 1, s: 4 });
    expect(strong.reduce((a, v, i) => a + Math.abs(v - id[i]), 0)).toBeGreaterThan(4 * meanShift * g.length);
  });

  test('the trigger warps images (single and batched paths agree) and changes them', () => {
    const d: Dataset = {
      name: 'rand', n: 4, height: 12, width: 12, channels: 1, numClasses: 2, flipInvariant: false,
      images: Uint8Array.from({ length: 4 * 144 }, (_, i) => (i * 97 + (i >> 3) * 13) % 256), labels: new Int32Array(4),
    };
    const t = wanet({ seed: 3, s: 2 });
    const batched = applyTrigger(d, t);
    const single = applyTrigger(d, { name: t.name, stamp: t.stamp });
    expect(Array.from(batched.images)).toEqual(Array.from(single.images));
    expect(batched.images.some((v, i) => v !== d.images[i])).toBe(true);
  });

  test('poisonWanet: round(rate·N) relabelled warped samples, floor(cross_ratio·count) noise-mode samples with true labels', () => {
    const n = 200;
    const d: Dataset = {
      name: 'rand', n, height: 10, width: 10, channels: 1, numClasses: 4, flipInvariant: false,
      images: Uint8Array.from({ length: n * 100 }, (_, i) => (i * 131 + (i >> 4) * 7) % 256),
      labels: Int32Array.from({ length: n }, (_, i) => i % 4),
    };
    const warp = { seed: 5, s: 2 };
    const p = poisonWanet(d, { rate: 0.1, target: 3, seed: 0, crossRatio: 2, warp });
    expect(p.poisonedIndices.length).toBe(20);
    expect(p.crossIndices!.length).toBe(40);
    const bd = new Set(p.poisonedIndices);
    const cross = new Set(p.crossIndices);
    for (const i of cross) expect(bd.has(i)).toBe(false);
    const warped = applyTrigger(d, wanet(warp));
    const size = imageSize(d);
    const row = (x: Uint8Array, i: number) => Array.from(x.subarray(i * size, (i + 1) * size));
    let crossDiffersFromPlainWarp = 0;
    for (let i = 0; i < n; i++) {
      if (bd.has(i)) {
        expect(p.dataset.labels[i]).toBe(3);
        expect(row(p.dataset.images, i)).toEqual(row(warped.images, i));
      } else {
        expect(p.dataset.labels[i]).toBe(d.labels[i]);
        if (cross.has(i)) {
          expect(row(p.dataset.images, i)).not.toEqual(row(d.images, i));
          if (row(p.dataset.images, i).join() !== row(warped.images, i).join()) crossDiffersFromPlainWarp++;
        } else {
          expect(row(p.dataset.images, i)).toEqual(row(d.images, i));
        }
      }
    }
    expect(crossDiffersFromPlainWarp).toBe(40);
  });
});

describe('WaNet through the experiment', () => {
  let runsDir: string;
  beforeAll(() => { runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-wanet-')); });
  afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  test('run() poisons with dirty labels plus noise-mode samples, trains, and reloads from the cache', async () => {
    const cfg = {
      dataset: 'synthetic' as const, runsDir,
      model: { arch: 'cnn' as const, widths: [8, 16] },
      attack: { name: 'wanet' as const, poisonRate: 0.1, target: 2 },
      train: { epochs: 1, batchSize: 64 },
    };
    const exp = new Experiment(cfg, { log: () => undefined, progress: 'silent' });
    expect(exp.config.attack.wanet).toEqual({ k: 4, s: 0.5, gridRescale: 1, crossRatio: 2 });
    const r = await exp.run();
    const train = r.data.train;
    expect(r.poison.poisonedIndices.length).toBe(Math.round(0.1 * train.n));
    expect(r.poison.crossIndices!.length).toBe(2 * r.poison.poisonedIndices.length);
    const bd = new Set(r.poison.poisonedIndices);
    for (let i = 0; i < train.n; i++) expect(r.poison.train.labels[i]).toBe(bd.has(i) ? 2 : train.labels[i]);
    expect(r.poison.backdoorTest!.n).toBe(Array.from(r.data.test.labels).filter((y) => y !== 2).length);
    expect(Number.isFinite(r.evaluation.asr)).toBe(true);
    const again = await new Experiment(cfg, { log: () => undefined, progress: 'silent' }).run();
    expect(again.trained.cached).toBe(true);
    expect(again.keys).toEqual(r.keys);
    expect(Array.from(again.poison.crossIndices!)).toEqual(Array.from(r.poison.crossIndices!));
  });
});
