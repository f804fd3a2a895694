/**
 * The report of a settings sweep: each setting's own report under settings/<name>/ (the study report, so a
 * setting reads exactly like a `reproduce` run), and on top a page that puts the settings side by side —
 * per defense, how often it purified and how far RA brought the backdoor back on the pairs that did (the
 * superficial-safety gap), BTI's and PAM's target detection, and claim 4's computed verdict. The numbers
 * come from collectResults and the rules from claims.ts, as in every other report.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Cell, CellSummary, StudyConfig } from '../experiment/study';
import { Sweep } from '../experiment/sweep';
import { chromiumAvailable } from '../viz/chromium';
import { NamedFigure, renderFigures } from '../viz/export';
import { groupedBars, heatmap } from '../viz/figures';
import { escapeHtml, figureHtml, standalonePage } from '../viz/html';
import { Figure } from '../viz/types';
import { checkClaim4, ClaimCheck, isPurified, seedPick, settingPattern, SettingPattern } from './claims';
import { renderReportPage } from './reportPage';
import { ReportOptions, settingCaption, writeReport } from './studyReport';
import { collectResults, CLEAN, NO_DEFENSE, StudyResults } from './studyResults';

export interface SettingResults {
  name: string;
  about?: string;
  study: StudyConfig;
  results: StudyResults;
  pattern: SettingPattern;
}

/** One defense in one setting, over its (attack, seed) pairs. */
export interface DefenseAcrossSetting {
  setting: string;
  defense: string;
  pairs: number;
  purified: number;
  /** P-ASR − O-ASR on the purified pairs: mean and sample std (null with fewer than two pairs). */
  gapMean: number | null;
  gapStd: number | null;
  gaps: number[];
  /** BTI/PAM: how many pairs detected the real target. */
  detection: { correct: number; total: number } | null;
  /** O-ASR and P-ASR over every (attack, seed) pair, purified or not: mean and sample std. */
  oAsr: { mean: number; std: number | null } | null;
  pAsr: { mean: number; std: number | null } | null;
}

function meanStd(xs: number[]): { mean: number; std: number | null } | null {
  const v = xs.filter(Number.isFinite);
  if (v.length === 0) return null;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, std: v.length > 1 ? Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / (v.length - 1)) : null };
}

export function sweepResults(sweep: Sweep, planned: { study: StudyConfig; cell: Cell }[], summaries: Map<string, CellSummary>,
  studies: StudyConfig[] = [...new Set(planned.map((p) => p.study))]): SettingResults[] {
  return studies.map((study, i) => {
    const own = planned.filter((p) => p.study === study).map((p) => p.cell);
    const results = collectResults(study, own, summaries);
    return { name: sweep.settings[i].name, about: sweep.settings[i].about, study, results, pattern: settingPattern(results) };
  });
}

/** Per defense and setting: purification rate and the superficial-safety gap on the purified pairs. */
export function acrossSettings(settings: SettingResults[]): DefenseAcrossSetting[] {
  const out: DefenseAcrossSetting[] = [];
  for (const s of settings) {
    const r = s.results;
    const nSeeds = r.study.seeds.length;
    for (const defense of r.methods.filter((m) => m !== NO_DEFENSE && m !== CLEAN)) {
      let pairs = 0;
      let correct = 0;
      let detTotal = 0;
      const gaps: number[] = [];
      const os: number[] = [];
      const ps: number[] = [];
      for (const a of r.attacks) {
        const row = r.get(a, defense);
        const bd = r.get(a, NO_DEFENSE);
        if (!row?.oAsr) continue;
        for (let i = 0; i < nSeeds; i++) {
          const v = seedPick(i);
          pairs++;
          os.push(v(row.oAsr));
          if (row.pAsr) ps.push(v(row.pAsr));
          if (isPurified(row, bd, v) && row.pAsr) gaps.push(v(row.pAsr) - v(row.oAsr));
        }
        if (row.detection) {
          correct += row.detection.correct;
          detTotal += row.detection.total;
        }
      }
      const mean = gaps.length ? gaps.reduce((x, y) => x + y, 0) / gaps.length : null;
      const std = gaps.length > 1 && mean !== null ? Math.sqrt(gaps.reduce((x, g) => x + (g - mean) ** 2, 0) / (gaps.length - 1)) : null;
      out.push({ setting: s.name, defense, pairs, purified: gaps.length, gapMean: mean, gapStd: std, gaps,
        detection: detTotal > 0 ? { correct, total: detTotal } : null, oAsr: meanStd(os), pAsr: meanStd(ps) });
    }
  }
  return out;
}

