import * as fs from 'fs';
import { pam } from '../../src/defenses/pam';
import { initEngine } from '../../src/engine/backend';
import { RunResult } from '../../src/experiment/runner';
import { evaluate } from '../../src/metrics';
import { disposeModel } from '../../src/models/model';
import * as W from '../../src/models/weights';
import { defenseData, syntheticExperiment, tempRunsDir } from './syntheticBackdoor';

const runsDir = tempRunsDir();
let run: RunResult;

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
  run = await syntheticExperiment(runsDir, 'badnets').run();
});
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

const small = { generatorFilters: 8, batchSize: 32, rounds: 2, unlearnEpochs: 4, pamLr: 0.05 };

test('PAM on a synthetic backdoored model: ASR drops by >= 50 points, accuracy within 10, input untouched', async () => {
  const before = W.clone(run.trained.model.params);
  const r = await pam.purify(run.trained.model, defenseData(run), { ...pam.defaults, ...small, seed: 0 });
  const e = evaluate(r.model, run.data.test, run.poison.backdoorTest, 0);
  expect(e.asr!).toBeLessThan(run.evaluation.asr - 0.5);
  expect(e.cleanAccuracy).toBeGreaterThan(run.evaluation.cleanAccuracy - 0.1);
  expect(W.distance(run.trained.model.params, before)).toBe(0);
  expect((r.report.details as { rho: number }).rho).toBe(0.5);
  W.dispose(before);
  disposeModel(r.model);
});

test('ρ = 0 runs the same pipeline without the path-aware shift and gives a different model', async () => {
  const a = await pam.purify(run.trained.model, defenseData(run), { ...pam.defaults, ...small, rounds: 1, unlearnEpochs: 1, seed: 0 });
  const b = await pam.purify(run.trained.model, defenseData(run), { ...pam.defaults, ...small, rounds: 1, unlearnEpochs: 1, rho: 0, seed: 0 });
  expect(W.distance(a.model.params, b.model.params)).toBeGreaterThan(0);
  disposeModel(a.model);
  disposeModel(b.model);
  await expect(pam.purify(run.trained.model, defenseData(run), { ...pam.defaults, rho: -1, seed: 0 })).rejects.toThrow(/rho/);
});
