/**
 * The study's measured numbers, gathered from cell summaries into one record per (attack, method), averaged
 * over seeds (mean and sample standard deviation). Everything the report's tables, figures and claims show
 * comes from here, so they cannot disagree.
 */
import { BACKDOORED_SUBJECT, BecCellSummary, Cell, CellSummary, CLEAN_SUBJECT, LmcCellSummary, ModelSummary, pamRho, PurifySummary, QraSummary, RetuneSummary,
  StudyConfig, StudySubject, subjectLabel, TransferSummary } from '../experiment/study';

export interface Stat {
  mean: number;
  /** Sample standard deviation over seeds; null with one seed. */
  std: number | null;
  n: number;
  /** The per-seed values, in seed order (claims must hold on each of them, not only on the mean). */
  values: number[];
}

export function stat(xs: number[]): Stat | null {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return null;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : null;
  return { mean, std, n: v.length, values: v };
}

export const CLEAN = 'Clean';
export const NO_DEFENSE = 'No defense';

export interface MethodResult {
  attack: string;
  method: string;
  /** C-Acc and ASR of the model as the defender leaves it (O-Robustness; O-Backdoor for "No defense"). */
  cleanAccuracy: Stat | null;
  oAsr: Stat | null;
  /** After the retuning attack (P-Robustness). */
  pCleanAccuracy: Stat | null;
  pAsr: Stat | null;
  /** ASR per RA epoch (mean over seeds), epoch 0 = before RA. */
  raCurve: { epoch: number; asr: number; cleanAccuracy: number }[];
  /** QRA: ASR with δ on this model, on the clean model, C-Acc of this model on clean inputs with δ. */
  qraAsr: Stat | null;
  qraAsrClean: Stat | null;
  qraCleanAccuracy: Stat | null;
  qraQueries: number | null;
  /** LMC towards the backdoored model (mean over seeds at each t). */
  lmc: { t: number; asr: number; cleanAccuracy: number }[];
  lmcTAsrAbove50: (number | null)[];
  lmcArea: Stat | null;
  lmcDistance: Stat | null;
  /** Defense wall time (seconds, mean over seeds). */
  seconds: Stat | null;
  /** Trigger-inversion defenses: on how many seeds the detected target was the real one. */
  detection: { correct: number; total: number; detected: number[] } | null;
  /** Backdoor existence coefficient of this model and of it after RA (analysis/bec; 1 = backdoored, 0 = clean). */
  bec?: Stat | null;
  pBec?: Stat | null;
}

export interface StudyResults {
  study: StudyConfig;
  attacks: string[];
  /** Table order: Clean, No defense, then the defenses (and PAM ablations). */
  methods: string[];
  /** The study subject each method row measures. */
  subjects: Record<string, StudySubject>;
  rows: MethodResult[];
  /** attack → from-defense → to-model → ASR with the from-generator's δ (mean over seeds). */
  transfer: Record<string, Record<string, Record<string, number>>>;
  get(attack: string, method: string): MethodResult | undefined;
}

function meanCurve<T extends Record<string, number>>(curves: T[][], key: keyof T): T[] {
  if (curves.length === 0) return [];
  const n = Math.min(...curves.map((c) => c.length));
  return Array.from({ length: n }, (_, i) => {
    const out: Record<string, number> = {};
    for (const k of Object.keys(curves[0][i])) out[k] = curves.reduce((a, c) => a + c[i][k], 0) / curves.length;
    out[key as string] = curves[0][i][key];
    return out as T;
  });
}

function detectionOf(purified: PurifySummary[]): MethodResult['detection'] {
  const d = purified.map((p) => p.detection).filter((x): x is NonNullable<PurifySummary['detection']> => !!x);
  return d.length === 0 ? null
    : { correct: d.filter((x) => x.detected === x.target).length, total: d.length, detected: d.map((x) => x.detected) };
}

