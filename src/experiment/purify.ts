/**
 * The `purify` stage: one defense applied to one cached backdoored model, cached in turn. Its config slice
 * is the defense name, its full validated config and the seed; its inputs are the backdoored model's key
 * and the data key (which fixes the defender's clean split). The artifact holds the purified model
 * (`saveModelArtifact`), `report.json` (what the defense consumed, its wall time, its details) and
 * `evaluation.json` (C-Acc on the full test set and ASR on the backdoor test set, before and after).
 */
import { subset } from '../data/dataset';
import { parseDefenseConfig } from '../defenses/config';
import { getDefense } from '../defenses/registry';
import { DefenseData, DefenseReport } from '../defenses/types';
import { evaluate } from '../metrics';
import { loadModelArtifact, saveModelArtifact } from '../models/artifact';
import { Model } from '../models/spec';
import { ProgressMode } from '../train/progress';
import { loadJson, saveJson } from '../io/json';
import { Experiment, RunResult } from './runner';

export interface Rates {
  /** C-Acc on the full clean test set, in [0, 1]. */
  cleanAccuracy: number;
  /** ASR on the non-target triggered test set, in [0, 1]. */
  asr: number;
}

export interface PurifyEvaluation {
  before: Rates;
  after: Rates;
  nClean: number;
  nBackdoor: number;
}

export interface PurifyRecord {
  defense: string;
  assumes: string;
  config: Record<string, unknown>;
  seed: number;
  report: DefenseReport;
}

export interface PurifyResult extends PurifyRecord {
  model: Model;
  evaluation: PurifyEvaluation;
  key: string;
  dir: string;
  /** True when loaded from the cache (then `report.seconds` is the time of the original run). */
  cached: boolean;
}

export interface PurifyOptions {
  /** Overrides of the defense's defaults; validated (unknown or bad fields are errors naming the field). */
  config?: Record<string, unknown>;
  /** The backdoored run, if the caller already has it (else `experiment.run()`, cached). */
  run?: RunResult;
  /** Defaults to the experiment's seed. */
  seed?: number;
  log?: (line: string) => void;
  progress?: ProgressMode;
}

/** Purify the experiment's backdoored model with the named defense (or load the cached result). */
export async function purify(experiment: Experiment, defenseName: string, opts: PurifyOptions = {}): Promise<PurifyResult> {
  const defense = getDefense(defenseName);
  const config = parseDefenseConfig(defense, opts.config ?? {}) as Record<string, unknown>;
  const seed = opts.seed ?? experiment.config.seed;
  if ((opts.run?.config ?? experiment.config).attack.name === 'none') {
    throw new Error('purify: the experiment\'s attack is "none"; there is no backdoor to remove');
  }
  const run = opts.run ?? await experiment.run();
  const attack = run.config.attack;
  if (!run.poison.backdoorTest) throw new Error('purify: the run has no backdoor test set');
  const backdoorTest = run.poison.backdoorTest;
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const slice = { defense: defense.name, config, seed };
  const r = await experiment.store.getOrCompute('purify', slice, [run.keys.model, run.keys.data], {
    log,
    compute: async (dir) => {
      const data: DefenseData = {
        clean: subset(run.data.train, run.data.splits.defense, `${run.data.train.name}/defense`),
        oracle: { trigger: run.poison.trigger, target: attack.target },
        log,
        progress: opts.progress,
      };
      const out = await defense.purify(run.trained.model, data, { ...config, seed });
      const after = evaluate(out.model, run.data.test, backdoorTest, attack.target);
      const evaluation: PurifyEvaluation = {
        before: { cleanAccuracy: run.evaluation.cleanAccuracy, asr: run.evaluation.asr },
        after: { cleanAccuracy: after.cleanAccuracy, asr: after.asr ?? NaN },
        nClean: after.nClean,
        nBackdoor: after.nBackdoor ?? 0,
      };
      const record: PurifyRecord = { defense: defense.name, assumes: defense.assumes, config, seed, report: out.report };
      await saveModelArtifact(dir, out.model, { defense: defense.name });
      await saveJson(dir, 'report.json', record);
      await saveJson(dir, 'evaluation.json', evaluation);
      return { record, evaluation, model: out.model };
    },
    load: async (dir) => ({
      record: await loadJson<PurifyRecord>(dir, 'report.json'),
      evaluation: await loadJson<PurifyEvaluation>(dir, 'evaluation.json'),
      model: await loadModelArtifact(dir, run.trained.model.spec),
    }),
  });
  return { ...r.value.record, model: r.value.model, evaluation: r.value.evaluation, key: r.key, dir: r.dir, cached: r.cached };
}
