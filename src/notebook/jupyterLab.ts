/**
 * `npm run test:jupyterlab`: the notebooks in the client people use. Starts a JupyterLab server (from a
 * virtualenv, see .ci/run) on 127.0.0.1 with a token, opens every notebook in JupyterLab's UI in headless
 * Chromium, lets JupyterLab choose the kernel from the notebook's metadata, runs all cells from the Run
 * menu (QUICK mode), then restarts the kernel and runs them all again, and fails unless
 *   - the kernel is `tslab` and its spec, as the server serves it, is the kernel.json `npm run jupyter:setup`
 *     wrote (same argv), so a stale or shadowing spec is caught;
 *   - every code cell ran and no execution failed (execute_reply status), no output is an error or a stack
 *     trace, and the page threw no JavaScript error;
 *   - every figure output became a Plotly plot with an SVG in JupyterLab's output area, their number
 *     equals the figure outputs in the notebook model and, when `npm run test:notebooks` ran before, the
 *     figures nbconvert's run of the same notebook produced;
 *   - at least one table is shown where the notebook emits tables;
 *   - the same holds after the restart.
 * A screenshot of each notebook's first figure goes to reports/jupyterlab/.
 *
 * The notebooks are opened from copies (in .tmp/jupyterlab/root/notebooks, next to a `dist` link), so a
 * JupyterLab autosave can never write outputs into the committed notebooks.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import type { Page } from 'playwright-core';
import { launchOfflineChromium } from '../viz/chromium';
import { FIGURE_CLASS } from '../viz/html';
import { countFigureOutputs } from './browserCheck';
import { projectRoot } from './env';
import { kernelsDir } from './setup';

export interface LabServer {
  url: string;
  token: string;
  rootDir: string;
  logFile: string;
  stop(): Promise<void>;
}

/** The `jupyter` of the virtualenv .ci/run creates, unless JUPYTERLAB names another. */
export function labJupyter(root: string = projectRoot(), env: NodeJS.ProcessEnv = process.env): string {
  return env.JUPYTERLAB || path.join(root, '.tmp', 'jupyterlab-venv', 'bin', 'jupyter');
}

/** Jupyter's own dirs for the test, so it neither reads nor writes the user's (~/.jupyter, ~/.local/share/jupyter). */
export function labEnv(workDir: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    JUPYTER_DATA_DIR: base.JUPYTER_DATA_DIR ?? path.join(workDir, 'data'),
    JUPYTER_CONFIG_DIR: path.join(workDir, 'config'),
    JUPYTER_RUNTIME_DIR: path.join(workDir, 'runtime'),
    // The kernels inherit the server's environment: this is how QUICK reaches them.
    QUICK: '1',
  };
}

