/**
 * The whole study as a graph of cells: data → backdoored and clean models → every defense → RA, LMC, QRA.
 * A cell is one cached stage for one (attack, seed, subject); `executeCell` runs it (or loads it) and returns
 * a small JSON summary, so the same code runs inline or in a worker thread. Cells only depend on cells they
 * read from the cache, which keeps two workers from computing the same artifact.
 */
import { disposeModel } from '../models/model';
import { QraEvaluation } from '../reactivation/qra';
import { RetuningPoint } from '../reactivation/retuning';
import { LmcPoint, LmcSummary } from '../analysis/lmc';
import { getDefense } from '../defenses/registry';
import { PAM_DEFAULT_RHO } from '../defenses/pam';
import { getAttack } from '../attacks/registry';
import { PATCH_POSITIONS } from '../attacks/badnets';
import { PartialConfigInput } from './config';
import { purify, Rates } from './purify';
import { lmc, qra, qraTransferMatrix, retune } from './stages';
import { becCell, BecCellSummary } from './becStage';
import { Experiment, RunResult } from './runner';

/** The paper's four attacks: a study's attacks unless it names others (any registered attack, src/attacks/registry.ts). */
export const DEFAULT_STUDY_ATTACKS = ['badnets', 'blended', 'ssba', 'lc'];
/** The quick study's (CI's) two: those that need no trained asset. */
export const QUICK_STUDY_ATTACKS = ['badnets', 'blended'];

/**
 * One point of a settings sweep (issue 15, claim 4): what differs from the default setting — target class 0,
 * the BadNets patch at the bottom-right, each attack's default poisoning rate, the default `cnn`. A study with
 * no setting is the default one, and its cells and cache keys are exactly those of a plain `reproduce`.
 */
export interface StudySetting {
  /** Shown in reports; the cells of a study with a setting have ids that start with `<name>/`. */
  name: string;
  target?: number;
  patchPosition?: (typeof PATCH_POSITIONS)[number];
  poisonRate?: number;
  /** A registered architecture (src/models/model.ts). */
  model?: { arch: string; widths?: number[]; depth?: number[]; width?: number };
}

export interface StudyConfig {
  /** A registered dataset (src/data/registry.ts). */
  dataset: string;
  dataDir?: string;
  /** Registered attack names (src/attacks/registry.ts), in the order the tables list them. */
  attacks: string[];
  /** Registry names, in the order the tables list them. */
  defenses: string[];
  seeds: number[];
  /** Shrunk data, epochs and QRA so that the whole graph runs in a few minutes (CI). */
  quick: boolean;
  runsDir: string;
  /** PAM ablation: ρ values run besides the default PAM (each with RA); empty = none. */
  pamRhos: number[];
  /** Which reactivation analyses to run per subject. */
  retune: boolean;
  lmc: boolean;
  qra: boolean;
  setting?: StudySetting;
  /** Backdoor existence coefficient of every subject and its retuned model (issue 20); on unless false. */
  bec?: boolean;
}

export type CellKind = 'model' | 'purify' | 'retune' | 'lmc' | 'qra' | 'transfer' | 'bec';

export interface Cell {
  id: string;
  kind: CellKind;
  /** 'none' for the clean model. */
  attack: string;
  seed: number;
  /** The model the cell works on; null for the transfer matrix, which reads every QRA subject. */
  subject: StudySubject | null;
  deps: string[];
  /** Rough single-core seconds, for scheduling (longest chain first) and the ETA. */
  cost: number;
}

/** The experiment config of one attack and seed (attack 'none': the clean model on the same data). */
export function experimentConfig(study: StudyConfig, attack: string, seed: number): PartialConfigInput {
  const s = study.setting;
  return {
    dataset: study.dataset,
    dataDir: study.dataDir,
    runsDir: study.runsDir,
    seed,
    // The attack's default rate unless the setting names one: 5%, or 10% for LC (every target-class image,
    // as the spec describes). The clean model ignores the trigger's settings, so every setting of one
    // dataset, model and seed shares it.
    attack: attack === 'none' ? { name: 'none', target: 0 }
      : { name: attack, target: s?.target ?? 0, patchPosition: s?.patchPosition, poisonRate: s?.poisonRate },
    ...(s?.model ? { model: s.model } : {}),
    ...quickShrink(study.quick),
  };
}

