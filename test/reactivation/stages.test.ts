import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initEngine } from '../../src/engine/backend';
import { Experiment } from '../../src/experiment/runner';
import { lmc, qra, qraTransfer, qraTransferMatrix, retune } from '../../src/experiment/stages';

const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-stages-'));
const exp = () => new Experiment({
  dataset: 'synthetic', runsDir, model: { widths: [8, 16] },
  attack: { name: 'badnets', poisonRate: 0.1 }, train: { epochs: 4, batchSize: 32 },
}, { log: () => undefined, progress: 'silent' });

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
});
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

test('retune and lmc stages are cached and keyed by their subject', async () => {
  const ra = await retune(exp(), 'clean', { epochs: 2, setSize: 300 });
  expect(ra.cached).toBe(false);
  expect(ra.history.map((h) => h.epoch)).toEqual([0, 1, 2]);
  const again = await retune(exp(), 'clean', { epochs: 2, setSize: 300 });
  expect(again.cached).toBe(true);
  expect(again.history).toEqual(ra.history);
  const other = await retune(exp(), 'backdoored', { epochs: 2, setSize: 300 });
  expect(other.key).not.toBe(ra.key);

  const path1 = await lmc(exp(), 'clean', { ts: [0, 0.5, 1] });
  expect(path1.points.map((p) => p.t)).toEqual([0, 0.5, 1]);
  expect(path1.points[2].asr).toBeGreaterThan(0.9); // t = 1 is the backdoored model
  expect((await lmc(exp(), 'clean', { ts: [0, 0.5, 1] })).cached).toBe(true);
  const toRetuned = await lmc(exp(), 'clean', { ts: [0, 1], endpoint: 'retuned', batchNorm: 'recompute' },
    { retuning: { epochs: 2, setSize: 300 } });
  expect(toRetuned.key).not.toBe(path1.key);
  await expect(retune(new Experiment({ dataset: 'synthetic', runsDir, attack: { name: 'none' } }), 'clean')).rejects.toThrow(/attack "none"/);
});

test('the qra stage trains against a subject, evaluates three models, and is cached', async () => {
  const cfg = { hidden: 32, layers: 1, epochs: 2, cleanCount: 100, poisonedCount: 100 };
  const r = await qra(exp(), 'backdoored', cfg, { retuning: { epochs: 1, setSize: 300 } });
  expect(Object.keys(r.evaluation.asrPerturbed).sort()).toEqual(['backdoored', 'clean', 'purified']);
  expect(r.evaluation.asrTriggerOnly.backdoored).toBeGreaterThan(0.9);
  expect(r.queries).toBe(2 * 200);
  const again = await qra(exp(), 'backdoored', cfg, { retuning: { epochs: 1, setSize: 300 } });
  expect(again.cached).toBe(true);
  expect(again.evaluation).toEqual(r.evaluation);
  const transfer = await qraTransfer(exp(), again.generator, again.config.epsilon, ['clean', 'backdoored']);
  expect(transfer.backdoored).toBe(r.evaluation.asrPerturbed.backdoored);
  expect(transfer.clean).toBe(r.evaluation.asrPerturbed.clean);

  // The cached matrix (one δ per batch shared by every model) gives the same numbers as per-model evaluation.
  const m = await qraTransferMatrix(exp(), ['backdoored'], ['clean', 'backdoored'], cfg, { retuning: { epochs: 1, setSize: 300 } });
  expect(m.cached).toBe(false);
  expect(m.matrix).toEqual({ backdoored: { clean: transfer.clean, backdoored: transfer.backdoored } });
  expect((await qraTransferMatrix(exp(), ['backdoored'], ['clean', 'backdoored'], cfg, { retuning: { epochs: 1, setSize: 300 } })).cached).toBe(true);
});