const pct1 = (x: number | null) => (x === null ? '–' : (100 * x).toFixed(1));

/** The settings table in Markdown: one row per defense, per setting "purified/pairs · gap ± std". */
export function acrossSettingsMarkdown(settings: SettingResults[], rows: DefenseAcrossSetting[]): string {
  const names = settings.map((s) => s.name);
  const defenses = [...new Set(rows.map((r) => r.defense))];
  const cell = (d: string, s: string) => {
    const r = rows.find((x) => x.defense === d && x.setting === s);
    if (!r) return '';
    const gap = r.gapMean === null ? '' : ` · ${pct1(r.gapMean)}${r.gapStd === null ? '' : ` ± ${pct1(r.gapStd)}`}`;
    const det = r.detection ? ` · target ${r.detection.correct}/${r.detection.total}` : '';
    return `${r.purified}/${r.pairs}${gap}${det}`;
  };
  return [
    `| defense | ${names.join(' | ')} |`,
    `|:---|${names.map(() => '---:').join('|')}|`,
    ...defenses.map((d) => `| ${d} | ${names.map((s) => cell(d, s)).join(' | ')} |`),
  ].join('\n');
}

export function sweepFigures(settings: SettingResults[], rows: DefenseAcrossSetting[]): NamedFigure[] {
  const names = settings.map((s) => s.name);
  const defenses = [...new Set(rows.map((r) => r.defense))];
  const at = (d: string, s: string) => rows.find((x) => x.defense === d && x.setting === s);
  const cats = defenses.flatMap((d) => names.map((s) => ({ d, s })));
  const bar = (f: (r: DefenseAcrossSetting) => { mean: number; std: number | null } | null) => ({
    values: cats.map(({ d, s }) => { const r = at(d, s); const m = r && f(r); return m ? 100 * m.mean : null; }),
    errors: cats.map(({ d, s }) => { const r = at(d, s); const m = r && f(r); return m && m.std !== null ? 100 * m.std : null; }),
  });
  const o = bar((r) => r.oAsr);
  const p = bar((r) => r.pAsr);
  const anyErr = [...o.errors, ...p.errors].some((x) => x !== null);
  return [
    { name: 'sweep-o-vs-p', figure: groupedBars({
      title: 'O-ASR and P-ASR per defense and setting (mean ± std over attacks and seeds)',
      categories: cats.map(({ d, s }) => `${d} · ${s}`),
      series: [
        { name: 'O-ASR (as purified)', values: o.values, ...(anyErr ? { errors: o.errors } : {}), color: '#4c78a8' },
        { name: 'P-ASR (after RA)', values: p.values, ...(anyErr ? { errors: p.errors } : {}), color: '#e45756', hatched: true },
      ],
      xTitle: 'defense · setting', yTitle: 'ASR (%)', yRange: [0, 100], height: 520,
    }) },
    { name: 'sweep-gap', figure: heatmap({
      title: 'Superficial-safety gap: P-ASR − O-ASR on the pairs that purified (mean over attacks and seeds; blank: none purified)',
      z: defenses.map((d) => names.map((s) => { const r = at(d, s); return r?.gapMean === null || !r ? null : 100 * r.gapMean; })),
      x: names, y: defenses, xTitle: 'setting', yTitle: 'defense', colorbarTitle: 'points', annotate: true, digits: 0, zRange: [0, 100],
    }) },
    { name: 'sweep-purified', figure: heatmap({
      title: 'Purification rate: share of (attack, seed) pairs with O-ASR < 10% and C-Acc within 3 points',
      z: defenses.map((d) => names.map((s) => { const r = at(d, s); return r && r.pairs > 0 ? 100 * (r.purified / r.pairs) : null; })),
      x: names, y: defenses, xTitle: 'setting', yTitle: 'defense', colorbarTitle: '% purified', annotate: true, digits: 0, zRange: [0, 100],
    }) },
  ];
}

