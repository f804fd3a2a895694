/**
 * The cached stages of findings 2 and 3, run on a subject of the experiment (the backdoored model, the clean
 * model, or a purified one; subject.ts): the retuning attack, the linear path between two models, QRA and its
 * transfer across subjects. (The methods themselves are in src/reactivation/ and src/analysis/; `purify` and the
 * BEC stages are in purify.ts and becStage.ts.) Each stage is keyed by its own config and the keys of the models
 * and data it starts from, like every other stage. Each takes the experiment's run in `opts.run` as `purify`
 * does, or loads it.
 */
import * as path from 'path';
import { BatchNormMode, DEFAULT_TS, linearPath, LmcPoint, LmcSummary } from '../analysis/lmc';
import { subset } from '../data/dataset';
import { applyTrigger } from '../attacks/trigger';
import { loadModelArtifact, saveModelArtifact } from '../models/artifact';
import { loadModel, saveModel } from '../models/io';
import { ParamRecord } from '../models/layers';
import { evaluateQra, QRA_DEFAULTS, QraConfig, QraEvaluation, QraTrainingSet, trainQra, transferMatrix, validateQraConfig } from '../reactivation/qra';
import { Rng } from '../rng';
import { Model } from '../models/spec';
import { buildRetuningSet, RETUNING_DEFAULTS, RetuningConfig, RetuningPoint, retuningAttack } from '../reactivation/retuning';
import { loadJson, saveJson } from '../io/json';
import { Experiment, RunResult } from './runner';
import { StageOptions, stageRun, Subject, SubjectName, subjectModel } from './subject';

function requireAttack(exp: Experiment): void {
  if (exp.config.attack.name === 'none') {
    throw new Error('reactivation stages need a backdoored experiment (an attack such as badnets or blended), not attack "none"');
  }
}

export interface RetuneResult {
  subject: string;
  model: Model;
  history: RetuningPoint[];
  config: RetuningConfig;
  seconds: number;
  key: string;
  cached: boolean;
}

/** RA on one subject, with the experiment's trigger and target (cached). */
export async function retune(exp: Experiment, subject: Subject | SubjectName, config: Partial<RetuningConfig> = {},
  opts: StageOptions = {}): Promise<RetuneResult> {
  requireAttack(exp);
  const c: RetuningConfig = { ...RETUNING_DEFAULTS, seed: exp.config.seed, ...config };
  const { run, release } = await stageRun(exp, opts);
  const start = await subjectModel(exp, subject, run, opts);
  const attack = run.config.attack;
  const r = await exp.store.getOrCompute('retune', { retuning: c, attack }, [start.key, run.keys.data], {
    log: opts.log,
    compute: async (dir) => {
      const trigger = run.poison.trigger;
      const { set, sampleIndices, poisonedIndices } = buildRetuningSet(run.data.train, run.data.splits.attackerPool, trigger, attack.target, c);
      const out = await retuningAttack(start.model, set, run.data.test, run.poison.backdoorTest!, attack.target, c,
        { progress: opts.progress, label: `RA ${start.subject}` });
      await saveModelArtifact(dir, out.model, { retuned: start.subject });
      await saveJson(dir, 'history.json', { subject: start.subject, history: out.history, seconds: out.seconds,
        samples: sampleIndices.length, poisoned: Array.from(poisonedIndices) });
      return { model: out.model, history: out.history, seconds: out.seconds };
    },
    load: async (dir) => {
      const h = await loadJson<{ history: RetuningPoint[]; seconds: number }>(dir, 'history.json');
      return { model: await loadModelArtifact(dir, start.model.spec), history: h.history, seconds: h.seconds };
    },
  });
  release(start.model, run.trained.model);
  return { subject: start.subject, config: c, ...r.value, key: r.key, cached: r.cached };
}

export interface LmcConfig {
  ts: number[];
  batchNorm: BatchNormMode;
  /** The far end of the path: the original backdoored model, or the subject after RA. */
  endpoint: 'backdoored' | 'retuned';
}

export const LMC_DEFAULTS: LmcConfig = { ts: DEFAULT_TS, batchNorm: 'interpolate', endpoint: 'backdoored' };

export interface LmcResult {
  subject: string;
  config: LmcConfig;
  points: LmcPoint[];
  summary: LmcSummary;
  seconds: number;
  key: string;
  cached: boolean;
}

