/**
 * The report of a `reproduce` run, under reports/<run>/: the results table in the paper's Table 1 layout
 * (Markdown, CSV, HTML), every figure (standalone HTML; PNG and SVG when Debian's chromium is present),
 * claims.md (spec §13, each with the measured quantity and a computed verdict), config.json, and
 * index.html with all of it on one page.
 */
import * as fs from 'fs';
import * as path from 'path';
import { attackLabel as label } from '../attacks/registry';
import { Cell, CellSummary, StudyConfig } from '../experiment/study';
import { writeJsonAtomic } from '../io/json';
import { chromiumAvailable } from '../viz/chromium';
import { renderFigures, NamedFigure } from '../viz/export';
import { groupedBars, heatmap, linePlot } from '../viz/figures';
import { figureHtml, standalonePage } from '../viz/html';
import { ResultRow, tableHtml, toMarkdown, toPaperLayout } from '../viz/tables';
import { Figure } from '../viz/types';
import { becFigures, checkBecClaim } from './becReport';
import { checkClaims, claimsMarkdown } from './claims';
import { renderReportPage } from './reportPage';
import { collectResults, methodPamRho, NO_DEFENSE, Stat, StudyResults } from './studyResults';

export interface ReportOptions {
  outDir: string;
  /** Also export PNG + SVG (needs chromium). */
  images: boolean;
  seconds: number;
  workers: number;
  /** The compute engine that ran the cells (describeEngine), recorded in config.json. */
  engine?: string;
  failed: Map<string, Error>;
  log: (line: string) => void;
}

const pct = (s: Stat | null) => (s ? 100 * s.mean : NaN);
const pctStd = (s: Stat | null) => (s && s.std !== null ? 100 * s.std : null);
/** Error bars only where some value has a spread (one seed: none, rather than zero-height caps). */
const errorsOf = (xs: (number | null)[]) => (xs.some((x) => x !== null) ? xs : undefined);

/** The setting in words: dataset, model, poisoning, target and trigger position (the default study's unless a sweep changed them). */
export function settingCaption(study: StudyConfig): string {
  const s = study.setting;
  const arch = s?.model ? `${s.model.arch}${s.model.widths ? ` ${s.model.widths.join('-')}` : ''}` : 'cnn';
  const rate = s?.poisonRate !== undefined ? `${+(100 * s.poisonRate).toFixed(2)}% poisoning` : '5% poisoning (LC: 10%, target class only)';
  const patch = s?.patchPosition ? `, BadNets patch ${s.patchPosition}` : '';
  return `${study.dataset}, ${arch}, ${rate}, target ${s?.target ?? 0}${patch}${study.quick ? ', QUICK mode' : ''}`;
}

/** Long-format rows of the Table 1 analogue: per method and attack, C-Acc / ASR as left by the defender, after RA, and QRA. */
export function tableRows(r: StudyResults): ResultRow[] {
  const rows: ResultRow[] = [];
  for (const row of r.rows) {
    const attack = label(row.attack);
    const add = (metric: string, s: Stat | null) => { if (s) rows.push({ method: row.method, attack, metric, value: pct(s), std: pctStd(s) }); };
    add('C-Acc', row.cleanAccuracy);
    add('O-ASR', row.oAsr);
    add('P-C-Acc', row.pCleanAccuracy);
    add('P-ASR', row.pAsr);
    add('QRA-ASR', row.qraAsr);
    add('BEC', row.bec ?? null);
    add('P-BEC', row.pBec ?? null);
  }
  return rows;
}

/**
 * results.csv: one row per method, attack and metric, with the mean, the sample std, and each seed's value
 * in its own column (in %), so the spread behind every mean in the tables can be recomputed.
 */
