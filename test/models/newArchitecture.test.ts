/**
 * Adding an architecture is an `ArchitectureImpl` in one file and one `registerArchitecture` line: the toy MLP
 * below is accepted by the config, trained with the shared head, saved, loaded from the cache, purified and
 * retuned without any other file knowing it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initEngine } from '../../src/engine/backend';
import { parseConfig } from '../../src/experiment/config';
import { purify } from '../../src/experiment/purify';
import { Experiment } from '../../src/experiment/runner';
import { retune } from '../../src/experiment/stages';
import { architectureNames, disposeModel, registerArchitecture } from '../../src/models/model';
import { toyMlp } from '../fixtures/toyArchitecture';

registerArchitecture('toy-mlp', toyMlp);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-new-arch-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
beforeAll(() => initEngine({ backend: 'wasm', quiet: true }));

test('the config takes its name after the built-in ones; other architectures keep their specs', () => {
  expect(architectureNames()).toEqual(['cnn', 'preact-resnet', 'resnet18', 'toy-mlp']);
  expect(parseConfig({ model: { arch: 'toy-mlp', widths: [32] } }).model).toEqual({ arch: 'toy-mlp', width: 1, widths: [32] });
  expect(parseConfig({ model: { arch: 'preact-resnet' } }).model.depth).toEqual([1, 1, 1]);
  expect(() => parseConfig({ model: { arch: 'mlp' } })).toThrow(/model\.arch: must be one of .*"toy-mlp"/);
  expect(() => registerArchitecture('toy-mlp', toyMlp)).toThrow(/already registered/);
});

test('train (then load from the cache), purify with FT and retune', async () => {
  const quiet = { log: () => undefined, progress: 'silent' as const };
  const config = { dataset: 'synthetic', runsDir: root, model: { arch: 'toy-mlp', widths: [128] }, attack: { name: 'badnets', poisonRate: 0.1 }, train: { epochs: 8 } };
  const exp = new Experiment(config, quiet);
  const run = await exp.run();
  expect(run.trained.model.spec).toMatchObject({ arch: 'toy-mlp', widths: [128] });
  expect(Object.keys(run.trained.model.params).sort()).toEqual(['head/b', 'head/w', 'hidden/b', 'hidden/w']);
  expect(run.evaluation.cleanAccuracy).toBeGreaterThan(0.5);
  const again = await new Experiment(config, quiet).run();
  expect(again.trained.cached).toBe(true);
  expect(again.evaluation).toEqual(run.evaluation);
  disposeModel(again.trained.model);

  const purified = await purify(exp, 'FT', { run, ...quiet, config: { epochs: 1 } });
  expect(purified.model.spec.arch).toBe('toy-mlp');
  disposeModel(purified.model);
  const ra = await retune(exp, 'backdoored', { epochs: 1, setSize: 300 }, { ...quiet, run });
  expect(ra.history.map((h) => h.epoch)).toEqual([0, 1]);
  disposeModel(ra.model);
  disposeModel(run.trained.model);
});
