import { labelsTensor, toTensor } from '../../src/data/batches';
import { makeSyntheticDataset } from '../../src/data/synthetic';

describe('batch tensors', () => {
  const d = makeSyntheticDataset({ n: 10, seed: 1, height: 8, width: 9, channels: 3 });

  test('toTensor: float32 NHWC in [0, 1] holding the selected rows', () => {
    const t = toTensor(d, [4, 0, 4]);
    expect(t.shape).toEqual([3, 8, 9, 3]);
    expect(t.dtype).toBe('float32');
    const v = t.dataSync();
    const size = 8 * 9 * 3;
    for (const [row, src] of [[0, 4], [1, 0], [2, 4]]) {
      for (const k of [0, 17, size - 1]) expect(v[row * size + k]).toBeCloseTo(d.images[src * size + k] / 255, 6);
    }
    expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...v)).toBeLessThanOrEqual(1);
    t.dispose();
  });

  test('labelsTensor: int32 labels of the selected rows', () => {
    const t = labelsTensor(d, Int32Array.from([9, 2]));
    expect(t.dtype).toBe('int32');
    expect(Array.from(t.dataSync())).toEqual([d.labels[9], d.labels[2]]);
    t.dispose();
  });

  test('out-of-range indices are clear errors', () => {
    expect(() => toTensor(d, [10])).toThrow(`${d.name}: index 10 out of range (n=10)`);
    expect(() => labelsTensor(d, [-1])).toThrow('index -1 out of range');
    expect(() => toTensor(d, [1.5])).toThrow('index 1.5 out of range');
  });

  test('an empty selection gives an empty batch', () => {
    const t = toTensor(d, []);
    expect(t.shape).toEqual([0, 8, 9, 3]);
    t.dispose();
  });
});
