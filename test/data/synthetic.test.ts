import { Dataset } from '../../src/data/dataset';
import { makeSyntheticDataset } from '../../src/data/synthetic';
import { sameBytes } from './fixtures';

/**
 * Orientation features from the image's structure tensor: (Sxx - Syy, 2 Sxy) normalised. A grating's gradients
 * all point along its wave vector, so this is a fixed nonlinear feature a CNN can easily learn to compute.
 */
function orientationFeature(d: Dataset, i: number): [number, number] {
  const { height: h, width: w } = d;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const at = (yy: number, xx: number) => d.images[(i * h + yy) * w + xx];
      const gx = at(y, x + 1) - at(y, x - 1);
      const gy = at(y + 1, x) - at(y - 1, x);
      sxx += gx * gx;
      syy += gy * gy;
      sxy += gx * gy;
    }
  }
  const norm = Math.hypot(sxx - syy, 2 * sxy) || 1;
  return [(sxx - syy) / norm, (2 * sxy) / norm];
}

/** Train a nearest-centroid classifier on `train` features, return its accuracy on `test`. */
function nearestCentroidAccuracy(train: Dataset, test: Dataset, feature: (d: Dataset, i: number) => number[]): number {
  const k = train.numClasses;
  const dim = feature(train, 0).length;
  const sums = Array.from({ length: k }, () => new Float64Array(dim));
  const counts = new Float64Array(k);
  for (let i = 0; i < train.n; i++) {
    feature(train, i).forEach((v, j) => { sums[train.labels[i]][j] += v; });
    counts[train.labels[i]]++;
  }
  const centroids = sums.map((s, c) => s.map((v) => v / counts[c]));
  let correct = 0;
  for (let i = 0; i < test.n; i++) {
    const f = feature(test, i);
    let best = 0;
    let bestDist = Infinity;
    centroids.forEach((c, ci) => {
      const dist = f.reduce((acc, v, j) => acc + (v - c[j]) ** 2, 0);
      if (dist < bestDist) { bestDist = dist; best = ci; }
    });
    if (best === test.labels[i]) correct++;
  }
  return correct / test.n;
}

const rawPixels = (d: Dataset, i: number) => Array.from(d.images.subarray(i * 256, (i + 1) * 256));

describe('synthetic gratings', () => {
  test('shape, balance and metadata', () => {
    const d = makeSyntheticDataset({ n: 100, seed: 3 });
    expect(d).toMatchObject({ n: 100, height: 16, width: 16, channels: 1, numClasses: 4, flipInvariant: false });
    expect(d.images.length).toBe(100 * 256);
    const counts = [0, 0, 0, 0];
    d.labels.forEach((y) => counts[y]++);
    expect(counts).toEqual([25, 25, 25, 25]);
    const rgb = makeSyntheticDataset({ n: 5, seed: 1, height: 12, width: 20, channels: 3, numClasses: 6 });
    expect(rgb.images.length).toBe(5 * 12 * 20 * 3);
    expect(rgb.classNames).toHaveLength(6);
  });

  test('deterministic for a seed, different across seeds', () => {
    const a = makeSyntheticDataset({ n: 50, seed: 7 });
    const b = makeSyntheticDataset({ n: 50, seed: 7 });
    const c = makeSyntheticDataset({ n: 50, seed: 8 });
    expect(sameBytes(a.images, b.images) && sameBytes(a.labels, b.labels)).toBe(true);
    expect(sameBytes(a.images, c.images)).toBe(false);
  });

  test('learnable from orientation features, but not from raw pixel templates', () => {
    const train = makeSyntheticDataset({ n: 400, seed: 1 });
    const test = makeSyntheticDataset({ n: 400, seed: 2 });
    expect(nearestCentroidAccuracy(train, test, orientationFeature)).toBeGreaterThan(0.9);
    // Random phase flips the sign of every pixel, so per-class mean images are flat: near chance (0.25).
    expect(nearestCentroidAccuracy(train, test, rawPixels)).toBeLessThan(0.45);
  });

  test('the bottom-right corner is mid-grey noise, so a white patch there stands out', () => {
    const d = makeSyntheticDataset({ n: 200, seed: 5 });
    let sum = 0;
    let white = 0;
    let count = 0;
    for (let i = 0; i < d.n; i++) {
      for (let y = 12; y < 16; y++) {
        for (let x = 12; x < 16; x++) {
          const v = d.images[(i * 16 + y) * 16 + x];
          sum += v;
          if (v === 255) white++;
          count++;
        }
      }
    }
    expect(sum / count).toBeGreaterThan(80);
    expect(sum / count).toBeLessThan(170);
    expect(white / count).toBeLessThan(0.01);
  });

  test('bad options are clear errors', () => {
    expect(() => makeSyntheticDataset({ n: 0, seed: 1 })).toThrow('makeSyntheticDataset: n must be a positive integer, got 0');
    expect(() => makeSyntheticDataset({ n: 4, seed: 1, height: 4 })).toThrow('height must be an integer >= 8, got 4');
    expect(() => makeSyntheticDataset({ n: 4, seed: 1, numClasses: 1 })).toThrow('numClasses must be an integer in 2..12');
    expect(() => makeSyntheticDataset({ n: 4, seed: 1, noise: -1 })).toThrow('noise must be in [0, 1], got -1');
  });
});
