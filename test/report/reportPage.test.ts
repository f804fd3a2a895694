/**
 * The report page opened from disk in Chromium: no console error, nothing fetched outside file://, every
 * figure drawn, a badge per claim, claims that expand to their evidence, and the links present.
 * Skipped, with a message, without Chromium.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';
import type { ClaimCheck } from '../../src/report/claims';
import { evidenceTally, renderReportPage } from '../../src/report/reportPage';
import { chromiumAvailable, chromiumPath, isLocalUrl, launchOfflineChromium } from '../../src/viz/chromium';
import { groupedBars, linePlot } from '../../src/viz/figures';
import { figureHtml } from '../../src/viz/html';

const claims: ClaimCheck[] = [
  { id: 1, title: 'purification works superficially', rule: 'O-ASR < 10%', verdict: 'partly',
    evidence: ['BadNets · FST: O-ASR 1.6% → holds', 'BadNets · ANP: O-ASR 95.1% → does not hold', 'LC · BTI: not purified (not graded)'] },
  { id: 4, title: 'other datasets', rule: 'needs runs on other datasets', verdict: 'not measured', evidence: ['this run: fashion-mnist'] },
  { id: 7, title: 'PAM <keeps> C-Acc', rule: 'within 3 points', verdict: 'holds', evidence: ['BadNets: 87.8% vs 91.5% → holds'] },
];

test('the one-line evidence counts graded lines', () => {
  expect(evidenceTally(claims[0])).toBe('1 of 2 graded lines hold');
  expect(evidenceTally(claims[1])).toBe('this run: fashion-mnist');
  expect(evidenceTally({ ...claims[0], evidence: ['LC · BTI: x → not purified', 'SSBA · BAU: y → not purified'] })).toBe('2 lines, none graded (expand for the evidence)');
  // Claim 2's lines carry two arrows (O-ASR → P-ASR → verdict): the verdict is after the last one.
  expect(evidenceTally({ ...claims[0], evidence: ['Blended · FST: O-ASR 8.3% → P-ASR 52.1% (+43.8 points) → holds',
    'SSBA · FST: O-ASR 5.3% → P-ASR 20.9% (+15.6 points) → does not hold', 'LC · ANP: O-ASR 18.8% → not purified (not graded)'] }))
    .toBe('1 of 2 graded lines hold, 1 not graded');
});

const maybe = chromiumAvailable() ? test : test.skip;
if (!chromiumAvailable()) console.warn(`reportPage.test: browser part SKIPPED — no Chromium at ${chromiumPath()}`);

maybe('in Chromium from file://: figures drawn, badges, expandable claims, links, nothing external', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-report-'));
  fs.mkdirSync(path.join(dir, 'figures'));
  for (const f of ['results.csv', 'results.md', 'figures/bars.png', 'figures/bars.svg']) fs.writeFileSync(path.join(dir, f), 'x');
  const figs = [
    { name: 'bars', figure: groupedBars({ title: 'O-ASR vs P-ASR', categories: ['FST', 'BTI'], series: [{ name: 'O', values: [1, 2] }], xTitle: 'm', yTitle: '%' }) },
    { name: 'lines', figure: linePlot({ title: 'LMC', xTitle: 't', yTitle: '%', series: [{ name: 'EP', x: [0, 1], y: [1, 90] }] }) },
  ];
  const html = renderReportPage({
    title: 'report', runLine: 'BadNets · 3 methods', setting: 'fashion-mnist, cnn, 5% poisoning', claims,
    tableHtml: '<table><thead><tr><th>method</th><th>C-Acc</th></tr></thead><tbody><tr><td>FST</td><td>88.6</td></tr></tbody></table>',
    tableFiles: ['results.csv', 'results.md'],
    figures: figs.map((f) => ({ name: f.name, caption: f.name, html: figureHtml(f.figure), files: f.name === 'bars' ? ['figures/bars.png', 'figures/bars.svg'] : [] })),
    failed: [], repairs: ['artifact purify/abc is corrupt (file "model.bin" is 10 bytes, expected 20 (truncated?)); moved to runs/purify/abc.corrupt-1 and recomputing'],
    otherFiles: ['claims.md'],
  });
  const file = path.join(dir, 'index.html');
  fs.writeFileSync(file, html);
  const browser = await launchOfflineChromium();
  const errors: string[] = [];
  const external: string[] = [];
  try {
    const page = await browser.context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('request', (r) => { if (!isLocalUrl(r.url())) external.push(r.url()); });
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(() => document.querySelectorAll('.js-plotly-plot svg.main-svg').length >= 2, null, { timeout: 30000 });
    const info = await page.evaluate(() => ({
      plots: document.querySelectorAll('.js-plotly-plot').length,
      badges: Array.from(document.querySelectorAll('.badge')).map((b) => b.textContent),
      links: Array.from(document.querySelectorAll('a')).map((a) => a.getAttribute('href')),
      font: getComputedStyle(document.body).fontFamily,
      evidenceVisible: (document.querySelector('details.claim') as HTMLDetailsElement).open,
      repairs: document.querySelector('.warn')?.textContent ?? '',
    }));
    expect(info.plots).toBe(2);
    expect(info.badges).toEqual(['partly', 'not measured', 'holds']);
    expect(info.links).toEqual(expect.arrayContaining(['results.csv', 'results.md', 'figures/bars.png', 'figures/bars.svg', 'claims.md']));
    expect(info.font).toMatch(/^system-ui/);
    expect(info.evidenceVisible).toBe(false);
    expect(info.repairs).toContain('purify/abc is corrupt');
    await page.click('details.claim summary');
    expect(await page.evaluate(() => (document.querySelector('details.claim') as HTMLDetailsElement).open)).toBe(true);
    // Titles are escaped, not parsed as markup.
    expect(await page.textContent('details.claim:nth-of-type(3) summary')).toContain('PAM <keeps> C-Acc');
    if (process.env.REPORT_SCREENSHOT) await page.screenshot({ path: process.env.REPORT_SCREENSHOT, fullPage: true });
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  expect(errors).toEqual([]);
  expect(external).toEqual([]);
});
