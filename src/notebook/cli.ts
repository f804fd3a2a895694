/**
 * Entry points behind the npm scripts (thin wrappers in scripts/notebooks/*.js call these):
 *   npm run jupyter:setup   -> mainSetup
 *   npm run notebooks       -> mainRun
 *   npm run test:notebooks  -> mainCheck
 *   npm run notebooks:clean -> mainClean
 * Each returns the process exit code.
 */
import * as fs from 'fs';
import * as path from 'path';
import { checkPages, countFigureOutputs, formatPageReports, type PageSpec } from './browserCheck';
import { cleanNotebooks } from './clean';
import { projectRoot } from './env';
import { formatRunSummary, listNotebooks, runNotebooks } from './runner';
import { checkKernel, setupInstructions, setupKernel, type KernelScope } from './setup';

function takeValue(argv: string[], i: number, flag: string): string {
  const v = argv[i + 1];
  if (v === undefined) throw new Error(`${flag} needs a value`);
  return v;
}

export function mainSetup(argv: string[]): number {
  let scope: KernelScope = { kind: 'user' };
  let python: string | undefined;
  let check = false;
  const scopeArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a !== '--check') scopeArgs.push(a, ...(a === '--prefix' || a === '--python' ? [argv[i + 1]] : []));
    if (a === '--check') check = true;
    else if (a === '--user') scope = { kind: 'user' };
    else if (a === '--sys-prefix') scope = { kind: 'sys-prefix' };
    else if (a === '--prefix') scope = { kind: 'prefix', prefix: takeValue(argv, i++, a) };
    else if (a.startsWith('--prefix=')) scope = { kind: 'prefix', prefix: a.slice('--prefix='.length) };
    else if (a === '--python') python = takeValue(argv, i++, a);
    else if (a.startsWith('--python=')) python = a.slice('--python='.length);
    else {
      console.error(`usage: npm run jupyter:setup -- [--check] [--user | --prefix DIR | --sys-prefix] [--python PY]\nunknown argument ${a}`);
      return 2;
    }
  }
  if (check) {
    const fixCommand = `npm run jupyter:setup${scopeArgs.length > 0 ? ` -- ${scopeArgs.join(' ')}` : ''}`;
    const results = checkKernel({ scope, python, fixCommand });
    for (const r of results) {
      if (r.ok) console.log(`ok: ${r.file}`);
      for (const p of r.problems) console.error(`jupyter:setup --check: ${p}`);
    }
    return results.every((r) => r.ok) ? 0 : 1;
  }
  const res = setupKernel({ scope, python });
  console.log(setupInstructions(res));
  return 0;
}

const RUN_USAGE = `usage: npm run notebooks -- [--quick] [--no-html] [--trust] [--timeout SEC] [notebooks/NAME.ipynb ...]
  QUICK=1 in the environment (or --quick) is passed to the kernels.
  --trust signs the executed copies (python3 -m nbformat.sign) so Jupyter shows their figures when opened.
  --timeout is per cell (default 300 s with QUICK, 7200 s without).`;

