/**
 * HTML for Plotly figures, shared by the notebook `show()` and the static exporter: the inlined
 * plotly.js bundle (read from the local `plotly.js-dist` package, never a CDN) and the per-figure
 * snippet. Pure string building; nothing here needs a browser.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import type { Figure } from './types';

/** Class of every figure div we emit; the browser check counts these. */
export const FIGURE_CLASS = 'ss-plotly-figure';
/** Attribute marking the script tag that carries the plotly.js bundle. */
export const BUNDLE_ATTR = 'data-ss-plotly-bundle';

/** Plotly config used unless a figure overrides it. */
export const DEFAULT_PLOTLY_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  responsive: true,
  displaylogo: false,
  // The mode bar's "download as PNG" works offline; nothing in it talks to plot.ly.
  showLink: false,
});

export function plotlyBundlePath(): string {
  return require.resolve('plotly.js-dist/plotly.js');
}

let bundleCache: string | undefined;

/** The plotly.js bundle source (~11 MB, read once per process). */
export function plotlyBundleSource(): string {
  bundleCache ??= fs.readFileSync(plotlyBundlePath(), 'utf8');
  return bundleCache;
}

/** Version of the local plotly.js-dist package. */
export function plotlyVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(require.resolve('plotly.js-dist/package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * `<script>` defining `window.Plotly` from the local bundle. Evaluating it again in a page that already
 * has Plotly is skipped. `</script` inside the source is escaped so the HTML parser cannot end the tag
 * early (`<\/` means the same as `</` inside JS strings, regexes and comments).
 */
export function plotlyScriptTag(source: string = plotlyBundleSource()): string {
  const safe = source.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
  return (
    `<script type="text/javascript" ${BUNDLE_ATTR}="${plotlyVersion()}">\n` +
    `if (typeof window.Plotly === 'undefined') {\n${safe}\n}\n</script>`
  );
}

/** JSON that is safe inside an inline `<script>`; typed arrays become plain arrays. */
export function scriptSafeJson(value: unknown): string {
  const json = JSON.stringify(value, (_k, v: unknown) =>
    ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as unknown as ArrayLike<number>) : v,
  );
  return json.replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

let counter = 0;

/** A page-unique figure div id (random per kernel, plus a counter). */
export function newFigureId(): string {
  counter += 1;
  return `ss-fig-${randomBytes(6).toString('hex')}-${counter}`;
}

export interface FigureHtmlOptions {
  id?: string;
  /** Give up waiting for Plotly / the div after this long and write an error into the div (default 15 s). */
  timeoutMs?: number;
}

/**
 * A figure div plus the script that draws it with `window.Plotly`. The script does not load Plotly: it
 * waits (polling) until `window.Plotly` exists and the div is attached to the document, so it works
 * whatever order a front-end runs output scripts in. If Plotly never appears, the div says so and the
 * error goes to the console (which the browser check treats as a failure).
 */
export function figureHtml(fig: Figure, opts: FigureHtmlOptions = {}): string {
  const id = opts.id ?? newFigureId();
  const timeoutMs = opts.timeoutMs ?? 15000;
  const height = typeof fig.layout.height === 'number' ? fig.layout.height : 450;
  const width = typeof fig.layout.width === 'number' ? `${fig.layout.width}px` : '100%';
  const payload = { data: fig.data, layout: fig.layout, config: { ...DEFAULT_PLOTLY_CONFIG, ...(fig.config ?? {}) } };
  const title = typeof fig.layout.title?.text === 'string' ? fig.layout.title.text : '';
  // Visible only if the script below never runs: untrusted notebooks (Jupyter strips or skips output
  // scripts), or a viewer without JavaScript. The script clears it before drawing.
  const placeholder =
    `<div class="ss-figure-placeholder" style="padding:8px;color:#666;font:13px sans-serif;border:1px dashed #bbb">` +
    `Figure${title ? ` “${escapeHtml(title)}”` : ''} not drawn: its script did not run. In JupyterLab or the ` +
    `Notebook the notebook is probably not trusted: re-run the notebook, or trust it ` +
    `(JupyterLab: command “Trust Notebook”; shell: jupyter trust FILE.ipynb, on Debian python3 -m nbformat.sign FILE.ipynb).</div>`;
  return `<div id="${id}" class="${FIGURE_CLASS}" style="width:${width};height:${height}px;max-width:100%">${placeholder}</div>
<script type="text/javascript">
(function () {
  var id = ${JSON.stringify(id)};
  var fig = ${scriptSafeJson(payload)};
  var script = document.currentScript;
  var t0 = Date.now();
  function findDiv() {
    var el = document.getElementById(id);
    if (!el && script && script.parentNode) el = script.parentNode.querySelector('[id="' + id + '"]');
    return el;
  }
  function attempt() {
    var el = findDiv();
    if (window.Plotly && el && el.isConnected) {
      el.innerHTML = '';
      window.Plotly.newPlot(el, fig.data, fig.layout, fig.config);
      return;
    }
    if (Date.now() - t0 > ${timeoutMs}) {
      var msg = 'superficial-safety: figure ' + id + ' not drawn: ' + (window.Plotly
        ? 'its div never appeared in the page.'
        : 'plotly.js is not loaded in this page (the notebook output that carries it is missing or was not run; re-run the notebook from the top, or call loadPlotly({ force: true })).');
      if (el) el.textContent = msg;
      console.error(msg);
      return;
    }
    setTimeout(attempt, 50);
  }
  attempt();
})();
</script>`;
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A standalone HTML page with the inlined bundle and the given body (used by exports and tests). */
export function standalonePage(title: string, bodyHtml: string, opts: { includePlotly?: boolean } = {}): string {
  const plotly = opts.includePlotly === false ? '' : plotlyScriptTag();
  return `<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
${plotly}
</head>
<body>
${bodyHtml}
</body>
</html>
`;
}
