/**
 * Headless notebook runs: every `notebooks/*.ipynb` is executed with the tslab kernel by
 * `jupyter nbconvert --execute` (Debian `jupyter-nbconvert` + `python3-nbclient`), the executed copy is
 * written to `reports/notebooks/NAME.ipynb` and exported to `reports/notebooks/NAME.html` with the
 * offline nbconvert template (no CDN scripts).
 *
 * The kernel used here does not depend on what `npm run jupyter:setup` registered for interactive use:
 * a kernelspec named `tslab` pointing at this checkout's tslab is written to `.tmp/jupyter/kernels/` and
 * put first on `JUPYTER_PATH` for the nbconvert processes.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { isQuick, projectRoot } from './env';
import { findPython } from './python';

export const KERNEL_NAME = 'tslab';

/** `JUPYTER` overrides the Debian default `/usr/bin/jupyter`. */
export function jupyterCommand(): string {
  return process.env.JUPYTER || '/usr/bin/jupyter';
}

/** The kernelspec argv that starts this checkout's tslab with the current Node binary. */
export function tslabKernelArgv(root: string = projectRoot(), js = false): string[] {
  const bin = path.join(root, 'node_modules', 'tslab', 'bin', 'tslab');
  return [process.execPath, bin, 'kernel', '--config-path', '{connection_file}', ...(js ? ['--js'] : [])];
}

export function tslabKernelSpec(root: string = projectRoot(), js = false): Record<string, unknown> {
  return {
    argv: tslabKernelArgv(root, js),
    display_name: js ? 'JavaScript' : 'TypeScript',
    language: js ? 'javascript' : 'typescript',
  };
}

/** Write `<dir>/kernels/tslab/kernel.json` (for `JUPYTER_PATH=<dir>`); returns `<dir>`. */
export function writeLocalKernelspec(root: string = projectRoot(), dir: string = path.join(root, '.tmp', 'jupyter')): string {
  const kdir = path.join(dir, 'kernels', KERNEL_NAME);
  fs.mkdirSync(kdir, { recursive: true });
  fs.writeFileSync(path.join(kdir, 'kernel.json'), JSON.stringify(tslabKernelSpec(root), null, 2) + '\n');
  return dir;
}

/** `notebooks/*.ipynb`, sorted by name. */
export function listNotebooks(dir: string = path.join(projectRoot(), 'notebooks')): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ipynb') && !f.startsWith('.'))
    .sort()
    .map((f) => path.join(dir, f));
}

export interface RunOptions {
  root?: string;
  /** Notebook files; default: all of `notebooks/*.ipynb`. */
  notebooks?: string[];
  /** Default `reports/notebooks`. */
  outDir?: string;
  /** true/false sets QUICK=1/QUICK=0 for the kernels; undefined passes the caller's QUICK through. */
  quick?: boolean;
  /** Per-cell timeout (nbclient); default 300 s in QUICK mode, 7200 s otherwise. */
  cellTimeoutSec?: number;
  /** Also export HTML (default true). */
  html?: boolean;
  /**
   * Sign the executed copies with the user's Jupyter notebook secret (`python3 -m nbformat.sign`), so
   * that JupyterLab / the Notebook trust them and run their figure scripts when they are opened. Off by
   * default: it writes to the user's Jupyter signature database.
   */
  trust?: boolean;
  log?: (line: string) => void;
}

