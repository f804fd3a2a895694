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
import { ARCHS, PartialConfigInput } from './config';
import { purify, Rates } from './purify';
import { lmc, qra, qraTransferMatrix, retune } from './reactivate';
import { becCell, BecCellSummary } from './becStage';
import { Experiment } from './runner';

/** The paper's four attacks: a study's attacks unless it names others (any registered attack, src/attacks/registry.ts). */
export const DEFAULT_STUDY_ATTACKS = ['badnets', 'blended', 'ssba', 'lc'];
/** The quick study's (CI's) two: those that need no trained asset. */
export const QUICK_STUDY_ATTACKS = ['badnets', 'blended'];
export const STUDY_DATASETS = ['fashion-mnist', 'mnist', 'cifar10', 'synthetic'] as const;

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
  model?: { arch: (typeof ARCHS)[number]; widths?: number[]; depth?: number[]; width?: number };
}

export interface StudyConfig {
  dataset: (typeof STUDY_DATASETS)[number];
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
  /** 'backdoored', 'clean', a defense name, or `PAM@rho=0.3` for an ablation run. */
  subject: string;
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
    // The same shrinking as the notebooks' QUICK mode, so the two share cached artifacts.
    ...(study.quick ? { trainLimit: 4000, testLimit: 1000, train: { epochs: 2 } } : {}),
  };
}

/** `PAM@rho=0.3` → PAM with { rho: 0.3 }; a plain name → no overrides. */
export function parseSubject(subject: string): { defense: string; overrides: Record<string, unknown> } {
  const m = /^([A-Za-z]+)@rho=([0-9.]+)$/.exec(subject);
  if (m) return { defense: m[1], overrides: { rho: Number(m[2]) } };
  return { defense: subject, overrides: {} };
}

/** QRA settings of the study: the paper's in the full run; a small generator and few epochs when quick. */
export function studyQraConfig(study: StudyConfig): Record<string, number> {
  return study.quick ? { epochs: 3, hidden: 256, cleanCount: 200, poisonedCount: 200 } : {};
}

/** LMC grid of the study: the spec's t ∈ {0, 0.1, …, 1}; five points when quick. */
export function studyLmcTs(study: StudyConfig): number[] {
  const n = study.quick ? 5 : 11;
  return Array.from({ length: n }, (_, i) => Math.round((i / (n - 1)) * 1e6) / 1e6);
}

const FULL_COST: Record<string, number> = {
  model: 260, FT: 40, EP: 45, FST: 40, SAM: 80, ANP: 150, 'ANP-oracle': 150, BAU: 200, BTI: 170, PAM: 240,
  retune: 30, lmc: 45, qra: 130, transfer: 60, bec: 15,
};

/** How much slower than the default `cnn` a setting's architecture trains (measured: 1,235 vs 308 images/s). */
const ARCH_COST: Record<string, number> = { cnn: 1, 'preact-resnet': 4 };

function cost(study: StudyConfig, kind: CellKind, subject: string, attack: string): number {
  const c = (kind === 'purify' ? FULL_COST[parseSubject(subject).defense] ?? 120
    : kind === 'model' ? (attack === 'none' ? undefined : getAttack(attack).modelCost) ?? FULL_COST.model : FULL_COST[kind] ?? 60) * (ARCH_COST[study.setting?.model?.arch ?? 'cnn'] ?? 1);
  return study.quick ? Math.max(1, c / 12) : c;
}

/** QRA targets: every defense but EP, the oracle that removes the backdoor by construction (as in notebook 03). */
export function qraSubjects(defenses: string[]): string[] {
  return defenses.filter((d) => d !== 'EP');
}

export const cellId = (kind: CellKind, attack: string, seed: number, subject: string) => `${kind}/${attack}/s${seed}/${subject}`;

