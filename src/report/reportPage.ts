/**
 * reports/<run>/index.html: a page people open from disk (file://, offline). A summary first (the setting,
 * each claim's verdict as a coloured badge with a one-line tally of its evidence, expandable to the
 * per-attack lines), then the Table-1-style results, then the figures with captions and links to their
 * PNG/SVG. Styles are inline and plotly.js is inlined by standalonePage, so nothing is fetched.
 */
import { escapeHtml, standalonePage } from '../viz/html';
import type { ClaimCheck, Verdict } from './claims';

export interface ReportFigure {
  name: string;
  caption: string;
  /** The figure's div + script (figureHtml). */
  html: string;
  /** Relative links to the exported files that exist (figures/NAME.png, .svg, .html). */
  files: string[];
}

export interface ReportPage {
  title: string;
  /** The setting in one paragraph (dataset, model, poisoning, seeds). */
  setting: string;
  runLine: string;
  claims: ClaimCheck[];
  /** Table-1-style results (tableHtml) or null when nothing finished. */
  tableHtml: string | null;
  /** Links next to the table, e.g. results.csv. */
  tableFiles: string[];
  figures: ReportFigure[];
  /** Cells that failed, and artifacts the cache found damaged and recomputed (from the run's log). */
  failed: string[];
  repairs: string[];
  otherFiles: string[];
}

const BADGE: Record<Verdict, { bg: string; fg: string }> = {
  holds: { bg: '#d1f0d8', fg: '#135c27' },
  partly: { bg: '#fdebc8', fg: '#7a4a00' },
  'does not hold': { bg: '#f8d3d3', fg: '#8a1c1c' },
  'not measured': { bg: '#e6e8eb', fg: '#444c56' },
};

/** "3 of 8 hold, 1 not purified" from evidence lines that end in "→ verdict". */
export function evidenceTally(c: ClaimCheck): string {
  let holds = 0;
  let not = 0;
  let other = 0;
  for (const e of c.evidence) {
    const m = /→\s*([^→]+)$/.exec(e); // the last arrow: lines like "O-ASR 8% → P-ASR 52% → holds" have two
    if (!m) continue;
    const v = m[1].trim();
    if (v.startsWith('holds')) holds++;
    else if (v.startsWith('does not hold')) not++;
    else other++;
  }
  if (holds + not + other === 0) return c.evidence[0] ?? '';
  if (holds + not === 0) return `${other} line${other === 1 ? '' : 's'}, none graded (expand for the evidence)`;
  const parts = [`${holds} of ${holds + not} graded line${holds + not === 1 ? '' : 's'} hold`];
  if (other > 0) parts.push(`${other} not graded`);
  return parts.join(', ');
}

const CSS = `
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 32px 0 10px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
.sub { color: #57606a; margin: 0 0 16px; }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 14px 18px; margin: 12px 0; }
.links a { margin-right: 14px; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
.badge { display: inline-block; min-width: 92px; text-align: center; border-radius: 12px; padding: 1px 10px; font-size: .82rem; font-weight: 600; white-space: nowrap; }
details.claim { border-top: 1px solid #eaeef2; padding: 6px 0; }
details.claim:first-of-type { border-top: none; }
details.claim summary { cursor: pointer; display: grid; grid-template-columns: 2.2em 110px 1fr; gap: 10px; align-items: baseline; list-style: none; }
details.claim summary::-webkit-details-marker { display: none; }
details.claim summary .id { color: #57606a; font-variant-numeric: tabular-nums; }
details.claim .tally { color: #57606a; font-size: .9rem; }
details.claim .rule { color: #57606a; font-size: .88rem; margin: 6px 0 4px calc(2.2em + 120px); }
details.claim ul { margin: 4px 0 6px calc(2.2em + 120px); padding-left: 18px; font-size: .9rem; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: .88rem; font-variant-numeric: tabular-nums; background: #fff; }
th, td { padding: 4px 8px; border-bottom: 1px solid #eaeef2; text-align: right; }
th { background: #f6f8fa; font-weight: 600; }
td:first-child, th:first-child { text-align: left; }
tbody tr:hover { background: #f3f6fa; }
caption { caption-side: top; text-align: left; color: #57606a; font-size: .88rem; padding-bottom: 6px; }
figure { margin: 0; }
figcaption { color: #57606a; font-size: .9rem; margin-top: 4px; }
.warn { background: #fff8c5; border-color: #d4a72c; }
`;

export function renderReportPage(p: ReportPage): string {
  const link = (f: string) => `<a href="${escapeHtml(f)}">${escapeHtml(f.split('/').pop() ?? f)}</a>`;
  const claims = p.claims.map((c) => {
    const b = BADGE[c.verdict];
    return `<details class="claim"><summary><span class="id">${c.id}.</span>` +
      `<span class="badge" style="background:${b.bg};color:${b.fg}">${escapeHtml(c.verdict)}</span>` +
      `<span><b>${escapeHtml(c.title)}</b> <span class="tally">— ${escapeHtml(evidenceTally(c))}</span></span></summary>` +
      `<div class="rule">Rule: ${escapeHtml(c.rule)}</div>` +
      `<ul>${c.evidence.map((e) => `<li>${escapeHtml(e)}</li>`).join('')}</ul></details>`;
  }).join('\n');
  const problems = [
    ...(p.failed.length > 0 ? [`<p><b>${p.failed.length} cell(s) failed:</b> ${p.failed.map(escapeHtml).join(', ')}</p>`] : []),
    ...(p.repairs.length > 0 ? [`<p><b>Repaired from the cache:</b></p><ul>${p.repairs.map((r) => `<li>${escapeHtml(r)}</li>`).join('')}</ul>`] : []),
  ];
  const body = `<main>
<h1>${escapeHtml(p.title)}</h1>
<p class="sub">${escapeHtml(p.runLine)}</p>
<div class="card"><b>Setting.</b> ${escapeHtml(p.setting)}</div>
${problems.length > 0 ? `<div class="card warn">${problems.join('\n')}</div>` : ''}
<h2>Claims</h2>
<div class="card">${claims || '<p>No claims checked.</p>'}</div>
<h2>Results (Table 1 layout)</h2>
<div class="card">${p.tableFiles.length > 0 ? `<p class="links">${p.tableFiles.map(link).join(' ')}</p>` : ''}
<div class="table-wrap">${p.tableHtml ?? '<p>No results.</p>'}</div></div>
<h2>Figures</h2>
${p.figures.map((f) => `<div class="card"><figure>${f.html}<figcaption>${escapeHtml(f.caption)}${f.files.length > 0 ? ` <span class="links">· ${f.files.map(link).join(' ')}</span>` : ''}</figcaption></figure></div>`).join('\n')}
${p.otherFiles.length > 0 ? `<h2>Files</h2><div class="card links">${p.otherFiles.map(link).join(' ')}</div>` : ''}
</main>`;
  return standalonePage(p.title, `<style>${CSS}</style>\n${body}`);
}