export function resultsCsv(r: StudyResults): string {
  const seeds = r.study.seeds;
  const lines = [['method', 'attack', 'metric', 'mean', 'std', 'n', ...seeds.map((s) => `seed_${s}`)].join(',')];
  const num = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '' : (100 * x).toFixed(4));
  for (const row of r.rows) {
    const metrics: [string, Stat | null][] = [['C-Acc', row.cleanAccuracy], ['O-ASR', row.oAsr], ['P-C-Acc', row.pCleanAccuracy],
      ['P-ASR', row.pAsr], ['QRA-ASR', row.qraAsr]];
    for (const [metric, st] of metrics) {
      if (!st) continue;
      // A Stat holds one value per seed that produced one, in seed order.
      const perSeed = st.values.length === seeds.length ? st.values : seeds.map(() => NaN);
      lines.push([JSON.stringify(row.method), label(row.attack), metric, num(st.mean), num(st.std), String(st.n), ...perSeed.map(num)].join(','));
    }
  }
  return `${lines.join('\n')}\n`;
}

export function studyFigures(r: StudyResults): NamedFigure[] {
  const figs: NamedFigure[] = [];
  const seeds = r.study.seeds.length > 1 ? ` (mean ± std over ${r.study.seeds.length} seeds)` : '';
  const defenses = r.methods.filter((m) => m !== NO_DEFENSE);
  // Figure 1 analogue: O-ASR and P-ASR per method, grouped by attack.
  figs.push({
    name: 'o-asr-vs-p-asr',
    figure: groupedBars({
      title: `ASR before (O-ASR) and after the retuning attack (P-ASR)${seeds}`,
      categories: defenses.flatMap((m) => r.attacks.map((a) => `${m} · ${label(a)}`)),
      series: [
        { name: 'O-ASR (as purified)', values: defenses.flatMap((m) => r.attacks.map((a) => nullable(pct(r.get(a, m)?.oAsr ?? null)))),
          errors: errorsOf(defenses.flatMap((m) => r.attacks.map((a) => pctStd(r.get(a, m)?.oAsr ?? null)))), color: '#4c78a8' },
        { name: 'P-ASR (after RA)', values: defenses.flatMap((m) => r.attacks.map((a) => nullable(pct(r.get(a, m)?.pAsr ?? null)))),
          errors: errorsOf(defenses.flatMap((m) => r.attacks.map((a) => pctStd(r.get(a, m)?.pAsr ?? null)))), color: '#e45756', hatched: true },
      ],
      xTitle: 'method · attack', yTitle: 'ASR (%)', yRange: [0, 100], height: 480,
    }),
  });
  for (const a of r.attacks) {
    const withRa = r.methods.map((m) => r.get(a, m)!).filter((x) => x && x.raCurve.length > 0);
    if (withRa.length > 0) {
      figs.push({ name: `ra-curves-${a}`, figure: linePlot({
        title: `${label(a)}: ASR during the retuning attack`, xTitle: 'RA epoch', yTitle: 'ASR (%)', yRange: [0, 100],
        series: withRa.map((x) => ({ name: x.method, x: x.raCurve.map((p) => p.epoch), y: x.raCurve.map((p) => 100 * p.asr) })),
      }) });
    }
    const withLmc = r.methods.map((m) => r.get(a, m)!).filter((x) => x && x.lmc.length > 0);
    if (withLmc.length > 0) {
      figs.push({ name: `lmc-backdoor-error-${a}`, figure: linePlot({
        title: `${label(a)}: backdoor error (1 − ASR) from the purified (t = 0) to the backdoored model (t = 1)`,
        xTitle: 't', yTitle: 'backdoor error (%)', yRange: [0, 100],
        series: withLmc.map((x) => ({ name: x.method, x: x.lmc.map((p) => p.t), y: x.lmc.map((p) => 100 * (1 - p.asr)) })),
      }) });
      figs.push({ name: `lmc-clean-accuracy-${a}`, figure: linePlot({
        title: `${label(a)}: C-Acc along the same paths`, xTitle: 't', yTitle: 'C-Acc (%)',
        series: withLmc.map((x) => ({ name: x.method, x: x.lmc.map((p) => p.t), y: x.lmc.map((p) => 100 * p.cleanAccuracy) })),
      }) });
    }
  }
  const withQra = defenses.filter((m) => r.attacks.some((a) => r.get(a, m)?.qraAsr));
  if (withQra.length > 0) {
    figs.push({ name: 'qra-asr', figure: groupedBars({
      title: `QRA: ASR on triggered inputs + δ, purified model vs. clean model${seeds}`,
      categories: withQra.flatMap((m) => r.attacks.map((a) => `${m} · ${label(a)}`)),
      series: [
        { name: 'purified model', values: withQra.flatMap((m) => r.attacks.map((a) => nullable(pct(r.get(a, m)?.qraAsr ?? null)))),
          errors: errorsOf(withQra.flatMap((m) => r.attacks.map((a) => pctStd(r.get(a, m)?.qraAsr ?? null)))), color: '#e45756' },
        { name: 'clean model', values: withQra.flatMap((m) => r.attacks.map((a) => nullable(pct(r.get(a, m)?.qraAsrClean ?? null)))),
          errors: errorsOf(withQra.flatMap((m) => r.attacks.map((a) => pctStd(r.get(a, m)?.qraAsrClean ?? null)))), color: '#54a24b' },
      ],
      xTitle: 'defense · attack', yTitle: 'ASR with δ (%)', yRange: [0, 100], height: 480,
    }) });
  }
  for (const [a, m] of Object.entries(r.transfer)) {
    const from = Object.keys(m);
    const to = Object.keys(m[from[0]]);
    figs.push({ name: `qra-transfer-${a}`, figure: heatmap({
      title: `${label(a)}: QRA transfer — generator trained against one defense (row), evaluated on another model (column)`,
      z: from.map((f) => to.map((t) => 100 * m[f][t])), x: to, y: from, xTitle: 'evaluated on', yTitle: 'trained against',
      colorbarTitle: 'ASR (%)', annotate: true, digits: 0, zRange: [0, 100],
    }) });
  }
  figs.push(...becFigures(r, label));
  const rhoMethods = r.methods.filter((m) => methodPamRho(r, m) !== undefined);
  if (rhoMethods.length > 1) {
    const rhoOf = (m: string) => methodPamRho(r, m)!;
    const sorted = [...rhoMethods].sort((x, y) => rhoOf(x) - rhoOf(y));
    figs.push({ name: 'pam-rho', figure: linePlot({
      title: 'PAM: C-Acc and P-ASR against ρ', xTitle: 'ρ', yTitle: '%', yRange: [0, 100],
      series: r.attacks.flatMap((a) => [
        { name: `${label(a)} C-Acc`, x: sorted.map(rhoOf), y: sorted.map((m) => nullable(pct(r.get(a, m)?.cleanAccuracy ?? null))) },
        { name: `${label(a)} P-ASR`, x: sorted.map(rhoOf), y: sorted.map((m) => nullable(pct(r.get(a, m)?.pAsr ?? null))), dash: 'dash' as const },
      ]),
    }) });
  }
  return figs;
}

