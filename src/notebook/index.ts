/**
 * Notebook platform: environment helpers for notebooks (`setupNotebook`, `isQuick`), the headless
 * runner, the real-browser check of HTML exports, kernel registration and output stripping.
 * Notebooks normally import only `../dist/notebook/env` and `../dist/viz`.
 */
export { isQuick, projectRoot, setupNotebook, type NotebookContext } from './env';
export { runNotebooks, listNotebooks, writeLocalKernelspec, tslabKernelSpec, formatRunSummary, type NotebookResult, type RunOptions } from './runner';
export { checkPages, countFigureOutputs, formatPageReports, type PageReport, type PageSpec, type CheckOptions } from './browserCheck';
export { findPython } from './python';
export { setupKernel, kernelsDir, type KernelScope, type SetupResult } from './setup';
export { notebookOutputProblems, stripOutputs, serializeNotebook, cleanNotebooks } from './clean';
