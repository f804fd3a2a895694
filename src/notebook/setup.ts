/**
 * `npm run jupyter:setup`: register the tslab kernel with Jupyter for interactive use.
 *
 * Runs this checkout's `tslab install` (never a global tslab) with a Python that has jupyter_client, then
 * rewrites the installed kernel.json files so that `argv` starts this checkout's tslab with the current
 * Node binary by absolute path: `tslab install` would write a bare `tslab`, i.e. whatever is on the PATH
 * of the Jupyter server (often nothing, or a different global version).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { projectRoot } from './env';
import { findPython } from './python';

export { findPython };
import { tslabKernelSpec } from './runner';

export type KernelScope = { kind: 'user' } | { kind: 'prefix'; prefix: string } | { kind: 'sys-prefix' };

/** Where `tslab install` puts kernels for a scope (Linux/macOS conventions, as jupyter_core does). */
export function kernelsDir(scope: KernelScope, python: string, env: NodeJS.ProcessEnv = process.env): string {
  if (scope.kind === 'prefix') return path.join(path.resolve(scope.prefix), 'share', 'jupyter', 'kernels');
  if (scope.kind === 'sys-prefix') {
    const r = spawnSync(python, ['-c', 'import sys; print(sys.prefix)'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot ask ${python} for sys.prefix: ${r.stderr || r.error?.message}`);
    return path.join(r.stdout.trim(), 'share', 'jupyter', 'kernels');
  }
  if (env.JUPYTER_DATA_DIR) return path.join(env.JUPYTER_DATA_DIR, 'kernels');
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Jupyter', 'kernels');
  const xdg = env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(xdg, 'jupyter', 'kernels');
}

export interface SetupResult {
  python: string;
  kernelsDir: string;
  /** kernel.json files written or rewritten. */
  files: string[];
  /** Whether `tslab install` itself succeeded (otherwise the specs were written directly). */
  tslabInstallOk: boolean;
}

export function setupKernel(
  opts: { root?: string; python?: string; scope?: KernelScope; log?: (s: string) => void } = {},
): SetupResult {
  const root = opts.root ?? projectRoot();
  const log = opts.log ?? ((s: string) => console.log(s));
  const python = opts.python ?? findPython();
  const scope = opts.scope ?? { kind: 'user' };
  const tslabBin = path.join(root, 'node_modules', 'tslab', 'bin', 'tslab');
  if (!fs.existsSync(tslabBin)) throw new Error(`${tslabBin} not found: run npm install (or npm ci) first`);

  const scopeArgs = scope.kind === 'user' ? ['--user'] : scope.kind === 'prefix' ? [`--prefix=${path.resolve(scope.prefix)}`] : ['--sys-prefix'];
  const args = [tslabBin, 'install', `--python=${python}`, ...scopeArgs];
  log(`$ ${path.relative(root, tslabBin)} ${args.slice(1).join(' ')}`);
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
  const tslabInstallOk = r.status === 0;
  if (!tslabInstallOk) {
    log(`tslab install failed (exit ${r.status ?? r.signal}); writing the kernel specs directly instead.`);
    log(`(Set PYTHON=/path/to/python with jupyter_client installed to use tslab's installer.)`);
  }
  const dir = kernelsDir(scope, python);
  const files: string[] = [];
  for (const [name, js] of [
    ['tslab', false],
    ['jslab', true],
  ] as const) {
    const kdir = path.join(dir, name);
    fs.mkdirSync(kdir, { recursive: true });
    const file = path.join(kdir, 'kernel.json');
    let spec: Record<string, unknown> = {};
    try {
      spec = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      // not written by tslab install: create it
    }
    const wanted = tslabKernelSpec(root, js);
    fs.writeFileSync(file, JSON.stringify({ ...spec, ...wanted }, null, 2) + '\n');
    files.push(file);
  }
  return { python, kernelsDir: dir, files, tslabInstallOk };
}

export function setupInstructions(res: SetupResult, root: string = projectRoot()): string {
  const spec = JSON.parse(fs.readFileSync(res.files[0], 'utf8')) as { argv: string[] };
  return `
Registered Jupyter kernels "tslab" (TypeScript) and "jslab" (JavaScript) in ${res.kernelsDir}
  tslab argv: ${JSON.stringify(spec.argv)}
  (this checkout's tslab, run by ${process.execPath}; re-run npm run jupyter:setup after moving the
   checkout or switching Node installations)

Open the notebooks (they import compiled code from ../dist, so build first):
  cd ${root}
  npm run build
  jupyter lab notebooks/                  # JupyterLab, installed your usual way (e.g. pip install jupyterlab)
  /usr/bin/jupyter notebook notebooks/    # classic Notebook, Debian package jupyter-notebook
and pick the "TypeScript" kernel if asked. After changing src/, run npm run build and restart the kernel.

Headless:
  npm run notebooks                       # execute all notebooks -> reports/notebooks/*.ipynb + *.html
  QUICK=1 npm run notebooks               # reduced data and epochs
  npm run test:notebooks                  # QUICK run + check the HTML exports in headless Chromium
`;
}

export interface KernelCheck {
  file: string;
  ok: boolean;
  problems: string[];
}

/**
 * `npm run jupyter:setup -- --check`: is the registered tslab kernel one that can start this checkout's
 * tslab? A kernel.json goes stale when the checkout moves or Node is reinstalled elsewhere (its paths are
 * absolute), and JupyterLab then only says the kernel died; this names the broken path and the fix.
 */
export function checkKernel(opts: { root?: string; python?: string; scope?: KernelScope; fixCommand?: string } = {}): KernelCheck[] {
  const root = opts.root ?? projectRoot();
  const scope = opts.scope ?? { kind: 'user' };
  const dir = kernelsDir(scope, opts.python ?? findPython());
  const fix = opts.fixCommand ?? 'npm run jupyter:setup';
  const out: KernelCheck[] = [];
  for (const name of ['tslab', 'jslab']) {
    const file = path.join(dir, name, 'kernel.json');
    const problems: string[] = [];
    if (!fs.existsSync(file)) {
      out.push({ file, ok: false, problems: [`${file} does not exist: the ${name} kernel is not registered here; run ${fix}`] });
      continue;
    }
    let spec: { argv?: unknown };
    try {
      spec = JSON.parse(fs.readFileSync(file, 'utf8')) as { argv?: unknown };
    } catch (err) {
      out.push({ file, ok: false, problems: [`${file} is not valid JSON (${(err as Error).message}); run ${fix} to rewrite it`] });
      continue;
    }
    const argv = Array.isArray(spec.argv) && spec.argv.every((a) => typeof a === 'string') ? spec.argv as string[] : null;
    if (!argv || argv.length < 2) {
      problems.push(`${file}: "argv" is missing or not a list of strings; run ${fix} to rewrite it`);
    } else {
      const [node, tslab] = argv;
      if (!path.isAbsolute(node)) problems.push(`${file}: argv[0] is "${node}", not an absolute path, so it depends on the Jupyter server's PATH; run ${fix}`);
      else if (!isExecutable(node)) problems.push(`${file}: argv[0] ${node} does not exist or is not executable (Node moved or was removed?); run ${fix} with the Node you use now`);
      if (!fs.existsSync(tslab)) problems.push(`${file}: argv[1] ${tslab} does not exist (the checkout moved or node_modules was removed?); run npm ci, then ${fix} in this checkout`);
      else if (path.resolve(tslab) !== path.join(root, 'node_modules', 'tslab', 'bin', 'tslab')) {
        problems.push(`${file}: starts the tslab of another checkout (${tslab}); run ${fix} here to use this one`);
      }
      if (!argv.includes('{connection_file}')) problems.push(`${file}: argv lacks "{connection_file}", so Jupyter cannot connect to the kernel; run ${fix}`);
    }
    out.push({ file, ok: problems.length === 0, problems });
  }
  return out;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