/** Every cell of the study, dependencies before dependants. */
export function planStudy(study: StudyConfig): Cell[] {
  // Unknown names fail here, before any work.
  for (const a of study.attacks) getAttack(a);
  for (const d of study.defenses) getDefense(d);
  const cells: Cell[] = [];
  const prefix = study.setting ? `${study.setting.name}/` : '';
  const add = (kind: CellKind, attack: string, seed: number, subject: string, deps: string[]) => {
    const id = prefix + cellId(kind, attack, seed, subject);
    cells.push({ id, kind, attack, seed, subject, deps, cost: cost(study, kind, subject, attack) });
    return id;
  };
  const defenses = study.defenses.map((d) => getDefense(d).name);
  const pam = defenses.includes('PAM') || study.pamRhos.length > 0;
  const ablations = pam ? study.pamRhos.filter((r) => r !== PAM_DEFAULT_RHO).map((r) => `PAM@rho=${r}`) : [];
  for (const seed of study.seeds) {
    const clean = add('model', 'none', seed, 'clean', []);
    for (const attack of study.attacks) {
      const backdoored = add('model', attack, seed, 'backdoored', []);
      const purified: Record<string, string> = {};
      for (const s of [...defenses, ...ablations]) purified[s] = add('purify', attack, seed, s, [backdoored]);
      const startOf = (s: string) => (s === 'clean' ? [backdoored, clean] : s === 'backdoored' ? [backdoored] : [purified[s]]);
      const raSubjects = ['backdoored', 'clean', ...defenses, ...ablations];
      const retuned: Record<string, string> = {};
      if (study.retune || study.qra) {
        for (const s of raSubjects) retuned[s] = add('retune', attack, seed, s, startOf(s));
      }
      if (study.lmc) for (const s of ['clean', ...defenses]) add('lmc', attack, seed, s, startOf(s));
      if (study.qra) {
        const qras = qraSubjects(defenses).map((s) => add('qra', attack, seed, s, [retuned[s], clean]));
        if (qras.length > 1) add('transfer', attack, seed, 'all', qras);
      }
      if (study.bec !== false) {
        // The backdoored subject's cell computes the attack's BEC reference (neurons, clean anchor) the others read.
        const ref = add('bec', attack, seed, 'backdoored', [retuned.backdoored ?? backdoored, clean]);
        for (const s of raSubjects.slice(1)) add('bec', attack, seed, s, [ref, ...(retuned[s] ? [retuned[s]] : startOf(s))]);
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
  const { defense, overrides } = parseSubject(cell.subject);
  const subjectOpts = { ...stage, defenseConfig: overrides };
  const subject = cell.subject.includes('@') ? defense : cell.subject;
  switch (cell.kind) {
    case 'model': {
      const r = await exp(cell.attack).run();
      disposeModel(r.trained.model);
      return { kind: 'model', cleanAccuracy: r.evaluation.cleanAccuracy, asr: r.evaluation.asr, seconds: r.trained.seconds, cached: r.trained.cached, key: r.keys.model };
    }
    case 'purify': {
      const e = exp(cell.attack);
      const run = await e.run();
      const r = await purify(e, defense, { run, config: overrides, log, progress: 'silent' });
      disposeModel(r.model);
      disposeModel(run.trained.model);
      const detected = r.report.details?.detectedTarget;
      return { kind: 'purify', defense: r.defense, before: r.evaluation.before, after: r.evaluation.after, seconds: r.report.seconds,
        dataUsed: r.report.dataUsed, cached: r.cached, key: r.key, config: r.config,
        ...(typeof detected === 'number' ? { detection: { detected, target: run.config.attack.target } } : {}) };
    }
    case 'retune': {
      const r = await retune(exp(cell.attack), subject, {}, subjectOpts);
      disposeModel(r.model);
      return { kind: 'retune', history: r.history, seconds: r.seconds, cached: r.cached, key: r.key };
    }
    case 'lmc': {
      const r = await lmc(exp(cell.attack), subject, { ts: studyLmcTs(study) }, subjectOpts);
      return { kind: 'lmc', points: r.points, summary: r.summary, batchNorm: r.config.batchNorm, seconds: r.seconds, cached: r.cached, key: r.key };
    }
    case 'qra': {
      const r = await qra(exp(cell.attack), subject, studyQraConfig(study), subjectOpts);
      Object.values(r.generator).forEach((t) => t.dispose());
      return { kind: 'qra', evaluation: r.evaluation, queries: r.queries, seconds: r.seconds, cached: r.cached, key: r.key, epsilon: r.config.epsilon };
    }
    case 'transfer': {
      const defenses = qraSubjects(study.defenses.map((d) => getDefense(d).name));
      const r = await qraTransferMatrix(exp(cell.attack), defenses, [...defenses, 'clean'], studyQraConfig(study), stage);
      return { kind: 'transfer', matrix: r.matrix, seconds: (Date.now() - t0) / 1000, cached: r.cached };
    }
    case 'bec':
      return becCell(exp(cell.attack), subject, study.retune || study.qra, subjectOpts);
    default:
      throw new Error(`unknown cell kind "${(cell as Cell).kind}"`);
  }
}