export function collectResults(study: StudyConfig, cells: Cell[], summaries: Map<string, CellSummary>): StudyResults {
  const find = <S extends CellSummary>(kind: Cell['kind'], attack: string, subject: string) => cells
    .filter((c) => c.kind === kind && c.attack === attack && c.subject && subjectLabel(c.subject) === subject && summaries.has(c.id))
    .map((c) => summaries.get(c.id) as S);
  const subjects: Record<string, StudySubject> = { [CLEAN]: CLEAN_SUBJECT, [NO_DEFENSE]: BACKDOORED_SUBJECT };
  for (const c of cells) if (c.kind === 'purify' && c.subject) subjects[subjectLabel(c.subject)] = c.subject;
  const methods = Object.keys(subjects);
  const rows: MethodResult[] = [];
  const transfer: StudyResults['transfer'] = {};
  for (const attack of study.attacks) {
    const backdoored = find<ModelSummary>('model', attack, 'backdoored');
    for (const method of methods) {
      const subject = subjectLabel(subjects[method]);
      const ra = find<RetuneSummary>('retune', attack, subject);
      const purified = find<PurifySummary>('purify', attack, subject);
      const qra = find<QraSummary>('qra', attack, subject);
      const lmc = find<LmcCellSummary>('lmc', attack, subject);
      const bec = find<BecCellSummary>('bec', attack, subject);
      // O-* numbers: the purify stage's evaluation; for Clean / No defense the RA's epoch 0 (same model, same test sets).
      const o = purified.length > 0
        ? purified.map((p) => p.after)
        : method === NO_DEFENSE && backdoored.length > 0 && ra.length === 0
          ? backdoored.map((b) => ({ cleanAccuracy: b.cleanAccuracy, asr: b.asr }))
          : ra.map((r) => ({ cleanAccuracy: r.history[0].cleanAccuracy, asr: r.history[0].asr }));
      const last = ra.map((r) => r.history[r.history.length - 1]);
      rows.push({
        attack, method,
        cleanAccuracy: stat(o.map((x) => x.cleanAccuracy)),
        oAsr: stat(o.map((x) => x.asr)),
        pCleanAccuracy: stat(last.map((x) => x.cleanAccuracy)),
        pAsr: stat(last.map((x) => x.asr)),
        raCurve: meanCurve(ra.map((r) => r.history.map((h) => ({ epoch: h.epoch, asr: h.asr, cleanAccuracy: h.cleanAccuracy }))), 'epoch'),
        // The qra stage names the attacked model 'purified' (JSON round trips reorder keys, so never index by position).
        qraAsr: stat(qra.map((q) => q.evaluation.asrPerturbed.purified)),
        qraAsrClean: stat(qra.map((q) => q.evaluation.asrPerturbed.clean)),
        qraCleanAccuracy: stat(qra.map((q) => q.evaluation.cleanAccuracyPerturbed.purified)),
        qraQueries: qra.length > 0 ? qra[0].queries : null,
        lmc: meanCurve(lmc.map((l) => l.points.map((p) => ({ t: p.t, asr: p.asr, cleanAccuracy: p.cleanAccuracy }))), 't'),
        lmcTAsrAbove50: lmc.map((l) => l.summary.tAsrAbove50),
        lmcArea: stat(lmc.map((l) => l.summary.backdoorErrorArea)),
        lmcDistance: stat(lmc.map((l) => l.summary.distance)),
        seconds: stat(purified.map((p) => p.seconds)),
        detection: detectionOf(purified),
        bec: stat(bec.map((b) => b.bec)),
        pBec: stat(bec.flatMap((b) => (b.retuned ? [b.retuned.bec] : []))),
      });
    }
    const tr = cells.filter((c) => c.kind === 'transfer' && c.attack === attack && summaries.has(c.id))
      .map((c) => (summaries.get(c.id) as TransferSummary).matrix);
    if (tr.length > 0) {
      const m: Record<string, Record<string, number>> = {};
      for (const from of Object.keys(tr[0])) {
        m[from] = {};
        for (const to of Object.keys(tr[0][from])) m[from][to] = tr.reduce((a, x) => a + (x[from]?.[to] ?? NaN), 0) / tr.length;
      }
      transfer[attack] = m;
    }
  }
  return {
    study, attacks: [...study.attacks], methods, subjects, rows, transfer,
    get: (attack, method) => rows.find((r) => r.attack === attack && r.method === method),
  };
}

/** PAM's ρ of a method row (PAM and its ablations), from its subject; undefined for every other method. */
export function methodPamRho(r: Pick<StudyResults, 'subjects'>, method: string): number | undefined {
  const s = r.subjects[method];
  return s ? pamRho(s) : undefined;
}
