/**
 * Adding a dataset is one file and one registry line: the toy dataset below is accepted by the config, split,
 * cached, trained on, purified and run through a small `reproduce` without any other file knowing it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { datasetNames, registerDataset } from '../../src/data/registry';
import { initEngine } from '../../src/engine/backend';
import { parseConfig } from '../../src/experiment/config';
import { purify } from '../../src/experiment/purify';
import { Experiment } from '../../src/experiment/runner';
import { experimentConfig, StudyConfig } from '../../src/experiment/study';
import { disposeModel } from '../../src/models/model';
import { reproduce } from '../../src/report/reproduce';
import { toyDataset } from '../fixtures/toyDataset';

registerDataset(toyDataset);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-new-dataset-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
beforeAll(() => initEngine({ backend: 'wasm', quiet: true }));

const study: StudyConfig = {
  dataset: 'toy-bars', attacks: ['badnets'], defenses: ['FT'], seeds: [0], quick: true, runsDir: path.join(root, 'runs'),
  pamRhos: [], retune: true, lmc: false, qra: false, bec: false,
};

test('the config takes its name after the built-in ones, and still refuses an unknown one', () => {
  expect(datasetNames()).toEqual(['fashion-mnist', 'mnist', 'cifar10', 'synthetic', 'toy-bars']);
  expect(parseConfig({ dataset: 'toy-bars' }).dataset).toBe('toy-bars');
  expect(() => parseConfig({ dataset: 'toy-bar' })).toThrow(/dataset: must be one of .*"toy-bars"/);
  expect(() => registerDataset(toyDataset)).toThrow(/already registered/);
});

test('train, purify, then a small reproduce on it', async () => {
  const quiet = { log: () => undefined, progress: 'silent' as const };
  const exp = new Experiment(experimentConfig(study, 'badnets', 0), quiet);
  const run = await exp.run();
  expect(run.data.train.name).toBe('toy-bars/train');
  expect([run.data.train.n, run.data.test.n]).toEqual([1200, 400]);
  expect(run.data.splits.defense.length).toBeGreaterThan(0);
  expect(run.evaluation.cleanAccuracy).toBeGreaterThan(0.5);
  const purified = await purify(exp, 'FT', { run, ...quiet });
  disposeModel(purified.model);
  disposeModel(run.trained.model);

  const r = await reproduce(study, { workers: 0, images: false, write: () => undefined, tty: false, outDir: path.join(root, 'report') });
  expect(r.failed.size).toBe(0);
  expect(fs.existsSync(path.join(root, 'report', 'results.md'))).toBe(true);
});