export async function mainRun(argv: string[]): Promise<number> {
  let quick: boolean | undefined;
  let html = true;
  let trust = false;
  let cellTimeoutSec: number | undefined;
  const notebooks: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') quick = true;
    else if (a === '--no-html') html = false;
    else if (a === '--trust') trust = true;
    else if (a === '--timeout') cellTimeoutSec = Number(takeValue(argv, i++, a));
    else if (a === '-h' || a === '--help') {
      console.log(RUN_USAGE);
      return 0;
    } else if (a.startsWith('-')) {
      console.error(`${RUN_USAGE}\nunknown option ${a}`);
      return 2;
    } else notebooks.push(path.resolve(a));
  }
  const t0 = Date.now();
  const results = await runNotebooks({ quick, html, trust, cellTimeoutSec, notebooks: notebooks.length > 0 ? notebooks : undefined });
  console.log(formatRunSummary(results));
  console.log(`wall time ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (results.length === 0) return 1;
  return results.every((r) => r.ok) ? 0 : 1;
}

function expectedFigures(executedNotebook: string): number {
  return countFigureOutputs(JSON.parse(fs.readFileSync(executedNotebook, 'utf8')));
}

const CHECK_USAGE = `usage: npm run test:notebooks -- [--no-run] [notebooks/NAME.ipynb ...]
  Runs the notebooks with QUICK=1, exports HTML, and checks every page in headless Chromium.
  --no-run: only check the existing reports/notebooks/*.html.`;

export async function mainCheck(argv: string[]): Promise<number> {
  const root = projectRoot();
  let doRun = true;
  const notebooks: string[] = [];
  for (const a of argv) {
    if (a === '--no-run') doRun = false;
    else if (a === '-h' || a === '--help') {
      console.log(CHECK_USAGE);
      return 0;
    } else if (a.startsWith('-')) {
      console.error(`${CHECK_USAGE}\nunknown option ${a}`);
      return 2;
    } else notebooks.push(path.resolve(a));
  }
  const t0 = Date.now();
  const selected = notebooks.length > 0 ? notebooks : listNotebooks(path.join(root, 'notebooks'));
  if (selected.length === 0) {
    console.error('test:notebooks: no notebooks in notebooks/');
    return 1;
  }
  const outDir = path.join(root, 'reports', 'notebooks');
  let runFailed = 0;
  let pages: PageSpec[];
  let runSummary = '';
  if (doRun) {
    const results = await runNotebooks({ quick: true, notebooks: selected, outDir });
    runSummary = formatRunSummary(results, root);
    runFailed = results.filter((r) => !r.ok).length;
    pages = results.flatMap((r) => (r.html && r.executed ? [{ file: r.html, expectedFigures: expectedFigures(r.executed) }] : []));
  } else {
    pages = selected.map((nb) => {
      const stem = path.join(outDir, path.basename(nb, '.ipynb'));
      return { file: `${stem}.html`, expectedFigures: fs.existsSync(`${stem}.ipynb`) ? expectedFigures(`${stem}.ipynb`) : undefined };
    });
    const missing = pages.map((p) => p.file).filter((p) => !fs.existsSync(p));
    if (missing.length > 0) {
      console.error(`test:notebooks --no-run: missing export(s): ${missing.map((m) => path.relative(root, m)).join(', ')}`);
      return 1;
    }
  }
  const reports = pages.length > 0 ? await checkPages(pages) : [];
  console.log('');
  console.log('================ test:notebooks summary ================');
  if (runSummary) console.log(runSummary);
  console.log(formatPageReports(reports, root));
  const pageFailed = reports.filter((r) => !r.ok).length;
  const ok = runFailed === 0 && pageFailed === 0;
  console.log(`test:notebooks: ${ok ? 'PASSED' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return ok ? 0 : 1;
}

/** Strip outputs from notebooks/*.ipynb (or the given files) in place. */
export function mainClean(argv: string[]): number {
  const files = argv.length > 0 ? argv.map((a) => path.resolve(a)) : undefined;
  const changed = cleanNotebooks(files);
  for (const f of changed) console.log(`  stripped outputs: ${path.relative(process.cwd(), f)}`);
  console.log(`notebooks:clean: ${changed.length} notebook(s) changed`);
  return 0;
}

const LAB_USAGE = `usage: npm run test:jupyterlab -- [--restart first|all|none] [--timeout SEC] [notebooks/NAME.ipynb ...]
  Opens each notebook in a JupyterLab server (JUPYTERLAB=/path/to/jupyter, default .tmp/jupyterlab-venv/bin/jupyter),
  runs all cells with QUICK=1, then restarts the kernel and runs them again (default: the first notebook only);
  --timeout is per run of all cells (default 600 s). Screenshots and summary.json go to reports/jupyterlab/.
  --classic: instead, the smoke test in the classic Notebook (Debian jupyter-notebook, /usr/bin/jupyter) on the
  last notebook given (default 99-platform-check).
  The tslab kernel must be registered in JUPYTER_DATA_DIR (default .tmp/jupyterlab/data) by npm run jupyter:setup.`;

export async function mainLab(argv: string[]): Promise<number> {
  const { checkNotebooksInLab, formatLabReports } = await import('./jupyterLab');
  const root = projectRoot();
  let restart: 'first' | 'all' | 'none' = 'first';
  let classic = false;
  let runTimeoutMs: number | undefined;
  const notebooks: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--classic') classic = true;
    else if (a === '--restart') {
      const v = takeValue(argv, i++, a);
      if (v !== 'first' && v !== 'all' && v !== 'none') {
        console.error(`${LAB_USAGE}\n--restart must be first, all or none (got ${v})`);
        return 2;
      }
      restart = v;
    }
    else if (a === '--timeout') runTimeoutMs = 1000 * Number(takeValue(argv, i++, a));
    else if (a === '-h' || a === '--help') {
      console.log(LAB_USAGE);
      return 0;
    } else if (a.startsWith('-')) {
      console.error(`${LAB_USAGE}\nunknown option ${a}`);
      return 2;
    } else notebooks.push(path.resolve(a));
  }
  const selected = notebooks.length > 0 ? notebooks : listNotebooks(path.join(root, 'notebooks'));
  const t0 = Date.now();
  if (classic) {
    const { classicSmoke } = await import('./jupyterLab');
    const r = await classicSmoke({ root, notebook: selected[selected.length - 1] });
    console.log(`classic Notebook smoke test: ${r.ok ? 'ok' : 'FAILED'} ${path.basename(r.notebook)}: figures ${r.figuresRendered}/${r.figureOutputs} rendered (${r.seconds.toFixed(1)} s)`);
    for (const p of r.problems) console.log(`  - ${p}`);
    return r.ok ? 0 : 1;
  }
  const reports = await checkNotebooksInLab({ root, notebooks: selected, restart, runTimeoutMs });
  console.log('');
  console.log('================ test:jupyterlab summary ================');
  console.log(formatLabReports(reports, root));
  const ok = reports.length > 0 && reports.every((r) => r.ok);
  console.log(`test:jupyterlab: ${ok ? 'PASSED' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return ok ? 0 : 1;
}
