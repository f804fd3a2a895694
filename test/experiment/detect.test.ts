import * as fs from 'fs';
import { initEngine } from '../../src/engine/backend';
import { detectTarget } from '../../src/experiment/detect';
import { Experiment } from '../../src/experiment/runner';
import { tempRunsDir } from '../defenses/syntheticBackdoor';

const quick = { batchSize: 32, generatorFilters: 4, pretrainEpochs: 1, maskEpochs: 2, generatorEpochs: 1 };

function experiment(runsDir: string, attack: 'badnets' | 'none', target = 1): Experiment {
  return new Experiment({
    dataset: 'synthetic', runsDir, model: { arch: 'cnn', widths: [8, 16] },
    attack: { name: attack, poisonRate: 0.1, target }, train: { epochs: 3, batchSize: 32, lr: 0.05 },
    split: { defenseFraction: 0.2, attackerPoolSize: 100 },
  }, { log: () => undefined, progress: 'silent' });
}

describe('the bti-detect stage', () => {
  const runsDir = tempRunsDir();
  beforeAll(async () => { await initEngine({ backend: 'wasm', quiet: true }); });
  afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  test('grades the detection against the real target, scores the real trigger, and is cached', async () => {
    const exp = experiment(runsDir, 'badnets', 1);
    const a = await detectTarget(exp, { config: quick, log: () => undefined });
    expect(a.cached).toBe(false);
    expect(a.target).toBe(1);
    expect(a.correct).toBe(a.detected === 1);
    expect(a.counts.all.reduce((x, y) => x + y, 0)).toBe(400);
    // The synthetic patch is a few white pixels: a small, non-zero pixel change; every score finite.
    expect(a.trigger!.pixelMse).toBeGreaterThan(0);
    for (const v of [a.trigger!.benign, a.trigger!.backdoor, a.generator!.benign, a.generator!.backdoor]) expect(Number.isFinite(v)).toBe(true);
    const b = await detectTarget(exp, { config: quick, log: () => undefined });
    expect(b.cached).toBe(true);
    expect(b.key).toBe(a.key);
    expect(b.detected).toBe(a.detected);
    // The unlearning's settings do not enter the key; the reversal's do.
    expect((await detectTarget(exp, { config: { ...quick, unlearnEpochs: 9, targetGiven: true }, log: () => undefined })).key).toBe(a.key);
    expect((await detectTarget(exp, { config: { ...quick, benignBound: 1 }, log: () => undefined })).key).not.toBe(a.key);
  });

  test('on a clean model any detection is a false alarm: no target, no grade, no trigger score', async () => {
    const r = await detectTarget(experiment(runsDir, 'none'), { config: quick, log: () => undefined });
    expect(r.target).toBeNull();
    expect(r.correct).toBeNull();
    expect(r.trigger).toBeUndefined();
  });

  test('the per-class scan (the default rule) finds the target of a synthetic backdoor for every target class', async () => {
    const found: number[] = [];
    for (const target of [0, 1, 2, 3]) {
      const r = await detectTarget(experiment(runsDir, 'badnets', target), { config: { ...quick, targetRule: 'scan' }, log: () => undefined });
      expect(r.scan!.classes.map((c) => c.target)).toEqual([0, 1, 2, 3]);
      expect(r.detected).toBe(r.scan!.detected);
      // The trigger the scan learns for the real target is the smallest of the four.
      const smallest = r.scan!.classes.reduce((b, c) => (c.maskL1 < b.maskL1 ? c : b));
      expect(smallest.target).toBe(target);
      found.push(r.detected);
    }
    expect(found).toEqual([0, 1, 2, 3]);
  }, 600000);

  test('refuses a bad reversal setting, naming it', async () => {
    await expect(detectTarget(experiment(runsDir, 'badnets'), { config: { benignBound: -1 }, log: () => undefined })).rejects.toThrow(/benignBound/);
    await expect(detectTarget(experiment(runsDir, 'badnets'), { config: { targetRule: 'oracle' }, log: () => undefined })).rejects.toThrow(/targetRule/);
  });
});
