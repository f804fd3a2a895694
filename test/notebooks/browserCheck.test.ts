/**
 * The real-browser check must fail on broken pages and pass on a good one (one Chromium launch for all).
 * Skipped, with a message, where /usr/bin/chromium (Debian package `chromium`) is absent.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkPages, formatPageReports, type PageReport } from '../../src/notebook/browserCheck';
import { chromiumAvailable, chromiumPath } from '../../src/viz/chromium';
import { groupedBars, heatmap } from '../../src/viz/figures';
import { FIGURE_CLASS, figureHtml, plotlyScriptTag, scriptSafeJson, standalonePage } from '../../src/viz/html';

const available = chromiumAvailable();
if (!available) {
  // eslint-disable-next-line no-console
  console.warn(`browserCheck.test: SKIPPED — no Chromium at ${chromiumPath()} (apt-get install chromium, or set CHROMIUM_PATH)`);
}
const maybe = available ? describe : describe.skip;

const bars = groupedBars({ title: 'ok', categories: ['a', 'b'], series: [{ name: 's', values: [1, 2] }], xTitle: 'x', yTitle: 'y' });
const heat = heatmap({ title: 'h', z: [[1]], x: ['a'], y: ['b'], xTitle: 'x', yTitle: 'y', colorbarTitle: 'c', annotate: true });

maybe(`browser check (${chromiumPath()})`, () => {
  let dir: string;
  let reports: Map<string, PageReport>;
  let summary: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-browsercheck-'));
    const pages: Record<string, string> = {
      // Two figures that render, offline.
      good: standalonePage('good', figureHtml(bars) + figureHtml(heat)),
      // A figure div whose drawing script throws: no plot and an uncaught error.
      throwing: standalonePage(
        'throwing',
        `${figureHtml(bars)}<div id="broken" class="${FIGURE_CLASS}"></div><script>throw new Error('deliberately broken figure')</script>`,
      ),
      // A page that tries to load a script from the network (aborted by the check).
      network: standalonePage('network', `${figureHtml(bars)}<script src="http://127.0.0.1:1/x.js"></script>`),
      // JupyterLab's path for trusted text/html outputs (rendermime renderHTML): innerHTML into a host
      // that is not attached yet, then each <script> replaced by a fresh clone (evalInnerHTMLScriptTags);
      // the hosts are attached later, the figure's host first.
      labLike: standalonePage(
        'labLike',
        `<script>
(function () {
  var outputs = ${scriptSafeJson([plotlyScriptTag(), figureHtml(bars)])};
  var hosts = outputs.map(function (src) {
    var host = document.createElement('div');
    host.innerHTML = src;
    Array.from(host.getElementsByTagName('script')).forEach(function (s) {
      var clone = document.createElement('script');
      Array.from(s.attributes).forEach(function (a) { clone.setAttribute(a.name, a.value); });
      clone.textContent = s.textContent;
      s.parentNode.replaceChild(clone, s);
    });
    return host;
  });
  setTimeout(function () { document.body.appendChild(hosts[1]); }, 100);
  setTimeout(function () { document.body.insertBefore(hosts[0], hosts[1]); }, 300);
})();
</script>`,
        { includePlotly: false },
      ),
      // The bundle is missing (e.g. its output was dropped): the figure gives up and logs an error.
      noPlotly: standalonePage('noPlotly', figureHtml(bars, { timeoutMs: 300 }), { includePlotly: false }),
    };
    for (const [name, html] of Object.entries(pages)) fs.writeFileSync(path.join(dir, `${name}.html`), html);
    const specs = Object.keys(pages).map((n) => ({ file: path.join(dir, `${n}.html`), expectedFigures: n === 'labLike' ? 1 : undefined }));
    const list = await checkPages(specs, { renderTimeoutMs: 2000 });
    reports = new Map(list.map((r) => [path.basename(r.file, '.html'), r]));
    summary = formatPageReports(list, dir);
  }, 120000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the summary names every page and counts the good ones', () => {
    expect(summary).toMatch(/ok {4} good\.html/);
    expect(summary).toMatch(/FAILED throwing\.html/);
    expect(summary).toContain('uncaught Error: deliberately broken figure');
    expect(summary).toContain('blocked: http://127.0.0.1:1/x.js');
    expect(summary.trim().split('\n').at(-1)).toBe('browser check: 2/5 page(s) ok');
  });

  test('a good page passes: every figure div became a Plotly root with an SVG', () => {
    const r = reports.get('good')!;
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, figureDivs: 2, rendered: 2, plotlyRoots: 2, rootsWithoutSvg: 0, jsErrors: [], externalRequests: [] });
  });

  test('JupyterLab-style rendering (detached host, cloned scripts, late attach) draws the figure', () => {
    const r = reports.get('labLike')!;
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, figureDivs: 1, rendered: 1 });
  });

  test('a figure whose script throws fails: not rendered, JS error reported', () => {
    const r = reports.get('throwing')!;
    expect(r.ok).toBe(false);
    expect(r.figureDivs).toBe(2);
    expect(r.rendered).toBe(1);
    expect(r.jsErrors.join('\n')).toContain('deliberately broken figure');
    expect(r.problems.join('\n')).toMatch(/1 of 2 figure\(s\) did not render: broken/);
  });

  test('a request that leaves file:// fails the page (and is aborted)', () => {
    const r = reports.get('network')!;
    expect(r.ok).toBe(false);
    expect(r.externalRequests).toEqual(['http://127.0.0.1:1/x.js']);
    expect(r.problems.join('\n')).toContain('request(s) left file://');
  });

  test('a page without the plotly bundle fails with a clear console error', () => {
    const r = reports.get('noPlotly')!;
    expect(r.ok).toBe(false);
    expect(r.rendered).toBe(0);
    expect(r.jsErrors.join('\n')).toContain('plotly.js is not loaded in this page');
  });
});
