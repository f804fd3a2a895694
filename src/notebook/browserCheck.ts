/**
 * Real-browser check of exported notebook pages: open each HTML file in headless Chromium (offline) and
 * require that
 *   - every figure div we emitted (`.ss-plotly-figure`) became a Plotly root with an `svg.main-svg`,
 *     and the number of Plotly roots equals the number of figure divs (each root has its SVG);
 *   - the page threw no JavaScript error (uncaught exception or console.error);
 *   - no request left file:// (data:, blob:, about: are local too); such requests are aborted.
 */
import * as path from 'path';
import { pathToFileURL } from 'url';
import { isLocalUrl, launchOfflineChromium } from '../viz/chromium';
import { FIGURE_CLASS } from '../viz/html';

export interface PageReport {
  file: string;
  ok: boolean;
  /** `.ss-plotly-figure` divs in the page. */
  figureDivs: number;
  /** Of those, how many hold a rendered Plotly SVG. */
  rendered: number;
  /** `.js-plotly-plot` roots in the page, and how many of them lack an `svg.main-svg`. */
  plotlyRoots: number;
  rootsWithoutSvg: number;
  jsErrors: string[];
  externalRequests: string[];
  /** Everything that makes the page fail, in words. */
  problems: string[];
  seconds: number;
}

/** A page to check; `expectedFigures` (when known, e.g. counted in the executed notebook) must all appear. */
export interface PageSpec {
  file: string;
  expectedFigures?: number;
}

export interface CheckOptions {
  executablePath?: string;
  /** How long to wait for all figures to render after `load` (default 30 s). */
  renderTimeoutMs?: number;
  /** Page load timeout (default 60 s). */
  loadTimeoutMs?: number;
  /** Fail a page with fewer figures than this (default 0). */
  minFigures?: number;
}

interface Counts {
  figureDivs: number;
  rendered: number;
  notRendered: string[];
  plotlyRoots: number;
  rootsWithoutSvg: number;
}