/** The path θ(t) from a subject (t = 0) to the backdoored model or to its own retuned model (t = 1). */
export async function lmc(exp: Experiment, subject: Subject | SubjectName, config: Partial<LmcConfig> = {},
  opts: StageOptions & { retuning?: Partial<RetuningConfig> } = {}): Promise<LmcResult> {
  requireAttack(exp);
  const c: LmcConfig = { ...LMC_DEFAULTS, ...config };
  const { run, release } = await stageRun(exp, opts);
  const start = await subjectModel(exp, subject, run, opts);
  const end = c.endpoint === 'backdoored'
    ? { model: run.trained.model, key: run.keys.model }
    : await retune(exp, subject, opts.retuning, { ...opts, run });
  const r = await exp.store.getOrCompute('lmc', { lmc: c, target: run.config.attack.target }, [start.key, end.key, run.keys.poison, run.keys.data], {
    log: opts.log,
    compute: async (dir) => {
      const t0 = Date.now();
      const statsData = subset(run.data.train, run.data.splits.defense);
      const out = linearPath(start.model, end.model, run.data.test, run.poison.backdoorTest!, run.config.attack.target,
        { ts: c.ts, batchNorm: c.batchNorm, statsData });
      const value = { ...out, seconds: (Date.now() - t0) / 1000 };
      await saveJson(dir, 'lmc.json', { subject: start.subject, ...value });
      return value;
    },
    load: (dir) => loadJson<{ points: LmcPoint[]; summary: LmcSummary; seconds: number }>(path.resolve(dir), 'lmc.json'),
  });
  release(start.model, end.model, run.trained.model);
  return { subject: start.subject, config: c, ...r.value, key: r.key, cached: r.cached };
}

export interface QraStageResult {
  subject: string;
  config: QraConfig;
  generator: ParamRecord;
  evaluation: QraEvaluation;
  history: { epoch: number; loss: number }[];
  queries: number;
  seconds: number;
  key: string;
  cached: boolean;
}

/**
 * QRA against one subject (normally a defense): trained with the subject, its own retuned model and the
 * clean model, then evaluated on the subject, the clean model and the original backdoored model.
 */
export async function qra(exp: Experiment, subject: Subject | SubjectName, config: Partial<QraConfig> = {},
  opts: StageOptions & { retuning?: Partial<RetuningConfig> } = {}): Promise<QraStageResult> {
  requireAttack(exp);
  const c: QraConfig = { ...QRA_DEFAULTS, seed: exp.config.seed, ...config };
  validateQraConfig(c);
  const { run, release } = await stageRun(exp, opts);
  const purified = await subjectModel(exp, subject, run, opts);
  const retuned = await retune(exp, subject, opts.retuning, { ...opts, run });
  const clean = await subjectModel(exp, 'clean', run, opts);
  const attack = run.config.attack;
  const r = await exp.store.getOrCompute('qra', { qra: c, attack }, [purified.key, retuned.key, clean.key, run.keys.data], {
    log: opts.log,
    compute: async (dir) => {
      const set = buildQraSet(run, c);
      const out = await trainQra(set, { purified: purified.model, retuned: retuned.model, clean: clean.model }, c, { progress: opts.progress });
      const evaluation = evaluateQra(out.generator, { purified: purified.model, clean: clean.model, backdoored: run.trained.model },
        run.data.test, run.poison.backdoorTest!, attack.target, c.epsilon);
      await saveModel(dir, out.generator, { qra: purified.subject });
      await saveJson(dir, 'qra.json', { subject: purified.subject, evaluation, history: out.history, queries: out.queries, seconds: out.seconds });
      return { generator: out.generator, evaluation, history: out.history, queries: out.queries, seconds: out.seconds };
    },
    load: async (dir) => {
      const j = await loadJson<{ evaluation: QraEvaluation; history: { epoch: number; loss: number }[]; queries: number; seconds: number }>(dir, 'qra.json');
      return { generator: (await loadModel(dir)).tensors, ...j };
    },
  });
  release(purified.model, retuned.model, clean.model, run.trained.model);
  return { subject: purified.subject, config: c, ...r.value, key: r.key, cached: r.cached };
}

