/**
 * The tuning protocol (issue 15: "never tune on what you report"). A defense's defaults are chosen on the
 * tuning settings below — seed 100, target classes 1 and 7, BadNets and Blended — which no reported result
 * uses (the study and the sweep run seeds 0–2 and targets 0, 3, 6, 9). `tune` purifies each tuning model
 * with every point of a grid (each a cached purify stage), grades each point with claim 1's rule, and picks
 * by the rule written here once. What it measured goes to a results note (docs/tuning/<defense>.md), not
 * into the defense's header.
 */
import { getDefense } from '../defenses/registry';
import { disposeModel } from '../models/model';
import { PartialConfigInput } from './config';
import { purify, Rates } from './purify';
import { Experiment } from './runner';
import { quickShrink } from './study';

/** The models every defense is tuned on. */
export const TUNING_SEED = 100;
export const TUNING_SETTINGS: { attack: 'badnets' | 'blended'; target: number }[] = [
  { attack: 'badnets', target: 1 },
  { attack: 'badnets', target: 7 },
  { attack: 'blended', target: 1 },
  { attack: 'blended', target: 7 },
];

export function tuningConfig(s: { attack: string; target: number }, base: { runsDir: string; dataDir?: string; quick?: boolean }): PartialConfigInput {
  return {
    dataset: 'fashion-mnist', dataDir: base.dataDir, runsDir: base.runsDir, seed: TUNING_SEED,
    attack: { name: s.attack as 'badnets', target: s.target },
    ...quickShrink(!!base.quick),
  };
}

export const SELECTION_RULE = 'the grid point that purifies the most tuning models (O-ASR < 10% and C-Acc at most 3 points ' +
  'below the backdoored model), then the lowest mean O-ASR, then the highest mean C-Acc';

export interface TuningCell {
  setting: string;
  before: Rates;
  after: Rates;
  purified: boolean;
  seconds: number;
  /** BTI/PAM: the detected target class. */
  detected?: number;
  target: number;
}

export interface TuningPoint {
  overrides: Record<string, unknown>;
  cells: TuningCell[];
  purified: number;
  meanAsr: number;
  meanCleanAccuracy: number;
}

/** Every combination of the grid's values, in the grid's order. */
export function gridPoints(grid: Record<string, unknown[]>): Record<string, unknown>[] {
  let points: Record<string, unknown>[] = [{}];
  for (const [k, values] of Object.entries(grid)) {
    if (!Array.isArray(values) || values.length === 0) throw new Error(`tune: grid field "${k}" must be a non-empty array of values`);
    points = points.flatMap((p) => values.map((v) => ({ ...p, [k]: v })));
  }
  return points;
}

/** Index of the point the selection rule picks. */
export function selectPoint(points: TuningPoint[]): number {
  let best = 0;
  points.forEach((p, i) => {
    const b = points[best];
    if (p.purified > b.purified || (p.purified === b.purified && (p.meanAsr < b.meanAsr - 1e-12
      || (Math.abs(p.meanAsr - b.meanAsr) <= 1e-12 && p.meanCleanAccuracy > b.meanCleanAccuracy)))) best = i;
  });
  return best;
}

export async function tuneDefense(defense: string, grid: Record<string, unknown[]>, base: { runsDir: string; dataDir?: string; quick?: boolean },
  opts: { log?: (line: string) => void; fixed?: Record<string, unknown> } = {}): Promise<{ points: TuningPoint[]; chosen: number }> {
  const d = getDefense(defense);
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const points: TuningPoint[] = [];
  for (const overrides of gridPoints(grid)) {
    const config = { ...opts.fixed, ...overrides };
    const cells: TuningCell[] = [];
    for (const s of TUNING_SETTINGS) {
      const exp = new Experiment(tuningConfig(s, base), { log, progress: 'silent' });
      const run = await exp.run();
      const r = await purify(exp, d.name, { run, config, log: () => undefined, progress: 'silent' });
      const drop = r.evaluation.before.cleanAccuracy - r.evaluation.after.cleanAccuracy;
      const detected = r.report.details?.detectedTarget;
      cells.push({ setting: `${s.attack} t${s.target}`, before: r.evaluation.before, after: r.evaluation.after,
        purified: r.evaluation.after.asr < 0.1 && drop <= 0.03, seconds: r.report.seconds, target: s.target,
        ...(typeof detected === 'number' ? { detected } : {}) });
      log(`tune ${d.name} ${JSON.stringify(overrides)} ${s.attack} t${s.target}: C-Acc ${(100 * r.evaluation.after.cleanAccuracy).toFixed(1)}% ` +
        `ASR ${(100 * r.evaluation.before.asr).toFixed(1)}% → ${(100 * r.evaluation.after.asr).toFixed(1)}%${r.cached ? ' (cached)' : ''}`);
      disposeModel(r.model);
      disposeModel(run.trained.model);
    }
    const mean = (f: (c: TuningCell) => number) => cells.reduce((a, c) => a + f(c), 0) / cells.length;
    points.push({ overrides, cells, purified: cells.filter((c) => c.purified).length,
      meanAsr: mean((c) => c.after.asr), meanCleanAccuracy: mean((c) => c.after.cleanAccuracy) });
  }
  return { points, chosen: selectPoint(points) };
}

/** The results note of one tuning run, in Markdown. */
export function tuningMarkdown(defense: string, grid: Record<string, unknown[]>, fixed: Record<string, unknown> | undefined,
  r: { points: TuningPoint[]; chosen: number }, engine?: string): string {
  const pct = (x: number) => (100 * x).toFixed(1);
  const settings = TUNING_SETTINGS.map((s) => `${s.attack} t${s.target}`);
  const before = r.points[0]?.cells.map((c) => `${c.setting} ${pct(c.before.cleanAccuracy)} / ${pct(c.before.asr)}`).join(', ');
  const lines = [
    `## ${defense}: grid ${JSON.stringify(grid)}${fixed && Object.keys(fixed).length ? ` (with ${JSON.stringify(fixed)})` : ''}`, '',
    `Tuning models: Fashion-MNIST, cnn, seed ${TUNING_SEED}, ${settings.join(', ')}; backdoored C-Acc / ASR: ${before}. ` +
    `Rule: ${SELECTION_RULE}.${engine ? ` Run on: ${engine}, ${new Date().toISOString().slice(0, 10)}.` : ''}`, '',
    `| point | purified | mean O-ASR | mean C-Acc | ${settings.map((s) => `${s} C-Acc / O-ASR`).join(' | ')} |`,
    `|:---|---:|---:|---:|${settings.map(() => '---:').join('|')}|`,
    ...r.points.map((p, i) => `| ${i === r.chosen ? '**' : ''}${JSON.stringify(p.overrides)}${i === r.chosen ? '** (chosen)' : ''} | ${p.purified}/${p.cells.length} | ` +
      `${pct(p.meanAsr)} | ${pct(p.meanCleanAccuracy)} | ${p.cells.map((c) => `${pct(c.after.cleanAccuracy)} / ${pct(c.after.asr)}` +
        `${c.detected !== undefined ? ` (t̂ ${c.detected}${c.detected === c.target ? ' ✔' : ' ✘'})` : ''}`).join(' | ')} |`),
    '',
  ];
  return lines.join('\n');
}
