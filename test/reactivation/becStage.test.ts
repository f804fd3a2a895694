import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initEngine } from '../../src/engine/backend';
import { bec, becCell } from '../../src/experiment/becStage';
import { Experiment } from '../../src/experiment/runner';

const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-bec-'));
const exp = () => new Experiment({
  dataset: 'synthetic', runsDir, model: { widths: [8, 16] },
  attack: { name: 'badnets', poisonRate: 0.1 }, train: { epochs: 4, batchSize: 32 },
}, { log: () => undefined, progress: 'silent' });

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
});
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

test('bec stages: the backdoored model is 1 and the clean model 0; cached, keyed by subject; no tensor leak', async () => {
  await exp().run(); // the model itself is cached first, so the tensor count below covers only the stages
  const before = tf.memory().numTensors;
  const self = await bec(exp(), 'backdoored');
  expect(self.cached).toBe(false);
  expect(self.reference.cached).toBe(false);
  expect(self.bec).toBeCloseTo(1, 5);
  const clean = await bec(exp(), 'clean');
  expect(clean.reference.cached).toBe(true);
  expect(clean.bec).toBe(0);
  expect(clean.referenceKey).toBe(self.referenceKey);
  expect(clean.key).not.toBe(self.key);
  const again = await bec(exp(), 'clean');
  expect(again.cached).toBe(true);
  expect(again).toMatchObject({ bec: clean.bec, similarity: clean.similarity, layers: clean.layers });
  // Another neuron share is another reference and another result.
  const wider = await bec(exp(), 'clean', { topFraction: 0.5 });
  expect(wider.referenceKey).not.toBe(self.referenceKey);
  expect(tf.memory().numTensors).toBe(before);
  await expect(bec(new Experiment({ dataset: 'synthetic', runsDir, attack: { name: 'none' } }), 'clean')).rejects.toThrow(/attack "none"/);
});

test('a study cell measures a purified model and the same model after the retuning attack', async () => {
  const cell = await becCell(exp(), 'FT', true, { progress: 'silent' });
  expect(cell.kind).toBe('bec');
  expect(cell.retuned).not.toBeNull();
  expect(cell.layers.map((l) => l.layer)).toEqual(['stage1/conv']);
  expect(Number.isFinite(cell.bec) && Number.isFinite(cell.retuned!.bec)).toBe(true);
  const retuned = await bec(exp(), 'FT', {}, { retuned: true });
  expect(retuned.cached).toBe(true);
  expect(retuned.bec).toBe(cell.retuned!.bec);
  expect((await becCell(exp(), 'FT', false, { progress: 'silent' })).retuned).toBeNull();
});