const nullable = (x: number) => (Number.isFinite(x) ? x : null);

export async function writeReport(study: StudyConfig, cells: Cell[], summaries: Map<string, CellSummary>, opts: ReportOptions): Promise<string[]> {
  const r = collectResults(study, cells, summaries);
  const dir = opts.outDir;
  const figDir = path.join(dir, 'figures');
  fs.mkdirSync(figDir, { recursive: true });
  const files: string[] = [];
  const put = (name: string, text: string) => { const f = path.join(dir, name); fs.writeFileSync(f, text); files.push(f); };

  const rows = tableRows(r);
  const table = rows.length > 0
    ? toPaperLayout(rows, { methodOrder: r.methods, attackOrder: r.attacks.map(label), metricOrder: ['C-Acc', 'O-ASR', 'P-C-Acc', 'P-ASR', 'QRA-ASR'] })
    : null;
  const caption = `${settingCaption(study)}; seeds ${study.seeds.join(', ')}. ` +
    'C-Acc / O-ASR: the model as the defender leaves it (for "No defense", the backdoored model); P-*: after the retuning attack; ' +
    'QRA-ASR: ASR of that model on triggered inputs + δ (%).' +
    (rows.some((x) => x.metric === 'BEC') ? ' BEC / P-BEC: backdoor existence coefficient of that model before / after RA, ×100 ' +
      '(100: the backdoored model\'s backdoor features, 0: the clean model\'s).' : '');
  if (table) {
    put('results.md', `# Results\n\n${caption}\n\n${toMarkdown(table)}\n`);
    put('results.csv', resultsCsv(r));
    put('results.html', standalonePage('Results', tableHtml(table, { caption }), { includePlotly: false }));
  }

  const checks = [...checkClaims(r), checkBecClaim(r)];
  const header = `# Claims (paper-spec §13) checked on this run\n\n${caption}\nVerdicts are computed by src/report/claims.ts from the numbers below; ` +
    'thresholds are the spec\'s suggested (S) ones; claim 12, an extension beyond the spec (BEC, issue 20), by src/report/becReport.ts. ' +
    'Nothing here is copied from the paper.';
  put('claims.md', claimsMarkdown(checks, header));

  await writeJsonAtomic(path.join(dir, 'config.json'), {
    study, workers: opts.workers, seconds: opts.seconds, ...(opts.engine ? { engine: opts.engine } : {}),
    defenses: Object.fromEntries([...summaries.entries()].filter(([, s]) => s.kind === 'purify').map(([id, s]) => [id, s.kind === 'purify' ? s.config : null])),
    cells: Object.fromEntries(cells.map((c) => [c.id, (summaries.get(c.id) as { key?: string } | undefined)?.key ?? null])),
    failed: Object.fromEntries([...opts.failed.entries()].map(([k, e]) => [k, e.message])),
  });
  files.push(path.join(dir, 'config.json'));

  const figs = studyFigures(r);
  for (const f of figs) {
    const file = path.join(figDir, `${f.name}.html`);
    fs.writeFileSync(file, standalonePage(f.name, figureHtml(f.figure)));
    files.push(file);
  }
  if (opts.images && figs.length > 0) {
    if (chromiumAvailable()) {
      try {
        files.push(...await renderFigures(figs, { outDir: figDir }));
      } catch (e) {
        opts.log(`report: PNG/SVG export failed (${(e as Error).message}); the HTML figures are written`);
      }
    } else {
      opts.log('report: chromium not found, so figures are HTML only (apt-get install chromium for PNG/SVG)');
    }
  }
  const exists = (rel: string) => fs.existsSync(path.join(dir, rel));
  const page = renderReportPage({
    title: 'superficial-safety — reproduce report',
    runLine: `${study.attacks.map(label).join(', ')} · ${r.methods.length} methods · ${opts.seconds.toFixed(0)} s on ${opts.workers || 1} worker(s)` +
      ` · written ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    setting: caption,
    claims: checks,
    tableHtml: table ? tableHtml(table) : null,
    tableFiles: ['results.csv', 'results.md', 'results.html'].filter(exists),
    figures: figs.map((f) => ({
      name: f.name,
      // A title's line breaks (Plotly markup) become separators: the page shows the caption as text.
      caption: `${((f.figure as Figure).layout.title?.text ?? f.name).replace(/<br\s*\/?>/g, ' · ')} (${f.name})`,
      html: figureHtml(f.figure as Figure),
      files: ['png', 'svg', 'html'].map((x) => `figures/${f.name}.${x}`).filter(exists),
    })),
    failed: [...opts.failed.keys()],
    repairs: repairedArtifacts(path.join(dir, 'log.txt')),
    // cells.md is written by the caller after this page; log.txt is being written.
    otherFiles: ['claims.md', 'config.json', 'cells.md', 'log.txt'],
  });
  put('index.html', page);
  opts.log(`report: ${files.length} files in ${dir}`);
  return files;
}

/**
 * The cache moves a damaged artifact aside and recomputes it (ArtifactStore.getOrCompute); its warning, which
 * names the artifact, what was wrong and where the damaged copy went, reaches the run's log.txt from every
 * worker. The report repeats those lines so that a repair is not seen only by whoever reads the log.
 */
export function repairedArtifacts(logFile: string): string[] {
  if (!fs.existsSync(logFile)) return [];
  return fs.readFileSync(logFile, 'utf8').split('\n')
    .map((l) => /warning: (artifact \S+ is corrupt .*)$/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined);
}