/** Check pages in one browser, one tab at a time. */
export async function checkPages(pages: (string | PageSpec)[], opts: CheckOptions = {}): Promise<PageReport[]> {
  const browser = await launchOfflineChromium({ executablePath: opts.executablePath });
  const reports: PageReport[] = [];
  try {
    for (const spec of pages) {
      const { file, expectedFigures } = typeof spec === 'string' ? { file: spec, expectedFigures: undefined } : spec;
      const t0 = Date.now();
      const jsErrors: string[] = [];
      const externalRequests: string[] = [];
      const problems: string[] = [];
      const page = await browser.context.newPage();
      page.on('pageerror', (err) => jsErrors.push(`uncaught ${err.name}: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') jsErrors.push(`console.error: ${msg.text()}`);
      });
      page.on('request', (req) => {
        if (!isLocalUrl(req.url())) externalRequests.push(req.url());
      });
      page.on('requestfailed', (req) => {
        const url = req.url();
        if (isLocalUrl(url) && !url.startsWith('data:')) problems.push(`local resource failed to load: ${url}`);
      });
      page.on('websocket', (ws) => externalRequests.push(ws.url()));
      let counts: Counts = { figureDivs: 0, rendered: 0, notRendered: [], plotlyRoots: 0, rootsWithoutSvg: 0 };
      try {
        await page.goto(pathToFileURL(path.resolve(file)).href, { waitUntil: 'load', timeout: opts.loadTimeoutMs ?? 60000 });
        await page
          .waitForFunction(
            ({ cls, expected }: { cls: string; expected: number }) => {
              const divs = Array.from(document.querySelectorAll('.' + cls));
              return divs.length >= expected && divs.every((d) => d.querySelector('svg.main-svg') !== null);
            },
            { cls: FIGURE_CLASS, expected: expectedFigures ?? 0 },
            { timeout: opts.renderTimeoutMs ?? 30000, polling: 100 },
          )
          .catch(() => undefined);
        counts = await page.evaluate((cls: string) => {
          const divs = Array.from(document.querySelectorAll('.' + cls));
          const ok = (d: Element) => d.classList.contains('js-plotly-plot') && d.querySelector('svg.main-svg') !== null;
          const roots = Array.from(document.querySelectorAll('.js-plotly-plot'));
          return {
            figureDivs: divs.length,
            rendered: divs.filter(ok).length,
            notRendered: divs.filter((d) => !ok(d)).map((d) => d.id || '(no id)'),
            plotlyRoots: roots.length,
            rootsWithoutSvg: roots.filter((r) => r.querySelector('svg.main-svg') === null).length,
          };
        }, FIGURE_CLASS);
      } catch (err) {
        problems.push(`page did not load: ${(err as Error).message.split('\n')[0]}`);
      } finally {
        await page.close();
      }
      if (counts.rendered < counts.figureDivs) {
        problems.push(`${counts.figureDivs - counts.rendered} of ${counts.figureDivs} figure(s) did not render: ${counts.notRendered.join(', ')}`);
      }
      if (counts.plotlyRoots !== counts.figureDivs) {
        problems.push(`${counts.plotlyRoots} Plotly root(s) for ${counts.figureDivs} figure div(s)`);
      }
      if (counts.rootsWithoutSvg > 0) problems.push(`${counts.rootsWithoutSvg} Plotly root(s) without an SVG`);
      if (expectedFigures !== undefined && counts.figureDivs !== expectedFigures) {
        problems.push(`${counts.figureDivs} figure div(s) in the page, expected ${expectedFigures}`);
      }
      if (counts.figureDivs < (opts.minFigures ?? 0)) problems.push(`only ${counts.figureDivs} figure(s), expected at least ${opts.minFigures}`);
      if (jsErrors.length > 0) problems.push(`${jsErrors.length} JavaScript error(s)`);
      if (externalRequests.length > 0) problems.push(`${externalRequests.length} request(s) left file://`);
      reports.push({
        file,
        ok: problems.length === 0,
        figureDivs: counts.figureDivs,
        rendered: counts.rendered,
        plotlyRoots: counts.plotlyRoots,
        rootsWithoutSvg: counts.rootsWithoutSvg,
        jsErrors,
        externalRequests: [...new Set(externalRequests)],
        problems,
        seconds: (Date.now() - t0) / 1000,
      });
    }
  } finally {
    await browser.close();
  }
  return reports;
}

/** Figures a notebook should show: its text/html outputs that carry a figure div. */
export function countFigureOutputs(notebook: unknown): number {
  const cells = (notebook as { cells?: { outputs?: { data?: Record<string, unknown> }[] }[] }).cells ?? [];
  let n = 0;
  for (const c of cells) {
    for (const o of c.outputs ?? []) {
      const html = o.data?.['text/html'];
      const text = Array.isArray(html) ? html.join('') : typeof html === 'string' ? html : '';
      n += text.split(`class="${FIGURE_CLASS}"`).length - 1;
    }
  }
  return n;
}

/** Summary for the terminal: one line per page, details for failures. */
export function formatPageReports(reports: PageReport[], root: string = process.cwd()): string {
  const lines: string[] = [];
  for (const r of reports) {
    const name = path.relative(root, r.file);
    lines.push(
      `  ${r.ok ? 'ok    ' : 'FAILED'} ${name.padEnd(44)} figures ${r.rendered}/${r.figureDivs} rendered, ` +
        `${r.jsErrors.length} JS error(s), ${r.externalRequests.length} external request(s)  (${r.seconds.toFixed(1)} s)`,
    );
    if (!r.ok) {
      for (const p of r.problems) lines.push(`         - ${p}`);
      for (const e of r.jsErrors.slice(0, 10)) lines.push(`           ${e.slice(0, 300)}`);
      for (const u of r.externalRequests.slice(0, 10)) lines.push(`           blocked: ${u}`);
    }
  }
  const failed = reports.filter((r) => !r.ok).length;
  lines.push(`browser check: ${reports.length - failed}/${reports.length} page(s) ok`);
  return lines.join('\n');
}
