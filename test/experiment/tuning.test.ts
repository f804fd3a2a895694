import { gridPoints, selectPoint, TUNING_SEED, TUNING_SETTINGS, TuningPoint } from '../../src/experiment/tuning';
import { sweepStudies, readSweep } from '../../src/experiment/sweep';
import * as path from 'path';

const point = (overrides: Record<string, unknown>, purified: number, meanAsr: number, meanCleanAccuracy: number): TuningPoint =>
  ({ overrides, cells: [], purified, meanAsr, meanCleanAccuracy });

describe('the tuning protocol', () => {
  test('grid points are every combination, in the grid\'s order; an empty list is refused', () => {
    expect(gridPoints({ a: [1, 2], b: ['x', 'y'] })).toEqual([{ a: 1, b: 'x' }, { a: 1, b: 'y' }, { a: 2, b: 'x' }, { a: 2, b: 'y' }]);
    expect(gridPoints({})).toEqual([{}]);
    expect(() => gridPoints({ a: [] })).toThrow(/grid field "a" must be a non-empty array/);
  });

  test('the rule: most tuning models purified, then the lowest mean O-ASR, then the highest mean C-Acc', () => {
    expect(selectPoint([point({ a: 1 }, 2, 0.05, 0.9), point({ a: 2 }, 3, 0.09, 0.85), point({ a: 3 }, 3, 0.08, 0.80)])).toBe(2);
    expect(selectPoint([point({ a: 1 }, 1, 0.2, 0.88), point({ a: 2 }, 1, 0.2, 0.89)])).toBe(1);
    expect(selectPoint([point({ a: 1 }, 0, 0.5, 0.9)])).toBe(0);
  });

  test('tuning models are never reported: no seed or target of the tuning set appears in the study defaults or the claim-4 sweep', () => {
    const sweep = readSweep(path.join(__dirname, '..', '..', 'sweeps', 'claim4.json'));
    const studies = sweepStudies(sweep, { runsDir: 'runs', quick: false });
    for (const s of studies) {
      expect(s.seeds).not.toContain(TUNING_SEED);
      const target = s.setting?.target ?? 0;
      expect(TUNING_SETTINGS.map((t) => t.target)).not.toContain(target);
    }
  });
});