/**
 * The shrunk data and epochs of QUICK mode. The study and every notebook build their experiments with it, so
 * a notebook in QUICK mode reads the artifacts a quick `reproduce` cached (and the other way round).
 */
export function quickShrink(quick: boolean): Pick<PartialConfigInput, 'trainLimit' | 'testLimit' | 'train'> {
  return quick ? { trainLimit: 4000, testLimit: 1000, train: { epochs: 2 } } : {};
}

/** The attacks a study runs unless told otherwise: the paper's four; BadNets and Blended when quick. */
export function studyAttacks(quick: boolean): string[] {
  return quick ? QUICK_STUDY_ATTACKS : DEFAULT_STUDY_ATTACKS;
}

/**
 * One model of the study: the two trained ones, a defense's purified model, or an ablation (a defense with part
 * of its config overridden; only PAM's ρ is ablated).
 */
export type StudySubject =
  | { kind: 'backdoored' }
  | { kind: 'clean' }
  | { kind: 'defense'; defense: string }
  | { kind: 'ablation'; defense: 'PAM'; overrides: { rho: number } };

export const BACKDOORED_SUBJECT: StudySubject = { kind: 'backdoored' };
export const CLEAN_SUBJECT: StudySubject = { kind: 'clean' };
export const defenseSubject = (defense: string): StudySubject => ({ kind: 'defense', defense });
export const pamAblation = (rho: number): StudySubject => ({ kind: 'ablation', defense: 'PAM', overrides: { rho } });

/**
 * A subject's name in cell ids, tables and results.md: `backdoored`, `clean`, `FST`, `PAM@rho=0.3`. Cell ids
 * are hashed into the cell records' keys, so this text must not change.
 */
export function subjectLabel(s: StudySubject): string {
  switch (s.kind) {
    case 'backdoored':
    case 'clean':
      return s.kind;
    case 'defense':
      return s.defense;
    case 'ablation':
      return `${s.defense}@rho=${s.overrides.rho}`;
  }
}

/** What a stage loads for a subject: the stage's subject name and, for an ablation, the defense config it overrides. */
export function subjectStage(s: StudySubject): { subject: string; defenseConfig: Record<string, unknown> } {
  return s.kind === 'ablation' ? { subject: s.defense, defenseConfig: { ...s.overrides } }
    : { subject: s.kind === 'defense' ? s.defense : s.kind, defenseConfig: {} };
}

/** PAM's ρ for PAM and its ablations (PAM itself runs at the default); undefined for every other subject. */
export function pamRho(s: StudySubject): number | undefined {
  if (s.kind === 'ablation') return s.overrides.rho;
  return s.kind === 'defense' && s.defense === 'PAM' ? PAM_DEFAULT_RHO : undefined;
}

/** The PAM ablations a study runs besides PAM itself: one per ρ of `pamRhos` other than the default. */
export function pamAblations(study: Pick<StudyConfig, 'pamRhos'>, defenses: string[]): StudySubject[] {
  const pam = defenses.includes('PAM') || study.pamRhos.length > 0;
  return pam ? study.pamRhos.filter((r) => r !== PAM_DEFAULT_RHO).map(pamAblation) : [];
}

/** QRA settings of the study: the paper's in the full run; a small generator and few epochs when quick. */
export function studyQraConfig(study: Pick<StudyConfig, 'quick'>): Record<string, number> {
  return study.quick ? { epochs: 3, hidden: 256, cleanCount: 200, poisonedCount: 200 } : {};
}

/** LMC grid of the study: the spec's t ∈ {0, 0.1, …, 1}; five points when quick. */
export function studyLmcTs(study: Pick<StudyConfig, 'quick'>): number[] {
  const n = study.quick ? 5 : 11;
  return Array.from({ length: n }, (_, i) => Math.round((i / (n - 1)) * 1e6) / 1e6);
}

const FULL_COST: Record<string, number> = {
  model: 260, FT: 40, EP: 45, FST: 40, SAM: 80, ANP: 150, 'ANP-oracle': 150, BAU: 200, BTI: 170, PAM: 240,
  retune: 30, lmc: 45, qra: 130, transfer: 60, bec: 15,
};

/** How much slower than the default `cnn` a setting's architecture trains (measured: 1,235 vs 308 images/s). */
const ARCH_COST: Record<string, number> = { cnn: 1, 'preact-resnet': 4 };