/** 500 clean + 500 triggered (non-target) images from the attacker's pool, true labels throughout. */
function buildQraSet(run: RunResult, c: QraConfig): QraTrainingSet {
  const attack = run.config.attack;
  const pool = run.data.splits.attackerPool;
  const order = Rng.derive(c.seed, 'qra-set').permutation(pool.length);
  const cleanIdx: number[] = [];
  const poisonIdx: number[] = [];
  for (const k of order) {
    const i = pool[k];
    // Triggered samples need non-target images; fill them first so a 1,000-image pool covers 500 + 500.
    if (poisonIdx.length < c.poisonedCount && run.data.train.labels[i] !== attack.target) poisonIdx.push(i);
    else if (cleanIdx.length < c.cleanCount) cleanIdx.push(i);
  }
  if (cleanIdx.length < c.cleanCount || poisonIdx.length < c.poisonedCount) {
    throw new Error(`QRA: the attacker's pool (${pool.length}) is too small for ${c.cleanCount} clean + ${c.poisonedCount} triggered samples`);
  }
  const both = subset(run.data.train, [...cleanIdx, ...poisonIdx], `${run.data.train.name}/qra`);
  const triggered = Array.from({ length: poisonIdx.length }, (_, k) => cleanIdx.length + k);
  return { data: applyTrigger(both, run.poison.trigger, triggered), cleanCount: cleanIdx.length };
}

/** Evaluate a trained QRA generator on other subjects' models (transfer across defenses). */
export async function qraTransfer(exp: Experiment, generator: ParamRecord, epsilon: number, subjects: (Subject | SubjectName)[],
  opts: StageOptions = {}): Promise<Record<string, number>> {
  const { run, release } = await stageRun(exp, opts);
  const out: Record<string, number> = {};
  for (const s of subjects) {
    const m = await subjectModel(exp, s, run, opts);
    // Only the ASR with δ is needed: one pass over the triggered test set, not evaluateQra's three.
    out[m.subject] = transferMatrix({ g: generator }, { [m.subject]: m.model }, run.poison.backdoorTest!,
      run.config.attack.target, epsilon).g[m.subject];
    if (m.model !== run.trained.model) release(m.model);
  }
  release(run.trained.model);
  return out;
}

/**
 * The QRA transfer matrix of an experiment (cached): the generator trained against each subject in `from`,
 * evaluated on every model in `to` (ASR with δ on the triggered test set). Keyed by the QRA artifacts, whose
 * keys already cover the purified, retuned and clean models they were trained with.
 */
export async function qraTransferMatrix(exp: Experiment, from: (Subject | SubjectName)[], to: SubjectName[],
  config: Partial<QraConfig> = {}, opts: StageOptions & { retuning?: Partial<RetuningConfig> } = {},
): Promise<{ matrix: Record<string, Record<string, number>>; key: string; cached: boolean }> {
  requireAttack(exp);
  const { run, release } = await stageRun(exp, opts);
  const runs: QraStageResult[] = [];
  for (const s of from) runs.push(await qra(exp, s, config, { ...opts, run }));
  const epsilon = runs[0]?.config.epsilon ?? QRA_DEFAULTS.epsilon;
  try {
    const r = await exp.store.getOrCompute('qra-transfer', { from: runs.map((q) => q.subject), to, epsilon, target: run.config.attack.target },
      [...runs.map((q) => q.key), run.keys.poison], {
        log: opts.log,
        compute: async (dir) => {
          const models: Record<string, Model> = {};
          try {
            for (const s of to) models[s] = (await subjectModel(exp, s, run, opts)).model;
            const matrix = transferMatrix(Object.fromEntries(runs.map((q) => [q.subject, q.generator])), models,
              run.poison.backdoorTest!, run.config.attack.target, epsilon);
            await saveJson(dir, 'transfer.json', { matrix });
            return matrix;
          } finally {
            release(...Object.values(models).filter((m) => m !== run.trained.model));
          }
        },
        load: async (dir) => (await loadJson<{ matrix: Record<string, Record<string, number>> }>(dir, 'transfer.json')).matrix,
      });
    return { matrix: r.value, key: r.key, cached: r.cached };
  } finally {
    for (const q of runs) Object.values(q.generator).forEach((t) => t.dispose());
    release(run.trained.model);
  }
}