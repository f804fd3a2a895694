import { ep } from '../../src/defenses/ep';
import { RunResult } from '../../src/experiment/runner';
import { evaluate } from '../../src/metrics';
import { disposeModel } from '../../src/models/model';
import { defenseData, useSyntheticRuns } from './syntheticBackdoor';

const runs: Record<string, RunResult> = useSyntheticRuns();

describe('EP (Exact Purification, the oracle)', () => {
  test.each(['badnets', 'blended'])('on a synthetic %s model: ASR drops by >= 50 points, accuracy within 10', async (attack) => {
    const run = runs[attack];
    expect(run.evaluation.asr).toBeGreaterThan(0.8);
    const r = await ep.purify(run.trained.model, defenseData(run), { ...ep.defaults, seed: 0 });
    const e = evaluate(r.model, run.data.test, run.poison.backdoorTest, 0);
    expect(e.asr!).toBeLessThan(run.evaluation.asr - 0.5);
    expect(e.cleanAccuracy).toBeGreaterThan(run.evaluation.cleanAccuracy - 0.1);
    disposeModel(r.model);
  });

  test('stamps round(fraction·B) images of every batch and says so', async () => {
    const run = runs.badnets;
    const n = run.data.splits.defense.length;
    const config = { ...ep.defaults, epochs: 2, batchSize: 64, triggerFraction: 0.25, seed: 0 };
    const r = await ep.purify(run.trained.model, defenseData(run), config);
    const perEpoch = Math.floor(n / 64) * 16 + Math.round(0.25 * (n % 64));
    expect(r.report.details).toEqual({ triggeredSamples: 2 * perEpoch });
    expect(r.report.dataUsed).toMatch(/25% of every batch with the real trigger \(badnets.*\), true labels/);
    disposeModel(r.model);
  });

  test('refuses to run without the oracle trigger', async () => {
    const run = runs.badnets;
    const { oracle: _unused, ...data } = defenseData(run);
    await expect(ep.purify(run.trained.model, data, { ...ep.defaults, seed: 0 })).rejects.toThrow(/oracle/);
    await expect(ep.purify(run.trained.model, defenseData(run), { ...ep.defaults, triggerFraction: 2, seed: 0 }))
      .rejects.toThrow(/triggerFraction must be between 0 and 1 \(got 2\)/);
  });
});