/** Copies of the notebooks beside links to dist/ and scripts/, as their `../dist` imports and build check expect. */
export function prepareLabRoot(notebooks: string[], workDir: string, root: string = projectRoot()): string {
  const labRoot = path.join(workDir, 'root');
  fs.rmSync(labRoot, { recursive: true, force: true });
  fs.mkdirSync(path.join(labRoot, 'notebooks'), { recursive: true });
  fs.symlinkSync(path.join(root, 'dist'), path.join(labRoot, 'dist'), 'dir');
  fs.symlinkSync(path.join(root, 'scripts'), path.join(labRoot, 'scripts'), 'dir');
  for (const nb of notebooks) fs.copyFileSync(nb, path.join(labRoot, 'notebooks', path.basename(nb)));
  return labRoot;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startJupyterLab(opts: { jupyter: string; rootDir: string; env: NodeJS.ProcessEnv; logFile: string; timeoutMs?: number }): Promise<LabServer> {
  if (!fs.existsSync(opts.jupyter)) {
    throw new Error(`JupyterLab not found at ${opts.jupyter}: .ci/run installs it (python3 -m venv .tmp/jupyterlab-venv && ` +
      `.tmp/jupyterlab-venv/bin/pip install -r scripts/jupyterlab/requirements.txt), or set JUPYTERLAB=/path/to/jupyter`);
  }
  const port = await freePort();
  const token = crypto.randomBytes(16).toString('hex');
  const log = fs.openSync(opts.logFile, 'w');
  const child: ChildProcess = spawn(opts.jupyter, [
    'lab', '--no-browser', '--allow-root', `--ServerApp.ip=127.0.0.1`, `--ServerApp.port=${port}`, '--ServerApp.port_retries=0',
    `--IdentityProvider.token=${token}`, `--ServerApp.root_dir=${opts.rootDir}`,
    // Lets the test read the notebook model (outputs, execution counts) through window.jupyterapp.
    '--LabApp.expose_app_in_browser=True',
    // No update checks, news or extension-manager queries: the test must not need the internet.
    '--LabApp.news_url=', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate', '--LabApp.extension_manager=readonly',
  ], { env: opts.env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited: string | null = null;
  child.on('exit', (code, signal) => { exited = `exit ${code ?? signal}`; });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (exited !== null) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10000);
    await done;
    clearTimeout(t);
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 120000);
  for (;;) {
    if (exited !== null) throw new Error(`JupyterLab stopped (${exited}) before it answered; see ${opts.logFile}`);
    try {
      const r = await fetch(`${url}/api/status?token=${token}`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`JupyterLab did not answer on ${url} within ${(opts.timeoutMs ?? 120000) / 1000} s; see ${opts.logFile}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return { url, token, rootDir: opts.rootDir, logFile: opts.logFile, stop };
}

/** What one run of all cells left in JupyterLab's output area. */
export interface LabRunCounts {
  codeCells: number;
  executed: number;
  /** execute_reply statuses other than "ok". */
  failedReplies: number;
  /** Output texts that are errors (error outputs, stack traces on stderr), first lines only. */
  errorOutputs: string[];
  /** Figure outputs in the notebook model (each carries one figure div). */
  figureOutputs: number;
  /** Figure divs in the DOM that are Plotly roots with an SVG. */
  figuresRendered: number;
  tables: number;
  stderrOutputs: number;
  seconds: number;
}

export interface LabNotebookReport {
  notebook: string;
  ok: boolean;
  kernel: string | null;
  firstRun: LabRunCounts | null;
  restartRun: LabRunCounts | null;
  /** Figures in nbconvert's executed copy (reports/notebooks/NAME.ipynb), when present. */
  nbconvertFigures?: number;
  screenshot?: string;
  jsErrors: string[];
  externalRequests: string[];
  problems: string[];
  seconds: number;
}

// The page-side helpers, installed once per page. Written as a string: it runs in the browser, against
// JupyterLab's objects, which this project has no types for.
const PAGE_HELPERS = `
window.__ss = window.__ss || (() => {
  const replies = [];
  const hooked = new WeakSet();
  const panel = () => window.jupyterapp.shell.currentWidget;
  function hook() {
    const k = panel() && panel().sessionContext.session && panel().sessionContext.session.kernel;
    if (!k || hooked.has(k)) return;
    hooked.add(k);
    k.anyMessage.connect((_, m) => {
      if (m.direction === 'recv' && m.msg.header.msg_type === 'execute_reply') replies.push(m.msg.content.status);
    });
  }
  function state() {
    const p = panel();
    const s = p.sessionContext;
    hook();
    const cells = [...p.content.widgets].filter((c) => c.model.type === 'code');
    return {
      kernel: s.session && s.session.kernel ? s.session.kernel.name : null,
      status: s.kernelDisplayStatus,
      codeCells: cells.length,
      executed: cells.filter((c) => c.model.executionCount !== null).length,
      replies: replies.length,
      failedReplies: replies.filter((r) => r !== 'ok').length,
    };
  }
  function counts(figureClass) {
    const p = panel();
    const nb = p.content.model.toJSON();
    const errorOutputs = [];
    let stderrOutputs = 0;
    for (const c of nb.cells) for (const o of c.outputs || []) {
      if (o.output_type === 'error') errorOutputs.push(o.ename + ': ' + o.evalue);
      if (o.output_type === 'stream' && o.name === 'stderr') {
        stderrOutputs++;
        const t = Array.isArray(o.text) ? o.text.join('') : o.text;
        if (/^\\s+at \\S.*:\\d+:\\d+\\)?$/m.test(t) || /^\\S*Error\\b/m.test(t) || /^\\d+:\\d+ - /m.test(t)) errorOutputs.push(t.split('\\n')[0]);
      }
    }
    const divs = [...p.node.querySelectorAll('.jp-OutputArea-output .' + figureClass)];
    return {
      notebook: nb,
      errorOutputs,
      stderrOutputs,
      figuresRendered: divs.filter((d) => d.classList.contains('js-plotly-plot') && d.querySelector('svg.main-svg')).length,
      tables: p.node.querySelectorAll('.jp-OutputArea-output table').length,
    };
  }
  function reset() { replies.length = 0; }
  return { hook, state, counts, reset };
})();
`;

type PageState = { kernel: string | null; status: string; codeCells: number; executed: number; replies: number; failedReplies: number };

async function pageState(page: Page): Promise<PageState> {
  return page.evaluate('window.__ss.state()') as Promise<PageState>;
}

/** Wait until the kernel is idle and every code cell answered (or one failed, which stops Run All). */
async function waitForRun(page: Page, timeoutMs: number): Promise<PageState> {
  const deadline = Date.now() + timeoutMs;
  let idleSince = 0;
  for (;;) {
    const s = await pageState(page);
    const finished = s.replies >= s.codeCells || s.failedReplies > 0;
    if (finished && s.status === 'idle') {
      if (!idleSince) idleSince = Date.now();
      // Outputs of the last reply can trail it by a moment; and a failure may still be followed by nothing.
      if (Date.now() - idleSince > 1500) return s;
    } else idleSince = 0;
    if (Date.now() > deadline) throw new Error(`cells still running after ${timeoutMs / 1000} s (${s.replies}/${s.codeCells} replies, kernel ${s.status})`);
    await page.waitForTimeout(500);
  }
}

async function clickMenu(page: Page, menu: string, item: string): Promise<void> {
  await page.click(`.lm-MenuBar-itemLabel:text-is("${menu}")`);
  await page.click(`.lm-Menu-itemLabel:text-is("${item}")`);
}

async function runCounts(page: Page, t0: number, renderTimeoutMs: number): Promise<LabRunCounts & { notebook: unknown }> {
  // Plotly draws asynchronously after the output is attached: give every figure div time to get its SVG.
  await page.waitForFunction(
    (cls: string) => Array.from(document.querySelectorAll(`.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output .${cls}`))
      .every((d) => d.querySelector('svg.main-svg') !== null),
    FIGURE_CLASS, { timeout: renderTimeoutMs, polling: 250 },
  ).catch(() => undefined);
  const s = await pageState(page);
  const c = await page.evaluate(`window.__ss.counts(${JSON.stringify(FIGURE_CLASS)})`) as
    { notebook: unknown; errorOutputs: string[]; stderrOutputs: number; figuresRendered: number; tables: number };
  return {
    codeCells: s.codeCells, executed: s.executed, failedReplies: s.failedReplies,
    errorOutputs: c.errorOutputs, figureOutputs: countFigureOutputs(c.notebook), figuresRendered: c.figuresRendered,
    tables: c.tables, stderrOutputs: c.stderrOutputs, seconds: (Date.now() - t0) / 1000, notebook: c.notebook,
  };
}

function runProblems(what: string, r: LabRunCounts, expectTables: boolean): string[] {
  const p: string[] = [];
  if (r.failedReplies > 0) p.push(`${what}: ${r.failedReplies} cell execution(s) failed`);
  if (r.executed < r.codeCells) p.push(`${what}: ${r.codeCells - r.executed} of ${r.codeCells} code cell(s) did not run`);
  for (const e of r.errorOutputs) p.push(`${what}: error output: ${e.slice(0, 200)}`);
  if (r.figuresRendered !== r.figureOutputs) p.push(`${what}: ${r.figuresRendered} of ${r.figureOutputs} figure(s) rendered as Plotly plots`);
  if (expectTables && r.tables === 0) p.push(`${what}: no table shown`);
  return p;
}

/** Notebooks whose source calls show() on a table (toPaperLayout, aq, ...) must show one. */
function notebookShowsTables(file: string): boolean {
  const nb = JSON.parse(fs.readFileSync(file, 'utf8')) as { cells: { cell_type: string; source: string[] | string }[] };
  return nb.cells.some((c) => c.cell_type === 'code' && /show\((toPaperLayout|aq\(|table)/.test(Array.isArray(c.source) ? c.source.join('') : c.source));
}

export interface LabCheckOptions {
  root?: string;
  notebooks: string[];
  jupyter?: string;
  /** Default reports/jupyterlab. */
  outDir?: string;
  /** Per notebook run (all cells), default 600 s. */
  runTimeoutMs?: number;
  /** Which notebooks get the restart + run-all pass: every one, the first only (default: the cost of one
   * more full run per notebook buys little once one restart is shown to work), or none. */
  restart?: 'all' | 'first' | 'none';
  log?: (s: string) => void;
}

export async function checkNotebooksInLab(opts: LabCheckOptions): Promise<LabNotebookReport[]> {
  const root = opts.root ?? projectRoot();
  const log = opts.log ?? ((s: string) => console.log(s));
  const outDir = opts.outDir ?? path.join(root, 'reports', 'jupyterlab');
  const workDir = path.join(root, '.tmp', 'jupyterlab');
  fs.mkdirSync(workDir, { recursive: true });
  fs.mkdirSync(outDir, { recursive: true });
  const env = labEnv(workDir);
  const labRoot = prepareLabRoot(opts.notebooks, workDir, root);
  const jupyter = opts.jupyter ?? labJupyter(root);
  const t0 = Date.now();
  const server = await startJupyterLab({ jupyter, rootDir: labRoot, env, logFile: path.join(outDir, 'server.log') });
  log(`JupyterLab at ${server.url} (root ${path.relative(root, labRoot)}), started in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const reports: LabNotebookReport[] = [];
  const origin = new URL(server.url).origin;
  const browser = await launchOfflineChromium({ allow: (u) => u.startsWith(origin + '/') || u === origin, viewport: { width: 1400, height: 1000 } });
  try {
    const specProblem = await checkServedKernelSpec(server, env);
    const restart = opts.restart ?? 'first';
    for (const [i, nb] of opts.notebooks.entries()) {
      const report = await checkOne(browser.context.newPage.bind(browser.context), server, nb,
        { outDir, root, runTimeoutMs: opts.runTimeoutMs ?? 600000, restart: restart === 'all' || (restart === 'first' && i === 0), log });
      if (specProblem) { report.problems.unshift(specProblem); report.ok = false; }
      report.externalRequests.push(...browser.blocked.splice(0));
      if (report.externalRequests.length > 0 && report.ok) { report.ok = false; report.problems.push(`${report.externalRequests.length} request(s) left 127.0.0.1`); }
      reports.push(report);
      log(formatLabReports([report], root).split('\n').slice(0, -1).join('\n'));
      // A kernel left running holds ~1 GB; the next notebook gets its own.
      await shutdownKernels(server);
    }
  } finally {
    await browser.close();
    await server.stop();
  }
  fs.writeFileSync(path.join(outDir, 'summary.json'), JSON.stringify(reports, null, 2) + '\n');
  return reports;
}

/** The tslab spec JupyterLab serves must be the kernel.json that jupyter:setup wrote into the data dir. */
async function checkServedKernelSpec(server: LabServer, env: NodeJS.ProcessEnv): Promise<string | null> {
  const r = await fetch(`${server.url}/api/kernelspecs?token=${server.token}`);
  const specs = await r.json() as { kernelspecs: Record<string, { spec: { argv: string[] } }> };
  const served = specs.kernelspecs.tslab?.spec;
  if (!served) return 'JupyterLab offers no "tslab" kernel: run npm run jupyter:setup with this JupyterLab\'s Python';
  const file = path.join(kernelsDir({ kind: 'user' }, 'python3', env), 'tslab', 'kernel.json');
  if (!fs.existsSync(file)) return `no ${file}: run npm run jupyter:setup (with the same JUPYTER_DATA_DIR)`;
  const written = JSON.parse(fs.readFileSync(file, 'utf8')) as { argv: string[] };
  if (JSON.stringify(written.argv) !== JSON.stringify(served.argv)) {
    return `JupyterLab's tslab kernel is not the one npm run jupyter:setup wrote to ${file}: served argv ${JSON.stringify(served.argv)}` +
      ` (another kernelspec named tslab shadows it; see jupyter kernelspec list)`;
  }
  return null;
}

async function shutdownKernels(server: LabServer): Promise<void> {
  const r = await fetch(`${server.url}/api/sessions?token=${server.token}`);
  for (const s of await r.json() as { id: string }[]) {
    await fetch(`${server.url}/api/sessions/${s.id}?token=${server.token}`, { method: 'DELETE' });
  }
}

async function checkOne(newPage: () => Promise<Page>, server: LabServer, file: string,
  o: { outDir: string; root: string; runTimeoutMs: number; restart: boolean; log: (s: string) => void }): Promise<LabNotebookReport> {
  const name = path.basename(file);
  const t0 = Date.now();
  const report: LabNotebookReport = { notebook: file, ok: false, kernel: null, firstRun: null, restartRun: null, jsErrors: [], externalRequests: [], problems: [], seconds: 0 };
  const executed = path.join(o.root, 'reports', 'notebooks', name);
  if (fs.existsSync(executed)) report.nbconvertFigures = countFigureOutputs(JSON.parse(fs.readFileSync(executed, 'utf8')));
  const expectTables = notebookShowsTables(file);
  const page = await newPage();
  page.on('pageerror', (err) => report.jsErrors.push(`uncaught ${err.name}: ${err.message}`));
  page.on('console', (msg) => {
    // JupyterLab logs a failed optional fetch (e.g. a missing workspace) as an error; those are not notebook faults,
    // but anything from an output's script is.
    if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of 404/.test(msg.text())) report.jsErrors.push(`console.error: ${msg.text().slice(0, 300)}`);
  });
  try {
    await page.goto(`${server.url}/lab/tree/notebooks/${encodeURIComponent(name)}?token=${server.token}&reset`, { timeout: 120000 });
    await page.waitForSelector('.jp-NotebookPanel', { timeout: 120000 });
    await page.waitForFunction('!!(window.jupyterapp && window.jupyterapp.shell.currentWidget && window.jupyterapp.shell.currentWidget.sessionContext)', null, { timeout: 60000 });
    await page.evaluate(PAGE_HELPERS);
    // A kernel-selection dialog means the metadata did not name an installed kernel: choose tslab the way a user would.
    const deadline = Date.now() + 180000;
    for (;;) {
      const s = await pageState(page);
      if (s.kernel && s.status === 'idle') { report.kernel = s.kernel; break; }
      const select = await page.$('.jp-Dialog select');
      if (select) {
        report.problems.push('JupyterLab asked for a kernel: the notebook\'s kernelspec metadata does not name tslab');
        await select.selectOption({ value: 'tslab' }).catch(() => undefined);
        await page.click('.jp-Dialog .jp-mod-accept');
      }
      if (Date.now() > deadline) throw new Error(`the kernel did not start within 180 s (status ${s.status}; server log ${server.logFile})`);
      await page.waitForTimeout(500);
    }
    if (report.kernel !== 'tslab') report.problems.push(`kernel is ${report.kernel}, expected tslab`);
    const kernelName = (await page.textContent('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar-kernelName'))?.trim();
    if (kernelName !== 'TypeScript') report.problems.push(`toolbar shows kernel "${kernelName}", expected "TypeScript"`);

    let t1 = Date.now();
    await page.evaluate('window.__ss.reset()');
    await clickMenu(page, 'Run', 'Run All Cells');
    await waitForRun(page, o.runTimeoutMs);
    const first = await runCounts(page, t1, 30000);
    report.firstRun = strip(first);
    report.problems.push(...runProblems('run all', report.firstRun, expectTables));
    if (report.nbconvertFigures !== undefined && report.nbconvertFigures !== first.figureOutputs) {
      report.problems.push(`run all: ${first.figureOutputs} figure(s) in JupyterLab, ${report.nbconvertFigures} in nbconvert's run (reports/notebooks/${name})`);
    }
    const fig = page.locator(`.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output .${FIGURE_CLASS}`).first();
    if (await fig.count() > 0) {
      const shot = path.join(o.outDir, `${path.basename(name, '.ipynb')}.png`);
      await fig.scrollIntoViewIfNeeded();
      await fig.screenshot({ path: shot });
      report.screenshot = shot;
    }

    if (o.restart) {
      t1 = Date.now();
      await page.evaluate('window.__ss.reset()');
      await clickMenu(page, 'Kernel', 'Restart Kernel and Run All Cells…');
      await page.click('.jp-Dialog .jp-mod-accept', { timeout: 30000 });
      // The restart clears the cells' execution state first; wait for the old replies to stop counting.
      await page.waitForFunction('window.__ss.state().status !== "idle"', null, { timeout: 30000 }).catch(() => undefined);
      await waitForRun(page, o.runTimeoutMs);
      report.restartRun = strip(await runCounts(page, t1, 30000));
      report.problems.push(...runProblems('restart + run all', report.restartRun, expectTables));
      if (report.restartRun.figureOutputs !== first.figureOutputs) {
        report.problems.push(`restart + run all: ${report.restartRun.figureOutputs} figure(s), the first run had ${first.figureOutputs}`);
      }
    }
  } catch (err) {
    report.problems.push((err as Error).message.split('\n')[0]);
  } finally {
    await page.close();
  }
  if (report.jsErrors.length > 0) report.problems.push(`${report.jsErrors.length} JavaScript error(s) in the page`);
  report.ok = report.problems.length === 0;
  report.seconds = (Date.now() - t0) / 1000;
  return report;
}

function strip(r: LabRunCounts & { notebook?: unknown }): LabRunCounts {
  const { notebook: _, ...rest } = r;
  return rest;
}

export function formatLabReports(reports: LabNotebookReport[], root: string = process.cwd()): string {
  const lines: string[] = [];
  const fmt = (r: LabRunCounts | null) => (r ? `${r.executed}/${r.codeCells} cells, figures ${r.figuresRendered}/${r.figureOutputs}, ${r.tables} table(s), ${r.seconds.toFixed(1)} s` : '—');
  for (const r of reports) {
    lines.push(`  ${r.ok ? 'ok    ' : 'FAILED'} ${path.basename(r.notebook).padEnd(36)} kernel ${r.kernel ?? '—'}; run all: ${fmt(r.firstRun)}; restart + run all: ${fmt(r.restartRun)}` +
      `${r.nbconvertFigures !== undefined ? `; nbconvert figures ${r.nbconvertFigures}` : ''}  (${r.seconds.toFixed(1)} s)`);
    if (r.screenshot) lines.push(`         first figure: ${path.relative(root, r.screenshot)}`);
    for (const p of r.problems) lines.push(`         - ${p}`);
    for (const e of r.jsErrors.slice(0, 5)) lines.push(`           ${e}`);
  }
  lines.push(`JupyterLab check: ${reports.filter((r) => r.ok).length}/${reports.length} notebook(s) ok`);
  return lines.join('\n');
}

export interface ClassicSmokeReport {
  notebook: string;
  ok: boolean;
  figureOutputs: number;
  figuresRendered: number;
  problems: string[];
  seconds: number;
}

/**
 * The classic Notebook (Debian `jupyter-notebook`, 6.x) keeps a smoke test: one notebook opened in its UI,
 * all cells run, every figure drawn, no failed cell. It shares the lab's Jupyter dirs, so the kernel is the
 * same spec jupyter:setup wrote.
 */
export async function classicSmoke(opts: { root?: string; notebook: string; jupyter?: string; timeoutMs?: number }): Promise<ClassicSmokeReport> {
  const root = opts.root ?? projectRoot();
  const jupyter = opts.jupyter ?? '/usr/bin/jupyter';
  const workDir = path.join(root, '.tmp', 'jupyterlab');
  const outDir = path.join(root, 'reports', 'jupyterlab');
  fs.mkdirSync(outDir, { recursive: true });
  const labRoot = prepareLabRoot([opts.notebook], path.join(workDir, 'classic'), root);
  const env = labEnv(workDir);
  const t0 = Date.now();
  const report: ClassicSmokeReport = { notebook: opts.notebook, ok: false, figureOutputs: 0, figuresRendered: 0, problems: [], seconds: 0 };
  const port = await freePort();
  const token = crypto.randomBytes(16).toString('hex');
  const logFile = path.join(outDir, 'classic-server.log');
  const log = fs.openSync(logFile, 'w');
  const child = spawn(jupyter, ['notebook', '--no-browser', '--allow-root', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0',
    `--NotebookApp.token=${token}`, `--notebook-dir=${labRoot}`], { env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const browser = await launchOfflineChromium({ allow: (u) => u.startsWith(url) });
  try {
    const deadline = Date.now() + 60000;
    for (;;) {
      try { if ((await fetch(`${url}/api/status?token=${token}`)).ok) break; } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`the classic Notebook did not answer within 60 s; see ${logFile}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const page = await browser.context.newPage();
    const jsErrors: string[] = [];
    page.on('pageerror', (e) => jsErrors.push(e.message));
    await page.goto(`${url}/notebooks/notebooks/${encodeURIComponent(path.basename(opts.notebook))}?token=${token}`);
    // Classic Notebook's page object (`Jupyter`) has no types here: these probes run in the page.
    await page.waitForFunction('window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()', null, { timeout: 180000 });
    const kernel = await page.evaluate('Jupyter.notebook.kernel.name') as string;
    if (kernel !== 'tslab') report.problems.push(`kernel ${kernel}, expected tslab`);
    await page.evaluate(`(() => { window.__ssFailed = 0; Jupyter.notebook.events.on('finished_execute.CodeCell', (e, d) => {
      if (d.cell.output_area.outputs.some((o) => o.output_type === 'error')) window.__ssFailed++; });
      Jupyter.notebook.execute_all_cells(); })()`);
    await page.waitForFunction(`Jupyter.notebook.get_cells().filter((c) => c.cell_type === 'code').every((c) => typeof c.input_prompt_number === 'number')
      && Jupyter.notebook.kernel_busy !== true && document.querySelector('#kernel_indicator_icon.kernel_idle_icon') !== null`, null, { timeout: opts.timeoutMs ?? 300000, polling: 500 });
    await page.waitForFunction((cls: string) => Array.from(document.querySelectorAll(`.output_area .${cls}`)).every((d) => d.querySelector('svg.main-svg') !== null),
      FIGURE_CLASS, { timeout: 30000 }).catch(() => undefined);
    const nb = await page.evaluate('Jupyter.notebook.toJSON()');
    report.figureOutputs = countFigureOutputs(nb);
    report.figuresRendered = await page.evaluate((cls: string) => Array.from(document.querySelectorAll(`.output_area .${cls}`))
      .filter((d) => d.classList.contains('js-plotly-plot') && d.querySelector('svg.main-svg') !== null).length, FIGURE_CLASS);
    const stderrErrors = (nb as { cells: { outputs?: { output_type: string; name?: string; text?: string | string[] }[] }[] }).cells
      .flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === 'error' || (o.name === 'stderr' && /\bError\b|^\s+at /m.test([o.text ?? ''].flat().join(''))));
    if (stderrErrors.length > 0) report.problems.push(`${stderrErrors.length} error output(s)`);
    if (report.figureOutputs === 0 || report.figuresRendered !== report.figureOutputs) {
      report.problems.push(`${report.figuresRendered} of ${report.figureOutputs} figure(s) rendered`);
    }
    if (jsErrors.length > 0) report.problems.push(`JavaScript errors: ${jsErrors.slice(0, 3).join('; ')}`);
    await page.close();
  } catch (err) {
    report.problems.push((err as Error).message.split('\n')[0]);
  } finally {
    await browser.close();
    child.kill('SIGTERM');
  }
  report.ok = report.problems.length === 0;
  report.seconds = (Date.now() - t0) / 1000;
  return report;
}
