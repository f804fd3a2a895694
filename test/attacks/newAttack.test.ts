/**
 * Adding an attack is one file and one registry line: the toy attack below goes through the config, training,
 * a defense, the retuning attack and a small `reproduce` without any other file knowing it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { attackLabel, attackNames, registerAttack } from '../../src/attacks/registry';
import { initEngine } from '../../src/engine/backend';
import { contentHash } from '../../src/io/hash';
import { parseConfig } from '../../src/experiment/config';
import { purify } from '../../src/experiment/purify';
import { retune } from '../../src/experiment/stages';
import { Experiment } from '../../src/experiment/runner';
import { experimentConfig, StudyConfig } from '../../src/experiment/study';
import { reproduce } from '../../src/report/reproduce';
import { toyAttack } from '../fixtures/toyAttack';

registerAttack(toyAttack);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-new-attack-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
beforeAll(() => initEngine({ backend: 'wasm', quiet: true }));

const study: StudyConfig = {
  dataset: 'synthetic', attacks: ['toy'], defenses: ['FT'], seeds: [0], quick: true, runsDir: path.join(root, 'runs'),
  pamRhos: [], retune: true, lmc: false, qra: false, bec: false,
};

test('the config takes its name and its settings section, with defaults and worded errors', () => {
  expect(attackNames()).toContain('toy');
  expect(attackLabel('toy')).toBe('Toy checkerboard');
  expect(parseConfig({ attack: { name: 'toy' } }).attack).toMatchObject({ name: 'toy', poisonRate: 0.05, toy: { size: 3 } });
  expect(() => parseConfig({ attack: { name: 'toy', toy: { size: 1 } } })).toThrow('config.attack.toy.size: must be an integer >= 2 (got 1)');
  expect(() => parseConfig({ attack: { name: 'toy', toy: { sise: 2 } } })).toThrow('config.attack.toy.sise: is not a known field');
  // Another attack's config, and so its cache keys, do not change (the pinned keys in test/experiment/cacheKeys.test.ts).
  expect(contentHash(parseConfig({ attack: { name: 'badnets' } }))).toBe('7b5f5c8b5fe910da');
  expect(contentHash(parseConfig({ attack: { name: 'toy', toy: { size: 4 } }, seed: 1 }))).not.toBe(contentHash(parseConfig({ attack: { name: 'toy' }, seed: 1 })));
});

test('train, purify with FT, retune, then a small reproduce that reports it by its label', async () => {
  const quiet = { log: () => undefined, progress: 'silent' as const };
  const exp = new Experiment(experimentConfig(study, 'toy', 0), quiet);
  const run = await exp.run();
  expect(run.poison.trigger.name).toBe('toy-checkerboard-3px');
  // Two quick epochs on synthetic data: short of a full run's >90%, far above the 1-in-4 of chance.
  expect(run.evaluation.asr).toBeGreaterThan(0.5);
  const purified = await purify(exp, 'FT', { run, ...quiet });
  expect(purified.defense).toBe('FT');
  const ra = await retune(exp, 'FT', { epochs: 1, setSize: 300 }, quiet);
  expect(ra.history.map((h) => h.epoch)).toEqual([0, 1]);

  const r = await reproduce(study, { workers: 0, images: false, write: () => undefined, tty: false, outDir: path.join(root, 'report') });
  expect(r.failed.size).toBe(0);
  const table = fs.readFileSync(path.join(root, 'report', 'results.md'), 'utf8');
  expect(table).toMatch(/Toy checkerboard/);
});
