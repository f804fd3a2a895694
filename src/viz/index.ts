/**
 * Plotting and tables for notebooks and reports. Import from notebooks as `../dist/viz`.
 * (`export.ts`/`chromium.ts` load playwright lazily, so importing this barrel stays cheap.)
 */
export * from './types';
export * from './figures';
export * from './tables';
export { aq } from './arquero';
export { show, loadPlotly, inNotebook, plotlyLoaded, resetPlotlyLoaded, setDisplay, type HtmlDisplay, type ShowOptions } from './show';
export { figureHtml, plotlyScriptTag, plotlyBundlePath, plotlyVersion, standalonePage, FIGURE_CLASS } from './html';
export { renderFigures, readFigureInputs, readFigureFile, type NamedFigure, type RenderOptions, type ImageFormat } from './export';
