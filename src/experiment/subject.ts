/**
 * The models of an experiment that the later stages (retune, lmc, qra, bec) start from, and the run they share:
 * a stage either reads the caller's run, as `purify` does, or loads its own and disposes it.
 */
import { disposeModel } from '../models/model';
import { Model } from '../models/spec';
import { ProgressMode } from '../train/progress';
import { purify } from './purify';
import { Experiment, RunResult } from './runner';

/** Which model of the experiment: the backdoored one, the clean one, or a registered defense's purified model. */
export type Subject =
  | { kind: 'backdoored' }
  | { kind: 'clean' }
  | { kind: 'defense'; defense: string; config?: Record<string, unknown> };

/** A subject as callers name it: `'backdoored'`, `'clean'`, or a defense's name in any case. */
export type SubjectName = string;

/** A subject given by name, with the defense settings that apply when it names a defense. */
export function toSubject(s: Subject | SubjectName, defenseConfig?: Record<string, unknown>): Subject {
  if (typeof s !== 'string') return s;
  if (s === 'backdoored' || s === 'clean') return { kind: s };
  return { kind: 'defense', defense: s, ...(defenseConfig ? { config: defenseConfig } : {}) };
}

export interface SubjectModel {
  /** 'backdoored', 'clean' or the defense's registered name: how results, artifacts and tables name it. */
  subject: string;
  model: Model;
  key: string;
}

export interface StageOptions {
  log?: (line: string) => void;
  progress?: ProgressMode;
  /** Overrides of a defense's config when the subject is named by a string. */
  defenseConfig?: Record<string, unknown>;
  /**
   * The experiment's run, if the caller already has it (else `experiment.run()`, cached). A stage never disposes
   * the caller's run; it disposes a run it loaded itself.
   */
  run?: RunResult;
}

/** The clean reference model trained with the same recipe and data as the experiment's backdoored one. */
export function cleanExperiment(exp: Experiment, opts: StageOptions = {}): Experiment {
  // A plain 'none': the clean model does not depend on the trigger, its target or the poisoning rate, so every
  // attack and every such setting of one dataset, model and seed share it (and its cache key).
  return new Experiment({ ...exp.config, attack: { name: 'none' } }, { log: opts.log, progress: opts.progress });
}

export async function subjectModel(exp: Experiment, subject: Subject | SubjectName, run: RunResult, opts: StageOptions = {}): Promise<SubjectModel> {
  const s = toSubject(subject, opts.defenseConfig);
  switch (s.kind) {
    case 'backdoored':
      return { subject: s.kind, model: run.trained.model, key: run.keys.model };
    case 'clean': {
      const clean = await cleanExperiment(exp, opts).run();
      return { subject: s.kind, model: clean.trained.model, key: clean.keys.model };
    }
    case 'defense': {
      const p = await purify(exp, s.defense, { run, config: s.config, log: opts.log, progress: opts.progress });
      return { subject: p.defense, model: p.model, key: p.key };
    }
  }
}

export interface StageRun {
  run: RunResult;
  /**
   * Dispose models the stage is done with, each once (a subject can be the run's own model); the run's own
   * model only when the stage loaded the run, never the caller's.
   */
  release(...models: Model[]): void;
}

/** The run a stage works on: the caller's (`opts.run`), or one it loads itself. */
export async function stageRun(exp: Experiment, opts: StageOptions): Promise<StageRun> {
  const callers = opts.run?.trained.model;
  const run = opts.run ?? await exp.run();
  return {
    run,
    release: (...models) => {
      for (const m of new Set(models)) if (m !== callers) disposeModel(m);
    },
  };
}
