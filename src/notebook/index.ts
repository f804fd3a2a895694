/**
 * Notebook platform: environment helpers for notebooks (`startNotebook`, `setupNotebook`, `isQuick`), the
 * headless runner, the real-browser check of HTML exports, kernel registration and output stripping.
 * Notebooks import from `../dist` (src/index.ts), not from here.
 */
export { isQuick, projectRoot, setupNotebook, startNotebook, type NotebookContext, type NotebookSession } from './env';
export { runNotebooks, listNotebooks, writeLocalKernelspec, tslabKernelSpec, formatRunSummary, type NotebookResult, type RunOptions } from './runner';
export { checkPages, countFigureOutputs, formatPageReports, type PageReport, type PageSpec, type CheckOptions } from './browserCheck';
export { findPython } from './python';
export { setupKernel, kernelsDir, type KernelScope, type SetupResult } from './setup';
export { notebookOutputProblems, stripOutputs, serializeNotebook, cleanNotebooks } from './clean';
