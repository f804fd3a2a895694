/**
 * `show()` for tslab notebooks: renders a figure spec or a result table inline.
 *
 * Figures need plotly.js in the page. It is read from the local `plotly.js-dist` package and emitted,
 * inlined in a `<script>`, as its own output the first time a figure is shown in a kernel (module-level
 * flag); later figures reuse `window.Plotly`. Notebooks should call `loadPlotly()` in their first code
 * cell: an explicit call always (re-)emits the bundle, so "Run All" without a kernel restart still leaves
 * the bundle in the saved outputs and in the HTML export.
 *
 * Outside a tslab kernel (plain Node scripts, tests) `show()` prints a text rendering instead.
 */
import { figureHtml, plotlyScriptTag, plotlyVersion } from './html';
import { isColumnTable, tableHtml, toMarkdown, type ColumnTable, type TableHtmlOptions } from './tables';
import { isFigure, type Figure } from './types';

/** The part of tslab's `display` API we use. */
export interface HtmlDisplay {
  html(s: string): void;
}

let displayOverride: HtmlDisplay | undefined;
let plotlyEmitted = false;

/** Route output to another display (tests, other front-ends); `undefined` restores tslab's. */
export function setDisplay(d: HtmlDisplay | undefined): void {
  displayOverride = d;
}

/**
 * tslab's display, as seen from the running kernel. tslab puts its `require` on `globalThis.__tslab__`
 * and that `require('tslab')` returns the kernel's own instance of the tslab module, which is the one
 * connected to Jupyter (a second copy of tslab on disk would throw "Not ready").
 */
function notebookDisplay(): HtmlDisplay | undefined {
  if (displayOverride) return displayOverride;
  const g = globalThis as { __tslab__?: { require?: (id: string) => unknown } };
  const req = g.__tslab__?.require;
  if (typeof req !== 'function') return undefined;
  const tslab = req('tslab') as { display?: HtmlDisplay } | undefined;
  return tslab?.display;
}

/** True when output goes to a notebook (inside a tslab kernel, or a display was set). */
export function inNotebook(): boolean {
  return notebookDisplay() !== undefined;
}

/** Whether this kernel has already emitted the plotly.js bundle. */
export function plotlyLoaded(): boolean {
  return plotlyEmitted;
}

/** Forget that the bundle was emitted (tests). */
export function resetPlotlyLoaded(): void {
  plotlyEmitted = false;
}

/**
 * Emit the inlined plotly.js bundle as an output of the current cell. Without `force` this is a no-op
 * once the kernel has emitted it. Call it with no arguments in a notebook's first code cell.
 */
export function loadPlotly(opts: { force?: boolean } = { force: true }): void {
  const d = notebookDisplay();
  if (!d) return;
  if (plotlyEmitted && !opts.force) return;
  d.html(
    plotlyScriptTag() +
      `\n<div class="ss-plotly-loader" style="font-size:11px;color:#888">plotly.js ${plotlyVersion()} inlined from node_modules (offline)</div>`,
  );
  plotlyEmitted = true;
}

export interface ShowOptions extends TableHtmlOptions {}

/** Text rendering used outside notebooks. */
function describe(x: Figure | ColumnTable, opts: ShowOptions): string {
  if (isFigure(x)) {
    const title = x.layout.title?.text ?? '(untitled)';
    const kinds = [...new Set(x.data.map((t) => t.type))].join(', ');
    return `[figure] ${title} — ${x.data.length} trace(s): ${kinds}`;
  }
  return (opts.caption ? `${opts.caption}\n` : '') + toMarkdown(x, opts);
}

/**
 * Render a Plotly figure spec (from `groupedBars`, `linePlot`, `heatmap`, `imageGrid`, or any
 * `{data, layout}`) or an arquero table (numbers to `digits` decimals, default 1) inline in the notebook.
 */
export function show(x: Figure | ColumnTable, opts: ShowOptions = {}): void {
  if (!isFigure(x) && !isColumnTable(x)) {
    throw new Error('show: expected a figure spec {data, layout} or an arquero table');
  }
  const d = notebookDisplay();
  if (!d) {
    console.log(describe(x, opts));
    return;
  }
  if (isFigure(x)) {
    loadPlotly({ force: false });
    d.html(figureHtml(x));
  } else {
    d.html(tableHtml(x, opts));
  }
}
