import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { badnets } from '../../src/attacks/badnets';
import { blended, noisePattern } from '../../src/attacks/blended';
import { encodePng } from '../../src/data/imageFile';
import { backdoorTestSet, poisonDirtyLabel } from '../../src/attacks/poison';
import { applyTrigger } from '../../src/attacks/trigger';
import { Dataset } from '../../src/data/dataset';

function constantDataset(n: number, h: number, w: number, c: number, value: number, numClasses = 4): Dataset {
  const labels = Int32Array.from({ length: n }, (_, i) => i % numClasses);
  return { name: 'const', images: new Uint8Array(n * h * w * c).fill(value), labels, n, height: h, width: w, channels: c, numClasses, flipInvariant: true };
}

describe('BadNets', () => {
  test('3x3 white patch in the bottom-right corner, nothing else changed', () => {
    const d = constantDataset(1, 6, 5, 1, 10);
    const t = applyTrigger(d, badnets());
    const img = Array.from(t.images);
    for (let y = 0; y < 6; y++) {
      for (let x = 0; x < 5; x++) expect(img[y * 5 + x]).toBe(y >= 3 && x >= 2 ? 255 : 10);
    }
    expect(Array.from(d.images).every((v) => v === 10)).toBe(true); // the input is not modified
  });

  test('size, corner, margin and every channel are honoured', () => {
    const d = constantDataset(1, 5, 5, 3, 0);
    const t = applyTrigger(d, badnets({ size: 2, position: 'top-left', margin: 1, value: 200 }));
    for (let y = 0; y < 5; y++) {
      for (let x = 0; x < 5; x++) {
        for (let c = 0; c < 3; c++) {
          expect(t.images[(y * 5 + x) * 3 + c]).toBe(y >= 1 && y < 3 && x >= 1 && x < 3 ? 200 : 0);
        }
      }
    }
  });

  test('bad options are refused clearly', () => {
    expect(() => badnets({ size: 0 })).toThrow(/patch size/);
    expect(() => applyTrigger(constantDataset(1, 4, 4, 1, 0), badnets({ size: 5 }))).toThrow(/does not fit/);
  });
});

describe('Blended', () => {
  test('x\' = round(0.8 x + 0.2 T), pixel-exact against the seeded pattern', () => {
    const d = constantDataset(2, 4, 4, 1, 100);
    const t = applyTrigger(d, blended({ alpha: 0.2, patternSeed: 3 }));
    const p = noisePattern(4, 4, 1, 3);
    for (let i = 0; i < 16; i++) {
      expect(t.images[i]).toBe(Math.round(0.8 * 100 + 0.2 * p[i]));
      expect(t.images[16 + i]).toBe(t.images[i]);
    }
  });

  test('the pattern is fixed by its seed', () => {
    expect(Array.from(noisePattern(3, 3, 1, 7))).toEqual(Array.from(noisePattern(3, 3, 1, 7)));
    expect(Array.from(noisePattern(3, 3, 1, 7))).not.toEqual(Array.from(noisePattern(3, 3, 1, 8)));
  });

  test('a user PNG is resized and converted to the dataset\'s channels', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ss-blend-')), 'p.png');
    // 2x2 RGB: pure white; gray conversion gives 255 everywhere.
    fs.writeFileSync(file, encodePng({ width: 2, height: 2, channels: 3, pixels: new Uint8Array(12).fill(255) }));
    const t = applyTrigger(constantDataset(1, 4, 4, 1, 0), blended({ alpha: 0.5, patternFile: file }));
    expect(Array.from(t.images)).toEqual(new Array(16).fill(128));
  });

  test('alpha outside (0, 1] is refused', () => {
    expect(() => blended({ alpha: 0 })).toThrow(/alpha/);
    expect(() => blended({ alpha: 1.5 })).toThrow(/alpha/);
  });
});

describe('dirty-label poisoning', () => {
  const d = constantDataset(200, 4, 4, 1, 0);

  test('round(rate·N) indices from all classes, stamped and relabelled to the target', () => {
    const p = poisonDirtyLabel(d, badnets({ size: 1 }), { rate: 0.05, target: 2, seed: 0 });
    expect(p.poisonedIndices.length).toBe(10);
    const poisoned = new Set(p.poisonedIndices);
    const classes = new Set(Array.from(p.poisonedIndices, (i) => d.labels[i]));
    expect(classes.size).toBeGreaterThan(1);
    for (let i = 0; i < d.n; i++) {
      const corner = p.dataset.images[i * 16 + 15];
      if (poisoned.has(i)) {
        expect(p.dataset.labels[i]).toBe(2);
        expect(corner).toBe(255);
      } else {
        expect(p.dataset.labels[i]).toBe(d.labels[i]);
        expect(corner).toBe(0);
      }
    }
  });

  test('seeded: same seed same indices, other seed other indices', () => {
    const a = poisonDirtyLabel(d, badnets(), { rate: 0.1, target: 0, seed: 1 }).poisonedIndices;
    const b = poisonDirtyLabel(d, badnets(), { rate: 0.1, target: 0, seed: 1 }).poisonedIndices;
    const c = poisonDirtyLabel(d, badnets(), { rate: 0.1, target: 0, seed: 2 }).poisonedIndices;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  test('the backdoor test set holds only non-target images, all triggered, true labels kept', () => {
    const bt = backdoorTestSet(d, badnets({ size: 1 }), 1);
    expect(bt.n).toBe(150);
    for (let i = 0; i < bt.n; i++) {
      expect(bt.labels[i]).not.toBe(1);
      expect(bt.images[i * 16 + 15]).toBe(255);
    }
  });

  test('bad rates and targets are refused', () => {
    expect(() => poisonDirtyLabel(d, badnets(), { rate: 1.5, target: 0, seed: 0 })).toThrow(/poison rate/);
    expect(() => poisonDirtyLabel(d, badnets(), { rate: 0.1, target: 4, seed: 0 })).toThrow(/target 4/);
  });
});
