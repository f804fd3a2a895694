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
