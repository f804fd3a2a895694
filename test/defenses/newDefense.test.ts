/**
 * Adding a defense is one file and one registry line: the toy defense below is validated, purifies a model, is
 * retuned and runs in a small `reproduce` without any other file knowing it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseDefenseConfig } from '../../src/defenses/config';
import { defenseNames, getDefense, registerDefense } from '../../src/defenses/registry';
import { initEngine } from '../../src/engine/backend';
import { purify } from '../../src/experiment/purify';
import { Experiment } from '../../src/experiment/runner';
import { retune } from '../../src/experiment/stages';
import { experimentConfig, StudyConfig } from '../../src/experiment/study';
import { reproduce } from '../../src/report/reproduce';
import { toyDefense } from '../fixtures/toyDefense';

registerDefense(toyDefense);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-new-defense-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
beforeAll(() => initEngine({ backend: 'wasm', quiet: true }));

const study: StudyConfig = {
  dataset: 'synthetic', attacks: ['badnets'], defenses: ['Toy'], seeds: [0], quick: true, runsDir: path.join(root, 'runs'),
  pamRhos: [], retune: true, lmc: false, qra: false, bec: false,
};

test('the registry lists it after the built-in ones, finds it in any case, and its schema validates with worded errors', () => {
  expect(defenseNames().slice(-2)).toEqual(['PAM', 'Toy']);
  expect(getDefense('toy')).toBe(toyDefense);
  expect(parseDefenseConfig(toyDefense, { lr: 0.1 })).toMatchObject({ epochs: 1, batchSize: 64, lr: 0.1 });
  expect(() => parseDefenseConfig(toyDefense, { epochs: 0 })).toThrow('Toy config: epochs must be an integer >= 1 (got 0)');
  expect(() => parseDefenseConfig(toyDefense, { epoch: 2 })).toThrow(/^Toy config: .*\bepoch\b/);
  expect(() => registerDefense(toyDefense)).toThrow(/already registered/);
  expect(() => registerDefense({ ...toyDefense, name: 'Clean' })).toThrow(/reserved/);
});

test('purify with it, retune its model, then a small reproduce that reports it', async () => {
  const quiet = { log: () => undefined, progress: 'silent' as const };
  const exp = new Experiment(experimentConfig(study, 'badnets', 0), quiet);
  const run = await exp.run();
  const purified = await purify(exp, 'toy', { run, ...quiet });
  expect(purified.defense).toBe('Toy');
  expect(purified.config).toEqual({ epochs: 1, batchSize: 64, lr: 0.01 });
  expect((await purify(exp, 'Toy', { run, ...quiet })).cached).toBe(true);
  const ra = await retune(exp, 'Toy', { epochs: 1, setSize: 300 }, { ...quiet, run });
  expect(ra.subject).toBe('Toy');
  expect(ra.history.map((h) => h.epoch)).toEqual([0, 1]);

  const r = await reproduce(study, { workers: 0, images: false, write: () => undefined, tty: false, outDir: path.join(root, 'report') });
  expect(r.failed.size).toBe(0);
  const table = fs.readFileSync(path.join(root, 'report', 'results.md'), 'utf8');
  expect(table).toMatch(/\bToy\b/);
});