export async function writeSweepReport(sweep: Sweep, studies: StudyConfig[], planned: { study: StudyConfig; cell: Cell }[],
  summaries: Map<string, CellSummary>, opts: ReportOptions): Promise<string[]> {
  const dir = opts.outDir;
  const files: string[] = [];
  const settings = sweepResults(sweep, planned, summaries, studies);
  for (const s of settings) {
    const own = planned.filter((p) => p.study === s.study).map((p) => p.cell);
    files.push(...await writeReport(s.study, own, summaries, { ...opts, outDir: path.join(dir, 'settings', s.name), failed: new Map(
      [...opts.failed.entries()].filter(([id]) => own.some((c) => c.id === id))) }));
  }
  const rows = acrossSettings(settings);
  const claim4: ClaimCheck = checkClaim4(settings.map((s) => ({ name: s.name, results: s.results })));
  const put = (name: string, text: string) => { const f = path.join(dir, name); fs.writeFileSync(f, text); files.push(f); };

  const settingLines = settings.map((s) => `- **${s.name}**: ${settingCaption(s.study)}${s.about ? ` — ${s.about}` : ''}`);
  const table = acrossSettingsMarkdown(settings, rows);
  const md = [
    '# Settings sweep', '', sweep.description ?? '', '',
    '## Settings', '', ...settingLines, '',
    '## Per defense across settings', '',
    'Each cell: purified (attack, seed) pairs of all pairs (claim 1\'s rule) · P-ASR − O-ASR on the purified pairs in points (mean ± std) · ' +
    'for BTI and PAM, pairs whose detected target was the real one.', '', table, '',
    `## Claim ${claim4.id}: ${claim4.title}`, '', `Rule: ${claim4.rule}.`, '', `Verdict: **${claim4.verdict}**`, '',
    ...claim4.evidence.map((e) => `- ${e}`), '',
    ...(sweep.leftOut.length ? ['## Left out of this sweep', '', ...sweep.leftOut.map((x) => `- ${x}`), ''] : []),
  ].join('\n');
  put('sweep.md', md);
  const csv = ['setting,defense,pairs,purified,gap_mean,gap_std,detected_correct,detected_total',
    ...rows.map((r) => [r.setting, r.defense, r.pairs, r.purified, r.gapMean ?? '', r.gapStd ?? '', r.detection?.correct ?? '', r.detection?.total ?? ''].join(','))];
  put('sweep.csv', `${csv.join('\n')}\n`);

  const figDir = path.join(dir, 'figures');
  fs.mkdirSync(figDir, { recursive: true });
  const figs = sweepFigures(settings, rows);
  for (const f of figs) {
    const file = path.join(figDir, `${f.name}.html`);
    fs.writeFileSync(file, standalonePage(f.name, figureHtml(f.figure)));
    files.push(file);
  }
  if (opts.images && chromiumAvailable()) {
    try {
      files.push(...await renderFigures(figs, { outDir: figDir }));
    } catch (e) {
      opts.log(`report: PNG/SVG export failed (${(e as Error).message}); the HTML figures are written`);
    }
  }
  const exists = (rel: string) => fs.existsSync(path.join(dir, rel));
  const links = settings.map((s) => `<a href="settings/${encodeURIComponent(s.name)}/index.html">${escapeHtml(s.name)}</a>`).join(' · ');
  put('index.html', renderReportPage({
    title: 'superficial-safety — settings sweep',
    runLine: `${settings.length} settings · ${opts.seconds.toFixed(0)} s on ${opts.workers || 1} worker(s) · written ` +
      `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    setting: `${sweep.description ?? ''} Settings: ${settings.map((s) => s.name).join(', ')}.`,
    claims: [claim4],
    tableHtml: `<p>Per-setting reports: ${links}</p><pre>${escapeHtml(table)}</pre>`,
    tableFiles: ['sweep.md', 'sweep.csv'].filter(exists),
    figures: figs.map((f) => ({
      name: f.name, caption: `${(f.figure as Figure).layout.title?.text ?? f.name} (${f.name})`, html: figureHtml(f.figure as Figure),
      files: ['png', 'svg', 'html'].map((x) => `figures/${f.name}.${x}`).filter(exists),
    })),
    failed: [...opts.failed.keys()],
    repairs: [],
    otherFiles: ['cells.md', 'log.txt'],
  }));
  opts.log(`report: sweep page and ${settings.length} setting reports in ${dir}`);
  return files;
}
