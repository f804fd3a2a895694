import * as fs from 'fs';
import * as path from 'path';
import { DefenseConfigError, parseDefenseConfig } from '../../src/defenses/config';
import { allDefenses, defenseNames, getDefense } from '../../src/defenses/registry';
import { Defense } from '../../src/defenses/types';
import { initEngine } from '../../src/engine/backend';
import { purify } from '../../src/experiment/purify';
import { Experiment } from '../../src/experiment/runner';
import { evaluate } from '../../src/metrics';
import { disposeModel } from '../../src/models/model';
import * as W from '../../src/models/weights';
import { syntheticExperiment, tempRunsDir } from './syntheticBackdoor';

const runsDir = tempRunsDir();
let exp: Experiment;

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
  exp = syntheticExperiment(runsDir);
});
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

describe('registry', () => {
  test('holds FT, EP, SAM and FST (in the paper\'s order), looked up case-insensitively', () => {
    const names = defenseNames();
    for (const n of ['FT', 'EP', 'SAM', 'FST']) expect(names).toContain(n);
    expect(names.indexOf('EP')).toBeLessThan(names.indexOf('SAM'));
    expect(names.indexOf('SAM')).toBeLessThan(names.indexOf('FST'));
    expect(getDefense('fst').name).toBe('FST');
    expect(() => getDefense('nope')).toThrow(/unknown defense "nope" \(defenses: FT, EP/);
    for (const d of allDefenses()) expect(parseDefenseConfig(d, {})).toEqual(d.defaults);
  });

  test('a defense without a schema is validated against its defaults', () => {
    const toy: Defense<{ steps: number; mode: string; nested: { eps: number } }> = {
      name: 'TOY', assumes: '', defaults: { steps: 3, mode: 'a', nested: { eps: 0.1 } },
      purify: () => { throw new Error('unused'); },
    };
    expect(parseDefenseConfig(toy, { steps: 5 })).toEqual({ steps: 5, mode: 'a', nested: { eps: 0.1 } });
    expect(() => parseDefenseConfig(toy, { steps: 'many' })).toThrow(/TOY config: steps must be a number \(got "many"\)/);
    expect(() => parseDefenseConfig(toy, { nested: { eps: 0.2, epz: 1 } })).toThrow(/nested\.epz is not a known field/);
    expect(() => parseDefenseConfig(toy, { stepz: 1 })).toThrow(DefenseConfigError);
  });
});

describe('purify stage', () => {
  test('purifies, evaluates before/after, stores the model and reports; a rerun loads the same result', async () => {
    const run = await exp.run();
    const first = await purify(exp, 'fst', { run, progress: 'silent' });
    expect(first.cached).toBe(false);
    expect(first.defense).toBe('FST');
    expect(first.config).toEqual(getDefense('FST').defaults);
    expect(first.evaluation.before).toEqual({ cleanAccuracy: run.evaluation.cleanAccuracy, asr: run.evaluation.asr });
    const direct = evaluate(first.model, run.data.test, run.poison.backdoorTest, 0);
    expect(first.evaluation.after).toEqual({ cleanAccuracy: direct.cleanAccuracy, asr: direct.asr });
    expect(first.evaluation.after.asr).toBeLessThan(first.evaluation.before.asr - 0.5);
    expect(first.report.dataUsed).toBe(`${run.data.splits.defense.length} clean images`);
    for (const f of ['report.json', 'evaluation.json', 'manifest.json']) expect(fs.existsSync(path.join(first.dir, f))).toBe(true);

    const again = await purify(exp, 'FST', { run, progress: 'silent' });
    expect(again.cached).toBe(true);
    expect(again.key).toBe(first.key);
    expect(again.evaluation).toEqual(first.evaluation);
    expect(again.report).toEqual(first.report);
    expect(W.distance(again.model.params, first.model.params)).toBe(0);
    [first.model, again.model].forEach(disposeModel);
  });

  test('the key depends on the defense, its config and the seed', async () => {
    const run = await exp.run();
    const keyOf = (name: string, config: Record<string, unknown>, seed = 0) =>
      exp.store.key('purify', { defense: getDefense(name).name, config: parseDefenseConfig(getDefense(name), config), seed }, [run.keys.model, run.keys.data]);
    const base = keyOf('fst', {});
    expect(keyOf('fst', { alpha: 0.1 })).not.toBe(base);
    expect(keyOf('fst', {}, 1)).not.toBe(base);
    expect(keyOf('ft', {})).not.toBe(base);
    // Spelling a default out is the same config.
    expect(keyOf('fst', { alpha: getDefense('fst').defaults.alpha })).toBe(base);
    const r = await purify(exp, 'ft', { run, config: { epochs: 1 }, progress: 'silent' });
    expect(r.key).toBe(keyOf('ft', { epochs: 1 }));
    disposeModel(r.model);
  });

  test('bad configs name the field; a clean model cannot be purified', async () => {
    const run = await exp.run();
    await expect(purify(exp, 'fst', { run, config: { alpha: -1 } })).rejects.toThrow(/FST config: alpha must be >= 0 \(got -1\)/);
    await expect(purify(exp, 'sam', { run, config: { rh0: 1 } })).rejects.toThrow(/SAM config: rh0 is not a known field \(known: .*rho/);
    await expect(purify(exp, 'ep', { run, config: { schedule: 'linear' } })).rejects.toThrow(/schedule must be "cosine" or "constant"/);
    const clean = new Experiment({ ...exp.config, attack: { ...exp.config.attack, name: 'none' } }, { log: () => undefined, progress: 'silent' });
    await expect(purify(clean, 'ft')).rejects.toThrow(/attack is "none"/);
  });
});
