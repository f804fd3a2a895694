import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initEngine } from '../../src/engine/backend';
import { evaluatePoint, interpolateModel, linearPath, recomputeBatchNorm, summarise } from '../../src/analysis/lmc';
import { subset } from '../../src/data/dataset';
import { evaluate } from '../../src/metrics';
import * as W from '../../src/models/weights';
import { Experiment, RunResult } from '../../src/experiment/runner';

const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-lmc-'));
const cfg = (attack: 'badnets' | 'none') => ({
  dataset: 'synthetic' as const, runsDir, model: { widths: [8, 16] },
  attack: { name: attack, poisonRate: 0.1 }, train: { epochs: 4, batchSize: 32 },
});
let bd: RunResult;
let clean: RunResult;

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
  const log = () => undefined;
  bd = await new Experiment(cfg('badnets'), { log, progress: 'silent' }).run();
  clean = await new Experiment(cfg('none'), { log, progress: 'silent' }).run();
});
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

test('t = 0 and t = 1 reproduce the endpoint metrics exactly', () => {
  const { test, } = bd.data;
  const backdoorTest = bd.poison.backdoorTest!;
  const before = tf.memory().numTensors;
  const path01 = linearPath(clean.trained.model, bd.trained.model, test, backdoorTest, 0, { ts: [0, 1] });
  expect(tf.memory().numTensors).toBe(before);
  const ea = evaluate(clean.trained.model, test, backdoorTest, 0);
  const eb = evaluate(bd.trained.model, test, backdoorTest, 0);
  expect(path01.points[0].cleanAccuracy).toBe(ea.cleanAccuracy);
  expect(path01.points[0].asr).toBe(ea.asr);
  expect(path01.points[1].cleanAccuracy).toBe(eb.cleanAccuracy);
  expect(path01.points[1].asr).toBe(eb.asr);
  expect(path01.points[1].asr).toBeGreaterThan(path01.points[0].asr);
  expect(path01.summary.distance).toBeCloseTo(W.distance(clean.trained.model.params, bd.trained.model.params), 5);
});

test('the BN-recompute option changes only the statistics', () => {
  const a = clean.trained.model;
  const b = bd.trained.model;
  const interp = interpolateModel(a, b, 0.4, 'interpolate');
  const recomputed = interpolateModel(a, b, 0.4, 'recompute');
  recomputeBatchNorm(recomputed, subset(bd.data.train, bd.data.splits.defense));
  expect(W.distance(interp.params, recomputed.params)).toBe(0);
  expect(W.distance(interp.state, recomputed.state)).toBeGreaterThan(0);
  expect(Object.keys(recomputed.state).sort()).toEqual(Object.keys(interp.state).sort());
  const point = evaluatePoint(recomputed, bd.data.test, bd.poison.backdoorTest!, 0, 0.4);
  expect(point.cleanAccuracy).toBeGreaterThan(0.25);
  expect(() => linearPath(a, b, bd.data.test, bd.poison.backdoorTest!, 0, { batchNorm: 'recompute' })).toThrow(/statsData/);
});

test('summaries: first t above 50% ASR and the backdoor-error area', () => {
  const pts = [0, 0.5, 1].map((t, i) => ({ t, asr: [0, 0.6, 1][i], cleanAccuracy: 1, cleanLoss: 0, backdoorLoss: 0 }));
  const s = summarise(pts, 3);
  expect(s.tAsrAbove50).toBe(0.5);
  // trapezoids of 1 − ASR: 0.5·(1 + 0.4)/2 + 0.5·(0.4 + 0)/2
  expect(s.backdoorErrorArea).toBeCloseTo(0.45, 10);
  expect(summarise(pts.map((p) => ({ ...p, asr: 0.1 })), 0).tAsrAbove50).toBeNull();
});
