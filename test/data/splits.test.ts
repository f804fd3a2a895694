import { Dataset } from '../../src/data/dataset';
import { makeSplits, materializeSplits } from '../../src/data/splits';
import { makeSyntheticDataset } from '../../src/data/synthetic';
import { sameBytes } from './fixtures';

/** A dataset with only the fields splits look at; pixels are irrelevant here. */
function fakeTrain(n: number): Dataset {
  return {
    name: 'fake', images: new Uint8Array(n), labels: new Int32Array(n).map((_, i) => i % 10), n,
    height: 1, width: 1, channels: 1, numClasses: 10, flipInvariant: false,
  };
}

describe('makeSplits', () => {
  const train = fakeTrain(60000);

  test('sizes, sortedness, and disjoint defense / attacker pool', () => {
    const s = makeSplits(train, { seed: 1 });
    expect(s.train.length).toBe(60000);
    expect(s.train[59999]).toBe(59999);
    expect(s.defense.length).toBe(3000);
    expect(s.attackerPool.length).toBe(1000);
    for (const part of [s.defense, s.attackerPool]) {
      expect(part).toBeInstanceOf(Int32Array);
      for (let i = 1; i < part.length; i++) expect(part[i]).toBeGreaterThan(part[i - 1]);
      expect(part[0]).toBeGreaterThanOrEqual(0);
      expect(part[part.length - 1]).toBeLessThan(60000);
    }
    const defense = new Set(s.defense);
    expect(s.attackerPool.some((i) => defense.has(i))).toBe(false);
  });

  test('attacker pool by fraction, custom defense fraction', () => {
    const s = makeSplits(fakeTrain(1000), { seed: 2, defenseFraction: 0.1, attackerPoolFraction: 0.02 });
    expect([s.defense.length, s.attackerPool.length]).toEqual([100, 20]);
  });

  test('deterministic per seed; different seeds differ', () => {
    const a = makeSplits(train, { seed: 4 });
    const b = makeSplits(train, { seed: 4 });
    const c = makeSplits(train, { seed: 5 });
    expect(sameBytes(a.defense, b.defense) && sameBytes(a.attackerPool, b.attackerPool)).toBe(true);
    expect(sameBytes(a.defense, c.defense)).toBe(false);
    expect(sameBytes(a.attackerPool, c.attackerPool)).toBe(false);
  });

  test('bad fractions and sizes are clear errors', () => {
    expect(() => makeSplits(train, { seed: 1, defenseFraction: 0 })).toThrow('makeSplits: defenseFraction must be in (0, 1), got 0');
    expect(() => makeSplits(train, { seed: 1, defenseFraction: 1.5 })).toThrow('defenseFraction must be in (0, 1), got 1.5');
    expect(() => makeSplits(train, { seed: 1, defenseFraction: NaN })).toThrow('got NaN');
    expect(() => makeSplits(train, { seed: 1, attackerPoolFraction: 1 })).toThrow('attackerPoolFraction must be in (0, 1), got 1');
    expect(() => makeSplits(train, { seed: 1, attackerPoolSize: 2.5 })).toThrow('attackerPoolSize must be a positive integer, got 2.5');
    expect(() => makeSplits(train, { seed: 1, attackerPoolSize: 10, attackerPoolFraction: 0.1 })).toThrow('not both');
    expect(() => makeSplits(fakeTrain(10), { seed: 1, defenseFraction: 0.01, attackerPoolSize: 1 })).toThrow(
      'makeSplits: defenseFraction 0.01 of 10 rows of fake is no rows');
    expect(() => makeSplits(fakeTrain(500), { seed: 1 })).toThrow(
      'makeSplits: fake has 500 rows, too few for a defense split of 25 plus a disjoint attacker pool of 1000');
  });

  test('materializeSplits gives Datasets holding the selected rows', () => {
    const d = makeSyntheticDataset({ n: 200, seed: 3 });
    const s = makeSplits(d, { seed: 1, defenseFraction: 0.1, attackerPoolSize: 30 });
    const m = materializeSplits(d, s);
    expect(m.train).toBe(d);
    expect(m.defense.n).toBe(20);
    expect(m.attackerPool.n).toBe(30);
    expect(m.defense.name).toBe(`${d.name}/defense`);
    const j = s.attackerPool[3];
    expect(sameBytes(m.attackerPool.images.subarray(3 * 256, 4 * 256), d.images.subarray(j * 256, (j + 1) * 256))).toBe(true);
    expect(m.attackerPool.labels[3]).toBe(d.labels[j]);
  });
});