export interface NotebookResult {
  notebook: string;
  ok: boolean;
  seconds: number;
  /** Executed copy (present when execution succeeded). */
  executed?: string;
  /** HTML export (present when the export succeeded). */
  html?: string;
  error?: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** The nbconvert arguments that execute one notebook (exported for tests and docs). */
export function executeArgs(notebook: string, outDir: string, cellTimeoutSec: number, root: string): string[] {
  return [
    'nbconvert',
    '--to',
    'notebook',
    '--execute',
    `--ExecutePreprocessor.kernel_name=${KERNEL_NAME}`,
    `--ExecutePreprocessor.timeout=${cellTimeoutSec}`,
    '--ExecutePreprocessor.startup_timeout=120',
    `--config=${path.join(root, 'scripts', 'notebooks', 'nbconvert_config.py')}`,
    `--output-dir=${outDir}`,
    `--output=${path.basename(notebook, '.ipynb')}`,
    notebook,
  ];
}

/** The nbconvert arguments that export an executed notebook to offline HTML. */
export function htmlArgs(executed: string, outDir: string, root: string): string[] {
  return [
    'nbconvert',
    '--to',
    'html',
    '--template=offline',
    `--TemplateExporter.extra_template_basedirs=${path.join(root, 'scripts', 'notebooks', 'templates')}`,
    `--output-dir=${outDir}`,
    executed,
  ];
}

/** Execute notebooks one after another (2-core machines: no parallel kernels). */
export async function runNotebooks(opts: RunOptions = {}): Promise<NotebookResult[]> {
  const root = opts.root ?? projectRoot();
  const log = opts.log ?? ((s: string) => console.log(s));
  const notebooks = opts.notebooks ?? listNotebooks(path.join(root, 'notebooks'));
  const outDir = opts.outDir ?? path.join(root, 'reports', 'notebooks');
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (opts.quick !== undefined) env.QUICK = opts.quick ? '1' : '0';
  const quick = isQuick(env);
  const cellTimeoutSec = opts.cellTimeoutSec ?? (quick ? 300 : 7200);
  const jupyterDir = writeLocalKernelspec(root);
  env.JUPYTER_PATH = [jupyterDir, env.JUPYTER_PATH].filter(Boolean).join(path.delimiter);
  const jupyter = jupyterCommand();
  fs.mkdirSync(outDir, { recursive: true });

  const results: NotebookResult[] = [];
  for (const nb of notebooks) {
    const name = path.basename(nb, '.ipynb');
    const executed = path.join(outDir, `${name}.ipynb`);
    const html = path.join(outDir, `${name}.html`);
    // A failed run must not leave an older export behind for the browser check to pass on.
    fs.rmSync(executed, { force: true });
    fs.rmSync(html, { force: true });
    log(`[notebooks] ${name}: executing (QUICK=${env.QUICK || '(unset)'}, cell timeout ${cellTimeoutSec} s)`);
    const t0 = Date.now();
    const result: NotebookResult = { notebook: nb, ok: false, seconds: 0 };
    try {
      const code = await run(jupyter, executeArgs(nb, outDir, cellTimeoutSec, root), env, root);
      if (code !== 0 || !fs.existsSync(executed)) {
        result.error = `execution failed (nbconvert exit code ${code})`;
      } else {
        result.executed = executed;
        if (opts.trust) {
          const scode = await run(findPython(), ['-m', 'nbformat.sign', executed], env, root);
          if (scode !== 0) log(`[notebooks] ${name}: warning: signing ${executed} failed (exit ${scode})`);
        }
        if (opts.html === false) result.ok = true;
        else {
          const hcode = await run(jupyter, htmlArgs(executed, outDir, root), env, root);
          if (hcode !== 0 || !fs.existsSync(html)) result.error = `HTML export failed (nbconvert exit code ${hcode})`;
          else {
            result.html = html;
            result.ok = true;
          }
        }
      }
    } catch (err) {
      result.error = `cannot run ${jupyter}: ${(err as Error).message} (Debian: apt-get install jupyter-nbconvert python3-nbclient python3-ipykernel)`;
    }
    result.seconds = (Date.now() - t0) / 1000;
    log(`[notebooks] ${name}: ${result.ok ? 'ok' : `FAILED: ${result.error}`} (${result.seconds.toFixed(1)} s)`);
    results.push(result);
  }
  return results;
}

/** Human-readable summary table. */
export function formatRunSummary(results: NotebookResult[], root: string = projectRoot()): string {
  if (results.length === 0) return 'notebooks: none found in notebooks/';
  const lines = results.map((r) => {
    const name = path.relative(root, r.notebook);
    const where = r.html ? path.relative(root, r.html) : r.executed ? path.relative(root, r.executed) : '';
    return `  ${r.ok ? 'ok    ' : 'FAILED'} ${name.padEnd(40)} ${r.seconds.toFixed(1).padStart(7)} s  ${r.ok ? where : r.error}`;
  });
  const failed = results.filter((r) => !r.ok).length;
  const total = results.reduce((s, r) => s + r.seconds, 0);
  lines.push(`notebooks: ${results.length - failed}/${results.length} ok, ${total.toFixed(1)} s in total`);
  return lines.join('\n');
}
