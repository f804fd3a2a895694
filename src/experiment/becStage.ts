/**
 * Cached stages for the backdoor existence coefficient (analysis/bec): `bec-reference` once per backdoored
 * model (its backdoor neurons, chosen by TAC on paired clean/triggered test images, and the clean model's
 * similarity, BEC's zero), then `bec` per subject model: the backdoored model, the clean model, a purified
 * model, or any of them after the retuning attack. Each is keyed by its config and the keys of what it reads.
 */
import * as path from 'path';
import { BEC_DEFAULTS, BecConfig, becOf, becReference, BecReference, LayerSimilarity, nonTargetIndices, validateBecConfig } from '../analysis/bec';
import { subset } from '../data/dataset';
import { Model } from '../models/spec';
import { RetuningConfig } from '../reactivation/retuning';
import { loadJson, saveJson } from '../io/json';
import { retune } from './stages';
import { cleanExperiment, StageOptions, stageRun, Subject, SubjectName, subjectModel } from './subject';
import { Experiment, RunResult } from './runner';

export interface BecReferenceResult extends BecReference {
  config: BecConfig;
  seconds: number;
  key: string;
  cached: boolean;
}

/** The clean counterparts of the run's backdoor test set (same images, same order, no trigger). */
function cleanPairsOf(run: RunResult) {
  const target = run.config.attack.target;
  const triggered = run.poison.backdoorTest!;
  const pairs = subset(run.data.test, nonTargetIndices(run.data.test, target), `${run.data.test.name}/non-target`);
  if (pairs.n !== triggered.n) throw new Error(`BEC: ${pairs.n} non-target test images but ${triggered.n} triggered ones`);
  return { pairs, triggered };
}

function requireBackdoor(exp: Experiment): void {
  if (exp.config.attack.name === 'none') throw new Error('BEC needs a backdoored experiment (an attack such as badnets), not attack "none"');
}

/** Backdoor neurons of the experiment's backdoored model and the clean model's similarity (cached). */
export async function becReferenceStage(exp: Experiment, config: Partial<BecConfig> = {}, opts: StageOptions = {}): Promise<BecReferenceResult> {
  requireBackdoor(exp);
  const c: BecConfig = { ...BEC_DEFAULTS, ...config };
  validateBecConfig(c);
  const { run, release } = await stageRun(exp, opts);
  const clean = await cleanExperiment(exp, opts).run();
  try {
    const r = await exp.store.getOrCompute('bec-reference', { bec: c, target: run.config.attack.target },
      [run.keys.model, clean.keys.model, run.keys.poison, run.keys.data], {
        log: opts.log,
        compute: async (dir) => {
          const t0 = Date.now();
          const { pairs, triggered } = cleanPairsOf(run);
          const ref = becReference(run.trained.model, clean.trained.model, pairs, triggered, c);
          const value = { ...ref, seconds: (Date.now() - t0) / 1000 };
          await saveJson(dir, 'reference.json', value);
          return value;
        },
        load: (dir) => loadJson<BecReference & { seconds: number }>(path.resolve(dir), 'reference.json'),
      });
    return { ...r.value, config: c, key: r.key, cached: r.cached };
  } finally {
    release(clean.trained.model, run.trained.model);
  }
}

export interface BecResult {
  subject: string;
  /** Whether the model measured is the subject after the retuning attack. */
  retuned: boolean;
  config: BecConfig;
  bec: number;
  /** Mean over layers of the CKA with the backdoored model (before normalisation). */
  similarity: number;
  layers: LayerSimilarity[];
  /** The clean model's similarity: BEC's zero. */
  cleanSimilarity: number;
  seconds: number;
  key: string;
  referenceKey: string;
  /** The per-backdoored-model part (neurons, clean anchor): its own time, and whether it came from the cache. */
  reference: { seconds: number; cached: boolean };
  cached: boolean;
}

export interface BecStageOptions extends StageOptions {
  /** Measure the subject after the retuning attack (its cached `retune` model) instead of the subject itself. */
  retuned?: boolean;
  retuning?: Partial<RetuningConfig>;
}

/** BEC of one subject (cached), with the experiment's trigger and target. */
export async function bec(exp: Experiment, subject: Subject | SubjectName, config: Partial<BecConfig> = {},
  opts: BecStageOptions = {}): Promise<BecResult> {
  requireBackdoor(exp);
  const { run, release } = await stageRun(exp, opts);
  const ref = await becReferenceStage(exp, config, { ...opts, run });
  let model: Model;
  let key: string;
  let name: string;
  if (opts.retuned) {
    const r = await retune(exp, subject, opts.retuning, { ...opts, run });
    [model, key, name] = [r.model, r.key, r.subject];
  } else {
    const s = await subjectModel(exp, subject, run, opts);
    [model, key, name] = [s.model, s.key, s.subject];
  }
  try {
    const r = await exp.store.getOrCompute('bec', { bec: ref.config }, [key, ref.key], {
      log: opts.log,
      compute: async (dir) => {
        const t0 = Date.now();
        const v = becOf(run.trained.model, model, run.poison.backdoorTest!, ref, ref.config);
        const value = { bec: v.bec, similarity: v.similarity, layers: v.layers, cleanSimilarity: ref.clean.similarity, seconds: (Date.now() - t0) / 1000 };
        await saveJson(dir, 'bec.json', { subject: name, retuned: !!opts.retuned, ...value });
        return value;
      },
      load: (dir) => loadJson<Omit<BecResult, 'subject' | 'retuned' | 'config' | 'key' | 'referenceKey' | 'reference' | 'cached'>>(path.resolve(dir), 'bec.json'),
    });
    return { subject: name, retuned: !!opts.retuned, config: ref.config, ...r.value, key: r.key, referenceKey: ref.key,
      reference: { seconds: ref.seconds, cached: ref.cached }, cached: r.cached };
  } finally {
    release(model, run.trained.model);
  }
}

export interface BecCellSummary {
  kind: 'bec';
  bec: number;
  similarity: number;
  cleanSimilarity: number;
  layers: LayerSimilarity[];
  /** The same subject after the retuning attack; null when the study runs no RA. */
  retuned: { bec: number; similarity: number } | null;
  seconds: number;
  cached: boolean;
  key: string;
}

/**
 * One study cell: BEC of a subject and of its retuned model. The backdoored subject's cell is the first of an
 * attack and computes the `bec-reference` the others read.
 */
export async function becCell(exp: Experiment, subject: Subject | SubjectName, withRetuned: boolean, opts: StageOptions = {}): Promise<BecCellSummary> {
  const t0 = Date.now();
  const own = await bec(exp, subject, {}, opts);
  const ra = withRetuned ? await bec(exp, subject, {}, { ...opts, retuned: true }) : null;
  return {
    kind: 'bec', bec: own.bec, similarity: own.similarity, cleanSimilarity: own.cleanSimilarity, layers: own.layers,
    retuned: ra && { bec: ra.bec, similarity: ra.similarity },
    seconds: (Date.now() - t0) / 1000, cached: own.cached && (ra?.cached ?? true), key: own.key,
  };
}