function cost(study: StudyConfig, kind: CellKind, subject: StudySubject | null, attack: string): number {
  const defense = subject && (subject.kind === 'defense' || subject.kind === 'ablation') ? subject.defense : '';
  const c = (kind === 'purify' ? FULL_COST[defense] ?? 120
    : kind === 'model' ? (attack === 'none' ? undefined : getAttack(attack).modelCost) ?? FULL_COST.model : FULL_COST[kind] ?? 60) * (ARCH_COST[study.setting?.model?.arch ?? 'cnn'] ?? 1);
  return study.quick ? Math.max(1, c / 12) : c;
}

/** QRA targets: every defense but EP, the oracle that removes the backdoor by construction. */
export function qraSubjects(defenses: string[]): string[] {
  return defenses.filter((d) => d !== 'EP');
}

export const cellId = (kind: CellKind, attack: string, seed: number, subject: StudySubject | null) =>
  `${kind}/${attack}/s${seed}/${subject ? subjectLabel(subject) : 'all'}`;

/** Every cell of the study, dependencies before dependants. */
export function planStudy(study: StudyConfig): Cell[] {
  // Unknown names fail here, before any work.
  for (const a of study.attacks) getAttack(a);
  for (const d of study.defenses) getDefense(d);
  const cells: Cell[] = [];
  const prefix = study.setting ? `${study.setting.name}/` : '';
  const add = (kind: CellKind, attack: string, seed: number, subject: StudySubject | null, deps: string[]) => {
    const id = prefix + cellId(kind, attack, seed, subject);
    cells.push({ id, kind, attack, seed, subject, deps, cost: cost(study, kind, subject, attack) });
    return id;
  };
  const defenseNames = study.defenses.map((d) => getDefense(d).name);
  const defenses = defenseNames.map(defenseSubject);
  const ablations = pamAblations(study, defenseNames);
  for (const seed of study.seeds) {
    const clean = add('model', 'none', seed, CLEAN_SUBJECT, []);
    for (const attack of study.attacks) {
      const backdoored = add('model', attack, seed, BACKDOORED_SUBJECT, []);
      // Cells of one subject, by its label (labels are unique within a study).
      const purified: Record<string, string> = {};
      for (const s of [...defenses, ...ablations]) purified[subjectLabel(s)] = add('purify', attack, seed, s, [backdoored]);
      const startOf = (s: StudySubject) => (s.kind === 'clean' ? [backdoored, clean] : s.kind === 'backdoored' ? [backdoored] : [purified[subjectLabel(s)]]);
      const raSubjects = [BACKDOORED_SUBJECT, CLEAN_SUBJECT, ...defenses, ...ablations];
      const retuned: Record<string, string> = {};
      if (study.retune || study.qra) {
        for (const s of raSubjects) retuned[subjectLabel(s)] = add('retune', attack, seed, s, startOf(s));
      }
      if (study.lmc) for (const s of [CLEAN_SUBJECT, ...defenses]) add('lmc', attack, seed, s, startOf(s));
      if (study.qra) {
        const qras = qraSubjects(defenseNames).map((d) => add('qra', attack, seed, defenseSubject(d), [retuned[d], clean]));
        if (qras.length > 1) add('transfer', attack, seed, null, qras);
      }
      if (study.bec !== false) {
        // The backdoored subject's cell computes the attack's BEC reference (neurons, clean anchor) the others read.
        const ref = add('bec', attack, seed, BACKDOORED_SUBJECT, [retuned.backdoored ?? backdoored, clean]);
        for (const s of raSubjects.slice(1)) {
          const ra = retuned[subjectLabel(s)];
          add('bec', attack, seed, s, [ref, ...(ra ? [ra] : startOf(s))]);
        }
      }
    }
  }
  return cells;
}

export interface ModelSummary { kind: 'model'; cleanAccuracy: number; asr: number; seconds: number; cached: boolean; key: string }
export interface PurifySummary {
  kind: 'purify'; defense: string; before: Rates; after: Rates; seconds: number; dataUsed: string; cached: boolean; key: string; config: Record<string, unknown>;
  /** Trigger-inversion defenses (BTI, PAM): the target class they detected, and the real one to grade it. */
  detection?: { detected: number; target: number };
}
export interface RetuneSummary { kind: 'retune'; history: RetuningPoint[]; seconds: number; cached: boolean; key: string }
export interface LmcCellSummary { kind: 'lmc'; points: LmcPoint[]; summary: LmcSummary; batchNorm: string; seconds: number; cached: boolean; key: string }
export interface QraSummary { kind: 'qra'; evaluation: QraEvaluation; queries: number; seconds: number; cached: boolean; key: string; epsilon: number }
export interface TransferSummary { kind: 'transfer'; matrix: Record<string, Record<string, number>>; seconds: number; cached: boolean }
export type { BecCellSummary };
export type CellSummary = ModelSummary | PurifySummary | RetuneSummary | LmcCellSummary | QraSummary | TransferSummary | BecCellSummary;

export interface CellOptions {
  log?: (line: string) => void;
}

/** Run (or load) one cell and summarise it; every model it touches is disposed before it returns. */
export async function executeCell(study: StudyConfig, cell: Cell, opts: CellOptions = {}): Promise<CellSummary> {
  const log = opts.log ?? (() => undefined);
  const stage = { log, progress: 'silent' as const };
  const exp = (attack: string) => new Experiment(experimentConfig(study, attack, cell.seed), stage);
  const t0 = Date.now();
  const { subject, defenseConfig } = cell.subject ? subjectStage(cell.subject) : { subject: '', defenseConfig: {} };
  const subjectOpts = { ...stage, defenseConfig };
  // Each stage is handed the experiment's run, as purify is, and this cell disposes it.
  const withRun = async <T>(attack: string, f: (e: Experiment, run: RunResult) => Promise<T>): Promise<T> => {
    const e = exp(attack);
    const run = await e.run();
    try {
      return await f(e, run);
    } finally {
      disposeModel(run.trained.model);
    }
  };
  switch (cell.kind) {
    case 'model': {
      const r = await exp(cell.attack).run();
      disposeModel(r.trained.model);
      return { kind: 'model', cleanAccuracy: r.evaluation.cleanAccuracy, asr: r.evaluation.asr, seconds: r.trained.seconds, cached: r.trained.cached, key: r.keys.model };
    }
    case 'purify':
      return withRun(cell.attack, async (e, run) => {
        const r = await purify(e, subject, { run, config: defenseConfig, log, progress: 'silent' });
        disposeModel(r.model);
        const detected = r.report.details?.detectedTarget;
        return { kind: 'purify', defense: r.defense, before: r.evaluation.before, after: r.evaluation.after, seconds: r.report.seconds,
          dataUsed: r.report.dataUsed, cached: r.cached, key: r.key, config: r.config,
          ...(typeof detected === 'number' ? { detection: { detected, target: run.config.attack.target } } : {}) };
      });
    case 'retune':
      return withRun(cell.attack, async (e, run) => {
        const r = await retune(e, subject, {}, { ...subjectOpts, run });
        disposeModel(r.model);
        return { kind: 'retune', history: r.history, seconds: r.seconds, cached: r.cached, key: r.key };
      });
    case 'lmc':
      return withRun(cell.attack, async (e, run) => {
        const r = await lmc(e, subject, { ts: studyLmcTs(study) }, { ...subjectOpts, run });
        return { kind: 'lmc', points: r.points, summary: r.summary, batchNorm: r.config.batchNorm, seconds: r.seconds, cached: r.cached, key: r.key };
      });
    case 'qra':
      return withRun(cell.attack, async (e, run) => {
        const r = await qra(e, subject, studyQraConfig(study), { ...subjectOpts, run });
        Object.values(r.generator).forEach((t) => t.dispose());
        return { kind: 'qra', evaluation: r.evaluation, queries: r.queries, seconds: r.seconds, cached: r.cached, key: r.key, epsilon: r.config.epsilon };
      });
    case 'transfer':
      return withRun(cell.attack, async (e, run) => {
        const defenses = qraSubjects(study.defenses.map((d) => getDefense(d).name));
        const r = await qraTransferMatrix(e, defenses, [...defenses, 'clean'], studyQraConfig(study), { ...stage, run });
        return { kind: 'transfer', matrix: r.matrix, seconds: (Date.now() - t0) / 1000, cached: r.cached };
      });
    case 'bec':
      return withRun(cell.attack, (e, run) => becCell(e, subject, study.retune || study.qra, { ...subjectOpts, run }));
    default:
      throw new Error(`unknown cell kind "${(cell as Cell).kind}"`);
  }
}
